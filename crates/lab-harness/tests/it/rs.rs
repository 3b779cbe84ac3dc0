//! The resource servers and the upstream API over real TLS on loopback: the first 401 and the
//! protected resource metadata, a full flow to a tool call, the twin's audience check, the
//! token-passthrough guard seen from the upstream API, revocation under introspection, and taken
//! ports.

use anyhow::{Context, bail, ensure};
use lab_harness::{HarnessError, LabConfig, RunningLab, VerifyMode, bind_loopback, http_client, start, token_sha256};
use lab_proto::pkce::{generate_verifier, s256_challenge};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{authorize, code_from, get_json, lab_with, redeem, register_public_client};

/// The protocol version the lab's clients negotiate (the newest the RS speaks).
const PROTOCOL_VERSION: &str = "2025-11-25";

/// What a Streamable HTTP client must accept (TR-1125 §Sending Messages to the Server).
const ACCEPT: &str = "application/json, text/event-stream";

/// An ephemeral lab that approves every authorization as alice.
async fn alice_lab(verify: VerifyMode) -> anyhow::Result<RunningLab> {
    lab_with(LabConfig { auto_approve: Some("alice".to_owned()), verify, ..LabConfig::ephemeral() }).await
}

/// A dynamically registered public client, its access token for the RS (alice, `mcp:read`) and
/// its `client_id`.
async fn alice_token(lab: &RunningLab, client: &reqwest::Client) -> anyhow::Result<(String, String)> {
    let client_id = register_public_client(lab, client).await?;
    let verifier = generate_verifier()?;
    let challenge = s256_challenge(verifier.secret());
    let response = authorize(lab, client, &client_id, &challenge).await?;
    let code = code_from(lab, &response)?;
    let tokens = redeem(lab, client, &client_id, &code, verifier.secret()).await?;
    let token = tokens["access_token"].as_str().context("no access_token")?.to_owned();
    Ok((token, client_id))
}

/// `POST` of one JSON-RPC message to an MCP endpoint, as a Streamable HTTP client sends it.
async fn mcp_post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    message: &Value,
) -> anyhow::Result<reqwest::Response> {
    let mut request = client.post(url).header(reqwest::header::ACCEPT, ACCEPT).json(message);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session).header("mcp-protocol-version", PROTOCOL_VERSION);
    }
    request.send().await.with_context(|| format!("POST {url}"))
}

fn initialize_message() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "lab-harness-it", "version": "0"},
        },
    })
}

fn tool_call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

