//! AS-24…AS-35, AS-40, AS-41: the token endpoint, §6.4 and §6.5 rows.

use axum::http::StatusCode;
use lab_proto::basic;
use serde_json::json;

use crate::support::{ISSUER, Lab, REDIRECT, RS, TWIN, jwt_parts, pkce};

#[tokio::test]
async fn code_exchange_mints_an_rfc9068_token() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge).set("scope", "mcp:read mcp:write")).await;
    let response = lab.redeem(&client_id, &code, &pkce.verifier).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    // AS-30.
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "mcp:read mcp:write");
    // AS-34: 256 random bits, after the grant's id and a dot.
    let (grant_id, random) = body["refresh_token"].as_str().unwrap().split_once('.').unwrap();
    assert_eq!((grant_id.len(), random.len()), (22, 43), "AS-34: 256-bit refresh token");
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    // AS-35: RFC 9068 header and claims.
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks = lab.get("/jwks").await.json();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RS, "AS-29: aud = resource");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "mcp:read mcp:write");
    assert_eq!(claims["iat"], crate::support::START);
    assert_eq!(claims["exp"], crate::support::START + 300);
    assert_eq!(claims["auth_time"], crate::support::START);
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
}

#[tokio::test]
async fn every_signing_algorithm_can_be_selected() {
    for (alg, kty) in [("RS256", "RSA"), ("PS256", "RSA"), ("EdDSA", "OKP"), ("ES256", "EC")] {
        let lab = Lab::with(|config| {
            config.auto_approve = Some("alice".into());
            config.signing_alg = alg.parse().unwrap();
        });
        let (_, tokens) = lab.tokens("mcp:read").await;
        let (header, _) = jwt_parts(tokens["access_token"].as_str().unwrap());
        assert_eq!(header["alg"], alg);
        let jwks = lab.get("/jwks").await.json();
        assert_eq!(jwks["keys"][0]["kty"], kty);
        assert_eq!(jwks["keys"][0]["alg"], alg);
        let introspection = lab.introspect(tokens["access_token"].as_str().unwrap()).await.json();
        assert_eq!(introspection["active"], true, "{alg}");
    }
}

#[tokio::test]
async fn token_endpoint_is_post_only_and_ignores_unknown_parameters() {
    let lab = Lab::auto();
    let get = lab.get("/token?grant_type=authorization_code&code=x").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.header("allow"), Some("POST"));
    assert_eq!(get.error(), "invalid_request");
    assert_eq!(get.header("cache-control"), Some("no-store"));
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    let response = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
                ("resource", RS),
                ("x_vendor_extension", "1"),
                ("redirect_uri", ""),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[tokio::test]
async fn malformed_token_requests_get_invalid_request() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    // `token-duplicate-params`.
    let duplicated = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code", "other"),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
                ("resource", RS),
            ],
        )
        .await;
    assert_eq!(duplicated.status, StatusCode::BAD_REQUEST);
    assert_eq!(duplicated.error(), "invalid_request");
    assert_eq!(duplicated.header("cache-control"), Some("no-store"), "errors are not cached either");
    let missing_grant = lab.post_form("/token", &[("code", &code), ("client_id", &client_id)]).await;
    assert_eq!(missing_grant.error(), "invalid_request");
    let json_body =
        lab.post_raw("/token", "application/json", br#"{"grant_type":"authorization_code"}"#.to_vec(), &[]).await;
    assert_eq!(json_body.status, StatusCode::BAD_REQUEST);
    assert_eq!(json_body.error(), "invalid_request");
    let not_utf8 = lab.post_raw("/token", "application/x-www-form-urlencoded", b"grant_type=%ff".to_vec(), &[]).await;
    assert_eq!(not_utf8.error(), "invalid_request");
    let huge = lab.post_raw("/token", "application/x-www-form-urlencoded", vec![b'a'; 100 * 1024], &[]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.error(), "invalid_request");
    // The code survived all of that.
    assert_eq!(lab.redeem(&client_id, &code, &pkce.verifier).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unsupported_grants_are_refused() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    for grant in ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"] {
        let response = lab
            .post_form(
                "/token",
                &[("grant_type", grant), ("client_id", &client_id), ("username", "alice"), ("password", "alice-pass")],
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(response.error(), "unsupported_grant_type", "{grant}");
        assert!(!response.text().contains("access_token"));
    }
}

#[tokio::test]
async fn pkce_is_enforced_at_the_token_endpoint() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    // `code-interception-no-verifier`.
    let no_verifier = lab
        .post_form(
            "/token",
            &[("grant_type", "authorization_code"), ("code", &code), ("client_id", &client_id), ("resource", RS)],
        )
        .await;
    assert_eq!(no_verifier.error(), "invalid_request");
    // `code-interception-wrong-verifier`.
    let wrong = lab.redeem(&client_id, &code, &crate::support::pkce().verifier).await;
    assert_eq!(wrong.error(), "invalid_grant");
    let malformed = lab.redeem(&client_id, &code, "short").await;
    assert_eq!(malformed.error(), "invalid_grant");
    // The legitimate holder can still redeem (invalid attempts do not burn the code).
    assert_eq!(lab.redeem(&client_id, &code, &pkce.verifier).await.status, StatusCode::OK);
}

