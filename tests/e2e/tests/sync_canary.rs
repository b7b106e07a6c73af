//! No plaintext at the relay (issue 5 acceptance): 50 canary strings in
//! check-ins and messages, synced both ways through a relay *process*; none
//! appears in its SQLite files, in a dump of its PostgreSQL database, or in
//! its logs, in any of the encodings a leak could take.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use collabzium_core::{session, sync};
use collabzium_e2e::*;

/// A random canary: unlikely to occur anywhere by chance.
fn canary(i: usize) -> String {
    let mut b = [0u8; 9];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    format!("CNRY{i:02}{}", URL_SAFE_NO_PAD.encode(b))
}

/// Every way a leaked string could be written: UTF-8, UTF-16LE, hex, and
/// base64 / base64url at each of the three byte alignments.
fn encodings(s: &str) -> Vec<Vec<u8>> {
    let mut out = vec![s.as_bytes().to_vec()];
    out.push(s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect());
    out.push(
        s.bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    );
    for pad in 0..3 {
        let mut bytes = vec![0u8; pad];
        bytes.extend_from_slice(s.as_bytes());
        for enc in [STANDARD.encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes)] {
            // Skip the characters that depend on the padding bytes.
            let skip = (pad * 4).div_ceil(3) + 1;
            let core = &enc[skip..enc.len().saturating_sub(4)];
            out.push(core.as_bytes().to_vec());
        }
    }
    out
}

fn hits(haystack: &[u8], canaries: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for c in canaries {
        for needle in encodings(c) {
            if needle.len() >= 8
                && haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
            {
                found.push(c.clone());
                break;
            }
        }
    }
    found
}

fn read_all(paths: &[&Path]) -> Vec<u8> {
    let mut all = Vec::new();
    for p in paths {
        if let Ok(b) = std::fs::read(p) {
            all.extend(b);
        }
    }
    all
}

/// Pairs, sends 50 canaries, syncs to quiescence, checks the positive
/// control; returns the canaries.
/// `mid` runs while envelopes are queued at the relay (before the
/// receivers fetch), with the canaries.
fn run_canaries(relay: &RelayProcess, dir: &Path, mid: &dyn Fn(&[String])) -> Vec<String> {
    let t = transport();
    let th = party(dir, "therapist");
    let pt = party(dir, "patient");
    let cid = pair(&relay.url, &t, &th.store, &pt.store, "Sam");
    let canaries: Vec<String> = (0..50).map(canary).collect();
    for (i, c) in canaries.iter().enumerate() {
        match i % 3 {
            0 => {
                alliance_checkin(&pt.store, c);
            }
            1 => {
                sync::send_message(&pt.store, None, c, None).unwrap();
            }
            _ => {
                sync::send_message(&th.store, Some(&cid), c, None).unwrap();
            }
        }
    }
    session::sync(&th.store, &t).unwrap();
    let s = session::sync(&pt.store, &t).unwrap();
    assert!(
        s.sent >= 33,
        "patient's canaries are queued at the relay: {s:?}"
    );
    mid(&canaries);
    sync_until_quiet(&[&pt, &th], &t);
    // Positive control: every canary arrived and is readable by the peer.
    let mut opened = serde_json::to_vec(&sync::inbox(&th.store, &[]).unwrap()).unwrap();
    opened.extend(serde_json::to_vec(&sync::thread(&pt.store, None).unwrap()).unwrap());
    assert_eq!(hits(&opened, &canaries).len(), 50, "positive control");
    canaries
}

#[test]
fn scanner_finds_a_planted_canary_in_every_encoding() {
    let c = canary(99);
    for enc in encodings(&c) {
        let mut hay = b"some log line ".to_vec();
        hay.extend(&enc);
        hay.extend(b" more");
        assert_eq!(hits(&hay, std::slice::from_ref(&c)), vec![c.clone()]);
    }
    assert!(hits(b"nothing here", &[c]).is_empty());
}

#[test]
fn no_canary_at_an_sqlite_relay_or_in_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.sqlite3");
    let mut relay = RelayProcess::start(&format!("sqlite:{}", db.display()), "127.0.0.1:0");
    let wal = dir.path().join("relay.sqlite3-wal");
    let shm = dir.path().join("relay.sqlite3-shm");
    let canaries = run_canaries(&relay, dir.path(), &|c| {
        let queued = read_all(&[&db, &wal, &shm]);
        assert_eq!(hits(&queued, c), Vec::<String>::new());
    });
    // While running (WAL in use) and after a hard stop.
    let live = read_all(&[&db, &wal, &shm]);
    assert!(live.len() > 4096, "scanned the relay's files");
    assert_eq!(hits(&live, &canaries), Vec::<String>::new());
    relay.kill();
    let after = read_all(&[&db, &wal, &shm]);
    assert_eq!(hits(&after, &canaries), Vec::<String>::new());
    let log = relay.log_bytes();
    assert!(log.len() > 200, "the relay logged its requests");
    assert_eq!(hits(&log, &canaries), Vec::<String>::new());
}

#[test]
fn no_canary_in_a_postgres_dump_or_the_relay_logs() {
    let Some(base) = postgres_url() else { return };
    let url = fresh_pg_database(&base, "canary");
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(&url, "127.0.0.1:0");
    let dump = || {
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", "--inserts", &url])
            .output()
            .expect("pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let canaries = run_canaries(&relay, dir.path(), &|c| {
        let text = dump();
        let envelopes = String::from_utf8_lossy(&text)
            .matches("INSERT INTO public.envelopes")
            .count();
        assert!(
            envelopes >= 33,
            "the dump holds the queued envelopes ({envelopes})"
        );
        assert_eq!(hits(&text, c), Vec::<String>::new());
    });
    assert_eq!(hits(&dump(), &canaries), Vec::<String>::new());
    assert_eq!(hits(&relay.log_bytes(), &canaries), Vec::<String>::new());
}
