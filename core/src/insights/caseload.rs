//! The caseload screen and the therapist's notification digest (issue 6 §3,
//! issue 10). Tiers, ordering and the headline score: `docs/insights.md`.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::flags::{baseline, display_name, instrument};
use super::{
    flags, is_alliance_instrument, load_patients_cached, primary_instrument, weeks_since, Flag,
    FlagConfig, FlagKind, PatientRecord, PatientStatus, ScoredPoint,
};
use crate::error::{Error, Result};
use crate::instruments::Direction;
use crate::store::Store;
use crate::sync::availability::Availability;

/// Declaration order is priority order (most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A safety alert not yet acknowledged.
    Safety,
    Deterioration,
    /// Risk answered in the last weeks, acknowledged: never routine.
    RecentRisk,
    Rupture,
    Disengagement,
    /// No reliable improvement on the primary instrument by the review week.
    NonResponse,
    Routine,
}

impl Priority {
    /// The caseload tier a flag puts a patient in. A therapist–patient
    /// disagreement about the alliance is an alliance problem (rupture
    /// tier); a repair is for the routine review.
    pub fn of(kind: FlagKind) -> Priority {
        match kind {
            FlagKind::Safety => Priority::Safety,
            FlagKind::Deterioration => Priority::Deterioration,
            FlagKind::RecentRisk => Priority::RecentRisk,
            FlagKind::AllianceRupture | FlagKind::Discrepancy => Priority::Rupture,
            FlagKind::Disengagement => Priority::Disengagement,
            FlagKind::NoReliableImprovement => Priority::NonResponse,
            FlagKind::Repair => Priority::Routine,
        }
    }

    /// Safety and recent risk: listed first in every digest, and never cut
    /// from a caseload row's reasons.
    pub fn is_risk(self) -> bool {
        matches!(self, Priority::Safety | Priority::RecentRisk)
    }
}

/// How many flags a caseload row shows (risk flags are always kept).
pub const TOP_REASONS: usize = 3;

/// The caseload's headline score: the latest score on the patient's primary
/// instrument ([`super::primary_instrument`]), with its date and age.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    pub instrument: String,
    /// `PHQ-9`, `GAD-7`.
    pub display_name: String,
    pub total: f64,
    /// The band of `total` (`moderately_severe`) and its label.
    pub severity: Option<String>,
    pub severity_label: Option<String>,
    pub at: DateTime<Utc>,
    /// Whole days from `at` to `now`.
    pub age_days: i64,
    /// Older than `FlagConfig::stale_score_days`: it no longer describes
    /// the present (the PHQ-9 and GAD-7 ask about the last two weeks).
    pub stale: bool,
    /// Latest minus baseline (first score of the first two weeks), raw
    /// points; `None` without a baseline.
    pub change: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseloadEntry {
    pub channel_id: String,
    pub label: Option<String>,
    pub priority: Priority,
    /// Top 3 flags, most important first, plus any risk flag beyond them.
    pub reasons: Vec<Flag>,
    pub last_activity: Option<DateTime<Utc>>,
    /// The program's primary instrument's latest score.
    pub headline: Option<Headline>,
    /// The latest scorable symptom score (any instrument).
    pub latest_symptom: Option<ScoredPoint>,
    /// The patient's latest alliance rating.
    pub latest_alliance: Option<ScoredPoint>,
    /// Whole weeks since the start, at `now`.
    pub week: u32,
    /// `active`, `left` (the patient revoked the channel, e.g. by erasing
    /// their data) or `ended` (the therapist did).
    pub status: PatientStatus,
    /// When the patient left or the channel was ended.
    pub status_since: Option<DateTime<Utc>>,
}

/// When to notify the therapist, and about whom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestBatch {
    pub fire_at: DateTime<Utc>,
    /// Safety: notify at once, outside the digest.
    pub immediate: bool,
    /// A reminder of still unacknowledged safety alerts at a window start.
    pub renotify: bool,
    pub entries: Vec<CaseloadEntry>,
}

/// The band of `v` on `id`'s scale: its index (0 = least severe) and the
/// band itself. Between two bands (a mean score), the lower one.
fn band(id: &str, v: f64) -> Option<(usize, &'static crate::instruments::Band)> {
    let inst = instrument(id)?;
    let mut bands: Vec<&crate::instruments::Band> = inst.scoring.bands.iter().collect();
    crate::sort::sort_by(&mut bands, |a, b| a.min.total_cmp(&b.min));
    if inst.scoring.total.direction != Direction::HigherIsWorse {
        bands.reverse();
    }
    let found = bands
        .iter()
        .position(|b| b.min <= v && v <= b.max)
        .or_else(|| {
            // The last band starting at or below `v` (reversed: above).
            let up = inst.scoring.total.direction == Direction::HigherIsWorse;
            bands
                .iter()
                .rposition(|b| if up { b.min <= v } else { b.max >= v })
        })?;
    Some((found, bands[found]))
}