#[tokio::test]
async fn pkce_downgrade_verifier_without_challenge_is_refused() {
    let lab = Lab::auto();
    let params = lab.params("lab-confidential-client", "x").remove("code_challenge").remove("code_challenge_method");
    let code = lab.code(&params).await;
    let auth = basic::authorization("lab-confidential-client", "lab-confidential-secret");
    let downgrade = lab
        .post_form_with(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce().verifier),
                ("redirect_uri", REDIRECT),
                ("resource", RS),
            ],
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(downgrade.status, StatusCode::BAD_REQUEST);
    assert_eq!(downgrade.error(), "invalid_request");
    let without = lab
        .post_form_with(
            "/token",
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("resource", RS)],
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(without.status, StatusCode::OK, "{}", without.text());
}

#[tokio::test]
async fn code_replay_revokes_what_the_first_redemption_issued() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    let first = lab.redeem(&client_id, &code, &pkce.verifier).await.json();
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(lab.introspect(access_token).await.json()["active"], true);
    let replay = lab.redeem(&client_id, &code, &pkce.verifier).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.error(), "invalid_grant");
    // AS-27: the first tokens are revoked.
    assert_eq!(lab.introspect(access_token).await.json(), json!({"active": false}));
    let refresh = lab.refresh(&client_id, first["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!(refresh.error(), "invalid_grant");
}

#[tokio::test]
async fn invalid_replay_does_not_revoke() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    let first = lab.redeem(&client_id, &code, &pkce.verifier).await.json();
    // `code-replay-invalid-no-revoke`: an attacker without the verifier.
    let attacker = lab.redeem(&client_id, &code, &crate::support::pkce().verifier).await;
    assert_eq!(attacker.error(), "invalid_grant");
    assert_eq!(lab.introspect(first["access_token"].as_str().unwrap()).await.json()["active"], true);
}

#[tokio::test]
async fn codes_are_bound_to_client_lifetime_redirect_and_resource() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let other_client = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    // `code-wrong-client`.
    assert_eq!(lab.redeem(&other_client, &code, &pkce.verifier).await.error(), "invalid_grant");
    // `token-redirect-uri-mismatch`.
    let mismatch = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
                ("redirect_uri", "http://127.0.0.1:1/callback"),
                ("resource", RS),
            ],
        )
        .await;
    assert_eq!(mismatch.error(), "invalid_grant");
    // `token-resource-not-granted`.
    let twin = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
                ("resource", TWIN),
            ],
        )
        .await;
    assert_eq!(twin.error(), "invalid_target");
    let unknown = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
                ("resource", RS),
            ],
        )
        .await;
    assert_eq!(unknown.error(), "invalid_grant");
    // `code-expired`: the lab's codes live 60 s.
    lab.clock.advance(61);
    assert_eq!(lab.redeem(&client_id, &code, &pkce.verifier).await.error(), "invalid_grant");
}

