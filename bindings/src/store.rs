//! `PatientStore`: one open store's session as one thread-safe object.

use std::path::Path;
use std::sync::Arc;

use collabzium_core::session::{self, Session};
use collabzium_core::store::Store;

use crate::error::Result;
use crate::key_provider::{Adapter, KeyProvider};
use crate::types::*;

/// The patient's encrypted store. Safe to share between the UI thread and
/// background work: writes are serialized, reads run alongside them.
#[derive(uniffi::Object)]
pub struct PatientStore {
    /// The store with its reminder plan lock, the platform scheduler (once
    /// a `PatientSchedule` is made with one) and the decoded-patients memo.
    pub(crate) session: Session,
    pub(crate) key_provider: Arc<dyn KeyProvider>,
}

impl PatientStore {
    pub(crate) fn wrap(store: Store, key_provider: Arc<dyn KeyProvider>) -> Arc<Self> {
        Arc::new(PatientStore {
            session: Session::new(store),
            key_provider,
        })
    }

    pub(crate) fn store(&self) -> &Store {
        self.session.store()
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
        Ok(self.store().info()?.into())
    }

    pub fn set_profile(&self, profile: Profile) -> Result<()> {
        Ok(self.store().set_profile(&profile)?)
    }

    pub fn profile(&self) -> Result<Option<Profile>> {
        Ok(self.store().profile()?)
    }

    pub fn grant_consent(&self, scope: String, text_version: String) -> Result<ConsentRecord> {
        Ok(session::grant_consent(self.store(), &scope, &text_version)?.into())
    }

    pub fn withdraw_consent(&self, scope: String, text_version: String) -> Result<ConsentRecord> {
        Ok(session::withdraw_consent(self.store(), &scope, &text_version)?.into())
    }

    /// The latest decision per scope: what the consent screen shows.
    pub fn consents(&self) -> Result<Vec<ConsentState>> {
        Ok(self.store().consents()?)
    }

    pub fn consent_history(&self) -> Result<Vec<ConsentRecord>> {
        Ok(self
            .store()
            .consent_history()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Everything, decrypted, as the documented JSON export (plaintext:
    /// hand it straight to the share sheet).
    pub fn export_json(&self) -> Result<String> {
        Ok(self.store().export()?.to_json_pretty()?)
    }

    /// Crypto-shreds the store and deletes its files. The object is closed after.
    pub fn erase(&self) -> Result<EraseReport> {
        Ok(self.store().erase(&Adapter(self.key_provider.clone()))?)
    }

    /// Re-wraps the data key under a new provider (e.g. a new passphrase).
    pub fn rekey(&self, new_key_provider: Arc<dyn KeyProvider>) -> Result<()> {
        Ok(self.store().rekey(&Adapter(new_key_provider))?)
    }

    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        Ok(self
            .store()
            .audit_entries()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn verify_audit(&self) -> Result<AuditVerification> {
        Ok(self.store().verify_audit()?.into())
    }

    /// Releases the database now; later calls fail with `Closed`. (Kotlin's
    /// `close()` and Swift's deinit free the object itself.)
    pub fn close_store(&self) {
        self.session.close()
    }
}
