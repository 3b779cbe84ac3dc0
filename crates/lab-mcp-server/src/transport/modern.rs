//! MCP 2026-07-28 on the same endpoint (TR-2607, MCP 2026-07-28 `basic/versioning`): a request
//! that carries the revision's markers (a `MCP-Protocol-Version` header naming no legacy revision,
//! or the protocol version in `_meta`) is served statelessly, with no session minted or honoured.
//!
//! Its checks run in the order of the revision's server validation, which the official suite
//! probes: the `_meta` fields a request must carry (400, -32602), the protocol version header
//! against `_meta` (400, -32020), the version itself (400, -32022 with the supported list), the
//! `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers against the body (400, -32020), then the
//! method (404, -32601 for one this revision does not have). The permission check always reads
//! the body, never a header alone: the headers are only compared with it.
//!
//! At this revision, high-risk tools (`create_return`, `update_inventory`, `manage_promotions`)
//! run only after the user confirms (seed §7.1): the first call answers an input-required result
//! that asks for the confirmation by elicitation (MRTR, SEP-2322), and its `requestState` is
//! sealed with the RS's key and bound to the principal, a TTL, the request's digest and a single
//! use. (A 2025-11-25 session runs them as before: that revision would ask by a server-initiated
//! elicitation, which the lab does not send yet.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lab_proto::jsonrpc::{self, Message, code, meta};
use serde_json::{Map, Value, json};

use super::dispatch::{Dispatch, dispatch, gate};
use super::{Framing, Refusal, VERSION_HEADER, answer};
use crate::principal::Principal;
use crate::profile::RsProfile;
use crate::server::{McpServer, Revisions};
use crate::tools::{self, Outcome};

const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const PARAM_HEADER_PREFIX: &str = "mcp-param-";

/// The tools that change what is hard to undo, which run only once the user confirms.
pub(crate) const CONFIRMED_TOOLS: [&str; 3] = ["create_return", "update_inventory", "manage_promotions"];
/// The key of the confirmation in `inputRequests` and `inputResponses`.
const CONFIRMATION: &str = "confirm";
/// How long a `requestState` stays good, in seconds.
const STATE_TTL_SECONDS: u64 = 300;
/// How many answered states the RS remembers until they expire.
const MAX_SPENT_STATES: usize = 10_000;

/// Whether a request is of the 2026-07-28 era: a version header that names no legacy revision, or
/// the revision's protocol version in `_meta` (a dual-era server "selects its behavior from how
/// the client opens"). Everything is, on a server that speaks 2026-07-28 only.
pub(super) fn is_modern(server: &McpServer, headers: &HeaderMap, message: Option<&Message>) -> bool {
    if server.inner.config.revisions == Revisions::Modern {
        return true;
    }
    let header = headers.get(VERSION_HEADER).map(|value| value.to_str().unwrap_or("").trim());
    if header.is_some_and(|version| !jsonrpc::LEGACY_PROTOCOL_VERSIONS.contains(&version)) {
        return true;
    }
    let params = match message {
        Some(Message::Request { params, .. } | Message::Notification { params, .. }) => params.as_ref(),
        _ => None,
    };
    params.and_then(|params| params.get("_meta")).is_some_and(|meta| meta.get(meta::PROTOCOL_VERSION).is_some())
}

/// A JSON-RPC error answered with `status`, echoing the request's `id`.
fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str, data: Option<Value>) -> Response {
    (status, axum::Json(jsonrpc::error_response(id, code, message, data))).into_response()
}

/// The answer to a version this revision's server does not speak: 400, -32022 with the versions
/// it does (MCP 2026-07-28 `basic/versioning`).
fn unsupported_version(id: Value, requested: &str) -> Response {
    let data = json!({"supported": jsonrpc::MODERN_PROTOCOL_VERSIONS, "requested": requested});
    rpc_error(
        StatusCode::BAD_REQUEST,
        id,
        code::UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
        Some(data),
    )
}

/// A header's value with its optional whitespace trimmed (RFC 9110 §5.5), or `Err` when it holds
/// bytes that are no visible ASCII or comes more than once (a gateway reading another copy than
/// the RS would judge another request).
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<Result<&'a str, ()>> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return Some(Err(()));
    }
    Some(value.to_str().map(|text| text.trim_matches([' ', '\t'])).map_err(|_| ()))
}

