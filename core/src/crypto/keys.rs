//! The key hierarchy: one random data key per install, wrapped by the
//! platform's key-encryption key; subkeys for each purpose come from HKDF so
//! that no raw key is used for two jobs.

use ring::{aead, hkdf, hmac};
use zeroize::Zeroizing;

use super::seal::Sealer;

pub const DATA_KEY_LEN: usize = 32;

/// The store's 256-bit data key. Zeroized on drop.
pub struct DataKey(Zeroizing<[u8; DATA_KEY_LEN]>);

impl DataKey {
    pub fn generate() -> Self {
        DataKey(Zeroizing::new(super::random_bytes::<DATA_KEY_LEN>()))
    }

    /// `None` when a provider hands back the wrong number of bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DATA_KEY_LEN {
            return None;
        }
        let mut k = Zeroizing::new([0u8; DATA_KEY_LEN]);
        k.copy_from_slice(bytes);
        Some(DataKey(k))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    #[allow(
        clippy::expect_used,
        reason = "HKDF-SHA256 expands 32-byte keys, well under its limit"
    )]
    pub fn derive(&self) -> StoreKeys {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"collabzium store keys v1")
            .extract(self.as_bytes());
        let seal_key: aead::UnboundKey = prk
            .expand(&[b"record seal"], &aead::AES_256_GCM)
            .expect("HKDF output length is valid")
            .into();
        let audit_key: hmac::Key = prk
            .expand(&[b"audit chain"], hmac::HMAC_SHA256)
            .expect("HKDF output length is valid")
            .into();
        let label_key: hmac::Key = prk
            .expand(&[b"kind label"], hmac::HMAC_SHA256)
            .expect("HKDF output length is valid")
            .into();
        StoreKeys {
            sealer: Sealer::new(seal_key),
            audit: audit_key,
            label: label_key,
        }
    }
}

/// Working keys of an unlocked store. ring keeps its expanded key schedules
/// private; they go away with this value.
pub struct StoreKeys {
    pub sealer: Sealer,
    pub audit: hmac::Key,
    /// Keys the opaque labels of record kinds that tell of a clinical
    /// event (`store::records::HIDDEN_KINDS`).
    pub label: hmac::Key,
}
