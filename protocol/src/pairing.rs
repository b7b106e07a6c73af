//! Pairing from a short code (ADR 0005 §3): SPAKE2 over a dumb mailbox, RFC
//! 9382 §4 key confirmation, encrypted identity boxes, and the key schedule
//! for the channel id and the two chain keys.
//!
//! A passive recorder of every pairing byte learns nothing it can test a code
//! guess against (SPAKE2); an active relay gets one guess per invitation,
//! because the therapist's SPAKE2 state is consumed by the first answer and
//! the invitation is burned on any failure.
//!
//! Deviation from the ADR text: the SPAKE2 identities bind the relay origin
//! but not the nameplate, because the relay allocates the nameplate in
//! response to `POST /v1/pairings {msg_a}`, after `msg_a` must already exist.
//! The nameplate is still bound through the transcript `TT`, which feeds both
//! confirmations, the box AAD and the binding signatures.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{digest, hkdf, hmac};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::Zeroizing;

use super::channel::{binding_hash, Channel, Role};
use super::code::{canonical_origin, PairingCode};
use super::device::{self, DeviceKey, SIGNATURE_LEN};
use super::envelope::CHANNEL_ID_LEN;
use super::error::PairingError;
use super::ratchet::{ChainKey, ReceiveChain, SendChain};

/// Envelope protocol versions this build speaks, announced in the boxes.
pub const PROTOCOLS: &[u8] = &[1];
/// SPAKE2 message length: side byte + Ed25519 point.
pub const SPAKE_MSG_LEN: usize = 33;
const CONF_LEN: usize = 32;
const PSEUDONYM_LEN: usize = 16;

fn identities(origin: &str) -> (Identity, Identity) {
    (
        Identity::new(format!("collabzium/v1/therapist|{origin}").as_bytes()),
        Identity::new(format!("collabzium/v1/patient|{origin}").as_bytes()),
    )
}

/// `TT = SHA-256("collabzium pairing v1" ‖ lp(origin) ‖ lp(nameplate) ‖ msg_a ‖ msg_b)`.
#[allow(clippy::expect_used, reason = "a SHA-256 digest is 32 bytes")]
fn transcript(origin: &str, nameplate: &str, msg_a: &[u8], msg_b: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"collabzium pairing v1");
    for part in [origin.as_bytes(), nameplate.as_bytes()] {
        ctx.update(&(part.len() as u32).to_be_bytes());
        ctx.update(part);
    }
    ctx.update(msg_a);
    ctx.update(msg_b);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The pairing key schedule. Holds only `PRK`; every key is expanded on
/// demand into a zeroizing buffer.
struct Schedule {
    prk: Zeroizing<[u8; 32]>,
}

