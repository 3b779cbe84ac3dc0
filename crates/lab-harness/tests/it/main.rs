//! The lab over real TLS on loopback: discovery for both issuers, a taken port, a full
//! authorization code flow, and client ID metadata documents fetched from a helper host; the
//! resource servers and the upstream API in [`rs`]; the conforming client's full flows in
//! [`client`]; a person signing in with Chromium in [`browser`]; races, floods and abuse in
//! [`hardening`].
//!
//! Every lab here is [`LabConfig::ephemeral`]: port 0 and a CA in memory, so tests run in
//! parallel and leave nothing on disk.

mod browser;
mod client;
mod control;
mod hardening;
mod rs;

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::routing::get;
use lab_harness::{HarnessError, LabConfig, RunningLab, bind_loopback, http_client, start};
use lab_pki::LabCa;
use lab_proto::pkce::{generate_verifier, s256_challenge};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A loopback redirect URI with a port: the lab matches loopback redirects on any port
/// (O21 §8.4.2), so it needs no registration of its own beyond `http://127.0.0.1/callback`.
const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

async fn lab_with(config: LabConfig) -> anyhow::Result<RunningLab> {
    start(config).await.context("start the lab")
}

async fn get_json(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    ensure!(response.status() == StatusCode::OK, "GET {url}: {}", response.status());
    response.json().await.with_context(|| format!("GET {url}: body is not JSON"))
}

fn error_chain(error: &dyn Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// What the lab RS answers a 2025-11-25 `initialize` that carries `token`.
async fn rs_status(lab: &RunningLab, token: &str) -> anyhow::Result<StatusCode> {
    let response = lab
        .http_client()?
        .post(lab.resource())
        .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
        .bearer_auth(token)
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
        }))
        .send()
        .await?;
    Ok(response.status())
}

/// The query parameters of a `Location` header.
fn location_params(response: &reqwest::Response) -> anyhow::Result<HashMap<String, String>> {
    let location = response.headers().get(reqwest::header::LOCATION).context("no Location header")?.to_str()?;
    let url = url::Url::parse(location).with_context(|| format!("Location {location:?} is not a URL"))?;
    Ok(url.query_pairs().into_owned().collect())
}

/// `GET /authorize` for a code with PKCE S256, as a public client would send it.
async fn authorize(
    lab: &RunningLab,
    client: &reqwest::Client,
    client_id: &str,
    challenge: &str,
) -> anyhow::Result<reqwest::Response> {
    let url = format!("{}/authorize", lab.issuer());
    let response = client
        .get(&url)
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "mcp:read"),
            ("state", "xyz"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", lab.resource()),
        ])
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    Ok(response)
}

/// Checks an authorization response is a success redirect and returns its code.
fn code_from(lab: &RunningLab, response: &reqwest::Response) -> anyhow::Result<String> {
    ensure!(response.status() == StatusCode::FOUND, "authorize answered {}", response.status());
    let params = location_params(response)?;
    ensure!(params.get("state").map(String::as_str) == Some("xyz"), "state not echoed: {params:?}");
    // RFC 9207 §2: the issuer identifies itself in the response.
    ensure!(params.get("iss").map(String::as_str) == Some(lab.issuer()), "wrong iss: {params:?}");
    params.get("code").cloned().with_context(|| format!("no code: {params:?}"))
}

/// `POST /token` redeeming `code` for a public client.
async fn redeem(
    lab: &RunningLab,
    client: &reqwest::Client,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> anyhow::Result<Value> {
    let url = format!("{}/token", lab.issuer());
    let response = client
        .post(&url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("resource", lab.resource()),
        ])
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let cache_control = response.headers().get(reqwest::header::CACHE_CONTROL).cloned();
    let body: Value = response.json().await.context("token response is not JSON")?;
    ensure!(status == StatusCode::OK, "token endpoint answered {status}: {body}");
    // O21 §3.2.3: token responses must not be cached.
    ensure!(cache_control.is_some_and(|value| value == "no-store"), "Cache-Control is not no-store");
    let access_token = body["access_token"].as_str().context("no access_token")?;
    ensure!(access_token.split('.').count() == 3, "access token is not a compact JWT");
    Ok(body)
}

