//! Erasure that reaches the relay and the peer (issue 16 §3, ADR 0005 §7).
//!
//! Before the local keys are shredded, every live channel is revoked the
//! way `unpair` does it: a statement signed with the device key, then
//! `DELETE /v1/channels/{cid}`. The relay drops the channel's queued
//! envelopes and keeps a tombstone that it serves to the peer, who learns
//! that this side left. The network never blocks erasure: a channel the
//! relay could not be told about is named in the report, and the local
//! erase goes ahead anyway.

use serde::Serialize;

use super::round::send_revocation;
use super::state::{ChannelState, ChannelStatus};
use super::*;
use crate::error::{Error, Result};
use crate::platform::KeyProvider;
use crate::store::EraseReport;
use collabzium_protocol::client::{b64, RelayClient};
use collabzium_protocol::transport::HttpTransport;
use collabzium_protocol::DeviceKey;

/// What `erase_everywhere` did. Channel ids are random and hold no
/// personal data; they let the user (or support) tell which peer was told.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EraseEverywhereReport {
    /// Channels the relay confirmed as revoked (queued envelopes deleted,
    /// tombstone kept for the peer).
    pub revoked_at_relay: Vec<String>,
    /// Channels the relay was not told about (offline, refused, or
    /// `--offline`): the peer learns nothing until the relay's retention
    /// drops the queued envelopes; see ADR 0005 §7.
    pub not_reached: Vec<String>,
    /// Why the first unreached channel was not reached (`offline`,
    /// `skipped`, a relay problem code).
    pub not_reached_reason: Option<String>,
    /// The local crypto-shredding.
    pub local: EraseReport,
}

/// Revokes every channel this store has not yet told the relay about
/// (signed, as `unpair` does), then erases the store locally. With no
/// transport (offline by choice) only the local erase runs. Errors from the
/// network are reported, never returned: erasure always proceeds.
pub fn erase_everywhere(
    store: &Store,
    provider: &dyn KeyProvider,
    transport: Option<&dyn HttpTransport>,
) -> Result<EraseEverywhereReport> {
    let mut revoked_at_relay = Vec::new();
    let mut not_reached = Vec::new();
    let mut reason: Option<String> = None;
    {
        // No sync round may run on keys being shredded.
        let _guard = store.sync_guard();
        // A damaged identity or channel list must not stop the erase: say
        // why nothing was revoked, and erase.
        let key = identity(store).and_then(|i| i.map(|i| i.device()).transpose());
        let channels = store.read(|tx| tx.list::<ChannelState>());
        match (key, channels) {
            (Ok(None), _) => {}
            (Err(e), _) | (_, Err(e)) => reason = Some(e.code().to_string()),
            (Ok(Some(key)), Ok(channels)) => {
                for mut ch in channels.into_iter().map(|c| c.value) {
                    let live = matches!(ch.status, ChannelStatus::Active | ChannelStatus::Pending);
                    let owed = ch.status == ChannelStatus::Revoked
                        && ch.revoked_by.as_deref() == Some("me")
                        && !ch.relay_revoked;
                    if !(live || owed) {
                        continue;
                    }
                    match revoke_one(store, &key, transport, &mut ch, live) {
                        Ok(true) => revoked_at_relay.push(ch.id.clone()),
                        Ok(false) => not_reached.push(ch.id.clone()),
                        Err(why) => {
                            reason.get_or_insert(why);
                            not_reached.push(ch.id.clone());
                        }
                    }
                }
            }
        }
    }
    let local = store.erase(provider)?;
    Ok(EraseEverywhereReport {
        revoked_at_relay,
        not_reached,
        not_reached_reason: reason,
        local,
    })
}

/// Signs and shreds (when `live`), then tells the relay. `Ok(true)` when
/// the relay confirmed; `Err` names why not. Nothing here stops the erase.
fn revoke_one(
    store: &Store,
    key: &DeviceKey,
    transport: Option<&dyn HttpTransport>,
    ch: &mut ChannelState,
    live: bool,
) -> std::result::Result<bool, String> {
    let why = |e: Error| match e {
        Error::Offline(_) => "offline".to_string(),
        Error::Relay { code, .. } => code,
        other => other.code().to_string(),
    };
    if live {
        let at = store.now_millis();
        let statement = key.sign(&collabzium_protocol::client::revocation_message(
            &ch.cid().map_err(why)?,
            at,
        ));
        ch.revocation_statement = Some(b64(&statement));
        shred_channel(store, ch, at, "me").map_err(why)?;
    }
    let Some(t) = transport else {
        return Err("skipped".into());
    };
    let client = RelayClient::new(&ch.relay_url, t, key, || now_s(store));
    send_revocation(store, &client, ch).map_err(why)?;
    Ok(ch.relay_revoked)
}
