//! Field-level AEAD: every sensitive value is sealed on its own, bound to
//! where it lives.
//!
//! Envelope v1: `0x01 || nonce (12) || ciphertext || tag (16)`, AES-256-GCM.
//! The associated data names the envelope version, table, record kind and
//! row id, so a ciphertext moved anywhere else fails to open.

use std::sync::Mutex;

use ring::aead::{self, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

pub const ENVELOPE_V1: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// Where a sealed value lives. Each part is length-prefixed in the
/// associated data, so no two different locations encode the same.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub table: &'a str,
    pub kind: &'a str,
    pub id: &'a str,
}

/// AAD bytes on the stack for the usual short ids; the heap only for long ones.
enum AadBuf {
    Inline([u8; 160], usize),
    Heap(Vec<u8>),
}

impl AadBuf {
    fn as_slice(&self) -> &[u8] {
        match self {
            AadBuf::Inline(b, n) => &b[..*n],
            AadBuf::Heap(v) => v,
        }
    }
}

impl Aad<'_> {
    fn encode(&self, version: u8) -> AadBuf {
        const PREFIX: &[u8] = b"collabzium\0";
        let len = PREFIX.len() + 1 + 3 * 4 + self.table.len() + self.kind.len() + self.id.len();
        let mut v = Vec::new();
        let mut inline = [0u8; 160];
        let mut pos = 0;
        let mut put = |bytes: &[u8]| {
            if len <= inline.len() {
                inline[pos..pos + bytes.len()].copy_from_slice(bytes);
                pos += bytes.len();
            } else {
                v.extend_from_slice(bytes);
            }
        };
        put(PREFIX);
        put(&[version]);
        for part in [self.table, self.kind, self.id] {
            put(&(part.len() as u32).to_be_bytes());
            put(part.as_bytes());
        }
        if len <= inline.len() {
            AadBuf::Inline(inline, len)
        } else {
            AadBuf::Heap(v)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("envelope is truncated")]
    Truncated,
    #[error("unknown envelope version {0}")]
    UnknownVersion(u8),
    #[error("authentication failed (tampered, moved or wrong key)")]
    Authentication,
    #[error("random number generator failed")]
    Random,
}

/// Random 96-bit nonces, drawn from the OS in batches: one getrandom call per
/// 341 nonces instead of one each keeps the insert overhead small.
struct NonceSource {
    rng: SystemRandom,
    buf: Mutex<(Box<[u8; 4092]>, usize)>,
}

impl NonceSource {
    fn new() -> Self {
        NonceSource {
            rng: SystemRandom::new(),
            buf: Mutex::new((Box::new([0u8; 4092]), 4092)),
        }
    }

    fn next(&self) -> Result<[u8; NONCE_LEN], SealError> {
        let mut guard = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let (buf, pos) = &mut *guard;
        if *pos + NONCE_LEN > buf.len() {
            self.rng.fill(&mut buf[..]).map_err(|_| SealError::Random)?;
            *pos = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&buf[*pos..*pos + NONCE_LEN]);
        // Never hand out the same bytes twice.
        buf[*pos..*pos + NONCE_LEN].fill(0);
        *pos += NONCE_LEN;
        Ok(nonce)
    }
}

/// Seals and opens envelopes under one AES-256-GCM key.
pub struct Sealer {
    key: LessSafeKey,
    nonces: NonceSource,
}

impl Sealer {
    pub fn new(key: UnboundKey) -> Self {
        Sealer {
            key: LessSafeKey::new(key),
            nonces: NonceSource::new(),
        }
    }

    /// Builds a sealer straight from 32 key bytes (the caller zeroizes them).
    #[allow(clippy::expect_used, reason = "callers pass a 32-byte data key")]
    pub fn from_key_bytes(bytes: &[u8]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 key is 32 bytes");
        Self::new(key)
    }

    pub fn seal(&self, aad: Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        self.seal_into(aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Seals into `out` (cleared first), so bulk writers can reuse one buffer.
    pub fn seal_into(
        &self,
        aad: Aad<'_>,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let nonce = self.nonces.next()?;
        let aad_bytes = aad.encode(ENVELOPE_V1);
        out.clear();
        out.reserve(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(ENVELOPE_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad_bytes.as_slice()),
                &mut out[HEADER_LEN..],
            )
            .map_err(|_| SealError::Authentication)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    pub fn open(&self, aad: Aad<'_>, envelope: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = envelope.split_first().ok_or(SealError::Truncated)?;
        if version != ENVELOPE_V1 {
            return Err(SealError::UnknownVersion(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&rest[..NONCE_LEN]);
        let aad_bytes = aad.encode(version);
        let mut buf = rest[NONCE_LEN..].to_vec();
        let len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad_bytes.as_slice()),
                &mut buf,
            )
            .map_err(|_| SealError::Authentication)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_key_bytes(&[7u8; 32])
    }

    const AAD: Aad<'static> = Aad {
        table: "records",
        kind: "note",
        id: "abc",
    };

    #[test]
    fn round_trip_and_binding() {
        let s = sealer();
        let env = s.seal(AAD, b"hello").unwrap();
        assert_eq!(env[0], ENVELOPE_V1);
        assert_eq!(s.open(AAD, &env).unwrap(), b"hello");
        for moved in [
            Aad {
                table: "consents",
                ..AAD
            },
            Aad {
                kind: "other",
                ..AAD
            },
            Aad { id: "abd", ..AAD },
        ] {
            assert_eq!(s.open(moved, &env), Err(SealError::Authentication));
        }
    }

    #[test]
    fn long_ids_use_the_heap_path_and_still_bind() {
        let s = sealer();
        let long = "x".repeat(300);
        let aad = Aad { id: &long, ..AAD };
        let env = s.seal(aad, b"v").unwrap();
        assert_eq!(s.open(aad, &env).unwrap(), b"v");
        let other = "x".repeat(299);
        assert!(s.open(Aad { id: &other, ..AAD }, &env).is_err());
    }

    #[test]
    fn nonces_differ() {
        let s = sealer();
        let a = s.seal(AAD, b"x").unwrap();
        let b = s.seal(AAD, b"x").unwrap();
        assert_ne!(a[1..13], b[1..13]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            assert!(seen.insert(s.nonces.next().unwrap()));
        }
    }

    #[test]
    fn malformed_envelopes() {
        let s = sealer();
        let env = s.seal(AAD, b"hello").unwrap();
        assert_eq!(s.open(AAD, &[]), Err(SealError::Truncated));
        assert_eq!(s.open(AAD, &env[..20]), Err(SealError::Truncated));
        let mut v = env.clone();
        v[0] = 9;
        assert_eq!(s.open(AAD, &v), Err(SealError::UnknownVersion(9)));
        let wrong = Sealer::from_key_bytes(&[8u8; 32]);
        assert_eq!(wrong.open(AAD, &env), Err(SealError::Authentication));
    }
}
