//! The backup file against deliberate tampering (digest recomputed, so only
//! the AEAD and the header checks stand), weakened or hostile KDF costs,
//! cut files, and a damaged value in the source store. Real store files.
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use collabzium_core::backup::{self, RecoveryKey};
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::store::Store;
use collabzium_core::Error;
use ring::digest;
use serde_json::Value;

fn source(dir: &std::path::Path) -> (Store, RecoveryKey) {
    let store = Store::create(&dir.join("src.db"), &MemoryKeyProvider::new([1; 32])).unwrap();
    store
        .set_profile(&Profile {
            display_name: "Ash".into(),
            time_zone: "Europe/Vienna".into(),
            locale: "de-AT".into(),
            mode: TreatmentMode::Guided,
            country: None,
        })
        .unwrap();
    let key = backup::set_up_recovery_key(&store).unwrap();
    (store, key)
}

/// Splits a file into (header JSON text, rest after the header without the digest).
fn split(file: &[u8]) -> (String, Vec<u8>) {
    let n = u32::from_be_bytes(file[10..14].try_into().unwrap()) as usize;
    let header = String::from_utf8(file[14..14 + n].to_vec()).unwrap();
    (header, file[14 + n..file.len() - 32].to_vec())
}

/// The header with the JSON number or string after `"field":` replaced.
fn with(header: &str, field: &str, value: &str) -> String {
    let key = format!("\"{field}\":");
    let at = header.find(&key).unwrap() + key.len();
    let end = at + header[at..].find([',', '}']).unwrap();
    format!("{}{value}{}", &header[..at], &header[end..])
}

/// Rebuilds a file from parts with a correct digest, as a forger would.
fn forge(version: u16, header: &str, rest: &[u8]) -> Vec<u8> {
    let h = header.as_bytes();
    let mut out = b"CZBACKUP".to_vec();
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(h);
    out.extend_from_slice(rest);
    let d = digest::digest(&digest::SHA256, &out);
    out.extend_from_slice(d.as_ref());
    out
}

fn restore_err(dir: &std::path::Path, name: &str, bytes: &[u8], key: &RecoveryKey) -> Error {
    let target = dir.join(format!("{name}.db"));
    let e = backup::restore(bytes, key, &target, &MemoryKeyProvider::new([2; 32]))
        .err()
        .unwrap_or_else(|| panic!("{name}: restored"));
    assert!(!target.exists(), "{name}: left a store behind");
    e
}

#[test]
fn forged_files_are_refused_with_the_right_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (store, key) = source(d);
    let (good, summary) = backup::create(&store, &key).unwrap();
    assert_eq!(summary.records, 1);
    let (header, rest) = split(&good);
    // The forge helper itself is faithful: an untouched rebuild restores.
    let same = forge(1, &header, &rest);
    assert_eq!(same, good);

    // Ciphertext flipped, digest recomputed: only the AEAD can tell.
    let mut body = rest.clone();
    body[20] ^= 1;
    let e = restore_err(d, "body", &forge(1, &header, &body), &key);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");

    // The header is associated data: a changed time fails the tag.
    let h = with(&header, "created_at_millis", "1");
    let e = restore_err(d, "time", &forge(1, &h, &rest), &key);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");

    // Weakened or hostile KDF costs are refused before Argon2id runs.
    for (field, v) in [
        ("m_cost_kib", "8"),
        ("m_cost_kib", "4194304"),
        ("t_cost", "0"),
        ("t_cost", "1000"),
        ("p_cost", "0"),
    ] {
        let h = with(&header, field, v);
        let e = restore_err(d, "costs", &forge(1, &h, &rest), &key);
        assert!(matches!(e, Error::Corrupt { .. }), "{field}={v}: {e:?}");
    }

    // A newer store schema inside, or a newer file format.
    let h = with(&header, "store_schema", "99");
    let e = restore_err(d, "schema", &forge(1, &h, &rest), &key);
    assert!(
        matches!(e, Error::UnsupportedVersion { found: 99, .. }),
        "{e:?}"
    );
    let e = restore_err(d, "format", &forge(2, &header, &rest), &key);
    assert!(
        matches!(e, Error::UnsupportedVersion { found: 2, .. }),
        "{e:?}"
    );

    // Unknown header fields and a changed salt.
    let h = header.replacen('{', "{\"extra\":1,", 1);
    let e = restore_err(d, "extra", &forge(1, &h, &rest), &key);
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
    let h = with(&header, "file_salt", &format!("\"{}\"", "00".repeat(16)));
    let e = restore_err(d, "salt", &forge(1, &h, &rest), &key);
    assert!(
        matches!(e, Error::WrongKey | Error::Corrupt { .. }),
        "{e:?}"
    );

    // Cut anywhere: an error, never a panic.
    for cut in [
        0,
        1,
        8,
        10,
        13,
        14,
        40,
        good.len() / 2,
        good.len() - 33,
        good.len() - 1,
    ] {
        let e = restore_err(d, "cut", &good[..cut], &key);
        assert!(matches!(e, Error::Corrupt { .. }), "cut {cut}: {e:?}");
    }

    // The untouched file still restores.
    let (restored, report) = backup::restore(
        &good,
        &key,
        &d.join("ok.db"),
        &MemoryKeyProvider::new([3; 32]),
    )
    .unwrap();
    assert_eq!(restored.profile().unwrap(), store.profile().unwrap());
    assert_eq!(report.source_audit_chain, "ok");
    assert!(restored.verify_audit().unwrap().ok);
    // The restored store makes backups with the same recovery key.
    backup::create(&restored, &key).unwrap();
}

