//! What a store queues for its peers: per-channel events, messages,
//! approvals, program assignments and availability, and what a check-in may share.

use serde_json::{json, Value};

use super::availability::Availability;
use super::events::{self};
use super::state::{
    channel_id_bytes, ChannelState, ChannelStatus, SentMessage, SyncIdentity, IDENTITY_ID,
};
use super::*;
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::store::delivery;
use crate::store::outbox::{self, Priority};
use crate::store::{ReadTx, Store, WriteTx};
use collabzium_protocol::channel::Role;

/// Queues an event for one channel (therapist side) in the caller's
/// transaction.
pub fn enqueue_for_channel(
    tx: &WriteTx<'_>,
    channel: &str,
    kind: &str,
    ref_id: &str,
    priority: Priority,
    body: &Value,
) -> Result<i64> {
    let bytes = serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?;
    let seq = outbox::enqueue(tx, kind, ref_id, priority, &bytes)?;
    delivery::route(tx, seq, channel)?;
    Ok(seq)
}

/// A ref id unique per channel: the outbox keeps one entry per (kind,
/// ref id), and a therapist sends the same program, approval or settings
/// version to many patients.
fn per_channel_ref(channel: &str, ref_id: &str) -> String {
    let prefix: String = channel.chars().take(16).collect();
    if prefix.len() + 1 + ref_id.len() <= 64 {
        format!("{prefix}.{ref_id}")
    } else {
        // Long ids: a digest keeps the ref within the outbox's 64 characters.
        let d = ring::digest::digest(&ring::digest::SHA256, ref_id.as_bytes());
        format!("{prefix}.{}", hex(&d.as_ref()[..16]))
    }
}

pub(crate) fn active_channel(tx: &ReadTx<'_>, channel: Option<&str>) -> Result<ChannelState> {
    let all: Vec<ChannelState> = tx
        .list::<ChannelState>()?
        .into_iter()
        .map(|c| c.value)
        .collect();
    // A revoked channel is named as such (the patient left), not as missing.
    let revoked = |c: &ChannelState| Error::ChannelRevoked {
        by: c.revoked_by.clone().unwrap_or_else(|| "peer".into()),
    };
    if let Some(c) = channel.and_then(|id| all.iter().find(|c| c.id == id)) {
        if c.status == ChannelStatus::Revoked {
            return Err(revoked(c));
        }
    }
    let (chans, ended): (Vec<ChannelState>, Vec<ChannelState>) = all
        .into_iter()
        .filter(|c| matches!(c.status, ChannelStatus::Active | ChannelStatus::Revoked))
        .partition(|c| c.status == ChannelStatus::Active);
    if channel.is_none() && chans.is_empty() {
        if let [only] = ended.as_slice() {
            return Err(revoked(only));
        }
    }
    match channel {
        Some(id) => chans
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::NotFound {
                what: "active channel".into(),
            }),
        None => the_only_channel(chans, "active channel (pair first)"),
    }
}

