//! Wake-ups (issue 16 §1): the app hands its platform push token or Web
//! Push subscription to the core, which registers it, signed with the device
//! key, at every relay this store syncs through. A wake-up carries nothing;
//! the app answers it with one `sync()`.

use std::collections::BTreeSet;

use serde::Serialize;

use super::state::{ChannelState, ChannelStatus};
use super::{now_s, require_identity};
use crate::error::{Error, Result};
use crate::store::Store;
use collabzium_protocol::client::{Refusal, RelayClient};
use collabzium_protocol::HttpTransport;

pub use collabzium_protocol::push::PushEndpoint;

/// What a registration reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushRegistration {
    /// Relays that now hold (or, on unregister, no longer hold) the endpoint.
    pub relays: u32,
}

/// The relays of this store's live channels, each once.
fn relays(store: &Store) -> Result<BTreeSet<String>> {
    let urls: BTreeSet<String> = store
        .read(|tx| tx.list::<ChannelState>())?
        .into_iter()
        .map(|c| c.value)
        .filter(|c| matches!(c.status, ChannelStatus::Active | ChannelStatus::Pending))
        .map(|c| c.relay_url)
        .collect();
    if urls.is_empty() {
        return Err(Error::NotFound {
            what: "paired channel (pair before registering for wake-ups)".into(),
        });
    }
    Ok(urls)
}

/// A relay's refusal, with the field it named for a bad endpoint.
fn refused(r: Refusal) -> Error {
    match r.code.as_str() {
        "invalid_push_endpoint" => {
            let field = r.body["invalid"]["field"].as_str().unwrap_or("endpoint");
            let why = r.body["invalid"]["reason"]
                .as_str()
                .unwrap_or("refused by the relay");
            Error::invalid(format!("push {field}"), why)
        }
        "push_provider_off" => Error::invalid(
            "push kind",
            "the relay has no credentials for this push provider",
        ),
        _ => r.into(),
    }
}

/// Registers `endpoint` at every relay of this store's channels (one
/// endpoint per device: a new one replaces the old).
pub fn register_push(
    store: &Store,
    transport: &dyn HttpTransport,
    endpoint: &PushEndpoint,
) -> Result<PushRegistration> {
    let (_, key) = require_identity(store)?;
    let mut n = 0;
    for url in relays(store)? {
        let client = RelayClient::new(&url, transport, &key, || now_s(store));
        client.set_push_endpoint(endpoint)?.map_err(refused)?;
        n += 1;
    }
    Ok(PushRegistration { relays: n })
}

/// Removes this device's endpoint from every relay of its channels.
pub fn unregister_push(store: &Store, transport: &dyn HttpTransport) -> Result<PushRegistration> {
    let (_, key) = require_identity(store)?;
    let mut n = 0;
    for url in relays(store)? {
        let client = RelayClient::new(&url, transport, &key, || now_s(store));
        client.delete_push_endpoint()?.map_err(refused)?;
        n += 1;
    }
    Ok(PushRegistration { relays: n })
}
