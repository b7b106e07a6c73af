//! The therapist's acknowledgement of a patient's safety alert: what they
//! did (kept on their device with an optional note) and the `alert_ack`
//! event that tells the patient it was seen (issue 10).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::events;
use super::outbound::active_channel;
use super::outbound::enqueue_for_channel;
use super::state::{inbox_id, InboxItem};
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::store::outbox::Priority;
use crate::store::{Record, Store};

/// What the therapist did about an alert, recorded with the acknowledgement
/// (issue 10). The patient is told only that it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckAction {
    /// Contacted the patient by phone.
    Phone,
    /// Messaged the patient.
    Message,
    /// Reviewed the safety plan with the patient.
    SafetyPlan,
    /// Referred the patient to a crisis service.
    Referred,
    Other,
}

impl AckAction {
    pub const ALL: [AckAction; 5] = [
        AckAction::Phone,
        AckAction::Message,
        AckAction::SafetyPlan,
        AckAction::Referred,
        AckAction::Other,
    ];

    /// The command-line and wire token.
    pub fn as_str(self) -> &'static str {
        match self {
            AckAction::Phone => "phone",
            AckAction::Message => "message",
            AckAction::SafetyPlan => "safety_plan",
            AckAction::Referred => "referred",
            AckAction::Other => "other",
        }
    }

    /// Words for the caseload: "contacted by phone".
    pub fn label(self) -> &'static str {
        match self {
            AckAction::Phone => "contacted by phone",
            AckAction::Message => "messaged",
            AckAction::SafetyPlan => "safety plan reviewed",
            AckAction::Referred => "referred to crisis service",
            AckAction::Other => "other action",
        }
    }

    pub fn parse(s: &str) -> crate::error::Result<AckAction> {
        AckAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                crate::error::Error::invalid(
                    "action",
                    "must be phone, message, safety_plan, referred or other",
                )
            })
    }
}

/// The therapist's own record of an acknowledgement: what they did, and a
/// note that never leaves their device (the patient sees only "seen").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertAcknowledgement {
    pub channel: String,
    pub alert_id: String,
    pub action: AckAction,
    pub note: Option<String>,
    pub at_millis: i64,
}

impl Record for AlertAcknowledgement {
    const KIND: &'static str = "ack";
}

impl AlertAcknowledgement {
    /// Record id: one acknowledgement per alert and channel (a digest, as
    /// the two ids together exceed a record id's 64 characters).
    pub fn id(channel: &str, alert_id: &str) -> String {
        let d = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{channel}\n{alert_id}").as_bytes(),
        );
        hex(&d.as_ref()[..16])
    }
}

/// Longest acknowledgement note, in characters.
pub const MAX_ACK_NOTE_CHARS: usize = 2000;

/// Therapist: acknowledge a patient's safety alert with what was done, and
/// an optional note kept on this device. The patient is told only that the
/// alert was seen.
pub fn send_alert_ack(
    store: &Store,
    channel: &str,
    alert_id: &str,
    action: AckAction,
    note: Option<&str>,
) -> Result<()> {
    crate::domain::check_token("alert_id", alert_id, 64)?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_ACK_NOTE_CHARS) {
        return Err(Error::invalid("note", "must be at most 2000 characters"));
    }
    let ch = store.read(|tx| active_channel(tx, Some(channel)))?;
    store.write(|tx| {
        let at_millis = tx.now_millis();
        tx.put(
            &AlertAcknowledgement::id(&ch.id, alert_id),
            &AlertAcknowledgement {
                channel: ch.id.clone(),
                alert_id: alert_id.to_string(),
                action,
                note: note.map(str::to_string),
                at_millis,
            },
        )?;
        // Mark the received alert acknowledged locally too.
        let iid = inbox_id(&ch.id, &format!("{}:{alert_id}", events::SAFETY_ALERT));
        if let Some(mut item) = tx.get::<InboxItem>(&iid)? {
            if item.value.read_at.is_none() {
                item.value.read_at = Some(tx.now_millis());
            }
            tx.put(&iid, &item.value)?;
        }
        let body = json!({"alert_id": alert_id, "acknowledged_at": tx.now_millis()});
        enqueue_for_channel(
            tx,
            &ch.id,
            events::ALERT_ACK,
            alert_id,
            Priority::High,
            &body,
        )
        .map(|_| ())
    })
}
