//! The durable, ordered sync outbox (schema v3).
//!
//! Every event meant for the other side (a submitted check-in, a safety
//! alert) is written here in the same transaction as the record it reports,
//! so an event can never be persisted without being queued, nor queued
//! without being persisted. Sync (issue 5) drains it in `seq` order.
//!
//! Columns: `seq` (monotonic, never reused: AUTOINCREMENT), `kind`, `ref_id`
//! (the record id), `priority`, `created_at`, `body` (the sealed event JSON,
//! bound to `(outbox, kind, ref_id)`), `sent_at` (NULL until the relay took it).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::crypto::Aad;
use crate::error::Result;
use crate::store::{Damaged, ReadTx, WriteTx, HIDDEN_KINDS};

pub const OUTBOX_TABLE: &str = "outbox";

/// Delivery priority. Alerts go before routine events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Normal = 0,
    High = 1,
}

impl Priority {
    fn from_i64(n: i64) -> Priority {
        if n >= 1 {
            Priority::High
        } else {
            Priority::Normal
        }
    }
}

/// One queued event, opened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    pub seq: i64,
    pub kind: String,
    pub ref_id: String,
    pub priority: Priority,
    pub created_at_millis: i64,
    pub sent_at_millis: Option<i64>,
    /// The event as JSON (plaintext once opened; never log it).
    #[serde(skip)]
    pub body: Vec<u8>,
}

fn aad<'a>(kind: &'a str, ref_id: &'a str) -> Aad<'a> {
    Aad {
        table: OUTBOX_TABLE,
        kind,
        id: ref_id,
    }
}

