//! The patient's settings screen in one call, and the FHIR export as text
//! for a file the app chooses.

use super::Session;
use crate::agenda;
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
    pub audit: Vec<AuditEntry>,
    pub audit_verification: AuditVerification,
    pub has_recovery_key: bool,
}

impl Session {
    pub fn settings_screen(&self) -> Result<SettingsScreen> {
        let reminders = match agenda::load_state(&self.store) {
            Ok(st) => Some(st.program.reminders.clone()),
            // Not enrolled yet: no reminders to show.
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(SettingsScreen {
            time_zone: self.store.profile()?.map(|p| p.time_zone),
            reminders,
            audit: self.store.audit_entries()?,
            audit_verification: self.store.verify_audit()?,
            has_recovery_key: crate::backup::has_recovery_key(&self.store)?,
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
