//! RRULE parsing: the subset is accepted and round-trips; everything else is
//! rejected with the offending part named, for the program validator.
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]

use chrono::{NaiveDate, Weekday};
use collabzium_core::schedule::{parse_zone, Frequency, RRule, ScheduleError, Until, WeekdayNum};

#[test]
fn parses_every_supported_part() {
    let r: RRule =
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO,-1FR;BYMONTHDAY=1,-1;BYHOUR=8,20;BYMINUTE=0,30;COUNT=12;WKST=SU"
            .parse()
            .unwrap();
    assert_eq!(r.freq(), Frequency::Monthly);
    assert_eq!(r.interval(), 2);
    assert_eq!(
        r.by_day(),
        [
            WeekdayNum {
                ordinal: Some(1),
                weekday: Weekday::Mon
            },
            WeekdayNum {
                ordinal: Some(-1),
                weekday: Weekday::Fri
            },
        ]
    );
    assert_eq!(r.by_month_day(), [-1, 1]);
    assert_eq!(r.by_hour(), [8, 20]);
    assert_eq!(r.by_minute(), [0, 30]);
    assert_eq!(r.count(), Some(12));
    assert_eq!(r.until(), None);
    assert_eq!(r.week_start(), Weekday::Sun);
}

#[test]
fn until_accepts_date_and_utc_date_time() {
    let d: RRule = "FREQ=DAILY;UNTIL=20261231".parse().unwrap();
    assert_eq!(
        d.until(),
        Some(Until::Date(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()))
    );
    let t: RRule = "FREQ=DAILY;UNTIL=20261231T235959Z".parse().unwrap();
    let Some(Until::Utc(at)) = t.until() else {
        panic!("expected a UTC until")
    };
    assert_eq!(at.to_rfc3339(), "2026-12-31T23:59:59+00:00");
}

#[test]
fn canonical_text_round_trips() {
    for (input, canonical) in [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("freq=daily;interval=1", "FREQ=DAILY"),
        (
            "RRULE:FREQ=WEEKLY;BYDAY=FR,MO;WKST=SU",
            "FREQ=WEEKLY;BYDAY=MO,FR;WKST=SU",
        ),
        ("FREQ=WEEKLY;BYDAY=MO;", "FREQ=WEEKLY;BYDAY=MO"),
        (
            "BYMINUTE=30,0;BYHOUR=20;FREQ=DAILY;COUNT=3",
            "FREQ=DAILY;COUNT=3;BYHOUR=20;BYMINUTE=0,30",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=31,-1,31;UNTIL=20270101T000000Z",
            "FREQ=MONTHLY;UNTIL=20270101T000000Z;BYMONTHDAY=-1,31",
        ),
        (
            "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1SU,+2TU,WE",
            "FREQ=MONTHLY;INTERVAL=3;BYDAY=2TU,WE,-1SU",
        ),
    ] {
        let r: RRule = input.parse().unwrap();
        assert_eq!(r.to_string(), canonical, "{input}");
        assert_eq!(r.to_string().parse::<RRule>().unwrap(), r, "{input}");
    }
}

