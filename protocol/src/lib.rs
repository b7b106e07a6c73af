//! The wire protocol that phones and the relay both speak (ADR 0005, ADR 0006):
//! the pairing code, SPAKE2 pairing with key confirmation, per-direction KDF
//! chains, the versioned envelope, device keys, request signing, and the relay
//! client over a platform [`HttpTransport`].
//!
//! No SQLite, no store and no features live here: the relay depends on this
//! crate alone, and `collabzium-core` builds the sync service on top of it.

pub mod channel;
pub mod client;
pub mod code;
pub mod device;
pub mod envelope;
pub mod error;
pub mod pairing;
pub mod push;
pub mod ratchet;
pub mod signing;
pub mod transport;

pub use channel::{Channel, Opened, Role};
pub use code::PairingCode;
pub use device::DeviceKey;
pub use envelope::Direction;
pub use error::{ClientError, PairingError, SendError, SyncRejection};
pub use pairing::{join, Accepted, FinishMessage, Invitation, JoinMessage, PeerInfo, PendingJoin};
pub use transport::{HttpRequest, HttpResponse, HttpTransport, TransportError};
