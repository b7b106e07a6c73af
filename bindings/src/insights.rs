//! Therapist insights over FFI: the caseload and one patient's timeline,
//! each one call per screen. Thin conversions only; the screens are made by
//! `collabzium_core::session`. The records here are copies because every
//! core one carries `DateTime` instants, which cross as epoch milliseconds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use collabzium_core::insights;

use crate::error::Result;
use crate::store::PatientStore;

/// Declaration order is priority order (most urgent first).
pub type CaseloadPriority = insights::Priority;

#[uniffi::remote(Enum)]
pub enum CaseloadPriority {
    Safety,
    Deterioration,
    RecentRisk,
    Rupture,
    Disengagement,
    NonResponse,
    Routine,
}

pub use insights::FlagKind;

#[uniffi::remote(Enum)]
pub enum FlagKind {
    Safety,
    Deterioration,
    RecentRisk,
    AllianceRupture,
    Repair,
    Discrepancy,
    Disengagement,
    NoReliableImprovement,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FlagEvidence {
    pub label: String,
    pub at_millis: Option<i64>,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PatientFlag {
    pub kind: FlagKind,
    pub reason: String,
    pub evidence: Vec<FlagEvidence>,
    pub severity: u8,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScorePoint {
    pub at_millis: i64,
    pub instrument: String,
    pub total: Option<f64>,
    pub subscales: HashMap<String, f64>,
    pub severity_label: Option<String>,
}

/// The caseload's headline: the latest score on the program's primary instrument.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HeadlineScore {
    pub instrument: String,
    pub display_name: String,
    pub total: f64,
    pub severity_label: Option<String>,
    pub at_millis: i64,
    pub age_days: i64,
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseloadEntry {
    pub channel_id: String,
    pub label: Option<String>,
    pub priority: CaseloadPriority,
    /// Top reasons, most important first, each with its evidence.
    pub reasons: Vec<PatientFlag>,
    pub last_activity_millis: Option<i64>,
    pub headline: Option<HeadlineScore>,
    pub latest_symptom: Option<ScorePoint>,
    pub latest_alliance: Option<ScorePoint>,
    pub week: u32,
    /// "active", "left" (the patient revoked the channel, e.g. by erasing
    /// their data: nothing more can be sent) or "ended" (the therapist did).
    pub status: String,
    pub status_since_millis: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlliancePoint {
    pub at_millis: i64,
    pub week: u32,
    /// "patient" or "therapist"
    pub source: String,
    pub goals: Option<f64>,
    pub tasks: Option<f64>,
    pub bond: Option<f64>,
    pub total: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SymptomPoint {
    pub at_millis: i64,
    pub week: u32,
    pub score: f64,
    pub band_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SymptomSeries {
    pub instrument: String,
    pub points: Vec<SymptomPoint>,
    pub reliable_change_threshold: f64,
    pub higher_is_worse: bool,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ModuleProgress {
    pub at_millis: i64,
    pub module_id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PatientTimeline {
    pub channel_id: String,
    pub label: Option<String>,
    pub week_now: u32,
    pub alliance: Vec<AlliancePoint>,
    pub symptoms: Vec<SymptomSeries>,
    pub progress: Vec<ModuleProgress>,
    pub days_since_last_activity: Option<u32>,
    pub flags: Vec<PatientFlag>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn flag(f: insights::Flag) -> PatientFlag {
    PatientFlag {
        kind: f.kind,
        reason: f.reason,
        evidence: f
            .evidence
            .into_iter()
            .map(|e| FlagEvidence {
                label: e.label,
                at_millis: e.at.map(ms),
                value: e.value,
            })
            .collect(),
        severity: f.severity,
    }
}

fn point(p: insights::ScoredPoint) -> ScorePoint {
    ScorePoint {
        at_millis: ms(p.at),
        instrument: p.instrument,
        total: p.total,
        subscales: p.subscales.into_iter().collect(),
        severity_label: p.severity_label,
    }
}

/// One notification for the therapist: `immediate` only for safety;
/// `renotify` for a reminder of a still unacknowledged alert at a window start.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DigestBatch {
    pub fire_at_millis: i64,
    pub immediate: bool,
    pub renotify: bool,
    pub channel_ids: Vec<String>,
    pub labels: Vec<Option<String>>,
}

#[uniffi::export]
impl PatientStore {
    /// Therapist: when to notify about the caseload: safety at once (or at
    /// the next window start if the therapist defers alerts) and again at
    /// each window start for 7 days until acknowledged; everything else
    /// batched `per_day` (1 or 2) times a day within availability hours,
    /// safety and recent risk listed first. Reschedule after every sync.
    pub fn notification_digest(&self, per_day: u8) -> Result<Vec<DigestBatch>> {
        Ok(self
            .session
            .notification_digest(per_day)?
            .into_iter()
            .map(|b| DigestBatch {
                fire_at_millis: ms(b.fire_at),
                immediate: b.immediate,
                renotify: b.renotify,
                channel_ids: b.entries.iter().map(|e| e.channel_id.clone()).collect(),
                labels: b.entries.into_iter().map(|e| e.label).collect(),
            })
            .collect())
    }

    /// Therapist: every patient, most urgent first (safety > deterioration >
    /// recent risk > rupture > disengagement > non-response > routine;
    /// within a tier by the headline score's severity), with the top reasons.
    pub fn caseload(&self) -> Result<Vec<CaseloadEntry>> {
        Ok(self
            .session
            .caseload()?
            .into_iter()
            .map(|e| CaseloadEntry {
                channel_id: e.channel_id,
                label: e.label,
                priority: e.priority,
                reasons: e.reasons.into_iter().map(flag).collect(),
                last_activity_millis: e.last_activity.map(ms),
                headline: e.headline.map(|h| HeadlineScore {
                    instrument: h.instrument,
                    display_name: h.display_name,
                    total: h.total,
                    severity_label: h.severity_label,
                    at_millis: ms(h.at),
                    age_days: h.age_days,
                    stale: h.stale,
                }),
                latest_symptom: e.latest_symptom.map(point),
                latest_alliance: e.latest_alliance.map(point),
                week: e.week,
                status: match e.status {
                    collabzium_core::insights::PatientStatus::Active => "active",
                    collabzium_core::insights::PatientStatus::Left => "left",
                    collabzium_core::insights::PatientStatus::Ended => "ended",
                }
                .to_string(),
                status_since_millis: e.status_since.map(ms),
            })
            .collect())
    }

    /// Therapist: one patient's alliance, symptoms, progress and flags.
    pub fn patient_timeline(&self, channel_id: String) -> Result<PatientTimeline> {
        let t = self.session.patient_timeline(&channel_id)?;
        Ok(PatientTimeline {
            channel_id: t.channel_id,
            label: t.label,
            week_now: t.week_now,
            alliance: t
                .alliance
                .into_iter()
                .map(|a| AlliancePoint {
                    at_millis: ms(a.at),
                    week: a.week,
                    source: a.source,
                    goals: a.goals,
                    tasks: a.tasks,
                    bond: a.bond,
                    total: a.total,
                })
                .collect(),
            symptoms: t
                .symptoms
                .into_iter()
                .map(|s| SymptomSeries {
                    instrument: s.instrument,
                    points: s
                        .points
                        .into_iter()
                        .map(|p| SymptomPoint {
                            at_millis: ms(p.at),
                            week: p.week,
                            score: p.score,
                            band_label: p.band_label,
                        })
                        .collect(),
                    reliable_change_threshold: s.reliable_change_threshold,
                    higher_is_worse: s.higher_is_worse,
                })
                .collect(),
            progress: t
                .progress
                .into_iter()
                .map(|p| ModuleProgress {
                    at_millis: ms(p.at),
                    module_id: p.module_id,
                    title: p.title,
                })
                .collect(),
            days_since_last_activity: t.engagement.map(|e| e.days_since_last_activity),
            flags: t.flags.into_iter().map(flag).collect(),
        })
    }

    /// Therapist: the alliance rating form (items with their options);
    /// answer it with `rate_alliance`, keyed by link id.
    pub fn alliance_rating_form(&self) -> Result<Vec<crate::checkin::CheckinItem>> {
        Ok(
            collabzium_core::session::alliance_rating_form(self.store())?
                .into_iter()
                .map(crate::checkin::item)
                .collect(),
        )
    }

    /// Therapist: rate the alliance with one patient (stays on this device).
    /// `answers_json` maps the `alliance_therapist` items to values.
    pub fn rate_alliance(&self, channel_id: String, answers_json: String) -> Result<String> {
        Ok(collabzium_core::session::rate_alliance_json(
            self.store(),
            &channel_id,
            &answers_json,
        )?)
    }
}
