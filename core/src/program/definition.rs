//! Serde types of the program definition format (see `docs/program-format.md`).
//!
//! Every struct denies unknown fields so that a typo in a program file is an
//! error rather than a silently ignored setting.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::crisis::{CrisisResource, ResourcesByCountry};
use crate::domain::TreatmentMode;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A whole program definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Version of the file format, not of the program; see [`FORMAT_VERSION`].
    pub format_version: u32,
    pub metadata: Metadata,
    pub modules: Vec<Module>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkins: Vec<CheckinSchedule>,
    pub reminders: ReminderPolicy,
    /// The program's own crisis resources (a clinic's line), keyed by
    /// **country**: `GB`, or a locale with a region such as `en-GB`. They are
    /// shown only to patients in that country, before the built-in national
    /// set (`crate::crisis`). May be empty: the built-in sets are the source
    /// of truth for national lines.
    pub crisis_resources: ResourcesByCountry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub id: String,
    /// Content version, `MAJOR.MINOR.PATCH`.
    pub version: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// BCP 47 locale of the content, e.g. `en-GB`.
    pub locale: String,
    /// Length in weeks, 5 to 36.
    pub weeks: u32,
    /// The week (1 to `weeks`) by which reliable improvement is expected;
    /// the therapist's caseload flags patients without it from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_week: Option<u32>,
    /// The symptom instrument that measures the program's main outcome
    /// (`phq9`); one of the program's check-ins must use it. The therapist's
    /// caseload shows it as the headline score and judges the review week on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_instrument: Option<String>,
    pub modes: Vec<TreatmentMode>,
    /// IANA zone suggested at enrolment when the device gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    pub id: String,
    pub title: String,
    pub estimated_minutes: u32,
    pub unlock: UnlockRule,
    pub pages: Vec<Page>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exercises: Vec<Exercise>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub id: String,
    pub title: String,
    /// CommonMark Markdown.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// Unique across the whole program, so a saved answer names its exercise alone.
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "ExerciseKind::is_default")]
    pub kind: ExerciseKind,
    /// Markdown shown above the fields.
    pub instructions: String,
    pub fields: Vec<Field>,
}

/// In-session exercise or homework carried out between sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExerciseKind {
    #[default]
    Exercise,
    Homework,
}

impl ExerciseKind {
    fn is_default(&self) -> bool {
        *self == ExerciseKind::Exercise
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub id: String,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Only for `choice` and `checkbox`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FieldOption>,
    /// Only for `number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Only for `number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// `choice` picks exactly one option; `checkbox` ticks any number of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    Choice,
    Checkbox,
}

impl FieldKind {
    pub fn has_options(self) -> bool {
        matches!(self, FieldKind::Choice | FieldKind::Checkbox)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldOption {
    /// Stored answer value; stable across wording changes.
    pub value: String,
    pub label: String,
}

/// When a module becomes available. In JSON a unit rule is a bare string
/// (`"at_start"`) and every other rule an object with exactly one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlockRule {
    AtStart,
    /// Day N of the program, counting the start date as day 0.
    DaysAfterStart(u32),
    AfterModule(String),
    /// Once any occurrence of the check-in schedule has been completed.
    AfterCheckin(String),
    TherapistApproval,
    AllOf(Vec<UnlockRule>),
    AnyOf(Vec<UnlockRule>),
}

impl UnlockRule {
    /// Variant name as written in JSON.
    pub fn key(&self) -> &'static str {
        match self {
            UnlockRule::AtStart => "at_start",
            UnlockRule::DaysAfterStart(_) => "days_after_start",
            UnlockRule::AfterModule(_) => "after_module",
            UnlockRule::AfterCheckin(_) => "after_checkin",
            UnlockRule::TherapistApproval => "therapist_approval",
            UnlockRule::AllOf(_) => "all_of",
            UnlockRule::AnyOf(_) => "any_of",
        }
    }

    /// Module ids this rule refers to, at any depth.
    pub fn referenced_modules(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut |r| {
            if let UnlockRule::AfterModule(m) = r {
                out.push(m.as_str());
            }
        });
        out
    }