/// Writes a message to the peer; it goes out at the next sync.
pub fn send_message(
    store: &Store,
    channel: Option<&str>,
    text: &str,
    reply_to: Option<&str>,
) -> Result<MessageView> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Error::invalid(
            "text",
            format!("must be 1 to {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let ch = store.read(|tx| active_channel(tx, channel))?;
    let id = crate::crypto::random_id();
    store.write(|tx| {
        let body = json!({"text": text, "reply_to": reply_to});
        let seq = enqueue_for_channel(tx, &ch.id, events::MESSAGE, &id, Priority::Normal, &body)?;
        tx.put(
            &id,
            &SentMessage {
                channel: ch.id.clone(),
                text: text.to_string(),
                reply_to: reply_to.map(str::to_string),
                at: tx.now_millis(),
                outbox_seq: seq,
            },
        )
    })?;
    thread(store, Some(&ch.id))?
        .into_iter()
        .find(|m| m.id == format!("{}:{id}", events::MESSAGE))
        .ok_or_else(|| Error::Internal("sent message vanished".into()))
}

/// Therapist: approve a therapist-gated module for this patient.
pub fn send_unlock_approval(store: &Store, channel: &str, module_id: &str) -> Result<()> {
    crate::domain::check_token("module_id", module_id, 64)?;
    let ch = store.read(|tx| active_channel(tx, Some(channel)))?;
    store.write(|tx| {
        let body = json!({"module_id": module_id, "approved_at": tx.now_millis()});
        enqueue_for_channel(
            tx,
            &ch.id,
            events::UNLOCK_APPROVAL,
            &per_channel_ref(&ch.id, module_id),
            Priority::Normal,
            &body,
        )
        .map(|_| ())
    })
}

/// Therapist: assign a program (the whole definition travels, so the
/// patient's device needs nothing else). The patient enrols from `start`
/// in their own zone unless already enrolled.
pub fn send_program_assignment(
    store: &Store,
    channel: &str,
    program_json: &str,
    start: chrono::NaiveDate,
) -> Result<()> {
    let program = crate::program::load(program_json).map_err(|issues| {
        Error::invalid(
            "program",
            match issues.first() {
                Some(first) => format!("{} problem(s), first: {first}", issues.len()),
                None => "is not a valid program".to_string(),
            },
        )
    })?;
    let ch = store.read(|tx| active_channel(tx, Some(channel)))?;
    let value: Value = crate::json::from_text(program_json)
        .map_err(|e| Error::invalid("program", e.to_string()))?;
    let ref_id = format!(
        "{}-{}",
        program.metadata.id,
        program
            .metadata
            .version
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
    .to_ascii_lowercase();
    store.write(|tx| {
        let body = json!({"program": value, "start_date": start.to_string()});
        enqueue_for_channel(
            tx,
            &ch.id,
            events::PROGRAM_ASSIGNMENT,
            &per_channel_ref(&ch.id, &ref_id),
            Priority::Normal,
            &body,
        )
        .map(|_| ())
    })
}

/// Therapist: set availability hours as the default for new channels and
/// for every active channel (or only `channel`); patients get them at sync.
pub fn set_availability(
    store: &Store,
    settings: &Availability,
    channel: Option<&str>,
) -> Result<()> {
    settings.validate()?;
    store.write(|tx| {
        let mut id = SyncIdentity::ensure(tx, Role::Therapist)?;
        if channel.is_none() {
            id.settings = Some(settings.clone());
            tx.put(IDENTITY_ID, &id)?;
        }
        let body = serde_json::to_value(settings).map_err(|e| Error::Internal(e.to_string()))?;
        let version = tx.now_millis().to_string();
        for c in tx.list::<ChannelState>()? {
            let mut c = c.value;
            if c.status != ChannelStatus::Active || channel.is_some_and(|x| x != c.id) {
                continue;
            }
            c.settings = Some(settings.clone());
            tx.put(&c.id.clone(), &c)?;
            enqueue_for_channel(
                tx,
                &c.id,
                events::CHANNEL_SETTINGS,
                &per_channel_ref(&c.id, &format!("s{version}")),
                Priority::Normal,
                &body,
            )?;
        }
        Ok(())
    })
}

/// Whether a check-in with this instrument may be queued for the therapist:
/// never from a therapist store, never the therapist-rated alliance.
pub fn may_share_checkin(tx: &WriteTx<'_>, instrument: &str) -> Result<bool> {
    if instrument == "alliance_therapist" {
        return Ok(false);
    }
    Ok(match tx.get::<SyncIdentity>(IDENTITY_ID)? {
        Some(id) => id.value.role()? == Role::Patient,
        None => true,
    })
}

pub fn channel_id_check(id: &str) -> Result<()> {
    channel_id_bytes(id).map(|_| ())
}
