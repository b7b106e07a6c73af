//! When an automatic backup is due (issue 16 §2): never without a recovery
//! key; at once before the first; after a check-in since the last saved
//! backup; a day after it. Real store files, a controlled clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use collabzium_core::backup;
use collabzium_core::checkin::Checkins;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::platform::Clock;
use collabzium_core::store::Store;
use collabzium_core::Error;

struct StepClock(AtomicI64);

impl Clock for StepClock {
    fn now_millis(&self) -> i64 {
        // Each reading one millisecond later: times are strictly ordered.
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

const T0: i64 = 1_780_000_000_000;
const HOUR: i64 = 3_600_000;

fn store(dir: &std::path::Path) -> (Store, Arc<StepClock>) {
    let clock = Arc::new(StepClock(AtomicI64::new(T0)));
    let s = Store::create_with_clock(
        &dir.join("s.db"),
        &MemoryKeyProvider::new([3; 32]),
        clock.clone(),
    )
    .unwrap();
    (s, clock)
}

fn checkin(store: &Store) {
    let c = Checkins::new(store.clone()).unwrap();
    let d = c.start("gad7", None).unwrap();
    let answers: serde_json::Map<String, serde_json::Value> =
        (1..=7).map(|i| (format!("gad7_{i}"), 1.into())).collect();
    c.answer_json(&d.checkin_id, &serde_json::Value::Object(answers))
        .unwrap();
    c.submit(&d.checkin_id).unwrap();
}

#[test]
fn due_follows_the_first_backup_check_ins_and_the_day() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = store(dir.path());
    let now = || clock.0.load(Ordering::SeqCst);
    // No recovery key: nothing to back up with.
    assert!(!backup::due(&s, now()).unwrap());
    let key = backup::set_up_recovery_key(&s).unwrap();
    assert!(backup::due(&s, now()).unwrap(), "never backed up");
    assert_eq!(backup::last_backup_at(&s).unwrap(), None);

    let (bytes, summary) = backup::create(&s, &key).unwrap();
    // Made but not yet saved: still due.
    assert!(backup::due(&s, now()).unwrap());
    assert_eq!(
        backup::backup_created_at(&bytes).unwrap(),
        summary.created_at_millis
    );
    backup::record_saved(&s, summary.created_at_millis).unwrap();
    assert_eq!(
        backup::last_backup_at(&s).unwrap(),
        Some(summary.created_at_millis)
    );
    assert!(!backup::due(&s, now()).unwrap(), "just saved");
    assert!(!backup::due(&s, now() + 23 * HOUR).unwrap());
    assert!(backup::due(&s, now() + 24 * HOUR).unwrap(), "a day old");

    // A check-in since the backup makes the next one due at once.
    checkin(&s);
    assert!(backup::due(&s, now()).unwrap());
    let (_, second) = backup::create(&s, &key).unwrap();
    backup::record_saved(&s, second.created_at_millis).unwrap();
    assert!(!backup::due(&s, now()).unwrap());

    // A late report of the older backup does not move the time back.
    backup::record_saved(&s, summary.created_at_millis).unwrap();
    assert_eq!(
        backup::last_backup_at(&s).unwrap(),
        Some(second.created_at_millis)
    );
}

#[test]
fn a_check_in_during_the_backup_still_makes_the_next_one_due() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = store(dir.path());
    let key = backup::set_up_recovery_key(&s).unwrap();
    let (_, summary) = backup::create(&s, &key).unwrap();
    // Submitted after the backup was made, before it was reported saved.
    checkin(&s);
    backup::record_saved(&s, summary.created_at_millis).unwrap();
    assert!(backup::due(&s, clock.0.load(Ordering::SeqCst)).unwrap());
}

#[test]
fn backup_created_at_refuses_what_is_not_a_backup() {
    for bytes in [&b""[..], b"CZBACKUP", b"not a backup at all, just text"] {
        assert!(matches!(
            backup::backup_created_at(bytes),
            Err(Error::Corrupt { .. })
        ));
    }
    let mut forged = b"CZBACKUP\x00\x01".to_vec();
    forged.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        backup::backup_created_at(&forged),
        Err(Error::Corrupt { .. })
    ));
}
