//! RS-06, RS-08, RS-09, RS-11, RS-17: bearer verification and the §6.7 attack rows.

use axum::http::StatusCode;
use lab_auth_server::SigningAlg;
use lab_auth_server::keys::SigningKey;
use lab_proto::jose::b64url_encode;
use serde_json::{Value, json};

use crate::support::{ISSUER, Lab, Mode, RS, TWIN, UPSTREAM, assert_invalid_token, assert_no_token_challenge, ok_call};

/// Assembles a JWS from a header and claims with a given signature.
fn assemble(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes()),
        b64url_encode(signature)
    )
}

fn as_kid(lab: &Lab) -> String {
    lab.auth.jwks()["keys"][0]["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_real_token_is_accepted_and_the_scheme_is_case_insensitive() {
    let lab = Lab::new();
    let token = lab.alice().await;
    assert_eq!(ok_call(&lab, &token).await.status, StatusCode::OK);
    // `bearer-scheme-case` (RS-11).
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = lab
            .request(
                "POST",
                "/mcp",
                &[("authorization", &format!("{scheme} {token}"))],
                serde_json::to_vec(&crate::support::initialize("2025-11-25")).unwrap(),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn tokens_for_other_audiences_are_refused() {
    let lab = Lab::new();
    // `wrong-audience-twin-rs`, `counterfeit-rs-token-phish`.
    let twin = lab.token_for("alice", "mcp:read", TWIN).await;
    let response = ok_call(&lab, &twin).await;
    assert_invalid_token(&response);
    assert_eq!(response.challenge().param("error_description"), Some("token is for another resource"));
    // `foreign-audience-token`: the upstream API's audience.
    let upstream = lab.token_for("alice", "mcp:read", UPSTREAM).await;
    assert_invalid_token(&ok_call(&lab, &upstream).await);
}

#[tokio::test]
async fn audience_must_match_exactly() {
    let lab = Lab::new();
    // `aud-prefix-confusion`.
    for aud in [
        json!("https://127.0.0.1:8443"),
        json!("https://127.0.0.1:8443/mcp/"),
        json!("https://127.0.0.1:8443/mcp-evil"),
        json!("HTTPS://127.0.0.1:8443/mcp"),
        json!([TWIN]),
    ] {
        let mut claims = lab.claims();
        claims["aud"] = aud.clone();
        assert_invalid_token(&ok_call(&lab, &lab.mint("at+jwt", &claims)).await);
    }
    // An array that contains the RS is fine (RFC 7519 §4.1.3).
    let mut claims = lab.claims();
    claims["aud"] = json!([TWIN, RS]);
    assert_eq!(ok_call(&lab, &lab.mint("at+jwt", &claims)).await.status, StatusCode::OK);
    // `aud-missing`.
    let mut claims = lab.claims();
    claims.as_object_mut().unwrap().remove("aud");
    assert_invalid_token(&ok_call(&lab, &lab.mint("at+jwt", &claims)).await);
}

#[tokio::test]
async fn expiry_and_not_before_honour_the_leeway() {
    let lab = Lab::new();
    let now = lab.clock.now();
    // `expired-token`: exp = now − 120.
    let mut expired = lab.claims();
    expired["exp"] = json!(now - 120);
    let response = ok_call(&lab, &lab.mint("at+jwt", &expired)).await;
    assert_invalid_token(&response);
    assert_eq!(response.challenge().param("error_description"), Some("token expired"));
    // `not-yet-valid`: nbf = now + 600.
    let mut early = lab.claims();
    early["nbf"] = json!(now + 600);
    assert_invalid_token(&ok_call(&lab, &lab.mint("at+jwt", &early)).await);
    // Within the 30 s leeway both are accepted.
    let mut skewed = lab.claims();
    skewed["exp"] = json!(now - 10);
    skewed["nbf"] = json!(now + 10);
    assert_eq!(ok_call(&lab, &lab.mint("at+jwt", &skewed)).await.status, StatusCode::OK);
    // A real token dies when the shared clock passes exp + leeway.
    let token = lab.alice().await;
    lab.clock.advance(300 + 30);
    assert_invalid_token(&ok_call(&lab, &token).await);
}

#[tokio::test]
async fn alg_none_and_hmac_confusion_are_refused() {
    let lab = Lab::new();
    let kid = as_kid(&lab);
    // `alg-none`.
    let none = assemble(&json!({"alg":"none","typ":"at+jwt","kid":kid}), &lab.claims(), b"");
    assert_invalid_token(&ok_call(&lab, &none).await);
    // `alg-confusion-rs256-hs256`: HMAC keyed with the public key the AS publishes.
    let secret = lab.auth.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    let header = json!({"alg":"HS256","typ":"at+jwt","kid":kid});
    let input = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(lab.claims().to_string().as_bytes())
    );
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
        input.as_bytes(),
    );
    let hs256 = format!("{input}.{}", b64url_encode(tag.as_ref()));
    let response = ok_call(&lab, &hs256).await;
    assert_invalid_token(&response);
    assert_eq!(response.challenge().param("error_description"), Some("token algorithm is not allowed for its key"));
}

#[tokio::test]
async fn unknown_kids_cause_at_most_one_refetch() {
    let lab = Lab::new();
    let attacker = SigningKey::generate(SigningAlg::Es256).unwrap();
    assert_eq!(ok_call(&lab, &lab.alice().await).await.status, StatusCode::OK);
    let before = lab.keys.fetches.load(std::sync::atomic::Ordering::SeqCst);
    // `kid-unknown`: a flood of forged kids.
    for _ in 0..20 {
        let forged = attacker.sign_jwt("at+jwt", &lab.claims()).unwrap();
        let response = ok_call(&lab, &forged).await;
        assert_invalid_token(&response);
        assert_eq!(response.challenge().param("error_description"), Some("unknown key id"));
    }
    let after = lab.keys.fetches.load(std::sync::atomic::Ordering::SeqCst);
    assert!(after - before <= 1, "{} refetches for 20 unknown kids", after - before);
    // After the interval, one more refetch is allowed, still not one per token.
    lab.clock.advance(lab_mcp_server::MIN_REFETCH_SECONDS as i64);
    for _ in 0..5 {
        ok_call(&lab, &attacker.sign_jwt("at+jwt", &lab.claims()).unwrap()).await;
    }
    assert!(lab.keys.fetches.load(std::sync::atomic::Ordering::SeqCst) - after <= 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up() {
    let lab = Lab::new();
    assert_eq!(ok_call(&lab, &lab.alice().await).await.status, StatusCode::OK);
    lab.auth.rotate_keys(SigningAlg::Es256).unwrap();
    lab.clock.advance(lab_auth_server::KEY_PUBLISH_LEAD_SECONDS as i64);
    // The new kid is unknown to the RS's cache; one refetch finds it.
    assert_eq!(ok_call(&lab, &lab.alice().await).await.status, StatusCode::OK);
}

#[tokio::test]
async fn kid_injection_and_header_keys_are_refused_without_fetching() {
    let lab = Lab::new();
    let attacker = SigningKey::generate(SigningAlg::Es256).unwrap();
    // `kid-injection`.
    for kid in ["../../../dev/null", "' OR '1'='1", &"k".repeat(500)] {
        let token = assemble(&json!({"alg":"ES256","typ":"at+jwt","kid":kid}), &lab.claims(), &[0; 64]);
        assert_invalid_token(&ok_call(&lab, &token).await);
    }
    // `jku-x5u-injection` and `embedded-jwk`: keys and key URLs in the header are never used.
    let kid = as_kid(&lab);
    for extra in [
        json!({"jku": "http://127.0.0.2:7777/jwks.json"}),
        json!({"x5u": "http://127.0.0.2:7777/cert.pem"}),
        json!({"jwk": attacker.jwk()}),
        json!({"x5c": ["MIIB"]}),
    ] {
        let mut header = json!({"alg":"ES256","typ":"at+jwt","kid":kid});
        for (key, value) in extra.as_object().unwrap() {
            header[key] = value.clone();
        }
        let input = format!(
            "{}.{}",
            b64url_encode(header.to_string().as_bytes()),
            b64url_encode(lab.claims().to_string().as_bytes())
        );
        let token = format!("{input}.{}", b64url_encode(&[1; 64]));
        let response = ok_call(&lab, &token).await;
        assert_invalid_token(&response);
        assert!(response.challenge().param("error_description").unwrap().contains("never trusted"));
    }
}

#[tokio::test]
async fn wrong_type_issuer_and_tampering_are_refused() {
    let lab = Lab::new();
    // `typ-confusion`: a correctly signed JWT that is not an access token.
    let mut id_token = lab.claims();
    id_token["aud"] = json!("lab-public-client");
    assert_invalid_token(&ok_call(&lab, &lab.mint("JWT", &lab.claims())).await);
    assert_invalid_token(&ok_call(&lab, &lab.mint("JWT", &id_token)).await);
    // `application/at+jwt` is the same media type (RFC 9068 §2.1).
    assert_eq!(ok_call(&lab, &lab.mint("application/at+jwt", &lab.claims())).await.status, StatusCode::OK);
    // `iss-mismatch`.
    let mut claims = lab.claims();
    claims["iss"] = json!("https://127.0.0.1:9999");
    let response = ok_call(&lab, &lab.mint("at+jwt", &claims)).await;
    assert_invalid_token(&response);
    assert_eq!(
        response.challenge().param("error_description"),
        Some("token was issued by another authorization server")
    );
    // `signature-tamper`: scope widened, signature kept.
    let token = lab.alice().await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = lab_proto::jose::decode_json(parts[1]).unwrap();
    payload["scope"] = json!("mcp:read mcp:write mcp:admin");
    let tampered = format!("{}.{}.{}", parts[0], b64url_encode(payload.to_string().as_bytes()), parts[2]);
    let response = ok_call(&lab, &tampered).await;
    assert_invalid_token(&response);
    assert_eq!(response.challenge().param("error_description"), Some("token signature is invalid"));
    // Missing required claims (RFC 9068 §2.2).
    for claim in ["sub", "client_id", "jti", "iat", "exp", "iss"] {
        let mut claims = lab.claims();
        claims.as_object_mut().unwrap().remove(claim);
        assert_invalid_token(&ok_call(&lab, &lab.mint("at+jwt", &claims)).await);
    }
}

#[tokio::test]
async fn malformed_tokens_and_headers_get_clear_errors() {
    let lab = Lab::new();
    for garbage in ["abc", "a.b.c", "e30.e30.", "!!!.???.***", &"a".repeat(9000)] {
        let response = ok_call(&lab, garbage).await;
        assert!(
            matches!(response.status, StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST),
            "{garbage}: {}",
            response.status
        );
    }
    let init = serde_json::to_vec(&crate::support::initialize("2025-11-25")).unwrap();
    for header in ["Bearer", "Bearer ", "Bearer a b", "Bearer \"quoted\""] {
        let response = lab.request("POST", "/mcp", &[("authorization", header)], init.clone()).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{header}");
        assert_eq!(response.challenge().param("error"), Some("invalid_request"));
    }
}

#[tokio::test]
async fn a_token_sent_two_ways_is_invalid_request() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // `token-multiple-methods`: header and form body.
    let response = lab
        .request(
            "POST",
            "/mcp",
            &[("authorization", &format!("Bearer {token}")), ("content-type", "application/x-www-form-urlencoded")],
            format!("access_token={token}").into_bytes(),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.challenge().param("error"), Some("invalid_request"));
    // Two Authorization headers.
    let twice = lab
        .request(
            "POST",
            "/mcp",
            &[("authorization", &format!("Bearer {token}")), ("authorization", &format!("Bearer {token}"))],
            serde_json::to_vec(&crate::support::initialize("2025-11-25")).unwrap(),
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn introspection_mode_refuses_revoked_tokens_at_once() {
    let lab = Lab::with(Mode::Introspection, |_| {});
    let token = lab.alice().await;
    assert_eq!(ok_call(&lab, &token).await.status, StatusCode::OK);
    // `revoked-token`: revoke at the AS, refused at the RS on the next request.
    revoke_at_the_as(&lab, &token).await;
    let response = ok_call(&lab, &token).await;
    assert_invalid_token(&response);
    assert_eq!(response.challenge().param("error_description"), Some("token is not active"));
    // The twin's tokens are inactive for this RS's introspection client, and no token is no token.
    assert_invalid_token(&ok_call(&lab, &lab.token_for("alice", "mcp:read", TWIN).await).await);
    assert_no_token_challenge(&lab.post(None, None, &crate::support::initialize("2025-11-25")).await);
}

#[tokio::test]
async fn verify_token_reports_the_principal() {
    let lab = Lab::new();
    let principal = lab.rs.verify_token(&lab.token_for("bob", "mcp:read mcp:write", RS).await).await.unwrap();
    assert_eq!(&*principal.sub, "bob");
    assert_eq!(&*principal.scope, "mcp:read mcp:write");
    assert_eq!(principal.user_id(), Some("bob"));
    let _ = ISSUER;
}

#[tokio::test]
async fn no_single_character_change_to_a_genuine_token_is_accepted() {
    let lab = Lab::new();
    let token = lab.token_for("alice", "mcp:read", RS).await;
    assert!(lab.rs.verify_token(&token).await.is_ok());
    // Every position replaced (each time by another of these), and every fifth one deleted or
    // doubled: header, claims, signature and the dots between them.
    let replacements = ['A', 'g', '_', '-', '.', '0', 'é', ' '];
    let mut mutants = Vec::new();
    for (index, original) in token.char_indices() {
        let replacement = replacements.iter().cycle().skip(index).find(|c| **c != original).unwrap();
        mutants.push(format!("{}{replacement}{}", &token[..index], &token[index + 1..]));
        if index % 5 == 0 {
            mutants.push(format!("{}{}", &token[..index], &token[index + 1..]));
            mutants.push(format!("{}{original}{}", &token[..index], &token[index..]));
        }
    }
    // The signature's last character carries unused low bits (86 characters for 64 bytes): a
    // decoder that ignored them would take this variant for the same signature.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = alphabet.iter().position(|c| token.ends_with(*c as char)).unwrap();
    let same_bits = alphabet[(last & !0xF) | ((last + 1) & 0xF)] as char;
    mutants.push(format!("{}{same_bits}", &token[..token.len() - 1]));
    for mutant in &mutants {
        assert!(lab.rs.verify_token(mutant).await.is_err(), "accepted {mutant}");
    }
    // The genuine token still is, from the cache or afresh.
    assert!(lab.rs.verify_token(&token).await.is_ok());
}

/// A JWKS the test swaps, standing in for an AS that withdraws a key.
struct SwappableKeys(std::sync::Mutex<Value>);

impl lab_mcp_server::KeySource for SwappableKeys {
    fn fetch_jwks(&self) -> lab_mcp_server::BoxFuture<'_, Result<Value, String>> {
        let jwks = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(jwks) })
    }
}

fn claims_at(now: u64, sub: &str) -> Value {
    json!({"iss": ISSUER, "sub": sub, "aud": RS, "exp": now + 300, "iat": now, "nbf": now,
           "jti": format!("jti-{sub}"), "client_id": "lab-public-client", "scope": "mcp:read"})
}

fn verifier_with(
    jwks: Value,
    clock: lab_proto::Clock,
) -> (std::sync::Arc<SwappableKeys>, lab_mcp_server::verify::JwtVerifier) {
    let keys = std::sync::Arc::new(SwappableKeys(std::sync::Mutex::new(jwks)));
    let verifier = lab_mcp_server::verify::JwtVerifier::new(ISSUER.to_owned(), RS.to_owned(), 30, clock, keys.clone());
    (keys, verifier)
}

#[tokio::test]
async fn the_verified_token_cache_never_outlives_a_token_or_a_key() {
    use lab_mcp_server::verify::Checks;
    let clock = lab_proto::Clock::frozen(crate::support::START);
    let key = SigningKey::generate(SigningAlg::Es256).unwrap();
    let (keys, verifier) = verifier_with(json!({"keys": [key.jwk()]}), clock.clone());
    let token = key.sign_jwt("at+jwt", &claims_at(clock.now(), "alice")).unwrap();

    // A hit returns the same principal as the verification that filled it.
    let first = verifier.verify(&token, Checks::STRICT).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    assert_eq!(verifier.verify(&token, Checks::STRICT).await.unwrap(), first);
    assert_eq!(verifier.cached_tokens(), 1);

    // Keyed by the whole token: the cached token with another signature is a different token.
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let mut tampered = signature.as_bytes().to_vec();
    tampered[4] = if tampered[4] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{rest}.{}", String::from_utf8(tampered).unwrap());
    assert_eq!(verifier.verify(&tampered, Checks::STRICT).await.unwrap_err().0, "token signature is invalid");

    // Weak checks neither read nor fill it.
    let weak = Checks { audience: false, any_alg: false };
    let other = key.sign_jwt("at+jwt", &claims_at(clock.now(), "bob")).unwrap();
    verifier.verify(&other, weak).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);

    // A cached token ends at exp + leeway, to the second (RFC 9068 §4, requirements §3.8).
    clock.advance(300 + 30 - 1);
    verifier.verify(&token, Checks::STRICT).await.unwrap();
    clock.advance(1);
    assert_eq!(verifier.verify(&token, Checks::STRICT).await.unwrap_err().0, "token expired");
    assert_eq!(verifier.cached_tokens(), 0, "the expired entry is dropped");

    // A withdrawn key: once the JWKS is refetched without it, its cached tokens are refused.
    let fresh = key.sign_jwt("at+jwt", &claims_at(clock.now(), "alice")).unwrap();
    verifier.verify(&fresh, Checks::STRICT).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let successor = SigningKey::generate(SigningAlg::Es256).unwrap();
    *keys.0.lock().unwrap() = json!({"keys": [successor.jwk()]});
    clock.advance(lab_mcp_server::MIN_REFETCH_SECONDS as i64);
    let newer = successor.sign_jwt("at+jwt", &claims_at(clock.now(), "carol")).unwrap();
    verifier.verify(&newer, Checks::STRICT).await.unwrap();
    assert_eq!(verifier.verify(&fresh, Checks::STRICT).await.unwrap_err().0, "unknown key id");

    // Turning it off empties it and every call verifies again.
    verifier.set_token_cache(false);
    assert_eq!(verifier.cached_tokens(), 0);
    verifier.verify(&newer, Checks::STRICT).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 0);
}