    /// Check-in schedule ids this rule refers to, at any depth.
    pub fn referenced_checkins(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut |r| {
            if let UnlockRule::AfterCheckin(c) = r {
                out.push(c.as_str());
            }
        });
        out
    }

    /// Whether the rule involves a therapist's approval anywhere.
    pub fn mentions_therapist_approval(&self) -> bool {
        let mut found = false;
        self.walk(&mut |r| found |= matches!(r, UnlockRule::TherapistApproval));
        found
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a UnlockRule)) {
        f(self);
        if let UnlockRule::AllOf(rs) | UnlockRule::AnyOf(rs) = self {
            for r in rs {
                r.walk(f);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckinSchedule {
    pub id: String,
    /// Instrument id, e.g. `phq9`; must be known to the instrument registry.
    pub instrument: String,
    pub when: CheckinWhen,
    pub window: Window,
    /// Modes this schedule runs in; absent means every mode of the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<Vec<TreatmentMode>>,
}

impl CheckinSchedule {
    /// Whether the schedule runs when the program is delivered in `mode`.
    pub fn applies_to(&self, mode: TreatmentMode) -> bool {
        self.modes.as_ref().is_none_or(|ms| ms.contains(&mode))
    }
}

/// When a check-in falls due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinWhen {
    Recurring(Recurrence),
    /// Once, when the module is completed.
    AfterModule(String),
}

/// An RFC 5545 recurrence in the patient's own zone. DTSTART is the local
/// date `start_day` days after the enrolment date, at `local_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// RRULE value without the `RRULE:` prefix, e.g. `FREQ=WEEKLY;BYDAY=SU`.
    pub rrule: String,
    pub local_time: TimeOfDay,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_day: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Offsets in minutes from the occurrence. Negative values fall before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub opens_minutes: i32,
    pub due_minutes: i32,
    /// After this the occurrence is missed.
    pub closes_minutes: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderPolicy {
    /// Local time of the daily nudge for open modules and check-ins.
    pub time_of_day: TimeOfDay,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    pub max_per_day: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Local span without reminders; `start > end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl QuietHours {
    /// Whether `t` is quiet; `start` is inclusive and `end` exclusive.
    pub fn contains(&self, t: TimeOfDay) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// What to do when the patient keeps ignoring reminders. Counts are
/// consecutive ignored reminders and reset when the patient opens the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// After this many, remind only every other day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halve_after_ignored: Option<u32>,
    /// After this many, stop reminding until the patient comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_after_ignored: Option<u32>,
}

/// A local wall-clock time of day, written `HH:MM` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(TimeOfDay { hour, minute })
    }

    pub fn hour(self) -> u8 {
        self.hour
    }

    pub fn minute(self) -> u8 {
        self.minute
    }

    pub fn minutes_since_midnight(self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }

    #[allow(clippy::expect_used, reason = "TimeOfDay is range-checked when built")]
    pub fn to_naive_time(self) -> NaiveTime {
        NaiveTime::from_hms_opt(self.hour.into(), self.minute.into(), 0)
            .expect("hour and minute checked in new")
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a time of day HH:MM (00:00 to 23:59)");
        let b = s.as_bytes();
        // Exactly two digits each side, so "7:5" and "07:00:00" are rejected.
        if b.len() != 5 || b[2] != b':' {
            return Err(bad());
        }
        let hour: u8 = s[0..2].parse().map_err(|_| bad())?;
        let minute: u8 = s[3..5].parse().map_err(|_| bad())?;
        if !b[0..2].iter().chain(&b[3..5]).all(u8::is_ascii_digit) {
            return Err(bad());
        }
        TimeOfDay::new(hour, minute).ok_or_else(bad)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = TimeOfDay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time of day \"HH:MM\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeOfDay, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Program {
    pub fn module(&self, id: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.id == id)
    }

    pub fn checkin(&self, id: &str) -> Option<&CheckinSchedule> {
        self.checkins.iter().find(|c| c.id == id)
    }

    /// The program's own crisis resources for patients in `country` (ISO
    /// 3166-1 alpha-2, any case), from every key naming that country. Never
    /// another country's entries: with none for `country` this is empty.
    pub fn crisis_resources_for_country(&self, country: &str) -> Vec<CrisisResource> {
        crate::crisis::own_resources_for_country(&self.crisis_resources, country)
    }

    /// Pretty JSON in the canonical field order.
    #[allow(
        clippy::expect_used,
        reason = "program types hold only strings, numbers and maps, which always serialize"
    )]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("program types always serialize")
    }
}
