//! One patient's timeline (issue 6 §1).

use chrono::{DateTime, Utc};
use serde::Serialize;

use std::collections::BTreeMap;

use super::flags::{flags, instrument, FlagConfig};
use super::{
    is_alliance_instrument, weeks_since, EngagementSnapshot, Flag, PatientRecord, ProgressPoint,
    ScoredPoint,
};
use crate::instruments::{reliable_threshold, Direction};

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

/// The patient's timeline at `now`, with the flags of the default
/// [`FlagConfig`].
pub fn timeline(p: &PatientRecord, now: DateTime<Utc>) -> Timeline {
    let week = |at| weeks_since(p.start, at);
    let alliance_point = |c: &ScoredPoint, source: &str| AlliancePoint {
        at: c.at,
        week: week(c.at),
        source: source.to_string(),
        goals: c.subscales.get("goals").copied(),
        tasks: c.subscales.get("tasks").copied(),
        bond: c.subscales.get("bond").copied(),
        total: c.total,
    };
    let mut alliance: Vec<AlliancePoint> = p
        .checkins
        .iter()
        .filter(|c| is_alliance_instrument(&c.instrument))
        .map(|c| alliance_point(c, "patient"))
        .chain(
            p.therapist_ratings
                .iter()
                .map(|c| alliance_point(c, "therapist")),
        )
        .collect();
    crate::sort::sort_by_key(&mut alliance, |a| a.at);

    let mut by: BTreeMap<&str, Vec<SymptomPoint>> = BTreeMap::new();
    for c in p
        .checkins
        .iter()
        .filter(|c| !is_alliance_instrument(&c.instrument))
    {
        if let Some(score) = c.total {
            by.entry(&c.instrument).or_default().push(SymptomPoint {
                at: c.at,
                week: week(c.at),
                score,
                band: c.severity.clone(),
                band_label: c.severity_label.clone(),
            });
        }
    }
    let symptoms = by
        .into_iter()
        .map(|(id, points)| {
            let inst = instrument(id);
            SymptomSeries {
                instrument: id.to_string(),
                points,
                bands: inst.map_or_else(Vec::new, |i| {
                    i.scoring
                        .bands
                        .iter()
                        .map(|b| BandView {
                            id: b.id.clone(),
                            label: b.label.clone(),
                            min: b.min,
                            max: b.max,
                        })
                        .collect()
                }),
                reliable_change_threshold: inst
                    .and_then(|i| i.scoring.reliable_change.as_ref())
                    .and_then(|rc| reliable_threshold(rc, 1.96))
                    .unwrap_or(0.0),
                higher_is_worse: inst
                    .is_none_or(|i| i.scoring.total.direction == Direction::HigherIsWorse),
            }
        })
        .collect();

    Timeline {
        channel_id: p.channel_id.clone(),
        label: p.label.clone(),
        week_now: week(now),
        alliance,
        symptoms,
        progress: p.progress.clone(),
        engagement: p.engagement.clone(),
        flags: flags(p, now, &FlagConfig::default()),
    }
}