impl Schedule {
    /// `PRK = HKDF-Extract(salt = "collabzium pairing v1", IKM = K)`, computed
    /// as the RFC 5869 HMAC so the PRK bytes can be kept while pending.
    fn extract(k: &[u8]) -> Self {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"collabzium pairing v1"),
            k,
        );
        let mut prk = Zeroizing::new([0u8; 32]);
        prk.copy_from_slice(tag.as_ref());
        Self { prk }
    }

    #[allow(
        clippy::expect_used,
        reason = "HKDF-SHA256 expands to any N up to 255 × 32 bytes; callers ask for 32 or 64"
    )]
    fn expand<const N: usize>(&self, label: &str, extra: &[u8]) -> Zeroizing<[u8; N]> {
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &self.prk[..]);
        let mut out = Zeroizing::new([0u8; N]);
        prk.expand(&[b"collabzium v1 ", label.as_bytes(), extra], Len(N))
            .and_then(|o| o.fill(&mut out[..]))
            .expect("short HKDF output");
        out
    }

    fn channel_id(&self) -> [u8; CHANNEL_ID_LEN] {
        *self.expand::<CHANNEL_ID_LEN>("channel id", &[])
    }

    fn confirmation(&self, role: Role, tt: &[u8; 32]) -> hmac::Tag {
        let kc = self.expand::<32>(confirm_label(role), &[]);
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &kc[..]), tt)
    }

    fn verify_confirmation(
        &self,
        role: Role,
        tt: &[u8; 32],
        conf: &[u8],
    ) -> Result<(), PairingError> {
        let kc = self.expand::<32>(confirm_label(role), &[]);
        // Constant-time comparison inside ring.
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &kc[..]), tt, conf)
            .map_err(|_| PairingError::CodeMismatch)
    }

    #[allow(
        clippy::expect_used,
        reason = "HKDF output of 32 bytes is an AES-256 key"
    )]
    fn box_key(&self, role: Role) -> LessSafeKey {
        let kb = self.expand::<32>(
            match role {
                Role::Patient => "box patient",
                Role::Therapist => "box therapist",
            },
            &[],
        );
        LessSafeKey::new(UnboundKey::new(&aead::AES_256_GCM, &kb[..]).expect("32-byte key"))
    }

    /// Both chain keys, bound to the two device keys through `H`.
    fn channel(&self, role: Role, own: [u8; 32], peer: [u8; 32]) -> Channel {
        let (t, p) = match role {
            Role::Therapist => (own, peer),
            Role::Patient => (peer, own),
        };
        let h = binding_hash(&t, &p);
        let t2p = ChainKey::from_bytes(*self.expand::<32>("chain t2p", &h));
        let p2t = ChainKey::from_bytes(*self.expand::<32>("chain p2t", &h));
        let (send, recv) = match role {
            Role::Therapist => (t2p, p2t),
            Role::Patient => (p2t, t2p),
        };
        Channel::from_parts(
            self.channel_id(),
            role,
            own,
            peer,
            SendChain::new(send),
            ReceiveChain::new(recv),
        )
    }
}

fn confirm_label(role: Role) -> &'static str {
    match role {
        Role::Patient => "confirm patient",
        Role::Therapist => "confirm therapist",
    }
}

fn bind_message(tt: &[u8; 32], cid: &[u8; CHANNEL_ID_LEN], role: Role) -> Vec<u8> {
    let mut m = Vec::with_capacity(23 + 32 + 16 + 1);
    m.extend_from_slice(b"collabzium pair-bind v1");
    m.extend_from_slice(tt);
    m.extend_from_slice(cid);
    m.push(role as u8);
    m
}

/// What each side learns about the other from its box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub device_pub: [u8; 32],
    pub role: Role,
    /// Random per-store id; lets a store refuse a second channel with the same peer.
    pub store_pseudonym: [u8; PSEUDONYM_LEN],
    pub protocols: Vec<u8>,
    pub label: Option<String>,
    /// Opaque channel settings (JSON, therapist only).
    pub settings: Option<Vec<u8>>,
}

/// Box plaintext: `pub ‖ role ‖ pseudonym ‖ n ‖ protocols[n] ‖ lp16(label)? ‖ lp32(settings)? ‖ sig`,
/// with a flag byte saying which optional fields are present.
fn encode_box(info: &PeerInfo, sig: &[u8; SIGNATURE_LEN]) -> Zeroizing<Vec<u8>> {
    let mut b = Zeroizing::new(Vec::new());
    b.extend_from_slice(&info.device_pub);
    b.push(info.role as u8);
    b.extend_from_slice(&info.store_pseudonym);
    b.push(info.protocols.len() as u8);
    b.extend_from_slice(&info.protocols);
    b.push(u8::from(info.label.is_some()) | (u8::from(info.settings.is_some()) << 1));
    if let Some(l) = &info.label {
        b.extend_from_slice(&(l.len() as u16).to_be_bytes());
        b.extend_from_slice(l.as_bytes());
    }
    if let Some(s) = &info.settings {
        b.extend_from_slice(&(s.len() as u32).to_be_bytes());
        b.extend_from_slice(s);
    }
    b.extend_from_slice(sig);
    b
}

