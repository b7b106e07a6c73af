//! SQLite backend: one connection in WAL mode behind a mutex, every
//! operation a `BEGIN IMMEDIATE` transaction on a blocking thread. Every
//! signed request writes a nonce, so a reader pool would buy nothing.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ring::digest;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::*;

mod push;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE devices (
  device_key  BLOB PRIMARY KEY,
  first_seen  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE TABLE nonces (
  device_key  BLOB NOT NULL,
  nonce       BLOB NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (device_key, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_at);
CREATE TABLE pairings (
  nameplate   INTEGER PRIMARY KEY,
  creator     BLOB NOT NULL,
  msg_a       BLOB NOT NULL,
  joiner      BLOB,
  join_blob   BLOB,
  joined_at   INTEGER,
  channel_id  BLOB,
  finish_blob BLOB,
  state       TEXT NOT NULL CHECK (state IN ('open','joined','finished','aborted')),
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
CREATE INDEX pairings_expiry ON pairings (expires_at);
CREATE INDEX pairings_by_creator ON pairings (creator, created_at);
CREATE INDEX pairings_by_joiner ON pairings (joiner, joined_at);
CREATE TABLE channels (
  channel_id  BLOB PRIMARY KEY,
  therapist   BLOB NOT NULL,
  patient     BLOB NOT NULL,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER,
  revoked_by  BLOB,
  revocation  BLOB
);
CREATE UNIQUE INDEX channels_one_per_pair ON channels (therapist, patient) WHERE revoked_at IS NULL;
CREATE INDEX channels_by_therapist ON channels (therapist);
CREATE INDEX channels_by_patient ON channels (patient);
CREATE TABLE envelopes (
  channel_id  BLOB NOT NULL,
  dir         INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  body        BLOB NOT NULL,
  digest      BLOB NOT NULL,
  stored_at   INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (channel_id, dir, seq)
) WITHOUT ROWID;
CREATE INDEX envelopes_expiry ON envelopes (expires_at);
";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // Only the error code: driver messages can quote key values.
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable
            }
            Some(code) => StoreError::Db(format!("sqlite:{code:?}")),
            None => StoreError::Db("sqlite".into()),
        }
    }
}

/// Creates a missing database file with mode 0600 before SQLite opens it;
/// SQLite gives its `-wal` and `-shm` files the main file's mode. An existing
/// file made by an older build loses group and other access.
fn create_owner_only(path: &str) -> Result<(), StoreError> {
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let p = std::path::Path::new(path);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut name = p.as_os_str().to_owned();
                    name.push(suffix);
                    let q = std::path::PathBuf::from(name);
                    if let Ok(m) = std::fs::symlink_metadata(&q) {
                        if m.is_file() && m.permissions().mode() & 0o077 != 0 {
                            let _ = std::fs::set_permissions(
                                &q,
                                std::fs::Permissions::from_mode(0o600),
                            );
                        }
                    }
                }
            }
            Err(e) => {
                return Err(StoreError::Db(format!(
                    "cannot create the database file: {}",
                    e.kind()
                )))
            }
        }
    }
    Ok(())
}

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    limits: StoreLimits,
}

impl SqliteStore {
    /// Open (creating if needed) and migrate. Blocking.
    pub fn open(path: &str, limits: StoreLimits) -> Result<Self, StoreError> {
        create_owner_only(path)?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // auto_vacuum must be set before the first table exists.
        conn.execute_batch(
            "PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA secure_delete = ON;",
        )?;
        migrate(&mut conn)?;
        push::ensure_table(&conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                limits,
            }),
        })
    }

    async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &StoreLimits) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere rolled its transaction back on drop, so the
            // connection is still consistent.
            let mut conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx, &inner.limits)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|_| StoreError::Unavailable)?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // BEGIN IMMEDIATE takes the write lock, so concurrent starters serialize.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let v: Option<i64> = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .optional()?
        .flatten();
    match v.unwrap_or(0) {
        0 => {
            tx.execute_batch(SCHEMA_V1)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )?;
        }
        SCHEMA_VERSION => {}
        // A newer relay migrated this database: refuse rather than corrupt it.
        _ => {
            return Err(StoreError::Db(
                "schema_version newer than this build".into(),
            ))
        }
    }
    tx.commit()?;
    Ok(())
}

