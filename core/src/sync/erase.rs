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
        let key = match identity(store)? {
            Some(id) => Some(id.device()?),
            None => None,
        };
        let channels: Vec<ChannelState> = store
            .read(|tx| tx.list::<ChannelState>())?
            .into_iter()
            .map(|c| c.value)
            .collect();
        for mut ch in channels {
            let live = matches!(ch.status, ChannelStatus::Active | ChannelStatus::Pending);
            let owed = ch.status == ChannelStatus::Revoked
                && ch.revoked_by.as_deref() == Some("me")
                && !ch.relay_revoked;
            let Some(key) = key.as_ref().filter(|_| live || owed) else {
                continue;
            };
            if live {
                let at = store.now_millis();
                let statement = key.sign(&collabzium_protocol::client::revocation_message(
                    &ch.cid()?,
                    at,
                ));
                ch.revocation_statement = Some(b64(&statement));
                shred_channel(store, &mut ch, at, "me")?;
            }
            let sent = match transport {
                None => Err("skipped".to_string()),
                Some(t) => {
                    let client = RelayClient::new(&ch.relay_url, t, key, || now_s(store));
                    send_revocation(store, &client, &mut ch).map_err(|e| match e {
                        Error::Offline(_) => "offline".to_string(),
                        Error::Relay { code, .. } => code,
                        other => other.code().to_string(),
                    })
                }
            };
            match sent {
                Ok(()) if ch.relay_revoked => revoked_at_relay.push(ch.id.clone()),
                Ok(()) => not_reached.push(ch.id.clone()),
                Err(why) => {
                    reason.get_or_insert(why);
                    not_reached.push(ch.id.clone());
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