#[tokio::test]
async fn both_issuers_publish_rfc_8414_metadata_over_tls() -> anyhow::Result<()> {
    let lab = lab_with(LabConfig::ephemeral()).await?;
    let port = lab.as_addr().port();
    assert_ne!(port, 0);
    assert_eq!(lab.issuer(), format!("https://127.0.0.1:{port}"));
    assert_eq!(lab.path_issuer(), format!("https://127.0.0.1:{port}/tenant1"));
    let client = lab.http_client()?;

    let root = get_json(&client, &format!("{}/.well-known/oauth-authorization-server", lab.issuer())).await?;
    assert_eq!(root["issuer"], lab.issuer());
    assert_eq!(root["token_endpoint"], format!("{}/token", lab.issuer()));

    // RFC 8414 §3.1: the issuer's path goes after the well-known segment.
    let origin = lab.issuer();
    let tenant = get_json(&client, &format!("{origin}/.well-known/oauth-authorization-server/tenant1")).await?;
    assert_eq!(tenant["issuer"], lab.path_issuer());
    assert_eq!(tenant["token_endpoint"], format!("{}/token", lab.path_issuer()));
    let tenant_oidc = get_json(&client, &format!("{}/.well-known/openid-configuration", lab.path_issuer())).await?;
    assert_eq!(tenant_oidc["issuer"], lab.path_issuer());

    let debug = format!("{lab:?}");
    assert!(debug.contains(lab.issuer()) && !debug.contains("PRIVATE KEY"), "{debug}");

    // One clock: moving the lab's moves both issuers'.
    let before = lab.tenant_server().clock().now();
    lab.clock().advance(3600);
    assert!(lab.tenant_server().clock().now() >= before + 3600);

    let ca_pem = lab.ca_pem().to_owned();
    lab.shutdown().await;
    // Once shut down, the port accepts nothing. A fresh client holds no pooled connection that
    // could hide a listener still running.
    let after = http_client(ca_pem.as_bytes())?
        .get(format!("https://127.0.0.1:{port}/.well-known/oauth-authorization-server"))
        .send()
        .await;
    assert!(after.is_err(), "the lab still answers after shutdown: {after:?}");
    Ok(())
}

#[tokio::test]
async fn client_trusting_another_ca_is_refused() -> anyhow::Result<()> {
    let lab = lab_with(LabConfig::ephemeral()).await?;
    let url = format!("{}/.well-known/oauth-authorization-server", lab.issuer());
    // The right client first, so the refusal below cannot come from a server that is not up.
    get_json(&lab.http_client()?, &url).await?;

    let other_ca = LabCa::generate()?;
    let stranger = http_client(other_ca.cert_pem().as_bytes())?;
    let Err(error) = stranger.get(&url).send().await else { bail!("a client trusting another CA got an answer") };
    let chain = error_chain(&error);
    // Every lab CA has the same subject, so webpki finds a name match and then a bad signature.
    ensure!(chain.contains("BadSignature") || chain.contains("UnknownIssuer"), "refused for another reason: {chain}");
    Ok(())
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> anyhow::Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique =
            format!("lab-harness-it-{label}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(unique);
        // A directory left over by a crashed run with the same pid is stale, never reused.
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Cleanup is best effort: a leftover directory in the temp dir harms nobody.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn restart_reuses_the_ca_on_disk_and_the_freed_port() -> anyhow::Result<()> {
    let temp = TempDir::new("restart")?;
    let first = lab_with(LabConfig { cert_dir: Some(temp.0.clone()), ..LabConfig::ephemeral() }).await?;
    ensure!(first.created_ca(), "the first start must create the CA");
    let ca_pem = first.ca_pem().to_owned();
    ensure!(std::fs::read_to_string(temp.0.join(lab_pki::CA_CERT_FILE))? == ca_pem);
    let port = first.as_addr().port();
    first.shutdown().await;

    // `lab up` after `lab up`: same port (a graceful shutdown releases it), same CA.
    let config = LabConfig { cert_dir: Some(temp.0.clone()), as_port: Some(port), ..LabConfig::ephemeral() };
    let second = lab_with(config).await?;
    ensure!(!second.created_ca(), "the second start must reuse the CA");
    ensure!(second.issuer() == format!("https://127.0.0.1:{port}"));
    // A client that trusted the first CA trusts the second lab's fresh leaf.
    let metadata =
        get_json(&http_client(ca_pem.as_bytes())?, &format!("{}/.well-known/openid-configuration", second.issuer()))
            .await?;
    assert_eq!(metadata["issuer"], second.issuer());
    second.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn taken_port_is_an_error_naming_the_port_and_the_role() -> anyhow::Result<()> {
    let taken = bind_loopback(0, "test")?;
    let port = taken.local_addr()?.port();
    let config = LabConfig { as_port: Some(port), ..LabConfig::ephemeral() };

    let Err(error) = start(config).await else { bail!("the lab started on a taken port") };
    assert!(matches!(error, HarnessError::PortInUse { port: p, role: "authorization server" } if p == port));
    assert_eq!(error.to_string(), format!("port {port} (authorization server) is already in use"));
    Ok(())
}

#[tokio::test]
async fn auto_approve_must_name_a_seeded_user() -> anyhow::Result<()> {
    let config = LabConfig { auto_approve: Some("mallory".to_owned()), ..LabConfig::ephemeral() };
    let Err(error) = start(config).await else { bail!("the lab started with an unknown auto-approve user") };
    assert_eq!(
        error.to_string(),
        "auto-approve user `mallory` is not a seeded lab user, expected one of: alice, bob, carol"
    );
    Ok(())
}

/// `POST /register` of a public native client (RFC 7591) with the loopback redirect URI; returns
/// its `client_id`.
async fn register_public_client(lab: &RunningLab, client: &reqwest::Client) -> anyhow::Result<String> {
    let registration = client
        .post(format!("{}/register", lab.issuer()))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "t",
            "application_type": "native",
        }))
        .send()
        .await?;
    ensure!(registration.status() == StatusCode::CREATED, "register answered {}", registration.status());
    let registration: Value = registration.json().await?;
    Ok(registration["client_id"].as_str().context("no client_id")?.to_owned())
}

