//! Gap and fold resolution in zones with unusual shifts, worked out by hand
//! from the tz rules for 2026.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use chrono::NaiveDateTime;
use collabzium_core::schedule::{parse_zone, resolve_local};

/// (zone, wall-clock time, expected UTC, expected observed wall clock, offset)
fn check(zone: &str, local: &str, utc: &str, observed: &str, offset: &str) {
    let tz = parse_zone(zone).unwrap();
    let l = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M").unwrap();
    let o = resolve_local(tz, l);
    let got = (
        o.utc.format("%Y-%m-%dT%H:%MZ").to_string(),
        o.local.format("%Y-%m-%dT%H:%M").to_string(),
        o.offset.to_string(),
    );
    assert_eq!(
        got,
        (utc.to_string(), observed.to_string(), offset.to_string()),
        "{zone} {local}"
    );
}

#[test]
fn ordinary_times_are_unchanged() {
    check(
        "Europe/Berlin",
        "2026-07-01T20:00",
        "2026-07-01T18:00Z",
        "2026-07-01T20:00",
        "+02:00",
    );
    check(
        "Asia/Kathmandu",
        "2026-07-01T20:00",
        "2026-07-01T14:15Z",
        "2026-07-01T20:00",
        "+05:45",
    );
}

#[test]
fn gaps_take_the_offset_from_before() {
    // Lord Howe springs forward only 30 minutes: 02:00 -> 02:30.
    check(
        "Australia/Lord_Howe",
        "2026-10-04T02:15",
        "2026-10-03T15:45Z",
        "2026-10-04T02:45",
        "+11:00",
    );
    // Chatham at +12:45 jumps 02:45 -> 03:45.
    check(
        "Pacific/Chatham",
        "2026-09-27T03:00",
        "2026-09-26T14:15Z",
        "2026-09-27T04:00",
        "+13:45",
    );
    // Troll skips two hours: 01:00 -> 03:00.
    check(
        "Antarctica/Troll",
        "2026-03-29T02:00",
        "2026-03-29T02:00Z",
        "2026-03-29T04:00",
        "+02:00",
    );
    check(
        "America/St_Johns",
        "2026-03-08T02:30",
        "2026-03-08T06:00Z",
        "2026-03-08T03:30",
        "-02:30",
    );
    check(
        "Australia/Adelaide",
        "2026-10-04T02:30",
        "2026-10-03T17:00Z",
        "2026-10-04T03:30",
        "+10:30",
    );
    // Dublin's tz rules call winter the "negative" DST; the wall clock is what counts.
    check(
        "Europe/Dublin",
        "2026-03-29T01:30",
        "2026-03-29T01:30Z",
        "2026-03-29T02:30",
        "+01:00",
    );
    // Chile springs forward at midnight: 00:30 on 6 Sep never happens.
    check(
        "America/Santiago",
        "2026-09-06T00:30",
        "2026-09-06T04:30Z",
        "2026-09-06T01:30",
        "-03:00",
    );
}

#[test]
fn folds_take_the_first_instance() {
    check(
        "Australia/Lord_Howe",
        "2026-04-05T01:45",
        "2026-04-04T14:45Z",
        "2026-04-05T01:45",
        "+11:00",
    );
    check(
        "Pacific/Chatham",
        "2026-04-05T03:00",
        "2026-04-04T13:15Z",
        "2026-04-05T03:00",
        "+13:45",
    );
    check(
        "Antarctica/Troll",
        "2026-10-25T02:00",
        "2026-10-25T00:00Z",
        "2026-10-25T02:00",
        "+02:00",
    );
    check(
        "America/New_York",
        "2026-11-01T01:59",
        "2026-11-01T05:59Z",
        "2026-11-01T01:59",
        "-04:00",
    );
    // Just past the fold there is one instance again.
    check(
        "America/New_York",
        "2026-11-01T02:00",
        "2026-11-01T07:00Z",
        "2026-11-01T02:00",
        "-05:00",
    );
}
