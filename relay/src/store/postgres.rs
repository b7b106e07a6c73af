//! PostgreSQL backend: a deadpool of connections, every operation one
//! transaction of prepared statements. Row locks take the place of SQLite's
//! single writer: the channel row serializes pushes (quota) and revocation,
//! the pairing row serializes join/finish, the device row the per-device
//! pairing limits. Several relay processes may share one database.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use ring::digest;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::*;

mod push;

const SCHEMA_VERSION: i32 = 1;
/// Arbitrary constant naming the migration lock.
const MIGRATION_LOCK: i64 = 0x636f_6c6c_6162_7a31;

const SCHEMA_V1: &str = "
CREATE TABLE devices (
  device_key  BYTEA PRIMARY KEY,
  first_seen  BIGINT NOT NULL,
  revoked_at  BIGINT
);
CREATE TABLE nonces (
  device_key  BYTEA NOT NULL,
  nonce       BYTEA NOT NULL,
  expires_at  BIGINT NOT NULL,
  PRIMARY KEY (device_key, nonce)
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
CREATE TABLE pairings (
  nameplate   BIGINT PRIMARY KEY,
  creator     BYTEA NOT NULL,
  msg_a       BYTEA NOT NULL,
  joiner      BYTEA,
  join_blob   BYTEA,
  joined_at   BIGINT,
  channel_id  BYTEA,
  finish_blob BYTEA,
  state       TEXT NOT NULL CHECK (state IN ('open','joined','finished','aborted')),
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX pairings_expiry ON pairings (expires_at);
CREATE INDEX pairings_by_creator ON pairings (creator, created_at);
CREATE INDEX pairings_by_joiner ON pairings (joiner, joined_at);
CREATE TABLE channels (
  channel_id  BYTEA PRIMARY KEY,
  therapist   BYTEA NOT NULL,
  patient     BYTEA NOT NULL,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT,
  revoked_by  BYTEA,
  revocation  BYTEA
);
CREATE UNIQUE INDEX channels_one_per_pair ON channels (therapist, patient) WHERE revoked_at IS NULL;
CREATE INDEX channels_by_therapist ON channels (therapist);
CREATE INDEX channels_by_patient ON channels (patient);
CREATE TABLE envelopes (
  channel_id  BYTEA NOT NULL,
  dir         SMALLINT NOT NULL,
  seq         BIGINT NOT NULL,
  body        BYTEA NOT NULL,
  digest      BYTEA NOT NULL,
  stored_at   BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  PRIMARY KEY (channel_id, dir, seq)
);
CREATE INDEX envelopes_expiry ON envelopes (expires_at);
";

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // Only the SQLSTATE: server messages can quote key values.
        match e.code() {
            Some(c)
                if *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                    || c.code().starts_with("08")
                    || c.code().starts_with("57") =>
            {
                StoreError::Unavailable
            }
            Some(c) => StoreError::Db(format!("sqlstate:{}", c.code())),
            None => StoreError::Unavailable,
        }
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

pub struct PostgresStore {
    pool: Pool,
    limits: StoreLimits,
}

impl PostgresStore {
    /// Connect and migrate (under an advisory lock, so concurrent starts are safe).
    pub async fn open(url: &str, limits: StoreLimits) -> Result<Self, StoreError> {
        let pg: tokio_postgres::Config = url
            .parse()
            .map_err(|_| StoreError::Db("invalid postgres url".into()))?;
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|_| StoreError::Db("pool".into()))?;
        let store = Self { pool, limits };
        store.migrate().await?;
        store.ensure_push_table().await?;
        Ok(store)
    }

    async fn conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|_| StoreError::Unavailable)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .await?;
        let v: Option<i32> = tx
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .await?
            .get(0);
        match v.unwrap_or(0) {
            0 => {
                tx.batch_execute(SCHEMA_V1).await?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&SCHEMA_VERSION],
                )
                .await?;
            }
            SCHEMA_VERSION => {}
            _ => {
                return Err(StoreError::Db(
                    "schema_version newer than this build".into(),
                ))
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query(&st, params).await?)
}

