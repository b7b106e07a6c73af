//! Exact scoring: every PHQ-9 and GAD-7 answer pattern against a
//! straightforward scorer written here from the published rules.

use collabzium_core::instruments::{score, AnswerValue, Answers, Registry};

/// Published PHQ-9 bands: 0-4, 5-9, 10-14, 15-19, 20-27.
fn phq9_band(total: i64) -> &'static str {
    match total {
        0..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        15..=19 => "moderately_severe",
        _ => "severe",
    }
}

/// Published GAD-7 bands: 0-4, 5-9, 10-14, 15-21.
fn gad7_band(total: i64) -> &'static str {
    match total {
        0..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        _ => "severe",
    }
}

fn answers(prefix: &str, values: &[i64]) -> Answers {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{prefix}_{}", i + 1), AnswerValue::Integer(*v)))
        .collect()
}

/// Pattern number -> base-4 digits, item 1 first.
fn digits(mut n: u32, len: usize) -> Vec<i64> {
    (0..len)
        .map(|_| {
            let d = (n % 4) as i64;
            n /= 4;
            d
        })
        .collect()
}

#[test]
fn phq9_every_pattern() {
    let reg = Registry::shipped();
    let inst = reg.get("phq9").unwrap();
    let mut checked = 0;
    for n in 0..4u32.pow(9) {
        let v = digits(n, 9);
        let s = score(inst, &answers("phq9", &v));
        let total: i64 = v.iter().sum();
        assert!(s.scorable);
        assert!(!s.prorated);
        assert_eq!(s.total, Some(total as f64), "pattern {v:?}");
        assert_eq!(
            s.severity.as_deref(),
            Some(phq9_band(total)),
            "pattern {v:?}"
        );
        assert_eq!(s.safety_alert(), v[8] >= 1, "pattern {v:?}");
        assert!(s.subscales.is_empty());
        checked += 1;
    }
    assert_eq!(checked, 262_144);
}

#[test]
fn gad7_every_pattern() {
    let reg = Registry::shipped();
    let inst = reg.get("gad7").unwrap();
    for n in 0..4u32.pow(7) {
        let v = digits(n, 7);
        let s = score(inst, &answers("gad7", &v));
        let total: i64 = v.iter().sum();
        assert_eq!(s.total, Some(total as f64), "pattern {v:?}");
        assert_eq!(
            s.severity.as_deref(),
            Some(gad7_band(total)),
            "pattern {v:?}"
        );
        assert!(!s.safety_alert());
    }
}

fn without(mut a: Answers, ids: &[&str]) -> Answers {
    for id in ids {
        a.remove(*id);
    }
    a
}

#[test]
fn phq9_missing_items_prorate_up_to_two() {
    let reg = Registry::shipped();
    let inst = reg.get("phq9").unwrap();
    let full = answers("phq9", &[2, 2, 1, 3, 0, 1, 2, 1, 0]);
    // One missing: 8 answered summing 10 -> 10 * 9 / 8 = 11.25 -> 11.
    let s = score(inst, &without(full.clone(), &["phq9_1"]));
    assert!(s.scorable && s.prorated);
    assert_eq!(s.total, Some(11.0));
    assert_eq!(s.missing, vec!["phq9_1"]);
    assert_eq!(s.severity.as_deref(), Some("moderate"));
    // Two missing: 7 answered summing 8 -> 10.29 -> 10.
    let s = score(inst, &without(full.clone(), &["phq9_1", "phq9_2"]));
    assert_eq!(s.total, Some(10.0));
    assert_eq!(s.severity.as_deref(), Some("moderate"));
    // Halves round up: 8 answered summing 12 -> 13.5 -> 14.
    let a = answers("phq9", &[0, 3, 3, 3, 3, 0, 0, 0, 0]);
    let s = score(inst, &without(a, &["phq9_1"]));
    assert_eq!(s.total, Some(14.0));
    // Three missing: cannot be scored, no band, but risk is still seen.
    let s = score(inst, &without(full, &["phq9_1", "phq9_2", "phq9_3"]));
    assert!(!s.scorable);
    assert_eq!(s.total, None);
    assert_eq!(s.severity, None);
    let risky = without(
        answers("phq9", &[0, 0, 0, 0, 0, 0, 0, 0, 2]),
        &["phq9_1", "phq9_2", "phq9_3"],
    );
    let s = score(inst, &risky);
    assert!(!s.scorable && s.safety_alert());
    // Nothing answered.
    assert!(!score(inst, &Answers::new()).scorable);
}

