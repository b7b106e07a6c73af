//! The check-in flow end to end: drafts, submit, immutability, corrections,
//! safety on every path (offline, restart between submit and sync,
//! abandoned drafts), clinic instruments and trends.
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod checkin_support;

use checkin_support::*;
use collabzium_core::checkin::{AlertStatus, Checkins};
use collabzium_core::domain::TreatmentMode;
use collabzium_core::instruments::ChangeCategory;
use collabzium_core::store::outbox::{self, Priority};
use collabzium_core::Error;
use serde_json::json;

/// The sample program plus a clinic's own line for GB patients and one for US
/// patients: an en-GB patient must see the first, never the second.
fn program_with_clinic_lines() -> collabzium_core::program::Program {
    use collabzium_core::crisis::CrisisResource;
    let mut program =
        collabzium_core::program::load(include_str!("../../cli/data/programs/low-mood-8w.json"))
            .unwrap();
    let line = |name: &str, phone: &str| CrisisResource {
        name: name.into(),
        description: "The clinic's duty line in working hours.".into(),
        phone: Some(phone.into()),
        sms: None,
        url: None,
    };
    program
        .crisis_resources
        .insert("GB".into(), vec![line("Clinic duty line", "020 7946 0000")]);
    program
        .crisis_resources
        .insert("en-US".into(), vec![line("US clinic line", "202 555 0100")]);
    program
}

/// What an en-GB patient of [`program_with_clinic_lines`] is shown.
fn gb_resources_with_clinic_line() -> Vec<collabzium_core::crisis::CrisisResource> {
    let p = program_with_clinic_lines();
    let mut expected = p.crisis_resources["GB"].clone();
    expected.extend(collabzium_core::checkin::default_resources(
        Some("GB"),
        "en",
    ));
    expected
}

fn pending(c: &Checkins) -> Vec<outbox::OutboxEntry> {
    c.store().read(outbox::pending).unwrap()
}

#[test]
fn phq9_check_in_without_risk() {
    let dir = tempfile::tempdir().unwrap();
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Guided),
    );
    let d = c.start("phq9", Some("weekly-mood.2026-03-01")).unwrap();
    assert_eq!(d.missing_required, vec!["phq9_9"]);
    let d = c
        .answer_json(&d.checkin_id, &phq9([2, 2, 1, 3, 0, 1, 2, 1, 0]))
        .unwrap();
    assert!(d.safety.is_none());
    assert!(d.missing_required.is_empty());
    let r = c.submit(&d.checkin_id).unwrap();
    assert_eq!(r.score.total, Some(12.0));
    assert_eq!(r.score.severity.as_deref(), Some("moderate"));
    assert!(r.safety.is_none());
    let q = pending(&c);
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].kind.as_str(), q[0].seq, q[0].priority),
        ("checkin", r.outbox_seq, Priority::Normal)
    );
    let event: serde_json::Value = serde_json::from_slice(&q[0].body).unwrap();
    assert_eq!(event["checkin"]["score"]["total"], 12.0);
    assert!(c.drafts().unwrap().is_empty());
    let stored = c.get(&r.checkin_id).unwrap();
    assert_eq!(
        stored.agenda_item.as_deref(),
        Some("weekly-mood.2026-03-01")
    );
    assert_eq!(stored.utc_offset_seconds, 3600, "Berlin in March is UTC+1");
    // Nothing readable in the database file, nor in its write-ahead log.
    for name in ["p.db", "p.db-wal"] {
        let raw = std::fs::read(dir.path().join(name)).unwrap_or_default();
        assert!(!raw.windows(6).any(|w| w == b"phq9_1"), "{name}");
        assert!(!raw.windows(8).any(|w| w == b"moderate"), "{name}");
    }
}

#[test]
fn drafts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let ck = clock();
    let id = {
        let c = create(&path, ck.clone(), Some(TreatmentMode::Guided));
        let d = c.start("gad7", None).unwrap();
        c.answer_json(&d.checkin_id, &json!({"gad7_1": 2, "gad7_2": 3}))
            .unwrap();
        c.store().close();
        d.checkin_id
    };
    let c = reopen(&path, ck);
    let d = c.draft(&id).unwrap();
    assert_eq!(d.answers.len(), 2);
    c.answer_json(
        &id,
        &json!({"gad7_3": 1, "gad7_4": 1, "gad7_5": 0, "gad7_6": 0, "gad7_7": 0, "gad7_2": null}),
    )
    .unwrap();
    let r = c.submit(&id).unwrap();
    // gad7_2 cleared: 6 answered summing 4 -> 4 * 7 / 6 = 4.67 -> 5.
    assert_eq!(r.score.total, Some(5.0));
    assert!(r.score.prorated);
}