/// Change in the worse direction: positive is worse.
fn worsening(id: &str, change: f64) -> f64 {
    match instrument(id).map(|i| i.scoring.total.direction) {
        Some(Direction::HigherIsBetter) => -change,
        _ => change,
    }
}

fn headline(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig) -> Option<Headline> {
    let id = primary_instrument(p)?;
    let series: Vec<ScoredPoint> = p
        .checkins
        .iter()
        .filter(|c| c.instrument == id && c.total.is_some())
        .cloned()
        .collect();
    let last = series.last()?;
    let total = last.total?;
    let base = baseline(p, &series, cfg).and_then(|b| b.total);
    let b = band(id, total);
    let age_days = (now - last.at).num_days().max(0);
    Some(Headline {
        instrument: id.to_string(),
        display_name: display_name(id),
        total,
        severity: b
            .map(|(_, b)| b.id.clone())
            .or_else(|| last.severity.clone()),
        severity_label: b
            .map(|(_, b)| b.label.clone())
            .or_else(|| last.severity_label.clone()),
        at: last.at,
        age_days,
        stale: age_days > cfg.stale_score_days,
        change: base.map(|b| total - b),
    })
}

/// Clinical severity within a tier: the headline's band (higher first),
/// then its worsening since baseline (more first), then the score itself
/// (worse first). Unknown sorts last.
fn severity_cmp(a: &CaseloadEntry, b: &CaseloadEntry) -> Ordering {
    let key = |e: &CaseloadEntry| {
        e.headline.as_ref().map(|h| {
            (
                band(&h.instrument, h.total).map(|(i, _)| i),
                h.change.map(|c| worsening(&h.instrument, c)),
            )
        })
    };
    let (ka, kb) = (key(a), key(b));
    let band_of = |k: &Option<(Option<usize>, Option<f64>)>| k.as_ref().and_then(|k| k.0);
    let change_of = |k: &Option<(Option<usize>, Option<f64>)>| k.as_ref().and_then(|k| k.1);
    // `Some` above `None`, then larger first.
    band_of(&kb)
        .cmp(&band_of(&ka))
        .then_with(|| match (change_of(&ka), change_of(&kb)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| {
            let score = |e: &CaseloadEntry| {
                e.headline
                    .as_ref()
                    .map(|h| worsening(&h.instrument, h.total))
            };
            match (score(a), score(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (x, y) => y.is_some().cmp(&x.is_some()),
            }
        })
}

fn entry(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig) -> CaseloadEntry {
    let mut reasons = flags(p, now, cfg);
    // Nothing reaches a patient who left: "contact them" flags would mislead.
    // An unacknowledged or recent risk stays, since it still needs a decision.
    if p.status != PatientStatus::Active {
        reasons.retain(|f| Priority::of(f.kind).is_risk());
    }
    // Priority first, then severity (flags() sorts by severity).
    crate::sort::sort_by(&mut reasons, |a, b| {
        Priority::of(a.kind)
            .cmp(&Priority::of(b.kind))
            .then(b.severity.cmp(&a.severity))
    });
    let priority = reasons
        .first()
        .map_or(Priority::Routine, |f| Priority::of(f.kind));
    // Risk is never cut from the row.
    let mut kept = 0;
    reasons.retain(|f| {
        kept += 1;
        kept <= TOP_REASONS || Priority::of(f.kind).is_risk()
    });
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
        headline: headline(p, now, cfg),
        latest_symptom: latest(false),
        latest_alliance: latest(true),
        week: weeks_since(p.start, now),
        status: p.status,
        status_since: p.status_since,
    }
}

/// Every patient, most urgent first: priority tier, then clinical severity
/// (the headline score's band, higher first, then its worsening since
/// baseline, then the score), then the top flag's severity; label and id break ties so the
/// order is stable. Last activity does not order the list.
pub fn caseload(
    patients: &[PatientRecord],
    now: DateTime<Utc>,
    cfg: &FlagConfig,
) -> Vec<CaseloadEntry> {
    let mut out: Vec<CaseloadEntry> = patients.iter().map(|p| entry(p, now, cfg)).collect();
    crate::sort::sort_by(&mut out, |a, b| {
        let sev = |e: &CaseloadEntry| e.reasons.first().map_or(0, |f| f.severity);
        let gone = |e: &CaseloadEntry| e.status != PatientStatus::Active;
        a.priority
            .cmp(&b.priority)
            // Within a tier, patients still in treatment come first.
            .then(gone(a).cmp(&gone(b)))
            .then_with(|| severity_cmp(a, b))
            .then(sev(b).cmp(&sev(a)))
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

/// How far ahead [`digest_plan`] lists re-notifications of unacknowledged
/// alerts. The app recomputes the plan after every sync and acknowledgement
/// and replaces what it scheduled, so a week covers a phone left unopened.
pub const RENOTIFY_DAYS: i64 = 7;

/// Local days from the day before `from`'s (a window open at `from` may
/// have started then), up to the horizon.
fn days_from(tz: crate::schedule::Tz, from: DateTime<Utc>) -> impl Iterator<Item = NaiveDate> {
    let first = from.with_timezone(&tz).date_naive() - Duration::days(1);
    (0..HORIZON_DAYS).map(move |n| first + Duration::days(n))
}

/// The first digest slot after `from`: each day's first window start and,
/// for two digests a day, the midpoint of the day's available span (moved
/// to the next window start when it falls in a break).
fn next_digest_slot(
    a: &Availability,
    from: DateTime<Utc>,
    per_day: u8,
) -> Result<Option<DateTime<Utc>>> {
    let tz = a.validate()?;
    for day in days_from(tz, from) {
        let windows = a.windows_on(tz, day);
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

/// The first availability-window start strictly after `after`: when an
/// unacknowledged safety alert notifies the therapist again. `None` when
/// the therapist has no window within the horizon (away for over a year).
pub fn next_window_start(a: &Availability, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let tz = a.validate()?;
    for day in days_from(tz, after) {
        if let Some((s, _)) = a.windows_on(tz, day).into_iter().find(|w| w.0 > after) {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// When to tell the therapist, in order of `fire_at`:
///
/// - **Safety** entries (unacknowledged alerts) notify at once (at `now`, or
///   at the next window start when the therapist chose to defer alerts
///   outside hours), then again (`renotify`) at every availability-window
///   start in the next [`RENOTIFY_DAYS`] days: the app replaces the plan
///   after each sync, so an acknowledged alert stops re-notifying.
/// - Everything else flagged waits for the next digest slot, the start of
///   the next availability window (and, with `per_day` 2, its midpoint).
///   The digest lists safety and recent-risk entries first, then the rest
///   in caseload order.
///
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
    let flagged: Vec<&CaseloadEntry> = caseload.iter().filter(|e| !e.reasons.is_empty()).collect();
    let safety: Vec<CaseloadEntry> = flagged
        .iter()
        .filter(|e| e.priority == Priority::Safety)
        .map(|e| (*e).clone())
        .collect();
    let mut out = Vec::new();
    if !safety.is_empty() {
        use crate::sync::availability::AlertsOutsideHours;
        let first = match availability.alerts_outside_hours {
            AlertsOutsideHours::Notify => now,
            AlertsOutsideHours::Defer => availability.next_available(now)?.unwrap_or(now),
        };
        out.push(DigestBatch {
            fire_at: first,
            immediate: true,
            renotify: false,
            entries: safety.clone(),
        });
        let until = now + Duration::days(RENOTIFY_DAYS);
        let mut at = first;
        while let Some(next) = next_window_start(availability, at)?.filter(|t| *t <= until) {
            out.push(DigestBatch {
                fire_at: next,
                immediate: true,
                renotify: true,
                entries: safety.clone(),
            });
            at = next;
        }
    }
    // Safety and recent risk first; the sort is stable, so caseload order
    // holds within each group.
    let mut digest: Vec<CaseloadEntry> = flagged.into_iter().cloned().collect();
    crate::sort::sort_by_key(&mut digest, |e| !e.priority.is_risk());
    let has_non_safety = digest.iter().any(|e| e.priority != Priority::Safety);
    if let (true, Some(fire_at)) = (has_non_safety, next_slot) {
        out.push(DigestBatch {
            fire_at,
            immediate: false,
            renotify: false,
            entries: digest,
        });
    }
    crate::sort::sort_by_key(&mut out, |b| (b.fire_at, !b.immediate));
    Ok(out)
}
