//! The store's public behaviour: lifecycle, profile, consent, records,
//! export, rekey, erase and the audit log.

mod common;

use collabzium_core::audit::AuditEvent;
use collabzium_core::crypto::PassphraseKeyProvider;
use collabzium_core::store::{sidecar, Store};
use collabzium_core::Error;
use common::*;

#[test]
fn create_write_reopen_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    store.set_profile(&profile("Robin")).unwrap();
    let id = store
        .insert(&Note {
            text: "first".into(),
        })
        .unwrap();
    store
        .put(
            "fixed-id",
            &Message {
                body: "hello".into(),
            },
        )
        .unwrap();
    store.close();
    assert!(matches!(store.profile(), Err(Error::Closed)));

    let store = Store::open(&path, &provider()).unwrap();
    assert_eq!(store.profile().unwrap().unwrap().display_name, "Robin");
    assert_eq!(store.get::<Note>(&id).unwrap().unwrap().value.text, "first");
    assert_eq!(store.list::<Message>().unwrap()[0].value.body, "hello");
    // put under the same id replaces, never duplicates
    store
        .put(
            "fixed-id",
            &Message {
                body: "edited".into(),
            },
        )
        .unwrap();
    let msgs = store.list::<Message>().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].value.body, "edited");
    let info = store.info().unwrap();
    assert!(info.has_profile);
    assert_eq!(info.record_counts.get("message"), Some(&1));
    assert_eq!(info.record_counts.get("note"), Some(&1));
    assert_eq!(info.record_counts.len(), 2);
}

#[test]
fn create_refuses_existing_file_and_open_refuses_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    assert!(matches!(
        Store::open(&path, &provider()),
        Err(Error::NotFound { .. })
    ));
    std::fs::write(&path, b"precious bytes").unwrap();
    assert!(matches!(
        Store::create(&path, &provider()),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious bytes");
    // A non-store file is reported as corrupt and left alone.
    assert!(matches!(
        Store::open(&path, &provider()),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious bytes");
}

#[test]
fn invalid_input_is_typed_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&temp_store_path(&dir));
    let mut p = profile("Robin");
    p.time_zone = "GMT+1".into();
    match store.set_profile(&p) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "time_zone"),
        other => panic!("{other:?}"),
    }
    match collabzium_core::session::grant_consent(&store, "Research Export!", "v1") {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "scope"),
        other => panic!("{other:?}"),
    }
    match store.put("bad id with spaces", &Note { text: "x".into() }) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "record id"),
        other => panic!("{other:?}"),
    }
    assert!(store.profile().unwrap().is_none());
    assert!(store.info().unwrap().record_counts.is_empty());
}

#[test]
fn consent_grant_and_withdraw_are_symmetric_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&temp_store_path(&dir));
    collabzium_core::session::grant_consent(&store, "therapist_sharing", "v1").unwrap();
    collabzium_core::session::grant_consent(&store, "research_export", "v2").unwrap();
    collabzium_core::session::withdraw_consent(&store, "research_export", "v2").unwrap();
    let states = store.consents().unwrap();
    assert_eq!(states.len(), 2);
    let research = states
        .iter()
        .find(|s| s.scope == "research_export")
        .unwrap();
    assert!(!research.granted);
    assert_eq!(research.text_version, "v2");
    assert!(
        states
            .iter()
            .find(|s| s.scope == "therapist_sharing")
            .unwrap()
            .granted
    );
    assert_eq!(store.consent_history().unwrap().len(), 3);
    let consent_events = store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.event == AuditEvent::ConsentChanged.as_str())
        .count();
    assert_eq!(consent_events, 3);
}

#[test]
fn export_contains_everything_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&temp_store_path(&dir));
    store.set_profile(&profile("Alex Export")).unwrap();
    collabzium_core::session::grant_consent(&store, "data_processing", "v1").unwrap();
    store
        .insert(&Answer {
            item: "phq9.q1".into(),
            value: 2,
            comment: "tired".into(),
        })
        .unwrap();
    store
        .write(|tx| {
            collabzium_core::store::outbox::enqueue(
                tx,
                "alert",
                "a1",
                collabzium_core::store::outbox::Priority::High,
                br#"{"why":"risk"}"#,
            )
        })
        .unwrap();
    let export = store.export().unwrap();
    let json = serde_json::to_value(&export).unwrap();
    assert_eq!(json["outbox"][0]["kind"], "alert");
    assert_eq!(json["outbox"][0]["priority"], "high");
    assert_eq!(json["outbox"][0]["data"]["why"], "risk");
    assert!(json["outbox"][0]["sent_at"].is_null());
    assert_eq!(json["format"], "collabzium.export");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["profile"]["display_name"], "Alex Export");
    assert_eq!(json["consents"][0]["scope"], "data_processing");
    assert_eq!(json["records"][0]["kind"], "answer");
    assert_eq!(json["records"][0]["data"]["comment"], "tired");
    let events: Vec<&str> = json["audit_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["store_created", "consent_changed", "export"]);
}

