//! The agenda on one session: every change returns the new screen and the
//! outcome of the re-plan it caused, both made under the plan lock.

use chrono::{DateTime, NaiveDate, Utc};

use super::{ReminderSync, Session};
use crate::agenda::{self, Agenda, Engagement, ReminderEventKind};
use crate::error::{Error, Result};
use crate::platform::Notification;
use crate::program;
use crate::store::Store;

/// Returned by every agenda change: the new screen and the re-plan's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleUpdate {
    pub agenda: Agenda,
    pub reminders: ReminderSync,
}

impl Session {
    /// Runs `f`, re-plans, then reads the new agenda, all under the plan
    /// lock so the screen matches the plan just handed over.
    pub(super) fn update<T>(
        &self,
        at: DateTime<Utc>,
        f: impl FnOnce(&Store, DateTime<Utc>) -> Result<T>,
    ) -> Result<ScheduleUpdate> {
        let _guard = self.plan_guard();
        f(&self.store, at)?;
        let reminders = self.replan_locked(at)?;
        let st = agenda::load_state(&self.store)?;
        Ok(ScheduleUpdate {
            agenda: agenda::agenda(&st, at),
            reminders,
        })
    }

    /// Enrols in a program given as its JSON definition. `start_date` is day
    /// 0 (`YYYY-MM-DD`, local); `time_zone` an IANA name; `at_millis` as in
    /// [`Session::instant`], checked after the program and the date.
    pub fn enrol_json(
        &self,
        program_json: &str,
        start_date: &str,
        time_zone: &str,
        at_millis: Option<i64>,
    ) -> Result<ScheduleUpdate> {
        let p = program::load(program_json).map_err(|issues| {
            Error::invalid(
                "program_json",
                format!(
                    "{} problem(s), first: {}",
                    issues.len(),
                    issues.first().map(ToString::to_string).unwrap_or_default()
                ),
            )
        })?;
        let start: NaiveDate = start_date
            .parse()
            .map_err(|_| Error::invalid("start_date", "must be a date YYYY-MM-DD"))?;
        let at = self.instant(at_millis)?;
        self.update(at, |store, _| {
            agenda::enrol(store, &p, start, time_zone, None)
        })
    }

    /// Today's screen.
    pub fn agenda(&self, at: DateTime<Utc>) -> Result<Agenda> {
        Ok(agenda::agenda(&agenda::load_state(&self.store)?, at))
    }

    pub fn complete_item(&self, item_id: &str, at: DateTime<Utc>) -> Result<ScheduleUpdate> {
        self.update(at, |store, at| agenda::complete(store, item_id, at))
    }

    /// The therapist approved a module; repeats are no-ops.
    pub fn record_therapist_approval(
        &self,
        module_id: &str,
        at: DateTime<Utc>,
    ) -> Result<ScheduleUpdate> {
        self.update(at, |store, at| {
            agenda::record_approval(store, module_id, at)
        })
    }

    /// The patient is in `time_zone` from `at` on.
    pub fn change_time_zone(&self, time_zone: &str, at: DateTime<Utc>) -> Result<ScheduleUpdate> {
        self.update(at, |store, at| agenda::change_zone(store, time_zone, at))
    }

    /// A reminder was delivered or opened.
    pub fn record_reminder_event(
        &self,
        reminder_id: &str,
        kind: ReminderEventKind,
        at: DateTime<Utc>,
    ) -> Result<ScheduleUpdate> {
        self.update(at, |store, at| {
            agenda::record_reminder_event(store, reminder_id, kind, at)
        })
    }

    /// The next `count` reminders, without handing them to the scheduler.
    pub fn reminder_plan(&self, count: u32, at: DateTime<Utc>) -> Result<Vec<Notification>> {
        let st = agenda::load_state(&self.store)?;
        Ok(agenda::plan_reminders(&st, at, count))
    }

    pub fn engagement(&self, at: DateTime<Utc>) -> Result<Engagement> {
        Ok(agenda::engagement(&agenda::load_state(&self.store)?, at))
    }
}