#[test]
fn submitted_check_ins_are_immutable_and_corrections_are_versions() {
    let dir = tempfile::tempdir().unwrap();
    let ck = clock();
    let c = create(
        &dir.path().join("p.db"),
        ck.clone(),
        Some(TreatmentMode::Guided),
    );
    let d = c.start("phq9", None).unwrap();
    c.answer_json(&d.checkin_id, &phq9([3, 3, 3, 3, 3, 3, 0, 0, 0]))
        .unwrap();
    let first = c.submit(&d.checkin_id).unwrap();
    assert!(matches!(
        c.submit(&d.checkin_id),
        Err(Error::AlreadyExists { .. })
    ));
    match c.answer_json(&d.checkin_id, &json!({"phq9_1": 0})) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "checkin"),
        other => panic!("{other:?}"),
    }
    ck.advance_days(1);
    let fix = c.correct(&first.checkin_id).unwrap();
    assert_eq!(fix.corrects.as_deref(), Some(first.checkin_id.as_str()));
    assert_eq!(fix.revision, 2);
    assert_eq!(fix.answers.len(), 9);
    c.answer_json(&fix.checkin_id, &json!({"phq9_1": 0}))
        .unwrap();
    let second = c.submit(&fix.checkin_id).unwrap();
    assert_eq!(second.score.total, Some(15.0));
    assert_eq!(
        c.get(&first.checkin_id).unwrap().score.total,
        Some(18.0),
        "original untouched"
    );
    let list = c.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0].superseded_by.as_deref(),
        Some(second.checkin_id.as_str())
    );
    assert!(matches!(
        c.correct(&first.checkin_id),
        Err(Error::InvalidInput { .. })
    ));
    let trend = c.trend("phq9").unwrap();
    assert_eq!(trend.points.len(), 1, "superseded versions leave the trend");
    assert_eq!(trend.points[0].total, Some(15.0));
    assert_eq!(pending(&c).len(), 2, "both versions are synced");
}

#[test]
fn guided_risk_answer_alerts_at_once_and_on_submit() {
    for mode in [TreatmentMode::Guided, TreatmentMode::Messaging] {
        let dir = tempfile::tempdir().unwrap();
        let c = create(&dir.path().join("p.db"), clock(), Some(mode));
        let d = c.start("phq9", None).unwrap();
        let v = c.answer_json(&d.checkin_id, &json!({"phq9_9": 1})).unwrap();
        let action = v
            .safety
            .expect("risk answer returns a SafetyAction at once");
        assert_eq!(action.concerns[0].item, "phq9_9");
        assert_eq!(action.concerns[0].concern, "suicidality");
        assert_eq!(
            action.therapist_alert_id.as_deref(),
            Some(d.checkin_id.as_str())
        );
        assert!(
            action.resources.iter().any(|r| r.name == "Samaritans"),
            "en-GB defaults"
        );
        // Queued for the therapist before the patient even submits.
        let q = pending(&c);
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].kind.as_str(), q[0].priority),
            ("safety_alert", Priority::High)
        );
        c.answer_json(&d.checkin_id, &phq9([1, 1, 1, 1, 1, 1, 1, 1, 2]))
            .unwrap();
        let r = c.submit(&d.checkin_id).unwrap();
        let action = r
            .safety
            .expect("submitted risk answer carries a SafetyAction");
        assert_eq!(
            action.therapist_alert_id.as_deref(),
            Some(d.checkin_id.as_str())
        );
        let q = pending(&c);
        assert_eq!(
            q.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["safety_alert", "checkin"]
        );
        let alerts = c.alerts().unwrap();
        assert_eq!(alerts.len(), 1, "one alert per check-in");
        assert_eq!(alerts[0].status, AlertStatus::Queued);
    }
}

