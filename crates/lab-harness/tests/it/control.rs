//! The control API (`lab up --control`, issue 17): its router called with `oneshot`, every
//! effect checked where it matters, at the lab's AS and RS over real TLS; and the served API,
//! which exists only when asked for and opens only to its secret.

use anyhow::{Context, ensure};
use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt as _;
use lab_harness::{ControlSecret, LabConfig, RunningLab};
use lab_proto::pkce::{generate_verifier, s256_challenge};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{REDIRECT_URI, TempDir, authorize, code_from, lab_with, redeem, register_public_client, rs_status};

const SECRET: &str = "a-test-secret-of-the-control-api";

async fn alice_lab() -> anyhow::Result<(RunningLab, Router)> {
    let lab = lab_with(LabConfig { auto_approve: Some("alice".to_owned()), ..LabConfig::ephemeral() }).await?;
    let control = lab.control_router(ControlSecret::new(SECRET));
    Ok((lab, control))
}

/// Calls the control router: `body` is sent as JSON when given.
async fn call(control: &Router, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(StatusCode, Value)> {
    let mut request =
        axum::http::Request::builder().method(method).uri(path).header("authorization", format!("Bearer {SECRET}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let response = control.clone().oneshot(request.body(body)?).await?;
    let status = StatusCode::from_u16(response.status().as_u16())?;
    let bytes = response.into_body().collect().await?.to_bytes();
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).context("not JSON")? };
    Ok((status, json))
}

/// A token minted by the control API with `request`'s fields.
async fn mint(control: &Router, request: Value) -> anyhow::Result<String> {
    let (status, body) = call(control, "POST", "/tokens", Some(request)).await?;
    ensure!(status == StatusCode::OK, "POST /tokens answered {status}: {body}");
    Ok(body["access_token"].as_str().context("no access_token")?.to_owned())
}

#[tokio::test]
async fn minted_tokens_are_the_ones_asked_for_and_the_rs_judges_them() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let good = mint(&control, json!({})).await?;
    ensure!(rs_status(&lab, &good).await? == StatusCode::OK, "the default token is a good one");
    // What an independent test suite could not do before: expiry, another audience, another `typ`,
    // each correctly signed, each refused by a conforming RS.
    let refused = [
        json!({"exp": "-120"}),
        json!({"nbf": "+600"}),
        json!({"aud": lab.twin_resource()}),
        json!({"typ": "JWT"}),
        json!({"typ": null}),
        json!({"iss": "https://evil.example"}),
        json!({"claims": {"client_id": null}}),
        json!({"key": "unknown-kid"}),
        json!({"key": "borrowed-kid"}),
        json!({"form": "tampered"}),
        json!({"form": "stripped"}),
        json!({"form": "zero-signature"}),
        json!({"form": "alg-none"}),
        json!({"form": "alg-none", "alg": "NONE"}),
        json!({"form": "hs256"}),
        json!({"form": "embedded-jwk"}),
        json!({"form": "jku"}),
        json!({"form": "x5u"}),
    ];
    for request in refused {
        let token = mint(&control, request.clone()).await?;
        let status = rs_status(&lab, &token).await?;
        ensure!(status == StatusCode::UNAUTHORIZED, "{request} must be refused, the RS answered {status}");
    }
    // Within the leeway the RS allows (requirements §0.4: 30 s), an expired token still serves.
    let within = mint(&control, json!({"exp": "-10"})).await?;
    ensure!(rs_status(&lab, &within).await? == StatusCode::OK);
    ensure!(lab.canary().hits() == 0, "a `jku` or `x5u` must not make the RS fetch anything");

    // The answer says what was signed: the claims and the header.
    let (_, body) =
        call(&control, "POST", "/tokens", Some(json!({"sub": "bob", "typ": "JWT", "exp": 2_000_000_000u64}))).await?;
    ensure!(body["claims"]["sub"] == "bob" && body["claims"]["exp"] == 2_000_000_000u64, "{body}");
    ensure!(body["header"]["typ"] == "JWT" && body["token_type"] == "Bearer", "{body}");
    Ok(())
}

