//! Wall-clock time in a named IANA zone, resolved to an instant.
//!
//! Schedules are stored as wall-clock times plus a zone name, never as fixed
//! offsets, so that DST and travel move reminders the way the patient expects.

use std::str::FromStr;

use crate::tz::Tz;
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};

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

/// The zone a patient was in from `since` until the next entry of a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneSpan {
    pub since: DateTime<Utc>,
    pub tz: Tz,
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

/// Resolves a wall-clock time against a zone history, ordered by `since`
/// (the first entry also covers all time before its `since`): placed with
/// [`resolve_local`] in the first zone, then in each later zone whose span
/// starts at or before the instant the current zone gives. So a time keeps
/// the zone the patient was in when it fell, and after a move falls at the
/// same wall-clock time in the new zone. `None` only for an empty history.
pub fn resolve_local_in_history(history: &[ZoneSpan], local: NaiveDateTime) -> Option<Occurrence> {
    let (first, later) = history.split_first()?;
    let mut occ = resolve_local(first.tz, local);
    for span in later {
        if occ.utc < span.since {
            break;
        }
        occ = resolve_local(span.tz, local);
    }
    Some(occ)
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

    #[test]
    fn history_places_each_time_in_the_zone_of_its_day() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(resolve_local_in_history(&[], at("2026-03-01T20:00")), None);
        let moved = at("2026-03-10T12:00").and_utc();
        let history = [
            ZoneSpan {
                since: DateTime::<Utc>::MIN_UTC,
                tz: berlin,
            },
            ZoneSpan {
                since: moved,
                tz: new_york,
            },
        ];
        // Before the move: Berlin (UTC+1 in winter).
        let before = resolve_local_in_history(&history, at("2026-03-09T20:00")).unwrap();
        assert_eq!(before.utc.to_rfc3339(), "2026-03-09T19:00:00+00:00");
        // After it: the same wall-clock time in New York (UTC-4 from 8 March).
        let after = resolve_local_in_history(&history, at("2026-03-11T20:00")).unwrap();
        assert_eq!(after.utc.to_rfc3339(), "2026-03-12T00:00:00+00:00");
        assert_eq!(after.local, at("2026-03-11T20:00"));
    }

    #[test]
    fn gap_moves_forward_and_fold_takes_the_first() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 02:30 on 29 March 2026 does not exist: it becomes 03:30 CEST.
        let gap = resolve_local(berlin, at("2026-03-29T02:30"));
        assert_eq!(gap.utc.to_rfc3339(), "2026-03-29T01:30:00+00:00");
        assert_eq!(gap.local, at("2026-03-29T03:30"));
        // 02:30 on 25 October 2026 happens twice: the first is still CEST.
        let fold = resolve_local(berlin, at("2026-10-25T02:30"));
        assert_eq!(fold.utc.to_rfc3339(), "2026-10-25T00:30:00+00:00");
        assert_eq!(fold.offset.local_minus_utc(), 2 * 3600);
    }
}
