//! `collabzium relay serve`: the store-and-forward relay (ADR 0006).

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use collabzium_core::{Error, Result};
use collabzium_relay::{parse_duration, parse_rate, parse_size, RelayConfig};

#[derive(Subcommand)]
pub enum RelayCommand {
    /// Serve the relay API until SIGTERM or Ctrl-C.
    Serve(Box<ServeArgs>),
}

#[derive(Args)]
pub struct ServeArgs {
    /// `sqlite:PATH` (default, in the working directory) or `postgres://...`.
    // The environment value may hold a password: never show it in --help.
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_DATABASE",
        hide_env_values = true,
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
    /// How long an unacknowledged envelope is kept, e.g. 30d, 12h (1h to 365d).
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
    /// How long a revoked channel's tombstone is kept (1d to 3650d).
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_TOMBSTONE_RETENTION",
        default_value = "400d"
    )]
    tombstone_retention: String,
    /// Serve /metrics only on this address (and not on --listen).
    #[arg(long, env = "COLLABZIUM_RELAY_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Time a client has to send a request head (100ms to 300s).
    #[arg(long, env = "COLLABZIUM_RELAY_HEADER_TIMEOUT", default_value = "10s")]
    header_timeout: String,
    /// Idle keep-alive connections are closed after this (100ms to 1h).
    #[arg(long, env = "COLLABZIUM_RELAY_IDLE_TIMEOUT", default_value = "60s")]
    idle_timeout: String,
    /// Time a client has to send a request body (100ms to 600s).
    #[arg(long, env = "COLLABZIUM_RELAY_BODY_TIMEOUT", default_value = "30s")]
    body_timeout: String,
    /// Time a whole request may take before a 408 (1s to 600s).
    #[arg(long, env = "COLLABZIUM_RELAY_REQUEST_TIMEOUT", default_value = "60s")]
    request_timeout: String,
    /// Open connections in total (1 to 1000000).
    #[arg(long, env = "COLLABZIUM_RELAY_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Open connections per client IP (1 to --max-connections).
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_MAX_CONNECTIONS_PER_IP",
        default_value_t = 64
    )]
    max_connections_per_ip: usize,
}

fn config_error(e: impl std::fmt::Display) -> Error {
    Error::invalid("relay configuration", e)
}

pub fn run(cmd: RelayCommand) -> Result<()> {
    let RelayCommand::Serve(a) = cmd;
    let a = *a;
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
        tombstone_retention: parse_duration(&a.tombstone_retention).map_err(config_error)?,
        metrics_listen: a.metrics_listen,
        header_read_timeout: parse_duration(&a.header_timeout).map_err(config_error)?,
        idle_timeout: parse_duration(&a.idle_timeout).map_err(config_error)?,
        body_timeout: parse_duration(&a.body_timeout).map_err(config_error)?,
        request_timeout: parse_duration(&a.request_timeout).map_err(config_error)?,
        max_connections: a.max_connections,
        max_connections_per_ip: a.max_connections_per_ip,
        ..RelayConfig::default()
    };
    // Out-of-range values stop here, before anything is opened or bound.
    config.validate().map_err(config_error)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::from)?;
    rt.block_on(async move {
        // Installed before serving, so a failure stops start-up with an error.
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Io(format!("installing the SIGTERM handler: {e}")))?;
        let shutdown = async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
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
