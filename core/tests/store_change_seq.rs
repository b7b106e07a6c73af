//! The store's change sequence (schema v6): one step per committed write
//! transaction, stamped on the records it writes, with deletions noted per
//! kind; and a v5 store upgrading to it in place without losing anything.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use collabzium_core::store::schema::{describe, LATEST_VERSION};
use collabzium_core::store::{Record, Store};
use common::{new_store, provider, temp_store_path, Message, Note};
use rusqlite::Connection;

fn seq(store: &Store) -> i64 {
    store.read(|tx| tx.change_seq()).unwrap()
}

fn changed_notes(store: &Store, after: i64) -> Vec<String> {
    store
        .read(|tx| tx.list_changed_since::<Note>(after))
        .unwrap()
        .into_iter()
        .map(|n| n.value.text)
        .collect()
}

fn note(text: &str) -> Note {
    Note { text: text.into() }
}

#[test]
fn every_write_transaction_takes_the_next_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&temp_store_path(&dir));
    let s0 = seq(&store);
    store
        .write(|tx| {
            tx.put("a", &note("a"))?;
            tx.put("b", &note("b"))?;
            tx.put("m", &Message { body: "m".into() })
        })
        .unwrap();
    let s1 = seq(&store);
    assert_eq!(s1, s0 + 1, "one step for the whole transaction");
    assert_eq!(changed_notes(&store, s0), ["a", "b"]);
    assert!(changed_notes(&store, s1).is_empty());
    store.put("b", &note("b2")).unwrap();
    let s2 = seq(&store);
    assert_eq!(s2, s1 + 1);
    // The rewritten record only, in insertion order.
    assert_eq!(changed_notes(&store, s1), ["b2"]);
    assert_eq!(changed_notes(&store, s0), ["a", "b2"]);
    store
        .read(|tx| {
            assert_eq!(tx.kind_change_seq(Note::KIND)?, s2);
            assert_eq!(tx.kind_change_seq(Message::KIND)?, s1);
            assert_eq!(tx.kind_change_seq("nothing_here")?, 0);
            assert_eq!(tx.deleted_seq(Note::KIND)?, 0);
            Ok(())
        })
        .unwrap();
    // A failed transaction leaves no trace, its sequence included.
    let failed: collabzium_core::Result<()> = store.write(|tx| {
        tx.put("c", &note("c"))?;
        Err(collabzium_core::Error::invalid("test", "rolls back"))
    });
    assert!(failed.is_err());
    assert_eq!(seq(&store), s2);
    // A deletion moves the kind's sequence though no row carries it.
    assert!(store.write(|tx| tx.delete(Note::KIND, "a")).unwrap());
    let s3 = seq(&store);
    store
        .read(|tx| {
            assert_eq!(tx.deleted_seq(Note::KIND)?, s3);
            assert_eq!(tx.kind_change_seq(Note::KIND)?, s3);
            assert_eq!(tx.deleted_seq(Message::KIND)?, 0);
            Ok(())
        })
        .unwrap();
    // Deleting nothing is not a deletion.
    assert!(!store.write(|tx| tx.delete(Message::KIND, "none")).unwrap());
    assert_eq!(store.read(|tx| tx.deleted_seq(Message::KIND)).unwrap(), 0);
    // The sequence survives reopening.
    let path = store.path().to_path_buf();
    store.close();
    let again = Store::open(&path, &provider()).unwrap();
    assert_eq!(seq(&again), s3 + 1);
}

#[test]
fn a_v5_store_upgrades_in_place_keeping_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let fresh_path = dir.path().join("fresh.db");
    new_store(&fresh_path).close();
    let store = new_store(&path);
    store.put("kept", &note("from v5")).unwrap();
    store.put("m", &Message { body: "old".into() }).unwrap();
    store.close();
    // Take the file back to what v5 wrote: no column, no index, no counter.
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX records_by_kind_change;
             ALTER TABLE records DROP COLUMN change_seq;
             DELETE FROM meta WHERE key = 'change_seq';
             PRAGMA user_version = 5;",
        )
        .unwrap();
        let columns: i64 = c
            .query_row(
                "SELECT count(*) FROM pragma_table_info('records') WHERE name = 'change_seq'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(columns, 0);
    }
    let old = Store::open(&path, &provider()).unwrap();
    assert_eq!(old.info().unwrap().schema_version, LATEST_VERSION);
    assert_eq!(
        old.get::<Note>("kept").unwrap().unwrap().value,
        note("from v5")
    );
    // Rows from before the upgrade count as older than any later change.
    let s = seq(&old);
    assert_eq!(changed_notes(&old, -1), ["from v5"]);
    old.put("new", &note("after")).unwrap();
    assert_eq!(changed_notes(&old, s), ["after"]);
    assert_eq!(seq(&old), s + 1);
    assert!(old.verify_audit().unwrap().ok);
    old.close();
    // Same schema as a store created at v6.
    let upgraded = describe(&Connection::open(&path).unwrap()).unwrap();
    let fresh = describe(&Connection::open(&fresh_path).unwrap()).unwrap();
    assert_eq!(upgraded, fresh);
}
