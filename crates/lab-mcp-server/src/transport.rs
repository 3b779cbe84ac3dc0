//! Streamable HTTP (TR-1125) with bearer protection (RFC 9728, O21 §5, RFC 6750 §3).
//!
//! The order of checks on the MCP endpoint is the spec's: `Origin` and `Host` first, before any
//! authentication (TR-1125 §Security Warning, requirements §7 item 15); then the bearer token on
//! every request, initialize included (MCP-1125 §Token Requirements); then the session and the
//! protocol version; then the JSON-RPC message.
//!
//! This module keeps that order, readable top to bottom in [`mcp`], `handle` and `post`, with the
//! sessions it creates and checks. What each check does lives in its own module: `origin` (the
//! `Origin` and `Host` checks and CORS), `bearer` (the token and its challenges), `permission`
//! (the seed's permission matrix) and `dispatch` (the JSON-RPC methods of a session).

mod bearer;
mod dispatch;
mod modern;
mod origin;
mod permission;
pub(crate) mod personas;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lab_proto::jsonrpc::{self, Message, code};
use lab_proto::scope::LabScope;
use serde_json::{Value, json};

use self::bearer::authenticate;
use self::dispatch::{Dispatch, dispatch};
use self::origin::{check_origin_and_host, cors_headers, preflight};
use self::permission::anonymous_may;
use crate::principal::{Principal, PrincipalKind};
use crate::profile::RsProfile;
use crate::server::{MAX_SESSIONS, McpServer, SESSION_IDLE_SECONDS, Session};

/// The largest MCP message the RS reads.
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// An HTTP-level answer of the MCP endpoint that is not a JSON-RPC result.
struct Refusal {
    status: StatusCode,
    challenge: Option<String>,
    retry_after: Option<u64>,
    message: String,
    /// The id of the request refused, once it was read (2026-07-28 asks every error to echo it);
    /// `null` before.
    id: Value,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, challenge: None, retry_after: None, message: message.into(), id: Value::Null }
    }

    fn into_response(self) -> Response {
        // TR-1125: the body MAY be a JSON-RPC error without an id.
        let body = jsonrpc::error_response(self.id, code::INVALID_REQUEST, &self.message, None);
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(challenge) = self.challenge.and_then(|value| HeaderValue::from_str(&value).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers.get(SESSION_HEADER).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// The PRM document (RFC 9728 §2–3).
pub(crate) async fn protected_resource_metadata(State(server): State<McpServer>) -> Response {
    let config = &server.inner.config;
    let profile = server.profile();
    if profile == RsProfile::Legacy20250326 {
        return StatusCode::NOT_FOUND.into_response();
    }
    let metadata = lab_proto::metadata::ProtectedResourceMetadata {
        // RFC 9728 §3.3: identical to the URL clients use (the hostile persona lies).
        resource: if profile == RsProfile::PrmResourceMismatch {
            "https://evil.example/mcp".to_owned()
        } else {
            config.resource.clone()
        },
        // The `as-migration` persona names the AS it moved to, once it has.
        authorization_servers: match (&config.migration, profile) {
            (Some(moved), RsProfile::AsMigration) if server.persona_log().migrated => vec![moved.issuer.clone()],
            _ => vec![config.issuer.clone()],
        },
        // SBP Scope Minimization and MCP-2607: the everyday scopes, no admin, no offline_access.
        scopes_supported: Some(vec![LabScope::Read.as_str().to_owned(), LabScope::Write.as_str().to_owned()]),
        bearer_methods_supported: Some(vec!["header".to_owned()]),
        resource_name: Some(config.resource_name.clone()),
        ..Default::default()
    };
    let mut response = axum::Json(metadata).into_response();
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// The MCP endpoint: POST, GET and DELETE (TR-1125), plus CORS preflights.
pub(crate) async fn mcp(
    State(server): State<McpServer>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut response = match handle(&server, &method, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    };
    cors_headers(&server, &headers, &mut response);
    response
}

/// The checks every method passes, in order: `Origin` and `Host` (403), a preflight answered
/// right there, the body's size (413), the bearer token (400 or 401), the rate limit (429); then
/// the method, each of which needs a session but `POST`'s initialize.
async fn handle(
    server: &McpServer,
    method: &Method,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    check_origin_and_host(server, headers)?;
    if method == Method::OPTIONS {
        return Ok(preflight());
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, format!("message is larger than {MAX_BODY_BYTES} bytes"))
        } else {
            Refusal::new(StatusCode::BAD_REQUEST, "message could not be read")
        }
    })?;
    let principal = authenticate(server, headers, &body).await?;
    server.rate_limit(&principal).map_err(|retry_after| {
        let mut refusal = Refusal::new(StatusCode::TOO_MANY_REQUESTS, "too many requests");
        refusal.retry_after = Some(retry_after);
        refusal
    })?;
    if method != Method::POST && modern::is_modern(server, headers, None) {
        // TR-2607: no standalone stream and no session to end; a 2026-07-28 client only POSTs.
        let mut response =
            Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "MCP 2026-07-28 uses POST only").into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    match *method {
        Method::POST => post(server, headers, &body, principal).await,
        Method::GET => {
            if principal.kind == PrincipalKind::Anonymous {
                return Err(server.no_token());
            }
            existing_session(server, headers, &principal)?;
            // TR-1125: a server that offers no SSE stream answers GET with 405.
            let mut response =
                Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "this server offers no standalone SSE stream")
                    .into_response();
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
            Ok(response)
        }
        Method::DELETE => {
            if principal.kind == PrincipalKind::Anonymous {
                return Err(server.no_token());
            }
            let id = existing_session(server, headers, &principal)?;
            server.sessions().remove(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => {
            let mut response = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE").into_response();
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, GET, DELETE"));
            Ok(response)
        }
    }
}

/// The session a request names, which must exist and belong to the caller (RS-16, RS-18).
fn existing_session(server: &McpServer, headers: &HeaderMap, principal: &Principal) -> Result<String, Refusal> {
    let Some(id) = session_id(headers) else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "missing MCP-Session-Id"));
    };
    let now = server.inner.config.clock.now();
    let mut sessions = server.sessions();
    match sessions.get_mut(&id) {
        // Another principal's session is answered exactly like an unknown one: 404, nothing else.
        Some(session)
            if principal.has_key(&session.principal_key) && session.last_seen + SESSION_IDLE_SECONDS > now =>
        {
            session.last_seen = now;
            Ok(id)
        }
        _ => Err(Refusal::new(StatusCode::NOT_FOUND, "session not found")),
    }
}

