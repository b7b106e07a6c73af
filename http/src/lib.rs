//! [`HttpTransport`] over `ureq` with rustls: the transport for the CLI,
//! the tests and the load tool. Apps bring their own (OkHttp, URLSession).

use std::io::Read;
use std::time::Duration;

use collabzium_protocol::{HttpRequest, HttpResponse, HttpTransport, TransportError};

/// Largest response body read (the relay caps a fetch page at 4 MiB).
const MAX_RESPONSE: u64 = 8 * 1024 * 1024;

pub struct UreqTransport {
    agent: ureq::Agent,
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl UreqTransport {
    pub fn new(timeout: Duration) -> Self {
        Self {
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .max_idle_connections_per_host(4)
                .build(),
        }
    }
}

fn into_response(resp: ureq::Response) -> Result<HttpResponse, TransportError> {
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            resp.header(&n)
                .map(|v| (n.to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let mut body = Vec::new();
    resp.into_reader()
        .take(MAX_RESPONSE)
        .read_to_end(&mut body)
        .map_err(|e| {
            TransportError::Unreachable(format!("reading the response: {:?}", e.kind()))
        })?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

impl HttpTransport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut req = self.agent.request(&request.method, &request.url);
        for (k, v) in &request.headers {
            req = req.set(k, v);
        }
        let result = if request.body.is_empty() && request.method == "GET" {
            req.call()
        } else {
            req.send_bytes(&request.body)
        };
        match result {
            Ok(resp) => into_response(resp),
            Err(ureq::Error::Status(_, resp)) => into_response(resp),
            Err(ureq::Error::Transport(t)) => Err(match t.kind() {
                ureq::ErrorKind::Io if t.to_string().contains("timed out") => {
                    TransportError::Timeout
                }
                kind => TransportError::Unreachable(kind.to_string()),
            }),
        }
    }
}
