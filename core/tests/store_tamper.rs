//! Tampering with stored ciphertexts: every case must give a typed error,
//! no panic, and leave every other record readable.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod common;

use collabzium_core::store::{outbox, Store};
use collabzium_core::Error;
use common::*;
use rusqlite::{params, Connection};
use std::path::Path;

/// One sealed value in the file, and how to read it back through the API.
#[derive(Debug, Clone)]
struct Target {
    table: &'static str,
    key_col: &'static str,
    key: String,
    kind: &'static str,
}

fn populate(store: &Store) {
    store.set_profile(&profile("Tamper Target")).unwrap();
    for i in 0..4 {
        collabzium_core::session::grant_consent(store, &format!("scope_{i}"), "v1").unwrap();
    }
    for i in 0..6 {
        store
            .insert(&Note {
                text: format!("note {i}"),
            })
            .unwrap();
        store
            .insert(&Answer {
                item: format!("q{i}"),
                value: i,
                comment: "ok".into(),
            })
            .unwrap();
        store
            .insert(&Message {
                body: format!("message {i}"),
            })
            .unwrap();
    }
    for i in 0..3 {
        store
            .write(|tx| {
                let body = format!("{{\"n\":{i}}}");
                outbox::enqueue(
                    tx,
                    "event",
                    &format!("ev{i}"),
                    outbox::Priority::Normal,
                    body.as_bytes(),
                )
            })
            .unwrap();
    }
}

fn targets(conn: &Connection) -> Vec<Target> {
    let mut out = vec![Target {
        table: "profile",
        key_col: "id",
        key: "1".into(),
        kind: "profile",
    }];
    let mut stmt = conn
        .prepare("SELECT ref_id FROM outbox ORDER BY seq")
        .unwrap();
    for id in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        out.push(Target {
            table: "outbox",
            key_col: "ref_id",
            key: id.unwrap(),
            kind: "event",
        });
    }
    let mut stmt = conn
        .prepare("SELECT id FROM consents ORDER BY rowid")
        .unwrap();
    for id in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        out.push(Target {
            table: "consents",
            key_col: "id",
            key: id.unwrap(),
            kind: "consent",
        });
    }
    let mut stmt = conn
        .prepare("SELECT kind, id FROM records ORDER BY rowid")
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (kind, id) = row.unwrap();
        let kind: &'static str = match kind.as_str() {
            "note" => "note",
            "answer" => "answer",
            "message" => "message",
            other => panic!("unexpected kind {other}"),
        };
        out.push(Target {
            table: "records",
            key_col: "id",
            key: id,
            kind,
        });
    }
    out
}

