//! Symmetric-key KDF chain per direction (Signal Double Ratchet spec §2.2,
//! §3.5 without the DH step; ADR 0005 §4).
//!
//! `MK_n = HMAC(CK_n, 0x01)`, `CK_{n+1} = HMAC(CK_n, 0x02)`. HMAC is one-way,
//! so a chain state at seq n reveals no key for a seq below n: that is the
//! forward secrecy. Superseded chain keys and used message keys live only in
//! [`Zeroizing`] buffers and are wiped as soon as they are replaced.

use std::collections::{BTreeMap, BTreeSet};

use ring::{hkdf, hmac};
use zeroize::Zeroizing;

use super::error::SyncRejection;

/// At most this many message keys are derived ahead for one envelope.
pub const MAX_SKIP: u64 = 1000;
/// At most this many skipped message keys are cached per receiving chain;
/// the lowest seqs are evicted first.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// Cached skipped keys older than this are evicted (60 days).
pub const SKIPPED_KEY_MAX_AGE_MS: i64 = 60 * 24 * 3600 * 1000;

/// Length of the derived AES-256-GCM key and nonce.
const ENVELOPE_KEY_LEN: usize = 32;
const ENVELOPE_NONCE_LEN: usize = 12;
const ENVELOPE_INFO: &[u8] = b"collabzium v1 envelope";

/// A 32-byte chain key `CK_n`.
#[derive(Clone)]
pub struct ChainKey(Zeroizing<[u8; 32]>);

/// A 32-byte message key `MK_n`, used for exactly one envelope.
pub struct MessageKey(Zeroizing<[u8; 32]>);

fn hmac_byte(key: &[u8; 32], byte: u8) -> Zeroizing<[u8; 32]> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, &[byte]);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

impl ChainKey {
    /// Wrap raw chain-key bytes (from the pairing key schedule or the store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw bytes, for sealing into the store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `MK_n = HMAC-SHA256(CK_n, 0x01)`.
    pub fn message_key(&self) -> MessageKey {
        MessageKey(hmac_byte(&self.0, 0x01))
    }

    /// `CK_{n+1} = HMAC-SHA256(CK_n, 0x02)`.
    pub fn next(&self) -> ChainKey {
        ChainKey(hmac_byte(&self.0, 0x02))
    }
}

/// `ring::hkdf::KeyType` for the 44-byte `key ‖ nonce` output.
struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl MessageKey {
    /// Wrap raw message-key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `key ‖ nonce = HKDF-SHA256(salt = 0^32, IKM = MK, info = "collabzium v1 envelope", L = 44)`.
    /// The nonce is derived, never sent: each message key seals one envelope,
    /// so a (key, nonce) pair is never reused.
    #[allow(
        clippy::expect_used,
        reason = "HKDF-SHA256 expands 44 bytes, well under its limit"
    )]
    pub fn envelope_key_nonce(
        &self,
    ) -> (Zeroizing<[u8; ENVELOPE_KEY_LEN]>, [u8; ENVELOPE_NONCE_LEN]) {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[0u8; 32]).extract(&self.0[..]);
        let mut okm = Zeroizing::new([0u8; ENVELOPE_KEY_LEN + ENVELOPE_NONCE_LEN]);
        prk.expand(&[ENVELOPE_INFO], Len(okm.len()))
            .and_then(|o| o.fill(&mut okm[..]))
            .expect("44 bytes is within HKDF-SHA256's output limit");
        let mut key = Zeroizing::new([0u8; ENVELOPE_KEY_LEN]);
        key.copy_from_slice(&okm[..ENVELOPE_KEY_LEN]);
        let mut nonce = [0u8; ENVELOPE_NONCE_LEN];
        nonce.copy_from_slice(&okm[ENVELOPE_KEY_LEN..]);
        (key, nonce)
    }
}

/// The sending half: next seq and its chain key.
pub struct SendChain {
    next_seq: u64,
    ck: ChainKey,
}

impl SendChain {
    /// A chain whose first envelope will carry `seq = 1` under `ck` (= `CK_1`).
    pub fn new(ck: ChainKey) -> Self {
        Self { next_seq: 1, ck }
    }

    /// The seq the next envelope will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Take the next message key and advance; the old chain key is wiped.
    pub fn advance(&mut self) -> Option<(u64, MessageKey)> {
        let seq = self.next_seq;
        let after = seq.checked_add(1)?;
        let mk = self.ck.message_key();
        self.ck = self.ck.next();
        self.next_seq = after;
        Some((seq, mk))
    }

    /// Serialise for sealing into the store: `next_seq u64 ‖ CK`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(40));
        out.extend_from_slice(&self.next_seq.to_be_bytes());
        out.extend_from_slice(self.ck.as_bytes());
        out
    }

    /// Inverse of [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 40 {
            return None;
        }
        let next_seq = u64::from_be_bytes(b[..8].try_into().ok()?);
        let mut ck = [0u8; 32];
        ck.copy_from_slice(&b[8..]);
        let chain = Self {
            next_seq,
            ck: ChainKey::from_bytes(ck),
        };
        zeroize::Zeroize::zeroize(&mut ck);
        (next_seq >= 1).then_some(chain)
    }
}

