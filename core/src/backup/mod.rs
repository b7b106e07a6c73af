//! Encrypted backups under a recovery key, and restore into a new store
//! (issue 16 §2, `docs/adr/0011-backup-and-restore.md`).
//!
//! Key schedule: `master = Argon2id(recovery key, kdf_salt, m, t, p)`, the
//! salt and costs kept in the store's recovery check and in every backup
//! header. HKDF-SHA256 (RFC 5869) over `master`, salted with a fresh
//! per-file salt, gives the file's AES-256-GCM key and a key-check value;
//! a wrong key is told from a damaged file by the check.
//!
//! File: `CZBACKUP` (8) ‖ format version (u16 BE) ‖ header length (u32 BE)
//! ‖ header (JSON) ‖ nonce (12) ‖ ciphertext ‖ tag (16) ‖ SHA-256 of all
//! the bytes before it (32). Everything up to the header's end is the
//! AEAD's associated data. The unkeyed digest only sorts accidental damage
//! into `Corrupt` before any KDF runs; integrity comes from the AEAD.

pub mod recovery;
pub mod schedule;

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{self, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::{digest, hkdf};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use recovery::RecoveryKey;
pub use schedule::{backup_created_at, due, last_backup_at, record_saved, BACKUP_INTERVAL_MS};

use crate::audit::AuditEvent;
use crate::crypto::{hex, random_bytes, unhex};
use crate::error::{Error, Result};
use crate::platform::{Clock, KeyProvider, SystemClock};
use crate::store::snapshot::{self, Snapshot};
use crate::store::{Record, Store};
use crate::sync::state::{ChannelState, ChannelStatus};
use collabzium_protocol::ratchet::{SendChain, MAX_SKIP};

pub const MAGIC: &[u8; 8] = b"CZBACKUP";
/// Bump on any change a reader of this version cannot follow.
pub const FORMAT_VERSION: u16 = 1;
const PREFIX_LEN: usize = 8 + 2 + 4;
const DIGEST_LEN: usize = 32;
const TAG_LEN: usize = 16;
const MAX_HEADER: usize = 64 * 1024;
const KDF: &str = "argon2id";
const AEAD: &str = "aes-256-gcm";
const SALT_LEN: usize = 16;

/// OWASP's first Argon2id setting (46 MiB, one pass, one lane).
pub const ARGON2_M_KIB: u32 = 47_104;
pub const ARGON2_T: u32 = 1;
pub const ARGON2_P: u32 = 1;
/// Refused below (weakened file) and above (a file that would exhaust the phone).
const MIN_M_KIB: u32 = 19_456;
const MAX_M_KIB: u32 = 1024 * 1024;
const MAX_T: u32 = 16;
const MAX_P: u32 = 8;

/// The send chain of a resumed channel moves this far ahead, past what the
/// old phone may have sent after the backup (ADR 0011 §3). Below the
/// peer's `MAX_SKIP`, so the peer still accepts the next envelope.
pub const RESTORE_SEND_GAP: u64 = MAX_SKIP - 100;

/// The Argon2id salt and costs of one recovery key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub salt: String,
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

/// What a store keeps of its recovery key: the KDF inputs and a check
/// value derived from the key, never the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCheck {
    pub kdf: KdfParams,
    pub check: String,
}

impl Record for RecoveryCheck {
    const KIND: &'static str = "recovery_check";
}

const CHECK_ID: &str = "self";

/// The clear header of a backup file (authenticated, not secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    kdf: String,
    argon2_version: u32,
    kdf_params: KdfParams,
    file_salt: String,
    key_check: String,
    aead: String,
    nonce: String,
    store_schema: i64,
    created_at_millis: i64,
}

/// What `create` wrote, for the caller to show. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    pub format_version: u16,
    pub bytes: u64,
    pub records: u64,
    pub audit_entries: u64,
    pub created_at_millis: i64,
    /// Values that did not open in this store and are not in the backup.
    pub damaged: u64,
}

/// What a restore brought back. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    pub store_id: String,
    pub from_store_id: String,
    /// When the backup was made: anything after it is not in the new store.
    pub backup_created_at_millis: i64,
    pub records: u64,
    pub consents: u64,
    pub outbox: u64,
    pub audit_entries: u64,
    /// `ok`, or what verifying the old store's audit chain found.
    pub source_audit_chain: String,
    pub channels_resumed: u64,
    pub damaged_in_source: u64,
}

