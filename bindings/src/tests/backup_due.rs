//! The automatic-backup schedule through the FFI surface (issue 16 §2): due
//! without a saved backup, not due once the app reports the bytes saved,
//! and a restored store starts due (the schedule is device bookkeeping).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use crate::{memory_key_provider, restore_backup, CollabziumError, PatientStore};

#[test]
fn backup_due_follows_what_the_app_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let store =
        PatientStore::create(path("p.db"), memory_key_provider(vec![1; 32]).unwrap()).unwrap();
    assert!(!store.backup_due().unwrap(), "no recovery key yet");
    let key = store.set_up_recovery_key().unwrap();
    assert!(store.backup_due().unwrap());
    assert_eq!(store.last_backup_at_millis().unwrap(), None);
    let bytes = store.create_backup(key.clone()).unwrap();
    assert!(store.backup_due().unwrap(), "made, not yet saved");
    store.backup_saved(bytes.clone()).unwrap();
    assert!(!store.backup_due().unwrap());
    assert!(store.last_backup_at_millis().unwrap().is_some());
    let e = store.backup_saved(b"not a backup".to_vec()).err();
    assert!(matches!(e, Some(CollabziumError::Corrupt { .. })), "{e:?}");

    let restored = restore_backup(
        path("new.db"),
        bytes,
        key,
        memory_key_provider(vec![2; 32]).unwrap(),
    )
    .unwrap();
    assert!(restored.store.backup_due().unwrap());
    assert_eq!(restored.store.last_backup_at_millis().unwrap(), None);
}
