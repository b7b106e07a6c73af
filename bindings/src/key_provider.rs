//! The platform key store as a foreign trait. Android implements it with the
//! Keystore, iOS with the Keychain; Rust providers serve tests and tools.

use std::sync::Arc;

use collabzium_core::crypto;
use collabzium_core::platform;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum KeyProviderError {
    /// This provider's key is not the one that wrapped the data key.
    #[error("wrong key")]
    WrongKey,
    #[error("wrapped key is malformed")]
    Malformed,
    #[error("key store unavailable: {reason}")]
    Unavailable { reason: String },
}

/// A foreign implementation that throws something unexpected is treated as
/// an unavailable key store, never as a wrong key.
impl From<uniffi::UnexpectedUniFFICallbackError> for KeyProviderError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyProviderError::Unavailable { reason: e.reason }
    }
}

/// Wraps the store's data key with a key that never leaves the platform.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    fn wrap_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyProviderError>;
    fn unwrap_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyProviderError>;
    /// Delete the platform key; called when the store is erased. (Not
    /// `destroy`: Kotlin's generated objects reserve that name.)
    fn destroy_key(&self) -> Result<(), KeyProviderError>;
}

/// Adapts a foreign provider onto the core's trait.
pub(crate) struct Adapter(pub Arc<dyn KeyProvider>);

fn to_core(e: KeyProviderError) -> platform::KeyProviderError {
    match e {
        KeyProviderError::WrongKey => platform::KeyProviderError::WrongKey,
        KeyProviderError::Malformed => platform::KeyProviderError::Malformed,
        KeyProviderError::Unavailable { reason } => platform::KeyProviderError::Unavailable(reason),
    }
}

fn from_core(e: platform::KeyProviderError) -> KeyProviderError {
    match e {
        platform::KeyProviderError::WrongKey => KeyProviderError::WrongKey,
        platform::KeyProviderError::Malformed => KeyProviderError::Malformed,
        platform::KeyProviderError::Unavailable(reason) => KeyProviderError::Unavailable { reason },
    }
}

impl platform::KeyProvider for Adapter {
    fn wrap_key(&self, data_key: &[u8]) -> Result<Vec<u8>, platform::KeyProviderError> {
        // The copy handed across the FFI is ours to wipe once the call returns.
        let copy = Zeroizing::new(data_key.to_vec());
        self.0.wrap_key(copy.to_vec()).map_err(to_core)
    }

    fn unwrap_key(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, platform::KeyProviderError> {
        self.0
            .unwrap_key(wrapped.to_vec())
            .map(Zeroizing::new)
            .map_err(to_core)
    }

    fn destroy(&self) -> Result<(), platform::KeyProviderError> {
        self.0.destroy_key().map_err(to_core)
    }
}

/// Rust providers exposed through the same trait.
struct CoreProvider<P: platform::KeyProvider>(P);

impl<P: platform::KeyProvider> KeyProvider for CoreProvider<P> {
    fn wrap_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyProviderError> {
        let data_key = Zeroizing::new(data_key);
        self.0.wrap_key(&data_key).map_err(from_core)
    }

    fn unwrap_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyProviderError> {
        // Leaves our zeroizing buffer as a plain Vec: the foreign side owns it.
        self.0
            .unwrap_key(&wrapped)
            .map(|k| k.to_vec())
            .map_err(from_core)
    }

    fn destroy_key(&self) -> Result<(), KeyProviderError> {
        self.0.destroy().map_err(from_core)
    }
}

/// A passphrase provider (PBKDF2-HMAC-SHA256, 600,000 iterations, random
/// salt), for a "protect with a passphrase" option and for tools.
#[uniffi::export]
pub fn passphrase_key_provider(passphrase: String) -> Arc<dyn KeyProvider> {
    Arc::new(CoreProvider(crypto::PassphraseKeyProvider::new(passphrase)))
}

/// A provider holding a 32-byte key-encryption key in memory. For tests and
/// previews only: real apps use the platform key store.
#[uniffi::export]
pub fn memory_key_provider(kek: Vec<u8>) -> Result<Arc<dyn KeyProvider>, crate::CollabziumError> {
    let kek: [u8; 32] = kek
        .try_into()
        .map_err(|_| crate::CollabziumError::InvalidInput {
            field: "kek".into(),
            reason: "must be 32 bytes".into(),
        })?;
    Ok(Arc::new(CoreProvider(crypto::MemoryKeyProvider::new(kek))))
}