fn argon2_master(key: &RecoveryKey, p: &KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let salt = unhex(&p.salt)
        .filter(|s| s.len() == SALT_LEN)
        .ok_or_else(|| Error::corrupt("backup", "bad KDF salt"))?;
    if p.m_cost_kib < MIN_M_KIB
        || p.m_cost_kib > MAX_M_KIB
        || p.t_cost == 0
        || p.t_cost > MAX_T
        || p.p_cost == 0
        || p.p_cost > MAX_P
    {
        return Err(Error::corrupt(
            "backup",
            "KDF costs outside the accepted range",
        ));
    }
    let params = argon2::Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(32))
        .map_err(|_| Error::corrupt("backup", "KDF costs outside the accepted range"))?;
    let a2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a2.hash_password_into(key.as_bytes(), &salt, &mut out[..])
        .map_err(|_| Error::Internal("Argon2id failed".into()))?;
    Ok(out)
}

/// `len`-byte output of HKDF-SHA256(salt, master) for `info`.
struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[allow(
    clippy::expect_used,
    reason = "32 bytes is far below HKDF-SHA256's limit"
)]
fn hkdf32(master: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(master);
    let mut out = Zeroizing::new([0u8; 32]);
    prk.expand(&[info], Len(32))
        .expect("valid HKDF length")
        .fill(&mut out[..])
        .expect("valid HKDF length");
    out
}

fn store_check(master: &[u8]) -> String {
    hex(&hkdf32(master, b"", b"collabzium recovery check v1")[..])
}

fn file_check(master: &[u8], file_salt: &[u8]) -> String {
    hex(&hkdf32(master, file_salt, b"collabzium backup check v1")[..])
}

fn file_key(master: &[u8], file_salt: &[u8]) -> Result<LessSafeKey> {
    let k = hkdf32(master, file_salt, b"collabzium backup file key v1");
    let key = UnboundKey::new(&AES_256_GCM, &k[..])
        .map_err(|_| Error::Internal("AES key setup failed".into()))?;
    Ok(LessSafeKey::new(key))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sets up a recovery key for `store` and returns it: show it once, it is
/// not kept. `AlreadyExists` when the store has one.
pub fn set_up_recovery_key(store: &Store) -> Result<RecoveryKey> {
    if store.get::<RecoveryCheck>(CHECK_ID)?.is_some() {
        return Err(Error::AlreadyExists {
            what: "recovery key".into(),
        });
    }
    let key = RecoveryKey::generate();
    let kdf = KdfParams {
        salt: hex(&random_bytes::<SALT_LEN>()),
        m_cost_kib: ARGON2_M_KIB,
        t_cost: ARGON2_T,
        p_cost: ARGON2_P,
    };
    let master = argon2_master(&key, &kdf)?;
    let check = RecoveryCheck {
        kdf,
        check: store_check(&master[..]),
    };
    store.write(|tx| {
        tx.put(CHECK_ID, &check)?;
        tx.audit(AuditEvent::RecoveryKeySet, "{}")
    })?;
    Ok(key)
}

/// Whether the store has a recovery key set up.
pub fn has_recovery_key(store: &Store) -> Result<bool> {
    Ok(store.get::<RecoveryCheck>(CHECK_ID)?.is_some())
}

/// An encrypted backup of the whole store, as file bytes. `WrongKey` when
/// `key` is not the store's recovery key; `NotFound` when none is set up.
pub fn create(store: &Store, key: &RecoveryKey) -> Result<(Vec<u8>, BackupSummary)> {
    let check = store
        .get::<RecoveryCheck>(CHECK_ID)?
        .ok_or_else(|| Error::NotFound {
            what: "recovery key (set one up first: store init --recovery-key)".into(),
        })?
        .value;
    let master = argon2_master(key, &check.kdf)?;
    if !ct_eq(store_check(&master[..]).as_bytes(), check.check.as_bytes()) {
        return Err(Error::WrongKey);
    }
    // Taken before the snapshot: a check-in made meanwhile is in this
    // backup and still makes the next one due (schedule::due), never neither.
    let created_at = store.now_millis();
    let snap = snapshot::take(store)?;
    let plaintext = Zeroizing::new(
        serde_json::to_vec(&snap)
            .map_err(|_| Error::Internal("cannot encode the backup".into()))?,
    );
    let file_salt = random_bytes::<SALT_LEN>();
    let nonce = random_bytes::<NONCE_LEN>();
    let header = Header {
        kdf: KDF.into(),
        argon2_version: 0x13,
        kdf_params: check.kdf.clone(),
        file_salt: hex(&file_salt),
        key_check: file_check(&master[..], &file_salt),
        aead: AEAD.into(),
        nonce: hex(&nonce),
        store_schema: snap.schema_version,
        created_at_millis: created_at,
    };
    let header_bytes = serde_json::to_vec(&header)
        .map_err(|_| Error::Internal("cannot encode the backup header".into()))?;
    let mut out = Vec::with_capacity(PREFIX_LEN + header_bytes.len() + plaintext.len() + 80);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_bytes);
    let aad_len = out.len();
    out.extend_from_slice(&nonce);
    let body_at = out.len();
    out.extend_from_slice(&plaintext);
    let (aad, body) = out.split_at_mut(body_at);
    let tag = file_key(&master[..], &file_salt)?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&aad[..aad_len]),
            body,
        )
        .map_err(|_| Error::Internal("backup encryption failed".into()))?;
    out.extend_from_slice(tag.as_ref());
    let d = digest::digest(&digest::SHA256, &out);
    out.extend_from_slice(d.as_ref());
    let detail = serde_json::json!({
        "records": snap.records.len(),
        "damaged": snap.damaged.len(),
    })
    .to_string();
    store.write(|tx| tx.audit(AuditEvent::BackupCreated, &detail))?;
    let summary = BackupSummary {
        format_version: FORMAT_VERSION,
        bytes: out.len() as u64,
        records: snap.records.len() as u64,
        audit_entries: snap.audit.len() as u64,
        created_at_millis: created_at,
        damaged: snap.damaged.len() as u64,
    };
    Ok((out, summary))
}

