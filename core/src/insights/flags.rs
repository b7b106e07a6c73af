//! Flags: why a therapist should look at a patient (issue 6 §2). Each rule,
//! its threshold and the reason for it: `docs/insights.md`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{
    is_alliance_instrument, primary_instrument, weeks_since, AlertRecord, PatientRecord,
    ScoredPoint,
};
use crate::instruments::{
    reliable_change, reliable_threshold, ChangeCategory, Instrument, Registry,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// A safety alert not yet acknowledged.
    Safety,
    Deterioration,
    /// A risk answer (or risk language) in the last `risk_visible_weeks`,
    /// already acknowledged: the risk history stays in sight.
    RecentRisk,
    AllianceRupture,
    Repair,
    Discrepancy,
    Disengagement,
    NoReliableImprovement,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub reason: String,
    pub evidence: Vec<Evidence>,
    /// 0–100, higher is more urgent, comparable across the caseload. Ranges
    /// per kind do not overlap across priorities (see `docs/insights.md`).
    pub severity: u8,
}

/// A score or date that raised a flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub label: String,
    pub at: Option<DateTime<Utc>>,
    pub value: Option<f64>,
}

/// Thresholds of the flag rules; defaults and reasons in `docs/insights.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagConfig {
    /// Rupture: how many previous ratings make the patient's own level.
    pub rupture_window: usize,
    /// Rupture of the total and bond: z of the reliable change index (1.96).
    pub rupture_z: f64,
    /// Rupture of goals and tasks: the lower, one-sided z (1.645), because
    /// they predict outcome more than bond (r = .19 and .24 vs .12).
    pub rupture_z_goals_tasks: f64,
    /// A repair stays on the caseload this many days.
    pub repair_visible_days: i64,
    /// Discrepancy: therapist vs patient, in scale points (1–7 scale).
    pub discrepancy_points: f64,
    /// Discrepancy: the patient's rating must be this close in time.
    pub discrepancy_max_days: i64,
    /// Disengagement: days without patient activity.
    pub inactive_days: u32,
    /// Disengagement: check-in windows missed in a row.
    pub missed_run: u32,
    /// Disengagement: modules open a week or more without completion.
    pub stalled_modules: u32,
    /// An acknowledged risk alert stays a caseload reason this many weeks.
    pub risk_visible_weeks: i64,
    /// Baseline: the first score within this many days of the start.
    pub baseline_days: i64,
    /// The headline score is stale when older than this many days.
    pub stale_score_days: i64,
}

impl Default for FlagConfig {
    fn default() -> Self {
        FlagConfig {
            rupture_window: 3,
            rupture_z: 1.96,
            rupture_z_goals_tasks: 1.645,
            repair_visible_days: 42,
            discrepancy_points: 1.5,
            discrepancy_max_days: 14,
            inactive_days: 10,
            missed_run: 2,
            stalled_modules: 1,
            risk_visible_weeks: 8,
            baseline_days: 14,
            stale_score_days: 14,
        }
    }
}

/// A score this many days before the start still counts as the baseline:
/// an intake measure, or a start date in a zone east of UTC (the start is
/// UTC midnight of the local start date).
pub const BASELINE_LEAD_DAYS: i64 = 7;

/// The patient's baseline on a series (oldest first): its first score from
/// [`BASELINE_LEAD_DAYS`] before the start to `cfg.baseline_days` after it.
/// `None` when there is none: a score from the middle of treatment is no
/// baseline.
pub fn baseline<'a>(
    p: &PatientRecord,
    series: &'a [ScoredPoint],
    cfg: &FlagConfig,
) -> Option<&'a ScoredPoint> {
    let from = p.start - Duration::days(BASELINE_LEAD_DAYS);
    let until = p.start + Duration::days(cfg.baseline_days);
    series
        .iter()
        .find(|c| c.total.is_some() && c.at >= from && c.at < until)
}

/// The name a therapist knows an instrument by: `PHQ-9`, `GAD-7`; for
/// others the acronym in the title's closing parentheses, else the id.
pub fn display_name(id: &str) -> String {
    match id {
        "phq9" => return "PHQ-9".into(),
        "gad7" => return "GAD-7".into(),
        _ => {}
    }
    instrument(id)
        .and_then(|i| {
            let inner = i.title.trim_end().strip_suffix(')')?;
            let (_, short) = inner.rsplit_once('(')?;
            let acronym = !short.is_empty()
                && !short.contains(' ')
                && short.chars().any(|c| c.is_ascii_uppercase());
            acronym.then(|| short.to_string())
        })
        .unwrap_or_else(|| id.to_string())
}

