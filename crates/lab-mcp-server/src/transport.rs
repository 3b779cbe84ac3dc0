//! Streamable HTTP (TR-1125) with bearer protection (RFC 9728, O21 §5, RFC 6750 §3).
//!
//! The order of checks on the MCP endpoint is the spec's: `Origin` and `Host` first, before any
//! authentication (TR-1125 §Security Warning, requirements §7 item 15); then the bearer token on
//! every request, initialize included (MCP-1125 §Token Requirements); then the session and the
//! protocol version; then the JSON-RPC message.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lab_proto::jsonrpc::{self, Message, code};
use lab_proto::scope::LabScope;
use lab_proto::www_authenticate::format_challenge;
use serde_json::{Value, json};

use crate::principal::{Principal, PrincipalKind};
use crate::profile::RsProfile;
use crate::server::{MAX_SESSIONS, McpServer, SESSION_IDLE_SECONDS, Session};
use crate::tools::{self, Level, Outcome, Policy};

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
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, challenge: None, retry_after: None, message: message.into() }
    }

    fn into_response(self) -> Response {
        // TR-1125: the body MAY be a JSON-RPC error without an id.
        let body = jsonrpc::error_response(Value::Null, code::INVALID_REQUEST, &self.message, None);
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

impl McpServer {
    /// `Bearer resource_metadata="…", scope="mcp:read"`: no `error` when no token was sent
    /// (O21 §5.3.2 SHOULD NOT), the minimal scope (SBP Scope Minimization).
    fn no_token(&self) -> Refusal {
        let mut refusal = Refusal::new(StatusCode::UNAUTHORIZED, "authorization required");
        refusal.challenge = Some(match self.profile() {
            // Legacy persona: a 2025-03-26 server knows no protected resource metadata.
            RsProfile::Legacy20250326 => format_challenge("Bearer", &[("realm", "mcp")]),
            RsProfile::SsrfResourceMetadata => {
                let canary = self.inner.config.canary_url.clone().unwrap_or_else(|| "http://127.0.0.2:7777".to_owned());
                let url = format!("{canary}/metadata");
                format_challenge("Bearer", &[("resource_metadata", &url), ("scope", LabScope::Read.as_str())])
            }
            _ => {
                let prm = self.resource_metadata_url();
                format_challenge("Bearer", &[("resource_metadata", &prm), ("scope", LabScope::Read.as_str())])
            }
        });
        refusal
    }

    /// `Bearer error="invalid_token", error_description="…", resource_metadata="…"` (requirements §3.13).
    fn invalid_token(&self, description: &str) -> Refusal {
        let prm = self.resource_metadata_url();
        let description = lab_proto::error::sanitize_description(description);
        let mut refusal = Refusal::new(StatusCode::UNAUTHORIZED, format!("invalid token: {description}"));
        refusal.challenge = Some(format_challenge(
            "Bearer",
            &[("error", "invalid_token"), ("error_description", &description), ("resource_metadata", &prm)],
        ));
        refusal
    }

    /// 403 with the scopes the caller has plus the one it needs (requirements §7 item 16).
    fn insufficient_scope(&self, principal: &Principal, needed: LabScope) -> Refusal {
        let prm = self.resource_metadata_url();
        let mut scopes: Vec<LabScope> =
            lab_proto::scope::split(&principal.scope).into_iter().filter_map(LabScope::parse).collect();
        scopes.push(needed);
        scopes.sort();
        scopes.dedup();
        let scope = scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(" ");
        let description = format!("this operation needs {}", needed.as_str());
        let mut refusal = Refusal::new(StatusCode::FORBIDDEN, description.clone());
        refusal.challenge = Some(format_challenge(
            "Bearer",
            &[
                ("error", "insufficient_scope"),
                ("scope", &scope),
                ("resource_metadata", &prm),
                ("error_description", &description),
            ],
        ));
        refusal
    }

    fn bad_request(&self, description: &str) -> Refusal {
        let mut refusal = Refusal::new(StatusCode::BAD_REQUEST, description);
        refusal.challenge =
            Some(format_challenge("Bearer", &[("error", "invalid_request"), ("error_description", description)]));
        refusal
    }
}

/// TR-1125: `Origin`, when present, must be allowlisted; `Host` must name this server.
fn check_origin_and_host(server: &McpServer, headers: &HeaderMap) -> Result<(), Refusal> {
    if server.profile() == RsProfile::NoOriginCheck {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| server.inner.config.allowed_origins.iter().any(|allowed| allowed == origin));
        if !allowed {
            return Err(Refusal::new(StatusCode::FORBIDDEN, "origin is not allowed"));
        }
    }
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
    match host {
        Some(host) if server.inner.config.allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) => {
            Ok(())
        }
        _ => Err(Refusal::new(StatusCode::FORBIDDEN, "host is not allowed")),
    }
}

