//! Each fault profile does what its name says, and only that: the weak ones let the matching
//! attack succeed (so scenarios can tell defended from vulnerable), the hostile ones break what a
//! client must check.

use axum::http::StatusCode;
use lab_auth_server::AsProfile;
use serde_json::json;

use crate::support::{ISSUER, Lab, RS, TWIN, jwt_parts, pkce};

fn lab_with(profile: AsProfile) -> Lab {
    Lab::with(|config| {
        config.profile = profile;
        config.auto_approve = Some("alice".into());
    })
}

#[tokio::test]
async fn default_profile_is_conforming_and_profiles_can_be_switched() {
    let lab = Lab::new();
    assert_eq!(lab.server.profile(), AsProfile::Conforming);
    lab.server.set_profile(AsProfile::IssuerMismatch);
    assert_eq!(lab.get("/.well-known/oauth-authorization-server").await.json()["issuer"], "https://honest.example");
    lab.server.set_profile(AsProfile::Conforming);
    assert_eq!(lab.get("/.well-known/oauth-authorization-server").await.json()["issuer"], ISSUER);
}

#[tokio::test]
async fn issuer_mismatch_lies_in_both_documents() {
    let lab = lab_with(AsProfile::IssuerMismatch);
    for url in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let metadata = lab.get(url).await.json();
        assert_eq!(metadata["issuer"], AsProfile::MISMATCHED_ISSUER);
        assert_eq!(metadata["token_endpoint"], format!("{ISSUER}/token"));
    }
}

#[tokio::test]
async fn no_s256_advertised_omits_the_field() {
    let lab = lab_with(AsProfile::NoS256Advertised);
    for url in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let metadata = lab.get(url).await.json();
        assert!(metadata.get("code_challenge_methods_supported").is_none(), "{url}");
    }
}

#[tokio::test]
async fn missing_iss_omits_iss_while_advertising_it() {
    let lab = lab_with(AsProfile::MissingIss);
    assert_eq!(
        lab.get("/.well-known/oauth-authorization-server").await.json()["authorization_response_iss_parameter_supported"],
        true
    );
    let client_id = lab.register_public().await;
    let response = lab.authorize(&lab.params(&client_id, &pkce().challenge)).await;
    assert!(response.redirect_param("code").is_some());
    assert_eq!(response.redirect_param("iss"), None);
    let error = lab.authorize(&lab.params(&client_id, "bad")).await;
    assert_eq!(error.redirect_param("iss"), None);
}

#[tokio::test]
async fn wrong_iss_names_another_issuer() {
    let lab = lab_with(AsProfile::WrongIss);
    let client_id = lab.register_public().await;
    let response = lab.authorize(&lab.params(&client_id, &pkce().challenge)).await;
    assert_eq!(response.redirect_param("iss").as_deref(), Some(AsProfile::WRONG_ISS));
}

#[tokio::test]
async fn accept_plain_pkce_lets_the_downgrade_through() {
    let lab = lab_with(AsProfile::AcceptPlainPkce);
    assert_eq!(
        lab.get("/.well-known/oauth-authorization-server").await.json()["code_challenge_methods_supported"],
        json!(["S256", "plain"])
    );
    let client_id = lab.register_public().await;
    let verifier = pkce().verifier;
    // The method omitted means plain, and the weak AS accepts it.
    let code = lab.code(&lab.params(&client_id, &verifier).remove("code_challenge_method")).await;
    let response = lab.redeem(&client_id, &code, &verifier).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    // The conforming AS refuses the same request.
    let strict = Lab::auto();
    let strict_client = strict.register_public().await;
    let refused =
        strict.authorize(&strict.params(&strict_client, &pkce().verifier).remove("code_challenge_method")).await;
    assert_eq!(refused.redirect_param("error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn no_code_replay_check_redeems_twice() {
    let lab = lab_with(AsProfile::NoCodeReplayCheck);
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge)).await;
    let first = lab.redeem(&client_id, &code, &pkce.verifier).await.json();
    let second = lab.redeem(&client_id, &code, &pkce.verifier).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(lab.introspect(first["access_token"].as_str().unwrap()).await.json()["active"], true, "nothing revoked");
}

#[tokio::test]
async fn no_refresh_rotation_keeps_the_old_token_working() {
    let lab = lab_with(AsProfile::NoRefreshRotation);
    let (client_id, tokens) = lab.tokens("mcp:read").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let first = lab.refresh(&client_id, rt, &[]).await.json();
    assert_eq!(first["refresh_token"], rt, "not rotated");
    let replay = lab.refresh(&client_id, rt, &[]).await;
    assert_eq!(replay.status, StatusCode::OK, "reuse not detected");
}

#[tokio::test]
async fn ignore_resource_mints_tokens_for_every_resource() {
    let lab = lab_with(AsProfile::IgnoreResource);
    let client_id = lab.register_public().await;
    let pkce = pkce();
    let code = lab.code(&lab.params(&client_id, &pkce.challenge).remove("resource")).await;
    let response = lab
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let (_, claims) = jwt_parts(response.json()["access_token"].as_str().unwrap());
    let audiences = claims["aud"].as_array().unwrap();
    assert!(audiences.contains(&json!(RS)) && audiences.contains(&json!(TWIN)));
}

#[tokio::test]
async fn oidc_only_metadata_hides_rfc8414() {
    let lab = lab_with(AsProfile::OidcOnlyMetadata);
    assert_eq!(lab.get("/.well-known/oauth-authorization-server").await.status, StatusCode::NOT_FOUND);
    let oidc = lab.get("/.well-known/openid-configuration").await;
    assert_eq!(oidc.status, StatusCode::OK);
    assert_eq!(oidc.json()["code_challenge_methods_supported"], json!(["S256"]));
}