#[test]
fn unguided_risk_answer_gives_resources_and_advice_without_alert() {
    let dir = tempfile::tempdir().unwrap();
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Unguided),
    );
    let d = c.start("phq9", None).unwrap();
    c.answer_json(&d.checkin_id, &phq9([0, 0, 0, 0, 0, 0, 0, 0, 3]))
        .unwrap();
    let r = c.submit(&d.checkin_id).unwrap();
    let action = r.safety.unwrap();
    assert!(action.therapist_alert_id.is_none());
    assert!(action.message.contains("nobody is told automatically"));
    assert!(!action.resources.is_empty());
    assert!(c.alerts().unwrap().is_empty());
    assert_eq!(pending(&c).len(), 1, "only the check-in itself");
}

#[test]
fn alert_survives_restart_between_submit_and_sync_and_tracks_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let ck = clock();
    // Offline: no transport exists at all; submission never needs one.
    let id = {
        let c = create(&path, ck.clone(), Some(TreatmentMode::Guided));
        let d = c.start("phq9", None).unwrap();
        c.answer_json(&d.checkin_id, &phq9([2, 2, 2, 2, 2, 2, 2, 2, 2]))
            .unwrap();
        assert!(c.submit(&d.checkin_id).unwrap().safety.is_some());
        c.store().close(); // the app is killed before any sync
        d.checkin_id
    };
    let c = reopen(&path, ck);
    let q = pending(&c);
    assert_eq!(q.len(), 2);
    assert_eq!(
        (q[0].kind.as_str(), q[0].ref_id.as_str(), q[0].priority),
        ("safety_alert", id.as_str(), Priority::High)
    );
    assert_eq!(c.alerts().unwrap()[0].status, AlertStatus::Queued);
    // What sync (issue 5) will do: hand over, then record the therapist's ack.
    c.store()
        .write(|tx| outbox::mark_sent_through(tx, q[1].seq))
        .unwrap();
    assert!(pending(&c).is_empty());
    assert_eq!(c.alerts().unwrap()[0].status, AlertStatus::Sent);
    let a = c.acknowledge_alert(&id).unwrap();
    assert_eq!(a.status, AlertStatus::Acknowledged);
    assert!(a.alert.acknowledged_at_millis.is_some());
    assert!(
        a.alert.raised_before_submit,
        "raised when item 9 was answered"
    );
}

#[test]
fn abandoned_draft_with_risk_answer_still_alerts_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let ck = clock();
    let id = {
        let c = create(&path, ck.clone(), Some(TreatmentMode::Guided));
        let d = c.start("phq9", None).unwrap();
        c.answer_json(&d.checkin_id, &json!({"phq9_9": 2})).unwrap();
        c.store().close();
        d.checkin_id
    };
    let c = reopen(&path, ck);
    let alerts = c.alerts().unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].alert.raised_before_submit);
    assert_eq!(pending(&c)[0].ref_id, id);
    // Reopening the draft shows the safety action again.
    assert!(c.draft(&id).unwrap().safety.is_some());
}

#[test]
fn without_a_profile_the_alert_is_still_queued() {
    let dir = tempfile::tempdir().unwrap();
    let c = create(&dir.path().join("p.db"), clock(), None);
    let d = c.start("phq9", None).unwrap();
    let r = c.answer_json(&d.checkin_id, &json!({"phq9_9": 1})).unwrap();
    let action = r.safety.unwrap();
    assert!(action.therapist_alert_id.is_some());
    assert!(action
        .resources
        .iter()
        .any(|r| r.url.as_deref() == Some("https://findahelpline.com")));
}

#[test]
fn enrolled_program_supplies_crisis_resources() {
    let dir = tempfile::tempdir().unwrap();
    let program = program_with_clinic_lines();
    let expected = gb_resources_with_clinic_line();
    assert_eq!(expected[0].name, "Clinic duty line");
    assert!(expected.iter().all(|r| r.name != "US clinic line"));
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Guided),
    )
    .with_program(program);
    let d = c.start("phq9", None).unwrap();
    let v = c.answer_json(&d.checkin_id, &json!({"phq9_9": 3})).unwrap();
    assert_eq!(v.safety.unwrap().resources, expected);
}

#[test]
fn required_risk_item_must_be_answered_before_submit() {
    let dir = tempfile::tempdir().unwrap();
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Guided),
    );
    let d = c.start("phq9", None).unwrap();
    c.answer_json(&d.checkin_id, &json!({"phq9_1": 1})).unwrap();
    match c.submit(&d.checkin_id) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "phq9_9"),
        other => panic!("{other:?}"),
    }
    assert!(pending(&c).is_empty());
}

