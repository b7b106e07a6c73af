//! Reads never wait for a write in progress (WAL + separate reader connections).

mod common;

use common::*;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn a_read_completes_while_a_write_transaction_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&temp_store_path(&dir));
    store
        .insert(&Note {
            text: "before".into(),
        })
        .unwrap();

    let (in_tx, write_started) = mpsc::channel();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .write(|tx| {
                    tx.insert(&Note {
                        text: "during".into(),
                    })?;
                    in_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(800));
                    Ok(())
                })
                .unwrap();
            Instant::now()
        })
    };
    write_started.recv().unwrap();
    let notes = store.list::<Note>().unwrap();
    let read_done = Instant::now();
    // The uncommitted insert is invisible; the committed one is there.
    assert_eq!(notes.len(), 1);
    let write_done = writer.join().unwrap();
    assert!(read_done < write_done, "the read waited for the writer");
    assert_eq!(store.list::<Note>().unwrap().len(), 2);
}

#[test]
fn writes_are_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&temp_store_path(&dir));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    // Read-modify-write inside one transaction: lost updates
                    // would show if two writers interleaved.
                    store
                        .write(|tx| {
                            let cur = tx
                                .get::<Note>("counter")?
                                .map(|s| s.value.text.parse::<u32>().unwrap())
                                .unwrap_or(0);
                            tx.put(
                                "counter",
                                &Note {
                                    text: (cur + 1).to_string(),
                                },
                            )?;
                            tx.put(&format!("t{t}-{i}"), &Note { text: "x".into() })
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        store.get::<Note>("counter").unwrap().unwrap().value.text,
        "200"
    );
}

#[test]
fn a_background_checkpoint_moves_the_wal_into_the_database() {
    // Commits never checkpoint themselves; the store's own thread must,
    // or the database file would not grow until close.
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    let before = std::fs::metadata(&path).unwrap().len();
    let text = "x".repeat(16 * 1024);
    for i in 0..400 {
        store
            .put(&format!("n{i}"), &Note { text: text.clone() })
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let grown = || std::fs::metadata(&path).unwrap().len() >= before + 4 * 1024 * 1024;
    while !grown() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        grown(),
        "the WAL was not checkpointed while the store stayed open"
    );
    assert_eq!(store.list::<Note>().unwrap().len(), 400);
}
