//! Where outbox rows go and how far each sealed envelope got (ADR 0005 §2,
//! schema v4). Sync decides what to do; this module holds the SQL.
//!
//! `sync_route` routes an outbox row to one channel, or keeps it on this
//! device (channel `-`). `sync_sent` is the delivery ledger: every envelope
//! sealed for a channel, by send-chain `seq`, until the peer confirms it;
//! then the envelope is dropped and only its timestamps stay.
//!
//! Every function runs inside the caller's transaction, so the crash-safety
//! of a round (seal, commit, push; fetch, apply, commit, ack) is the
//! caller's transaction boundaries, unchanged by this module.

use rusqlite::{params, OptionalExtension};

use crate::error::Result;
use crate::store::{ReadTx, WriteTx};

/// The `sync_route.channel` value of an outbox row that never leaves this
/// device.
const ON_DEVICE: &str = "-";

/// Where an outbox row goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Not routed yet: a patient's one channel takes it at the next round.
    Unrouted,
    /// Never leaves this device.
    OnDevice,
    /// To this channel.
    Channel(String),
}

impl Route {
    fn from_column(channel: Option<String>) -> Route {
        match channel {
            None => Route::Unrouted,
            Some(c) if c == ON_DEVICE => Route::OnDevice,
            Some(c) => Route::Channel(c),
        }
    }
}

/// How far one outbox row got, from its route and its sealed envelopes
/// (any envelope counts: a lost one is sealed again under a new seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub route: Route,
    /// The relay took one of its envelopes.
    pub pushed: bool,
    /// The peer's device confirmed one.
    pub delivered: bool,
    /// The peer opened it.
    pub read: bool,
}

/// One outbox row with its progress, for the outbound views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRow {
    /// The kind's real name (also for hidden kinds).
    pub kind: String,
    pub ref_id: String,
    pub created_at_millis: i64,
    pub progress: Progress,
}

/// A sealed envelope due at the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEnvelope {
    pub seq: i64,
    pub envelope: Vec<u8>,
    /// Pushed before: this push is a resend.
    pub was_pushed: bool,
    pub resends: i64,
}

// ---- routing (`sync_route`) ----

/// Routes outbox row `outbox_seq` to `channel`; a row already routed keeps
/// its route.
pub fn route(tx: &WriteTx<'_>, outbox_seq: i64, channel: &str) -> Result<()> {
    tx.connection().execute(
        "INSERT OR IGNORE INTO sync_route (outbox_seq, channel) VALUES (?1, ?2)",
        params![outbox_seq, channel],
    )?;
    Ok(())
}

/// Keeps outbox row `outbox_seq` on this device, whatever its route was.
pub fn keep_on_device(tx: &WriteTx<'_>, outbox_seq: i64) -> Result<()> {
    tx.connection().execute(
        "INSERT OR REPLACE INTO sync_route (outbox_seq, channel) VALUES (?1, '-')",
        [outbox_seq],
    )?;
    Ok(())
}

/// Keeps every unsent, unrouted outbox row on this device.
pub fn keep_unsent_on_device(tx: &WriteTx<'_>) -> Result<()> {
    tx.connection().execute(
        "INSERT OR IGNORE INTO sync_route (outbox_seq, channel)
         SELECT seq, '-' FROM outbox WHERE sent_at IS NULL",
        [],
    )?;
    Ok(())
}

/// Routes every unsent, unrouted outbox row at pairing: to `channel` when
/// `share_history`, or when it is of `alert_kind` and `share_alerts`, or
/// when it is of `always_kind`; otherwise keeps it on this device.
pub fn route_unsent_at_pairing(
    tx: &WriteTx<'_>,
    channel: &str,
    share_history: bool,
    share_alerts: bool,
    alert_kind: &str,
    always_kind: &str,
) -> Result<()> {
    tx.connection().execute(
        "INSERT OR IGNORE INTO sync_route (outbox_seq, channel)
         SELECT seq, CASE
             WHEN ?2 THEN ?1
             WHEN kind = ?4 AND ?3 THEN ?1
             WHEN kind = ?5 THEN ?1
             ELSE '-' END
         FROM outbox WHERE sent_at IS NULL",
        params![
            channel,
            share_history,
            share_alerts,
            tx.kind_label(alert_kind),
            tx.kind_label(always_kind)
        ],
    )?;
    Ok(())
}

// ---- the delivery ledger (`sync_sent`) ----

/// Records an envelope sealed for `channel` under send-chain `seq`, for the
/// outbox row `outbox_seq` (`None` for a standalone receipt).
pub fn insert_sealed(
    tx: &WriteTx<'_>,
    channel: &str,
    seq: u64,
    outbox_seq: Option<i64>,
    event_id: &str,
    envelope: &[u8],
) -> Result<()> {
    tx.connection()
        .prepare_cached(
            "INSERT INTO sync_sent (channel, seq, outbox_seq, event_id, envelope, sealed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            channel,
            seq as i64,
            outbox_seq,
            event_id,
            envelope,
            tx.now_millis()
        ])?;
    Ok(())
}

