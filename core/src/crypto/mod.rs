//! Cryptography for the patient store, composed from ring's primitives.
//!
//! Decisions and their reasons live in `docs/adr/0001-store-encryption.md`.

pub mod keys;
pub mod providers;
pub mod seal;

pub use keys::{DataKey, StoreKeys};
pub use providers::{MemoryKeyProvider, PassphraseKeyProvider, PBKDF2_ITERATIONS};
pub use seal::{Aad, SealError, Sealer, ENVELOPE_V1};

use ring::rand::{SecureRandom, SystemRandom};

/// Fills a fresh buffer from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // SystemRandom only fails if the OS has no entropy source, which no
    // supported platform lacks; treat it as a broken platform.
    SystemRandom::new()
        .fill(&mut out)
        .expect("the OS random number generator failed");
    out
}

/// A random 128-bit id as lowercase hex: unguessable and safe to use as an
/// opaque row identity in associated data.
pub fn random_id() -> String {
    let bytes = random_bytes::<16>();
    let mut s = String::with_capacity(32);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
