//! `collabzium workstation`: the therapist's workstation, a local web app
//! over their encrypted store (issue 14, docs/workstation.md, ADR 0009).
//!
//! It listens on loopback only, prints a URL with a one-time launch token,
//! and keeps the store in sync with the relay in the background. Pages are
//! rendered on the server from core's session layer; nothing decrypted is
//! written to disk, and nothing personal is logged.

mod html;
mod pages;
/// The invitation QR as a PNG, shared with `sync invite --qr`.
pub(crate) use pages::qr_png;
mod security;
mod svg;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::Args;
use collabzium_core::schedule::Tz;
use collabzium_core::session::Session;
use collabzium_core::sync::TherapistInvitation;
use collabzium_core::{Error, Result};
use collabzium_http::UreqTransport;

use crate::output::Output;

#[derive(Args)]
pub struct WorkstationArgs {
    /// Relay for new invitations (existing channels remember their own).
    #[arg(long, env = "COLLABZIUM_RELAY")]
    pub relay: Option<String>,
    /// Address to listen on; loopback only unless --allow-non-loopback.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Allow a non-loopback --listen address (the store's data would be
    /// reachable from the network; only behind your own TLS proxy).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Seconds between background syncs (0: only on demand).
    #[arg(long, default_value_t = 30)]
    pub sync_interval: u64,
}

/// What a launch serves, besides the store.
pub struct ServeOptions {
    pub relay: Option<String>,
    pub listen: SocketAddr,
    pub allow_non_loopback: bool,
    pub sync_interval: Duration,
}

impl From<WorkstationArgs> for ServeOptions {
    fn from(a: WorkstationArgs) -> Self {
        ServeOptions {
            relay: a.relay,
            listen: a.listen,
            allow_non_loopback: a.allow_non_loopback,
            sync_interval: Duration::from_secs(a.sync_interval),
        }
    }
}

pub fn run(out: &Output, store: Option<&Path>, args: WorkstationArgs) -> Result<()> {
    let opts = ServeOptions::from(args);
    check_listen(&opts)?;
    let store = super::open_store(store)?;
    serve(out, Session::new(store), opts)
}

fn check_listen(o: &ServeOptions) -> Result<()> {
    if !o.listen.ip().is_loopback() && !o.allow_non_loopback {
        return Err(Error::invalid(
            "listen",
            "must be a loopback address (127.0.0.1 or [::1]); pass --allow-non-loopback to override",
        ));
    }
    Ok(())
}

/// The last sync as the pages show it.
#[derive(Default, Clone)]
pub struct SyncStatus {
    /// The store's clock at the end of the last successful round.
    pub last_ok_millis: Option<i64>,
    /// The last round's error code, if it failed (codes only: no personal data).
    pub last_error: Option<String>,
    pub rounds: u64,
}

pub struct PendingInvite {
    pub inv: TherapistInvitation,
    pub code: String,
    pub qr: String,
    pub expires_at_millis: i64,
    pub paired: Option<(String, String)>,
}

pub struct App {
    pub session: Session,
    /// Accepted `Host` values: this listener's address by IP and as localhost.
    pub hosts: Vec<String>,
    pub origins: Vec<String>,
    /// The launch token; taken by the first login.
    pub login_token: Mutex<Option<String>>,
    pub session_secret: String,
    pub csrf: String,
    pub relay: Option<String>,
    pub status: Mutex<SyncStatus>,
    pub invite: Mutex<Option<PendingInvite>>,
    pub fmt: html::Fmt,
    pub sync_now: tokio::sync::Notify,
    /// The store's clock at the previous inbox visit ("new since last visit").
    pub inbox_seen: Mutex<Option<i64>>,
    pub transport: UreqTransport,
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl App {
    /// One sync round; the status keeps only the error code.
    pub fn sync_once(&self) {
        let r = self.session.sync(&self.transport);
        let mut st = lock(&self.status);
        st.rounds += 1;
        match r {
            Ok(s) => {
                st.last_ok_millis = Some(self.session.store().now_millis());
                st.last_error = s.error.map(|_| "relay".to_string());
            }
            Err(e) => st.last_error = Some(e.code().to_string()),
        }
    }
}

/// An error page: core's messages name the field and never personal data.
pub struct WebError(pub Error);

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        WebError(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match self.0.code() {
            "invalid_input" => StatusCode::BAD_REQUEST,
            "not_found" => StatusCode::NOT_FOUND,
            "already_exists" => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error · Collabzium workstation</title><link rel="stylesheet" href="/assets/style.css"></head><body><main id="main"><h1>That did not work</h1><p role="alert">{}</p><p>Go back with your browser, or to the <a href="/">caseload</a>.</p></main></body></html>"#,
            html::esc(&self.0.to_string())
        );
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

pub type Page = std::result::Result<Response, WebError>;

/// Runs store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T> + Send + 'static,
) -> std::result::Result<T, WebError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|_| WebError(Error::Internal("page worker stopped".into())))?
        .map_err(WebError)
}

