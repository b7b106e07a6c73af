//! Expanding a rule into instants.
//!
//! The recurrence runs on wall-clock date-times (so "daily at 20:00" stays at
//! 20:00 through DST); only then is each wall-clock instance resolved to an
//! instant in the zone the patient was in.

use crate::tz::Tz;
use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
    Weekday,
};

use super::error::ScheduleError;
use super::rrule::{Frequency, RRule, Until, WeekdayNum};
use super::zone::{resolve_local_in_history, Occurrence, ZoneSpan};

/// Most occurrences one call returns; callers page through longer ranges.
pub const MAX_OCCURRENCES: usize = 100_000;
/// Most recurrence periods one call walks, a backstop for absurd windows.
const MAX_PERIODS: u64 = 5_000_000;
/// A resolved instant lies within ±16 h (offset) of its wall-clock time read
/// as UTC; two days also covers the 24 h gap Samoa had in 2011.
const MARGIN: TimeDelta = TimeDelta::days(2);

/// Every occurrence `t` with `from <= t < to`, in time order, without duplicates.
///
/// `dtstart_local` is DTSTART as wall-clock time in `tz`; it is the first
/// instance only if it matches the rule, and COUNT counts from it.
pub fn expand(
    rule: &RRule,
    dtstart_local: NaiveDateTime,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, ScheduleError> {
    let only = [ZoneSpan {
        since: DateTime::<Utc>::MIN_UTC,
        tz,
    }];
    expand_with_zone_history(rule, dtstart_local, &only, from, to)
}

/// Re-plans a series after the patient moved from `old_tz` to `new_tz` at `changed_at`.
///
/// Instances already due before the change keep their instants in `old_tz`
/// (history is not rewritten); the rest fall at the same wall-clock time in
/// `new_tz`. Each wall-clock instance appears once: flying west does not
/// repeat today's check-in, and flying east keeps one that has just passed
/// in the new zone (its instant is then before `changed_at`).
pub fn replan_after_zone_change(
    rule: &RRule,
    dtstart_local: NaiveDateTime,
    old_tz: Tz,
    new_tz: Tz,
    changed_at: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, ScheduleError> {
    let history = [
        ZoneSpan {
            since: DateTime::<Utc>::MIN_UTC,
            tz: old_tz,
        },
        ZoneSpan {
            since: changed_at,
            tz: new_tz,
        },
    ];
    expand_with_zone_history(rule, dtstart_local, &history, from, to)
}

/// Like [`expand`], for a patient who changed zones, possibly several times.
///
/// `history` is ordered by `since`; the first entry also covers all time
/// before its `since`. Each wall-clock instance is placed in the first zone
/// whose span it does not outlive, as in [`replan_after_zone_change`].
pub fn expand_with_zone_history(
    rule: &RRule,
    dtstart_local: NaiveDateTime,
    history: &[ZoneSpan],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, ScheduleError> {
    if history.is_empty() {
        return Err(ScheduleError::InvalidZoneHistory);
    }
    if history.windows(2).any(|w| w[0].since > w[1].since) {
        return Err(ScheduleError::InvalidZoneHistory);
    }
    if from >= to {
        return Ok(Vec::new());
    }
    let lower = from
        .naive_utc()
        .checked_sub_signed(MARGIN)
        .unwrap_or(NaiveDateTime::MIN);
    let mut upper = to
        .naive_utc()
        .checked_add_signed(MARGIN)
        .unwrap_or(NaiveDateTime::MAX);
    if let Some(Until::Utc(u)) = rule.until() {
        upper = upper.min(u.naive_utc().checked_add_signed(MARGIN).unwrap_or(upper));
    }

    let mut series = LocalSeries::new(rule, dtstart_local, lower);
    let mut out = Vec::new();
    while let Some(local) = series.next_instance()? {
        if local > upper {
            break;
        }
        if let Some(Until::Date(d)) = rule.until() {
            if local.date() > d {
                break;
            }
        }
        // Before the window: COUNT walks from DTSTART, and a skip lands at
        // the start of the period holding `lower`.
        if local < lower {
            continue;
        }
        let Some(occ) = resolve_local_in_history(history, local) else {
            return Err(ScheduleError::InvalidZoneHistory);
        };
        if let Some(Until::Utc(u)) = rule.until() {
            // Not a break: gap resolution can put a later wall-clock time earlier.
            if occ.utc > u {
                continue;
            }
        }
        if occ.utc >= from && occ.utc < to {
            if out.len() == MAX_OCCURRENCES {
                return Err(ScheduleError::LimitExceeded {
                    what: "occurrences",
                    limit: MAX_OCCURRENCES,
                });
            }
            out.push(occ);
        }
    }
    // Gap resolution can reorder or merge instances (02:30 and 03:30 on a
    // spring-forward day both become 03:30); stable sort keeps the earlier one.
    crate::sort::sort_by_key(&mut out, |o| o.utc);
    out.dedup_by_key(|o| o.utc);
    Ok(out)
}

/// The rule's wall-clock instances from DTSTART on, in order.
struct LocalSeries<'r> {
    rule: &'r RRule,
    dtstart: NaiveDateTime,
    /// Times of day, ascending.
    times: Vec<NaiveTime>,
    /// Weekly: start of DTSTART's week. Daily: DTSTART's date. Monthly: its 1st.
    anchor: NaiveDate,
    period: u64,
    days: Vec<NaiveDate>,
    buf: Vec<NaiveDateTime>,
    pos: usize,
    emitted: u32,
    /// Date of the window's lower bound; periods wholly before it are skipped.
    lower_date: NaiveDate,
    empty_streak: u32,
    walked: u64,
    done: bool,
}

impl<'r> LocalSeries<'r> {
    /// Starts at DTSTART, or with no COUNT to honour, at the period holding `lower`.
    #[allow(clippy::expect_used, reason = "day 1 exists in every month")]
    fn new(rule: &'r RRule, dtstart: NaiveDateTime, lower: NaiveDateTime) -> Self {
        // RFC 5545 has second precision.
        let dtstart = dtstart.with_nanosecond(0).unwrap_or(dtstart);
        let hours = match rule.by_hour() {
            [] => vec![dtstart.hour()],
            h => h.iter().map(|&h| u32::from(h)).collect(),
        };
        let minutes = match rule.by_minute() {
            [] => vec![dtstart.minute()],
            m => m.iter().map(|&m| u32::from(m)).collect(),
        };
        let times = hours
            .iter()
            .flat_map(|&h| {
                minutes
                    .iter()
                    .filter_map(move |&m| NaiveTime::from_hms_opt(h, m, dtstart.second()))
            })
            .collect();
        let d0 = dtstart.date();
        let anchor = match rule.freq() {
            Frequency::Daily => d0,
            Frequency::Weekly => {
                d0 - Days::new(u64::from(days_since(d0.weekday(), rule.week_start())))
            }
            Frequency::Monthly => d0.with_day(1).expect("day 1 exists"),
        };
        let mut s = LocalSeries {
            rule,
            dtstart,
            times,
            anchor,
            period: 0,
            days: Vec::new(),
            buf: Vec::new(),
            pos: 0,
            emitted: 0,
            lower_date: lower.date(),
            empty_streak: 0,
            walked: 0,
            done: false,
        };
        if rule.count().is_none() && lower > dtstart {
            s.period = s.period_holding(lower.date());
        }
        s
    }

    /// Index of the period that contains `date` or the last one starting before it.
    fn period_holding(&self, date: NaiveDate) -> u64 {
        let interval = i64::from(self.rule.interval());
        let k = match self.rule.freq() {
            Frequency::Daily => (date - self.anchor).num_days() / interval,
            Frequency::Weekly => (date - self.anchor).num_days() / (7 * interval),
            Frequency::Monthly => (month_index(date) - month_index(self.anchor)) / interval,
        };
        k.max(0) as u64
    }

    fn next_instance(&mut self) -> Result<Option<NaiveDateTime>, ScheduleError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(&local) = self.buf.get(self.pos) {
                self.pos += 1;
                self.emitted += 1;
                if Some(self.emitted) == self.rule.count() {
                    self.done = true;
                }
                return Ok(Some(local));
            }
            self.walked += 1;
            if self.walked > MAX_PERIODS {
                return Err(ScheduleError::LimitExceeded {
                    what: "recurrence periods",
                    limit: MAX_PERIODS as usize,
                });
            }
            if !self.fill_days() {
                self.done = true;
                continue;
            }
            self.period += 1;
            if self.days.is_empty() {
                self.empty_streak += 1;
                // The Gregorian calendar repeats every 400 years, so a rule
                // that is empty for that many periods in a row never fires again.
                if self.empty_streak >= self.cycle() {
                    self.done = true;
                }
            } else {
                self.empty_streak = 0;
            }
            self.buf.clear();
            self.pos = 0;
            // Whole periods before the window are only counted toward COUNT
            // (not the first: it may hold times before DTSTART).
            if let (Some(count), Some(&last)) = (self.rule.count(), self.days.last()) {
                if last < self.lower_date && self.period > 1 {
                    let n = (self.days.len() * self.times.len()) as u64;
                    if u64::from(self.emitted) + n < u64::from(count) {
                        self.emitted += n as u32;
                        continue;
                    }
                }
            }
            for &day in &self.days {
                for &t in &self.times {
                    let local = day.and_time(t);
                    if local >= self.dtstart {
                        self.buf.push(local);
                    }
                }
            }
        }
    }

    /// Periods in 400 years.
    fn cycle(&self) -> u32 {
        match self.rule.freq() {
            Frequency::Daily => 146_097,
            Frequency::Weekly => 20_871,
            Frequency::Monthly => 4_800,
        }
    }

    /// Fills `days` with the current period's matching dates, ascending.
    /// Returns false once the period lies beyond chrono's date range.
    #[allow(
        clippy::expect_used,
        reason = "days are bounded by the month's length just above"
    )]
    fn fill_days(&mut self) -> bool {
        self.days.clear();
        let rule = self.rule;
        let Some(step) = self.period.checked_mul(u64::from(rule.interval())) else {
            return false;
        };
        match rule.freq() {
            Frequency::Daily => {
                let Some(day) = self.anchor.checked_add_days(Days::new(step)) else {
                    return false;
                };
                let ok_md = rule.by_month_day().is_empty()
                    || rule
                        .by_month_day()
                        .iter()
                        .any(|&md| month_day_matches(day, md));
                let ok_wd = rule.by_day().is_empty()
                    || rule.by_day().iter().any(|d| d.weekday == day.weekday());
                if ok_md && ok_wd {
                    self.days.push(day);
                }
            }
            Frequency::Weekly => {
                let Some(start) = step
                    .checked_mul(7)
                    .and_then(|n| self.anchor.checked_add_days(Days::new(n)))
                else {
                    return false;
                };
                let mut offsets: Vec<u32> = match rule.by_day() {
                    [] => vec![days_since(self.dtstart.weekday(), rule.week_start())],
                    by => by
                        .iter()
                        .map(|d| days_since(d.weekday, rule.week_start()))
                        .collect(),
                };
                offsets.sort_unstable();
                offsets.dedup();
                for off in offsets {
                    match start.checked_add_days(Days::new(u64::from(off))) {
                        Some(day) => self.days.push(day),
                        None => return false,
                    }
                }
            }
            Frequency::Monthly => {
                let Some(first) = i64::try_from(step)
                    .ok()
                    .and_then(|s| s.checked_add(month_index(self.anchor)))
                    .and_then(month_start)
                else {
                    return false;
                };
                let dim = days_in_month(first);
                let by_day = rule.by_day();
                if !rule.by_month_day().is_empty() {
                    for &md in rule.by_month_day() {
                        let d = if md > 0 {
                            i32::from(md)
                        } else {
                            dim as i32 + 1 + i32::from(md)
                        };
                        if (1..=dim as i32).contains(&d) {
                            let day = first.with_day(d as u32).expect("day within month");
                            if by_day.is_empty()
                                || by_day.iter().any(|w| weekday_num_matches(day, *w))
                            {
                                self.days.push(day);
                            }
                        }
                    }
                    self.days.sort_unstable();
                    self.days.dedup();
                } else if !by_day.is_empty() {
                    for d in 1..=dim {
                        let day = first.with_day(d).expect("day within month");
                        if by_day.iter().any(|w| weekday_num_matches(day, *w)) {
                            self.days.push(day);
                        }
                    }
                } else if let Some(day) = first.with_day(self.dtstart.day()) {
                    // Months without DTSTART's day (e.g. the 31st) are skipped.
                    self.days.push(day);
                }
            }
        }
        true
    }
}

