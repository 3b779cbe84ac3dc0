//! The six steps of the seed's flow (seed §7.2), with every CL-xx rule at the point it applies.

use std::collections::HashMap;

use lab_proto::jsonrpc::{self, LATEST_PROTOCOL_VERSION};
use lab_proto::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
    protected_resource_metadata_url, split_origin_path,
};
use lab_proto::registration::TokenEndpointAuthMethod;
use lab_proto::scope;
use lab_proto::www_authenticate::{self, Challenge};
use lab_proto::{AccessToken, ClientSecret, RefreshToken};
use reqwest::Method;
use serde_json::{Value, json};

use crate::callback::{AuthorizationResponse, CallbackListener};
use crate::config::{ClientConfig, Event};
use crate::error::ClientError;
use crate::http::{Answer, Body, Http};
use crate::trace::Trace;

mod authorization;
mod modern;
mod stream;

use self::modern::{
    MAX_INPUT_ROUNDS, MODERN_PROTOCOL_VERSION, header_marks_valid, modern_headers, offers_modern_again, speaks_modern,
};

/// What discovery established.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The validated PRM `resource`: the `resource` of every authorization, token and refresh
    /// request (CL-15).
    pub resource: String,
    pub resource_metadata_url: String,
    pub issuer: String,
    pub metadata: AuthorizationServerMetadata,
    pub scopes_supported: Option<Vec<String>>,
    /// The `scope` of the first challenge.
    pub challenged_scope: Option<String>,
}

/// Credentials at one AS (CL-12: keyed by issuer).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub auth_method: TokenEndpointAuthMethod,
    /// `pre-registered`, `metadata document` or `dynamic registration`.
    pub how: &'static str,
}

/// The client's tokens for its one resource and issuer (CL-22).
#[derive(Debug, Clone)]
struct Tokens {
    access: AccessToken,
    refresh: Option<RefreshToken>,
    scope: Option<String>,
}

