//! The sealed patients cache behind `caseload_for_store` (issue 6): over a
//! therapist store fed by a real sync, the cached patients equal a fresh
//! `load_patients` after every kind of change (a synced check-in, an alert
//! acknowledgement, a therapist rating, an unpair), and an unchanged store
//! is answered from the cache. The export leaves the cache out.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use chrono::{Duration, Utc};
use collabzium_core::insights::{
    cache_fingerprint, cached_fingerprint, caseload, caseload_for_store, load_patients,
    load_patients_cached, rate_alliance, FlagConfig, CACHE_KIND,
};
use collabzium_core::store::Store;
use collabzium_core::sync;
use collabzium_e2e::*;
use serde_json::json;

/// Calls through the cache and checks it against a fresh load; then checks
/// the cache now matches the store, so the next call is a hit.
fn check(store: &Store, what: &str) {
    let before = cached_fingerprint(store).unwrap();
    let live = cache_fingerprint(store).unwrap();
    assert_ne!(before, Some(live.clone()), "{what}: the change is seen");
    let cached = load_patients_cached(store).unwrap();
    assert_eq!(cached, load_patients(store).unwrap(), "{what}");
    assert_eq!(
        cached_fingerprint(store).unwrap(),
        Some(live.clone()),
        "{what}"
    );
    assert_eq!(
        cache_fingerprint(store).unwrap(),
        live,
        "{what}: reading changes nothing"
    );
    // A hit: same patients, no rewrite of the cache.
    assert_eq!(load_patients_cached(store).unwrap(), cached, "{what}");
    assert_eq!(cached_fingerprint(store).unwrap(), Some(live), "{what}");
}

#[test]
fn cached_patients_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in_process(dir.path());
    let t = transport();
    let th = party(dir.path(), "therapist");
    let sam = party(dir.path(), "sam");
    let alex = party(dir.path(), "alex-patient");
    let sam_ch = pair(&relay.url(), &t, &th.store, &sam.store, "Sam");
    let alex_ch = pair(&relay.url(), &t, &th.store, &alex.store, "Alex");
    phq9(&sam.store, [1, 1, 1, 1, 1, 0, 0, 0, 0]);
    let alert = phq9(&alex.store, [1, 1, 1, 1, 0, 0, 0, 0, 1]);
    sync_until_quiet(&[&th, &sam, &alex], &t);
    check(&th.store, "first build");
    let now = Utc::now() + Duration::hours(1);
    assert_eq!(
        caseload_for_store(&th.store, now).unwrap(),
        caseload(
            &load_patients(&th.store).unwrap(),
            now,
            &FlagConfig::default()
        )
    );

    // A newly synced check-in.
    alliance_checkin(&sam.store, "");
    sync_until_quiet(&[&th, &sam, &alex], &t);
    check(&th.store, "synced check-in");

    // An acknowledgement updates the inbox item in place (same row; in the
    // same millisecond only the envelope's nonce would tell it apart, see
    // the unit test in core/src/insights/cache.rs).
    sync::send_alert_ack(
        &th.store,
        &alex_ch,
        &alert,
        collabzium_core::checkin::AckAction::Phone,
        None,
    )
    .unwrap();
    check(&th.store, "alert acknowledged");
    let a = load_patients_cached(&th.store).unwrap();
    let a = a.iter().find(|p| p.channel_id == alex_ch).unwrap();
    assert!(a.alerts[0].acknowledged);

    // The therapist's own rating (local records, never synced).
    rate_alliance(
        &th.store,
        &sam_ch,
        &json!({"goals_1": 3, "goals_2": 3, "goals_3": 3, "tasks_1": 3, "tasks_2": 3,
                "tasks_3": 3, "bond_1": 6, "bond_2": 6}),
    )
    .unwrap();
    check(&th.store, "therapist rating");

    // Unpairing revokes the channel (status in the channel record).
    sync::unpair(&th.store, &t, Some(&alex_ch)).unwrap();
    check(&th.store, "unpair");

    // The hit path really answers from the record: a cache written for the
    // live fingerprint is what comes back (a test-only forgery).
    let live = cache_fingerprint(&th.store).unwrap();
    let mut forged = load_patients(&th.store).unwrap();
    forged[0].label = Some("from the cache".into());
    let body = serde_json::to_vec(&json!({"fingerprint": live, "patients": forged})).unwrap();
    th.store
        .write(|tx| tx.put_raw(CACHE_KIND, "patients", &body))
        .unwrap();
    assert_eq!(
        load_patients_cached(&th.store).unwrap()[0].label.as_deref(),
        Some("from the cache")
    );

    // Derived data: not part of the user's export.
    let export = serde_json::to_string(&th.store.export().unwrap()).unwrap();
    assert!(!export.contains(CACHE_KIND));
}
