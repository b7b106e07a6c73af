//! Research export needs consent (issue 10): a patient's `research_export`
//! decisions travel to the therapist as `consent` events through an
//! in-process relay, and `research export` (core and the real CLI binary)
//! keeps only measurements under a current grant, with a note that counts
//! the patients left out and names none.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use collabzium_core::crypto::PassphraseKeyProvider;
use collabzium_core::domain::consent::scopes;
use collabzium_core::insights::{load_patients, research_export};
use collabzium_core::store::{outbox, Store};
use collabzium_core::{session, sync};
use collabzium_e2e::*;
use serde_json::Value;

const PASS: &str = "a long test passphrase";

/// A therapist store the CLI can open with `COLLABZIUM_PASSPHRASE`.
fn therapist(dir: &Path) -> Party {
    let clock = Arc::new(TestClock::default());
    let path = dir.join("therapist.db");
    let store =
        Store::create_with_clock(&path, &PassphraseKeyProvider::new(PASS), clock.clone()).unwrap();
    Party { store, path, clock }
}

/// A PHQ-9, then one second later on this patient's clock, so decisions and
/// measurements never share a millisecond.
fn score(p: &Party, items: [i64; 9]) {
    phq9(&p.store, items);
    p.clock.advance_ms(1_000);
}

fn grant(p: &Party) {
    session::grant_consent(&p.store, scopes::RESEARCH_EXPORT, "v1").unwrap();
    p.clock.advance_ms(1_000);
}

fn withdraw(p: &Party) {
    session::withdraw_consent(&p.store, scopes::RESEARCH_EXPORT, "v1").unwrap();
    p.clock.advance_ms(1_000);
}