fn therapist_fmt(session: &Session) -> html::Fmt {
    let profile = session.store().profile().ok().flatten();
    let tz = profile
        .as_ref()
        .and_then(|p| p.time_zone.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC);
    let locale = profile.map(|p| p.locale).unwrap_or_else(|| "en-GB".into());
    html::Fmt { tz, locale }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::caseload))
        .route("/login", get(|| async { StatusCode::FORBIDDEN }))
        .route("/patient/{id}", get(pages::patient))
        .route("/patient/{id}/message", post(pages::post_message))
        .route("/patient/{id}/ack", post(pages::post_ack))
        .route("/patient/{id}/rate", post(pages::post_rate))
        .route("/patient/{id}/assign", post(pages::post_assign))
        .route("/patient/{id}/approve", post(pages::post_approve))
        .route("/inbox", get(pages::inbox))
        .route("/settings", get(pages::settings).post(pages::post_settings))
        .route("/invite", get(pages::invite).post(pages::post_invite))
        .route("/invite/qr.png", get(pages::invite_qr))
        .route("/invite/status", get(pages::invite_status))
        .route("/research", get(pages::research))
        .route("/research/export.csv", post(pages::research_csv))
        .route("/sync", post(pages::post_sync))
        .route("/status", get(pages::status))
        .route("/caseload.json", get(pages::caseload_json))
        .route("/assets/style.css", get(pages::style))
        .route("/assets/app.js", get(pages::script))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            security::gate,
        ))
        .with_state(app)
}

/// Serves `session` until Ctrl-C or SIGTERM. With `--json` the first stdout
/// line is `{"url":"http://127.0.0.1:PORT/login?token=…"}`.
pub fn serve(out: &Output, session: Session, opts: ServeOptions) -> Result<()> {
    check_listen(&opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let port = addr.port();
        let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
        if addr.ip().is_loopback() && addr.is_ipv4() {
            hosts.push(format!("[::1]:{port}"));
        }
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        let token = security::new_secret();
        let fmt = therapist_fmt(&session);
        let app = Arc::new(App {
            session,
            hosts,
            origins,
            login_token: Mutex::new(Some(token.clone())),
            session_secret: security::new_secret(),
            csrf: security::new_secret(),
            relay: opts.relay,
            status: Mutex::new(SyncStatus::default()),
            invite: Mutex::new(None),
            fmt,
            sync_now: tokio::sync::Notify::new(),
            inbox_seen: Mutex::new(None),
            transport: UreqTransport::new(Duration::from_secs(30)),
        });
        let url = format!("http://{addr}/login?token={token}");
        out.emit(&serde_json::json!({ "url": url }), || {
            format!(
                "Collabzium workstation on {addr}\nOpen this link once in your browser (it logs you in; it works one time):\n  {url}\nStop with Ctrl-C."
            )
        });
        use std::io::Write as _;
        let _ = std::io::stdout().flush();

        // Background sync: at the interval, and when a page asks.
        let bg = app.clone();
        let interval = opts.sync_interval;
        tokio::spawn(async move {
            loop {
                let a = bg.clone();
                let _ = tokio::task::spawn_blocking(move || a.sync_once()).await;
                if interval.is_zero() {
                    bg.sync_now.notified().await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = bg.sync_now.notified() => {}
                    }
                }
            }
        });

        axum::serve(listener, router(app.clone()))
            .with_graceful_shutdown(shutdown())
            .await?;
        app.session.close();
        Ok::<(), Error>(())
    })
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
