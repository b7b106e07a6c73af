//! Erasure from the command line (issue 16 §3): `store erase` revokes at the
//! relay first, the therapist's caseload shows "left", sending is refused,
//! and `therapist forget` deletes the copy only after `export-patient`.
//! Also `backup status` and the recorded last backup (§2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use serde_json::Value;

mod support;

use support::{cmd, error_code, init, ok_json, pair, run};

#[test]
fn erase_reaches_the_therapist_who_exports_then_forgets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let relay = collabzium_e2e::RelayProcess::start(&db, "127.0.0.1:0");
    init(d, "t.db", "Dr Lee");
    init(d, "p.db", "Sam");
    init(d, "q.db", "Kim");
    let cid = pair(d, &relay.url, "p.db");
    let cid_q = pair(d, &relay.url, "q.db");
    ok_json(&run(
        d,
        &["--store", "p.db", "--json", "message", "send", "see you"],
    ));
    ok_json(&run(d, &["--store", "p.db", "--json", "sync"]));

    let r = ok_json(&run(
        d,
        &["--store", "p.db", "--json", "store", "erase", "--yes"],
    ));
    assert_eq!(r["revoked_at_relay"], serde_json::json!([cid]));
    assert_eq!(r["not_reached"], serde_json::json!([]));
    assert!(!d.join("p.db").exists());

    // The other patient erases with --offline: the relay is not contacted.
    let r = ok_json(&run(
        d,
        &[
            "--store",
            "q.db",
            "--json",
            "store",
            "erase",
            "--yes",
            "--offline",
        ],
    ));
    assert_eq!(r["not_reached"], serde_json::json!([cid_q]));
    assert_eq!(r["not_reached_reason"], "skipped");
    assert!(!d.join("q.db").exists());

    let s = ok_json(&run(d, &["--store", "t.db", "--json", "sync"]));
    assert_eq!(s["channels_revoked"], 1, "{s}");
    let caseload = ok_json(&run(
        d,
        &["--store", "t.db", "--json", "therapist", "caseload"],
    ));
    let status = |id: &str| {
        caseload
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["channel_id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&cid), "left");
    assert_eq!(status(&cid_q), "active", "an offline erase tells nobody");
    let text = run(d, &["--store", "t.db", "therapist", "caseload"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("left since"));

    let o = run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "message",
            "send",
            "hello?",
            "--channel",
            &cid,
        ],
    );
    assert_eq!(error_code(&o), "channel_revoked");

    // Forget refuses without the export, then with an early one is fine
    // only once it was written after leaving (this one is).
    let o = run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "forget",
            "--channel",
            &cid,
        ],
    );
    assert_eq!(error_code(&o), "invalid_input");
    let o = run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "forget",
            "--channel",
            &cid_q,
            "--after-export",
            "none.json",
        ],
    );
    assert_eq!(error_code(&o), "not_found");
    ok_json(&run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "export-patient",
            "--channel",
            &cid,
            "--out",
            "sam.json",
        ],
    ));
    let o = run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "forget",
            "--channel",
            &cid_q,
            "--after-export",
            "sam.json",
        ],
    );
    assert_eq!(error_code(&o), "invalid_input", "another patient's file");
    let f = ok_json(&run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "forget",
            "--channel",
            &cid,
            "--after-export",
            "sam.json",
        ],
    ));
    assert_eq!(f["forgotten"], true);
    let caseload = ok_json(&run(
        d,
        &["--store", "t.db", "--json", "therapist", "caseload"],
    ));
    assert_eq!(caseload.as_array().unwrap().len(), 1);

    // Retention setting: shown, refused out of range, set.
    let v = ok_json(&run(
        d,
        &["--store", "t.db", "--json", "therapist", "retention"],
    ));
    assert_eq!(v["left_patient_retention_days"], Value::Null);
    let o = run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "retention",
            "--days",
            "0",
        ],
    );
    assert_eq!(error_code(&o), "invalid_input");
    let v = ok_json(&run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "retention",
            "--days",
            "90",
        ],
    ));
    assert_eq!(v["left_patient_retention_days"], 90);
}

#[test]
fn backup_create_records_the_backup_and_status_says_when_one_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = ok_json(&run(
        d,
        &[
            "--store",
            "p.db",
            "--json",
            "store",
            "init",
            "--name",
            "Sam",
            "--tz",
            "UTC",
            "--recovery-key",
        ],
    ));
    let key = init["recovery_key"].as_str().unwrap().to_string();
    let v = ok_json(&run(d, &["--store", "p.db", "--json", "backup", "status"]));
    assert_eq!(v["due"], true);
    assert_eq!(v["last_backup_at_millis"], Value::Null);
    let o = cmd(d)
        .env("COLLABZIUM_RECOVERY_KEY", &key)
        .args([
            "--store", "p.db", "--json", "backup", "create", "--out", "b.czb",
        ])
        .output()
        .unwrap();
    let created = ok_json(&o);
    let v = ok_json(&run(d, &["--store", "p.db", "--json", "backup", "status"]));
    assert_eq!(v["due"], false);
    assert_eq!(
        v["last_backup_at_millis"],
        created["backup"]["created_at_millis"]
    );
}
