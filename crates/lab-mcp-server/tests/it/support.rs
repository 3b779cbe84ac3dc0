//! The test lab: the real AS and the RS, wired in-process (the RS reaches the AS's JWKS,
//! introspection and token endpoints through the AS router with `oneshot`), on one frozen clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use lab_auth_server::config::lab;
use lab_auth_server::{AuthServer, AuthServerConfig};
use lab_mcp_server::{BoxFuture, IntrospectionSource, KeySource, McpServer, McpServerConfig, Upstream, VerifyConfig};
use lab_proto::Clock;
use lab_proto::token::IntrospectionResponse;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub(crate) const ISSUER: &str = lab::ISSUER;
pub(crate) const RS: &str = lab::RESOURCE;
pub(crate) const TWIN: &str = lab::TWIN_RESOURCE;
pub(crate) const UPSTREAM: &str = lab::UPSTREAM_RESOURCE;
pub(crate) const HOST: &str = "127.0.0.1:8443";
pub(crate) const START: u64 = 1_800_000_000;

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    pub(crate) fn challenge(&self) -> lab_proto::www_authenticate::Challenge {
        let value =
            self.header("www-authenticate").unwrap_or_else(|| panic!("no challenge: {} {}", self.status, self.text()));
        lab_proto::www_authenticate::parse(value).unwrap().remove(0)
    }

    /// The `tools/call` result.
    pub(crate) fn tool_result(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.json()["result"].clone()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Resp {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Resp { status, headers, body }
}

/// The JWKS straight from the AS, with a fetch counter.
pub(crate) struct AsKeys {
    pub(crate) auth: AuthServer,
    pub(crate) fetches: AtomicUsize,
}

impl KeySource for AsKeys {
    fn fetch_jwks(&self) -> BoxFuture<'_, Result<Value, String>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let jwks = self.auth.jwks();
        Box::pin(async move { Ok(jwks) })
    }
}

/// Introspection through the AS router, authenticated as the RS.
pub(crate) struct AsIntrospection {
    pub(crate) router: Router,
}

impl IntrospectionSource for AsIntrospection {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<IntrospectionResponse, String>> {
        Box::pin(async move {
            let body = format!("token={token}");
            let request = Request::post("/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", lab_proto::basic::authorization(lab::RS_CLIENT_ID, lab::RS_CLIENT_SECRET))
                .body(Body::from(body))
                .unwrap();
            let response = send(&self.router, request).await;
            serde_json::from_slice(&response.body).map_err(|error| error.to_string())
        })
    }
}

/// The carrier's API: records the bearer tokens it receives, after getting the RS's own token from
/// the AS with the client-credentials grant, exactly as `HttpUpstream` does over the network.
pub(crate) struct RecordingUpstream {
    pub(crate) as_router: Router,
    pub(crate) seen_tokens: Mutex<Vec<String>>,
}

impl Upstream for RecordingUpstream {
    fn shipment_status<'a>(&'a self, tracking_number: &'a str) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let request = Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", lab_proto::basic::authorization(lab::RS_CLIENT_ID, lab::RS_CLIENT_SECRET))
                .body(Body::from(format!("grant_type=client_credentials&scope=mcp%3Aread&resource={}", enc(UPSTREAM))))
                .unwrap();
            let response = send(&self.as_router, request).await;
            let token = response_json(&response)["access_token"].as_str().ok_or("no upstream token")?.to_owned();
            self.seen_tokens.lock().unwrap().push(token);
            Ok(json!({"tracking_number": tracking_number, "status": "in transit"}))
        })
    }
}

fn response_json(response: &Resp) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

pub(crate) fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(crate) struct Lab {
    pub(crate) auth: AuthServer,
    pub(crate) as_router: Router,
    pub(crate) rs: McpServer,
    pub(crate) router: Router,
    pub(crate) clock: Clock,
    pub(crate) keys: Arc<AsKeys>,
    pub(crate) upstream: Arc<RecordingUpstream>,
}

pub(crate) enum Mode {
    Jwt,
    Introspection,
}

impl Lab {
    pub(crate) fn new() -> Self {
        Self::with(Mode::Jwt, |_| {})
    }

    pub(crate) fn with(mode: Mode, change: impl FnOnce(&mut McpServerConfig)) -> Self {
        let clock = Clock::frozen(START);
        let mut as_config = AuthServerConfig::lab(ISSUER, vec![RS.to_owned(), TWIN.to_owned(), UPSTREAM.to_owned()]);
        as_config.clock = clock.clone();
        as_config.auto_approve = Some("alice".into());
        let auth = AuthServer::new(as_config).unwrap();
        let as_router = lab_auth_server::router(auth.clone());
        let keys = Arc::new(AsKeys { auth: auth.clone(), fetches: AtomicUsize::new(0) });
        let verify = match mode {
            Mode::Jwt => VerifyConfig::Jwt(keys.clone()),
            Mode::Introspection => VerifyConfig::Introspection(Arc::new(AsIntrospection { router: as_router.clone() })),
        };
        let upstream =
            Arc::new(RecordingUpstream { as_router: as_router.clone(), seen_tokens: Mutex::new(Vec::new()) });
        let mut config = McpServerConfig::new(RS, ISSUER, verify);
        config.clock = clock.clone();
        config.upstream = Some(upstream.clone());
        change(&mut config);
        let rs = McpServer::new(config);
        let router = lab_mcp_server::router(rs.clone());
        Self { auth, as_router, rs, router, clock, keys, upstream }
    }

