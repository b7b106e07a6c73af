//! The connection layer (ADR 0006 §5): our own accept loop around hyper so a
//! hostile client cannot hold the relay. Every connection has a clock: idle
//! (no request), reading a request head, or busy in a handler. A watchdog
//! drops connections that stay too long in one state; connections beyond the
//! per-IP or total cap are closed as soon as they are accepted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::metrics::{Metrics, ReasonLabels};

/// Connection limits; validated by `RelayConfig::validate`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

#[derive(Clone, Copy)]
enum Phase {
    Idle,
    Head,
    Busy,
}

/// Where a connection is and since when.
struct Clock(Mutex<(Phase, Instant)>);

impl Clock {
    fn set(&self, p: Phase) {
        if let Ok(mut g) = self.0.lock() {
            *g = (p, Instant::now());
        }
    }
    fn bytes_read(&self) {
        if let Ok(mut g) = self.0.lock() {
            if matches!(g.0, Phase::Idle) {
                *g = (Phase::Head, Instant::now());
            }
        }
    }
    /// Why this connection should be dropped now, if it should.
    fn expired(&self, l: &ConnLimits) -> Option<&'static str> {
        let (phase, since) = *self.0.lock().ok()?;
        let age = since.elapsed();
        match phase {
            Phase::Idle if age > l.idle_timeout => Some("idle_timeout"),
            Phase::Head if age > l.header_read_timeout => Some("header_timeout"),
            // The handler's own timeout answers first; this is the backstop.
            Phase::Busy if age > l.request_timeout + Duration::from_secs(1) => {
                Some("request_timeout")
            }
            _ => None,
        }
    }
}

/// Back to idle when a request ends, however it ends.
struct BusyGuard(Arc<Clock>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.set(Phase::Idle);
    }
}

/// A socket that tells its clock when request bytes arrive.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections, in total and per client IP.
#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock() {
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.per_ip.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

fn take_slot(
    counts: &Arc<Mutex<Counts>>,
    ip: IpAddr,
    l: &ConnLimits,
) -> Result<Slot, &'static str> {
    let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
    if c.total >= l.max_connections {
        return Err("cap_total");
    }
    let n = c.per_ip.entry(ip).or_insert(0);
    if *n >= l.max_connections_per_ip {
        return Err("cap_ip");
    }
    *n += 1;
    c.total += 1;
    Ok(Slot {
        counts: counts.clone(),
        ip,
    })
}

fn closed(metrics: &Metrics, reason: &'static str) {
    metrics
        .connections_closed
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Serve `router` on `listener` until `shutdown`, then let in-flight
/// requests finish (at most one request timeout).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    // Out of descriptors or a reset before accept: back off
                    // briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let slot = match take_slot(&counts, peer.ip(), &limits) {
            Ok(s) => s,
            Err(reason) => {
                closed(&metrics, reason);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            metrics.clone(),
            stop_rx.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(limits.request_timeout + Duration::from_secs(1), drain).await;
    tasks.abort_all();
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _slot: Slot,
) {
    let clock = Arc::new(Clock(Mutex::new((Phase::Idle, Instant::now()))));
    let io = TokioIo::new(Watched {
        inner: stream,
        clock: clock.clone(),
    });
    let svc_clock = clock.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            svc_clock.set(Phase::Busy);
            let guard = BusyGuard(svc_clock.clone());
            let mut router = router.clone();
            req.extensions_mut().insert(ConnectInfo(peer));
            let timeout = limits.request_timeout;
            async move {
                let resp = match tokio::time::timeout(timeout, router.call(req)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(never)) => match never {},
                    Err(_) => crate::http::request_timeout().into_response(),
                };
                drop(guard);
                Ok::<_, Infallible>(resp)
            }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        // Our watchdog times the head; hyper's own timer would start it
        // before the first byte and so double as a shorter idle timeout.
        .header_read_timeout(None)
        .max_buf_size(64 * 1024)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let tick = limits
        .header_read_timeout
        .min(limits.idle_timeout)
        .div_f32(4.0)
        .max(Duration::from_millis(25));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = ticker.tick() => {
                if let Some(reason) = clock.expired(&limits) {
                    closed(&metrics, reason);
                    return; // dropping `conn` closes the socket
                }
            }
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
