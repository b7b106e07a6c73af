//! End-to-end encrypted sync (ADR 0005): the pairing code, SPAKE2 pairing
//! with key confirmation, per-direction KDF chains, the versioned envelope,
//! request signing, the relay client over a platform transport, and the
//! service that pairs, syncs, messages and unpairs a store.

pub mod availability;
pub mod channel;
pub mod client;
pub mod code;
pub mod consent;
pub mod device;
pub mod envelope;
pub mod error;
pub mod events;
pub mod pairing;
pub mod ratchet;
pub mod service;
pub mod signing;
pub mod state;
pub mod transport;

pub use channel::{Channel, Opened, Role};
pub use code::PairingCode;
pub use device::DeviceKey;
pub use envelope::Direction;
pub use error::{PairingError, SendError, SyncRejection};
pub use pairing::{join, Accepted, FinishMessage, Invitation, JoinMessage, PeerInfo, PendingJoin};
pub use service::{SyncSummary, TherapistInvitation};
pub use transport::{HttpRequest, HttpResponse, HttpTransport, TransportError};
