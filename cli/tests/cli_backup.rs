//! Backup and restore (issue 16 §2) through the real binary on real store
//! files: twelve weeks of a paired patient round-trip exactly, the restored
//! store resumes its channel (one patient at the therapist, nothing applied
//! twice), and a wrong key, a flipped byte and a newer version give their
//! error codes. The backup holds no plaintext and is owner-only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::Path;
use std::sync::Arc;

use collabzium_core::agenda::{self, ItemKind};
use collabzium_core::crypto::PassphraseKeyProvider;
use collabzium_core::domain::consent::scopes;
use collabzium_core::session;
use collabzium_core::store::Store;
use collabzium_core::sync;
use collabzium_e2e::{
    alliance_checkin, cli, ok_json, pair, party, phq9, relay_in_process, repo_path,
    sync_until_quiet, transport, Party, TestClock, PASS,
};
use serde_json::Value;

const NEW_PASS: &str = "another long passphrase";
const NAME: &str = "Robin Quillfeather";
const DAY_MS: i64 = 86_400_000;

fn run_with(dir: &Path, key: Option<&str>, pass: &str, args: &[&str]) -> std::process::Output {
    let mut c = cli(dir);
    c.env("COLLABZIUM_PASSPHRASE", pass);
    match key {
        Some(k) => c.env("COLLABZIUM_RECOVERY_KEY", k),
        None => c.env_remove("COLLABZIUM_RECOVERY_KEY"),
    };
    c.args(args).output().unwrap()
}

/// `store init --recovery-key`: the key printed once.
fn init_with_key(dir: &Path, store: &str) -> String {
    let v = ok_json(&run_with(
        dir,
        None,
        PASS,
        &[
            "--json",
            "--store",
            store,
            "store",
            "init",
            "--name",
            NAME,
            "--tz",
            "Europe/London",
            "--recovery-key",
        ],
    ));
    v["recovery_key"].as_str().unwrap().to_string()
}

fn error_code(o: &std::process::Output) -> String {
    assert!(!o.status.success(), "expected a failure");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["error"]["code"].as_str().unwrap().to_string()
}

