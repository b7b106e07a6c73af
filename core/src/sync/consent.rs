//! The `consent` sync event: a patient's research-export decisions travel to
//! the therapist, who must honour them in `research export` (issue 10).
//!
//! Only [`SYNCED_SCOPES`] travel. `data_processing` concerns the patient's
//! own device, and `therapist_sharing` is already enforced by pairing and
//! unpairing, so the therapist has no use for either.
//!
//! Wire body (one event per decision, ref id = the decision's record id, so
//! a grant, a withdrawal and a re-grant are three events):
//!
//! ```json
//! {"version": 1, "scope": "research_export", "decision": "granted",
//!  "text_version": "v1", "at_millis": 1767225600000}
//! ```

use serde::{Deserialize, Serialize};

use crate::domain::consent::{scopes, ConsentDecision, ConsentRecord};
use crate::error::{Error, Result};
use crate::store::outbox::{self, Priority};
use crate::store::WriteTx;

use super::events;
use super::state::{SyncIdentity, IDENTITY_ID};
use collabzium_protocol::channel::Role;

/// Version of the event body below.
pub const CONSENT_EVENT_VERSION: u32 = 1;

/// Consent scopes that are sent to the therapist.
pub const SYNCED_SCOPES: [&str; 1] = [scopes::RESEARCH_EXPORT];

/// The body of a `consent` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub version: u32,
    pub scope: String,
    pub decision: ConsentDecision,
    /// Version of the consent text the patient saw.
    pub text_version: String,
    /// When the patient decided, by the patient's clock (the same clock
    /// that stamps their check-ins, so the two compare without skew).
    pub at_millis: i64,
}

impl ConsentEvent {
    /// Reads a received body; `None` when it is not a consent event this
    /// version understands (a newer sender may add fields, which are ignored).
    pub fn from_body(body: &serde_json::Value) -> Option<ConsentEvent> {
        let e = ConsentEvent::deserialize(body).ok()?;
        (e.version == CONSENT_EVENT_VERSION).then_some(e)
    }

    pub fn granted(&self) -> bool {
        self.decision == ConsentDecision::Granted
    }
}

/// Queues `record` for the therapist in the caller's transaction, when its
/// scope travels and this store is (or may become) a patient's. A therapist
/// store's own consents never leave it.
pub(crate) fn enqueue_decision(tx: &WriteTx<'_>, record: &ConsentRecord) -> Result<()> {
    if !SYNCED_SCOPES.contains(&record.scope.as_str()) {
        return Ok(());
    }
    if let Some(id) = tx.get::<SyncIdentity>(IDENTITY_ID)? {
        if id.value.role()? != Role::Patient {
            return Ok(());
        }
    }
    let event = ConsentEvent {
        version: CONSENT_EVENT_VERSION,
        scope: record.scope.clone(),
        decision: record.decision,
        text_version: record.text_version.clone(),
        at_millis: record.at_millis,
    };
    let body = serde_json::to_vec(&event)
        .map_err(|e| Error::Internal(crate::error::json_error_reason(&e)))?;
    outbox::enqueue(tx, events::CONSENT, &record.id, Priority::Normal, &body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_and_rejects_other_versions() {
        let e = ConsentEvent {
            version: CONSENT_EVENT_VERSION,
            scope: scopes::RESEARCH_EXPORT.into(),
            decision: ConsentDecision::Withdrawn,
            text_version: "v2".into(),
            at_millis: 42,
        };
        let mut v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["decision"], "withdrawn");
        assert_eq!(ConsentEvent::from_body(&v), Some(e.clone()));
        v["later_field"] = serde_json::json!(1);
        assert_eq!(ConsentEvent::from_body(&v), Some(e));
        v["version"] = serde_json::json!(2);
        assert_eq!(ConsentEvent::from_body(&v), None);
        assert_eq!(ConsentEvent::from_body(&serde_json::json!("x")), None);
    }
}
