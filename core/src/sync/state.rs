//! What a store keeps for sync (ADR 0005 §2): its identity, one record per
//! channel, received events, and the `sync_route` / `sync_sent` tables.
//! Key material lives only inside sealed records (ADR 0001).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::availability::Availability;
use crate::crypto::{hex, unhex};
use crate::error::{Error, Result};
use crate::store::{Record, WriteTx};
use collabzium_protocol::channel::{Channel, Role};
use collabzium_protocol::device::DeviceKey;
use collabzium_protocol::envelope::CHANNEL_ID_LEN;
use collabzium_protocol::ratchet::{ReceiveChain, SendChain};

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Therapist => "therapist",
        Role::Patient => "patient",
    }
}

pub fn parse_role(s: &str) -> Result<Role> {
    match s {
        "therapist" => Ok(Role::Therapist),
        "patient" => Ok(Role::Patient),
        _ => Err(Error::corrupt(SyncIdentity::KIND, "unknown role")),
    }
}

/// Parses a channel id as shown to users and stored (32 hex digits).
pub fn channel_id_bytes(id: &str) -> Result<[u8; CHANNEL_ID_LEN]> {
    unhex(id)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| Error::invalid("channel", "must be a 32-digit hex channel id"))
}

fn sealed_bytes(kind: &str, s: &Option<String>) -> Result<Zeroizing<Vec<u8>>> {
    let s = s
        .as_ref()
        .ok_or_else(|| Error::corrupt(kind, "missing key material"))?;
    STANDARD
        .decode(s)
        .map(Zeroizing::new)
        .map_err(|_| Error::corrupt(kind, "bad key encoding"))
}

/// The store's sync identity: role (fixed at first invite or join), the
/// Ed25519 device key and a random pseudonym.
#[derive(Clone, Serialize, Deserialize)]
pub struct SyncIdentity {
    pub role: String,
    pub device_pkcs8: String,
    pub pseudonym: String,
    /// Therapist default availability, copied into each new channel.
    #[serde(default)]
    pub settings: Option<Availability>,
}

impl Record for SyncIdentity {
    const KIND: &'static str = "sync_identity";
}

pub const IDENTITY_ID: &str = "self";

impl SyncIdentity {
    pub fn role(&self) -> Result<Role> {
        parse_role(&self.role)
    }

    pub fn device(&self) -> Result<DeviceKey> {
        let pk = sealed_bytes(Self::KIND, &Some(self.device_pkcs8.clone()))?;
        DeviceKey::from_pkcs8(&pk).ok_or_else(|| Error::corrupt(Self::KIND, "bad device key"))
    }

    pub fn pseudonym_bytes(&self) -> [u8; 16] {
        unhex(&self.pseudonym)
            .and_then(|v| v.try_into().ok())
            .unwrap_or([0; 16])
    }

    /// Loads the identity, creating it with `role` on first use. A store
    /// keeps one role for life (`WrongRole` otherwise).
    pub fn ensure(tx: &WriteTx<'_>, role: Role) -> Result<SyncIdentity> {
        if let Some(id) = tx.get::<SyncIdentity>(IDENTITY_ID)? {
            if id.value.role()? != role {
                return Err(super::PairingError::WrongRole.into());
            }
            return Ok(id.value);
        }
        let key = DeviceKey::generate();
        let mut pseudonym = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut pseudonym)
            .map_err(|_| Error::Internal("system RNG unavailable".into()))?;
        let id = SyncIdentity {
            role: role_name(role).into(),
            device_pkcs8: STANDARD.encode(key.pkcs8()),
            pseudonym: hex(&pseudonym),
            // Hours default to the therapist's own zone.
            settings: (role == Role::Therapist).then(|| Availability {
                tz: profile_tz(tx).unwrap_or_else(|| "UTC".into()),
                ..Availability::default()
            }),
        };
        tx.put(IDENTITY_ID, &id)?;
        // Events queued before a therapist store knew its role (its own
        // check-ins) must never leave it.
        if role == Role::Therapist {
            crate::store::delivery::keep_unsent_on_device(tx)?;
        }
        Ok(id)
    }
}

fn profile_tz(tx: &WriteTx<'_>) -> Option<String> {
    crate::store::read_profile(&tx.as_read())
        .ok()
        .flatten()
        .map(|p| p.time_zone)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    /// Patient joined; waiting for the therapist to finish.
    Pending,
    Active,
    Revoked,
    /// Pairing did not complete (code mismatch, expiry).
    Failed,
}