/// A header value as the client meant it: the base64 sentinel `=?base64?…?=` decoded (strictly:
/// the standard alphabet with its padding, and UTF-8), anything else literal (TR-2607 §Value
/// Encoding). `Err` for a sentinel that does not decode.
fn decoded(value: &str) -> Result<String, ()> {
    let Some(encoded) = value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) else {
        return Ok(value.to_owned());
    };
    let bytes = STANDARD.decode(encoded).map_err(|_| ())?;
    String::from_utf8(bytes).map_err(|_| ())
}

/// How an argument is written in a header: a string as it is, an integer in decimal, a boolean as
/// `true` or `false` (TR-2607 §Custom Headers from Tool Parameters).
fn header_form(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => {
            Some(number.as_i64().map_or_else(|| number.to_string(), |integer| integer.to_string()))
        }
        _ => None,
    }
}

/// The headers of a 2026-07-28 request against its body: `Mcp-Method` always, `Mcp-Name` for the
/// methods that name something, `Mcp-Param-*` for the tool parameters marked `x-mcp-header`.
/// TR-2607 §Server Validation: a server that reads the body MUST reject a missing or mismatched
/// value with 400 and -32020. The message names the header, never its value.
fn check_headers(headers: &HeaderMap, method: &str, params: Option<&Map<String, Value>>) -> Result<(), String> {
    match header_text(headers, METHOD_HEADER) {
        Some(Ok(value)) if value == method => {}
        Some(_) => return Err("Mcp-Method does not match the request's method".to_owned()),
        None => return Err("Mcp-Method is missing".to_owned()),
    }
    let named = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = named {
        let body = params.and_then(|params| params.get(field)).and_then(Value::as_str);
        match header_text(headers, NAME_HEADER) {
            None => return Err("Mcp-Name is missing".to_owned()),
            Some(Ok(value)) if decoded(value).ok().as_deref() == body => {}
            Some(_) => return Err(format!("Mcp-Name does not match the request's {field}")),
        }
    }
    if method == "tools/call" {
        let name = params.and_then(|params| params.get("name")).and_then(Value::as_str);
        let arguments = params.and_then(|params| params.get("arguments")).and_then(Value::as_object);
        if let Some(tool) = tools::catalogue().iter().find(|tool| Some(tool.name) == name) {
            for (property, schema) in tool.input_schema["properties"].as_object().into_iter().flatten() {
                let Some(header) = schema.get("x-mcp-header").and_then(Value::as_str) else { continue };
                let header_name = format!("{PARAM_HEADER_PREFIX}{}", header.to_ascii_lowercase());
                let argument = arguments.and_then(|arguments| arguments.get(property)).filter(|value| !value.is_null());
                let sent = header_text(headers, &header_name);
                match (argument.and_then(header_form), sent) {
                    // A value that is null or absent from the arguments asks no header.
                    (None, None) => {}
                    (None, Some(Ok(_))) if argument.is_none() => {}
                    (Some(_), None) => return Err(format!("Mcp-Param-{header} is missing")),
                    (Some(wanted), Some(Ok(value))) if decoded(value).ok().as_deref() == Some(wanted.as_str()) => {}
                    _ => return Err(format!("Mcp-Param-{header} does not match the argument {property}")),
                }
            }
        }
    }
    Ok(())
}

/// A `complete` result as this revision shapes it: `resultType`, the server's identity in
/// `_meta`, and the caching hints (SEP-2549) where the revision asks for them. A result that
/// depends on who asks is `private`: access control never rests on `cacheScope`.
fn complete(mut result: Value, cache: Option<(u64, &'static str)>) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.insert("resultType".to_owned(), json!("complete"));
        let meta = object.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                meta::SERVER_INFO.to_owned(),
                json!({"name": "mcp-auth-lab-rs", "version": env!("CARGO_PKG_VERSION")}),
            );
        }
        if let Some((ttl_ms, scope)) = cache {
            object.insert("ttlMs".to_owned(), json!(ttl_ms));
            object.insert("cacheScope".to_owned(), json!(scope));
        }
    }
    result
}

/// `server/discover` (MCP 2026-07-28 `server/discover`: servers MUST implement it).
fn discover() -> Value {
    json!({
        "supportedVersions": jsonrpc::MODERN_PROTOCOL_VERSIONS,
        "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
        "instructions": "A small outdoor shop. Public tools need no scope; orders need mcp:read; returns and profiles mcp:write; inventory and promotions mcp:admin and the admin role. Returns, inventory and promotions run only after the user confirms.",
    })
}

