//! Therapist insights (issue 6 §1–§3): each patient's timeline, the flags that
//! say whom to contact and why, the caseload ordered by priority, the
//! notification digest, and the research rows (§4) built from synced data.
//!
//! Loading ([`load_patients`], or [`load_patients_cached`] through a sealed
//! cache of its result) reads the therapist's store once; everything
//! else is a pure function of [`PatientRecord`]s and `now`, so screens, tests
//! and benchmarks share one code path. Rules and thresholds: `docs/insights.md`.

mod cache;
mod caseload;
mod flags;
mod load;
mod research;
mod timeline;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// Instrument knowledge lives in `instruments`; imported here so the insight
// submodules keep reaching it as `super::is_alliance_instrument`.
use crate::instruments::is_alliance_instrument;

pub use cache::{
    cache_fingerprint, cached_fingerprint, clear_patients_cache, load_patients_cached,
    PatientsMemo, CACHE_FORMAT, CACHE_KIND,
};
pub use caseload::{
    caseload, caseload_for_store, digest_plan, next_window_start, CaseloadEntry, DigestBatch,
    Headline, Priority, RENOTIFY_DAYS,
};
pub use flags::{baseline, display_name, flags, Evidence, Flag, FlagConfig, FlagKind};
pub use load::{load_patients, rate_alliance, TherapistRating, RATING_KIND};
pub use research::{research_export, research_rows, ResearchExport, ResearchNote};
pub use timeline::{timeline, AlliancePoint, BandView, SymptomPoint, SymptomSeries, Timeline};

/// Everything known about one patient on the therapist's device: synced
/// events (corrections applied) plus the therapist's own alliance ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub channel_id: String,
    /// The therapist's name for the patient.
    pub label: Option<String>,
    /// `guided` or `unguided` when known (from the alliance variant the
    /// patient answers; the enrolment itself is not synced).
    pub mode: Option<String>,
    /// The program's start date (UTC midnight) when assigned, else pairing.
    pub start: DateTime<Utc>,
    /// Patient-reported scores (symptoms and alliance), corrections applied,
    /// oldest first.
    pub checkins: Vec<ScoredPoint>,
    /// The therapist's `alliance_therapist` ratings of this patient, oldest first.
    pub therapist_ratings: Vec<ScoredPoint>,
    pub alerts: Vec<AlertRecord>,
    pub progress: Vec<ProgressPoint>,
    /// The latest engagement summary the patient's device sent.
    pub engagement: Option<EngagementSnapshot>,
    /// The latest patient activity known: a received event or the activity
    /// time inside the engagement summary.
    pub last_activity: Option<DateTime<Utc>>,
    /// The week by which the program expects reliable improvement.
    pub review_week: Option<u32>,
    pub program_weeks: Option<u32>,
    /// The program's primary symptom instrument (`metadata.primary_instrument`),
    /// when the assignment names one; see [`primary_instrument`] for the fallback.
    #[serde(default)]
    pub primary_instrument: Option<String>,
    /// The assigned program's id and title (`metadata.id`, `metadata.title`).
    #[serde(default)]
    pub program_id: Option<String>,
    #[serde(default)]
    pub program_title: Option<String>,
    /// The patient's `research_export` decisions (received `consent`
    /// events), oldest first. Empty: never granted (research is opt-in).
    #[serde(default)]
    pub research_consent: Vec<ConsentPoint>,
    /// Whether the patient is still in treatment with this therapist.
    #[serde(default)]
    pub status: PatientStatus,
    /// When the channel was revoked (`left` or `ended`).
    #[serde(default)]
    pub status_since: Option<DateTime<Utc>>,
}

/// Where a patient stands with this therapist's device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientStatus {
    /// Paired: events flow both ways.
    #[default]
    Active,
    /// The patient revoked the channel (unpaired, or erased their data,
    /// which revokes first): nothing more is sent to them. The therapist's
    /// copy stays under the retention rule (docs/erasure.md).
    Left,
    /// The therapist ended the channel.
    Ended,
}

/// One `research_export` decision, timed by the patient's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentPoint {
    pub at: DateTime<Utc>,
    /// Granted, or withdrawn.
    pub granted: bool,
}

/// One scored measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    pub at: DateTime<Utc>,
    pub instrument: String,
    pub total: Option<f64>,
    /// Scorable subscales only.
    pub subscales: BTreeMap<String, f64>,
    pub severity: Option<String>,
    pub severity_label: Option<String>,
}

/// A safety alert the patient's device raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub alert_id: String,
    pub at: DateTime<Utc>,
    pub instrument: String,
    /// The therapist acknowledged it (`send_alert_ack`).
    pub acknowledged: bool,
    /// When the therapist acknowledged it, and what they did.
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub action: Option<crate::checkin::AckAction>,
    /// What raised it: an instrument item, or risk language in free text.
    #[serde(default)]
    pub trigger: AlertTrigger,
}

/// What raised an alert, as the patient's device reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertTrigger {
    /// The item's link id (`phq9_9`), for instrument alerts.
    pub item: Option<String>,
    /// The answer's value (`1`) and its wording ("Several days").
    pub answer: Option<f64>,
    pub answer_text: Option<String>,
    /// The instrument total at submission (absent for a draft alert).
    pub total: Option<f64>,
    /// The matched phrase, for a possible-risk-language alert.
    pub phrase: Option<String>,
}

/// A completed agenda item (module, exercise or check-in) as synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressPoint {
    pub at: DateTime<Utc>,
    /// The module (or other item) id: the event's `ref_id`.
    pub module_id: String,
    pub title: String,
    /// The agenda item kind (`module`); completed check-ins are scores instead.
    pub kind: String,
}

/// The latest engagement summary, as computed on the patient's device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngagementSnapshot {
    /// When the summary was made (the event time).
    pub at: DateTime<Utc>,
    pub days_since_last_activity: u32,
    pub current_missed_run: u32,
    pub longest_missed_run: u32,
    pub stalled_modules: u32,
    pub completed_items: u32,
    pub missed_items: u32,
    /// The patient's last completion or opened reminder, when the summary said.
    pub last_activity_at: Option<DateTime<Utc>>,
    pub completion_rate: Option<f64>,
}

/// Symptom instruments in the order the primary-instrument fallback tries them.
pub const PRIMARY_FALLBACK: [&str; 2] = ["phq9", "gad7"];

/// The patient's headline instrument: the program's `primary_instrument`
/// when the assignment names one; otherwise the first of
/// [`PRIMARY_FALLBACK`] the patient has a score on, then any other symptom
/// instrument with a score (by id, so the choice is stable).
pub fn primary_instrument(p: &PatientRecord) -> Option<&str> {
    if let Some(id) = p.primary_instrument.as_deref() {
        return Some(id);
    }
    let scored = |id: &str| {
        p.checkins
            .iter()
            .any(|c| c.instrument == id && c.total.is_some())
    };
    PRIMARY_FALLBACK
        .into_iter()
        .find(|id| scored(id))
        .or_else(|| {
            p.checkins
                .iter()
                .filter(|c| !is_alliance_instrument(&c.instrument) && c.total.is_some())
                .map(|c| c.instrument.as_str())
                .min()
        })
}

/// Whole weeks from `start` to `at`, 0 before the start.
pub fn weeks_since(start: DateTime<Utc>, at: DateTime<Utc>) -> u32 {
    let days = (at - start).num_days();
    if days <= 0 {
        0
    } else {
        u32::try_from(days / 7).unwrap_or(u32::MAX)
    }
}
