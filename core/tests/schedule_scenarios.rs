//! Hand-checked scenarios: the cases earlier systems got wrong.
//!
//! Expected UTC instants are worked out by hand from the 2026 DST dates:
//! New York 8 Mar / 1 Nov, Berlin 29 Mar / 25 Oct, Sydney 5 Apr / 4 Oct.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use chrono::{DateTime, NaiveDateTime, Utc};
use collabzium_core::schedule::{
    expand, expand_with_zone_history, parse_zone, replan_after_zone_change, Occurrence, RRule,
    ScheduleError, Tz, ZoneSpan,
};

fn rule(s: &str) -> RRule {
    s.parse().unwrap()
}

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn tz(name: &str) -> Tz {
    parse_zone(name).unwrap()
}

/// Occurrences as "UTC | observed local | offset" for readable diffs.
fn show(occ: &[Occurrence]) -> Vec<String> {
    occ.iter()
        .map(|o| {
            format!(
                "{} | {} | {}",
                o.utc.format("%Y-%m-%dT%H:%MZ"),
                o.local.format("%Y-%m-%dT%H:%M"),
                o.offset
            )
        })
        .collect()
}

fn run(r: &str, start: &str, zone: &str, from: &str, to: &str) -> Vec<String> {
    show(&expand(&rule(r), local(start), tz(zone), utc(from), utc(to)).unwrap())
}

#[test]
fn daily_20h_new_york_across_both_transitions() {
    let spring = run(
        "FREQ=DAILY",
        "2026-03-01T20:00",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        "2026-03-10T12:00:00Z",
    );
    assert_eq!(
        spring,
        [
            "2026-03-08T01:00Z | 2026-03-07T20:00 | -05:00",
            "2026-03-09T00:00Z | 2026-03-08T20:00 | -04:00",
            "2026-03-10T00:00Z | 2026-03-09T20:00 | -04:00",
        ]
    );
    let fall = run(
        "FREQ=DAILY",
        "2026-03-01T20:00",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        "2026-11-02T12:00:00Z",
    );
    assert_eq!(
        fall,
        [
            "2026-11-01T00:00Z | 2026-10-31T20:00 | -04:00",
            "2026-11-02T01:00Z | 2026-11-01T20:00 | -05:00",
        ]
    );
}

#[test]
fn daily_20h_berlin_across_both_transitions() {
    let got = run(
        "FREQ=DAILY",
        "2026-01-01T20:00",
        "Europe/Berlin",
        "2026-03-28T00:00:00Z",
        "2026-03-30T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-03-28T19:00Z | 2026-03-28T20:00 | +01:00",
            "2026-03-29T18:00Z | 2026-03-29T20:00 | +02:00",
        ]
    );
    let got = run(
        "FREQ=DAILY",
        "2026-01-01T20:00",
        "Europe/Berlin",
        "2026-10-24T00:00:00Z",
        "2026-10-26T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-24T18:00Z | 2026-10-24T20:00 | +02:00",
            "2026-10-25T19:00Z | 2026-10-25T20:00 | +01:00",
        ]
    );
}

#[test]
fn daily_20h_sydney_across_both_transitions() {
    // Southern hemisphere: DST ends in April and starts in October.
    let got = run(
        "FREQ=DAILY",
        "2026-01-01T20:00",
        "Australia/Sydney",
        "2026-04-04T00:00:00Z",
        "2026-04-06T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-04-04T09:00Z | 2026-04-04T20:00 | +11:00",
            "2026-04-05T10:00Z | 2026-04-05T20:00 | +10:00",
        ]
    );
    let got = run(
        "FREQ=DAILY",
        "2026-01-01T20:00",
        "Australia/Sydney",
        "2026-10-03T00:00:00Z",
        "2026-10-05T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-03T10:00Z | 2026-10-03T20:00 | +10:00",
            "2026-10-04T09:00Z | 2026-10-04T20:00 | +11:00",
        ]
    );
}

