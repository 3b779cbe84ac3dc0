//! Reading a server-sent event stream as it arrives (the HTML event-stream format, which MCP's
//! Streamable HTTP uses): a server may send requests of its own before the response (an
//! elicitation at 2025-11-25), or close the stream early and expect the client to resume it with
//! `Last-Event-ID` after the `retry` it named (TR-1125 §Resumability and Redelivery). The stream
//! is bounded like every other body, and recorded in the trace, redacted, when it is dropped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lab_proto::bounded::BoundedBody;
use reqwest::header::HeaderMap;

use crate::error::ClientError;
use crate::http::MAX_RESPONSE_BYTES;
use crate::trace::{Exchange, Trace};

/// An event stream being read.
pub struct EventStream {
    response: reqwest::Response,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    url: String,
    /// Everything received, for the trace, and what bounds the whole stream.
    received: BoundedBody,
    /// Received bytes not yet split into lines.
    pending: Vec<u8>,
    /// The data of the event being read.
    data: String,
    last_event_id: Option<String>,
    retry: Option<Duration>,
    exchange: Option<Exchange>,
    trace: Arc<Mutex<Trace>>,
    /// Whether the stream has ended.
    ended: bool,
}

impl EventStream {
    pub(crate) fn new(
        response: reqwest::Response,
        url: String,
        exchange: Exchange,
        trace: Arc<Mutex<Trace>>,
    ) -> Result<Self, ClientError> {
        // A stream's length is never declared: it is bounded as it arrives.
        let received = BoundedBody::new(MAX_RESPONSE_BYTES, None)
            .map_err(|error| ClientError::protocol(&url, error.to_string()))?;
        Ok(Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            response,
            url,
            received,
            pending: Vec::new(),
            data: String::new(),
            last_event_id: None,
            retry: None,
            exchange: Some(exchange),
            trace,
            ended: false,
        })
    }

    /// The id of the last event that named one: where a resumed stream starts again.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// How long the server asked the client to wait before reconnecting.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The URL the stream answers (its query redacted).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The data of the next event that carries some, or `None` when the stream ended. An event
    /// the stream ends in the middle of is dropped, as the format says.
    pub async fn next_data(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            while let Some(line) = self.next_line() {
                let line = String::from_utf8_lossy(&line).into_owned();
                if line.is_empty() {
                    if !self.data.is_empty() {
                        return Ok(Some(std::mem::take(&mut self.data)));
                    }
                    continue;
                }
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((&line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "data" => {
                        if !self.data.is_empty() {
                            self.data.push('\n');
                        }
                        self.data.push_str(value);
                    }
                    // An id with a NUL is ignored, as the format says; an empty one names no
                    // event to resume from.
                    "id" if !value.contains('\0') => {
                        self.last_event_id = (!value.is_empty()).then(|| value.to_owned());
                    }
                    "retry" if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) => {
                        self.retry = value.parse().ok().map(Duration::from_millis);
                    }
                    _ => {}
                }
            }
            if self.ended {
                // A last event the stream ended without a blank line after is no complete event.
                return Ok(None);
            }
            let chunk = self.response.chunk().await.map_err(|error| {
                if error.is_timeout() {
                    // The client's own limit: no broken stream to resume or send again.
                    ClientError::protocol(&self.url, "the event stream stayed silent or open too long; gave up")
                } else {
                    ClientError::Network { url: self.url.clone(), reason: format!("the event stream broke: {error}") }
                }
            })?;
            let Some(chunk) = chunk else {
                // What arrived last may still hold lines (a bare CR ends one only now).
                self.ended = true;
                continue;
            };
            self.received.push(&chunk).map_err(|error| ClientError::protocol(&self.url, error.to_string()))?;
            self.pending.extend_from_slice(&chunk);
        }
    }
}

impl EventStream {
    /// The next whole line of what was received, without its end: the format ends a line with
    /// CRLF, LF or a bare CR. A CR last in what arrived may be the first half of a CRLF, so it
    /// waits for the next chunk, unless the stream has ended.
    fn next_line(&mut self) -> Option<Vec<u8>> {
        let end = self.pending.iter().position(|byte| matches!(byte, b'\n' | b'\r'))?;
        let width = match (self.pending[end], self.pending.get(end + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) if !self.ended => return None,
            _ => 1,
        };
        let line = self.pending[..end].to_vec();
        self.pending.drain(..end + width);
        Some(line)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // The trace holds what the stream carried, however far it was read, redacted.
        if let Some(exchange) = self.exchange.take() {
            let exchange = crate::trace::answered(exchange, self.status, &self.headers, self.received.as_bytes());
            self.trace.lock().unwrap_or_else(PoisonError::into_inner).exchanges.push(exchange);
        }
    }
}
