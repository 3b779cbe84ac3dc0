//! AS-38, AS-39: RFC 7662 introspection and RFC 7009 revocation, §6.7 rows with the AS as defender.

use axum::http::StatusCode;
use lab_proto::basic;
use serde_json::json;

use crate::support::{ISSUER, Lab, RS};

#[tokio::test]
async fn introspection_requires_resource_server_credentials() {
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    let token = tokens["access_token"].as_str().unwrap();
    // `introspection-unauthenticated`.
    let anonymous = lab.post_form("/introspect", &[("token", token)]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(!anonymous.text().contains("alice"));
    let public = lab.post_form("/introspect", &[("token", token), ("client_id", &client_id)]).await;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED);
    let wrong_secret = lab
        .post_form_with(
            "/introspect",
            &[("token", token)],
            &[("authorization", &basic::authorization("lab-rs", "nope"))],
        )
        .await;
    assert_eq!(wrong_secret.status, StatusCode::UNAUTHORIZED);
    // An ordinary confidential client is not a resource server.
    let confidential = lab
        .post_form_with(
            "/introspect",
            &[("token", token)],
            &[("authorization", &basic::authorization("lab-confidential-client", "lab-confidential-secret"))],
        )
        .await;
    assert_eq!(confidential.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn active_tokens_are_described() {
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    let response = lab.introspect(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "mcp:read");
    assert_eq!(body["client_id"], client_id.as_str());
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["aud"], RS);
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["exp"], crate::support::START + 300);
}

#[tokio::test]
async fn inactive_tokens_reveal_nothing() {
    let lab = Lab::auto();
    let (_, tokens) = lab.tokens("mcp:read").await;
    let token = tokens["access_token"].as_str().unwrap();
    // `introspection-oracle`: garbage, a refresh token, a tampered token, an expired token.
    let mut tampered = token.to_owned();
    tampered.replace_range(token.len() - 5.., "AAAAA");
    for candidate in ["not-a-token", tokens["refresh_token"].as_str().unwrap(), &tampered, "a.b.c"] {
        let response = lab.introspect(candidate).await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.json(), json!({"active": false}));
    }
    lab.clock.advance(301);
    assert_eq!(lab.introspect(token).await.json(), json!({"active": false}));
    let hint = lab
        .post_form_with(
            "/introspect",
            &[("token", token), ("token_type_hint", "id_token")],
            &[("authorization", &basic::authorization("lab-rs", "lab-rs-secret"))],
        )
        .await;
    assert_eq!(hint.error(), "unsupported_token_type");
    let missing = lab
        .post_form_with("/introspect", &[], &[("authorization", &basic::authorization("lab-rs", "lab-rs-secret"))])
        .await;
    assert_eq!(missing.error(), "invalid_request");
}

#[tokio::test]
async fn revocation_is_no_oracle_and_only_for_the_owner() {
    let lab = Lab::auto();
    let (owner, tokens) = lab.tokens("mcp:read").await;
    let token = tokens["access_token"].as_str().unwrap();
    // `revocation-oracle`: a random string is "revoked" with 200.
    let random = lab.post_form("/revoke", &[("token", "random-string"), ("client_id", &owner)]).await;
    assert_eq!(random.status, StatusCode::OK);
    assert_eq!(random.header("cache-control"), Some("no-store"));
    // Another client's token is refused and stays active.
    let other = lab.register_public().await;
    let refused = lab.post_form("/revoke", &[("token", token), ("client_id", &other)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error(), "unauthorized_client");
    assert_eq!(lab.introspect(token).await.json()["active"], true);
    let refused_refresh =
        lab.post_form("/revoke", &[("token", tokens["refresh_token"].as_str().unwrap()), ("client_id", &other)]).await;
    assert_eq!(refused_refresh.error(), "unauthorized_client");
    // The owner revokes the access token.
    let revoked =
        lab.post_form("/revoke", &[("token", token), ("token_type_hint", "access_token"), ("client_id", &owner)]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(lab.introspect(token).await.json(), json!({"active": false}));
    // The refresh token was not touched by an access-token revocation.
    assert_eq!(lab.refresh(&owner, tokens["refresh_token"].as_str().unwrap(), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revocation_needs_a_client_and_a_known_hint() {
    let lab = Lab::auto();
    let (owner, tokens) = lab.tokens("mcp:read").await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(lab.post_form("/revoke", &[("token", token)]).await.error(), "invalid_client");
    let hint = lab.post_form("/revoke", &[("token", token), ("client_id", &owner), ("token_type_hint", "saml")]).await;
    assert_eq!(hint.error(), "unsupported_token_type");
    assert_eq!(lab.post_form("/revoke", &[("client_id", &owner)]).await.error(), "invalid_request");
}