/// `POST` of a 2026-07-28 message, once `Origin`, `Host`, the token and the rate limit have passed.
pub(super) async fn post(
    server: &McpServer,
    headers: &HeaderMap,
    framing: Framing,
    message: Message,
    principal: &Principal,
) -> Result<Response, Refusal> {
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // Notifications and responses change nothing here: accepted, no body.
        Message::Notification { .. } | Message::Response { .. } => return Ok(StatusCode::ACCEPTED.into_response()),
    };
    let bad = |code: i64, message: &str| rpc_error(StatusCode::BAD_REQUEST, id.clone(), code, message, None);
    let params = params.as_ref().and_then(Value::as_object);
    let request_meta = params.and_then(|params| params.get("_meta")).and_then(Value::as_object);
    if method == "initialize" && request_meta.is_none() && server.inner.config.revisions == Revisions::Modern {
        // A client of an earlier revision at a server that speaks 2026-07-28 only: the versions it
        // could use, named as the revision asks of a modern-only server. (At a dual-era server an
        // `initialize` without `_meta` reaches here only with a 2026-07-28 header: malformed.)
        let requested = params.and_then(|params| params.get("protocolVersion")).and_then(Value::as_str).unwrap_or("");
        return Ok(unsupported_version(id, requested));
    }
    let version = request_meta.and_then(|meta| meta.get(meta::PROTOCOL_VERSION)).and_then(Value::as_str);
    let capabilities =
        request_meta.and_then(|meta| meta.get(meta::CLIENT_CAPABILITIES)).filter(|value| value.is_object());
    let (Some(version), Some(capabilities)) = (version, capabilities) else {
        // MCP 2026-07-28 `basic/index`: a request missing a required field is malformed: -32602, 400.
        return Ok(bad(
            code::INVALID_PARAMS,
            "a 2026-07-28 request carries _meta with io.modelcontextprotocol/protocolVersion and clientCapabilities",
        ));
    };
    match header_text(headers, VERSION_HEADER) {
        Some(Ok(header)) if header == version => {}
        Some(_) => {
            return Ok(bad(code::HEADER_MISMATCH, "MCP-Protocol-Version does not match _meta's protocol version"));
        }
        None => return Ok(bad(code::HEADER_MISMATCH, "MCP-Protocol-Version is missing")),
    }
    if !jsonrpc::MODERN_PROTOCOL_VERSIONS.contains(&version) {
        return Ok(unsupported_version(id, version));
    }
    let trusting = server.profile() == RsProfile::TrustMcpName;
    if let Err(message) = check_headers(headers, &method, params)
        && !(trusting && message.starts_with("Mcp-Name"))
    {
        return Ok(bad(code::HEADER_MISMATCH, &message));
    }
    if trusting && method == "tools/call" {
        // Weak: the permission matrix is asked about the tool the header names, and the body's
        // tool runs, unconfirmed: what a gateway that routes on headers lets through.
        let named = header_text(headers, NAME_HEADER).and_then(Result::ok).and_then(|value| decoded(value).ok());
        let level = tools::catalogue().iter().find(|tool| Some(tool.name) == named.as_deref()).map(|tool| tool.level);
        let body_tool = params.and_then(|params| params.get("name")).and_then(Value::as_str).unwrap_or_default();
        let arguments = params.and_then(|params| params.get("arguments")).cloned().unwrap_or_else(|| json!({}));
        let result = match level.map(|level| super::permission::permission(server, principal, level)) {
            None => tools::Outcome::Error(format!("unknown tool {}", named.unwrap_or_default())).to_result(),
            Some(Err(failure)) => return failed(framing, id, failure),
            Some(Ok(Some(outcome))) => outcome.to_result(),
            Some(Ok(None)) => {
                let policy = tools::Policy { owner_check: true, redaction: true };
                tools::execute(&mut server.shop(), body_tool, &arguments, principal, policy).to_result()
            }
        };
        return Ok(answer(framing, &jsonrpc::result_response(id, complete(result, None)), None));
    }
    let params_value = params.map(|params| Value::Object(params.clone()));
    // Weak: every cacheable result is marked public, the caller's own included.
    let public_everything = server.profile() == RsProfile::PublicCacheScope;
    let scope = |scope: &'static str| if public_everything { "public" } else { scope };
    let result = match method.as_str() {
        "server/discover" => complete(discover(), Some((3_600_000, "public"))),
        "tools/list" => {
            let listed = dispatch(server, "tools/list", None, principal).await;
            match listed {
                Ok(mut result) => {
                    if server.inner.config.conformance_fixtures
                        && let Some(listed) = result["tools"].as_array_mut()
                    {
                        listed.extend(FIXTURES.iter().map(|(name, description)| {
                            json!({"name": name, "description": description, "inputSchema": {"type": "object", "properties": {}}})
                        }));
                    }
                    complete(result, Some((300_000, "public")))
                }
                Err(failure) => return failed(framing, id, failure),
            }
        }
        "tools/call" => match call_tool(server, params, capabilities, principal).await {
            Ok(result) => result,
            Err(Failure::Dispatch(failure)) => return failed(framing, id, failure),
            Err(Failure::Answer(status, code, message, data)) => {
                return Ok(rpc_error(status, id, code, &message, data));
            }
        },
        // The admin sees the analytics in the list, a customer does not: private.
        "resources/list" => match dispatch(server, "resources/list", None, principal).await {
            Ok(result) => complete(result, Some((60_000, scope("private")))),
            Err(failure) => return failed(framing, id, failure),
        },
        "resources/read" => {
            let uri =
                params.and_then(|params| params.get("uri")).and_then(Value::as_str).unwrap_or_default().to_owned();
            match dispatch(server, "resources/read", params_value.as_ref(), principal).await {
                Ok(result) => {
                    let own = if uri.starts_with("commerce://catalog/") { "public" } else { "private" };
                    complete(result, Some((60_000, scope(own))))
                }
                // MCP 2026-07-28 `server/resources`: a resource that does not exist is -32602 with
                // its URI (-32002 is the earlier revisions').
                Err(Dispatch::Error(code::RESOURCE_NOT_FOUND, message)) => {
                    let reply = jsonrpc::error_response(id, code::INVALID_PARAMS, &message, Some(json!({"uri": uri})));
                    return Ok(answer(framing, &reply, None));
                }
                Err(failure) => return failed(framing, id, failure),
            }
        }
        "resources/templates/list" => complete(json!({"resourceTemplates": []}), Some((3_600_000, "public"))),
        "prompts/list" => complete(json!({"prompts": []}), Some((3_600_000, "public"))),
        "prompts/get" => {
            let reply = jsonrpc::error_response(id, code::INVALID_PARAMS, "unknown prompt", None);
            return Ok(answer(framing, &reply, None));
        }
        // `initialize`, `ping`, `logging/setLevel`, the subscriptions of earlier revisions and
        // anything unknown: this revision has no such method (404, -32601).
        _ => {
            return Ok(rpc_error(
                StatusCode::NOT_FOUND,
                id,
                code::METHOD_NOT_FOUND,
                &format!("method {method} does not exist in MCP 2026-07-28"),
                None,
            ));
        }
    };
    Ok(answer(framing, &jsonrpc::result_response(id, result), None))
}