fn decode_box(b: &[u8]) -> Option<(PeerInfo, [u8; SIGNATURE_LEN])> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (x, rest) = b.split_at(n);
        *b = rest;
        Some(x)
    }
    let mut r = b;
    let device_pub = take(&mut r, 32)?.try_into().ok()?;
    let role = Role::from_byte(take(&mut r, 1)?[0])?;
    let store_pseudonym = take(&mut r, PSEUDONYM_LEN)?.try_into().ok()?;
    let n = take(&mut r, 1)?[0] as usize;
    let protocols = take(&mut r, n)?.to_vec();
    let flags = take(&mut r, 1)?[0];
    if flags & !3 != 0 {
        return None;
    }
    let label = if flags & 1 != 0 {
        let n = u16::from_be_bytes(take(&mut r, 2)?.try_into().ok()?) as usize;
        Some(String::from_utf8(take(&mut r, n)?.to_vec()).ok()?)
    } else {
        None
    };
    let settings = if flags & 2 != 0 {
        let n = u32::from_be_bytes(take(&mut r, 4)?.try_into().ok()?) as usize;
        Some(take(&mut r, n)?.to_vec())
    } else {
        None
    };
    let sig = take(&mut r, SIGNATURE_LEN)?.try_into().ok()?;
    r.is_empty().then_some((
        PeerInfo {
            device_pub,
            role,
            store_pseudonym,
            protocols,
            label,
            settings,
        },
        sig,
    ))
}

/// Seal a box under its single-use key. The all-zero nonce is safe because
/// `kb_p` and `kb_t` each encrypt exactly one message in this run.
#[allow(
    clippy::expect_used,
    reason = "sealing in place with a valid key cannot fail for a bounded box"
)]
fn seal_box(
    schedule: &Schedule,
    tt: &[u8; 32],
    cid: &[u8; CHANNEL_ID_LEN],
    device: &DeviceKey,
    mut info: PeerInfo,
) -> Vec<u8> {
    info.device_pub = device.public_key();
    let sig = device.sign(&bind_message(tt, cid, info.role));
    let mut buf = encode_box(&info, &sig);
    let tag = schedule
        .box_key(info.role)
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(tt),
            &mut buf[..],
        )
        .expect("box seal");
    let mut out = buf.to_vec();
    out.extend_from_slice(tag.as_ref());
    out
}

fn open_box(
    schedule: &Schedule,
    tt: &[u8; 32],
    cid: &[u8; CHANNEL_ID_LEN],
    sender: Role,
    sealed: &[u8],
) -> Result<PeerInfo, PairingError> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = schedule
        .box_key(sender)
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(tt),
            &mut buf[..],
        )
        .map_err(|_| PairingError::BindingInvalid)?;
    let (info, sig) = decode_box(plain).ok_or(PairingError::BindingInvalid)?;
    if info.role != sender {
        return Err(PairingError::WrongRole);
    }
    if !device::verify(&info.device_pub, &bind_message(tt, cid, sender), &sig) {
        return Err(PairingError::BindingInvalid);
    }
    Ok(info)
}

fn own_info(
    role: Role,
    pseudonym: [u8; PSEUDONYM_LEN],
    label: Option<&str>,
    settings: Option<&[u8]>,
) -> PeerInfo {
    PeerInfo {
        device_pub: [0; 32],
        role,
        store_pseudonym: pseudonym,
        protocols: PROTOCOLS.to_vec(),
        label: label.map(str::to_owned),
        settings: settings.map(<[u8]>::to_vec),
    }
}

fn put_lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn get_lp<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = u32::from_be_bytes(r.get(..4)?.try_into().ok()?) as usize;
    let v = r.get(4..4 + n)?;
    *r = &r[4 + n..];
    Some(v)
}

/// The patient's answer, posted to the mailbox: `{msg_b, conf_p, box_p}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMessage {
    pub msg_b: Vec<u8>,
    pub conf_p: Vec<u8>,
    pub box_p: Vec<u8>,
}

/// The therapist's answer: `{channel_id, conf_t, box_t}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishMessage {
    pub channel_id: [u8; CHANNEL_ID_LEN],
    pub conf_t: Vec<u8>,
    pub box_t: Vec<u8>,
}

impl JoinMessage {
    /// Length-prefixed wire form (the relay stores it opaquely).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in [&self.msg_b, &self.conf_p, &self.box_p] {
            put_lp(&mut out, f);
        }
        out
    }

    pub fn from_bytes(mut b: &[u8]) -> Result<Self, PairingError> {
        let r = &mut b;
        let m = (|| {
            Some(Self {
                msg_b: get_lp(r)?.to_vec(),
                conf_p: get_lp(r)?.to_vec(),
                box_p: get_lp(r)?.to_vec(),
            })
        })();
        m.filter(|_| r.is_empty()).ok_or(PairingError::Malformed)
    }
}

