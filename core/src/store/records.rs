//! The typed record API that every later capability stores through.
//!
//! A record type names its kind once (`Record::KIND`); the store seals its
//! JSON form bound to `(records, kind, id)`. Tables of their own (outbox,
//! delivery) live in `store/` too and seal with `WriteTx::seal` /
//! `ReadTx::open` under the same binding rule: SQL and decryption contexts
//! do not leave this module.

use std::borrow::Cow;

use ring::hmac;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::crypto::{Aad, SealError, StoreKeys};
use crate::error::{json_error_reason, Error, Result};

/// A value kept sealed in the store.
pub trait Record: Serialize + DeserializeOwned {
    /// Stable kind name: lowercase token, part of every ciphertext's binding.
    const KIND: &'static str;
}

/// A record as read back, with its store metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<R> {
    pub id: String,
    pub created_at_millis: i64,
    pub updated_at_millis: i64,
    pub value: R,
}

/// An undecoded record: sealed bytes opened, JSON not yet parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub kind: String,
    pub id: String,
    pub created_at_millis: i64,
    pub updated_at_millis: i64,
    pub body: Vec<u8>,
}

impl RawRecord {
    /// This record's place, for the `damaged` list.
    pub fn damaged(&self) -> Damaged {
        Damaged {
            table: RECORDS_TABLE.to_string(),
            kind: self.kind.clone(),
            id: self.id.clone(),
            created_at_millis: self.created_at_millis,
            updated_at_millis: self.updated_at_millis,
        }
    }
}

/// A sealed value that could not be read back: it failed authentication
/// (tampered or damaged on disk) or its plaintext is not the expected JSON.
/// Only where it was, never any content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damaged {
    /// `records`, `outbox`, `consents` or `profile`.
    pub table: String,
    /// The record kind (the real name, also for hidden kinds).
    pub kind: String,
    pub id: String,
    pub created_at_millis: i64,
    pub updated_at_millis: i64,
}

impl Damaged {
    /// What the audit log keeps: the kind's column label (so a hidden kind
    /// stays hidden in the clear audit table) and the random record id.
    pub(crate) fn audit_detail(&self, keys: &StoreKeys) -> String {
        serde_json::json!({
            "table": self.table,
            "kind": kind_label(keys, &self.kind),
            "id": self.id,
        })
        .to_string()
    }
}

/// Kinds (records and outbox) whose name alone tells of a clinical event:
/// a safety alert and a therapist's acknowledgement of one. Their `kind`
/// column holds a keyed label instead (ADR 0001 §7); the sealed value is
/// still bound to the real name.
pub const HIDDEN_KINDS: &[&str] = &["safety_alert", "ack", "alert_ack"];

const LABEL_PREFIX: &str = "k:";

/// The `kind` column value for `kind`: the name itself, or for a hidden
/// kind `k:` and 24 hex digits of HMAC-SHA256 under the store's label key.
/// `:` is not allowed in kind names, so a label never equals a name.
pub fn kind_label<'k>(keys: &StoreKeys, kind: &'k str) -> Cow<'k, str> {
    if !HIDDEN_KINDS.contains(&kind) {
        return Cow::Borrowed(kind);
    }
    let mut ctx = hmac::Context::with_key(&keys.label);
    ctx.update(b"collabzium kind label v1\0");
    ctx.update(kind.as_bytes());
    let tag = ctx.sign();
    let mut out = String::with_capacity(LABEL_PREFIX.len() + 24);
    out.push_str(LABEL_PREFIX);
    for b in &tag.as_ref()[..12] {
        out.push_str(&format!("{b:02x}"));
    }
    Cow::Owned(out)
}

/// The kind name behind a `kind` column value (inverse of [`kind_label`]).
/// An unknown label comes back as it is.
pub fn kind_name(keys: &StoreKeys, column: &str) -> String {
    if column.starts_with(LABEL_PREFIX) {
        for k in HIDDEN_KINDS {
            if kind_label(keys, k) == column {
                return (*k).to_string();
            }
        }
    }
    column.to_string()
}

