//! `collabzium research alliance-outcome` through the real binary.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args(args)
        .current_dir(dir)
        .env_remove("COLLABZIUM_STORE")
        .output()
        .unwrap()
}

/// Five patients; e has a single score, so n = 4.
const CSV: &str = "patient,week,goals,tasks,bond,alliance,instrument,score
a,1,1,1,2,1.25,,
a,0,,,,,phq9,10
a,12,,,,,phq9,10
b,2,2,2,2,2,,
b,0,,,,,phq9,10
b,12,,,,,phq9,8
c,3,3,4,2,3.5,,
c,0,,,,,phq9,10
c,12,,,,,phq9,6
d,1,4,4,2,3.5,,
d,0,,,,,phq9,10
d,12,,,,,phq9,7
e,1,5,5,5,5,,
e,0,,,,,phq9,3
";

#[test]
fn json_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("research.csv");
    std::fs::write(&file, CSV).unwrap();
    let path = file.to_str().unwrap();
    let o = run(
        dir.path(),
        &["research", "alliance-outcome", "--input", path, "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let phq9 = &v[0];
    assert_eq!(phq9["instrument"], "phq9");
    assert_eq!(phq9["n"], 4);
    assert!(phq9["r"].as_f64().unwrap() > 0.5);
    assert_eq!(phq9["ci"].as_array().unwrap().len(), 2);
    assert_eq!(
        phq9["subscales"]["bond"]["reason"],
        "early bond has no variance"
    );
    assert_eq!(phq9["benchmark"]["r"], 0.211);

    let o = run(
        dir.path(),
        &["research", "alliance-outcome", "--input", path],
    );
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("phq9"), "{text}");
    assert!(text.contains("0.211 (0.162, 0.259)"), "{text}");
    assert!(text.contains("early bond has no variance"), "{text}");
}

#[test]
fn errors_have_codes_and_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, CSV.replace("c,12,,,,,phq9,6", "c,12,,,,,phq9,six")).unwrap();
    let o = run(
        dir.path(),
        &[
            "research",
            "alliance-outcome",
            "--input",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "invalid_input");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("line 10") && msg.contains("score"), "{msg}");
    assert!(!msg.contains("six"), "values are never echoed: {msg}");

    let o = run(
        dir.path(),
        &[
            "research",
            "alliance-outcome",
            "--input",
            "missing.csv",
            "--json",
        ],
    );
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
}

/// Issue 15 case 9: scores of 1e308 overflow every mean and sum of squares.
/// The result is a reason (JSON) and never NaN (table), not `"r": null`.
#[test]
fn huge_scores_give_a_reason_and_never_nan() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("patient,week,goals,tasks,bond,alliance,instrument,score\n");
    for (i, p) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let last = if i % 2 == 0 { "-1e308" } else { "1e308" };
        csv.push_str(&format!(
            "{p},1,{g},{g},{g},{g},,\n{p},0,,,,,phq9,1e308\n{p},12,,,,,phq9,{last}\n",
            g = i + 1
        ));
    }
    let file = dir.path().join("huge.csv");
    std::fs::write(&file, csv).unwrap();
    let path = file.to_str().unwrap();
    let o = run(
        dir.path(),
        &["research", "alliance-outcome", "--input", path, "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!text.contains("null"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let phq9 = &v[0];
    assert_eq!(phq9["n"], 5);
    assert!(phq9.get("r").is_none(), "{phq9}");
    let reason = phq9["reason"].as_str().unwrap();
    assert!(reason.contains("not a finite number"), "{reason}");
    for scale in ["goals", "tasks", "bond"] {
        assert!(phq9["subscales"][scale]["reason"].is_string(), "{scale}");
    }

    let o = run(
        dir.path(),
        &["research", "alliance-outcome", "--input", path],
    );
    assert!(o.status.success());
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(!table.to_lowercase().contains("nan"), "{table}");
    assert!(table.contains("not a finite number"), "{table}");
}