#[test]
fn reminder_in_the_spring_gap_moves_later_by_the_gap() {
    // 02:30 does not exist on 8 Mar in New York: EST's offset applies, 03:30 EDT.
    let got = run(
        "FREQ=DAILY",
        "2026-03-01T02:30",
        "America/New_York",
        "2026-03-07T00:00:00Z",
        "2026-03-10T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-03-07T07:30Z | 2026-03-07T02:30 | -05:00",
            "2026-03-08T07:30Z | 2026-03-08T03:30 | -04:00",
            "2026-03-09T06:30Z | 2026-03-09T02:30 | -04:00",
        ]
    );
    let got = run(
        "FREQ=DAILY",
        "2026-03-01T02:30",
        "Europe/Berlin",
        "2026-03-28T00:00:00Z",
        "2026-03-31T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-03-28T01:30Z | 2026-03-28T02:30 | +01:00",
            "2026-03-29T01:30Z | 2026-03-29T03:30 | +02:00",
            "2026-03-30T00:30Z | 2026-03-30T02:30 | +02:00",
        ]
    );
    let got = run(
        "FREQ=DAILY",
        "2026-09-01T02:30",
        "Australia/Sydney",
        "2026-10-02T00:00:00Z",
        "2026-10-05T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-02T16:30Z | 2026-10-03T02:30 | +10:00",
            "2026-10-03T16:30Z | 2026-10-04T03:30 | +11:00",
            "2026-10-04T15:30Z | 2026-10-05T02:30 | +11:00",
        ]
    );
}

#[test]
fn reminder_in_the_autumn_fold_fires_once_at_the_first_instance() {
    let got = run(
        "FREQ=DAILY",
        "2026-09-01T02:30",
        "Europe/Berlin",
        "2026-10-24T00:00:00Z",
        "2026-10-27T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-10-24T00:30Z | 2026-10-24T02:30 | +02:00",
            "2026-10-25T00:30Z | 2026-10-25T02:30 | +02:00",
            "2026-10-26T01:30Z | 2026-10-26T02:30 | +01:00",
        ]
    );
    let got = run(
        "FREQ=DAILY",
        "2026-01-01T02:30",
        "Australia/Sydney",
        "2026-04-03T00:00:00Z",
        "2026-04-06T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-04-03T15:30Z | 2026-04-04T02:30 | +11:00",
            "2026-04-04T15:30Z | 2026-04-05T02:30 | +11:00",
            "2026-04-05T16:30Z | 2026-04-06T02:30 | +10:00",
        ]
    );
    // New York repeats 01:00-02:00, so 02:30 is unambiguous and 01:30 folds.
    let got = run(
        "FREQ=DAILY;BYHOUR=1,2;BYMINUTE=30",
        "2026-09-01T00:00",
        "America/New_York",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-11-01T05:30Z | 2026-11-01T01:30 | -04:00",
            "2026-11-01T07:30Z | 2026-11-01T02:30 | -05:00",
        ]
    );
}

#[test]
fn gap_merges_two_rule_times_into_one_instant() {
    // 02:30 shifts onto 03:30: one reminder, not two at the same instant.
    let got = run(
        "FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30",
        "2026-03-08T00:00",
        "America/New_York",
        "2026-03-08T00:00:00Z",
        "2026-03-09T00:00:00Z",
    );
    assert_eq!(got, ["2026-03-08T07:30Z | 2026-03-08T03:30 | -04:00"]);
}

#[test]
fn weekly_by_day_keeps_wall_clock_across_dst() {
    let got = run(
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=5",
        "2026-03-23T09:00",
        "Europe/Berlin",
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-03-23T08:00Z | 2026-03-23T09:00 | +01:00",
            "2026-03-25T08:00Z | 2026-03-25T09:00 | +01:00",
            "2026-03-27T08:00Z | 2026-03-27T09:00 | +01:00",
            "2026-03-30T07:00Z | 2026-03-30T09:00 | +02:00",
            "2026-04-01T07:00Z | 2026-04-01T09:00 | +02:00",
        ]
    );
}

#[test]
fn weekly_dtstart_off_pattern_is_not_an_instance() {
    // DTSTART (a Wednesday) opens week 0, whose Monday is already past; with
    // INTERVAL=2 the first instance is the Monday of week 2.
    let got = run(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=3",
        "2026-01-07T18:00",
        "Europe/Berlin",
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-01-19T17:00Z | 2026-01-19T18:00 | +01:00",
            "2026-02-02T17:00Z | 2026-02-02T18:00 | +01:00",
            "2026-02-16T17:00Z | 2026-02-16T18:00 | +01:00",
        ]
    );
}

