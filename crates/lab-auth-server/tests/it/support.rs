//! The test lab: an AS router on a frozen clock, driven with `oneshot`, plus typed helpers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use lab_auth_server::config::lab;
use lab_auth_server::{AuthServer, AuthServerConfig, DocumentFetcher, FetchError, FetchFuture, router};
use lab_proto::{Clock, basic};
use serde_json::Value;
use tower::ServiceExt as _;

pub(crate) const ISSUER: &str = lab::ISSUER;
pub(crate) const RS: &str = lab::RESOURCE;
pub(crate) const TWIN: &str = lab::TWIN_RESOURCE;
pub(crate) const REDIRECT: &str = "http://127.0.0.1:53682/callback";
pub(crate) const START: u64 = 1_800_000_000;

/// Documents served to the AS instead of the network, with a count of fetches so a test can prove
/// that nothing was fetched.
#[derive(Default)]
pub(crate) struct StaticFetcher {
    pub(crate) documents: Mutex<HashMap<String, Result<Vec<u8>, FetchError>>>,
    pub(crate) fetches: AtomicUsize,
}

impl DocumentFetcher for StaticFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let answer = self.documents.lock().unwrap().get(url).cloned().unwrap_or(Err(FetchError::Status(404)));
        Box::pin(async move { answer })
    }
}

pub(crate) struct Lab {
    pub(crate) server: AuthServer,
    pub(crate) clock: Clock,
    pub(crate) fetcher: Arc<StaticFetcher>,
    router: Router,
}

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    pub(crate) fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// A query parameter of the redirect target.
    pub(crate) fn redirect_param(&self, name: &str) -> Option<String> {
        let location = self.location()?;
        let query = location.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
    }

    /// `error` of a JSON body.
    pub(crate) fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned()).collect()
    }
}

/// Authorization request parameters with the conforming defaults; tests change one thing.
#[derive(Clone)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn set(mut self, key: &str, value: &str) -> Self {
        self.0.retain(|(name, _)| name != key);
        self.0.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn add(mut self, key: &str, value: &str) -> Self {
        self.0.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn remove(mut self, key: &str) -> Self {
        self.0.retain(|(name, _)| name != key);
        self
    }

    pub(crate) fn query(&self) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.0 {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    }
}

/// A verifier and its S256 challenge.
pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

pub(crate) fn pkce() -> Pkce {
    let verifier = lab_proto::pkce::generate_verifier().unwrap().into_secret();
    let challenge = lab_proto::pkce::s256_challenge(&verifier);
    Pkce { verifier, challenge }
}

/// The claims of a JWT, without verifying it (the tests check what the AS put there).
pub(crate) fn jwt_parts(token: &str) -> (Value, Value) {
    let parts = lab_proto::jose::split_compact(token).unwrap();
    (lab_proto::jose::decode_json(parts.header).unwrap(), lab_proto::jose::decode_json(parts.payload).unwrap())
}

impl Lab {
    pub(crate) fn new() -> Self {
        Self::with(|_| {})
    }

    pub(crate) fn with(change: impl FnOnce(&mut AuthServerConfig)) -> Self {
        let clock = Clock::frozen(START);
        let mut config =
            AuthServerConfig::lab(ISSUER, vec![RS.to_owned(), TWIN.to_owned(), lab::UPSTREAM_RESOURCE.to_owned()]);
        config.clock = clock.clone();
        change(&mut config);
        let clock = config.clock.clone();
        let fetcher = Arc::new(StaticFetcher::default());
        let server = AuthServer::with_fetcher(config, fetcher.clone()).unwrap();
        let router = router(server.clone());
        Self { server, clock, fetcher, router }
    }

    /// A lab in headless mode, approving as alice.
    pub(crate) fn auto() -> Self {
        Self::with(|config| config.auto_approve = Some("alice".into()))
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Resp {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body }
    }

    pub(crate) async fn get(&self, uri: &str) -> Resp {
        self.get_with(uri, &[]).await
    }

    pub(crate) async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Resp {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub(crate) async fn post_form(&self, uri: &str, pairs: &[(&str, &str)]) -> Resp {
        self.post_form_with(uri, pairs, &[]).await
    }

    pub(crate) async fn post_form_with(&self, uri: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        // Built before the await: the serializer is not `Send`, and concurrency tests spawn this.
        let body = {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in pairs {
                serializer.append_pair(key, value);
            }
            serializer.finish().into_bytes()
        };
        self.post_raw(uri, "application/x-www-form-urlencoded", body, headers).await
    }

    pub(crate) async fn post_raw(
        &self,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut request = Request::post(uri).header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    pub(crate) async fn post_json(&self, uri: &str, body: &Value) -> Resp {
        self.post_raw(uri, "application/json", serde_json::to_vec(body).unwrap(), &[]).await
    }

    /// Registers a public client with DCR and returns its id.
    pub(crate) async fn register_public(&self) -> String {
        let response = self
            .post_json(
                "/register",
                &serde_json::json!({
                    "redirect_uris": ["http://127.0.0.1/callback"],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "client_name": "Test Client",
                    "application_type": "native",
                    "scope": "mcp:read mcp:write mcp:admin"
                }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["client_id"].as_str().unwrap().to_owned()
    }

    /// The conforming authorization request of `client_id` with `challenge`.
    pub(crate) fn params(&self, client_id: &str, challenge: &str) -> Params {
        Params(
            [
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "mcp:read"),
                ("state", "state-123"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("resource", RS),
            ]
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        )
    }

    pub(crate) async fn authorize(&self, params: &Params) -> Resp {
        self.get(&format!("/authorize?{}", params.query())).await
    }

    /// Runs an authorization in headless mode and returns the code.
    pub(crate) async fn code(&self, params: &Params) -> String {
        let response = self.authorize(params).await;
        assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
        response.redirect_param("code").unwrap_or_else(|| panic!("no code in {:?}", response.location()))
    }

    /// Exchanges a code as a public client.
    pub(crate) async fn redeem(&self, client_id: &str, code: &str, verifier: &str) -> Resp {
        self.post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
                ("resource", RS),
            ],
        )
        .await
    }

    /// A full headless flow for a fresh public client: returns (client_id, token response JSON).
    pub(crate) async fn tokens(&self, scope: &str) -> (String, Value) {
        let client_id = self.register_public().await;
        let pkce = pkce();
        let code = self.code(&self.params(&client_id, &pkce.challenge).set("scope", scope)).await;
        let response = self.redeem(&client_id, &code, &pkce.verifier).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        (client_id, response.json())
    }

    /// Introspects as the RS.
    pub(crate) async fn introspect(&self, token: &str) -> Resp {
        self.post_form_with(
            "/introspect",
            &[("token", token)],
            &[("authorization", &basic::authorization(lab::RS_CLIENT_ID, lab::RS_CLIENT_SECRET))],
        )
        .await
    }

    pub(crate) async fn refresh(&self, client_id: &str, refresh_token: &str, extra: &[(&str, &str)]) -> Resp {
        let mut pairs =
            vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)];
        pairs.extend_from_slice(extra);
        self.post_form("/token", &pairs).await
    }
}
