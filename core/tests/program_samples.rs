//! The shipped sample programs validate clean and survive a JSON round trip.

use std::path::PathBuf;

use collabzium_core::domain::TreatmentMode;
use collabzium_core::program::{self, CheckinWhen, Program, UnlockRule};

fn sample(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/data/programs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> Program {
    match program::load(&sample(name)) {
        Ok(p) => p,
        Err(issues) => {
            let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
            panic!("{name} has problems:\n{}", lines.join("\n"));
        }
    }
}

#[test]
fn low_mood_validates() {
    let p = load("low-mood-8w.json");
    assert_eq!(p.metadata.weeks, 8);
    assert_eq!(p.modules.len(), 8);
    // National lines come from the built-in sets, by country.
    let us = collabzium_core::crisis::resources_for(Some("US"), "en", Some(&p.crisis_resources));
    assert_eq!(us[0].phone.as_deref(), Some("988"));
    assert!(p.crisis_resources_for_country("GB").is_empty());
}

#[test]
fn worry_validates() {
    let p = load("worry-6w.json");
    assert_eq!(p.metadata.weeks, 6);
    assert_eq!(p.modules.len(), 6);
    let gb = collabzium_core::crisis::resources_for(Some("GB"), "en", Some(&p.crisis_resources));
    assert_eq!(gb[0].phone.as_deref(), Some("116 123"));
}

/// Issue 3 asks for several pages and one exercise per module, a weekly
/// symptom check-in, an alliance check-in after module 1 and then every
/// 2 to 3 weeks, a therapist gate and date-based unlocks.
#[test]
fn samples_have_the_required_shape() {
    for (name, symptom) in [("low-mood-8w.json", "phq9"), ("worry-6w.json", "gad7")] {
        let p = load(name);
        for m in &p.modules {
            assert!(m.pages.len() >= 3, "{name} {}: pages", m.id);
            assert_eq!(m.exercises.len(), 1, "{name} {}: exercises", m.id);
        }
        let weekly = p
            .checkins
            .iter()
            .find(|c| c.instrument == symptom)
            .expect("symptom check-in");
        let CheckinWhen::Recurring(r) = &weekly.when else {
            panic!("{name}: symptom check-in is not recurring")
        };
        assert!(r.rrule.starts_with("FREQ=WEEKLY"), "{name}: {}", r.rrule);
        assert!(!r.rrule.contains("INTERVAL"), "{name}: weekly");

        let first = &p.modules[0].id;
        let alliance = |c: &&program::CheckinSchedule| c.instrument.starts_with("alliance");
        assert!(p
            .checkins
            .iter()
            .filter(alliance)
            .any(|c| c.when == CheckinWhen::AfterModule(first.clone())));
        assert!(p.checkins.iter().filter(alliance).any(|c| matches!(
            &c.when,
            CheckinWhen::Recurring(r) if r.rrule.contains("INTERVAL=2") || r.rrule.contains("INTERVAL=3")
        )));

        let rules: Vec<&UnlockRule> = p.modules.iter().map(|m| &m.unlock).collect();
        assert!(
            rules.iter().any(|r| r.mentions_therapist_approval()),
            "{name}"
        );
        assert!(
            rules
                .iter()
                .any(|r| format!("{r:?}").contains("DaysAfterStart")),
            "{name}"
        );
        // Any program entries are keyed by country (issue 10).
        assert!(
            p.crisis_resources
                .keys()
                .all(|k| collabzium_core::crisis::key_country(k).is_some()),
            "{name}"
        );
    }
}

#[test]
fn unguided_sample_measures_alliance_with_the_program() {
    let p = load("worry-6w.json");
    assert!(p.metadata.modes.contains(&TreatmentMode::Unguided));
    let unguided: Vec<&str> = p
        .checkins
        .iter()
        .filter(|c| c.applies_to(TreatmentMode::Unguided))
        .map(|c| c.instrument.as_str())
        .collect();
    assert!(unguided.contains(&"alliance_unguided"));
    assert!(!unguided.contains(&"alliance"));
}

#[test]
fn samples_round_trip() {
    for name in ["low-mood-8w.json", "worry-6w.json"] {
        let p = load(name);
        let json = p.to_json_pretty();
        let again = program::load(&json).expect("re-serialized program validates");
        assert_eq!(p, again, "{name}");
        // The files are kept in canonical form, so authoring tools can
        // rewrite them without noise in diffs.
        assert!(
            sample(name) == format!("{json}\n"),
            "{name} is not in canonical form (Program::to_json_pretty plus a newline)"
        );
    }
}

/// A patient who completes each module as soon as it opens: the low-mood
/// program paces one module a week and holds problem solving for the therapist.
#[test]
fn low_mood_unlocks_week_by_week() {
    use std::collections::HashSet;

    struct Patient {
        day: u32,
        done: HashSet<String>,
        baseline_done: bool,
        approved: bool,
    }
    impl program::UnlockFacts for Patient {
        fn day(&self) -> u32 {
            self.day
        }
        fn module_completed(&self, id: &str) -> bool {
            self.done.contains(id)
        }
        fn checkin_completed(&self, id: &str) -> bool {
            id == "phq9-weekly" && self.baseline_done
        }
        fn therapist_approved(&self, _: &str) -> bool {
            self.approved
        }
    }

    let p = load("low-mood-8w.json");
    let mut patient = Patient {
        day: 0,
        done: HashSet::new(),
        baseline_done: true,
        approved: false,
    };
    let mut opened_on = Vec::new();
    for day in 0..=56 {
        patient.day = day;
        for m in &p.modules {
            if !patient.done.contains(&m.id) && m.unlock.holds(&m.id, &patient) {
                opened_on.push((m.id.clone(), day));
                patient.done.insert(m.id.clone());
            }
        }
        if day == 35 {
            let gated = p.module("problem-solving").unwrap();
            assert!(gated.unlock.waits_for_therapist(&gated.id, &patient));
        }
    }
    let days: Vec<(&str, u32)> = opened_on.iter().map(|(m, d)| (m.as_str(), *d)).collect();
    assert_eq!(
        days,
        [
            ("welcome", 0),
            ("activity-monitoring", 7),
            ("values", 14),
            ("activity-scheduling", 21),
            ("thoughts", 28),
            ("balanced-thinking", 35),
            ("staying-well", 49),
        ]
    );
    // The next unlock for a patient who has not done the baseline PHQ-9 is unknown.
    patient.baseline_done = false;
    let m2 = p.module("activity-monitoring").unwrap();
    patient.done.clear();
    patient.done.insert("welcome".into());
    assert_eq!(m2.unlock.earliest_day(&m2.id, &patient), None);
    patient.baseline_done = true;
    assert_eq!(m2.unlock.earliest_day(&m2.id, &patient), Some(7));
}
