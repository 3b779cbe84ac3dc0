//! Each weak RS profile lets exactly its attack through, so scenarios can tell defended from
//! vulnerable; the conforming twin of each case is in the other modules.

use axum::http::StatusCode;
use lab_mcp_server::RsProfile;
use lab_proto::jose::b64url_encode;
use serde_json::json;

use crate::support::{Lab, TWIN, initialize, ok_call};

#[tokio::test]
async fn default_profile_is_conforming() {
    assert_eq!(Lab::new().rs.profile(), RsProfile::Conforming);
}

#[tokio::test]
async fn skip_audience_check_accepts_the_twins_token() {
    let lab = Lab::new();
    let twin = lab.token_for("alice", "mcp:read", TWIN).await;
    assert_eq!(ok_call(&lab, &twin).await.status, StatusCode::UNAUTHORIZED);
    lab.set_profile(RsProfile::SkipAudienceCheck);
    assert_eq!(ok_call(&lab, &twin).await.status, StatusCode::OK);
}

#[tokio::test]
async fn accept_any_alg_takes_unsigned_tokens() {
    let lab = Lab::new();
    let kid = lab.auth.jwks()["keys"][0]["kid"].as_str().unwrap().to_owned();
    let header = json!({"alg":"none","typ":"at+jwt","kid":kid});
    let none = format!(
        "{}.{}.",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(lab.claims().to_string().as_bytes())
    );
    assert_eq!(ok_call(&lab, &none).await.status, StatusCode::UNAUTHORIZED);
    lab.set_profile(RsProfile::AcceptAnyAlg);
    assert_eq!(ok_call(&lab, &none).await.status, StatusCode::OK);
}

#[tokio::test]
async fn no_owner_check_serves_bobs_order_to_alice() {
    let lab = Lab::new();
    lab.set_profile(RsProfile::NoOwnerCheck);
    let token = lab.alice().await;
    let result = lab.call(&token, "get_order", json!({"order_id":"B-2001"})).await.tool_result();
    assert_eq!(result["isError"], false);
    assert_eq!(result["structuredContent"]["order_id"], "B-2001");
}

#[tokio::test]
async fn no_redaction_leaks_the_secrets() {
    let lab = Lab::new();
    lab.set_profile(RsProfile::NoRedaction);
    let token = lab.alice().await;
    let text = lab.call(&token, "list_orders", json!({})).await.text();
    assert!(text.contains("4111111111111111") && text.contains("123-45-6789"));
}

#[tokio::test]
async fn session_as_auth_lets_a_session_id_stand_in_for_a_token() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let session = lab.session(&token).await;
    let message = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_orders","arguments":{}}});
    assert_eq!(lab.post(None, Some(&session), &message).await.status, StatusCode::UNAUTHORIZED);
    lab.set_profile(RsProfile::SessionAsAuth);
    let hijacked = lab.post(None, Some(&session), &message).await;
    assert_eq!(hijacked.status, StatusCode::OK);
    assert!(hijacked.text().contains("A-1001"));
}

#[tokio::test]
async fn no_origin_check_answers_a_rebinding_origin() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let authorization = format!("Bearer {token}");
    let init = serde_json::to_vec(&initialize("2025-11-25")).unwrap();
    let headers =
        [("authorization", authorization.as_str()), ("origin", "http://evil.example"), ("host", "evil.example:8443")];
    assert_eq!(lab.request("POST", "/mcp", &headers, init.clone()).await.status, StatusCode::FORBIDDEN);
    lab.set_profile(RsProfile::NoOriginCheck);
    assert_eq!(lab.request("POST", "/mcp", &headers, init).await.status, StatusCode::OK);
}