#[test]
fn gad7_missing_items_prorate_up_to_one() {
    let reg = Registry::shipped();
    let inst = reg.get("gad7").unwrap();
    let a = answers("gad7", &[3, 3, 3, 3, 3, 3, 3]);
    let s = score(inst, &without(a.clone(), &["gad7_7"]));
    assert_eq!(s.total, Some(21.0));
    assert!(s.prorated);
    assert!(!score(inst, &without(a, &["gad7_6", "gad7_7"])).scorable);
}

fn alliance_answers(v: &[(&str, i64)]) -> Answers {
    v.iter()
        .map(|(k, x)| (k.to_string(), AnswerValue::Integer(*x)))
        .collect()
}

#[test]
fn alliance_subscales_reverse_items_and_missing() {
    let reg = Registry::shipped();
    for id in ["alliance", "alliance_unguided", "alliance_therapist"] {
        let inst = reg.get(id).unwrap();
        for sub in ["goals", "tasks", "bond"] {
            let n = inst
                .scoring
                .subscales
                .iter()
                .find(|s| s.id == sub)
                .unwrap()
                .items
                .len();
            assert!(n >= 2, "{id}.{sub}");
        }
        let a = alliance_answers(&[
            ("goals_1", 7),
            ("goals_2", 6),
            ("goals_3", 2), // reversed -> 6
            ("tasks_1", 5),
            ("tasks_2", 4),
            ("tasks_3", 7), // reversed -> 1
            ("bond_1", 3),
            ("bond_2", 4),
        ]);
        let s = score(inst, &a);
        assert_eq!(s.subscales["goals"], Some(6.33), "{id}");
        assert_eq!(s.subscales["tasks"], Some(3.33));
        assert_eq!(s.subscales["bond"], Some(3.5));
        // (7+6+6+5+4+1+3+4)/8 = 4.5
        assert_eq!(s.total, Some(4.5));
        assert_eq!(s.severity, None);
        // One missing per subscale is tolerated; two in a 2-item subscale are not.
        let s = score(inst, &without(a.clone(), &["goals_1"]));
        assert_eq!(s.subscales["goals"], Some(6.0));
        let s = score(inst, &without(a.clone(), &["bond_1", "bond_2"]));
        assert_eq!(s.subscales["bond"], None);
        assert!(s.scorable, "total tolerates 2 missing");
        let s = score(inst, &without(a, &["bond_1", "bond_2", "goals_1"]));
        assert!(!s.scorable);
    }
}

#[test]
fn every_shipped_instrument_loads_and_programs_know_them() {
    let reg = Registry::shipped();
    assert_eq!(
        reg.ids(),
        vec![
            "alliance",
            "alliance_therapist",
            "alliance_unguided",
            "gad7",
            "phq9"
        ]
    );
    let ctx = collabzium_core::program::ValidationContext::from_registry(&reg);
    for id in collabzium_core::program::DEFAULT_INSTRUMENTS {
        assert!(ctx.knows_instrument(id), "{id}");
    }
    let phq = reg.get("phq9").unwrap();
    assert_eq!(phq.code.as_ref().unwrap().code, "44249-1");
    assert_eq!(phq.scoring.total.code.as_ref().unwrap().code, "44261-6");
    let gad = reg.get("gad7").unwrap();
    assert_eq!(gad.code.as_ref().unwrap().code, "69737-5");
    assert_eq!(gad.scoring.total.code.as_ref().unwrap().code, "70274-6");
}

#[test]
fn patient_therapist_alliance_discrepancy() {
    use collabzium_core::instruments::discrepancy;
    let reg = Registry::shipped();
    let p = score(
        reg.get("alliance").unwrap(),
        &alliance_answers(&[
            ("goals_1", 6),
            ("goals_2", 6),
            ("tasks_1", 5),
            ("tasks_2", 5),
            ("bond_1", 7),
            ("bond_2", 7),
        ]),
    );
    let t = score(
        reg.get("alliance_therapist").unwrap(),
        &alliance_answers(&[
            ("goals_1", 4),
            ("goals_2", 5),
            ("tasks_1", 5),
            ("tasks_2", 6),
            ("bond_2", 6),
        ]),
    );
    let d = discrepancy(&p, &t);
    assert_eq!(d["goals"], Some(1.5));
    assert_eq!(d["tasks"], Some(-0.5));
    assert_eq!(d["bond"], Some(1.0));
    assert_eq!(d["total"], None, "therapist left 3 items: total unscorable");
}
