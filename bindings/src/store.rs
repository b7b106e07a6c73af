//! `PatientStore`: the encrypted store as one thread-safe object.

use std::path::Path;
use std::sync::{Arc, Mutex};

use collabzium_core::store::Store;

use crate::error::Result;
use crate::key_provider::{Adapter, KeyProvider};
use crate::schedule::NotificationScheduler;
use crate::types::*;

/// The patient's encrypted store. Safe to share between the UI thread and
/// background work: writes are serialized, reads run alongside them.
#[derive(uniffi::Object)]
pub struct PatientStore {
    pub(crate) store: Store,
    pub(crate) key_provider: Arc<dyn KeyProvider>,
    /// The platform's notification scheduler, once a `PatientSchedule` is
    /// made with one. Held here so a change through any object (a check-in
    /// that completes an agenda item) re-plans reminders.
    pub(crate) scheduler: Mutex<Option<Arc<dyn NotificationScheduler>>>,
    /// Keeps change-then-replan atomic, so an older plan never lands last.
    pub(crate) plan_lock: Mutex<()>,
    /// Decoded patients for the therapist's caseload and timelines, for the
    /// life of this handle; revalidated at every call.
    pub(crate) patients: collabzium_core::insights::PatientsMemo,
}

impl PatientStore {
    fn wrap(store: Store, key_provider: Arc<dyn KeyProvider>) -> Arc<Self> {
        Arc::new(PatientStore {
            store,
            key_provider,
            scheduler: Mutex::new(None),
            plan_lock: Mutex::new(()),
            patients: Default::default(),
        })
    }
}

#[uniffi::export]
impl PatientStore {
    /// Creates a new store file. Fails with `AlreadyExists` rather than
    /// touching an existing file.
    #[uniffi::constructor]
    pub fn create(path: String, key_provider: Arc<dyn KeyProvider>) -> Result<Arc<Self>> {
        let store = Store::create(Path::new(&path), &Adapter(key_provider.clone()))?;
        Ok(Self::wrap(store, key_provider))
    }

    /// Opens an existing store. A failure never modifies or deletes the file.
    #[uniffi::constructor]
    pub fn open(path: String, key_provider: Arc<dyn KeyProvider>) -> Result<Arc<Self>> {
        let store = Store::open(Path::new(&path), &Adapter(key_provider.clone()))?;
        Ok(Self::wrap(store, key_provider))
    }

    pub fn info(&self) -> Result<StoreInfo> {
        Ok(self.store.info()?.into())
    }

    pub fn set_profile(&self, profile: Profile) -> Result<()> {
        Ok(self.store.set_profile(&profile.into())?)
    }

    pub fn profile(&self) -> Result<Option<Profile>> {
        Ok(self.store.profile()?.map(Into::into))
    }

    pub fn grant_consent(&self, scope: String, text_version: String) -> Result<ConsentRecord> {
        Ok(collabzium_core::session::grant_consent(&self.store, &scope, &text_version)?.into())
    }

    pub fn withdraw_consent(&self, scope: String, text_version: String) -> Result<ConsentRecord> {
        Ok(collabzium_core::session::withdraw_consent(&self.store, &scope, &text_version)?.into())
    }

    /// The latest decision per scope: what the consent screen shows.
    pub fn consents(&self) -> Result<Vec<ConsentState>> {
        Ok(self.store.consents()?.into_iter().map(Into::into).collect())
    }

    pub fn consent_history(&self) -> Result<Vec<ConsentRecord>> {
        Ok(self
            .store
            .consent_history()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Everything, decrypted, as the documented JSON export (plaintext:
    /// hand it straight to the share sheet).
    pub fn export_json(&self) -> Result<String> {
        Ok(self.store.export()?.to_json_pretty()?)
    }

    /// Crypto-shreds the store and deletes its files. The object is closed after.
    pub fn erase(&self) -> Result<EraseReport> {
        Ok(self
            .store
            .erase(&Adapter(self.key_provider.clone()))?
            .into())
    }

    /// Re-wraps the data key under a new provider (e.g. a new passphrase).
    pub fn rekey(&self, new_key_provider: Arc<dyn KeyProvider>) -> Result<()> {
        Ok(self.store.rekey(&Adapter(new_key_provider))?)
    }

    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        Ok(self
            .store
            .audit_entries()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn verify_audit(&self) -> Result<AuditVerification> {
        Ok(self.store.verify_audit()?.into())
    }

    /// Releases the database now; later calls fail with `Closed`. (Kotlin's
    /// `close()` and Swift's deinit free the object itself.)
    pub fn close_store(&self) {
        self.patients.clear();
        self.store.close()
    }
}
