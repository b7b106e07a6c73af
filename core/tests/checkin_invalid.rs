//! Invalid answers: each case is a typed `InvalidInput` that names the item,
//! the message never echoes the value, and nothing is stored.

mod checkin_support;

use checkin_support::*;
use collabzium_core::domain::TreatmentMode;
use collabzium_core::store::outbox;
use collabzium_core::Error;
use proptest::prelude::*;
use serde_json::json;

fn cases() -> Vec<(&'static str, serde_json::Value, &'static str)> {
    vec![
        // Out of range.
        ("phq9", json!({"phq9_1": 4}), "phq9_1"),
        ("phq9", json!({"phq9_2": -1}), "phq9_2"),
        ("phq9", json!({"phq9_9": 99}), "phq9_9"),
        (
            "phq9",
            json!({"phq9_5": 9_007_199_254_740_993_i64}),
            "phq9_5",
        ),
        ("gad7", json!({"gad7_7": 4}), "gad7_7"),
        ("gad7", json!({"gad7_1": -3}), "gad7_1"),
        ("alliance", json!({"goals_1": 0}), "goals_1"),
        ("alliance", json!({"tasks_3": 8}), "tasks_3"),
        ("alliance_unguided", json!({"bond_1": 0}), "bond_1"),
        ("alliance_therapist", json!({"bond_2": 100}), "bond_2"),
        // Wrong type.
        ("phq9", json!({"phq9_3": "2"}), "phq9_3"),
        ("phq9", json!({"phq9_4": 1.5}), "phq9_4"),
        ("phq9", json!({"phq9_6": true}), "phq9_6"),
        ("phq9", json!({"phq9_7": [1]}), "phq9_7"),
        ("phq9", json!({"phq9_8": {"value": 1}}), "phq9_8"),
        ("gad7", json!({"gad7_2": "Several days"}), "gad7_2"),
        ("gad7", json!({"gad7_3": false}), "gad7_3"),
        ("alliance", json!({"goals_2": 5.5}), "goals_2"),
        ("alliance", json!({"comment": 5}), "comment"),
        ("alliance", json!({"comment": ["a"]}), "comment"),
        ("alliance_unguided", json!({"tasks_1": "agree"}), "tasks_1"),
        ("alliance_therapist", json!({"comment": true}), "comment"),
        // Unknown item.
        ("phq9", json!({"phq9_10": 1}), "phq9_10"),
        ("phq9", json!({"gad7_1": 1}), "gad7_1"),
        ("gad7", json!({"phq9_9": 1}), "phq9_9"),
        ("alliance", json!({"goals_4": 5}), "goals_4"),
        ("alliance", json!({"bond_3": null}), "bond_3"),
        ("alliance_unguided", json!({"GOALS_1": 5}), "GOALS_1"),
        // Free text as an item id is never echoed back.
        ("phq9", json!({"I feel awful today": 1}), "answers"),
        ("gad7", json!({"": 1}), "answers"),
        // Text too long or with control characters.
        ("alliance", json!({"comment": "x".repeat(1001)}), "comment"),
        ("alliance", json!({"comment": "bell\u{7}"}), "comment"),
        // One bad answer among good ones refuses the whole call.
        (
            "phq9",
            json!({"phq9_1": 1, "phq9_2": 2, "phq9_3": 7}),
            "phq9_3",
        ),
        ("alliance", json!({"goals_1": 5, "tasks_1": "x"}), "tasks_1"),
    ]
}

#[test]
fn invalid_answer_corpus() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let dir = tempfile::tempdir().unwrap();
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Guided),
    );
    let before = c.store().info().unwrap();
    for (i, (instrument, answers, field)) in cases.into_iter().enumerate() {
        let d = c.start(instrument, None).unwrap();
        let counts = c.store().info().unwrap().record_counts;
        match c.answer_json(&d.checkin_id, &answers) {
            Err(Error::InvalidInput { field: f, reason }) => {
                assert_eq!(f, field, "case {i}");
                assert!(
                    !reason.contains("awful")
                        && !reason.contains("xxxx")
                        && !reason.contains("bell"),
                    "case {i}: {reason}"
                );
            }
            other => panic!("case {i}: expected InvalidInput, got {other:?}"),
        }
        // Nothing stored: the draft is still empty, no records or outbox rows appeared.
        assert!(
            c.draft(&d.checkin_id).unwrap().answers.is_empty(),
            "case {i}"
        );
        assert_eq!(c.store().info().unwrap().record_counts, counts, "case {i}");
        assert!(c.discard(&d.checkin_id).unwrap());
    }
    assert_eq!(
        c.store().info().unwrap().record_counts,
        before.record_counts
    );
    assert!(c.store().read(outbox::all).unwrap().is_empty());
}

#[test]
fn typed_api_rejects_the_same_way() {
    use collabzium_core::instruments::AnswerValue;
    let dir = tempfile::tempdir().unwrap();
    let c = create(
        &dir.path().join("p.db"),
        clock(),
        Some(TreatmentMode::Guided),
    );
    let d = c.start("phq9", None).unwrap();
    for (item, v, field) in [
        ("phq9_1", AnswerValue::Text("2".into()), "phq9_1"),
        ("phq9_1", AnswerValue::Integer(5), "phq9_1"),
        ("nope", AnswerValue::Integer(1), "nope"),
    ] {
        match c.answer(&d.checkin_id, &[(item.to_string(), Some(v))]) {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(c.answer("0000", &[]), Err(Error::NotFound { .. })));
    assert!(matches!(
        c.start("wai_sr", None),
        Err(Error::NotFound { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// No code path submits a risk answer without a SafetyAction, in any mode.
    #[test]
    fn every_risk_submission_has_a_safety_action(
        values in proptest::array::uniform9(0i64..4),
        skip in proptest::collection::vec(0usize..8, 0..3),
        mode in prop_oneof![Just(TreatmentMode::Unguided), Just(TreatmentMode::Guided), Just(TreatmentMode::Messaging)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let c = create(&dir.path().join("p.db"), clock(), Some(mode));
        let d = c.start("phq9", None).unwrap();
        let mut a = phq9(values);
        for s in skip {
            a.as_object_mut().unwrap().remove(&format!("phq9_{}", s + 1));
        }
        c.answer_json(&d.checkin_id, &a).unwrap();
        let r = c.submit(&d.checkin_id).unwrap();
        let risky = values[8] >= 1;
        prop_assert_eq!(r.safety.is_some(), risky);
        prop_assert_eq!(r.score.safety_alert(), risky);
        let alerts = c.alerts().unwrap();
        prop_assert_eq!(alerts.len(), usize::from(risky && mode != TreatmentMode::Unguided));
        if let Some(a) = r.safety {
            prop_assert!(!a.resources.is_empty());
            prop_assert_eq!(a.therapist_alert_id.is_some(), mode != TreatmentMode::Unguided);
        }
    }
}
