//! Backup and restore (ADR 0011) for the apps: the recovery key is text,
//! backups are bytes the app puts where it chooses (the platform's backup
//! area or a file), restore makes a new store.

use std::path::Path;
use std::sync::Arc;

use collabzium_core::backup::{self, RecoveryKey};
use zeroize::Zeroizing;

use crate::error::Result;
use crate::key_provider::{Adapter, KeyProvider};
use crate::store::PatientStore;

/// What a restore brought back; no personal data.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RestoreSummary {
    /// When the backup was made: anything later is not in the new store.
    pub backup_created_at_millis: i64,
    pub records: u64,
    pub consents: u64,
    pub audit_entries: u64,
    /// Channels to the therapist that resume at the next sync.
    pub channels_resumed: u64,
    /// Values that were damaged in the backed-up store and are missing.
    pub damaged_in_source: u64,
}

/// A new store restored from a backup, with what came back.
#[derive(uniffi::Record)]
pub struct Restored {
    pub store: Arc<PatientStore>,
    pub summary: RestoreSummary,
}

fn parse(text: String) -> Result<RecoveryKey> {
    let text = Zeroizing::new(text);
    Ok(RecoveryKey::parse(&text)?)
}

#[uniffi::export]
impl PatientStore {
    /// Sets up the recovery key and returns it to show once; the store keeps
    /// only a check value. `AlreadyExists` when there is one.
    pub fn set_up_recovery_key(&self) -> Result<String> {
        let key = backup::set_up_recovery_key(self.store())?;
        Ok(key.to_text().to_string())
    }

    pub fn has_recovery_key(&self) -> Result<bool> {
        Ok(backup::has_recovery_key(self.store())?)
    }

    /// An encrypted backup of the whole store. `WrongKey` when the key is
    /// not this store's recovery key; `InvalidInput` for a typo.
    pub fn create_backup(&self, recovery_key: String) -> Result<Vec<u8>> {
        let (bytes, _) = backup::create(self.store(), &parse(recovery_key)?)?;
        Ok(bytes)
    }

    /// Whether an automatic backup is due now: none saved yet, the last one
    /// a day old, or a check-in submitted since. False without a recovery key.
    pub fn backup_due(&self) -> Result<bool> {
        let store = self.store();
        Ok(backup::due(store, store.now_millis())?)
    }

    /// Tells the core that `backup` (bytes from `create_backup`) is saved
    /// where the app keeps backups; the schedule counts from its time.
    pub fn backup_saved(&self, backup: Vec<u8>) -> Result<()> {
        let at = backup::backup_created_at(&backup)?;
        Ok(backup::record_saved(self.store(), at)?)
    }

    /// When the last saved backup was made; `None` before the first.
    pub fn last_backup_at_millis(&self) -> Result<Option<i64>> {
        Ok(backup::last_backup_at(self.store())?)
    }
}

/// Restores `backup` into a new store at `path`, locked by `key_provider`.
/// `WrongKey`, `Corrupt` (damaged or changed file), `UnsupportedVersion`
/// (made by a newer app), `AlreadyExists` (something is at `path`).
#[uniffi::export]
pub fn restore_backup(
    path: String,
    backup: Vec<u8>,
    recovery_key: String,
    key_provider: Arc<dyn KeyProvider>,
) -> Result<Restored> {
    let key = parse(recovery_key)?;
    let (store, r) = backup::restore(
        &backup,
        &key,
        Path::new(&path),
        &Adapter(key_provider.clone()),
    )?;
    Ok(Restored {
        store: PatientStore::wrap(store, key_provider),
        summary: RestoreSummary {
            backup_created_at_millis: r.backup_created_at_millis,
            records: r.records,
            consents: r.consents,
            audit_entries: r.audit_entries,
            channels_resumed: r.channels_resumed,
            damaged_in_source: r.damaged_in_source,
        },
    })
}
