//! Event payloads, kinds and who may write them (ADR 0005 §4–§5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use collabzium_protocol::channel::Role;

pub const PAYLOAD_VERSION: u32 = 1;

pub const CHECKIN: &str = "checkin";
pub const SAFETY_ALERT: &str = "safety_alert";
pub const MODULE_PROGRESS: &str = "module_progress";
pub const ENGAGEMENT_SUMMARY: &str = "engagement_summary";
pub const PROGRAM_ASSIGNMENT: &str = "program_assignment";
pub const UNLOCK_APPROVAL: &str = "unlock_approval";
pub const ALERT_ACK: &str = "alert_ack";
pub const CHANNEL_SETTINGS: &str = "channel_settings";
pub const MESSAGE: &str = "message";
pub const RECEIPT: &str = "receipt";
/// A patient's consent decision (grant or withdrawal) for a scope the
/// therapist must honour; see `sync::consent`.
pub const CONSENT: &str = "consent";

/// Kinds each role writes. Every kind has one writer role (messages are
/// owned by their author), so the two sides never write the same item.
pub fn writable_by(role: Role, kind: &str) -> bool {
    match role {
        Role::Patient => matches!(
            kind,
            CHECKIN
                | SAFETY_ALERT
                | MODULE_PROGRESS
                | ENGAGEMENT_SUMMARY
                | CONSENT
                | MESSAGE
                | RECEIPT
        ),
        Role::Therapist => matches!(
            kind,
            PROGRAM_ASSIGNMENT | UNLOCK_APPROVAL | ALERT_ACK | CHANNEL_SETTINGS | MESSAGE | RECEIPT
        ),
    }
}

/// Receipt state for the opposite direction, piggybacked on every envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Highest contiguous peer seq durably applied.
    pub through: u64,
    /// Peer seqs applied above `through` (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub above: Vec<u64>,
    /// Peer seqs we refused (tampered or malformed): re-push them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<u64>,
    /// Peer seqs whose key was lost: re-send the event under a new seq.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<u64>,
    /// Peer event ids a person has opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
}

/// The plaintext of one envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub v: u32,
    /// `kind:ref_id`, unique per sender store; apply is keyed by it.
    pub id: String,
    pub kind: String,
    /// Hybrid logical clock: 48-bit ms ‖ 16-bit counter.
    pub hlc: u64,
    /// Sender's wall clock when the event was made, ms.
    pub at: i64,
    pub rcpt: Receipt,
    #[serde(default)]
    pub body: Value,
}

/// Hybrid logical clock (Kulkarni et al. 2014), packed into a u64.
pub fn hlc_tick(last: u64, now_ms: i64) -> u64 {
    let physical = (now_ms.max(0) as u64) << 16;
    if physical > last {
        physical
    } else {
        // A peer's absurd clock must not overflow ours.
        last.saturating_add(1)
    }
}

/// Merge a received clock: the next local tick orders after it.
pub fn hlc_merge(last: u64, remote: u64) -> u64 {
    last.max(remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ownership_table() {
        assert!(writable_by(Role::Patient, CHECKIN));
        assert!(!writable_by(Role::Therapist, CHECKIN));
        assert!(writable_by(Role::Therapist, UNLOCK_APPROVAL));
        assert!(!writable_by(Role::Patient, UNLOCK_APPROVAL));
        assert!(writable_by(Role::Patient, MESSAGE) && writable_by(Role::Therapist, MESSAGE));
        assert!(!writable_by(Role::Patient, "alliance_therapist"));
        assert!(writable_by(Role::Patient, CONSENT));
        assert!(!writable_by(Role::Therapist, CONSENT));
    }

    proptest! {
        #[test]
        fn hlc_is_monotonic_and_after_merged(
            steps in proptest::collection::vec((0i64..2_000_000_000_000, any::<bool>(), 0u64..u64::MAX / 2), 1..50)
        ) {
            let mut last = 0u64;
            for (now, merge, remote) in steps {
                let before = last;
                if merge {
                    last = hlc_merge(last, remote);
                    prop_assert!(last >= before && last >= remote);
                }
                let t = hlc_tick(last, now);
                prop_assert!(t > last);
                last = t;
            }
        }
    }
}