#[test]
fn full_alliance_check_in_and_discrepancy_ready_subscales() {
    let dir = tempfile::tempdir().unwrap();
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Guided),
    );
    let d = c.start("alliance", None).unwrap();
    c.answer_json(
        &d.checkin_id,
        &json!({"goals_1": 6, "goals_2": 7, "goals_3": 2, "tasks_1": 5, "tasks_2": 5, "tasks_3": 3,
                "bond_1": 7, "bond_2": 6, "comment": "The sleep diary helped."}),
    )
    .unwrap();
    let r = c.submit(&d.checkin_id).unwrap();
    assert_eq!(r.score.subscales["goals"], Some(6.33));
    assert_eq!(r.score.subscales["tasks"], Some(5.0));
    assert_eq!(r.score.subscales["bond"], Some(6.5));
    assert!(r.safety.is_none());
}

#[test]
fn trends_with_bands_and_reliable_change() {
    let dir = tempfile::tempdir().unwrap();
    let ck = clock();
    let c = create(
        &dir.path().join("p.db"),
        ck.clone(),
        Some(TreatmentMode::Guided),
    );
    for values in [
        [3, 3, 3, 2, 2, 2, 2, 2, 0],
        [2, 2, 2, 1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 0],
    ] {
        let d = c.start("phq9", None).unwrap();
        c.answer_json(&d.checkin_id, &phq9(values)).unwrap();
        c.submit(&d.checkin_id).unwrap();
        ck.advance_days(7);
    }
    let t = c.trend("phq9").unwrap();
    let totals: Vec<_> = t.points.iter().map(|p| p.total.unwrap()).collect();
    assert_eq!(totals, [19.0, 11.0, 8.0]);
    let bands: Vec<_> = t
        .points
        .iter()
        .map(|p| p.severity.clone().unwrap())
        .collect();
    assert_eq!(bands, ["moderately_severe", "moderate", "mild"]);
    assert_eq!(t.baseline, Some(19.0));
    let last = t.latest_change.unwrap();
    assert_eq!(last.difference, -11.0);
    assert_eq!(last.category, ChangeCategory::ReliablyImproved);
    assert_eq!(
        t.points[0].change.as_ref().unwrap().category,
        ChangeCategory::NoReliableChange
    );

    // Jacobson-Truax with SD 1.0, r .85: S_diff = sqrt(2) * sqrt(.15) = 0.548; threshold 1.07.
    for goals in [[4, 4, 4], [6, 6, 2]] {
        let d = c.start("alliance", None).unwrap();
        let a = json!({"goals_1": goals[0], "goals_2": goals[1], "goals_3": goals[2], "tasks_1": 4, "tasks_2": 4,
                       "tasks_3": 4, "bond_1": 4, "bond_2": 4});
        c.answer_json(&d.checkin_id, &a).unwrap();
        c.submit(&d.checkin_id).unwrap();
    }
    let t = c.trend("alliance").unwrap();
    let ch = t.latest_change.unwrap();
    assert_eq!(ch.threshold, 1.07);
    assert_eq!(ch.difference, 0.75);
    assert_eq!(ch.category, ChangeCategory::NoReliableChange);
    assert_eq!(ch.rci, Some(1.37));
}

#[test]
fn clinic_supplied_instrument_loads_scores_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let ck = clock();
    let json = include_str!("data/instruments/clinic_wellbeing.json");
    {
        let mut c = create(&path, ck.clone(), Some(TreatmentMode::Guided));
        c.install_instrument(json).unwrap();
        assert!(matches!(
            c.install_instrument(include_str!("../data/instruments/phq9.json")),
            Err(Error::AlreadyExists { .. })
        ));
        c.store().close();
    }
    let c = reopen(&path, ck);
    let d = c.start("clinic_wellbeing", None).unwrap();
    let v = c
        .answer_json(
            &d.checkin_id,
            &json!({"w1": 4, "w2": 1, "w3": 7, "w4": 3, "w5": "fine"}),
        )
        .unwrap();
    assert_eq!(v.safety.unwrap().concerns[0].concern, "self_harm");
    let r = c.submit(&d.checkin_id).unwrap();
    // w2 reversed: 0 + 4 - 1 = 3; total 4 + 3 + 7 = 14.
    assert_eq!(r.score.total, Some(14.0));
    assert_eq!(r.score.severity.as_deref(), Some("high"));
    assert_eq!(r.score.subscales["core"], Some(3.5));
    assert!(r.safety.is_some());
}

