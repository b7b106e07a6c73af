//! Runs the load tool at a tiny size so it cannot rot.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::process::Command;

#[test]
fn embedded_runs_at_a_tiny_size() {
    let out = Command::new(env!("CARGO_BIN_EXE_collabzium-load"))
        .args(["embedded", "--checkins", "20"])
        .output()
        .expect("run collabzium-load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["checkins"], 20);
    assert_eq!(v["phases"]["received"], 20);
    assert_eq!(v["phases"]["delivered"], 20);
    assert!(v["ratio_sync_to_local"].as_f64().unwrap() > 0.0);
}
