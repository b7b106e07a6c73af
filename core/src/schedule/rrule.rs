//! The RFC 5545 RRULE subset that programs may use.
//!
//! Parsing is strict: anything outside the subset is rejected with the part
//! named, because a silently ignored part would schedule a patient wrongly.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::error::ScheduleError;

/// Largest INTERVAL accepted; far beyond any treatment programme, and it keeps
/// date arithmetic well inside chrono's range.
pub const MAX_INTERVAL: u32 = 1000;
/// Largest COUNT accepted; COUNT is walked from DTSTART, so it bounds that walk.
pub const MAX_COUNT: u32 = 100_000;

/// How often the rule repeats. YEARLY and finer than daily are out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        }
    }
}

/// A BYDAY entry: a weekday, optionally the n-th (or n-th from last) in the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeekdayNum {
    /// `Some(1)` is the first, `Some(-1)` the last such weekday of the month.
    pub ordinal: Option<i8>,
    pub weekday: Weekday,
}

impl fmt::Display for WeekdayNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.ordinal {
            write!(f, "{n}")?;
        }
        f.write_str(weekday_code(self.weekday))
    }
}

/// The inclusive end of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Until {
    /// Through the end of this local (wall-clock) date.
    Date(NaiveDate),
    /// Through this instant.
    Utc(DateTime<Utc>),
}

/// A validated recurrence rule. Build it by parsing RRULE text.
///
/// Serialised as its canonical RRULE text so stored programs stay readable
/// and diffable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RRule {
    freq: Frequency,
    interval: u32,
    by_day: Vec<WeekdayNum>,
    by_month_day: Vec<i8>,
    by_hour: Vec<u8>,
    by_minute: Vec<u8>,
    count: Option<u32>,
    until: Option<Until>,
    week_start: Weekday,
}

impl RRule {
    pub fn freq(&self) -> Frequency {
        self.freq
    }
    pub fn interval(&self) -> u32 {
        self.interval
    }
    /// Sorted by weekday (from Monday), then ordinal.
    pub fn by_day(&self) -> &[WeekdayNum] {
        &self.by_day
    }
    /// Sorted ascending; negative values count from the month's end.
    pub fn by_month_day(&self) -> &[i8] {
        &self.by_month_day
    }
    pub fn by_hour(&self) -> &[u8] {
        &self.by_hour
    }
    pub fn by_minute(&self) -> &[u8] {
        &self.by_minute
    }
    pub fn count(&self) -> Option<u32> {
        self.count
    }
    pub fn until(&self) -> Option<Until> {
        self.until
    }
    /// WKST; Monday when the rule does not say.
    pub fn week_start(&self) -> Weekday {
        self.week_start
    }
}

impl fmt::Display for RRule {
    /// Canonical order: FREQ, INTERVAL, COUNT/UNTIL, BYMONTHDAY, BYDAY,
    /// BYHOUR, BYMINUTE, WKST; defaults (INTERVAL=1, WKST=MO) are omitted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq.as_str())?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if let Some(c) = self.count {
            write!(f, ";COUNT={c}")?;
        }
        match self.until {
            Some(Until::Date(d)) => write!(f, ";UNTIL={}", d.format("%Y%m%d"))?,
            Some(Until::Utc(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"))?,
            None => {}
        }
        write_list(f, "BYMONTHDAY", &self.by_month_day)?;
        write_list(f, "BYDAY", &self.by_day)?;
        write_list(f, "BYHOUR", &self.by_hour)?;
        write_list(f, "BYMINUTE", &self.by_minute)?;
        if self.week_start != Weekday::Mon {
            write!(f, ";WKST={}", weekday_code(self.week_start))?;
        }
        Ok(())
    }
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, name: &str, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i == 0 {
            write!(f, ";{name}={item}")?;
        } else {
            write!(f, ",{item}")?;
        }
    }
    Ok(())
}

impl FromStr for RRule {
    type Err = ScheduleError;

    /// Accepts an optional `RRULE:` prefix; names and values are
    /// case-insensitive as RFC 5545 requires.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let body = upper.strip_prefix("RRULE:").unwrap_or(&upper);
        // A trailing ';' is common in generated rules and harmless.
        let body = body.strip_suffix(';').unwrap_or(body);
        if body.is_empty() {
            return Err(ScheduleError::rule("FREQ", "required"));
        }

        let mut freq = None;
        let mut interval = None;
        let mut by_day: Option<Vec<WeekdayNum>> = None;
        let mut by_month_day: Option<Vec<i8>> = None;
        let mut by_hour: Option<Vec<u8>> = None;
        let mut by_minute: Option<Vec<u8>> = None;
        let mut count = None;
        let mut until = None;
        let mut week_start = None;

