//! A sealed cache of [`load_patients`](super::load_patients)' result, so that repeated caseload
//! and timeline calls do not open every received event again, and the
//! in-memory [`PatientsMemo`] that keeps the patients up to date per open
//! handle.
//!
//! The cache is one record (`insights_cache`/`patients`) holding the
//! patients and the fingerprint of the inputs they were built from. The
//! fingerprint is read without decrypting anything: for every record kind
//! `load_patients` reads, the store's change sequence of that kind
//! ([`ReadTx::kind_change_seq`]: the last transaction that wrote or deleted
//! one, an index look-up); for the program assignments read from the
//! outbox (immutable once queued), each row's `seq` and route channel; plus
//! [`CACHE_FORMAT`] and the crate version. Any write to an input changes
//! it; the cache record itself is not an input.
//!
//! Only patients are cached, never flags or the caseload: those depend on
//! `now` and are recomputed (pure, milliseconds) at every call.

use ring::digest;
use serde::{Deserialize, Serialize};

use super::load::{build, read_inputs, Live, Refreshed, RATING_KIND};
use super::PatientRecord;
use crate::checkin::Checkin;
use crate::error::Result;
use crate::store::{outbox, ReadTx, Record, Store};
use crate::sync::events;
use crate::sync::state::{ChannelState, InboxItem};

/// Record kind of the cache (left out of the store export: derived data).
pub const CACHE_KIND: &str = "insights_cache";

const CACHE_ID: &str = "patients";

/// Bump whenever `load_patients` would build different patients from the
/// same store (a loader change) or `PatientRecord`'s stored form changes.
/// The crate version is part of the fingerprint too, so any upgrade
/// rebuilds the cache once.
pub const CACHE_FORMAT: u32 = 7;

/// Record kinds `load_patients` reads (see `load::read_inputs`).
const INPUT_KINDS: [&str; 5] = [
    ChannelState::KIND,
    InboxItem::KIND,
    RATING_KIND,
    Checkin::KIND,
    crate::sync::AlertAcknowledgement::KIND,
];

#[derive(Serialize, Deserialize)]
struct PatientsCache {
    fingerprint: String,
    patients: Vec<PatientRecord>,
}

impl Record for PatientsCache {
    const KIND: &'static str = CACHE_KIND;
}

/// What the cache is written from (borrowed: no copy of the patients).
#[derive(Serialize)]
struct PatientsCacheRef<'a> {
    fingerprint: &'a str,
    patients: &'a [PatientRecord],
}

