//! The end-to-end fixture: the RS served over TLS on `127.0.0.1:0` with a lab CA leaf, and a
//! reqwest client that trusts only that CA and keeps its connections alive, calling
//! `tools/call search_products` anonymously (`anonymous_public`) or with a bearer token.
//!
//! The RS is served by `lab-harness` (`bind_loopback` and `TlsHost`), the crate that serves every
//! TLS listener of the lab, so the benchmark measures the very server the lab runs. The client is
//! built here as `lab_harness::http_client` builds its own (lab CA only, no redirects, no proxy),
//! with its pool of idle connections sized to the [`CONCURRENCY`] of the load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use axum::body::Bytes;
use lab_auth_server::SigningAlg;
use lab_harness::TlsHost;
use lab_mcp_server::{McpServer, McpServerConfig, VerifyConfig};
use lab_proto::Clock;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::fixture::{AsKeys, lab_as, realistic_claims, tamper_signature};

/// The MCP protocol version the client negotiates.
const PROTOCOL_VERSION: &str = "2025-11-25";

/// Requests in flight at once: enough to keep both cores busy with client and server work, so
/// the measurement is throughput under load rather than the latency of one request at a time.
pub const CONCURRENCY: usize = 4;

/// How a request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No `Authorization` header; the RS runs with `anonymous_public`.
    Anonymous,
    /// `Authorization: Bearer <JWT>`, verified in full by the RS on every request (its
    /// verified-token cache off).
    Bearer,
    /// The same token with the RS's verified-token cache on, the lab's default: the first request
    /// verifies, the others hit.
    BearerCached,
    /// Anonymous, but carrying a header as long as `Authorization: Bearer <JWT>` that the RS
    /// ignores (`x-lab-padding`): what moving the token's bytes costs (client, TLS, kernel, HTTP
    /// parsing) without any check, so the best any verifier, cached or not, could do.
    Carrying,
}

impl AuthMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Bearer => "bearer",
            Self::BearerCached => "bearer_cached",
            Self::Carrying => "anonymous_carrying",
        }
    }

    /// Every mode, in the order the reports show them.
    pub const ALL: [Self; 4] = [Self::Anonymous, Self::Carrying, Self::Bearer, Self::BearerCached];
}

/// The header [`AuthMode::Carrying`] sends instead of `Authorization`.
const PADDING_HEADER: &str = "x-lab-padding";

/// One MCP session of one mode, with everything a request needs. The header values are built
/// once, as a client that keeps its token does: cloning one shares its bytes, where building it
/// per request would validate the 700-byte token again on the load generator, which shares the
/// two cores with the server under test.
#[derive(Clone)]
struct Session {
    authorization: Option<HeaderValue>,
    /// [`AuthMode::Carrying`]'s stand-in for the token: as long, never read.
    padding: Option<HeaderValue>,
    id: HeaderValue,
}

/// The RS on loopback TLS with a client and one initialized session per mode.
pub struct LoopbackLab {
    pub alg: SigningAlg,
    pub url: String,
    /// Declared before the runtime, so it is dropped first: dropping a [`TlsHost`] closes the
    /// listener and every keep-alive connection at once, and the runtime goes right after. It is
    /// held only for that.
    _host: TlsHost,
    runtime: Runtime,
    client: reqwest::Client,
    anonymous: Session,
    carrying: Session,
    bearer: Session,
    call_body: Bytes,
    rs: McpServer,
}

impl LoopbackLab {
    /// Serves an RS whose AS signs with `alg`, initializes both sessions and checks that the
    /// bearer path really authenticates (a tampered token is refused over the wire).
    pub fn start(alg: SigningAlg) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("failed to build a tokio runtime")?;
        let listener = lab_harness::bind_loopback(0, "benchmark resource server")?;
        let port = listener.local_addr()?.port();
        let url = format!("https://127.0.0.1:{port}/mcp");

        let clock = Clock::system();
        let auth = lab_as(alg, &url, clock.clone())?;
        let token = auth.mint_jwt("at+jwt", &realistic_claims(clock.now(), &url)?)?;
        let mut config = McpServerConfig::new(&url, lab_auth_server::config::lab::ISSUER, {
            VerifyConfig::Jwt(Arc::new(AsKeys::new(auth)))
        });
        config.clock = clock;
        config.anonymous_public = true;
        // The RS's per-principal rate limit would turn a throughput test into a test of the limit.
        config.rate_limit = None;
        config.allowed_hosts = vec![format!("127.0.0.1:{port}")];
        let rs = McpServer::new(config);
        runtime.block_on(rs.prefetch_keys());

        let ca = lab_pki::LabCa::generate()?;
        let leaf = ca.issue_lab_leaf()?;
        let tls = leaf.server_config(&ca)?;
        let host = {
            // The host registers the listener with, and spawns its server task on, the runtime
            // it is created in.
            let _guard = runtime.enter();
            TlsHost::serve(listener, lab_mcp_server::router(rs.clone()), tls, "benchmark resource server")?
        };

        let certificate = reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?;
        let client = reqwest::Client::builder()
            .tls_certs_only([certificate])
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(true)
            .pool_max_idle_per_host(CONCURRENCY)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()?;