#[test]
fn monthly_last_day_of_month() {
    let got = run(
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        "2028-01-01T20:00",
        "America/New_York",
        "2028-01-01T00:00:00Z",
        "2028-05-02T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2028-02-01T01:00Z | 2028-01-31T20:00 | -05:00",
            "2028-03-01T01:00Z | 2028-02-29T20:00 | -05:00",
            "2028-04-01T00:00Z | 2028-03-31T20:00 | -04:00",
            "2028-05-01T00:00Z | 2028-04-30T20:00 | -04:00",
        ]
    );
}

#[test]
fn monthly_31st_skips_short_months() {
    let expected = [
        "2026-01-31T19:00Z | 2026-01-31T20:00 | +01:00",
        "2026-03-31T18:00Z | 2026-03-31T20:00 | +02:00",
        "2026-05-31T18:00Z | 2026-05-31T20:00 | +02:00",
        "2026-07-31T18:00Z | 2026-07-31T20:00 | +02:00",
        "2026-08-31T18:00Z | 2026-08-31T20:00 | +02:00",
        "2026-10-31T19:00Z | 2026-10-31T20:00 | +01:00",
        "2026-12-31T19:00Z | 2026-12-31T20:00 | +01:00",
    ];
    let window = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    let by_rule = run(
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "2026-01-01T20:00",
        "Europe/Berlin",
        window.0,
        window.1,
    );
    assert_eq!(by_rule, expected);
    // Same series when the 31st comes from DTSTART itself.
    let by_start = run(
        "FREQ=MONTHLY",
        "2026-01-31T20:00",
        "Europe/Berlin",
        window.0,
        window.1,
    );
    assert_eq!(by_start, expected);
}

#[test]
fn monthly_nth_weekday() {
    let got = run(
        "FREQ=MONTHLY;BYDAY=1MO,-1FR;COUNT=4",
        "2026-01-01T09:00",
        "Europe/Berlin",
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-01-05T08:00Z | 2026-01-05T09:00 | +01:00",
            "2026-01-30T08:00Z | 2026-01-30T09:00 | +01:00",
            "2026-02-02T08:00Z | 2026-02-02T09:00 | +01:00",
            "2026-02-27T08:00Z | 2026-02-27T09:00 | +01:00",
        ]
    );
}

#[test]
fn count_is_counted_from_dtstart_not_from_the_window() {
    let r = "FREQ=DAILY;COUNT=10";
    let got = run(
        r,
        "2026-01-01T20:00",
        "Europe/Berlin",
        "2026-01-08T00:00:00Z",
        "2026-02-01T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-01-08T19:00Z | 2026-01-08T20:00 | +01:00",
            "2026-01-09T19:00Z | 2026-01-09T20:00 | +01:00",
            "2026-01-10T19:00Z | 2026-01-10T20:00 | +01:00",
        ]
    );
    let after = run(
        r,
        "2026-01-01T20:00",
        "Europe/Berlin",
        "2026-01-11T00:00:00Z",
        "2027-01-01T00:00:00Z",
    );
    assert!(after.is_empty());
}

#[test]
fn until_is_inclusive_in_both_forms() {
    let expected = [
        "2026-03-08T01:00Z | 2026-03-07T20:00 | -05:00",
        "2026-03-09T00:00Z | 2026-03-08T20:00 | -04:00",
        "2026-03-10T00:00Z | 2026-03-09T20:00 | -04:00",
    ];
    let window = ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    // The last instance is exactly UNTIL.
    let instant = run(
        "FREQ=DAILY;UNTIL=20260310T000000Z",
        "2026-03-07T20:00",
        "America/New_York",
        window.0,
        window.1,
    );
    assert_eq!(instant, expected);
    // A date UNTIL covers that whole local day, though 20:00 EDT is the next UTC day.
    let date = run(
        "FREQ=DAILY;UNTIL=20260309",
        "2026-03-07T20:00",
        "America/New_York",
        window.0,
        window.1,
    );
    assert_eq!(date, expected);
}

#[test]
fn until_is_checked_per_instance_when_a_gap_reorders_them() {
    // DTSTART sits in the gap, so 02:45 resolves to 07:45Z, after 03:10's
    // 07:10Z. Only the latter is within UNTIL; stopping at the first instance
    // past UNTIL would lose it.
    let got = run(
        "FREQ=DAILY;BYHOUR=2,3;BYMINUTE=10,45;UNTIL=20260308T072000Z",
        "2026-03-08T02:40",
        "America/New_York",
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    );
    assert_eq!(got, ["2026-03-08T07:10Z | 2026-03-08T03:10 | -04:00"]);
}