/// The fingerprint of everything `load_patients` reads, inside `tx`'s
/// snapshot: hex SHA-256 of the per-kind change sequences and the routed
/// assignment rows. No scan of the records: index look-ups per kind.
fn fingerprint(tx: &ReadTx<'_>) -> Result<String> {
    let mut text = format!(
        "collabzium.insights_cache {CACHE_FORMAT} {}\n",
        env!("CARGO_PKG_VERSION")
    );
    for kind in INPUT_KINDS {
        text.push_str(&format!("{kind} {}\n", tx.kind_change_seq(kind)?));
    }
    // Program assignments are read from the outbox joined with their route.
    // Queued rows never change and their seq is never reused, so the list
    // of (seq, route) says what changed: a new row, a re-route, a removal.
    outbox::routed_stamps(tx, events::PROGRAM_ASSIGNMENT, 0, |r| {
        text.push_str(&format!("a {} {}\n", r.seq, r.channel));
    })?;
    let d = digest::digest(&digest::SHA256, text.as_bytes());
    Ok(d.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// The current fingerprint of `load_patients`' inputs (tests, diagnostics).
pub fn cache_fingerprint(store: &Store) -> Result<String> {
    store.read(fingerprint)
}

/// The fingerprint the cache record was built for, if there is a readable one.
pub fn cached_fingerprint(store: &Store) -> Result<Option<String>> {
    store.read(|tx| {
        Ok(tx
            .get::<PatientsCache>(CACHE_ID)
            .ok()
            .flatten()
            .map(|c| c.value.fingerprint))
    })
}

enum Loaded {
    Hit(Vec<PatientRecord>),
    Miss(String, super::load::Inputs),
}

/// [`load_patients`](super::load_patients) through the cache: the same result, opening one record
/// when nothing it reads has changed since the last build. On a miss it
/// loads (in the same read snapshot as the fingerprint) and rewrites the
/// cache; a failed cache write is ignored (the result is still returned).
pub fn load_patients_cached(store: &Store) -> Result<Vec<PatientRecord>> {
    let loaded = store.read(|tx| {
        let fp = fingerprint(tx)?;
        // An unreadable cache (older form, damage) is rebuilt, never trusted.
        if let Ok(Some(c)) = tx.get::<PatientsCache>(CACHE_ID) {
            if c.value.fingerprint == fp {
                return Ok(Loaded::Hit(c.value.patients));
            }
        }
        Ok(Loaded::Miss(fp, read_inputs(tx)?))
    })?;
    match loaded {
        Loaded::Hit(patients) => Ok(patients),
        Loaded::Miss(fingerprint, inputs) => {
            let patients = build(inputs);
            let cache = PatientsCacheRef {
                fingerprint: &fingerprint,
                patients: &patients,
            };
            if let Ok(body) = serde_json::to_vec(&cache) {
                // Best effort: a read-only or busy store still answers.
                let _ = store.write(|tx| tx.put_raw(CACHE_KIND, CACHE_ID, &body));
            }
            Ok(patients)
        }
    }
}

/// The decoded patients kept for as long as an open store handle keeps
/// them (the app's caseload screen, the workstation), brought up to date at
/// every call: when the store's change sequence has not moved, a call is one
/// row read; after a sync only the new events are opened and added to
/// their patients (`load::live`). The first call opens everything. Dropped
/// with the handle; `clear` on lock.
#[derive(Default)]
pub struct PatientsMemo {
    live: std::sync::Mutex<Option<Live>>,
    full_loads: std::sync::atomic::AtomicU64,
}

impl PatientsMemo {
    /// The same patients as [`load_patients`](super::load_patients) on the
    /// store as it is now.
    pub fn patients(&self, store: &Store) -> Result<std::sync::Arc<Vec<PatientRecord>>> {
        let mut memo = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Taken out: a failed refresh leaves no half-updated state behind,
        // and the next call loads from scratch.
        let current = memo.take();
        let load = |tx: &ReadTx<'_>| {
            self.full_loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Live::load(tx)
        };
        let live = store.read(|tx| match current {
            Some(mut live) => match live.refresh(tx)? {
                Refreshed::Done => Ok(live),
                Refreshed::Rebuild => load(tx),
            },
            None => load(tx),
        })?;
        let patients = live.patients();
        *memo = Some(live);
        Ok(patients)
    }

    /// How many calls opened every input (the first, and any after a
    /// deletion or `clear`): diagnostics and tests.
    pub fn full_loads(&self) -> u64 {
        self.full_loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn clear(&self) {
        *self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// Drops the cache (the next call rebuilds it). Not needed for
/// correctness; for tests and benchmarks of the cold path.
pub fn clear_patients_cache(store: &Store) -> Result<()> {
    store.write(|tx| tx.delete(CACHE_KIND, CACHE_ID).map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MemoryKeyProvider;

    /// Leading bytes of a sealed envelope: the version byte and the
    /// 96-bit random nonce every seal draws (and 3 ciphertext bytes).
    const ENVELOPE_HEAD: i64 = 16;

    #[test]
    fn rewriting_a_record_changes_its_envelope_head() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::create(&dir.path().join("s.db"), &MemoryKeyProvider::new([1; 32])).unwrap();
        // The head the fingerprint reads, through the same store call.
        let head = || -> Vec<u8> {
            store
                .read(|tx| {
                    let mut heads = Vec::new();
                    tx.row_stamps(CACHE_KIND, ENVELOPE_HEAD, |r| heads.push(r.head.to_vec()))?;
                    Ok(heads)
                })
                .unwrap()
                .pop()
                .unwrap()
        };
        let same = br#"{"fingerprint":"x","patients":[]}"#;
        store
            .write(|tx| tx.put_raw(CACHE_KIND, CACHE_ID, same))
            .unwrap();
        let first = head();
        assert_eq!(first.len(), 16);
        store
            .write(|tx| tx.put_raw(CACHE_KIND, CACHE_ID, same))
            .unwrap();
        assert_ne!(first, head(), "same value, same millisecond: new nonce");
    }

    struct Frozen;
    impl crate::platform::Clock for Frozen {
        fn now_millis(&self) -> i64 {
            1_800_000_000_000
        }
    }

    #[test]
    fn same_millisecond_rewrite_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_with_clock(
            &dir.path().join("s.db"),
            &MemoryKeyProvider::new([3; 32]),
            std::sync::Arc::new(Frozen),
        )
        .unwrap();
        let put = |read: bool| {
            let body = serde_json::json!({
                "channel": "c", "event_id": "e", "kind": "safety_alert", "seq": 1, "hlc": 1,
                "at": 1, "received_at": 1, "body": {}, "read_at": if read { Some(2) } else { None },
                "applied": true, "notify_at": null,
            });
            store
                .write(|tx| tx.put_raw(InboxItem::KIND, "e", body.to_string().as_bytes()))
                .unwrap();
        };
        put(false);
        let first = cache_fingerprint(&store).unwrap();
        assert_eq!(cache_fingerprint(&store).unwrap(), first, "stable");
        put(true);
        // Same count, rowid and updated_at: only the change sequence moved.
        assert_ne!(cache_fingerprint(&store).unwrap(), first);
    }

    #[test]
    fn empty_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::create(&dir.path().join("s.db"), &MemoryKeyProvider::new([2; 32])).unwrap();
        assert_eq!(cached_fingerprint(&store).unwrap(), None);
        assert!(load_patients_cached(&store).unwrap().is_empty());
        let live = cache_fingerprint(&store).unwrap();
        assert_eq!(cached_fingerprint(&store).unwrap(), Some(live.clone()));
        // The cache record is not an input of its own fingerprint.
        assert_eq!(cache_fingerprint(&store).unwrap(), live);
        clear_patients_cache(&store).unwrap();
        assert_eq!(cached_fingerprint(&store).unwrap(), None);
    }
}
