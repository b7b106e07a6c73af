//! What the agenda persists. Facts only (enrolment, completions, approvals,
//! zone changes, reminder events); every state and plan is derived from
//! them, so nothing derived can go stale.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::TreatmentMode;
use crate::program::Program;
use crate::store::Record;

/// The one current enrolment, stored under [`EnrolmentRecord::ID`]. It keeps
/// the whole program so the agenda does not change if the file does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRecord {
    pub program: Program,
    /// Day 0 of the program, a local date in the patient's zone.
    pub start_date: NaiveDate,
    pub mode: TreatmentMode,
    /// IANA zone at enrolment; later moves are [`ZoneChangeRecord`]s.
    pub time_zone: String,
    pub enrolled_at_millis: i64,
}

impl EnrolmentRecord {
    pub const ID: &'static str = "current";
}

impl Record for EnrolmentRecord {
    const KIND: &'static str = "enrolment";
}

/// The patient moved to `time_zone` at `since_millis`. Append-only: earlier
/// instants stay resolved in the zone the patient was in then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneChangeRecord {
    pub since_millis: i64,
    pub time_zone: String,
}

impl Record for ZoneChangeRecord {
    const KIND: &'static str = "zone_change";
}

/// An agenda item was completed. Item ids can exceed the store's id limit,
/// so the record has a random id and carries the item id in its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionRecord {
    pub item_id: String,
    pub at_millis: i64,
}

impl Record for CompletionRecord {
    const KIND: &'static str = "completion";
}

/// The therapist approved a module. Arrives through sync (issue 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub module_id: String,
    pub at_millis: i64,
}

impl Record for ApprovalRecord {
    const KIND: &'static str = "approval";
}

/// A reminder was delivered or opened, as reported by the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderEventRecord {
    pub reminder_id: String,
    pub event: super::ReminderEventKind,
    pub at_millis: i64,
}

impl Record for ReminderEventRecord {
    const KIND: &'static str = "reminder_event";
}

/// What the agenda needs from the reminder log, kept up to date with each
/// event so loading the agenda does not decrypt years of events: the last
/// open, and the deliveries since it (newest [`ReminderSummaryRecord::KEEP`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSummaryRecord {
    pub last_opened: Option<(String, i64)>,
    pub delivered_since_open: Vec<(String, i64)>,
}

impl ReminderSummaryRecord {
    pub const ID: &'static str = "current";
    /// More than any backoff threshold worth configuring.
    pub const KEEP: usize = 256;

    pub fn apply(&mut self, reminder_id: &str, kind: super::ReminderEventKind, at: i64) {
        match kind {
            super::ReminderEventKind::Opened => {
                if self.last_opened.as_ref().is_none_or(|(_, t)| *t <= at) {
                    self.last_opened = Some((reminder_id.to_string(), at));
                    self.delivered_since_open.retain(|(_, t)| *t > at);
                }
            }
            super::ReminderEventKind::Delivered => {
                if self.last_opened.as_ref().is_none_or(|(_, t)| *t < at) {
                    self.delivered_since_open
                        .push((reminder_id.to_string(), at));
                    crate::sort::sort_by_key(&mut self.delivered_since_open, |(_, t)| *t);
                    let extra = self.delivered_since_open.len().saturating_sub(Self::KEEP);
                    self.delivered_since_open.drain(..extra);
                }
            }
        }
    }
}

impl Record for ReminderSummaryRecord {
    const KIND: &'static str = "reminder_summary";
}
