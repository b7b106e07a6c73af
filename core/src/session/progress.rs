//! The patient's progress screen in one call: every symptom measure they
//! answered as a series with its severity bands, and their alliance
//! check-ins as goals/tasks/bond series. The app only draws it.

use super::Session;
use crate::error::Result;
use crate::instruments::{self, Band, ChangeCategory, Direction};

/// One scored check-in on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartPoint {
    pub at_millis: i64,
    pub total: f64,
    /// The band id the score falls in (e.g. `moderate`), if the instrument has bands.
    pub severity: Option<String>,
}

/// One symptom instrument's series, with the bands to shade behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct SymptomChart {
    pub instrument: String,
    pub title: String,
    pub higher_is_better: bool,
    /// Lowest and highest possible total, for the chart's axis.
    pub min: f64,
    pub max: f64,
    pub bands: Vec<Band>,
    pub points: Vec<ChartPoint>,
    /// Reliable change of the latest score against the first one.
    pub latest_change: Option<ChangeCategory>,
}

/// One alliance check-in: the subscale means (goals, tasks, bond).
#[derive(Debug, Clone, PartialEq)]
pub struct AllianceChartPoint {
    pub at_millis: i64,
    pub instrument: String,
    pub goals: Option<f64>,
    pub tasks: Option<f64>,
    pub bond: Option<f64>,
    pub total: Option<f64>,
}

/// The whole progress screen.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProgressScreen {
    /// In the order the instruments were first answered.
    pub symptoms: Vec<SymptomChart>,
    /// Oldest first.
    pub alliance: Vec<AllianceChartPoint>,
    /// Check-ins that failed to open and are left out (no content).
    pub damaged: u32,
}

/// Axis range of an instrument's total: its bands when it has them,
/// otherwise the scores seen (never an empty range).
fn axis(bands: &[Band], points: &[ChartPoint]) -> (f64, f64) {
    let vals = bands
        .iter()
        .flat_map(|b| [b.min, b.max])
        .chain(points.iter().map(|p| p.total));
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi > lo {
        (lo.min(0.0), hi)
    } else {
        (0.0, hi.max(1.0))
    }
}

impl Session {
    /// Every series the progress screen draws, from the patient's own
    /// check-ins (corrections applied, superseded versions left out).
    pub fn progress_screen(&self) -> Result<ProgressScreen> {
        let checkins = self.checkins()?;
        let mut order: Vec<String> = Vec::new();
        for s in checkins.list()? {
            if !order.contains(&s.instrument) {
                order.push(s.instrument);
            }
        }
        let mut screen = ProgressScreen::default();
        for id in order {
            // An instrument no longer known (a clinic file removed) has no chart.
            let Some(inst) = checkins.registry().get(&id).cloned() else {
                continue;
            };
            let trend = checkins.trend(&id)?;
            screen.damaged = screen.damaged.max(trend.damaged.len() as u32);
            if instruments::is_alliance_instrument(&id) {
                screen
                    .alliance
                    .extend(trend.points.into_iter().map(|p| AllianceChartPoint {
                        at_millis: p.submitted_at_millis,
                        instrument: id.clone(),
                        goals: p.subscales.get("goals").copied().flatten(),
                        tasks: p.subscales.get("tasks").copied().flatten(),
                        bond: p.subscales.get("bond").copied().flatten(),
                        total: p.total,
                    }));
                continue;
            }
            let points: Vec<ChartPoint> = trend
                .points
                .into_iter()
                .filter_map(|p| {
                    p.total.map(|total| ChartPoint {
                        at_millis: p.submitted_at_millis,
                        total,
                        severity: p.severity,
                    })
                })
                .collect();
            let (min, max) = axis(&trend.bands, &points);
            screen.symptoms.push(SymptomChart {
                instrument: id,
                title: inst.title.clone(),
                higher_is_better: trend.direction == Direction::HigherIsBetter,
                min,
                max,
                bands: trend.bands,
                points,
                latest_change: trend.latest_change.map(|c| c.category),
            });
        }
        crate::sort::sort_by_key(&mut screen.alliance, |p| p.at_millis);
        Ok(screen)
    }
}
