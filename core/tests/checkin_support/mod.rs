//! Fixtures for the check-in tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use collabzium_core::checkin::Checkins;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::platform::Clock;
use collabzium_core::store::Store;

/// A clock the test moves by hand.
pub struct ManualClock(pub AtomicI64);

impl ManualClock {
    pub fn advance_days(&self, days: i64) {
        self.0.fetch_add(days * 86_400_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 2026-03-01T19:00:00Z.
pub const T0: i64 = 1_772_391_600_000;

pub fn provider() -> MemoryKeyProvider {
    MemoryKeyProvider::new([0x42; 32])
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock(AtomicI64::new(T0)))
}

pub fn profile(mode: TreatmentMode, locale: &str) -> Profile {
    Profile {
        display_name: "Test Patient".into(),
        time_zone: "Europe/Berlin".into(),
        locale: locale.into(),
        mode,
        country: None,
    }
}

pub fn create(path: &Path, clock: Arc<ManualClock>, mode: Option<TreatmentMode>) -> Checkins {
    let store = Store::create_with_clock(path, &provider(), clock).unwrap();
    if let Some(m) = mode {
        store.set_profile(&profile(m, "en-GB")).unwrap();
    }
    Checkins::new(store).unwrap()
}

pub fn reopen(path: &Path, clock: Arc<ManualClock>) -> Checkins {
    Checkins::new(Store::open_with_clock(path, &provider(), clock).unwrap()).unwrap()
}

pub fn phq9(values: [i64; 9]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (i, v) in values.iter().enumerate() {
        m.insert(format!("phq9_{}", i + 1), (*v).into());
    }
    serde_json::Value::Object(m)
}
