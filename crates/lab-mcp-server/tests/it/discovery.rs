//! RS-01…RS-05, RS-10, RS-14, RS-21: protected resource metadata and the challenges.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{ISSUER, Lab, assert_no_token_challenge, initialize};

#[tokio::test]
async fn prm_is_served_at_the_path_inserted_url_with_the_exact_resource() {
    let lab = Lab::new();
    let response = lab.request("GET", "/.well-known/oauth-protected-resource/mcp", &[], Vec::new()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!({
            "resource": "https://127.0.0.1:8443/mcp",
            "authorization_servers": [ISSUER],
            "scopes_supported": ["mcp:read", "mcp:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "MCP Lab RS"
        })
    );
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    // Requirements §8: no root PRM, so there is one canonical resource.
    assert_eq!(
        lab.request("GET", "/.well-known/oauth-protected-resource", &[], Vec::new()).await.status,
        StatusCode::NOT_FOUND
    );
    // Discovery never rejects a protocol version header (SDKs send newer ones there).
    let with_version = lab
        .request(
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            &[("mcp-protocol-version", "2026-07-28")],
            Vec::new(),
        )
        .await;
    assert_eq!(with_version.status, StatusCode::OK);
}

#[tokio::test]
async fn every_request_without_a_token_gets_the_plain_challenge() {
    let lab = Lab::new();
    // `no-token`, `local-unauthenticated-access`: initialize too, and GET and DELETE.
    assert_no_token_challenge(&lab.post(None, None, &initialize("2025-11-25")).await);
    assert_no_token_challenge(&lab.request("GET", "/mcp", &[], Vec::new()).await);
    assert_no_token_challenge(&lab.request("DELETE", "/mcp", &[("mcp-session-id", "x")], Vec::new()).await);
    assert_no_token_challenge(&lab.post(None, None, &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).await);
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // `token-in-query`: same as no token.
    let response = lab
        .request(
            "POST",
            &format!("/mcp?access_token={token}"),
            &[],
            serde_json::to_vec(&initialize("2025-11-25")).unwrap(),
        )
        .await;
    assert_no_token_challenge(&response);
}

#[tokio::test]
async fn other_schemes_are_no_bearer_credentials() {
    let lab = Lab::new();
    let basic = lab_proto::basic::authorization("alice", "alice-pass");
    let response = lab
        .request("POST", "/mcp", &[("authorization", &basic)], serde_json::to_vec(&initialize("2025-11-25")).unwrap())
        .await;
    assert_no_token_challenge(&response);
}

#[tokio::test]
async fn challenges_never_advertise_the_whole_catalogue() {
    let lab = Lab::new();
    // `challenge-catalog-overexposure`: only what the operation needs, no offline_access.
    let response = lab.post(None, None, &initialize("2025-11-25")).await;
    let scope = response.challenge().param("scope").unwrap().to_owned();
    assert_eq!(scope, "mcp:read");
    let prm = lab.request("GET", "/.well-known/oauth-protected-resource/mcp", &[], Vec::new()).await.text();
    assert!(!prm.contains("offline_access") && !prm.contains("mcp:admin"));
}