fn cors_headers(server: &McpServer, request_headers: &HeaderMap, response: &mut Response) {
    let Some(origin) = request_headers.get(header::ORIGIN) else { return };
    let allowed =
        origin.to_str().is_ok_and(|origin| server.inner.config.allowed_origins.iter().any(|allowed| allowed == origin));
    if !allowed && server.profile() != RsProfile::NoOriginCheck {
        return;
    }
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("mcp-session-id, mcp-protocol-version, www-authenticate"),
    );
}

/// What the request presented as a bearer token.
enum Presented<'a> {
    None,
    /// Borrowed from the request's headers: the request path copies no token.
    Token(&'a str),
}

/// Whether every byte is in RFC 7235 §2.1 `token68` (a bearer token's alphabet, `=` padding
/// included). Branch-free over fixed-size chunks, so the compiler checks 32 bytes at a time:
/// every authenticated request checks each byte of a 700-byte token.
fn is_token68(token: &[u8]) -> bool {
    fn allowed(b: u8) -> bool {
        b.is_ascii_alphanumeric()
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/')
            | (b == b'=')
    }
    let mut chunks = token.chunks_exact(32);
    let whole = chunks.by_ref().all(|chunk| chunk.iter().fold(true, |ok, &b| ok & allowed(b)));
    whole && chunks.remainder().iter().all(|&b| allowed(b))
}

/// O21 §5.1: the header method only; the scheme is case-insensitive (RS-11); query tokens are
/// ignored (RS-10); a token sent two ways is `invalid_request` (O21 §5.3.2).
fn presented_token<'a>(server: &McpServer, headers: &'a HeaderMap, body: &[u8]) -> Result<Presented<'a>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(server.bad_request("more than one Authorization header"));
    }
    let header_token = match first {
        None => None,
        Some(value) => {
            // The token68 check runs on the header's bytes: token68 characters are visible ASCII,
            // so a bearer value that passes it needs no `to_str` validation of the whole header,
            // and a malformed one is refused before any conversion.
            let bytes = value.as_bytes();
            let (scheme, rest) = bytes.split_at(bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len()));
            if scheme.eq_ignore_ascii_case(b"bearer") {
                let token = rest.trim_ascii();
                if token.is_empty() || !is_token68(token) {
                    return Err(server.bad_request("malformed bearer token"));
                }
                Some(std::str::from_utf8(token).map_err(|_| server.bad_request("malformed bearer token"))?)
            } else {
                value.to_str().map_err(|_| server.bad_request("malformed Authorization header"))?;
                // Another scheme is no bearer credential: answered like a missing token.
                None
            }
        }
    };
    let form_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form_body && url_form_has(body, "access_token") && header_token.is_some() {
        return Err(server.bad_request("the token was sent in more than one way"));
    }
    Ok(header_token.map_or(Presented::None, Presented::Token))
}

fn url_form_has(body: &[u8], name: &str) -> bool {
    body.split(|&byte| byte == b'&').any(|pair| pair.split(|&byte| byte == b'=').next() == Some(name.as_bytes()))
}