/// How the client wants the answer (TR-1125: it must accept both; the RS honours its preference).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    EventStream,
}

fn framing(headers: &HeaderMap) -> Result<Framing, Refusal> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) else {
        return Ok(Framing::Json);
    };
    let accept = accept.to_ascii_lowercase();
    if accept.contains("application/json") || accept.contains("*/*") || accept.contains("application/*") {
        Ok(Framing::Json)
    } else if accept.contains("text/event-stream") {
        Ok(Framing::EventStream)
    } else {
        Err(Refusal::new(StatusCode::NOT_ACCEPTABLE, "accept application/json or text/event-stream"))
    }
}

fn answer(framing: Framing, message: &Value, extra: Option<(&'static str, String)>) -> Response {
    let mut response = match framing {
        Framing::Json => (StatusCode::OK, axum::Json(message)).into_response(),
        Framing::EventStream => {
            let event_id = lab_proto::random_token(12).unwrap_or_default();
            let body = format!("id: {event_id}\nevent: message\ndata: {message}\n\n");
            let mut response = (StatusCode::OK, Body::from(body)).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    };
    if let Some((name, value)) = extra
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        response.headers_mut().insert(name, value);
    }
    response
}

/// `POST`: the `Accept` header (406), the JSON-RPC message (400, batches included), what an
/// anonymous caller may call, `initialize` (which makes a session), or else the session (404) and
/// the protocol version (400), and then the method.
async fn post(server: &McpServer, headers: &HeaderMap, body: &[u8], principal: Principal) -> Result<Response, Refusal> {
    let framing = framing(headers)?;
    let message = match jsonrpc::parse_message(body) {
        Ok(message) => message,
        // Batches and malformed JSON: 400 with the JSON-RPC error, nothing executed.
        Err(refusal) => return Ok((StatusCode::BAD_REQUEST, axum::Json(refusal.to_response())).into_response()),
    };
    let (method_name, params) = match &message {
        Message::Request { method, params, .. } | Message::Notification { method, params } => {
            (method.as_str(), params.as_ref())
        }
        Message::Response { .. } => ("", None),
    };
    if principal.kind == PrincipalKind::Anonymous && !anonymous_may(method_name, params) {
        return Err(server.no_token());
    }
    // The era is chosen per request, as a dual-era server does (MCP 2026-07-28 `basic/versioning`).
    if modern::is_modern(server, headers, Some(&message)) {
        return modern::post(server, headers, framing, message, &principal).await;
    }
    if let Message::Request { id, method, params } = &message
        && method == "initialize"
    {
        return Ok(initialize(server, framing, id.clone(), params.as_ref(), &principal));
    }
    let session = existing_session(server, headers, &principal)?;
    let negotiated =
        server.sessions().get(&session).map(|session| session.protocol_version.clone()).unwrap_or_default();
    if let Some(version) = headers.get(VERSION_HEADER) {
        let version = version.to_str().unwrap_or("");
        // TR-1125 §Protocol Version Header: invalid or unsupported ⇒ 400.
        if !lab_proto::jsonrpc::SUPPORTED_PROTOCOL_VERSIONS.contains(&version) {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, format!("unsupported MCP-Protocol-Version {version:?}")));
        }
        if version != negotiated {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "MCP-Protocol-Version differs from the negotiated version",
            ));
        }
    }
    let Message::Request { id, method, params } = message else {
        // Notifications and responses are accepted without a body.
        return Ok(StatusCode::ACCEPTED.into_response());
    };
    if server.profile() == RsProfile::NeverSatisfiedStepUp
        && principal.kind != PrincipalKind::Anonymous
        && method != "ping"
    {
        // Hostile: every request after initialize asks for more scope, whatever the token holds.
        return Err(server.insufficient_scope(&principal, LabScope::Admin));
    }
    let reply = match dispatch(server, &method, params.as_ref(), &principal).await {
        Ok(result) => jsonrpc::result_response(id, result),
        Err(Dispatch::Error(code, message)) => jsonrpc::error_response(id, code, &message, None),
        Err(Dispatch::Refused(refusal)) => return Err(refusal),
    };
    Ok(answer(framing, &reply, None))
}