        for part in body.split(';') {
            let Some((name, value)) = part.split_once('=') else {
                let name = if part.is_empty() { "RRULE" } else { part };
                return Err(ScheduleError::rule(
                    clip(name),
                    "expected NAME=VALUE separated by ';'",
                ));
            };
            if value.is_empty() {
                return Err(ScheduleError::rule(clip(name), "empty value"));
            }
            let duplicate = match name {
                "FREQ" => freq.replace(parse_freq(value)?).is_some(),
                "INTERVAL" => interval
                    .replace(parse_int(name, value, 1, MAX_INTERVAL as i64)? as u32)
                    .is_some(),
                "COUNT" => count
                    .replace(parse_int(name, value, 1, MAX_COUNT as i64)? as u32)
                    .is_some(),
                "UNTIL" => until.replace(parse_until(value)?).is_some(),
                "BYDAY" => by_day
                    .replace(parse_list(name, value, parse_weekday_num)?)
                    .is_some(),
                "BYMONTHDAY" => by_month_day
                    .replace(parse_list(name, value, parse_month_day)?)
                    .is_some(),
                "BYHOUR" => by_hour
                    .replace(parse_list(name, value, |v| {
                        parse_int("BYHOUR", v, 0, 23).map(|n| n as u8)
                    })?)
                    .is_some(),
                "BYMINUTE" => by_minute
                    .replace(parse_list(name, value, |v| {
                        parse_int("BYMINUTE", v, 0, 59).map(|n| n as u8)
                    })?)
                    .is_some(),
                "WKST" => week_start.replace(parse_weekday("WKST", value)?).is_some(),
                "BYSECOND" | "BYWEEKNO" | "BYYEARDAY" | "BYMONTH" | "BYSETPOS" => {
                    return Err(ScheduleError::rule(name, "not supported"));
                }
                _ => return Err(ScheduleError::rule(clip(name), "unknown rule part")),
            };
            if duplicate {
                return Err(ScheduleError::rule(name, "given more than once"));
            }
        }

        let freq = freq.ok_or_else(|| ScheduleError::rule("FREQ", "required"))?;
        if count.is_some() && until.is_some() {
            return Err(ScheduleError::rule(
                "COUNT",
                "cannot be combined with UNTIL",
            ));
        }
        if freq == Frequency::Weekly && by_month_day.is_some() {
            return Err(ScheduleError::rule(
                "BYMONTHDAY",
                "not allowed with FREQ=WEEKLY",
            ));
        }
        let mut by_day = by_day.unwrap_or_default();
        if freq != Frequency::Monthly {
            if let Some(d) = by_day.iter().find(|d| d.ordinal.is_some()) {
                return Err(ScheduleError::rule(
                    "BYDAY",
                    format!("{d} has an ordinal, only allowed with FREQ=MONTHLY"),
                ));
            }
        }
        crate::sort::sort_by_key(&mut by_day, |d| {
            (d.weekday.num_days_from_monday(), d.ordinal)
        });
        by_day.dedup();

        Ok(RRule {
            freq,
            interval: interval.unwrap_or(1),
            by_day,
            by_month_day: sorted(by_month_day),
            by_hour: sorted(by_hour),
            by_minute: sorted(by_minute),
            count,
            until,
            week_start: week_start.unwrap_or(Weekday::Mon),
        })
    }
}

impl TryFrom<String> for RRule {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RRule> for String {
    fn from(r: RRule) -> String {
        r.to_string()
    }
}

fn sorted<T: Ord>(v: Option<Vec<T>>) -> Vec<T> {
    let mut v = v.unwrap_or_default();
    crate::sort::sort(&mut v);
    v.dedup();
    v
}

/// Keeps error messages short when a part name is garbage.
fn clip(name: &str) -> String {
    name.chars().take(32).collect()
}

fn parse_freq(v: &str) -> Result<Frequency, ScheduleError> {
    match v {
        "DAILY" => Ok(Frequency::Daily),
        "WEEKLY" => Ok(Frequency::Weekly),
        "MONTHLY" => Ok(Frequency::Monthly),
        "YEARLY" | "HOURLY" | "MINUTELY" | "SECONDLY" => Err(ScheduleError::rule(
            "FREQ",
            format!("{v} is not supported (DAILY, WEEKLY or MONTHLY)"),
        )),
        _ => Err(ScheduleError::rule(
            "FREQ",
            format!("{:?} is not a frequency", clip(v)),
        )),
    }
}

fn parse_int(part: &str, v: &str, min: i64, max: i64) -> Result<i64, ScheduleError> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScheduleError::rule(
            part,
            format!("{:?} is not a number", clip(v)),
        ));
    }
    let n: i64 = v.parse().unwrap_or(i64::MAX);
    if n < min || n > max {
        let range = if min < 0 {
            format!("{min}..=-1 or 1..={max}")
        } else {
            format!("{min}..={max}")
        };
        return Err(ScheduleError::rule(
            part,
            format!("{} is out of range {range}", clip(v)),
        ));
    }
    Ok(n)
}

