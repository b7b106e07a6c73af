//! Collabzium relay: a store-and-forward mailbox for end-to-end encrypted
//! sync (ADR 0006). It holds only ciphertext, public pairing messages and
//! device public keys; its job is access control, durability, deletion and
//! abuse resistance. All durable state is in the database, so any number of
//! processes may share one PostgreSQL.
//!
//! Embed it with [`spawn_background`] (tests, the CLI demo) or run it with
//! [`serve`] (`collabzium relay serve`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

mod http;
mod limits;
mod metrics;
pub mod push;
mod server;
pub mod store;

pub use store::{open_store, RelayStore, StoreError, StoreLimits};

#[doc(hidden)]
pub use http::decode_for_fuzzing;

/// Log output format of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = RelayError;
    fn from_str(s: &str) -> Result<Self, RelayError> {
        match s {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            _ => Err(RelayError::Config(format!(
                "log format must be json or text, not {s:?}"
            ))),
        }
    }
}

/// Relay configuration (ADR 0006 §9). `Default` gives the documented defaults;
/// [`RelayConfig::validate`] holds every value to its documented range.
#[derive(Clone)]
pub struct RelayConfig {
    /// `sqlite:PATH` or `postgres://…`.
    pub database: String,
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Unacknowledged envelopes expire this long after their last push.
    pub retention: Duration,
    /// Body limit of `POST …/envelopes` (other endpoints: 16 KiB).
    pub max_body: usize,
    /// Signed requests per second per device (token bucket, per process); 0 disables.
    pub rate_limit_per_s: u32,
    pub rate_burst: u32,
    /// Pre-auth requests per second per client IP (in memory only); 0 disables.
    pub ip_rate_limit_per_s: u32,
    /// Queued envelopes per channel and direction (507 beyond).
    pub channel_quota: u64,
    /// Queued bytes per channel and direction (507 beyond).
    pub channel_quota_bytes: u64,
    /// How long a revoked channel's tombstone is kept.
    pub tombstone_retention: Duration,
    /// How often the sweeper deletes expired rows.
    pub sweep_interval: Duration,
    pub log_format: LogFormat,
    /// A client must send a whole request head within this, once it starts.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// A request body must arrive within this.
    pub body_timeout: Duration,
    /// A whole request (body and handler) must finish within this (408).
    pub request_timeout: Duration,
    /// Open connections in total; beyond it new ones are closed at once.
    pub max_connections: usize,
    /// Open connections per client IP; beyond it new ones are closed at once.
    pub max_connections_per_ip: usize,
    /// Serve `/metrics` on this address only (and not on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Wake-up providers and pacing (docs/push.md).
    pub push: push::PushConfig,
}

/// The database URL with any password replaced by `***`: config dumps and
/// logs must never carry it.
pub fn redact_database_url(url: &str) -> String {
    let mut out = url.to_owned();
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        // Key-value form `host=… password=…`.
        return url
            .split(' ')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let rest = &url[scheme_end..];
    // userinfo ends at the last '@' before the query; erring towards
    // redacting too much is the safe side (a password may hold '/' or '@').
    let query_start = rest.find('?').unwrap_or(rest.len());
    if let Some(at) = rest[..query_start].rfind('@') {
        if let Some(colon) = rest[..at].find(':') {
            out.replace_range(scheme_end + colon + 1..scheme_end + at, "***");
        }
    }
    // `?password=…` in the query (libpq style).
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("database", &redact_database_url(&self.database))
            .field("listen", &self.listen)
            .field("retention", &self.retention)
            .field("max_body", &self.max_body)
            .field("rate_limit_per_s", &self.rate_limit_per_s)
            .field("rate_burst", &self.rate_burst)
            .field("ip_rate_limit_per_s", &self.ip_rate_limit_per_s)
            .field("channel_quota", &self.channel_quota)
            .field("channel_quota_bytes", &self.channel_quota_bytes)
            .field("tombstone_retention", &self.tombstone_retention)
            .field("sweep_interval", &self.sweep_interval)
            .field("log_format", &self.log_format)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("metrics_listen", &self.metrics_listen)
            .field("push", &self.push)
            .finish()
    }
}

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Valid ranges (inclusive) of the duration settings, as documented in
/// docs/relay.md. Upper bounds keep every `now + duration` far from i64.
pub const DURATION_RANGES: &[(&str, Duration, Duration)] = &[
    ("retention", HOUR, Duration::from_secs(365 * 86_400)),
    (
        "tombstone_retention",
        DAY,
        Duration::from_secs(3650 * 86_400),
    ),
    ("sweep_interval", Duration::from_millis(10), DAY),
    (
        "header_read_timeout",
        Duration::from_millis(100),
        Duration::from_secs(300),
    ),
    (
        "idle_timeout",
        Duration::from_millis(100),
        Duration::from_secs(3600),
    ),
    (
        "body_timeout",
        Duration::from_millis(100),
        Duration::from_secs(600),
    ),
    ("request_timeout", SEC, Duration::from_secs(600)),
];
/// Valid range of `max_connections`; `max_connections_per_ip` is 1..=it.
pub const MAX_CONNECTIONS_RANGE: (usize, usize) = (1, 1_000_000);
/// Valid range of `max_body`.
pub const MAX_BODY_RANGE: (usize, usize) = (http::SMALL_BODY, 64 * 1024 * 1024);

