//! AS-01…AS-05: discovery documents and the JWKS.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{ISSUER, Lab};

#[tokio::test]
async fn rfc8414_metadata_emits_every_field_explicitly() {
    let lab = Lab::new();
    let response = lab.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let metadata = response.json();
    // AS-02: byte-identical issuer; AS-03: S256 only; AS-04: no unsafe defaults left implicit.
    assert_eq!(metadata["issuer"], ISSUER);
    assert_eq!(metadata["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(metadata["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(metadata["registration_endpoint"], format!("{ISSUER}/register"));
    assert_eq!(metadata["jwks_uri"], format!("{ISSUER}/jwks"));
    assert_eq!(metadata["introspection_endpoint"], format!("{ISSUER}/introspect"));
    assert_eq!(metadata["revocation_endpoint"], format!("{ISSUER}/revoke"));
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(metadata["response_modes_supported"], json!(["query"]));
    assert_eq!(metadata["grant_types_supported"], json!(["authorization_code", "refresh_token", "client_credentials"]));
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(metadata["scopes_supported"], json!(["mcp:read", "mcp:write", "mcp:admin", "offline_access"]));
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert!(metadata["protected_resources"].as_array().unwrap().contains(&json!("https://127.0.0.1:8443/mcp")));
    assert!(metadata.get("subject_types_supported").is_none(), "OIDC-only members stay out of RFC 8414 metadata");
    for endpoint in ["authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"] {
        assert!(metadata[endpoint].as_str().unwrap().starts_with("https://"), "AS-05: {endpoint} is https");
    }
}

#[tokio::test]
async fn openid_configuration_carries_pkce_and_oidc_members() {
    let lab = Lab::new();
    let metadata = lab.get("/.well-known/openid-configuration").await.json();
    assert_eq!(metadata["issuer"], ISSUER);
    // Requirements §7 item 13: without it MCP clients refuse an OIDC-only AS.
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["subject_types_supported"], json!(["public"]));
    assert!(metadata["id_token_signing_alg_values_supported"].as_array().unwrap().contains(&json!("RS256")));
    assert_eq!(metadata["jwks_uri"], format!("{ISSUER}/jwks"));
}

#[tokio::test]
async fn path_issuer_uses_path_insertion_and_oidc_path_appending() {
    let issuer = "https://127.0.0.1:9443/tenant1";
    let lab = Lab::with(|config| config.issuer = issuer.into());
    for url in [
        "/.well-known/oauth-authorization-server/tenant1",
        "/.well-known/openid-configuration/tenant1",
        "/tenant1/.well-known/openid-configuration",
    ] {
        let response = lab.get(url).await;
        assert_eq!(response.status, StatusCode::OK, "{url}");
        let metadata = response.json();
        assert_eq!(metadata["issuer"], issuer, "{url}");
        assert_eq!(metadata["authorization_endpoint"], format!("{issuer}/authorize"));
    }
    // A path issuer's metadata never lives at the root (CL-04 relies on that being a trap).
    assert_eq!(lab.get("/.well-known/oauth-authorization-server").await.status, StatusCode::NOT_FOUND);
    assert_eq!(lab.get("/authorize").await.status, StatusCode::NOT_FOUND);
    let jwks = lab.get("/tenant1/jwks").await;
    assert_eq!(jwks.status, StatusCode::OK);
}

#[tokio::test]
async fn issuer_must_be_https_without_query_or_trailing_slash() {
    for issuer in
        ["http://127.0.0.1:9443", "https://127.0.0.1:9443/", "https://127.0.0.1:9443?x=1", "https://", "127.0.0.1"]
    {
        let mut config = lab_auth_server::AuthServerConfig::canonical();
        config.issuer = issuer.into();
        let error = lab_auth_server::AuthServer::new(config).unwrap_err();
        assert!(error.to_string().contains(issuer), "{error}");
    }
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let lab = Lab::new();
    let jwks = lab.get("/jwks").await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].as_str().unwrap().starts_with("es256-"));
    assert!(key.get("d").is_none(), "no private member");
}

#[tokio::test]
async fn discovery_is_readable_cross_origin_but_authorize_is_not() {
    let lab = Lab::new();
    let origin = [("origin", "http://localhost:6274")];
    let metadata = lab.get_with("/.well-known/oauth-authorization-server", &origin).await;
    assert_eq!(metadata.header("access-control-allow-origin"), Some("*"));
    let preflight = lab
        .send(
            axum::http::Request::builder()
                .method("OPTIONS")
                .uri("/token")
                .header("origin", "http://localhost:6274")
                .header("access-control-request-method", "POST")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(preflight.status.is_success());
    assert!(preflight.header("access-control-allow-methods").unwrap().contains("POST"));
    // AS-23 / `cors-on-authorize`: no CORS on the authorization endpoint.
    let authorize = lab.get_with("/authorize?client_id=x", &[("origin", "https://evil.example")]).await;
    assert_eq!(authorize.header("access-control-allow-origin"), None);
}