/// Opens backup bytes: `Corrupt`, `UnsupportedVersion` or `WrongKey`, in
/// that order of checking; never panics on any input.
fn open(bytes: &[u8], key: &RecoveryKey) -> Result<(Header, Snapshot)> {
    let not_backup = || Error::corrupt("backup", "not a collabzium backup file");
    let damaged = || Error::corrupt("backup", "the file was changed or damaged");
    if bytes.len() < PREFIX_LEN || &bytes[..8] != MAGIC {
        return Err(not_backup());
    }
    let version = u16::from_be_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: i64::from(version),
            supported: i64::from(FORMAT_VERSION),
        });
    }
    if version == 0 {
        return Err(not_backup());
    }
    let header_len = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
    if header_len > MAX_HEADER
        || bytes.len() < PREFIX_LEN + header_len + NONCE_LEN + TAG_LEN + DIGEST_LEN
    {
        return Err(damaged());
    }
    let (signed, trailer) = bytes.split_at(bytes.len() - DIGEST_LEN);
    if !ct_eq(digest::digest(&digest::SHA256, signed).as_ref(), trailer) {
        return Err(damaged());
    }
    let aad = &signed[..PREFIX_LEN + header_len];
    let header: Header = serde_json::from_slice(&aad[PREFIX_LEN..])
        .map_err(|_| Error::corrupt("backup", "unreadable header"))?;
    if header.kdf != KDF || header.argon2_version != 0x13 || header.aead != AEAD {
        return Err(Error::corrupt("backup", "unknown KDF or cipher"));
    }
    if header.store_schema > crate::store::schema::LATEST_VERSION {
        return Err(Error::UnsupportedVersion {
            found: header.store_schema,
            supported: crate::store::schema::LATEST_VERSION,
        });
    }
    let file_salt = unhex(&header.file_salt)
        .filter(|s| s.len() == SALT_LEN)
        .ok_or_else(|| Error::corrupt("backup", "bad file salt"))?;
    let nonce: [u8; NONCE_LEN] = unhex(&header.nonce)
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| Error::corrupt("backup", "bad nonce"))?;
    let master = argon2_master(key, &header.kdf_params)?;
    if !ct_eq(
        file_check(&master[..], &file_salt).as_bytes(),
        header.key_check.as_bytes(),
    ) {
        return Err(Error::WrongKey);
    }
    let mut body = Zeroizing::new(signed[aad.len() + NONCE_LEN..].to_vec());
    let len = file_key(&master[..], &file_salt)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut body[..],
        )
        .map_err(|_| damaged())?
        .len();
    let snap: Snapshot = serde_json::from_slice(&body[..len])
        .map_err(|_| Error::corrupt("backup", "unreadable contents"))?;
    Ok((header, snap))
}

