//! Between-patient association of early alliance with outcome, per instrument (issue 6 §4).
//!
//! For each instrument and each scale (alliance, goals, tasks, bond):
//! - early value: the mean of the patient's non-empty values of that scale in rows with
//!   week ≤ 3 (any row, whatever its instrument);
//! - n: the patients with an early value and at least two scores on the instrument;
//! - residualized gain: the residual of the patient's last score (by week; ties in file
//!   order, so the last such row) on their first score (ties: the first such row), by OLS
//!   across the n patients;
//! - r: Pearson's r of early value with the *negated* residual (positive r: higher alliance,
//!   more improvement), with a 95% Fisher-z interval.
//!
//! Edge cases (documented in docs/research.md, mirrored by scripts/research_reference.py):
//! - n < 4, or an early value or residual with no variance: a `reason` instead of r;
//! - an intermediate result that is not finite (means or sums of squares of values near
//!   f64::MAX overflow): a `reason` ending in [`OVERFLOW`], never NaN;
//! - first scores with no variance: OLS fitted values are then the mean last score (the
//!   projection is unique even though the slope is not), so the residual is last − mean;
//! - |r| = 1: the Fisher interval collapses to [r, r].
//!
//! "No variance" means: the root mean square of the centred values is at most 1e-10 × (1 +
//! the largest absolute input value), so rounding noise of ~1e-15 counts as constant in every
//! implementation alike while any real spread in questionnaire data does not.
//!
//! Sums are taken over centred values (two passes) so that the results agree with numpy and
//! scipy to ~1e-12 rather than losing digits to cancellation.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::csv::ResearchRow;

/// Fewer patients than this: no r (the Fisher interval needs n > 3).
pub const MIN_PATIENTS: usize = 4;
/// Early alliance: rows with `week <= EARLY_WEEKS`.
pub const EARLY_WEEKS: u32 = 3;
/// The 97.5th percentile of the standard normal distribution.
pub const Z_975: f64 = 1.959963984540054;
/// Relative tolerance below which a variable counts as constant (see the module docs).
pub const CONSTANT_TOLERANCE: f64 = 1e-10;

/// The seed meta-analysis (Flückiger et al., internet interventions): alliance–outcome
/// r = .211, 95% CI .162–.259.
pub const BENCHMARK_ALLIANCE: Benchmark = Benchmark {
    r: 0.211,
    ci: [0.162, 0.259],
};
/// Subscale figures from the same meta-analysis (no intervals given in the seed).
pub const BENCHMARK_GOALS: f64 = 0.19;
pub const BENCHMARK_TASKS: f64 = 0.24;
pub const BENCHMARK_BOND: f64 = 0.12;

/// One instrument's result: the overall alliance association (flattened: `n` and `r`/`ci`
/// or `reason`), the three subscales and the seed's benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstrumentResult {
    pub instrument: String,
    #[serde(flatten)]
    pub alliance: Association,
    pub subscales: Subscales,
    pub benchmark: Benchmark,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscales {
    pub goals: Association,
    pub tasks: Association,
    pub bond: Association,
}

