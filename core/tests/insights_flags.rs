//! Flag rules on constructed patient records (pure functions): for each flag
//! kind a scenario that fires and a near miss that does not; then caseload
//! ordering, the digest plan, the timeline and the research rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use collabzium_core::checkin::AckAction;
use collabzium_core::insights::{
    caseload, digest_plan, flags, next_window_start, research_rows, timeline, AlertRecord,
    AlertTrigger, EngagementSnapshot, FlagConfig, FlagKind, PatientRecord, Priority, ScoredPoint,
};
use collabzium_core::research::{parse_csv, rows_to_csv};
use collabzium_core::sync::availability::{AlertsOutsideHours, Availability, Hours};

/// Monday 2026-01-05, midnight UTC: every patient's start.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
}

fn day(n: i64) -> DateTime<Utc> {
    t0() + Duration::days(n)
}

fn symptom(instrument: &str, at: DateTime<Utc>, total: f64) -> ScoredPoint {
    ScoredPoint {
        at,
        instrument: instrument.into(),
        total: Some(total),
        subscales: BTreeMap::new(),
        severity: None,
        severity_label: None,
    }
}

fn phq(at: DateTime<Utc>, total: f64) -> ScoredPoint {
    symptom("phq9", at, total)
}

/// An alliance rating; the total is the item mean (3 goals, 3 tasks, 2 bond items).
fn rating(instrument: &str, at: DateTime<Utc>, g: f64, t: f64, b: f64) -> ScoredPoint {
    ScoredPoint {
        at,
        instrument: instrument.into(),
        total: Some((3.0 * g + 3.0 * t + 2.0 * b) / 8.0),
        subscales: [("goals", g), ("tasks", t), ("bond", b)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        severity: None,
        severity_label: None,
    }
}

fn alliance(at: DateTime<Utc>, g: f64, t: f64, b: f64) -> ScoredPoint {
    rating("alliance", at, g, t, b)
}

/// A patient active yesterday (relative to `now_day`) with no concerns.
fn patient(id: &str, now_day: i64) -> PatientRecord {
    PatientRecord {
        channel_id: id.into(),
        label: Some(format!("Patient {id}")),
        mode: Some("guided".into()),
        start: t0(),
        checkins: Vec::new(),
        therapist_ratings: Vec::new(),
        alerts: Vec::new(),
        progress: Vec::new(),
        engagement: None,
        last_activity: Some(day(now_day - 1)),
        review_week: None,
        program_weeks: Some(12),
        research_consent: Vec::new(),
        primary_instrument: None,
        program_id: None,
        program_title: None,
        status: Default::default(),
        status_since: None,
    }
}

fn kinds(p: &PatientRecord, now: DateTime<Utc>) -> Vec<FlagKind> {
    flags(p, now, &FlagConfig::default())
        .into_iter()
        .map(|f| f.kind)
        .collect()
}

/// Goals/tasks thresholds (z 1.645) and total/bond (z 1.96) for the shipped
/// alliance definition: sd 1.0, reliability 0.85.
fn s_diff() -> f64 {
    2f64.sqrt() * 1.0 * (1.0f64 - 0.85).sqrt()
}

// ------------------------------------------------------------------ safety

#[test]
fn safety_fires_on_an_unacknowledged_alert() {
    let mut p = patient("a", 20);
    p.alerts.push(AlertRecord {
        alert_id: "al1".into(),
        at: day(19),
        instrument: "phq9".into(),
        acknowledged: false,
        acknowledged_at: None,
        action: None,
        trigger: Default::default(),
    });
    let f = flags(&p, day(20), &FlagConfig::default());
    assert_eq!(f[0].kind, FlagKind::Safety);
    assert_eq!(f[0].severity, 100);
    assert_eq!(f[0].evidence[0].at, Some(day(19)));
    assert!(
        f[0].evidence[0].label.contains("PHQ-9"),
        "{:?}",
        f[0].evidence
    );
}

#[test]
fn safety_near_miss_acknowledged_alert() {
    let mut p = patient("a", 20);
    p.alerts.push(AlertRecord {
        alert_id: "al1".into(),
        at: day(19),
        instrument: "phq9".into(),
        acknowledged: true,
        acknowledged_at: None,
        action: None,
        trigger: Default::default(),
    });
    assert!(!kinds(&p, day(20)).contains(&FlagKind::Safety));
}

// ------------------------------------------------------------ deterioration

#[test]
fn deterioration_fires_at_the_reliable_change_threshold() {
    let mut p = patient("d", 30);
    p.checkins = vec![phq(day(0), 10.0), phq(day(14), 12.0), phq(day(28), 16.0)];
    let f = flags(&p, day(30), &FlagConfig::default());
    let d = f
        .iter()
        .find(|f| f.kind == FlagKind::Deterioration)
        .unwrap();
    let vals: Vec<_> = d.evidence.iter().map(|e| (e.at, e.value)).collect();
    assert_eq!(vals[0], (Some(day(0)), Some(10.0)));
    assert_eq!(vals[1], (Some(day(28)), Some(16.0)));
    assert_eq!(vals[2].1, Some(6.0));
    // Therapists read instrument names, never ids (issue 14, first contact).
    assert!(
        d.reason.starts_with("PHQ-9 worsened reliably"),
        "{}",
        d.reason
    );
    assert_eq!(d.evidence[0].label, "PHQ-9 baseline");
    assert_eq!(d.evidence[1].label, "PHQ-9 latest");
    // GAD-7's threshold is 4 points.
    let mut g = patient("g", 30);
    g.checkins = vec![symptom("gad7", day(0), 8.0), symptom("gad7", day(28), 12.0)];
    assert!(kinds(&g, day(30)).contains(&FlagKind::Deterioration));
}

#[test]
fn deterioration_near_miss_one_point_short() {
    let mut p = patient("d", 30);
    p.checkins = vec![phq(day(0), 10.0), phq(day(28), 15.0)];
    assert!(!kinds(&p, day(30)).contains(&FlagKind::Deterioration));
    let mut g = patient("g", 30);
    g.checkins = vec![symptom("gad7", day(0), 8.0), symptom("gad7", day(28), 11.0)];
    assert!(!kinds(&g, day(30)).contains(&FlagKind::Deterioration));
    // Improvement is never deterioration.
    p.checkins = vec![phq(day(0), 20.0), phq(day(28), 5.0)];
    assert!(!kinds(&p, day(30)).contains(&FlagKind::Deterioration));
}

// ---------------------------------------------------------- alliance rupture

fn steady(n: usize) -> Vec<ScoredPoint> {
    (0..n)
        .map(|k| alliance(day(7 * k as i64), 6.0, 6.0, 6.0))
        .collect()
}

#[test]
fn rupture_fires_on_tasks_below_the_goals_tasks_threshold() {
    let t_gt = 1.645 * s_diff(); // ≈ 0.90
    let mut p = patient("r", 30);
    p.checkins = steady(3);
    p.checkins
        .push(alliance(day(28), 6.0, 6.0 - (t_gt + 0.01), 6.0));
    let f = flags(&p, day(30), &FlagConfig::default());
    let r = f
        .iter()
        .find(|f| f.kind == FlagKind::AllianceRupture)
        .unwrap();
    assert!(r.reason.contains("tasks"), "{}", r.reason);
    let before = r
        .evidence
        .iter()
        .find(|e| e.label.starts_with("tasks before"))
        .unwrap();
    assert_eq!((before.at, before.value), (Some(day(14)), Some(6.0)));
    let after = r
        .evidence
        .iter()
        .find(|e| e.label == "tasks at rupture")
        .unwrap();
    assert_eq!(after.at, Some(day(28)));
    assert!((after.value.unwrap() - (6.0 - t_gt - 0.01)).abs() < 1e-12);
}

#[test]
fn rupture_near_miss_tasks_drop_just_under_threshold() {
    let t_gt = 1.645 * s_diff();
    let mut p = patient("r", 30);
    p.checkins = steady(3);
    p.checkins
        .push(alliance(day(28), 6.0, 6.0 - (t_gt - 0.01), 6.0));
    assert!(!kinds(&p, day(30)).contains(&FlagKind::AllianceRupture));
}

#[test]
fn bond_needs_the_full_reliable_change_and_ranks_below_goals_and_tasks() {
    let t_gt = 1.645 * s_diff();
    let t_main = 1.96 * s_diff(); // ≈ 1.07
                                  // A bond drop that would rupture goals or tasks does not rupture bond.
    let mut p = patient("b", 30);
    p.checkins = steady(3);
    let mid = (t_gt + t_main) / 2.0;
    p.checkins.push(alliance(day(28), 6.0, 6.0, 6.0 - mid));
    assert!(!kinds(&p, day(30)).contains(&FlagKind::AllianceRupture));
    // Beyond the full threshold it does, but below a goals rupture.
    p.checkins.pop();
    p.checkins
        .push(alliance(day(28), 6.0, 6.0, 6.0 - (t_main + 0.05)));
    let bond = flags(&p, day(30), &FlagConfig::default());
    let bond = bond
        .iter()
        .find(|f| f.kind == FlagKind::AllianceRupture)
        .unwrap();
    let mut q = patient("g", 30);
    q.checkins = steady(3);
    q.checkins
        .push(alliance(day(28), 6.0 - (t_gt + 0.05), 6.0, 6.0));
    let goals = flags(&q, day(30), &FlagConfig::default());
    let goals = goals
        .iter()
        .find(|f| f.kind == FlagKind::AllianceRupture)
        .unwrap();
    assert!(
        goals.severity > bond.severity,
        "{} vs {}",
        goals.severity,
        bond.severity
    );
}

#[test]
fn rupture_uses_the_patients_own_recent_level() {
    // Low but stable ratings are not a rupture; the first rating alone is not either.
    let mut p = patient("l", 30);
    p.checkins = (0..4)
        .map(|k| alliance(day(7 * k), 3.0, 3.0, 3.0))
        .collect();
    assert!(!kinds(&p, day(30)).contains(&FlagKind::AllianceRupture));
    p.checkins = vec![alliance(day(0), 1.0, 1.0, 1.0)];
    assert!(!kinds(&p, day(30)).contains(&FlagKind::AllianceRupture));
}

// ------------------------------------------------------------------ repair

#[test]
fn repair_replaces_the_rupture() {
    let mut p = patient("p", 40);
    p.checkins = steady(3);
    p.checkins.push(alliance(day(21), 6.0, 4.5, 6.0)); // rupture
    p.checkins.push(alliance(day(35), 6.0, 5.5, 6.0)); // back within 0.90 of 6
    let f = flags(&p, day(40), &FlagConfig::default());
    let k: Vec<_> = f.iter().map(|f| f.kind).collect();
    assert!(k.contains(&FlagKind::Repair), "{k:?}");
    assert!(!k.contains(&FlagKind::AllianceRupture));
    let r = f.iter().find(|f| f.kind == FlagKind::Repair).unwrap();
    let dates: Vec<_> = r.evidence.iter().filter_map(|e| e.at).collect();
    assert!(dates.contains(&day(21)) && dates.contains(&day(35)));
    // A repair long ago leaves the caseload.
    assert!(!kinds(&p, day(35 + 43)).contains(&FlagKind::Repair));
}

#[test]
fn repair_near_miss_recovery_not_yet_within_the_band() {
    let mut p = patient("p", 40);
    p.checkins = steady(3);
    p.checkins.push(alliance(day(21), 6.0, 4.5, 6.0));
    p.checkins.push(alliance(day(35), 6.0, 5.0, 6.0)); // 6 - 0.90 = 5.10 needed
    let k = kinds(&p, day(40));
    assert!(k.contains(&FlagKind::AllianceRupture), "{k:?}");
    assert!(!k.contains(&FlagKind::Repair));
}

// ------------------------------------------------------------- discrepancy

#[test]
fn discrepancy_fires_at_one_and_a_half_points() {
    let mut p = patient("x", 30);
    p.checkins = vec![alliance(day(20), 4.0, 4.0, 5.0)];
    p.therapist_ratings = vec![rating("alliance_therapist", day(25), 4.0, 5.5, 5.0)];
    let f = flags(&p, day(30), &FlagConfig::default());
    let d = f.iter().find(|f| f.kind == FlagKind::Discrepancy).unwrap();
    assert!(d.reason.contains("tasks"), "{}", d.reason);
    let vals: Vec<_> = d
        .evidence
        .iter()
        .map(|e| (e.label.as_str(), e.at, e.value))
        .collect();
    assert!(vals.contains(&("tasks (therapist)", Some(day(25)), Some(5.5))));
    assert!(vals.contains(&("tasks (patient)", Some(day(20)), Some(4.0))));
}

#[test]
fn discrepancy_near_miss_small_difference_or_far_apart() {
    let mut p = patient("x", 30);
    p.checkins = vec![alliance(day(20), 4.0, 4.0, 5.0)];
    p.therapist_ratings = vec![rating("alliance_therapist", day(25), 4.0, 5.49, 5.0)];
    assert!(!kinds(&p, day(30)).contains(&FlagKind::Discrepancy));
    // A large difference, but the patient's rating is 15 days away.
    p.therapist_ratings = vec![rating("alliance_therapist", day(35), 1.0, 1.0, 1.0)];
    assert!(!kinds(&p, day(36)).contains(&FlagKind::Discrepancy));
}

// ----------------------------------------------------------- disengagement

fn snapshot(at: DateTime<Utc>, missed: u32, stalled: u32) -> EngagementSnapshot {
    EngagementSnapshot {
        at,
        days_since_last_activity: 0,
        current_missed_run: missed,
        longest_missed_run: missed,
        stalled_modules: stalled,
        completed_items: 5,
        missed_items: missed,
        last_activity_at: Some(at),
        completion_rate: None,
    }
}

#[test]
fn disengagement_fires_on_inactivity_missed_runs_or_stalls() {
    let mut p = patient("e", 30);
    p.last_activity = Some(day(20));
    let f = flags(&p, day(30), &FlagConfig::default());
    let e = f
        .iter()
        .find(|f| f.kind == FlagKind::Disengagement)
        .unwrap();
    assert_eq!(e.evidence[0].value, Some(10.0));
    assert_eq!(e.evidence[0].at, Some(day(20)));

    let mut q = patient("m", 30);
    q.engagement = Some(snapshot(day(29), 2, 0));
    assert!(kinds(&q, day(30)).contains(&FlagKind::Disengagement));
    q.engagement = Some(snapshot(day(29), 0, 1));
    assert!(kinds(&q, day(30)).contains(&FlagKind::Disengagement));
}

#[test]
fn disengagement_near_miss_nine_days_one_missed_no_stall() {
    let mut p = patient("e", 30);
    p.last_activity = Some(day(21));
    p.engagement = Some(snapshot(day(29), 1, 0));
    assert!(!kinds(&p, day(30)).contains(&FlagKind::Disengagement));
    // Never active: counted from the start.
    p.last_activity = None;
    p.engagement = None;
    assert!(!kinds(&p, day(9)).contains(&FlagKind::Disengagement));
    assert!(kinds(&p, day(10)).contains(&FlagKind::Disengagement));
}

// ------------------------------------------------- no reliable improvement

#[test]
fn no_reliable_improvement_fires_at_the_review_week() {
    let mut p = patient("n", 42);
    p.review_week = Some(6);
    p.checkins = vec![phq(day(0), 18.0), phq(day(35), 14.0), phq(day(41), 13.0)];
    let f = flags(&p, day(42), &FlagConfig::default());
    let n = f
        .iter()
        .find(|f| f.kind == FlagKind::NoReliableImprovement)
        .unwrap();
    assert!(n
        .evidence
        .iter()
        .any(|e| e.value == Some(18.0) && e.at == Some(day(0))));
    assert!(n
        .evidence
        .iter()
        .any(|e| e.value == Some(13.0) && e.at == Some(day(41))));
    assert!(n
        .evidence
        .iter()
        .any(|e| e.label == "review week" && e.value == Some(6.0)));
}

#[test]
fn no_reliable_improvement_near_miss_before_the_week_or_improved() {
    let mut p = patient("n", 41);
    p.review_week = Some(6);
    p.checkins = vec![phq(day(0), 18.0), phq(day(35), 14.0), phq(day(40), 13.0)];
    // Week 5 (day 41) is before the review week.
    assert!(!kinds(&p, day(41)).contains(&FlagKind::NoReliableImprovement));
    // Reliable improvement (6 points) by the review week.
    p.checkins.push(phq(day(41), 12.0));
    assert!(!kinds(&p, day(42)).contains(&FlagKind::NoReliableImprovement));
    // Programs without a review week never raise it.
    p.review_week = None;
    p.checkins.pop();
    assert!(!kinds(&p, day(80)).contains(&FlagKind::NoReliableImprovement));
}

// ---------------------------------------------------------------- caseload

#[test]
fn caseload_orders_by_priority_then_severity() {
    let now = day(60);
    let cfg = FlagConfig::default();
    let routine = patient("routine", 60);
    let mut inactive = patient("inactive", 60);
    inactive.last_activity = Some(day(45));
    let mut rupture = patient("rupture", 60);
    rupture.checkins = steady(3);
    rupture.checkins.push(alliance(day(56), 6.0, 4.0, 6.0));
    let mut worse_a = patient("worse-a", 60);
    worse_a.checkins = vec![phq(day(0), 8.0), phq(day(56), 14.0)];
    let mut worse_b = patient("worse-b", 60);
    worse_b.checkins = vec![phq(day(0), 8.0), phq(day(56), 22.0)];
    let mut safety = patient("safety", 60);
    safety.alerts.push(AlertRecord {
        alert_id: "x".into(),
        at: day(59),
        instrument: "phq9".into(),
        acknowledged: false,
        acknowledged_at: None,
        action: None,
        trigger: Default::default(),
    });
    // Safety plus inactivity: safety decides, both are reasons.
    safety.last_activity = Some(day(40));
    let all = vec![routine, inactive, worse_a, rupture, safety, worse_b];
    let c = caseload(&all, now, &cfg);
    let order: Vec<_> = c.iter().map(|e| e.channel_id.as_str()).collect();
    assert_eq!(
        order,
        ["safety", "worse-b", "worse-a", "rupture", "inactive", "routine"]
    );
    let prio: Vec<_> = c.iter().map(|e| e.priority).collect();
    assert_eq!(
        prio,
        [
            Priority::Safety,
            Priority::Deterioration,
            Priority::Deterioration,
            Priority::Rupture,
            Priority::Disengagement,
            Priority::Routine
        ]
    );
    assert_eq!(c[0].reasons[0].kind, FlagKind::Safety);
    assert_eq!(c[0].reasons[1].kind, FlagKind::Disengagement);
    assert!(c.iter().all(|e| e.reasons.len() <= 3));
    assert!(c[5].reasons.is_empty());
    assert_eq!(c[1].latest_symptom.as_ref().unwrap().total, Some(22.0));
    assert_eq!(c[3].latest_alliance.as_ref().unwrap().at, day(56));
    assert_eq!(c[0].week, 8);
    // Serialized names are snake_case.
    let j = serde_json::to_value(&c[3]).unwrap();
    assert_eq!(j["priority"], "rupture");
    assert_eq!(j["reasons"][0]["kind"], "alliance_rupture");
}

// ------------------------------------------------------------------ digest

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

#[test]
fn digest_notifies_safety_at_once_and_batches_the_rest() {
    // Wednesday 2026-03-04 10:00 UTC; default hours Mon–Fri 09:00–17:00 UTC.
    let now = utc(2026, 3, 4, 10, 0);
    let mut safety = patient("s", 58);
    safety.alerts.push(AlertRecord {
        alert_id: "x".into(),
        at: now - Duration::hours(1),
        instrument: "phq9".into(),
        acknowledged: false,
        acknowledged_at: None,
        action: None,
        trigger: Default::default(),
    });
    let mut inactive = patient("i", 58);
    inactive.last_activity = Some(now - Duration::days(12));
    let mut worse = patient("w", 58);
    worse.checkins = vec![phq(day(0), 5.0), phq(day(50), 15.0)];
    let quiet = patient("q", 58);
    let cl = caseload(
        &[quiet, inactive, safety, worse],
        now,
        &FlagConfig::default(),
    );
    let avail = Availability::default();

    let once = digest_plan(&cl, &avail, now, 1).unwrap();
    let digest: Vec<_> = once.iter().filter(|b| !b.immediate).collect();
    assert_eq!(digest.len(), 1);
    assert!(once[0].immediate && !once[0].renotify);
    assert_eq!(once[0].fire_at, now);
    assert_eq!(once[0].entries.len(), 1);
    assert_eq!(once[0].entries[0].channel_id, "s");
    assert_eq!(digest[0].fire_at, utc(2026, 3, 5, 9, 0)); // next window start
    let ids: Vec<_> = digest[0]
        .entries
        .iter()
        .map(|e| e.channel_id.as_str())
        .collect();
    // The open alert first, then caseload order; the quiet patient left out.
    assert_eq!(ids, ["s", "w", "i"]);

    let twice = digest_plan(&cl, &avail, now, 2).unwrap();
    let digest = twice.iter().find(|b| !b.immediate).unwrap();
    assert_eq!(digest.fire_at, utc(2026, 3, 4, 13, 0)); // midday of today's window

    // Friday evening: the digest waits for Monday; safety defers by default
    // outside hours and notifies at once when the therapist asked for that.
    let fri = utc(2026, 3, 6, 18, 0);
    let plan = digest_plan(&cl, &avail, fri, 1).unwrap();
    assert_eq!(plan[0].fire_at, utc(2026, 3, 9, 9, 0));
    assert!(plan[0].immediate && !plan[0].renotify);
    let digest = plan.iter().find(|b| !b.immediate).unwrap();
    assert_eq!(digest.fire_at, utc(2026, 3, 9, 9, 0));
    let notify = Availability {
        alerts_outside_hours: AlertsOutsideHours::Notify,
        ..Availability::default()
    };
    assert_eq!(digest_plan(&cl, &notify, fri, 1).unwrap()[0].fire_at, fri);
    assert!(digest_plan(&cl, &avail, now, 3).is_err());
    let bad = Availability {
        tz: "Mars/Olympus".into(),
        ..Availability::default()
    };
    assert!(digest_plan(&cl, &bad, now, 1).is_err());
}

// ---------------------------------------------------------------- timeline

#[test]
fn timeline_has_weeks_bands_and_both_alliance_sources() {
    let mut p = patient("t", 30);
    p.checkins = vec![
        phq(day(0), 12.0),
        alliance(day(8), 5.0, 5.0, 6.0),
        phq(day(15), 9.0),
    ];
    p.therapist_ratings = vec![rating("alliance_therapist", day(9), 5.0, 5.0, 5.0)];
    let t = timeline(&p, day(30));
    assert_eq!(t.week_now, 4);
    assert_eq!(t.alliance.len(), 2);
    assert_eq!(
        (t.alliance[0].source.as_str(), t.alliance[0].week),
        ("patient", 1)
    );
    assert_eq!(t.alliance[1].source, "therapist");
    assert_eq!(t.symptoms.len(), 1);
    let s = &t.symptoms[0];
    assert_eq!(s.instrument, "phq9");
    assert_eq!(s.reliable_change_threshold, 6.0);
    assert!(s.higher_is_worse);
    assert_eq!(s.bands.len(), 5);
    assert_eq!(s.points.iter().map(|p| p.week).collect::<Vec<_>>(), [0, 2]);
}

// ---------------------------------------------------------------- research

#[test]
fn research_rows_are_long_format_pseudonymous_and_seedable() {
    let mut a = patient("a", 30);
    a.checkins = vec![
        alliance(day(3), 5.0, 4.0, 6.0),
        phq(day(3), 15.0),
        phq(day(22), 9.0),
    ];
    a.therapist_ratings = vec![rating("alliance_therapist", day(4), 1.0, 1.0, 1.0)];
    let mut b = patient("b", 30);
    b.checkins = vec![phq(day(1), 10.0)];
    let rows = research_rows(&[a.clone(), b.clone()], Some(7));
    assert_eq!(rows, research_rows(&[a.clone(), b.clone()], Some(7)));
    assert_eq!(rows.len(), 4); // therapist ratings are not exported
    let ids: std::collections::BTreeSet<_> = rows.iter().map(|r| r.patient.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids
        .iter()
        .all(|i| i.len() == 12 && i.bytes().all(|c| c.is_ascii_hexdigit())));
    let other = research_rows(&[a.clone(), b], Some(8));
    assert!(other.iter().all(|r| !ids.contains(&r.patient)));
    let al = rows.iter().find(|r| r.alliance.is_some()).unwrap();
    assert_eq!(
        (al.week, al.goals, al.tasks, al.bond),
        (0, Some(5.0), Some(4.0), Some(6.0))
    );
    assert_eq!(al.alliance, Some((15.0 + 12.0 + 12.0) / 8.0));
    assert!(al.instrument.is_none() && al.score.is_none());
    let late = rows.iter().find(|r| r.score == Some(9.0)).unwrap();
    assert_eq!((late.week, late.instrument.as_deref()), (3, Some("phq9")));
    // The CSV round-trips.
    let csv = rows_to_csv(&rows).unwrap();
    assert_eq!(parse_csv(&csv).unwrap(), rows);
    // Unseeded exports draw fresh ids.
    let r1 = research_rows(std::slice::from_ref(&a), None);
    let r2 = research_rows(std::slice::from_ref(&a), None);
    assert_ne!(r1[0].patient, r2[0].patient);
}

// ------------------------------------------------------- issue 10: risk in sight

/// A PHQ-9 item-9 alert: answer 2 ("More than half the days"), total 19,
/// acknowledged when `ack` is given.
fn risk_alert(at: DateTime<Utc>, ack: Option<(DateTime<Utc>, AckAction)>) -> AlertRecord {
    AlertRecord {
        alert_id: format!("al-{}", at.timestamp()),
        at,
        instrument: "phq9".into(),
        acknowledged: ack.is_some(),
        acknowledged_at: ack.map(|a| a.0),
        action: ack.map(|a| a.1),
        trigger: AlertTrigger {
            item: Some("phq9_9".into()),
            answer: Some(2.0),
            answer_text: Some("More than half the days".into()),
            total: Some(19.0),
            phrase: None,
        },
    }
}

fn priority_of(p: &PatientRecord, now: DateTime<Utc>) -> Priority {
    caseload(std::slice::from_ref(p), now, &FlagConfig::default())[0].priority
}

#[test]
fn acknowledged_risk_stays_a_caseload_reason_for_eight_weeks() {
    // Day 58 is 2026-03-04; improving scores, nothing else to flag.
    let mut p = patient("r", 70);
    p.checkins = vec![phq(day(0), 18.0), phq(day(56), 11.0)];
    p.alerts.push(risk_alert(
        day(58),
        Some((day(59) + Duration::hours(9), AckAction::Phone)),
    ));
    let now = day(70);
    let f = flags(&p, now, &FlagConfig::default());
    assert!(!f.iter().any(|f| f.kind == FlagKind::Safety));
    let r = f.iter().find(|f| f.kind == FlagKind::RecentRisk).unwrap();
    assert_eq!(
        r.reason,
        "risk answered on 2026-03-04: PHQ-9 item 9 = 2 (\"More than half the days\"), total 19 \
         (acknowledged 2026-03-05, contacted by phone)"
    );
    assert!(r
        .evidence
        .iter()
        .any(|e| e.at == Some(day(58)) && e.value == Some(2.0)));
    assert!(r
        .evidence
        .iter()
        .any(|e| e.label == "acknowledged (contacted by phone)"));
    let c = caseload(std::slice::from_ref(&p), now, &FlagConfig::default());
    assert_eq!(c[0].priority, Priority::RecentRisk);
    assert_eq!(c[0].reasons[0].kind, FlagKind::RecentRisk);

    // Visible through the eighth week after the answer, gone the day after.
    assert!(kinds(&p, day(58 + 56)).contains(&FlagKind::RecentRisk));
    assert!(!kinds(&p, day(58 + 57)).contains(&FlagKind::RecentRisk));
    // N is a setting.
    let short = FlagConfig {
        risk_visible_weeks: 1,
        ..FlagConfig::default()
    };
    assert!(!flags(&p, now, &short)
        .iter()
        .any(|f| f.kind == FlagKind::RecentRisk));

    // Without the details the alert still says what it knows.
    p.alerts[0].trigger = AlertTrigger::default();
    p.alerts[0].action = None;
    let r = flags(&p, now, &FlagConfig::default());
    let r = r.iter().find(|f| f.kind == FlagKind::RecentRisk).unwrap();
    assert_eq!(
        r.reason,
        "risk answered on 2026-03-04: PHQ-9 (acknowledged 2026-03-05)"
    );

    // Risk language in a message.
    p.alerts[0].instrument = "message".into();
    p.alerts[0].trigger.phrase = Some("no way out".into());
    p.alerts[0].action = Some(AckAction::Message);
    let r = flags(&p, now, &FlagConfig::default());
    let r = r.iter().find(|f| f.kind == FlagKind::RecentRisk).unwrap();
    assert_eq!(
        r.reason,
        "possible risk language in a message on 2026-03-04: \"no way out\" (acknowledged 2026-03-05, messaged)"
    );
}

#[test]
fn unacknowledged_alert_says_what_raised_it_and_keeps_the_top_tier() {
    let mut p = patient("s", 70);
    p.alerts.push(risk_alert(day(58), None));
    let f = flags(&p, day(60), &FlagConfig::default());
    assert_eq!(f[0].kind, FlagKind::Safety);
    assert_eq!(
        f[0].reason,
        "unacknowledged safety alert, risk answered on 2026-03-04: PHQ-9 item 9 = 2 \
         (\"More than half the days\"), total 19"
    );
    assert!(f[0]
        .evidence
        .iter()
        .any(|e| e.label == "PHQ-9 total" && e.value == Some(19.0)));
    // The evidence is the answer itself, not the reason repeated.
    assert_eq!(f[0].evidence[0].label, "PHQ-9 item 9 answer");
    assert_eq!(f[0].evidence[0].value, Some(2.0));
    // An open alert older than the eight weeks still tops the caseload.
    assert_eq!(priority_of(&p, day(58 + 70)), Priority::Safety);
    // Two open, one acknowledged earlier: both are reasons.
    p.alerts.insert(
        0,
        risk_alert(
            day(40),
            Some((day(40) + Duration::hours(3), AckAction::SafetyPlan)),
        ),
    );
    p.alerts.push(risk_alert(day(59), None));
    let c = caseload(std::slice::from_ref(&p), day(60), &FlagConfig::default());
    assert_eq!(c[0].priority, Priority::Safety);
    assert!(c[0].reasons[0]
        .reason
        .starts_with("2 unacknowledged safety alerts, latest risk answered on 2026-03-05"));
    assert_eq!(c[0].reasons[1].kind, FlagKind::RecentRisk);
    assert!(c[0].reasons[1].reason.contains("safety plan reviewed"));
}

#[test]
fn recent_risk_ranks_after_deterioration_and_above_rupture_and_is_never_cut() {
    let now = day(60);
    let mut risk = patient("risk", 60);
    risk.checkins = vec![phq(day(0), 19.0), phq(day(56), 19.0)];
    risk.alerts
        .push(risk_alert(day(14), Some((day(14), AckAction::Phone))));
    let mut worse = patient("worse", 60);
    worse.checkins = vec![phq(day(0), 8.0), phq(day(56), 15.0)];
    let mut rupture = patient("rupture", 60);
    rupture.checkins = steady(3);
    rupture.checkins.push(alliance(day(56), 6.0, 4.0, 6.0));
    let plain = patient("plain", 60);
    let c = caseload(&[plain, rupture, risk, worse], now, &FlagConfig::default());
    let order: Vec<_> = c
        .iter()
        .map(|e| (e.channel_id.as_str(), e.priority))
        .collect();
    assert_eq!(
        order,
        [
            ("worse", Priority::Deterioration),
            ("risk", Priority::RecentRisk),
            ("rupture", Priority::Rupture),
            ("plain", Priority::Routine)
        ]
    );
    assert_eq!(serde_json::to_value(c[1].priority).unwrap(), "recent_risk");

    // Safety, two deteriorations and a rupture: the acknowledged risk is
    // kept beyond the top three.
    let mut busy = patient("busy", 60);
    busy.checkins = vec![
        phq(day(0), 5.0),
        symptom("gad7", day(0), 4.0),
        phq(day(56), 15.0),
        symptom("gad7", day(56), 12.0),
    ];
    busy.checkins.extend(steady(3));
    busy.checkins.push(alliance(day(57), 6.0, 4.0, 6.0));
    busy.alerts
        .push(risk_alert(day(30), Some((day(30), AckAction::Referred))));
    busy.alerts.push(risk_alert(day(59), None));
    let c = caseload(std::slice::from_ref(&busy), now, &FlagConfig::default());
    let k: Vec<_> = c[0].reasons.iter().map(|f| f.kind).collect();
    assert_eq!(
        k,
        [
            FlagKind::Safety,
            FlagKind::Deterioration,
            FlagKind::Deterioration,
            FlagKind::RecentRisk
        ]
    );
}

#[test]
fn within_a_tier_patients_are_ordered_by_clinical_severity() {
    let now = day(30);
    let mk = |id: &str, scores: &[(i64, f64)], active: i64| {
        let mut p = patient(id, 30);
        p.checkins = scores.iter().map(|&(d, v)| phq(day(d), v)).collect();
        p.last_activity = Some(day(active));
        p
    };
    // Most recent activity belongs to the mildest patient.
    let all = vec![
        mk("a-mild", &[(0, 8.0), (28, 7.0)], 29),
        mk("b-modsev-small", &[(0, 14.0), (28, 16.0)], 25),
        mk("c-modsev-large", &[(0, 12.0), (28, 17.0)], 24),
        mk("d-none", &[], 27),
        mk("f-moderate", &[(0, 10.0), (28, 10.0)], 26),
        mk("e-moderate", &[(0, 10.0), (28, 10.0)], 26),
        // Same band and change as e and f, a higher score.
        mk("g-moderate", &[(0, 13.0), (28, 13.0)], 28),
    ];
    let c = caseload(&all, now, &FlagConfig::default());
    assert!(c.iter().all(|e| e.priority == Priority::Routine), "{c:#?}");
    let order: Vec<_> = c.iter().map(|e| e.channel_id.as_str()).collect();
    assert_eq!(
        order,
        [
            "c-modsev-large",
            "b-modsev-small",
            "g-moderate",
            "e-moderate",
            "f-moderate",
            "a-mild",
            "d-none"
        ]
    );
}

#[test]
fn a_non_responder_at_the_review_week_has_a_tier_above_routine() {
    let now = day(42); // week 6
    let mut slow = patient("slow", 42);
    slow.review_week = Some(6);
    slow.checkins = vec![phq(day(0), 18.0), phq(day(41), 14.0)];
    // More severe, but no review week has passed: routine.
    let mut severe = patient("severe", 42);
    severe.checkins = vec![phq(day(0), 22.0), phq(day(41), 21.0)];
    let mut inactive = patient("inactive", 42);
    inactive.last_activity = Some(day(30));
    let c = caseload(&[severe, slow, inactive], now, &FlagConfig::default());
    let order: Vec<_> = c
        .iter()
        .map(|e| (e.channel_id.as_str(), e.priority))
        .collect();
    assert_eq!(
        order,
        [
            ("inactive", Priority::Disengagement),
            ("slow", Priority::NonResponse),
            ("severe", Priority::Routine)
        ]
    );
    assert_eq!(c[1].reasons[0].kind, FlagKind::NoReliableImprovement);

    // Judged on the primary instrument: PHQ-9 improved reliably, a GAD-7
    // that stayed mild does not make a non-responder.
    let mut better = patient("better", 42);
    better.review_week = Some(6);
    better.checkins = vec![
        phq(day(0), 18.0),
        symptom("gad7", day(0), 6.0),
        phq(day(41), 9.0),
        symptom("gad7", day(41), 5.0),
    ];
    assert!(!kinds(&better, now).contains(&FlagKind::NoReliableImprovement));
    better.primary_instrument = Some("gad7".into());
    assert!(kinds(&better, now).contains(&FlagKind::NoReliableImprovement));
}

#[test]
fn the_headline_is_the_primary_instrument_with_its_date_and_age() {
    let mut p = patient("h", 30);
    p.checkins = vec![
        phq(day(0), 18.0),
        phq(day(7), 16.0),
        symptom("gad7", day(20), 9.0),
    ];
    let c = caseload(std::slice::from_ref(&p), day(30), &FlagConfig::default());
    // The latest symptom score is the GAD-7; the headline stays PHQ-9.
    assert_eq!(c[0].latest_symptom.as_ref().unwrap().instrument, "gad7");
    let h = c[0].headline.as_ref().unwrap();
    assert_eq!(
        (h.instrument.as_str(), h.display_name.as_str(), h.total),
        ("phq9", "PHQ-9", 16.0)
    );
    assert_eq!(h.severity.as_deref(), Some("moderately_severe"));
    assert_eq!((h.at, h.age_days, h.stale), (day(7), 23, true));
    assert_eq!(h.change, Some(-2.0));
    let j = serde_json::to_value(&c[0]).unwrap();
    assert_eq!(j["headline"]["stale"], true);
    assert_eq!(j["headline"]["age_days"], 23);
    // Fourteen days old is not stale yet; fifteen is.
    let at = |d| {
        caseload(std::slice::from_ref(&p), day(d), &FlagConfig::default())[0]
            .headline
            .clone()
            .unwrap()
    };
    assert!(!at(21).stale);
    assert!(at(22).stale);

    // The program's declared instrument wins.
    p.primary_instrument = Some("gad7".into());
    let c = caseload(std::slice::from_ref(&p), day(30), &FlagConfig::default());
    let h = c[0].headline.as_ref().unwrap();
    assert_eq!(
        (h.instrument.as_str(), h.display_name.as_str()),
        ("gad7", "GAD-7")
    );
    assert_eq!((h.age_days, h.stale, h.change), (10, false, None));
    // No scores: no headline.
    let none = patient("n", 30);
    assert!(caseload(&[none], day(30), &FlagConfig::default())[0]
        .headline
        .is_none());
}

#[test]
fn the_deterioration_baseline_is_the_first_score_of_the_first_two_weeks() {
    let mut p = patient("b", 45);
    // First score in week 3: no baseline, no deterioration.
    p.checkins = vec![phq(day(20), 8.0), phq(day(40), 18.0)];
    assert!(!kinds(&p, day(45)).contains(&FlagKind::Deterioration));
    // A score on day 13 is the baseline; day 14 is too late.
    p.checkins = vec![phq(day(13), 8.0), phq(day(40), 18.0)];
    let f = flags(&p, day(45), &FlagConfig::default());
    let d = f
        .iter()
        .find(|f| f.kind == FlagKind::Deterioration)
        .unwrap();
    assert_eq!(d.evidence[0].at, Some(day(13)));
    p.checkins = vec![phq(day(14), 8.0), phq(day(40), 18.0)];
    assert!(!kinds(&p, day(45)).contains(&FlagKind::Deterioration));
    // An intake score in the week before the start counts; earlier does not,
    // and a mid-treatment score never stands in for it.
    p.checkins = vec![phq(day(-3), 8.0), phq(day(40), 18.0)];
    assert!(kinds(&p, day(45)).contains(&FlagKind::Deterioration));
    p.checkins = vec![phq(day(-8), 8.0), phq(day(20), 9.0), phq(day(40), 18.0)];
    assert!(!kinds(&p, day(45)).contains(&FlagKind::Deterioration));
    // The review-week rule uses the same baseline.
    p.review_week = Some(6);
    p.checkins = vec![phq(day(20), 15.0), phq(day(44), 15.0)];
    assert!(!kinds(&p, day(45)).contains(&FlagKind::NoReliableImprovement));
    p.checkins = vec![phq(day(2), 15.0), phq(day(44), 15.0)];
    assert!(kinds(&p, day(45)).contains(&FlagKind::NoReliableImprovement));
}

#[test]
fn an_open_alert_renotifies_at_each_window_start_and_leads_the_digest() {
    // Wednesday 2026-03-04 10:00 UTC; hours Mon–Fri 09:00–17:00 UTC.
    let now = utc(2026, 3, 4, 10, 0);
    let mut open = patient("open", 58);
    open.alerts.push(risk_alert(now - Duration::hours(1), None));
    let avail = Availability::default();
    let cl = caseload(std::slice::from_ref(&open), now, &FlagConfig::default());
    let plan = digest_plan(&cl, &avail, now, 1).unwrap();
    let times: Vec<_> = plan.iter().map(|b| (b.fire_at, b.renotify)).collect();
    assert_eq!(
        times,
        [
            (now, false),
            (utc(2026, 3, 5, 9, 0), true),
            (utc(2026, 3, 6, 9, 0), true),
            (utc(2026, 3, 9, 9, 0), true),
            (utc(2026, 3, 10, 9, 0), true),
            (utc(2026, 3, 11, 9, 0), true),
        ]
    );
    assert!(plan
        .iter()
        .all(|b| b.immediate && b.entries[0].channel_id == "open"));
    assert_eq!(
        next_window_start(&avail, utc(2026, 3, 6, 18, 0)).unwrap(),
        Some(utc(2026, 3, 9, 9, 0))
    );
    // Every window start counts, a split day's too.
    let split = Availability {
        hours: vec![
            Hours {
                days: vec!["WE".into()],
                start: "09:00".into(),
                end: "12:00".into(),
            },
            Hours {
                days: vec!["WE".into()],
                start: "13:00".into(),
                end: "17:00".into(),
            },
        ],
        ..Availability::default()
    };
    let plan = digest_plan(&cl, &split, now, 1).unwrap();
    let times: Vec<_> = plan.iter().map(|b| b.fire_at).collect();
    assert_eq!(times, [now, utc(2026, 3, 4, 13, 0), utc(2026, 3, 11, 9, 0)]);
    // Acknowledged: no more re-notification; recent risk leads the digest.
    let mut acked = open.clone();
    acked.alerts[0].acknowledged = true;
    let mut worse = patient("worse", 58);
    worse.checkins = vec![phq(day(0), 5.0), phq(day(50), 15.0)];
    let cl = caseload(&[worse, acked], now, &FlagConfig::default());
    assert_eq!(cl[0].channel_id, "worse");
    let plan = digest_plan(&cl, &avail, now, 1).unwrap();
    assert_eq!(plan.len(), 1);
    assert!(!plan[0].immediate);
    let ids: Vec<_> = plan[0]
        .entries
        .iter()
        .map(|e| e.channel_id.as_str())
        .collect();
    assert_eq!(ids, ["open", "worse"]);
}
