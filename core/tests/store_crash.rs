//! Crash safety: SIGKILL a writer at random points; every acknowledged
//! write must survive and the file must pass `PRAGMA integrity_check`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod common;

use collabzium_core::store::Store;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "COLLABZIUM_CRASH_CHILD_STORE";

/// Runs only as the child of `sigkill_at_random_points`: writes records
/// until killed, acknowledging each one after its commit returns.
#[test]
#[ignore = "child process of sigkill_at_random_points"]
fn crash_child() {
    let path = std::env::var(CHILD_ENV).expect("run by the crash test");
    let round = std::env::var("COLLABZIUM_CRASH_ROUND").unwrap();
    let store = Store::open(std::path::Path::new(&path), &provider()).unwrap();
    let stdout = std::io::stdout();
    for n in 0.. {
        let id = format!("r{round}-{n}");
        let text = format!("{id}-{}", "x".repeat(n % 700));
        if n % 5 == 0 {
            // Multi-record transactions too.
            store
                .write(|tx| {
                    tx.put(&id, &Note { text: text.clone() })?;
                    tx.put(&format!("{id}-b"), &Note { text: text.clone() })
                })
                .unwrap();
        } else {
            store.put(&id, &Note { text }).unwrap();
        }
        let mut out = stdout.lock();
        writeln!(out, "ACK {id}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    new_store(&path).close();
    let exe = std::env::current_exe().unwrap();
    let mut acked_total = Vec::new();
    let seed = collabzium_core::crypto::random_bytes::<8>();
    let mut state = u64::from_le_bytes(seed) | 1;
    let mut next = || {
        // xorshift: enough randomness for kill timing
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..100 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env("COLLABZIUM_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Wait for the child to start writing, then kill it after a random delay.
        let mut reader = BufReader::new(stdout);
        let mut acked = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("round {round}: child exited before writing");
            }
            if let Some(id) = line.trim().strip_prefix("ACK ") {
                acked.push(id.to_string());
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(next() % 40_000));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        for line in reader.lines() {
            let line = line.unwrap();
            if let Some(id) = line.trim().strip_prefix("ACK ") {
                acked.push(id.to_string());
            }
        }
        acked_total.extend(acked);

        // Every tenth round, check everything so far (the rest is checked at the end).
        if round % 10 == 9 {
            check(&path, &acked_total);
        }
    }
    check(&path, &acked_total);
    assert!(
        acked_total.len() > 100,
        "only {} acknowledged writes",
        acked_total.len()
    );
    eprintln!(
        "acknowledged writes across 100 kills: {}",
        acked_total.len()
    );
}

fn check(path: &std::path::Path, acked: &[String]) {
    let store = Store::open(path, &provider()).expect("reopen after SIGKILL");
    for id in acked {
        assert!(
            store.get::<Note>(id).unwrap().is_some(),
            "acknowledged write {id} lost"
        );
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert!(store.verify_audit().unwrap().ok);
}
