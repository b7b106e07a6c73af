//! Durable state behind one trait (ADR 0006 §7). Every method is a whole
//! operation run in ONE transaction, so a 2xx always follows a commit and any
//! process sharing the database sees the result at once. The HTTP layer has
//! no SQL; the backends share the pure checks below.

use async_trait::async_trait;
use collabzium_protocol::envelope::{Direction, Header, CHANNEL_ID_LEN, HEADER_LEN, TAG_LEN};
use ring::digest;
use thiserror::Error;

pub mod postgres;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Ed25519 public key of a device, as it appears in `keyid`.
pub type DeviceId = [u8; 32];
pub type ChannelId = [u8; CHANNEL_ID_LEN];

/// Who is calling and with which single-use nonce; the nonce is inserted in
/// the operation's own transaction so a replay can never slip between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth {
    pub device: DeviceId,
    pub nonce: [u8; 16],
}

/// Operational limits the store enforces (the hard ones live in the database).
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Unacknowledged envelopes live this long after their last push.
    pub retention_ms: i64,
    /// Queued envelopes per channel and direction.
    pub channel_quota: u64,
    /// Queued bytes per channel and direction.
    pub channel_quota_bytes: u64,
    /// Revoked channels keep their tombstone this long.
    pub tombstone_ms: i64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            retention_ms: 30 * DAY_MS,
            channel_quota: 10_000,
            channel_quota_bytes: 256 * 1024 * 1024,
            tombstone_ms: 400 * DAY_MS,
        }
    }
}

pub const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// An open invitation lives 15 minutes (ADR 0005 §3).
pub const PAIRING_TTL_MS: i64 = 15 * 60_000;
/// A finished pairing waits this long for the joiner to read the finish.
pub const FINISHED_TTL_MS: i64 = 7 * DAY_MS;
/// Once the joiner has read the finish the row goes after this grace period,
/// so a response lost in transit can still be re-read.
pub const READ_GRACE_MS: i64 = 10 * 60_000;
/// Pairing rows stay at least this long after creation (even when expired,
/// hidden from the API) so the per-hour create/join limits can count them.
pub(crate) const PAIRING_KEEP_MS: i64 = HOUR_MS;
pub const MAX_OPEN_PAIRINGS: i64 = 5;
pub const MAX_CREATES_PER_HOUR: i64 = 30;
pub const MAX_JOINS_PER_HOUR: i64 = 10;
pub const MAX_BOX_LEN: usize = 2048;
pub const MAX_ENVELOPE_LEN: usize = 256 * 1024;
pub const MIN_ENVELOPE_LEN: usize = HEADER_LEN + TAG_LEN;
/// Largest seq a JSON number carries exactly.
pub const MAX_SEQ: u64 = 1 << 53;
pub const NONCE_TTL_MS: i64 = collabzium_protocol::signing::NONCE_TTL_S * 1000;

/// Revocation tombstone served to the former peer (ADR 0005 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub revoked_at: i64,
    pub statement: Vec<u8>,
    pub by: DeviceId,
}

/// Why an operation was refused. Each maps to one HTTP status and code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("nonce already used")]
    Replayed,
    #[error("device revoked")]
    DeviceRevoked,
    /// Unknown channel or not a member: deliberately indistinguishable.
    #[error("forbidden")]
    Forbidden,
    #[error("channel revoked")]
    ChannelRevoked(Revocation),
    #[error("nameplate unknown or expired")]
    NotFound,
    #[error("state conflict")]
    Conflict,
    #[error("malformed request")]
    Malformed,
    #[error("channel quota exceeded")]
    Quota,
    /// A database-enforced count (open pairings, creates/joins per hour).
    #[error("limit reached")]
    Limited { retry_after_s: u64 },
    /// The database failed; carries only an error code, never driver text.
    #[error("database error {0}")]
    Db(String),
    #[error("database unavailable")]
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingState {
    Open,
    Joined,
    Finished,
    Aborted,
}