async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&st, params).await?)
}

async fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&st, params).await?)
}

async fn count(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<i64, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&st, params).await?.get(0))
}

const DEVICE_SQL: &str = "SELECT revoked_at FROM devices WHERE device_key = $1";
const NONCE_SQL: &str = "INSERT INTO nonces (device_key, nonce, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING";

/// Refuse a revoked device, then record the nonce (a conflict is a replay).
async fn begin(tx: &Transaction<'_>, auth: &Auth, now_ms: i64) -> Result<(), StoreError> {
    let dev = &auth.device[..];
    let r = query_opt(tx, DEVICE_SQL, &[&dev]).await?;
    check_device(r)?;
    let n = exec(
        tx,
        NONCE_SQL,
        &[&dev, &&auth.nonce[..], &(now_ms + NONCE_TTL_MS)],
    )
    .await?;
    check_nonce(n)
}

fn check_device(row: Option<Row>) -> Result<(), StoreError> {
    match row {
        Some(r) if r.get::<_, Option<i64>>(0).is_some() => Err(StoreError::DeviceRevoked),
        _ => Ok(()),
    }
}

fn check_nonce(inserted: u64) -> Result<(), StoreError> {
    if inserted == 0 {
        return Err(StoreError::Replayed);
    }
    Ok(())
}

/// `begin` and the channel membership in ONE round trip: the three
/// statements are pipelined (sent together, executed in order by the
/// server). The results are judged in the order `begin` then `membership`
/// would have produced them; on any refusal the caller's transaction rolls
/// back, so the extra work the server did for a refused request (a nonce
/// row, a row lock) leaves no trace.
async fn begin_with_channel(
    tx: &Transaction<'_>,
    auth: &Auth,
    cid: &ChannelId,
    lock: Lock,
    now_ms: i64,
) -> Result<(Role, Option<Revocation>), StoreError> {
    let dev = &auth.device[..];
    let st_dev = tx.prepare_cached(DEVICE_SQL).await?;
    let st_nonce = tx.prepare_cached(NONCE_SQL).await?;
    let st_ch = tx.prepare_cached(membership_sql(lock)).await?;
    let nonce = &auth.nonce[..];
    let expires = now_ms + NONCE_TTL_MS;
    let cid_ref = &cid[..];
    let p_dev: [&(dyn ToSql + Sync); 1] = [&dev];
    let p_nonce: [&(dyn ToSql + Sync); 3] = [&dev, &nonce, &expires];
    let p_ch: [&(dyn ToSql + Sync); 1] = [&cid_ref];
    let (d, n, c) = tokio::join!(
        biased;
        tx.query_opt(&st_dev, &p_dev),
        tx.execute(&st_nonce, &p_nonce),
        tx.query_opt(&st_ch, &p_ch),
    );
    check_device(d?)?;
    check_nonce(n?)?;
    membership_row(c?, &auth.device)
}

/// Register the device and lock its row: per-device limits count under it.
async fn register_locked(
    tx: &Transaction<'_>,
    device: &DeviceId,
    now_ms: i64,
) -> Result<(), StoreError> {
    let dev = &device[..];
    exec(
        tx,
        "INSERT INTO devices (device_key, first_seen) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&dev, &now_ms],
    )
    .await?;
    query(
        tx,
        "SELECT 1 FROM devices WHERE device_key = $1 FOR UPDATE",
        &[&dev],
    )
    .await?;
    Ok(())
}

fn to_array<const N: usize>(v: Vec<u8>) -> Result<[u8; N], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Db("corrupt key length".into()))
}

#[derive(Clone, Copy)]
enum Lock {
    Share,
    Update,
}

fn membership_sql(lock: Lock) -> &'static str {
    match lock {
        Lock::Share => "SELECT therapist, patient, revoked_at, revoked_by, revocation FROM channels WHERE channel_id = $1 FOR SHARE",
        Lock::Update => "SELECT therapist, patient, revoked_at, revoked_by, revocation FROM channels WHERE channel_id = $1 FOR UPDATE",
    }
}

