//! Schema v5 (issue 15): hidden kinds are stored under keyed labels, and a
//! v4 store upgrades to exactly what a fresh store holds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod common;

use collabzium_core::store::{outbox, Record, Store};
use common::*;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Alert {
    n: u32,
}

impl Record for Alert {
    const KIND: &'static str = "safety_alert";
}

fn fill(store: &Store) {
    for n in 0..3 {
        store.put(&format!("a{n}"), &Alert { n }).unwrap();
        store
            .insert(&Note {
                text: format!("n{n}"),
            })
            .unwrap();
    }
    store
        .write(|tx| {
            outbox::enqueue(tx, "safety_alert", "a0", outbox::Priority::High, b"{}")?;
            outbox::enqueue(tx, "checkin", "c0", outbox::Priority::Normal, b"{}")
        })
        .unwrap();
}

/// Record (kind, id) and outbox (kind, priority) columns.
type ClearColumns = (Vec<(String, String)>, Vec<(String, i64)>);

/// What the file shows without a key: kind and priority columns.
fn clear_columns(path: &std::path::Path) -> ClearColumns {
    let c = Connection::open(path).unwrap();
    let records = c
        .prepare("SELECT kind, id FROM records ORDER BY kind, id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let outbox = c
        .prepare("SELECT kind, priority FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (records, outbox)
}

#[test]
fn hidden_kinds_are_labelled_and_a_v4_store_upgrades_to_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    fill(&store);
    store.close();
    let fresh = clear_columns(&path);
    assert!(fresh.0.iter().all(|(k, _)| k != "safety_alert"));
    assert!(fresh.0.iter().any(|(k, _)| k.starts_with("k:")));
    assert_eq!(fresh.1[0].1, 0, "priority column must not tell");

    // Turn it back into what v4 wrote: names in clear, high priority, no head.
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "UPDATE records SET kind = 'safety_alert' WHERE kind LIKE 'k:%';
             UPDATE outbox SET kind = 'safety_alert', priority = 1 WHERE kind LIKE 'k:%';
             DELETE FROM meta WHERE key = 'audit_head';
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let old = Store::open(&path, &provider()).unwrap();
    assert_eq!(
        old.info().unwrap().schema_version,
        collabzium_core::store::schema::LATEST_VERSION
    );
    let alerts = old.list::<Alert>().unwrap();
    assert_eq!(alerts.len(), 3);
    let queued = old.read(outbox::all).unwrap();
    assert_eq!(queued[0].kind, "safety_alert");
    assert_eq!(queued[0].priority, outbox::Priority::High);
    assert!(old.verify_audit().unwrap().ok);
    assert_eq!(
        old.info().unwrap().record_counts.get("safety_alert"),
        Some(&3)
    );
    old.close();
    assert_eq!(clear_columns(&path), fresh);
}