#[tokio::test]
async fn a_moved_clock_expires_codes_and_tokens_everywhere() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let client = lab.http_client()?;
    let token = mint(&control, json!({})).await?;
    let client_id = register_public_client(&lab, &client).await?;
    let verifier = generate_verifier()?;
    let code = code_from(&lab, &authorize(&lab, &client, &client_id, &s256_challenge(verifier.secret())).await?)?;

    let (status, before) = call(&control, "GET", "/clock", None).await?;
    ensure!(status == StatusCode::OK && before["offset"] == 0, "{before}");
    // The code lives 60 s, the token 300 s and the leeway is 30 s: 400 s ends all three.
    let (status, after) = call(&control, "POST", "/clock", Some(json!({"advance": 400}))).await?;
    ensure!(status == StatusCode::OK && after["offset"] == 400, "{after}");
    ensure!(after["now"].as_u64() >= before["now"].as_u64().map(|now| now + 400), "{before} {after}");
    ensure!(lab.clock().offset() == 400, "the lab's one clock moved");

    let response = client
        .post(format!("{}/token", lab.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.secret()),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("resource", lab.resource()),
        ])
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    ensure!(status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant", "{status} {body}");
    ensure!(rs_status(&lab, &token).await? == StatusCode::UNAUTHORIZED, "the token expired at the RS too");

    // `set` moves to a point in time; both ways of asking are bounded and exclusive.
    let target = after["now"].as_u64().context("now")? - 400;
    let (status, set) = call(&control, "POST", "/clock", Some(json!({"set": target}))).await?;
    ensure!(status == StatusCode::OK && set["now"].as_u64().is_some_and(|now| now.abs_diff(target) <= 2), "{set}");
    for bad in [
        json!({}),
        json!({"advance": 1, "set": 1}),
        json!({"advance": 999_999_999_999i64}),
        json!({"advance": i64::MIN}),
        json!({"set": u64::MAX}),
        json!({"by": 1}),
    ] {
        let (status, body) = call(&control, "POST", "/clock", Some(bad.clone())).await?;
        ensure!(status == StatusCode::BAD_REQUEST && body["error"] == "invalid_request", "{bad}: {status} {body}");
    }
    Ok(())
}

#[tokio::test]
async fn profiles_switch_at_run_time_and_a_bad_name_switches_nothing() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let elsewhere = mint(&control, json!({"aud": lab.twin_resource()})).await?;
    ensure!(rs_status(&lab, &elsewhere).await? == StatusCode::UNAUTHORIZED);

    let (status, body) =
        call(&control, "POST", "/profiles", Some(json!({"as": "accept-plain-pkce", "rs": "no-such"}))).await?;
    ensure!(status == StatusCode::BAD_REQUEST, "{status} {body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    ensure!(description.contains("skip-audience-check"), "the error lists the names: {description}");
    ensure!(lab.auth_server().profile().name() == "conforming", "nothing switched on a bad name");

    let (status, body) = call(&control, "POST", "/profiles", Some(json!({"rs": "skip-audience-check"}))).await?;
    ensure!(status == StatusCode::OK && body["rs"] == "skip-audience-check" && body["twin"] == "conforming", "{body}");
    ensure!(rs_status(&lab, &elsewhere).await? == StatusCode::OK, "the weak profile takes another audience's token");
    let (_, read) = call(&control, "GET", "/profiles", None).await?;
    ensure!(read["rs"] == "skip-audience-check" && read["available"]["as"].as_array().is_some_and(|all| all.len() > 1));
    Ok(())
}

