//! The public error: few variants, each one a caller can act on, and no
//! personal data in any message.

use collabzium_core::Error as CoreError;

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum CollabziumError {
    /// The key does not unlock this store. Ask again; never delete the store.
    #[error("wrong key")]
    WrongKey,
    /// Stored data failed authentication or parsing. `kind` names what.
    #[error("corrupt {kind}: {reason}")]
    Corrupt { kind: String, reason: String },
    /// The caller's input was refused. `field` names what.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("already exists: {what}")]
    AlreadyExists { what: String },
    /// The platform key store is unavailable (e.g. device locked). Retry later.
    #[error("key unavailable: {reason}")]
    KeyUnavailable { reason: String },
    /// Written by a newer app version; update the app.
    #[error("store version {found} is newer than {supported}")]
    UnsupportedVersion { found: i64, supported: i64 },
    /// The store was closed or erased.
    #[error("store is closed")]
    Closed,
    /// Disk, database or internal failure; safe to retry or report.
    #[error("storage failure: {reason}")]
    Storage { reason: String },
    /// Pairing failed. `code` is stable: invalid_code, code_mismatch,
    /// pairing_not_found, already_paired, wrong_role, ...
    #[error("pairing failed: {code}")]
    Pairing { code: String },
    /// The relay could not be reached; everything is kept. Retry later.
    #[error("offline")]
    Offline,
    /// The relay refused the request (`code` is its problem code).
    #[error("relay refused: {status} {code}")]
    Relay { status: u16, code: String },
}

impl From<CoreError> for CollabziumError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::WrongKey => Self::WrongKey,
            CoreError::Corrupt { kind, reason } => Self::Corrupt { kind, reason },
            CoreError::InvalidInput { field, reason } => Self::InvalidInput { field, reason },
            CoreError::NotFound { what } => Self::NotFound { what },
            CoreError::AlreadyExists { what } => Self::AlreadyExists { what },
            CoreError::KeyUnavailable(reason) => Self::KeyUnavailable { reason },
            CoreError::UnsupportedVersion { found, supported } => {
                Self::UnsupportedVersion { found, supported }
            }
            CoreError::Closed => Self::Closed,
            CoreError::Pairing(p) => Self::Pairing {
                code: p.code().to_string(),
            },
            CoreError::Offline(_) => Self::Offline,
            CoreError::Relay { status, code } => Self::Relay { status, code },
            // Kept within the existing variants so the apps' exhaustive
            // matches still hold; the field and reason name what happened.
            CoreError::ChannelRevoked { by } => Self::InvalidInput {
                field: "channel".into(),
                reason: format!("revoked by {by}: nothing more is sent on it"),
            },
            e @ (CoreError::Storage(_) | CoreError::Io(_) | CoreError::Internal(_)) => {
                Self::Storage {
                    reason: e.to_string(),
                }
            }
        }
    }
}

pub type Result<T, E = CollabziumError> = std::result::Result<T, E>;
