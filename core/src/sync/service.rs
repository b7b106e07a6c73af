//! Pairing, sync rounds, messaging and unpairing over a relay (ADR 0005).
//!
//! No network call happens inside a store transaction: a round seals into
//! `sync_sent` (commit), then pushes; fetches, then applies (commit), then
//! acks. A crash or transport error anywhere leaves durable state from which
//! the next call resumes; the relay de-duplicates on `(channel, dir, seq)`
//! and the receiver on seq and event id.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

use super::availability::{AlertsOutsideHours, Availability};
use super::events::{self, Payload, Receipt, PAYLOAD_VERSION};
use super::state::{
    channel_id_bytes, inbox_id, ChannelState, ChannelStatus, InboxItem, SentMessage,
    SyncIdentity, IDENTITY_ID,
};
use super::{PairingError, SyncRejection};
use crate::audit::AuditEvent;
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::store::outbox::{self, Priority};
use crate::store::{ReadTx, Record, Store, WriteTx};
use collabzium_protocol::channel::{Channel, Role};
use collabzium_protocol::client::{b64, unb64, Refusal, RelayClient};
use collabzium_protocol::code::PairingCode;
use collabzium_protocol::device::{self, DeviceKey};
use collabzium_protocol::envelope::Header;
use collabzium_protocol::pairing::{self, FinishMessage, Invitation, JoinMessage, PendingJoin};
use collabzium_protocol::transport::HttpTransport;

/// Envelopes per push request and bytes per request (ADR 0006 §5).
const PUSH_BATCH: usize = 100;
const PUSH_BYTES: usize = 900 * 1024;
const FETCH_LIMIT: u32 = 200;
/// Pages fetched per channel in one round.
const MAX_PAGES_PER_ROUND: usize = 100;
/// Re-push an undelivered envelope after 10 min, 1 h, 6 h, then daily.
const BACKOFF_MS: [i64; 4] = [600_000, 3_600_000, 21_600_000, 86_400_000];
/// Longest message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;

fn now_s(store: &Store) -> i64 {
    store.now_millis().div_euclid(1000)
}

fn millis_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn identity(store: &Store) -> Result<Option<SyncIdentity>> {
    Ok(store.get::<SyncIdentity>(IDENTITY_ID)?.map(|s| s.value))
}

/// This store's sync role, once it has invited or joined.
pub fn own_role(store: &Store) -> Result<Option<Role>> {
    identity(store)?.map(|i| i.role()).transpose()
}

fn require_identity(store: &Store) -> Result<(SyncIdentity, DeviceKey)> {
    let id = identity(store)?.ok_or_else(|| Error::NotFound {
        what: "sync identity (invite or join first)".into(),
    })?;
    let key = id.device()?;
    Ok((id, key))
}

fn refused(r: Refusal) -> Error {
    match (r.status, r.code.as_str()) {
        (404, _) => PairingError::NotFound.into(),
        _ => r.into(),
    }
}

// ---------------------------------------------------------------- pairing

/// A therapist's open invitation. The SPAKE2 state lives only in memory, so
/// the invitation lives as long as this object (at most 15 minutes).
pub struct TherapistInvitation {
    inv: Invitation,
    relay_url: String,
    code: PairingCode,
    expires_at_millis: i64,
    label: Option<String>,
}

/// What the therapist shows: the code to read out and the QR payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvitationView {
    pub code: String,
    pub qr: String,
    pub nameplate: String,
    pub expires_at_millis: i64,
}

/// Progress of an invitation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InvitationState {
    Waiting,
    Paired {
        channel_id: String,
        safety_number: String,
    },
}

impl TherapistInvitation {
    /// Creates an invitation at the relay. `label` names the patient on the
    /// therapist's side only; it never leaves this store.
    pub fn create(
        store: &Store,
        transport: &dyn HttpTransport,
        relay_url: &str,
        label: Option<&str>,
    ) -> Result<Self> {
        if let Some(l) = label {
            if l.trim().is_empty() || l.chars().count() > 80 {
                return Err(Error::invalid("label", "must be 1 to 80 characters"));
            }
        }
        let id = store.write(|tx| SyncIdentity::ensure(tx, Role::Therapist))?;
        let key = id.device()?;
        let mut inv = Invitation::start(relay_url)?;
        let client = RelayClient::new(relay_url, transport, &key, || now_s(store));
        let created = client.create_pairing(inv.msg_a())?.map_err(refused)?;
        let nameplate = created
            .get("nameplate")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Relay {
                status: 201,
                code: "malformed_response".into(),
            })?
            .to_string();
        let expires_at_millis = created
            .get("expires_at")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let code = inv.assign_nameplate(&nameplate)?;
        Ok(Self {
            inv,
            relay_url: relay_url.to_string(),
            code,
            expires_at_millis,
            label: label.map(|l| l.trim().to_string()),
        })
    }

    pub fn view(&self) -> Result<InvitationView> {
        Ok(InvitationView {
            code: self.code.display().to_string(),
            qr: self.code.qr_payload(&self.relay_url)?.to_string(),
            nameplate: self.code.nameplate().to_string(),
            expires_at_millis: self.expires_at_millis,
        })
    }

    /// Checks once whether the patient has joined; if so, verifies the
    /// patient's confirmation and finishes. Any verification failure burns
    /// the invitation at the relay (one guess per code).
    pub fn poll(
        &mut self,
        store: &Store,
        transport: &dyn HttpTransport,
    ) -> Result<InvitationState> {
        if self.inv.is_burned() {
            return Err(PairingError::InvitationBurned.into());
        }
        let (id, key) = require_identity(store)?;
        let client = RelayClient::new(&self.relay_url, transport, &key, || now_s(store));
        let np = self.code.nameplate().to_string();
        let view = client.get_pairing(&np)?.map_err(refused)?;
        if view.state == "aborted" {
            return Err(PairingError::InvitationBurned.into());
        }
        let Some(join_b64) = view.join else {
            if store.now_millis() > self.expires_at_millis && self.expires_at_millis > 0 {
                return Err(PairingError::NotFound.into());
            }
            return Ok(InvitationState::Waiting);
        };
        let accepted = unb64(&join_b64)
            .map_err(|_| Error::from(PairingError::Malformed))
            .and_then(|b| JoinMessage::from_bytes(&b).map_err(Error::from))
            .and_then(|join| {
                let settings = id
                    .settings
                    .as_ref()
                    .map(serde_json::to_vec)
                    .transpose()
                    .map_err(|e| Error::Internal(e.to_string()))?;
                self.inv
                    .accept(&join, &key, id.pseudonym_bytes(), None, settings.as_deref())
                    .map_err(Error::from)
            });
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                let _ = client.delete_pairing(&np);
                store.write(|tx| tx.audit(AuditEvent::SyncPairingFailed, e.code()))?;
                return Err(e);
            }
        };
        let cid = accepted.finish.channel_id;
        let cid_hex = hex(&cid);
        // One channel per patient store: refuse a second pairing with a peer
        // we already have an active channel with.
        let peer_pub = b64(&accepted.peer.device_pub);
        let duplicate = store.read(|tx| {
            Ok(tx.list::<ChannelState>()?.into_iter().any(|c| {
                c.value.status == ChannelStatus::Active
                    && c.value.peer_device.as_deref() == Some(&peer_pub)
            }))
        })?;
        if duplicate {
            let _ = client.delete_pairing(&np);
            return Err(PairingError::AlreadyPaired.into());
        }
        // Persist before telling the relay, so a crash cannot leave a
        // channel at the relay whose keys we lost.
        let mut state = ChannelState {
            label: self.label.clone(),
            peer_device: Some(peer_pub),
            settings: id.settings.clone(),
            safety_number: Some(accepted.channel.safety_number()),
            ..ChannelState::pending(
                cid_hex.clone(),
                Role::Therapist,
                self.relay_url.clone(),
                b64(&key.public_key()),
                np.clone(),
                store.now_millis(),
            )
        };
        state.store_chains(&accepted.channel);
        // The finish message is kept until the relay confirms the channel:
        // if this call is cut off, `sync` completes the pairing later.
        state.pending_finish = Some(b64(&accepted.finish.to_bytes()));
        store.write_durable(|tx| tx.put(&cid_hex, &state))?;
        finish_therapist(store, &client, &mut state)?;
        if state.status != ChannelStatus::Active {
            return Err(PairingError::AlreadyPaired.into());
        }
        Ok(InvitationState::Paired {
            channel_id: cid_hex,
            safety_number: state.safety_number.clone().unwrap_or_default(),
        })
    }
}

