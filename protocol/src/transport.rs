//! The HTTP transport the platform provides (ADR 0005 §9). Core has no
//! network code: apps implement this with OkHttp or URLSession so they keep
//! their TLS settings, pinning and proxies; the CLI and tests use the rustls
//! client in `collabzium-http`. Calls are blocking; apps call sync from a
//! background thread.

/// One HTTP request. `url` is absolute; header names are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The response, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request did not produce a response. Nothing about its outcome at the
/// relay is known, so callers must be idempotent (sync is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No route, refused connection, DNS failure, TLS failure.
    #[error("relay unreachable: {0}")]
    Unreachable(String),
    #[error("request timed out")]
    Timeout,
}

/// Sends HTTP requests. Must be usable from several threads.
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}
