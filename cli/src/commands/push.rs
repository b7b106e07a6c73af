//! `collabzium sync push-register | push-unregister` (issue 16 §1): hand
//! this device's push endpoint to the relays of its channels. The relay
//! then sends a content-free wake-up when something is queued for it.

use std::path::Path;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use collabzium_core::sync::{self, PushEndpoint};
use collabzium_core::{Error, Result};
use collabzium_http::UreqTransport;

use super::open_store;
use crate::output::Output;

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Register this device's one push endpoint at its relays (replaces any earlier).
    PushRegister(RegisterArgs),
    /// Remove this device's push endpoint from its relays.
    PushUnregister,
}

#[derive(Args)]
#[command(group(ArgGroup::new("endpoint").required(true).args(["webpush", "fcm", "apns"])))]
pub struct RegisterArgs {
    /// A Web Push / UnifiedPush endpoint URL (https); needs --p256dh and --auth.
    #[arg(long, requires_all = ["p256dh", "auth"])]
    webpush: Option<String>,
    /// The subscription's P-256 public key, base64url.
    #[arg(long)]
    p256dh: Option<String>,
    /// The subscription's auth secret, base64url.
    #[arg(long)]
    auth: Option<String>,
    /// An FCM registration token.
    #[arg(long)]
    fcm: Option<String>,
    /// An APNs device token (hex).
    #[arg(long)]
    apns: Option<String>,
}

pub fn run(out: &Output, store: Option<&Path>, cmd: SyncCommand) -> Result<()> {
    let store = open_store(store)?;
    let t = UreqTransport::new(Duration::from_secs(30));
    let r = match cmd {
        SyncCommand::PushRegister(a) => {
            let endpoint = match (a.webpush, a.fcm, a.apns) {
                (Some(endpoint), _, _) => PushEndpoint::WebPush {
                    endpoint,
                    p256dh: a.p256dh.unwrap_or_default(),
                    auth: a.auth.unwrap_or_default(),
                },
                (_, Some(token), _) => PushEndpoint::Fcm { token },
                (_, _, Some(token)) => PushEndpoint::Apns { token },
                _ => {
                    return Err(Error::invalid(
                        "endpoint",
                        "one of --webpush, --fcm or --apns is required",
                    ))
                }
            };
            sync::register_push(&store, &t, &endpoint)?
        }
        SyncCommand::PushUnregister => sync::unregister_push(&store, &t)?,
    };
    out.emit(&r, || {
        format!("push endpoint updated at {} relay(s)", r.relays)
    });
    Ok(())
}
