//! Ed25519 device key (ADR 0005 §2): the device's identity on the relay and
//! in pairing bindings. It signs; it never encrypts.

use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

/// Length of an Ed25519 public key, which is also the device id.
pub const DEVICE_PUB_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// A device's signing key. The PKCS#8 document is kept in a zeroizing buffer
/// so it can be sealed into the store (ADR 0001) and is wiped on drop.
pub struct DeviceKey {
    pkcs8: Zeroizing<Vec<u8>>,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// Create a new random device key.
    #[allow(
        clippy::expect_used,
        reason = "no supported platform lacks an OS random source; a fresh PKCS#8 document parses"
    )]
    pub fn generate() -> Self {
        let doc =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("system RNG unavailable");
        Self::from_pkcs8(doc.as_ref()).expect("freshly generated PKCS#8 is valid")
    }

    /// Load a key from its PKCS#8 document; `None` if it is not valid.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).ok()?;
        Some(Self {
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            pair,
        })
    }

    /// The PKCS#8 document, for sealing into the store.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The 32-byte public key, which is the device id.
    pub fn public_key(&self) -> [u8; DEVICE_PUB_LEN] {
        let mut out = [0u8; DEVICE_PUB_LEN];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// Sign a message.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }
}

/// Verify an Ed25519 signature by `public` over `msg`.
pub fn verify(public: &[u8; DEVICE_PUB_LEN], msg: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::ED25519, public)
        .verify(msg, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reload() {
        let k = DeviceKey::generate();
        let sig = k.sign(b"hello");
        assert!(verify(&k.public_key(), b"hello", &sig));
        assert!(!verify(&k.public_key(), b"hellO", &sig));
        let again = DeviceKey::from_pkcs8(k.pkcs8()).unwrap();
        assert_eq!(again.public_key(), k.public_key());
        assert!(DeviceKey::from_pkcs8(b"junk").is_none());
    }
}