fn initialize(
    server: &McpServer,
    framing: Framing,
    id: Value,
    params: Option<&Value>,
    principal: &Principal,
) -> Response {
    let requested = params.and_then(|params| params.get("protocolVersion")).and_then(Value::as_str);
    let Some(requested) = requested else {
        let reply = jsonrpc::error_response(id, code::INVALID_PARAMS, "initialize needs protocolVersion", None);
        return answer(framing, &reply, None);
    };
    // Negotiation: the requested version when supported, otherwise the newest the RS speaks.
    let version = if jsonrpc::SUPPORTED_PROTOCOL_VERSIONS.contains(&requested) {
        requested
    } else {
        jsonrpc::LATEST_PROTOCOL_VERSION
    };
    let now = server.inner.config.clock.now();
    // Session fixation: a client-supplied id is ignored; the RS always mints a fresh one, with
    // 256 random bits (SBP Session Hijacking: secure, non-deterministic ids).
    let session_id = if server.profile() == RsProfile::PredictableSessionIds {
        // Weak: a counter, which anyone who saw one id can continue.
        let next = server.inner.session_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("lab-session-{next:08}")
    } else {
        let Ok(session_id) = lab_proto::random_token(32) else {
            return answer(
                framing,
                &jsonrpc::error_response(id, code::INTERNAL_ERROR, "random source failed", None),
                None,
            );
        };
        session_id
    };
    {
        let mut sessions = server.sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, session| session.last_seen + SESSION_IDLE_SECONDS > now);
        }
        if let Some(evicted) = crate::server::session_to_evict(&sessions, &principal.key()) {
            sessions.remove(&evicted);
        }
        sessions.insert(
            session_id.clone(),
            Session {
                principal_key: principal.key(),
                protocol_version: version.to_owned(),
                principal: principal.clone(),
                last_seen: now,
            },
        );
    }
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}, "resources": {"listChanged": false, "subscribe": false}},
        "serverInfo": {"name": "mcp-auth-lab-rs", "title": "MCP Auth Lab shop", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "A small outdoor shop. Public tools need no scope; orders need mcp:read; returns and profiles mcp:write; inventory and promotions mcp:admin and the admin role.",
    });
    answer(framing, &jsonrpc::result_response(id, result), Some((SESSION_HEADER, session_id)))
}
