//! Internal error type of the core.
//!
//! Messages never carry personal data: they name record kinds, fields and
//! reasons, never stored values. The FFI layer maps these onto a smaller
//! public enum.

use std::fmt;

/// What kind of stored thing failed, so a caller can say "your consent
/// history is damaged" without us leaking its contents.
pub type RecordKindName = String;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key provider's key does not unlock this store (key check failed).
    #[error("wrong key: the key does not unlock this store")]
    WrongKey,

    /// Stored bytes failed authentication or could not be parsed.
    #[error("corrupt {kind}: {reason}")]
    Corrupt {
        kind: RecordKindName,
        reason: String,
    },

    /// A caller passed something we refuse to store or act on.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    #[error("not found: {what}")]
    NotFound { what: String },

    #[error("already exists: {what}")]
    AlreadyExists { what: String },

    /// The platform key store could not be used (locked device, missing key).
    #[error("key unavailable: {0}")]
    KeyUnavailable(String),

    /// The store was written by a newer build than this one.
    #[error("unsupported store version {found}; this build reads up to {supported}")]
    UnsupportedVersion { found: i64, supported: i64 },

    /// The store was closed or erased.
    #[error("store is closed")]
    Closed,

    #[error("storage: {0}")]
    Storage(String),

    #[error("i/o: {0}")]
    Io(String),

    #[error("internal: {0}")]
    Internal(String),

    /// Pairing failed (wrong code, expired invitation, tampered box).
    #[error("pairing: {0}")]
    Pairing(#[from] collabzium_protocol::PairingError),

    /// The relay could not be reached; everything is kept to resume later.
    #[error("offline: {0}")]
    Offline(String),

    /// The channel was revoked: `by` is `peer` when the other side left or
    /// ended it (a patient who erased their data), `me` when this side did.
    /// Nothing more is sent on it.
    #[error("channel revoked by {by}: nothing more is sent on it")]
    ChannelRevoked { by: String },

    /// The relay refused a request (`code` is its stable problem code).
    #[error("relay refused the request: {status} {code}")]
    Relay { status: u16, code: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    pub fn corrupt(kind: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            kind: kind.into(),
            reason: reason.into(),
        }
    }

    /// Stable machine-readable code, shared by the CLI's `--json` output and docs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::WrongKey => "wrong_key",
            Error::Corrupt { .. } => "corrupt",
            Error::InvalidInput { .. } => "invalid_input",
            Error::NotFound { .. } => "not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::KeyUnavailable(_) => "key_unavailable",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::Closed => "closed",
            Error::Storage(_) => "storage",
            Error::Io(_) => "io",
            Error::Internal(_) => "internal",
            Error::Pairing(e) => e.code(),
            Error::Offline(_) => "offline",
            Error::ChannelRevoked { .. } => "channel_revoked",
            Error::Relay { .. } => "relay_refused",
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
                Error::corrupt("database", "the database file is damaged or not a store")
            }
            Some(ErrorCode::DiskFull) => Error::Storage("disk full".into()),
            Some(ErrorCode::ReadOnly) => Error::Storage("store is read-only".into()),
            Some(ErrorCode::CannotOpen) => Error::Io("cannot open the store file".into()),
            // SQLite's own messages hold SQL text and codes, never bound values.
            _ => Error::Storage(e.to_string()),
        }
    }
}

impl From<collabzium_protocol::ClientError> for Error {
    fn from(e: collabzium_protocol::ClientError) -> Self {
        use collabzium_protocol::ClientError;
        match e {
            ClientError::Offline(why) => Error::Offline(why),
            ClientError::Relay { status, code } => Error::Relay { status, code },
            ClientError::Internal(why) => Error::Internal(why),
        }
    }
}

impl From<collabzium_protocol::client::Refusal> for Error {
    fn from(r: collabzium_protocol::client::Refusal) -> Self {
        Error::Relay {
            status: r.status,
            code: r.code,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // io::Error's Display can include paths; keep the kind only.
        Error::Io(format!("{:?}", e.kind()))
    }
}

/// serde_json errors can quote input ("invalid type: string \"Alice\""),
/// so only the category and position survive.
pub(crate) fn json_error_reason(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}
