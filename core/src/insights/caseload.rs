//! The caseload screen and the therapist's notification digest (issue 6 §3).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Flag, FlagConfig, PatientRecord, ScoredPoint};
use crate::error::Result;
use crate::store::Store;
use crate::sync::availability::Availability;

/// Declaration order is priority order (most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Safety,
    Deterioration,
    Rupture,
    Disengagement,
    Routine,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseloadEntry {
    pub channel_id: String,
    pub label: Option<String>,
    pub priority: Priority,
    /// Top 3 flags, most important first.
    pub reasons: Vec<Flag>,
    pub last_activity: Option<DateTime<Utc>>,
    pub latest_symptom: Option<ScoredPoint>,
    pub latest_alliance: Option<ScoredPoint>,
    pub week: u32,
}

/// When to notify the therapist, and about whom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestBatch {
    pub fire_at: DateTime<Utc>,
    /// Safety: notify at once, outside the digest.
    pub immediate: bool,
    pub entries: Vec<CaseloadEntry>,
}

pub fn caseload(
    patients: &[PatientRecord],
    now: DateTime<Utc>,
    cfg: &FlagConfig,
) -> Vec<CaseloadEntry> {
    let _ = (patients, now, cfg);
    todo!()
}

pub fn caseload_for_store(store: &Store, now: DateTime<Utc>) -> Result<Vec<CaseloadEntry>> {
    let _ = (store, now);
    todo!()
}

pub fn digest_plan(
    caseload: &[CaseloadEntry],
    availability: &Availability,
    now: DateTime<Utc>,
    per_day: u8,
) -> Result<Vec<DigestBatch>> {
    let _ = (caseload, availability, now, per_day);
    todo!()
}
