//! `collabzium demo` through the real binary (issue 6 §5): the caseload with
//! Safety first, valid SVG charts that show each patient's trajectories, the
//! research CSV and the alliance–outcome result, determinism by seed; and
//! `research export` from a therapist store.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Weeks simulated in the tests (the default run is 12; fewer keep the
/// debug-build test quick while every scenario still happens).
const WEEKS: &str = "8";

fn demo(seed: u64, out: &Path) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args([
            "--json",
            "demo",
            "--seed",
            &seed.to_string(),
            "--weeks",
            WEEKS,
        ])
        .arg("--out")
        .arg(out)
        .env_remove("COLLABZIUM_STORE")
        .output()
        .expect("run demo");
    assert!(
        o.status.success(),
        "demo failed: stdout {} stderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // --json: no progress bar, one JSON document on stdout.
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains('%'),
        "no progress bar with --json"
    );
    serde_json::from_slice(&o.stdout).expect("one JSON document")
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Points of every `<polyline data-series=…>`, by series id (a series
/// broken by missed weeks is several polylines).
fn polylines(svg: &str) -> BTreeMap<String, usize> {
    let doc = roxmltree::Document::parse(svg).expect("valid XML");
    let mut out = BTreeMap::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
        let Some(id) = n.attribute("data-series") else {
            continue;
        };
        let pts = n.attribute("points").unwrap_or("");
        // Every point is "x,y" with finite coordinates.
        for p in pts.split_whitespace() {
            let (x, y) = p.split_once(',').expect("x,y");
            assert!(x.parse::<f64>().unwrap().is_finite());
            assert!(y.parse::<f64>().unwrap().is_finite());
        }
        *out.entry(id.to_string()).or_insert(0) += pts.split_whitespace().count();
    }
    out
}

fn marker_count(svg: &str, id: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name("g") && n.attribute("data-series") == Some(id))
        .map(|g| g.children().filter(|c| c.has_tag_name("path")).count())
        .unwrap_or(0)
}

