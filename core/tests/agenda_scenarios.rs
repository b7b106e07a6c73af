//! Scenario tests at the agenda and reminder level (issue 3 acceptance).
//! The engine-level DST and property tests live in schedule_*.rs.
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use collabzium_core::agenda::{
    self, agenda, engagement, items, plan_reminders, EnrolmentState, ItemState, MemoryScheduler,
    ReminderEvent, ReminderEventKind, ReminderKind,
};
use collabzium_core::domain::TreatmentMode;
use collabzium_core::platform::NotificationScheduler;
use collabzium_core::program::{self, Program};
use collabzium_core::schedule::{parse_zone, Tz};
use serde_json::{json, Value};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn tz(s: &str) -> Tz {
    parse_zone(s).unwrap()
}

fn sample(name: &str) -> Program {
    let path = format!(
        "{}/../cli/data/programs/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    program::load(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The minimal valid program with its check-ins and reminder policy replaced.
fn custom(checkins: Value, reminders: Value) -> Program {
    let path = format!(
        "{}/tests/data/programs/valid/minimal.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["checkins"] = checkins;
    v["reminders"] = reminders;
    // m4 waits on a check-in id that custom programs may not have.
    v["modules"][3]["unlock"] = json!("therapist_approval");
    program::load(&v.to_string()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn daily_20h() -> Program {
    custom(
        json!([{ "id": "mood", "instrument": "phq9",
            "when": { "recurring": { "rrule": "FREQ=DAILY", "local_time": "20:00" } },
            "window": { "opens_minutes": 0, "due_minutes": 120, "closes_minutes": 600 } }]),
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    )
}

fn state(p: Program, start: &str, zone: &str) -> EnrolmentState {
    EnrolmentState::new(p, date(start), TreatmentMode::Guided, tz(zone))
}

fn item<'a>(list: &'a [agenda::Item], id: &str) -> &'a agenda::Item {
    list.iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no item {id}"))
}

#[test]
fn unlock_by_completion_by_date_and_by_therapist_approval() {
    // low-mood: activity-monitoring needs welcome, a PHQ-9 and day 7;
    // problem-solving needs balanced-thinking and the therapist.
    let mut st = state(sample("low-mood-8w"), "2026-03-02", "Europe/Berlin");
    let day0 = utc("2026-03-02T10:00:00Z");
    let a = agenda(&st, day0);
    assert_eq!(a.progress.modules_done, 0);
    assert_eq!(a.progress.modules_total, 8);
    assert_eq!(a.progress.current_week, 1);
    assert!(a.open_now.iter().any(|i| i.id == "module:welcome"));
    let all = items(&st, day0);
    assert_eq!(
        item(&all, "module:activity-monitoring").state,
        ItemState::Locked
    );

    // By completion: finishing welcome opens the early alliance check-in
    // and leaves activity-monitoring waiting for a date it now knows.
    st.push_completion("module:welcome".into(), utc("2026-03-02T11:00:00Z"));
    st.push_completion(
        "checkin:phq9-weekly:2026-03-02T18:00".into(),
        utc("2026-03-02T17:30:00Z"),
    );
    let t = utc("2026-03-03T09:00:00Z");
    let all = items(&st, t);
    assert_eq!(item(&all, "checkin:alliance-early").state, ItemState::Open);
    let am = item(&all, "module:activity-monitoring");
    assert_eq!(am.state, ItemState::Upcoming);
    // By date: day 7 starts at local midnight in Berlin.
    assert_eq!(am.opens_at, Some(utc("2026-03-08T23:00:00Z")));
    let a = agenda(&st, t);
    assert_eq!(
        a.next_unlock.as_ref().map(|n| n.module_id.as_str()),
        Some("activity-monitoring")
    );
    let all = items(&st, utc("2026-03-08T23:00:00Z"));
    assert_eq!(
        item(&all, "module:activity-monitoring").state,
        ItemState::Open
    );
    assert_eq!(
        agenda(&st, utc("2026-03-09T08:00:00Z"))
            .progress
            .current_week,
        2
    );

    // By therapist approval: complete the chain up to balanced-thinking.
    let chain = [
        "activity-monitoring",
        "values",
        "activity-scheduling",
        "thoughts",
        "balanced-thinking",
    ];
    for (k, m) in chain.iter().enumerate() {
        let when = st.day_start(7 * (k as u32 + 1)) + chrono::TimeDelta::hours(10);
        st.push_completion(format!("module:{m}"), when);
    }
    let t = utc("2026-04-07T12:00:00Z");
    let a = agenda(&st, t);
    let waiting: Vec<_> = a
        .waiting_for_therapist
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(waiting, ["module:problem-solving"]);
    assert!(a.waiting_for_therapist[0].waiting_for_therapist);
    st.push_approval("problem-solving".into(), utc("2026-04-07T13:00:00Z"));
    let a = agenda(&st, utc("2026-04-07T14:00:00Z"));
    assert!(a.waiting_for_therapist.is_empty());
    let ps = item(
        &items(&st, utc("2026-04-07T14:00:00Z")),
        "module:problem-solving",
    )
    .clone();
    assert_eq!(ps.state, ItemState::Open);
    assert_eq!(ps.opens_at, Some(utc("2026-04-07T13:00:00Z")));

    // An unguided enrolment ignores approvals (no therapist).
    let mut un = st.clone();
    un.mode = TreatmentMode::Unguided;
    let all = items(&un, utc("2026-04-07T14:00:00Z"));
    assert_eq!(
        item(&all, "module:problem-solving").state,
        ItemState::Locked
    );
}

#[test]
fn check_in_window_states_and_catch_up() {
    let st = state(sample("low-mood-8w"), "2026-03-02", "Europe/Berlin");
    let id = "checkin:phq9-weekly:2026-03-09T18:00";
    let at = |s: &str| item(&items(&st, utc(s)), id).state;
    // Opens 18:00 local (17:00Z), due a day later, missed after three days.
    assert_eq!(at("2026-03-09T16:59:00Z"), ItemState::Upcoming);
    assert_eq!(at("2026-03-09T17:00:00Z"), ItemState::Open);
    assert_eq!(at("2026-03-10T08:00:00Z"), ItemState::Due);
    assert_eq!(at("2026-03-10T17:00:00Z"), ItemState::Overdue);
    assert_eq!(at("2026-03-12T17:00:00Z"), ItemState::Missed);
    // Nine weekly occurrences: day 0 to day 56 inclusive.
    let n = items(&st, utc("2026-03-02T00:00:00Z"))
        .iter()
        .filter(|i| i.ref_id == "phq9-weekly")
        .count();
    assert_eq!(n, 9);
    // Modules never go missed: overdue stays completable.
    let all = items(&st, utc("2026-06-01T12:00:00Z"));
    assert_eq!(item(&all, "module:welcome").state, ItemState::Overdue);
}

#[test]
fn daily_20h_check_in_keeps_its_wall_clock_across_dst_in_three_zones() {
    for (zone, start, from) in [
        ("America/New_York", "2026-03-01", "2026-03-01T00:00:00Z"),
        ("America/New_York", "2026-10-25", "2026-10-25T00:00:00Z"),
        ("Europe/Berlin", "2026-03-22", "2026-03-22T00:00:00Z"),
        ("Europe/Berlin", "2026-10-18", "2026-10-18T00:00:00Z"),
        ("Australia/Sydney", "2026-03-29", "2026-03-29T00:00:00Z"),
        ("Australia/Sydney", "2026-09-27", "2026-09-27T00:00:00Z"),
    ] {
        let st = state(daily_20h(), start, zone);
        let now = utc(from);
        // Items: every occurrence opens at 20:00 local on consecutive days.
        let all = items(&st, now);
        let opens: Vec<_> = all
            .iter()
            .filter(|i| i.ref_id == "mood")
            .take(20)
            .map(|i| st.local_at(i.opens_at.unwrap()))
            .collect();
        for (k, l) in opens.iter().enumerate() {
            assert_eq!((l.hour(), l.minute()), (20, 0), "{zone} {l}");
            if k > 0 {
                assert_eq!((l.date() - opens[k - 1].date()).num_days(), 1, "{zone}");
            }
        }
        // Reminders: one per occurrence, at 20:00 local, never 19:00 or 21:00.
        let plan = plan_reminders(&st, now, 64);
        let checkins: Vec<_> = plan
            .iter()
            .filter(|n| n.kind == ReminderKind::Checkin)
            .collect();
        assert!(checkins.len() >= 20, "{zone}: {}", checkins.len());
        for n in checkins {
            assert_eq!(n.local_time.hour(), 20, "{zone} {}", n.id);
            assert_eq!(n.local_time.minute(), 0);
            assert!(n.id.ends_with("T20:00"), "{}", n.id);
        }
    }
}

#[test]
fn a_0230_check_in_on_transition_days_fires_once_after_the_gap() {
    let p = custom(
        json!([{ "id": "early", "instrument": "phq9",
            "when": { "recurring": { "rrule": "FREQ=DAILY", "local_time": "02:30" } },
            "window": { "opens_minutes": 0, "due_minutes": 60, "closes_minutes": 600 } }]),
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    );
    let st = state(p, "2026-03-06", "America/New_York");
    let plan = plan_reminders(&st, utc("2026-03-06T00:00:00Z"), 64);
    let spring = plan
        .iter()
        .find(|n| n.id == "reminder:checkin:early:2026-03-08T02:30")
        .unwrap();
    // 02:30 does not exist on 8 March: it sounds at 03:30 EDT (07:30Z).
    assert_eq!(spring.fire_at, utc("2026-03-08T07:30:00Z"));
    assert_eq!(spring.local_time.hour(), 3);
    let st = state(st.program.clone(), "2026-10-30", "America/New_York");
    let plan = plan_reminders(&st, utc("2026-10-30T00:00:00Z"), 64);
    let fold: Vec<_> = plan
        .iter()
        .filter(|n| n.id.contains("2026-11-01T02:30"))
        .collect();
    // 01:30 repeats on 1 November, 02:30 does not; one reminder at 07:30Z.
    assert_eq!(fold.len(), 1);
    assert_eq!(fold[0].fire_at, utc("2026-11-01T07:30:00Z"));
}

#[test]
fn berlin_to_new_york_mid_program_keeps_history_and_wall_clock() {
    let mut st = state(daily_20h(), "2026-05-01", "Europe/Berlin");
    // Day 10 done in Berlin at 20:15 local.
    st.push_completion(
        "checkin:mood:2026-05-11T20:00".into(),
        utc("2026-05-11T18:15:00Z"),
    );
    let before = items(&st, utc("2026-05-12T08:00:00Z"));
    // Fly on 12 May, landing 11:00 local in New York (15:00Z), before
    // that evening's 20:00 in Berlin (18:00Z) came round.
    let landed = utc("2026-05-12T15:00:00Z");
    st.push_zone(landed, tz("America/New_York"));
    let after = items(&st, utc("2026-05-13T12:00:00Z"));
    // History untouched: the same ids at the same instants before the flight.
    for b in before
        .iter()
        .filter(|i| i.opens_at.is_some_and(|t| t < landed))
    {
        let a = item(&after, &b.id);
        assert_eq!(a.opens_at, b.opens_at, "{}", b.id);
    }
    assert_eq!(
        item(&after, "checkin:mood:2026-05-11T20:00").state,
        ItemState::Completed
    );
    // The evening of landing is 20:00 in New York, 00:00Z the next day.
    let today = item(&after, "checkin:mood:2026-05-12T20:00");
    assert_eq!(today.opens_at, Some(utc("2026-05-13T00:00:00Z")));
    // Reminders from now on sound at 20:00 New York time.
    let plan = plan_reminders(&st, utc("2026-05-13T12:00:00Z"), 10);
    let first = plan
        .iter()
        .find(|n| n.kind == ReminderKind::Checkin)
        .unwrap();
    assert_eq!(first.id, "reminder:checkin:mood:2026-05-13T20:00");
    assert_eq!(first.fire_at, utc("2026-05-14T00:00:00Z"));
    assert_eq!(first.local_time.to_string(), "2026-05-13 20:00:00");
    let a = agenda(&st, utc("2026-05-13T12:00:00Z"));
    assert_eq!(a.time_zone, "America/New_York");
    assert_eq!(a.local_date, date("2026-05-13"));
}

#[test]
fn quiet_hours_over_midnight_hold_back_reminders_until_morning() {
    // Opens 23:00 (20:00 plus 3 h), inside 21:30 to 07:45.
    let p = custom(
        json!([{ "id": "late", "instrument": "phq9",
            "when": { "recurring": { "rrule": "FREQ=DAILY", "local_time": "20:00" } },
            "window": { "opens_minutes": 180, "due_minutes": 900, "closes_minutes": 1380 } }]),
        json!({ "time_of_day": "18:00", "quiet_hours": { "start": "21:30", "end": "07:45" },
                "max_per_day": 4 }),
    );
    let st = state(p, "2026-03-02", "Europe/Berlin");
    let plan = plan_reminders(&st, utc("2026-03-02T00:00:00Z"), 64);
    assert_eq!(plan.len(), 64);
    let quiet = st.program.reminders.quiet_hours.unwrap();
    for n in &plan {
        let t = collabzium_core::program::TimeOfDay::new(
            n.local_time.hour() as u8,
            n.local_time.minute() as u8,
        )
        .unwrap();
        assert!(!quiet.contains(t), "{} at {}", n.id, n.local_time);
    }
    let r = plan
        .iter()
        .find(|n| n.id == "reminder:checkin:late:2026-03-02T20:00")
        .unwrap();
    assert_eq!(r.local_time.to_string(), "2026-03-03 07:45:00");
}

#[test]
fn the_plan_respects_the_platform_limit_the_daily_cap_and_stable_ids() {
    let mut st = state(sample("low-mood-8w"), "2026-03-02", "America/New_York");
    st.program.reminders.backoff = None;
    let now = utc("2026-03-02T12:00:00Z");
    let sched = MemoryScheduler::new(64);
    let plan = plan_reminders(&st, now, sched.max_pending());
    assert_eq!(plan.len(), 64);
    sched.replace_pending(&plan).unwrap();
    assert_eq!(sched.pending().len(), 64);
    let mut ids: Vec<_> = plan.iter().map(|n| n.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64, "ids are unique");
    assert!(plan.windows(2).all(|w| w[0].fire_at <= w[1].fire_at));
    assert!(plan.iter().all(|n| n.fire_at > now));
    let mut per_day = std::collections::HashMap::new();
    for n in &plan {
        *per_day.entry(n.local_time.date()).or_insert(0) += 1;
    }
    assert!(per_day
        .values()
        .all(|&c| c <= st.program.reminders.max_per_day));
    // Re-planning an hour later names the same slots the same way.
    let again = plan_reminders(&st, utc("2026-03-02T13:00:00Z"), 64);
    assert_eq!(again[..10], plan[..10]);
    // Asking for more than a platform keeps is bounded but honoured up to it.
    assert_eq!(plan_reminders(&st, now, 3).len(), 3);
    assert!(plan_reminders(&st, now, 0).is_empty());
}

#[test]
fn completed_items_are_never_reminded_and_backoff_thins_then_stops() {
    let mut st = state(daily_20h(), "2026-03-02", "Europe/Berlin");
    let now = utc("2026-03-02T12:00:00Z");
    let plan = plan_reminders(&st, now, 64);
    let target = "checkin:mood:2026-03-03T20:00";
    assert!(plan.iter().any(|n| n.item_ids.iter().any(|i| i == target)));
    // Completing it while open removes it from every later plan.
    st.push_completion(target.into(), utc("2026-03-03T19:10:00Z"));
    let later = plan_reminders(&st, utc("2026-03-03T19:20:00Z"), 64);
    assert!(later
        .iter()
        .all(|n| !n.item_ids.iter().any(|i| i == target)));

    // Backoff: halve after 3 ignored, stop after 6 (from the minimal program).
    let mut st = state(sample("low-mood-8w"), "2026-03-02", "Europe/Berlin");
    st.program.reminders.backoff = Some(collabzium_core::program::Backoff {
        halve_after_ignored: Some(3),
        stop_after_ignored: Some(6),
    });
    let plan = plan_reminders(&st, now, 64);
    assert_eq!(plan.len(), 6, "the plan assumes it is ignored and stops");
    let days: Vec<_> = plan.iter().map(|n| n.local_time.date()).collect();
    // Once 3 are assumed ignored, reminders come only every other day.
    for w in days[3..].windows(2) {
        assert!(w[0] == w[1] || (w[1] - w[0]).num_days() >= 2, "{days:?}");
    }
    for (k, n) in plan.iter().enumerate().take(6) {
        st.push_reminder_event(ReminderEvent {
            reminder_id: n.id.clone(),
            kind: ReminderEventKind::Delivered,
            at: n.fire_at,
        });
        let _ = k;
    }
    let after = plan.last().unwrap().fire_at + chrono::TimeDelta::minutes(1);
    assert!(
        plan_reminders(&st, after, 64).is_empty(),
        "stopped until the patient is back"
    );
    assert_eq!(engagement(&st, after).ignored_reminders, 6);
    // Opening one resets the count and reminders resume.
    st.push_reminder_event(ReminderEvent {
        reminder_id: plan[5].id.clone(),
        kind: ReminderEventKind::Opened,
        at: after,
    });
    assert!(!plan_reminders(&st, after, 64).is_empty());
}

#[test]
fn engagement_signals() {
    let mut st = state(daily_20h(), "2026-03-02", "Europe/Berlin");
    // Days 0 and 1 done, days 2 to 4 missed (day 5 opens tonight).
    st.push_completion(
        "checkin:mood:2026-03-02T20:00".into(),
        utc("2026-03-02T19:30:00Z"),
    );
    st.push_completion(
        "checkin:mood:2026-03-03T20:00".into(),
        utc("2026-03-03T19:30:00Z"),
    );
    let now = utc("2026-03-07T12:00:00Z");
    let e = engagement(&st, now);
    assert_eq!(e.days_since_last_activity, 4);
    assert_eq!(e.current_missed_run, 3);
    assert_eq!(e.longest_missed_run, 3);
    assert_eq!(e.completed_items, 2);
    assert_eq!(e.missed_items, 3);
    // m1 has been open for 5 days: not yet stalled.
    assert!(e.stalled_modules.is_empty());
    let e = engagement(&st, utc("2026-03-10T12:00:00Z"));
    assert_eq!(e.stalled_modules.len(), 1);
    assert_eq!(e.stalled_modules[0].module_id, "m1");
    let rate = e.completion_rate.unwrap();
    assert!(rate > 0.0 && rate < 0.5, "{rate}");
}

mod store {
    use super::*;
    use collabzium_core::agenda::{
        change_zone, complete, enrol, load_state, record_approval, record_reminder_event, replan,
    };
    use collabzium_core::crypto::MemoryKeyProvider;
    use collabzium_core::platform::Clock;
    use collabzium_core::store::Store;
    use collabzium_core::Error;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    struct FixedClock(AtomicI64);
    impl Clock for FixedClock {
        fn now_millis(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn enrol_complete_approve_travel_and_replan_persist() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock(AtomicI64::new(
            utc("2026-03-02T08:00:00Z").timestamp_millis(),
        )));
        let store = Store::create_with_clock(
            &dir.path().join("p.db"),
            &MemoryKeyProvider::new([7; 32]),
            clock.clone(),
        )
        .unwrap();
        let p = sample("low-mood-8w");
        let s = enrol(&store, &p, date("2026-03-02"), "Europe/Berlin", None).unwrap();
        assert_eq!(s.mode, TreatmentMode::Guided);
        assert!(matches!(
            enrol(&store, &p, date("2026-03-02"), "Europe/Berlin", None),
            Err(Error::AlreadyExists { .. })
        ));
        let t = utc("2026-03-02T09:00:00Z");
        let done = complete(&store, "module:welcome", t).unwrap();
        assert_eq!(done.state, ItemState::Completed);
        // Idempotent, and typed errors for the rest.
        assert_eq!(
            complete(&store, "module:welcome", t).unwrap().completed_at,
            Some(t)
        );
        assert!(matches!(
            complete(&store, "module:nope", t),
            Err(Error::NotFound { .. })
        ));
        match complete(&store, "module:values", t) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "item_id"),
            other => panic!("{other:?}"),
        }
        match complete(
            &store,
            "checkin:phq9-weekly:2026-03-02T18:00",
            utc("2026-03-09T00:00:00Z"),
        ) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "item_id");
                assert!(reason.contains("closed"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        match record_approval(&store, "values", t) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "module_id"),
            other => panic!("{other:?}"),
        }
        record_approval(&store, "problem-solving", t).unwrap();
        record_approval(&store, "problem-solving", t).unwrap();
        match change_zone(&store, "Mars/Base", t) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "time_zone"),
            other => panic!("{other:?}"),
        }
        change_zone(&store, "America/New_York", utc("2026-03-05T12:00:00Z")).unwrap();

        let st = load_state(&store).unwrap();
        assert_eq!(st.completions.len(), 1);
        assert_eq!(st.approvals.len(), 1);
        assert_eq!(st.zones.len(), 2);
        assert_eq!(
            st.zone_at(utc("2026-03-06T00:00:00Z")).name(),
            "America/New_York"
        );

        // Reminder events: delivered twice without a response, then opened.
        for (id, at) in [
            ("nudge:2026-03-06", "2026-03-06T11:00:00Z"),
            ("nudge:2026-03-07", "2026-03-07T11:00:00Z"),
        ] {
            record_reminder_event(&store, id, ReminderEventKind::Delivered, utc(at)).unwrap();
        }
        let e = engagement(&load_state(&store).unwrap(), utc("2026-03-07T12:00:00Z"));
        assert_eq!(e.ignored_reminders, 2);
        record_reminder_event(
            &store,
            "nudge:2026-03-07",
            ReminderEventKind::Opened,
            utc("2026-03-07T11:30:00Z"),
        )
        .unwrap();
        let e = engagement(&load_state(&store).unwrap(), utc("2026-03-07T12:00:00Z"));
        assert_eq!(e.ignored_reminders, 0);
        assert_eq!(e.days_since_last_activity, 0);
        assert_eq!(
            store
                .list::<collabzium_core::agenda::ReminderEventRecord>()
                .unwrap()
                .len(),
            3
        );

        let sched = MemoryScheduler::new(64);
        let out = replan(&store, &sched, utc("2026-03-06T00:00:00Z")).unwrap();
        assert_eq!(out.scheduled as usize, sched.pending().len());
        assert!(out.error.is_none());
        assert!(sched
            .pending()
            .iter()
            .all(|n| n.fire_at > utc("2026-03-06T00:00:00Z")));
    }
}
