//! The progress screen and the module reader as single session calls:
//! series with bands and alliance subscales; a module's pages and
//! exercises, answers validated against the program, finishing a module.
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use collabzium_core::agenda::ItemState;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::instruments::{AnswerValue, ChangeCategory};
use collabzium_core::session::{ExerciseValue, Session};
use collabzium_core::store::Store;
use collabzium_core::Error;

const PROGRAM: &str = include_str!("../../cli/data/programs/low-mood-8w.json");

fn session(dir: &tempfile::TempDir) -> Session {
    let store = Store::create(&dir.path().join("p.db"), &MemoryKeyProvider::new([7; 32])).unwrap();
    Session::new(store)
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn invalid_field(e: Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn submit(s: &Session, instrument: &str, answers: &[(&str, i64)]) {
    let d = s.start_checkin(instrument, None).unwrap();
    let a: Vec<(String, Option<AnswerValue>)> = answers
        .iter()
        .map(|(k, v)| (k.to_string(), Some(AnswerValue::Integer(*v))))
        .collect();
    s.answer_checkin(&d.draft.checkin_id, &a).unwrap();
    s.submit_checkin(&d.draft.checkin_id).unwrap();
}

fn phq9(s: &Session, each: i64) {
    let items: Vec<(String, i64)> = (1..=9).map(|i| (format!("phq9_{i}"), each)).collect();
    let refs: Vec<(&str, i64)> = items.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    submit(s, "phq9", &refs);
}

#[test]
fn progress_is_one_call_with_bands_and_alliance_subscales() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    assert!(s.progress_screen().unwrap().symptoms.is_empty());

    phq9(&s, 2); // 18: moderately severe
    phq9(&s, 0); // 0: minimal
    submit(
        &s,
        "alliance",
        &[
            ("goals_1", 4),
            ("goals_2", 4),
            ("goals_3", 4),
            ("tasks_1", 3),
            ("tasks_2", 3),
            ("tasks_3", 5), // reverse-scored: counts as 3
            ("bond_1", 5),
            ("bond_2", 5),
        ],
    );

    let p = s.progress_screen().unwrap();
    assert_eq!(p.symptoms.len(), 1, "alliance is not a symptom series");
    let phq = &p.symptoms[0];
    assert_eq!(phq.instrument, "phq9");
    assert!(!phq.title.is_empty());
    assert!(!phq.higher_is_better);
    assert_eq!(
        phq.points.iter().map(|p| p.total).collect::<Vec<_>>(),
        [18.0, 0.0]
    );
    assert_eq!(phq.points[1].severity.as_deref(), Some("minimal"));
    assert!(phq.bands.len() >= 4, "bands to shade: {:?}", phq.bands);
    assert_eq!((phq.min, phq.max), (0.0, 27.0));
    assert_eq!(phq.latest_change, Some(ChangeCategory::ReliablyImproved));
    assert!(phq.points[0].at_millis <= phq.points[1].at_millis);

    let a = p.alliance.single();
    assert_eq!(
        (a.goals, a.tasks, a.bond),
        (Some(4.0), Some(3.0), Some(5.0))
    );
    assert_eq!(a.instrument, "alliance");
}

trait Single<T> {
    fn single(&self) -> &T;
}
impl<T> Single<T> for Vec<T> {
    fn single(&self) -> &T {
        assert_eq!(self.len(), 1);
        &self[0]
    }
}

fn goals(confidence: i64) -> BTreeMap<String, ExerciseValue> {
    BTreeMap::from([
        (
            "goal-1".into(),
            ExerciseValue::Text("Walk twice a week".into()),
        ),
        (
            "goal-2".into(),
            ExerciseValue::Text("Call my sister".into()),
        ),
        (
            "difference".into(),
            ExerciseValue::Text("More energy".into()),
        ),
        ("confidence".into(), ExerciseValue::Number(confidence)),
    ])
}

#[test]
fn the_reader_shows_the_open_module_and_saves_validated_exercises() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    let now = at("2026-03-02T09:00:00Z");
    // No program yet: nothing to read.
    assert!(matches!(
        s.module_reader(None, now),
        Err(Error::NotFound { .. })
    ));
    s.enrol_json(
        PROGRAM,
        "2026-03-02",
        "Europe/Berlin",
        Some(now.timestamp_millis()),
    )
    .unwrap();

    let r = s.module_reader(None, now).unwrap();
    assert_eq!(r.module_id, "welcome");
    assert_eq!((r.position, r.modules_total), (1, 8));
    assert!(r.pages.len() >= 3);
    assert_eq!(r.exercises.len(), 1);
    assert_eq!(r.exercises_done, 0);
    assert!(r.state.is_actionable());

    // A later module is not open yet, and says so.
    assert_eq!(
        invalid_field(
            s.module_reader(Some("activity-monitoring"), now)
                .unwrap_err()
        ),
        "module_id"
    );

    // Each wrong answer names its field; nothing is saved.
    assert_eq!(
        invalid_field(
            s.save_exercise("welcome", "goals", goals(11), now)
                .unwrap_err()
        ),
        "answers.confidence"
    );
    let mut missing = goals(5);
    missing.remove("goal-1");
    assert_eq!(
        invalid_field(
            s.save_exercise("welcome", "goals", missing, now)
                .unwrap_err()
        ),
        "answers.goal-1"
    );
    let mut wrong_kind = goals(5);
    wrong_kind.insert("confidence".into(), ExerciseValue::Text("7".into()));
    assert_eq!(
        invalid_field(
            s.save_exercise("welcome", "goals", wrong_kind, now)
                .unwrap_err()
        ),
        "answers.confidence"
    );
    let mut unknown = goals(5);
    unknown.insert("nope".into(), ExerciseValue::Number(1));
    assert_eq!(
        invalid_field(
            s.save_exercise("welcome", "goals", unknown, now)
                .unwrap_err()
        ),
        "answers"
    );
    assert!(matches!(
        s.save_exercise("welcome", "no-such", goals(5), now),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.module_reader(None, now).unwrap().exercises_done, 0);

    let r = s.save_exercise("welcome", "goals", goals(7), now).unwrap();
    assert_eq!(r.exercises_done, 1);
    assert_eq!(r.exercises[0].answers, goals(7));
    assert_eq!(r.exercises[0].saved_at_millis, Some(now.timestamp_millis()));
    // Saving again replaces the answers.
    let r = s.save_exercise("welcome", "goals", goals(8), now).unwrap();
    assert_eq!(r.exercises[0].answers, goals(8));

    let done = s.finish_module("welcome", now).unwrap();
    assert_eq!(done.state, ItemState::Completed);
    assert_eq!(done.completed_at_millis, Some(now.timestamp_millis()));
    // Today shows it done.
    let agenda = s.agenda(now).unwrap();
    assert!(agenda
        .open_now
        .iter()
        .chain(&agenda.due_today)
        .all(|i| i.id != "module:welcome" || i.state == ItemState::Completed));
    // With nothing else open, the reader shows the module last done.
    assert_eq!(s.module_reader(None, now).unwrap().module_id, "welcome");
}

#[test]
fn the_therapist_rating_form_lists_the_alliance_items_with_options() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    let form = collabzium_core::session::alliance_rating_form(s.store()).unwrap();
    let ids: Vec<&str> = form.iter().map(|i| i.link_id.as_str()).collect();
    for id in ["goals_1", "tasks_1", "bond_1"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    let goals = form.iter().find(|i| i.link_id == "goals_1").unwrap();
    assert!(goals.options.len() >= 5, "{:?}", goals.options);
    // Answers keyed by these ids rate the alliance (unknown channel: NotFound, not a parse error).
    let answers = format!(
        "{{{}}}",
        form.iter()
            .filter(|i| !i.options.is_empty())
            .map(|i| format!("\"{}\": {}", i.link_id, i.options[0].value))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(matches!(
        collabzium_core::session::rate_alliance_json(s.store(), "nochannel", &answers),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn settings_is_one_call_and_the_fhir_export_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    let before = s.settings_screen().unwrap();
    assert_eq!(before.reminders, None, "not enrolled: no reminder policy");
    assert!(!before.has_recovery_key);
    assert!(before.audit_verification.ok);

    let now = at("2026-03-02T09:00:00Z");
    s.enrol_json(
        PROGRAM,
        "2026-03-02",
        "Europe/Berlin",
        Some(now.timestamp_millis()),
    )
    .unwrap();
    phq9(&s, 1);
    let fhir = s.export_fhir().unwrap();
    let v: serde_json::Value = serde_json::from_str(&fhir).unwrap();
    assert_eq!(v["resourceType"], "Bundle");
    assert!(!v["entry"].as_array().unwrap().is_empty());

    let after = s.settings_screen().unwrap();
    let r = after.reminders.expect("the program's reminder policy");
    assert!(
        r.quiet_hours.is_some(),
        "the sample program has quiet hours"
    );
    assert!(r.max_per_day > 0);
    assert!(after.audit.len() > before.audit.len());
    assert!(
        after.audit.iter().any(|e| e.detail.contains("fhir")),
        "the export is audited"
    );
    assert!(after.audit_verification.ok);
}