fn parse_list<T>(
    part: &str,
    v: &str,
    item: impl Fn(&str) -> Result<T, ScheduleError>,
) -> Result<Vec<T>, ScheduleError> {
    v.split(',')
        .map(|x| {
            if x.is_empty() {
                Err(ScheduleError::rule(part, "empty list item"))
            } else {
                item(x)
            }
        })
        .collect()
}

fn parse_month_day(v: &str) -> Result<i8, ScheduleError> {
    let n = parse_int("BYMONTHDAY", v, -31, 31)?;
    if n == 0 {
        return Err(ScheduleError::rule(
            "BYMONTHDAY",
            "0 is out of range -31..=-1 or 1..=31",
        ));
    }
    Ok(n as i8)
}

fn parse_weekday_num(v: &str) -> Result<WeekdayNum, ScheduleError> {
    let split = v.len().saturating_sub(2);
    let (num, day) = v.split_at(if v.is_char_boundary(split) { split } else { 0 });
    let weekday = parse_weekday("BYDAY", day)?;
    let ordinal = if num.is_empty() {
        None
    } else {
        match parse_int("BYDAY", num, -5, 5) {
            Ok(n) if n != 0 => Some(n as i8),
            _ => {
                return Err(ScheduleError::rule(
                    "BYDAY",
                    format!("ordinal in {} is out of range -5..=-1 or 1..=5", clip(v)),
                ))
            }
        }
    };
    Ok(WeekdayNum { ordinal, weekday })
}

pub(crate) fn parse_weekday(part: &str, v: &str) -> Result<Weekday, ScheduleError> {
    Ok(match v {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => {
            return Err(ScheduleError::rule(
                part,
                format!("{:?} is not a weekday (MO..SU)", clip(v)),
            ))
        }
    })
}

fn weekday_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn parse_until(v: &str) -> Result<Until, ScheduleError> {
    let bad = || {
        ScheduleError::rule(
            "UNTIL",
            format!(
                "{:?} is not a date (YYYYMMDD) or UTC date-time (YYYYMMDDTHHMMSSZ)",
                clip(v)
            ),
        )
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date_part = v.get(..8).filter(|d| digits(d)).ok_or_else(bad)?;
    let date = NaiveDate::parse_from_str(date_part, "%Y%m%d").map_err(|_| bad())?;
    match &v[8..] {
        "" => Ok(Until::Date(date)),
        rest => {
            let hms = rest
                .strip_prefix('T')
                .and_then(|r| r.strip_suffix('Z'))
                .filter(|t| t.len() == 6 && digits(t));
            let Some(hms) = hms else {
                if rest.len() == 7 && rest.starts_with('T') {
                    // Floating or TZID-local UNTIL is ambiguous across zone changes.
                    return Err(ScheduleError::rule(
                        "UNTIL",
                        "a date-time must be in UTC (end with Z)",
                    ));
                }
                return Err(bad());
            };
            let time = NaiveTime::parse_from_str(hms, "%H%M%S").map_err(|_| bad())?;
            Ok(Until::Utc(NaiveDateTime::new(date, time).and_utc()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_sorts_dedups_and_drops_defaults() {
        let r: RRule = "rrule:byday=fr,mo,mo;freq=weekly;interval=1;wkst=mo;byhour=20,8"
            .parse()
            .unwrap();
        assert_eq!(r.to_string(), "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=8,20");
    }

    #[test]
    fn ordinals_and_signs() {
        let r: RRule = "FREQ=MONTHLY;BYDAY=+1MO,-1FR;BYMONTHDAY=+3,-1"
            .parse()
            .unwrap();
        assert_eq!(r.to_string(), "FREQ=MONTHLY;BYMONTHDAY=-1,3;BYDAY=1MO,-1FR");
        let err = "FREQ=DAILY;BYHOUR=-1".parse::<RRule>().unwrap_err();
        assert_eq!(err.to_string(), "BYHOUR: -1 is out of range 0..=23");
    }
}
