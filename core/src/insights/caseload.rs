//! The caseload screen and the therapist's notification digest (issue 6 §3).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use super::{
    flags, is_alliance_instrument, load_patients_cached, weeks_since, Flag, FlagConfig, FlagKind,
    PatientRecord, ScoredPoint,
};
use crate::error::{Error, Result};
use crate::schedule::resolve_local;
use crate::store::Store;
use crate::sync::availability::Availability;

/// Declaration order is priority order (most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Safety,
    Deterioration,
    Rupture,
    Disengagement,
    Routine,
}

impl Priority {
    /// The caseload tier a flag puts a patient in. A therapist–patient
    /// disagreement about the alliance is an alliance problem (rupture
    /// tier); a missing improvement and a repair are for the routine review.
    pub fn of(kind: FlagKind) -> Priority {
        match kind {
            FlagKind::Safety => Priority::Safety,
            FlagKind::Deterioration => Priority::Deterioration,
            FlagKind::AllianceRupture | FlagKind::Discrepancy => Priority::Rupture,
            FlagKind::Disengagement => Priority::Disengagement,
            FlagKind::NoReliableImprovement | FlagKind::Repair => Priority::Routine,
        }
    }
}

/// How many flags a caseload row shows.
pub const TOP_REASONS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseloadEntry {
    pub channel_id: String,
    pub label: Option<String>,
    pub priority: Priority,
    /// Top 3 flags, most important first.
    pub reasons: Vec<Flag>,
    pub last_activity: Option<DateTime<Utc>>,
    /// The latest scorable symptom score (any instrument).
    pub latest_symptom: Option<ScoredPoint>,
    /// The patient's latest alliance rating.
    pub latest_alliance: Option<ScoredPoint>,
    /// Whole weeks since the start, at `now`.
    pub week: u32,
}

/// When to notify the therapist, and about whom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestBatch {
    pub fire_at: DateTime<Utc>,
    /// Safety: notify at once, outside the digest.
    pub immediate: bool,
    pub entries: Vec<CaseloadEntry>,
}

fn entry(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig) -> CaseloadEntry {
    let mut reasons = flags(p, now, cfg);
    // Priority first, then severity (flags() sorts by severity).
    reasons.sort_by(|a, b| {
        Priority::of(a.kind)
            .cmp(&Priority::of(b.kind))
            .then(b.severity.cmp(&a.severity))
    });
    let priority = reasons
        .first()
        .map_or(Priority::Routine, |f| Priority::of(f.kind));
    reasons.truncate(TOP_REASONS);
    let latest = |alliance: bool| {
        p.checkins
            .iter()
            .rev()
            .find(|c| is_alliance_instrument(&c.instrument) == alliance && c.total.is_some())
            .cloned()
    };
    CaseloadEntry {
        channel_id: p.channel_id.clone(),
        label: p.label.clone(),
        priority,
        reasons,
        last_activity: p.last_activity,
        latest_symptom: latest(false),
        latest_alliance: latest(true),
        week: weeks_since(p.start, now),
    }
}

/// Every patient, most urgent first: priority tier, then the top flag's
/// severity, then the most recent activity; label and id break ties so the
/// order is stable.
pub fn caseload(
    patients: &[PatientRecord],
    now: DateTime<Utc>,
    cfg: &FlagConfig,
) -> Vec<CaseloadEntry> {
    let mut out: Vec<CaseloadEntry> = patients.iter().map(|p| entry(p, now, cfg)).collect();
    out.sort_by(|a, b| {
        let sev = |e: &CaseloadEntry| e.reasons.first().map_or(0, |f| f.severity);
        a.priority
            .cmp(&b.priority)
            .then(sev(b).cmp(&sev(a)))
            .then(b.last_activity.cmp(&a.last_activity))
            .then(a.label.cmp(&b.label))
            .then(a.channel_id.cmp(&b.channel_id))
    });
    out
}

