//! One request per connection to a push service: HTTP/1.1 for Web Push,
//! HTTP/2 for FCM and APNs, TLS by rustls with the Mozilla roots. Plain
//! `http://` is for loopback test servers only (HTTP/2 then means h2c with
//! prior knowledge). Wake-ups are rare and coalesced, so a fresh connection
//! each time costs little and keeps no state.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::SendError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Push services answer with small bodies; more is not read.
const MAX_RESPONSE: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http1,
    Http2,
}

fn tls_config(version: HttpVersion) -> Arc<rustls::ClientConfig> {
    static H1: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static H2: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let cell = match version {
        HttpVersion::Http1 => &H1,
        HttpVersion::Http2 => &H2,
    };
    cell.get_or_init(|| {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut c = match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
            // The ring provider supports the default versions; unreachable.
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        c.alpn_protocols = vec![match version {
            HttpVersion::Http1 => b"http/1.1".to_vec(),
            HttpVersion::Http2 => b"h2".to_vec(),
        }];
        Arc::new(c)
    })
    .clone()
}

/// True for `localhost` and loopback IP literals.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Sends `req` (an absolute URI) and returns the status and body.
pub async fn send(
    req: Request<Vec<u8>>,
    version: HttpVersion,
    allow_loopback_http: bool,
) -> Result<(StatusCode, Bytes), SendError> {
    let uri = req.uri().clone();
    let host = uri.host().ok_or(SendError::BadEndpoint)?.to_owned();
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if allow_loopback_http && is_loopback_host(&host) => false,
        _ => return Err(SendError::BadEndpoint),
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let dial_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((dial_host.as_str(), port)),
    )
    .await
    .map_err(|_| SendError::Network)?
    .map_err(|_| SendError::Network)?;
    let _ = tcp.set_nodelay(true);
    let (mut parts, body) = req.into_parts();
    // hyper wants origin-form on HTTP/1.1 and the authority as Host.
    if version == HttpVersion::Http1 {
        let host_header = match uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        parts.headers.insert(
            hyper::header::HOST,
            host_header.parse().map_err(|_| SendError::BadEndpoint)?,
        );
        parts.uri = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| SendError::BadEndpoint)?;
    }
    let req = Request::from_parts(parts, Full::new(Bytes::from(body)));
    let fut = async {
        if tls {
            let name = rustls::pki_types::ServerName::try_from(dial_host.clone())
                .map_err(|_| SendError::BadEndpoint)?;
            let stream = tokio_rustls::TlsConnector::from(tls_config(version))
                .connect(name, tcp)
                .await
                .map_err(|_| SendError::Network)?;
            exchange(stream, version, req).await
        } else {
            exchange(tcp, version, req).await
        }
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, fut)
        .await
        .map_err(|_| SendError::Network)?
}

async fn exchange<S>(
    io: S,
    version: HttpVersion,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), SendError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let resp = match version {
        HttpVersion::Http1 => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|_| SendError::Network)?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
        HttpVersion::Http2 => {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|_| SendError::Network)?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
    }
    .map_err(|_| SendError::Network)?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok((status, body))
}

/// What a push service's status means for us.
pub fn status_result(status: StatusCode) -> Result<(), SendError> {
    match status.as_u16() {
        200..=299 => Ok(()),
        // The subscription or token is no longer valid: forget it.
        404 | 410 => Err(SendError::Gone),
        s => Err(SendError::Status(s)),
    }
}
