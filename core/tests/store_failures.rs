//! Wrong keys and plaintext leaks: the store never gives up a secret and
//! never changes a file it could not open.

mod common;

use collabzium_core::crypto::PassphraseKeyProvider;
use collabzium_core::platform::{KeyProvider, KeyProviderError};
use collabzium_core::store::{sidecar, Store};
use collabzium_core::Error;
use common::*;
use zeroize::Zeroizing;

#[test]
fn one_hundred_wrong_passphrases_give_wrong_key_and_leave_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let right = PassphraseKeyProvider::new("the right passphrase");
    let store = Store::create(&path, &right).unwrap();
    store.set_profile(&profile("Kim")).unwrap();
    store.close();
    let before = sha256_file(&path);

    // PBKDF2 at 600k iterations dominates; use both cores.
    let tries: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let wrong = PassphraseKeyProvider::new(format!("wrong {t} {i}"));
                    match Store::open(&path, &wrong) {
                        Err(Error::WrongKey) => {}
                        Err(e) => panic!("try {t}/{i}: expected WrongKey, got {e:?}"),
                        Ok(_) => panic!("try {t}/{i}: opened with a wrong passphrase"),
                    }
                }
            })
        })
        .collect();
    for t in tries {
        t.join().unwrap();
    }
    assert_eq!(
        sha256_file(&path),
        before,
        "a failed open modified the store file"
    );

    // The failures reach the audit chain at the next unlock.
    let store = Store::open(&path, &right).unwrap();
    let failed = store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.event == "failed_unlock")
        .count();
    assert_eq!(failed, 100);
    assert!(!sidecar(&path, "-unlock-failures").exists());
    assert!(store.verify_audit().unwrap().ok);
}

/// A platform provider that cannot tell a wrong key: it returns garbage,
/// like a keystore that was reset. The key check must catch it.
struct XorProvider(u8);
impl KeyProvider for XorProvider {
    fn wrap_key(&self, k: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
        Ok(k.iter().map(|b| b ^ self.0).collect())
    }
    fn unwrap_key(&self, w: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError> {
        Ok(Zeroizing::new(w.iter().map(|b| b ^ self.0).collect()))
    }
}

struct LockedProvider;
impl KeyProvider for LockedProvider {
    fn wrap_key(&self, _: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
        Err(KeyProviderError::Unavailable("device locked".into()))
    }
    fn unwrap_key(&self, _: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError> {
        Err(KeyProviderError::Unavailable("device locked".into()))
    }
}

#[test]
fn garbage_from_a_provider_is_wrong_key_by_key_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    Store::create(&path, &XorProvider(0x11)).unwrap().close();
    let before = sha256_file(&path);
    assert!(matches!(
        Store::open(&path, &XorProvider(0x22)),
        Err(Error::WrongKey)
    ));
    assert!(matches!(
        Store::open(&path, &LockedProvider),
        Err(Error::KeyUnavailable(_))
    ));
    assert_eq!(sha256_file(&path), before);
    Store::open(&path, &XorProvider(0x11)).unwrap();
}

#[test]
fn fifty_canaries_never_reach_the_disk_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    let tag = &collabzium_core::crypto::random_id()[..12];
    let canaries: Vec<String> = (0..50).map(|i| format!("canary{tag}x{i:02}")).collect();

    store.set_profile(&profile(&canaries[0])).unwrap();
    for (i, c) in canaries.iter().enumerate().skip(1) {
        match i % 3 {
            0 => {
                store.insert(&Note { text: c.clone() }).unwrap();
            }
            1 => {
                store
                    .insert(&Answer {
                        item: "q1".into(),
                        value: 1,
                        comment: c.clone(),
                    })
                    .unwrap();
            }
            _ => {
                store.insert(&Message { body: c.clone() }).unwrap();
            }
        }
    }
    // The export, by contrast, is plaintext by design: the canaries are there.
    let export = serde_json::to_string(&store.export().unwrap()).unwrap();
    for c in &canaries {
        assert!(export.contains(c.as_str()), "export lost {c}");
    }

    let scan = |when: &str| {
        let mut scanned = 0;
        for suffix in ["", "-wal", "-shm"] {
            let p = sidecar(&path, suffix);
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            scanned += bytes.len();
            // The scan itself works: a known plaintext table name is found.
            if suffix.is_empty() {
                assert!(contains(&bytes, b"CREATE TABLE records"));
            }
            for c in &canaries {
                assert!(
                    !contains(&bytes, c.as_bytes()),
                    "{when}: {c} found in {suffix:?} file"
                );
                // Also the case-folded and UTF-16 forms.
                assert!(!contains(&bytes, c.to_uppercase().as_bytes()));
                let utf16: Vec<u8> = c.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
                assert!(!contains(&bytes, &utf16));
            }
        }
        assert!(scanned > 0);
    };
    scan("while open");
    store.close();
    scan("after close");
}