/// Queues `body` once per `(kind, ref_id)`; returns its sequence number.
/// Enqueuing the same event again returns the existing number (idempotent).
pub fn enqueue(
    tx: &WriteTx<'_>,
    kind: &str,
    ref_id: &str,
    priority: Priority,
    body: &[u8],
) -> Result<i64> {
    crate::domain::check_token("outbox kind", kind, 32)?;
    crate::domain::check_token("outbox ref_id", ref_id, 64)?;
    let conn = tx.connection();
    // A hidden kind is stored under its keyed label, at priority 0 in the
    // clear column: a high priority alone would tell of an alert.
    let label = tx.kind_label(kind);
    let hidden = HIDDEN_KINDS.contains(&kind);
    let column_priority = if hidden { 0 } else { priority as i64 };
    let existing: Option<i64> = conn
        .prepare_cached("SELECT seq FROM outbox WHERE kind = ?1 AND ref_id = ?2")?
        .query_row(params![label, ref_id], |r| r.get(0))
        .optional()?;
    if let Some(seq) = existing {
        return Ok(seq);
    }
    let sealed = tx.seal(aad(kind, ref_id), body)?;
    conn.prepare_cached(
        "INSERT INTO outbox (kind, ref_id, priority, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        label,
        ref_id,
        column_priority,
        tx.now_millis(),
        sealed
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Marks every entry up to and including `seq` as handed to the relay.
pub fn mark_sent_through(tx: &WriteTx<'_>, seq: i64) -> Result<usize> {
    Ok(tx.connection().execute(
        "UPDATE outbox SET sent_at = ?1 WHERE seq <= ?2 AND sent_at IS NULL",
        params![tx.now_millis(), seq],
    )?)
}

fn read_rows(tx: &ReadTx<'_>, sql: &str) -> Result<Vec<OutboxEntry>> {
    let (out, damaged) = read_rows_with(tx, sql, [])?;
    strict(out, damaged)
}

/// Strict for sync: skipping an event would break the order the peer
/// relies on (ADR 0002 §4).
fn strict(out: Vec<OutboxEntry>, damaged: Vec<Damaged>) -> Result<Vec<OutboxEntry>> {
    match damaged.into_iter().next() {
        Some(d) => Err(crate::Error::corrupt(
            d.kind,
            "a queued event does not open",
        )),
        None => Ok(out),
    }
}

fn read_rows_with(
    tx: &ReadTx<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<(Vec<OutboxEntry>, Vec<Damaged>)> {
    let mut stmt = tx.connection().prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let (mut out, mut damaged) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next()? {
        let kind = tx.kind_name(&row.get::<_, String>(1)?);
        let ref_id: String = row.get(2)?;
        let sealed: Vec<u8> = row.get(5)?;
        let created_at_millis: i64 = row.get(4)?;
        let body = match tx.open(aad(&kind, &ref_id), &sealed) {
            Ok(b) => b,
            Err(_) => {
                damaged.push(Damaged {
                    table: OUTBOX_TABLE.into(),
                    kind,
                    id: ref_id,
                    created_at_millis,
                    updated_at_millis: created_at_millis,
                });
                continue;
            }
        };
        let priority = if HIDDEN_KINDS.contains(&kind.as_str()) {
            Priority::High
        } else {
            Priority::from_i64(row.get(3)?)
        };
        out.push(OutboxEntry {
            seq: row.get(0)?,
            priority,
            created_at_millis,
            sent_at_millis: row.get(6)?,
            kind,
            ref_id,
            body,
        });
    }
    Ok((out, damaged))
}

const SELECT: &str = "SELECT seq, kind, ref_id, priority, created_at, body, sent_at FROM outbox";

/// Unsent entries in sequence order (the order sync must keep).
pub fn pending(tx: &ReadTx<'_>) -> Result<Vec<OutboxEntry>> {
    read_rows(tx, &format!("{SELECT} WHERE sent_at IS NULL ORDER BY seq"))
}

/// Unsent entries routed to `channel` (sync's `sync_route` table), plus,
/// when `unrouted` is set (a patient's one channel), entries without a
/// route. Filtered before opening, so events that never leave the device
/// are not decrypted at every sync.
pub fn pending_for_channel(
    tx: &WriteTx<'_>,
    channel: &str,
    unrouted: bool,
) -> Result<Vec<OutboxEntry>> {
    let read = tx.as_read();
    let (out, damaged) = read_rows_with(
        &read,
        "SELECT o.seq, o.kind, o.ref_id, o.priority, o.created_at, o.body, o.sent_at
         FROM outbox o LEFT JOIN sync_route r ON r.outbox_seq = o.seq
         WHERE o.sent_at IS NULL AND (r.channel = ?1 OR (?2 AND r.channel IS NULL))
         ORDER BY o.seq",
        params![channel, unrouted],
    )?;
    strict(out, damaged)
}

/// Every entry, sent or not, in sequence order.
pub fn all(tx: &ReadTx<'_>) -> Result<Vec<OutboxEntry>> {
    read_rows(tx, &format!("{SELECT} ORDER BY seq"))
}

/// Every entry that opens, plus where the others are (views and export).
pub fn all_lenient(tx: &ReadTx<'_>) -> Result<(Vec<OutboxEntry>, Vec<Damaged>)> {
    read_rows_with(tx, &format!("{SELECT} ORDER BY seq"), [])
}

/// Marks entry `seq` as sealed for its channel (sync's per-entry form of
/// [`mark_sent_through`]).
pub fn mark_sent(tx: &WriteTx<'_>, seq: i64) -> Result<()> {
    tx.connection().execute(
        "UPDATE outbox SET sent_at = ?2 WHERE seq = ?1",
        params![seq, tx.now_millis()],
    )?;
    Ok(())
}

/// One queued event of a kind, with the channel it is routed to, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedEvent {
    /// The outbox sequence (monotonic, never reused).
    pub seq: i64,
    pub channel: String,
    pub ref_id: String,
    pub created_at_millis: i64,
    /// The event as JSON (plaintext; never log it).
    pub body: Vec<u8>,
}

/// Every entry of `kind` routed to a channel (sent or not), in sequence
/// order, opened. Strict: an entry that does not open fails the read.
pub fn routed_events(tx: &ReadTx<'_>, kind: &str) -> Result<Vec<RoutedEvent>> {
    routed_events_after(tx, kind, i64::MIN)
}

/// [`routed_events`] with an outbox sequence above `after` only: the
/// entries queued since a reader last looked (sequences are never reused).
pub fn routed_events_after(tx: &ReadTx<'_>, kind: &str, after: i64) -> Result<Vec<RoutedEvent>> {
    let mut st = tx.connection().prepare_cached(
        "SELECT o.seq, r.channel, o.ref_id, o.created_at, o.body FROM outbox o
         JOIN sync_route r ON r.outbox_seq = o.seq WHERE o.kind = ?1 AND o.seq > ?2
         ORDER BY o.seq",
    )?;
    let rows = st
        .query_map(params![tx.kind_label(kind), after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (seq, channel, ref_id, created_at_millis, sealed) in rows {
        let body = tx.open(aad(kind, &ref_id), &sealed)?;
        out.push(RoutedEvent {
            seq,
            channel,
            ref_id,
            created_at_millis,
            body,
        });
    }
    Ok(out)
}

/// What changes whenever a routed entry is written, read without opening it
/// (cache fingerprints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutedStamp<'r> {
    pub seq: i64,
    pub created_at_millis: i64,
    /// The first `head_len` bytes of the sealed body: version byte and
    /// random nonce, renewed by every seal.
    pub head: &'r [u8],
    pub channel: &'r str,
}

/// Calls `each` for every entry of `kind` routed to a channel, in sequence
/// order, with its [`RoutedStamp`].
pub fn routed_stamps(
    tx: &ReadTx<'_>,
    kind: &str,
    head_len: i64,
    mut each: impl FnMut(RoutedStamp<'_>),
) -> Result<()> {
    let mut st = tx.connection().prepare_cached(
        "SELECT o.seq, o.created_at, substr(o.body, 1, ?2), r.channel FROM outbox o
         JOIN sync_route r ON r.outbox_seq = o.seq WHERE o.kind = ?1 ORDER BY o.seq",
    )?;
    let mut rows = st.query(params![tx.kind_label(kind), head_len])?;
    while let Some(r) = rows.next()? {
        let channel: String = r.get(3)?;
        each(RoutedStamp {
            seq: r.get(0)?,
            created_at_millis: r.get(1)?,
            head: r.get_ref(2)?.as_blob().unwrap_or_default(),
            channel: &channel,
        });
    }
    Ok(())
}
