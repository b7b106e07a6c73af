//! The `push_endpoints` table on SQLite (issue 16 §1): one row per device.
//! Created idempotently beside the versioned schema, so it needs no
//! schema-version step of its own.

use rusqlite::{params, Connection};

use super::{begin, register, to_array, SqliteStore};
use crate::store::{Auth, ChannelId, DeviceId, StoreError};

pub(super) const TABLE: &str = "
CREATE TABLE IF NOT EXISTS push_endpoints (
  device_key   BLOB PRIMARY KEY,
  subscription TEXT NOT NULL,
  updated_at   INTEGER NOT NULL
);";

pub(super) fn ensure_table(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(TABLE)?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn push_set(
        &self,
        auth: Auth,
        subscription: Option<String>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.tx(move |tx, _| {
            begin(tx, &auth, now_ms)?;
            register(tx, &auth.device, now_ms)?;
            let had = tx.execute(
                "DELETE FROM push_endpoints WHERE device_key = ?1",
                [&auth.device[..]],
            )? > 0;
            if let Some(sub) = subscription {
                tx.execute(
                    "INSERT INTO push_endpoints (device_key, subscription, updated_at) VALUES (?1, ?2, ?3)",
                    params![&auth.device[..], sub, now_ms],
                )?;
            }
            Ok(had)
        })
        .await
    }

    pub(super) async fn push_list(
        &self,
        peer_of: Option<(ChannelId, DeviceId)>,
        limit: usize,
    ) -> Result<Vec<(DeviceId, String)>, StoreError> {
        self.tx(move |tx, _| {
            let limit = limit.min(i64::MAX as usize) as i64;
            let mut out = Vec::new();
            let mut push = |r: &rusqlite::Row<'_>| -> Result<(), StoreError> {
                out.push((to_array(r.get::<_, Vec<u8>>(0)?)?, r.get::<_, String>(1)?));
                Ok(())
            };
            match peer_of {
                Some((cid, sender)) => {
                    let mut st = tx.prepare_cached(
                        "SELECT p.device_key, p.subscription FROM channels c
                         JOIN push_endpoints p ON p.device_key =
                              CASE WHEN c.therapist = ?2 THEN c.patient ELSE c.therapist END
                         LEFT JOIN devices d ON d.device_key = p.device_key
                         WHERE c.channel_id = ?1 AND c.revoked_at IS NULL
                           AND (c.therapist = ?2 OR c.patient = ?2) AND d.revoked_at IS NULL
                         LIMIT ?3",
                    )?;
                    let mut rows = st.query(params![&cid[..], &sender[..], limit])?;
                    while let Some(r) = rows.next()? {
                        push(r)?;
                    }
                }
                None => {
                    let mut st = tx.prepare_cached(
                        "SELECT p.device_key, p.subscription FROM push_endpoints p
                         LEFT JOIN devices d ON d.device_key = p.device_key
                         WHERE d.revoked_at IS NULL ORDER BY p.device_key LIMIT ?1",
                    )?;
                    let mut rows = st.query([limit])?;
                    while let Some(r) = rows.next()? {
                        push(r)?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn push_drop(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> Result<(), StoreError> {
        self.tx(move |tx, _| {
            tx.execute(
                "DELETE FROM push_endpoints WHERE device_key = ?1 AND subscription = ?2",
                params![&device[..], subscription],
            )?;
            Ok(())
        })
        .await
    }
}