async fn membership(
    tx: &Transaction<'_>,
    device: &DeviceId,
    cid: &ChannelId,
    lock: Lock,
) -> Result<(Role, Option<Revocation>), StoreError> {
    let row = query_opt(tx, membership_sql(lock), &[&&cid[..]]).await?;
    membership_row(row, device)
}

fn membership_row(
    row: Option<Row>,
    device: &DeviceId,
) -> Result<(Role, Option<Revocation>), StoreError> {
    let Some(row) = row else {
        return Err(StoreError::Forbidden);
    };
    let therapist: Vec<u8> = row.get(0);
    let patient: Vec<u8> = row.get(1);
    let role = if therapist == device[..] {
        Role::Therapist
    } else if patient == device[..] {
        Role::Patient
    } else {
        return Err(StoreError::Forbidden);
    };
    let revocation = match row.get::<_, Option<i64>>(2) {
        Some(revoked_at) => Some(Revocation {
            revoked_at,
            by: to_array(
                row.get::<_, Option<Vec<u8>>>(3)
                    .unwrap_or_else(|| vec![0; 32]),
            )?,
            statement: row.get::<_, Option<Vec<u8>>>(4).unwrap_or_default(),
        }),
        None => None,
    };
    Ok((role, revocation))
}

fn active(m: (Role, Option<Revocation>)) -> Result<Role, StoreError> {
    match m {
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

/// A live pairing, row-locked for the rest of the transaction.
async fn pairing(
    tx: &Transaction<'_>,
    nameplate: u32,
    now_ms: i64,
) -> Result<PairingRow, StoreError> {
    let Some(r) = query_opt(
        tx,
        "SELECT creator, msg_a, joiner, join_blob, channel_id, finish_blob, state, expires_at
         FROM pairings WHERE nameplate = $1 FOR UPDATE",
        &[&i64::from(nameplate)],
    )
    .await?
    else {
        return Err(StoreError::NotFound);
    };
    let row = PairingRow {
        creator: r.get(0),
        msg_a: r.get(1),
        joiner: r.get(2),
        join_blob: r.get(3),
        channel_id: r.get(4),
        finish_blob: r.get(5),
        state: PairingState::parse(r.get(6)).ok_or_else(|| StoreError::Db("bad state".into()))?,
        expires_at: r.get(7),
    };
    if row.expires_at <= now_ms {
        return Err(StoreError::NotFound);
    }
    Ok(row)
}

fn seq_i64(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

#[async_trait]
impl RelayStore for PostgresStore {
    async fn ready(&self) -> Result<(), StoreError> {
        let c = self.conn().await?;
        c.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn create_pairing(
        &self,
        auth: Auth,
        msg_a: Vec<u8>,
        now_ms: i64,
    ) -> Result<PairingCreated, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        register_locked(&tx, &auth.device, now_ms).await?;
        let dev = &auth.device[..];
        let open = count(
            &tx,
            "SELECT COUNT(*) FROM pairings WHERE creator = $1 AND state = 'open' AND expires_at > $2",
            &[&dev, &now_ms],
        )
        .await?;
        let recent = count(
            &tx,
            "SELECT COUNT(*) FROM pairings WHERE creator = $1 AND created_at > $2",
            &[&dev, &(now_ms - HOUR)],
        )
        .await?;
        if open >= MAX_OPEN_PAIRINGS || recent >= MAX_CREATES_PER_HOUR {
            return Err(StoreError::Limited { retry_after_s: 60 });
        }
        let total = count(&tx, "SELECT COUNT(*) FROM pairings", &[]).await?;
        let expires_at = now_ms + PAIRING_TTL_MS;
        for _ in 0..64 {
            let np = random_nameplate(total);
            let n = exec(
                &tx,
                "INSERT INTO pairings (nameplate, creator, msg_a, state, created_at, expires_at)
                 VALUES ($1, $2, $3, 'open', $4, $5) ON CONFLICT DO NOTHING",
                &[&i64::from(np), &dev, &msg_a, &now_ms, &expires_at],
            )
            .await?;
            if n == 1 {
                tx.commit().await?;
                return Ok(PairingCreated {
                    nameplate: np,
                    expires_at,
                });
            }
        }
        Err(StoreError::Unavailable)
    }

    async fn get_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        now_ms: i64,
    ) -> Result<PairingView, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let p = pairing(&tx, nameplate, now_ms).await?;
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
            let until = p.expires_at.min(now_ms + READ_GRACE_MS);
            exec(
                &tx,
                "UPDATE pairings SET expires_at = $1 WHERE nameplate = $2",
                &[&until, &i64::from(nameplate)],
            )
            .await?;
            view.expires_at = until;
        }
        tx.commit().await?;
        Ok(view)
    }

    async fn join_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        join: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let p = pairing(&tx, nameplate, now_ms).await?;
        if p.creator == auth.device[..] {
            return Err(StoreError::Forbidden);
        }
        if p.state != PairingState::Open {
            return Err(StoreError::Conflict);
        }
        register_locked(&tx, &auth.device, now_ms).await?;
        let dev = &auth.device[..];
        let recent = count(
            &tx,
            "SELECT COUNT(*) FROM pairings WHERE joiner = $1 AND joined_at > $2",
            &[&dev, &(now_ms - HOUR)],
        )
        .await?;
        if recent >= MAX_JOINS_PER_HOUR {
            return Err(StoreError::Limited { retry_after_s: 60 });
        }
        exec(
            &tx,
            "UPDATE pairings SET joiner = $1, join_blob = $2, joined_at = $3, state = 'joined'
             WHERE nameplate = $4",
            &[&dev, &join, &now_ms, &i64::from(nameplate)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        channel_id: ChannelId,
        finish: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let p = pairing(&tx, nameplate, now_ms).await?;
        if p.creator != auth.device[..] {
            return Err(StoreError::Forbidden);
        }
        let (PairingState::Joined, Some(joiner)) = (p.state, p.joiner) else {
            return Err(StoreError::Conflict);
        };
        let cid = &channel_id[..];
        let dev = &auth.device[..];
        // The unique indexes decide races between processes.
        let st = tx
            .prepare_cached(
                "INSERT INTO channels (channel_id, therapist, patient, created_at) VALUES ($1, $2, $3, $4)",
            )
            .await?;
        if let Err(e) = tx.execute(&st, &[&cid, &dev, &joiner, &now_ms]).await {
            return Err(if is_unique_violation(&e) {
                StoreError::Conflict
            } else {
                e.into()
            });
        }
        exec(
            &tx,
            "UPDATE pairings SET state = 'finished', channel_id = $1, finish_blob = $2, expires_at = $3
             WHERE nameplate = $4",
            &[&cid, &finish, &(now_ms + FINISHED_TTL_MS), &i64::from(nameplate)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_pairing(
        &self,
        auth: Auth,
        nameplate: u32,
        now_ms: i64,
    ) -> Result<PairingState, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let p = pairing(&tx, nameplate, now_ms).await?;
        let is_joiner = p.joiner.as_deref() == Some(&auth.device[..]);
        if p.creator != auth.device[..] && !is_joiner {
            return Err(StoreError::Forbidden);
        }
        if p.state == PairingState::Finished {
            return Err(StoreError::Conflict);
        }
        exec(
            &tx,
            "UPDATE pairings SET state = 'aborted', join_blob = NULL WHERE nameplate = $1",
            &[&i64::from(nameplate)],
        )
        .await?;
        tx.commit().await?;
        Ok(PairingState::Aborted)
    }

    async fn list_channels(&self, auth: Auth, now_ms: i64) -> Result<Vec<ChannelInfo>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let dev = &auth.device[..];
        let rows = query(
            &tx,
            "SELECT c.channel_id, c.therapist = $1,
                    c.revoked_at, c.revoked_by, c.revocation,
                    (SELECT COUNT(*) FROM envelopes e WHERE e.channel_id = c.channel_id AND e.dir = 1 AND e.expires_at > $2),
                    (SELECT COUNT(*) FROM envelopes e WHERE e.channel_id = c.channel_id AND e.dir = 2 AND e.expires_at > $2)
             FROM channels c WHERE c.therapist = $1 OR c.patient = $1
             ORDER BY c.created_at, c.channel_id",
            &[&dev, &now_ms],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let role = if r.get::<_, bool>(1) {
                Role::Therapist
            } else {
                Role::Patient
            };
            let revocation = match r.get::<_, Option<i64>>(2) {
                Some(revoked_at) => Some(Revocation {
                    revoked_at,
                    by: to_array(
                        r.get::<_, Option<Vec<u8>>>(3)
                            .unwrap_or_else(|| vec![0; 32]),
                    )?,
                    statement: r.get::<_, Option<Vec<u8>>>(4).unwrap_or_default(),
                }),
                None => None,
            };
            let (t2p, p2t) = (r.get::<_, i64>(5) as u64, r.get::<_, i64>(6) as u64);
            let (for_me, from_me) = match role {
                Role::Therapist => (p2t, t2p),
                Role::Patient => (t2p, p2t),
            };
            out.push(ChannelInfo {
                id: to_array(r.get(0))?,
                role,
                pending_for_me: for_me,
                pending_from_me: from_me,
                revocation,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn push(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        envelopes: Vec<Vec<u8>>,
        now_ms: i64,
    ) -> Result<Vec<(u64, PushStatus)>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // The direction the headers claim, so the inserts can be pipelined
        // with the authentication; it is checked against the role below.
        let claimed = envelopes
            .first()
            .and_then(|e| Header::parse(e).ok())
            .map(|h| h.direction as u8)
            .and_then(|d| Some((d, check_envelopes(&channel_id, d, &envelopes).ok()?)));
        let Some((claimed_dir, checked)) = claimed else {
            // Malformed whatever the role: refuse in the usual order.
            let role =
                active(begin_with_channel(&tx, &auth, &channel_id, Lock::Update, now_ms).await?)?;
            check_envelopes(&channel_id, role.own_dir(), &envelopes)?;
            return Err(StoreError::Malformed);
        };
        let dir = claimed_dir as i16;
        let expires_at = now_ms.saturating_add(self.limits.retention_ms);
        let cid = &channel_id[..];
        let dev = &auth.device[..];
        let nonce = &auth.nonce[..];
        let nonce_expires = now_ms + NONCE_TTL_MS;
        let st_dev = tx.prepare_cached(DEVICE_SQL).await?;
        let st_nonce = tx.prepare_cached(NONCE_SQL).await?;
        // FOR UPDATE: pushes to one channel serialize, so the quota holds.
        let st_ch = tx.prepare_cached(membership_sql(Lock::Update)).await?;
        // The CTE reads the row as it was before this statement: its digest
        // tells stored (none), duplicate (equal) and replaced (different).
        let st_ins = tx
            .prepare_cached(
                "WITH old AS (SELECT digest FROM envelopes WHERE channel_id = $1 AND dir = $2 AND seq = $3)
                 INSERT INTO envelopes AS e (channel_id, dir, seq, body, digest, stored_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (channel_id, dir, seq) DO UPDATE SET
                   body = excluded.body,
                   digest = excluded.digest,
                   stored_at = CASE WHEN e.digest = excluded.digest THEN e.stored_at ELSE excluded.stored_at END,
                   expires_at = excluded.expires_at
                 RETURNING (SELECT digest FROM old)",
            )
            .await?;
        let st_quota = tx
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0)::BIGINT FROM envelopes
                 WHERE channel_id = $1 AND dir = $2 AND expires_at > $3",
            )
            .await?;
        let seqs: Vec<i64> = checked.iter().map(|(s, _)| seq_i64(*s)).collect();
        let digs: Vec<&[u8]> = checked.iter().map(|(_, d)| &d[..]).collect();
        let params: Vec<[&(dyn ToSql + Sync); 7]> = (0..checked.len())
            .map(|i| {
                [
                    &cid as &(dyn ToSql + Sync),
                    &dir,
                    &seqs[i],
                    &envelopes[i],
                    &digs[i],
                    &now_ms,
                    &expires_at,
                ]
            })
            .collect();
        // One round trip for the whole operation but the commit: the
        // statements are sent together and run in this order.
        let p_dev: [&(dyn ToSql + Sync); 1] = [&dev];
        let p_nonce: [&(dyn ToSql + Sync); 3] = [&dev, &nonce, &nonce_expires];
        let p_ch: [&(dyn ToSql + Sync); 1] = [&cid];
        let p_quota: [&(dyn ToSql + Sync); 3] = [&cid, &dir, &now_ms];
        let (d, n, ch, inserted, quota) = tokio::join!(
            biased;
            tx.query_opt(&st_dev, &p_dev),
            tx.execute(&st_nonce, &p_nonce),
            tx.query_opt(&st_ch, &p_ch),
            futures_util::future::join_all(params.iter().map(|p| tx.query_one(&st_ins, p))),
            tx.query_one(&st_quota, &p_quota),
        );
        // Judged in the order of the unpipelined checks.
        check_device(d?)?;
        check_nonce(n?)?;
        let role = active(membership_row(ch?, &auth.device)?)?;
        if role.own_dir() != claimed_dir {
            return Err(StoreError::Malformed);
        }
        let mut results = Vec::with_capacity(checked.len());
        for ((seq, dig), row) in checked.iter().zip(inserted) {
            let old: Option<Vec<u8>> = row?.get(0);
            let status = match old {
                None => PushStatus::Stored,
                Some(d) if d == dig[..] => PushStatus::Duplicate,
                Some(_) => PushStatus::Replaced,
            };
            results.push((*seq, status));
        }
        let quota = quota?;
        let (n, bytes): (i64, i64) = (quota.get(0), quota.get(1));
        if n as u64 > self.limits.channel_quota || bytes as u64 > self.limits.channel_quota_bytes {
            return Err(StoreError::Quota);
        }
        tx.commit().await?;
        Ok(results)
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
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let role = active(begin_with_channel(&tx, &auth, &channel_id, Lock::Share, now_ms).await?)?;
        let rows = query(
            &tx,
            "SELECT seq, body FROM envelopes
             WHERE channel_id = $1 AND dir = $2 AND seq >= $3 AND expires_at > $4
             ORDER BY seq LIMIT $5",
            &[
                &&channel_id[..],
                &(role.peer_dir() as i16),
                &seq_i64(from_seq),
                &now_ms,
                &(limit as i64 + 1),
            ],
        )
        .await?;
        let mut out = Fetched {
            envelopes: Vec::new(),
            more: false,
        };
        let mut total = 0usize;
        for r in rows {
            let seq: i64 = r.get(0);
            let body: Vec<u8> = r.get(1);
            if out.envelopes.len() >= limit
                || (!out.envelopes.is_empty() && total + body.len() > max_bytes)
            {
                out.more = true;
                break;
            }
            total += body.len();
            out.envelopes.push((seq as u64, body));
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn ack(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        through: u64,
        seqs: Vec<u64>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let role = active(begin_with_channel(&tx, &auth, &channel_id, Lock::Share, now_ms).await?)?;
        let seqs: Vec<i64> = seqs.into_iter().map(seq_i64).collect();
        let deleted = exec(
            &tx,
            "DELETE FROM envelopes WHERE channel_id = $1 AND dir = $2 AND (seq <= $3 OR seq = ANY($4))",
            &[
                &&channel_id[..],
                &(role.peer_dir() as i16),
                &seq_i64(through),
                &seqs,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn revoke_channel(
        &self,
        auth: Auth,
        channel_id: ChannelId,
        revoked_at: i64,
        statement: Vec<u8>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let (_, existing) = membership(&tx, &auth.device, &channel_id, Lock::Update).await?;
        if !verify_revocation(&auth.device, &channel_id, revoked_at, &statement) {
            return Err(StoreError::Malformed);
        }
        if let Some(rev) = existing {
            tx.commit().await?;
            return Ok(rev.revoked_at);
        }
        let cid = &channel_id[..];
        exec(
            &tx,
            "UPDATE channels SET revoked_at = $1, revoked_by = $2, revocation = $3 WHERE channel_id = $4",
            &[&revoked_at, &&auth.device[..], &statement, &cid],
        )
        .await?;
        exec(&tx, "DELETE FROM envelopes WHERE channel_id = $1", &[&cid]).await?;
        tx.commit().await?;
        Ok(revoked_at)
    }

    async fn revoke_device(&self, auth: Auth, now_ms: i64) -> Result<i64, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        let dev = &auth.device[..];
        register_locked(&tx, &auth.device, now_ms).await?;
        let active = count(
            &tx,
            "SELECT COUNT(*) FROM channels WHERE (therapist = $1 OR patient = $1) AND revoked_at IS NULL",
            &[&dev],
        )
        .await?;
        if active > 0 {
            return Err(StoreError::Conflict);
        }
        exec(
            &tx,
            "UPDATE devices SET revoked_at = $2 WHERE device_key = $1",
            &[&dev, &now_ms],
        )
        .await?;
        exec(
            &tx,
            "UPDATE pairings SET state = 'aborted', join_blob = NULL
             WHERE (creator = $1 OR joiner = $1) AND state IN ('open', 'joined')",
            &[&dev],
        )
        .await?;
        tx.commit().await?;
        Ok(now_ms)
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
        let mut stats = SweepStats::default();
        let c = self.conn().await?;
        // Autocommit batches: concurrent sweepers just find less to delete.
        loop {
            let n = c
                .execute(
                    "DELETE FROM envelopes WHERE (channel_id, dir, seq) IN
                     (SELECT channel_id, dir, seq FROM envelopes WHERE expires_at <= $1 LIMIT 1000)",
                    &[&now_ms],
                )
                .await?;
            stats.envelopes += n;
            if n < 1000 {
                break;
            }
        }
        stats.nonces = c
            .execute("DELETE FROM nonces WHERE expires_at <= $1", &[&now_ms])
            .await?;
        stats.pairings = c
            .execute(
                "DELETE FROM pairings WHERE GREATEST(expires_at, created_at + $2) <= $1",
                &[&now_ms, &PAIRING_KEEP_MS],
            )
            .await?;
        stats.tombstones = c
            .execute(
                "DELETE FROM channels WHERE revoked_at IS NOT NULL AND revoked_at <= $1",
                &[&now_ms.saturating_sub(self.limits.tombstone_ms)],
            )
            .await?;
        let q: i64 = c
            .query_one("SELECT COUNT(*) FROM envelopes", &[])
            .await?
            .get(0);
        stats.queued = q as u64;
        Ok(stats)
    }

    async fn counts(&self) -> Result<TableCounts, StoreError> {
        let c = self.conn().await?;
        let r = c
            .query_one(
                "SELECT (SELECT COUNT(*) FROM devices), (SELECT COUNT(*) FROM nonces),
                        (SELECT COUNT(*) FROM pairings), (SELECT COUNT(*) FROM channels),
                        (SELECT COUNT(*) FROM envelopes)",
                &[],
            )
            .await?;
        let g = |i: usize| r.get::<_, i64>(i) as u64;
        Ok(TableCounts {
            devices: g(0),
            nonces: g(1),
            pairings: g(2),
            channels: g(3),
            envelopes: g(4),
        })
    }

    async fn state_digest(&self) -> Result<[u8; 32], StoreError> {
        let mut c = self.conn().await?;
        // One snapshot for all four tables.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let mut ctx = digest::Context::new(&digest::SHA256);
        for table in ["devices", "pairings", "channels", "envelopes"] {
            let rows = tx
                .query(
                    &format!("SELECT t::text FROM {table} t ORDER BY t::text"),
                    &[],
                )
                .await?;
            for r in rows {
                ctx.update(r.get::<_, &str>(0).as_bytes());
                ctx.update(b"\x1e");
            }
            ctx.update(b"\x1d");
        }
        tx.commit().await?;
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Ok(out)
    }
}
