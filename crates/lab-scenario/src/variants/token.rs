//! The token, refresh and introspection families: the answers a certified authorization server
//! gave (a 404 for `GET /token`, `invalid_grant` for a missing verifier, 303 redirects, a refusal
//! code other than the lab's) are allowed; what only a SHOULD asks is an advisory; a token issued
//! still fails.

use super::{allowed, answer, judge, vars};

const JSON: (&str, &str) = ("content-type", "application/json");

/// An OAuth error body.
fn error(status: u16, code: &str) -> crate::expect::Observation {
    answer(status, &[JSON, ("cache-control", "no-store")], &format!(r#"{{"error":"{code}"}}"#))
}

/// A token response: what no refusal may look like.
fn issued() -> crate::expect::Observation {
    answer(
        200,
        &[JSON, ("cache-control", "no-store")],
        r#"{"access_token":"at-issued","token_type":"Bearer","expires_in":300}"#,
    )
}

/// The MUST failures of `seen` at step `label` of scenario `id`.
fn must(id: &str, label: &str, seen: &crate::expect::Observation) -> Vec<String> {
    judge(id, label, seen, &vars()).0
}

/// The SHOULD failures (advisories) of `seen` at step `label` of scenario `id`.
fn should(id: &str, label: &str, seen: &crate::expect::Observation) -> Vec<String> {
    judge(id, label, seen, &vars()).1
}

#[test]
fn get_on_the_token_endpoint_may_be_refused_with_any_client_error() {
    let id = "attacks/token/token-get-method";
    // The certified AS: a plain-text 404, no Allow, no error code, no Cache-Control.
    allowed(id, "http", &answer(404, &[("content-type", "text/plain")], "Not Found"));
    allowed(id, "http", &answer(405, &[], ""));
    allowed(id, "http", &error(400, "invalid_request"));
    // A token issued from a query string fails.
    assert!(!must(id, "http", &issued()).is_empty());
}

#[test]
fn the_token_get_method_request_carries_the_targets_redirect_uri() {
    let scenario = super::scenario("attacks/token/token-get-method");
    let step = scenario.steps.iter().find(|step| step.attack).expect("an attack step");
    assert!(step.uses_variable("redirect_uri"), "token-get-method must send ${{redirect_uri}}, not a literal");
    assert!(!step.texts().iter().any(|text| text.contains("53682")), "a literal redirect URI is left");
}

#[test]
fn a_missing_verifier_may_be_refused_with_invalid_grant_or_invalid_request() {
    let id = "attacks/token/code-interception-no-verifier";
    let label = "attacker: the code, no verifier";
    allowed(id, label, &error(400, "invalid_grant"));
    allowed(id, label, &error(400, "invalid_request"));
    assert!(!must(id, label, &error(400, "unsupported_grant_type")).is_empty());
    assert!(!must(id, label, &issued()).is_empty());
}

#[test]
fn an_authorization_response_used_as_setup_may_be_any_redirect_but_307() {
    let location = "http://127.0.0.1:53682/callback?code=c-1&state=s-0123456789&iss=https%3A%2F%2Fas.example";
    for id in [
        "attacks/token/code-interception-no-verifier",
        "attacks/token/token-get-method",
        "attacks/refresh/refresh-replay-rotation",
        "attacks/introspection/revocation-foreign-client",
    ] {
        for status in [302, 303] {
            allowed(id, "authorize", &answer(status, &[("location", location)], ""));
        }
        // 307 would re-post a form to the client (O21 §7.5.4).
        assert!(!must(id, "authorize", &answer(307, &[("location", location)], "")).is_empty(), "{id}");
    }
}

#[test]
fn a_public_client_refused_client_credentials_with_another_code_is_advisory() {
    let id = "attacks/token/client-credentials-public-client";
    // The certified AS: 400 invalid_request, nothing issued. No MUST broken, the code is a SHOULD.
    let other = error(400, "invalid_request");
    assert!(must(id, "token", &other).is_empty());
    assert!(!should(id, "token", &other).is_empty());
    // The code O21 §3.2.4 names: no finding at all.
    let exact = error(400, "unauthorized_client");
    assert!(must(id, "token", &exact).is_empty() && should(id, "token", &exact).is_empty());
    assert!(!must(id, "token", &issued()).is_empty());
}

#[test]
fn a_public_client_registered_for_client_credentials_gets_no_token() {
    let id = "attacks/token/client-credentials-public-dcr";
    // Registering it is allowed (the token endpoint must then refuse), and so is refusing it.
    let registered = r#"{"client_id":"c-9","token_endpoint_auth_method":"none","grant_types":["client_credentials"]}"#;
    allowed(id, "a public client for client_credentials only", &answer(201, &[JSON], registered));
    allowed(id, "a public client for client_credentials only", &error(400, "invalid_redirect_uri"));
    let label = "the client_credentials grant without client authentication";
    allowed(id, label, &error(400, "unauthorized_client"));
    allowed(id, label, &error(401, "invalid_client"));
    allowed(id, label, &error(400, "invalid_request"));
    // The measured hole: the token is issued.
    assert!(!must(id, label, &issued()).is_empty());
}

#[test]
fn a_refusal_to_revoke_another_clients_token_names_no_fixed_code() {
    let id = "attacks/introspection/revocation-foreign-client";
    for label in ["B revokes A's access token", "B revokes A's refresh token"] {
        allowed(id, label, &error(400, "unauthorized_client"));
        allowed(id, label, &error(400, "invalid_request"));
        allowed(id, label, &error(401, "invalid_client"));
        allowed(id, label, &answer(403, &[], ""));
        // Answering 200 is no refusal (RFC 7009 §2.1: "the request is refused").
        assert!(!must(id, label, &answer(200, &[], "")).is_empty());
    }
}

#[test]
fn an_empty_revocation_answer_has_nothing_to_cache() {
    allowed("attacks/introspection/revocation-oracle", "a random string", &answer(200, &[], ""));
}

#[test]
fn a_repeated_parameter_is_refused_only_by_a_should() {
    // O21 §3.2's MUST NOT binds the sender: an AS that reads the first value of the legitimate
    // client's own request and issues a token breaks no MUST; the refusal is an advisory.
    let id = "attacks/token/token-duplicate-params";
    for label in ["code=A&code=B", "two code_verifiers"] {
        assert!(should(id, label, &error(400, "invalid_request")).is_empty());
        for seen in [error(400, "invalid_grant"), issued()] {
            assert!(must(id, label, &seen).is_empty(), "{label}");
            assert!(!should(id, label, &seen).is_empty(), "{label}");
        }
    }
    // The code spent by a token issued above: the control's 400 is no fault of the target.
    allowed(id, "control: the well-formed request still succeeds", &error(400, "invalid_grant"));
}

#[test]
fn a_resource_outside_the_grant_is_refused_only_by_a_should() {
    // RFC 8707 §2.1-2.2 ask the refusal with a lowercase "should" (not BCP 14), and a token
    // response does not say which resource its token is for: another refusal code, and even a
    // token, are advisories against a third-party AS, never a failed MUST.
    for (id, label) in [
        ("attacks/token/token-resource-not-granted", "token request for the twin RS"),
        ("attacks/refresh/refresh-resource-escalation", "refresh for the twin RS"),
    ] {
        assert!(should(id, label, &error(400, "invalid_target")).is_empty(), "{id}");
        for seen in [error(400, "invalid_grant"), issued()] {
            assert!(must(id, label, &seen).is_empty(), "{id}");
            assert!(!should(id, label, &seen).is_empty(), "{id}");
        }
    }
    // The second introspection of audience-per-resource: the token active at the other resource
    // is what RFC 8707 §2's SHOULD audience-restrict asks against; an advisory.
    let id = "attacks/token/audience-per-resource";
    let label = "the RS does not see a token meant for the twin";
    let active = answer(200, &[JSON], r#"{"active":true,"aud":"https://twin.example/mcp"}"#);
    assert!(must(id, label, &active).is_empty());
    assert!(!should(id, label, &active).is_empty());
    assert!(should(id, label, &answer(200, &[JSON], r#"{"active":false}"#)).is_empty());
    // The twin's own introspection may carry `aud` as an array, or none (RFC 7662 §2.2: OPTIONAL).
    let twin = "the twin RS sees its own audience";
    allowed(id, twin, &answer(200, &[JSON], r#"{"active":true,"aud":["https://twin.example/mcp"]}"#));
    allowed(id, twin, &answer(200, &[JSON], r#"{"active":true}"#));
    assert!(!must(id, twin, &answer(200, &[JSON], r#"{"active":false}"#)).is_empty());
}

#[test]
fn tokens_kept_after_an_invalid_replay_or_left_after_a_valid_one_are_advisories() {
    // O21 §7.5.3: SHOULD NOT revoke after an invalid replay.
    let id = "attacks/token/code-replay-invalid-no-revoke";
    let revoked = answer(200, &[JSON], r#"{"active":false}"#);
    assert!(must(id, "the legitimate access token stays active", &revoked).is_empty());
    assert!(!should(id, "the legitimate access token stays active", &revoked).is_empty());
    let refused = error(400, "invalid_grant");
    assert!(must(id, "the legitimate refresh token still works", &refused).is_empty());
    assert!(!should(id, "the legitimate refresh token still works", &refused).is_empty());
    // O21 §4.1.3: the second valid redemption MUST be denied; revoking the first tokens is a SHOULD.
    let id = "attacks/token/code-replay";
    assert!(!must(id, "second valid redemption of the same code", &issued()).is_empty());
    let active = answer(200, &[JSON], r#"{"active":true,"sub":"alice"}"#);
    assert!(must(id, "the first access token is revoked", &active).is_empty());
    assert!(!should(id, "the first access token is revoked", &active).is_empty());
}

#[test]
fn an_inactive_token_described_beyond_active_false_is_advisory() {
    let id = "attacks/introspection/introspection-oracle";
    let chatty = answer(200, &[JSON], r#"{"active":false,"iss":"https://as.example"}"#);
    assert!(must(id, "a random string", &chatty).is_empty());
    assert!(!should(id, "a random string", &chatty).is_empty());
    assert!(!must(id, "a random string", &answer(200, &[JSON], r#"{"active":true}"#)).is_empty());
}

#[test]
fn a_token_response_is_judged_on_no_store_not_on_the_labs_scope_or_header_spelling() {
    let id = "attacks/token/token-response-caching";
    let success = answer(
        200,
        &[JSON, ("cache-control", "no-cache, no-store")],
        r#"{"access_token":"at","token_type":"bearer","expires_in":60}"#,
    );
    allowed(id, "success response", &success);
    // An error carries no token: without no-store it is still allowed.
    allowed(id, "error response", &answer(400, &[JSON], r#"{"error":"invalid_grant"}"#));
    // A token without no-store is not.
    let cached = answer(200, &[JSON], r#"{"access_token":"at","token_type":"Bearer"}"#);
    assert!(!must(id, "success response", &cached).is_empty());
}

#[test]
fn a_client_without_credentials_may_get_400_or_401() {
    let id = "attacks/token/client-auth-basic-failure";
    allowed(id, "no secret at all", &error(400, "invalid_client"));
    allowed(id, "no secret at all", &error(401, "invalid_client"));
    // With a Basic header the 401 and its challenge are a MUST.
    let no_challenge = error(400, "invalid_client");
    assert!(!must(id, "wrong secret", &no_challenge).is_empty());
    allowed(id, "wrong secret", &answer(401, &[JSON, ("www-authenticate", "Basic")], r#"{"error":"invalid_client"}"#));
}

#[test]
fn lab_rules_make_the_scenarios_not_applicable_elsewhere() {
    for id in ["attacks/token/pkce-downgrade-verifier-without-challenge", "attacks/token/token-endpoint-bruteforce"] {
        assert!(super::scenario(id).lab_rule.is_some(), "{id}");
    }
}

#[test]
fn every_attack_file_of_these_areas_quotes_its_sentence_and_says_its_remedy() {
    let root = crate::catalogue::default_dir().join("attacks");
    for area in ["token", "refresh", "introspection", "scope", "privacy"] {
        for entry in std::fs::read_dir(root.join(area)).expect("the area's folder") {
            let path = entry.expect("an entry").path();
            let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) else { continue };
            let scenario = super::scenario(&format!("attacks/{area}/{name}"));
            let quote = scenario.quote.unwrap_or_default();
            assert!(quote.contains(": \"") && quote.ends_with('"'), "attacks/{area}/{name}: quote {quote:?}");
            assert!(scenario.remedy.is_some_and(|remedy| !remedy.is_empty()), "attacks/{area}/{name}: remedy");
        }
    }
}

#[test]
fn a_refresh_may_ignore_the_added_scope_and_only_an_added_scope_is_an_exploit() {
    let id = "attacks/refresh/refresh-scope-escalation";
    let scenario = super::scenario(id);
    let exploit = |label: &str, seen: &crate::expect::Observation| {
        let step = scenario.steps.iter().find(|step| step.label() == label).expect("the step");
        let how = crate::judge::Projection::of(step, true, true);
        let exploit = step.exploit.as_ref().expect("an exploit");
        crate::expect::check(&crate::judge::project(exploit, how), seen, &vars()).is_empty()
    };
    let granted = |scope: &str| {
        answer(
            200,
            &[JSON, ("cache-control", "no-store")],
            &format!(r#"{{"access_token":"at-2","token_type":"Bearer","refresh_token":"rt-2","scope":"{scope}"}}"#),
        )
    };
    for (label, added) in [("mcp:read mcp:admin", "mcp:admin"), ("mcp:write", "mcp:write")] {
        // O21 §1.4.1: the added scope ignored, the original one issued and named: no MUST broken,
        // no exploit.
        assert_eq!(judge(id, label, &granted("mcp:read"), &vars()), (vec![], vec![]), "{label}");
        assert!(!exploit(label, &granted("mcp:read")));
        // A refusal with another code than invalid_scope: an advisory.
        allowed(id, label, &error(400, "invalid_request"));
        assert!(!should(id, label, &error(400, "invalid_request")).is_empty());
        assert_eq!(judge(id, label, &error(400, "invalid_scope"), &vars()), (vec![], vec![]));
        // The added scope granted: the escalation shown.
        let escalated = granted(&format!("mcp:read {added}"));
        assert!(!must(id, label, &escalated).is_empty(), "{label}");
        assert!(exploit(label, &escalated), "{label}");
        // A token that does not say its scope (REQUIRED when it differs, O21 §3.2.3) breaks the
        // MUST, but shows no escalation.
        assert!(!must(id, label, &issued()).is_empty(), "{label}");
        assert!(!exploit(label, &issued()), "{label}");
    }
    // A refresh for another resource: the answer does not show the token's audience, so a token
    // issued is a MUST broken, not a confirmed exploit.
    for id in
        ["attacks/refresh/refresh-resource-escalation", "attacks/refresh/refresh-resource-escalation-nonconforming"]
    {
        assert!(super::scenario(id).steps.iter().all(|step| step.exploit.is_none()), "{id}");
    }
}

#[test]
fn the_password_grant_may_be_refused_as_unauthorized_client() {
    let id = "attacks/token/ropc-and-implicit-grants";
    for label in ["password grant with alice's credentials", "implicit grant"] {
        let unauthorized = error(400, "unauthorized_client");
        allowed(id, label, &unauthorized);
        assert!(!should(id, label, &unauthorized).is_empty(), "{label}: the exact code is a SHOULD");
        assert_eq!(judge(id, label, &error(400, "unsupported_grant_type"), &vars()), (vec![], vec![]));
        assert!(!must(id, label, &error(400, "invalid_grant")).is_empty(), "{label}");
        assert!(!must(id, label, &issued()).is_empty(), "{label}");
    }
}

#[test]
fn a_replayed_refresh_token_must_be_refused_and_revoking_the_grant_is_advised() {
    let id = "attacks/refresh/refresh-replay-rotation";
    let replay = "attacker replays RT1";
    // Rotation invalidates RT1: any refusal meets the MUST; invalid_grant is the code named.
    allowed(id, replay, &error(400, "invalid_grant"));
    allowed(id, replay, &error(401, "invalid_client"));
    assert!(!should(id, replay, &error(401, "invalid_client")).is_empty());
    assert!(!must(id, replay, &issued()).is_empty());
    // The newest refresh token and the access token left alive: advisories, not failed MUSTs.
    let rt2 = "the legitimate RT2 is dead too";
    assert!(must(id, rt2, &issued()).is_empty());
    assert!(!should(id, rt2, &issued()).is_empty());
    let active = "the grant's access token is inactive";
    let still = answer(200, &[JSON], r#"{"active":true}"#);
    assert!(must(id, active, &still).is_empty());
    assert!(!should(id, active, &still).is_empty());
}

#[test]
fn the_scope_escalation_control_asks_for_no_scope_of_the_labs() {
    // O21 §4.3.1: an omitted scope is the scope originally granted, whatever the AS calls it.
    let scenario = super::scenario("attacks/refresh/refresh-scope-escalation");
    let control = scenario.steps.iter().find(|step| step.label().starts_with("control")).expect("a control");
    assert!(control.action.with().is_none_or(|with| !with.contains_key("scope")));
    allowed("attacks/refresh/refresh-scope-escalation", &control.label(), &issued());
}

#[test]
fn a_refresh_that_issues_nothing_has_no_token_response_to_check_for_caching() {
    // The TypeScript SDK's AS answered the refresh with a 500: not a caching finding.
    let id = "attacks/token/token-response-caching";
    assert!(super::inapplicable(id, "refresh response", &error(500, "server_error")));
    assert!(!super::inapplicable(id, "refresh response", &issued()));
    let uncached = answer(200, &[JSON], r#"{"access_token":"at","token_type":"Bearer"}"#);
    assert!(!must(id, "refresh response", &uncached).is_empty());
}