#[test]
fn window_bounds_are_half_open() {
    let at = |from: &str, to: &str| {
        run("FREQ=DAILY", "2026-01-01T20:00", "Europe/Berlin", from, to).len()
    };
    assert_eq!(at("2026-01-05T19:00:00Z", "2026-01-06T19:00:00Z"), 1);
    assert_eq!(at("2026-01-05T19:00:01Z", "2026-01-06T19:00:00Z"), 0);
    assert_eq!(at("2026-01-05T19:00:00Z", "2026-01-05T19:00:00Z"), 0);
}

#[test]
fn flight_berlin_to_new_york_mid_program() {
    // Daily check-in at 20:00. The patient lands in New York on 10 May and the
    // app records the zone change at 17:00Z (13:00 in New York).
    let r = rule("FREQ=DAILY");
    let start = local("2026-05-01T20:00");
    let (berlin, new_york) = (tz("Europe/Berlin"), tz("America/New_York"));
    let landed = utc("2026-05-10T17:00:00Z");
    let from = utc("2026-05-08T00:00:00Z");
    let to = utc("2026-05-13T00:00:00Z");

    let got = replan_after_zone_change(&r, start, berlin, new_york, landed, from, to).unwrap();
    assert_eq!(
        show(&got),
        [
            "2026-05-08T18:00Z | 2026-05-08T20:00 | +02:00",
            "2026-05-09T18:00Z | 2026-05-09T20:00 | +02:00",
            "2026-05-11T00:00Z | 2026-05-10T20:00 | -04:00",
            "2026-05-12T00:00Z | 2026-05-11T20:00 | -04:00",
        ]
    );

    // History is what Berlin alone gave; the future is New York from the change on.
    let in_berlin = expand(&r, start, berlin, from, landed).unwrap();
    let in_new_york = expand(&r, start, new_york, landed, to).unwrap();
    let (before, after): (Vec<Occurrence>, Vec<Occurrence>) =
        got.into_iter().partition(|o| o.utc < landed);
    assert_eq!(before, in_berlin);
    assert_eq!(after, in_new_york);
}