#[tokio::test]
async fn revocation_and_rotation_take_effect_at_the_as_and_the_rs() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let client = lab.http_client()?;
    let client_id = register_public_client(&lab, &client).await?;
    let verifier = generate_verifier()?;
    let code = code_from(&lab, &authorize(&lab, &client, &client_id, &s256_challenge(verifier.secret())).await?)?;
    let tokens = redeem(&lab, &client, &client_id, &code, verifier.secret()).await?;
    let access = tokens["access_token"].as_str().context("access_token")?;
    let refresh = tokens["refresh_token"].as_str().context("refresh_token")?;
    ensure!(rs_status(&lab, access).await? == StatusCode::OK);

    // A refresh token takes its grant with it: the access token minted from it dies too.
    let (status, body) = call(&control, "POST", "/revoke", Some(json!({"token": refresh}))).await?;
    ensure!(status == StatusCode::OK && body["revoked"] == "refresh token", "{body}");
    ensure!(rs_status(&lab, access).await? == StatusCode::UNAUTHORIZED, "the RS heard of the revocation");
    let refreshed = client
        .post(format!("{}/token", lab.issuer()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client_id.as_str())])
        .send()
        .await?;
    ensure!(refreshed.status() == StatusCode::BAD_REQUEST, "a revoked refresh token is refused");
    let (_, body) = call(&control, "POST", "/revoke", Some(json!({"token": "nothing-the-lab-issued"}))).await?;
    ensure!(body["revoked"].is_null(), "{body}");

    // Rotation: the new key is published now and signs after the lead; a token of the retired
    // key verifies while the JWKS still lists it.
    let (status, none_yet) = call(&control, "POST", "/tokens", Some(json!({"key": "retired"}))).await?;
    ensure!(status == StatusCode::CONFLICT, "no retired key before a rotation: {status} {none_yet}");
    let (status, rotated) = call(&control, "POST", "/keys/rotate", None).await?;
    ensure!(status == StatusCode::OK, "{rotated}");
    let kid = rotated["kid"].as_str().context("kid")?;
    let lead = rotated["publication_lead_seconds"].as_i64().context("lead")?;
    call(&control, "POST", "/clock", Some(json!({"advance": lead + 1}))).await?;
    let (_, current) = call(&control, "POST", "/tokens", Some(json!({}))).await?;
    ensure!(current["header"]["kid"] == kid, "the new key signs now: {current}");
    let current = current["access_token"].as_str().context("token")?;
    ensure!(rs_status(&lab, current).await? == StatusCode::OK, "the RS finds the new key");
    let retired = mint(&control, json!({"key": "retired"})).await?;
    ensure!(rs_status(&lab, &retired).await? == StatusCode::OK, "a retiring key still verifies");
    let (status, body) = call(&control, "POST", "/keys/rotate", Some(json!({"alg": "HS256"}))).await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && body["error_description"].as_str().unwrap_or_default().contains("ES256")
    );
    Ok(())
}

#[tokio::test]
async fn the_request_log_and_a_reset() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let client = lab.http_client()?;
    let client_id = register_public_client(&lab, &client).await?;
    let token = mint(&control, json!({})).await?;
    rs_status(&lab, &token).await?;
    let (status, log) = call(&control, "GET", "/requests", None).await?;
    let records = log["requests"].as_array().context("requests")?;
    ensure!(status == StatusCode::OK, "{log}");
    ensure!(
        records.iter().any(|record| record["role"] == "resource server" && record["bearer"] == true),
        "the RS call is logged: {log}"
    );
    ensure!(!log.to_string().contains(&token), "the log never holds a token");

    call(&control, "POST", "/clock", Some(json!({"advance": 100}))).await?;
    let (status, body) =
        call(&control, "POST", "/profiles", Some(json!({"as": "accept-plain-pkce", "twin": "skip-audience-check"})))
            .await?;
    ensure!(status == StatusCode::OK && body["as"] == "accept-plain-pkce", "{body}");
    let (status, body) = call(&control, "POST", "/reset", None).await?;
    ensure!(status == StatusCode::OK && body["clock"]["offset"] == 0, "{body}");
    ensure!(body["profiles"]["as"] == "conforming" && body["profiles"]["twin"] == "conforming", "{body}");
    ensure!(lab.requests().records().is_empty(), "the log is empty after a reset");
    // The registered client is gone; the live token is revoked at the RS.
    let verifier = generate_verifier()?;
    let response = authorize(&lab, &client, &client_id, &s256_challenge(verifier.secret())).await?;
    ensure!(response.status() == StatusCode::BAD_REQUEST, "a client registered before the reset is unknown");
    ensure!(
        reset_ends_issued_and_keeps_minted(&lab, &control, &token).await?,
        "a token the AS issued before the reset is refused, a minted one is the caller's"
    );
    Ok(())
}

