//! Issue 6 acceptance, "Statistics": the alliance–outcome analysis agrees with an independent
//! numpy/scipy implementation (scripts/research_reference.py) within 1e-9 on seeded datasets
//! that include n < 4, constant scores, missing subscales and patients with a single score.
//!
//! The reference runs under `COLLABZIUM_STATS_PYTHON` (scripts/test-all.sh sets it from
//! scripts/ensure-stats-venv.sh). Without it the comparison is skipped with a note, except
//! under CI or `COLLABZIUM_REQUIRE_STATS_PYTHON`, where that is a failure.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the sort rule keeps the library small"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use collabzium_core::research::{
    alliance_outcome, parse_csv, rows_to_csv, Association, Estimate, InstrumentResult, ResearchRow,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

/// SplitMix64: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[derive(Clone, Copy)]
enum Scores {
    /// Baseline around `base`, improving faster with higher alliance; integers in 0..=max.
    Likert { base: f64, max: f64 },
    /// Continuous (T-score-like) values with many decimals.
    Continuous,
    /// Every score of every patient is this value.
    Constant(f64),
    /// Each patient's scores never change, but differ between patients.
    FlatPerPatient,
    /// Everyone starts at the same score, then varies.
    SameBaseline(f64),
}

struct Spec {
    seed: u64,
    patients: usize,
    /// (instrument id, score model, share of patients who complete it)
    instruments: Vec<(&'static str, Scores, f64)>,
    /// Share of patients with an alliance total but no goals/tasks/bond at all.
    no_subscales: f64,
    /// Per row, chance that each field of an alliance row is left empty.
    missing_field: f64,
    /// Share of patients with a single score per instrument.
    single_score: f64,
    /// Share of patients whose first alliance rating comes after week 3.
    late_alliance: f64,
    /// Every bond rating is this value (no variance in early bond).
    constant_bond: Option<f64>,
    /// Repeat some score weeks (ties broken by file order).
    ties: bool,
}

impl Spec {
    fn new(seed: u64, patients: usize, instruments: Vec<(&'static str, Scores, f64)>) -> Self {
        Spec {
            seed,
            patients,
            instruments,
            no_subscales: 0.0,
            missing_field: 0.05,
            single_score: 0.0,
            late_alliance: 0.05,
            constant_bond: None,
            ties: false,
        }
    }
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

fn generate(spec: &Spec) -> Vec<ResearchRow> {
    let mut rng = Rng(spec.seed);
    let mut rows = Vec::new();
    for _ in 0..spec.patients {
        let patient = format!("{:012x}", rng.next_u64() >> 16);
        let latent = 3.5 + rng.normal();
        let no_subscales = rng.chance(spec.no_subscales);
        let first_alliance_week = if rng.chance(spec.late_alliance) { 4 } else { 0 };
        for week in (first_alliance_week..=6).step_by(1 + (rng.next_u64() % 2) as usize) {
            let sub = |rng: &mut Rng, shift: f64| {
                round_to((latent + shift + 0.6 * rng.normal()).clamp(1.0, 7.0), 0.25)
            };
            let (mut goals, mut tasks, mut bond) = (
                Some(sub(&mut rng, 0.1)),
                Some(sub(&mut rng, 0.0)),
                Some(sub(&mut rng, 0.3)),
            );
            if let Some(b) = spec.constant_bond {
                bond = Some(b);
            }
            let present: Vec<f64> = [goals, tasks, bond].into_iter().flatten().collect();
            let mut alliance = Some(present.iter().sum::<f64>() / present.len() as f64);
            for field in [&mut goals, &mut tasks, &mut bond, &mut alliance] {
                if rng.chance(spec.missing_field) {
                    *field = None;
                }
            }
            if no_subscales {
                (goals, tasks, bond) = (None, None, None);
            }
            rows.push(ResearchRow {
                patient: patient.clone(),
                week,
                goals,
                tasks,
                bond,
                alliance,
                instrument: None,
                score: None,
            });
        }
        for &(id, model, coverage) in &spec.instruments {
            if !rng.chance(coverage) {
                continue;
            }
            let single = rng.chance(spec.single_score);
            let flat = 5.0 + (rng.next_u64() % 15) as f64;
            let baseline = 14.0 + 4.0 * rng.normal();
            let rate = 0.4 + 0.25 * (latent - 3.5) + 0.2 * rng.normal();
            let mut weeks: Vec<u32> = (0..=12).step_by(2).filter(|_| rng.chance(0.85)).collect();
            if weeks.len() < 2 {
                weeks = vec![0, 12];
            }
            if single {
                weeks.truncate(1);
            }
            if spec.ties && weeks.len() > 2 && rng.chance(0.3) {
                let w = *weeks.last().unwrap_or(&12);
                weeks.push(w);
            }
            for (k, &week) in weeks.iter().enumerate() {
                let noise = rng.normal();
                let score = match model {
                    Scores::Likert { base, max } => {
                        let b = base + (baseline - 14.0);
                        (b - rate * week as f64 + 2.0 * noise)
                            .round()
                            .clamp(0.0, max)
                    }
                    Scores::Continuous => {
                        60.0 - 0.8 * rate * week as f64
                            + 3.0 * (baseline - 14.0) / 4.0
                            + 2.5 * noise
                    }
                    Scores::Constant(c) => c,
                    Scores::FlatPerPatient => flat,
                    Scores::SameBaseline(b) if k == 0 => b,
                    Scores::SameBaseline(b) => b - rate * week as f64 + 1.5 * noise,
                };
                // Now and then the score shares a row with an alliance rating.
                let alliance = (week <= 3 && rng.chance(0.1)).then(|| round_to(latent, 0.5));
                rows.push(ResearchRow {
                    patient: patient.clone(),
                    week,
                    goals: None,
                    tasks: None,
                    bond: None,
                    alliance,
                    instrument: Some(id.to_string()),
                    score: Some(score),
                });
            }
        }
    }
    // An export lists rows by week; the sort is stable, so tied weeks keep their order.
    rows.sort_by_key(|r| r.week);
    rows
}

fn datasets() -> Vec<(&'static str, Spec)> {
    let phq9 = Scores::Likert {
        base: 16.0,
        max: 27.0,
    };
    let gad7 = Scores::Likert {
        base: 12.0,
        max: 21.0,
    };
    let mut typical = Spec::new(1, 40, vec![("phq9", phq9, 0.95), ("gad7", gad7, 0.8)]);
    typical.ties = true;

    let mut small = Spec::new(
        2,
        12,
        vec![("phq9", phq9, 1.0), ("pcl5", Scores::Continuous, 0.4)],
    );
    small.no_subscales = 0.6;
    small.single_score = 0.25;
    small.missing_field = 0.2;

    let mut large = Spec::new(
        3,
        200,
        vec![
            ("phq9", phq9, 0.9),
            ("gad7", gad7, 0.7),
            ("promis_dep", Scores::Continuous, 0.5),
        ],
    );
    large.missing_field = 0.15;
    large.single_score = 0.1;
    large.late_alliance = 0.1;
    large.no_subscales = 0.1;
    large.ties = true;

    let mut constant = Spec::new(
        4,
        30,
        vec![
            ("flat", Scores::Constant(10.0), 1.0),
            ("stable", Scores::FlatPerPatient, 1.0),
            ("phq9", Scores::SameBaseline(20.0), 1.0),
        ],
    );
    constant.constant_bond = Some(5.0);
    constant.missing_field = 0.0;

    let tiny = Spec::new(5, 3, vec![("phq9", phq9, 1.0), ("gad7", gad7, 1.0)]);

    let mut singles = Spec::new(6, 25, vec![("phq9", phq9, 1.0), ("gad7", gad7, 0.6)]);
    singles.single_score = 0.6;
    singles.missing_field = 0.3;
    singles.no_subscales = 0.3;

    vec![
        ("typical-40", typical),
        ("small-12-missing-subscales", small),
        ("large-200", large),
        ("constant-scores", constant),
        ("tiny-3", tiny),
        ("single-scores", singles),
    ]
}

fn reason(a: &Association) -> Option<&str> {
    match &a.estimate {
        Estimate::Undefined { reason } => Some(reason),
        Estimate::Value { .. } => None,
    }
}

fn find<'a>(res: &'a [InstrumentResult], id: &str) -> &'a InstrumentResult {
    res.iter()
        .find(|r| r.instrument == id)
        .unwrap_or_else(|| panic!("no result for {id}"))
}

/// The edge cases the acceptance names really occur in the generated data.
fn check_edge_cases(name: &str, res: &[InstrumentResult]) {
    let ids: Vec<&str> = res.iter().map(|r| r.instrument.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "{name}: instruments in sorted order");
    match name {
        "typical-40" => {
            for r in res {
                assert!(
                    r.alliance.n >= 25,
                    "{name}/{}: n = {}",
                    r.instrument,
                    r.alliance.n
                );
                assert!(r.alliance.r().is_some());
            }
            // The generator ties improvement to alliance.
            assert!(find(res, "phq9").alliance.r().unwrap() > 0.2);
        }
        "small-12-missing-subscales" => {
            let pcl5 = find(res, "pcl5");
            assert!(pcl5.alliance.n < 4);
            assert!(reason(&pcl5.alliance).unwrap().starts_with("fewer than 4"));
            let phq9 = find(res, "phq9");
            // Patients with alliance but no subscales: the subscale n is smaller.
            assert!(phq9.subscales.goals.n < phq9.alliance.n);
        }
        "constant-scores" => {
            for id in ["flat", "stable"] {
                assert_eq!(
                    reason(&find(res, id).alliance),
                    Some("residualized gain has no variance"),
                    "{id}"
                );
            }
            let phq9 = find(res, "phq9");
            assert!(phq9.alliance.r().is_some(), "constant baseline still has r");
            assert_eq!(
                reason(&phq9.subscales.bond),
                Some("early bond has no variance")
            );
        }
        "tiny-3" => {
            for r in res {
                for a in [
                    &r.alliance,
                    &r.subscales.goals,
                    &r.subscales.tasks,
                    &r.subscales.bond,
                ] {
                    assert!(a.n <= 3);
                    assert!(reason(a).unwrap().starts_with("fewer than 4 patients"));
                }
            }
        }
        "single-scores" => {
            let phq9 = find(res, "phq9");
            // About 60% have a single score and are left out of n.
            assert!(phq9.alliance.n < 16, "n = {}", phq9.alliance.n);
        }
        _ => {}
    }
}

fn stats_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COLLABZIUM_STATS_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    // A developer who has run scripts/test-all.sh once has the venv in the cache.
    let cache = std::env::var_os("COLLABZIUM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/collabzium")))?;
    let p = cache.join("stats-venv/bin/python");
    p.exists().then_some(p)
}

