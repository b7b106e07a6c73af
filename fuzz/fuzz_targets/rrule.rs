//! RRULE strings from program files and check-in schedules, then expansion.
#![no_main]

use chrono::{NaiveDate, TimeZone, Utc};
use collabzium_core::schedule::{expand, RRule, Tz};
use libfuzzer_sys::fuzz_target;

const ZONES: [&str; 4] = [
    "UTC",
    "Europe/Stockholm",
    "America/New_York",
    "Australia/Lord_Howe",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(rule) = text.parse::<RRule>() else {
        return;
    };
    // Display is canonical: it parses back to the same rule, and is a fixed point.
    let canon = rule.to_string();
    let again: RRule = canon.parse().expect("canonical form parses");
    assert_eq!(again, rule);
    assert_eq!(again.to_string(), canon);
    // Expand over a bounded window spanning DST changes.
    let tz: Tz = ZONES[pick as usize % ZONES.len()]
        .parse()
        .expect("a bundled zone");
    let start = NaiveDate::from_ymd_opt(2026, 3, 1 + u32::from(pick % 28))
        .and_then(|d| d.and_hms_opt(u32::from(pick % 24), u32::from(pick % 60), 0))
        .expect("valid start");
    let from = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    if let Ok(occ) = expand(&rule, start, tz, from, to) {
        if let Some(c) = rule.count() {
            assert!(occ.len() <= c as usize, "more than COUNT occurrences");
        }
    }
});