struct SkippedKey {
    mk: MessageKey,
    cached_at_ms: i64,
}

/// The receiving half: chain key for `next_seq`, the skipped-key cache, and
/// which seqs were already opened (watermark plus the set above it), so a
/// replay is told apart from a seq whose key was evicted.
pub struct ReceiveChain {
    next_seq: u64,
    ck: ChainKey,
    skipped: BTreeMap<u64, SkippedKey>,
    watermark: u64,
    above: BTreeSet<u64>,
}

impl ReceiveChain {
    /// A chain expecting `seq = 1` under `ck` (= `CK_1`).
    pub fn new(ck: ChainKey) -> Self {
        Self {
            next_seq: 1,
            ck,
            skipped: BTreeMap::new(),
            watermark: 0,
            above: BTreeSet::new(),
        }
    }

    /// Highest seq such that every seq up to it was opened.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// Seqs opened above the watermark.
    pub fn received_above(&self) -> impl Iterator<Item = u64> + '_ {
        self.above.iter().copied()
    }

    /// The seq the current chain key belongs to.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Seqs whose message keys are held in the skipped-key cache.
    pub fn skipped_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.skipped.keys().copied()
    }

    fn is_received(&self, seq: u64) -> bool {
        seq <= self.watermark || self.above.contains(&seq)
    }

    fn mark_received(&mut self, seq: u64) {
        if seq == self.watermark + 1 {
            self.watermark = seq;
            while self.above.remove(&(self.watermark + 1)) {
                self.watermark += 1;
            }
        } else {
            self.above.insert(seq);
        }
    }

    /// Drop cached skipped keys older than [`SKIPPED_KEY_MAX_AGE_MS`].
    pub fn evict_expired(&mut self, now_ms: i64) {
        self.skipped
            .retain(|_, k| now_ms.saturating_sub(k.cached_at_ms) <= SKIPPED_KEY_MAX_AGE_MS);
    }

    /// Find the message key for `seq` and try `open` with it. State is
    /// committed (chain advanced, skipped keys cached, key deleted, seq marked
    /// received) only if `open` returns `Some`: a forged envelope, even one
    /// far ahead, changes nothing.
    pub fn open_with<T>(
        &mut self,
        seq: u64,
        now_ms: i64,
        open: impl FnOnce(&MessageKey) -> Option<T>,
    ) -> Result<T, SyncRejection> {
        if seq == 0 {
            return Err(SyncRejection::Malformed);
        }
        if self.is_received(seq) {
            return Err(SyncRejection::Duplicate);
        }
        if seq < self.next_seq {
            let key = self.skipped.get(&seq).ok_or(SyncRejection::Unrecoverable)?;
            let out = open(&key.mk).ok_or(SyncRejection::Authentication)?;
            self.skipped.remove(&seq);
            self.mark_received(seq);
            return Ok(out);
        }
        if seq - self.next_seq > MAX_SKIP {
            return Err(SyncRejection::TooFarAhead);
        }
        // Tentative derivation: nothing below touches `self` until `open` succeeds.
        let mut ck = self.ck.clone();
        let mut tentative = Vec::with_capacity((seq - self.next_seq) as usize);
        for s in self.next_seq..seq {
            tentative.push((s, ck.message_key()));
            ck = ck.next();
        }
        let mk = ck.message_key();
        let out = open(&mk).ok_or(SyncRejection::Authentication)?;
        self.ck = ck.next();
        self.next_seq = seq + 1;
        for (s, mk) in tentative {
            self.skipped.insert(
                s,
                SkippedKey {
                    mk,
                    cached_at_ms: now_ms,
                },
            );
        }
        while self.skipped.len() > MAX_SKIPPED_KEYS {
            self.skipped.pop_first();
        }
        self.mark_received(seq);
        Ok(out)
    }

    /// Serialise for sealing into the store:
    /// `v=1 ‖ next_seq ‖ CK ‖ watermark ‖ n ‖ above[n] ‖ m ‖ (seq ‖ cached_at ‖ MK)[m]`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64 + self.skipped.len() * 48));
        out.push(1);
        out.extend_from_slice(&self.next_seq.to_be_bytes());
        out.extend_from_slice(self.ck.as_bytes());
        out.extend_from_slice(&self.watermark.to_be_bytes());
        out.extend_from_slice(&(self.above.len() as u32).to_be_bytes());
        for s in &self.above {
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&(self.skipped.len() as u32).to_be_bytes());
        for (s, k) in &self.skipped {
            out.extend_from_slice(&s.to_be_bytes());
            out.extend_from_slice(&k.cached_at_ms.to_be_bytes());
            out.extend_from_slice(k.mk.as_bytes());
        }
        out
    }

    /// Inverse of [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut r = Reader(b);
        if r.take(1)? != [1] {
            return None;
        }
        let next_seq = r.u64()?;
        let ck = ChainKey::from_bytes(r.take(32)?.try_into().ok()?);
        let watermark = r.u64()?;
        let n = r.u32()? as usize;
        let mut above = BTreeSet::new();
        for _ in 0..n {
            above.insert(r.u64()?);
        }
        let m = r.u32()? as usize;
        let mut skipped = BTreeMap::new();
        for _ in 0..m {
            let s = r.u64()?;
            let cached_at_ms = r.u64()? as i64;
            let mk = MessageKey::from_bytes(r.take(32)?.try_into().ok()?);
            skipped.insert(s, SkippedKey { mk, cached_at_ms });
        }
        (r.0.is_empty() && next_seq >= 1).then_some(Self {
            next_seq,
            ck,
            skipped,
            watermark,
            above,
        })
    }
}