#[test]
fn instance_at_the_change_instant_belongs_to_the_new_zone() {
    // History is what was due strictly before the change.
    let got = replan_after_zone_change(
        &rule("FREQ=DAILY"),
        local("2026-05-01T20:00"),
        tz("Europe/Berlin"),
        tz("America/New_York"),
        utc("2026-05-10T18:00:00Z"),
        utc("2026-05-10T00:00:00Z"),
        utc("2026-05-12T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        show(&got),
        ["2026-05-11T00:00Z | 2026-05-10T20:00 | -04:00"]
    );
}

#[test]
fn flight_west_does_not_repeat_todays_check_in() {
    // The change is recorded after 20:00 Berlin: 10 May was held in Berlin and
    // must not come round again at 20:00 New York.
    let got = replan_after_zone_change(
        &rule("FREQ=DAILY"),
        local("2026-05-01T20:00"),
        tz("Europe/Berlin"),
        tz("America/New_York"),
        utc("2026-05-10T19:00:00Z"),
        utc("2026-05-10T00:00:00Z"),
        utc("2026-05-13T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        show(&got),
        [
            "2026-05-10T18:00Z | 2026-05-10T20:00 | +02:00",
            "2026-05-12T00:00Z | 2026-05-11T20:00 | -04:00",
        ]
    );
}

#[test]
fn round_trip_keeps_each_day_once() {
    // Berlin -> New York on 10 May, back east on 20 May with the change
    // recorded at 21:30 Berlin: that day's 20:00 has just passed locally and
    // is kept (before the change) rather than dropped.
    let history = [
        ZoneSpan {
            since: utc("2026-05-01T00:00:00Z"),
            tz: tz("Europe/Berlin"),
        },
        ZoneSpan {
            since: utc("2026-05-10T17:00:00Z"),
            tz: tz("America/New_York"),
        },
        ZoneSpan {
            since: utc("2026-05-20T19:30:00Z"),
            tz: tz("Europe/Berlin"),
        },
    ];
    let got = expand_with_zone_history(
        &rule("FREQ=DAILY"),
        local("2026-05-01T20:00"),
        &history,
        utc("2026-05-18T00:00:00Z"),
        utc("2026-05-23T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        show(&got),
        [
            "2026-05-18T00:00Z | 2026-05-17T20:00 | -04:00",
            "2026-05-19T00:00Z | 2026-05-18T20:00 | -04:00",
            "2026-05-20T00:00Z | 2026-05-19T20:00 | -04:00",
            "2026-05-20T18:00Z | 2026-05-20T20:00 | +02:00",
            "2026-05-21T18:00Z | 2026-05-21T20:00 | +02:00",
            "2026-05-22T18:00Z | 2026-05-22T20:00 | +02:00",
        ]
    );
}

#[test]
fn zone_history_must_be_ordered() {
    let spans = [
        ZoneSpan {
            since: utc("2026-05-10T00:00:00Z"),
            tz: tz("Europe/Berlin"),
        },
        ZoneSpan {
            since: utc("2026-05-01T00:00:00Z"),
            tz: tz("America/New_York"),
        },
    ];
    let r = rule("FREQ=DAILY");
    let (from, to) = (utc("2026-05-01T00:00:00Z"), utc("2026-06-01T00:00:00Z"));
    let start = local("2026-05-01T20:00");
    assert_eq!(
        expand_with_zone_history(&r, start, &spans, from, to),
        Err(ScheduleError::InvalidZoneHistory)
    );
    assert_eq!(
        expand_with_zone_history(&r, start, &[], from, to),
        Err(ScheduleError::InvalidZoneHistory)
    );
}

#[test]
fn rules_that_never_fire_terminate() {
    let berlin = tz("Europe/Berlin");
    let from = utc("2026-01-01T00:00:00Z");
    let far = utc("9000-01-01T00:00:00Z");
    for r in [
        // Every 7th day from a Monday is never a Tuesday.
        "FREQ=DAILY;INTERVAL=7;BYDAY=TU",
        "FREQ=DAILY;INTERVAL=7;BYDAY=TU;COUNT=3",
        // The fifth Monday is never the 1st.
        "FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1;COUNT=5",
        // Every 12 months from February never reaches a 30th.
        "FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30",
    ] {
        let got = expand(&rule(r), local("2026-02-02T09:00"), berlin, from, far);
        assert_eq!(got, Ok(vec![]), "{r}");
    }
}

#[test]
fn huge_windows_hit_a_limit_instead_of_exhausting_memory() {
    let every_minute = rule("FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59");
    let got = expand(
        &every_minute,
        local("2026-01-01T00:00"),
        tz("UTC"),
        utc("2026-01-01T00:00:00Z"),
        utc("2027-01-01T00:00:00Z"),
    );
    assert!(matches!(got, Err(ScheduleError::LimitExceeded { .. })));
}

#[test]
fn two_years_of_daily_occurrences_are_cheap() {
    let r = rule("FREQ=DAILY;BYHOUR=20");
    let start = local("2026-01-01T20:00");
    let ny = tz("America/New_York");
    // 2026 and 2027 in New York: the last one is 01:00Z on 1 Jan 2028.
    let (from, to) = (utc("2026-01-01T00:00:00Z"), utc("2028-01-01T02:00:00Z"));
    let runs = 20;
    let t0 = std::time::Instant::now();
    for _ in 0..runs {
        let got = expand(&r, start, ny, from, to).unwrap();
        assert_eq!(got.len(), 730);
    }
    let each = t0.elapsed() / runs;
    // Loose bound so unoptimised shared CI passes; release runs take ~0.1 ms.
    assert!(each.as_millis() < 50, "took {each:?}");
}

#[test]
fn skipping_ahead_is_cheap_far_from_dtstart() {
    // Without COUNT the walk starts near `from`, not at DTSTART in 1970.
    let r = rule("FREQ=DAILY");
    let t0 = std::time::Instant::now();
    let got = expand(
        &r,
        local("1970-01-01T20:00"),
        tz("Europe/Berlin"),
        utc("2026-03-01T00:00:00Z"),
        utc("2026-03-08T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(got.len(), 7);
    assert!(t0.elapsed().as_millis() < 20);
}
