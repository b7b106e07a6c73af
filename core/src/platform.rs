//! Platform services the core needs but cannot provide itself.
//!
//! Apps implement these (Android Keystore, iOS Keychain, the OS clock); the
//! bindings adapt the foreign implementations onto these traits. Rust
//! implementations for the CLI and tests live next to them.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

/// Why a key provider failed. `WrongKey` is the only outcome that means
/// "this is not the right secret"; everything else is transient or fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProviderError {
    #[error("the key provider's key does not match")]
    WrongKey,
    #[error("the wrapped key is malformed")]
    Malformed,
    #[error("the key provider is unavailable: {0}")]
    Unavailable(String),
}

/// Wraps and unwraps the store's data key with a key-encryption key that
/// never leaves the provider (hardware-backed on phones).
pub trait KeyProvider: Send + Sync {
    /// Returns an opaque blob; the store keeps it beside the data.
    fn wrap_key(&self, data_key: &[u8]) -> Result<Vec<u8>, KeyProviderError>;
    /// Inverse of `wrap_key`. A provider that cannot tell a wrong key may
    /// return garbage: the store's key check catches that.
    fn unwrap_key(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError>;
    /// Called when the store is erased, so the platform can delete its KEK too.
    fn destroy(&self) -> Result<(), KeyProviderError> {
        Ok(())
    }
}

/// Wall-clock source; injected so that tests and the demo control time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_millis(&self) -> i64;
}

/// The OS clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Why the platform could not take a reminder plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("notifications are not permitted")]
    NotPermitted,
    #[error("notification scheduler unavailable: {0}")]
    Unavailable(String),
}

/// Local notifications (UNUserNotificationCenter, AlarmManager). The core
/// owns the plan; the platform only mirrors it.
pub trait NotificationScheduler: Send + Sync {
    /// How many pending notifications the platform keeps (64 on iOS).
    fn max_pending(&self) -> u32;
    /// Make `plan` the whole set of pending notifications. Ids are stable
    /// across plans, so implementations can diff instead of cancelling all.
    fn replace_pending(&self, plan: &[Notification]) -> Result<(), SchedulerError>;
}

/// Why a reminder sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// A check-in has just opened.
    Checkin,
    /// The daily nudge about everything still open.
    Nudge,
}

/// One local notification. Title and body are generic on purpose: a lock
/// screen must not reveal what the patient is treated for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// `reminder:<item id>` or `nudge:<YYYY-MM-DD>`; the same slot keeps its
    /// id across re-plans, so the platform can diff.
    pub id: String,
    /// A 31-bit hash of `id`, for platforms that want integer ids (Android).
    pub platform_id: i32,
    pub fire_at: DateTime<Utc>,
    /// Wall-clock time it sounds, in the zone the patient is in now.
    pub local_time: NaiveDateTime,
    pub kind: ReminderKind,
    pub item_ids: Vec<String>,
    pub title: String,
    pub body: String,
}
