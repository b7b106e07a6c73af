//! Collabzium core: the store and pure domains, the features (sync, agenda,
//! check-ins, insights) and the session layer that composes them, in the
//! layers of ADR 0007 (checked by `tests/layering.rs`). The wire protocol is
//! the `collabzium-protocol` crate below this one.
//!
//! No FFI and no platform I/O live here; platforms plug in through the traits in [`platform`].

pub mod agenda;
pub mod audit;
pub mod backup;
pub mod checkin;
pub mod crisis;
pub mod crypto;
pub mod domain;
mod error;
pub mod insights;
pub mod instruments;
/// One JSON reader instantiated once per type (size).
pub(crate) mod json;
pub mod platform;
pub mod program;
pub mod research;
pub mod risk_language;
pub mod schedule;
pub mod session;
/// One stable sort instantiated once for the library (size).
pub(crate) mod sort;
pub mod store;
pub mod sync;
pub(crate) mod text;
/// Named IANA zones; public as `schedule::Tz`.
mod tz;

pub use error::{Error, Result};

/// Version of the core library.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
