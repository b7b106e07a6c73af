//! One open store's life, above the features (ADR 0007).
//!
//! The features (agenda, checkin, sync, insights) do not call each other
//! for side effects; this layer composes them:
//! - a sync round, followed by what received events do (enrol an assigned
//!   program, record an approval or an acknowledgement) and preceded by the
//!   patient's daily engagement summary ([`sync`]);
//! - consent decisions, kept and queued for the therapist in one
//!   transaction ([`record_consent`]);
//! - reminder re-planning after every change, under one lock, with the
//!   platform's scheduler handed in as a trait ([`Session`]).
//!
//! The bindings and the CLI call this layer; nothing below imports it.

mod checkin;
mod effects;
mod insights;
mod messages;
mod progress;
mod reader;
pub mod retention;
mod schedule;
mod settings;

pub use checkin::{DraftScreen, ScreenItem};
pub use insights::{alliance_rating_form, rate_alliance_json};
pub use messages::{assign_program, open_thread};
pub use progress::{AllianceChartPoint, ChartPoint, ProgressScreen, SymptomChart};
pub use reader::{
    ExerciseAnswerRecord, ExerciseValue, ModuleReader, ReaderExercise, MAX_TEXT_ANSWER_CHARS,
};
pub use schedule::ScheduleUpdate;
pub use settings::SettingsScreen;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::agenda;
use crate::checkin::CheckinResult;
use crate::domain::consent::{ConsentDecision, ConsentRecord};
use crate::error::{Error, Result};
use crate::insights::PatientsMemo;
use crate::platform::NotificationScheduler;
use crate::store::Store;
use crate::sync::{self, HttpTransport, Role, SyncSummary};

/// One full sync round: the patient's engagement summary is queued, the
/// protocol round runs, then received events take effect in the features
/// they concern (retried at every round until done). Safe to call at any
/// time from a background thread; rounds on one store run one at a time.
pub fn sync(store: &Store, transport: &dyn HttpTransport) -> Result<SyncSummary> {
    let guard = store.sync_guard();
    if sync::own_role(store)? == Some(Role::Patient) {
        effects::produce_engagement_summary(store)?;
    }
    let mut summary = sync::round(store, transport, &guard)?;
    effects::apply_received(store)?;
    summary.pending_outbound = sync::pending_outbound(store)?;
    Ok(summary)
}

/// Appends a consent decision and audits it. A `research_export` decision
/// on a patient's store is queued for the therapist in the same transaction
/// (`sync::consent`): a decision is never kept without being queued, nor
/// queued without being kept.
pub fn record_consent(
    store: &Store,
    scope: &str,
    text_version: &str,
    decision: ConsentDecision,
) -> Result<ConsentRecord> {
    store.record_consent(
        scope,
        text_version,
        decision,
        sync::consent::enqueue_decision,
    )
}

pub fn grant_consent(store: &Store, scope: &str, text_version: &str) -> Result<ConsentRecord> {
    record_consent(store, scope, text_version, ConsentDecision::Granted)
}

pub fn withdraw_consent(store: &Store, scope: &str, text_version: &str) -> Result<ConsentRecord> {
    record_consent(store, scope, text_version, ConsentDecision::Withdrawn)
}

/// What the last re-plan handed to the platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderSync {
    pub scheduled: u32,
    /// The scheduler refused; the data change itself was saved.
    pub error: Option<String>,
}

/// An open store with the platform's notification scheduler: every change
/// that can move a reminder runs under one lock and re-plans before the
/// lock is released, so an older plan never lands last.
pub struct Session {
    store: Store,
    scheduler: Mutex<Option<Arc<dyn NotificationScheduler>>>,
    plan_lock: Mutex<()>,
    /// Decoded patients for the therapist's caseload and timelines, for the
    /// life of this session; revalidated at every call.
    patients: PatientsMemo,
}

impl Session {
    pub fn new(store: Store) -> Session {
        Session {
            store,
            scheduler: Mutex::new(None),
            plan_lock: Mutex::new(()),
            patients: PatientsMemo::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn patients(&self) -> &PatientsMemo {
        &self.patients
    }

    /// Releases the database and forgets the decoded patients; later calls
    /// fail with `Closed`.
    pub fn close(&self) {
        self.patients.clear();
        self.store.close()
    }

    /// Registers the platform's scheduler; later changes re-plan through it.
    pub fn set_scheduler(&self, scheduler: Arc<dyn NotificationScheduler>) {
        *self
            .scheduler
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(scheduler);
    }

    /// The instant a call acts at: `at_millis`, or the store's clock.
    pub fn instant(&self, at_millis: Option<i64>) -> Result<DateTime<Utc>> {
        let ms = at_millis.unwrap_or_else(|| self.store.now_millis());
        let at = DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| Error::invalid("at_millis", "is out of range"))?;
        agenda::check_instant("at_millis", at)
    }

    /// Held around a change and its re-plan, so an older plan never lands last.
    fn plan_guard(&self) -> MutexGuard<'_, ()> {
        self.plan_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the current plan to the scheduler, if one is registered.
    /// Callers hold `plan_lock`.
    fn replan_locked(&self, at: DateTime<Utc>) -> Result<ReminderSync> {
        let scheduler = self
            .scheduler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(s) = scheduler else {
            return Ok(ReminderSync::default());
        };
        let out = agenda::replan(&self.store, s.as_ref(), at)?;
        Ok(ReminderSync {
            scheduled: out.scheduled,
            error: out.error,
        })
    }

    /// Re-plans now, e.g. after a reboot or when the app comes to the front.
    pub fn replan(&self, at: DateTime<Utc>) -> Result<ReminderSync> {
        let _guard = self.plan_guard();
        self.replan_locked(at)
    }

    /// Scores, stores and queues a check-in. When it completes an agenda
    /// item, that item leaves the pending reminders at once; the submission
    /// stands even if the re-plan fails (the next change retries it).
    pub fn submit_checkin(&self, checkin_id: &str) -> Result<CheckinResult> {
        let _guard = self.plan_guard();
        let r = self.checkins()?.submit(checkin_id)?;
        if r.agenda_item_completed {
            let at =
                DateTime::from_timestamp_millis(r.submitted_at_millis).unwrap_or_else(Utc::now);
            let _ = self.replan_locked(at);
        }
        Ok(r)
    }

    /// A full sync round ([`sync`]); received events may change the agenda
    /// (an approval unlocks a module, an assignment enrols), so reminders are
    /// re-planned after it. A failed re-plan does not fail the round.
    pub fn sync(&self, transport: &dyn HttpTransport) -> Result<SyncSummary> {
        let summary = sync(&self.store, transport)?;
        if summary.received > 0 {
            let _guard = self.plan_guard();
            let now =
                DateTime::from_timestamp_millis(self.store.now_millis()).unwrap_or_else(Utc::now);
            let _ = self.replan_locked(now);
        }
        Ok(summary)
    }
}
