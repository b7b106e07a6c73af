//! Eight threads write and read through the FFI-facing object at once, as a
//! UI thread and background workers would: no error, no lost write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{memory_key_provider, PatientStore, Profile, TreatmentMode};

#[test]
fn eight_threads_write_and_read_for_several_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("concurrent.db")
        .to_string_lossy()
        .into_owned();
    let provider = memory_key_provider(vec![9u8; 32]).unwrap();
    let store = PatientStore::create(path.clone(), provider.clone()).unwrap();
    store
        .set_profile(Profile {
            display_name: "Concurrent".into(),
            time_zone: "America/New_York".into(),
            locale: "en-US".into(),
            mode: TreatmentMode::Guided,
            country: None,
        })
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(4);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut written = Vec::new();
                let mut reads = 0u64;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if t % 2 == 0 || n.is_multiple_of(3) {
                        let rec = store
                            .grant_consent(format!("thread_{t}"), format!("v{n}"))
                            .unwrap();
                        written.push(rec.id);
                    }
                    // Readers see a consistent snapshot that includes our own writes.
                    let history = store.consent_history().unwrap();
                    let ids: HashSet<_> = history.iter().map(|c| c.id.as_str()).collect();
                    if let Some(last) = written.last() {
                        assert!(
                            ids.contains(last.as_str()),
                            "thread {t} cannot see its own write"
                        );
                    }
                    assert_eq!(store.profile().unwrap().unwrap().display_name, "Concurrent");
                    store.info().unwrap();
                    reads += 3;
                    n += 1;
                }
                (written, reads)
            })
        })
        .collect();

    let mut all_written = HashSet::new();
    let mut total_reads = 0;
    for t in threads {
        let (written, reads) = t.join().expect("no thread panicked");
        all_written.extend(written);
        total_reads += reads;
    }
    let stored: HashSet<String> = store
        .consent_history()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(stored, all_written, "a write was lost or invented");
    assert!(all_written.len() > 100, "only {} writes", all_written.len());
    assert!(store.verify_audit().unwrap().ok);
    eprintln!(
        "{} writes, {} reads across 8 threads",
        all_written.len(),
        total_reads
    );

    // And everything is still there after a reopen.
    store.close_store();
    let reopened = PatientStore::open(path, provider).unwrap();
    assert_eq!(reopened.consent_history().unwrap().len(), all_written.len());
}