impl FinishMessage {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in [&self.channel_id[..], &self.conf_t, &self.box_t] {
            put_lp(&mut out, f);
        }
        out
    }

    pub fn from_bytes(mut b: &[u8]) -> Result<Self, PairingError> {
        let r = &mut b;
        let m = (|| {
            Some(Self {
                channel_id: get_lp(r)?.try_into().ok()?,
                conf_t: get_lp(r)?.to_vec(),
                box_t: get_lp(r)?.to_vec(),
            })
        })();
        m.filter(|_| r.is_empty()).ok_or(PairingError::Malformed)
    }
}

/// The therapist's side of one invitation. Lives only in memory (the SPAKE2
/// state is deliberately not persistable) and allows exactly one attempt.
pub struct Invitation {
    spake: Option<Spake2<Ed25519Group>>,
    secret: Zeroizing<String>,
    origin: String,
    msg_a: Vec<u8>,
    code: Option<PairingCode>,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("origin", &self.origin)
            .field("code", &self.code)
            .field("burned", &self.is_burned())
            .finish_non_exhaustive()
    }
}

/// A completed pairing on the therapist side.
pub struct Accepted {
    /// To post to the mailbox (`/finish`).
    pub finish: FinishMessage,
    pub channel: Channel,
    pub peer: PeerInfo,
}

impl Invitation {
    /// Start an invitation for the relay at `relay_url`: draws the secret and
    /// computes `msg_a`, to be posted to the relay.
    pub fn start(relay_url: &str) -> Result<Self, PairingError> {
        Self::start_with_secret(relay_url, &PairingCode::generate_secret())
    }

    /// As [`start`](Self::start) with a given secret (tests, vectors).
    pub fn start_with_secret(relay_url: &str, secret: &str) -> Result<Self, PairingError> {
        // Validate the secret's alphabet with a placeholder nameplate.
        PairingCode::new("0000", secret)?;
        let origin = canonical_origin(relay_url)?;
        let (id_a, id_b) = identities(&origin);
        let (spake, msg_a) =
            Spake2::<Ed25519Group>::start_a(&Password::new(secret.as_bytes()), &id_a, &id_b);
        Ok(Self {
            spake: Some(spake),
            secret: Zeroizing::new(secret.to_owned()),
            origin,
            msg_a,
            code: None,
        })
    }

    /// `msg_a`, for `POST /v1/pairings`.
    pub fn msg_a(&self) -> &[u8] {
        &self.msg_a
    }

    /// Canonical relay origin bound into this run.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Record the relay-allocated nameplate and return the code to show.
    pub fn assign_nameplate(&mut self, nameplate: &str) -> Result<PairingCode, PairingError> {
        if self.code.is_some() {
            return Err(PairingError::InvalidState);
        }
        let code = PairingCode::new(nameplate, &self.secret)?;
        self.code = Some(code.clone());
        Ok(code)
    }

    /// The code, once a nameplate is assigned.
    pub fn code(&self) -> Option<&PairingCode> {
        self.code.as_ref()
    }

    /// True once an answer was processed (successfully or not).
    pub fn is_burned(&self) -> bool {
        self.spake.is_none()
    }