pub(crate) const RECORDS_TABLE: &str = "records";

const UPSERT_RECORD: &str =
    "INSERT INTO records (kind, id, created_at, updated_at, body, change_seq)
     VALUES (?1, ?2, ?3, ?3, ?4, ?5)
     ON CONFLICT (kind, id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body,
         change_seq = excluded.change_seq";

/// `meta` key of the store's change sequence (schema v6).
const CHANGE_SEQ_KEY: &str = "change_seq";

/// `meta` key prefix of the last change sequence that deleted a record of
/// a kind; the rest is the kind's column label, so hidden kinds stay hidden.
const DELETED_KEY_PREFIX: &str = "records_deleted:";

/// Takes the next change sequence for a write transaction that is starting.
pub(in crate::store) fn next_change_seq(conn: &Connection) -> Result<i64> {
    let next: Option<i64> = conn
        .prepare_cached(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?1 RETURNING value",
        )?
        .query_row([CHANGE_SEQ_KEY], |r| r.get(0))
        .optional()?;
    match next {
        Some(n) => Ok(n),
        None => {
            // Every v6 store has the row; recreate it rather than fail.
            conn.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, 1)")?
                .execute([CHANGE_SEQ_KEY])?;
            Ok(1)
        }
    }
}

/// Prefix of device-local numbers in `meta`.
const LOCAL_PREFIX: &str = "local.";

fn meta_int(conn: &Connection, key: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0))
}

pub(crate) fn seal_error(kind: &str, e: SealError) -> Error {
    Error::corrupt(kind, e.to_string())
}

pub(crate) fn decode<R: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<R> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(kind, json_error_reason(&e)))
}

fn encode<R: Serialize>(kind: &str, value: &R) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::Internal(format!("cannot encode {kind}: {}", json_error_reason(&e))))
}

/// A write transaction. All writes go through one of these, serialized by
/// the store's single writer connection.
pub struct WriteTx<'a> {
    pub(crate) tx: Transaction<'a>,
    pub(crate) keys: &'a StoreKeys,
    pub(crate) now: i64,
    /// This transaction's change sequence: one more than the last committed
    /// one, stamped on every record it writes (see [`ReadTx::change_seq`]).
    pub(crate) seq: i64,
}

impl<'a> WriteTx<'a> {
    /// The transaction's notion of "now", from the store's clock.
    pub fn now_millis(&self) -> i64 {
        self.now
    }

    /// The change sequence this transaction commits as.
    pub fn change_seq(&self) -> i64 {
        self.seq
    }

    /// SQL stays inside `store/`: other modules call its typed functions.
    pub(in crate::store) fn connection(&self) -> &Connection {
        &self.tx
    }

    pub(in crate::store) fn seal(&self, aad: Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.keys
            .sealer
            .seal(aad, plaintext)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Inserts or replaces a record under `id`.
    pub fn put<R: Record>(&self, id: &str, value: &R) -> Result<()> {
        self.put_raw(R::KIND, id, &encode(R::KIND, value)?)
    }

    /// Inserts a new record under a fresh random id and returns the id.
    pub fn insert<R: Record>(&self, value: &R) -> Result<String> {
        let id = crate::crypto::random_id();
        self.put(&id, value)?;
        Ok(id)
    }

    pub fn put_raw(&self, kind: &str, id: &str, body: &[u8]) -> Result<()> {
        self.put_raw_many(kind, std::iter::once((id, body)))
    }

    /// Inserts or replaces many records of one kind with one prepared
    /// statement: the path for bulk work such as applying a sync batch.
    pub fn put_raw_many<'b>(
        &self,
        kind: &str,
        items: impl IntoIterator<Item = (&'b str, &'b [u8])>,
    ) -> Result<()> {
        crate::domain::check_token("record kind", kind, 32)?;
        let label = kind_label(self.keys, kind);
        let mut stmt = self.tx.prepare_cached(UPSERT_RECORD)?;
        let mut sealed = Vec::new();
        for (id, body) in items {
            crate::domain::check_token("record id", id, 64)?;
            self.keys
                .sealer
                .seal_into(
                    Aad {
                        table: RECORDS_TABLE,
                        kind,
                        id,
                    },
                    body,
                    &mut sealed,
                )
                .map_err(|e| Error::Internal(e.to_string()))?;
            stmt.execute(params![label, id, self.now, sealed, self.seq])?;
        }
        Ok(())
    }