/// `initialize` with `token`; returns the session id the RS minted.
async fn initialize(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<String> {
    let response = mcp_post(client, url, Some(token), None, &initialize_message()).await?;
    let status = response.status();
    let session = response.headers().get("mcp-session-id").map(|value| value.to_str().map(str::to_owned));
    let body: Value = response.json().await.context("initialize answer is not JSON")?;
    ensure!(status == StatusCode::OK, "initialize answered {status}: {body}");
    ensure!(body["result"]["protocolVersion"] == PROTOCOL_VERSION, "unexpected initialize result: {body}");
    Ok(session.context("initialize answered without mcp-session-id")??)
}

/// `tools/call` in `session`; returns the JSON-RPC `result` after checking it is no tool error.
async fn call_tool(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    session: &str,
    name: &str,
    arguments: Value,
) -> anyhow::Result<Value> {
    let response = mcp_post(client, url, Some(token), Some(session), &tool_call(name, arguments)).await?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{name}: answer is not JSON"))?;
    ensure!(status == StatusCode::OK, "{name} answered {status}: {body}");
    ensure!(body["result"]["isError"] == false, "{name} failed: {body}");
    Ok(body["result"].clone())
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> anyhow::Result<&'a str> {
    let value = response.headers().get(name).with_context(|| format!("no {name} header"))?;
    Ok(value.to_str()?)
}

#[tokio::test]
async fn request_without_token_gets_the_challenge_and_the_metadata_names_the_issuer() -> anyhow::Result<()> {
    let lab = lab_with(LabConfig::ephemeral()).await?;
    let client = lab.http_client()?;
    let rs_port = lab.rs_addr().port();
    assert_ne!(rs_port, 0);
    assert_eq!(lab.resource(), format!("https://127.0.0.1:{rs_port}/mcp"));
    assert_eq!(lab.twin_resource(), format!("https://127.0.0.1:{}/mcp", lab.twin_addr().port()));
    assert_eq!(lab.upstream_url(), format!("https://127.0.0.1:{}", lab.upstream_addr().port()));

    // Step 1 of the flow. MCP-1125 §Authorization Server Location: the 401 names the PRM; no
    // `error` since no token was sent (O21 §5.3.2), and the minimal scope (SBP Scope Minimization).
    let response = mcp_post(&client, lab.resource(), None, None, &initialize_message()).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let prm_url = format!("https://127.0.0.1:{rs_port}/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        header(&response, "www-authenticate")?,
        format!(r#"Bearer resource_metadata="{prm_url}", scope="mcp:read""#)
    );
    assert_eq!(lab.resource_metadata_url(), prm_url);

    // Step 2. RFC 9728 §3.3: `resource` is exactly the URL the client called.
    let metadata = get_json(&client, &prm_url).await?;
    assert_eq!(metadata["resource"], lab.resource());
    assert_eq!(metadata["authorization_servers"], json!([lab.issuer()]));

    // The twin publishes its own resource and trusts the same AS.
    let twin = get_json(&client, &lab.twin_rs().resource_metadata_url()).await?;
    assert_eq!(twin["resource"], lab.twin_resource());
    assert_eq!(twin["authorization_servers"], json!([lab.issuer()]));

    let ca_pem = lab.ca_pem().to_owned();
    let resource = lab.resource().to_owned();
    lab.shutdown().await;
    // Shutdown stops the resource server too; a fresh client holds no pooled connection.
    let after = http_client(ca_pem.as_bytes())?.post(&resource).send().await;
    assert!(after.is_err(), "the resource server still answers after shutdown: {after:?}");
    Ok(())
}

#[tokio::test]
async fn alice_lists_her_orders_through_the_full_flow() -> anyhow::Result<()> {
    let lab = alice_lab(VerifyMode::Jwt).await?;
    let client = lab.http_client()?;
    let (token, _) = alice_token(&lab, &client).await?;

    let session = initialize(&client, lab.resource(), &token).await?;
    let result = call_tool(&client, lab.resource(), &token, &session, "list_orders", json!({})).await?;
    let text = result["content"][0]["text"].as_str().context("no text content")?;
    ensure!(text.contains("A-1001"), "alice's order is missing: {text}");
    // Seed §7.5: the card is masked, and the full number never leaves.
    ensure!(text.contains("**** **** **** 1111"), "the card is not masked: {text}");
    ensure!(!text.contains("4111111111111111"), "the full card number leaked: {text}");
    // Prefetched at start, so the request did not fetch the JWKS again.
    assert_eq!(lab.rs().jwks_fetches(), 1);
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn token_for_the_resource_server_is_refused_by_the_twin() -> anyhow::Result<()> {
    let lab = alice_lab(VerifyMode::Jwt).await?;
    let client = lab.http_client()?;
    let (token, _) = alice_token(&lab, &client).await?;
    // The token is good where it was minted for, so the refusal below is about the audience.
    initialize(&client, lab.resource(), &token).await?;

    // RFC 8707 and MCP-1125 §Token Handling: same AS, another audience.
    let response = mcp_post(&client, lab.twin_resource(), Some(&token), None, &initialize_message()).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate")?;
    ensure!(challenge.starts_with("Bearer "), "{challenge}");
    ensure!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    ensure!(challenge.contains(&lab.twin_rs().resource_metadata_url()), "{challenge}");
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn track_shipment_reaches_the_upstream_api_with_the_resource_servers_own_token() -> anyhow::Result<()> {
    let lab = alice_lab(VerifyMode::Jwt).await?;
    let client = lab.http_client()?;
    let (token, _) = alice_token(&lab, &client).await?;
    let session = initialize(&client, lab.resource(), &token).await?;

    let result =
        call_tool(&client, lab.resource(), &token, &session, "track_shipment", json!({"order_id": "A-1002"})).await?;
    let shipment = &result["structuredContent"]["shipment"];
    assert_eq!(shipment["tracking_number"], "TRK-1002");
    assert_eq!(shipment["status"], "in transit");
    assert_eq!(shipment["carrier"], "Lab Parcel");

    // RS-12: the upstream saw a token for its own audience, obtained by the RS as itself, and not
    // the caller's token.
    let calls = lab.upstream_log().calls();
    let [call] = calls.as_slice() else { bail!("expected one upstream call, got {calls:?}") };
    assert_eq!(call.aud, vec![lab.upstream_url().to_owned()]);
    assert_eq!(call.sub, "lab-rs");
    assert_eq!(call.client_id, "lab-rs");
    assert_eq!(call.tracking_number, "TRK-1002");
    assert_ne!(call.token_sha256, token_sha256(&token));

    // The upstream API refuses the caller's token outright: its audience is the MCP endpoint.
    let response = client.get(format!("{}/shipments/TRK-1002", lab.upstream_url())).bearer_auth(&token).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    ensure!(header(&response, "www-authenticate")?.contains(r#"error="invalid_token""#));
    let response = client.get(format!("{}/shipments/TRK-1002", lab.upstream_url())).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate")?, r#"Bearer realm="upstream""#);
    assert_eq!(lab.upstream_log().calls().len(), 1, "refused calls must not be logged");
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn revoked_token_is_refused_at_once_under_introspection() -> anyhow::Result<()> {
    revoked_token_is_refused_at_once(VerifyMode::Introspection).await
}

#[tokio::test]
async fn revoked_token_is_refused_at_once_by_a_caching_jwt_verifier() -> anyhow::Result<()> {
    revoked_token_is_refused_at_once(VerifyMode::Jwt).await
}

/// The AS's revocation reaches the RS whatever it verifies with; in JWT mode through the lab's
/// back channel, which also empties the verified-token cache of the token.
async fn revoked_token_is_refused_at_once(mode: VerifyMode) -> anyhow::Result<()> {
    let lab = alice_lab(mode).await?;
    assert_eq!(lab.verify_mode(), mode);
    let client = lab.http_client()?;
    let (token, client_id) = alice_token(&lab, &client).await?;
    let session = initialize(&client, lab.resource(), &token).await?;
    call_tool(&client, lab.resource(), &token, &session, "list_orders", json!({})).await?;
    let cached = || lab.rs().jwt_verifier().map(lab_mcp_server::verify::JwtVerifier::cached_tokens);
    if mode == VerifyMode::Jwt {
        assert_eq!(cached(), Some(1), "the token was verified once and cached");
    }

    // RFC 7009: a public client revokes its own token with its client_id.
    let response = client
        .post(format!("{}/revoke", lab.issuer()))
        .form(&[("token", token.as_str()), ("client_id", client_id.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);

    if mode == VerifyMode::Jwt {
        assert_eq!(cached(), Some(0), "the revocation emptied the token's cache entry");
    }
    let response =
        mcp_post(&client, lab.resource(), Some(&token), Some(&session), &tool_call("list_orders", json!({}))).await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    ensure!(header(&response, "www-authenticate")?.contains(r#"error="invalid_token""#));
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn taken_resource_ports_are_errors_naming_the_port_and_the_role() -> anyhow::Result<()> {
    let taken = bind_loopback(0, "test")?;
    let port = taken.local_addr()?.port();
    let cases = [
        (LabConfig { rs_port: Some(port), ..LabConfig::ephemeral() }, "resource server"),
        (LabConfig { twin_port: Some(port), ..LabConfig::ephemeral() }, "twin resource server"),
        (LabConfig { upstream_port: Some(port), ..LabConfig::ephemeral() }, "upstream API"),
    ];
    for (config, role) in cases {
        let Err(error) = start(config).await else { bail!("the lab started with the {role} on a taken port") };
        assert!(matches!(error, HarnessError::PortInUse { port: p, role: r } if p == port && r == role), "{error:?}");
        assert_eq!(error.to_string(), format!("port {port} ({role}) is already in use"));
    }
    Ok(())
}