/// Authenticates a request. `Ok(None)` means "no token" and is only returned when the caller may
/// continue anonymously (`--anonymous-public`).
async fn authenticate(server: &McpServer, headers: &HeaderMap, body: &[u8]) -> Result<Principal, Refusal> {
    match presented_token(server, headers, body)? {
        Presented::Token(token) => {
            let checks = server.checks();
            server.inner.verifier.verify(token, checks).await.map_err(|rejection| {
                tracing::info!(reason = %rejection, "bearer token refused");
                server.invalid_token(&rejection.0)
            })
        }
        Presented::None => {
            if server.profile() == RsProfile::SessionAsAuth {
                // Weak: the session id is taken as proof of identity (what SBP forbids).
                if let Some(session) = session_id(headers).and_then(|id| server.sessions().get(&id).cloned()) {
                    return Ok(session.principal);
                }
            }
            if server.inner.config.anonymous_public {
                return Ok(Principal::anonymous());
            }
            Err(server.no_token())
        }
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
        authorization_servers: vec![config.issuer.clone()],
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

async fn handle(
    server: &McpServer,
    method: &Method,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    check_origin_and_host(server, headers)?;
    if method == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let response_headers = response.headers_mut();
        response_headers
            .insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        response_headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id",
            ),
        );
        response_headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return Ok(response);
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

/// Methods an anonymous caller may use with `--anonymous-public`.
fn anonymous_may(method: &str, params: Option<&Value>) -> bool {
    match method {
        "initialize" | "ping" | "tools/list" => true,
        "tools/call" => {
            let name = params.and_then(|params| params.get("name")).and_then(Value::as_str);
            tools::catalogue().iter().any(|tool| Some(tool.name) == name && tool.level == Level::Public)
        }
        _ => method.starts_with("notifications/"),
    }
}

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
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.iter().min_by_key(|(_, session)| session.last_seen).map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
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

enum Dispatch {
    Error(i64, String),
    Refused(Refusal),
}

async fn dispatch(
    server: &McpServer,
    method: &str,
    params: Option<&Value>,
    principal: &Principal,
) -> Result<Value, Dispatch> {
    let invalid = |message: &str| Dispatch::Error(code::INVALID_PARAMS, message.to_owned());
    match method {
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools::catalogue().iter().map(tools::describe).collect::<Vec<_>>()})),
        "tools/call" => {
            let params = params.and_then(Value::as_object).ok_or_else(|| invalid("tools/call needs params"))?;
            let name =
                params.get("name").and_then(Value::as_str).ok_or_else(|| invalid("tools/call needs a tool name"))?;
            let catalogue = tools::catalogue();
            let tool = catalogue
                .iter()
                .find(|tool| tool.name == name)
                .ok_or_else(|| invalid(&format!("unknown tool {name}")))?;
            let empty = json!({});
            let arguments = params.get("arguments").unwrap_or(&empty);
            if let Some(outcome) = permission(server, principal, tool.level)? {
                return Ok(outcome.to_result());
            }
            tools::validate(&tool.input_schema, arguments)
                .map_err(|message| invalid(&format!("invalid arguments for {name}: {message}")))?;
            let profile = server.profile();
            let policy = Policy {
                owner_check: profile != RsProfile::NoOwnerCheck,
                redaction: profile != RsProfile::NoRedaction,
            };
            let outcome = tools::execute(&mut server.shop(), name, arguments, principal, policy);
            let outcome = match (name, outcome) {
                ("track_shipment", Outcome::Ok(order)) => track(server, &order).await,
                (_, outcome) => outcome,
            };
            tracing::info!(tool = name, principal = %principal.key(), error = matches!(outcome, Outcome::Error(_)), "tool called");
            Ok(outcome.to_result())
        }
        "resources/list" => Ok(json!({"resources": [
            {"uri": "commerce://catalog/categories", "name": "categories", "title": "Product categories", "mimeType": "application/json"},
            {"uri": ANALYTICS_URI, "name": "analytics-daily", "title": "Daily analytics", "mimeType": "application/json",
             "annotations": {"audience": ["assistant"], "priority": 0.3}},
        ]})),
        "resources/read" => {
            let uri = params
                .and_then(|params| params.get("uri"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("resources/read needs a uri"))?;
            match uri {
                "commerce://catalog/categories" => {
                    let categories = tools::execute(
                        &mut server.shop(),
                        "get_categories",
                        &json!({}),
                        principal,
                        Policy { owner_check: true, redaction: true },
                    );
                    let Outcome::Ok(value) = categories else {
                        return Err(Dispatch::Error(code::INTERNAL_ERROR, "categories unavailable".into()));
                    };
                    Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": value.to_string()}]}))
                }
                ANALYTICS_URI => {
                    if permission(server, principal, Level::Admin)?.is_some() {
                        // Not the caller's to see: answered like a missing resource.
                        return Err(Dispatch::Error(code::RESOURCE_NOT_FOUND, format!("resource {uri} not found")));
                    }
                    let value = tools::analytics(&server.shop());
                    Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": value.to_string(),
                        "annotations": {"audience": ["assistant"], "priority": 0.3}}]}))
                }
                _ => Err(Dispatch::Error(code::RESOURCE_NOT_FOUND, format!("resource {uri} not found"))),
            }
        }
        _ => Err(Dispatch::Error(code::METHOD_NOT_FOUND, format!("method {method} not found"))),
    }
}

