//! An established channel: both chains and the identities bound into every
//! envelope. Sealing and opening go through here so the header, AAD and
//! chain bookkeeping cannot be combined wrongly by callers.

use ring::digest;

use super::envelope::{self, Direction, Header, CHANNEL_ID_LEN, VERSION_1};
use super::error::{SendError, SyncRejection};
use super::ratchet::{ReceiveChain, SendChain};

/// A store's fixed sync role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Therapist = 1,
    Patient = 2,
}

impl Role {
    /// Direction of the envelopes this role sends.
    pub fn sending_direction(self) -> Direction {
        match self {
            Role::Therapist => Direction::TherapistToPatient,
            Role::Patient => Direction::PatientToTherapist,
        }
    }

    /// The other role.
    pub fn peer(self) -> Role {
        match self {
            Role::Therapist => Role::Patient,
            Role::Patient => Role::Therapist,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Role> {
        match b {
            1 => Some(Role::Therapist),
            2 => Some(Role::Patient),
            _ => None,
        }
    }
}

/// An opened envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// One therapist–patient channel as seen from one side.
pub struct Channel {
    id: [u8; CHANNEL_ID_LEN],
    role: Role,
    own_pub: [u8; 32],
    peer_pub: [u8; 32],
    send: SendChain,
    recv: ReceiveChain,
}

impl Channel {
    /// Assemble a channel from its parts (from pairing, or reloaded from the store).
    pub fn from_parts(
        id: [u8; CHANNEL_ID_LEN],
        role: Role,
        own_pub: [u8; 32],
        peer_pub: [u8; 32],
        send: SendChain,
        recv: ReceiveChain,
    ) -> Self {
        Self {
            id,
            role,
            own_pub,
            peer_pub,
            send,
            recv,
        }
    }

    pub fn id(&self) -> &[u8; CHANNEL_ID_LEN] {
        &self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn own_device(&self) -> &[u8; 32] {
        &self.own_pub
    }

    pub fn peer_device(&self) -> &[u8; 32] {
        &self.peer_pub
    }

    pub fn send_chain(&self) -> &SendChain {
        &self.send
    }

    pub fn receive_chain(&self) -> &ReceiveChain {
        &self.recv
    }

    /// Seal one event payload under the next seq. The chain advances only if
    /// sealing succeeds, and the used message key is wiped on return.
    pub fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, SendError> {
        if payload.len() > envelope::MAX_PAYLOAD_LEN {
            return Err(SendError::PayloadTooLarge(payload.len()));
        }
        let (seq, mk) = self.send.advance().ok_or(SendError::ChainExhausted)?;
        let header = Header {
            version: VERSION_1,
            direction: self.role.sending_direction(),
            channel_id: self.id,
            seq,
        };
        envelope::seal(&mk, &header, &self.own_pub, &self.peer_pub, payload)
    }

    /// Open an envelope from the peer. Checks run cheapest first (version,
    /// shape, channel, direction, replay) before any key is derived; the
    /// receiving chain changes only when the AEAD tag verifies.
    pub fn open(&mut self, bytes: &[u8], now_ms: i64) -> Result<Opened, SyncRejection> {
        let header = Header::parse(bytes)?;
        if header.channel_id != self.id {
            return Err(SyncRejection::WrongChannel);
        }
        if header.direction != self.role.peer().sending_direction() {
            return Err(SyncRejection::WrongDirection);
        }
        self.recv.evict_expired(now_ms);
        let (peer, own) = (self.peer_pub, self.own_pub);
        let plain = self.recv.open_with(header.seq, now_ms, |mk| {
            envelope::open(mk, bytes, &peer, &own)
        })?;
        // Authenticated, so bad framing can only come from a faulty peer.
        let payload = envelope::unpad(&plain)?;
        Ok(Opened {
            seq: header.seq,
            payload,
        })
    }

    /// Safety number: `SHA-256("collabzium safety v1" ‖ cid ‖ H)` mod 10^12,
    /// shown as three groups of four digits; equal on both sides.
    pub fn safety_number(&self) -> String {
        let (t, p) = match self.role {
            Role::Therapist => (&self.own_pub, &self.peer_pub),
            Role::Patient => (&self.peer_pub, &self.own_pub),
        };
        safety_number(&self.id, &binding_hash(t, p))
    }
}

/// `H = SHA-256(therapist_pub ‖ patient_pub)`.
#[allow(clippy::expect_used, reason = "a SHA-256 digest is 32 bytes")]
pub(crate) fn binding_hash(therapist: &[u8; 32], patient: &[u8; 32]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(therapist);
    ctx.update(patient);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

fn safety_number(cid: &[u8; CHANNEL_ID_LEN], h: &[u8; 32]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"collabzium safety v1");
    ctx.update(cid);
    ctx.update(h);
    let d = ctx.finish();
    // Big-endian integer mod 10^12, folded byte by byte.
    let n = d.as_ref().iter().fold(0u128, |acc, &b| {
        (acc * 256 + u128::from(b)) % 1_000_000_000_000
    });
    let s = format!("{n:012}");
    format!("{} {} {}", &s[0..4], &s[4..8], &s[8..12])
}