    /// A real access token from the AS: `user` logs in (headless), asks for `scope` on `resource`.
    pub(crate) async fn token_for(&self, user: &str, scope: &str, resource: &str) -> String {
        let register = Request::post("/register")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]})
                    .to_string(),
            ))
            .unwrap();
        let client_id = response_json(&send(&self.as_router, register).await)["client_id"].as_str().unwrap().to_owned();
        let verifier = lab_proto::pkce::generate_verifier().unwrap().into_secret();
        let challenge = lab_proto::pkce::s256_challenge(&verifier);
        let redirect = "http://127.0.0.1:5000/callback";
        let uri = format!(
            "/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&code_challenge={challenge}&code_challenge_method=S256&resource={}&login_hint={user}",
            enc(redirect),
            enc(scope),
            enc(resource)
        );
        let authorize = send(&self.as_router, Request::get(uri).body(Body::empty()).unwrap()).await;
        let location =
            authorize.header("location").unwrap_or_else(|| panic!("no redirect: {}", authorize.text())).to_owned();
        let code = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
            .find(|(key, _)| key == "code")
            .unwrap_or_else(|| panic!("no code in {location}"))
            .1
            .into_owned();
        let form = format!(
            "grant_type=authorization_code&code={code}&code_verifier={verifier}&client_id={client_id}&redirect_uri={}&resource={}",
            enc(redirect),
            enc(resource)
        );
        let token = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let response = send(&self.as_router, token).await;
        response_json(&response)["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {}", response.text()))
            .to_owned()
    }

    /// Alice's `mcp:read` token for the RS.
    pub(crate) async fn alice(&self) -> String {
        self.token_for("alice", "mcp:read", RS).await
    }

    /// A client-credentials token of the confidential client for the RS.
    pub(crate) async fn client_token(&self) -> String {
        let request = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                lab_proto::basic::authorization(lab::CONFIDENTIAL_CLIENT_ID, lab::CONFIDENTIAL_CLIENT_SECRET),
            )
            .body(Body::from(format!("grant_type=client_credentials&scope=mcp%3Aread&resource={}", enc(RS))))
            .unwrap();
        response_json(&send(&self.as_router, request).await)["access_token"].as_str().unwrap().to_owned()
    }

    /// Raw request to the RS with the lab's `Host`, JSON and SSE accepted, and `headers` on top.
    pub(crate) async fn request(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        let mut request = Request::builder().method(method).uri(uri);
        let has = |name: &str| headers.iter().any(|(key, _)| key.eq_ignore_ascii_case(name));
        if !has("host") {
            request = request.header("host", HOST);
        }
        if !has("accept") {
            request = request.header("accept", "application/json, text/event-stream");
        }
        if !has("content-type") {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(&self.router, request.body(Body::from(body)).unwrap()).await
    }

    /// POST a JSON-RPC message to `/mcp` with an optional token and session.
    pub(crate) async fn post(&self, token: Option<&str>, session: Option<&str>, message: &Value) -> Resp {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization));
        }
        if let Some(session) = session {
            headers.push(("mcp-session-id", session));
            headers.push(("mcp-protocol-version", "2025-11-25"));
        }
        self.request("POST", "/mcp", &headers, serde_json::to_vec(message).unwrap()).await
    }

    /// Initializes a session and returns its id.
    pub(crate) async fn session(&self, token: &str) -> String {
        let response = self.post(Some(token), None, &initialize("2025-11-25")).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.header("mcp-session-id").unwrap().to_owned()
    }

    /// `tools/call` in a fresh session.
    pub(crate) async fn call(&self, token: &str, tool: &str, arguments: Value) -> Resp {
        let session = self.session(token).await;
        self.call_in(token, &session, tool, arguments).await
    }

    pub(crate) async fn call_in(&self, token: &str, session: &str, tool: &str, arguments: Value) -> Resp {
        self.post(
            Some(token),
            Some(session),
            &json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":tool,"arguments":arguments}}),
        )
        .await
    }

    /// Signs claims with the AS's real key.
    pub(crate) fn mint(&self, typ: &str, claims: &Value) -> String {
        self.auth.mint_jwt(typ, claims).unwrap()
    }

    /// The claims of a conforming token for alice on the RS, now.
    pub(crate) fn claims(&self) -> Value {
        let now = self.clock.now();
        json!({"iss": ISSUER, "sub": "alice", "aud": RS, "exp": now + 300, "iat": now, "nbf": now,
               "jti": "forged-jti", "client_id": "lab-public-client", "scope": "mcp:read"})
    }

    pub(crate) fn set_profile(&self, profile: lab_mcp_server::RsProfile) {
        self.rs.set_profile(profile);
    }
}

pub(crate) fn initialize(version: &str) -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}})
}

/// One authenticated request (initialize): 200 when the token is accepted, the refusal otherwise.
pub(crate) async fn ok_call(lab: &Lab, token: &str) -> Resp {
    lab.post(Some(token), None, &initialize("2025-11-25")).await
}

/// Asserts the no-token challenge of requirements §3.13.
pub(crate) fn assert_no_token_challenge(response: &Resp) {
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.text());
    let challenge = response.challenge();
    assert!(challenge.is_scheme("Bearer"));
    assert_eq!(
        challenge.param("resource_metadata"),
        Some("https://127.0.0.1:8443/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(challenge.param("scope"), Some("mcp:read"));
    assert_eq!(challenge.param("error"), None, "no error code when no token was sent (O21 §5.3.2)");
}

/// Asserts a 401 `invalid_token`.
pub(crate) fn assert_invalid_token(response: &Resp) {
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.text());
    let challenge = response.challenge();
    assert_eq!(challenge.param("error"), Some("invalid_token"));
    assert!(challenge.param("error_description").is_some_and(|description| !description.is_empty()));
    assert_eq!(
        challenge.param("resource_metadata"),
        Some("https://127.0.0.1:8443/.well-known/oauth-protected-resource/mcp")
    );
}