/// A failed method as the answer says it: a JSON-RPC error, or the HTTP refusal it carries.
fn failed(framing: Framing, id: Value, failure: Dispatch) -> Result<Response, Refusal> {
    match failure {
        Dispatch::Error(code, message) => Ok(answer(framing, &jsonrpc::error_response(id, code, &message, None), None)),
        // An HTTP refusal (a 403 step-up) still names the request it refuses.
        Dispatch::Refused(mut refusal) => {
            refusal.id = id;
            Err(refusal)
        }
    }
}

/// How `tools/call` failed: as the legacy dispatch does, or with an answer of its own.
pub(super) enum Failure {
    Dispatch(Dispatch),
    Answer(StatusCode, i64, String, Option<Value>),
}

impl Failure {
    /// The system's random source failed: no state or nonce can be made, so nothing is issued.
    pub(super) fn no_randomness() -> Self {
        Self::Answer(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_ERROR, "random source failed".to_owned(), None)
    }
}

/// `tools/call`: what the permission matrix and the arguments allow; for a tool that needs the
/// user's confirmation, the input-required round first.
async fn call_tool(
    server: &McpServer,
    params: Option<&Map<String, Value>>,
    capabilities: &Value,
    principal: &Principal,
) -> Result<Value, Failure> {
    let name = params.and_then(|params| params.get("name")).and_then(Value::as_str).unwrap_or_default();
    let empty = json!({});
    let arguments = params.and_then(|params| params.get("arguments")).unwrap_or(&empty);
    if server.inner.config.conformance_fixtures && FIXTURES.iter().any(|(fixture, _)| *fixture == name) {
        return fixture(server, name, params, capabilities, principal);
    }
    // The permission check and the arguments come first: nobody is asked to confirm what they may
    // not do.
    if let Some(outcome) = gate(server, principal, name, arguments).map_err(Failure::Dispatch)? {
        return Ok(complete(outcome.to_result(), None));
    }
    if server.profile() == RsProfile::ShiftingRequestState
        && let Some(mut answer) = super::personas::shifting_round(server, params)?
    {
        if let Some(members) = answer.as_object_mut() {
            members.insert(
                "_meta".to_owned(),
                json!({meta::SERVER_INFO: {"name": "mcp-auth-lab-rs", "version": env!("CARGO_PKG_VERSION")}}),
            );
        }
        return Ok(answer);
    }
    if CONFIRMED_TOOLS.contains(&name) && server.profile() != RsProfile::ShiftingRequestState {
        if capabilities.get("elicitation").is_none() {
            // The confirmation is asked by elicitation, which this client did not declare.
            return Err(Failure::Answer(
                StatusCode::BAD_REQUEST,
                code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                format!("{name} needs the user's confirmation, asked by elicitation"),
                Some(json!({"requiredCapabilities": {"elicitation": {}}})),
            ));
        }
        let digest = request_digest(principal, name, arguments);
        match params.and_then(|params| params.get("requestState")) {
            None => return confirmation_request(server, name, arguments, &digest),
            Some(state) => {
                accept_state(server, state, &digest)?;
                let response = params
                    .and_then(|params| params.get("inputResponses"))
                    .and_then(|responses| responses.get(CONFIRMATION));
                let Some(response) = response else {
                    // MRTR: a missing response is asked again, not an error.
                    return confirmation_request(server, name, arguments, &digest);
                };
                let accepted = response.get("action").and_then(Value::as_str) == Some("accept")
                    && response.pointer("/content/confirm").and_then(Value::as_bool) == Some(true);
                if !accepted {
                    let outcome = Outcome::Error(format!("{name} was not run: the user did not confirm it"));
                    return Ok(complete(outcome.to_result(), None));
                }
            }
        }
    }
    let params_value = params.map(|params| Value::Object(params.clone()));
    dispatch(server, "tools/call", params_value.as_ref(), principal)
        .await
        .map(|result| complete(result, None))
        .map_err(Failure::Dispatch)
}