fn required() -> bool {
    std::env::var_os("COLLABZIUM_REQUIRE_STATS_PYTHON").is_some()
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Largest absolute difference seen, or what did not match.
fn close(a: &Value, b: &Value, what: &str, worst: &mut f64) -> Result<(), String> {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if (x - y).abs() <= TOLERANCE => {
            *worst = worst.max((x - y).abs());
            Ok(())
        }
        (Some(x), Some(y)) => Err(format!(
            "{what}: rust {x} vs reference {y} (diff {:e})",
            (x - y).abs()
        )),
        _ => Err(format!("{what}: not numbers: {a} vs {b}")),
    }
}

fn compare_association(
    rust: &Value,
    reference: &Value,
    what: &str,
    worst: &mut f64,
) -> Result<bool, String> {
    if rust["n"] != reference["n"] {
        return Err(format!("{what}: n {} vs {}", rust["n"], reference["n"]));
    }
    if rust["reason"] != reference["reason"] {
        return Err(format!(
            "{what}: reason {} vs {}",
            rust["reason"], reference["reason"]
        ));
    }
    if rust.get("reason").is_some() {
        if rust.get("r").is_some() || reference.get("r").is_some() {
            return Err(format!("{what}: both a reason and r"));
        }
        return Ok(false);
    }
    close(&rust["r"], &reference["r"], &format!("{what}: r"), worst)?;
    for i in 0..2 {
        let (a, b) = (&rust["ci"][i], &reference["ci"][i]);
        close(a, b, &format!("{what}: ci[{i}]"), worst)?;
    }
    Ok(true)
}