#[tokio::test]
async fn distinct_resources_get_distinct_audiences() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge).set("resource", TWIN)).await;
    let response = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
                ("resource", TWIN),
            ],
        )
        .await;
    let (_, claims) = jwt_parts(response.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], TWIN);
    // The RS's introspection client does not see the twin's tokens as active.
    assert_eq!(
        lab.introspect(response.json()["access_token"].as_str().unwrap()).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn confidential_client_authentication() {
    let lab = Lab::auto();
    let params = lab.params("lab-confidential-client", &pkce().challenge);
    let pkce_pair = pkce();
    let code = lab.code(&params.set("code_challenge", &pkce_pair.challenge)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", pkce_pair.verifier.as_str()),
        ("resource", RS),
    ];
    // `client-auth-basic-failure`.
    let wrong = lab
        .post_form_with(
            "/token",
            &form,
            &[("authorization", &basic::authorization("lab-confidential-client", "wrong"))],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_client");
    assert_eq!(wrong.header("www-authenticate"), Some(format!("Basic realm=\"{ISSUER}\"").as_str()));
    // The registered method is basic: the secret in the body is refused.
    let mut post = form.to_vec();
    post.extend([("client_id", "lab-confidential-client"), ("client_secret", "lab-confidential-secret")]);
    assert_eq!(lab.post_form("/token", &post).await.error(), "invalid_client");
    // Without any secret.
    let mut public = form.to_vec();
    public.push(("client_id", "lab-confidential-client"));
    let unauthenticated = lab.post_form("/token", &public).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthenticated.error(), "invalid_client");
    // Two methods at once.
    let both = lab
        .post_form_with(
            "/token",
            &post,
            &[("authorization", &basic::authorization("lab-confidential-client", "lab-confidential-secret"))],
        )
        .await;
    assert_eq!(both.error(), "invalid_request");
    let ok = lab
        .post_form_with(
            "/token",
            &form,
            &[("authorization", &basic::authorization("lab-confidential-client", "lab-confidential-secret"))],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}

#[tokio::test]
async fn client_secret_post_clients_authenticate_in_the_body() {
    let lab = Lab::auto();
    let registered = lab
        .post_json(
            "/register",
            &json!({"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"client_secret_post","grant_types":["authorization_code"]}),
        )
        .await
        .json();
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let pkce = pkce();
    let code = lab.code(&lab.params(client_id, &pkce.challenge)).await;
    let response = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("client_id", client_id),
                ("client_secret", secret),
                ("resource", RS),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert!(response.json().get("refresh_token").is_none(), "no refresh_token grant registered, none issued");
}

#[tokio::test]
async fn client_credentials_only_for_confidential_clients() {
    let lab = Lab::new();
    let auth = basic::authorization("lab-confidential-client", "lab-confidential-secret");
    let response = lab
        .post_form_with(
            "/token",
            &[("grant_type", "client_credentials"), ("scope", "mcp:read"), ("resource", RS)],
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert!(body.get("refresh_token").is_none());
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    // RS-23 relies on this: a client acting for itself has sub = client_id.
    assert_eq!(claims["sub"], "lab-confidential-client");
    assert!(claims.get("auth_time").is_none());
    let public = lab
        .post_form(
            "/token",
            &[("grant_type", "client_credentials"), ("client_id", "lab-public-client"), ("resource", RS)],
        )
        .await;
    assert_eq!(public.error(), "unauthorized_client");
    let too_much = lab
        .post_form_with(
            "/token",
            &[("grant_type", "client_credentials"), ("scope", "mcp:admin"), ("resource", RS)],
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(too_much.error(), "invalid_scope");
    let no_resource =
        lab.post_form_with("/token", &[("grant_type", "client_credentials")], &[("authorization", &auth)]).await;
    assert_eq!(no_resource.error(), "invalid_target");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let lab = Lab::auto();
    let (client_id, first) = lab.tokens("mcp:read mcp:write").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let second = lab.refresh(&client_id, rt1, &[("resource", RS)]).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let second = second.json();
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "AS-33: rotated");
    let (_, claims) = jwt_parts(second["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], RS, "resource kept");
    // `refresh-replay-rotation`: replaying RT1 kills RT2 and the grant's access tokens.
    let replay = lab.refresh(&client_id, rt1, &[]).await;
    assert_eq!(replay.error(), "invalid_grant");
    assert_eq!(lab.refresh(&client_id, rt2, &[]).await.error(), "invalid_grant");
    assert_eq!(lab.introspect(second["access_token"].as_str().unwrap()).await.json(), json!({"active": false}));
    assert_eq!(lab.introspect(first["access_token"].as_str().unwrap()).await.json(), json!({"active": false}));
}

/// AS-33 holds however many rotations ago the reused token was: a grant keeps only its newest
/// refresh records, but an older token still names its grant, and its reuse revokes it.
#[tokio::test]
async fn reuse_of_a_token_rotated_long_ago_still_revokes_the_grant() {
    let lab = Lab::auto();
    let (client_id, first) = lab.tokens("mcp:read").await;
    let stolen = first["refresh_token"].as_str().unwrap().to_owned();
    let mut newest = stolen.clone();
    for _ in 0..6 {
        let next = lab.refresh(&client_id, &newest, &[]).await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.text());
        newest = next.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    // The grant's id, presented by another client, revokes nothing.
    let (other_client, tokens) = lab.tokens("mcp:read").await;
    let (grant_id, _) = stolen.split_once('.').unwrap();
    let foreign = lab.refresh(&other_client, &format!("{grant_id}.guess"), &[]).await;
    assert!(foreign.text().contains("unknown"), "{}", foreign.text());
    let survived = lab.refresh(&client_id, &newest, &[]).await;
    assert_eq!(survived.status, StatusCode::OK, "the grant survives another client");
    let newest = survived.json();
    let newest_access = newest["access_token"].as_str().unwrap().to_owned();
    let newest = newest["refresh_token"].as_str().unwrap().to_owned();
    // The stolen token, rotated out of the grant's records long ago, still revokes the family.
    let replay = lab.refresh(&client_id, &stolen, &[]).await;
    assert_eq!(replay.error(), "invalid_grant");
    assert!(replay.text().contains("already used"), "{}", replay.text());
    assert_eq!(lab.refresh(&client_id, &newest, &[]).await.error(), "invalid_grant", "the whole family is revoked");
    assert_eq!(lab.introspect(&newest_access).await.json(), json!({"active": false}), "its access tokens too");
    // A made-up token never revokes anything: only the grant's own holder knows its id.
    let live = tokens["refresh_token"].as_str().unwrap();
    assert!(lab.refresh(&other_client, "made-up.token", &[]).await.text().contains("unknown"));
    assert_eq!(lab.refresh(&other_client, live, &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_cannot_escalate_scope_resource_or_change_client() {
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    // `refresh-scope-escalation`.
    assert_eq!(lab.refresh(&client_id, rt, &[("scope", "mcp:read mcp:admin")]).await.error(), "invalid_scope");
    assert_eq!(lab.refresh(&client_id, rt, &[("scope", "mcp:write")]).await.error(), "invalid_scope");
    // `refresh-resource-escalation`.
    assert_eq!(lab.refresh(&client_id, rt, &[("resource", TWIN)]).await.error(), "invalid_target");
    // `refresh-wrong-client`.
    let other = lab.register_public().await;
    assert_eq!(lab.refresh(&other, rt, &[]).await.error(), "invalid_grant");
    // None of that consumed the token.
    assert_eq!(lab.refresh(&client_id, rt, &[("resource", RS)]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_can_narrow_scope() {
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read mcp:write").await;
    let narrowed =
        lab.refresh(&client_id, tokens["refresh_token"].as_str().unwrap(), &[("scope", "mcp:read")]).await.json();
    assert_eq!(narrowed["scope"], "mcp:read");
}

#[tokio::test]
async fn revoked_refresh_token_and_its_grant_stop_working() {
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let revoked = lab
        .post_form("/revoke", &[("token", rt), ("token_type_hint", "refresh_token"), ("client_id", &client_id)])
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    // `refresh-revoked-grant`.
    assert_eq!(lab.refresh(&client_id, rt, &[]).await.error(), "invalid_grant");
    assert_eq!(lab.introspect(tokens["access_token"].as_str().unwrap()).await.json(), json!({"active": false}));
}

#[tokio::test]
async fn refresh_tokens_expire_after_idle_time() {
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    lab.clock.advance(24 * 3600 + 1);
    assert_eq!(lab.refresh(&client_id, tokens["refresh_token"].as_str().unwrap(), &[]).await.error(), "invalid_grant");
}

#[tokio::test]
async fn failed_token_requests_are_rate_limited() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let guess = |code: String| {
        let client_id = client_id.clone();
        let lab = &lab;
        async move {
            lab.post_form(
                "/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", &"a".repeat(43)),
                    ("client_id", &client_id),
                    ("resource", RS),
                ],
            )
            .await
        }
    };
    // `token-endpoint-bruteforce`: 10 failures with one code are answered, the 11th is throttled.
    for _ in 0..10 {
        assert_eq!(guess("guess-0".to_owned()).await.error(), "invalid_grant");
    }
    let throttled = guess("guess-0".to_owned()).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // Another code of the same client is not locked out, nor is another client.
    assert_eq!(guess("guess-1".to_owned()).await.error(), "invalid_grant");
    let other = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&other, &pkce.challenge)).await;
    assert_eq!(lab.redeem(&other, &code, &pkce.verifier).await.status, StatusCode::OK);
    // The window slides on the shared clock.
    lab.clock.advance(60);
    assert_eq!(guess("guess-0".to_owned()).await.error(), "invalid_grant");
}

/// Issue 14, item 5: failures anyone can send in the name of a public client (bad codes, a wrong
/// verifier for a stolen code, malformed requests) never lock that client's honest users out of
/// redeeming their own code or refreshing their own token.
#[tokio::test]
async fn a_flood_of_failures_in_a_clients_name_locks_no_honest_user_out() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    // Alice's tokens, from the same client.
    let alices = crate::support::pkce();
    let alices_code = lab.code(&lab.params(&client_id, &alices.challenge)).await;
    let tokens = lab.redeem(&client_id, &alices_code, &alices.verifier).await.json();
    let flood = [
        vec![("grant_type", "authorization_code"), ("code", "bad-code"), ("code_verifier", "v")],
        vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", "wrong-verifier")],
        vec![("grant_type", "refresh_token"), ("refresh_token", "bad-refresh-token")],
        vec![("grant_type", "nonsense")],
        vec![("grant_type", "authorization_code")],
    ];
    for _ in 0..12 {
        for form in &flood {
            let mut form = form.clone();
            form.extend([("client_id", client_id.as_str()), ("resource", RS)]);
            let answer = lab.post_form("/token", &form).await;
            assert!(answer.status.is_client_error(), "{}", answer.text());
        }
    }
    // The verifier guesses against the stolen code are throttled by now, so the code's honest
    // holder waits like its attacker; every other credential of the client still works.
    let pkce = crate::support::pkce();
    let fresh = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    assert_eq!(lab.redeem(&client_id, &fresh, &pkce.verifier).await.status, StatusCode::OK);
    let refreshed = lab.refresh(&client_id, tokens["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
}

#[tokio::test]
async fn key_rotation_publishes_before_signing() {
    let lab = Lab::auto();
    let old_kid = lab.get("/jwks").await.json()["keys"][0]["kid"].as_str().unwrap().to_owned();
    let new_kid = lab.server.rotate_keys(lab_auth_server::SigningAlg::Es256).unwrap();
    let jwks = lab.get("/jwks").await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let (_, tokens) = lab.tokens("mcp:read").await;
    let (header, _) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(header["kid"], old_kid.as_str(), "the new key does not sign yet");
    lab.clock.advance(lab_auth_server::KEY_PUBLISH_LEAD_SECONDS as i64);
    let (_, tokens) = lab.tokens("mcp:read").await;
    let (header, _) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(header["kid"], new_kid.as_str());
    assert_eq!(lab.get("/jwks").await.json()["keys"].as_array().unwrap().len(), 2, "old key kept for its tokens");
    lab.clock.advance(331);
    let jwks = lab.get("/jwks").await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new_kid.as_str());
}

#[tokio::test]
async fn every_credential_of_a_flow_is_recognized_and_nothing_else_is() {
    let lab = Lab::auto();
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    let response = lab.redeem(&client_id, &code, &pkce.verifier).await;
    let tokens = response.json();
    let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let recognize = |candidate: &str| lab.server.recognize_credential(candidate);
    assert_eq!(recognize(access), Some("an access token"));
    assert_eq!(recognize(refresh), Some("a refresh token"));
    assert_eq!(recognize(&code), Some("an authorization code"), "a redeemed code is still known");
    assert_eq!(recognize(&pkce.verifier), Some("a PKCE code verifier"));
    // Lookalikes: the challenge, a tampered token, another verifier, ordinary words.
    // One signature character well inside the segment (the last one may carry unused bits).
    let at = access.len() - 10;
    let swapped = if &access[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &access[..at], &access[at + 1..]);
    for other in [pkce.challenge.as_str(), &tampered, &self::pkce().verifier, client_id.as_str(), "mcp:read"] {
        assert_eq!(recognize(other), None, "{other}");
    }
}

/// Issue 14, item 3: client-credentials tokens count against their client's own cap of live
/// grants: past it the client's oldest grant is revoked, nobody else's, and nobody gets 503.
#[tokio::test]
async fn one_clients_grants_are_capped_without_denying_anyone_else() {
    let lab = Lab::auto();
    let basic = lab_proto::basic::authorization(
        lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_ID,
        lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_SECRET,
    );
    let client_credentials = || async {
        let answer = lab
            .post_form_with(
                "/token",
                &[("grant_type", "client_credentials"), ("resource", RS)],
                &[("authorization", &basic)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        answer.json()["access_token"].as_str().unwrap().to_owned()
    };
    let (_, alices) = lab.tokens("mcp:read").await;
    let first = client_credentials().await;
    for _ in 0..1_000 {
        client_credentials().await;
    }
    assert_eq!(lab.introspect(&first).await.json()["active"], false, "the client's oldest grant made room");
    let alices = alices["access_token"].as_str().unwrap();
    assert_eq!(lab.introspect(alices).await.json()["active"], true, "alice's grant is untouched");
}

#[tokio::test]
async fn offline_access_is_granted_with_a_refresh_token_and_kept_from_the_resource() {
    // SEP-2207: listed in `scopes_supported`, granted on request (with the refresh token the
    // client's grant types allow), and no part of what the resource is told.
    let lab = Lab::auto();
    let (client_id, tokens) = lab.tokens("mcp:read offline_access").await;
    assert_eq!(tokens["scope"], "mcp:read offline_access");
    assert!(tokens["refresh_token"].is_string());
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:read");
    let introspected = lab.introspect(tokens["access_token"].as_str().unwrap()).await.json();
    assert_eq!(introspected["scope"], "mcp:read");
    // A refresh keeps the grant's scope, and may narrow it without offline_access.
    let refreshed = lab.refresh(&client_id, tokens["refresh_token"].as_str().unwrap(), &[]).await.json();
    assert_eq!(refreshed["scope"], "mcp:read offline_access");
    let narrowed =
        lab.refresh(&client_id, refreshed["refresh_token"].as_str().unwrap(), &[("scope", "mcp:read")]).await.json();
    assert_eq!(narrowed["scope"], "mcp:read");
    // Asked for alone, it comes with the default scope, which the access token carries.
    let (_, alone) = lab.tokens("offline_access").await;
    assert_eq!(alone["scope"], "mcp:read offline_access");
    assert_eq!(jwt_parts(alone["access_token"].as_str().unwrap()).1["scope"], "mcp:read");
    // Not asked for, the grant carries no offline_access, and cannot gain it by a refresh.
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    let widened = lab
        .refresh(&client_id, tokens["refresh_token"].as_str().unwrap(), &[("scope", "mcp:read offline_access")])
        .await;
    assert_eq!(widened.error(), "invalid_scope");
}