/// The digest a `requestState` is bound to: the principal, the tool and its arguments, the
/// arguments' keys sorted so that the same request always digests the same.
fn request_digest(principal: &Principal, name: &str, arguments: &Value) -> String {
    fn canonical(value: &Value) -> Value {
        match value {
            Value::Object(object) => {
                let mut keys: Vec<&String> = object.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|key| (key.clone(), canonical(&object[key]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let bound = json!([principal.key(), "tools/call", name, canonical(arguments)]);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bound.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The input-required result that asks the user to confirm `name` with `arguments`.
fn confirmation_request(server: &McpServer, name: &str, arguments: &Value, digest: &str) -> Result<Value, Failure> {
    let state = seal_state(server, digest).ok_or_else(Failure::no_randomness)?;
    Ok(json!({
        "resultType": "input_required",
        "inputRequests": {
            CONFIRMATION: {
                "method": "elicitation/create",
                "params": {
                    "mode": "form",
                    "message": format!("Run {name} with {arguments}? It changes the shop and cannot simply be undone."),
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"confirm": {"type": "boolean", "title": "Confirm", "description": format!("Run {name}")}},
                        "required": ["confirm"],
                    },
                },
            },
        },
        "requestState": state,
        "_meta": {meta::SERVER_INFO: {"name": "mcp-auth-lab-rs", "version": env!("CARGO_PKG_VERSION")}},
    }))
}

/// A fresh `requestState` for the request of `digest`: its claims (digest, expiry, a random
/// nonce) and their HMAC-SHA256 under the RS's key, both base64url.
fn seal_state(server: &McpServer, digest: &str) -> Option<String> {
    let key = server.inner.state_key.as_ref()?;
    let nonce = lab_proto::random_token(16).ok()?;
    let expires = server.inner.config.clock.now() + STATE_TTL_SECONDS;
    let claims = json!({"d": digest, "e": expires, "n": nonce}).to_string();
    let tag = aws_lc_rs::hmac::sign(key, claims.as_bytes());
    Some(format!("{}.{}", URL_SAFE_NO_PAD.encode(claims), URL_SAFE_NO_PAD.encode(tag.as_ref())))
}

/// [`open_state`] as a request's answer: a refused state is 400 with -32602, which names the
/// reason and never the state.
fn accept_state(server: &McpServer, state: &Value, digest: &str) -> Result<(), Failure> {
    open_state(server, state.as_str().unwrap_or_default(), digest).map_err(|reason| {
        Failure::Answer(StatusCode::BAD_REQUEST, code::INVALID_PARAMS, format!("requestState refused: {reason}"), None)
    })
}

/// Checks a `requestState` the client echoed (SEP-2322: attacker-controlled, MUST be verified):
/// its seal, that it was issued for this very request and principal, that it has not expired,
/// and that it was not answered before; then spends it. The reason never quotes the state.
fn open_state(server: &McpServer, state: &str, digest: &str) -> Result<(), &'static str> {
    if server.profile() == RsProfile::UnsealedRequestState {
        // Weak: whatever comes back is taken for a state this server issued.
        return Ok(());
    }
    let key = server.inner.state_key.as_ref().ok_or("no state can be verified")?;
    let (claims, tag) = state.split_once('.').ok_or("not a state of this server")?;
    let claims = URL_SAFE_NO_PAD.decode(claims).map_err(|_| "not a state of this server")?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| "not a state of this server")?;
    aws_lc_rs::hmac::verify(key, &claims, &tag).map_err(|_| "its seal does not verify")?;
    let claims: Value = serde_json::from_slice(&claims).map_err(|_| "not a state of this server")?;
    if claims["d"].as_str() != Some(digest) {
        return Err("it was issued for another request or caller");
    }
    let now = server.inner.config.clock.now();
    let expires = claims["e"].as_u64().ok_or("not a state of this server")?;
    if expires <= now {
        return Err("it has expired");
    }
    let nonce = claims["n"].as_str().ok_or("not a state of this server")?.to_owned();
    let mut spent = crate::server::lock(&server.inner.spent_states);
    if spent.contains_key(&nonce) {
        return Err("it was answered before");
    }
    if spent.len() >= MAX_SPENT_STATES {
        spent.retain(|_, expiry| *expiry > now);
    }
    if spent.len() >= MAX_SPENT_STATES {
        // Still full of live states: forgetting one could let it be answered twice, so the
        // confirmation fails closed until some expire.
        return Err("too many confirmations are pending; try again later");
    }
    spent.insert(nonce, expires);
    Ok(())
}

/// The official conformance suite's diagnostic tools (`up --conformance-fixtures`): what each of
/// its server scenarios calls by name, answered as the revision asks.
const FIXTURES: [(&str, &str); 4] = [
    ("test_missing_capability", "Needs the sampling capability: refused with -32021 without it (conformance fixture)."),
    (
        "test_streaming_elicitation",
        "Asks for input by an input-required result, never by a request on the stream (conformance fixture).",
    ),
    ("test_logging_tool", "Sends no log message when the request set no log level (conformance fixture)."),
    (
        "test_input_required_result_tampered_state",
        "Asks for input with a sealed requestState and refuses a tampered one (conformance fixture).",
    ),
];

fn fixture(
    server: &McpServer,
    name: &str,
    params: Option<&Map<String, Value>>,
    capabilities: &Value,
    principal: &Principal,
) -> Result<Value, Failure> {
    let text = |text: &str| complete(json!({"content": [{"type": "text", "text": text}], "isError": false}), None);
    match name {
        "test_missing_capability" if capabilities.get("sampling").is_none() => Err(Failure::Answer(
            StatusCode::BAD_REQUEST,
            code::MISSING_REQUIRED_CLIENT_CAPABILITY,
            "this tool needs the sampling capability".to_owned(),
            Some(json!({"requiredCapabilities": {"sampling": {}}})),
        )),
        "test_streaming_elicitation" | "test_input_required_result_tampered_state" => {
            let arguments = json!({});
            let digest = request_digest(principal, name, &arguments);
            match params.and_then(|params| params.get("requestState")) {
                None => confirmation_request(server, name, &arguments, &digest),
                Some(state) => {
                    accept_state(server, state, &digest)?;
                    Ok(text("state-ok"))
                }
            }
        }
        _ => Ok(text("ok")),
    }
}