/// The shipped instrument definitions (bands, direction, reliable change),
/// parsed once.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::shipped)
}

pub(crate) fn instrument(id: &str) -> Option<&'static Instrument> {
    registry().get(id).map(|a| a.as_ref())
}

fn ev(label: impl Into<String>, at: Option<DateTime<Utc>>, value: Option<f64>) -> Evidence {
    Evidence {
        label: label.into(),
        at,
        value,
    }
}

fn clamp_u8(x: f64) -> u8 {
    x.clamp(0.0, 100.0) as u8
}

/// Shows a score without float noise: `4.33`, `17`.
pub(crate) fn num(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    format!("{r}")
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Every flag the patient raises at `now`, most severe first.
pub fn flags(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    safety(p, &mut out);
    recent_risk(p, now, cfg, &mut out);
    symptoms(p, now, cfg, &mut out);
    alliance(p, now, cfg, &mut out);
    discrepancy(p, cfg, &mut out);
    disengagement(p, now, cfg, &mut out);
    crate::sort::sort_by(&mut out, |a, b| {
        b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind))
    });
    out
}

/// "PHQ-9 item 9 = 2 ("More than half the days"), total 19", as much as
/// the alert says; for risk language, the matched phrase.
fn trigger_text(a: &AlertRecord) -> String {
    let t = &a.trigger;
    if let Some(phrase) = &t.phrase {
        return format!("\"{phrase}\"");
    }
    let Some(mut s) = item_name(a) else {
        return display_name(&a.instrument);
    };
    if let Some(v) = t.answer {
        s.push_str(&format!(" = {}", num(v)));
        if let Some(text) = &t.answer_text {
            s.push_str(&format!(" (\"{text}\")"));
        }
    }
    if let Some(total) = t.total {
        s.push_str(&format!(", total {}", num(total)));
    }
    s
}

/// "PHQ-9 item 9" when the alert names its item.
fn item_name(a: &AlertRecord) -> Option<String> {
    let item = a.trigger.item.as_ref()?;
    // The item's number in the instrument (`phq9_9` is item 9).
    let number = instrument(&a.instrument)
        .and_then(|i| i.items.iter().position(|x| &x.link_id == item))
        .map_or_else(|| item.clone(), |n| (n + 1).to_string());
    Some(format!("{} item {number}", display_name(&a.instrument)))
}

/// What happened, with its date: "risk answered on DATE: PHQ-9 item 9 = 2,
/// total 19", or "possible risk language in a message on DATE: "…"".
fn alert_text(a: &AlertRecord) -> String {
    let what = if a.trigger.phrase.is_some() {
        let place = if is_alliance_instrument(&a.instrument) {
            "an alliance comment"
        } else {
            "a message"
        };
        format!("possible risk language in {place}")
    } else {
        "risk answered".to_string()
    };
    format!("{what} on {}: {}", day(a.at), trigger_text(a))
}

fn alert_evidence(a: &AlertRecord) -> Vec<Evidence> {
    // The reason already tells the story; the evidence is the answer itself
    // ("PHQ-9 item 9 answer 1"), or the phrase for risk language.
    let first = match (&a.trigger.phrase, item_name(a)) {
        (Some(phrase), _) => ev(format!("risk language \"{phrase}\""), Some(a.at), None),
        (None, Some(item)) => ev(format!("{item} answer"), Some(a.at), a.trigger.answer),
        (None, None) => ev(
            format!("{} safety alert", display_name(&a.instrument)),
            Some(a.at),
            a.trigger.answer,
        ),
    };
    let mut out = vec![first];
    if let Some(total) = a.trigger.total {
        out.push(ev(
            format!("{} total", display_name(&a.instrument)),
            Some(a.at),
            Some(total),
        ));
    }
    if a.acknowledged {
        let label = match a.action {
            Some(act) => format!("acknowledged ({})", act.label()),
            None => "acknowledged".to_string(),
        };
        out.push(ev(label, a.acknowledged_at, None));
    }
    out
}

fn safety(p: &PatientRecord, out: &mut Vec<Flag>) {
    let open: Vec<_> = p.alerts.iter().filter(|a| !a.acknowledged).collect();
    let Some(latest) = open.iter().max_by_key(|a| a.at) else {
        return;
    };
    let reason = match open.len() {
        1 => format!("unacknowledged safety alert, {}", alert_text(latest)),
        n => format!(
            "{n} unacknowledged safety alerts, latest {}",
            alert_text(latest)
        ),
    };
    out.push(Flag {
        kind: FlagKind::Safety,
        reason,
        evidence: open.iter().flat_map(|a| alert_evidence(a)).collect(),
        severity: 100,
    });
}