impl PairingState {
    pub fn as_str(self) -> &'static str {
        match self {
            PairingState::Open => "open",
            PairingState::Joined => "joined",
            PairingState::Finished => "finished",
            PairingState::Aborted => "aborted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => PairingState::Open,
            "joined" => PairingState::Joined,
            "finished" => PairingState::Finished,
            "aborted" => PairingState::Aborted,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCreated {
    pub nameplate: u32,
    pub expires_at: i64,
}

/// What `GET /v1/pairings/{np}` may show this caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingView {
    pub state: PairingState,
    pub msg_a: Vec<u8>,
    pub expires_at: i64,
    /// Only for the creator, once joined.
    pub join: Option<Vec<u8>>,
    /// Only for the joiner, once finished.
    pub channel_id: Option<ChannelId>,
    pub finish: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Therapist,
    Patient,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Therapist => "therapist",
            Role::Patient => "patient",
        }
    }
    /// The direction this role pushes.
    pub fn own_dir(self) -> u8 {
        match self {
            Role::Therapist => Direction::TherapistToPatient as u8,
            Role::Patient => Direction::PatientToTherapist as u8,
        }
    }
    /// The direction addressed to this role (what it fetches and acks).
    pub fn peer_dir(self) -> u8 {
        match self {
            Role::Therapist => Direction::PatientToTherapist as u8,
            Role::Patient => Direction::TherapistToPatient as u8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub id: ChannelId,
    pub role: Role,
    pub pending_for_me: u64,
    pub pending_from_me: u64,
    pub revocation: Option<Revocation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushStatus {
    Stored,
    Duplicate,
    Replaced,
}

impl PushStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PushStatus::Stored => "stored",
            PushStatus::Duplicate => "duplicate",
            PushStatus::Replaced => "replaced",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub envelopes: Vec<(u64, Vec<u8>)>,
    pub more: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepStats {
    pub envelopes: u64,
    pub nonces: u64,
    pub pairings: u64,
    pub tombstones: u64,
    /// Envelopes still queued after the sweep (a gauge for /metrics).
    pub queued: u64,
}

/// Row counts of the durable tables, for tests and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub devices: u64,
    pub nonces: u64,
    pub pairings: u64,
    pub channels: u64,
    pub envelopes: u64,
}

/// The relay's storage. Every method that takes an [`Auth`] first refuses a
/// revoked device and records the nonce (refusing a replay), then does its
/// operation, all in one transaction; on any error nothing is committed.
#[async_trait]
pub trait RelayStore: Send + Sync + 'static {
    /// Cheap liveness probe of the database (`SELECT 1`).
    async fn ready(&self) -> Result<(), StoreError>;

    /// Open an invitation; registers the device.
    async fn create_pairing(
        &self,
        auth: Auth,
        msg_a: Vec<u8>,
        now_ms: i64,
    ) -> Result<PairingCreated, StoreError>;
    async fn get_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        now_ms: i64,
    ) -> Result<PairingView, StoreError>;
    async fn join_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        join: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    async fn finish_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        channel_id: ChannelId,
        finish: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Burn a pairing (creator or joiner). Returns the state it is left in.
    async fn delete_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        now_ms: i64,
    ) -> Result<PairingState, StoreError>;

    async fn list_channels(&self, auth: Auth, now_ms: i64) -> Result<Vec<ChannelInfo>, StoreError>;
    async fn push(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        envelopes: Vec<Vec<u8>>,
        now_ms: i64,
    ) -> Result<Vec<(u64, PushStatus)>, StoreError>;
    async fn fetch(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<Fetched, StoreError>;
    async fn ack(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        through: u64,
        seqs: Vec<u64>,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Revoke a channel with a statement already verified by the caller.
    /// Idempotent: returns the stored `revoked_at`.
    async fn revoke_channel(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        revoked_at: i64,
        statement: Vec<u8>,
        now_ms: i64,
    ) -> Result<i64, StoreError>;
    async fn revoke_device(&self, auth: Auth, now_ms: i64) -> Result<i64, StoreError>;

    /// Registers (`Some`, the stored form of a `push::Subscription`) or
    /// removes (`None`) the caller's one push endpoint. Returns whether the
    /// device had one before.
    async fn set_push_endpoint(
        &self,
        auth: Auth,
        subscription: Option<String>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The endpoints to wake: with `Some((channel, sender))` the other
    /// member of that active channel; with `None` every registered device.
    /// Revoked devices are left out; at most `limit` rows.
    async fn push_endpoints(
        &self,
        peer_of: Option<(ChannelId, DeviceId)>,
        limit: usize,
    ) -> Result<Vec<(DeviceId, String)>, StoreError>;
    /// Forgets `device`'s endpoint if it is still `subscription` (its push
    /// service said it is gone).
    async fn drop_push_endpoint(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> Result<(), StoreError>;

    /// Delete expired envelopes, nonces, pairings and tombstones.
    async fn sweep(&self, now_ms: i64) -> Result<SweepStats, StoreError>;

    /// Row counts (tests, operators).
    async fn counts(&self) -> Result<TableCounts, StoreError>;
    /// SHA-256 over every row of `devices`, `pairings`, `channels` and
    /// `envelopes` in key order: "did anything change?" for tests.
    async fn state_digest(&self) -> Result<[u8; 32], StoreError>;
}

/// ADR 0006 §2 push rules, checked before any write. Returns `(seq, digest)`
/// per envelope, or `Malformed` for the whole request.
pub(crate) fn check_envelopes(
    channel_id: &ChannelId,
    dir: u8,
    envelopes: &[Vec<u8>],
) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
    let mut out = Vec::with_capacity(envelopes.len());
    for env in envelopes {
        if env.len() < MIN_ENVELOPE_LEN || env.len() > MAX_ENVELOPE_LEN {
            return Err(StoreError::Malformed);
        }
        let h = Header::parse(env).map_err(|_| StoreError::Malformed)?;
        if &h.channel_id != channel_id || h.direction as u8 != dir {
            return Err(StoreError::Malformed);
        }
        if h.seq < 1 || h.seq > MAX_SEQ {
            return Err(StoreError::Malformed);
        }
        out.push((h.seq, sha256(env)));
    }
    Ok(out)
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Pick a random nameplate: 4 digits while fewer than half are taken, else 5.
pub(crate) fn random_nameplate(open_count: i64) -> u32 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 4];
    // An RNG failure only makes the nameplate predictable, which is public anyway.
    let _ = SystemRandom::new().fill(&mut b);
    let r = u32::from_be_bytes(b);
    if open_count < 4_500 {
        1_000 + r % 9_000
    } else {
        10_000 + r % 90_000
    }
}

pub(crate) const HOUR: i64 = HOUR_MS;

/// The unpairing statement: Ed25519 by the revoking device over
/// `"collabzium revoke v1" ‖ cid ‖ revoked_at_ms (u64 BE)` (ADR 0005 §7).
pub fn revocation_message(channel_id: &ChannelId, revoked_at: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(20 + 16 + 8);
    m.extend_from_slice(b"collabzium revoke v1");
    m.extend_from_slice(channel_id);
    m.extend_from_slice(&(revoked_at as u64).to_be_bytes());
    m
}

pub(crate) fn verify_revocation(
    device: &DeviceId,
    channel_id: &ChannelId,
    revoked_at: i64,
    statement: &[u8],
) -> bool {
    revoked_at >= 0
        && collabzium_protocol::device::verify(
            device,
            &revocation_message(channel_id, revoked_at),
            statement,
        )
}

/// Open a store from a `sqlite:PATH` or `postgres://…` URL and migrate it.
pub async fn open_store(
    database: &str,
    limits: StoreLimits,
) -> Result<std::sync::Arc<dyn RelayStore>, StoreError> {
    if let Some(path) = database.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path).to_owned();
        let s = tokio::task::spawn_blocking(move || SqliteStore::open(&path, limits))
            .await
            .map_err(|_| StoreError::Unavailable)??;
        Ok(std::sync::Arc::new(s))
    } else if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            PostgresStore::open(database, limits).await?,
        ))
    } else {
        Err(StoreError::Db("unsupported database url".into()))
    }
}