/// Days from `start` forward to `day` within a week (0..=6).
fn days_since(day: Weekday, start: Weekday) -> u32 {
    (day.num_days_from_monday() + 7 - start.num_days_from_monday()) % 7
}

fn month_index(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

fn month_start(index: i64) -> Option<NaiveDate> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    NaiveDate::from_ymd_opt(year, index.rem_euclid(12) as u32 + 1, 1)
}

fn days_in_month(first: NaiveDate) -> u32 {
    match first.checked_add_months(chrono::Months::new(1)) {
        Some(next) => (next - first).num_days() as u32,
        // Only December of chrono's last year lands here.
        None => 31,
    }
}

#[allow(clippy::expect_used, reason = "day 1 exists in every month")]
fn month_day_matches(day: NaiveDate, md: i8) -> bool {
    let first = day.with_day(1).expect("day 1 exists");
    let dim = days_in_month(first) as i32;
    let want = if md > 0 {
        i32::from(md)
    } else {
        dim + 1 + i32::from(md)
    };
    day.day() as i32 == want
}

#[allow(clippy::expect_used, reason = "day 1 exists in every month")]
fn weekday_num_matches(day: NaiveDate, w: WeekdayNum) -> bool {
    if day.weekday() != w.weekday {
        return false;
    }
    match w.ordinal {
        None => true,
        Some(n) if n > 0 => (day.day() as i32 - 1) / 7 + 1 == i32::from(n),
        Some(n) => {
            let dim = days_in_month(day.with_day(1).expect("day 1 exists")) as i32;
            (dim - day.day() as i32) / 7 + 1 == -i32::from(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    fn instances(rule: &str, start: &str, n: usize) -> Vec<String> {
        let rule: RRule = rule.parse().unwrap();
        let mut s = LocalSeries::new(&rule, local(start), NaiveDateTime::MIN);
        std::iter::from_fn(|| s.next_instance().unwrap())
            .take(n)
            .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
            .collect()
    }

    #[test]
    fn weekly_honours_week_start_with_interval() {
        // RFC 5545's WKST example: the week start changes which days pair up.
        let mo = instances(
            "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
            "1997-08-05T09:00",
            9,
        );
        assert_eq!(
            mo,
            [
                "1997-08-05 09:00",
                "1997-08-10 09:00",
                "1997-08-19 09:00",
                "1997-08-24 09:00"
            ]
        );
        let su = instances(
            "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
            "1997-08-05T09:00",
            9,
        );
        assert_eq!(
            su,
            [
                "1997-08-05 09:00",
                "1997-08-17 09:00",
                "1997-08-19 09:00",
                "1997-08-31 09:00"
            ]
        );
    }

    #[test]
    fn never_matching_rule_ends() {
        // Every 7th day from a Monday is never a Tuesday.
        assert!(instances("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "2026-01-05T09:00", 1).is_empty());
        // The fifth Monday is never the 1st.
        assert!(instances("FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1", "2026-01-05T09:00", 1).is_empty());
    }

    #[test]
    fn nth_weekday_from_either_end() {
        let got = instances("FREQ=MONTHLY;BYDAY=1MO,-1FR", "2026-01-01T09:00", 4);
        assert_eq!(
            got,
            [
                "2026-01-05 09:00",
                "2026-01-30 09:00",
                "2026-02-02 09:00",
                "2026-02-27 09:00"
            ]
        );
    }
}
