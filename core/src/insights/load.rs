//! Builds [`PatientRecord`]s from the therapist's store.

use serde::{Deserialize, Serialize};

use super::PatientRecord;
use crate::error::Result;
use crate::store::{Record, Store};

/// Record kind linking a therapist's alliance rating to a patient.
pub const RATING_KIND: &str = "insights_rating";

/// Links a local `alliance_therapist` check-in to the patient's channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TherapistRating {
    pub channel_id: String,
    pub checkin_id: String,
}

impl Record for TherapistRating {
    const KIND: &'static str = RATING_KIND;
}

/// One record per channel (active or revoked), in the order of
/// `channel_views` (newest pairing first).
pub fn load_patients(store: &Store) -> Result<Vec<PatientRecord>> {
    let _ = store;
    todo!()
}

/// The therapist rates the alliance with a patient: starts, answers and
/// submits an `alliance_therapist` check-in (never synced) and links it to
/// the channel. Returns the check-in id.
pub fn rate_alliance(
    store: &Store,
    channel_id: &str,
    answers: &serde_json::Value,
) -> Result<String> {
    let _ = (store, channel_id, answers);
    todo!()
}
