//! The six steps of the seed's flow (seed §7.2), with every CL-xx rule at the point it applies.

use std::collections::HashMap;

use lab_proto::jsonrpc::{self, LATEST_PROTOCOL_VERSION};
use lab_proto::metadata::{
    AuthorizationServerMetadata, ProtectedResourceMetadata, authorization_server_metadata_urls,
    protected_resource_metadata_url, split_origin_path,
};
use lab_proto::registration::TokenEndpointAuthMethod;
use lab_proto::scope;
use lab_proto::token::TokenResponse;
use lab_proto::www_authenticate::{self, Challenge};
use lab_proto::{AccessToken, ClientSecret, RefreshToken};
use reqwest::Method;
use serde_json::{Value, json};

use crate::callback::{AuthorizationResponse, CallbackListener};
use crate::config::{ClientConfig, Event};
use crate::error::ClientError;
use crate::http::{Answer, Body, Http};
use crate::trace::Trace;

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
            return self.adopt_session(&first);
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
            json!({"protocolVersion": LATEST_PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "mcp-auth-lab-client", "version": env!("CARGO_PKG_VERSION")}}),
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

    /// Step 4: pre-registered, then a metadata document, then DCR (CL-09).
    async fn register(&mut self, redirect_uri: &str) -> Result<ClientCredentials, ClientError> {
        let discovered = self.discovered.clone().ok_or_else(|| ClientError::Config("discover first".into()))?;
        if let Some(existing) = self.credentials.get(&discovered.issuer) {
            return Ok(existing.clone());
        }
        self.emit(Event::Step { number: 4, title: "client registration" });
        let (usable, note) = crate::config::pre_registered_for(&mut self.config.pre_registered, &discovered.issuer);
        if let Some(note) = note {
            self.emit(Event::Note(note));
        }
        let credentials = if let Some(pre) = usable {
            ClientCredentials {
                client_id: pre.client_id,
                client_secret: pre.client_secret,
                auth_method: pre.auth_method,
                how: "pre-registered",
            }
        } else if let (Some(document), Some(true)) =
            (self.config.metadata_document.clone(), discovered.metadata.client_id_metadata_document_supported)
        {
            ClientCredentials {
                client_id: document,
                client_secret: None,
                auth_method: TokenEndpointAuthMethod::None,
                how: "metadata document",
            }
        } else if let Some(endpoint) = discovered.metadata.registration_endpoint.clone() {
            // CL-11: a public native client with a loopback redirect, and then whatever method the
            // AS says it registered.
            let body = json!({
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "client_name": self.config.client_name,
                "application_type": "native",
            });
            let answer =
                self.send(4, Method::POST, &endpoint, &[("accept", "application/json")], Body::Json(&body)).await?;
            if answer.status != 201 && answer.status != 200 {
                return Err(ClientError::Denied(format!(
                    "registration refused: {} {}",
                    answer.status,
                    error_text(&answer)
                )));
            }
            let response = answer.json()?;
            let client_id = response["client_id"]
                .as_str()
                .ok_or_else(|| ClientError::protocol(&endpoint, "no client_id"))?
                .to_owned();
            let method = response["token_endpoint_auth_method"].as_str().unwrap_or("none");
            let auth_method = TokenEndpointAuthMethod::parse(method).ok_or_else(|| {
                ClientError::protocol(&endpoint, format!("unsupported token_endpoint_auth_method {method}"))
            })?;
            let client_secret = response["client_secret"].as_str().map(ClientSecret::new);
            if auth_method.is_confidential() && client_secret.is_none() {
                return Err(ClientError::protocol(&endpoint, "a confidential method without a client_secret"));
            }
            ClientCredentials { client_id, client_secret, auth_method, how: "dynamic registration" }
        } else {
            return Err(ClientError::Config(
                "no way to register: no pre-registered client, metadata document or registration endpoint".into(),
            ));
        };
        self.checked("CL-09", format!("client {} ({})", credentials.client_id, credentials.how));
        self.credentials.insert(discovered.issuer.clone(), credentials.clone());
        Ok(credentials)
    }

    /// CL-16: the override, the challenge's scope, then `scopes_supported`, else none.
    fn select_scope(&self, requested: Option<&str>) -> Option<String> {
        if let Some(requested) = requested {
            return Some(requested.to_owned());
        }
        if let Some(scope) = &self.config.scope {
            return Some(scope.clone());
        }
        let discovered = self.discovered.as_ref()?;
        discovered
            .challenged_scope
            .clone()
            .or_else(|| discovered.scopes_supported.as_ref().map(|scopes| scopes.join(" ")))
    }

    /// Step 5: authorization code with PKCE S256, then the token request.
    async fn authorize(&mut self, scope_override: Option<&str>) -> Result<(), ClientError> {
        if self.listener.is_none() {
            self.listener = Some(CallbackListener::bind(self.config.callback_port).await?);
        }
        let redirect_uri = self.listener.as_ref().map(|listener| listener.redirect_uri.clone()).unwrap_or_default();
        let credentials = self.register(&redirect_uri).await?;
        let discovered = self.discovered.clone().ok_or_else(|| ClientError::Config("discover first".into()))?;
        self.emit(Event::Step { number: 5, title: "authorization code with PKCE S256, then the token request" });
        // CL-13, CL-14: fresh, high-entropy values for every request.
        let verifier =
            lab_proto::pkce::generate_verifier().map_err(|_| ClientError::Config("random source failed".into()))?;
        let challenge = lab_proto::pkce::s256_challenge(verifier.secret());
        let state = lab_proto::random_token(32).map_err(|_| ClientError::Config("random source failed".into()))?;
        let scope = self.select_scope(scope_override);
        let endpoint = discovered.metadata.authorization_endpoint.clone().unwrap_or_default();
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let query = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("response_type", "code");
            query.append_pair("client_id", &credentials.client_id);
            query.append_pair("redirect_uri", &redirect_uri);
            if let Some(scope) = &scope {
                query.append_pair("scope", scope);
            }
            query.append_pair("state", &state);
            query.append_pair("code_challenge", &challenge);
            query.append_pair("code_challenge_method", "S256");
            // CL-15: the same resource in the authorization, token and refresh requests.
            query.append_pair("resource", &discovered.resource);
            if let Some(hint) = &self.config.login_hint {
                query.append_pair("login_hint", hint);
            }
            query.finish()
        };
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let authorization_url = format!("{endpoint}{separator}{query}");
        // Try the AS directly: one that approves headlessly answers with a redirect to the
        // callback, which is read without following it. Anything else is for a human.
        let answer = self.send(5, Method::GET, &authorization_url, &[("accept", "text/html")], Body::Empty).await?;
        let location = answer.header("location").filter(|_| (300..400).contains(&answer.status));
        let callback_query = match location {
            Some(location) if location.starts_with(&format!("{redirect_uri}?")) => {
                location[redirect_uri.len() + 1..].to_owned()
            }
            Some(location) => {
                return Err(ClientError::protocol(
                    &endpoint,
                    format!("redirected somewhere other than the callback: {}", crate::trace::redact_query(&location)),
                ));
            }
            None => {
                self.emit(Event::OpenInBrowser(authorization_url.clone()));
                let listener = self.listener.as_ref().ok_or_else(|| ClientError::Config("no listener".into()))?;
                let (query, ignored) = listener.wait(self.config.callback_timeout, &state).await?;
                if ignored > 0 {
                    // CL-14: said, never acted on (the ignored callbacks' contents are not shown).
                    self.emit(Event::Note(format!(
                        "{ignored} callback(s) with another state came to the listener and were ignored"
                    )));
                }
                query
            }
        };
        let response = AuthorizationResponse::parse(&callback_query);
        // CL-14: the state must be ours; otherwise no token request at all.
        if response.state.as_deref() != Some(state.as_str()) {
            return Err(ClientError::refused(
                "CL-14",
                "the callback's state does not match; no token request was made",
            ));
        }
        self.checked("CL-14", "state matches");
        // CL-18 (RFC 9207 §2.4, MCP-2607): simple string comparison, no normalization; on a
        // mismatch the error fields are not shown.
        let advertised = discovered.metadata.authorization_response_iss_parameter_supported == Some(true);
        match (advertised, response.iss.as_ref()) {
            (_, Some(iss)) if iss != &discovered.issuer => {
                return Err(ClientError::refused(
                    "CL-18",
                    format!("the callback's iss {iss:?} is not the issuer {:?}", discovered.issuer),
                ));
            }
            (true, None) => {
                return Err(ClientError::refused(
                    "CL-18",
                    "the authorization server advertises iss but the callback has none",
                ));
            }
            (_, Some(_)) => self.checked("CL-18", "iss matches"),
            (false, None) => {}
        }
        if let Some(error) = &response.error {
            let description = response.error_description.as_deref().unwrap_or("");
            return Err(ClientError::Denied(format!("authorization failed: {error} {description}").trim().to_owned()));
        }
        let code = response.code.ok_or_else(|| ClientError::protocol(&endpoint, "the callback carries no code"))?;
        // The code and the verifier leave their secret types only here, as the form is written.
        let pairs = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.into_secret()),
            ("code_verifier", verifier.into_secret()),
            ("redirect_uri", redirect_uri.clone()),
            ("resource", discovered.resource.clone()),
        ];
        let tokens = self.token_request(5, &credentials, &discovered, pairs).await?;
        self.checked("CL-15", format!("resource {} sent in the authorization and token requests", discovered.resource));
        self.tokens = Some(tokens);
        Ok(())
    }

    /// A token request with the client's authentication method (CL-19).
    async fn token_request(
        &self,
        step: u8,
        credentials: &ClientCredentials,
        discovered: &Discovered,
        mut pairs: Vec<(&str, String)>,
    ) -> Result<Tokens, ClientError> {
        let endpoint = discovered.metadata.token_endpoint.clone().unwrap_or_default();
        let mut authorization = None;
        match credentials.auth_method {
            TokenEndpointAuthMethod::None => pairs.push(("client_id", credentials.client_id.clone())),
            TokenEndpointAuthMethod::ClientSecretPost => {
                pairs.push(("client_id", credentials.client_id.clone()));
                pairs.push((
                    "client_secret",
                    credentials.client_secret.as_ref().map(|secret| secret.secret().to_owned()).unwrap_or_default(),
                ));
            }
            TokenEndpointAuthMethod::ClientSecretBasic => {
                let secret = credentials.client_secret.as_ref().map_or("", |secret| secret.secret());
                authorization = Some(lab_proto::basic::authorization(&credentials.client_id, secret));
            }
        }
        let form: Vec<(&str, &str)> = pairs.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let mut headers = vec![("accept", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        let answer = self.send(step, Method::POST, &endpoint, &headers, Body::Form(&form)).await?;
        if answer.status != 200 {
            let body = answer.json().unwrap_or(Value::Null);
            let code = body["error"].as_str().unwrap_or("unknown_error").to_owned();
            return Err(ClientError::Denied(
                format!("token request refused: {code} {}", body["error_description"].as_str().unwrap_or(""))
                    .trim()
                    .to_owned(),
            ));
        }
        let response: TokenResponse = serde_json::from_value(answer.json()?)
            .map_err(|error| ClientError::protocol(&endpoint, format!("malformed token response: {error}")))?;
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(ClientError::protocol(&endpoint, format!("token_type {} is not Bearer", response.token_type)));
        }
        Ok(Tokens { access: response.access_token, refresh: response.refresh_token, scope: response.scope })
    }

    /// Refreshes the access token, resending `resource` (CL-15) and replacing the refresh token
    /// (CL-20). `invalid_grant` means "authorize again".
    pub async fn refresh(&mut self) -> Result<bool, ClientError> {
        let (Some(discovered), Some(tokens)) = (self.discovered.clone(), self.tokens.clone()) else { return Ok(false) };
        let Some(refresh) = tokens.refresh.clone() else { return Ok(false) };
        let Some(credentials) = self.credentials.get(&discovered.issuer).cloned() else { return Ok(false) };
        self.emit(Event::Note("refreshing the access token".into()));
        let pairs = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.secret().to_owned()),
            ("resource", discovered.resource.clone()),
        ];
        match self.token_request(6, &credentials, &discovered, pairs).await {
            Ok(new) => {
                let refresh = new.refresh.clone().or(tokens.refresh);
                self.tokens = Some(Tokens { refresh, ..new });
                Ok(true)
            }
            Err(ClientError::Denied(reason)) => {
                // O21 §4.3.1: a refused refresh token is dropped, never retried.
                self.emit(Event::Note(format!("refresh refused ({reason}); authorizing again")));
                self.tokens = None;
                Ok(false)
            }
            Err(other) => Err(other),
        }
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
        let initialized = jsonrpc::notification("notifications/initialized");
        let answer = self.mcp_post(&initialized, true).await?;
        if !(200..300).contains(&answer.status) {
            return Err(ClientError::Denied(format!("notifications/initialized answered {}", answer.status)));
        }
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
        let url = self.config.mcp_url.clone();
        self.send(6, Method::POST, &url, &headers, Body::Json(message)).await
    }

    /// Whether the protected resource metadata, read again at the URL it was found at, no longer
    /// names the AS the client uses (SEP-2352). A metadata document that cannot be read says
    /// nothing, and the client goes on as before (refresh, then authorize).
    async fn authorization_server_moved(&mut self) -> bool {
        let Some(discovered) = self.discovered.clone() else { return false };
        let Ok(answer) = self
            .send(2, Method::GET, &discovered.resource_metadata_url, &[("accept", "application/json")], Body::Empty)
            .await
        else {
            return false;
        };
        if answer.status != 200 {
            return false;
        }
        let Ok(document) = answer.json() else { return false };
        document["authorization_servers"].as_array().is_some_and(|servers| {
            !servers.is_empty() && !servers.iter().any(|server| server == &json!(discovered.issuer))
        })
    }

    /// A 2026-07-28 request of `method`: `params` with the `_meta` every request carries.
    fn modern_message(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id();
        self.modern_message_with_id(id, method, params)
    }

    fn modern_message_with_id(&self, id: i64, method: &str, mut params: Value) -> Value {
        // The client answers elicitations (as `--yes` says, or by declining); it has no sampling
        // or roots, so it declares none (MCP 2026-07-28: a server must not ask for them).
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-auth-lab-client", "version": env!("CARGO_PKG_VERSION")},
        });
        if let Some(params) = params.as_object_mut() {
            params.insert("_meta".to_owned(), meta);
        }
        jsonrpc::request(id, method, params)
    }

    /// POSTs a 2026-07-28 message with the token and the headers that mirror it; no session.
    async fn modern_post(
        &self,
        message: &Value,
        method: &str,
        name: Option<&str>,
        params: &[(String, String)],
    ) -> Result<Answer, ClientError> {
        let bearer = self.tokens.as_ref().map(|tokens| format!("Bearer {}", tokens.access.secret()));
        let owned = modern_headers(method, name, params);
        let mut headers: Vec<(&str, &str)> = vec![("accept", ACCEPT_BOTH), ("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        headers.extend(owned.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        let url = self.config.mcp_url.clone();
        self.send(6, Method::POST, &url, &headers, Body::Json(message)).await
    }

    /// The `Mcp-Param-*` headers of a 2026-07-28 tool call: each argument the tool's input schema
    /// marks `x-mcp-header`, as a header named by the mark (the tools are listed once for it).
    async fn param_headers(&mut self, method: &str, params: &Value) -> Result<Vec<(String, String)>, ClientError> {
        if method != "tools/call" {
            return Ok(Vec::new());
        }
        if self.tools.is_none() {
            Box::pin(self.list_tools()).await?;
        }
        let name = params.get("name").and_then(Value::as_str);
        let tool = self
            .tools
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|tools| tools.iter().find(|tool| tool["name"].as_str() == name));
        if tool.is_none() {
            // Not listed, or dropped for its marks (TR-2607): never called.
            return Err(ClientError::Denied(format!(
                "the tool {} is not among the server's valid tools",
                name.unwrap_or_default().chars().filter(|c| !c.is_control()).take(64).collect::<String>()
            )));
        }
        let mut headers = Vec::new();
        if let (Some(tool), Some(arguments)) = (tool, params.get("arguments")) {
            for (header, path) in header_marks(tool).unwrap_or_default() {
                let Some(value) = path.iter().try_fold(arguments, |value, key| value.get(key)) else { continue };
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Bool(flag) => flag.to_string(),
                    Value::Number(number) => number.to_string(),
                    // null or absent: no header (TR-2607).
                    _ => continue,
                };
                headers.push((header, text));
            }
        }
        Ok(headers)
    }

    /// The retry of a request that answered input-required: its params with `inputResponses` for
    /// what the client can answer and the server's `requestState` echoed untouched.
    fn answer_input(&self, mut params: Value, result: &Value) -> Result<Value, ClientError> {
        let mut responses = serde_json::Map::new();
        for (key, request) in result["inputRequests"].as_object().into_iter().flatten() {
            if request["method"] != "elicitation/create" {
                // No sampling and no roots here (the client declared neither): an input it cannot
                // construct ends the request rather than a retry without it.
                return Err(ClientError::Denied(format!(
                    "the server asked for {}, which this client does not offer",
                    printable(request["method"].as_str().unwrap_or_default(), 64)
                )));
            }
            let message: String = request["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect();
            let schema = &request["params"]["requestedSchema"];
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            // Only a yes/no form can be confirmed without a person: every field a boolean.
            let yes_no = !properties.is_empty() && properties.values().all(|property| property["type"] == "boolean");
            let response = if self.config.confirm && yes_no {
                self.emit(Event::Note(format!("confirmed (--yes): {message}")));
                let content: serde_json::Map<String, Value> =
                    properties.keys().map(|name| (name.clone(), json!(true))).collect();
                json!({"action": "accept", "content": content})
            } else {
                self.emit(Event::Note(format!("declined: {message}")));
                json!({"action": "decline"})
            };
            responses.insert(key.clone(), response);
        }
        if let Some(object) = params.as_object_mut() {
            object.insert("inputResponses".to_owned(), Value::Object(responses));
            match result.get("requestState") {
                Some(state) => {
                    object.insert("requestState".to_owned(), state.clone());
                }
                None => {
                    object.remove("requestState");
                }
            }
        }
        Ok(params)
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
                        params = self.answer_input(params, &result)?;
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

/// The revision a client of 2026-07-28 speaks, and what it sends in every request's `_meta`.
const MODERN_PROTOCOL_VERSION: &str = "2026-07-28";
/// How many input-required rounds one request may take before the client gives up.
const MAX_INPUT_ROUNDS: u32 = 5;

/// Whether an answer refuses the protocol version (-32022) while naming 2026-07-28 among the
/// versions it supports: a request worth sending once more at that version.
fn offers_modern_again(answer: &Answer) -> bool {
    answer.status == 400
        && read_rpc(answer, None).is_ok_and(|response| {
            response.pointer("/error/code").and_then(Value::as_i64) == Some(-32022)
                && response
                    .pointer("/error/data/supported")
                    .and_then(Value::as_array)
                    .is_some_and(|versions| versions.iter().any(|version| version == MODERN_PROTOCOL_VERSION))
        })
}

/// Whether an answer to `server/discover` names 2026-07-28 among the server's versions.
fn speaks_modern(answer: &Answer) -> bool {
    read_rpc(answer, None).is_ok_and(|response| {
        response
            .pointer("/result/supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|versions| versions.iter().any(|version| version == MODERN_PROTOCOL_VERSION))
    })
}

/// A header value as TR-2607 §Value Encoding asks: plain, or the base64 sentinel for what a plain
/// header cannot carry (non-ASCII, control characters, surrounding whitespace, or a value that
/// itself looks like the sentinel).
fn header_value(value: &str) -> String {
    use base64::Engine as _;
    let plain = value.chars().all(|c| (' '..='~').contains(&c))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// Whether a tool's `x-mcp-header` marks are valid (TR-2607 §Custom Headers from Tool
/// Parameters): each a non-empty HTTP token, unique among the tool's marks whatever its case, on
/// a top-level property of type integer, string or boolean. A mark anywhere else in the schema
/// (under `items`, a combinator, `$defs`) cannot be reached and makes the tool invalid too.
fn header_marks_valid(tool: &Value) -> bool {
    header_marks(tool).is_some()
}

/// The `x-mcp-header` marks of a tool, each with the path of `properties` keys that reaches its
/// property (TR-2607: "statically reachable through `properties` keys only"), or `None` when a
/// mark is invalid: not a non-empty HTTP token, on a type other than integer, string or boolean,
/// repeated whatever its case, or found under anything but a chain of `properties` (`items`, a
/// combinator, `$defs`).
fn header_marks(tool: &Value) -> Option<Vec<(String, Vec<String>)>> {
    fn marks_below(value: &Value) -> bool {
        match value {
            Value::Object(object) => object.contains_key("x-mcp-header") || object.values().any(marks_below),
            Value::Array(items) => items.iter().any(marks_below),
            _ => false,
        }
    }
    /// Walks `schema` (an object schema at `path`), collecting marks; `false` on an invalid one.
    fn walk(schema: &Value, path: &[String], marks: &mut Vec<(String, Vec<String>)>) -> bool {
        let Some(object) = schema.as_object() else { return true };
        for (key, value) in object {
            match key.as_str() {
                "properties" => {
                    for (name, property) in value.as_object().into_iter().flatten() {
                        let mut at = path.to_vec();
                        at.push(name.clone());
                        if let Some(mark) = property.get("x-mcp-header") {
                            let Some(mark) = mark.as_str() else { return false };
                            let token = !mark.is_empty()
                                && mark.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
                            let typed = matches!(property["type"].as_str(), Some("integer" | "string" | "boolean"));
                            let repeated = marks.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(mark));
                            if !token || !typed || repeated {
                                return false;
                            }
                            marks.push((mark.to_owned(), at.clone()));
                        }
                        if !walk(property, &at, marks) {
                            return false;
                        }
                    }
                }
                "x-mcp-header" => {}
                _ if marks_below(value) => return false,
                _ => {}
            }
        }
        true
    }
    let mut marks = Vec::new();
    walk(&tool["inputSchema"], &[], &mut marks).then_some(marks)
}

/// The headers of a 2026-07-28 request: the version, the method, the name it acts on, and the
/// parameters a tool mirrors (`Mcp-Param-*`).
fn modern_headers(method: &str, name: Option<&str>, params: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers = vec![
        ("mcp-protocol-version".to_owned(), MODERN_PROTOCOL_VERSION.to_owned()),
        ("mcp-method".to_owned(), method.to_owned()),
    ];
    if let Some(name) = name {
        headers.push(("mcp-name".to_owned(), header_value(name)));
    }
    for (header, value) in params {
        headers.push((format!("mcp-param-{}", header.to_ascii_lowercase()), header_value(value)));
    }
    headers
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(properties: Value) -> Value {
        json!({"name": "t", "inputSchema": {"type": "object", "properties": properties}})
    }

    #[test]
    fn a_tool_with_an_invalid_header_mark_is_dropped() {
        assert!(header_marks_valid(&tool(json!({"region": {"type": "string", "x-mcp-header": "Region"}}))));
        assert!(header_marks_valid(&tool(
            json!({"n": {"type": "integer", "x-mcp-header": "N"}, "b": {"type": "boolean", "x-mcp-header": "B"}})
        )));
        for invalid in [
            json!({"r": {"type": "string", "x-mcp-header": ""}}),
            json!({"r": {"type": "number", "x-mcp-header": "R"}}),
            json!({"r": {"type": "object", "x-mcp-header": "R"}}),
            json!({"r": {"type": "array", "x-mcp-header": "R"}}),
            json!({"r": {"type": "string", "x-mcp-header": "Has Space"}}),
            json!({"r": {"type": "string", "x-mcp-header": "Colon:"}}),
            json!({"r": {"type": "string", "x-mcp-header": "Région"}}),
            json!({"r": {"type": "string", "x-mcp-header": null}}),
            json!({"a": {"type": "string", "x-mcp-header": "Same"}, "b": {"type": "string", "x-mcp-header": "same"}}),
            json!({"list": {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}}}),
        ] {
            assert!(!header_marks_valid(&tool(invalid.clone())), "{invalid}");
        }
        let nested = json!({"name": "t", "inputSchema": {"type": "object", "anyOf": [{"properties": {"x": {"type": "string", "x-mcp-header": "X"}}}]}});
        assert!(!header_marks_valid(&nested));
        // Reached through a chain of `properties`: valid, and mirrored from its exact path.
        let chain = tool(
            json!({"location": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}}),
        );
        assert_eq!(
            header_marks(&chain),
            Some(vec![("Region".to_owned(), vec!["location".to_owned(), "region".to_owned()])])
        );
    }

    #[test]
    fn header_values_use_the_base64_sentinel_only_where_a_plain_one_cannot_carry_them() {
        assert_eq!(header_value("A-1001"), "A-1001");
        assert_eq!(header_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
        assert_eq!(header_value(" padded "), format!("=?base64?{}?=", "IHBhZGRlZCA="));
        assert_eq!(header_value("=?base64?literal?="), "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
    }
}