/// `1d`, `2h`, `90s`, `250ms`: the largest unit that divides evenly.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, n) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= n && (ms / n) * n == ms {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

impl RelayConfig {
    /// Every setting within its documented range; the error names the
    /// setting, the range and the value given.
    pub fn validate(&self) -> Result<(), RelayError> {
        for &(name, min, max) in DURATION_RANGES {
            let v = match name {
                "retention" => self.retention,
                "tombstone_retention" => self.tombstone_retention,
                "sweep_interval" => self.sweep_interval,
                "header_read_timeout" => self.header_read_timeout,
                "idle_timeout" => self.idle_timeout,
                "body_timeout" => self.body_timeout,
                _ => self.request_timeout,
            };
            if v < min || v > max {
                return Err(RelayError::Config(format!(
                    "{name} must be between {} and {}, not {}",
                    show_duration(min),
                    show_duration(max),
                    show_duration(v)
                )));
            }
        }
        let (lo, hi) = MAX_CONNECTIONS_RANGE;
        if !(lo..=hi).contains(&self.max_connections) {
            return Err(RelayError::Config(format!(
                "max_connections must be between {lo} and {hi}, not {}",
                self.max_connections
            )));
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_ip) {
            return Err(RelayError::Config(format!(
                "max_connections_per_ip must be between 1 and max_connections ({}), not {}",
                self.max_connections, self.max_connections_per_ip
            )));
        }
        self.push.validate().map_err(RelayError::Config)?;
        let (lo, hi) = MAX_BODY_RANGE;
        if !(lo..=hi).contains(&self.max_body) {
            return Err(RelayError::Config(format!(
                "max_body must be between {lo} and {hi} bytes, not {}",
                self.max_body
            )));
        }
        Ok(())
    }

    fn conn_limits(&self) -> server::ConnLimits {
        server::ConnLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            request_timeout: self.request_timeout,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            database: "sqlite:collabzium-relay.sqlite3".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            retention: Duration::from_secs(30 * 86_400),
            max_body: 1024 * 1024,
            rate_limit_per_s: 50,
            rate_burst: 200,
            ip_rate_limit_per_s: 100,
            channel_quota: 10_000,
            channel_quota_bytes: 256 * 1024 * 1024,
            tombstone_retention: Duration::from_secs(400 * 86_400),
            sweep_interval: Duration::from_secs(60),
            log_format: LogFormat::Json,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_ip: 64,
            metrics_listen: None,
            push: push::PushConfig::default(),
        }
    }
}

impl RelayConfig {
    fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            retention_ms: self.retention.as_millis().min(i64::MAX as u128) as i64,
            channel_quota: self.channel_quota,
            channel_quota_bytes: self.channel_quota_bytes,
            tombstone_ms: self.tombstone_retention.as_millis().min(i64::MAX as u128) as i64,
        }
    }
}

#[derive(Debug, Error)]
pub enum RelayError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Parse `30d`, `12h`, `15m`, `90s`, `500ms` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, RelayError> {
    let s = s.trim();
    let bad = || RelayError::Config(format!("bad duration {s:?} (e.g. 30d, 12h, 15m, 90s)"));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(bad)
}

/// Parse `1MiB`, `512KiB`, `1048576`, `2MB` into bytes.
pub fn parse_size(s: &str) -> Result<usize, RelayError> {
    let s = s.trim();
    let bad = || RelayError::Config(format!("bad size {s:?} (e.g. 1MiB, 512KiB)"));
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| bad())?;
    let mul = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mul).ok_or_else(bad)
}

/// Parse a rate limit `50/s` or `50/s:200` (rate, burst). Burst defaults to 4× rate.
pub fn parse_rate(s: &str) -> Result<(u32, u32), RelayError> {
    let bad = || RelayError::Config(format!("bad rate {s:?} (e.g. 50/s or 50/s:200)"));
    let (rate, burst) = match s.trim().split_once(':') {
        Some((r, b)) => (r, Some(b)),
        None => (s.trim(), None),
    };
    let rate: u32 = rate
        .strip_suffix("/s")
        .unwrap_or(rate)
        .parse()
        .map_err(|_| bad())?;
    let burst = match burst {
        Some(b) => b.parse().map_err(|_| bad())?,
        None => rate.saturating_mul(4),
    };
    Ok((rate, burst))
}

/// A relay bound to its port, not yet serving.
struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    metrics_listener: Option<tokio::net::TcpListener>,
    app: http::App,
    sweep_interval: Duration,
    limits: server::ConnLimits,
}

