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
pub mod store;

pub use store::{open_store, RelayStore, StoreError, StoreLimits};

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

/// Relay configuration (ADR 0006 §9). `Default` gives the documented defaults.
#[derive(Debug, Clone)]
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
    app: http::App,
    sweep_interval: Duration,
}

async fn bind(config: RelayConfig) -> Result<Bound, RelayError> {
    let store = open_store(&config.database, config.store_limits()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = http::App {
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
    };
    Ok(Bound {
        listener,
        addr,
        app,
        sweep_interval: config.sweep_interval,
    })
}

impl Bound {
    async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RelayError> {
        let sweeper = tokio::spawn(sweep_loop(self.app.clone(), self.sweep_interval));
        let router = http::router(self.app);
        let result = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        sweeper.abort();
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
    tracing::info!(target: "collabzium_relay", "relay started");
    let r = bound.run(shutdown).await;
    tracing::info!(target: "collabzium_relay", "relay stopped");
    r
}

/// A relay running on its own runtime thread. Shuts down on drop.
pub struct RelayHandle {
    addr: SocketAddr,
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
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, RelayError>>();
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
                        let _ = ready_tx.send(Ok(bound.addr));
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
        Ok(Ok(addr)) => Ok(RelayHandle {
            addr,
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
