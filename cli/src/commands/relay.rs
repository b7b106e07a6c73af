//! `collabzium relay serve`: the store-and-forward relay (ADR 0006).

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use collabzium_core::{Error, Result};
use collabzium_relay::{parse_duration, parse_rate, parse_size, RelayConfig};

#[derive(Subcommand)]
pub enum RelayCommand {
    /// Serve the relay API until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// `sqlite:PATH` (default, in the working directory) or `postgres://...`.
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_DATABASE",
        default_value = "sqlite:collabzium-relay.sqlite3"
    )]
    database: String,
    /// Address to listen on; port 0 picks a free one.
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_LISTEN",
        default_value = "127.0.0.1:8787"
    )]
    listen: SocketAddr,
    /// How long an unacknowledged envelope is kept, e.g. 30d, 12h.
    #[arg(long, env = "COLLABZIUM_RELAY_RETENTION", default_value = "30d")]
    retention: String,
    /// Largest push request body, e.g. 1MiB.
    #[arg(long, env = "COLLABZIUM_RELAY_MAX_BODY", default_value = "1MiB")]
    max_body: String,
    /// Requests per device, e.g. 50/s (burst 4x), or 50/s:200.
    #[arg(long, env = "COLLABZIUM_RELAY_RATE_LIMIT", default_value = "50/s")]
    rate_limit: String,
    /// Requests per second per client IP before authentication; 0 disables.
    #[arg(long, env = "COLLABZIUM_RELAY_IP_RATE_LIMIT", default_value_t = 100)]
    ip_rate_limit: u32,
    /// Queued envelopes per channel and direction.
    #[arg(long, env = "COLLABZIUM_RELAY_CHANNEL_QUOTA", default_value_t = 10_000)]
    channel_quota: u64,
    /// json or text.
    #[arg(long, env = "COLLABZIUM_RELAY_LOG_FORMAT", default_value = "json")]
    log_format: String,
}

fn config_error(e: impl std::fmt::Display) -> Error {
    Error::invalid("relay configuration", e)
}

pub fn run(cmd: RelayCommand) -> Result<()> {
    let RelayCommand::Serve(a) = cmd;
    let (rate, burst) = parse_rate(&a.rate_limit).map_err(config_error)?;
    let config = RelayConfig {
        database: a.database,
        listen: a.listen,
        retention: parse_duration(&a.retention).map_err(config_error)?,
        max_body: parse_size(&a.max_body).map_err(config_error)?,
        rate_limit_per_s: rate,
        rate_burst: burst,
        channel_quota: a.channel_quota,
        ip_rate_limit_per_s: a.ip_rate_limit,
        log_format: a.log_format.parse().map_err(config_error)?,
        ..RelayConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::from)?;
    rt.block_on(async move {
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        };
        collabzium_relay::serve(config, shutdown)
            .await
            .map_err(|e| Error::Io(e.to_string()))
    })
}
