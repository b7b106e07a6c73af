//! Patient-side domain types that the store persists.

pub mod consent;
pub mod profile;

pub use consent::{ConsentDecision, ConsentRecord, ConsentState};
pub use profile::{Profile, TreatmentMode};

use crate::error::{Error, Result};

/// Ids, kinds and scopes appear in associated data and in logs, so they are
/// restricted to a small safe alphabet.
pub(crate) fn check_token(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if !value.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
    }) {
        return Err(Error::invalid(
            field,
            "may contain only a-z, 0-9, '_', '-' and '.'",
        ));
    }
    Ok(())
}
