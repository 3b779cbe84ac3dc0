//! AS-36, AS-37, AS-41: dynamic client registration, client ID metadata documents, §6.6 rows.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use lab_auth_server::FetchError;
use serde_json::json;

use crate::support::{Lab, RS, pkce};

const DOC_URL: &str = "https://127.0.0.1:9446/client.json";

#[tokio::test]
async fn registration_echoes_every_registered_field() {
    let lab = Lab::new();
    let request = json!({
        "redirect_uris": ["http://127.0.0.1:53682/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Lab Client",
        "application_type": "native",
        "scope": "mcp:read mcp:write",
        "client_uri": "https://client.example",
        "x_unknown_member": {"ignored": true}
    });
    let response = lab.post_json("/register", &request).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    for field in [
        "redirect_uris",
        "token_endpoint_auth_method",
        "grant_types",
        "response_types",
        "client_name",
        "application_type",
        "scope",
        "client_uri",
    ] {
        assert_eq!(body[field], request[field], "{field} echoed");
    }
    assert!(body["client_id"].as_str().unwrap().starts_with("dcr-"));
    assert!(body.get("client_secret").is_none(), "public clients get no secret");
    assert!(body.get("client_secret_expires_at").is_none());
    assert!(body.get("x_unknown_member").is_none(), "unknown metadata is ignored, not stored");
    assert_eq!(body["client_id_issued_at"], crate::support::START);
}

#[tokio::test]
async fn omitted_auth_method_means_client_secret_basic() {
    let lab = Lab::new();
    let body = lab.post_json("/register", &json!({"redirect_uris":["http://127.0.0.1/callback"]})).await.json();
    // `dcr-default-auth-method` (RFC 7591 §2).
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["response_types"], json!(["code"]));
}