#[tokio::test]
async fn registered_client_completes_the_code_flow_with_auto_approve() -> anyhow::Result<()> {
    let lab = lab_with(LabConfig { auto_approve: Some("alice".to_owned()), ..LabConfig::ephemeral() }).await?;
    let client = lab.http_client()?;
    let client_id = register_public_client(&lab, &client).await?;

    let verifier = generate_verifier()?;
    let challenge = s256_challenge(verifier.secret());
    let response = authorize(&lab, &client, &client_id, &challenge).await?;
    let code = code_from(&lab, &response)?;

    let tokens = redeem(&lab, &client, &client_id, &code, verifier.secret()).await?;
    assert_eq!(tokens["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("bearer"));
    Ok(())
}

#[tokio::test]
async fn client_id_metadata_document_is_fetched_from_a_helper_host_over_tls() -> anyhow::Result<()> {
    // The helper's port must be on the allowlist before the lab starts, so it is bound first.
    let listener = bind_loopback(0, "cimd host")?;
    let authority = listener.local_addr()?.to_string();
    let document_url = format!("https://{authority}/client.json");
    let document = json!({
        "client_id": document_url,
        "client_name": "Document client",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
    });
    // A document served at another URL than the one it names.
    let wrong_url = format!("https://{authority}/wrong.json");
    let wrong_document = document.clone();
    let router = Router::new()
        .route("/client.json", get(move || std::future::ready(axum::Json(document))))
        .route("/wrong.json", get(move || std::future::ready(axum::Json(wrong_document))));

    let config = LabConfig {
        auto_approve: Some("alice".to_owned()),
        cimd_allowed_hosts: Some(vec![authority]),
        ..LabConfig::ephemeral()
    };
    let lab = lab_with(config).await?;
    let helper = lab.serve_helper_host(listener, router)?;
    let client = lab.http_client()?;
    assert_eq!(helper.url("/client.json"), document_url);

    let verifier = generate_verifier()?;
    let challenge = s256_challenge(verifier.secret());
    let response = authorize(&lab, &client, &document_url, &challenge).await?;
    let code = code_from(&lab, &response)?;
    redeem(&lab, &client, &document_url, &code, verifier.secret()).await?;

    // CIMD §Client Metadata: the document's client_id must equal its URL. Until the client is
    // established, errors are pages and never redirects (O21 §4.1.2.1).
    let response = authorize(&lab, &client, &wrong_url, &challenge).await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(reqwest::header::LOCATION).is_none(), "an error page must not redirect");
    let page = response.text().await?;
    ensure!(page.contains("invalid_client") && page.contains("differs from its URL"), "unexpected error page: {page}");

    helper.shutdown().await;
    lab.shutdown().await;
    Ok(())
}