/// The conforming MCP client.
pub struct McpClient {
    config: ClientConfig,
    http: Http,
    discovered: Option<Discovered>,
    credentials: HashMap<String, ClientCredentials>,
    tokens: Option<Tokens>,
    session: Option<String>,
    protocol_version: String,
    next_id: i64,
    /// Re-authorizations for insufficient scope, per operation (CL-23).
    step_ups: HashMap<String, u32>,
    listener: Option<CallbackListener>,
    /// Whether the server speaks MCP 2026-07-28 and the client speaks it there.
    modern: bool,
    /// The tools of a 2026-07-28 server, for the parameters they mirror into headers.
    tools: Option<Value>,
    /// The task that answers the server's requests on the session's standalone stream.
    stream_task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for McpClient {
    fn drop(&mut self) {
        if let Some(task) = self.stream_task.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("mcp_url", &self.config.mcp_url)
            .field("session", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

impl McpClient {
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let http = Http::new(config.ca_pem.as_deref(), config.policy.clone())?;
        Ok(Self {
            config,
            http,
            discovered: None,
            credentials: HashMap::new(),
            tokens: None,
            session: None,
            protocol_version: LATEST_PROTOCOL_VERSION.to_owned(),
            next_id: 1,
            step_ups: HashMap::new(),
            listener: None,
            modern: false,
            tools: None,
            stream_task: None,
        })
    }

    /// Everything sent and received so far, secrets redacted.
    pub fn trace(&self) -> Trace {
        self.http.trace()
    }

    /// What discovery found.
    pub fn discovered(&self) -> Option<&Discovered> {
        self.discovered.as_ref()
    }

    /// The credentials used at the current AS.
    pub fn credentials(&self) -> Option<&ClientCredentials> {
        self.discovered.as_ref().and_then(|discovered| self.credentials.get(&discovered.issuer))
    }

    /// The granted scope.
    pub fn granted_scope(&self) -> Option<&str> {
        self.tokens.as_ref().and_then(|tokens| tokens.scope.as_deref())
    }

    /// The `Authorization` value of the current access token, for a proxy that forwards other
    /// tools' requests with it (`mcp-authlab proxy`). It is a credential: never log or print it.
    pub fn authorization(&self) -> Option<String> {
        self.tokens.as_ref().map(|tokens| format!("Bearer {}", tokens.access.secret()))
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> &str {
        &self.protocol_version
    }

    fn emit(&self, event: Event) {
        if let Some(sink) = &self.config.events {
            sink(&event);
        }
    }

    fn checked(&self, key: &'static str, detail: impl Into<String>) {
        self.emit(Event::Checked { key, detail: detail.into() });
    }

    async fn send(
        &self,
        step: u8,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Answer, ClientError> {
        let result = self.http.send(step, method.clone(), url, headers, body).await;
        self.emit(Event::Exchange {
            method: method.to_string(),
            url: crate::trace::redact_query(url),
            status: result.as_ref().ok().map(|answer| answer.status),
        });
        result
    }

    fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Steps 1–6: discovers, registers, authorizes and opens an MCP session.
    pub async fn connect(&mut self) -> Result<(), ClientError> {
        self.emit(Event::Step { number: 1, title: "unauthenticated request: expect 401 and a challenge" });
        let mcp_url = self.config.mcp_url.clone();
        let first = if self.config.modern {
            let headers = modern_headers("server/discover", None, &[]);
            let mut headers: Vec<(&str, &str)> =
                headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            headers.extend([("accept", ACCEPT_BOTH), ("content-type", "application/json")]);
            let discover = self.modern_message("server/discover", json!({}));
            let mut first = self.send(1, Method::POST, &mcp_url, &headers, Body::Json(&discover)).await?;
            if offers_modern_again(&first) {
                // The server refused the version yet lists it as supported: once more, at it.
                let discover = self.modern_message("server/discover", json!({}));
                first = self.send(1, Method::POST, &mcp_url, &headers, Body::Json(&discover)).await?;
            }
            let modern_answer = (200..300).contains(&first.status) && speaks_modern(&first);
            if first.status != 401 && !modern_answer {
                // No challenge and no 2026-07-28 answer: a server of an earlier revision, which
                // opens with `initialize` (MCP 2026-07-28 basic/versioning).
                self.emit(Event::Note(format!(
                    "server/discover answered {}: the server speaks an earlier revision; initializing",
                    first.status
                )));
                let initialize = self.initialize_message();
                first = self
                    .send(
                        1,
                        Method::POST,
                        &mcp_url,
                        &[("accept", ACCEPT_BOTH), ("content-type", "application/json")],
                        Body::Json(&initialize),
                    )
                    .await?;
            }
            first
        } else {
            let initialize = self.initialize_message();
            self.send(
                1,
                Method::POST,
                &mcp_url,
                &[("accept", ACCEPT_BOTH), ("content-type", "application/json")],
                Body::Json(&initialize),
            )
            .await?
        };
        if (200..300).contains(&first.status) {
            self.emit(Event::Note("the server answered without authentication; no authorization needed".into()));
            if self.config.modern && speaks_modern(&first) {
                self.modern = true;
                self.protocol_version = MODERN_PROTOCOL_VERSION.to_owned();
                return Ok(());
            }
            self.adopt_session(&first)?;
            return self.initialized().await;
        }
        if first.status != 401 {
            return Err(ClientError::protocol(&mcp_url, format!("expected 401, got {}", first.status)));
        }
        let challenge = bearer_challenge(&first)?;
        self.discover(challenge.as_ref()).await?;
        self.authorize(None).await?;
        self.open_session().await
    }

    fn initialize_message(&mut self) -> Value {
        let id = self.next_id();
        jsonrpc::request(
            id,
            "initialize",
            json!({"protocolVersion": LATEST_PROTOCOL_VERSION, "capabilities": {"elicitation": {}}, "clientInfo": {"name": "mcp-auth-lab-client", "version": env!("CARGO_PKG_VERSION")}}),
        )
    }

    /// Steps 2 and 3.
    async fn discover(&mut self, challenge: Option<&Challenge>) -> Result<(), ClientError> {
        self.emit(Event::Step { number: 2, title: "protected resource metadata (RFC 9728)" });
        let mcp_url = self.config.mcp_url.clone();
        let header_url = challenge.and_then(|challenge| challenge.param("resource_metadata")).map(str::to_owned);
        let challenged_scope = challenge.and_then(|challenge| challenge.param("scope")).map(str::to_owned);
        let (origin, _) = split_origin_path(&mcp_url);
        // CL-01: the header wins, and then nothing else is probed. CL-02: otherwise the
        // path-suffixed URL, then the root. Each candidate says which `resource` it must carry
        // (RFC 9728 §3.3): the URL used for the request, or the identifier the URL was built from.
        let candidates: Vec<(String, Vec<String>)> = match &header_url {
            Some(url) => {
                self.checked("CL-01", format!("using resource_metadata from the challenge: {url}"));
                vec![(url.clone(), vec![mcp_url.clone()])]
            }
            None => {
                let suffixed = protected_resource_metadata_url(&mcp_url);
                let root = format!("{origin}/.well-known/oauth-protected-resource");
                let mut candidates = vec![(suffixed.clone(), vec![mcp_url.clone()])];
                if root != suffixed {
                    candidates.push((root, vec![origin.to_owned(), mcp_url.clone()]));
                }
                candidates
            }
        };
        let mut found = None;
        for (url, expected) in &candidates {
            let answer = self.send(2, Method::GET, url, &[("accept", "application/json")], Body::Empty).await?;
            if answer.status == 200 {
                found = Some((url.clone(), expected.clone(), answer));
                break;
            }
        }
        let Some((prm_url, expected, answer)) = found else {
            return Err(ClientError::protocol(&mcp_url, "no protected resource metadata found"));
        };
        let prm: ProtectedResourceMetadata = serde_json::from_value(answer.json()?).map_err(|error| {
            ClientError::protocol(&prm_url, format!("malformed protected resource metadata: {error}"))
        })?;
        // CL-03 (RFC 9728 §3.3, §7.3): code-point comparison, no normalization.
        if !expected.contains(&prm.resource) {
            return Err(ClientError::refused(
                "CL-03",
                format!(
                    "metadata resource {:?} is not the expected {:?}; the metadata is not used",
                    prm.resource, expected[0]
                ),
            ));
        }
        self.checked("CL-03", format!("resource {} matches", prm.resource));
        let Some(issuer) = prm.authorization_servers.first().cloned() else {
            return Err(ClientError::refused("CL-03", "protected resource metadata names no authorization server"));
        };
        self.emit(Event::Step { number: 3, title: "authorization server metadata (RFC 8414, OIDC discovery)" });
        let metadata = self.fetch_as_metadata(&issuer).await?;
        let previous_issuer = self.discovered.as_ref().map(|discovered| discovered.issuer.clone());
        if previous_issuer.as_ref().is_some_and(|previous| previous != &issuer) {
            // CL-12: a new AS means new credentials and new tokens.
            self.tokens = None;
            self.emit(Event::Note(format!(
                "the authorization server changed to {issuer}; credentials of the old one are not reused"
            )));
        }
        self.discovered = Some(Discovered {
            resource: prm.resource,
            resource_metadata_url: prm_url,
            issuer,
            metadata,
            scopes_supported: prm.scopes_supported,
            challenged_scope,
        });
        Ok(())
    }

    async fn fetch_as_metadata(&self, issuer: &str) -> Result<AuthorizationServerMetadata, ClientError> {
        // CL-04: path insertion for both documents, then OIDC path appending; the root of a path
        // issuer is never probed.
        for url in authorization_server_metadata_urls(issuer) {
            let answer = self.send(3, Method::GET, &url, &[("accept", "application/json")], Body::Empty).await?;
            if answer.status != 200 {
                continue;
            }
            let metadata: AuthorizationServerMetadata = serde_json::from_value(answer.json()?).map_err(|error| {
                ClientError::protocol(&url, format!("malformed authorization server metadata: {error}"))
            })?;
            // CL-05 (RFC 8414 §3.3): the issuer must be the one the URL was built from.
            if metadata.issuer != issuer {
                return Err(ClientError::refused(
                    "CL-05",
                    format!("metadata issuer {:?} differs from {issuer:?}; the metadata is not used", metadata.issuer),
                ));
            }
            self.checked("CL-05", format!("issuer {issuer} matches"));
            // CL-06 (MCP-1125 §Authorization Code Protection): no advertised S256, no authorization.
            let s256 = metadata
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|methods| methods.iter().any(|method| method == "S256"));
            if !s256 {
                return Err(ClientError::refused("CL-06", "the authorization server does not advertise PKCE S256"));
            }
            self.checked("CL-06", "PKCE S256 supported");
            // CL-08: the authorization endpoint is opened in a browser, so only http(s) URLs that
            // pass the network policy are acceptable; the token endpoint is checked when used.
            let endpoint = metadata
                .authorization_endpoint
                .clone()
                .ok_or_else(|| ClientError::protocol(&url, "no authorization_endpoint"))?;
            let parsed = url::Url::parse(&endpoint)
                .map_err(|_| ClientError::refused("CL-08", "authorization_endpoint is not a URL"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(ClientError::refused(
                    "CL-08",
                    format!("authorization_endpoint scheme {}: is never opened", parsed.scheme()),
                ));
            }
            self.http.policy().check(&parsed).map_err(|error| ClientError::refused("CL-08", error.to_string()))?;
            if metadata.token_endpoint.is_none() {
                return Err(ClientError::protocol(&url, "no token_endpoint"));
            }
            return Ok(metadata);
        }
        Err(ClientError::protocol(issuer, "no authorization server metadata found"))
    }

    /// Step 6: initialize with the bearer token; at a server of 2026-07-28 (asked first when the
    /// client speaks it), `server/discover` instead, and no session.
    async fn open_session(&mut self) -> Result<(), ClientError> {
        self.emit(Event::Step { number: 6, title: "MCP requests with the bearer token" });
        if self.config.modern {
            let discover = self.modern_message("server/discover", json!({}));
            let mut answer = self.modern_post(&discover, "server/discover", None, &[]).await?;
            if offers_modern_again(&answer) {
                let discover = self.modern_message("server/discover", json!({}));
                answer = self.modern_post(&discover, "server/discover", None, &[]).await?;
            }
            if answer.status == 200 && speaks_modern(&answer) {
                self.modern = true;
                self.protocol_version = MODERN_PROTOCOL_VERSION.to_owned();
                self.checked("CL-25", format!("protocol {MODERN_PROTOCOL_VERSION} (server/discover), no session"));
                return Ok(());
            }
            // MCP 2026-07-28 basic/versioning: a dual-era client falls back to the earlier
            // revision on an answer that is no recognised error of this one.
            // A recognised error of this revision, or a server error, is no sign of an earlier
            // revision: no fallback then.
            let modern_error = read_rpc(&answer, None).is_ok_and(|response| {
                matches!(
                    response.pointer("/error/code").and_then(Value::as_i64),
                    Some(-32020 | -32021 | -32022 | -32602)
                )
            });
            if answer.status == 401 || answer.status == 403 || answer.status >= 500 || modern_error {
                return Err(ClientError::Denied(format!(
                    "server/discover answered {}: {}",
                    answer.status,
                    error_text(&answer)
                )));
            }
            self.emit(Event::Note(format!(
                "server/discover answered {}: the server speaks an earlier revision; initializing",
                answer.status
            )));
        }
        let message = self.initialize_message();
        let answer = self.mcp_post(&message, false).await?;
        if answer.status != 200 {
            return Err(ClientError::Denied(format!("initialize answered {}", answer.status)));
        }
        self.adopt_session(&answer)?;
        self.initialized().await
    }

    /// Ends the 2025-11-25 handshake: `notifications/initialized` (the lifecycle's MUST), then
    /// listening on the server's standalone stream.
    async fn initialized(&mut self) -> Result<(), ClientError> {
        let initialized = jsonrpc::notification("notifications/initialized");
        let answer = self.mcp_post(&initialized, true).await?;
        if !(200..300).contains(&answer.status) {
            return Err(ClientError::Denied(format!("notifications/initialized answered {}", answer.status)));
        }
        self.listen().await;
        Ok(())
    }

    fn adopt_session(&mut self, answer: &Answer) -> Result<(), ClientError> {
        self.session = answer.header("mcp-session-id");
        let response = read_rpc(answer, None)?;
        if let Some(version) = response["result"]["protocolVersion"].as_str() {
            self.protocol_version = version.to_owned();
        }
        self.checked("CL-25", format!("protocol {} negotiated", self.protocol_version));
        Ok(())
    }

    /// POSTs a JSON-RPC message with the token on every request (CL-21), the session and the
    /// negotiated version (CL-25).
    async fn mcp_post(&self, message: &Value, in_session: bool) -> Result<Answer, ClientError> {
        let bearer = self.tokens.as_ref().map(|tokens| format!("Bearer {}", tokens.access.secret()));
        let mut headers = vec![("accept", ACCEPT_BOTH), ("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        if in_session {
            if let Some(session) = &self.session {
                headers.push(("mcp-session-id", session.as_str()));
            }
            headers.push(("mcp-protocol-version", self.protocol_version.as_str()));
        }
        self.post_and_follow(&headers, message).await
    }

    /// Calls a tool, refreshing on 401 (CL-15, CL-20), stepping up on 403 (CL-23), and
    /// re-initializing on 404 (CL-25).
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value, ClientError> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}), &format!("tools/call {name}")).await
    }

    /// Lists the tools.
    pub async fn list_tools(&mut self) -> Result<Value, ClientError> {
        let mut result = self.request("tools/list", json!({}), "tools/list").await?;
        if self.modern {
            // TR-2607: a tool whose `x-mcp-header` marks are invalid is dropped, never called.
            let mut dropped = Vec::new();
            if let Some(tools) = result["tools"].as_array_mut() {
                tools.retain(|tool| {
                    let valid = header_marks_valid(tool);
                    if !valid {
                        let name: String = tool["name"]
                            .as_str()
                            .unwrap_or_default()
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(64)
                            .collect();
                        dropped.push(name);
                    }
                    valid
                });
            }
            for name in dropped {
                self.emit(Event::Note(format!(
                    "dropped the tool {name}: its x-mcp-header marks are invalid (TR-2607)"
                )));
            }
            self.tools = Some(result["tools"].clone());
        }
        Ok(result)
    }

    /// Sends a request (in the session, or at 2026-07-28 on its own) and returns its `result`.
    pub async fn request(&mut self, method: &str, params: Value, operation: &str) -> Result<Value, ClientError> {
        let mut reauthorized_for_401 = false;
        let mut reinitialized = false;
        let original = params.clone();
        let mut params = params;
        let mut rounds = 0_u32;
        loop {
            let id = self.next_id();
            let answer = if self.modern {
                let param_headers = self.param_headers(method, &params).await?;
                let message = self.modern_message_with_id(id, method, params.clone());
                let name = params.get("name").or_else(|| params.get("uri")).and_then(Value::as_str).map(str::to_owned);
                self.modern_post(&message, method, name.as_deref(), &param_headers).await?
            } else {
                let message = jsonrpc::request(id, method, params.clone());
                self.mcp_post(&message, true).await?
            };
            match answer.status {
                200 => {
                    let response = read_rpc(&answer, Some(id))?;
                    if let Some(error) = response.get("error") {
                        return Err(ClientError::Denied(format!("{method} failed: {error}")));
                    }
                    let result = response["result"].clone();
                    if self.modern && result["resultType"] == "input_required" {
                        // MRTR (SEP-2322): answer what the server asks and retry with its state,
                        // echoed untouched; a bounded number of rounds.
                        rounds += 1;
                        if rounds > MAX_INPUT_ROUNDS {
                            return Err(ClientError::Denied(format!(
                                "{operation} asked for input more than {MAX_INPUT_ROUNDS} times; giving up"
                            )));
                        }
                        params = self.answer_input(params, &result).await?;
                        continue;
                    }
                    return Ok(result);
                }
                401 if !reauthorized_for_401 => {
                    reauthorized_for_401 = true;
                    // RFC 9728 §5.2 (CL-24): a 401 may mean new metadata, at a new URL or the same
                    // one; SEP-2352: if it names another AS, nothing of the old one is reused there
                    // (credentials are kept per issuer, so the client registers anew).
                    let challenge = bearer_challenge(&answer)?;
                    let new_url = challenge
                        .as_ref()
                        .and_then(|challenge| challenge.param("resource_metadata"))
                        .is_some_and(|url| {
                            self.discovered.as_ref().is_none_or(|discovered| discovered.resource_metadata_url != url)
                        });
                    if new_url {
                        self.discover(challenge.as_ref()).await?;
                    } else if self.authorization_server_moved().await {
                        // SEP-2352: nothing of the old AS is reused at the new one (credentials
                        // are kept per issuer, so the client registers anew there).
                        self.emit(Event::Note(
                            "the protected resource metadata names another authorization server; registering there"
                                .into(),
                        ));
                        self.discover(challenge.as_ref()).await?;
                        self.tokens = None;
                    }
                    // A retry starts over: no input answered for another principal's context.
                    params = original.clone();
                    rounds = 0;
                    if !self.refresh().await? {
                        self.authorize(None).await?;
                    }
                }
                403 => {
                    let challenge = bearer_challenge(&answer)?;
                    let Some(challenge) =
                        challenge.filter(|challenge| challenge.param("error") == Some("insufficient_scope"))
                    else {
                        return Err(ClientError::Denied(format!("{operation} was forbidden")));
                    };
                    let attempts = self.step_ups.entry(operation.to_owned()).or_insert(0);
                    if *attempts >= self.config.step_up_limit {
                        return Err(ClientError::Denied(format!(
                            "{operation} still needs more scope after {} re-authorizations; giving up (CL-23)",
                            self.config.step_up_limit
                        )));
                    }
                    *attempts += 1;
                    // CL-23: the challenged scopes together with those already granted.
                    let mut wanted: Vec<String> = self
                        .granted_scope()
                        .map(|granted| scope::split(granted).into_iter().map(str::to_owned).collect())
                        .unwrap_or_default();
                    for needed in scope::split(challenge.param("scope").unwrap_or("")) {
                        if !wanted.iter().any(|have| have == needed) {
                            wanted.push(needed.to_owned());
                        }
                    }
                    let wanted = wanted.join(" ");
                    self.emit(Event::Note(format!(
                        "step-up: {operation} needs more scope; authorizing again for {wanted:?}"
                    )));
                    self.authorize(Some(&wanted)).await?;
                    self.checked("CL-23", format!("re-authorized with {wanted}"));
                }
                404 if !reinitialized && self.session.is_some() => {
                    reinitialized = true;
                    self.emit(Event::Note("the session is gone; initializing again".into()));
                    self.session = None;
                    self.open_session().await?;
                }
                status => {
                    return Err(ClientError::Denied(format!("{operation} answered {status}: {}", error_text(&answer))));
                }
            }
        }
    }
}

/// The Bearer challenge of a 401 or 403, from every `WWW-Authenticate` field (RFC 9728 §5.4).
fn bearer_challenge(answer: &Answer) -> Result<Option<Challenge>, ClientError> {
    let values = answer.header_values("www-authenticate");
    if values.is_empty() {
        return Ok(None);
    }
    let challenges = www_authenticate::parse_all(values.iter().map(String::as_str))
        .map_err(|error| ClientError::protocol(&answer.url, format!("unreadable WWW-Authenticate: {error}")))?;
    Ok(challenges.into_iter().find(|challenge| challenge.is_scheme("Bearer")))
}

/// Reads a JSON-RPC response from a JSON or an SSE body (TR-1125: the client handles both).
fn read_rpc(answer: &Answer, id: Option<i64>) -> Result<Value, ClientError> {
    let content_type = answer.header("content-type").unwrap_or_default();
    if content_type.starts_with("text/event-stream") {
        let text = String::from_utf8_lossy(&answer.body);
        let mut data = String::new();
        for line in text.lines().chain(std::iter::once("")) {
            if let Some(part) = line.strip_prefix("data:") {
                data.push_str(part.trim_start());
            } else if line.is_empty() && !data.is_empty() {
                if let Ok(message) = serde_json::from_str::<Value>(&data)
                    && id.is_none_or(|id| message["id"] == id)
                    && (message.get("result").is_some() || message.get("error").is_some())
                {
                    return Ok(message);
                }
                data.clear();
            }
        }
        return Err(ClientError::protocol(&answer.url, "the event stream carried no response"));
    }
    answer.json()
}

fn error_text(answer: &Answer) -> String {
    let text = String::from_utf8_lossy(&answer.body);
    let text = crate::trace::redact_body(&text);
    printable(&text, 300)
}

/// Text a server wrote, fit to print: no control or bidirectional-formatting characters (which
/// could rewrite a terminal line), at most `limit` characters.
fn printable(text: &str, limit: usize) -> String {
    let format =
        |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    text.chars().filter(|c| !c.is_control() && !format(*c)).take(limit).collect()
}
