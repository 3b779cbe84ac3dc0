//! AS-06…AS-16, AS-22, AS-40: the authorization endpoint, in headless mode (the consent page has
//! its own module), and the §6.2 attack rows.

use axum::http::StatusCode;

use crate::support::{ISSUER, Lab, REDIRECT, RS, TWIN, jwt_parts, pkce};

/// Asserts an error redirect back to the client with `state` and `iss` and no code.
fn assert_error_redirect(response: &crate::support::Resp, error: &str) {
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
    let location = response.location().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(response.redirect_param("error").as_deref(), Some(error), "{location}");
    assert_eq!(response.redirect_param("state").as_deref(), Some("state-123"), "{location}");
    assert_eq!(response.redirect_param("iss").as_deref(), Some(ISSUER), "{location}");
    assert_eq!(response.redirect_param("code"), None);
}

/// Asserts an error page: 400, no `Location`, no code anywhere.
fn assert_error_page(response: &crate::support::Resp) {
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.text());
    assert_eq!(response.location(), None);
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert!(response.text().contains("cannot continue"));
}

#[tokio::test]
async fn conforming_request_redirects_with_code_state_and_iss() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let state = "a b+c/d=é&x";
    let response = lab.authorize(&lab.params(&client_id, &pkce.challenge).set("state", state)).await;
    assert_eq!(response.status, StatusCode::FOUND);
    // AS-13: exact echo; AS-14: iss on success.
    assert_eq!(response.redirect_param("state").as_deref(), Some(state));
    assert_eq!(response.redirect_param("iss").as_deref(), Some(ISSUER));
    let code = response.redirect_param("code").unwrap();
    // AS-34: 256 random bits, base64url.
    assert_eq!(code.len(), 43);
    assert!(!response.text().contains(&pkce.challenge), "AS-12: the challenge is never echoed");
    assert!(!response.location().unwrap().contains(&pkce.challenge));
}

#[tokio::test]
async fn pkce_missing_challenge_is_refused() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let response =
        lab.authorize(&lab.params(&client_id, "x").remove("code_challenge").remove("code_challenge_method")).await;
    assert_error_redirect(&response, "invalid_request");
    assert_eq!(response.redirect_param("error_description").as_deref(), Some("code challenge required"));
}

#[tokio::test]
async fn pkce_plain_and_omitted_method_are_refused() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let verifier = pkce().verifier;
    let plain = lab.authorize(&lab.params(&client_id, &verifier).set("code_challenge_method", "plain")).await;
    assert_error_redirect(&plain, "invalid_request");
    assert!(plain.redirect_param("error_description").unwrap().contains("transform algorithm not supported"));
    // O21 §4.1.1: an absent method means plain.
    let omitted = lab.authorize(&lab.params(&client_id, &pkce().challenge).remove("code_challenge_method")).await;
    assert_error_redirect(&omitted, "invalid_request");
    let unknown = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("code_challenge_method", "S512")).await;
    assert_error_redirect(&unknown, "invalid_request");
    let lower = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("code_challenge_method", "s256")).await;
    assert_error_redirect(&lower, "invalid_request");
}

#[tokio::test]
async fn pkce_malformed_challenge_is_refused() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let base = pkce().challenge;
    for challenge in ["abcdefghij".to_owned(), format!("{}+", &base[..42]), format!("{base}="), format!("{base}a")] {
        let response = lab.authorize(&lab.params(&client_id, &challenge)).await;
        assert_error_redirect(&response, "invalid_request");
    }
}

#[tokio::test]
async fn pkce_constant_challenge_is_refused_the_second_time() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    let again = lab.authorize(&lab.params(&client_id, &pkce.challenge)).await;
    assert_error_redirect(&again, "invalid_request");
    assert!(again.redirect_param("error_description").unwrap().contains("used before"));
}

