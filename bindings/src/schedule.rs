//! The agenda and reminders over FFI: one `PatientSchedule` object whose
//! calls each return a whole screen, and the platform's notification
//! scheduler as a foreign trait. Every rule (and the re-plan after each
//! change) lives in `collabzium_core::session`.

use std::sync::Arc;

use collabzium_core::agenda as core;
use collabzium_core::platform;
use collabzium_core::session;

use crate::error::Result;
use crate::store::PatientStore;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum NotificationSchedulerError {
    /// The user has not allowed notifications.
    #[error("notifications are not permitted")]
    NotPermitted,
    #[error("scheduler unavailable: {reason}")]
    Unavailable { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for NotificationSchedulerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        NotificationSchedulerError::Unavailable { reason: e.reason }
    }
}

/// Local notifications, implemented by the app (UNUserNotificationCenter,
/// AlarmManager/WorkManager). The core owns the plan.
#[uniffi::export(with_foreign)]
pub trait NotificationScheduler: Send + Sync {
    /// How many pending notifications the platform keeps (64 on iOS).
    fn max_pending(&self) -> u32;
    /// Make `notifications` the whole pending set. Ids are stable across
    /// plans: keep those already scheduled, add new ones, cancel the rest.
    fn replace_pending(
        &self,
        notifications: Vec<PlannedNotification>,
    ) -> Result<(), NotificationSchedulerError>;
}

/// The app's scheduler as the core's platform trait.
struct Adapter(Arc<dyn NotificationScheduler>);

impl platform::NotificationScheduler for Adapter {
    fn max_pending(&self) -> u32 {
        self.0.max_pending()
    }

    fn replace_pending(
        &self,
        plan: &[platform::Notification],
    ) -> Result<(), platform::SchedulerError> {
        self.0
            .replace_pending(plan.iter().cloned().map(Into::into).collect())
            .map_err(|e| match e {
                NotificationSchedulerError::NotPermitted => platform::SchedulerError::NotPermitted,
                NotificationSchedulerError::Unavailable { reason } => {
                    platform::SchedulerError::Unavailable(reason)
                }
            })
    }
}

/// A module to work through, or a questionnaire to answer.
pub type AgendaItemKind = core::ItemKind;

#[uniffi::remote(Enum)]
pub enum AgendaItemKind {
    Module,
    Checkin,
}

/// Where an item stands at one instant.
pub type AgendaItemState = core::ItemState;

#[uniffi::remote(Enum)]
pub enum AgendaItemState {
    Locked,
    Upcoming,
    Open,
    Due,
    Overdue,
    Completed,
    Missed,
}

/// Copy of `agenda::Item`: its instants cross as epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgendaItem {
    /// Stable id: `module:<id>`, `checkin:<schedule>:<local date-time>` or `checkin:<schedule>`.
    pub id: String,
    pub kind: AgendaItemKind,
    /// Module id or check-in schedule id.
    pub ref_id: String,
    pub title: String,
    pub instrument: Option<String>,
    pub state: AgendaItemState,
    /// Milliseconds since the Unix epoch.
    pub opens_at_millis: Option<i64>,
    pub due_at_millis: Option<i64>,
    pub closes_at_millis: Option<i64>,
    pub completed_at_millis: Option<i64>,
    pub waiting_for_therapist: bool,
    pub estimated_minutes: Option<u32>,
}

pub type AgendaProgress = core::Progress;

#[uniffi::remote(Record)]
pub struct AgendaProgress {
    pub modules_done: u32,
    pub modules_total: u32,
    pub current_week: u32,
    pub weeks_total: u32,
}

/// Copy of `agenda::NextUnlock`: `at` crosses as epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NextUnlock {
    pub module_id: String,
    pub title: String,
    pub at_millis: i64,
}

/// Today's screen. Each item is in at most one list. Copy of
/// `agenda::Agenda`: instants cross as milliseconds, `local_now` as text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgendaView {
    pub generated_at_millis: i64,
    pub time_zone: String,
    /// Wall-clock time now, `YYYY-MM-DDTHH:MM:SS`.
    pub local_now: String,
    pub program_id: String,
    pub program_title: String,
    pub open_now: Vec<AgendaItem>,
    pub due_today: Vec<AgendaItem>,
    pub upcoming_this_week: Vec<AgendaItem>,
    pub overdue: Vec<AgendaItem>,
    pub waiting_for_therapist: Vec<AgendaItem>,
    pub progress: AgendaProgress,
    pub next_unlock: Option<NextUnlock>,
}

pub use platform::ReminderKind;

#[uniffi::remote(Enum)]
pub enum ReminderKind {
    Checkin,
    Nudge,
}