/// Marks every undelivered envelope of `channel` up to `through` delivered
/// and drops its bytes; returns how many.
pub fn mark_delivered_through(tx: &WriteTx<'_>, channel: &str, through: u64) -> Result<usize> {
    Ok(tx
        .connection()
        .prepare_cached(
            "UPDATE sync_sent SET delivered_at = ?3, envelope = x'', resend_at = NULL
             WHERE channel = ?1 AND delivered_at IS NULL AND seq <= ?2",
        )?
        .execute(params![channel, through as i64, tx.now_millis()])?)
}

/// Marks envelope `seq` of `channel` delivered (if it was not) and drops
/// its bytes; returns how many (0 or 1).
pub fn mark_delivered(tx: &WriteTx<'_>, channel: &str, seq: u64) -> Result<usize> {
    Ok(tx
        .connection()
        .prepare_cached(
            "UPDATE sync_sent SET delivered_at = ?3, envelope = x'', resend_at = NULL
             WHERE channel = ?1 AND seq = ?2 AND delivered_at IS NULL",
        )?
        .execute(params![channel, seq as i64, tx.now_millis()])?)
}

/// Makes every undelivered envelope of `channel` below `seq` due for a
/// resend now (gaps below what the peer has).
pub fn schedule_resend_below(tx: &WriteTx<'_>, channel: &str, seq: u64) -> Result<()> {
    tx.connection()
        .prepare_cached(
            "UPDATE sync_sent SET resend_at = ?3 WHERE channel = ?1 AND delivered_at IS NULL AND seq < ?2",
        )?
        .execute(params![channel, seq as i64, tx.now_millis()])?;
    Ok(())
}

/// Makes undelivered envelope `seq` of `channel` due for a resend now.
pub fn schedule_resend(tx: &WriteTx<'_>, channel: &str, seq: u64) -> Result<()> {
    tx.connection()
        .prepare_cached(
            "UPDATE sync_sent SET resend_at = ?3 WHERE channel = ?1 AND seq = ?2 AND delivered_at IS NULL",
        )?
        .execute(params![channel, seq as i64, tx.now_millis()])?;
    Ok(())
}

/// The peer lost the key of envelope `seq`: its outbox row becomes unsent
/// again (sealed under a new seq at the next round) and the envelope is
/// closed. Returns whether there was such an undelivered event envelope.
pub fn requeue_lost(tx: &WriteTx<'_>, channel: &str, seq: u64) -> Result<bool> {
    let c = tx.connection();
    let ob: Option<Option<i64>> = c
        .query_row(
            "SELECT outbox_seq FROM sync_sent WHERE channel = ?1 AND seq = ?2 AND delivered_at IS NULL",
            params![channel, seq as i64],
            |row| row.get(0),
        )
        .optional()?;
    let Some(Some(ob)) = ob else {
        return Ok(false);
    };
    c.execute(
        "UPDATE outbox SET sent_at = NULL WHERE seq = ?1",
        params![ob],
    )?;
    c.execute(
        "UPDATE sync_sent SET delivered_at = ?3, envelope = x'' WHERE channel = ?1 AND seq = ?2",
        params![channel, seq as i64, tx.now_millis()],
    )?;
    Ok(true)
}

/// The peer opened event `event_id` sent on `channel`.
pub fn mark_read(tx: &WriteTx<'_>, channel: &str, event_id: &str) -> Result<()> {
    tx.connection()
        .prepare_cached(
            "UPDATE sync_sent SET read_at = ?3 WHERE channel = ?1 AND event_id = ?2 AND read_at IS NULL",
        )?
        .execute(params![channel, event_id, tx.now_millis()])?;
    Ok(())
}