/// The caseload screen in one call: load (through the patients cache),
/// flag (default thresholds), order. Flags depend on `now`, so only the
/// patients are cached; the caseload is recomputed at every call.
pub fn caseload_for_store(store: &Store, now: DateTime<Utc>) -> Result<Vec<CaseloadEntry>> {
    Ok(caseload(
        &load_patients_cached(store)?,
        now,
        &FlagConfig::default(),
    ))
}

/// How far ahead to look for a digest slot (as availability does: a year of `away`).
const HORIZON_DAYS: i64 = 400;

/// The first digest slot after `from`: each day's first window start and,
/// for two digests a day, the midpoint of the day's available span (moved
/// to the next window start when it falls in a break). Mirrors
/// `Availability`'s window rules: local times in the therapist's zone, DST
/// gaps and folds resolved like schedules, away days skipped.
fn next_digest_slot(
    a: &Availability,
    from: DateTime<Utc>,
    per_day: u8,
) -> Result<Option<DateTime<Utc>>> {
    let tz = a.validate()?;
    let first = from.with_timezone(&tz).date_naive() - Duration::days(1);
    let hm = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").ok();
    for n in 0..HORIZON_DAYS {
        let day: NaiveDate = first + Duration::days(n);
        if a.away.iter().any(|w| w.from <= day && day <= w.until) {
            continue;
        }
        let mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = a
            .hours
            .iter()
            .filter(|h| {
                h.days
                    .iter()
                    .any(|d| crate::schedule::parse_weekday("days", d).ok() == Some(day.weekday()))
            })
            .filter_map(|h| {
                let s = resolve_local(tz, day.and_time(hm(&h.start)?)).utc;
                let e = resolve_local(tz, day.and_time(hm(&h.end)?)).utc;
                (e > s).then_some((s, e))
            })
            .collect();
        windows.sort();
        let (Some(&(s, _)), Some(end)) = (windows.first(), windows.iter().map(|w| w.1).max())
        else {
            continue;
        };
        let mut slots = vec![s];
        if per_day == 2 {
            let mid = s + (end - s) / 2;
            let at = windows
                .iter()
                .find(|(_, we)| mid < *we)
                .map(|(ws, _)| (*ws).max(mid));
            slots.extend(at);
        }
        if let Some(t) = slots.into_iter().find(|t| *t > from) {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// When to tell the therapist. Safety entries notify at once (at `now`, or
/// at the next window start when the therapist chose to defer alerts outside
/// hours); everything else flagged waits for the next digest slot, the start
/// of the next availability window (and, with `per_day` 2, its midpoint).
/// Patients without flags are not notified.
pub fn digest_plan(
    caseload: &[CaseloadEntry],
    availability: &Availability,
    now: DateTime<Utc>,
    per_day: u8,
) -> Result<Vec<DigestBatch>> {
    if !(1..=2).contains(&per_day) {
        return Err(Error::invalid("per_day", "must be 1 or 2 digests a day"));
    }
    let next_slot = next_digest_slot(availability, now, per_day)?;
    let (safety, rest): (Vec<&CaseloadEntry>, Vec<&CaseloadEntry>) = caseload
        .iter()
        .filter(|e| !e.reasons.is_empty())
        .partition(|e| e.priority == Priority::Safety);
    let mut out = Vec::new();
    if !safety.is_empty() {
        use crate::sync::availability::AlertsOutsideHours;
        let fire_at = match availability.alerts_outside_hours {
            AlertsOutsideHours::Notify => now,
            AlertsOutsideHours::Defer => availability.next_available(now)?.unwrap_or(now),
        };
        out.push(DigestBatch {
            fire_at,
            immediate: true,
            entries: safety.into_iter().cloned().collect(),
        });
    }
    if let (false, Some(fire_at)) = (rest.is_empty(), next_slot) {
        out.push(DigestBatch {
            fire_at,
            immediate: false,
            entries: rest.into_iter().cloned().collect(),
        });
    }
    Ok(out)
}