fn export(dir: &Path, store: &str, pass: &str) -> Value {
    let o = run_with(dir, None, pass, &["--store", store, "store", "export"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn twelve_weeks_round_trip_exactly_and_the_channel_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let relay = relay_in_process(d);
    let url = relay.url();
    let t = transport();
    let th = party(d, "therapist");

    let key = init_with_key(d, "patient.db");
    let clock = Arc::new(TestClock::default());
    let path = d.join("patient.db");
    let store =
        Store::open_with_clock(&path, &PassphraseKeyProvider::new(PASS), clock.clone()).unwrap();
    let pt = Party {
        store,
        path: path.clone(),
        clock,
    };
    session::grant_consent(&pt.store, scopes::DATA_PROCESSING, "v1").unwrap();
    session::grant_consent(&pt.store, scopes::THERAPIST_SHARING, "v1").unwrap();
    let cid = pair(&url, &t, &th.store, &pt.store, "Robin");
    let program =
        std::fs::read_to_string(repo_path("cli/data/programs/steady-steps-12w.json")).unwrap();
    let today = chrono::Utc::now().date_naive().to_string();
    session::assign_program(&th.store, &cid, &program, &today).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    agenda::load_state(&pt.store).unwrap();

    // Twelve weeks: check-ins (one with a safety alert), a module, messages.
    for week in 0..12 {
        let item9 = i64::from(week == 5);
        phq9(&pt.store, [2, 1, 2, 1, 1, 0, 1, 0, item9]);
        alliance_checkin(&pt.store, &format!("Sunflower diary week {week}"));
        let st = agenda::load_state(&pt.store).unwrap();
        let now = chrono::DateTime::from_timestamp_millis(pt.store.now_millis()).unwrap();
        if let Some(m) = agenda::items(&st, now)
            .into_iter()
            .find(|it| it.kind == ItemKind::Module && it.state.is_actionable())
        {
            agenda::complete(&pt.store, &m.id, now).unwrap();
        }
        sync::send_message(&pt.store, None, &format!("Marmalade note {week}"), None).unwrap();
        sync_until_quiet(&[&th, &pt], &t);
        sync::send_message(
            &th.store,
            Some(&cid),
            &format!("Kestrel reply {week}"),
            None,
        )
        .unwrap();
        sync_until_quiet(&[&th, &pt], &t);
        th.clock.advance_ms(7 * DAY_MS);
        pt.clock.advance_ms(7 * DAY_MS);
    }
    let thread_before = sync::thread(&pt.store, None).unwrap().len();
    assert_eq!(thread_before, 24);
    let inbox_before = sync::inbox(&th.store, &[]).unwrap();
    let pt_inbox_before = sync::inbox(&pt.store, &[]).unwrap();
    let offset = pt.store.now_millis() - chrono::Utc::now().timestamp_millis();
    pt.store.close();
    drop(pt);

    // Backup: owner-only, no plaintext.
    let created = ok_json(&run_with(
        d,
        Some(&key),
        PASS,
        &[
            "--json",
            "--store",
            "patient.db",
            "backup",
            "create",
            "--out",
            "phone.backup",
        ],
    ));
    assert_eq!(created["created"], true);
    let bytes = std::fs::read(d.join("phone.backup")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("phone.backup"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    for s in [
        NAME,
        "Sunflower",
        "Marmalade",
        "Kestrel",
        "phq9",
        "alliance",
        "Europe/London",
    ] {
        assert!(!contains(&bytes, s), "the backup shows {s:?} in the clear");
    }

    let before = export(d, "patient.db", PASS);
    let restored = ok_json(&run_with(
        d,
        Some(&key),
        NEW_PASS,
        &[
            "--json",
            "--store",
            "phone2.db",
            "backup",
            "restore",
            "--from",
            "phone.backup",
        ],
    ));
    let report = &restored["report"];
    assert_eq!(report["source_audit_chain"], "ok");
    assert_eq!(report["channels_resumed"], 1);
    // The new store opens with the new passphrase only.
    let o = run_with(
        d,
        None,
        PASS,
        &["--json", "--store", "phone2.db", "store", "info"],
    );
    assert_eq!(error_code(&o), "wrong_key");
    let after = export(d, "phone2.db", NEW_PASS);

    assert_ne!(before["store_id"], after["store_id"]);
    for field in ["profile", "consents", "records", "outbox", "damaged"] {
        assert_eq!(before[field], after[field], "{field} differs after restore");
    }
    let records = before["records"].as_array().unwrap();
    let checkins = records.iter().filter(|r| r["kind"] == "checkin").count();
    assert!(checkins >= 24, "{checkins} check-ins");
    assert!(records.iter().any(|r| r["kind"] == "safety_alert"));
    let carried = report["audit_entries"].as_u64().unwrap() as usize;
    let (a, b) = (
        before["audit_log"].as_array().unwrap(),
        after["audit_log"].as_array().unwrap(),
    );
    assert!(carried >= 4, "{carried} audit entries carried");
    assert_eq!(a[..carried], b[..carried]);
    assert_eq!(b[carried]["event"], "restored");
    let v = ok_json(&run_with(
        d,
        None,
        NEW_PASS,
        &["--json", "--store", "phone2.db", "store", "verify-audit"],
    ));
    assert_eq!(v["ok"], true);

    // The new phone syncs on: one patient at the therapist, nothing twice.
    let clock = Arc::new(TestClock::default());
    clock.advance_ms(offset);
    let path = d.join("phone2.db");
    let store = Store::open_with_clock(&path, &PassphraseKeyProvider::new(NEW_PASS), clock.clone())
        .unwrap();
    let pt = Party { store, path, clock };
    let quiet = sync_until_quiet(&[&th, &pt], &t);
    let th_inbox = sync::inbox(&th.store, &[]).unwrap();
    let pt_inbox = sync::inbox(&pt.store, &[]).unwrap();
    // Only what is new since the backup moves (the weekly engagement
    // summary the new phone makes); nothing is applied or sent twice.
    assert_eq!(pt_inbox.len(), pt_inbox_before.len(), "{quiet:?}");
    assert_eq!(quiet.duplicates, 0, "{quiet:?}");
    assert_eq!(quiet.resent, 0, "{quiet:?}");
    let new: Vec<&str> = th_inbox[inbox_before.len()..]
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert!(
        new.iter().all(|k| *k == "engagement_summary"),
        "re-sent after restore: {new:?}"
    );
    assert!(quiet.rejected.is_empty(), "{quiet:?}");
    assert_eq!(sync::thread(&pt.store, None).unwrap().len(), thread_before);

    phq9(&pt.store, [1, 1, 1, 1, 1, 0, 0, 0, 0]);
    sync::send_message(&pt.store, None, "Written on the new phone", None).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    sync::send_message(&th.store, Some(&cid), "Welcome back", None).unwrap();
    sync_until_quiet(&[&th, &pt], &t);

    let chans = sync::channel_views(&th.store).unwrap();
    assert_eq!(chans.len(), 1, "the therapist sees one patient");
    let th_thread = sync::thread(&th.store, Some(&cid)).unwrap();
    assert_eq!(
        th_thread
            .iter()
            .filter(|m| m.text == "Written on the new phone")
            .count(),
        1
    );
    assert_eq!(th_thread.len(), thread_before + 2);
    assert!(sync::inbox(&th.store, &[]).unwrap().len() > inbox_before.len());
    let pt_thread = sync::thread(&pt.store, None).unwrap();
    assert_eq!(pt_thread.len(), thread_before + 2);
    assert_eq!(
        pt_thread
            .iter()
            .filter(|m| m.text == "Welcome back")
            .count(),
        1
    );
}

#[test]
fn wrong_key_flipped_byte_and_newer_version_have_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = init_with_key(d, "a.db");
    let other = init_with_key(d, "b.db");
    assert_ne!(key, other);
    ok_json(&run_with(
        d,
        None,
        PASS,
        &[
            "--json",
            "--store",
            "a.db",
            "consent",
            "grant",
            "data_processing",
            "--text-version",
            "v1",
        ],
    ));
    ok_json(&run_with(
        d,
        Some(&key),
        PASS,
        &[
            "--json", "--store", "a.db", "backup", "create", "--out", "a.backup",
        ],
    ));
    // Another store's key neither makes nor opens this store's backups.
    let o = run_with(
        d,
        Some(&other),
        PASS,
        &[
            "--json", "--store", "a.db", "backup", "create", "--out", "x.backup",
        ],
    );
    assert_eq!(error_code(&o), "wrong_key");
    assert!(!d.join("x.backup").exists());

    let good = std::fs::read(d.join("a.backup")).unwrap();
    let restore = |name: &str, bytes: &[u8], key: &str| {
        let file = format!("{name}.backup");
        std::fs::write(d.join(&file), bytes).unwrap();
        let target = format!("{name}.db");
        let o = run_with(
            d,
            Some(key),
            NEW_PASS,
            &[
                "--json", "--store", &target, "backup", "restore", "--from", &file,
            ],
        );
        if !o.status.success() {
            assert!(!d.join(&target).exists(), "a failed restore left a store");
        }
        o
    };
    assert_eq!(error_code(&restore("wrong", &good, &other)), "wrong_key");

    let mut flipped = good.clone();
    let mid = flipped.len() - 60;
    flipped[mid] ^= 0x01;
    assert_eq!(error_code(&restore("flipped", &flipped, &key)), "corrupt");
    let mut head = good.clone();
    head[20] ^= 0x20;
    assert_eq!(error_code(&restore("head", &head, &key)), "corrupt");
    assert_eq!(
        error_code(&restore("short", &good[..good.len() / 2], &key)),
        "corrupt"
    );
    assert_eq!(error_code(&restore("empty", b"", &key)), "corrupt");

    let mut newer = good.clone();
    newer[9] += 1;
    assert_eq!(
        error_code(&restore("newer", &newer, &key)),
        "unsupported_version"
    );

    // A typo is caught by the checksum before anything else.
    let mut typo: Vec<char> = key.chars().collect();
    typo[2] = if typo[2] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    assert_eq!(error_code(&restore("typo", &good, &typo)), "invalid_input");

    // Restore never writes over a store.
    let o = run_with(
        d,
        Some(&key),
        NEW_PASS,
        &[
            "--json", "--store", "b.db", "backup", "restore", "--from", "a.backup",
        ],
    );
    assert_eq!(error_code(&o), "already_exists");

    // The intact file restores, with the consent decision.
    let ok = ok_json(&restore("good", &good, &key));
    assert_eq!(ok["report"]["consents"], 1);
    let info = ok_json(&run_with(
        d,
        None,
        NEW_PASS,
        &["--json", "--store", "good.db", "store", "info"],
    ));
    assert_eq!(info["consent_decisions"], 1);
    assert_eq!(info["has_profile"], true);
}

/// The old phone goes on sending after the backup was made; the restored
/// store's send chain starts past those seqs (ADR 0011 §3), so its next
/// event still reaches the therapist, under keys never used before.
#[test]
fn a_restored_phone_does_not_reuse_the_old_phones_later_chain_keys() {
    use collabzium_core::backup;
    use collabzium_core::crypto::MemoryKeyProvider;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let relay = relay_in_process(d);
    let url = relay.url();
    let t = transport();
    let th = party(d, "therapist");
    let old = party(d, "old-phone");
    session::grant_consent(&old.store, scopes::DATA_PROCESSING, "v1").unwrap();
    session::grant_consent(&old.store, scopes::THERAPIST_SHARING, "v1").unwrap();
    let cid = pair(&url, &t, &th.store, &old.store, "Robin");
    sync::send_message(&old.store, None, "before the backup", None).unwrap();
    sync_until_quiet(&[&th, &old], &t);

    let key = backup::set_up_recovery_key(&old.store).unwrap();
    let (bytes, _) = backup::create(&old.store, &key).unwrap();

    for i in 0..3 {
        sync::send_message(
            &old.store,
            None,
            &format!("old phone after backup {i}"),
            None,
        )
        .unwrap();
    }
    sync_until_quiet(&[&th, &old], &t);
    old.store.close();

    let clock = Arc::new(TestClock::default());
    let path = d.join("new-phone.db");
    let (store, report) = backup::restore_with_clock(
        &bytes,
        &key,
        &path,
        &MemoryKeyProvider::new([9; 32]),
        clock.clone(),
    )
    .unwrap();
    assert_eq!(report.channels_resumed, 1);
    let new = Party { store, path, clock };
    sync::send_message(&new.store, None, "from the new phone", None).unwrap();
    let s = sync_until_quiet(&[&th, &new], &t);
    assert!(s.rejected.is_empty(), "{s:?}");
    let thread = sync::thread(&th.store, Some(&cid)).unwrap();
    let texts: Vec<&str> = thread.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts.iter().filter(|t| **t == "from the new phone").count(),
        1,
        "{texts:?}"
    );
    assert_eq!(thread.len(), 5, "{texts:?}");
    assert_eq!(sync::channel_views(&th.store).unwrap().len(), 1);
}