    /// Process the patient's answer. Consumes the SPAKE2 state whatever the
    /// outcome: on any error the invitation is burned (the caller deletes the
    /// pairing at the relay) and the therapist must make a new code.
    ///
    /// Checking the peer's pseudonym against existing channels is left to the
    /// caller, which has the store.
    pub fn accept(
        &mut self,
        join: &JoinMessage,
        device: &DeviceKey,
        store_pseudonym: [u8; PSEUDONYM_LEN],
        label: Option<&str>,
        settings: Option<&[u8]>,
    ) -> Result<Accepted, PairingError> {
        let nameplate = self
            .code
            .as_ref()
            .ok_or(PairingError::InvalidState)?
            .nameplate()
            .to_owned();
        let spake = self.spake.take().ok_or(PairingError::InvitationBurned)?;
        if join.msg_b.len() != SPAKE_MSG_LEN || join.conf_p.len() != CONF_LEN {
            return Err(PairingError::Malformed);
        }
        let k = Zeroizing::new(
            spake
                .finish(&join.msg_b)
                .map_err(|_| PairingError::Malformed)?,
        );
        let schedule = Schedule::extract(&k);
        let tt = transcript(&self.origin, &nameplate, &self.msg_a, &join.msg_b);
        schedule.verify_confirmation(Role::Patient, &tt, &join.conf_p)?;
        let cid = schedule.channel_id();
        let peer = open_box(&schedule, &tt, &cid, Role::Patient, &join.box_p)?;
        if !peer.protocols.contains(&1) {
            return Err(PairingError::Malformed);
        }
        let conf_t = schedule
            .confirmation(Role::Therapist, &tt)
            .as_ref()
            .to_vec();
        let box_t = seal_box(
            &schedule,
            &tt,
            &cid,
            device,
            own_info(Role::Therapist, store_pseudonym, label, settings),
        );
        let channel = schedule.channel(Role::Therapist, device.public_key(), peer.device_pub);
        Ok(Accepted {
            finish: FinishMessage {
                channel_id: cid,
                conf_t,
                box_t,
            },
            channel,
            peer,
        })
    }
}

/// The patient's side between `join` and the therapist's `finish`. Holds only
/// derived keys (`PRK`, `TT`), so it can be sealed into the store and the
/// join call need not block.
pub struct PendingJoin {
    schedule: Schedule,
    tt: [u8; 32],
    cid: [u8; CHANNEL_ID_LEN],
    own_pub: [u8; 32],
}

impl PendingJoin {
    /// The channel id both sides will use.
    pub fn channel_id(&self) -> &[u8; CHANNEL_ID_LEN] {
        &self.cid
    }

    /// Complete with the therapist's finish message.
    /// `PRK ‖ TT ‖ cid ‖ own_pub`, for sealing into the store while the
    /// channel is pending (ADR 0005 §3). Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::with_capacity(32 + 32 + CHANNEL_ID_LEN + 32));
        b.extend_from_slice(&self.schedule.prk[..]);
        b.extend_from_slice(&self.tt);
        b.extend_from_slice(&self.cid);
        b.extend_from_slice(&self.own_pub);
        b
    }

    /// Inverse of [`PendingJoin::to_bytes`]; `None` on a wrong length.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 32 + 32 + CHANNEL_ID_LEN + 32 {
            return None;
        }
        let mut prk = Zeroizing::new([0u8; 32]);
        prk.copy_from_slice(&b[..32]);
        Some(Self {
            schedule: Schedule { prk },
            tt: b[32..64].try_into().ok()?,
            cid: b[64..64 + CHANNEL_ID_LEN].try_into().ok()?,
            own_pub: b[64 + CHANNEL_ID_LEN..].try_into().ok()?,
        })
    }

    pub fn complete(self, finish: &FinishMessage) -> Result<(Channel, PeerInfo), PairingError> {
        self.schedule
            .verify_confirmation(Role::Therapist, &self.tt, &finish.conf_t)?;
        if finish.channel_id != self.cid {
            return Err(PairingError::Malformed);
        }
        let peer = open_box(
            &self.schedule,
            &self.tt,
            &self.cid,
            Role::Therapist,
            &finish.box_t,
        )?;
        let channel = self
            .schedule
            .channel(Role::Patient, self.own_pub, peer.device_pub);
        Ok((channel, peer))
    }
}