#[tokio::test]
async fn redirect_uri_mismatch_is_shown_not_followed() {
    let lab = Lab::auto();
    let registered = "https://app.example/cb";
    let client = lab
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris":[registered, "http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","client_name":"X"}),
        )
        .await
        .json();
    let client_id = client["client_id"].as_str().unwrap();
    for variant in [
        "https://app.example/cb/extra",
        "https://app.example/cb?x=1",
        "https://app.example/cb/",
        "https://APP.example/cb",
        "http://app.example/cb",
        "https://evil.example/cb",
        "https://app.example:444/cb",
        "http://127.0.0.1:53682/callback/x",
        "http://localhost:53682/callback",
    ] {
        let response = lab.authorize(&lab.params(client_id, &pkce().challenge).set("redirect_uri", variant)).await;
        assert_error_page(&response);
    }
    let exact = lab.authorize(&lab.params(client_id, &pkce().challenge).set("redirect_uri", registered)).await;
    assert_eq!(exact.status, StatusCode::FOUND);
    assert!(exact.location().unwrap().starts_with("https://app.example/cb?code="));
}

#[tokio::test]
async fn loopback_redirect_port_may_vary() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await; // registered http://127.0.0.1/callback
    for redirect in ["http://127.0.0.1:53682/callback", "http://127.0.0.1:1/callback", "http://127.0.0.1/callback"] {
        let response = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("redirect_uri", redirect)).await;
        assert_eq!(response.status, StatusCode::FOUND, "{redirect}");
        assert!(response.location().unwrap().starts_with(redirect));
    }
}

#[tokio::test]
async fn unknown_or_missing_client_and_redirect_get_a_page() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let challenge = pkce().challenge;
    let unknown = lab
        .authorize(&lab.params("does-not-exist", &challenge).set("redirect_uri", "https://attacker.example/cb"))
        .await;
    assert_error_page(&unknown);
    assert_error_page(&lab.authorize(&lab.params(&client_id, &challenge).remove("client_id")).await);
    assert_error_page(&lab.authorize(&lab.params(&client_id, &challenge).remove("redirect_uri")).await);
    assert_error_page(&lab.authorize(&lab.params(&client_id, &challenge).add("client_id", &client_id)).await);
    assert_error_page(&lab.authorize(&lab.params(&client_id, &challenge).add("redirect_uri", REDIRECT)).await);
    // The RS's introspection client has no redirect URIs and cannot authorize.
    assert_error_page(&lab.authorize(&lab.params("lab-rs", &challenge)).await);
    // Garbage percent-encoding that decodes to invalid UTF-8.
    let garbage = lab.get("/authorize?client_id=%ff%fe").await;
    assert_error_page(&garbage);
    let json = lab.get_with("/authorize?client_id=nope", &[("accept", "application/json")]).await;
    assert_eq!(json.status, StatusCode::BAD_REQUEST);
    assert_eq!(json.error(), "invalid_client");
}

#[tokio::test]
async fn implicit_and_unknown_response_types_are_refused() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let token = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("response_type", "token")).await;
    assert_error_redirect(&token, "unsupported_response_type");
    let missing = lab.authorize(&lab.params(&client_id, &pkce().challenge).remove("response_type")).await;
    assert_error_redirect(&missing, "invalid_request");
}

#[tokio::test]
async fn resource_must_be_one_known_absolute_uri() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    for resource in
        ["https://evil.example/mcp", "https://127.0.0.1:8443/mcp#x", "mcp.example.com", "https://127.0.0.1:8443/mcp/"]
    {
        let response = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("resource", resource)).await;
        assert_error_redirect(&response, "invalid_target");
    }
    let missing = lab.authorize(&lab.params(&client_id, &pkce().challenge).remove("resource")).await;
    assert_error_redirect(&missing, "invalid_target");
    let two = lab.authorize(&lab.params(&client_id, &pkce().challenge).add("resource", TWIN)).await;
    assert_error_redirect(&two, "invalid_target");
    // MCP-1125: upper-case scheme and host are accepted and canonicalised.
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge).set("resource", "HTTPS://127.0.0.1:8443/mcp")).await;
    let tokens = lab.redeem(&client_id, &code, &pkce.verifier).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    let (_, claims) = jwt_parts(tokens.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], RS);
}