#[test]
fn serde_uses_the_rule_text() {
    let r: RRule = "FREQ=DAILY;BYHOUR=20".parse().unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, r#""FREQ=DAILY;BYHOUR=20""#);
    assert_eq!(serde_json::from_str::<RRule>(&json).unwrap(), r);
    let err = serde_json::from_str::<RRule>(r#""FREQ=DAILY;BYHOUR=24""#).unwrap_err();
    assert!(
        err.to_string()
            .contains("BYHOUR: 24 is out of range 0..=23"),
        "{err}"
    );
}

#[test]
fn errors_name_the_offending_part() {
    let cases = [
        ("", "FREQ", "FREQ: required"),
        ("INTERVAL=2", "FREQ", "FREQ: required"),
        (
            "FREQ=YEARLY",
            "FREQ",
            "FREQ: YEARLY is not supported (DAILY, WEEKLY or MONTHLY)",
        ),
        ("FREQ=HOURLY", "FREQ", "FREQ: HOURLY is not supported (DAILY, WEEKLY or MONTHLY)"),
        ("FREQ=SOMETIMES", "FREQ", "FREQ: \"SOMETIMES\" is not a frequency"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ", "FREQ: given more than once"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS", "BYSETPOS: not supported"),
        ("FREQ=DAILY;BYMONTH=1", "BYMONTH", "BYMONTH: not supported"),
        ("FREQ=DAILY;BYSECOND=1", "BYSECOND", "BYSECOND: not supported"),
        ("FREQ=DAILY;BYWEEKNO=1", "BYWEEKNO", "BYWEEKNO: not supported"),
        ("FREQ=DAILY;BYYEARDAY=1", "BYYEARDAY", "BYYEARDAY: not supported"),
        ("FREQ=DAILY;FOO=1", "FOO", "FOO: unknown rule part"),
        ("FREQ=DAILY;BYHOUR", "BYHOUR", "BYHOUR: expected NAME=VALUE separated by ';'"),
        ("FREQ=DAILY;;BYHOUR=1", "RRULE", "RRULE: expected NAME=VALUE separated by ';'"),
        ("FREQ=DAILY;BYHOUR=", "BYHOUR", "BYHOUR: empty value"),
        ("FREQ=DAILY;BYHOUR=1,,2", "BYHOUR", "BYHOUR: empty list item"),
        ("FREQ=DAILY;BYHOUR=25", "BYHOUR", "BYHOUR: 25 is out of range 0..=23"),
        ("FREQ=DAILY;BYHOUR=-1", "BYHOUR", "BYHOUR: -1 is out of range 0..=23"),
        ("FREQ=DAILY;BYHOUR=8PM", "BYHOUR", "BYHOUR: \"8PM\" is not a number"),
        (
            "FREQ=DAILY;BYHOUR=99999999999999999999",
            "BYHOUR",
            "BYHOUR: 99999999999999999999 is out of range 0..=23",
        ),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE", "BYMINUTE: 60 is out of range 0..=59"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=32",
            "BYMONTHDAY",
            "BYMONTHDAY: 32 is out of range -31..=-1 or 1..=31",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-32",
            "BYMONTHDAY",
            "BYMONTHDAY: -32 is out of range -31..=-1 or 1..=31",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=0",
            "BYMONTHDAY",
            "BYMONTHDAY: 0 is out of range -31..=-1 or 1..=31",
        ),
        (
            "FREQ=WEEKLY;BYMONTHDAY=1",
            "BYMONTHDAY",
            "BYMONTHDAY: not allowed with FREQ=WEEKLY",
        ),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY", "BYDAY: \"XX\" is not a weekday (MO..SU)"),
        (
            "FREQ=MONTHLY;BYDAY=6MO",
            "BYDAY",
            "BYDAY: ordinal in 6MO is out of range -5..=-1 or 1..=5",
        ),
        (
            "FREQ=MONTHLY;BYDAY=0MO",
            "BYDAY",
            "BYDAY: ordinal in 0MO is out of range -5..=-1 or 1..=5",
        ),
        (
            "FREQ=WEEKLY;BYDAY=1MO",
            "BYDAY",
            "BYDAY: 1MO has an ordinal, only allowed with FREQ=MONTHLY",
        ),
        (
            "FREQ=DAILY;BYDAY=-1FR",
            "BYDAY",
            "BYDAY: -1FR has an ordinal, only allowed with FREQ=MONTHLY",
        ),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL", "INTERVAL: 0 is out of range 1..=1000"),
        ("FREQ=DAILY;COUNT=0", "COUNT", "COUNT: 0 is out of range 1..=100000"),
        (
            "FREQ=DAILY;COUNT=3;UNTIL=20260101",
            "COUNT",
            "COUNT: cannot be combined with UNTIL",
        ),
        (
            "FREQ=DAILY;UNTIL=20260101T000000",
            "UNTIL",
            "UNTIL: a date-time must be in UTC (end with Z)",
        ),
        (
            "FREQ=DAILY;UNTIL=20261301",
            "UNTIL",
            "UNTIL: \"20261301\" is not a date (YYYYMMDD) or UTC date-time (YYYYMMDDTHHMMSSZ)",
        ),
        (
            "FREQ=DAILY;UNTIL=20260101T250000Z",
            "UNTIL",
            "UNTIL: \"20260101T250000Z\" is not a date (YYYYMMDD) or UTC date-time (YYYYMMDDTHHMMSSZ)",
        ),
        ("FREQ=DAILY;WKST=XX", "WKST", "WKST: \"XX\" is not a weekday (MO..SU)"),
    ];
    for (input, part, message) in cases {
        let err = input.parse::<RRule>().unwrap_err();
        assert_eq!(err.part(), Some(part), "{input}");
        assert_eq!(err.to_string(), message, "{input}");
    }
}

#[test]
fn unknown_zones_are_typed_errors() {
    assert_eq!(parse_zone("Europe/Berlin").unwrap().name(), "Europe/Berlin");
    for bad in ["Mars/Olympus_Mons", "", "+02:00", "europe/berlin"] {
        assert_eq!(
            parse_zone(bad),
            Err(ScheduleError::UnknownZone(bad.to_string())),
            "{bad}"
        );
    }
    assert_eq!(
        parse_zone("Mars/Olympus_Mons").unwrap_err().to_string(),
        "unknown time zone \"Mars/Olympus_Mons\""
    );
}