fn get_body(conn: &Connection, t: &Target) -> Vec<u8> {
    conn.query_row(
        &format!("SELECT body FROM {} WHERE {} = ?1", t.table, t.key_col),
        [&t.key],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_body(conn: &Connection, t: &Target, body: &[u8]) {
    let n = conn
        .execute(
            &format!("UPDATE {} SET body = ?1 WHERE {} = ?2", t.table, t.key_col),
            params![body, t.key],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Reads one target through the public API.
fn read(store: &Store, t: &Target) -> Result<(), Error> {
    match t.kind {
        "profile" => store.profile().map(|p| assert!(p.is_some())),
        "consent" => store.consent_history().map(|_| ()),
        "event" => store.read(outbox::all).map(|v| assert_eq!(v.len(), 3)),
        "note" => store.get::<Note>(&t.key).map(|r| assert!(r.is_some())),
        "answer" => store.get::<Answer>(&t.key).map(|r| assert!(r.is_some())),
        "message" => store.get::<Message>(&t.key).map(|r| assert!(r.is_some())),
        other => panic!("{other}"),
    }
}

fn expect_corrupt(store: &Store, t: &Target, case: &str) {
    match read(store, t) {
        Err(Error::Corrupt { kind, .. }) => assert_eq!(kind, t.kind, "{case}"),
        other => panic!("{case}: expected Corrupt({}), got {other:?}", t.kind),
    }
}

/// Every target other than `skip` still reads. Consents and outbox events
/// are read as lists, so a broken one hides its siblings only in that call.
fn others_readable(store: &Store, all: &[Target], skip: &[&Target], case: &str) {
    // Consents and outbox events are read as one list each.
    let skip_lists: Vec<&str> = skip
        .iter()
        .map(|s| s.kind)
        .filter(|k| *k == "consent" || *k == "event")
        .collect();
    for t in all {
        if skip.iter().any(|s| s.table == t.table && s.key == t.key) || skip_lists.contains(&t.kind)
        {
            continue;
        }
        if let Err(e) = read(store, t) {
            panic!(
                "{case}: unrelated {} {} became unreadable: {e:?}",
                t.kind, t.key
            );
        }
    }
}

fn setup(dir: &tempfile::TempDir) -> (Store, Connection, Vec<Target>) {
    let path = temp_store_path(dir);
    let store = new_store(&path);
    populate(&store);
    let side = Connection::open(&path).unwrap();
    let all = targets(&side);
    assert_eq!(all.len(), 1 + 3 + 4 + 18);
    (store, side, all)
}

#[test]
fn flipping_any_byte_of_any_ciphertext_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (store, side, all) = setup(&dir);
    let mut cases = 0;
    for t in &all {
        let original = get_body(&side, t);
        for i in 0..original.len() {
            for mask in [0x01u8, 0x80] {
                let mut bad = original.clone();
                bad[i] ^= mask;
                set_body(&side, t, &bad);
                let case = format!("{} byte {i} ^ {mask:#x}", t.kind);
                expect_corrupt(&store, t, &case);
                if i % 16 == 0 {
                    others_readable(&store, &all, &[t], &case);
                }
                cases += 1;
            }
        }
        // Truncated and empty envelopes too.
        for len in [0, 1, 12, original.len() - 1] {
            set_body(&side, t, &original[..len]);
            expect_corrupt(&store, t, &format!("{} truncated to {len}", t.kind));
            cases += 1;
        }
        set_body(&side, t, &original);
        read(&store, t).unwrap();
    }
    others_readable(&store, &all, &[], "after restore");
    assert!(cases >= 1000, "only {cases} cases");
    eprintln!("byte-flip cases: {cases}");
}

#[test]
fn ciphertexts_moved_between_rows_and_tables_do_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, side, all) = setup(&dir);
    let mut cases = 0;
    for (i, a) in all.iter().enumerate() {
        for b in all.iter().skip(i + 1) {
            let (ba, bb) = (get_body(&side, a), get_body(&side, b));
            set_body(&side, a, &bb);
            set_body(&side, b, &ba);
            let case = format!("swap {} {} <-> {} {}", a.kind, a.key, b.kind, b.key);
            expect_corrupt(&store, a, &case);
            expect_corrupt(&store, b, &case);
            others_readable(&store, &all, &[a, b], &case);
            set_body(&side, a, &ba);
            set_body(&side, b, &bb);
            cases += 1;
        }
    }
    // Relabelling a record's kind or id column is a move too.
    let note = all.iter().find(|t| t.kind == "note").unwrap();
    side.execute(
        "UPDATE records SET kind = 'message' WHERE id = ?1",
        [&note.key],
    )
    .unwrap();
    expect_corrupt(
        &store,
        &Target {
            kind: "message",
            ..note.clone()
        },
        "kind relabel",
    );
    side.execute(
        "UPDATE records SET kind = 'note' WHERE id = ?1",
        [&note.key],
    )
    .unwrap();
    others_readable(&store, &all, &[], "after relabel");
    assert!(cases >= 200, "only {cases} swaps");
    eprintln!("swap cases: {cases}");
}

fn open_and_read_everything(path: &Path) -> Result<(), Error> {
    let store = Store::open(path, &provider())?;
    store.profile()?;
    store.consent_history()?;
    store.list::<Note>()?;
    store.list::<Answer>()?;
    store.list::<Message>()?;
    store.verify_audit()?;
    Ok(())
}

#[test]
fn truncated_database_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    populate(&store);
    // Enough data for several pages.
    for i in 0..200 {
        store
            .insert(&Note {
                text: format!("{i:0>400}"),
            })
            .unwrap();
    }
    store.close();
    let full = std::fs::read(&path).unwrap();
    let page = 4096;
    let mut lens: Vec<usize> = vec![0, 1, 50, 99, 100, 512, page - 1, page, page + 1];
    lens.extend((2..full.len() / page).map(|p| p * page));
    lens.extend((1..20).map(|k| full.len() * k / 20 + 7));
    let mut failures = 0;
    for len in lens {
        let p = dir.path().join(format!("trunc-{len}.db"));
        std::fs::write(&p, &full[..len]).unwrap();
        let before = sha256_file(&p);
        match open_and_read_everything(&p) {
            Ok(()) => panic!("truncation to {len} of {} bytes went unnoticed", full.len()),
            Err(Error::Corrupt { .. }) => failures += 1,
            Err(other) => panic!("truncation to {len}: expected Corrupt, got {other:?}"),
        }
        // A failed open never rewrites the file (a failed read after open may
        // not either: we only read).
        assert_eq!(sha256_file(&p), before, "truncated file {len} was modified");
    }
    eprintln!("truncation cases: {failures}");
}