/// The patient redeems a code: given `msg_a` fetched from the nameplate,
/// produce the join message for the mailbox and the pending state.
pub fn join(
    code: &PairingCode,
    relay_url: &str,
    msg_a: &[u8],
    device: &DeviceKey,
    store_pseudonym: [u8; PSEUDONYM_LEN],
) -> Result<(JoinMessage, PendingJoin), PairingError> {
    let origin = canonical_origin(relay_url)?;
    if msg_a.len() != SPAKE_MSG_LEN {
        return Err(PairingError::Malformed);
    }
    let (id_a, id_b) = identities(&origin);
    let (spake, msg_b) =
        Spake2::<Ed25519Group>::start_b(&Password::new(code.password()), &id_a, &id_b);
    let k = Zeroizing::new(spake.finish(msg_a).map_err(|_| PairingError::Malformed)?);
    let schedule = Schedule::extract(&k);
    let tt = transcript(&origin, code.nameplate(), msg_a, &msg_b);
    let cid = schedule.channel_id();
    let conf_p = schedule.confirmation(Role::Patient, &tt).as_ref().to_vec();
    let box_p = seal_box(
        &schedule,
        &tt,
        &cid,
        device,
        own_info(Role::Patient, store_pseudonym, None, None),
    );
    Ok((
        JoinMessage {
            msg_b,
            conf_p,
            box_p,
        },
        PendingJoin {
            schedule,
            tt,
            cid,
            own_pub: device.public_key(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "https://relay.example.org";

    fn pair(
        secret_t: &str,
        secret_p: &str,
    ) -> (Invitation, Result<Accepted, PairingError>, PendingJoin) {
        let therapist = DeviceKey::generate();
        let patient = DeviceKey::generate();
        let mut inv = Invitation::start_with_secret(RELAY, secret_t).unwrap();
        let code = inv.assign_nameplate("4821").unwrap();
        let typed = PairingCode::new(code.nameplate(), secret_p).unwrap();
        let (jm, pending) = join(&typed, RELAY, inv.msg_a(), &patient, [2; 16]).unwrap();
        let res = inv.accept(&jm, &therapist, [1; 16], Some("Dr T"), Some(b"{}"));
        (inv, res, pending)
    }

    #[test]
    fn same_code_gives_same_channel() {
        let (inv, res, pending) = pair("7KQ2M9XD", "7KQ2M9XD");
        assert!(inv.is_burned());
        let acc = res.unwrap();
        assert_eq!(acc.peer.role, Role::Patient);
        assert_eq!(acc.peer.store_pseudonym, [2; 16]);
        let (mut pc, tinfo) = pending.complete(&acc.finish).unwrap();
        assert_eq!(tinfo.label.as_deref(), Some("Dr T"));
        assert_eq!(tinfo.settings.as_deref(), Some(&b"{}"[..]));
        let mut tc = acc.channel;
        assert_eq!(tc.id(), pc.id());
        assert_eq!(tc.safety_number(), pc.safety_number());
        assert_eq!(
            tc.send_chain().to_bytes()[8..],
            pc.receive_chain().to_bytes()[9..41]
        );
        let env = tc.seal(b"hello").unwrap();
        assert_eq!(pc.open(&env, 0).unwrap().payload, b"hello");
        let env = pc.seal(b"back").unwrap();
        assert_eq!(tc.open(&env, 0).unwrap().payload, b"back");
    }

    #[test]
    fn wrong_code_is_code_mismatch_and_burns() {
        let (mut inv, res, _pending) = pair("7KQ2M9XD", "7KQ2M9XE");
        assert_eq!(res.err(), Some(PairingError::CodeMismatch));
        assert!(inv.is_burned());
        let jm = JoinMessage {
            msg_b: vec![0x42; 33],
            conf_p: vec![0; 32],
            box_p: vec![],
        };
        assert_eq!(
            inv.accept(&jm, &DeviceKey::generate(), [0; 16], None, None)
                .err(),
            Some(PairingError::InvitationBurned)
        );
    }

    #[test]
    fn message_encodings_roundtrip() {
        let j = JoinMessage {
            msg_b: vec![1; 33],
            conf_p: vec![2; 32],
            box_p: vec![3; 90],
        };
        assert_eq!(JoinMessage::from_bytes(&j.to_bytes()).unwrap(), j);
        let f = FinishMessage {
            channel_id: [4; 16],
            conf_t: vec![5; 32],
            box_t: vec![6; 80],
        };
        assert_eq!(FinishMessage::from_bytes(&f.to_bytes()).unwrap(), f);
        let mut b = f.to_bytes();
        b.push(0);
        assert_eq!(FinishMessage::from_bytes(&b), Err(PairingError::Malformed));
    }
}