/// Tokens the control API mints are not recorded by the AS, so a reset (which revokes what the
/// AS recorded) leaves them; a token the AS issued in a grant is what a reset ends.
async fn reset_ends_issued_and_keeps_minted(lab: &RunningLab, control: &Router, minted: &str) -> anyhow::Result<bool> {
    let (status, tokens) = call(control, "POST", "/grants", Some(json!({}))).await?;
    ensure!(status == StatusCode::OK, "{tokens}");
    let issued = tokens["access_token"].as_str().context("access_token")?;
    ensure!(rs_status(lab, issued).await? == StatusCode::OK);
    call(control, "POST", "/reset", None).await?;
    ensure!(rs_status(lab, minted).await? == StatusCode::OK, "a minted token is the caller's to keep");
    Ok(rs_status(lab, issued).await? == StatusCode::UNAUTHORIZED)
}

#[tokio::test]
async fn codes_and_grants_come_from_the_as_own_endpoints() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let client = lab.http_client()?;
    // A code, with the verifier the API made, redeemed by the test as a client would.
    let (status, code) = call(&control, "POST", "/codes", Some(json!({"state": "s1"}))).await?;
    ensure!(status == StatusCode::OK && code["iss"] == lab.issuer() && code["state"] == "s1", "{code}");
    let verifier = code["code_verifier"].as_str().context("code_verifier")?;
    let tokens = redeem(&lab, &client, "lab-public-client", code["code"].as_str().context("code")?, verifier).await?;
    ensure!(rs_status(&lab, tokens["access_token"].as_str().context("token")?).await? == StatusCode::OK);

    // A code bound to the test's own challenge, which the clock then expires (code: 60 s).
    let verifier = generate_verifier()?;
    let (_, code) = call(
        &control,
        "POST",
        "/codes",
        Some(json!({"code_challenge": s256_challenge(verifier.secret()), "user": "bob"})),
    )
    .await?;
    ensure!(code.get("code_verifier").is_none(), "the test holds its own verifier: {code}");
    call(&control, "POST", "/clock", Some(json!({"advance": 61}))).await?;
    let response = client
        .post(format!("{}/token", lab.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code["code"].as_str().context("code")?),
            ("code_verifier", verifier.secret()),
            ("client_id", "lab-public-client"),
            ("redirect_uri", REDIRECT_URI),
            ("resource", lab.resource()),
        ])
        .send()
        .await?;
    ensure!(response.status() == StatusCode::BAD_REQUEST, "an expired code is refused");
    call(&control, "POST", "/clock", Some(json!({"advance": -61}))).await?;

    // The authorization endpoint's own checks apply.
    for (request, needle) in [
        (json!({"scope": "mcp:admin"}), "invalid_scope"),
        (json!({"client_id": "nobody"}), "client"),
        (json!({"redirect_uri": "https://evil.example/cb"}), "redirect_uri"),
        (json!({"user": "mallory"}), "access_denied"),
        (json!({"code_challenge_method": "plain", "code_challenge": "x".repeat(43)}), "invalid_request"),
        (json!({"client_secret": "x"}), "POST /grants"),
    ] {
        let (status, body) = call(&control, "POST", "/codes", Some(request.clone())).await?;
        let description = body["error_description"].as_str().unwrap_or_default();
        ensure!(status == StatusCode::BAD_REQUEST && description.contains(needle), "{request}: {status} {body}");
    }
    let (status, admin) =
        call(&control, "POST", "/codes", Some(json!({"user": "carol", "scope": "mcp:admin"}))).await?;
    ensure!(status == StatusCode::OK, "carol may hold mcp:admin: {admin}");

    // A grant: the token endpoint's own answer, recorded by the AS (introspection knows it).
    let (status, grant) =
        call(&control, "POST", "/grants", Some(json!({"client_id": "lab-confidential-client"}))).await?;
    ensure!(status == StatusCode::OK && grant["refresh_token"].is_string(), "{grant}");
    let access = grant["access_token"].as_str().context("access_token")?;
    let introspection: Value = client
        .post(format!("{}/introspect", lab.issuer()))
        .basic_auth("lab-rs", Some("lab-rs-secret"))
        .form(&[("token", access)])
        .send()
        .await?
        .json()
        .await?;
    ensure!(introspection["active"] == true, "{introspection}");
    let (status, body) = call(&control, "POST", "/revoke", Some(json!({"token": access}))).await?;
    ensure!(status == StatusCode::OK && body["revoked"] == "access token", "{body}");
    ensure!(rs_status(&lab, access).await? == StatusCode::UNAUTHORIZED);
    let (status, tenant) = call(&control, "POST", "/grants", Some(json!({"signer": "tenant"}))).await?;
    ensure!(status == StatusCode::OK, "{tenant}");
    Ok(())
}

