//! Schema of the patient store, versioned through `PRAGMA user_version`.
//!
//! A new store gets `CREATE_LATEST` in one go; an older one is walked forward
//! by `upgrade_from`. A test checks that both paths give the same schema.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Page size of new stores. Sealing adds 29 bytes per value; with 4 KiB
/// pages that can drop a row per page (e.g. 7 -> 6 rows of ~0.5 KiB), so
/// larger pages keep the overhead near the bytes actually added.
pub const PAGE_SIZE: i64 = 8192;

pub const LATEST_VERSION: i64 = 6;

/// The whole current schema. Sensitive columns (`body`) hold only sealed
/// envelopes; the other columns are opaque ids, kinds and timestamps.
pub const CREATE_LATEST: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE profile (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE records (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL,
    UNIQUE (kind, id)
);
CREATE TABLE consents (
    id   TEXT PRIMARY KEY,
    at   INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE audit_log (
    seq    INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    event  TEXT NOT NULL,
    detail TEXT NOT NULL,
    mac    BLOB NOT NULL
);
CREATE INDEX records_by_kind_time ON records (kind, created_at);
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    ref_id     TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    body       BLOB NOT NULL,
    sent_at    INTEGER,
    UNIQUE (kind, ref_id)
);
CREATE INDEX outbox_unsent ON outbox (sent_at, seq);
";

/// v4: end-to-end sync (ADR 0005): which channel an outbox entry goes to,
/// and every sealed envelope until the peer confirms it. New stores and
/// upgrades run the same text.
const V4_SYNC: &str = "
CREATE TABLE sync_route (
    outbox_seq INTEGER PRIMARY KEY,
    channel    TEXT NOT NULL
);
CREATE TABLE sync_sent (
    channel      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    outbox_seq   INTEGER,
    event_id     TEXT NOT NULL,
    envelope     BLOB NOT NULL,
    sealed_at    INTEGER NOT NULL,
    pushed_at    INTEGER,
    delivered_at INTEGER,
    read_at      INTEGER,
    resend_at    INTEGER,
    resends      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, seq)
) WITHOUT ROWID;
CREATE INDEX sync_sent_event ON sync_sent (event_id);
CREATE INDEX sync_sent_outbox ON sync_sent (outbox_seq);
";

/// v6: a change sequence (see `records::WriteTx`): every committed write
/// transaction takes the next value of `meta.change_seq` and stamps the
/// records it writes with it, so readers can ask "what changed after N?"
/// through the index instead of scanning. Existing rows get 0 (older than
/// any later change). New stores and upgrades run the same text.
const V6_CHANGES: &str = "
ALTER TABLE records ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX records_by_kind_change ON records (kind, change_seq);
INSERT OR IGNORE INTO meta (key, value) VALUES ('change_seq', 0);
";

/// Runs [`V6_CHANGES`]; a `records` table that already has the column
/// (a hand-reduced test store) only gets the rest.
fn add_change_seq(conn: &Connection) -> Result<()> {
    let has_column: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('records') WHERE name = 'change_seq'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if has_column {
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS records_by_kind_change ON records (kind, change_seq);
             INSERT OR IGNORE INTO meta (key, value) VALUES ('change_seq', 0);",
        )?;
    } else {
        conn.execute_batch(V6_CHANGES)?;
    }
    Ok(())
}

/// Version 1 as it shipped: kept so tests can build an old store.
pub const V1_SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE profile (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE records (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL,
    UNIQUE (kind, id)
);
";

/// Brings a database at `from` up to `LATEST_VERSION` inside the caller's transaction.
pub fn upgrade_from(conn: &Connection, from: i64) -> Result<()> {
    let mut version = from;
    while version < LATEST_VERSION {
        match version {
            1 => conn.execute_batch(
                "CREATE TABLE consents (
                    id   TEXT PRIMARY KEY,
                    at   INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE TABLE audit_log (
                    seq    INTEGER PRIMARY KEY,
                    at     INTEGER NOT NULL,
                    event  TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    mac    BLOB NOT NULL
                );
                CREATE INDEX records_by_kind_time ON records (kind, created_at);",
            )?,
            // v3: the ordered sync outbox (see `store::outbox`).
            2 => conn.execute_batch(
                "CREATE TABLE outbox (
                    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind       TEXT NOT NULL,
                    ref_id     TEXT NOT NULL,
                    priority   INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    body       BLOB NOT NULL,
                    sent_at    INTEGER,
                    UNIQUE (kind, ref_id)
                );
                CREATE INDEX outbox_unsent ON outbox (sent_at, seq);",
            )?,
            // v4: end-to-end sync (ADR 0005): which channel an outbox entry
            // goes to, and every sealed envelope until the peer confirms it.
            3 => conn.execute_batch(V4_SYNC)?,
            // v5: no DDL. Hidden record and outbox kinds get keyed labels
            // and the audit log a keyed head; both need the store keys, so
            // `Store::finish_open` does them in the same transaction.
            4 => {}
            5 => add_change_seq(conn)?,
            other => {
                return Err(Error::corrupt(
                    "database",
                    format!("no migration from schema version {other}"),
                ))
            }
        }
        version += 1;
    }
    conn.pragma_update(None, "user_version", LATEST_VERSION)?;
    Ok(())
}

pub fn create_latest(conn: &Connection) -> Result<()> {
    conn.execute_batch(CREATE_LATEST)?;
    conn.execute_batch(V4_SYNC)?;
    conn.execute_batch(V6_CHANGES)?;
    conn.pragma_update(None, "user_version", LATEST_VERSION)?;
    Ok(())
}

/// The schema as SQLite reports it, for comparing databases.
pub fn describe(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT type, name, ifnull(sql, '') FROM sqlite_master
         WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Whitespace differs between CREATE_LATEST and the migration text.
    Ok(rows
        .into_iter()
        .map(|(t, n, s): (String, String, String)| {
            (t, n, s.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgraded_database_equals_fresh() {
        let fresh = Connection::open_in_memory().unwrap();
        create_latest(&fresh).unwrap();

        let old = Connection::open_in_memory().unwrap();
        old.execute_batch(V1_SCHEMA).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        upgrade_from(&old, 1).unwrap();

        assert_eq!(describe(&old).unwrap(), describe(&fresh).unwrap());
        let v: i64 = old
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST_VERSION);
    }

    #[test]
    fn unknown_version_is_refused() {
        let c = Connection::open_in_memory().unwrap();
        assert!(matches!(upgrade_from(&c, 0), Err(Error::Corrupt { .. })));
    }
}