        let call_body = Bytes::from(serde_json::to_vec(&json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "search_products", "arguments": {"query": "shoe"}},
        }))?);
        let bearer = format!("Bearer {token}");
        let (anonymous, bearer_session) = runtime.block_on(async {
            let anonymous = initialize(&client, &url, None).await?;
            let bearer = initialize(&client, &url, Some(bearer.clone())).await?;
            anyhow::Ok((anonymous, bearer))
        })?;
        let (carrying, bearer) = (
            // The same anonymous session, with a header of the bearer header's length in every request.
            Session { padding: Some(HeaderValue::try_from("A".repeat(bearer.len()))?), ..anonymous.clone() },
            bearer_session,
        );
        let lab = Self { alg, url, _host: host, runtime, client, anonymous, carrying, bearer, call_body, rs };
        lab.check(&token)?;
        Ok(lab)
    }

    /// Both modes get a real `search_products` result; a tampered token is refused with 401.
    fn check(&self, token: &str) -> Result<()> {
        for mode in AuthMode::ALL {
            self.set_cache(mode)?;
            let session = self.session(mode).clone();
            let body = self.runtime.block_on(call(&self.client, &self.url, &session, self.call_body.clone()))?;
            let reply: Value = serde_json::from_slice(&body)?;
            let products = reply["result"]["structuredContent"]["products"]
                .as_array()
                .or_else(|| reply["result"]["content"].as_array())
                .with_context(|| format!("{} search_products gave no result: {reply}", mode.name()))?;
            ensure!(!products.is_empty(), "{} search_products found nothing: {reply}", mode.name());
            ensure!(reply["result"]["isError"] != json!(true), "{} search_products failed: {reply}", mode.name());
        }
        let mut tampered = self.bearer.clone();
        tampered.authorization = Some(HeaderValue::try_from(format!("Bearer {}", tamper_signature(token)?))?);
        let refused = self.runtime.block_on(call(&self.client, &self.url, &tampered, self.call_body.clone()));
        match refused {
            Err(error) if error.to_string().contains("401") => Ok(()),
            Err(error) => Err(error.context("a tampered token was refused, but not with 401")),
            Ok(_) => bail!("the RS accepted a tampered bearer token over the wire"),
        }
    }

    fn session(&self, mode: AuthMode) -> &Session {
        match mode {
            AuthMode::Anonymous => &self.anonymous,
            AuthMode::Carrying => &self.carrying,
            AuthMode::Bearer | AuthMode::BearerCached => &self.bearer,
        }
    }

    /// Switches the RS's verified-token cache for `mode` (anonymous requests do not verify).
    fn set_cache(&self, mode: AuthMode) -> Result<()> {
        let verifier = self.rs.jwt_verifier().context("the loopback RS verifies JWTs")?;
        verifier.set_token_cache(mode == AuthMode::BearerCached);
        Ok(())
    }

    /// Runs `requests` `tools/call`s of `mode`, [`CONCURRENCY`] at a time over keep-alive
    /// connections, and returns the wall time they took.
    pub fn batch(&self, mode: AuthMode, requests: u64) -> Result<Duration> {
        self.set_cache(mode)?;
        let session = self.session(mode);
        self.runtime.block_on(async {
            let mut tasks = JoinSet::new();
            let start = Instant::now();
            for worker in 0..CONCURRENCY as u64 {
                let share = requests / CONCURRENCY as u64 + u64::from(worker < requests % CONCURRENCY as u64);
                let (client, url, session, body) =
                    (self.client.clone(), self.url.clone(), session.clone(), self.call_body.clone());
                tasks.spawn(async move {
                    for _ in 0..share {
                        call(&client, &url, &session, body.clone()).await?;
                    }
                    anyhow::Ok(())
                });
            }
            while let Some(result) = tasks.join_next().await {
                result??;
            }
            Ok(start.elapsed())
        })
    }
}

/// `initialize`, returning the session it opened.
async fn initialize(client: &reqwest::Client, url: &str, authorization: Option<String>) -> Result<Session> {
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "lab-benches", "version": "0"}}});
    let mut request = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&message)?);
    if let Some(authorization) = &authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await?;
    let status = response.status();
    let id = response.headers().get("mcp-session-id").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let body = response.text().await?;
    ensure!(status.is_success(), "initialize answered {status}: {body}");
    let id = id.with_context(|| format!("initialize opened no session: {body}"))?;
    let authorization = authorization
        .map(|value| {
            let mut value = HeaderValue::try_from(value)?;
            value.set_sensitive(true);
            anyhow::Ok(value)
        })
        .transpose()?;
    Ok(Session { authorization, padding: None, id: HeaderValue::try_from(id)? })
}

/// One `tools/call` in `session`; the whole body is read so the connection can be reused.
async fn call(client: &reqwest::Client, url: &str, session: &Session, body: Bytes) -> Result<Bytes> {
    let mut request = client
        .post(url)
        .header(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header("mcp-session-id", session.id.clone())
        .header("mcp-protocol-version", HeaderValue::from_static(PROTOCOL_VERSION))
        .body(body);
    if let Some(authorization) = &session.authorization {
        request = request.header(AUTHORIZATION, authorization.clone());
    }
    if let Some(padding) = &session.padding {
        request = request.header(PADDING_HEADER, padding.clone());
    }
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(status.is_success(), "tools/call answered {status}: {}", String::from_utf8_lossy(&body));
    Ok(body)
}
