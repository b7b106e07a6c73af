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
}
