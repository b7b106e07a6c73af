//! No panic on out-of-range instants or start dates: `at_millis` and
//! `start_date` reach the core from the FFI and the CLI unchecked. The
//! service refuses them, naming the field; within the accepted years the
//! pure layer copes with every zone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use collabzium_core::agenda::{
    self, agenda, check_instant, engagement, items, plan_reminders, EnrolmentState,
};
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::TreatmentMode;
use collabzium_core::program::{self, Program};
use collabzium_core::schedule::parse_zone;
use collabzium_core::store::Store;
use collabzium_core::Error;

fn sample(name: &str) -> Program {
    let path = format!(
        "{}/../cli/data/programs/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    program::load(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc()
}

fn field_of(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn the_service_refuses_instants_and_dates_outside_the_supported_years() {
    let far = [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        utc("1899-12-31T23:59:59"),
        NaiveDate::from_ymd_opt(10000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc(),
    ];
    for t in far {
        assert_eq!(field_of(check_instant("at_millis", t)), "at_millis");
    }
    assert!(check_instant("at", utc("1900-01-01T00:00:00")).is_ok());
    assert!(check_instant("at", utc("9999-12-31T23:59:59")).is_ok());

    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("p.db"), &MemoryKeyProvider::new([7; 32])).unwrap();
    let p = sample("low-mood-8w");
    for start in [NaiveDate::MIN, NaiveDate::MAX] {
        let r = agenda::enrol(&store, &p, start, "America/New_York", None);
        assert_eq!(field_of(r), "start_date");
    }
    let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    agenda::enrol(&store, &p, start, "America/New_York", None).unwrap();
    for t in far {
        assert_eq!(
            field_of(agenda::complete(&store, "module:welcome", t)),
            "at"
        );
        assert_eq!(
            field_of(agenda::record_approval(&store, "problem-solving", t)),
            "at"
        );
        assert_eq!(field_of(agenda::change_zone(&store, "Asia/Tokyo", t)), "at");
        let kind = agenda::ReminderEventKind::Opened;
        assert_eq!(
            field_of(agenda::record_reminder_event(&store, "nudge:x", kind, t)),
            "at"
        );
        let sched = agenda::MemoryScheduler::new(64);
        assert_eq!(field_of(agenda::replan(&store, &sched, t)), "at");
    }
}

#[test]
fn the_pure_layer_copes_at_the_edges_of_the_supported_years() {
    let instants = [
        utc("1900-01-01T00:00:00"),
        utc("9999-12-31T23:59:59"),
        utc("1970-01-01T00:00:00"),
    ];
    let dates = [
        NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
    ];
    for zone in [
        "America/New_York",
        "Pacific/Kiritimati",
        "Etc/GMT+12",
        "UTC",
    ] {
        let tz = parse_zone(zone).unwrap();
        for start in dates {
            let mut st = EnrolmentState::new(sample("worry-6w"), start, TreatmentMode::Guided, tz);
            for at in instants {
                let _ = (items(&st, at), agenda(&st, at));
                let _ = (plan_reminders(&st, at, 64), engagement(&st, at));
            }
            st.push_zone(instants[1], parse_zone("Asia/Tokyo").unwrap());
            st.push_completion("module:understanding-worry".into(), instants[0]);
            st.push_approval("uncertainty".into(), instants[1] - TimeDelta::days(1));
            for at in instants {
                let _ = (items(&st, at), agenda(&st, at));
                let _ = (plan_reminders(&st, at, 64), engagement(&st, at));
            }
        }
    }
}