const ANALYTICS_URI: &str = "commerce://analytics/daily";

/// The seed's permission matrix. `Ok(None)`: allowed. `Ok(Some(outcome))`: a tool error that
/// tells the caller it cannot do this (no step-up would help). `Err`: an HTTP refusal (401 for an
/// anonymous caller, 403 `insufficient_scope` for a scope the caller could still obtain).
fn permission(server: &McpServer, principal: &Principal, level: Level) -> Result<Option<Outcome>, Dispatch> {
    let Some(needed) = level.scope() else { return Ok(None) };
    if server.profile() == RsProfile::NeverSatisfiedStepUp && principal.kind != PrincipalKind::Anonymous {
        // Hostile: whatever the client obtains, it is never enough.
        return Err(Dispatch::Refused(server.insufficient_scope(principal, LabScope::Admin.max(needed))));
    }
    match principal.kind {
        PrincipalKind::Anonymous => return Err(Dispatch::Refused(server.no_token())),
        // RS-23: a client acting for itself has no user data to act on.
        PrincipalKind::Client => {
            return Ok(Some(Outcome::Error(
                "this tool acts for a user; a client-credentials token has none".to_owned(),
            )));
        }
        PrincipalKind::User => {}
    }
    if level == Level::Admin {
        let is_admin = principal
            .user_id()
            .and_then(|user| server.shop().customers.get(user).map(|customer| customer.admin))
            .unwrap_or(false);
        if !is_admin {
            return Ok(Some(Outcome::Error("this tool needs the admin role".to_owned())));
        }
    }
    if !lab_proto::scope::covers(&principal.scope, needed) {
        return Err(Dispatch::Refused(server.insufficient_scope(principal, needed)));
    }
    Ok(None)
}

/// Completes `track_shipment` through the upstream API with the RS's own token (RS-12).
async fn track(server: &McpServer, order: &Value) -> Outcome {
    let Some(upstream) = server.inner.config.upstream.clone() else {
        return Outcome::Error("the shipping service is not configured".to_owned());
    };
    let order_id = order["order_id"].as_str().unwrap_or_default().to_owned();
    let tracking = server.shop().order(&order_id).map(|order| order.tracking_number.to_owned());
    let Some(tracking) = tracking else { return Outcome::Error(format!("order {order_id} not found")) };
    match upstream.shipment_status(&tracking).await {
        Ok(status) => Outcome::Ok(json!({"order_id": order_id, "tracking_number": tracking, "shipment": status})),
        Err(error) => {
            tracing::warn!(%error, "upstream call failed");
            Outcome::Error("the shipping service is unavailable".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token68_is_exactly_rfc_7235s_alphabet_at_any_length() {
        let alphabet = b"ABCXYZabcxyz0189-._~+/=";
        for length in [1, 31, 32, 33, 64, 700] {
            let token: Vec<u8> = alphabet.iter().copied().cycle().take(length).collect();
            assert!(is_token68(&token), "{length}");
            for bad in [b' ', b'"', b',', b'%', b'*', 0x7f, 0xc3] {
                for at in [0, length / 2, length - 1] {
                    let mut broken = token.clone();
                    broken[at] = bad;
                    assert!(!is_token68(&broken), "{length} {bad} at {at}");
                }
            }
        }
    }
}