/// Acknowledged alerts of the last `risk_visible_weeks`: the risk was
/// answered, and stays in sight while it is recent.
fn recent_risk(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig, out: &mut Vec<Flag>) {
    let since = now - Duration::weeks(cfg.risk_visible_weeks);
    let recent: Vec<&AlertRecord> = p
        .alerts
        .iter()
        .filter(|a| a.acknowledged && a.at >= since && a.at <= now)
        .collect();
    let Some(latest) = recent.iter().max_by_key(|a| a.at) else {
        return;
    };
    let mut ack = vec!["acknowledged".to_string()];
    if let Some(at) = latest.acknowledged_at {
        ack[0].push_str(&format!(" {}", day(at)));
    }
    if let Some(act) = latest.action {
        ack.push(act.label().to_string());
    }
    let mut reason = format!("{} ({})", alert_text(latest), ack.join(", "));
    if recent.len() > 1 {
        reason.push_str(&format!(
            "; {} risk alerts in the last {} weeks",
            recent.len(),
            cfg.risk_visible_weeks
        ));
    }
    out.push(Flag {
        kind: FlagKind::RecentRisk,
        reason,
        evidence: recent.iter().flat_map(|a| alert_evidence(a)).collect(),
        severity: 79,
    });
}

/// Scorable symptom scores per instrument, oldest first.
fn symptom_series(p: &PatientRecord) -> BTreeMap<&str, Vec<ScoredPoint>> {
    let mut by: BTreeMap<&str, Vec<ScoredPoint>> = BTreeMap::new();
    for c in &p.checkins {
        if !is_alliance_instrument(&c.instrument) && c.total.is_some() {
            by.entry(&c.instrument).or_default().push(c.clone());
        }
    }
    by
}

/// Deterioration and no reliable improvement, per symptom instrument, with
/// the instrument's own Jacobson–Truax rule (`reliable_change`), against the
/// baseline of [`baseline`] (none: neither flag). No reliable improvement
/// is judged on the primary instrument only: the review week is the
/// program's expectation for its main outcome.
fn symptoms(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig, out: &mut Vec<Flag>) {
    let week = weeks_since(p.start, now);
    let review_due = p.review_week.filter(|w| week >= *w);
    let primary = primary_instrument(p);
    for (id, series) in symptom_series(p) {
        let Some(inst) = instrument(id) else { continue };
        let Some(rc) = &inst.scoring.reliable_change else {
            continue;
        };
        let (Some(b), Some(l)) = (baseline(p, &series, cfg), series.last()) else {
            continue;
        };
        let (Some(base), Some(last)) = (b.total, l.total) else {
            continue;
        };
        let Some(change) = reliable_change(rc, inst.scoring.total.direction, base, last) else {
            continue;
        };
        // Therapists read the instrument's name ("PHQ-9"), never its id.
        let name = display_name(id);
        let evidence = vec![
            ev(format!("{name} baseline"), Some(b.at), Some(base)),
            ev(format!("{name} latest"), Some(l.at), Some(last)),
            ev("reliable change threshold", None, Some(change.threshold)),
        ];
        match change.category {
            ChangeCategory::ReliablyDeteriorated if l.at > b.at => {
                let excess = change.difference.abs() / change.threshold.max(f64::EPSILON) - 1.0;
                out.push(Flag {
                    kind: FlagKind::Deterioration,
                    reason: format!(
                        "{name} worsened reliably: {} at baseline ({}), {} on {} (threshold {})",
                        num(base),
                        day(b.at),
                        num(last),
                        day(l.at),
                        num(change.threshold)
                    ),
                    evidence,
                    severity: clamp_u8(80.0 + (excess * 10.0).min(15.0)),
                });
            }
            ChangeCategory::ReliablyImproved | ChangeCategory::ReliablyDeteriorated => {}
            ChangeCategory::NoReliableChange => {
                if let (Some(w), true) = (review_due, primary == Some(id)) {
                    let mut evidence = evidence;
                    evidence.push(ev("review week", None, Some(f64::from(w))));
                    out.push(Flag {
                        kind: FlagKind::NoReliableImprovement,
                        reason: format!(
                            "week {week}: {name} has not improved reliably since baseline ({} → {}, needs {}); the program expects it by week {w}",
                            num(base),
                            num(last),
                            num(change.threshold)
                        ),
                        evidence,
                        severity: clamp_u8(20.0 + f64::from((week - w).min(5))),
                    });
                }
            }
        }
    }
}

