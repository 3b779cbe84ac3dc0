//! The conforming client against the real lab over TLS on port 0: the happy path, refresh,
//! step-up, the path issuer, a pre-registered client, a client ID metadata document, and the twin
//! resource server. The SSRF canary stays untouched in every flow.

use std::time::Duration;

use anyhow::ensure;
use lab_client::{ClientConfig, McpClient, PreRegistered};
use lab_harness::{LabConfig, RunningLab, start};
use lab_proto::ClientSecret;
use lab_proto::registration::TokenEndpointAuthMethod;
use serde_json::json;

async fn headless(change: impl FnOnce(&mut LabConfig)) -> anyhow::Result<RunningLab> {
    let mut config = LabConfig::ephemeral();
    config.auto_approve = Some("alice".into());
    change(&mut config);
    Ok(start(config).await?)
}

/// A client for `url` that trusts the lab CA and may reach the lab's loopback hosts.
fn client_config(lab: &RunningLab, url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(url.to_owned()).allow([lab.as_addr().to_string(), lab.cimd_addr().to_string()]);
    config.ca_pem = Some(lab.ca_pem().as_bytes().to_vec());
    config.callback_timeout = Duration::from_secs(5);
    config
}

#[tokio::test]
async fn happy_path_with_dynamic_registration() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut client = McpClient::new(client_config(&lab, lab.resource()))?;
    client.connect().await?;
    let orders = client.call_tool("list_orders", json!({})).await?;
    ensure!(orders.to_string().contains("A-1001"), "{orders}");
    let credentials = client.credentials().expect("registered");
    ensure!(credentials.how == "dynamic registration");
    ensure!(client.discovered().expect("discovered").issuer == lab.issuer());
    ensure!(
        client.granted_scope() == Some("mcp:read"),
        "CL-16: the challenge's scope, got {:?}",
        client.granted_scope()
    );
    // The trace is complete and holds no secret.
    let trace = serde_json::to_string(&client.trace())?;
    ensure!(!trace.contains("eyJ"), "a JWT reached the trace");
    ensure!(lab.canary().hits() == 0);
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn expired_token_is_refreshed_with_the_resource() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut client = McpClient::new(client_config(&lab, lab.resource()))?;
    client.connect().await?;
    // Past exp + leeway: the RS answers 401 and the client refreshes.
    lab.clock().advance(300 + 31);
    let orders = client.call_tool("get_order", json!({"order_id": "A-1002"})).await?;
    ensure!(orders.to_string().contains("shipped"), "{orders}");
    let refresh = client
        .trace()
        .exchanges
        .into_iter()
        .find(|exchange| exchange.request_body.as_deref().is_some_and(|body| body.contains("grant_type=refresh_token")))
        .expect("a refresh request");
    // CL-15: resource resent on refresh.
    ensure!(refresh.request_body.as_deref().is_some_and(|body| body.contains("resource=")), "{refresh:?}");
    ensure!(refresh.status == Some(200));
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn revoked_refresh_token_means_authorize_again() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut client = McpClient::new(client_config(&lab, lab.resource()))?;
    client.connect().await?;
    // The AS forgets every grant (a replayed refresh token would do the same); the next 401 is met
    // with a refused refresh, and the client authorizes again instead of retrying.
    lab.clock().advance(24 * 3600 + 1);
    let result = client.call_tool("get_categories", json!({})).await?;
    ensure!(result["isError"] == false, "{result}");
    let authorizations =
        client.trace().exchanges.iter().filter(|exchange| exchange.url.contains("/authorize?")).count();
    ensure!(authorizations == 2, "{authorizations} authorizations");
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn step_up_to_write_scope() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut client = McpClient::new(client_config(&lab, lab.resource()))?;
    client.connect().await?;
    let created = client.call_tool("create_return", json!({"order_id": "A-1001", "reason": "too small"})).await?;
    ensure!(created["structuredContent"]["status"] == "requested", "{created}");
    ensure!(client.granted_scope() == Some("mcp:read mcp:write"), "{:?}", client.granted_scope());
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn path_issuer_is_found_by_path_insertion() -> anyhow::Result<()> {
    let lab = headless(|config| config.rs_uses_path_issuer = true).await?;
    let mut client = McpClient::new(client_config(&lab, lab.resource()))?;
    client.connect().await?;
    ensure!(client.discovered().expect("discovered").issuer == lab.path_issuer());
    let metadata_requests: Vec<String> = client
        .trace()
        .exchanges
        .iter()
        .filter(|exchange| exchange.step == 3)
        .map(|exchange| exchange.url.clone())
        .collect();
    // CL-04: the path-inserted document, never the root.
    ensure!(
        metadata_requests == [format!("https://{}/.well-known/oauth-authorization-server/tenant1", lab.as_addr())],
        "{metadata_requests:?}"
    );
    client.call_tool("get_categories", json!({})).await?;
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn pre_registered_confidential_client() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut config = client_config(&lab, lab.resource());
    config.pre_registered = Some(PreRegistered {
        issuer: Some(lab.issuer().to_owned()),
        client_id: "lab-confidential-client".into(),
        client_secret: Some(ClientSecret::new("lab-confidential-secret")),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
    });
    let mut client = McpClient::new(config)?;
    client.connect().await?;
    ensure!(client.credentials().expect("credentials").how == "pre-registered");
    ensure!(client.trace().exchanges.iter().all(|exchange| !exchange.url.ends_with("/register")), "no registration");
    let token_request =
        client.trace().exchanges.into_iter().find(|exchange| exchange.url.ends_with("/token")).expect("token request");
    ensure!(
        token_request
            .request_headers
            .iter()
            .any(|(name, value)| name == "authorization" && value == "Basic [redacted]")
    );
    lab.shutdown().await;
    Ok(())
}