#[tokio::test]
async fn a_revoked_token_is_refused_and_leaves_the_cache_while_others_stay() {
    use lab_mcp_server::verify::Checks;
    let clock = lab_proto::Clock::frozen(crate::support::START);
    let key = SigningKey::generate(SigningAlg::Es256).unwrap();
    let (_keys, verifier) = verifier_with(json!({"keys": [key.jwk()]}), clock.clone());
    let alice = key.sign_jwt("at+jwt", &claims_at(clock.now(), "alice")).unwrap();
    let bob = key.sign_jwt("at+jwt", &claims_at(clock.now(), "bob")).unwrap();
    verifier.verify(&alice, Checks::STRICT).await.unwrap();
    verifier.verify(&bob, Checks::STRICT).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 2);

    // The back channel names the jti: the cached entry goes, and a fresh verification refuses it.
    verifier.revoke("jti-alice", "lab-public-client", "alice", clock.now() + 300);
    assert_eq!(verifier.cached_tokens(), 1);
    assert_eq!(verifier.verify(&alice, Checks::STRICT).await.unwrap_err().0, "token was revoked");
    assert_eq!(verifier.cached_tokens(), 1, "a revoked token is never cached again");
    verifier.verify(&bob, Checks::STRICT).await.unwrap();
    // Weak checks do not skip it either.
    let weak = Checks { audience: false, any_alg: false };
    assert_eq!(verifier.verify(&alice, weak).await.unwrap_err().0, "token was revoked");
    // Past an owner's bound the list fails closed for that client and subject: bob's flood drops
    // his entry expiring soonest, and his tokens expiring by then (the cached one) are refused.
    for index in 0..lab_mcp_server::verify::MAX_REVOKED_PER_CLIENT + 1 {
        verifier.revoke(&format!("flood-{index}"), "lab-public-client", "bob", clock.now() + 400 + index as u64);
    }
    assert_eq!(verifier.verify(&bob, Checks::STRICT).await.unwrap_err().0, "token was revoked");
}