async fn bind(config: RelayConfig) -> Result<Bound, RelayError> {
    config.validate()?;
    let store = open_store(&config.database, config.store_limits()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(a) => Some(tokio::net::TcpListener::bind(a).await?),
        None => None,
    };
    let waker = push::Waker::start(&config.push, store.clone()).map_err(RelayError::Config)?;
    let app = http::App {
        push: Some(waker),
        store,
        max_body: config.max_body,
        device_limiter: Arc::new(limits::RateLimiter::new(
            config.rate_limit_per_s,
            config.rate_burst,
        )),
        ip_limiter: Arc::new(limits::RateLimiter::new(
            config.ip_rate_limit_per_s,
            config.ip_rate_limit_per_s.saturating_mul(4),
        )),
        metrics: Arc::new(metrics::Metrics::new()),
        body_timeout: config.body_timeout,
        metrics_public: config.metrics_listen.is_none(),
    };
    Ok(Bound {
        listener,
        addr,
        metrics_listener,
        app,
        sweep_interval: config.sweep_interval,
        limits: config.conn_limits(),
    })
}

impl Bound {
    async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RelayError> {
        let sweeper = tokio::spawn(sweep_loop(self.app.clone(), self.sweep_interval));
        let metrics_server = self.metrics_listener.map(|l| {
            let (router, metrics) = (
                http::metrics_router(self.app.clone()),
                self.app.metrics.clone(),
            );
            // Stops with the runtime; it holds no request state worth draining.
            tokio::spawn(server::serve(
                l,
                router,
                self.limits,
                metrics,
                std::future::pending(),
            ))
        });
        let metrics = self.app.metrics.clone();
        let router = http::router(self.app);
        let result = server::serve(self.listener, router, self.limits, metrics, shutdown).await;
        sweeper.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        result.map_err(RelayError::Io)
    }
}

/// Every process sweeps; the deletes are idempotent, so concurrent sweepers
/// on one database are harmless.
async fn sweep_loop(app: http::App, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app.store.sweep(http::now_ms()).await {
            Ok(s) => {
                metrics::Metrics::outcome(&app.metrics.envelopes, "expired", s.envelopes);
                app.metrics.queued.set(s.queued.min(i64::MAX as u64) as i64);
                tracing::info!(
                    target: "collabzium_relay::sweep",
                    envelopes = s.envelopes,
                    nonces = s.nonces,
                    pairings = s.pairings,
                    tombstones = s.tombstones,
                    "sweep"
                );
            }
            Err(e) => {
                app.metrics.db_errors.inc();
                let code = match e {
                    StoreError::Db(c) => c,
                    other => format!("{other}"),
                };
                tracing::warn!(target: "collabzium_relay::sweep", db_error = %code, "sweep failed");
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // Only our own events: driver crates may log values (e.g. server notices).
    let targets = Targets::new().with_target("collabzium_relay", tracing::Level::INFO);
    let layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stdout)
            .with_filter(targets)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stdout)
            .with_filter(targets)
            .boxed(),
    };
    // An embedding program may already have a subscriber; keep it.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Run the relay until `shutdown` resolves, then drain in-flight requests.
/// Prints `{"listening":"ADDR"}` as the first stdout line once bound, then
/// JSON log lines (ADR 0006 §8).
pub async fn serve(
    config: RelayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let format = config.log_format;
    let database = config.database.clone();
    let bound = bind(config).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::json!({ "listening": bound.addr.to_string() })
        )?;
        out.flush()?;
    }
    init_logging(format);
    tracing::info!(
        target: "collabzium_relay",
        database = %redact_database_url(&database),
        "relay started"
    );
    let r = bound.run(shutdown).await;
    tracing::info!(target: "collabzium_relay", "relay stopped");
    r
}

/// A relay running on its own runtime thread. Shuts down on drop.
pub struct RelayHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RelayHandle {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `--metrics-listen` address, if one was configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stop accepting, drain in-flight requests, and wait for the thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Start a relay on a background thread with its own tokio runtime; returns
/// once it is listening. Prints nothing and installs no log subscriber.
pub fn spawn_background(config: RelayConfig) -> Result<RelayHandle, RelayError> {
    type Ready = Result<(SocketAddr, Option<SocketAddr>), RelayError>;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("collabzium-relay".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("collabzium-relay-worker")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                match bind(config).await {
                    Ok(bound) => {
                        let maddr = bound
                            .metrics_listener
                            .as_ref()
                            .and_then(|l| l.local_addr().ok());
                        let _ = ready_tx.send(Ok((bound.addr, maddr)));
                        let _ = bound
                            .run(async {
                                let _ = stop_rx.await;
                            })
                            .await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok((addr, metrics_addr))) => Ok(RelayHandle {
            addr,
            metrics_addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(RelayError::Config(
                "relay thread exited during start-up".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flag_values() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3w").is_err());
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("1GiB").is_err());
        assert_eq!(parse_rate("50/s").unwrap(), (50, 200));
        assert_eq!(parse_rate("5/s:7").unwrap(), (5, 7));
        assert!(parse_rate("x/s").is_err());
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
    }
}