#[tokio::test]
async fn a_metadata_document_added_for_a_test_is_what_the_as_fetches() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let document = json!({
        "client_name": "a test's client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let (status, added) =
        call(&control, "POST", "/client-documents", Some(json!({"name": "mine", "document": document}))).await?;
    ensure!(status == StatusCode::OK && added["client_id"] == added["url"], "{added}");
    let client_id = added["client_id"].as_str().context("client_id")?;
    ensure!(client_id.starts_with(&format!("https://{}/", lab.cimd_addr())), "{client_id}");
    let (status, grant) = call(&control, "POST", "/grants", Some(json!({"client_id": client_id}))).await?;
    ensure!(status == StatusCode::OK && grant["access_token"].is_string(), "{grant}");

    // CIMD §Client Metadata: a document whose `client_id` is not its URL is refused by the AS.
    let mut liar = document.clone();
    liar["client_id"] = json!("https://elsewhere.example/client.json");
    call(&control, "POST", "/client-documents", Some(json!({"name": "liar", "document": liar}))).await?;
    let liar_url = format!("https://{}/documents/liar", lab.cimd_addr());
    let (status, body) = call(&control, "POST", "/codes", Some(json!({"client_id": liar_url}))).await?;
    ensure!(status == StatusCode::BAD_REQUEST, "{status} {body}");
    for name in ["../x", "..", ".", "", "a/b", &"n".repeat(65)] {
        let (status, body) =
            call(&control, "POST", "/client-documents", Some(json!({"name": name, "document": {}}))).await?;
        ensure!(status == StatusCode::BAD_REQUEST, "{name:?}: {status} {body}");
    }
    // A reset forgets them.
    call(&control, "POST", "/reset", None).await?;
    let (status, _) = call(&control, "POST", "/codes", Some(json!({"client_id": client_id}))).await?;
    ensure!(status == StatusCode::BAD_REQUEST, "the document is gone after a reset");
    Ok(())
}

/// A reset moves the clock back; a token the AS issued must not come back to life with it, even
/// when the moved clock had already expired (and the AS pruned) its record, nor one revoked
/// before the move, whose revocation the resource server forgot when it expired.
#[tokio::test]
async fn a_reset_after_a_moved_clock_revives_no_token() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let (_, first) = call(&control, "POST", "/grants", Some(json!({}))).await?;
    let (_, second) = call(&control, "POST", "/grants", Some(json!({}))).await?;
    let first = first["access_token"].as_str().context("first")?.to_owned();
    let revoked = second["access_token"].as_str().context("second")?.to_owned();
    let (_, body) = call(&control, "POST", "/revoke", Some(json!({"token": revoked}))).await?;
    ensure!(body["revoked"] == "access token", "{body}");
    call(&control, "POST", "/clock", Some(json!({"advance": 400}))).await?;
    // Requests that make the AS and the RS prune by the moved clock.
    call(&control, "POST", "/grants", Some(json!({}))).await?;
    ensure!(rs_status(&lab, &first).await? == StatusCode::UNAUTHORIZED, "expired by the moved clock");
    let (status, body) = call(&control, "POST", "/reset", None).await?;
    ensure!(status == StatusCode::OK && body["clock"]["offset"] == 0, "{body}");
    ensure!(rs_status(&lab, &first).await? == StatusCode::UNAUTHORIZED, "the reset revoked the issued token");
    ensure!(rs_status(&lab, &revoked).await? == StatusCode::UNAUTHORIZED, "a revoked token stays revoked");
    Ok(())
}

