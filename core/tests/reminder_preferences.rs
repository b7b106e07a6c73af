//! The patient's reminder preferences: quieter than the program, never
//! noisier. Pure plan tests, a property across zones and DST transition
//! days, and the session path with a real store and scheduler.
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
use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use collabzium_core::agenda::{
    items, plan_reminders, EnrolmentState, ItemKind, MemoryScheduler, ReminderKind,
    ReminderPreferences,
};
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::TreatmentMode;
use collabzium_core::program::{self, Program, QuietHours, TimeOfDay};
use collabzium_core::schedule::{parse_zone, Tz};
use collabzium_core::session::Session;
use collabzium_core::store::Store;
use collabzium_core::Error;
use proptest::prelude::*;
use serde_json::{json, Value};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn tod(s: &str) -> TimeOfDay {
    s.parse().unwrap()
}

fn quiet(start: &str, end: &str) -> QuietHours {
    QuietHours {
        start: tod(start),
        end: tod(end),
    }
}

/// The minimal valid program with one daily check-in at `local_time`.
fn daily(local_time: &str, closes_minutes: u32, reminders: Value) -> Program {
    let path = format!(
        "{}/tests/data/programs/valid/minimal.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["checkins"] = json!([{ "id": "mood", "instrument": "phq9",
        "when": { "recurring": { "rrule": "FREQ=DAILY", "local_time": local_time } },
        "window": { "opens_minutes": 0, "due_minutes": closes_minutes.min(120),
                    "closes_minutes": closes_minutes } }]);
    v["reminders"] = reminders;
    v["modules"][3]["unlock"] = json!("therapist_approval");
    program::load(&v.to_string()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn state(
    p: Program,
    start: &str,
    zone: &str,
    prefs: Option<ReminderPreferences>,
) -> EnrolmentState {
    let mut st = EnrolmentState::new(
        p,
        start.parse().unwrap(),
        TreatmentMode::Guided,
        parse_zone(zone).unwrap(),
    );
    st.reminder_preferences = prefs;
    st
}

fn prefs() -> ReminderPreferences {
    ReminderPreferences::default()
}

fn field(e: Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn local_tod(tz: Tz, t: DateTime<Utc>) -> TimeOfDay {
    let l = t.with_timezone(&tz).naive_local();
    TimeOfDay::new(l.hour() as u8, l.minute() as u8).unwrap()
}

#[test]
fn quiet_hours_across_midnight_move_checkin_reminders_to_their_end() {
    // Check-in at 20:00 Berlin, open a whole day; the patient is quiet
    // 19:00 to 07:30, so each reminder waits for 07:30 the next morning.
    let p = daily(
        "20:00",
        1440,
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    );
    let plain = plan_reminders(
        &state(p.clone(), "2026-03-02", "Europe/Berlin", None),
        utc("2026-03-01T12:00:00Z"),
        20,
    );
    assert!(plain
        .iter()
        .any(|n| n.kind == ReminderKind::Checkin && n.local_time.time().hour() == 20));
    let st = state(
        p,
        "2026-03-02",
        "Europe/Berlin",
        Some(ReminderPreferences {
            quiet_hours: Some(quiet("19:00", "07:30")),
            ..prefs()
        }),
    );
    let plan = plan_reminders(&st, utc("2026-03-01T12:00:00Z"), 20);
    let checkins: Vec<_> = plan
        .iter()
        .filter(|n| n.kind == ReminderKind::Checkin)
        .collect();
    assert!(checkins.len() >= 5, "{plan:#?}");
    for n in checkins {
        assert_eq!(
            n.local_time.time(),
            NaiveTime::from_hms_opt(7, 30, 0).unwrap()
        );
    }
    // The nudge at noon is outside the quiet span and stays.
    assert!(plan.iter().any(|n| n.kind == ReminderKind::Nudge));
}

#[test]
fn quiet_hours_add_to_the_programs_and_never_replace_them() {
    // Program quiet 21:00-08:00; patient quiet 20:00-21:30 (overlapping):
    // a check-in opening at 20:00 waits past both, until 08:00.
    let p = daily(
        "20:00",
        1440,
        json!({ "time_of_day": "12:00", "max_per_day": 3,
                "quiet_hours": { "start": "21:00", "end": "08:00" } }),
    );
    let st = state(
        p,
        "2026-06-01",
        "America/New_York",
        Some(ReminderPreferences {
            quiet_hours: Some(quiet("20:00", "21:30")),
            ..prefs()
        }),
    );
    let plan = plan_reminders(&st, utc("2026-05-31T12:00:00Z"), 10);
    let c: Vec<_> = plan
        .iter()
        .filter(|n| n.kind == ReminderKind::Checkin)
        .collect();
    assert!(!c.is_empty());
    for n in c {
        assert_eq!(
            n.local_time.time(),
            NaiveTime::from_hms_opt(8, 0, 0).unwrap()
        );
    }
}

#[test]
fn preferred_checkin_time_stays_inside_the_window() {
    // Opens 08:00 for 10 hours (closes 18:00).
    let p = daily(
        "08:00",
        600,
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    );
    let at = |t: &str| {
        let st = state(
            p.clone(),
            "2026-03-02",
            "Asia/Kolkata",
            Some(ReminderPreferences {
                checkin_time: Some(tod(t)),
                ..prefs()
            }),
        );
        let plan = plan_reminders(&st, utc("2026-03-01T12:00:00Z"), 20);
        let c: Vec<_> = plan
            .into_iter()
            .filter(|n| n.kind == ReminderKind::Checkin)
            .collect();
        assert!(!c.is_empty());
        c.iter()
            .map(|n| n.local_time.time().format("%H:%M").to_string())
            .collect::<Vec<_>>()
    };
    // Inside the window: at the preferred time.
    assert!(at("17:15").iter().all(|t| t == "17:15"));
    // Before it opens (and again the next day after it closed): at opening.
    assert!(at("07:00").iter().all(|t| t == "08:00"));
    // At the moment it closes: not allowed, so at opening.
    assert!(at("18:00").iter().all(|t| t == "08:00"));
}

#[test]
fn the_daily_limit_is_respected_and_only_lowered() {
    // Two check-ins a day plus the nudge: up to three under the program.
    let mut p = daily(
        "09:00",
        120,
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    );
    let mut second = p.checkins[0].clone();
    second.id = "evening".into();
    p.checkins.push(second);
    let mut v = serde_json::to_value(&p).unwrap();
    v["checkins"][1]["when"]["recurring"]["local_time"] = json!("19:00");
    let p = program::load(&v.to_string()).unwrap();
    let per_day = |st: &EnrolmentState| {
        let mut m: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        for n in plan_reminders(st, utc("2026-03-01T12:00:00Z"), 60) {
            *m.entry(n.local_time.date()).or_default() += 1;
        }
        m.values().copied().max().unwrap()
    };
    assert_eq!(per_day(&state(p.clone(), "2026-03-02", "UTC", None)), 3);
    let one = ReminderPreferences {
        max_per_day: Some(1),
        ..prefs()
    };
    assert_eq!(
        per_day(&state(p.clone(), "2026-03-02", "UTC", Some(one))),
        1
    );

    let policy = &p.reminders;
    let too_many = ReminderPreferences {
        max_per_day: Some(4),
        ..prefs()
    };
    assert_eq!(field(too_many.validate(policy).unwrap_err()), "max_per_day");
    let zero = ReminderPreferences {
        max_per_day: Some(0),
        ..prefs()
    };
    assert_eq!(field(zero.validate(policy).unwrap_err()), "max_per_day");
    let empty = ReminderPreferences {
        quiet_hours: Some(quiet("22:00", "22:00")),
        ..prefs()
    };
    assert_eq!(
        field(empty.validate(policy).unwrap_err()),
        "quiet_hours.end"
    );
    assert!(ReminderPreferences {
        max_per_day: Some(3),
        quiet_hours: Some(quiet("22:00", "06:00")),
        checkin_time: Some(tod("10:00")),
        enabled: true,
    }
    .validate(policy)
    .is_ok());
}

#[test]
fn off_plans_nothing() {
    let p = daily(
        "09:00",
        600,
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    );
    let on = state(p.clone(), "2026-03-02", "Europe/Berlin", Some(prefs()));
    assert!(!plan_reminders(&on, utc("2026-03-01T12:00:00Z"), 20).is_empty());
    let off = state(
        p,
        "2026-03-02",
        "Europe/Berlin",
        Some(ReminderPreferences {
            enabled: false,
            ..prefs()
        }),
    );
    assert!(plan_reminders(&off, utc("2026-03-01T12:00:00Z"), 20).is_empty());
}

#[test]
fn quiet_end_in_a_spring_forward_gap_and_a_fall_back_fold() {
    // Berlin 2026-03-29: 02:00 jumps to 03:00. Quiet until 02:30 (which
    // does not exist that night); the check-in opens at 01:00.
    let p = daily(
        "01:00",
        600,
        json!({ "time_of_day": "12:00", "max_per_day": 3 }),
    );
    let tz = parse_zone("Europe/Berlin").unwrap();
    let q = quiet("23:00", "02:30");
    let st = state(
        p.clone(),
        "2026-03-27",
        "Europe/Berlin",
        Some(ReminderPreferences {
            quiet_hours: Some(q),
            ..prefs()
        }),
    );
    let plan = plan_reminders(&st, utc("2026-03-26T12:00:00Z"), 30);
    let gap_day: Vec<_> = plan
        .iter()
        .filter(|n| n.local_time.date() == "2026-03-29".parse::<NaiveDate>().unwrap())
        .collect();
    assert!(!gap_day.is_empty());
    for n in &plan {
        assert!(!q.contains(local_tod(tz, n.fire_at)), "{n:#?}");
    }
    // Berlin 2026-10-25: 03:00 falls back to 02:00. Quiet 01:00-02:30.
    let q = quiet("01:00", "02:30");
    let st = state(
        daily(
            "02:15",
            600,
            json!({ "time_of_day": "12:00", "max_per_day": 3 }),
        ),
        "2026-10-23",
        "Europe/Berlin",
        Some(ReminderPreferences {
            quiet_hours: Some(q),
            ..prefs()
        }),
    );
    let plan = plan_reminders(&st, utc("2026-10-22T12:00:00Z"), 30);
    assert!(plan
        .iter()
        .any(|n| n.local_time.date() == "2026-10-25".parse::<NaiveDate>().unwrap()));
    for n in &plan {
        assert!(!q.contains(local_tod(tz, n.fire_at)), "{n:#?}");
    }
}

// ---- Property: no reminder in the patient's quiet hours, in any zone ----

const ZONES: &[&str] = &[
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Santiago",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "UTC",
];

/// The first local dates in 2026 whose offset differs from the day before
/// (DST transition days); January 15 for zones without any.
fn transition_days(tz: Tz) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let offset = |d: NaiveDate| {
        tz.offset_from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .fix()
            .local_minus_utc()
    };
    while day.year() == 2026 {
        let next = day.succ_opt().unwrap();
        if offset(next) != offset(day) {
            out.push(next);
        }
        day = next;
    }
    if out.is_empty() {
        out.push(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
    }
    out
}

fn time_of_day() -> impl Strategy<Value = TimeOfDay> {
    // Half the cases in the small hours, where the transitions are.
    prop_oneof![(0u8..4, 0u8..60), (0u8..24, 0u8..60),]
        .prop_map(|(h, m)| TimeOfDay::new(h, m).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_reminder_falls_in_the_patients_quiet_hours(
        zone in 0..ZONES.len(),
        which in any::<prop::sample::Index>(),
        days_before in 0u64..6,
        checkin in time_of_day(),
        closes in prop_oneof![Just(180u32), Just(600), Just(1440)],
        q_start in time_of_day(),
        q_end in time_of_day(),
        program_quiet in any::<bool>(),
        preferred in prop::option::of(time_of_day()),
        max in 1u32..=3,
    ) {
        prop_assume!(q_start != q_end);
        // The program validator refuses check-ins inside its own quiet hours.
        prop_assume!(!(program_quiet && quiet("12:30", "13:30").contains(checkin)));
        let tz = parse_zone(ZONES[zone]).unwrap();
        let days = transition_days(tz);
        let start = *which.get(&days)
            - Days::new(days_before);
        let reminders = if program_quiet {
            json!({ "time_of_day": "12:00", "max_per_day": 3,
                    "quiet_hours": { "start": "12:30", "end": "13:30" } })
        } else {
            json!({ "time_of_day": "12:00", "max_per_day": 3 })
        };
        let p = daily(&checkin.to_string(), closes, reminders);
        let q = QuietHours { start: q_start, end: q_end };
        let prefs = ReminderPreferences {
            enabled: true,
            quiet_hours: Some(q),
            checkin_time: preferred,
            max_per_day: Some(max),
        };
        prop_assert!(prefs.validate(&p.reminders).is_ok());
        let st = state(p, &start.to_string(), ZONES[zone], Some(prefs));
        let now = tz
            .from_local_datetime(&start.pred_opt().unwrap().and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc);
        let plan = plan_reminders(&st, now, 64);
        let all = items(&st, now);
        let mut per_day: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        for n in &plan {
            let local = n.fire_at.with_timezone(&tz).naive_local();
            prop_assert_eq!(local, n.local_time);
            let t = local_tod(tz, n.fire_at);
            prop_assert!(!q.contains(t), "{} in quiet {}-{}", local, q.start, q.end);
            if program_quiet {
                prop_assert!(!quiet("12:30", "13:30").contains(t), "{}", local);
            }
            *per_day.entry(local.date()).or_default() += 1;
            prop_assert!(n.fire_at > now);
            if n.kind == ReminderKind::Checkin {
                let it = all
                    .iter()
                    .find(|i| i.kind == ItemKind::Checkin && i.id == n.item_ids[0])
                    .unwrap();
                prop_assert!(it.opens_at.unwrap() <= n.fire_at);
                prop_assert!(n.fire_at < it.closes_at.unwrap());
            }
        }
        prop_assert!(per_day.values().all(|&c| c <= max), "{:?}", per_day);
    }
}

// ---- The session: saved encrypted, re-planned, shown on settings ----

const PROGRAM: &str = include_str!("../../cli/data/programs/low-mood-8w.json");

#[test]
fn setting_preferences_saves_replans_and_shows_on_the_settings_screen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let key = MemoryKeyProvider::new([7; 32]);
    let s = Session::new(Store::create(&path, &key).unwrap());
    let now = utc("2026-03-02T09:00:00Z");
    let p = ReminderPreferences {
        quiet_hours: Some(quiet("17:00", "20:00")),
        ..prefs()
    };
    // Nothing to narrow before enrolment.
    assert!(matches!(
        s.set_reminder_preferences(&p, now),
        Err(Error::NotFound { .. })
    ));
    s.enrol_json(
        PROGRAM,
        "2026-03-02",
        "Europe/Berlin",
        Some(now.timestamp_millis()),
    )
    .unwrap();
    let scheduler = Arc::new(MemoryScheduler::new(64));
    s.set_scheduler(scheduler.clone());
    s.replan(now).unwrap();
    let before = scheduler.replacements();
    let tz = parse_zone("Europe/Berlin").unwrap();
    // The weekly PHQ-9 opens at 18:00: the program reminds then.
    assert!(scheduler
        .pending()
        .iter()
        .any(|n| n.kind == ReminderKind::Checkin && n.local_time.time().hour() == 18));

    let u = s.set_reminder_preferences(&p, now).unwrap();
    assert_eq!(scheduler.replacements(), before + 1);
    assert_eq!(u.reminders.scheduled as usize, scheduler.pending().len());
    let pending = scheduler.pending();
    assert!(pending
        .iter()
        .any(|n| n.kind == ReminderKind::Checkin && n.local_time.time().hour() == 20));
    for n in &pending {
        assert!(!quiet("17:00", "20:00").contains(local_tod(tz, n.fire_at)));
    }

    // Invalid values are refused by name and change nothing.
    let e = s
        .set_reminder_preferences(
            &ReminderPreferences {
                max_per_day: Some(5),
                ..prefs()
            },
            now,
        )
        .unwrap_err();
    assert_eq!(field(e), "max_per_day");
    assert_eq!(scheduler.replacements(), before + 1);

    // Stored encrypted in the file: a reopened store shows them.
    s.close();
    let s = Session::new(Store::open(&path, &key).unwrap());
    let screen = s.settings_screen().unwrap();
    assert_eq!(screen.reminder_preferences, Some(p.clone()));
    let eff = screen.effective_reminders.unwrap();
    assert_eq!(
        eff.quiet_hours,
        vec![quiet("21:30", "08:00"), quiet("17:00", "20:00")]
    );
    assert_eq!(eff.max_per_day, 2);
    assert!(eff.enabled);
    assert!(!std::fs::read(&path)
        .unwrap()
        .windows(5)
        .any(|w| w == b"17:00"));

    // Off: the platform is handed an empty plan.
    s.set_scheduler(scheduler.clone());
    let u = s
        .set_reminder_preferences(
            &ReminderPreferences {
                enabled: false,
                ..p
            },
            now,
        )
        .unwrap();
    assert_eq!(u.reminders.scheduled, 0);
    assert!(scheduler.pending().is_empty());
    assert!(
        !s.settings_screen()
            .unwrap()
            .effective_reminders
            .unwrap()
            .enabled
    );
}

#[test]
fn text_fields_are_parsed_and_refused_by_name() {
    let ok =
        ReminderPreferences::from_text(true, Some("22:00"), Some("07:00"), None, Some(1)).unwrap();
    assert_eq!(ok.quiet_hours, Some(quiet("22:00", "07:00")));
    let bad = |s: Option<&str>, e: Option<&str>, c: Option<&str>| {
        field(ReminderPreferences::from_text(true, s, e, c, None).unwrap_err())
    };
    assert_eq!(bad(Some("25:00"), Some("07:00"), None), "quiet_hours.start");
    assert_eq!(bad(Some("22:00"), Some("7"), None), "quiet_hours.end");
    assert_eq!(bad(Some("22:00"), None, None), "quiet_hours.end");
    assert_eq!(bad(None, Some("07:00"), None), "quiet_hours.start");
    assert_eq!(bad(None, None, Some("noon")), "checkin_time");
}
