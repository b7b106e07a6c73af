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
#[allow(
    clippy::expect_used,
    reason = "no supported platform lacks an OS random source"
)]
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
    hex(&random_bytes::<16>())
}

/// Lowercase hex, the one encoding of ids and digests in stored keys.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Inverse of [`hex`]; `None` for odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