#[tokio::test]
async fn tokens_without_typ_and_rotations_one_at_a_time() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    // `"typ": null` means no `typ` in whatever header a form writes.
    call(&control, "POST", "/keys/rotate", None).await?;
    let (status, body) = call(&control, "POST", "/keys/rotate", None).await?;
    ensure!(status == StatusCode::CONFLICT, "a second rotation before the first key signs: {status} {body}");
    call(&control, "POST", "/clock", Some(json!({"advance": 61}))).await?;
    for request in [
        json!({"typ": null}),
        json!({"typ": null, "form": "alg-none"}),
        json!({"typ": null, "key": "retired"}),
        json!({"typ": null, "key": "unknown-kid"}),
        json!({"typ": null, "form": "hs256"}),
        json!({"typ": null, "form": "embedded-jwk"}),
    ] {
        let (status, body) = call(&control, "POST", "/tokens", Some(request.clone())).await?;
        ensure!(status == StatusCode::OK && body["header"].get("typ").is_none(), "{request}: {body}");
        let token = body["access_token"].as_str().context("token")?;
        ensure!(rs_status(&lab, token).await? == StatusCode::UNAUTHORIZED, "{request}: RFC 9068 §4 needs at+jwt");
    }
    let (status, _) = call(&control, "POST", "/keys/rotate", None).await?;
    ensure!(status == StatusCode::OK, "once the key signs, another rotation may start");
    Ok(())
}

#[tokio::test]
async fn a_grant_for_a_client_that_posts_its_secret() -> anyhow::Result<()> {
    let (lab, control) = alice_lab().await?;
    let registration: Value = lab
        .http_client()?
        .post(format!("{}/register", lab.issuer()))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "posts its secret",
            "application_type": "native",
        }))
        .send()
        .await?
        .json()
        .await?;
    let client_id = registration["client_id"].as_str().context("client_id")?;
    let secret = registration["client_secret"].as_str().context("client_secret")?;
    let (status, grant) =
        call(&control, "POST", "/grants", Some(json!({"client_id": client_id, "client_secret": secret}))).await?;
    ensure!(status == StatusCode::OK && grant["access_token"].is_string(), "{status} {grant}");
    let (status, grant) =
        call(&control, "POST", "/grants", Some(json!({"client_id": client_id, "client_secret": "wrong"}))).await?;
    // RFC 6749 §5.2: 401 only for a client that authenticated by a header; this one posted.
    ensure!(status == StatusCode::BAD_REQUEST && grant["error"] == "invalid_client", "{status} {grant}");
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_clear_errors() -> anyhow::Result<()> {
    let (_lab, control) = alice_lab().await?;
    for (request, needle) in [
        (json!({"exp": "soon"}), "`exp` must be Unix seconds"),
        (json!({"exp": "-9223372036854775808"}), "more than ten years away"),
        (json!({"nbf": -5}), "`nbf` must be Unix seconds"),
        (json!({"expiry": 1}), "unknown field `expiry`"),
        (json!({"form": "broken"}), "unknown variant `broken`"),
        (json!({"key": "retired", "form": "hs256"}), "`key` chooses the key of a `signed` token"),
        (json!({"alg": "NONE"}), "`alg` is the spelling of `none`"),
        (json!({"signer": "elsewhere"}), "unknown variant `elsewhere`"),
    ] {
        let (status, body) = call(&control, "POST", "/tokens", Some(request.clone())).await?;
        let description = body["error_description"].as_str().unwrap_or_default();
        ensure!(status == StatusCode::BAD_REQUEST && description.contains(needle), "{request}: {status} {body}");
    }
    let (status, body) = call(&control, "GET", "/nowhere", None).await?;
    ensure!(status == StatusCode::NOT_FOUND && body["error"] == "not_found", "{status} {body}");

    let send = |content_type: &'static str, body: Vec<u8>| {
        let control = control.clone();
        async move {
            let request = axum::http::Request::post("/tokens")
                .header("authorization", format!("Bearer {SECRET}"))
                .header("content-type", content_type)
                .body(Body::from(body))?;
            anyhow::Ok(control.oneshot(request).await?.status().as_u16())
        }
    };
    ensure!(send("text/plain", b"{}".to_vec()).await? == 415, "JSON only");
    ensure!(send("application/json", b"{not json".to_vec()).await? == 400);
    let huge = format!("{{\"sub\": \"{}\"}}", "a".repeat(lab_harness::MAX_CONTROL_BODY));
    ensure!(send("application/json", huge.into_bytes()).await? == 413, "the body is bounded");
    Ok(())
}

