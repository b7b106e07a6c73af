//! The patient's own reminder preferences and the effective policy they
//! produce together with the program's.
//!
//! The rule: a patient can make reminders quieter than the program asks,
//! never noisier. Their quiet hours add to the program's, their daily limit
//! can only lower the program's, and "off" silences everything. A preferred
//! check-in time only moves a check-in's reminder inside that check-in's own
//! window (never before it opens, never at or after it closes).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::program::{Backoff, QuietHours, ReminderPolicy, TimeOfDay};
use crate::store::Record;

/// What the patient chose in settings. Stored encrypted under
/// [`ReminderPreferences::ID`]; absent means "as the program says".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderPreferences {
    /// `false` plans no reminders at all.
    pub enabled: bool,
    /// Local times in the patient's current zone; `start > end` spans
    /// midnight. Added to the program's quiet hours, never replacing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// Preferred local time for check-in reminders, kept inside each
    /// check-in's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_time: Option<TimeOfDay>,
    /// At most the program's `max_per_day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
}

impl Default for ReminderPreferences {
    fn default() -> Self {
        ReminderPreferences {
            enabled: true,
            quiet_hours: None,
            checkin_time: None,
            max_per_day: None,
        }
    }
}

impl ReminderPreferences {
    pub const ID: &'static str = "current";

    /// Builds preferences from the apps' text fields (`HH:MM` times); the
    /// error names the field. Quiet hours need both ends or neither.
    pub fn from_text(
        enabled: bool,
        quiet_start: Option<&str>,
        quiet_end: Option<&str>,
        checkin_time: Option<&str>,
        max_per_day: Option<u32>,
    ) -> Result<Self> {
        let time = |field: &str, s: Option<&str>| -> Result<Option<TimeOfDay>> {
            s.map(|s| {
                s.parse::<TimeOfDay>()
                    .map_err(|_| Error::invalid(field, "must be a time of day HH:MM"))
            })
            .transpose()
        };
        let start = time("quiet_hours.start", quiet_start)?;
        let end = time("quiet_hours.end", quiet_end)?;
        let quiet_hours = match (start, end) {
            (Some(start), Some(end)) => Some(QuietHours { start, end }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::invalid("quiet_hours.end", "is needed with a start"))
            }
            (None, Some(_)) => {
                return Err(Error::invalid("quiet_hours.start", "is needed with an end"))
            }
        };
        Ok(ReminderPreferences {
            enabled,
            quiet_hours,
            checkin_time: time("checkin_time", checkin_time)?,
            max_per_day,
        })
    }

    /// Checks the preferences against the program's policy; the error names
    /// the field.
    pub fn validate(&self, program: &ReminderPolicy) -> Result<()> {
        if let Some(q) = self.quiet_hours {
            if q.start == q.end {
                return Err(Error::invalid(
                    "quiet_hours.end",
                    "must differ from the start (turn reminders off to silence them all day)",
                ));
            }
        }
        if let Some(n) = self.max_per_day {
            if n == 0 {
                return Err(Error::invalid(
                    "max_per_day",
                    "must be at least 1 (turn reminders off instead)",
                ));
            }
            if n > program.max_per_day {
                return Err(Error::invalid(
                    "max_per_day",
                    format!(
                        "may not exceed the program's limit of {}",
                        program.max_per_day
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Record for ReminderPreferences {
    const KIND: &'static str = "reminder_preferences";
}

/// The program's policy narrowed by the patient's preferences: what the
/// reminder plan actually uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveReminders {
    pub enabled: bool,
    /// The daily nudge's local time (the program's).
    pub time_of_day: TimeOfDay,
    /// The patient's preferred check-in time, if any.
    pub checkin_time: Option<TimeOfDay>,
    /// Every quiet span in force: the program's, then the patient's.
    pub quiet_hours: Vec<QuietHours>,
    pub max_per_day: u32,
    pub backoff: Option<Backoff>,
}

impl EffectiveReminders {
    /// Narrows `program` by `prefs`. Preferences that would widen the policy
    /// (which validation refuses) are clamped here too, so a stored record
    /// can never make reminders noisier.
    pub fn new(program: &ReminderPolicy, prefs: Option<&ReminderPreferences>) -> Self {
        let mut quiet_hours: Vec<QuietHours> = program.quiet_hours.into_iter().collect();
        let mut max_per_day = program.max_per_day;
        let mut enabled = true;
        let mut checkin_time = None;
        if let Some(p) = prefs {
            enabled = p.enabled;
            quiet_hours.extend(p.quiet_hours.filter(|q| q.start != q.end));
            if let Some(n) = p.max_per_day {
                max_per_day = max_per_day.min(n);
            }
            checkin_time = p.checkin_time;
        }
        EffectiveReminders {
            enabled: enabled && max_per_day > 0,
            time_of_day: program.time_of_day,
            checkin_time,
            quiet_hours,
            max_per_day,
            backoff: program.backoff,
        }
    }

    /// Whether the local time `t` falls in any quiet span.
    pub fn is_quiet(&self, t: TimeOfDay) -> bool {
        self.quiet_hours.iter().any(|q| q.contains(t))
    }
}
