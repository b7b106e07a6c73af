//! A store's channels over their life: the therapist's invitation, the
//! patient's join, completing a pending pairing at sync, and unpairing.

use serde::Serialize;
use serde_json::Value;

use super::availability::Availability;
use super::events::{self};
use super::state::{ChannelState, ChannelStatus, SyncIdentity};
use super::PairingError;
use super::*;
use crate::audit::AuditEvent;
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::store::{delivery, Record, Store};
use collabzium_protocol::channel::Role;
use collabzium_protocol::client::{b64, unb64, RelayClient};
use collabzium_protocol::code::PairingCode;
use collabzium_protocol::pairing::{self, FinishMessage, Invitation, JoinMessage, PendingJoin};
use collabzium_protocol::transport::HttpTransport;

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
pub(crate) fn finish_therapist(
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
pub(crate) fn complete_pending(
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
        delivery::route_unsent_at_pairing(
            tx,
            &state.id,
            state.share_history,
            state.share_alerts,
            events::SAFETY_ALERT,
            events::CONSENT,
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
        the_only_channel(live, "active channel")
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

pub(crate) fn shred_channel(store: &Store, ch: &mut ChannelState, at: i64, by: &str) -> Result<()> {
    ch.shred(at, by);
    store.write(|tx| {
        delivery::forget_channel(tx, &ch.id)?;
        tx.put(&ch.id.clone(), &*ch)?;
        tx.audit(AuditEvent::SyncUnpaired, by)
    })?;
    store.checkpoint()?;
    Ok(())
}