#[tokio::test]
async fn supplied_client_id_is_ignored() {
    let lab = Lab::new();
    let body = lab
        .post_json("/register", &json!({"client_id":"alice","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}))
        .await
        .json();
    // `dcr-client-id-squat`.
    assert_ne!(body["client_id"], "alice");
    assert!(body["client_id"].as_str().unwrap().starts_with("dcr-"));
}

#[tokio::test]
async fn bad_redirect_uris_are_refused() {
    let lab = Lab::new();
    for uri in [
        "http://evil.example/cb",
        "javascript:alert(1)",
        "/relative",
        "https://app.example/cb#frag",
        "https://*.evil/cb",
        "data:text/html,x",
        "file:///etc/passwd",
    ] {
        let response =
            lab.post_json("/register", &json!({"redirect_uris":[uri],"token_endpoint_auth_method":"none"})).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(response.error(), "invalid_redirect_uri", "{uri}");
    }
    let none = lab.post_json("/register", &json!({"token_endpoint_auth_method":"none"})).await;
    assert_eq!(none.error(), "invalid_redirect_uri");
}

#[tokio::test]
async fn bad_metadata_is_refused() {
    let lab = Lab::new();
    let uris = json!(["http://127.0.0.1/callback"]);
    for body in [
        json!({"redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"redirect_uris": uris, "token_endpoint_auth_method": "tls_client_auth"}),
        json!({"redirect_uris": uris, "response_types": ["token"]}),
        json!({"redirect_uris": uris, "grant_types": ["implicit"]}),
        json!({"redirect_uris": uris, "grant_types": ["password"]}),
        json!({"redirect_uris": uris, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
        json!({"redirect_uris": uris, "grant_types": ["authorization_code"], "response_types": []}),
        json!({"redirect_uris": uris, "scope": "mcp:read root"}),
        json!({"redirect_uris": uris, "application_type": "desktop"}),
        json!({"redirect_uris": "http://127.0.0.1/callback"}),
        json!({"redirect_uris": uris, "client_name": 7}),
        json!([1, 2]),
    ] {
        let response = lab.post_json("/register", &body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(response.error(), "invalid_client_metadata", "{body}");
    }
    let not_json = lab.post_raw("/register", "application/json", b"{not json".to_vec(), &[]).await;
    assert_eq!(not_json.error(), "invalid_client_metadata");
    let wrong_type = lab.post_raw("/register", "text/plain", b"{}".to_vec(), &[]).await;
    assert_eq!(wrong_type.error(), "invalid_client_metadata");
    let statement = lab.post_json("/register", &json!({"redirect_uris": uris, "software_statement": "eyJ..."})).await;
    assert_eq!(statement.error(), "unapproved_software_statement");
    let huge = lab.post_raw("/register", "application/json", vec![b' '; 80 * 1024], &[]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn client_credentials_only_registration_needs_no_redirect() {
    let lab = Lab::new();
    let response = lab
        .post_json(
            "/register",
            &json!({"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["response_types"], json!([]));
}

#[tokio::test]
async fn registration_floods_are_rate_limited() {
    let lab = Lab::new();
    for _ in 0..30 {
        lab.register_public().await;
    }
    // `dcr-flood`.
    let throttled = lab.post_json("/register", &json!({"redirect_uris":["http://127.0.0.1/callback"]})).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.header("retry-after").is_some());
    lab.clock.advance(60);
    lab.register_public().await;
}

fn serve_document(lab: &Lab, url: &str, document: Result<Vec<u8>, FetchError>) {
    lab.fetcher.documents.lock().unwrap().insert(url.to_owned(), document);
}

fn document(client_id: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut document = json!({
        "client_id": client_id,
        "client_name": "Metadata Document Client",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"]
    });
    for (key, value) in extra.as_object().unwrap() {
        document[key] = value.clone();
    }
    serde_json::to_vec(&document).unwrap()
}

#[tokio::test]
async fn metadata_document_client_completes_the_flow() {
    let lab = Lab::auto();
    serve_document(&lab, DOC_URL, Ok(document(DOC_URL, json!({}))));
    let pkce = pkce();
    let code = lab.code(&lab.params(DOC_URL, &pkce.challenge)).await;
    let tokens = lab.redeem(DOC_URL, &code, &pkce.verifier).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    let (_, claims) = crate::support::jwt_parts(tokens.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], DOC_URL);
    assert_eq!(claims["aud"], RS);
}

#[tokio::test]
async fn metadata_document_page_shows_the_client_and_its_redirect_host() {
    let lab = Lab::new();
    serve_document(&lab, DOC_URL, Ok(document(DOC_URL, json!({}))));
    let page = lab.authorize(&lab.params(DOC_URL, &pkce().challenge)).await;
    assert_eq!(page.status, StatusCode::OK);
    // `cimd-localhost-impersonation`: hostname shown, localhost warning, nothing auto-approved.
    assert!(page.text().contains("Metadata Document Client"));
    assert!(page.text().contains("<strong>127.0.0.1</strong>"));
    assert!(page.text().contains("<strong>localhost</strong>"));
    assert_eq!(page.location(), None);
}

/// Asserts a refused metadata-document authorization: a page, no redirect.
fn assert_refused(response: &crate::support::Resp) {
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.text());
    assert_eq!(response.location(), None);
}

#[tokio::test]
async fn metadata_document_rules_are_enforced() {
    let lab = Lab::auto();
    let cases = [
        // `cimd-client-id-mismatch`.
        ("https://127.0.0.1:9446/mismatch.json", json!({"client_id": "https://127.0.0.1:9446/other.json"})),
        // `cimd-symmetric-auth`.
        ("https://127.0.0.1:9446/symmetric.json", json!({"token_endpoint_auth_method": "client_secret_basic"})),
        ("https://127.0.0.1:9446/secret.json", json!({"client_secret": "s"})),
        ("https://127.0.0.1:9446/noname.json", json!({"client_name": ""})),
        ("https://127.0.0.1:9446/badredirect.json", json!({"redirect_uris": ["http://evil.example/cb"]})),
    ];
    for (url, extra) in cases {
        let mut bytes = document(url, json!({}));
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for (key, item) in extra.as_object().unwrap() {
            value[key] = item.clone();
        }
        bytes = serde_json::to_vec(&value).unwrap();
        serve_document(&lab, url, Ok(bytes));
        assert_refused(&lab.authorize(&lab.params(url, &pkce().challenge)).await);
    }
    // `cimd-redirect-not-listed`.
    serve_document(&lab, DOC_URL, Ok(document(DOC_URL, json!({}))));
    assert_refused(
        &lab.authorize(&lab.params(DOC_URL, &pkce().challenge).set("redirect_uri", "http://127.0.0.1:5/elsewhere"))
            .await,
    );
    // `cimd-oversize`, unreachable, redirecting, not JSON.
    for (url, answer) in [
        ("https://127.0.0.1:9446/big.json", Err(FetchError::TooLarge)),
        ("https://127.0.0.1:9446/gone.json", Err(FetchError::Status(404))),
        ("https://127.0.0.1:9446/moved.json", Err(FetchError::Redirect)),
        ("https://127.0.0.1:9446/text.json", Ok(b"hello".to_vec())),
    ] {
        serve_document(&lab, url, answer);
        assert_refused(&lab.authorize(&lab.params(url, &pkce().challenge)).await);
    }
}

#[tokio::test]
async fn metadata_document_urls_are_checked_before_any_fetch() {
    let lab = Lab::auto();
    for url in [
        // `cimd-ssrf`: the canary and cloud metadata are never contacted.
        "https://127.0.0.2:7777/c.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.2]:7777/c.json",
        // `cimd-bad-client-id-url`.
        "http://127.0.0.1:9446/client.json",
        "https://127.0.0.1:9446",
        "https://127.0.0.1:9446/a/../x.json",
        "https://127.0.0.1:9446/x.json#f",
        "https://u:p@127.0.0.1:9446/x.json",
    ] {
        assert_refused(&lab.authorize(&lab.params(url, &pkce().challenge)).await);
    }
    assert_eq!(lab.fetcher.fetches.load(Ordering::SeqCst), 0, "nothing was fetched");
}

#[tokio::test]
async fn application_type_constrains_the_redirect_uris() {
    // SEP-837 after OIDC Dynamic Client Registration §2: native is loopback, web is https.
    let lab = Lab::new();
    let register = |application_type: Option<&str>, uri: &str| {
        let mut request = json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"});
        if let Some(application_type) = application_type {
            request["application_type"] = json!(application_type);
        }
        request
    };
    for (application_type, uri, created) in [
        (Some("native"), "http://127.0.0.1:53682/callback", true),
        (Some("native"), "http://localhost/callback", true),
        (Some("native"), "https://client.example/callback", false),
        (Some("web"), "https://client.example/callback", true),
        (Some("web"), "http://127.0.0.1:53682/callback", false),
        (Some("web"), "https://localhost/callback", false),
        // A 2025-11-25 client that names no type is held to the general rules only.
        (None, "http://127.0.0.1:53682/callback", true),
        (None, "https://client.example/callback", true),
    ] {
        let response = lab.post_json("/register", &register(application_type, uri)).await;
        if created {
            assert_eq!(response.status, StatusCode::CREATED, "{application_type:?} {uri}: {}", response.text());
        } else {
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{application_type:?} {uri}");
            assert_eq!(response.json()["error"], "invalid_redirect_uri", "{application_type:?} {uri}");
        }
    }
}