#[tokio::test]
async fn without_the_secret_nothing_answers() -> anyhow::Result<()> {
    let (_lab, control) = alice_lab().await?;
    let longer = format!("Bearer {SECRET}x");
    let shorter = format!("Bearer {}", &SECRET[..SECRET.len() - 1]);
    let basic = format!("Basic {SECRET}");
    for authorization in [None, Some("Bearer wrong"), Some(&*basic), Some("Bearer "), Some(&*longer), Some(&*shorter)] {
        for (method, path) in [("GET", "/clock"), ("POST", "/reset"), ("GET", "/nowhere")] {
            let mut request = axum::http::Request::builder().method(method).uri(path);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = control.clone().oneshot(request.body(Body::empty())?).await?;
            ensure!(response.status() == 401, "{method} {path} with {authorization:?}: {}", response.status());
            ensure!(
                response.headers().get("www-authenticate").is_some_and(|value| value.as_bytes().starts_with(b"Bearer"))
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_api_is_served_only_with_the_flag_and_its_secret_is_kept_owner_only() -> anyhow::Result<()> {
    let plain = lab_with(LabConfig::ephemeral()).await?;
    ensure!(plain.control_url().is_none() && plain.control_secret().is_none(), "off unless asked for");
    plain.shutdown().await;

    let temp = TempDir::new("control")?;
    let lab = lab_with(LabConfig { control: true, cert_dir: Some(temp.0.clone()), ..LabConfig::ephemeral() }).await?;
    let url = lab.control_url().context("the control API is served")?;
    let secret = lab.control_secret().context("a secret")?.expose().to_owned();
    ensure!(secret.len() >= 40, "32 random bytes");
    let file = lab.control_token_file().context("the secret file")?.to_owned();
    ensure!(std::fs::read_to_string(&file)?.trim() == secret);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "the secret file is owner-only, not {mode:o}");
    }
    ensure!(!format!("{:?}", lab.control_secret()).contains(&secret), "Debug never prints the secret");

    let client = lab.http_client()?;
    let refused = client.get(format!("{url}/clock")).send().await?;
    ensure!(refused.status() == StatusCode::UNAUTHORIZED);
    let refused = client.get(format!("{url}/clock")).bearer_auth("wrong").send().await?;
    ensure!(refused.status() == StatusCode::UNAUTHORIZED);
    let index: Value = client.get(&url).bearer_auth(&secret).send().await?.error_for_status()?.json().await?;
    ensure!(index["resource"] == lab.resource() && index["issuer"] == lab.issuer(), "{index}");
    // Over TLS, minting and using a token end to end.
    let minted: Value = client
        .post(format!("{url}/tokens"))
        .bearer_auth(&secret)
        .json(&json!({"exp": "-3600"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = minted["access_token"].as_str().context("token")?;
    ensure!(rs_status(&lab, token).await? == StatusCode::UNAUTHORIZED);
    lab.shutdown().await;
    ensure!(!file.exists(), "the secret file goes with the lab");
    Ok(())
}