#[test]
fn set_up_once_and_backups_need_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = Store::create(&d.join("plain.db"), &MemoryKeyProvider::new([1; 32])).unwrap();
    assert!(!backup::has_recovery_key(&plain).unwrap());
    let stray = RecoveryKey::generate();
    assert!(matches!(
        backup::create(&plain, &stray),
        Err(Error::NotFound { .. })
    ));
    let key = backup::set_up_recovery_key(&plain).unwrap();
    assert!(backup::has_recovery_key(&plain).unwrap());
    assert!(matches!(
        backup::set_up_recovery_key(&plain),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        backup::create(&plain, &stray),
        Err(Error::WrongKey)
    ));
    let (bytes, _) = backup::create(&plain, &key).unwrap();
    // Never into an existing store.
    let e = backup::restore(
        &bytes,
        &key,
        &d.join("plain.db"),
        &MemoryKeyProvider::new([1; 32]),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
    // Audited in the source.
    let events: Vec<String> = plain
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&"recovery_key_set".to_string()));
    assert!(events.contains(&"backup_created".to_string()));
}

#[test]
fn a_damaged_value_in_the_source_is_counted_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (store, key) = source(d);
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Note {
        text: String,
    }
    impl collabzium_core::store::Record for Note {
        const KIND: &'static str = "note";
    }
    store
        .put(
            "a",
            &Note {
                text: "first".into(),
            },
        )
        .unwrap();
    store
        .put(
            "b",
            &Note {
                text: "second".into(),
            },
        )
        .unwrap();
    store.checkpoint().unwrap();
    {
        let c = rusqlite::Connection::open(d.join("src.db")).unwrap();
        c.execute(
            "UPDATE records SET body = x'01000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef' WHERE id = 'b'",
            [],
        )
        .unwrap();
    }
    let (bytes, summary) = backup::create(&store, &key).unwrap();
    assert_eq!(summary.damaged, 1);
    let (restored, report) = backup::restore(
        &bytes,
        &key,
        &d.join("new.db"),
        &MemoryKeyProvider::new([4; 32]),
    )
    .unwrap();
    assert_eq!(report.damaged_in_source, 1);
    assert_eq!(restored.list::<Note>().unwrap().len(), 1);
    let last = restored.audit_entries().unwrap().pop().unwrap();
    assert_eq!(last.event, "restored");
    let detail: Value = serde_json::from_str(&last.detail).unwrap();
    assert_eq!(detail["damaged_in_source"], 1);
}