/// CL-12, SEP-2352: credentials pre-registered at another AS are neither used with nor sent to the
/// AS the server names; the client registers there instead.
#[tokio::test]
async fn credentials_of_another_issuer_are_never_sent() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut config = client_config(&lab, lab.resource());
    config.pre_registered = Some(PreRegistered {
        issuer: Some("https://as.elsewhere.example".into()),
        client_id: "elsewhere-client".into(),
        client_secret: Some(ClientSecret::new("elsewhere-secret-0123456789")),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
    });
    let mut client = McpClient::new(config)?;
    client.connect().await?;
    ensure!(client.credentials().expect("credentials").how == "dynamic registration");
    for exchange in client.trace().exchanges {
        ensure!(!exchange.url.contains("elsewhere-client"), "the client id went to {}", exchange.url);
        ensure!(
            exchange
                .request_headers
                .iter()
                .all(|(name, _)| name != "authorization" || !exchange.url.ends_with("/token")),
            "a client secret went to {}",
            exchange.url
        );
        ensure!(!exchange.request_body.as_deref().unwrap_or_default().contains("elsewhere-client"));
    }
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn client_id_metadata_document() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut config = client_config(&lab, lab.resource());
    config.metadata_document = Some(lab.client_metadata_document());
    let mut client = McpClient::new(config)?;
    client.connect().await?;
    let credentials = client.credentials().expect("credentials");
    ensure!(credentials.how == "metadata document");
    ensure!(credentials.client_id == lab.client_metadata_document());
    client.call_tool("get_categories", json!({})).await?;
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn twin_resource_gets_its_own_token() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut main = McpClient::new(client_config(&lab, lab.resource()))?;
    main.connect().await?;
    let mut twin = McpClient::new(client_config(&lab, lab.twin_resource()))?;
    twin.connect().await?;
    ensure!(twin.discovered().expect("discovered").resource == lab.twin_resource());
    twin.call_tool("get_categories", json!({})).await?;
    main.call_tool("get_categories", json!({})).await?;
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn at_2026_07_28_the_client_is_stateless_and_confirms_only_when_told() -> anyhow::Result<()> {
    // A lab that speaks 2026-07-28 alone: no initialize, no session.
    let lab = headless(|config| config.revisions = lab_mcp_server::Revisions::Modern).await?;
    let mut config = client_config(&lab, lab.resource());
    config.modern = true;
    config.scope = Some("mcp:read mcp:write".into());
    let mut client = McpClient::new(config.clone())?;
    client.connect().await?;
    // `get_order` mirrors its order id into Mcp-Param-OrderId, which the RS checks.
    let order = client.call_tool("get_order", json!({"order_id": "A-1002"})).await?;
    ensure!(order["resultType"] == "complete" && order.to_string().contains("shipped"), "{order}");
    // A high-risk tool asks for confirmation; without --yes the client declines and nothing runs.
    let declined = client.call_tool("create_return", json!({"order_id": "A-1001", "reason": "too small"})).await?;
    ensure!(declined["isError"] == true, "{declined}");
    // With --yes it confirms, echoing the state untouched, and the tool runs once.
    let mut config_asking = config.clone();
    config.confirm = lab_client::Confirm::Yes;
    let mut confirming = McpClient::new(config)?;
    confirming.connect().await?;
    let done = confirming.call_tool("create_return", json!({"order_id": "A-1001", "reason": "too small"})).await?;
    ensure!(done["structuredContent"]["status"] == "requested", "{done}");
    // Asked, a person sees the server's question and their answer is what the client sends.
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for answer in [false, true] {
        let seen = asked.clone();
        config_asking.confirm = lab_client::Confirm::Ask(std::sync::Arc::new(move |message: &str| {
            seen.lock().expect("not poisoned").push(message.to_owned());
            answer
        }));
        let mut person = McpClient::new(config_asking.clone())?;
        person.connect().await?;
        let result = person.call_tool("create_return", json!({"order_id": "A-1001", "reason": "broken"})).await?;
        ensure!((result["isError"] == true) != answer, "answered {answer}: {result}");
    }
    let asked = asked.lock().expect("not poisoned").clone();
    ensure!(asked.len() == 2 && asked[0].contains("create_return"), "{asked:?}");
    let trace = serde_json::to_string(&confirming.trace())?;
    ensure!(!trace.contains("mcp-session-id"), "no session at 2026-07-28");
    // No access token (a JWT: header, payload and signature) reached the trace; the sealed
    // requestState, whose claims are base64 JSON too, is no credential.
    let jwt = trace
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .any(|word| word.starts_with("eyJ") && word.matches('.').count() == 2);
    ensure!(!jwt, "a JWT reached the trace");
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_client_of_2026_07_28_uses_it_at_a_dual_era_lab() -> anyhow::Result<()> {
    let lab = headless(|_| {}).await?;
    let mut config = client_config(&lab, lab.resource());
    config.modern = true;
    let mut client = McpClient::new(config)?;
    client.connect().await?;
    let orders = client.call_tool("list_orders", json!({})).await?;
    ensure!(orders["resultType"] == "complete", "{orders}");
    lab.shutdown().await;
    Ok(())
}
