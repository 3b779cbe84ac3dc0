//! An MCP request whose answer is an event stream, read as it arrives: the server's own requests
//! on the stream are answered (an elicitation at 2025-11-25; anything the client does not offer
//! with an error), and a stream that ends before the response is resumed (2025-11-25: a `GET`
//! with `Last-Event-ID` after the server's `retry`, TR-1125 §Resumability and Redelivery) or, at
//! 2026-07-28, which has no `GET`, sent once more.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::McpClient;
use crate::config::Event;
use crate::error::ClientError;
use crate::events::EventStream;
use crate::http::{Answer, Body, Received};

/// How many times one request's stream is resumed (or, at 2026-07-28, the request sent again).
const MAX_RESUMPTIONS: u32 = 3;
/// The wait before resuming when the server named no `retry`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The longest wait a server's `retry` can ask for.
const MAX_RETRY: Duration = Duration::from_secs(10);
/// How many times the standalone stream is opened per session (each lasts at most
/// `STREAM_TIMEOUT`).
const MAX_LISTENS: u32 = 4;

/// How long the client waits, after `notifications/initialized`, for the server to answer the
/// GET that opens its standalone stream before it sends its next request (the stream keeps
/// being opened in the background after that).
const LISTEN_OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl McpClient {
    /// POSTs `message` with `headers` and returns its answer; an event stream is followed until
    /// it carries the response to `message`, which is returned as a JSON answer.
    pub(super) async fn post_and_follow(
        &self,
        headers: &[(&str, &str)],
        message: &Value,
    ) -> Result<Answer, ClientError> {
        let url = self.config.mcp_url.clone();
        let mut stream = match self.open(Method::POST, &url, headers, Body::Json(message)).await? {
            Received::Whole(answer) => return Ok(answer),
            Received::Events(stream) => stream,
        };
        let original = message.get("id").cloned();
        let mut id = original.clone();
        let mut resumptions = 0;
        loop {
            let broke = match self.follow(&mut stream, id.as_ref(), original.as_ref()).await {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => None,
                Err(error @ ClientError::Network { .. }) => Some(error),
                Err(error) => return Err(error),
            };
            if id.is_none() {
                // A notification's stream owes no response.
                return Ok(Self::as_json_answer(&stream, &json!({})));
            }
            resumptions += 1;
            if resumptions > MAX_RESUMPTIONS {
                return Err(ClientError::protocol(
                    &url,
                    format!("the event stream ended without the response {MAX_RESUMPTIONS} times; giving up"),
                ));
            }
            let why = broke.map_or_else(|| "ended".to_owned(), |error| format!("broke ({error})"));
            stream = if self.modern {
                // TR-2607 has no GET to resume on: the request is sent once more, with a new id.
                self.emit(Event::Note(format!(
                    "the event stream {why} before the response; sending the request again"
                )));
                let mut again = message.clone();
                let first = match &original {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let new_id = json!(format!("{first}-again-{resumptions}"));
                again["id"] = new_id.clone();
                id = Some(new_id);
                match self.open(Method::POST, &url, headers, Body::Json(&again)).await? {
                    Received::Whole(answer) => return Ok(answer),
                    Received::Events(stream) => stream,
                }
            } else {
                let Some(last) = stream.last_event_id().map(str::to_owned) else {
                    return Err(ClientError::protocol(
                        &url,
                        format!("the event stream {why} before the response, and named no event id to resume from"),
                    ));
                };
                let wait = stream.retry().unwrap_or(DEFAULT_RETRY).min(MAX_RETRY);
                drop(stream);
                self.emit(Event::Note(format!(
                    "the event stream {why} before the response; resuming after {} ms from its last event",
                    wait.as_millis()
                )));
                // TR-1125: the server's `retry` is how long to wait before reconnecting.
                tokio::time::sleep(wait).await;
                match self.resume(&url, &last).await? {
                    Received::Events(stream) => stream,
                    Received::Whole(answer) => {
                        return Err(ClientError::Denied(format!(
                            "resuming the event stream answered {}",
                            answer.status
                        )));
                    }
                }
            };
        }
    }

    /// Reads `stream` until the response to `id`; the server's requests on it are answered, its
    /// notifications and other responses passed over. `None`: the stream ended first. The
    /// response is handed back under `original`, the id the caller sent first: a request sent
    /// again stands for it.
    async fn follow(
        &self,
        stream: &mut EventStream,
        id: Option<&Value>,
        original: Option<&Value>,
    ) -> Result<Option<Answer>, ClientError> {
        while let Some(data) = stream.next_data().await? {
            let Ok(mut message) = serde_json::from_str::<Value>(&data) else { continue };
            let is_response = message.get("result").is_some() || message.get("error").is_some();
            if is_response && id.is_some_and(|id| message.get("id") == Some(id)) {
                if let Some(original) = original {
                    message["id"] = original.clone();
                }
                return Ok(Some(Self::as_json_answer(stream, &message)));
            }
            // At 2026-07-28 a server asks through input-required results, never by a request on
            // the stream (TR-2607), so such a request is left unanswered there.
            if !is_response && message.get("method").is_some() && message.get("id").is_some() && !self.modern {
                self.answer_server_request(&message).await?;
            }
        }
        Ok(None)
    }

    /// Answers a request the server sent on a stream, in the session: an elicitation as the
    /// configuration says (`elicitation_response`), `ping`, and an error for anything else
    /// (the client declares neither sampling nor roots).
    async fn answer_server_request(&self, request: &Value) -> Result<(), ClientError> {
        let method = request["method"].as_str().unwrap_or_default();
        let reply = match method {
            "elicitation/create" => {
                json!({"jsonrpc": "2.0", "id": request["id"], "result": self.elicitation_response(&request["params"]).await})
            }
            "ping" => json!({"jsonrpc": "2.0", "id": request["id"], "result": {}}),
            _ => json!({"jsonrpc": "2.0", "id": request["id"], "error": {
                "code": lab_proto::jsonrpc::code::METHOD_NOT_FOUND,
                "message": "this client does not offer that method",
            }}),
        };
        // A response is POSTed like any message of the session, and answered 202 (TR-1125).
        let bearer = self.authorization();
        let mut headers = vec![("accept", super::ACCEPT_BOTH), ("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        if let Some(session) = &self.session {
            headers.push(("mcp-session-id", session.as_str()));
        }
        headers.push(("mcp-protocol-version", self.protocol_version.as_str()));
        let url = self.config.mcp_url.clone();
        let answer = self.send(6, Method::POST, &url, &headers, Body::Json(&reply)).await?;
        if !(200..300).contains(&answer.status) {
            return Err(ClientError::Denied(format!(
                "the answer to the server's {} request was refused with {}",
                super::printable(method, 64),
                answer.status
            )));
        }
        Ok(())
    }

    /// Listens on the session's standalone stream (TR-1125 §Listening for Messages from the
    /// Server: a `GET` on the MCP endpoint), in a task of its own, and answers the server's
    /// requests there as on any stream: elicitations as `ClientConfig::confirm` says, the rest
    /// with an error. A server that offers no such stream (405, or no event stream) is left alone.
    pub(super) async fn listen(&mut self) {
        if let Some(task) = self.stream_task.take() {
            task.abort();
        }
        if self.modern || !self.config.listen {
            return;
        }
        let http = self.http.clone();
        let url = self.config.mcp_url.clone();
        let confirm = self.config.confirm.clone();
        let timeout = self.config.callback_timeout;
        let events = self.config.events.clone();
        let mut headers: Vec<(&'static str, String)> = vec![("mcp-protocol-version", self.protocol_version.clone())];
        if let Some(bearer) = self.authorization() {
            headers.push(("authorization", bearer));
        }
        if let Some(session) = &self.session {
            headers.push(("mcp-session-id", session.clone()));
        }
        // Told once the first GET has its answer (a stream, a refusal, an error): a server may
        // send a request about the next tool call on this stream, and one sent before the client
        // listens is lost, so the caller waits for it, a bounded while.
        let (opened, listening) = tokio::sync::oneshot::channel::<()>();
        let mut opened = Some(opened);
        self.stream_task = Some(tokio::spawn(async move {
            let emit = |event: Event| {
                if let Some(sink) = &events {
                    sink(&event);
                }
            };
            let borrowed = |extra: &[(&'static str, &'static str)]| {
                let mut all: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
                all.extend_from_slice(extra);
                all
            };
            for _ in 0..MAX_LISTENS {
                let get = borrowed(&[("accept", "text/event-stream")]);
                let answer = http.open(6, Method::GET, &url, &get, Body::Empty).await;
                if let Some(opened) = opened.take() {
                    let _ = opened.send(());
                }
                let Ok(Received::Events(mut stream)) = answer else {
                    return;
                };
                while let Ok(Some(data)) = stream.next_data().await {
                    let Ok(request) = serde_json::from_str::<Value>(&data) else { continue };
                    if request.get("method").is_none() || request.get("id").is_none() {
                        continue;
                    }
                    let reply = match request["method"].as_str() {
                        Some("elicitation/create") => {
                            let (result, note) =
                                super::modern::answer_elicitation(&confirm, timeout, &request["params"]).await;
                            emit(Event::Note(note));
                            json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
                        }
                        Some("ping") => json!({"jsonrpc": "2.0", "id": request["id"], "result": {}}),
                        _ => json!({"jsonrpc": "2.0", "id": request["id"], "error": {
                            "code": lab_proto::jsonrpc::code::METHOD_NOT_FOUND,
                            "message": "this client does not offer that method",
                        }}),
                    };
                    let headers = borrowed(&[("accept", super::ACCEPT_BOTH), ("content-type", "application/json")]);
                    if http.send(6, Method::POST, &url, &headers, Body::Json(&reply)).await.is_err() {
                        return;
                    }
                }
            }
        }));
        // A closed channel (the task ended) is as good as an answer.
        let _ = tokio::time::timeout(LISTEN_OPEN_WAIT, listening).await;
    }

    /// `GET` on the MCP endpoint with `Last-Event-ID`, in the session (TR-1125 §Resumability).
    async fn resume(&self, url: &str, last_event_id: &str) -> Result<Received, ClientError> {
        let bearer = self.authorization();
        let mut headers = vec![("accept", "text/event-stream"), ("last-event-id", last_event_id)];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        if let Some(session) = &self.session {
            headers.push(("mcp-session-id", session.as_str()));
        }
        headers.push(("mcp-protocol-version", self.protocol_version.as_str()));
        self.open(Method::GET, url, &headers, Body::Empty).await
    }

    /// [`crate::http::Http::open`] for step 6, told to the event sink.
    async fn open(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Received, ClientError> {
        let result = self.http.open(6, method.clone(), url, headers, body).await;
        let status = match &result {
            Ok(Received::Whole(answer)) => Some(answer.status),
            Ok(Received::Events(stream)) => Some(stream.status),
            Err(_) => None,
        };
        self.emit(Event::Exchange { method: method.to_string(), url: crate::trace::redact_query(url), status });
        result
    }

    /// A message read from a stream, as the JSON answer the rest of the flow reads.
    fn as_json_answer(stream: &EventStream, message: &Value) -> Answer {
        let mut headers = stream.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Answer { status: stream.status, headers, body: message.to_string().into_bytes(), url: stream.url().to_owned() }
    }
}
