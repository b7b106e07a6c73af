//! Insights over a real therapist store fed by a real sync (issue 6): the
//! patients' check-ins (one corrected), a safety alert and a program
//! assignment travel through an in-process relay; the therapist's own
//! alliance rating stays local; `load_patients` and `caseload_for_store`
//! read it all back.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use chrono::{Duration, Utc};
use collabzium_core::checkin::Checkins;
use collabzium_core::insights::{
    caseload_for_store, load_patients, rate_alliance, timeline, FlagKind, Priority,
};
use collabzium_core::sync;
use collabzium_e2e::*;
use serde_json::json;

fn phq9_answers(items: [i64; 9]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (i, v) in items.iter().enumerate() {
        m.insert(format!("phq9_{}", i + 1), (*v).into());
    }
    serde_json::Value::Object(m)
}

#[test]
fn caseload_from_a_synced_therapist_store() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in_process(dir.path());
    let t = transport();
    let th = party(dir.path(), "therapist");
    let sam = party(dir.path(), "sam");
    let alex = party(dir.path(), "alex-patient");
    let sam_ch = pair(&relay.url(), &t, &th.store, &sam.store, "Sam");
    let alex_ch = pair(&relay.url(), &t, &th.store, &alex.store, "Alex");

    // Sam follows the 8-week low-mood program from ten days ago, so today's
    // first PHQ-9 falls in the baseline window (the first two weeks).
    let program = std::fs::read_to_string(repo_path("cli/data/programs/low-mood-8w.json")).unwrap();
    let start = (Utc::now() - Duration::days(10)).date_naive();
    sync::send_program_assignment(&th.store, &sam_ch, &program, start).unwrap();

    // Sam: baseline PHQ-9 5, then 9 corrected to 12 (reliable worsening: +7 ≥ 6).
    let c = Checkins::new(sam.store.clone()).unwrap();
    let submit = |answers: serde_json::Value| {
        let d = c.start("phq9", None).unwrap();
        c.answer_json(&d.checkin_id, &answers).unwrap();
        let id = c.submit(&d.checkin_id).unwrap().checkin_id;
        sam.clock.advance_ms(1_000);
        id
    };
    submit(phq9_answers([1, 1, 1, 1, 1, 0, 0, 0, 0]));
    let second = submit(phq9_answers([2, 2, 1, 1, 1, 1, 1, 0, 0]));
    let fix = c.correct(&second).unwrap();
    c.answer_json(&fix.checkin_id, &phq9_answers([2, 2, 2, 2, 2, 1, 1, 0, 0]))
        .unwrap();
    c.submit(&fix.checkin_id).unwrap();
    alliance_checkin(&sam.store, "");

    // Alex: a PHQ-9 with a risk answer raises a safety alert.
    let alert = phq9(&alex.store, [1, 1, 1, 1, 0, 0, 0, 0, 1]);
    sync_until_quiet(&[&th, &sam, &alex], &t);

    // The therapist rates the alliance with Sam; it never leaves the device.
    let rating = rate_alliance(
        &th.store,
        &sam_ch,
        &json!({"goals_1": 3, "goals_2": 3, "goals_3": 3, "tasks_1": 3, "tasks_2": 3,
                "tasks_3": 3, "bond_1": 6, "bond_2": 6}),
    )
    .unwrap();
    assert!(rate_alliance(&th.store, "no-such-channel", &json!({})).is_err());
    assert!(rate_alliance(&th.store, &sam_ch, &json!({"goals_1": 99})).is_err());
    sync_until_quiet(&[&th, &sam, &alex], &t);
    let sam_inbox = sync::inbox(&sam.store, &["checkin"]).unwrap();
    assert!(sam_inbox.is_empty(), "therapist ratings are never synced");

    let patients = load_patients(&th.store).unwrap();
    assert_eq!(patients.len(), 2);
    let s = patients.iter().find(|p| p.channel_id == sam_ch).unwrap();
    assert_eq!(s.label.as_deref(), Some("Sam"));
    assert_eq!(s.start, start.and_hms_opt(0, 0, 0).unwrap().and_utc());
    assert_eq!((s.review_week, s.program_weeks), (Some(6), Some(8)));
    // The program declares its primary instrument; it reaches the therapist.
    assert_eq!(s.primary_instrument.as_deref(), Some("phq9"));
    // And its id and title, for the workstation's program filter.
    assert_eq!(s.program_id.as_deref(), Some("low-mood-8w"));
    assert_eq!(
        s.program_title.as_deref(),
        Some("Lifting low mood: an 8-week CBT and behavioural activation program")
    );
    let a = patients.iter().find(|p| p.channel_id != sam_ch).unwrap();
    assert_eq!(
        (a.program_id.as_deref(), a.program_title.as_deref()),
        (None, None)
    );
    assert_eq!(s.mode.as_deref(), Some("guided"));
    let totals: Vec<_> = s
        .checkins
        .iter()
        .filter(|p| p.instrument == "phq9")
        .map(|p| p.total)
        .collect();
    assert_eq!(totals, [Some(5.0), Some(12.0)], "correction applied");
    assert_eq!(s.therapist_ratings.len(), 1);
    // goals_3 and tasks_3 are reverse-keyed: (3 + 3 + 5) / 3.
    assert_eq!(s.therapist_ratings[0].subscales["tasks"], 3.67);
    assert!(s.last_activity.is_some());
    let a = patients.iter().find(|p| p.channel_id == alex_ch).unwrap();
    assert_eq!(a.alerts.len(), 1);
    assert_eq!(a.alerts[0].alert_id, alert);
    assert!(!a.alerts[0].acknowledged);

    let now = Utc::now() + Duration::hours(1);
    let cl = caseload_for_store(&th.store, now).unwrap();
    assert_eq!(cl[0].channel_id, alex_ch);
    assert_eq!(cl[0].priority, Priority::Safety);
    assert!(
        cl[0].reasons[0]
            .reason
            .starts_with("unacknowledged safety alert, risk answered on"),
        "{}",
        cl[0].reasons[0].reason
    );
    assert_eq!(cl[1].channel_id, sam_ch);
    assert_eq!(cl[1].priority, Priority::Deterioration);
    assert_eq!(cl[1].week, 1);
    // Sam's headline: the program's PHQ-9, 5 at baseline, now 12.
    let h = cl[1].headline.as_ref().expect("a headline score");
    assert_eq!(
        (h.instrument.as_str(), h.total, h.change),
        ("phq9", 12.0, Some(7.0))
    );
    assert!(!h.stale);
    let sam_kinds: Vec<_> = cl[1].reasons.iter().map(|f| f.kind).collect();
    // Sam rates goals 6 and tasks 5.33, the therapist 3.67 and 3.67.
    assert!(sam_kinds.contains(&FlagKind::Discrepancy), "{sam_kinds:?}");
    let tl = timeline(s, now);
    assert_eq!(tl.alliance.len(), 2);
    assert_eq!(tl.symptoms[0].points.len(), 2);
    let _ = rating;

    // Acknowledged, the alert no longer tops the caseload, but the risk
    // stays in sight: its own tier and reason, never routine.
    // Acknowledged, the alert no longer tops the caseload.
    sync::send_alert_ack(
        &th.store,
        &alex_ch,
        &alert,
        collabzium_core::checkin::AckAction::Phone,
        None,
    )
    .unwrap();
    let cl = caseload_for_store(&th.store, now).unwrap();
    assert_eq!(cl[0].channel_id, sam_ch);
    let alex_entry = cl.iter().find(|e| e.channel_id == alex_ch).unwrap();
    assert_eq!(alex_entry.priority, Priority::RecentRisk);
    let reason = &alex_entry.reasons[0];
    assert_eq!(reason.kind, FlagKind::RecentRisk);
    assert!(
        reason.reason.starts_with("risk answered on") && reason.reason.contains("(acknowledged "),
        "{}",
        reason.reason
    );
    // Eight weeks on, it has left the caseload.
    let later = caseload_for_store(&th.store, now + Duration::weeks(9)).unwrap();
    let alex_entry = later.iter().find(|e| e.channel_id == alex_ch).unwrap();
    assert!(alex_entry
        .reasons
        .iter()
        .all(|f| f.kind != FlagKind::RecentRisk));
}