/// Checks a backup without restoring it (the same errors as [`restore`]).
pub fn verify(bytes: &[u8], key: &RecoveryKey) -> Result<BackupSummary> {
    let (header, snap) = open(bytes, key)?;
    Ok(BackupSummary {
        format_version: FORMAT_VERSION,
        bytes: bytes.len() as u64,
        records: snap.records.len() as u64,
        audit_entries: snap.audit.len() as u64,
        created_at_millis: header.created_at_millis,
        damaged: snap.damaged.len() as u64,
    })
}

/// Restores backup `bytes` into a new store at `target`, locked by
/// `provider`. The file is opened and checked before anything is created;
/// a failure after that erases the new store again (`Store::erase`, which
/// also calls `provider.destroy()`: the provider is the new store's).
pub fn restore(
    bytes: &[u8],
    key: &RecoveryKey,
    target: &Path,
    provider: &dyn KeyProvider,
) -> Result<(Store, RestoreReport)> {
    restore_with_clock(bytes, key, target, provider, Arc::new(SystemClock))
}

pub fn restore_with_clock(
    bytes: &[u8],
    key: &RecoveryKey,
    target: &Path,
    provider: &dyn KeyProvider,
    clock: Arc<dyn Clock>,
) -> Result<(Store, RestoreReport)> {
    if target.exists() {
        return Err(Error::AlreadyExists {
            what: "store file".into(),
        });
    }
    let (header, snap) = open(bytes, key)?;
    let store = Store::create_with_clock(target, provider, clock)?;
    match fill(&store, &header, &snap) {
        Ok(report) => Ok((store, report)),
        Err(e) => {
            // Only ever the store made just above.
            let _ = store.erase(provider);
            Err(e)
        }
    }
}

fn fill(store: &Store, header: &Header, snap: &Snapshot) -> Result<RestoreReport> {
    let resumable = snap
        .records
        .iter()
        .filter(|r| r.kind == ChannelState::KIND)
        .count() as u64;
    let detail = serde_json::json!({
        "from_store": snap.store_id,
        "backup_created_at": crate::store::export::rfc3339(header.created_at_millis),
        "entries_carried": snap.audit.len(),
        "source_chain": snap.audit_chain,
        "damaged_in_source": snap.damaged.len(),
        "channels": resumable,
    })
    .to_string();
    let counts = snapshot::load(store, snap, &detail)?;
    let channels_resumed = resume_channels(store)?;
    Ok(RestoreReport {
        store_id: store.store_id().to_string(),
        from_store_id: snap.store_id.clone(),
        backup_created_at_millis: header.created_at_millis,
        records: counts.records,
        consents: counts.consents,
        outbox: counts.outbox,
        audit_entries: counts.audit_entries,
        source_audit_chain: snap.audit_chain.clone(),
        channels_resumed,
        damaged_in_source: snap.damaged.len() as u64,
    })
}

/// ADR 0011 §3: each active channel resumes with its backed-up chains, the
/// send chain moved [`RESTORE_SEND_GAP`] ahead so that no message key the
/// old phone may have used after the backup is used again.
fn resume_channels(store: &Store) -> Result<u64> {
    store.write_durable(|tx| {
        let mut n = 0;
        for mut ch in tx.list::<ChannelState>()? {
            let Some(sc) = ch.value.send_chain.as_deref() else {
                continue;
            };
            if ch.value.status != ChannelStatus::Active {
                continue;
            }
            let raw = Zeroizing::new(
                STANDARD
                    .decode(sc)
                    .map_err(|_| Error::corrupt(ChannelState::KIND, "bad sending chain"))?,
            );
            let mut chain = SendChain::from_bytes(&raw)
                .ok_or_else(|| Error::corrupt(ChannelState::KIND, "bad sending chain"))?;
            for _ in 0..RESTORE_SEND_GAP {
                chain
                    .advance()
                    .ok_or_else(|| Error::corrupt(ChannelState::KIND, "sending chain exhausted"))?;
            }
            ch.value.send_chain = Some(STANDARD.encode(&*chain.to_bytes()));
            // Tell the peer where this device stands at the next round.
            ch.value.receipt_due = true;
            tx.put(&ch.id, &ch.value)?;
            n += 1;
        }
        Ok(n)
    })
}
