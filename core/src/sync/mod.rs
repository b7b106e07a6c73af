//! End-to-end encrypted sync of a store (ADR 0005): invitations and joins,
//! the sync round, what is queued for peers and what the screens read, over
//! the wire protocol of `collabzium-protocol` (pairing, chains, envelopes,
//! signing, relay client).
//!
//! What received events do to other features (enrol an assigned program,
//! record an approval or an acknowledgement) is not here: the session layer
//! (`crate::session`) runs those after a round.

mod acknowledgement;
pub mod availability;
pub mod consent;
mod erase;
pub mod events;
mod invitation;
mod outbound;
pub mod push;
pub mod qr;
mod round;
pub mod state;
mod views;

use chrono::{DateTime, TimeZone, Utc};

use crate::error::{Error, Result};
use crate::store::Store;
use collabzium_protocol::client::Refusal;
use collabzium_protocol::DeviceKey;
use state::{SyncIdentity, IDENTITY_ID};

// The protocol types that appear in this module's API.
pub use acknowledgement::{send_alert_ack, AckAction, AlertAcknowledgement, MAX_ACK_NOTE_CHARS};
pub use collabzium_protocol::{
    Channel, Direction, HttpRequest, HttpResponse, HttpTransport, PairingCode, PairingError, Role,
    SyncRejection, TransportError,
};
pub use erase::{erase_everywhere, EraseEverywhereReport};
pub use invitation::*;
pub use outbound::*;
pub use push::{register_push, unregister_push, PushEndpoint, PushRegistration};
pub use round::*;
pub use views::*;

pub(crate) fn now_s(store: &Store) -> i64 {
    store.now_millis().div_euclid(1000)
}

pub(crate) fn millis_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) fn identity(store: &Store) -> Result<Option<SyncIdentity>> {
    Ok(store.get::<SyncIdentity>(IDENTITY_ID)?.map(|s| s.value))
}

/// The therapist's default availability hours, as set for new channels
/// (empty when none were set).
pub fn default_availability(store: &Store) -> Result<availability::Availability> {
    Ok(identity(store)?
        .and_then(|i| i.settings)
        .unwrap_or_default())
}

/// This store's sync role, once it has invited or joined.
pub fn own_role(store: &Store) -> Result<Option<Role>> {
    identity(store)?.map(|i| i.role()).transpose()
}

pub(crate) fn require_identity(store: &Store) -> Result<(SyncIdentity, DeviceKey)> {
    let id = identity(store)?.ok_or_else(|| Error::NotFound {
        what: "sync identity (invite or join first)".into(),
    })?;
    let key = id.device()?;
    Ok((id, key))
}

pub(crate) fn refused(r: Refusal) -> Error {
    match (r.status, r.code.as_str()) {
        (404, _) => PairingError::NotFound.into(),
        _ => r.into(),
    }
}

/// The one channel in `channels`, for calls that may omit the channel id:
/// `NotFound` naming `none` when there is none, and a request for the id when
/// there are several.
pub(crate) fn the_only_channel(
    channels: Vec<state::ChannelState>,
    none: &str,
) -> Result<state::ChannelState> {
    let mut channels = channels.into_iter();
    match (channels.next(), channels.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(Error::NotFound { what: none.into() }),
        _ => Err(Error::invalid(
            "channel",
            "is required: this store has several channels",
        )),
    }
}