/// The alliance scales checked for ruptures, most predictive first.
const SCALES: [&str; 4] = ["tasks", "goals", "total", "bond"];

fn scale_value(p: &ScoredPoint, scale: &str) -> Option<f64> {
    if scale == "total" {
        p.total
    } else {
        p.subscales.get(scale).copied()
    }
}

/// Base severity of a rupture on each scale: goals and tasks rank above the
/// total and bond (seed: r = .24 tasks, .19 goals, .12 bond).
fn rupture_base(scale: &str) -> f64 {
    match scale {
        "tasks" => 70.0,
        "goals" => 68.0,
        "total" => 62.0,
        _ => 52.0,
    }
}

struct ScaleDrop {
    scale: &'static str,
    /// The patient's own level before: mean of the previous ratings.
    before: f64,
    before_at: DateTime<Utc>,
    after: f64,
    threshold: f64,
}

struct Episode {
    at: usize,
    drops: Vec<ScaleDrop>,
    repaired_at: Option<usize>,
}

fn thresholds(p: &ScoredPoint, cfg: &FlagConfig) -> Option<(f64, f64)> {
    let rc = instrument(&p.instrument)
        .or_else(|| instrument("alliance"))?
        .scoring
        .reliable_change
        .as_ref()?;
    Some((
        reliable_threshold(rc, cfg.rupture_z)?,
        reliable_threshold(rc, cfg.rupture_z_goals_tasks)?,
    ))
}

/// Rupture and repair over the patient's own alliance ratings. A rating
/// opens a rupture when a scale falls below the mean of the previous
/// `rupture_window` ratings by more than the reliable-change threshold; it
/// is repaired at the first later rating where every ruptured scale is back
/// within that threshold of its pre-rupture level.
fn episodes(ratings: &[&ScoredPoint], cfg: &FlagConfig) -> Vec<Episode> {
    let window = cfg.rupture_window.max(1);
    let mut out: Vec<Episode> = Vec::new();
    for (i, r) in ratings.iter().enumerate() {
        let Some((t_main, t_gt)) = thresholds(r, cfg) else {
            continue;
        };
        let threshold = |s: &str| {
            if s == "goals" || s == "tasks" {
                t_gt
            } else {
                t_main
            }
        };
        if let Some(open) = out.last_mut().filter(|e| e.repaired_at.is_none()) {
            let back = open
                .drops
                .iter()
                .all(|d| scale_value(r, d.scale).is_some_and(|v| v >= d.before - d.threshold));
            if back {
                open.repaired_at = Some(i);
            }
            continue;
        }
        let start = i.saturating_sub(window);
        let mut drops = Vec::new();
        for scale in SCALES {
            let Some(v) = scale_value(r, scale) else {
                continue;
            };
            let prev: Vec<(f64, DateTime<Utc>)> = ratings[start..i]
                .iter()
                .filter_map(|q| Some((scale_value(q, scale)?, q.at)))
                .collect();
            let Some(&(_, before_at)) = prev.last() else {
                continue;
            };
            let before = prev.iter().map(|x| x.0).sum::<f64>() / prev.len() as f64;
            let t = threshold(scale);
            if before - v > t {
                drops.push(ScaleDrop {
                    scale,
                    before,
                    before_at,
                    after: v,
                    threshold: t,
                });
            }
        }
        if !drops.is_empty() {
            out.push(Episode {
                at: i,
                drops,
                repaired_at: None,
            });
        }
    }
    out
}