struct Reader<'a>(&'a [u8]);
impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn kdf_chain_matches_hmac_definition() {
        // Independent recomputation with ring's HMAC, fixed CK_1 = 0x00..1f.
        let mut ck1 = [0u8; 32];
        ck1.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let mut chain = SendChain::new(ChainKey::from_bytes(ck1));
        let mut ck = ck1;
        for seq in 1..=3u64 {
            let key = hmac::Key::new(hmac::HMAC_SHA256, &ck);
            let mk = hmac::sign(&key, &[1]);
            let next = hmac::sign(&key, &[2]);
            let (s, got) = chain.advance().unwrap();
            assert_eq!(s, seq);
            assert_eq!(hex(got.as_bytes()), hex(mk.as_ref()));
            ck.copy_from_slice(next.as_ref());
        }
        assert_eq!(chain.next_seq(), 4);
        assert_eq!(chain.to_bytes()[8..], ck[..]);
    }

    #[test]
    fn envelope_key_nonce_is_deterministic_and_distinct() {
        let a = MessageKey::from_bytes([7; 32]).envelope_key_nonce();
        let b = MessageKey::from_bytes([7; 32]).envelope_key_nonce();
        let c = MessageKey::from_bytes([8; 32]).envelope_key_nonce();
        assert_eq!((&a.0[..], a.1), (&b.0[..], b.1));
        assert_ne!(a.1, c.1);
        assert_ne!(a.0[..], c.0[..]);
    }

    fn opener(expect: [u8; 32]) -> impl FnOnce(&MessageKey) -> Option<()> {
        move |mk| (mk.as_bytes() == &expect).then_some(())
    }

    fn keys(n: u64) -> Vec<[u8; 32]> {
        let mut c = SendChain::new(ChainKey::from_bytes([9; 32]));
        (0..n).map(|_| *c.advance().unwrap().1.as_bytes()).collect()
    }

    #[test]
    fn out_of_order_duplicate_and_failure_commit_nothing() {
        let k = keys(6);
        let mut r = ReceiveChain::new(ChainKey::from_bytes([9; 32]));
        // A failed open far ahead changes nothing.
        let before = r.to_bytes();
        assert_eq!(
            r.open_with(5, 0, |_| None::<()>),
            Err(SyncRejection::Authentication)
        );
        assert_eq!(r.to_bytes(), before);
        r.open_with(3, 0, opener(k[2])).unwrap();
        assert_eq!(r.skipped_seqs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            r.open_with(3, 0, opener(k[2])),
            Err(SyncRejection::Duplicate)
        );
        r.open_with(1, 0, opener(k[0])).unwrap();
        assert_eq!(r.watermark(), 1);
        r.open_with(2, 0, opener(k[1])).unwrap();
        assert_eq!(r.watermark(), 3);
        assert_eq!(r.skipped_seqs().count(), 0);
        let again = ReceiveChain::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(again.to_bytes(), r.to_bytes());
    }

    #[test]
    fn skip_bound_cache_bound_and_age_eviction() {
        let mut r = ReceiveChain::new(ChainKey::from_bytes([9; 32]));
        assert_eq!(
            r.open_with(MAX_SKIP + 2, 0, |_| Some(())),
            Err(SyncRejection::TooFarAhead)
        );
        r.open_with(MAX_SKIP + 1, 0, |_| Some(())).unwrap();
        assert_eq!(r.skipped_seqs().count() as u64, MAX_SKIP);
        r.open_with(2 * MAX_SKIP + 2, 1, |_| Some(())).unwrap();
        r.open_with(3 * MAX_SKIP + 3, 2, |_| Some(())).unwrap();
        assert_eq!(r.skipped_seqs().count(), MAX_SKIPPED_KEYS);
        // The oldest (lowest) were evicted and are now unrecoverable.
        assert_eq!(
            r.open_with(1, 3, |_| Some(())),
            Err(SyncRejection::Unrecoverable)
        );
        r.evict_expired(2 + SKIPPED_KEY_MAX_AGE_MS);
        assert_eq!(r.skipped_seqs().count(), MAX_SKIP as usize);
    }
}