/// Copy of `platform::Notification`: `fire_at` crosses as milliseconds and
/// `local_time` as text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PlannedNotification {
    /// Stable across re-plans; diff on it.
    pub id: String,
    /// The same id hashed to a non-negative Int, for Android.
    pub platform_id: i32,
    pub fire_at_millis: i64,
    /// Wall-clock time it sounds, `YYYY-MM-DDTHH:MM:SS`.
    pub local_time: String,
    pub kind: ReminderKind,
    pub item_ids: Vec<String>,
    pub title: String,
    pub body: String,
}

/// What the last re-plan handed to the platform.
pub use session::ReminderSync;

#[uniffi::remote(Record)]
pub struct ReminderSync {
    pub scheduled: u32,
    /// The scheduler refused; the data change itself was saved.
    pub error: Option<String>,
}

/// Returned by every change: the new screen and the re-plan's outcome.
/// Copy of `session::ScheduleUpdate`, whose agenda is the core's.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScheduleUpdate {
    pub agenda: AgendaView,
    pub reminders: ReminderSync,
}

pub use core::ModuleStall;

#[uniffi::remote(Record)]
pub struct ModuleStall {
    pub module_id: String,
    pub title: String,
    pub days_open: u32,
}

/// Copy of `agenda::Engagement`: `last_activity_at` crosses as milliseconds.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EngagementView {
    pub days_since_last_activity: u32,
    pub last_activity_at_millis: i64,
    pub current_missed_run: u32,
    pub longest_missed_run: u32,
    pub stalled_modules: Vec<ModuleStall>,
    pub completed_items: u32,
    pub missed_items: u32,
    /// 0 to 1; absent before anything was due.
    pub completion_rate: Option<f64>,
    pub ignored_reminders: u32,
}

