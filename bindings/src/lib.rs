//! UniFFI surface of the Collabzium core. Thin wrappers only: every rule
//! lives in `collabzium-core`; this crate converts types and errors.

uniffi::setup_scaffolding!();

mod backup;
mod checkin;
mod error;
mod insights;
mod key_provider;
mod qr;
mod schedule;
mod screens;
mod store;
mod sync;
mod types;

#[cfg(test)]
mod tests;

pub use backup::{restore_backup, RestoreSummary, Restored};
pub use checkin::*;
pub use error::CollabziumError;
pub use insights::*;
pub use key_provider::{
    memory_key_provider, passphrase_key_provider, KeyProvider, KeyProviderError,
};
pub use qr::{decode_qr_luma, invite_qr, QrMatrix};
pub use schedule::*;
pub use screens::*;
pub use store::PatientStore;
pub use sync::*;
pub use types::*;

/// Version of the core library.
#[uniffi::export]
pub fn core_version() -> String {
    collabzium_core::version().to_string()
}

/// Locks a mutex, recovering from poisoning (a panicked holder left no
/// partial state that matters here: every write is a store transaction).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