#[tokio::test]
async fn the_verified_token_cache_is_bounded() {
    use lab_mcp_server::verify::Checks;
    let clock = lab_proto::Clock::frozen(crate::support::START);
    let key = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let (_keys, verifier) = verifier_with(json!({"keys": [key.jwk()]}), clock.clone());
    let mut first = None;
    for index in 0..=lab_mcp_server::MAX_CACHED_TOKENS {
        let token = key.sign_jwt("at+jwt", &claims_at(clock.now(), &format!("user-{index}"))).unwrap();
        verifier.verify(&token, Checks::STRICT).await.unwrap();
        first.get_or_insert(token);
    }
    assert_eq!(verifier.cached_tokens(), lab_mcp_server::MAX_CACHED_TOKENS);
    // Past the bound, expired entries make room; live ones are never evicted for newcomers.
    clock.advance(400);
    let late = key.sign_jwt("at+jwt", &claims_at(clock.now(), "late")).unwrap();
    verifier.verify(&late, Checks::STRICT).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    assert!(verifier.verify(&first.unwrap(), Checks::STRICT).await.is_err());
}

#[tokio::test]
async fn an_introspection_cache_is_off_by_default_and_bounded_in_time_when_on() {
    let lab = Lab::with(Mode::Introspection, |_| {});
    let verifier = lab.rs.introspection_verifier().unwrap();
    verifier.set_cache_seconds(5);
    let token = lab.alice().await;
    assert_eq!(ok_call(&lab, &token).await.status, StatusCode::OK);
    revoke_at_the_as(&lab, &token).await;
    // The trade-off of a cache: the revoked token is still accepted while its answer is fresh…
    lab.clock.advance(4);
    assert_eq!(ok_call(&lab, &token).await.status, StatusCode::OK);
    // …and refused once the answer is 5 s old.
    lab.clock.advance(1);
    assert_invalid_token(&ok_call(&lab, &token).await);
    // Off (the lab's setting), a revocation bites on the next request: see
    // `introspection_mode_refuses_revoked_tokens_at_once`.
    verifier.set_cache_seconds(0);
    let other = lab.alice().await;
    assert_eq!(ok_call(&lab, &other).await.status, StatusCode::OK);
}

/// RFC 7009 revocation of `token` at the AS, by the client it was issued to.
async fn revoke_at_the_as(lab: &Lab, token: &str) {
    use tower::ServiceExt as _;
    let claims: Value = lab_proto::jose::decode_json(token.split('.').nth(1).unwrap()).unwrap();
    let revoke = format!("token={token}&client_id={}", claims["client_id"].as_str().unwrap());
    let request = axum::http::Request::post("/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(revoke))
        .unwrap();
    assert_eq!(lab.as_router.clone().oneshot(request).await.unwrap().status(), StatusCode::OK);
}