#[test]
fn rekey_rewraps_without_reencrypting() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let old = PassphraseKeyProvider::new("old passphrase");
    let new = PassphraseKeyProvider::new("new passphrase");
    let store = Store::create(&path, &old).unwrap();
    let id = store
        .insert(&Note {
            text: "kept".into(),
        })
        .unwrap();
    let sealed_before: Vec<u8> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT body FROM records WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    store.rekey(&new).unwrap();
    store.close();
    assert!(matches!(Store::open(&path, &old), Err(Error::WrongKey)));
    let store = Store::open(&path, &new).unwrap();
    assert_eq!(store.get::<Note>(&id).unwrap().unwrap().value.text, "kept");
    let sealed_after: Vec<u8> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT body FROM records WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(sealed_before, sealed_after, "data must not be re-encrypted");
    let events: Vec<String> = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&"rekey".to_string()));
    assert!(events.contains(&"failed_unlock".to_string()));
    assert!(store.verify_audit().unwrap().ok);
}

#[test]
fn erase_crypto_shreds_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    store.set_profile(&profile("Erase Me")).unwrap();
    store
        .insert(&Note {
            text: "gone".into(),
        })
        .unwrap();
    let copy = dir.path().join("copy-before-erase.db");
    let report = store.erase(&provider()).unwrap();
    assert!(report.files_removed.contains(&"patient.db".to_string()));
    for suffix in ["", "-wal", "-shm", "-unlock-failures"] {
        assert!(!sidecar(&path, suffix).exists(), "{suffix} still exists");
    }
    assert!(matches!(store.profile(), Err(Error::Closed)));
    assert!(matches!(
        store.insert(&Note { text: "x".into() }),
        Err(Error::Closed)
    ));
    assert!(matches!(
        Store::open(&path, &provider()),
        Err(Error::NotFound { .. })
    ));
    assert!(!copy.exists());
}

#[test]
fn erase_destroys_the_wrapped_key_even_in_a_leftover_copy() {
    // Simulate a file that survived deletion (e.g. a flash remnant): the
    // wrapped key and key check must already be gone from it.
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    store
        .insert(&Note {
            text: "secret".into(),
        })
        .unwrap();
    let wrapped: Vec<u8> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'wrapped_key'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Hard link keeps the inode alive after erase unlinks the name.
    let remnant = dir.path().join("remnant.db");
    std::fs::hard_link(&path, &remnant).unwrap();
    store.erase(&provider()).unwrap();
    let bytes = std::fs::read(&remnant).unwrap();
    assert!(!contains(&bytes, &wrapped), "wrapped key survived erase");
    assert!(
        bytes.iter().all(|&b| b == 0),
        "erased file was not overwritten"
    );
}

#[test]
fn audit_log_records_security_events_and_names_first_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    store.close();
    assert!(matches!(
        Store::open(&path, &other_provider()),
        Err(Error::WrongKey)
    ));
    let store = Store::open(&path, &provider()).unwrap();
    collabzium_core::session::grant_consent(&store, "data_processing", "v1").unwrap();
    store.export().unwrap();
    let events: Vec<String> = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            "store_created",
            "failed_unlock",
            "unlock",
            "consent_changed",
            "export"
        ]
    );
    assert!(store.verify_audit().unwrap().ok);

    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute(
        "UPDATE audit_log SET detail = '{\"scope\":\"x\"}' WHERE seq = 4",
        [],
    )
    .unwrap();
    let v = store.verify_audit().unwrap();
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, Some(4));

    side.execute("UPDATE audit_log SET detail = '{}' WHERE seq = 4", [])
        .unwrap();
    side.execute("DELETE FROM audit_log WHERE seq = 2", [])
        .unwrap();
    assert_eq!(store.verify_audit().unwrap().first_broken_seq, Some(2));
}

#[test]
fn upgraded_store_opens_and_keeps_data() {
    // Build a version-1 store by hand and check open() migrates it.
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    let id = store
        .insert(&Note {
            text: "from v1".into(),
        })
        .unwrap();
    store.close();
    // Reduce the file to the v1 schema: drop everything later versions added.
    let c = rusqlite::Connection::open(&path).unwrap();
    let v1 = rusqlite::Connection::open_in_memory().unwrap();
    v1.execute_batch(collabzium_core::store::schema::V1_SCHEMA)
        .unwrap();
    let names = |conn: &rusqlite::Connection, ty: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%'")
            .unwrap();
        stmt.query_map([ty], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let keep = names(&v1, "table");
    for table in names(&c, "table").into_iter().filter(|t| !keep.contains(t)) {
        c.execute_batch(&format!("DROP TABLE {table}")).unwrap();
    }
    for index in names(&c, "index") {
        c.execute_batch(&format!("DROP INDEX IF EXISTS {index}"))
            .unwrap();
    }
    c.pragma_update(None, "user_version", 1).unwrap();
    drop(c);
    let store = Store::open(&path, &provider()).unwrap();
    assert_eq!(
        store.info().unwrap().schema_version,
        collabzium_core::store::schema::LATEST_VERSION
    );
    assert_eq!(
        store.get::<Note>(&id).unwrap().unwrap().value.text,
        "from v1"
    );
    collabzium_core::session::grant_consent(&store, "data_processing", "v1").unwrap();
    assert!(store.verify_audit().unwrap().ok);
}

#[test]
fn newer_store_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    new_store(&path).close();
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let before = sha256_file(&path);
    assert!(matches!(
        Store::open(&path, &provider()),
        Err(Error::UnsupportedVersion { found: 99, .. })
    ));
    assert_eq!(sha256_file(&path), before);
}