fn alliance(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig, out: &mut Vec<Flag>) {
    let ratings: Vec<&ScoredPoint> = p
        .checkins
        .iter()
        .filter(|c| is_alliance_instrument(&c.instrument))
        .collect();
    let Some(last) = episodes(&ratings, cfg).pop() else {
        return;
    };
    let at = ratings[last.at].at;
    let mut evidence = Vec::new();
    for d in &last.drops {
        evidence.push(ev(
            format!("{} before (mean of previous ratings)", d.scale),
            Some(d.before_at),
            Some(d.before),
        ));
        evidence.push(ev(
            format!("{} at rupture", d.scale),
            Some(at),
            Some(d.after),
        ));
    }
    let names: Vec<String> = last
        .drops
        .iter()
        .map(|d| format!("{} {} → {}", d.scale, num(d.before), num(d.after)))
        .collect();
    match last.repaired_at {
        None => {
            let latest = ratings.last().filter(|_| last.at + 1 < ratings.len());
            if let Some(l) = latest {
                for d in &last.drops {
                    evidence.push(ev(
                        format!("{} latest", d.scale),
                        Some(l.at),
                        scale_value(l, d.scale),
                    ));
                }
            }
            let top = &last.drops[0];
            let depth = (top.before - top.after) / top.threshold - 1.0;
            out.push(Flag {
                kind: FlagKind::AllianceRupture,
                reason: format!(
                    "alliance rupture on {}: {} (beyond the patient's reliable variation)",
                    day(at),
                    names.join(", ")
                ),
                evidence,
                severity: clamp_u8(rupture_base(top.scale) + (depth * 5.0).clamp(0.0, 8.0)),
            });
        }
        Some(j) => {
            let r = ratings[j];
            if now - r.at > Duration::days(cfg.repair_visible_days) {
                return;
            }
            for d in &last.drops {
                evidence.push(ev(
                    format!("{} at repair", d.scale),
                    Some(r.at),
                    scale_value(r, d.scale),
                ));
            }
            out.push(Flag {
                kind: FlagKind::Repair,
                reason: format!(
                    "alliance repaired on {} after a rupture on {} ({})",
                    day(r.at),
                    day(at),
                    names.join(", ")
                ),
                evidence,
                severity: 10,
            });
        }
    }
}

/// The therapist's latest rating against the patient's nearest one.
fn discrepancy(p: &PatientRecord, cfg: &FlagConfig, out: &mut Vec<Flag>) {
    let Some(t) = p.therapist_ratings.last() else {
        return;
    };
    let max = Duration::days(cfg.discrepancy_max_days);
    let nearest = p
        .checkins
        .iter()
        .filter(|c| is_alliance_instrument(&c.instrument))
        .filter(|c| (c.at - t.at).abs() <= max)
        .min_by_key(|c| (c.at - t.at).abs());
    let Some(pt) = nearest else { return };
    let mut evidence = Vec::new();
    let mut parts = Vec::new();
    let mut worst: f64 = 0.0;
    for scale in SCALES {
        let (Some(tv), Some(pv)) = (scale_value(t, scale), scale_value(pt, scale)) else {
            continue;
        };
        let diff = tv - pv;
        if diff.abs() >= cfg.discrepancy_points {
            worst = worst.max(diff.abs());
            evidence.push(ev(format!("{scale} (therapist)"), Some(t.at), Some(tv)));
            evidence.push(ev(format!("{scale} (patient)"), Some(pt.at), Some(pv)));
            parts.push(format!("{scale} you {} vs patient {}", num(tv), num(pv)));
        }
    }
    if parts.is_empty() {
        return;
    }
    out.push(Flag {
        kind: FlagKind::Discrepancy,
        reason: format!(
            "your alliance rating ({}) differs from the patient's ({}) by {} points or more: {}",
            day(t.at),
            day(pt.at),
            num(cfg.discrepancy_points),
            parts.join("; ")
        ),
        evidence,
        severity: clamp_u8(48.0 + (worst - cfg.discrepancy_points).clamp(0.0, 3.0)),
    });
}

fn disengagement(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig, out: &mut Vec<Flag>) {
    let since = p.last_activity.unwrap_or(p.start);
    let inactive = u32::try_from((now - since).num_days().max(0)).unwrap_or(u32::MAX);
    let (missed, stalled) = p
        .engagement
        .as_ref()
        .map_or((0, 0), |e| (e.current_missed_run, e.stalled_modules));
    let mut evidence = Vec::new();
    let mut parts = Vec::new();
    let mut score = 30.0;
    if inactive >= cfg.inactive_days {
        evidence.push(ev("days inactive", Some(since), Some(f64::from(inactive))));
        parts.push(format!("no activity for {inactive} days"));
        score += f64::from(inactive - cfg.inactive_days).min(14.0) / 2.0 + 4.0;
    }
    let at = p.engagement.as_ref().map(|e| e.at);
    if missed >= cfg.missed_run {
        evidence.push(ev("check-ins missed in a row", at, Some(f64::from(missed))));
        parts.push(format!("{missed} check-ins missed in a row"));
        score += 2.0 * f64::from(missed - cfg.missed_run) + 3.0;
    }
    if stalled >= cfg.stalled_modules && stalled > 0 {
        evidence.push(ev("stalled modules", at, Some(f64::from(stalled))));
        parts.push(format!("{stalled} module(s) stalled a week or more"));
        score += 2.0;
    }
    if parts.is_empty() {
        return;
    }
    out.push(Flag {
        kind: FlagKind::Disengagement,
        reason: format!("dropout risk: {}", parts.join(", ")),
        evidence,
        severity: clamp_u8(score.min(44.0)),
    });
}
