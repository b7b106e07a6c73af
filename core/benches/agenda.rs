//! The agenda plus a 64-reminder plan for a 36-week program with two years
//! of recorded history. Target: under 2 ms.
//! `cargo bench -p collabzium-core --bench agenda`; figures in docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails by panicking"
)]

use std::hint::black_box;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use collabzium_core::agenda::{self, EnrolmentState, ItemState, ReminderEvent, ReminderEventKind};
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::TreatmentMode;
use collabzium_core::program::{self, Program};
use collabzium_core::schedule::parse_zone;
use collabzium_core::store::Store;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

/// 36 weeks, 36 modules (one a week, each after the previous), a daily
/// diary, a weekly PHQ-9 and a fortnightly alliance check-in.
fn program_36w() -> Program {
    let page = json!([{ "id": "p1", "title": "Read", "body": "Text.\n" },
                      { "id": "p2", "title": "Practice", "body": "More.\n" }]);
    let modules: Vec<Value> = (0..36)
        .map(|k| {
            let unlock = if k == 0 {
                json!("at_start")
            } else {
                json!({ "all_of": [{ "after_module": format!("m{}", k - 1) },
                                   { "days_after_start": 7 * k }] })
            };
            json!({ "id": format!("m{k}"), "title": format!("Module {k}"),
                    "estimated_minutes": 20, "unlock": unlock, "pages": page })
        })
        .collect();
    let p = json!({
        "format_version": 1,
        "metadata": { "id": "long-36w", "version": "1.0.0", "title": "Long program",
                      "locale": "en-US", "weeks": 36, "modes": ["guided"] },
        "modules": modules,
        "checkins": [
            { "id": "diary", "instrument": "phq9",
              "when": { "recurring": { "rrule": "FREQ=DAILY", "local_time": "20:00" } },
              "window": { "opens_minutes": 0, "due_minutes": 120, "closes_minutes": 600 } },
            { "id": "phq9-weekly", "instrument": "phq9",
              "when": { "recurring": { "rrule": "FREQ=WEEKLY;BYDAY=SU", "local_time": "18:00" } },
              "window": { "opens_minutes": 0, "due_minutes": 1440, "closes_minutes": 4320 } },
            { "id": "alliance", "instrument": "alliance",
              "when": { "recurring": { "rrule": "FREQ=WEEKLY;INTERVAL=2", "local_time": "18:00",
                                       "start_day": 7 } },
              "window": { "opens_minutes": 0, "due_minutes": 2880, "closes_minutes": 7200 } }
        ],
        "reminders": { "time_of_day": "12:00",
                       "quiet_hours": { "start": "22:00", "end": "07:00" }, "max_per_day": 3 },
        "crisis_resources": { "en-US": [{ "name": "988", "description": "Call 988.", "phone": "988" }] }
    });
    program::load(&p.to_string()).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Day 180 of the program (week 26), four trips behind, every past item
/// done, and two years of reminder deliveries and opens (2,920 events).
fn state(now: DateTime<Utc>) -> EnrolmentState {
    let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut st = EnrolmentState::new(
        program_36w(),
        start,
        TreatmentMode::Guided,
        parse_zone("Europe/Berlin").unwrap(),
    );
    for (day, zone) in [
        (30, "America/New_York"),
        (60, "Europe/Berlin"),
        (100, "Asia/Tokyo"),
        (120, "Europe/Berlin"),
    ] {
        st.push_zone(
            st.day_start(day) + TimeDelta::hours(12),
            parse_zone(zone).unwrap(),
        );
    }
    for it in agenda::items(&st, now) {
        if let (
            Some(o),
            ItemState::Open | ItemState::Due | ItemState::Overdue | ItemState::Missed,
        ) = (it.opens_at, it.state)
        {
            if it.closes_at.is_none_or(|c| c < now) {
                st.push_completion(it.id, o + TimeDelta::minutes(30));
            }
        }
    }
    // Modules unlock one after another as their predecessors complete.
    for _ in 0..36 {
        for it in agenda::items(&st, now) {
            if it.kind == agenda::ItemKind::Module
                && it.state.is_actionable()
                && it.opens_at.is_some_and(|o| o < now - TimeDelta::days(1))
            {
                st.push_completion(it.id, it.opens_at.unwrap() + TimeDelta::hours(2));
            }
        }
    }
    let first = now - TimeDelta::days(730);
    for d in 0..730 {
        for (h, id) in [(10, "nudge"), (19, "reminder")] {
            let at = first + TimeDelta::days(d) + TimeDelta::hours(h);
            let reminder_id = format!("{id}:{}", (start + Days::new(d as u64)).format("%Y-%m-%d"));
            st.push_reminder_event(ReminderEvent {
                reminder_id: reminder_id.clone(),
                kind: ReminderEventKind::Delivered,
                at,
            });
            st.push_reminder_event(ReminderEvent {
                reminder_id,
                kind: ReminderEventKind::Opened,
                at: at + TimeDelta::minutes(5),
            });
        }
    }
    st
}

fn bench(c: &mut Criterion) {
    let now = DateTime::parse_from_rfc3339("2026-07-04T09:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let st = state(now);
    let plan = agenda::plan_reminders(&st, now, 64);
    assert_eq!(plan.len(), 64, "the scenario must fill a 64-reminder plan");
    assert!(st.completions.len() > 200, "{}", st.completions.len());

    c.bench_function("agenda + 64 reminders (in memory)", |b| {
        b.iter(|| {
            let a = agenda::agenda(black_box(&st), now);
            let p = agenda::plan_reminders(black_box(&st), now, 64);
            black_box((a, p))
        })
    });

    // The same from the encrypted store: load (decrypt) every fact, then compute.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("p.db"), &MemoryKeyProvider::new([9; 32])).unwrap();
    let start = st.start_date;
    agenda::enrol(
        &store,
        &st.program,
        start,
        "Europe/Berlin",
        Some(TreatmentMode::Guided),
    )
    .unwrap();
    store
        .write(|tx| {
            for (i, z) in st.zones.iter().skip(1).enumerate() {
                tx.put(
                    &format!("z{i}"),
                    &agenda::ZoneChangeRecord {
                        since_millis: z.since.timestamp_millis(),
                        time_zone: z.tz.name().into(),
                    },
                )?;
            }
            for (id, at) in &st.completions {
                tx.insert(&agenda::CompletionRecord {
                    item_id: id.clone(),
                    at_millis: at.timestamp_millis(),
                })?;
            }
            let mut sum = agenda::ReminderSummaryRecord::default();
            for e in &st.reminder_events {
                sum.apply(&e.reminder_id, e.kind, e.at.timestamp_millis());
                tx.insert(&agenda::ReminderEventRecord {
                    reminder_id: e.reminder_id.clone(),
                    event: e.kind,
                    at_millis: e.at.timestamp_millis(),
                })?;
            }
            tx.put(agenda::ReminderSummaryRecord::ID, &sum)
        })
        .unwrap();
    let loaded = agenda::load_state(&store).unwrap();
    assert_eq!(agenda::plan_reminders(&loaded, now, 64), plan);
    c.bench_function("load from store + agenda + 64 reminders", |b| {
        b.iter(|| {
            let st = agenda::load_state(&store).unwrap();
            let a = agenda::agenda(&st, now);
            let p = agenda::plan_reminders(&st, now, 64);
            black_box((a, p))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
