//! Issue 15 cases 4, 5 and the size limits of case 10, through the real
//! binary: exports never reuse an existing file or follow a symlink, every
//! file is owner-only, and an endless input fails fast.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PASS: &str = "a long test passphrase";

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args(args)
        .current_dir(dir)
        .env("COLLABZIUM_PASSPHRASE", PASS)
        .env_remove("COLLABZIUM_STORE")
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn error_code(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)));
    v["error"]["code"].as_str().unwrap().to_string()
}

fn new_store(d: &Path) {
    ok(&run(
        d,
        &[
            "--store",
            "p.db",
            "store",
            "init",
            "--name",
            "Jo",
            "--tz",
            "Europe/Berlin",
        ],
    ));
}

/// The three export commands, each writing to `out`.
fn exports(out: &str) -> Vec<Vec<String>> {
    [
        vec!["store", "export", "--out", out],
        vec!["export", "fhir", "--out", out],
        vec!["research", "export", "--out", out],
    ]
    .into_iter()
    .map(|a| {
        ["--json", "--store", "p.db"]
            .into_iter()
            .chain(a)
            .map(String::from)
            .collect()
    })
    .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn exports_refuse_an_existing_out_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    new_store(d);
    for cmd in exports("out.txt") {
        std::fs::write(d.join("out.txt"), b"keep me").unwrap();
        assert_eq!(
            error_code(&run(d, &args(&cmd))),
            "already_exists",
            "{cmd:?}"
        );
        assert_eq!(std::fs::read(d.join("out.txt")).unwrap(), b"keep me");
        std::fs::remove_file(d.join("out.txt")).unwrap();
    }
    // research export also refuses when only its note exists, writing nothing.
    std::fs::write(d.join("r.csv.note.json"), b"old note").unwrap();
    let cmd = &exports("r.csv")[2];
    assert_eq!(error_code(&run(d, &args(cmd))), "already_exists");
    assert!(!d.join("r.csv").exists());
    assert_eq!(
        std::fs::read(d.join("r.csv.note.json")).unwrap(),
        b"old note"
    );
}

#[cfg(unix)]
#[test]
fn force_replaces_a_world_readable_file_with_an_owner_only_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    new_store(d);
    for cmd in exports("out.txt") {
        let out = d.join("out.txt");
        let note = d.join("out.txt.note.json");
        for p in [&out, &note] {
            std::fs::write(p, b"old").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let mut cmd = cmd.clone();
        cmd.push("--force".into());
        ok(&run(d, &args(&cmd)));
        assert_ne!(std::fs::read(&out).unwrap(), b"old", "{cmd:?}");
        assert_eq!(mode(&out), 0o600, "{cmd:?}");
        if cmd.contains(&"research".to_string()) {
            assert_ne!(std::fs::read(&note).unwrap(), b"old");
            assert_eq!(mode(&note), 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
        std::fs::remove_file(&out).unwrap();
        let _ = std::fs::remove_file(&note);
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_at_out_is_refused_and_with_force_replaced_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    new_store(d);
    let target = d.join("elsewhere.txt");
    for cmd in exports("link.txt") {
        std::fs::write(&target, b"someone else's file").unwrap();
        let link = d.join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let note_link = d.join("link.txt.note.json");
        std::os::unix::fs::symlink(&target, &note_link).unwrap();

        assert_eq!(
            error_code(&run(d, &args(&cmd))),
            "already_exists",
            "{cmd:?}"
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"someone else's file");

        let mut forced = cmd.clone();
        forced.push("--force".into());
        ok(&run(d, &args(&forced)));
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"someone else's file",
            "{cmd:?} followed the symlink"
        );
        assert!(
            std::fs::symlink_metadata(&link).unwrap().is_file(),
            "{cmd:?}"
        );
        assert_eq!(mode(&link), 0o600);
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_file(&note_link).unwrap();
    }
    // A dangling symlink counts as existing too.
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling.json")).unwrap();
    let cmd = &exports("dangling.json")[0];
    assert_eq!(error_code(&run(d, &args(cmd))), "already_exists");
    assert!(!d.join("nowhere").exists());
}

#[cfg(unix)]
#[test]
fn the_store_files_the_cli_creates_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    new_store(d);
    ok(&run(d, &["--store", "p.db", "store", "info"]));
    let o = Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args(["--store", "p.db", "store", "info"])
        .current_dir(d)
        .env("COLLABZIUM_PASSPHRASE", "not the passphrase at all")
        .env_remove("COLLABZIUM_STORE")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let failures = d.join("p.db-unlock-failures");
    assert!(failures.exists());
    assert_eq!(mode(&failures), 0o600);
    ok(&run(
        d,
        &[
            "--json", "--store", "p.db", "store", "export", "--out", "e.json",
        ],
    ));
    for entry in std::fs::read_dir(d).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn an_endless_program_file_fails_fast_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = run(dir.path(), &["--json", "program", "validate", "/dev/zero"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(error_code(&o), "invalid_input");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("larger than the limit of 8 MiB"), "{text}");
}

#[test]
fn oversized_inputs_are_refused_with_a_named_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One byte over the 8 MiB definition limit.
    let big = vec![b' '; 8 * 1024 * 1024 + 1];
    std::fs::write(d.join("big.json"), &big).unwrap();
    for cmd in [
        vec!["--json", "program", "validate", "big.json"],
        vec!["--json", "instrument", "validate", "big.json"],
    ] {
        let o = run(d, &cmd);
        assert_eq!(error_code(&o), "invalid_input", "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("8 MiB"),
            "{cmd:?}"
        );
    }
    let o = run(
        d,
        &[
            "--json",
            "research",
            "alliance-outcome",
            "--input",
            "/dev/zero",
        ],
    );
    assert_eq!(error_code(&o), "invalid_input");
    assert!(String::from_utf8_lossy(&o.stdout).contains("64 MiB"));
}