/// Compares every n, r, CI bound and reason; returns how many r values were defined.
fn compare(name: &str, rust: &Value, reference: &Value, worst: &mut f64) -> Result<usize, String> {
    let (Some(rust), Some(reference)) = (rust.as_array(), reference.as_array()) else {
        return Err(format!("{name}: not arrays"));
    };
    if rust.len() != reference.len() {
        return Err(format!(
            "{name}: {} vs {} instruments",
            rust.len(),
            reference.len()
        ));
    }
    let mut defined = 0;
    for (a, b) in rust.iter().zip(reference) {
        if a["instrument"] != b["instrument"] {
            return Err(format!(
                "{name}: instrument {} vs {}",
                a["instrument"], b["instrument"]
            ));
        }
        let what = format!("{name}/{}", a["instrument"]);
        defined += usize::from(compare_association(a, b, &what, worst)?);
        for s in ["goals", "tasks", "bond"] {
            let (x, y) = (&a["subscales"][s], &b["subscales"][s]);
            defined += usize::from(compare_association(x, y, &format!("{what}/{s}"), worst)?);
        }
        if a["benchmark"] != b["benchmark"] {
            return Err(format!("{what}: benchmark"));
        }
    }
    Ok(defined)
}

fn run_reference(python: &Path, file: &Path) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/research_reference.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "reference failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference prints JSON")
}