/// Therapist side: tells the relay to create the channel, idempotently. A
/// channel the relay already lists as ours counts as finished (a retry
/// after a lost answer); a refusal fails the pairing.
fn finish_therapist(
    store: &Store,
    client: &RelayClient<'_>,
    state: &mut ChannelState,
) -> Result<()> {
    let cid = state.cid()?;
    let cid_b64 = b64(&cid);
    let (Some(np), Some(finish)) = (state.nameplate.clone(), state.pending_finish.clone()) else {
        return Ok(());
    };
    let done = match client.finish_pairing(&np, &cid, &unb64(&finish)?)? {
        Ok(_) => true,
        Err(r) if matches!(r.status, 404 | 409) => client
            .channels()?
            .map_err(Error::from)?
            .iter()
            .any(|c| c.id == cid_b64 && c.state == "active"),
        Err(r) if r.status >= 500 || r.status == 429 => return Err(r.into()),
        Err(_) => false,
    };
    store.write_durable(|tx| {
        state.pending_finish = None;
        if done {
            state.status = ChannelStatus::Active;
            state.paired_at_millis = Some(tx.now_millis());
            tx.put(&state.id.clone(), &*state)?;
            tx.audit(AuditEvent::SyncPaired, "therapist")
        } else {
            state.status = ChannelStatus::Failed;
            state.send_chain = None;
            state.recv_chain = None;
            tx.put(&state.id.clone(), &*state)?;
            tx.audit(AuditEvent::SyncPairingFailed, "finish_refused")
        }
    })
}

/// The patient's side of pairing, as it stands after `join` or a sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinOutcome {
    pub channel_id: String,
    pub status: ChannelStatus,
    pub safety_number: Option<String>,
}

/// Redeems a code (typed, or scanned from the QR payload). Returns at once:
/// the channel is `pending` until the therapist's device finishes, which
/// this call checks once and every later sync checks again.
pub fn join(
    store: &Store,
    transport: &dyn HttpTransport,
    relay_url: Option<&str>,
    code: &str,
    share_history: bool,
    share_alerts: Option<bool>,
) -> Result<JoinOutcome> {
    let (relay_url, code) = if code
        .trim_start()
        .starts_with(collabzium_protocol::code::QR_PREFIX)
    {
        PairingCode::parse_qr(code.trim())?
    } else {
        let url =
            relay_url.ok_or_else(|| Error::invalid("relay", "is required with a typed code"))?;
        (url.to_string(), PairingCode::parse(code)?)
    };
    // A risk alert waiting for a therapist: the patient decides whether this
    // therapist gets it, separately from the rest of the history.
    let share_alerts = match share_alerts {
        Some(choice) => choice,
        None if share_history => true,
        None if unsent_alerts(store)? > 0 => {
            return Err(Error::invalid(
                "share_alerts",
                "this device has an unsent safety alert: choose whether to share it with this therapist",
            ))
        }
        None => false,
    };
    let id = store.write(|tx| SyncIdentity::ensure(tx, Role::Patient))?;
    let busy = store.read(|tx| {
        Ok(tx.list::<ChannelState>()?.into_iter().any(|c| {
            matches!(
                c.value.status,
                ChannelStatus::Active | ChannelStatus::Pending
            )
        }))
    })?;
    if busy {
        return Err(PairingError::AlreadyPaired.into());
    }
    let key = id.device()?;
    let client = RelayClient::new(&relay_url, transport, &key, || now_s(store));
    let view = client.get_pairing(code.nameplate())?.map_err(refused)?;
    if view.state != "open" {
        return Err(PairingError::NotFound.into());
    }
    let msg_a = unb64(&view.msg_a).map_err(|_| Error::from(PairingError::Malformed))?;
    let (join_msg, pending) = pairing::join(&code, &relay_url, &msg_a, &key, id.pseudonym_bytes())?;
    let cid_hex = hex(pending.channel_id());
    let state = ChannelState {
        pending_join: Some(base64_std(&pending.to_bytes())),
        share_history,
        share_alerts: share_history || share_alerts,
        ..ChannelState::pending(
            cid_hex.clone(),
            Role::Patient,
            relay_url.clone(),
            b64(&key.public_key()),
            code.nameplate().to_string(),
            store.now_millis(),
        )
    };
    store.write_durable(|tx| tx.put(&cid_hex, &state))?;
    match client.join_pairing(code.nameplate(), &join_msg.to_bytes())? {
        Ok(_) => {}
        Err(r) => {
            store.write(|tx| tx.delete(ChannelState::KIND, &cid_hex).map(|_| ()))?;
            return Err(refused(r));
        }
    }
    let mut state = state;
    complete_pending(store, &client, &mut state)?;
    Ok(JoinOutcome {
        channel_id: cid_hex,
        status: state.status,
        safety_number: state.safety_number,
    })
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Patient side: finish a pending channel if the therapist has. Returns
/// whether it became active.
fn complete_pending(
    store: &Store,
    client: &RelayClient<'_>,
    state: &mut ChannelState,
) -> Result<bool> {
    let Some(np) = state.nameplate.clone() else {
        return Ok(false);
    };
    let view = match client.get_pairing(&np)? {
        Ok(v) => v,
        Err(r) if r.status == 404 => {
            fail_pending(store, state, "pairing_not_found")?;
            return Err(PairingError::NotFound.into());
        }
        Err(r) => return Err(r.into()),
    };
    if view.state == "aborted" {
        fail_pending(store, state, "code_mismatch")?;
        return Err(PairingError::CodeMismatch.into());
    }
    let (Some(cid_b64), Some(finish_b64)) = (view.channel_id, view.finish) else {
        return Ok(false);
    };
    let finish = unb64(&finish_b64)
        .ok()
        .and_then(|b| FinishMessage::from_bytes(&b).ok())
        .ok_or(PairingError::Malformed)?;
    if unb64(&cid_b64).ok().as_deref() != Some(&state.cid()?[..]) {
        return Err(PairingError::Malformed.into());
    }
    let pending_bytes = state
        .pending_join
        .as_deref()
        .and_then(|s| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).ok()
        })
        .and_then(|b| PendingJoin::from_bytes(&b))
        .ok_or_else(|| Error::corrupt(ChannelState::KIND, "bad pending pairing"))?;
    let (channel, peer) = match pending_bytes.complete(&finish) {
        Ok(x) => x,
        Err(e) => {
            fail_pending(store, state, e.code())?;
            return Err(e.into());
        }
    };
    let settings: Option<Availability> = peer
        .settings
        .as_deref()
        .and_then(|s| serde_json::from_slice(s).ok());
    store.write(|tx| {
        state.status = ChannelStatus::Active;
        state.peer_device = Some(b64(&peer.device_pub));
        state.pending_join = None;
        state.settings = settings;
        state.paired_at_millis = Some(tx.now_millis());
        state.safety_number = Some(channel.safety_number());
        state.store_chains(&channel);
        tx.put(&state.id.clone(), &*state)?;
        // Events made before pairing are shared only if the patient chose so;
        // unsent safety alerts by their own choice, and consent decisions
        // always (they say what the therapist may do with the data).
        tx.connection().execute(
            "INSERT OR IGNORE INTO sync_route (outbox_seq, channel)
             SELECT seq, CASE
                 WHEN ?2 THEN ?1
                 WHEN kind = ?4 AND ?3 THEN ?1
                 WHEN kind = ?5 THEN ?1
                 ELSE '-' END
             FROM outbox WHERE sent_at IS NULL",
            params![
                state.id,
                state.share_history,
                state.share_alerts,
                tx.kind_label(events::SAFETY_ALERT),
                events::CONSENT
            ],
        )?;
        tx.audit(AuditEvent::SyncPaired, "patient")
    })?;
    Ok(true)
}