/// Undelivered envelopes of `channel` never pushed, or due for a resend at
/// `now_millis`, in seq order.
pub fn due_for_push(tx: &ReadTx<'_>, channel: &str, now_millis: i64) -> Result<Vec<DueEnvelope>> {
    let mut st = tx.connection().prepare_cached(
        "SELECT seq, envelope, pushed_at IS NOT NULL, resends FROM sync_sent
         WHERE channel = ?1 AND delivered_at IS NULL
           AND (pushed_at IS NULL OR resend_at <= ?2) ORDER BY seq",
    )?;
    let rows = st
        .query_map(params![channel, now_millis], |r| {
            Ok(DueEnvelope {
                seq: r.get(0)?,
                envelope: r.get(1)?,
                was_pushed: r.get(2)?,
                resends: r.get(3)?,
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records a push of envelope `seq` of `channel`: first push time, the
/// resend count, and the next resend time (none for receipts: they are
/// cumulative).
pub fn mark_pushed(
    tx: &WriteTx<'_>,
    channel: &str,
    seq: i64,
    resends: i64,
    resend_at_millis: i64,
) -> Result<()> {
    tx.connection()
        .prepare_cached(
            // Receipts are cumulative: they are re-pushed only to fill a
            // gap the peer reports, never on a timer, or two idle devices
            // would trade receipts about receipts forever.
            "UPDATE sync_sent SET pushed_at = COALESCE(pushed_at, ?3), resends = ?5,
                    resend_at = CASE WHEN event_id LIKE 'receipt:%' THEN NULL ELSE ?4 END
             WHERE channel = ?1 AND seq = ?2",
        )?
        .execute(params![
            channel,
            seq,
            tx.now_millis(),
            resend_at_millis,
            resends
        ])?;
    Ok(())
}

/// Crypto-shreds `channel`'s side of the queue: every envelope sealed for
/// it, and the unsent outbox rows routed to it.
pub fn forget_channel(tx: &WriteTx<'_>, channel: &str) -> Result<()> {
    let c = tx.connection();
    c.execute("DELETE FROM sync_sent WHERE channel = ?1", params![channel])?;
    c.execute(
        "DELETE FROM outbox WHERE sent_at IS NULL AND seq IN (SELECT outbox_seq FROM sync_route WHERE channel = ?1)",
        params![channel],
    )?;
    Ok(())
}

/// Deletes everything this store queued or sealed for `channel`, sent or
/// not: the last step of forgetting a patient who left (the clinic's
/// export was written first). Returns the outbox rows deleted.
pub fn purge_channel(tx: &WriteTx<'_>, channel: &str) -> Result<u64> {
    let c = tx.connection();
    c.execute("DELETE FROM sync_sent WHERE channel = ?1", params![channel])?;
    let n = c.execute(
        "DELETE FROM outbox WHERE seq IN (SELECT outbox_seq FROM sync_route WHERE channel = ?1)",
        params![channel],
    )?;
    c.execute(
        "DELETE FROM sync_route WHERE channel = ?1",
        params![channel],
    )?;
    Ok(n as u64)
}

// ---- counts and views ----

/// Own events not yet confirmed by a peer: sealed and undelivered (receipts
/// aside), or still in the outbox and not kept on this device.
pub fn pending_outbound_count(tx: &ReadTx<'_>) -> Result<u64> {
    Ok(tx.connection().query_row(
        "SELECT (SELECT COUNT(*) FROM sync_sent WHERE delivered_at IS NULL AND event_id NOT LIKE 'receipt:%')
              + (SELECT COUNT(*) FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
                 WHERE o.sent_at IS NULL AND (r.channel IS NULL OR r.channel <> '-'))",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Undelivered event envelopes (receipts aside) sealed for `channel`.
pub fn undelivered_count(tx: &ReadTx<'_>, channel: &str) -> Result<u64> {
    let n: i64 = tx.connection().query_row(
        "SELECT COUNT(*) FROM sync_sent WHERE channel = ?1 AND delivered_at IS NULL AND event_id NOT LIKE 'receipt:%'",
        params![channel],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Unsent, unrouted outbox rows of `kind`.
pub fn unsent_unrouted_count(tx: &ReadTx<'_>, kind: &str) -> Result<u64> {
    let n: i64 = tx.connection().query_row(
        "SELECT COUNT(*) FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
         WHERE o.kind = ?1 AND o.sent_at IS NULL AND r.channel IS NULL",
        [tx.kind_label(kind)],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Every outbox row with its progress, in seq order. Reads no sealed body.
pub fn outbound_rows(tx: &ReadTx<'_>) -> Result<Vec<OutboundRow>> {
    let mut st = tx.connection().prepare(
        "SELECT o.kind, o.ref_id, o.created_at, r.channel,
                (SELECT MAX(s.pushed_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                (SELECT MAX(s.delivered_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                (SELECT MAX(s.read_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq)
         FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq ORDER BY o.seq",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(OutboundRow {
                // The column holds a keyed label for hidden kinds.
                kind: tx.kind_name(&r.get::<_, String>(0)?),
                ref_id: r.get(1)?,
                created_at_millis: r.get(2)?,
                progress: progress(r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The progress of outbox row `kind`/`ref_id`; `None` when there is none.
pub fn outbox_progress(tx: &ReadTx<'_>, kind: &str, ref_id: &str) -> Result<Option<Progress>> {
    Ok(tx
        .connection()
        .query_row(
            "SELECT r.channel,
                (SELECT MAX(s.pushed_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                (SELECT MAX(s.delivered_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq),
                (SELECT MAX(s.read_at IS NOT NULL) FROM sync_sent s WHERE s.outbox_seq = o.seq)
             FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
             WHERE o.kind = ?1 AND o.ref_id = ?2",
            params![tx.kind_label(kind), ref_id],
            |r| Ok(progress(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?)
}

/// `MAX(...)` over no envelopes is NULL: not pushed, delivered or read.
fn progress(
    route: Option<String>,
    pushed: Option<bool>,
    delivered: Option<bool>,
    read: Option<bool>,
) -> Progress {
    Progress {
        route: Route::from_column(route),
        pushed: pushed == Some(true),
        delivered: delivered == Some(true),
        read: read == Some(true),
    }
}
