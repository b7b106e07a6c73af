//! The patient's settings screen in one call, and the FHIR export as text
//! for a file the app chooses.

use chrono::{DateTime, Utc};

use super::{ScheduleUpdate, Session};
use crate::agenda::{self, EffectiveReminders, ReminderPreferences};
use crate::audit::{AuditEntry, AuditEvent, AuditVerification};
use crate::checkin::fhir;
use crate::error::{Error, Result};
use crate::program::ReminderPolicy;

/// Everything the settings screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsScreen {
    /// The profile's IANA zone.
    pub time_zone: Option<String>,
    /// The enrolled program's reminder policy (daily time, quiet hours,
    /// limit); `None` before enrolment.
    pub reminders: Option<ReminderPolicy>,
    /// What the patient chose; `None` when they never changed anything.
    pub reminder_preferences: Option<ReminderPreferences>,
    /// The program's policy narrowed by the patient's preferences: what the
    /// reminder plan uses. `None` before enrolment.
    pub effective_reminders: Option<EffectiveReminders>,
    pub audit: Vec<AuditEntry>,
    pub audit_verification: AuditVerification,
    pub has_recovery_key: bool,
}

impl Session {
    pub fn settings_screen(&self) -> Result<SettingsScreen> {
        let st = match agenda::load_state(&self.store) {
            Ok(st) => Some(st),
            // Not enrolled yet: no reminders to show.
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(SettingsScreen {
            time_zone: self.store.profile()?.map(|p| p.time_zone),
            reminders: st.as_ref().map(|s| s.program.reminders.clone()),
            reminder_preferences: st.as_ref().and_then(|s| s.reminder_preferences.clone()),
            effective_reminders: st.as_ref().map(|s| s.reminders()),
            audit: self.store.audit_entries()?,
            audit_verification: self.store.verify_audit()?,
            has_recovery_key: crate::backup::has_recovery_key(&self.store)?,
        })
    }

    /// Saves the patient's reminder preferences (quieter than the program,
    /// never noisier) and re-plans under the plan lock, like every agenda
    /// change. Needs an enrolment; invalid values fail naming the field.
    pub fn set_reminder_preferences(
        &self,
        prefs: &ReminderPreferences,
        at: DateTime<Utc>,
    ) -> Result<ScheduleUpdate> {
        self.update(at, |store, _| {
            agenda::set_reminder_preferences(store, prefs)
        })
    }

    /// The check-ins as a FHIR R4 Bundle (JSON text, plaintext: write it
    /// straight to the file the patient chose). Audited as an export.
    pub fn export_fhir(&self) -> Result<String> {
        let c = self.checkins()?;
        let (bundle, _damaged) = fhir::bundle_lenient(&c, self.store.now_millis())?;
        let text = serde_json::to_string_pretty(&bundle)
            .map_err(|e| Error::Internal(crate::error::json_error_reason(&e)))?;
        self.store
            .write(|tx| tx.audit(AuditEvent::Export, r#"{"format":"fhir"}"#))?;
        Ok(text)
    }
}
