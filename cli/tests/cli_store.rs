//! Black-box tests of `collabzium store ...` through the real binary.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::Path;
use std::process::{Command, Output};

const PASS: &str = "a long test passphrase";

fn run(dir: &Path, pass: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args(args)
        .current_dir(dir)
        .env("COLLABZIUM_PASSPHRASE", pass)
        .env("COLLABZIUM_NEW_PASSPHRASE", "the replacement passphrase")
        .env_remove("COLLABZIUM_STORE")
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn error_code(o: &Output) -> String {
    assert!(!o.status.success());
    json(o)["error"]["code"].as_str().unwrap().to_string()
}

#[test]
fn lifecycle_with_store_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(
        d,
        PASS,
        &[
            "--store",
            "p.db",
            "store",
            "init",
            "--name",
            "Jo",
            "--tz",
            "Europe/Berlin",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["created"], true);

    // --store after the subcommand works the same.
    let o = run(d, PASS, &["store", "info", "--store", "p.db", "--json"]);
    let info = json(&o);
    assert_eq!(info["schema_version"], 6);
    assert_eq!(info["has_profile"], true);

    let o = run(
        d,
        PASS,
        &[
            "--store",
            "p.db",
            "consent",
            "grant",
            "research_export",
            "--text-version",
            "v3",
            "--json",
        ],
    );
    assert_eq!(json(&o)["decision"], "granted");
    let o = run(
        d,
        PASS,
        &[
            "--store",
            "p.db",
            "consent",
            "withdraw",
            "research_export",
            "--text-version",
            "v3",
            "--json",
        ],
    );
    assert_eq!(json(&o)["decision"], "withdrawn");

    // Export to stdout and to a private file.
    let o = run(d, PASS, &["--store", "p.db", "store", "export"]);
    let export = json(&o);
    assert_eq!(export["format"], "collabzium.export");
    assert_eq!(export["profile"]["display_name"], "Jo");
    let o = run(
        d,
        PASS,
        &["--store", "p.db", "store", "export", "--out", "export.json"],
    );
    assert!(o.status.success());
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("export.json")).unwrap()).unwrap();
    assert_eq!(file["consents"].as_array().unwrap().len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("export.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "export must be owner-only");
    }

    let o = run(d, PASS, &["--store", "p.db", "store", "rekey", "--json"]);
    assert_eq!(json(&o)["rekeyed"], true);
    assert_eq!(
        error_code(&run(
            d,
            PASS,
            &["--store", "p.db", "store", "info", "--json"]
        )),
        "wrong_key"
    );
    let new = "the replacement passphrase";
    let o = run(
        d,
        new,
        &["--store", "p.db", "store", "verify-audit", "--json"],
    );
    assert!(o.status.success());
    let v = json(&o);
    assert_eq!(v["ok"], true);
    assert!(v["entries"].as_u64().unwrap() >= 8);

    // Erase needs --yes without a terminal; then nothing is left.
    let o = run(d, new, &["--store", "p.db", "store", "erase", "--json"]);
    assert_eq!(error_code(&o), "invalid_input");
    assert!(d.join("p.db").exists());
    let o = run(
        d,
        new,
        &["--store", "p.db", "store", "erase", "--yes", "--json"],
    );
    assert!(o.status.success());
    assert!(!d.join("p.db").exists());
    assert_eq!(
        error_code(&run(
            d,
            new,
            &["--store", "p.db", "store", "info", "--json"]
        )),
        "not_found"
    );
}

#[test]
fn errors_are_one_line_with_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("junk.db"), b"this is not a database").unwrap();
    assert_eq!(
        error_code(&run(
            d,
            PASS,
            &["--store", "junk.db", "store", "info", "--json"]
        )),
        "corrupt"
    );
    assert_eq!(
        std::fs::read(d.join("junk.db")).unwrap(),
        b"this is not a database"
    );
    assert_eq!(
        error_code(&run(d, PASS, &["store", "info", "--json"])),
        "invalid_input"
    );
    assert_eq!(
        error_code(&run(
            d,
            "short",
            &["--store", "n.db", "store", "init", "--json"]
        )),
        "invalid_input"
    );
    assert_eq!(
        error_code(&run(
            d,
            PASS,
            &[
                "--store",
                "n.db",
                "store",
                "init",
                "--name",
                "A",
                "--tz",
                "Nowhere/Land",
                "--json"
            ]
        )),
        "invalid_input"
    );
    assert!(!d.join("n.db").exists());

    // Human mode: one line on stderr, non-zero exit.
    let o = run(d, PASS, &["--store", "junk.db", "store", "info"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: corrupt database"));
}

#[test]
fn wrong_passphrase_and_tampered_audit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(run(d, PASS, &["--store", "p.db", "store", "init"])
        .status
        .success());
    assert_eq!(
        error_code(&run(
            d,
            "not the passphrase",
            &["--store", "p.db", "store", "info", "--json"]
        )),
        "wrong_key"
    );
    let c = rusqlite::Connection::open(d.join("p.db")).unwrap();
    c.execute("UPDATE audit_log SET event = 'export' WHERE seq = 1", [])
        .unwrap();
    drop(c);
    let o = run(
        d,
        PASS,
        &["--store", "p.db", "store", "verify-audit", "--json"],
    );
    assert!(!o.status.success());
    let v = json(&o);
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken_seq"], 1);
}

/// The README's first command, at its defaults (cohort and weeks): it
/// completes from a bare directory and its own privacy checks hold.
#[test]
fn demo_runs_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo-out");
    let o = run(
        dir.path(),
        PASS,
        &["demo", "--out", out.to_str().unwrap(), "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_eq!(v["checks"]["no_plaintext_in_database_files"], true, "{v}");
    assert_eq!(v["checks"]["audit_chains_intact"], true, "{v}");
    assert_eq!(v["weeks"], 12);
    assert!(v["patients"].as_array().unwrap().len() >= 12);
    assert_eq!(v["caseload"][0]["priority"], "safety", "{}", v["caseload"]);
    for f in [
        "research.csv",
        "alliance-outcome.json",
        "caseload.svg",
        "caseload.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
}
