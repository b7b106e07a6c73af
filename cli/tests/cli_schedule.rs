//! Black-box tests of the schedule commands through the real binary.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn ok(o: Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    json(&o)
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn schedule_expand_prints_exactly_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "schedule",
            "expand",
            "--rule",
            "FREQ=DAILY",
            "--start",
            "2026-03-01T20:00",
            "--tz",
            "America/New_York",
            "--from",
            "2026-03-09T00:00:00Z",
            "--to",
            "2026-03-09T00:00:01Z",
            "--json",
        ],
    );
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        r#"{"occurrences":[{"utc":"2026-03-09T00:00:00Z","local":"2026-03-08T20:00:00","offset":"-04:00"}]}"#
    );
    // Seconds in --start, half-open window, time order across fall-back.
    let v = ok(run(
        dir.path(),
        &[
            "schedule",
            "expand",
            "--rule",
            "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
            "--start",
            "2026-10-31T01:30:00",
            "--tz",
            "America/New_York",
            "--from",
            "2026-10-31T00:00:00Z",
            "--to",
            "2026-11-02T06:30:00Z",
            "--json",
        ],
    ));
    let utc: Vec<_> = v["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["utc"].as_str().unwrap())
        .collect();
    // 01:30 on 1 Nov is ambiguous: first instance (EDT, 05:30Z); `to` is exclusive.
    assert_eq!(utc, ["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z"]);
}

#[test]
fn schedule_expand_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (args, field) in [
        (
            [
                "FREQ=HOURLY",
                "2026-03-01T20:00",
                "UTC",
                "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z",
            ],
            "rule",
        ),
        (
            [
                "FREQ=DAILY",
                "2026-03-01 20:00",
                "UTC",
                "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z",
            ],
            "start",
        ),
        (
            [
                "FREQ=DAILY",
                "2026-03-01T20:00",
                "EST+5",
                "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z",
            ],
            "tz",
        ),
        (
            [
                "FREQ=DAILY",
                "2026-03-01T20:00",
                "UTC",
                "yesterday",
                "2026-03-02T00:00:00Z",
            ],
            "from",
        ),
    ] {
        let o = run(
            dir.path(),
            &[
                "schedule", "expand", "--rule", args[0], "--start", args[1], "--tz", args[2],
                "--from", args[3], "--to", args[4], "--json",
            ],
        );
        assert!(!o.status.success());
        let v = json(&o);
        assert_eq!(v["error"]["code"], "invalid_input");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("invalid {field}")),
            "{v}"
        );
    }
}

#[test]
fn program_validate_reports_every_issue_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "program",
            "validate",
            repo("cli/data/programs/low-mood-8w.json").to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(ok(o)["valid"], true);
    let broken = repo("core/tests/data/programs/broken/many-problems.json");
    let o = run(
        dir.path(),
        &["program", "validate", broken.to_str().unwrap(), "--json"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let issues = v["issues"].as_array().unwrap();
    assert!(issues.len() > 1);
    assert!(issues
        .iter()
        .all(|i| i["path"].is_string() && i["message"].is_string()));
    // Human output: one "path: message" line per issue.
    let o = run(
        dir.path(),
        &["program", "validate", broken.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), issues.len() + 1);
}

#[test]
fn enrol_agenda_complete_reminders_travel_on_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = ["--store", "p.db"];
    let with =
        |rest: &[&str]| -> Vec<String> { s.iter().chain(rest).map(|x| x.to_string()).collect() };
    let call = |rest: &[&str]| {
        let args = with(rest);
        run(d, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    ok(call(&[
        "store",
        "init",
        "--name",
        "Jo",
        "--tz",
        "Europe/Berlin",
        "--mode",
        "guided",
        "--json",
    ]));
    let program = repo("cli/data/programs/low-mood-8w.json");
    let v = ok(call(&[
        "enrol",
        "--program",
        program.to_str().unwrap(),
        "--start",
        "2026-03-02",
        "--tz",
        "Europe/Berlin",
        "--json",
    ]));
    assert_eq!(v["program_id"], "low-mood-8w");
    assert_eq!(v["mode"], "guided");
    let o = call(&[
        "enrol",
        "--program",
        program.to_str().unwrap(),
        "--start",
        "2026-03-02",
        "--tz",
        "Europe/Berlin",
        "--json",
    ]);
    assert_eq!(json(&o)["error"]["code"], "already_exists");

    let a = ok(call(&["agenda", "--at", "2026-03-02T19:00:00Z", "--json"]));
    assert_eq!(a["progress"]["modules_total"], 8);
    assert_eq!(a["progress"]["current_week"], 1);
    let open: Vec<_> = a["open_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert!(open.contains(&"module:welcome".to_string()), "{open:?}");
    assert!(
        open.contains(&"checkin:phq9-weekly:2026-03-02T18:00".to_string()),
        "{open:?}"
    );

    let v = ok(call(&[
        "complete",
        "module:welcome",
        "--at",
        "2026-03-02T19:05:00Z",
        "--json",
    ]));
    assert_eq!(v["state"], "completed");
    let o = call(&["complete", "module:nothing", "--json"]);
    assert_eq!(json(&o)["error"]["code"], "not_found");

    let r = ok(call(&[
        "reminders",
        "--count",
        "64",
        "--at",
        "2026-03-02T19:10:00Z",
        "--json",
    ]));
    let list = r["reminders"].as_array().unwrap();
    assert!(!list.is_empty() && list.len() <= 64);
    assert!(list
        .iter()
        .all(|n| n["id"].is_string() && n["fire_at"].is_string()));
    let r5 = ok(call(&[
        "reminders",
        "--count",
        "5",
        "--at",
        "2026-03-02T19:10:00Z",
        "--json",
    ]));
    assert_eq!(r5["reminders"].as_array().unwrap().len(), list.len().min(5));

    ok(call(&[
        "travel",
        "--tz",
        "America/New_York",
        "--at",
        "2026-03-04T12:00:00Z",
        "--json",
    ]));
    let a = ok(call(&["agenda", "--at", "2026-03-04T13:00:00Z", "--json"]));
    assert_eq!(a["time_zone"], "America/New_York");
    assert_eq!(a["local_now"], "2026-03-04T08:00:00");
    let o = call(&["travel", "--tz", "Nowhere/City", "--json"]);
    assert_eq!(json(&o)["error"]["code"], "invalid_input");
    let o = call(&["agenda", "--at", "not a time", "--json"]);
    assert_eq!(json(&o)["error"]["code"], "invalid_input");
}
