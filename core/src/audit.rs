//! A hash-chained, keyed audit log of security events.
//!
//! Each entry's MAC is HMAC-SHA256 over the previous MAC and the entry, keyed
//! by a subkey of the data key: editing, reordering or deleting an entry
//! breaks the chain from that point, and nobody without the key can re-forge
//! it. Entries hold event names and counts, never personal data.

use ring::hmac;
use serde::{Deserialize, Serialize};

/// Security events worth a permanent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    StoreCreated,
    Unlock,
    FailedUnlock,
    Export,
    Erase,
    Rekey,
    ConsentChanged,
    SyncPaired,
    SyncPairingFailed,
    SyncRejected,
    SyncUnpaired,
    /// A sealed value failed to open on read; noted once per value.
    RecordDamaged,
    /// Found on append: the keyed head named more entries than were left,
    /// so the newest ones had been deleted. Verification fails from here on.
    AuditTruncated,
    /// An encrypted backup was written (backup/, ADR 0011).
    BackupCreated,
    /// A recovery key was set up; only its check value is kept.
    RecoveryKeySet,
    /// This store was filled from a backup; the entries before this one
    /// are the backed-up store's, re-chained under this store's key.
    Restored,
    /// A left patient's copy was deleted from a therapist's device, after
    /// its export for the clinic (session/retention.rs).
    PatientForgotten,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::StoreCreated => "store_created",
            AuditEvent::Unlock => "unlock",
            AuditEvent::FailedUnlock => "failed_unlock",
            AuditEvent::Export => "export",
            AuditEvent::Erase => "erase",
            AuditEvent::Rekey => "rekey",
            AuditEvent::ConsentChanged => "consent_changed",
            AuditEvent::SyncPaired => "sync_paired",
            AuditEvent::SyncPairingFailed => "sync_pairing_failed",
            AuditEvent::SyncRejected => "sync_rejected",
            AuditEvent::SyncUnpaired => "sync_unpaired",
            AuditEvent::RecordDamaged => "record_damaged",
            AuditEvent::AuditTruncated => "audit_truncated",
            AuditEvent::BackupCreated => "backup_created",
            AuditEvent::RecoveryKeySet => "recovery_key_set",
            AuditEvent::Restored => "restored",
            AuditEvent::PatientForgotten => "patient_forgotten",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "store_created" => AuditEvent::StoreCreated,
            "unlock" => AuditEvent::Unlock,
            "failed_unlock" => AuditEvent::FailedUnlock,
            "export" => AuditEvent::Export,
            "erase" => AuditEvent::Erase,
            "rekey" => AuditEvent::Rekey,
            "consent_changed" => AuditEvent::ConsentChanged,
            "sync_paired" => AuditEvent::SyncPaired,
            "sync_pairing_failed" => AuditEvent::SyncPairingFailed,
            "sync_rejected" => AuditEvent::SyncRejected,
            "sync_unpaired" => AuditEvent::SyncUnpaired,
            "record_damaged" => AuditEvent::RecordDamaged,
            "audit_truncated" => AuditEvent::AuditTruncated,
            "backup_created" => AuditEvent::BackupCreated,
            "recovery_key_set" => AuditEvent::RecoveryKeySet,
            "restored" => AuditEvent::Restored,
            "patient_forgotten" => AuditEvent::PatientForgotten,
            _ => return None,
        })
    }
}

/// One stored entry. `detail` is a small JSON object without personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_millis: i64,
    pub event: String,
    pub detail: String,
    #[serde(skip)]
    pub mac: Vec<u8>,
}

pub const GENESIS: [u8; 32] = [0u8; 32];

/// MAC of an entry given its predecessor's MAC.
pub fn chain_mac(
    key: &hmac::Key,
    prev: &[u8],
    seq: i64,
    at_millis: i64,
    event: &str,
    detail: &str,
) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"collabzium audit v1\0");
    ctx.update(prev);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&at_millis.to_be_bytes());
    ctx.update(&(event.len() as u64).to_be_bytes());
    ctx.update(event.as_bytes());
    ctx.update(&(detail.len() as u64).to_be_bytes());
    ctx.update(detail.as_bytes());
    ctx.sign().as_ref().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    pub entries: u64,
    pub ok: bool,
    /// Sequence number of the first entry that does not verify.
    pub first_broken_seq: Option<i64>,
    pub reason: Option<String>,
    /// `broken_link` (an entry was edited, reordered or removed),
    /// `truncated` (entries after the last one present were deleted) or
    /// `head_missing` (the keyed head was removed); `None` when ok.
    pub code: Option<&'static str>,
}

/// The keyed head: the last entry's `seq` and a tag that only the key
/// holder can make. Kept in `meta` and rewritten with every append, so
/// deleting the newest entries leaves a head that points past the end.
/// (Distinct from the entry MAC: an old entry's visible MAC is not a head.)
pub fn head_tag(key: &hmac::Key, seq: i64, last_mac: &[u8]) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"collabzium audit head v1\0");
    ctx.update(&seq.to_be_bytes());
    ctx.update(last_mac);
    ctx.sign().as_ref().to_vec()
}

