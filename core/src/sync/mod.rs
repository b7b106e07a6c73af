//! End-to-end encrypted sync (ADR 0005). This module holds the pure,
//! local layers: the pairing code, SPAKE2 pairing with key confirmation, the
//! per-direction KDF chains and the versioned envelope. Storage, delivery and
//! the relay client build on these.

pub mod channel;
pub mod code;
pub mod device;
pub mod envelope;
pub mod error;
pub mod pairing;
pub mod ratchet;
pub mod signing;

pub use channel::{Channel, Opened, Role};
pub use code::PairingCode;
pub use device::DeviceKey;
pub use envelope::Direction;
pub use error::{PairingError, SendError, SyncRejection};
pub use pairing::{join, Accepted, FinishMessage, Invitation, JoinMessage, PeerInfo, PendingJoin};