/// `{"n":40,"r":0.23,"ci":[0.01,0.43]}` or `{"n":3,"reason":"..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Association {
    pub n: usize,
    #[serde(flatten)]
    pub estimate: Estimate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Estimate {
    Value { r: f64, ci: [f64; 2] },
    Undefined { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    pub r: f64,
    pub ci: [f64; 2],
}

impl Association {
    /// r, when defined.
    pub fn r(&self) -> Option<f64> {
        match self.estimate {
            Estimate::Value { r, .. } => Some(r),
            Estimate::Undefined { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Alliance,
    Goals,
    Tasks,
    Bond,
}

const SCALES: [Scale; 4] = [Scale::Alliance, Scale::Goals, Scale::Tasks, Scale::Bond];

impl Scale {
    fn name(self) -> &'static str {
        match self {
            Scale::Alliance => "alliance",
            Scale::Goals => "goals",
            Scale::Tasks => "tasks",
            Scale::Bond => "bond",
        }
    }

    fn value(self, row: &ResearchRow) -> Option<f64> {
        match self {
            Scale::Alliance => row.alliance,
            Scale::Goals => row.goals,
            Scale::Tasks => row.tasks,
            Scale::Bond => row.bond,
        }
    }
}

/// (week, score), kept in file order.
type WeekScore = (u32, f64);

/// Runs the analysis; one result per instrument that has at least one score, sorted by id.
/// Never fails: where r is undefined the result says why.
pub fn alliance_outcome(rows: &[ResearchRow]) -> Vec<InstrumentResult> {
    // Early values per patient, indexed like SCALES.
    let mut early: HashMap<&str, [Vec<f64>; 4]> = HashMap::new();
    // Scores per instrument and patient, in file order.
    let mut scores: BTreeMap<&str, BTreeMap<&str, Vec<WeekScore>>> = BTreeMap::new();
    for row in rows {
        if row.week <= EARLY_WEEKS {
            for (i, scale) in SCALES.iter().enumerate() {
                if let Some(v) = scale.value(row) {
                    early.entry(&row.patient).or_default()[i].push(v);
                }
            }
        }
        if let (Some(id), Some(score)) = (&row.instrument, row.score) {
            scores
                .entry(id)
                .or_default()
                .entry(&row.patient)
                .or_default()
                .push((row.week, score));
        }
    }
    scores
        .into_iter()
        .map(|(instrument, by_patient)| {
            // (patient, first, last) for patients with two or more scores.
            let pairs: Vec<(&str, f64, f64)> = by_patient
                .into_iter()
                .filter(|(_, s)| s.len() >= 2)
                .filter_map(|(p, mut s)| {
                    // Stable: equal weeks keep file order.
                    crate::sort::sort_by_key(&mut s, |&(week, _)| week);
                    Some((p, s.first()?.1, s.last()?.1))
                })
                .collect();
            let assoc = |i: usize| {
                let data: Vec<(f64, f64, f64)> = pairs
                    .iter()
                    .filter_map(|&(p, first, last)| {
                        let values = early.get(p).map(|e| &e[i]).filter(|v| !v.is_empty())?;
                        Some((mean(values), first, last))
                    })
                    .collect();
                associate(SCALES[i], &data)
            };
            InstrumentResult {
                instrument: instrument.to_string(),
                alliance: assoc(0),
                subscales: Subscales {
                    goals: assoc(1),
                    tasks: assoc(2),
                    bond: assoc(3),
                },
                benchmark: BENCHMARK_ALLIANCE,
            }
        })
        .collect()
}

/// `data`: (early value, first score, last score) per patient.
fn associate(scale: Scale, data: &[(f64, f64, f64)]) -> Association {
    let n = data.len();
    let undefined = |reason: String| Association {
        n,
        estimate: Estimate::Undefined { reason },
    };
    if n < MIN_PATIENTS {
        return undefined(format!(
            "fewer than {MIN_PATIENTS} patients with early {} and two scores",
            scale.name()
        ));
    }
    let x: Vec<f64> = data.iter().map(|d| d.0).collect();
    let first: Vec<f64> = data.iter().map(|d| d.1).collect();
    let last: Vec<f64> = data.iter().map(|d| d.2).collect();
    // Parsed values are finite, but a mean or a sum of squares of values near
    // f64::MAX is not: every step is checked, and overflow is a reason, never
    // a NaN that would print as "NaN" or serialize as a bare null.
    let overflow = |what: &str| undefined(format!("{what} {OVERFLOW}"));
    let early_name = format!("early {}", scale.name());
    if !all_finite(&x) {
        return overflow(&early_name);
    }
    match is_constant(&x, &x) {
        None => return overflow(&early_name),
        Some(true) => return undefined(format!("{early_name} has no variance")),
        Some(false) => {}
    }
    let Some(residual) = residualize(&first, &last) else {
        return overflow("the residualized gain");
    };
    match is_constant(&residual, &last) {
        None => return overflow("the residualized gain"),
        Some(true) => return undefined("residualized gain has no variance".to_string()),
        Some(false) => {}
    }
    let gain: Vec<f64> = residual.iter().map(|e| -e).collect();
    let Some(r) = pearson(&x, &gain) else {
        return overflow("the correlation");
    };
    // Rounding can push |r| a hair past 1.
    let r = r.clamp(-1.0, 1.0);
    let ci = fisher_ci(r, n);
    if !ci.iter().all(|c| c.is_finite()) {
        return overflow("the confidence interval");
    }
    Association {
        n,
        estimate: Estimate::Value { r, ci },
    }
}

/// The reason's tail when an intermediate result is not a finite number.
pub const OVERFLOW: &str = "is not a finite number (the values are too large to analyse)";

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn centred(v: &[f64]) -> Vec<f64> {
    let m = mean(v);
    v.iter().map(|x| x - m).collect()
}

/// True when `v` has no spread beyond rounding noise relative to the magnitude of `source`,
/// the values it was computed from.
/// `None` when the spread cannot be computed in finite arithmetic.
fn is_constant(v: &[f64], source: &[f64]) -> Option<bool> {
    let c = centred(v);
    let rms = (c.iter().map(|d| d * d).sum::<f64>() / c.len() as f64).sqrt();
    let scale = 1.0 + source.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if !rms.is_finite() || !scale.is_finite() {
        return None;
    }
    Some(rms <= CONSTANT_TOLERANCE * scale)
}

/// Residuals of `y` regressed on `x` with an intercept (OLS). With no variance in `x` the
/// fitted values are mean(y). `None` if any step leaves finite arithmetic.
fn residualize(x: &[f64], y: &[f64]) -> Option<Vec<f64>> {
    let dx = centred(x);
    let dy = centred(y);
    let slope = if is_constant(x, x)? {
        0.0
    } else {
        let sxy: f64 = dx.iter().zip(&dy).map(|(a, b)| a * b).sum();
        let sxx: f64 = dx.iter().map(|a| a * a).sum();
        sxy / sxx
    };
    let r: Vec<f64> = dy.iter().zip(&dx).map(|(b, a)| b - slope * a).collect();
    (slope.is_finite() && all_finite(&r)).then_some(r)
}

/// `None` when a sum of products overflows (or the result is otherwise not finite).
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let dx = centred(x);
    let dy = centred(y);
    let sxy: f64 = dx.iter().zip(&dy).map(|(a, b)| a * b).sum();
    let sxx: f64 = dx.iter().map(|a| a * a).sum();
    let syy: f64 = dy.iter().map(|b| b * b).sum();
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    (sxy.is_finite() && sxx.is_finite() && syy.is_finite() && r.is_finite()).then_some(r)
}

/// 95% interval by Fisher's z; degenerate [r, r] when |r| = 1 (atanh is infinite there).
fn fisher_ci(r: f64, n: usize) -> [f64; 2] {
    if r.abs() >= 1.0 {
        return [r, r];
    }
    let z = r.atanh();
    let se = 1.0 / ((n - 3) as f64).sqrt();
    [(z - Z_975 * se).tanh(), (z + Z_975 * se).tanh()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alliance_row(p: &str, week: u32, a: f64) -> ResearchRow {
        ResearchRow {
            patient: p.into(),
            week,
            goals: None,
            tasks: None,
            bond: None,
            alliance: Some(a),
            instrument: None,
            score: None,
        }
    }

    fn score_row(p: &str, week: u32, id: &str, s: f64) -> ResearchRow {
        ResearchRow {
            patient: p.into(),
            week,
            goals: None,
            tasks: None,
            bond: None,
            alliance: None,
            instrument: Some(id.into()),
            score: Some(s),
        }
    }

    /// Hand-computed: first scores constant, so residual = last − mean(last) =
    /// (2.25, 0.25, −1.75, −0.75); with early alliance 1..4, r = 5.5 / √(5 · 8.75) = 11/(5√7).
    #[test]
    fn hand_computed_constant_baseline() {
        let mut rows = Vec::new();
        for (i, last) in [10.0, 8.0, 6.0, 7.0].into_iter().enumerate() {
            let p = format!("p{i}");
            rows.push(alliance_row(&p, 1, (i + 1) as f64));
            rows.push(score_row(&p, 0, "phq9", 10.0));
            rows.push(score_row(&p, 12, "phq9", last));
        }
        let res = alliance_outcome(&rows);
        assert_eq!(res.len(), 1);
        let a = &res[0].alliance;
        assert_eq!(a.n, 4);
        let expected = 11.0 / (5.0 * 7f64.sqrt());
        let Estimate::Value { r, ci } = a.estimate else {
            panic!("expected r, got {:?}", a.estimate)
        };
        assert!((r - expected).abs() < 1e-12, "{r} vs {expected}");
        // n = 4: se = 1.
        assert!((ci[0] - (expected.atanh() - Z_975).tanh()).abs() < 1e-12);
        assert!((ci[1] - (expected.atanh() + Z_975).tanh()).abs() < 1e-12);
        // No goals/tasks/bond values at all.
        assert_eq!(res[0].subscales.goals.n, 0);
        assert!(res[0].subscales.goals.r().is_none());
    }

    /// first = 1..4, last = (2, 2, 4, 4): slope 0.8, residuals (0.2, −0.6, 0.6, −0.2), which
    /// are uncorrelated with 1..4, so r = 0 and the interval is ±tanh(1.96).
    #[test]
    fn hand_computed_zero_correlation() {
        let mut rows = Vec::new();
        for (i, last) in [2.0, 2.0, 4.0, 4.0].into_iter().enumerate() {
            let p = format!("p{i}");
            rows.push(alliance_row(&p, 0, (i + 1) as f64));
            rows.push(score_row(&p, 0, "gad7", (i + 1) as f64));
            rows.push(score_row(&p, 8, "gad7", last));
        }
        let a = &alliance_outcome(&rows)[0].alliance;
        let Estimate::Value { r, ci } = a.estimate else {
            panic!("expected r")
        };
        assert!(r.abs() < 1e-12);
        assert!((ci[1] - Z_975.tanh()).abs() < 1e-12);
        assert!((ci[0] + Z_975.tanh()).abs() < 1e-12);
    }

    #[test]
    fn residuals_of_exact_fit_are_constant() {
        let mut rows = Vec::new();
        for i in 0..6 {
            let p = format!("p{i}");
            rows.push(alliance_row(&p, 2, i as f64));
            rows.push(score_row(&p, 0, "phq9", 10.0 + i as f64));
            // Everyone improves by exactly 3.
            rows.push(score_row(&p, 10, "phq9", 7.0 + i as f64));
        }
        let a = &alliance_outcome(&rows)[0].alliance;
        assert_eq!(a.n, 6);
        assert_eq!(
            a.estimate,
            Estimate::Undefined {
                reason: "residualized gain has no variance".into()
            }
        );
    }

    #[test]
    fn late_alliance_and_ties() {
        let mut rows = vec![
            // Week 4 is not early: p0 has no early alliance.
            alliance_row("p0", 4, 5.0),
            score_row("p0", 0, "phq9", 1.0),
            score_row("p0", 5, "phq9", 2.0),
        ];
        for i in 1..5 {
            let p = format!("p{i}");
            rows.push(alliance_row(&p, 3, i as f64));
            rows.push(score_row(&p, 0, "phq9", 20.0));
            rows.push(score_row(&p, 6, "phq9", 99.0));
            // Same week, later in the file: this one is the last score.
            rows.push(score_row(&p, 6, "phq9", 20.0 - (i * i) as f64));
        }
        let a = &alliance_outcome(&rows)[0].alliance;
        assert_eq!(a.n, 4);
        // Larger alliance, larger drop in score: r > 0.
        assert!(a.r().unwrap() > 0.9);
    }

    /// Scores near f64::MAX: every mean and sum of squares overflows. A reason, never NaN.
    #[test]
    fn huge_scores_give_a_reason_not_nan() {
        let mut rows = Vec::new();
        for i in 0..6 {
            let p = format!("p{i}");
            rows.push(alliance_row(&p, 1, (i + 1) as f64));
            rows.push(score_row(&p, 0, "phq9", 1e308));
            rows.push(score_row(
                &p,
                12,
                "phq9",
                if i % 2 == 0 { -1e308 } else { 1e308 },
            ));
        }
        rows.push(alliance_row("q", 1, 1e308));
        rows.push(alliance_row("q", 2, 1e308));
        let a = &alliance_outcome(&rows)[0].alliance;
        assert_eq!(a.n, 6);
        let Estimate::Undefined { reason } = &a.estimate else {
            panic!("expected a reason, got {:?}", a.estimate)
        };
        assert!(reason.ends_with(OVERFLOW), "{reason}");

        // Early alliance whose mean overflows.
        let mut rows = Vec::new();
        for i in 0..5 {
            let p = format!("p{i}");
            rows.push(alliance_row(&p, 1, 1e308));
            rows.push(alliance_row(&p, 2, 1e308 * (1.0 - i as f64 / 10.0)));
            rows.push(score_row(&p, 0, "phq9", 10.0));
            rows.push(score_row(&p, 12, "phq9", i as f64));
        }
        let a = &alliance_outcome(&rows)[0].alliance;
        assert_eq!(
            a.estimate,
            Estimate::Undefined {
                reason: format!("early alliance {OVERFLOW}")
            }
        );
        let json = serde_json::to_string(&alliance_outcome(&rows)).unwrap();
        assert!(!json.contains("null"), "{json}");
    }

    #[test]
    fn perfect_correlation_gives_degenerate_interval() {
        assert_eq!(fisher_ci(1.0, 10), [1.0, 1.0]);
        assert_eq!(fisher_ci(-1.0, 10), [-1.0, -1.0]);
    }

    #[test]
    fn json_shape() {
        let res = InstrumentResult {
            instrument: "phq9".into(),
            alliance: Association {
                n: 40,
                estimate: Estimate::Value {
                    r: 0.23,
                    ci: [0.01, 0.43],
                },
            },
            subscales: Subscales {
                goals: Association {
                    n: 3,
                    estimate: Estimate::Undefined {
                        reason: "fewer than 4 patients with early goals and two scores".into(),
                    },
                },
                tasks: Association {
                    n: 40,
                    estimate: Estimate::Value {
                        r: 0.2,
                        ci: [0.0, 0.4],
                    },
                },
                bond: Association {
                    n: 40,
                    estimate: Estimate::Value {
                        r: 0.1,
                        ci: [-0.1, 0.3],
                    },
                },
            },
            benchmark: BENCHMARK_ALLIANCE,
        };
        let json = serde_json::to_string(&res).unwrap();
        assert_eq!(
            json,
            r#"{"instrument":"phq9","n":40,"r":0.23,"ci":[0.01,0.43],"subscales":{"goals":{"n":3,"reason":"fewer than 4 patients with early goals and two scores"},"tasks":{"n":40,"r":0.2,"ci":[0.0,0.4]},"bond":{"n":40,"r":0.1,"ci":[-0.1,0.3]}},"benchmark":{"r":0.211,"ci":[0.162,0.259]}}"#
        );
        let back: InstrumentResult = crate::json::from_text(&json).unwrap();
        assert_eq!(back, res);
    }
}