/// `seq` (8 bytes, big-endian) followed by its [`head_tag`].
pub fn encode_head(key: &hmac::Key, seq: i64, last_mac: &[u8]) -> Vec<u8> {
    let mut out = seq.to_be_bytes().to_vec();
    out.extend(head_tag(key, seq, last_mac));
    out
}

/// Checks the chain and then that it ends where the keyed head says.
/// `head` is the stored head value, `None` when absent.
pub fn verify_with_head(
    key: &hmac::Key,
    entries: &[AuditEntry],
    head: Option<&[u8]>,
) -> AuditVerification {
    let chain = verify_chain(key, entries);
    if !chain.ok {
        return chain;
    }
    let fail = |code: &'static str, first: i64, reason: String| AuditVerification {
        entries: entries.len() as u64,
        ok: false,
        first_broken_seq: Some(first),
        reason: Some(reason),
        code: Some(code),
    };
    // A truncation noticed by a later append stays on record in the chain.
    if let Some(e) = entries
        .iter()
        .find(|e| e.event == AuditEvent::AuditTruncated.as_str())
    {
        return fail(
            "truncated",
            e.seq,
            format!(
                "entries after {} were deleted (noticed at entry {})",
                e.seq - 1,
                e.seq
            ),
        );
    }
    let next = entries.len() as i64 + 1;
    let Some(head) = head else {
        return fail(
            "head_missing",
            next,
            "the keyed head of the audit log is missing".into(),
        );
    };
    let (seq_bytes, tag) = head.split_at(head.len().min(8));
    let head_seq = <[u8; 8]>::try_from(seq_bytes).map(i64::from_be_bytes).ok();
    let last = entries.last();
    let matches = |seq: i64| {
        let mac = last.map_or(&GENESIS[..], |e| &e.mac[..]);
        constant_time_eq(&head_tag(key, seq, mac), tag)
    };
    match head_seq {
        Some(seq) if seq == entries.len() as i64 && matches(seq) => chain,
        Some(seq) if seq > entries.len() as i64 => fail(
            "truncated",
            next,
            format!(
                "the log ends at entry {} but its keyed head names entry {seq}: the tail was deleted",
                entries.len()
            ),
        ),
        _ => fail(
            "broken_link",
            next.saturating_sub(1).max(1),
            "the keyed head does not match the last entry".into(),
        ),
    }
}

/// Checks entries (in ascending `seq` order) from the genesis link.
pub fn verify_chain(key: &hmac::Key, entries: &[AuditEntry]) -> AuditVerification {
    let mut prev: Vec<u8> = GENESIS.to_vec();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let broken = |reason: String| AuditVerification {
            entries: entries.len() as u64,
            ok: false,
            first_broken_seq: Some(expected_seq.min(e.seq)),
            reason: Some(reason),
            code: Some("broken_link"),
        };
        if e.seq != expected_seq {
            return broken(format!("entry {expected_seq} is missing or out of order"));
        }
        let mac = chain_mac(key, &prev, e.seq, e.at_millis, &e.event, &e.detail);
        if !constant_time_eq(&mac, &e.mac) {
            return broken(format!("entry {} does not match its chain link", e.seq));
        }
        prev = e.mac.clone();
    }
    AuditVerification {
        entries: entries.len() as u64,
        ok: true,
        first_broken_seq: None,
        reason: None,
        code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &hmac::Key, n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let mac = chain_mac(key, &prev, seq, seq * 10, "unlock", "{}");
                prev = mac.clone();
                AuditEntry {
                    seq,
                    at_millis: seq * 10,
                    event: "unlock".into(),
                    detail: "{}".into(),
                    mac,
                }
            })
            .collect()
    }

    #[test]
    fn names_first_broken_link() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[1u8; 32]);
        let good = chain(&key, 6);
        assert!(verify_chain(&key, &good).ok);

        let mut edited = good.clone();
        edited[3].detail = "{\"x\":1}".into();
        assert_eq!(verify_chain(&key, &edited).first_broken_seq, Some(4));

        let mut deleted = good.clone();
        deleted.remove(2);
        assert_eq!(verify_chain(&key, &deleted).first_broken_seq, Some(3));

        let other = hmac::Key::new(hmac::HMAC_SHA256, &[2u8; 32]);
        assert_eq!(verify_chain(&other, &good).first_broken_seq, Some(1));
    }

    #[test]
    fn head_catches_a_deleted_tail() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[1u8; 32]);
        let good = chain(&key, 6);
        let head = encode_head(&key, 6, &good[5].mac);
        assert!(verify_with_head(&key, &good, Some(&head)).ok);

        // The chain alone cannot tell a log cut after entry 4 from a short one.
        let cut = &good[..4];
        assert!(verify_chain(&key, cut).ok);
        let v = verify_with_head(&key, cut, Some(&head));
        assert_eq!((v.ok, v.code), (false, Some("truncated")));

        // Nor can a head be rebuilt from a visible older entry's MAC.
        let mut forged = 4i64.to_be_bytes().to_vec();
        forged.extend(&good[3].mac);
        assert_eq!(
            verify_with_head(&key, cut, Some(&forged)).code,
            Some("broken_link")
        );
        assert_eq!(
            verify_with_head(&key, &good, None).code,
            Some("head_missing")
        );
    }
}