fn python_or_skip() -> Option<PathBuf> {
    let python = stats_python();
    if python.is_none() {
        assert!(
            !required(),
            "COLLABZIUM_STATS_PYTHON is not set: run scripts/ensure-stats-venv.sh (scripts/test-all.sh does)"
        );
        eprintln!(
            "note: skipping the numpy/scipy comparison (set COLLABZIUM_STATS_PYTHON, e.g. from scripts/ensure-stats-venv.sh)"
        );
    }
    python
}

#[test]
fn alliance_outcome_matches_numpy_scipy() {
    let python = python_or_skip();
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut defined, mut worst) = (0, 0, 0.0_f64);
    for (name, spec) in datasets() {
        let rows = generate(&spec);
        let csv = rows_to_csv(&rows).unwrap();
        // What the analysis reads is what the file holds.
        assert_eq!(parse_csv(&csv).unwrap(), rows, "{name}: CSV round trip");
        let res = alliance_outcome(&rows);
        if std::env::var_os("RESEARCH_DEBUG").is_some() {
            eprintln!("{name}: {}", serde_json::to_string(&res).unwrap());
        }
        check_edge_cases(name, &res);
        let Some(python) = &python else { continue };
        let file = dir.path().join(format!("{name}.csv"));
        std::fs::write(&file, &csv).unwrap();
        let reference = run_reference(python, &file);
        let rust = serde_json::to_value(&res).unwrap();
        defined += compare(name, &rust, &reference, &mut worst).unwrap_or_else(|e| panic!("{e}"));
        compared += 1;
    }
    if python.is_some() {
        assert_eq!(compared, 6);
        // Most comparisons are of real numbers, not just of matching reasons.
        assert!(defined >= 25, "only {defined} defined r values compared");
        eprintln!(
            "numpy/scipy agree on {compared} datasets: {defined} r values, largest difference {worst:e}"
        );
    }
}

