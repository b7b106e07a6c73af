//! One patient's timeline (issue 6 §1).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{EngagementSnapshot, Flag, PatientRecord, ProgressPoint};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub channel_id: String,
    pub label: Option<String>,
    /// Whole weeks since the start, at `now`.
    pub week_now: u32,
    /// Patient and therapist alliance ratings, oldest first.
    pub alliance: Vec<AlliancePoint>,
    /// One series per symptom instrument, by instrument id.
    pub symptoms: Vec<SymptomSeries>,
    pub progress: Vec<ProgressPoint>,
    pub engagement: Option<EngagementSnapshot>,
    pub flags: Vec<Flag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlliancePoint {
    pub at: DateTime<Utc>,
    pub week: u32,
    /// `patient` or `therapist`.
    pub source: String,
    pub goals: Option<f64>,
    pub tasks: Option<f64>,
    pub bond: Option<f64>,
    pub total: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymptomSeries {
    pub instrument: String,
    pub points: Vec<SymptomPoint>,
    pub bands: Vec<BandView>,
    /// Smallest change that counts as reliable (0 when the instrument has none).
    pub reliable_change_threshold: f64,
    pub higher_is_worse: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymptomPoint {
    pub at: DateTime<Utc>,
    pub week: u32,
    pub score: f64,
    pub band: Option<String>,
    pub band_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandView {
    pub id: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
}

pub fn timeline(p: &PatientRecord, now: DateTime<Utc>) -> Timeline {
    let _ = (p, now);
    todo!()
}
