//! Wall-clock time in a named IANA zone, resolved to an instant.
//!
//! Schedules are stored as wall-clock times plus a zone name, never as fixed
//! offsets, so that DST and travel move reminders the way the patient expects.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::error::ScheduleError;

/// One scheduled instant, with the wall-clock time the patient sees then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Occurrence {
    pub utc: DateTime<Utc>,
    /// Wall-clock time actually observed: differs from the rule's time only
    /// when that time fell into a DST gap.
    pub local: NaiveDateTime,
    /// UTC offset in force at `utc`.
    pub offset: FixedOffset,
}

/// Parses an IANA zone name (case-sensitive, e.g. `Europe/Berlin`).
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(name).map_err(|_| ScheduleError::UnknownZone(name.chars().take(64).collect()))
}

/// Resolves a wall-clock time in `tz` per RFC 5545 §3.3.5: a time skipped by a
/// DST gap takes the offset in force before the gap (so it lands later by the
/// gap length); a time repeated by a fold takes its first, earlier instant.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Occurrence {
    let offset = match tz.offset_from_local_datetime(&local) {
        LocalResult::Single(o) => o.fix(),
        // The earlier instant is the one with the larger offset.
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.fix(), b.fix());
            if a.local_minus_utc() >= b.local_minus_utc() {
                a
            } else {
                b
            }
        }
        LocalResult::None => {
            let before = offset_before_gap(tz, local).unwrap_or_else(|| offset_at(tz, local));
            let utc = local - TimeDelta::seconds(i64::from(before.local_minus_utc()));
            let after = offset_at(tz, utc);
            return Occurrence {
                utc: utc.and_utc(),
                local: utc + TimeDelta::seconds(i64::from(after.local_minus_utc())),
                offset: after,
            };
        }
    };
    Occurrence {
        utc: (local - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc(),
        local,
        offset,
    }
}

/// Offset in force at a UTC instant (given as naive UTC).
pub(crate) fn offset_at(tz: Tz, utc: NaiveDateTime) -> FixedOffset {
    tz.offset_from_utc_datetime(&utc).fix()
}

/// Finds the transition that skipped `local` and returns the offset before it.
///
/// Bisects on UTC for where the wall clock jumps over `local`: below the jump
/// the wall clock is earlier than `local`, above it later. Offsets in the tz
/// database stay within ±16 h, so ±18 h brackets the jump.
fn offset_before_gap(tz: Tz, local: NaiveDateTime) -> Option<FixedOffset> {
    let wall =
        |u: NaiveDateTime| u + TimeDelta::seconds(i64::from(offset_at(tz, u).local_minus_utc()));
    let bracket = TimeDelta::hours(18);
    let mut lo = local.checked_sub_signed(bracket)?;
    let mut hi = local.checked_add_signed(bracket)?;
    if wall(lo) >= local || wall(hi) <= local {
        return None;
    }
    while hi - lo > TimeDelta::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if wall(mid) < local {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(offset_at(tz, lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn samoa_skipped_a_whole_day() {
        // 2011-12-30 never happened in Apia: the day jumped from -10 to +14.
        let tz: Tz = "Pacific/Apia".parse().unwrap();
        let o = resolve_local(tz, at("2011-12-30T12:00"));
        assert_eq!(o.utc.to_rfc3339(), "2011-12-30T22:00:00+00:00");
        assert_eq!(o.local, at("2011-12-31T12:00"));
        assert_eq!(o.offset.local_minus_utc(), 14 * 3600);
    }
}