#[tokio::test]
async fn scopes_are_validated_against_the_vocabulary_the_client_and_the_user() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    for scope in ["*", "mcp:*", "openid", "mcp:read mcp:everything"] {
        let response = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("scope", scope)).await;
        assert_error_redirect(&response, "invalid_scope");
    }
    // Alice is a customer: never mcp:admin.
    let admin = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("scope", "mcp:read mcp:admin")).await;
    assert_error_redirect(&admin, "invalid_scope");
    assert!(admin.redirect_param("error_description").unwrap().contains("mcp:admin"));
    // Carol is the admin.
    let carol = lab
        .authorize(&lab.params(&client_id, &pkce().challenge).set("scope", "mcp:admin").set("login_hint", "carol"))
        .await;
    assert_eq!(carol.status, StatusCode::FOUND);
    assert!(carol.redirect_param("code").is_some());
    // A client registered for mcp:read only cannot ask for mcp:write.
    let narrow = lab
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","scope":"mcp:read"}),
        )
        .await
        .json();
    let response = lab
        .authorize(&lab.params(narrow["client_id"].as_str().unwrap(), &pkce().challenge).set("scope", "mcp:write"))
        .await;
    assert_error_redirect(&response, "invalid_scope");
}

#[tokio::test]
async fn no_scope_means_the_minimal_default() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge).remove("scope")).await;
    let tokens = lab.redeem(&client_id, &code, &pkce.verifier).await.json();
    assert_eq!(tokens["scope"], "mcp:read");
}

#[tokio::test]
async fn login_hint_picks_the_seeded_user_in_headless_mode() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge).set("login_hint", "bob")).await;
    let tokens = lab.redeem(&client_id, &code, &pkce.verifier).await.json();
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "bob");
    let nobody =
        lab.authorize(&lab.params(&client_id, &crate::support::pkce().challenge).set("login_hint", "mallory")).await;
    assert_error_redirect(&nobody, "access_denied");
}

#[tokio::test]
async fn duplicated_parameters_are_invalid_requests() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let challenge = pkce().challenge;
    let response = lab.authorize(&lab.params(&client_id, &challenge).add("code_challenge", &pkce().challenge)).await;
    assert_error_redirect(&response, "invalid_request");
    let scope = lab.authorize(&lab.params(&client_id, &pkce().challenge).add("scope", "mcp:write")).await;
    assert_error_redirect(&scope, "invalid_request");
}

#[tokio::test]
async fn confidential_clients_may_skip_pkce_but_public_ones_may_not() {
    let lab = Lab::auto();
    let params = lab.params("lab-confidential-client", "x").remove("code_challenge").remove("code_challenge_method");
    let response = lab.authorize(&params).await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert!(response.redirect_param("code").is_some());
    let public = lab
        .authorize(&lab.params("lab-public-client", "x").remove("code_challenge").remove("code_challenge_method"))
        .await;
    assert_error_redirect(&public, "invalid_request");
}

/// RFC 9700 §4.11.2: an error for a client anyone could register with an https redirect of its own
/// is shown as a page, never redirected before the user saw anything (the AS would be an open
/// redirector); a pre-registered client's or a loopback redirect still gets the error redirect.
#[tokio::test]
async fn errors_are_redirected_only_to_trusted_redirect_uris() {
    let lab = Lab::auto();
    let attacker = lab
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris": ["https://attacker.example/cb"], "token_endpoint_auth_method": "none"}),
        )
        .await
        .json();
    let attacker = attacker["client_id"].as_str().unwrap();
    let bogus = |client_id: &str, redirect: &str| {
        lab.params(client_id, &pkce().challenge).set("redirect_uri", redirect).set("response_type", "token")
    };
    let page = lab.authorize(&bogus(attacker, "https://attacker.example/cb")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text());
    assert_eq!(page.location(), None, "no redirect to the attacker's URI");
    let loopback = lab.register_public().await;
    let redirected = lab.authorize(&bogus(&loopback, REDIRECT)).await;
    assert_eq!(redirected.status, StatusCode::FOUND);
    assert_eq!(redirected.redirect_param("error").as_deref(), Some("unsupported_response_type"));
}