#[test]
fn broken_clinic_definitions_report_every_problem_with_a_path() {
    use collabzium_core::instruments::load_instrument;
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("data/instruments/clinic_wellbeing.json")).unwrap();
    v["items"][1]["linkId"] = json!("w1");
    v["items"][0]["answer_set"] = json!("nope");
    v["scoring"]["risk"][0]["at_least"] = json!(9);
    v["scoring"]["bands"][1]["min"] = json!(5);
    v["scoring"]["subscales"][0]["items"][0] = json!("w5");
    v["scoring"]["reliable_change"] = json!({"sd": 3.0, "source": "x"});
    let issues = load_instrument(&v.to_string()).unwrap_err();
    let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
    for p in [
        "items[1].linkId",
        "items[0].answer_set",
        "scoring.risk[0].at_least",
        "scoring.bands[1].min",
        "scoring.subscales[0].items[0]",
        "scoring.reliable_change",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    assert!(load_instrument("{").is_err());
    // Values that could overflow a sum or a reverse score are refused up front.
    v = serde_json::from_str(include_str!("data/instruments/clinic_wellbeing.json")).unwrap();
    v["items"][2]["max"] = json!(i64::MAX);
    v["answer_sets"]["five"][4]["value"] = json!(i64::MAX - 1);
    let issues = load_instrument(&v.to_string()).unwrap_err();
    let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
    assert!(paths.contains(&"items[2]"), "{paths:?}");
    assert!(paths.contains(&"answer_sets.five[4].value"), "{paths:?}");
    v = serde_json::from_str(include_str!("data/instruments/clinic_wellbeing.json")).unwrap();
    v["items"][3]["required"] = json!(false);
    let issues = load_instrument(&v.to_string()).unwrap_err();
    assert_eq!(issues[0].path, "scoring.risk[0].item");
}

#[test]
fn start_from_agenda_item_completes_it_and_uses_program_resources() {
    use collabzium_core::agenda;
    let dir = tempfile::tempdir().unwrap();
    let ck = clock();
    let c = create(
        &dir.path().join("p.db"),
        ck.clone(),
        Some(TreatmentMode::Guided),
    );
    let program = program_with_clinic_lines();
    let start = chrono::DateTime::from_timestamp_millis(T0)
        .unwrap()
        .date_naive();
    agenda::enrol(c.store(), &program, start, "Europe/Berlin", None).unwrap();
    let c = Checkins::new(c.store().clone()).unwrap();
    // Walk forward hour by hour until a check-in item is open.
    let item = (0..24 * 21)
        .find_map(|h| {
            let now = chrono::DateTime::from_timestamp_millis(T0 + h * 3_600_000).unwrap();
            let st = agenda::load_state(c.store()).unwrap();
            agenda::items(&st, now)
                .into_iter()
                .find(|i| i.instrument.is_some() && i.state.is_actionable())
                .map(|i| (h, i))
        })
        .expect("an open check-in within three weeks");
    ck.0.store(T0 + item.0 * 3_600_000, std::sync::atomic::Ordering::SeqCst);
    let d = c.start_from_agenda(&item.1.id).unwrap();
    assert_eq!(Some(d.instrument.clone()), item.1.instrument);
    let inst = c.registry().get(&d.instrument).unwrap().clone();
    let answers: serde_json::Map<String, serde_json::Value> = inst
        .items
        .iter()
        .filter_map(|i| {
            inst.value_range(i)
                .map(|(_, hi)| (i.link_id.clone(), json!(hi)))
        })
        .collect();
    let v = c
        .answer_json(&d.checkin_id, &serde_json::Value::Object(answers))
        .unwrap();
    let r = c.submit(&d.checkin_id).unwrap();
    assert!(r.agenda_item_completed);
    if inst.scoring.risk.is_empty() {
        assert!(v.safety.is_none());
    } else {
        assert_eq!(r.safety.unwrap().resources, gb_resources_with_clinic_line());
    }
    assert!(matches!(
        c.start_from_agenda("module:m1"),
        Err(Error::InvalidInput { .. })
    ));
}
