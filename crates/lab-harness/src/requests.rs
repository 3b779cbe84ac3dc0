//! A log of the requests every lab server received: method, path, status, whether a bearer
//! token came with it (never the token) and the MCP revision it named. `mcp-authlab
//! check-client` reads it to judge what a third-party client did against each persona.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// How many requests the log keeps; a client in a loop cannot grow it without bound.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// One request a lab server answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestRecord {
    /// The server: `authorization server`, `resource server`, ….
    pub role: &'static str,
    pub method: String,
    /// The path, without the query (which may carry a code).
    pub path: String,
    pub status: u16,
    /// Whether an `Authorization: Bearer` header came with it.
    pub bearer: bool,
    /// The `MCP-Protocol-Version` it named (at most 32 printable characters): which revision a
    /// client spoke.
    pub mcp_version: Option<String>,
}

/// The shared log.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RequestLog {
    /// Everything so far, oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether any request matched.
    pub fn any(&self, predicate: impl Fn(&RequestRecord) -> bool) -> bool {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).iter().any(predicate)
    }

    /// How many requests matched.
    pub fn count(&self, predicate: impl Fn(&RequestRecord) -> bool) -> usize {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|record| predicate(record)).count()
    }

    /// Forgets every record (the control API's reset).
    pub fn clear(&self) {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    fn push(&self, record: RequestRecord) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() < REQUEST_LOG_CAPACITY {
            records.push(record);
        }
    }
}

/// The middleware state: which server, which log.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) role: &'static str,
    pub(crate) log: RequestLog,
}

/// Records one request after it is answered.
pub(crate) async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let bearer = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer "));
    let mcp_version = request
        .headers()
        .get("mcp-protocol-version")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().filter(|c| c.is_ascii_graphic()).take(32).collect());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    recorder.log.push(RequestRecord { role: recorder.role, method, path, status, bearer, mcp_version });
    response
}