    pub fn get<R: Record>(&self, id: &str) -> Result<Option<Stored<R>>> {
        get_record(&self.tx, self.keys, id)
    }

    /// Returns whether a record was there. A deletion is noted per kind
    /// with this transaction's sequence ([`ReadTx::deleted_seq`]).
    pub fn delete(&self, kind: &str, id: &str) -> Result<bool> {
        let label = kind_label(self.keys, kind);
        let n = self.tx.execute(
            "DELETE FROM records WHERE kind = ?1 AND id = ?2",
            params![label, id],
        )?;
        if n > 0 {
            self.tx
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![format!("{DELETED_KEY_PREFIX}{label}"), self.seq])?;
        }
        Ok(n > 0)
    }

    /// Sets a device-local number (see [`ReadTx::local_number`]).
    pub fn set_local_number(&self, name: &str, value: i64) -> Result<()> {
        crate::domain::check_token("local number", name, 32)?;
        self.tx
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![format!("{LOCAL_PREFIX}{name}"), value])?;
        Ok(())
    }

    /// Appends a security event to the audit chain.
    pub fn audit(&self, event: crate::audit::AuditEvent, detail: &str) -> Result<()> {
        super::audit_append(&self.tx, self.keys, self.now, event, detail)
    }

    /// Reads inside this transaction (sees its own uncommitted writes).
    pub fn as_read(&self) -> ReadTx<'_> {
        ReadTx {
            conn: &self.tx,
            keys: self.keys,
        }
    }

    pub fn list<R: Record>(&self) -> Result<Vec<Stored<R>>> {
        self.as_read().list()
    }

    /// The `kind` column value for `kind` (see [`kind_label`]).
    pub fn kind_label<'k>(&self, kind: &'k str) -> Cow<'k, str> {
        kind_label(self.keys, kind)
    }
}

/// What changes whenever a record is written, read without opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowStamp<'r> {
    pub rowid: i64,
    pub updated_at_millis: i64,
    /// The first `head_len` bytes of the sealed body: version byte and
    /// random nonce, renewed by every write.
    pub head: &'r [u8],
}

/// A consistent read snapshot on one of the reader connections.
pub struct ReadTx<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) keys: &'a StoreKeys,
}

