//! Rust key providers for the CLI, tests and demo. Phones use the platform
//! key store through the bindings instead.

use ring::aead::{self, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::pbkdf2;
use std::num::NonZeroU32;
use zeroize::Zeroizing;

use crate::platform::{KeyProvider, KeyProviderError};

/// OWASP's 2023 floor for PBKDF2-HMAC-SHA256.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
const SALT_LEN: usize = 16;
const PASS_V1: u8 = 1;
const MEM_V1: u8 = 1;

#[allow(
    clippy::expect_used,
    reason = "a KEK is 32 bytes, the AES-256 key length"
)]
fn aes_seal(kek: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).expect("32-byte KEK"));
    let nonce = super::random_bytes::<NONCE_LEN>();
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| KeyProviderError::Unavailable("wrap failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

#[allow(
    clippy::expect_used,
    reason = "a KEK is 32 bytes, the AES-256 key length"
)]
fn aes_open(kek: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(KeyProviderError::Malformed);
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).expect("32-byte KEK"));
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[..NONCE_LEN]);
    let mut buf = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| KeyProviderError::WrongKey)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Derives the KEK from a passphrase with PBKDF2-HMAC-SHA256 and a random
/// salt. Blob: `0x01 || iterations (u32 BE) || salt (16) || nonce || ct+tag`.
/// The iteration count and salt are bound as associated data.
pub struct PassphraseKeyProvider {
    passphrase: Zeroizing<String>,
    iterations: u32,
}

impl PassphraseKeyProvider {
    pub fn new(passphrase: impl Into<String>) -> Self {
        PassphraseKeyProvider {
            passphrase: Zeroizing::new(passphrase.into()),
            iterations: PBKDF2_ITERATIONS,
        }
    }

    #[allow(
        clippy::expect_used,
        reason = "the iteration count is checked non-zero before this is called"
    )]
    fn kek(&self, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
        let mut kek = Zeroizing::new([0u8; 32]);
        let n = NonZeroU32::new(iterations).expect("iterations checked non-zero");
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            n,
            salt,
            self.passphrase.as_bytes(),
            &mut kek[..],
        );
        kek
    }

    fn aad(iterations: u32, salt: &[u8]) -> Vec<u8> {
        let mut aad = b"collabzium passphrase wrap\0".to_vec();
        aad.push(PASS_V1);
        aad.extend_from_slice(&iterations.to_be_bytes());
        aad.extend_from_slice(salt);
        aad
    }
}

impl KeyProvider for PassphraseKeyProvider {
    fn wrap_key(&self, data_key: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
        let salt = super::random_bytes::<SALT_LEN>();
        let kek = self.kek(&salt, self.iterations);
        let sealed = aes_seal(&kek[..], &Self::aad(self.iterations, &salt), data_key)?;
        let mut out = vec![PASS_V1];
        out.extend_from_slice(&self.iterations.to_be_bytes());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    #[allow(
        clippy::expect_used,
        reason = "the length was checked above, so the slice is 4 bytes"
    )]
    fn unwrap_key(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError> {
        if wrapped.len() < 1 + 4 + SALT_LEN || wrapped[0] != PASS_V1 {
            return Err(KeyProviderError::Malformed);
        }
        let iterations = u32::from_be_bytes(wrapped[1..5].try_into().expect("4 bytes"));
        // A lowered count would make brute force cheaper: refuse it outright.
        if iterations < PBKDF2_ITERATIONS {
            return Err(KeyProviderError::Malformed);
        }
        let salt = &wrapped[5..5 + SALT_LEN];
        let kek = self.kek(salt, iterations);
        aes_open(
            &kek[..],
            &Self::aad(iterations, salt),
            &wrapped[5 + SALT_LEN..],
        )
    }
}

/// Holds a KEK in memory. For tests, the demo's throwaway stores, and as a
/// model of what a platform provider does.
pub struct MemoryKeyProvider {
    kek: Zeroizing<[u8; 32]>,
}

impl MemoryKeyProvider {
    pub fn new(kek: [u8; 32]) -> Self {
        MemoryKeyProvider {
            kek: Zeroizing::new(kek),
        }
    }

    pub fn random() -> Self {
        Self::new(super::random_bytes::<32>())
    }
}

impl KeyProvider for MemoryKeyProvider {
    fn wrap_key(&self, data_key: &[u8]) -> Result<Vec<u8>, KeyProviderError> {
        let mut out = vec![MEM_V1];
        out.extend(aes_seal(
            &self.kek[..],
            b"collabzium memory wrap v1",
            data_key,
        )?);
        Ok(out)
    }

    fn unwrap_key(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError> {
        match wrapped.split_first() {
            Some((&MEM_V1, rest)) => aes_open(&self.kek[..], b"collabzium memory wrap v1", rest),
            _ => Err(KeyProviderError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_round_trip_and_wrong_passphrase() {
        let p = PassphraseKeyProvider::new("correct horse");
        let wrapped = p.wrap_key(&[42u8; 32]).unwrap();
        assert_eq!(&p.unwrap_key(&wrapped).unwrap()[..], &[42u8; 32]);
        let q = PassphraseKeyProvider::new("wrong horse");
        assert_eq!(q.unwrap_key(&wrapped), Err(KeyProviderError::WrongKey));
        // Same passphrase, fresh salt: different blob.
        assert_ne!(p.wrap_key(&[42u8; 32]).unwrap(), wrapped);
    }

    #[test]
    fn lowered_iteration_count_is_refused() {
        let p = PassphraseKeyProvider::new("pw");
        let mut wrapped = p.wrap_key(&[1u8; 32]).unwrap();
        wrapped[1..5].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(p.unwrap_key(&wrapped), Err(KeyProviderError::Malformed));
    }

    #[test]
    fn memory_provider() {
        let p = MemoryKeyProvider::new([3u8; 32]);
        let w = p.wrap_key(&[9u8; 32]).unwrap();
        assert_eq!(&p.unwrap_key(&w).unwrap()[..], &[9u8; 32]);
        let q = MemoryKeyProvider::new([4u8; 32]);
        assert_eq!(q.unwrap_key(&w), Err(KeyProviderError::WrongKey));
        assert_eq!(p.unwrap_key(&[2, 3]), Err(KeyProviderError::Malformed));
    }
}