/// Everything a store knows about one channel. Sealed as a record.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChannelState {
    pub id: String,
    pub role: String,
    pub relay_url: String,
    pub status: ChannelStatus,
    /// Therapist side: the name the therapist gave this patient.
    pub label: Option<String>,
    pub own_device: String,
    pub peer_device: Option<String>,
    pub send_chain: Option<String>,
    pub recv_chain: Option<String>,
    pub pending_join: Option<String>,
    pub nameplate: Option<String>,
    pub share_history: bool,
    /// Share unsent safety alerts made before pairing, even without the
    /// rest of the history (the patient chose so at join).
    #[serde(default)]
    pub share_alerts: bool,
    pub settings: Option<Availability>,
    pub hlc: u64,
    pub created_at_millis: i64,
    pub paired_at_millis: Option<i64>,
    pub revoked_at_millis: Option<i64>,
    pub revoked_by: Option<String>,
    /// Whether the relay has confirmed the revocation (retried each sync).
    #[serde(default)]
    pub relay_revoked: bool,
    #[serde(default)]
    pub revocation_statement: Option<String>,
    #[serde(default)]
    pub safety_number: Option<String>,
    /// Receipt items not yet sent to the peer.
    #[serde(default)]
    pub rejected: Vec<u64>,
    #[serde(default)]
    pub lost: Vec<u64>,
    #[serde(default)]
    pub read_pending: Vec<String>,
    #[serde(default)]
    pub receipt_due: bool,
    /// Therapist: the finish message until the relay confirms the channel.
    #[serde(default)]
    pub pending_finish: Option<String>,
}

impl Record for ChannelState {
    const KIND: &'static str = "sync_channel";
}

impl ChannelState {
    /// A channel being paired: no peer and no chains yet.
    pub fn pending(
        id: String,
        role: Role,
        relay_url: String,
        own_device: String,
        nameplate: String,
        now_millis: i64,
    ) -> Self {
        ChannelState {
            id,
            role: role_name(role).into(),
            relay_url,
            status: ChannelStatus::Pending,
            label: None,
            own_device,
            peer_device: None,
            send_chain: None,
            recv_chain: None,
            pending_join: None,
            nameplate: Some(nameplate),
            share_history: false,
            share_alerts: false,
            settings: None,
            hlc: 0,
            created_at_millis: now_millis,
            paired_at_millis: None,
            revoked_at_millis: None,
            revoked_by: None,
            relay_revoked: false,
            revocation_statement: None,
            safety_number: None,
            rejected: Vec::new(),
            lost: Vec::new(),
            read_pending: Vec::new(),
            receipt_due: false,
            pending_finish: None,
        }
    }

    pub fn role(&self) -> Result<Role> {
        parse_role(&self.role)
    }

    pub fn cid(&self) -> Result<[u8; CHANNEL_ID_LEN]> {
        channel_id_bytes(&self.id).map_err(|_| Error::corrupt(Self::KIND, "bad channel id"))
    }

    fn device(kind: &str, s: &Option<String>) -> Result<[u8; 32]> {
        s.as_deref()
            .and_then(|s| collabzium_protocol::client::unb64(s).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| Error::corrupt(kind, "bad device key"))
    }

    pub fn peer_device_bytes(&self) -> Result<[u8; 32]> {
        Self::device(Self::KIND, &self.peer_device)
    }

    /// Rebuilds the live channel (chains) from the sealed record.
    pub fn channel(&self) -> Result<Channel> {
        let send = SendChain::from_bytes(&sealed_bytes(Self::KIND, &self.send_chain)?)
            .ok_or_else(|| Error::corrupt(Self::KIND, "bad sending chain"))?;
        let recv = ReceiveChain::from_bytes(&sealed_bytes(Self::KIND, &self.recv_chain)?)
            .ok_or_else(|| Error::corrupt(Self::KIND, "bad receiving chain"))?;
        Ok(Channel::from_parts(
            self.cid()?,
            self.role()?,
            Self::device(Self::KIND, &Some(self.own_device.clone()))?,
            self.peer_device_bytes()?,
            send,
            recv,
        ))
    }

    /// Writes the chains back after sealing or opening.
    pub fn store_chains(&mut self, ch: &Channel) {
        self.send_chain = Some(STANDARD.encode(&*ch.send_chain().to_bytes()));
        self.recv_chain = Some(STANDARD.encode(&*ch.receive_chain().to_bytes()));
    }

    /// Crypto-shreds the channel: key material goes, the tombstone stays.
    pub fn shred(&mut self, at: i64, by: &str) {
        self.status = ChannelStatus::Revoked;
        self.send_chain = None;
        self.recv_chain = None;
        self.pending_join = None;
        self.pending_finish = None;
        self.revoked_at_millis.get_or_insert(at);
        self.revoked_by.get_or_insert_with(|| by.to_string());
        self.rejected.clear();
        self.lost.clear();
        self.read_pending.clear();
        self.receipt_due = false;
    }
}

/// A received event, kept for the inbox, threads and timelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    pub channel: String,
    pub event_id: String,
    pub kind: String,
    pub seq: u64,
    pub hlc: u64,
    pub at: i64,
    pub received_at: i64,
    pub body: Value,
    pub read_at: Option<i64>,
    /// Side effects (approvals, alert acks) done; re-tried until true.
    pub applied: bool,
    /// When the therapist's device should notify (availability hours).
    pub notify_at: Option<i64>,
}

impl Record for InboxItem {
    const KIND: &'static str = "sync_inbox";
}

/// Record id of a received event: unique per (channel, sender event id), so
/// applying it twice is a no-op.
pub fn inbox_id(channel: &str, event_id: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(channel.as_bytes());
    ctx.update(&[0]);
    ctx.update(event_id.as_bytes());
    hex(&ctx.finish().as_ref()[..16])
}

/// A message this store wrote (its own copy; the peer's are inbox items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub channel: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub at: i64,
    pub outbox_seq: i64,
}

impl Record for SentMessage {
    const KIND: &'static str = "sync_message";
}
