//! UniFFI surface of the Collabzium core. Thin wrappers only: every rule
//! lives in `collabzium-core`; this crate converts types and errors.

uniffi::setup_scaffolding!();

mod checkin;
mod error;
mod key_provider;
mod schedule;
mod store;
mod types;

pub use checkin::*;
pub use error::CollabziumError;
pub use key_provider::{
    memory_key_provider, passphrase_key_provider, KeyProvider, KeyProviderError,
};
pub use schedule::*;
pub use store::PatientStore;
pub use types::*;

/// Version of the core library.
#[uniffi::export]
pub fn core_version() -> String {
    collabzium_core::version().to_string()
}
