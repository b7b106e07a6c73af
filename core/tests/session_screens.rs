//! The session's screens: the rules the bindings used to hold (argument
//! parsing with its error fields, the agenda after a change with its
//! re-plan, the check-in draft joined with its instrument) run in core.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use collabzium_core::agenda::{ItemState, MemoryScheduler};
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::instruments::ItemType;
use collabzium_core::session::{self, Session};
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

#[test]
fn enrol_names_the_argument_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    let ms = Some(at("2026-03-02T09:00:00Z").timestamp_millis());
    let e = s
        .enrol_json("{}", "2026-03-02", "Europe/Berlin", ms)
        .unwrap_err();
    assert_eq!(invalid_field(e), "program_json");
    let e = s
        .enrol_json(PROGRAM, "2.3.2026", "Europe/Berlin", ms)
        .unwrap_err();
    assert_eq!(invalid_field(e), "start_date");
    let e = s
        .enrol_json(PROGRAM, "2026-03-02", "Europe/Berlin", Some(i64::MAX))
        .unwrap_err();
    assert_eq!(invalid_field(e), "at_millis");
    // Nothing was enrolled by the refusals.
    assert!(matches!(
        s.agenda(at("2026-03-02T09:00:00Z")),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn every_change_returns_the_new_screen_and_replans_through_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    let now = at("2026-03-02T09:00:00Z");
    // Without a scheduler nothing is handed over.
    let u = s
        .enrol_json(
            PROGRAM,
            "2026-03-02",
            "Europe/Berlin",
            Some(now.timestamp_millis()),
        )
        .unwrap();
    assert_eq!(u.reminders.scheduled, 0);
    assert!(!u.agenda.program_id.is_empty());

    let scheduler = Arc::new(MemoryScheduler::new(64));
    s.set_scheduler(scheduler.clone());
    let first = u
        .agenda
        .open_now
        .iter()
        .chain(&u.agenda.due_today)
        .find(|i| i.state != ItemState::Completed)
        .expect("something to do on day 0")
        .id
        .clone();
    let u = s.complete_item(&first, now).unwrap();
    assert!(u.reminders.scheduled > 0);
    assert_eq!(scheduler.pending().len() as u32, u.reminders.scheduled);
    assert!(u
        .agenda
        .open_now
        .iter()
        .chain(&u.agenda.due_today)
        .all(|i| i.id != first));
}

#[test]
fn a_draft_screen_carries_its_instrument() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    let screen = s.start_checkin("phq9", None).unwrap();
    assert_eq!(screen.draft.instrument, "phq9");
    assert!(!screen.title.is_empty());
    assert_eq!(screen.items.len(), 9);
    let first = &screen.items[0];
    assert_eq!(first.item_type, ItemType::Choice);
    // Options come from the instrument's shared answer set.
    assert_eq!(first.options.len(), 4);
    let again = s.checkin_draft(&screen.draft.checkin_id).unwrap();
    assert_eq!(again, screen);
}

#[test]
fn therapist_screens_refuse_what_they_cannot_find_or_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(&dir);
    assert!(matches!(
        s.patient_timeline("nope"),
        Err(Error::NotFound { what }) if what == "patient channel"
    ));
    let e = session::rate_alliance_json(s.store(), "nope", "not json").unwrap_err();
    assert_eq!(invalid_field(e), "answers_json");
    let e = session::assign_program(s.store(), "nope", PROGRAM, "soon").unwrap_err();
    assert_eq!(invalid_field(e), "start_date");
    // No therapist identity yet: the default hours.
    assert_eq!(
        collabzium_core::sync::default_availability(s.store()).unwrap(),
        collabzium_core::sync::availability::Availability::default()
    );
    assert!(s.caseload().unwrap().is_empty());
}
