//! The therapist's availability hours, the patient's expected reply window
//! and when the therapist is notified (ADR 0005 §8). Evaluated in the
//! therapist's IANA zone with the schedule engine's gap/fold rules.

use crate::schedule::Tz;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schedule::{parse_zone, resolve_local};

/// One weekly window, e.g. Monday to Friday 09:00–17:00 local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    /// Two-letter RFC 5545 day names: MO TU WE TH FR SA SU.
    pub days: Vec<String>,
    /// `HH:MM`, local.
    pub start: String,
    /// `HH:MM`, local; must be after `start` (no windows over midnight).
    pub end: String,
}

/// Days off, inclusive local dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Away {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// What to do with a safety alert that arrives outside hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertsOutsideHours {
    /// Notify at the next window start (the patient is told when).
    #[default]
    Defer,
    /// Notify at once.
    Notify,
}

/// Channel settings, owned by the therapist and synced to the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub tz: String,
    pub hours: Vec<Hours>,
    pub reply_within_hours: u32,
    #[serde(default)]
    pub away: Vec<Away>,
    #[serde(default)]
    pub alerts_outside_hours: AlertsOutsideHours,
}

impl Default for Availability {
    fn default() -> Self {
        Availability {
            tz: "UTC".into(),
            hours: vec![Hours {
                days: ["MO", "TU", "WE", "TH", "FR"].map(String::from).to_vec(),
                start: "09:00".into(),
                end: "17:00".into(),
            }],
            reply_within_hours: 16,
            away: Vec::new(),
            alerts_outside_hours: AlertsOutsideHours::Defer,
        }
    }
}

/// How far ahead to look for a window before giving up (a year of `away`).
const HORIZON_DAYS: i64 = 400;

fn weekday(code: &str) -> Option<Weekday> {
    crate::schedule::parse_weekday("days", code).ok()
}

fn time(field: &str, s: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| Error::invalid(field, "must be HH:MM (24-hour)"))
}

impl Availability {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<Tz> {
        let tz = parse_zone(&self.tz).map_err(|_| Error::invalid("tz", "unknown IANA zone"))?;
        if self.hours.is_empty() {
            return Err(Error::invalid("hours", "needs at least one window"));
        }
        for (i, h) in self.hours.iter().enumerate() {
            if h.days.is_empty() || h.days.iter().any(|d| weekday(d).is_none()) {
                return Err(Error::invalid(
                    format!("hours[{i}].days"),
                    "must list MO, TU, WE, TH, FR, SA or SU",
                ));
            }
            let (s, e) = (
                time(&format!("hours[{i}].start"), &h.start)?,
                time(&format!("hours[{i}].end"), &h.end)?,
            );
            if e <= s {
                return Err(Error::invalid(
                    format!("hours[{i}].end"),
                    "must be after start",
                ));
            }
        }
        if self.reply_within_hours == 0 || self.reply_within_hours > 24 * 30 {
            return Err(Error::invalid("reply_within_hours", "must be 1 to 720"));
        }
        for (i, a) in self.away.iter().enumerate() {
            if a.until < a.from {
                return Err(Error::invalid(format!("away[{i}].until"), "is before from"));
            }
        }
        Ok(tz)
    }

    fn is_away(&self, d: NaiveDate) -> bool {
        self.away.iter().any(|a| a.from <= d && d <= a.until)
    }

    /// The availability windows as UTC intervals, in order, starting with
    /// the local day before `from` (so a window open at `from` is included).
    fn windows(&self, from: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        let tz = self.validate()?;
        let first = from.with_timezone(&tz).date_naive() - Duration::days(1);
        let mut out = Vec::new();
        for n in 0..HORIZON_DAYS {
            out.extend(self.windows_on(tz, first + Duration::days(n)));
        }
        crate::sort::sort(&mut out);
        Ok(out)
    }

    /// The windows of one local `day` in `tz`, as UTC intervals in order:
    /// none on an away day; local times placed like schedules (a start in a
    /// DST gap moves forward, a fold takes the first occurrence). Hours that
    /// do not parse are skipped; `validate` names them.
    pub fn windows_on(&self, tz: Tz, day: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.is_away(day) {
            return Vec::new();
        }
        let mut out: Vec<_> = self
            .hours
            .iter()
            .filter(|h| h.days.iter().any(|d| weekday(d) == Some(day.weekday())))
            .filter_map(|h| {
                let s = resolve_local(tz, day.and_time(time("start", &h.start).ok()?)).utc;
                let e = resolve_local(tz, day.and_time(time("end", &h.end).ok()?)).utc;
                (e > s).then_some((s, e))
            })
            .collect();
        crate::sort::sort(&mut out);
        out
    }