#[test]
fn demo_prints_the_caseload_writes_valid_charts_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    // Three runs side by side: the same seed twice and another seed.
    let runs: Vec<(PathBuf, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = [(7, &a), (7, &b), (8, &c)]
            .into_iter()
            .map(|(seed, out)| s.spawn(move || (out.clone(), demo(seed, out))))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (out, report) = (&runs[0].0, &runs[0].1);

    // The caseload: everyone, Safety first, each with a priority and reasons.
    let caseload = report["caseload"].as_array().expect("caseload");
    assert!(caseload.len() >= 12, "{} patients", caseload.len());
    assert_eq!(caseload[0]["priority"], "safety", "{:#}", caseload[0]);
    let priorities: Vec<&str> = caseload
        .iter()
        .map(|e| e["priority"].as_str().unwrap())
        .collect();
    for p in ["deterioration", "disengagement"] {
        assert!(priorities.contains(&p), "{priorities:?}");
    }
    let order = [
        "safety",
        "deterioration",
        "recent_risk",
        "rupture",
        "disengagement",
        "non_response",
        "routine",
    ];
    let ranks: Vec<usize> = priorities
        .iter()
        .map(|p| order.iter().position(|o| o == p).unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{priorities:?}");
    assert!(caseload[0]["reasons"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("safety"));
    assert!(!caseload[0]["reasons"][0]["evidence"]
        .as_array()
        .unwrap()
        .is_empty());
    // The patient who answered item 9 early on (acknowledged that evening)
    // keeps the risk in sight: never routine, the answer as the reason.
    let risky = report["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["scenario"].as_str().unwrap().contains("one risk answer"))
        .expect("the slow improver with a risk answer");
    let entry = caseload
        .iter()
        .find(|e| e["label"] == risky["label"])
        .unwrap();
    assert_eq!(entry["priority"], "recent_risk", "{entry:#}");
    let reason = entry["reasons"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("risk answered on") && reason.contains("(acknowledged "),
        "{reason}"
    );
    // The headline is the program's primary instrument, the PHQ-9, with its date.
    for e in caseload {
        assert_eq!(e["headline"]["instrument"], "phq9", "{e:#}");
        assert!(e["headline"]["at"].is_string() && e["headline"]["stale"].is_boolean());
    }
    for check in report["checks"].as_object().unwrap().values() {
        assert_eq!(check, true, "{:#}", report["checks"]);
    }
    let file_caseload: Value = serde_json::from_str(&read(out, "caseload.json")).unwrap();
    assert_eq!(&file_caseload, &report["caseload"]);

    // Every SVG is XML with an <svg> root.
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for name in [
        "caseload.svg",
        "research.csv",
        "research.csv.note.json",
        "alliance-outcome.json",
        "caseload.json",
    ] {
        assert!(files.contains(&name), "{files:?}");
    }
    let svgs: Vec<&&str> = files.iter().filter(|f| f.ends_with(".svg")).collect();
    assert_eq!(svgs.len(), 1 + 2 * caseload.len(), "{files:?}");
    for f in &svgs {
        let text = read(out, f);
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{f}");
        assert_eq!(
            doc.root_element().tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert!(doc.descendants().any(|n| n.has_tag_name("title")), "{f}");
    }
    let overview = read(out, "caseload.svg");
    let doc = roxmltree::Document::parse(&overview).unwrap();
    let rows: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("row"))
        .map(|n| n.attribute("data-priority").unwrap())
        .collect();
    assert_eq!(rows.len(), caseload.len());
    assert_eq!(rows[0], "Safety");

    // The per-patient charts show the trajectories: one polyline per
    // subscale and instrument, a point per synced measurement.
    let csv = read(out, "research.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("patient,week,goals,tasks,bond,alliance,instrument,score")
    );
    let cells: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let csv_count = |instrument: &str| cells.iter().filter(|c| c[6] == instrument).count();
    let csv_alliance = cells.iter().filter(|c| !c[5].is_empty()).count();
    let (mut phq9, mut gad7, mut alliance) = (0, 0, 0);
    let patients = report["patients"].as_array().unwrap();
    assert_eq!(patients.len(), caseload.len());
    let weeks: usize = WEEKS.parse().unwrap();
    for p in patients {
        let points = &p["points"];
        let n = |k: &str| points[k].as_u64().unwrap_or(0) as usize;
        let own_alliance = n("alliance") + n("alliance_unguided");
        let a = read(out, p["charts"]["alliance"].as_str().unwrap());
        let lines = polylines(&a);
        for sub in ["goals", "tasks", "bond"] {
            assert_eq!(lines.get(sub), Some(&own_alliance), "{}: {sub}", p["label"]);
        }
        assert_eq!(marker_count(&a, "therapist"), n("alliance_therapist"));
        let s = read(out, p["charts"]["symptoms"].as_str().unwrap());
        let lines = polylines(&s);
        assert_eq!(lines.get("phq9"), Some(&n("phq9")), "{}", p["label"]);
        assert_eq!(lines.get("gad7").copied().unwrap_or(0), n("gad7"));
        if p["scenario"].as_str().unwrap().contains("drops out") {
            assert!(n("phq9") < weeks, "a dropout stops: {p}");
        } else {
            // Weekly PHQ-9 over the weeks simulated, a few missed at most.
            assert!(n("phq9") >= weeks - 2, "{p}");
            assert!(own_alliance >= weeks - 3, "{p}");
        }
        phq9 += n("phq9");
        gad7 += n("gad7");
        alliance += own_alliance;
    }
    // Every simulated patient consented to research before their data.
    let note: Value = serde_json::from_str(&read(out, "research.csv.note.json")).unwrap();
    assert_eq!(note["patients_left_out_without_consent"], 0, "{note}");
    assert_eq!(note["measurements_left_out_before_consent"], 0, "{note}");
    assert_eq!(note["patients"], caseload.len(), "{note}");
    assert_eq!(note["rows"], cells.len(), "{note}");
    // The charts and the CSV come from the same synced data.
    assert_eq!(csv_count("phq9"), phq9);
    assert_eq!(csv_count("gad7"), gad7);
    assert_eq!(csv_alliance, alliance);
    assert!(patients.iter().any(|p| p["mode"] == "unguided"));

    // The alliance–outcome result has the documented shape.
    let ao: Value = serde_json::from_str(&read(out, "alliance-outcome.json")).unwrap();
    let ao = ao.as_array().expect("an array, one object per instrument");
    assert!(ao.iter().any(|r| r["instrument"] == "phq9"));
    for r in ao {
        assert!(r["n"].is_u64());
        if r.get("r").is_some() {
            assert!(
                r["r"].is_f64() && r["ci"].as_array().unwrap().len() == 2,
                "{r}"
            );
        } else {
            assert!(r["reason"].is_string(), "{r}");
        }
        for sub in ["goals", "tasks", "bond"] {
            assert!(r["subscales"][sub]["n"].is_u64(), "{r}");
        }
        assert_eq!(r["benchmark"]["r"], 0.211);
        assert_eq!(r["benchmark"]["ci"], serde_json::json!([0.162, 0.259]));
    }

    // Same seed: byte-identical outputs; another seed: different ones.
    let same = &runs[1].0;
    for f in &files {
        assert!(
            std::fs::read(out.join(f)).unwrap() == std::fs::read(same.join(f)).unwrap(),
            "{f} differs between two runs with seed 7"
        );
    }
    let other = &runs[2].0;
    assert_ne!(read(out, "research.csv"), read(other, "research.csv"));
    assert_ne!(read(out, "caseload.json"), read(other, "caseload.json"));
}

#[test]
fn demo_refuses_a_cohort_too_small_for_its_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args(["--json", "demo", "--patients", "3"])
        .arg("--out")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "invalid_input", "{v}");
}

#[test]
fn research_export_writes_the_deidentified_csv_of_a_therapist_store() {
    use collabzium_core::crypto::PassphraseKeyProvider;
    use collabzium_core::store::Store;
    use collabzium_e2e::*;
    use std::sync::Arc;

    const PASS: &str = "a long test passphrase";
    let dir = tempfile::tempdir().unwrap();
    let relay = collabzium_relay::spawn_background(collabzium_relay::RelayConfig {
        database: format!("sqlite:{}", dir.path().join("relay.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let t = transport();
    let clock = Arc::new(TestClock::default());
    let tpath = dir.path().join("therapist.db");
    let th = Party {
        store: Store::create_with_clock(&tpath, &PassphraseKeyProvider::new(PASS), clock.clone())
            .unwrap(),
        path: tpath.clone(),
        clock,
    };
    let pt = party(dir.path(), "patient");
    pair(&relay.url(), &t, &th.store, &pt.store, "Sam");
    // Research is opt-in (issue 10): without this, Sam is left out.
    collabzium_core::session::grant_consent(
        &pt.store,
        collabzium_core::domain::consent::scopes::RESEARCH_EXPORT,
        "v1",
    )
    .unwrap();
    pt.clock.advance_ms(1_000);
    phq9(&pt.store, [2, 2, 2, 1, 1, 1, 1, 1, 0]);
    alliance_checkin(&pt.store, "");
    phq9(&pt.store, [1, 1, 1, 1, 1, 0, 0, 0, 0]);
    sync_until_quiet(&[&pt, &th], &t);
    th.store.close();

    let export = |name: &str| {
        let file = dir.path().join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_collabzium"))
            .env("COLLABZIUM_PASSPHRASE", PASS)
            .arg("--store")
            .arg(&tpath)
            .args(["--json", "research", "export", "--out"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["rows"], 3, "{v}");
        assert_eq!(v["patients"], 1, "{v}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "owner-only");
        }
        std::fs::read_to_string(&file).unwrap()
    };
    let first = export("one.csv");
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(
        lines[0],
        "patient,week,goals,tasks,bond,alliance,instrument,score"
    );
    assert_eq!(lines.len(), 4, "{first}");
    assert!(!first.contains("Sam"));
    assert_eq!(lines.iter().filter(|l| l.ends_with(",phq9,11")).count(), 1);
    assert_eq!(lines.iter().filter(|l| l.ends_with(",phq9,5")).count(), 1);
    // The analysis reads it (n < 4: a reason, not a failure).
    let results = collabzium_core::research::analyze_csv(&first).expect("the export parses");
    assert_eq!(results[0].instrument, "phq9");
    // Patient ids are random for each export.
    let second = export("two.csv");
    let id = |s: &str| {
        s.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    assert_ne!(id(&first), id(&second));
}