/// Refuse a revoked device, then record the nonce (a conflict is a replay).
fn begin(tx: &Transaction<'_>, auth: &Auth, now_ms: i64) -> Result<(), StoreError> {
    let revoked: Option<Option<i64>> = tx
        .query_row(
            "SELECT revoked_at FROM devices WHERE device_key = ?1",
            [&auth.device[..]],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(Some(_)) = revoked {
        return Err(StoreError::DeviceRevoked);
    }
    let n = tx.execute(
        "INSERT OR IGNORE INTO nonces (device_key, nonce, expires_at) VALUES (?1, ?2, ?3)",
        params![&auth.device[..], &auth.nonce[..], now_ms + NONCE_TTL_MS],
    )?;
    if n == 0 {
        return Err(StoreError::Replayed);
    }
    Ok(())
}

fn register(tx: &Transaction<'_>, device: &DeviceId, now_ms: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO devices (device_key, first_seen) VALUES (?1, ?2)",
        params![&device[..], now_ms],
    )?;
    Ok(())
}

fn to_array<const N: usize>(v: Vec<u8>) -> Result<[u8; N], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Db("corrupt key length".into()))
}

/// The caller's role in a channel, and the tombstone if it is revoked.
/// Unknown channel and foreign channel are the same `Forbidden`.
fn membership(
    tx: &Transaction<'_>,
    device: &DeviceId,
    cid: &ChannelId,
) -> Result<(Role, Option<Revocation>), StoreError> {
    type Row = (
        Vec<u8>,
        Vec<u8>,
        Option<i64>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT therapist, patient, revoked_at, revoked_by, revocation
             FROM channels WHERE channel_id = ?1",
            [&cid[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((therapist, patient, revoked_at, by, statement)) = row else {
        return Err(StoreError::Forbidden);
    };
    let role = if therapist == device[..] {
        Role::Therapist
    } else if patient == device[..] {
        Role::Patient
    } else {
        return Err(StoreError::Forbidden);
    };
    let revocation = match revoked_at {
        Some(revoked_at) => Some(Revocation {
            revoked_at,
            statement: statement.unwrap_or_default(),
            by: to_array(by.unwrap_or_else(|| vec![0; 32]))?,
        }),
        None => None,
    };
    Ok((role, revocation))
}

fn active_role(
    tx: &Transaction<'_>,
    device: &DeviceId,
    cid: &ChannelId,
) -> Result<Role, StoreError> {
    match membership(tx, device, cid)? {
        (role, None) => Ok(role),
        (_, Some(rev)) => Err(StoreError::ChannelRevoked(rev)),
    }
}

struct PairingRow {
    creator: Vec<u8>,
    msg_a: Vec<u8>,
    joiner: Option<Vec<u8>>,
    join_blob: Option<Vec<u8>>,
    channel_id: Option<Vec<u8>>,
    finish_blob: Option<Vec<u8>>,
    state: PairingState,
    expires_at: i64,
}

/// A live (unexpired) pairing, else `NotFound`.
fn pairing(tx: &Transaction<'_>, nameplate: u32, now_ms: i64) -> Result<PairingRow, StoreError> {
    let row = tx
        .query_row(
            "SELECT creator, msg_a, joiner, join_blob, channel_id, finish_blob, state, expires_at
             FROM pairings WHERE nameplate = ?1",
            [nameplate],
            |r| {
                Ok((
                    PairingRow {
                        creator: r.get(0)?,
                        msg_a: r.get(1)?,
                        joiner: r.get(2)?,
                        join_blob: r.get(3)?,
                        channel_id: r.get(4)?,
                        finish_blob: r.get(5)?,
                        state: PairingState::Open,
                        expires_at: r.get(7)?,
                    },
                    r.get::<_, String>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((mut row, state)) = row else {
        return Err(StoreError::NotFound);
    };
    row.state = PairingState::parse(&state).ok_or_else(|| StoreError::Db("bad state".into()))?;
    if row.expires_at <= now_ms {
        return Err(StoreError::NotFound);
    }
    Ok(row)
}

fn count(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> Result<i64, StoreError> {
    Ok(tx.query_row(sql, p, |r| r.get(0))?)
}

#[async_trait]
impl RelayStore for SqliteStore {
    async fn ready(&self) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
        .map_err(|_| StoreError::Unavailable)?
    }

    async fn create_pairing(
        &self,
        auth: Auth,
        msg_a: Vec<u8>,
        now_ms: i64,
    ) -> Result<PairingCreated, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            register(tx, &auth.device, now_ms)?;
            let open = count(
                tx,
                "SELECT COUNT(*) FROM pairings WHERE creator = ?1 AND state = 'open' AND expires_at > ?2",
                params![&auth.device[..], now_ms],
            )?;
            let recent = count(
                tx,
                "SELECT COUNT(*) FROM pairings WHERE creator = ?1 AND created_at > ?2",
                params![&auth.device[..], now_ms - HOUR],
            )?;
            if open >= MAX_OPEN_PAIRINGS || recent >= MAX_CREATES_PER_HOUR {
                return Err(StoreError::Limited { retry_after_s: 60 });
            }
            let total = count(tx, "SELECT COUNT(*) FROM pairings", [])?;
            let expires_at = now_ms + PAIRING_TTL_MS;
            for _ in 0..64 {
                let np = random_nameplate(total);
                let n = tx.execute(
                    "INSERT OR IGNORE INTO pairings (nameplate, creator, msg_a, state, created_at, expires_at)
                     VALUES (?1, ?2, ?3, 'open', ?4, ?5)",
                    params![np, &auth.device[..], &msg_a, now_ms, expires_at],
                )?;
                if n == 1 {
                    return Ok(PairingCreated {
                        nameplate: np,
                        expires_at,
                    });
                }
            }
            Err(StoreError::Unavailable)
        })
        .await
    }

    async fn get_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        now_ms: i64,
    ) -> Result<PairingView, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let p = pairing(tx, nameplate, now_ms)?;
            let is_creator = p.creator == auth.device[..];
            let is_joiner = p.joiner.as_deref() == Some(&auth.device[..]);
            let mut view = PairingView {
                state: p.state,
                msg_a: p.msg_a,
                expires_at: p.expires_at,
                join: None,
                channel_id: None,
                finish: None,
            };
            if is_creator {
                view.join = p.join_blob;
            }
            if is_joiner && p.state == PairingState::Finished {
                view.channel_id = p.channel_id.map(to_array).transpose()?;
                view.finish = p.finish_blob;
                // The joiner has it: keep the row only for a short re-read grace.
                let until = p.expires_at.min(now_ms + READ_GRACE_MS);
                tx.execute(
                    "UPDATE pairings SET expires_at = ?1 WHERE nameplate = ?2",
                    params![until, nameplate],
                )?;
                view.expires_at = until;
            }
            Ok(view)
        })
        .await
    }

    async fn join_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        join: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let p = pairing(tx, nameplate, now_ms)?;
            if p.creator == auth.device[..] {
                return Err(StoreError::Forbidden);
            }
            if p.state != PairingState::Open {
                return Err(StoreError::Conflict);
            }
            let recent = count(
                tx,
                "SELECT COUNT(*) FROM pairings WHERE joiner = ?1 AND joined_at > ?2",
                params![&auth.device[..], now_ms - HOUR],
            )?;
            if recent >= MAX_JOINS_PER_HOUR {
                return Err(StoreError::Limited { retry_after_s: 60 });
            }
            register(tx, &auth.device, now_ms)?;
            tx.execute(
                "UPDATE pairings SET joiner = ?1, join_blob = ?2, joined_at = ?3, state = 'joined'
                 WHERE nameplate = ?4",
                params![&auth.device[..], &join, now_ms, nameplate],
            )?;
            Ok(())
        })
        .await
    }

    async fn finish_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        channel_id: ChannelId,
        finish: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let p = pairing(tx, nameplate, now_ms)?;
            if p.creator != auth.device[..] {
                return Err(StoreError::Forbidden);
            }
            let (PairingState::Joined, Some(joiner)) = (p.state, p.joiner) else {
                return Err(StoreError::Conflict);
            };
            let clash = count(
                tx,
                "SELECT COUNT(*) FROM channels WHERE channel_id = ?1
                 OR (therapist = ?2 AND patient = ?3 AND revoked_at IS NULL)",
                params![&channel_id[..], &auth.device[..], &joiner],
            )?;
            if clash > 0 {
                return Err(StoreError::Conflict);
            }
            tx.execute(
                "INSERT INTO channels (channel_id, therapist, patient, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![&channel_id[..], &auth.device[..], &joiner, now_ms],
            )?;
            tx.execute(
                "UPDATE pairings SET state = 'finished', channel_id = ?1, finish_blob = ?2, expires_at = ?3
                 WHERE nameplate = ?4",
                params![&channel_id[..], &finish, now_ms + FINISHED_TTL_MS, nameplate],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        now_ms: i64,
    ) -> Result<PairingState, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let p = pairing(tx, nameplate, now_ms)?;
            let is_joiner = p.joiner.as_deref() == Some(&auth.device[..]);
            if p.creator != auth.device[..] && !is_joiner {
                return Err(StoreError::Forbidden);
            }
            // A finished pairing still carries the joiner's finish message.
            if p.state == PairingState::Finished {
                return Err(StoreError::Conflict);
            }
            tx.execute(
                "UPDATE pairings SET state = 'aborted', join_blob = NULL WHERE nameplate = ?1",
                [nameplate],
            )?;
            Ok(PairingState::Aborted)
        })
        .await
    }

    async fn list_channels(&self, auth: Auth, now_ms: i64) -> Result<Vec<ChannelInfo>, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let mut stmt = tx.prepare(
                "SELECT channel_id FROM channels WHERE therapist = ?1 OR patient = ?1 ORDER BY created_at, channel_id",
            )?;
            let ids = stmt
                .query_map([&auth.device[..]], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let id: ChannelId = to_array(id)?;
                let (role, revocation) = membership(tx, &auth.device, &id)?;
                let pending = |dir: u8| {
                    count(
                        tx,
                        "SELECT COUNT(*) FROM envelopes WHERE channel_id = ?1 AND dir = ?2 AND expires_at > ?3",
                        params![&id[..], dir, now_ms],
                    )
                };
                out.push(ChannelInfo {
                    id,
                    role,
                    pending_for_me: pending(role.peer_dir())? as u64,
                    pending_from_me: pending(role.own_dir())? as u64,
                    revocation,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn push(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        envelopes: Vec<Vec<u8>>,
        now_ms: i64,
    ) -> Result<Vec<(u64, PushStatus)>, StoreError> {
        self.tx(move |tx, limits| {
            begin(tx, &auth, now_ms)?;
            let role = active_role(tx, &auth.device, &channel_id)?;
            let dir = role.own_dir();
            let checked = check_envelopes(&channel_id, dir, &envelopes)?;
            let expires_at = now_ms.saturating_add(limits.retention_ms);
            let mut results = Vec::with_capacity(checked.len());
            for ((seq, dig), body) in checked.into_iter().zip(envelopes.iter()) {
                let seq_i = seq as i64;
                let existing: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT digest FROM envelopes WHERE channel_id = ?1 AND dir = ?2 AND seq = ?3",
                        params![&channel_id[..], dir, seq_i],
                        |r| r.get(0),
                    )
                    .optional()?;
                let status = match existing {
                    None => {
                        tx.execute(
                            "INSERT INTO envelopes (channel_id, dir, seq, body, digest, stored_at, expires_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![&channel_id[..], dir, seq_i, body, &dig[..], now_ms, expires_at],
                        )?;
                        PushStatus::Stored
                    }
                    Some(d) if d == dig[..] => {
                        tx.execute(
                            "UPDATE envelopes SET expires_at = ?4 WHERE channel_id = ?1 AND dir = ?2 AND seq = ?3",
                            params![&channel_id[..], dir, seq_i, expires_at],
                        )?;
                        PushStatus::Duplicate
                    }
                    Some(_) => {
                        tx.execute(
                            "UPDATE envelopes SET body = ?4, digest = ?5, stored_at = ?6, expires_at = ?7
                             WHERE channel_id = ?1 AND dir = ?2 AND seq = ?3",
                            params![&channel_id[..], dir, seq_i, body, &dig[..], now_ms, expires_at],
                        )?;
                        PushStatus::Replaced
                    }
                };
                results.push((seq, status));
            }
            let (n, bytes): (i64, i64) = tx.query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM envelopes
                 WHERE channel_id = ?1 AND dir = ?2 AND expires_at > ?3",
                params![&channel_id[..], dir, now_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if n as u64 > limits.channel_quota || bytes as u64 > limits.channel_quota_bytes {
                return Err(StoreError::Quota);
            }
            Ok(results)
        })
        .await
    }

    async fn fetch(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<Fetched, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let role = active_role(tx, &auth.device, &channel_id)?;
            let from = i64::try_from(from_seq).unwrap_or(i64::MAX);
            let mut stmt = tx.prepare(
                "SELECT seq, body FROM envelopes
                 WHERE channel_id = ?1 AND dir = ?2 AND seq >= ?3 AND expires_at > ?4
                 ORDER BY seq LIMIT ?5",
            )?;
            let mut rows = stmt.query(params![
                &channel_id[..],
                role.peer_dir(),
                from,
                now_ms,
                limit as i64 + 1
            ])?;
            let mut out = Fetched {
                envelopes: Vec::new(),
                more: false,
            };
            let mut total = 0usize;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                let body: Vec<u8> = r.get(1)?;
                // Always return at least one, so a single large envelope moves.
                if out.envelopes.len() >= limit
                    || (!out.envelopes.is_empty() && total + body.len() > max_bytes)
                {
                    out.more = true;
                    break;
                }
                total += body.len();
                out.envelopes.push((seq as u64, body));
            }
            Ok(out)
        })
        .await
    }

    async fn ack(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        through: u64,
        seqs: Vec<u64>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let role = active_role(tx, &auth.device, &channel_id)?;
            let dir = role.peer_dir();
            let through = i64::try_from(through).unwrap_or(i64::MAX);
            let mut deleted = tx.execute(
                "DELETE FROM envelopes WHERE channel_id = ?1 AND dir = ?2 AND seq <= ?3",
                params![&channel_id[..], dir, through],
            )? as u64;
            let mut stmt = tx
                .prepare("DELETE FROM envelopes WHERE channel_id = ?1 AND dir = ?2 AND seq = ?3")?;
            for s in seqs {
                let s = i64::try_from(s).unwrap_or(i64::MAX);
                deleted += stmt.execute(params![&channel_id[..], dir, s])? as u64;
            }
            Ok(deleted)
        })
        .await
    }

    async fn revoke_channel(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        revoked_at: i64,
        statement: Vec<u8>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let (_, existing) = membership(tx, &auth.device, &channel_id)?;
            if !verify_revocation(&auth.device, &channel_id, revoked_at, &statement) {
                return Err(StoreError::Malformed);
            }
            if let Some(rev) = existing {
                return Ok(rev.revoked_at);
            }
            tx.execute(
                "UPDATE channels SET revoked_at = ?1, revoked_by = ?2, revocation = ?3 WHERE channel_id = ?4",
                params![revoked_at, &auth.device[..], &statement, &channel_id[..]],
            )?;
            tx.execute("DELETE FROM envelopes WHERE channel_id = ?1", [&channel_id[..]])?;
            Ok(revoked_at)
        })
        .await
    }

    async fn revoke_device(&self, auth: Auth, now_ms: i64) -> Result<i64, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            let active = count(
                tx,
                "SELECT COUNT(*) FROM channels WHERE (therapist = ?1 OR patient = ?1) AND revoked_at IS NULL",
                [&auth.device[..]],
            )?;
            if active > 0 {
                return Err(StoreError::Conflict);
            }
            tx.execute(
                "INSERT INTO devices (device_key, first_seen, revoked_at) VALUES (?1, ?2, ?2)
                 ON CONFLICT (device_key) DO UPDATE SET revoked_at = excluded.revoked_at",
                params![&auth.device[..], now_ms],
            )?;
            tx.execute(
                "UPDATE pairings SET state = 'aborted', join_blob = NULL
                 WHERE (creator = ?1 OR joiner = ?1) AND state IN ('open', 'joined')",
                [&auth.device[..]],
            )?;
            Ok(now_ms)
        })
        .await
    }

    async fn set_push_endpoint(
        &self,
        auth: Auth,
        subscription: Option<String>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.push_set(auth, subscription, now_ms).await
    }

    async fn push_endpoints(
        &self,
        peer_of: Option<(ChannelId, DeviceId)>,
        limit: usize,
    ) -> Result<Vec<(DeviceId, String)>, StoreError> {
        self.push_list(peer_of, limit).await
    }

    async fn drop_push_endpoint(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> Result<(), StoreError> {
        self.push_drop(device, subscription).await
    }

    async fn sweep(&self, now_ms: i64) -> Result<SweepStats, StoreError> {
        // Small batches, each its own transaction, so pushes are never
        // blocked for long behind a large expiry.
        let mut stats = SweepStats::default();
        loop {
            let n = self
                .tx(move |tx, _| {
                    Ok(tx.execute(
                        "DELETE FROM envelopes WHERE (channel_id, dir, seq) IN
                         (SELECT channel_id, dir, seq FROM envelopes WHERE expires_at <= ?1 LIMIT 1000)",
                        [now_ms],
                    )? as u64)
                })
                .await?;
            stats.envelopes += n;
            if n < 1000 {
                break;
            }
        }
        let (nonces, pairings, tombstones, queued) = self
            .tx(move |tx, limits| {
                let nonces =
                    tx.execute("DELETE FROM nonces WHERE expires_at <= ?1", [now_ms])? as u64;
                let pairings = tx.execute(
                    "DELETE FROM pairings WHERE MAX(expires_at, created_at + ?2) <= ?1",
                    params![now_ms, PAIRING_KEEP_MS],
                )? as u64;
                let tombstones = tx.execute(
                    "DELETE FROM channels WHERE revoked_at IS NOT NULL AND revoked_at <= ?1",
                    [now_ms.saturating_sub(limits.tombstone_ms)],
                )? as u64;
                let queued = count(tx, "SELECT COUNT(*) FROM envelopes", [])? as u64;
                Ok((nonces, pairings, tombstones, queued))
            })
            .await?;
        stats.nonces = nonces;
        stats.pairings = pairings;
        stats.tombstones = tombstones;
        stats.queued = queued;
        // Return freed pages so deleted ciphertext leaves the file.
        self.tx(|tx, _| {
            tx.execute_batch("PRAGMA incremental_vacuum")?;
            Ok(())
        })
        .await
        .ok();
        Ok(stats)
    }

    async fn counts(&self) -> Result<TableCounts, StoreError> {
        self.tx(|tx, _| {
            Ok(TableCounts {
                devices: count(tx, "SELECT COUNT(*) FROM devices", [])? as u64,
                nonces: count(tx, "SELECT COUNT(*) FROM nonces", [])? as u64,
                pairings: count(tx, "SELECT COUNT(*) FROM pairings", [])? as u64,
                channels: count(tx, "SELECT COUNT(*) FROM channels", [])? as u64,
                envelopes: count(tx, "SELECT COUNT(*) FROM envelopes", [])? as u64,
            })
        })
        .await
    }

    async fn state_digest(&self) -> Result<[u8; 32], StoreError> {
        self.tx(|tx, _| {
            let mut ctx = digest::Context::new(&digest::SHA256);
            for sql in [
                "SELECT quote(device_key), quote(first_seen), quote(revoked_at) FROM devices ORDER BY device_key",
                "SELECT quote(nameplate), quote(creator), quote(msg_a), quote(joiner), quote(join_blob), quote(joined_at),
                        quote(channel_id), quote(finish_blob), quote(state), quote(created_at), quote(expires_at)
                 FROM pairings ORDER BY nameplate",
                "SELECT quote(channel_id), quote(therapist), quote(patient), quote(created_at), quote(revoked_at),
                        quote(revoked_by), quote(revocation) FROM channels ORDER BY channel_id",
                "SELECT quote(channel_id), quote(dir), quote(seq), quote(body), quote(digest), quote(stored_at),
                        quote(expires_at) FROM envelopes ORDER BY channel_id, dir, seq",
            ] {
                let mut stmt = tx.prepare(sql)?;
                let cols = stmt.column_count();
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    for i in 0..cols {
                        let v: String = r.get(i)?;
                        ctx.update(v.as_bytes());
                        ctx.update(b"\x1f");
                    }
                    ctx.update(b"\x1e");
                }
                ctx.update(b"\x1d");
            }
            let mut out = [0u8; 32];
            out.copy_from_slice(ctx.finish().as_ref());
            Ok(out)
        })
        .await
    }
}
