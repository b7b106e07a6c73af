//! Backup and restore through the FFI surface the apps call (ADR 0011):
//! the key as text, the backup as bytes, restore into a new store, and the
//! typed errors a wrong key and a changed byte give.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use crate::{
    memory_key_provider, restore_backup, CollabziumError, PatientStore, Profile, TreatmentMode,
};

#[test]
fn backup_and_restore_through_the_bindings() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let old =
        PatientStore::create(path("old.db"), memory_key_provider(vec![1; 32]).unwrap()).unwrap();
    let profile = Profile {
        display_name: "Juniper".into(),
        time_zone: "Europe/Dublin".into(),
        locale: "en-IE".into(),
        mode: TreatmentMode::Guided,
        country: None,
    };
    old.set_profile(profile.clone()).unwrap();
    old.grant_consent("data_processing".into(), "v1".into())
        .unwrap();
    assert!(!old.has_recovery_key().unwrap());
    let key = old.set_up_recovery_key().unwrap();
    assert!(old.has_recovery_key().unwrap());
    let bytes = old.create_backup(key.clone()).unwrap();
    assert!(!bytes.windows(7).any(|w| w == b"Juniper"));

    let new_provider = memory_key_provider(vec![2; 32]).unwrap();
    let restored =
        restore_backup(path("new.db"), bytes.clone(), key.clone(), new_provider).unwrap();
    assert_eq!(restored.summary.consents, 1);
    assert_eq!(restored.store.profile().unwrap(), Some(profile));
    assert_eq!(restored.store.consents().unwrap().len(), 1);
    // The restored store makes its own backups with the same key.
    restored.store.create_backup(key.clone()).unwrap();

    let other = PatientStore::create(path("other.db"), memory_key_provider(vec![3; 32]).unwrap())
        .unwrap()
        .set_up_recovery_key()
        .unwrap();
    let p = memory_key_provider(vec![4; 32]).unwrap();
    let e = restore_backup(path("x.db"), bytes.clone(), other, p.clone()).err();
    assert!(matches!(e, Some(CollabziumError::WrongKey)), "{e:?}");
    let mut flipped = bytes.clone();
    let at = flipped.len() - 50;
    flipped[at] ^= 1;
    let e = restore_backup(path("y.db"), flipped, key.clone(), p.clone()).err();
    assert!(matches!(e, Some(CollabziumError::Corrupt { .. })), "{e:?}");
    let mut newer = bytes;
    newer[9] += 1;
    let e = restore_backup(path("z.db"), newer, key, p).err();
    assert!(
        matches!(e, Some(CollabziumError::UnsupportedVersion { .. })),
        "{e:?}"
    );
}