#[test]
fn only_consenting_patients_are_exported_and_the_note_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in_process(dir.path());
    let t = transport();
    let th = therapist(dir.path());
    let ann = party(dir.path(), "ann");
    let ben = party(dir.path(), "ben-patient");
    let cat = party(dir.path(), "cat-the-patient");
    let url = relay.url();
    let ann_ch = pair(&url, &t, &th.store, &ann.store, "Ann");
    let ben_ch = pair(&url, &t, &th.store, &ben.store, "Ben");
    let cat_ch = pair(&url, &t, &th.store, &cat.store, "Cat");

    // Ann consents, then checks in three times.
    grant(&ann);
    score(&ann, [2, 2, 2, 1, 1, 1, 1, 1, 0]);
    alliance_checkin(&ann.store, "");
    ann.clock.advance_ms(1_000);
    score(&ann, [1, 1, 1, 1, 1, 0, 0, 0, 0]);
    // Ben never consents.
    score(&ben, [2, 2, 2, 2, 2, 2, 2, 2, 0]);
    score(&ben, [1, 1, 1, 1, 1, 1, 1, 1, 0]);
    // Cat consents, checks in, then withdraws.
    grant(&cat);
    score(&cat, [3, 3, 3, 2, 2, 2, 1, 1, 0]);
    score(&cat, [2, 2, 2, 2, 2, 2, 1, 1, 0]);
    withdraw(&cat);
    // The therapist's own consent in their store never becomes an event.
    session::grant_consent(&th.store, scopes::RESEARCH_EXPORT, "v1").unwrap();
    let own = th
        .store
        .read(outbox::pending)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "consent")
        .count();
    assert_eq!(own, 0, "a therapist store queues no consent event");
    sync_until_quiet(&[&ann, &ben, &cat, &th], &t);

    // Each decision arrived as an event of its own.
    let inbox = sync::inbox(&th.store, &["consent"]).unwrap();
    let of = |ch: &str| -> Vec<&Value> {
        let mut v: Vec<&sync::InboxEntry> = inbox.iter().filter(|e| e.channel_id == ch).collect();
        v.sort_by_key(|e| e.at_millis);
        v.into_iter().map(|e| &e.body).collect()
    };
    let ann_ev = of(&ann_ch);
    assert_eq!(ann_ev.len(), 1, "{inbox:?}");
    assert_eq!(ann_ev[0]["scope"], "research_export");
    assert_eq!(ann_ev[0]["decision"], "granted");
    assert_eq!(ann_ev[0]["text_version"], "v1");
    assert_eq!(ann_ev[0]["version"], 1);
    let ann_at = ann.store.consent_history().unwrap()[0].at_millis;
    assert_eq!(ann_ev[0]["at_millis"], ann_at);
    assert!(of(&ben_ch).is_empty());
    let cat_ev: Vec<&str> = of(&cat_ch)
        .iter()
        .map(|b| b["decision"].as_str().unwrap())
        .collect();
    assert_eq!(cat_ev, ["granted", "withdrawn"]);

    // The loaded records carry the histories.
    let patients = load_patients(&th.store).unwrap();
    let by = |ch: &str| patients.iter().find(|p| p.channel_id == ch).unwrap();
    assert_eq!(by(&ann_ch).research_consent.len(), 1);
    assert!(by(&ann_ch).research_consent[0].granted);
    assert!(by(&ben_ch).research_consent.is_empty());
    let cat_hist: Vec<bool> = by(&cat_ch)
        .research_consent
        .iter()
        .map(|c| c.granted)
        .collect();
    assert_eq!(cat_hist, [true, false]);

    // Only Ann: two scores and one alliance rating.
    let export = research_export(&patients, Some(3));
    assert_eq!(export.rows.len(), 3, "{:?}", export.rows);
    assert_eq!(export.note.patients, 1);
    assert_eq!(export.note.patients_left_out_without_consent, 2);
    assert_eq!(export.note.measurements_left_out_before_consent, 0);
    th.store.close();

    // The CLI writes the same, with the note next to the CSV.
    let csv_path = dir.path().join("cohort.csv");
    let o = Command::new(collabzium_bin())
        .env("COLLABZIUM_PASSPHRASE", PASS)
        .arg("--store")
        .arg(&th.path)
        .args(["--json", "research", "export", "--out"])
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"], 3, "{v}");
    assert_eq!(v["patients"], 1, "{v}");
    assert_eq!(v["note"]["patients_left_out_without_consent"], 2, "{v}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let ids: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!((csv.lines().count(), ids.len()), (4, 1), "{csv}");
    assert_eq!(csv.lines().filter(|l| l.ends_with(",phq9,11")).count(), 1);
    assert_eq!(csv.lines().filter(|l| l.ends_with(",phq9,5")).count(), 1);

    let note_path = dir.path().join("cohort.csv.note.json");
    assert_eq!(v["note_file"], note_path.to_str().unwrap());
    let note_text = std::fs::read_to_string(&note_path).unwrap();
    let note: Value = serde_json::from_str(&note_text).unwrap();
    assert_eq!(note["patients_left_out_without_consent"], 2, "{note}");
    assert_eq!(note["patients"], 1);
    assert_eq!(note["rows"], 3);
    assert!(note["consent_rule"].as_str().unwrap().contains("withdrawn"));
    // Counts only: no channel ids, labels or pseudonyms.
    for secret in [&ann_ch, &ben_ch, &cat_ch, "Ann", "Ben", "Cat"] {
        assert!(!note_text.contains(secret), "{note_text}");
    }
    for id in &ids {
        assert!(!note_text.contains(id), "{note_text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&note_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }

    // Without --json: the count is said in words too.
    let o = Command::new(collabzium_bin())
        .env("COLLABZIUM_PASSPHRASE", PASS)
        .arg("--store")
        .arg(&th.path)
        .args(["research", "export", "--out"])
        .arg(dir.path().join("again.csv"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("2 patients left out without research consent"),
        "{text}"
    );
}

#[test]
fn a_late_grant_or_a_regrant_exports_only_what_came_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in_process(dir.path());
    let t = transport();
    let th = therapist(dir.path());
    let dee = party(dir.path(), "dee");
    let eve = party(dir.path(), "eve-patient");
    let url = relay.url();
    pair(&url, &t, &th.store, &dee.store, "Dee");
    pair(&url, &t, &th.store, &eve.store, "Eve");

    // Dee: one score before consenting, two after.
    score(&dee, [2, 2, 2, 2, 2, 2, 2, 2, 0]);
    grant(&dee);
    score(&dee, [1, 1, 1, 1, 1, 1, 1, 1, 0]);
    score(&dee, [1, 1, 1, 1, 0, 0, 0, 0, 0]);
    // Eve: consents, withdraws, consents again; only the last period counts.
    grant(&eve);
    score(&eve, [3, 3, 3, 3, 3, 3, 3, 3, 0]);
    withdraw(&eve);
    score(&eve, [2, 2, 2, 2, 2, 2, 2, 2, 0]);
    grant(&eve);
    score(&eve, [1, 1, 1, 1, 1, 1, 1, 1, 0]);
    // A renewal under a new text does not restart the grant.
    session::grant_consent(&eve.store, scopes::RESEARCH_EXPORT, "v2").unwrap();
    eve.clock.advance_ms(1_000);
    sync_until_quiet(&[&dee, &eve, &th], &t);

    let patients = load_patients(&th.store).unwrap();
    let export = research_export(&patients, Some(5));
    let scores: Vec<f64> = export.rows.iter().filter_map(|r| r.score).collect();
    let mut sorted = scores.clone();
    sorted.sort_by(f64::total_cmp);
    // Dee's 8 and 4, Eve's 8; not Dee's 16, Eve's 24 or 16.
    assert_eq!(sorted, [4.0, 8.0, 8.0], "{:?}", export.rows);
    assert_eq!(export.note.patients, 2);
    assert_eq!(export.note.patients_left_out_without_consent, 0);
    assert_eq!(export.note.measurements_left_out_before_consent, 3);
}
