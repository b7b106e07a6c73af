//! End-to-end encrypted sync of a store (ADR 0005): the service that pairs,
//! syncs, messages and unpairs a store, over the wire protocol of
//! `collabzium-protocol` (pairing, chains, envelopes, signing, relay client).

pub mod availability;
pub mod consent;
pub mod events;
pub mod service;
pub mod state;

// The protocol types that appear in this module's API.
pub use collabzium_protocol::{
    Channel, Direction, HttpRequest, HttpResponse, HttpTransport, PairingCode, PairingError, Role,
    SyncRejection, TransportError,
};
pub use service::{SyncSummary, TherapistInvitation};
