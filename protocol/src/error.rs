//! Typed outcomes of pairing, of opening envelopes (ADR 0005 §3, §6) and of
//! relay calls.

use thiserror::Error;

/// Why a received envelope was not accepted. Every variant is a distinct,
/// countable reason; none of them carries content, so they are safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum SyncRejection {
    /// Too short, unknown direction, seq 0, or bad plaintext framing.
    #[error("malformed envelope")]
    Malformed,
    /// A version byte this build never wrote.
    #[error("unsupported envelope version")]
    UnsupportedVersion,
    /// The header names another channel (splice between channels).
    #[error("envelope belongs to another channel")]
    WrongChannel,
    /// The header claims our own sending direction (a reflected envelope).
    #[error("envelope has the wrong direction")]
    WrongDirection,
    /// The AEAD tag did not verify: tampered header, body or tag, or a
    /// renumbered/forged envelope.
    #[error("envelope failed authentication")]
    Authentication,
    /// This seq was already opened (replay).
    #[error("duplicate envelope")]
    Duplicate,
    /// More than [`MAX_SKIP`](super::ratchet::MAX_SKIP) keys would have to be
    /// derived ahead; retry once the gap below it has filled.
    #[error("envelope too far ahead of the receiving chain")]
    TooFarAhead,
    /// The skipped message key for this seq was evicted; the event must be
    /// re-sent under a new seq.
    #[error("message key no longer available")]
    Unrecoverable,
    /// An authentic event of a kind the peer's role may not write.
    #[error("event kind not permitted from this sender")]
    OwnershipViolation,
}

/// Why sealing an event failed. Nothing is consumed from the chain on error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("payload of {0} bytes exceeds the maximum")]
    PayloadTooLarge(usize),
    #[error("sending chain exhausted")]
    ChainExhausted,
}

/// Why a pairing step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PairingError {
    /// The code is not well formed or its check character is wrong. Detected
    /// locally, before anything is sent, so a typo does not burn the invitation.
    #[error("invalid pairing code")]
    InvalidCode,
    /// The relay URL is not an http(s) base URL.
    #[error("invalid relay URL")]
    InvalidRelayUrl,
    /// A pairing message has the wrong shape.
    #[error("malformed pairing message")]
    Malformed,
    /// Key confirmation failed: the two sides used different codes (or a
    /// third party guessed). The therapist's invitation is burned.
    #[error("pairing code mismatch")]
    CodeMismatch,
    /// The invitation was already used or burned; make a new code.
    #[error("invitation already used")]
    InvitationBurned,
    /// A nameplate was already assigned, or the code is not ready yet.
    #[error("invitation not in the right state")]
    InvalidState,
    /// The peer announced the wrong role.
    #[error("peer has the wrong role")]
    WrongRole,
    /// The confirmation verified but the peer's box or its binding signature
    /// did not: the box was tampered with after confirmation.
    #[error("pairing binding invalid")]
    BindingInvalid,
    /// The relay knows no open invitation with this nameplate (never made,
    /// expired after 15 minutes, or already used).
    #[error("no open invitation with this code")]
    NotFound,
    /// This store already has an active channel (a patient has one therapist
    /// in v1), or the two devices are already paired.
    #[error("already paired")]
    AlreadyPaired,
}

impl PairingError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PairingError::InvalidCode => "invalid_code",
            PairingError::InvalidRelayUrl => "invalid_relay_url",
            PairingError::Malformed => "pairing_malformed",
            PairingError::CodeMismatch => "code_mismatch",
            PairingError::InvitationBurned => "invitation_burned",
            PairingError::InvalidState => "pairing_state",
            PairingError::WrongRole => "wrong_role",
            PairingError::BindingInvalid => "binding_invalid",
            PairingError::NotFound => "pairing_not_found",
            PairingError::AlreadyPaired => "already_paired",
        }
    }
}

impl SyncRejection {
    /// Stable name, used in sync summaries and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            SyncRejection::Malformed => "malformed",
            SyncRejection::UnsupportedVersion => "unsupported_version",
            SyncRejection::WrongChannel => "wrong_channel",
            SyncRejection::WrongDirection => "wrong_direction",
            SyncRejection::Authentication => "authentication",
            SyncRejection::Duplicate => "duplicate",
            SyncRejection::TooFarAhead => "too_far_ahead",
            SyncRejection::Unrecoverable => "unrecoverable",
            SyncRejection::OwnershipViolation => "ownership_violation",
        }
    }
}

/// Why a relay call failed. None of these carry content or URLs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The relay could not be reached; the caller keeps everything to resume.
    #[error("offline: {0}")]
    Offline(String),
    /// The relay refused the request, or answered with something unreadable
    /// (`status` 0, code `malformed_response`).
    #[error("relay refused the request: {status} {code}")]
    Relay { status: u16, code: String },
    /// A request body could not be encoded.
    #[error("internal: {0}")]
    Internal(String),
}
