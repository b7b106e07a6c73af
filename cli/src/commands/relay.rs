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
    #[command(flatten)]
    push: PushArgs,
}

/// Wake-up providers (docs/push.md). A provider without its credentials is off.
#[derive(Args)]
struct PushArgs {
    /// VAPID signing key for Web Push: P-256 PKCS#8, PEM or DER.
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_VAPID_KEY")]
    push_vapid_key: Option<std::path::PathBuf>,
    /// VAPID contact, a mailto: or https: URI.
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_VAPID_SUBJECT")]
    push_vapid_subject: Option<String>,
    /// Firebase project id for FCM HTTP v1 (default: the service account's project_id).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_FCM_PROJECT")]
    push_fcm_project: Option<String>,
    /// Google service-account key (JSON) for FCM access tokens (preferred).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_FCM_SERVICE_ACCOUNT")]
    push_fcm_service_account: Option<std::path::PathBuf>,
    /// Or: a file holding a current FCM OAuth2 access token (re-read on every send).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_FCM_TOKEN_FILE")]
    push_fcm_token_file: Option<std::path::PathBuf>,
    /// FCM API base URL.
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_PUSH_FCM_URL",
        default_value = "https://fcm.googleapis.com"
    )]
    push_fcm_url: String,
    /// APNs auth key (.p8, P-256 PKCS#8).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_APNS_KEY")]
    push_apns_key: Option<std::path::PathBuf>,
    /// The APNs key's id (JWT kid).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_APNS_KEY_ID")]
    push_apns_key_id: Option<String>,
    /// The Apple developer team id (JWT iss).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_APNS_TEAM_ID")]
    push_apns_team_id: Option<String>,
    /// The app's bundle id (apns-topic).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_APNS_TOPIC")]
    push_apns_topic: Option<String>,
    /// APNs base URL (https://api.sandbox.push.apple.com for development builds).
    #[arg(
        long,
        env = "COLLABZIUM_RELAY_PUSH_APNS_URL",
        default_value = "https://api.push.apple.com"
    )]
    push_apns_url: String,
    /// At most one wake-up per device per this interval (100ms to 1h).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_INTERVAL", default_value = "10s")]
    push_interval: String,
    /// Random extra delay before each wake-up, up to this (0 to 1h).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_MAX_DELAY", default_value = "0s")]
    push_max_delay: String,
    /// Cover traffic: one extra wake-up per registered device per this period (1m to 7d).
    #[arg(long, env = "COLLABZIUM_RELAY_PUSH_COVER_PERIOD")]
    push_cover_period: Option<String>,
    /// Accept http:// push endpoints on loopback (tests only).
    #[arg(long, hide = true)]
    push_allow_loopback_http: bool,
}

impl PushArgs {
    fn config(self) -> Result<collabzium_relay::push::PushConfig> {
        Ok(collabzium_relay::push::PushConfig {
            vapid_key_file: self.push_vapid_key,
            vapid_subject: self.push_vapid_subject,
            fcm_project_id: self.push_fcm_project,
            fcm_service_account: self.push_fcm_service_account,
            fcm_token_file: self.push_fcm_token_file,
            fcm_url: self.push_fcm_url,
            apns_key_file: self.push_apns_key,
            apns_key_id: self.push_apns_key_id,
            apns_team_id: self.push_apns_team_id,
            apns_topic: self.push_apns_topic,
            apns_url: self.push_apns_url,
            interval: parse_duration(&self.push_interval).map_err(config_error)?,
            max_delay: parse_duration(&self.push_max_delay).map_err(config_error)?,
            cover_period: self
                .push_cover_period
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(config_error)?,
            allow_loopback_http: self.push_allow_loopback_http,
        })
    }
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
        push: a.push.config()?,
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
