//! Flags: why a therapist should look at a patient (issue 6 §2).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::PatientRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    Safety,
    Deterioration,
    AllianceRupture,
    Repair,
    Discrepancy,
    Disengagement,
    NoReliableImprovement,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub reason: String,
    pub evidence: Vec<Evidence>,
    /// 0–100, higher is more urgent; comparable across the caseload.
    pub severity: u8,
}

/// A score or date that raised a flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub label: String,
    pub at: Option<DateTime<Utc>>,
    pub value: Option<f64>,
}

/// Thresholds of the flag rules; defaults and reasons in `docs/insights.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagConfig {
    /// Rupture: how many previous ratings make the patient's own level.
    pub rupture_window: usize,
    /// Rupture of the total and bond: z of the reliable change index.
    pub rupture_z: f64,
    /// Rupture of goals and tasks: lower z (they predict outcome more).
    pub rupture_z_goals_tasks: f64,
    /// A repair stays on the caseload this many days.
    pub repair_visible_days: i64,
    /// Discrepancy: therapist minus patient, in scale points.
    pub discrepancy_points: f64,
    /// Discrepancy: the patient's rating must be this close in time.
    pub discrepancy_max_days: i64,
    pub inactive_days: u32,
    pub missed_run: u32,
    pub stalled_modules: u32,
}

impl Default for FlagConfig {
    fn default() -> Self {
        FlagConfig {
            rupture_window: 3,
            rupture_z: 1.96,
            rupture_z_goals_tasks: 1.645,
            repair_visible_days: 42,
            discrepancy_points: 1.5,
            discrepancy_max_days: 14,
            inactive_days: 10,
            missed_run: 2,
            stalled_modules: 1,
        }
    }
}

pub fn flags(p: &PatientRecord, now: DateTime<Utc>, cfg: &FlagConfig) -> Vec<Flag> {
    let _ = (p, now, cfg);
    todo!()
}