    /// Whether the therapist is within hours at `at`.
    pub fn is_available(&self, at: DateTime<Utc>) -> Result<bool> {
        Ok(self.windows(at)?.iter().any(|(s, e)| *s <= at && at < *e))
    }

    /// `at` itself when within hours, else the next window start; `None`
    /// when no window exists within the horizon (away for over a year).
    pub fn next_available(&self, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        for (s, e) in self.windows(at)? {
            if at < e {
                return Ok(Some(s.max(at)));
            }
        }
        Ok(None)
    }

    /// The starts of the windows that begin after `after` and no later than
    /// `until`, in order (overlapping windows give each start once).
    pub fn window_starts(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let mut out: Vec<DateTime<Utc>> = self
            .windows(after)?
            .into_iter()
            .map(|(s, _)| s)
            .filter(|s| *s > after && *s <= until)
            .collect();
        out.dedup();
        Ok(out)
    }

    /// When `reply_within_hours` of available time have elapsed after `sent_at`.
    pub fn expected_reply_by(&self, sent_at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let mut left = Duration::hours(i64::from(self.reply_within_hours));
        for (s, e) in self.windows(sent_at)? {
            if e <= sent_at {
                continue;
            }
            let start = s.max(sent_at);
            let span = e - start;
            if span >= left {
                return Ok(Some(start + left));
            }
            left -= span;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn berlin() -> Availability {
        Availability {
            tz: "Europe/Berlin".into(),
            reply_within_hours: 16,
            ..Availability::default()
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn within_and_outside_hours() {
        let a = berlin();
        // Wed 2026-11-25 10:00 Berlin (UTC+1) = 09:00 UTC.
        assert!(a.is_available(utc(2026, 11, 25, 9, 0)).unwrap());
        assert!(!a.is_available(utc(2026, 11, 25, 16, 0)).unwrap()); // 17:00 local
                                                                     // Friday 18:00 local → Monday 09:00 local = 08:00 UTC.
        assert_eq!(
            a.next_available(utc(2026, 11, 27, 17, 0)).unwrap(),
            Some(utc(2026, 11, 30, 8, 0))
        );
    }

    #[test]
    fn reply_window_counts_only_available_hours() {
        let a = berlin();
        // Sent Thu 16:00 local (15:00 UTC): 1 h Thu, 8 h Fri, 7 h Mon → Mon 16:00 local.
        assert_eq!(
            a.expected_reply_by(utc(2026, 11, 26, 15, 0)).unwrap(),
            Some(utc(2026, 11, 30, 15, 0))
        );
    }

    #[test]
    fn dst_change_keeps_local_hours() {
        let a = berlin();
        // Sunday 2026-03-29 Berlin springs forward; Monday 09:00 is now UTC+2 → 07:00 UTC.
        assert_eq!(
            a.next_available(utc(2026, 3, 28, 12, 0)).unwrap(),
            Some(utc(2026, 3, 30, 7, 0))
        );
        let ny = Availability {
            tz: "America/New_York".into(),
            ..berlin()
        };
        // New York falls back on 2026-11-01; Monday 09:00 EST = 14:00 UTC.
        assert_eq!(
            ny.next_available(utc(2026, 10, 31, 12, 0)).unwrap(),
            Some(utc(2026, 11, 2, 14, 0))
        );
    }

    #[test]
    fn away_days_are_skipped_and_bad_settings_are_named() {
        let mut a = berlin();
        a.away.push(Away {
            from: NaiveDate::from_ymd_opt(2026, 12, 23).unwrap(),
            until: NaiveDate::from_ymd_opt(2027, 1, 2).unwrap(),
        });
        // Tue 2026-12-22 18:00 local → next is Mon 2027-01-04 09:00 local.
        assert_eq!(
            a.next_available(utc(2026, 12, 22, 17, 0)).unwrap(),
            Some(utc(2027, 1, 4, 8, 0))
        );
        let mut bad = berlin();
        bad.hours[0].end = "08:00".into();
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("hours[0].end"), "{e}");
        bad = berlin();
        bad.tz = "Mars/Olympus".into();
        assert!(bad.validate().unwrap_err().to_string().contains("tz"));
    }
}