impl ReadTx<'_> {
    /// A device-local bookkeeping number (e.g. when the last backup was
    /// saved): kept in `meta`, so it is not a record, never exported and
    /// never carried by a backup into another store. Plain, not sealed:
    /// only numbers that say nothing about the person belong here.
    pub fn local_number(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
            .query_row([format!("{LOCAL_PREFIX}{name}")], |r| r.get::<_, i64>(0))
            .optional()?)
    }

    /// SQL stays inside `store/`: other modules call its typed functions.
    pub(in crate::store) fn connection(&self) -> &Connection {
        self.conn
    }

    pub(in crate::store) fn open(&self, aad: Aad<'_>, envelope: &[u8]) -> Result<Vec<u8>> {
        self.keys
            .sealer
            .open(aad, envelope)
            .map_err(|e| seal_error(aad.kind, e))
    }

    pub fn get<R: Record>(&self, id: &str) -> Result<Option<Stored<R>>> {
        get_record(self.conn, self.keys, id)
    }

    /// The `kind` column value for `kind` (see [`kind_label`]).
    pub fn kind_label<'k>(&self, kind: &'k str) -> Cow<'k, str> {
        kind_label(self.keys, kind)
    }

    /// The kind name behind a `kind` column value.
    pub fn kind_name(&self, column: &str) -> String {
        kind_name(self.keys, column)
    }

    /// Every record of `R`'s kind; fails on the first one that does not
    /// open. For state that must be whole (keys, channels): see ADR 0002.
    pub fn list<R: Record>(&self) -> Result<Vec<Stored<R>>> {
        self.list_raw(R::KIND)?
            .into_iter()
            .map(|raw| {
                Ok(Stored {
                    value: decode(R::KIND, &raw.body)?,
                    id: raw.id,
                    created_at_millis: raw.created_at_millis,
                    updated_at_millis: raw.updated_at_millis,
                })
            })
            .collect()
    }

    /// Every record of `R`'s kind that opens and decodes, plus where the
    /// others were: one damaged record never hides the rest (ADR 0002 §4).
    /// Storage errors still fail the call.
    pub fn list_lenient<R: Record>(&self) -> Result<(Vec<Stored<R>>, Vec<Damaged>)> {
        let (raws, mut damaged) = self.scan(Some(R::KIND))?;
        let mut out = Vec::with_capacity(raws.len());
        for raw in raws {
            match decode::<R>(R::KIND, &raw.body) {
                Ok(value) => out.push(Stored {
                    value,
                    id: raw.id,
                    created_at_millis: raw.created_at_millis,
                    updated_at_millis: raw.updated_at_millis,
                }),
                Err(_) => damaged.push(raw.damaged()),
            }
        }
        Ok((out, damaged))
    }

    /// Every record, every kind, that opens; plus where the others were.
    pub fn all_raw_lenient(&self) -> Result<(Vec<RawRecord>, Vec<Damaged>)> {
        self.scan(None)
    }

    /// The store's change sequence in this snapshot: the sequence of the
    /// last committed write transaction (every write transaction takes the
    /// next one, whatever it changed). Equal values mean nothing was
    /// written in between. One row read.
    pub fn change_seq(&self) -> Result<i64> {
        meta_int(self.conn, CHANGE_SEQ_KEY)
    }

    /// The sequence of the last transaction that deleted a record of
    /// `kind` (0: none since schema v6).
    pub fn deleted_seq(&self, kind: &str) -> Result<i64> {
        meta_int(
            self.conn,
            &format!("{DELETED_KEY_PREFIX}{}", kind_label(self.keys, kind)),
        )
    }

    /// The sequence of the last transaction that wrote or deleted a record
    /// of `kind`: it grows whenever the kind's records change. Two index
    /// look-ups, nothing opened.
    pub fn kind_change_seq(&self, kind: &str) -> Result<i64> {
        let written: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(change_seq) FROM records WHERE kind = ?1")?
            .query_row(params![kind_label(self.keys, kind)], |r| r.get(0))?;
        Ok(written.unwrap_or(0).max(self.deleted_seq(kind)?))
    }

    /// The records of `R`'s kind written (inserted or updated) after change
    /// sequence `after`, in insertion order; strict like [`ReadTx::list`].
    /// Deletions are not listed: see [`ReadTx::deleted_seq`].
    pub fn list_changed_since<R: Record>(&self, after: i64) -> Result<Vec<Stored<R>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, created_at, updated_at, body FROM records
             WHERE kind = ?1 AND change_seq > ?2 ORDER BY rowid",
        )?;
        let mut rows = stmt.query(params![kind_label(self.keys, R::KIND), after])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let sealed = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
            let body = self.open(
                Aad {
                    table: RECORDS_TABLE,
                    kind: R::KIND,
                    id: &id,
                },
                sealed,
            )?;
            out.push(Stored {
                value: decode(R::KIND, &body)?,
                id,
                created_at_millis: row.get(1)?,
                updated_at_millis: row.get(2)?,
            });
        }
        Ok(out)
    }

    /// Calls `each` for every record of `kind` with its [`RowStamp`], read
    /// without opening anything (cache fingerprints). Row order is SQLite's.
    pub fn row_stamps(
        &self,
        kind: &str,
        head_len: i64,
        mut each: impl FnMut(RowStamp<'_>),
    ) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "SELECT rowid, updated_at, substr(body, 1, ?2) FROM records WHERE kind = ?1",
        )?;
        let mut rows = st.query(params![self.kind_label(kind), head_len])?;
        while let Some(r) = rows.next()? {
            each(RowStamp {
                rowid: r.get(0)?,
                updated_at_millis: r.get(1)?,
                head: r.get_ref(2)?.as_blob().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Opens the records of one kind (or all), keeping the failures apart.
    fn scan(&self, kind: Option<&str>) -> Result<(Vec<RawRecord>, Vec<Damaged>)> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, id, created_at, updated_at, body FROM records
             WHERE ?1 IS NULL OR kind = ?1 ORDER BY rowid",
        )?;
        let label = kind.map(|k| kind_label(self.keys, k));
        let mut rows = stmt.query(params![label])?;
        let (mut out, mut damaged) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next()? {
            let column: String = row.get(0)?;
            let kind = match kind {
                Some(k) => k.to_string(),
                None => kind_name(self.keys, &column),
            };
            let id: String = row.get(1)?;
            let created_at_millis: i64 = row.get(2)?;
            let updated_at_millis: i64 = row.get(3)?;
            let sealed = row.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
            let opened = self.keys.sealer.open(
                Aad {
                    table: RECORDS_TABLE,
                    kind: &kind,
                    id: &id,
                },
                sealed,
            );
            let raw = RawRecord {
                kind,
                id,
                created_at_millis,
                updated_at_millis,
                body: Vec::new(),
            };
            match opened {
                Ok(body) => out.push(RawRecord { body, ..raw }),
                Err(_) => damaged.push(raw.damaged()),
            }
        }
        Ok((out, damaged))
    }

    /// All records of one kind in insertion order, opened but not parsed.
    pub fn list_raw(&self, kind: &str) -> Result<Vec<RawRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, created_at, updated_at, body FROM records WHERE kind = ?1 ORDER BY rowid",
        )?;
        let mut rows = stmt.query(params![kind_label(self.keys, kind)])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            // Borrow the blob: open() makes the one copy it decrypts into.
            let sealed = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
            let body = self.open(
                Aad {
                    table: RECORDS_TABLE,
                    kind,
                    id: &id,
                },
                sealed,
            )?;
            out.push(RawRecord {
                kind: kind.to_string(),
                id,
                created_at_millis: row.get(1)?,
                updated_at_millis: row.get(2)?,
                body,
            });
        }
        Ok(out)
    }

    /// Every record, every kind, for export.
    pub fn all_raw(&self) -> Result<Vec<RawRecord>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id, created_at, updated_at, body FROM records ORDER BY rowid")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let kind = kind_name(self.keys, &row.get::<_, String>(0)?);
            let id: String = row.get(1)?;
            let sealed = row.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
            let body = self.open(
                Aad {
                    table: RECORDS_TABLE,
                    kind: &kind,
                    id: &id,
                },
                sealed,
            )?;
            out.push(RawRecord {
                kind,
                id,
                created_at_millis: row.get(2)?,
                updated_at_millis: row.get(3)?,
                body,
            });
        }
        Ok(out)
    }

    /// Record counts per kind, without opening anything.
    pub fn counts(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .map(|(column, n)| (kind_name(self.keys, &column), n))
            .collect())
    }
}

fn get_record<R: Record>(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
) -> Result<Option<Stored<R>>> {
    let row = conn
        .prepare_cached(
            "SELECT created_at, updated_at, body FROM records WHERE kind = ?1 AND id = ?2",
        )?
        .query_row(params![kind_label(keys, R::KIND), id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .optional()?;
    let Some((created, updated, sealed)) = row else {
        return Ok(None);
    };
    let body = keys
        .sealer
        .open(
            Aad {
                table: RECORDS_TABLE,
                kind: R::KIND,
                id,
            },
            &sealed,
        )
        .map_err(|e| seal_error(R::KIND, e))?;
    Ok(Some(Stored {
        id: id.to_string(),
        created_at_millis: created,
        updated_at_millis: updated,
        value: decode(R::KIND, &body)?,
    }))
}
