//! One enrolment in memory: the program, its calendar anchor, the patient's
//! zone history and every recorded fact. Pure: no store, no clock.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::preferences::{EffectiveReminders, ReminderPreferences};
use crate::domain::TreatmentMode;
use crate::program::Program;
use crate::schedule::{resolve_local, resolve_local_in_history, Occurrence, Tz, ZoneSpan};

/// What the platform reported about a reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderEventKind {
    Delivered,
    Opened,
}

impl ReminderEventKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delivered" => Some(Self::Delivered),
            "opened" => Some(Self::Opened),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderEvent {
    pub reminder_id: String,
    pub kind: ReminderEventKind,
    pub at: DateTime<Utc>,
}

/// Everything the agenda, reminder plan and engagement signals derive from.
#[derive(Debug, Clone)]
pub struct EnrolmentState {
    pub program: Program,
    pub start_date: NaiveDate,
    pub mode: TreatmentMode,
    pub enrolled_at: DateTime<Utc>,
    /// Ordered by `since`; the first entry covers all earlier time.
    pub zones: Vec<ZoneSpan>,
    /// Item id to the earliest completion.
    pub completions: HashMap<String, DateTime<Utc>>,
    /// Module id to the earliest approval.
    pub approvals: HashMap<String, DateTime<Utc>>,
    /// In time order.
    pub reminder_events: Vec<ReminderEvent>,
    /// The patient's reminder settings; `None` follows the program.
    pub reminder_preferences: Option<ReminderPreferences>,
}

impl EnrolmentState {
    pub fn new(program: Program, start_date: NaiveDate, mode: TreatmentMode, tz: Tz) -> Self {
        EnrolmentState {
            enrolled_at: resolve_local(tz, start_date.and_time(NaiveTime::MIN)).utc,
            program,
            start_date,
            mode,
            zones: vec![ZoneSpan {
                since: DateTime::<Utc>::MIN_UTC,
                tz,
            }],
            completions: HashMap::new(),
            approvals: HashMap::new(),
            reminder_events: Vec::new(),
            reminder_preferences: None,
        }
    }

    /// The program's reminder policy narrowed by the patient's preferences.
    pub fn reminders(&self) -> EffectiveReminders {
        EffectiveReminders::new(&self.program.reminders, self.reminder_preferences.as_ref())
    }

    /// Adds a zone change; out-of-order changes are placed where they belong.
    pub fn push_zone(&mut self, since: DateTime<Utc>, tz: Tz) {
        let at = self.zones.partition_point(|z| z.since <= since);
        self.zones.insert(at, ZoneSpan { since, tz });
    }

    /// Keeps the earliest completion of each item.
    pub fn push_completion(&mut self, item_id: String, at: DateTime<Utc>) {
        let e = self.completions.entry(item_id).or_insert(at);
        *e = (*e).min(at);
    }

    pub fn push_approval(&mut self, module_id: String, at: DateTime<Utc>) {
        let e = self.approvals.entry(module_id).or_insert(at);
        *e = (*e).min(at);
    }

    pub fn push_reminder_event(&mut self, e: ReminderEvent) {
        let at = self.reminder_events.partition_point(|x| x.at <= e.at);
        self.reminder_events.insert(at, e);
    }

    /// The zone in force at `t`.
    pub fn zone_at(&self, t: DateTime<Utc>) -> Tz {
        let i = self.zones.partition_point(|z| z.since <= t);
        self.zones[i.saturating_sub(1)].tz
    }

    /// Wall-clock time at `t` in the zone the patient was in then.
    pub fn local_at(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.zone_at(t)).naive_local()
    }

    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        self.local_at(t).date()
    }

    /// Resolves a wall-clock time against the zone history, the same way the
    /// schedule engine places recurrence instances.
    pub fn place(&self, local: NaiveDateTime) -> Occurrence {
        #[allow(
            clippy::expect_used,
            reason = "an enrolment is created with its first zone"
        )]
        resolve_local_in_history(&self.zones, local).expect("zone history is never empty")
    }

    /// Local midnight starting program day `day` (day 0 is the start date).
    pub fn day_start(&self, day: u32) -> DateTime<Utc> {
        let date = self
            .start_date
            .checked_add_days(Days::new(u64::from(day)))
            .unwrap_or(NaiveDate::MAX);
        self.place(date.and_time(NaiveTime::MIN)).utc
    }

    /// Whole local days since the start date; 0 before and on it.
    pub fn program_day(&self, t: DateTime<Utc>) -> u32 {
        let d = (self.local_date(t) - self.start_date).num_days();
        d.clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Last local date of the program: day `weeks * 7`, so a weekly check-in
    /// on day 0 gets its closing occurrence too.
    pub fn last_date(&self) -> NaiveDate {
        self.start_date
            .checked_add_days(Days::new(u64::from(self.program.metadata.weeks) * 7))
            .unwrap_or(NaiveDate::MAX)
    }

    pub fn completed_at(&self, item_id: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.completions.get(item_id).copied().filter(|&t| t <= now)
    }

    pub fn approved_at(&self, module_id: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.mode.has_therapist() {
            return None;
        }
        self.approvals.get(module_id).copied().filter(|&t| t <= now)
    }
}