fn local(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

impl From<core::Item> for AgendaItem {
    fn from(i: core::Item) -> Self {
        AgendaItem {
            id: i.id,
            kind: i.kind,
            ref_id: i.ref_id,
            title: i.title,
            instrument: i.instrument,
            state: i.state,
            opens_at_millis: i.opens_at.map(|t| t.timestamp_millis()),
            due_at_millis: i.due_at.map(|t| t.timestamp_millis()),
            closes_at_millis: i.closes_at.map(|t| t.timestamp_millis()),
            completed_at_millis: i.completed_at.map(|t| t.timestamp_millis()),
            waiting_for_therapist: i.waiting_for_therapist,
            estimated_minutes: i.estimated_minutes,
        }
    }
}

fn items(v: Vec<core::Item>) -> Vec<AgendaItem> {
    v.into_iter().map(Into::into).collect()
}

impl From<core::Agenda> for AgendaView {
    fn from(a: core::Agenda) -> Self {
        AgendaView {
            generated_at_millis: a.generated_at.timestamp_millis(),
            time_zone: a.time_zone,
            local_now: local(a.local_now),
            program_id: a.program_id,
            program_title: a.program_title,
            open_now: items(a.open_now),
            due_today: items(a.due_today),
            upcoming_this_week: items(a.upcoming_this_week),
            overdue: items(a.overdue),
            waiting_for_therapist: items(a.waiting_for_therapist),
            progress: a.progress,
            next_unlock: a.next_unlock.map(|n| NextUnlock {
                module_id: n.module_id,
                title: n.title,
                at_millis: n.at.timestamp_millis(),
            }),
        }
    }
}

impl From<session::ScheduleUpdate> for ScheduleUpdate {
    fn from(u: session::ScheduleUpdate) -> Self {
        ScheduleUpdate {
            agenda: u.agenda.into(),
            reminders: u.reminders,
        }
    }
}

impl From<platform::Notification> for PlannedNotification {
    fn from(n: platform::Notification) -> Self {
        PlannedNotification {
            id: n.id,
            platform_id: n.platform_id,
            fire_at_millis: n.fire_at.timestamp_millis(),
            local_time: local(n.local_time),
            kind: n.kind,
            item_ids: n.item_ids,
            title: n.title,
            body: n.body,
        }
    }
}

impl From<core::Engagement> for EngagementView {
    fn from(e: core::Engagement) -> Self {
        EngagementView {
            days_since_last_activity: e.days_since_last_activity,
            last_activity_at_millis: e.last_activity_at.timestamp_millis(),
            current_missed_run: e.current_missed_run,
            longest_missed_run: e.longest_missed_run,
            stalled_modules: e.stalled_modules,
            completed_items: e.completed_items,
            missed_items: e.missed_items,
            completion_rate: e.completion_rate,
            ignored_reminders: e.ignored_reminders,
        }
    }
}

/// The patient's program schedule on one store. Every change re-plans the
/// reminders through the scheduler (if given) and returns the new agenda.
/// `at_millis` defaults to now; tests and replays pass it explicitly.
#[derive(uniffi::Object)]
pub struct PatientSchedule {
    store: Arc<PatientStore>,
}

impl PatientSchedule {
    fn session(&self) -> &session::Session {
        &self.store.session
    }
}

#[uniffi::export]
impl PatientSchedule {
    #[uniffi::constructor(default(scheduler = None))]
    pub fn new(
        store: Arc<PatientStore>,
        scheduler: Option<Arc<dyn NotificationScheduler>>,
    ) -> Arc<Self> {
        if let Some(s) = scheduler {
            store.session.set_scheduler(Arc::new(Adapter(s)));
        }
        Arc::new(PatientSchedule { store })
    }

    /// Enrols in a program given as its JSON definition. `start_date` is
    /// day 0 (`YYYY-MM-DD`, local); `time_zone` an IANA name.
    #[uniffi::method(default(at_millis = None))]
    pub fn enrol(
        &self,
        program_json: String,
        start_date: String,
        time_zone: String,
        at_millis: Option<i64>,
    ) -> Result<ScheduleUpdate> {
        Ok(self
            .session()
            .enrol_json(&program_json, &start_date, &time_zone, at_millis)?
            .into())
    }

    /// Today's screen in one call.
    #[uniffi::method(default(at_millis = None))]
    pub fn agenda(&self, at_millis: Option<i64>) -> Result<AgendaView> {
        let at = self.session().instant(at_millis)?;
        Ok(self.session().agenda(at)?.into())
    }

    #[uniffi::method(default(at_millis = None))]
    pub fn complete_item(&self, item_id: String, at_millis: Option<i64>) -> Result<ScheduleUpdate> {
        let at = self.session().instant(at_millis)?;
        Ok(self.session().complete_item(&item_id, at)?.into())
    }

    /// Called by sync when the therapist approves a module; repeats are no-ops.
    #[uniffi::method(default(at_millis = None))]
    pub fn record_therapist_approval(
        &self,
        module_id: String,
        at_millis: Option<i64>,
    ) -> Result<ScheduleUpdate> {
        let at = self.session().instant(at_millis)?;
        Ok(self
            .session()
            .record_therapist_approval(&module_id, at)?
            .into())
    }

    /// The patient is in `time_zone` from now (or `at_millis`) on.
    #[uniffi::method(default(at_millis = None))]
    pub fn change_time_zone(
        &self,
        time_zone: String,
        at_millis: Option<i64>,
    ) -> Result<ScheduleUpdate> {
        let at = self.session().instant(at_millis)?;
        Ok(self.session().change_time_zone(&time_zone, at)?.into())
    }

    #[uniffi::method(default(at_millis = None))]
    pub fn record_reminder_delivered(
        &self,
        reminder_id: String,
        at_millis: Option<i64>,
    ) -> Result<ScheduleUpdate> {
        let at = self.session().instant(at_millis)?;
        Ok(self
            .session()
            .record_reminder_event(&reminder_id, core::ReminderEventKind::Delivered, at)?
            .into())
    }

    #[uniffi::method(default(at_millis = None))]
    pub fn record_reminder_opened(
        &self,
        reminder_id: String,
        at_millis: Option<i64>,
    ) -> Result<ScheduleUpdate> {
        let at = self.session().instant(at_millis)?;
        Ok(self
            .session()
            .record_reminder_event(&reminder_id, core::ReminderEventKind::Opened, at)?
            .into())
    }

    /// The next `count` reminders, without handing them to the scheduler.
    #[uniffi::method(default(at_millis = None))]
    pub fn reminder_plan(
        &self,
        count: u32,
        at_millis: Option<i64>,
    ) -> Result<Vec<PlannedNotification>> {
        let at = self.session().instant(at_millis)?;
        Ok(self
            .session()
            .reminder_plan(count, at)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Re-plans now, e.g. after a reboot or when the app comes to the front.
    #[uniffi::method(default(at_millis = None))]
    pub fn replan_reminders(&self, at_millis: Option<i64>) -> Result<ReminderSync> {
        let at = self.session().instant(at_millis)?;
        Ok(self.session().replan(at)?)
    }

    #[uniffi::method(default(at_millis = None))]
    pub fn engagement(&self, at_millis: Option<i64>) -> Result<EngagementView> {
        let at = self.session().instant(at_millis)?;
        Ok(self.session().engagement(at)?.into())
    }
}
