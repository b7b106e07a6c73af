//! The therapist's screens on one session: caseload, timeline and the
//! notification digest, over the session's memo of decoded patients.

use chrono::{DateTime, Utc};

use super::Session;
use crate::error::{Error, Result};
use crate::insights::{self, CaseloadEntry, DigestBatch, FlagConfig, Timeline};
use crate::store::Store;
use crate::sync;

/// Rates the alliance with one patient from answers given as JSON text.
pub fn rate_alliance_json(store: &Store, channel_id: &str, answers_json: &str) -> Result<String> {
    let answers: serde_json::Value = crate::json::from_text(answers_json)
        .map_err(|_| Error::invalid("answers_json", "is not JSON"))?;
    insights::rate_alliance(store, channel_id, &answers)
}

/// The therapist's alliance rating form: the `alliance_therapist` items
/// with their options, for the patient screen's rating section. Its
/// answers go to [`rate_alliance_json`] keyed by link id.
pub fn alliance_rating_form(store: &Store) -> Result<Vec<super::ScreenItem>> {
    let checkins = crate::checkin::Checkins::new(store.clone())?;
    let inst = checkins.registry().require("alliance_therapist")?;
    Ok(super::checkin::screen_items(inst))
}

impl Session {
    /// The store's clock; the epoch if it is out of range.
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.store.now_millis()).unwrap_or_default()
    }

    /// Every patient, most urgent first, with the top reasons.
    pub fn caseload(&self) -> Result<Vec<CaseloadEntry>> {
        let patients = self.patients.patients(&self.store)?;
        Ok(insights::caseload(
            &patients,
            self.now(),
            &FlagConfig::default(),
        ))
    }

    /// When to notify the therapist about the caseload, within their hours.
    pub fn notification_digest(&self, per_day: u8) -> Result<Vec<DigestBatch>> {
        let patients = self.patients.patients(&self.store)?;
        let now = self.now();
        let caseload = insights::caseload(&patients, now, &FlagConfig::default());
        let hours = sync::default_availability(&self.store)?;
        insights::digest_plan(&caseload, &hours, now, per_day)
    }

    /// One patient's alliance, symptoms, progress and flags.
    pub fn patient_timeline(&self, channel_id: &str) -> Result<Timeline> {
        let patients = self.patients.patients(&self.store)?;
        let p = patients
            .iter()
            .find(|p| p.channel_id == channel_id)
            .ok_or_else(|| Error::NotFound {
                what: "patient channel".into(),
            })?;
        Ok(insights::timeline(p, self.now()))
    }
}