/// Four patients, worked by hand: first scores all 10, so the residual is last − mean(last)
/// = (2.25, 0.25, −1.75, −0.75); early alliance (1, 2, 3, 4) with the ones at week 4 ignored,
/// so r = 5.5 / √(5 · 8.75) = 11 / (5√7). Both implementations must give it.
#[test]
fn hand_computed_dataset() {
    let csv = "patient,week,goals,tasks,bond,alliance,instrument,score
a,0,,,,1,,
a,4,,,,7,,
a,0,,,,,phq9,10
a,12,,,,,phq9,10
b,2,,,,2,,
b,0,,,,,phq9,10
b,12,,,,,phq9,8
c,3,,,,3,,
c,0,,,,,\"phq9\",10
c,12,,,,,phq9,6
d,1,,,,4,,
d,0,,,,,phq9,10
d,6,,,,,phq9,99
d,12,,,,,phq9,7
";
    let expected = 11.0 / (5.0 * 7f64.sqrt());
    let half = 1.959963984540054; // n = 4: se = 1
    let ci = [
        (expected.atanh() - half).tanh(),
        (expected.atanh() + half).tanh(),
    ];
    let res = alliance_outcome(&parse_csv(csv).unwrap());
    let rust = serde_json::to_value(&res).unwrap();
    let want = serde_json::json!([{
        "instrument": "phq9", "n": 4, "r": expected, "ci": ci,
        "subscales": {
            "goals": {"n": 0, "reason": "fewer than 4 patients with early goals and two scores"},
            "tasks": {"n": 0, "reason": "fewer than 4 patients with early tasks and two scores"},
            "bond": {"n": 0, "reason": "fewer than 4 patients with early bond and two scores"}
        },
        "benchmark": {"r": 0.211, "ci": [0.162, 0.259]}
    }]);
    let mut worst = 0.0;
    assert_eq!(compare("hand/rust", &rust, &want, &mut worst), Ok(1));
    // The comparison itself can fail.
    let mut off = want.clone();
    off[0]["ci"][1] = serde_json::json!(ci[1] + 2e-9);
    assert!(compare("hand/perturbed", &rust, &off, &mut worst).is_err());
    off = want.clone();
    off[0]["subscales"]["bond"] = serde_json::json!({"n": 0, "r": 0.1, "ci": [0, 0.2]});
    assert!(compare("hand/reason", &rust, &off, &mut worst).is_err());
    if let Some(python) = python_or_skip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hand.csv");
        std::fs::write(&file, csv).unwrap();
        let reference = run_reference(&python, &file);
        assert_eq!(
            compare("hand/reference", &reference, &want, &mut worst),
            Ok(1)
        );
    }
}

/// r = 1: early alliance is exactly the improvement. The interval collapses to [1, 1].
#[test]
fn perfect_correlation_matches_reference() {
    let mut csv = String::from("patient,week,goals,tasks,bond,alliance,instrument,score\n");
    for i in 1..=5 {
        csv.push_str(&format!(
            "p{i},1,,,,{i},,\np{i},0,,,,,phq9,10\np{i},12,,,,,phq9,{}\n",
            10 - i
        ));
    }
    let res = alliance_outcome(&parse_csv(&csv).unwrap());
    let Estimate::Value { r, ci } = res[0].alliance.estimate else {
        panic!("expected r: {:?}", res[0].alliance)
    };
    assert!((r - 1.0).abs() < 1e-12 && (ci[0] - 1.0).abs() < 1e-9 && ci[1] <= 1.0);
    if let Some(python) = python_or_skip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("perfect.csv");
        std::fs::write(&file, &csv).unwrap();
        let reference = run_reference(&python, &file);
        let rust = serde_json::to_value(&res).unwrap();
        let mut worst = 0.0;
        assert_eq!(compare("perfect", &rust, &reference, &mut worst), Ok(1));
    }
}