fn fail_pending(store: &Store, state: &mut ChannelState, why: &str) -> Result<()> {
    store.write(|tx| {
        state.status = ChannelStatus::Failed;
        state.pending_join = None;
        tx.put(&state.id.clone(), &*state)?;
        tx.audit(AuditEvent::SyncPairingFailed, why)
    })
}

// ---------------------------------------------------------------- sending

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
    tx.connection().execute(
        "INSERT OR IGNORE INTO sync_route (outbox_seq, channel) VALUES (?1, ?2)",
        params![seq, channel],
    )?;
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

fn active_channel(tx: &ReadTx<'_>, channel: Option<&str>) -> Result<ChannelState> {
    let chans: Vec<ChannelState> = tx
        .list::<ChannelState>()?
        .into_iter()
        .map(|c| c.value)
        .filter(|c| c.status == ChannelStatus::Active)
        .collect();
    match channel {
        Some(id) => chans
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::NotFound {
                what: "active channel".into(),
            }),
        None if chans.len() == 1 => Ok(chans.into_iter().next().expect("one")),
        None if chans.is_empty() => Err(Error::NotFound {
            what: "active channel (pair first)".into(),
        }),
        None => Err(Error::invalid(
            "channel",
            "is required: this store has several channels",
        )),
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
    let value: Value =
        serde_json::from_str(program_json).map_err(|e| Error::invalid("program", e.to_string()))?;
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

/// The therapist's own record of an acknowledgement: what they did, and a
/// note that never leaves their device (the patient sees only "seen").
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AlertAcknowledgement {
    pub channel: String,
    pub alert_id: String,
    pub action: crate::checkin::AckAction,
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
    action: crate::checkin::AckAction,
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

// ---------------------------------------------------------------- sync

/// What one sync round did. Safe to show to the user and to log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    /// Envelopes the relay newly stored.
    pub sent: u64,
    /// Peer events applied.
    pub received: u64,
    pub duplicates: u64,
    /// Refused envelopes by reason (`authentication`, `malformed`, ...).
    pub rejected: BTreeMap<String, u64>,
    /// Envelopes pushed again (backoff, receipt request or gap).
    pub resent: u64,
    /// Own envelopes the peer confirmed this round.
    pub delivered: u64,
    /// Own events not yet confirmed by the peer.
    pub pending_outbound: u64,
    pub channels_revoked: u64,
    pub pairings_completed: u64,
    /// Why the round stopped early (`offline`, `rate_limited`, ...); all
    /// progress so far is durable and the next call resumes.
    pub error: Option<String>,
}

/// One sync round over every channel. Safe to call at any time from a
/// background thread; concurrent calls on one store run one after another.
pub fn sync(store: &Store, transport: &dyn HttpTransport) -> Result<SyncSummary> {
    let _guard = store.sync_guard();
    let mut summary = SyncSummary::default();
    let Some(id) = identity(store)? else {
        return Ok(summary);
    };
    let key = id.device()?;
    let role = id.role()?;
    if role == Role::Patient {
        produce_engagement_summary(store)?;
    }
    let channels: Vec<ChannelState> = store
        .read(|tx| tx.list::<ChannelState>())?
        .into_iter()
        .map(|c| c.value)
        .collect();
    for mut ch in channels {
        let client = RelayClient::new(&ch.relay_url, transport, &key, || now_s(store));
        let step = match ch.status {
            ChannelStatus::Pending if role == Role::Patient => {
                match complete_pending(store, &client, &mut ch) {
                    Ok(true) => {
                        summary.pairings_completed += 1;
                        sync_channel(store, &client, &mut ch, &mut summary)
                    }
                    Ok(false) => Ok(()),
                    Err(e @ Error::Offline(_)) => Err(e),
                    Err(Error::Relay { code, .. }) => Err(Error::Relay { status: 0, code }),
                    // A failed pairing is recorded on the channel; go on.
                    Err(_) => Ok(()),
                }
            }
            ChannelStatus::Pending if ch.pending_finish.is_some() => {
                match finish_therapist(store, &client, &mut ch) {
                    Ok(()) if ch.status == ChannelStatus::Active => {
                        summary.pairings_completed += 1;
                        sync_channel(store, &client, &mut ch, &mut summary)
                    }
                    other => other,
                }
            }
            ChannelStatus::Active => sync_channel(store, &client, &mut ch, &mut summary),
            ChannelStatus::Revoked
                if !ch.relay_revoked && ch.revoked_by.as_deref() == Some("me") =>
            {
                send_revocation(store, &client, &mut ch)
            }
            _ => Ok(()),
        };
        if let Err(e) = step {
            summary.error = Some(match &e {
                Error::Offline(_) => "offline".to_string(),
                Error::Relay { code, .. } => code.clone(),
                other => other.code().to_string(),
            });
            match e {
                Error::Offline(_) | Error::Relay { .. } => break,
                other => return Err(other),
            }
        }
    }
    apply_pending_effects(store)?;
    summary.pending_outbound = store.read(|tx| {
        Ok(tx.connection().query_row(
            "SELECT (SELECT COUNT(*) FROM sync_sent WHERE delivered_at IS NULL AND event_id NOT LIKE 'receipt:%')
                  + (SELECT COUNT(*) FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
                     WHERE o.sent_at IS NULL AND (r.channel IS NULL OR r.channel <> '-'))",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    })?;
    Ok(summary)
}

fn revocation_from(r: &Refusal) -> Option<(i64, Vec<u8>)> {
    let rev = r.body.get("revocation")?;
    let at = rev.get("revoked_at")?.as_i64()?;
    let st = unb64(rev.get("statement")?.as_str()?).ok()?;
    Some((at, st))
}

/// The relay says the channel is revoked: shred only if the peer really
/// signed it (a relay cannot forge an unpairing).
fn handle_revoked(
    store: &Store,
    ch: &mut ChannelState,
    r: &Refusal,
    summary: &mut SyncSummary,
) -> Result<()> {
    let Some((at, statement)) = revocation_from(r) else {
        return Ok(());
    };
    let msg = collabzium_protocol::client::revocation_message(&ch.cid()?, at);
    if !device::verify(&ch.peer_device_bytes()?, &msg, &statement) {
        store.write(|tx| tx.audit(AuditEvent::SyncRejected, "forged_revocation"))?;
        return Ok(());
    }
    shred_channel(store, ch, at, "peer")?;
    ch.relay_revoked = true;
    store.write(|tx| tx.put(&ch.id.clone(), &*ch))?;
    summary.channels_revoked += 1;
    Ok(())
}

/// Turns a refusal into the round's error, handling revocation on the way.
fn check(
    store: &Store,
    ch: &mut ChannelState,
    r: Refusal,
    summary: &mut SyncSummary,
) -> Result<()> {
    if r.status == 403 && r.code == "channel_revoked" {
        handle_revoked(store, ch, &r, summary)?;
        return Ok(());
    }
    Err(r.into())
}

fn sync_channel(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
    summary: &mut SyncSummary,
) -> Result<()> {
    pull(store, client, ch, summary)?;
    if ch.status != ChannelStatus::Active {
        return Ok(());
    }
    seal_pending(store, ch)?;
    push(store, client, ch, summary)?;
    if ch.status != ChannelStatus::Active {
        return Ok(());
    }
    // Receipts for what we just pulled go out in the same round.
    if ch.receipt_due {
        seal_pending(store, ch)?;
        push(store, client, ch, summary)?;
    }
    Ok(())
}

fn pull(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
    summary: &mut SyncSummary,
) -> Result<()> {
    let cid = ch.cid()?;
    // A relay that always answers `more` cannot hold the round (and the
    // sync lock) for ever; the next round goes on.
    for _ in 0..MAX_PAGES_PER_ROUND {
        if ch.status != ChannelStatus::Active {
            return Ok(());
        }
        let from = ch.channel()?.receive_chain().watermark() + 1;
        let page = match client.fetch(&cid, from, FETCH_LIMIT)? {
            Ok(p) => p,
            Err(r) => return check(store, ch, r, summary),
        };
        if page.envelopes.is_empty() {
            return Ok(());
        }
        let mut acks = Vec::new();
        let mut progressed = false;
        let mut fresh = ch.clone();
        // Durable before the ack below deletes the envelopes at the relay.
        store.write_durable(|tx| {
            fresh = load_channel(tx, &ch.id)?;
            if fresh.status != ChannelStatus::Active {
                return Ok(()); // unpaired meanwhile
            }
            let mut channel = fresh.channel()?;
            let now = tx.now_millis();
            for f in &page.envelopes {
                let bytes = match unb64(&f.env) {
                    Ok(b) => b,
                    Err(_) => {
                        reject(tx, summary, SyncRejection::Malformed)?;
                        acks.push(f.seq);
                        continue;
                    }
                };
                let claimed_ok = Header::parse(&bytes)
                    .map(|h| h.seq == f.seq)
                    .unwrap_or(false);
                let opened = if claimed_ok {
                    channel.open(&bytes, now)
                } else {
                    Err(SyncRejection::Malformed)
                };
                match opened {
                    Ok(o) => {
                        progressed = true;
                        acks.push(o.seq);
                        match serde_json::from_slice::<Payload>(&o.payload) {
                            Ok(p) if events::writable_by(channel.role().peer(), &p.kind) => {
                                apply_event(tx, &mut fresh, &p, o.seq, summary)?;
                            }
                            Ok(_) => reject(tx, summary, SyncRejection::OwnershipViolation)?,
                            Err(_) => reject(tx, summary, SyncRejection::Malformed)?,
                        }
                    }
                    Err(SyncRejection::Duplicate) => {
                        summary.duplicates += 1;
                        fresh.receipt_due = true;
                        acks.push(f.seq);
                        progressed = true;
                    }
                    Err(SyncRejection::TooFarAhead) => {
                        // Stays at the relay until the gap below fills.
                        *summary.rejected.entry("too_far_ahead".into()).or_default() += 1;
                    }
                    Err(e) => {
                        reject(tx, summary, e)?;
                        acks.push(f.seq);
                        progressed = true;
                        // The relay's seq and the header's may differ when
                        // either was rewritten: ask for both again.
                        let header_seq = Header::parse(&bytes)
                            .ok()
                            .filter(|h| h.channel_id == cid)
                            .map(|h| h.seq);
                        for seq in [Some(f.seq), header_seq].into_iter().flatten() {
                            if !fresh.rejected.contains(&seq) {
                                fresh.rejected.push(seq);
                            }
                        }
                        if e == SyncRejection::Unrecoverable {
                            if let Ok(h) = Header::parse(&bytes) {
                                fresh.lost.push(h.seq);
                            }
                        }
                        fresh.receipt_due = true;
                    }
                }
            }
            fresh.store_chains(&channel);
            tx.put(&fresh.id.clone(), &fresh)
        })?;
        *ch = fresh;
        if ch.status != ChannelStatus::Active {
            return Ok(());
        }
        let through = ch.channel()?.receive_chain().watermark();
        acks.retain(|s| *s > through);
        acks.sort_unstable();
        acks.dedup();
        let chunks: Vec<&[u64]> = if acks.is_empty() {
            vec![&[]]
        } else {
            acks.chunks(1000).collect()
        };
        for chunk in chunks {
            if let Err(r) = client.ack(&cid, through, chunk)? {
                return check(store, ch, r, summary);
            }
        }
        if !page.more || !progressed {
            return Ok(());
        }
    }
    Ok(())
}

/// The channel as committed: a round re-reads it inside its transaction so
/// a concurrent change (a read receipt marked by the UI) is not lost.
fn load_channel(tx: &WriteTx<'_>, id: &str) -> Result<ChannelState> {
    tx.get::<ChannelState>(id)?
        .map(|s| s.value)
        .ok_or_else(|| Error::NotFound {
            what: "channel".into(),
        })
}

fn reject(tx: &WriteTx<'_>, summary: &mut SyncSummary, why: SyncRejection) -> Result<()> {
    *summary.rejected.entry(why.code().into()).or_default() += 1;
    tx.audit(AuditEvent::SyncRejected, why.code())
}

/// Applies one authentic, permitted event. Idempotent by event id.
fn apply_event(
    tx: &WriteTx<'_>,
    ch: &mut ChannelState,
    p: &Payload,
    seq: u64,
    summary: &mut SyncSummary,
) -> Result<()> {
    ch.hlc = events::hlc_merge(ch.hlc, p.hlc);
    merge_receipt(tx, ch, &p.rcpt, summary)?;
    if p.kind == events::RECEIPT {
        return Ok(());
    }
    ch.receipt_due = true;
    let iid = inbox_id(&ch.id, &p.id);
    if tx.get::<InboxItem>(&iid)?.is_some() {
        summary.duplicates += 1;
        return Ok(());
    }
    let now = tx.now_millis();
    if p.kind == events::CHANNEL_SETTINGS {
        if let Ok(s) = serde_json::from_value::<Availability>(p.body.clone()) {
            if s.validate().is_ok() {
                ch.settings = Some(s);
            }
        }
    }
    let notify_at = if ch.role()? == Role::Therapist && p.kind != events::ENGAGEMENT_SUMMARY {
        let urgent = p.kind == events::SAFETY_ALERT
            && ch
                .settings
                .as_ref()
                .is_some_and(|s| s.alerts_outside_hours == AlertsOutsideHours::Notify);
        match ch.settings.as_ref() {
            Some(s) if !urgent => s
                .next_available(millis_to_utc(now))
                .ok()
                .flatten()
                .map(|t| t.timestamp_millis()),
            _ => Some(now),
        }
    } else {
        None
    };
    let needs_effect = matches!(
        p.kind.as_str(),
        events::UNLOCK_APPROVAL | events::ALERT_ACK | events::PROGRAM_ASSIGNMENT
    );
    tx.put(
        &iid,
        &InboxItem {
            channel: ch.id.clone(),
            event_id: p.id.clone(),
            kind: p.kind.clone(),
            seq,
            hlc: p.hlc,
            at: p.at,
            received_at: now,
            body: p.body.clone(),
            read_at: None,
            applied: !needs_effect,
            notify_at,
        },
    )?;
    summary.received += 1;
    Ok(())
}

/// The peer's receipt about our envelopes: mark delivered and read, and
/// schedule re-pushes for what it refused or evidently missed.
fn merge_receipt(
    tx: &WriteTx<'_>,
    ch: &mut ChannelState,
    r: &Receipt,
    summary: &mut SyncSummary,
) -> Result<()> {
    let c = tx.connection();
    let now = tx.now_millis();
    let mut delivered = c
        .prepare_cached(
            "UPDATE sync_sent SET delivered_at = ?3, envelope = x'', resend_at = NULL
             WHERE channel = ?1 AND delivered_at IS NULL AND seq <= ?2",
        )?
        .execute(params![ch.id, r.through as i64, now])?;
    let mut highest = r.through;
    for s in r.above.iter().take(4096) {
        highest = highest.max(*s);
        delivered += c
            .prepare_cached(
                "UPDATE sync_sent SET delivered_at = ?3, envelope = x'', resend_at = NULL
                 WHERE channel = ?1 AND seq = ?2 AND delivered_at IS NULL",
            )?
            .execute(params![ch.id, *s as i64, now])?;
    }
    summary.delivered += delivered as u64;
    // Gaps below what the peer has: dropped or refused on the way.
    c.prepare_cached(
        "UPDATE sync_sent SET resend_at = ?3 WHERE channel = ?1 AND delivered_at IS NULL AND seq < ?2",
    )?
    .execute(params![ch.id, highest as i64, now])?;
    for s in r.rejected.iter().take(4096) {
        c.prepare_cached(
            "UPDATE sync_sent SET resend_at = ?3 WHERE channel = ?1 AND seq = ?2 AND delivered_at IS NULL",
        )?
        .execute(params![ch.id, *s as i64, now])?;
    }
    // A lost key: send the event again under a new seq.
    for s in r.lost.iter().take(4096) {
        let ob: Option<Option<i64>> = c
            .query_row(
                "SELECT outbox_seq FROM sync_sent WHERE channel = ?1 AND seq = ?2 AND delivered_at IS NULL",
                params![ch.id, *s as i64],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(Some(ob)) = ob {
            c.execute(
                "UPDATE outbox SET sent_at = NULL WHERE seq = ?1",
                params![ob],
            )?;
            c.execute(
                "UPDATE sync_sent SET delivered_at = ?3, envelope = x'' WHERE channel = ?1 AND seq = ?2",
                params![ch.id, *s as i64, now],
            )?;
        }
    }
    for id in r.read.iter().take(4096) {
        c.prepare_cached(
            "UPDATE sync_sent SET read_at = ?3 WHERE channel = ?1 AND event_id = ?2 AND read_at IS NULL",
        )?
        .execute(params![ch.id, id, now])?;
    }
    Ok(())
}

fn current_receipt(ch: &mut ChannelState, channel: &Channel) -> Receipt {
    let rc = channel.receive_chain();
    Receipt {
        through: rc.watermark(),
        above: rc.received_above().take(1000).collect(),
        rejected: std::mem::take(&mut ch.rejected),
        lost: std::mem::take(&mut ch.lost),
        read: std::mem::take(&mut ch.read_pending),
    }
}

/// Seals every pending outbox entry of this channel (High priority first)
/// into `sync_sent`, plus a standalone receipt when one is due and nothing
/// else carries it. One transaction; no network.
fn seal_pending(store: &Store, ch: &mut ChannelState) -> Result<()> {
    let role = ch.role()?;
    let mut fresh = ch.clone();
    // Durable before the push: a pushed envelope must never be re-sealed
    // under the same seq with other contents after a power cut.
    store.write_durable(|tx| {
        fresh = load_channel(tx, &ch.id)?;
        if fresh.status != ChannelStatus::Active {
            return Ok(()); // unpaired meanwhile
        }
        let mut entries = outbox::pending_for_channel(tx, &fresh.id, role == Role::Patient)?;
        if entries.is_empty() && !fresh.receipt_due {
            // Nothing to seal: leave the record (and caches keyed on it) alone.
            return Ok(());
        }
        let mut channel = fresh.channel()?;
        entries.sort_by_key(|e| (std::cmp::Reverse(e.priority), e.seq));
        let now = tx.now_millis();
        let mut sealed_any = false;
        for e in entries {
            if !events::writable_by(role, &e.kind) {
                // Never leaves this device (e.g. a therapist's own ratings).
                tx.connection().execute(
                    "INSERT OR REPLACE INTO sync_route (outbox_seq, channel) VALUES (?1, '-')",
                    [e.seq],
                )?;
                continue;
            }
            let body: Value = serde_json::from_slice(&e.body).unwrap_or(Value::Null);
            fresh.hlc = events::hlc_tick(fresh.hlc, now);
            let payload = Payload {
                v: PAYLOAD_VERSION,
                id: format!("{}:{}", e.kind, e.ref_id),
                kind: e.kind.clone(),
                hlc: fresh.hlc,
                at: e.created_at_millis,
                rcpt: current_receipt(&mut fresh, &channel),
                body,
            };
            seal_one(tx, &mut channel, &fresh.id, Some(e.seq), &payload)?;
            tx.connection().execute(
                "UPDATE outbox SET sent_at = ?2 WHERE seq = ?1",
                params![e.seq, now],
            )?;
            sealed_any = true;
        }
        if fresh.receipt_due && !sealed_any {
            fresh.hlc = events::hlc_tick(fresh.hlc, now);
            let seq = channel.send_chain().next_seq();
            let payload = Payload {
                v: PAYLOAD_VERSION,
                id: format!("{}:{seq}", events::RECEIPT),
                kind: events::RECEIPT.into(),
                hlc: fresh.hlc,
                at: now,
                rcpt: current_receipt(&mut fresh, &channel),
                body: Value::Null,
            };
            seal_one(tx, &mut channel, &fresh.id, None, &payload)?;
        }
        fresh.receipt_due = false;
        fresh.store_chains(&channel);
        tx.put(&fresh.id.clone(), &fresh)
    })?;
    *ch = fresh;
    Ok(())
}

fn seal_one(
    tx: &WriteTx<'_>,
    channel: &mut Channel,
    cid: &str,
    outbox_seq: Option<i64>,
    p: &Payload,
) -> Result<()> {
    let json = serde_json::to_vec(p).map_err(|e| Error::Internal(e.to_string()))?;
    let seq = channel.send_chain().next_seq();
    let env = channel
        .seal(&json)
        .map_err(|e| Error::invalid("event", e.to_string()))?;
    tx.connection()
        .prepare_cached(
            "INSERT INTO sync_sent (channel, seq, outbox_seq, event_id, envelope, sealed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            cid,
            seq as i64,
            outbox_seq,
            p.id,
            env,
            tx.now_millis()
        ])?;
    Ok(())
}

fn push(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
    summary: &mut SyncSummary,
) -> Result<()> {
    let cid = ch.cid()?;
    let now = store.now_millis();
    let rows: Vec<(i64, Vec<u8>, bool, i64)> = store.read(|tx| {
        let mut st = tx.connection().prepare_cached(
            "SELECT seq, envelope, pushed_at IS NOT NULL, resends FROM sync_sent
             WHERE channel = ?1 AND delivered_at IS NULL
               AND (pushed_at IS NULL OR resend_at <= ?2) ORDER BY seq",
        )?;
        let rows = st
            .query_map(params![ch.id, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let mut i = 0;
    while i < rows.len() {
        let mut j = i;
        let mut bytes = 0;
        while j < rows.len()
            && j - i < PUSH_BATCH
            && (j == i || bytes + rows[j].1.len() <= PUSH_BYTES)
        {
            bytes += rows[j].1.len();
            j += 1;
        }
        let batch = &rows[i..j];
        let envs: Vec<&[u8]> = batch.iter().map(|r| r.1.as_slice()).collect();
        let results = match client.push(&cid, &envs)? {
            Ok(r) => r,
            Err(r) => return check(store, ch, r, summary),
        };
        let stored: BTreeSet<u64> = results
            .iter()
            .filter(|r| r.status != "duplicate")
            .map(|r| r.seq)
            .collect();
        store.write(|tx| {
            let now = tx.now_millis();
            let mut st = tx.connection().prepare_cached(
                // Receipts are cumulative: they are re-pushed only to fill a
                // gap the peer reports, never on a timer, or two idle devices
                // would trade receipts about receipts forever.
                "UPDATE sync_sent SET pushed_at = COALESCE(pushed_at, ?3), resends = ?5,
                        resend_at = CASE WHEN event_id LIKE 'receipt:%' THEN NULL ELSE ?4 END
                 WHERE channel = ?1 AND seq = ?2",
            )?;
            for (seq, _, was_pushed, resends) in batch {
                let n = (*resends as usize).min(BACKOFF_MS.len() - 1);
                let next = if *was_pushed { resends + 1 } else { *resends };
                st.execute(params![ch.id, seq, now, now + BACKOFF_MS[n], next])?;
                if *was_pushed {
                    summary.resent += 1;
                } else if stored.contains(&(*seq as u64)) {
                    summary.sent += 1;
                }
            }
            Ok(())
        })?;
        i = j;
    }
    Ok(())
}

fn send_revocation(store: &Store, client: &RelayClient<'_>, ch: &mut ChannelState) -> Result<()> {
    let (Some(at), Some(st)) = (ch.revoked_at_millis, ch.revocation_statement.clone()) else {
        return Ok(());
    };
    let st = unb64(&st)?;
    match client.revoke(&ch.cid()?, at, &st)? {
        Ok(_) => {}
        // Already revoked (by us or the peer) is fine.
        Err(r) if r.status == 403 || r.status == 404 => {}
        Err(r) => return Err(r.into()),
    }
    ch.relay_revoked = true;
    store.write(|tx| tx.put(&ch.id.clone(), &*ch))
}

/// Runs side effects of received events (approvals, alert acks) outside the
/// apply transaction; retried at every sync until done.
fn apply_pending_effects(store: &Store) -> Result<()> {
    let todo: Vec<_> = store
        .read(|tx| tx.list::<InboxItem>())?
        .into_iter()
        .filter(|i| !i.value.applied)
        .collect();
    for item in todo {
        let v = &item.value;
        let at = millis_to_utc(v.at);
        let outcome = match v.kind.as_str() {
            events::UNLOCK_APPROVAL => match v.body.get("module_id").and_then(Value::as_str) {
                Some(m) => crate::agenda::record_approval(store, m, at),
                None => Ok(()),
            },
            events::ALERT_ACK => match v.body.get("alert_id").and_then(Value::as_str) {
                Some(a) => crate::checkin::Checkins::new(store.clone())
                    .and_then(|c| c.acknowledge_alert(a).map(|_| ())),
                None => Ok(()),
            },
            events::PROGRAM_ASSIGNMENT => enrol_assigned(store, &v.body),
            _ => Ok(()),
        };
        // Invalid input (an approval for a module not in this program) will
        // never succeed; record it and move on. Storage errors retry.
        let done = match outcome {
            Ok(()) => true,
            Err(
                Error::InvalidInput { .. } | Error::NotFound { .. } | Error::AlreadyExists { .. },
            ) => true,
            Err(e) => return Err(e),
        };
        if done {
            store.write(|tx| {
                if let Some(mut cur) = tx.get::<InboxItem>(&item.id)? {
                    cur.value.applied = true;
                    tx.put(&item.id, &cur.value)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Patient side of a program assignment: validate, then enrol in the
/// patient's own zone. An existing enrolment is kept (`AlreadyExists`).
fn enrol_assigned(store: &Store, body: &Value) -> Result<()> {
    let json = body
        .get("program")
        .map(Value::to_string)
        .ok_or_else(|| Error::invalid("program", "missing"))?;
    let program = crate::program::load(&json)
        .map_err(|i| Error::invalid("program", format!("{} problem(s)", i.len())))?;
    let start = body
        .get("start_date")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<chrono::NaiveDate>().ok())
        .ok_or_else(|| Error::invalid("start_date", "missing or not a date"))?;
    let tz = store
        .profile()?
        .map(|p| p.time_zone)
        .unwrap_or_else(|| "UTC".into());
    crate::agenda::enrol(store, &program, start, &tz, None).map(|_| ())
}

/// Patient: at most one engagement summary per local day, queued at sync.
fn produce_engagement_summary(store: &Store) -> Result<()> {
    let Ok(st) = crate::agenda::load_state(store) else {
        return Ok(());
    };
    let now = millis_to_utc(store.now_millis());
    let e = crate::agenda::engagement(&st, now);
    let day = now.format("%Y-%m-%d").to_string();
    let body = serde_json::to_value(&e).map_err(|e| Error::Internal(e.to_string()))?;
    let body = serde_json::to_vec(&json!({"date": day, "engagement": body}))
        .map_err(|e| Error::Internal(e.to_string()))?;
    store.write(|tx| {
        outbox::enqueue(
            tx,
            events::ENGAGEMENT_SUMMARY,
            &day,
            Priority::Normal,
            &body,
        )
        .map(|_| ())
    })
}

// ---------------------------------------------------------------- unpair

/// Revokes a channel: signs the statement, crypto-shreds keys and queued
/// envelopes locally at once, then tells the relay (retried at each sync).
pub fn unpair(
    store: &Store,
    transport: &dyn HttpTransport,
    channel: Option<&str>,
) -> Result<ChannelView> {
    // Not in the middle of a sync round: it would find its keys gone.
    let _guard = store.sync_guard();
    let (_, key) = require_identity(store)?;
    let mut ch = store.read(|tx| {
        let all: Vec<ChannelState> = tx
            .list::<ChannelState>()?
            .into_iter()
            .map(|c| c.value)
            .collect();
        let live: Vec<ChannelState> = all
            .into_iter()
            .filter(|c| matches!(c.status, ChannelStatus::Active | ChannelStatus::Pending))
            .filter(|c| channel.is_none_or(|id| id == c.id))
            .collect();
        match live.len() {
            1 => Ok(live.into_iter().next().expect("one")),
            0 => Err(Error::NotFound {
                what: "active channel".into(),
            }),
            _ => Err(Error::invalid(
                "channel",
                "is required: this store has several channels",
            )),
        }
    })?;
    let at = store.now_millis();
    let statement = key.sign(&collabzium_protocol::client::revocation_message(
        &ch.cid()?,
        at,
    ));
    ch.revocation_statement = Some(b64(&statement));
    shred_channel(store, &mut ch, at, "me")?;
    let client = RelayClient::new(&ch.relay_url, transport, &key, || now_s(store));
    // Offline is fine: the next sync retries.
    let _ = send_revocation(store, &client, &mut ch);
    channel_views(store)?
        .into_iter()
        .find(|c| c.channel_id == ch.id)
        .ok_or_else(|| Error::Internal("channel vanished".into()))
}

fn shred_channel(store: &Store, ch: &mut ChannelState, at: i64, by: &str) -> Result<()> {
    ch.shred(at, by);
    store.write(|tx| {
        let c = tx.connection();
        c.execute("DELETE FROM sync_sent WHERE channel = ?1", params![ch.id])?;
        c.execute(
            "DELETE FROM outbox WHERE sent_at IS NULL AND seq IN (SELECT outbox_seq FROM sync_route WHERE channel = ?1)",
            params![ch.id],
        )?;
        tx.put(&ch.id.clone(), &*ch)?;
        tx.audit(AuditEvent::SyncUnpaired, by)
    })?;
    store.checkpoint()?;
    Ok(())
}

// ---------------------------------------------------------------- views

/// One channel as a screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelView {
    pub channel_id: String,
    pub role: String,
    pub status: ChannelStatus,
    pub label: Option<String>,
    pub safety_number: Option<String>,
    pub paired_at_millis: Option<i64>,
    pub revoked_at_millis: Option<i64>,
    pub revoked_by: Option<String>,
    pub unread: u64,
    pub pending_outbound: u64,
    pub settings: Option<Availability>,
}

pub fn channel_views(store: &Store) -> Result<Vec<ChannelView>> {
    store.read(|tx| {
        let inbox: Vec<InboxItem> = tx.list::<InboxItem>()?.into_iter().map(|i| i.value).collect();
        let mut out = Vec::new();
        for c in tx.list::<ChannelState>()? {
            let c = c.value;
            let pending: i64 = tx.connection().query_row(
                "SELECT COUNT(*) FROM sync_sent WHERE channel = ?1 AND delivered_at IS NULL AND event_id NOT LIKE 'receipt:%'",
                params![c.id],
                |r| r.get(0),
            )?;
            out.push(ChannelView {
                unread: inbox
                    .iter()
                    .filter(|i| i.channel == c.id && i.read_at.is_none() && user_visible(&i.kind))
                    .count() as u64,
                pending_outbound: pending as u64,
                channel_id: c.id,
                role: c.role,
                status: c.status,
                label: c.label,
                safety_number: c.safety_number,
                paired_at_millis: c.paired_at_millis,
                revoked_at_millis: c.revoked_at_millis,
                revoked_by: c.revoked_by,
                settings: c.settings,
            });
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.paired_at_millis));
        Ok(out)
    })
}

fn user_visible(kind: &str) -> bool {
    matches!(
        kind,
        events::MESSAGE | events::CHECKIN | events::SAFETY_ALERT
    )
}

/// Delivery state of one own event, as the patient sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Waiting for the next sync (or for pairing).
    Queued,
    /// The relay holds it.
    Sent,
    /// The peer's device confirmed it.
    Delivered,
    /// The peer opened it.
    Read,
    /// Never leaves this device.
    NotShared,
}

/// One own event with its delivery state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundView {
    pub event_id: String,
    pub kind: String,
    pub ref_id: String,
    pub created_at_millis: i64,
    pub delivery: Delivery,
}

pub fn outbound(store: &Store) -> Result<Vec<OutboundView>> {
    store.read(|tx| {
        let mut st = tx.connection().prepare(
            "SELECT o.kind, o.ref_id, o.created_at, r.channel,
                    (SELECT MAX(s.pushed_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                    (SELECT MAX(s.delivered_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                    (SELECT MAX(s.read_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq)
             FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq ORDER BY o.seq",
        )?;
        let rows = st
            .query_map([], |r| {
                // The column holds a keyed label for hidden kinds.
                let kind = tx.kind_name(&r.get::<_, String>(0)?);
                let ref_id: String = r.get(1)?;
                let route: Option<String> = r.get(3)?;
                let pushed: Option<bool> = r.get(4)?;
                let delivered: Option<bool> = r.get(5)?;
                let read: Option<bool> = r.get(6)?;
                let delivery = if route.as_deref() == Some("-") {
                    Delivery::NotShared
                } else if read == Some(true) {
                    Delivery::Read
                } else if delivered == Some(true) {
                    Delivery::Delivered
                } else if pushed == Some(true) {
                    Delivery::Sent
                } else {
                    Delivery::Queued
                };
                Ok(OutboundView {
                    event_id: format!("{kind}:{ref_id}"),
                    kind,
                    ref_id,
                    created_at_millis: r.get(2)?,
                    delivery,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    })
}

/// Where one own event stands, for the patient's crisis screen: whether a
/// therapist can receive it, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct EventReach {
    /// The patient chose not to share it (history not shared at pairing).
    pub not_shared: bool,
    /// An active channel will carry it: it is routed there, or unrouted
    /// while the store has an active channel (the next round routes it).
    pub channel_active: bool,
    /// The therapist's availability on that channel, when known.
    pub settings: Option<Availability>,
    /// The relay holds it.
    pub pushed: bool,
    /// The therapist's device confirmed it.
    pub delivered: bool,
    /// Opened on the therapist's device.
    pub read: bool,
}

/// How far the outbox event `kind`/`ref_id` got; `None` when there is no
/// such event (never queued).
pub fn event_reach(store: &Store, kind: &str, ref_id: &str) -> Result<Option<EventReach>> {
    store.read(|tx| {
        type Row = (Option<String>, Option<bool>, Option<bool>, Option<bool>);
        let row: Option<Row> = tx
            .connection()
            .query_row(
                "SELECT r.channel,
                    (SELECT MAX(s.pushed_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                    (SELECT MAX(s.delivered_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                    (SELECT MAX(s.read_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq)
                 FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
                 WHERE o.kind = ?1 AND o.ref_id = ?2",
                params![tx.kind_label(kind), ref_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((route, pushed, delivered, read)) = row else {
            return Ok(None);
        };
        let channels: Vec<ChannelState> =
            tx.list::<ChannelState>()?.into_iter().map(|c| c.value).collect();
        let not_shared = route.as_deref() == Some("-");
        let carrier = match route.as_deref() {
            Some("-") => None,
            Some(id) => channels.iter().find(|c| c.id == id),
            None => channels.iter().find(|c| c.status == ChannelStatus::Active),
        };
        let channel_active = carrier.is_some_and(|c| c.status == ChannelStatus::Active);
        Ok(Some(EventReach {
            not_shared,
            channel_active,
            settings: carrier.and_then(|c| c.settings.clone()),
            pushed: pushed == Some(true),
            delivered: delivered == Some(true),
            read: read == Some(true),
        }))
    })
}

/// Own safety alerts not yet handed to any channel: a patient joining a
/// therapist is asked whether to share them (issue 10).
pub fn unsent_alerts(store: &Store) -> Result<u32> {
    store.read(|tx| {
        let n: i64 = tx.connection().query_row(
            "SELECT COUNT(*) FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
             WHERE o.kind = ?1 AND o.sent_at IS NULL AND r.channel IS NULL",
            [tx.kind_label(events::SAFETY_ALERT)],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    })
}

/// One received event for the therapist's inbox (or the patient's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxEntry {
    pub channel_id: String,
    /// The therapist's name for the patient (therapist side only).
    pub patient: Option<String>,
    pub event_id: String,
    pub kind: String,
    pub at_millis: i64,
    pub received_at_millis: i64,
    pub read: bool,
    pub notify_at_millis: Option<i64>,
    /// The event as sent (a check-in, alert, progress or message).
    pub body: Value,
}

/// Received events, newest first; `kinds` filters (empty = all but receipts
/// and settings).
pub fn inbox(store: &Store, kinds: &[&str]) -> Result<Vec<InboxEntry>> {
    store.read(|tx| {
        let labels: BTreeMap<String, Option<String>> = tx
            .list::<ChannelState>()?
            .into_iter()
            .map(|c| (c.value.id, c.value.label))
            .collect();
        let mut out: Vec<InboxEntry> = tx
            .list::<InboxItem>()?
            .into_iter()
            .map(|i| i.value)
            .filter(|i| {
                if kinds.is_empty() {
                    i.kind != events::CHANNEL_SETTINGS
                } else {
                    kinds.contains(&i.kind.as_str())
                }
            })
            .map(|i| InboxEntry {
                patient: labels.get(&i.channel).cloned().flatten(),
                channel_id: i.channel,
                event_id: i.event_id,
                kind: i.kind,
                at_millis: i.at,
                received_at_millis: i.received_at,
                read: i.read_at.is_some(),
                notify_at_millis: i.notify_at,
                body: i.body,
            })
            .collect();
        out.sort_by_key(|e| {
            (
                std::cmp::Reverse(e.received_at_millis),
                std::cmp::Reverse(e.at_millis),
            )
        });
        Ok(out)
    })
}

/// A message in a thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub id: String,
    pub channel_id: String,
    pub from_me: bool,
    pub text: String,
    pub reply_to: Option<String>,
    pub at_millis: i64,
    /// Own messages only.
    pub delivery: Option<Delivery>,
    /// Peer messages only: whether this device has shown it.
    pub read: bool,
    /// Own messages to the therapist: when a reply can be expected.
    pub expect_reply_by_millis: Option<i64>,
}

/// The message thread of a channel, oldest first.
pub fn thread(store: &Store, channel: Option<&str>) -> Result<Vec<MessageView>> {
    let ch = store.read(|tx| {
        let all: Vec<ChannelState> = tx
            .list::<ChannelState>()?
            .into_iter()
            .map(|c| c.value)
            .collect();
        match channel {
            Some(id) => all
                .into_iter()
                .find(|c| c.id == id)
                .ok_or_else(|| Error::NotFound {
                    what: "channel".into(),
                }),
            None => active_channel(tx, None),
        }
    })?;
    let delivery: BTreeMap<String, Delivery> = outbound(store)?
        .into_iter()
        .map(|o| (o.ref_id, o.delivery))
        .collect();
    store.read(|tx| {
        let mut out = Vec::new();
        for m in tx.list::<SentMessage>()? {
            if m.value.channel != ch.id {
                continue;
            }
            let expect = match (&ch.settings, ch.role()?) {
                (Some(s), Role::Patient) => s
                    .expected_reply_by(millis_to_utc(m.value.at))
                    .ok()
                    .flatten()
                    .map(|t| t.timestamp_millis()),
                _ => None,
            };
            out.push(MessageView {
                id: format!("{}:{}", events::MESSAGE, m.id),
                channel_id: ch.id.clone(),
                from_me: true,
                text: m.value.text,
                reply_to: m.value.reply_to,
                at_millis: m.value.at,
                delivery: delivery.get(&m.id).copied(),
                read: true,
                expect_reply_by_millis: expect,
            });
        }
        for i in tx.list::<InboxItem>()? {
            let i = i.value;
            if i.channel != ch.id || i.kind != events::MESSAGE {
                continue;
            }
            out.push(MessageView {
                id: i.event_id,
                channel_id: ch.id.clone(),
                from_me: false,
                text: i
                    .body
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                reply_to: i
                    .body
                    .get("reply_to")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                at_millis: i.at,
                delivery: None,
                read: i.read_at.is_some(),
                expect_reply_by_millis: None,
            });
        }
        out.sort_by_key(|m| m.at_millis);
        Ok(out)
    })
}

/// Marks received events as read (a thread or alert was shown); the peer
/// learns it from the next receipt.
pub fn mark_read(store: &Store, channel: &str, event_ids: &[String]) -> Result<u32> {
    store.write(|tx| {
        let mut ch = tx
            .get::<ChannelState>(channel)?
            .map(|c| c.value)
            .ok_or_else(|| Error::NotFound {
                what: "channel".into(),
            })?;
        let mut n = 0;
        for eid in event_ids {
            let iid = inbox_id(channel, eid);
            if let Some(mut item) = tx.get::<InboxItem>(&iid)? {
                if item.value.read_at.is_none() {
                    item.value.read_at = Some(tx.now_millis());
                    tx.put(&iid, &item.value)?;
                    ch.read_pending.push(eid.clone());
                    n += 1;
                }
            }
        }
        if n > 0 {
            ch.receipt_due = true;
            tx.put(channel, &ch)?;
        }
        Ok(n)
    })
}

/// What the patient sees about the therapist's availability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyExpectation {
    pub available_now: bool,
    /// Next window start (now when available).
    pub next_available_at_millis: Option<i64>,
    /// For a message sent now.
    pub expect_reply_by_millis: Option<i64>,
    pub reply_within_hours: u32,
    pub tz: String,
}

pub fn reply_expectation(store: &Store, channel: Option<&str>) -> Result<Option<ReplyExpectation>> {
    let ch = store.read(|tx| active_channel(tx, channel))?;
    let Some(s) = ch.settings else {
        return Ok(None);
    };
    let now = millis_to_utc(store.now_millis());
    Ok(Some(ReplyExpectation {
        available_now: s.is_available(now)?,
        next_available_at_millis: s.next_available(now)?.map(|t| t.timestamp_millis()),
        expect_reply_by_millis: s.expected_reply_by(now)?.map(|t| t.timestamp_millis()),
        reply_within_hours: s.reply_within_hours,
        tz: s.tz,
    }))
}

/// Therapist notifications due from received events, grouped by fire time
/// ("3 new messages"), for the platform's notification scheduler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationBatch {
    pub fire_at_millis: i64,
    pub messages: u32,
    pub checkins: u32,
    pub alerts: u32,
}

/// How far ahead an unacknowledged alert's reminders are planned; the app
/// asks again at its next re-plan, so the series never ends before the ack.
pub const ALERT_RENOTIFY_DAYS: i64 = 7;

/// Notification batches for the platform scheduler. An unacknowledged safety
/// alert fires at its notify time and again at every window start after it
/// (within [`ALERT_RENOTIFY_DAYS`]) until the therapist acknowledges it,
/// whether or not it was opened.
pub fn pending_notifications(store: &Store) -> Result<Vec<NotificationBatch>> {
    let mut by: BTreeMap<i64, NotificationBatch> = BTreeMap::new();
    let (acked, settings): (BTreeSet<String>, BTreeMap<String, Availability>) =
        store.read(|tx| {
            let acked = tx
                .list::<AlertAcknowledgement>()?
                .into_iter()
                .map(|a| a.id)
                .collect();
            let settings = tx
                .list::<ChannelState>()?
                .into_iter()
                .filter_map(|c| c.value.settings.clone().map(|s| (c.value.id, s)))
                .collect();
            Ok((acked, settings))
        })?;
    let now = millis_to_utc(store.now_millis());
    let horizon = now + chrono::Duration::days(ALERT_RENOTIFY_DAYS);
    for i in inbox(store, &[])? {
        let Some(at) = i.notify_at_millis else {
            continue;
        };
        let mut times = Vec::new();
        if i.kind == events::SAFETY_ALERT {
            let alert_id = i.body.get("alert_id").and_then(Value::as_str).unwrap_or("");
            if acked.contains(&AlertAcknowledgement::id(&i.channel_id, alert_id)) {
                continue;
            }
            times.push(at);
            if let Some(s) = settings.get(&i.channel_id) {
                let after = millis_to_utc(at).max(now);
                for t in s.window_starts(after, horizon).unwrap_or_default() {
                    times.push(t.timestamp_millis());
                }
            }
        } else if !i.read {
            times.push(at);
        }
        for at in times {
            let b = by.entry(at).or_insert(NotificationBatch {
                fire_at_millis: at,
                messages: 0,
                checkins: 0,
                alerts: 0,
            });
            match i.kind.as_str() {
                events::MESSAGE => b.messages += 1,
                events::CHECKIN => b.checkins += 1,
                events::SAFETY_ALERT => b.alerts += 1,
                _ => {}
            }
        }
    }
    Ok(by
        .into_values()
        .filter(|b| b.messages + b.checkins + b.alerts > 0)
        .collect())
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
