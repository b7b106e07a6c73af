//! What the black-box CLI tests share: running the real binary with a test
//! passphrase, reading its `--json` output, and pairing two stores through a
//! relay. Each test file is its own crate and uses a part of this.
#![allow(dead_code, reason = "each test file uses only some of these")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const PASS: &str = "a long test passphrase";

pub fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_collabzium"));
    c.current_dir(dir)
        .env("COLLABZIUM_PASSPHRASE", PASS)
        .env_remove("COLLABZIUM_STORE");
    c
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir).args(args).output().unwrap()
}

pub fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn error_code(o: &Output) -> String {
    assert!(!o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["error"]["code"].as_str().unwrap().to_string()
}

pub fn init(d: &Path, store: &str, name: &str) {
    ok_json(&run(
        d,
        &[
            "--store",
            store,
            "--json",
            "store",
            "init",
            "--name",
            name,
            "--tz",
            "Europe/Berlin",
        ],
    ));
}

/// Pairs `patient` with t.db; returns the channel id.
pub fn pair(d: &Path, url: &str, patient: &str) -> String {
    let mut invite = cmd(d)
        .args(["--store", "t.db", "--json", "therapist", "invite"])
        .args(["--relay", url, "--label", patient, "--wait", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(invite.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let code = first["code"].as_str().unwrap().to_string();
    ok_json(&run(
        d,
        &[
            "--store", patient, "--json", "patient", "join", "--relay", url, "--code", &code,
        ],
    ));
    let paired: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(invite.wait().unwrap().success());
    paired["channel"].as_str().unwrap().to_string()
}
