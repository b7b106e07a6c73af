//! The patient's agenda: enrolment in a program, item states, today's
//! screen, the reminder plan and engagement signals.
//!
//! Everything below [`service`] is pure (state in, view out, `now` passed
//! explicitly), so tests and benchmarks need no store or clock. The service
//! functions load state from the encrypted store, call the pure layer and
//! persist what changed. Semantics are documented in `docs/scheduling.md`.

mod engagement;
mod enrolment;
mod items;
mod preferences;
mod records;
mod reminders;
mod screen;
mod service;

pub use engagement::{engagement, Engagement, ModuleStall};
pub use enrolment::{EnrolmentState, ReminderEvent, ReminderEventKind};
pub use items::{items, module_item_id, Item, ItemKind, ItemState, MODULE_DUE_DAYS};
pub use preferences::{EffectiveReminders, ReminderPreferences};
pub use records::{
    ApprovalRecord, CompletionRecord, EnrolmentRecord, ReminderEventRecord, ReminderSummaryRecord,
    ZoneChangeRecord,
};
pub use reminders::{
    plan_reminders, MemoryScheduler, Notification, ReminderKind, MAX_PLANNED_REMINDERS,
};
pub use screen::{agenda, Agenda, NextUnlock, Progress};
pub use service::{
    change_zone, check_instant, complete, enrol, load_state, record_approval,
    record_reminder_event, replan, set_reminder_preferences, EnrolmentSummary, ReplanOutcome,
};
