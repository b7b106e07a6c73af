//! The `push_endpoints` table on PostgreSQL (issue 16 §1): one row per
//! device. Created idempotently (`IF NOT EXISTS`, under the migration lock)
//! beside the versioned schema, so it needs no schema-version step of its own.

use super::{begin, exec, query, register_locked, to_array, PostgresStore};
use crate::store::{Auth, ChannelId, DeviceId, StoreError};

const TABLE: &str = "
CREATE TABLE IF NOT EXISTS push_endpoints (
  device_key   BYTEA PRIMARY KEY,
  subscription TEXT NOT NULL,
  updated_at   BIGINT NOT NULL
);";

impl PostgresStore {
    pub(super) async fn ensure_push_table(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.query_one(
            "SELECT pg_advisory_xact_lock($1)",
            &[&super::MIGRATION_LOCK],
        )
        .await?;
        tx.batch_execute(TABLE).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn push_set(
        &self,
        auth: Auth,
        subscription: Option<String>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        begin(&tx, &auth, now_ms).await?;
        register_locked(&tx, &auth.device, now_ms).await?;
        let dev = &auth.device[..];
        let had = exec(
            &tx,
            "DELETE FROM push_endpoints WHERE device_key = $1",
            &[&dev],
        )
        .await?
            > 0;
        if let Some(sub) = subscription {
            exec(
                &tx,
                "INSERT INTO push_endpoints (device_key, subscription, updated_at) VALUES ($1, $2, $3)",
                &[&dev, &sub, &now_ms],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(had)
    }

    pub(super) async fn push_list(
        &self,
        peer_of: Option<(ChannelId, DeviceId)>,
        limit: usize,
    ) -> Result<Vec<(DeviceId, String)>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = match peer_of {
            Some((cid, sender)) => {
                let (cid, sender) = (&cid[..], &sender[..]);
                query(
                    &tx,
                    "SELECT p.device_key, p.subscription FROM channels c
                     JOIN push_endpoints p ON p.device_key =
                          CASE WHEN c.therapist = $2 THEN c.patient ELSE c.therapist END
                     LEFT JOIN devices d ON d.device_key = p.device_key
                     WHERE c.channel_id = $1 AND c.revoked_at IS NULL
                       AND (c.therapist = $2 OR c.patient = $2) AND d.revoked_at IS NULL
                     LIMIT $3",
                    &[&cid, &sender, &limit],
                )
                .await?
            }
            None => {
                query(
                    &tx,
                    "SELECT p.device_key, p.subscription FROM push_endpoints p
                     LEFT JOIN devices d ON d.device_key = p.device_key
                     WHERE d.revoked_at IS NULL ORDER BY p.device_key LIMIT $1",
                    &[&limit],
                )
                .await?
            }
        };
        tx.commit().await?;
        rows.into_iter()
            .map(|r| Ok((to_array(r.get::<_, Vec<u8>>(0))?, r.get::<_, String>(1))))
            .collect()
    }

    pub(super) async fn push_drop(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let dev = &device[..];
        exec(
            &tx,
            "DELETE FROM push_endpoints WHERE device_key = $1 AND subscription = $2",
            &[&dev, &subscription],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
