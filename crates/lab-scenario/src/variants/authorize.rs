//! The authorization-endpoint, discovery and registration families: the answers a certified
//! authorization server gave (303 redirects, a 400 HTML page in place of JSON, `access_denied` for
//! an ignored scope, an error in the fragment, a reflected origin, a literal `*` redirect URI…)
//! are allowed; what only a SHOULD asks is an advisory; a code, a redirect to a URI the AS should
//! not trust, or a token still fails.

use super::{allowed, answer, judge, vars};
use crate::expect::Observation;

const CALLBACK: &str = "http://127.0.0.1:53682/callback";
const ISS: &str = "iss=https%3A%2F%2Fas.example";
const STATE: &str = "state=s-0123456789";

/// A redirect with `status` to the client's callback carrying `query` (and `#fragment` if any).
fn redirect(status: u16, query: &str) -> Observation {
    answer(status, &[("location", &format!("{CALLBACK}?{query}")), ("content-type", "text/html")], "")
}

/// An error redirect with `code`, the state and iss, as a 303.
fn refused_303(code: &str) -> Observation {
    redirect(303, &format!("error={code}&{STATE}&{ISS}"))
}

/// A code on the callback, as a 303.
fn code_303() -> Observation {
    redirect(303, &format!("code=c-1&{STATE}&{ISS}"))
}

/// The certified AS's error page: a 400 HTML page naming its own error, no Location.
fn html_page(text: &str) -> Observation {
    answer(400, &[("content-type", "text/html; charset=utf-8")], &format!("<!doctype html><p>{text}</p>"))
}

fn must(id: &str, label: &str, seen: &Observation) -> Vec<String> {
    judge(id, label, seen, &vars()).0
}

fn should(id: &str, label: &str, seen: &Observation) -> Vec<String> {
    judge(id, label, seen, &vars()).1
}

#[test]
fn an_error_redirect_may_be_any_redirect_but_307() {
    for id in [
        "attacks/authorize/pkce-plain-downgrade",
        "attacks/authorize/pkce-method-omitted",
        "attacks/authorize/pkce-missing-challenge",
        "attacks/authorize/resource-fragment",
        "attacks/authorize/resource-unknown-target",
    ] {
        let code = if id.contains("resource") { "invalid_target" } else { "invalid_request" };
        allowed(id, "authorize", &refused_303(code));
        assert!(should(id, "authorize", &refused_303(code)).is_empty(), "{id}");
        // A 307 is no redirect an AS may use (O21 §1.6), and a code is the attack.
        let status_307 = redirect(307, &format!("error={code}&{STATE}&{ISS}"));
        assert!(!must(id, "authorize", &status_307).is_empty(), "{id}: a 307 passed");
        // A code is the attack where a MUST forbids it; where only RFC 8707's lowercase "should
        // reject" does (the resource scenarios), it is an advisory, never a failed MUST.
        if id.contains("resource") {
            assert!(must(id, "authorize", &code_303()).is_empty(), "{id}: a code failed a MUST");
            assert!(!should(id, "authorize", &code_303()).is_empty(), "{id}: a code passed unremarked");
        } else {
            assert!(!must(id, "authorize", &code_303()).is_empty(), "{id}: a code passed");
        }
    }
    for label in ["10 characters", "43 characters with a '+'", "base64 padding"] {
        allowed("attacks/authorize/pkce-malformed-challenge", label, &refused_303("invalid_request"));
    }
    allowed("attacks/authorize/redirect-uri-loopback-port", "requested on port 53682", &code_303());
    allowed("attacks/authorize/challenge-not-echoed", "authorize", &code_303());
    allowed("attacks/authorize/redirect-uri-mismatch-host", "control: the registered URI, exactly", &code_303());
}

#[test]
fn a_refusal_with_another_code_than_the_one_named_is_an_advisory() {
    // O21 §4.1.2.1 names invalid_request for an unsupported method; access_denied refuses too.
    let id = "attacks/authorize/pkce-plain-downgrade";
    allowed(id, "authorize", &refused_303("access_denied"));
    assert!(!should(id, "authorize", &refused_303("access_denied")).is_empty());
    // RFC 8707 §2.1's invalid_target, likewise.
    let id = "attacks/authorize/resource-unknown-target";
    allowed(id, "authorize", &refused_303("invalid_request"));
    assert!(!should(id, "authorize", &refused_303("invalid_request")).is_empty());
    // A redirect that refuses nothing (a login page, or no error at all) is not a refusal.
    let bare = redirect(303, &format!("{STATE}&{ISS}"));
    assert!(!must("attacks/authorize/pkce-plain-downgrade", "authorize", &bare).is_empty());
    assert!(!should(id, "authorize", &bare).is_empty());
}

#[test]
fn a_redirect_uri_or_client_error_may_be_any_page_that_does_not_redirect_to_the_client() {
    let label = "control: the registered URI, exactly";
    for scenario in ["case", "host", "path", "port", "query", "scheme"] {
        let id = format!("attacks/authorize/redirect-uri-mismatch-{scenario}");
        let attack = if scenario == "path" { "extra path segment" } else { "authorize" };
        allowed(&id, attack, &html_page("invalid_redirect_uri"));
        allowed(&id, label, &code_303());
        // Redirecting to the unregistered URI is the attack.
        let to_attacker =
            answer(303, &[("location", "https://evil.example/cb?error=invalid_request&state=s-0123456789")], "");
        assert!(!must(&id, attack, &to_attacker).is_empty(), "{id}");
        // O21 §4.1.2.1 forbids only the redirect to the client: a 200 page that informs the user,
        // or a redirect to the AS's own error page (absolute or relative), is allowed.
        allowed(&id, attack, &answer(200, &[("content-type", "text/html")], "<p>Invalid redirect URI</p>"));
        allowed(&id, attack, &answer(302, &[("location", "https://as.example/error?code=bad_redirect")], ""));
        allowed(&id, attack, &answer(303, &[("location", "/error")], ""));
        // Another origin that merely shares the AS's host name is not the AS, and neither is a
        // network-path reference, however it is spelled.
        for away in
            ["https://as.example:8443/error", "//evil.example/cb?code=c", "/\\evil.example/cb", "\\\\evil.example"]
        {
            let seen = answer(302, &[("location", away)], "");
            assert!(!must(&id, attack, &seen).is_empty(), "{id}: {away}");
        }
        // A hosted login UI on another origin than the issuer is the AS too.
        let mut hosted = vars();
        hosted.set("authorization_endpoint", "https://login.as-hosted.example/authorize");
        let error_page = answer(302, &[("location", "https://login.as-hosted.example/error?e=redirect_uri")], "");
        assert!(judge(&id, attack, &error_page, &hosted).0.is_empty(), "{id}");
    }
    let id = "attacks/authorize/unknown-client-no-redirect";
    allowed(id, "browser: an HTML error page", &html_page("invalid_client"));
    // Asked for JSON, the certified AS still answered its HTML page: no content type is fixed.
    allowed(id, "API caller: the same refusal as JSON", &html_page("invalid_client"));
    allowed(id, "API caller: the same refusal as JSON", &answer(401, &[], ""));
    let followed = answer(302, &[("location", "https://attacker.example/cb?error=invalid_client")], "");
    assert!(!must(id, "browser: an HTML error page", &followed).is_empty());
    let id = "attacks/authorize/client-or-redirect-missing-no-redirect";
    for label in ["client_id missing", "redirect_uri missing", "client_id repeated"] {
        allowed(id, label, &html_page("invalid_request"));
    }
    // Without a client, the redirect URI cannot be checked: a redirect is what the MUST NOT forbids.
    assert!(!must(id, "client_id missing", &code_303()).is_empty());
    // With the client known and no invalid URI in the request, a redirect to its registered URI
    // goes to the client: the page is the SHOULD.
    for label in ["redirect_uri missing", "client_id repeated"] {
        assert!(must(id, label, &code_303()).is_empty(), "{label}");
        assert!(!should(id, label, &code_303()).is_empty(), "{label}");
    }
    let id = "attacks/registration/dcr-client-id-squat";
    allowed(id, "the victim client did not gain the attacker's redirect", &html_page("invalid_redirect_uri"));
    // Refusing a registration that names a client_id is as safe as issuing a fresh one.
    let squat = "attacker asks for the victim's client_id with its own redirect";
    let json = ("content-type", "application/json");
    allowed(id, squat, &answer(400, &[json], r#"{"error":"invalid_client_metadata"}"#));
    allowed(id, squat, &answer(201, &[json], r#"{"client_id":"fresh-42"}"#));
    // The victim's id issued again is what RFC 7591 §3.2.1's SHOULD NOT asks against: an
    // advisory; the victim answering at the attacker's redirect (the next step) is the MUST.
    let squatted = answer(201, &[json], r#"{"client_id":"client-0123456789"}"#);
    assert!(must(id, squat, &squatted).is_empty());
    assert!(!should(id, squat, &squatted).is_empty());
    let victim = "the victim client did not gain the attacker's redirect";
    let to_attacker = answer(302, &[("location", "https://attacker.example/cb?code=c-1")], "");
    assert!(!must(id, victim, &to_attacker).is_empty());
    // With no attacker client, the control's request is refused too, and holds.
    allowed(id, "control: the attacker's client is its own", &html_page("invalid_client"));
    allowed(id, "control: the attacker's client is its own", &code_303());
}

#[test]
fn an_ignored_scope_may_be_denied_or_partly_granted() {
    // O21 §1.4.1: the AS may refuse the scope (access_denied, invalid_scope) or ignore it and
    // return a code; the state and iss are echoed either way.
    let id = "attacks/authorize/scope-wildcard-escalation";
    for label in ["scope=*", "scope=mcp:*", "a known scope plus an unknown one"] {
        allowed(id, label, &refused_303("access_denied"));
        allowed(id, label, &refused_303("invalid_scope"));
        assert_eq!(judge(id, label, &code_303(), &vars()), (vec![], vec![]), "{label}: the scope ignored");
        // A code without the state, an error that is no OAuth code, or a 307 still fails.
        assert!(!must(id, label, &redirect(303, &format!("code=c-1&{ISS}"))).is_empty(), "{label}");
        assert!(!must(id, label, &refused_303("wildcard_forbidden")).is_empty(), "{label}");
        assert!(!must(id, label, &redirect(307, &format!("code=c-1&{STATE}&{ISS}"))).is_empty(), "{label}");
    }
    let id = "attacks/authorize/scope-beyond-registration";
    let with_scope = redirect(303, &format!("error=invalid_scope&scope=mcp%3Awrite&{STATE}&{ISS}"));
    allowed(id, "authorize", &with_scope);
    allowed(id, "authorize", &refused_303("access_denied"));
    allowed(id, "authorize", &code_303());
    assert!(!must(id, "authorize", &redirect(303, &format!("code=c-1&state=other&{ISS}"))).is_empty());
    assert!(!must(id, "authorize", &refused_303("scope_not_registered")).is_empty());
    // The registration may name the scope the AS substituted (RFC 7591 §3.2.1).
    let registered = answer(201, &[("content-type", "application/json")], r#"{"client_id":"c","scope":"openid"}"#);
    allowed(id, "register", &registered);
}

#[test]
fn the_state_is_echoed_on_an_error_redirect_whatever_the_refusal() {
    let id = "attacks/authorize/state-echo-exact";
    let echoed = |code: &str| redirect(303, &format!("error={code}&state=a+b%2Bc%2Fd%3D%C3%A9%26x&{ISS}"));
    allowed(id, "error redirect", &echoed("invalid_request"));
    allowed(id, "error redirect", &echoed("access_denied"));
    allowed(id, "success redirect", &redirect(303, &format!("code=c&state=a+b%2Bc%2Fd%3D%C3%A9%26x&{ISS}")));
    let mangled = redirect(303, &format!("error=invalid_request&state=a+b+c%2Fd%3D%C3%A9%26x&{ISS}"));
    assert!(!must(id, "error redirect", &mangled).is_empty());
    let id = "attacks/discovery/iss-parameter";
    allowed(id, "error redirect", &refused_303("invalid_request"));
    allowed(id, "success redirect", &code_303());
    let without_iss = redirect(303, &format!("error=invalid_request&{STATE}"));
    assert!(!must(id, "error redirect", &without_iss).is_empty());
}

#[test]
fn an_error_in_the_fragment_is_the_error_and_a_low_grade_finding() {
    // The certified AS answered response_type=token in the fragment (its default response mode for
    // that type): refused as required, though O21 §4.1.2.1 puts the error in the query.
    let id = "attacks/authorize/implicit-grant-request";
    let fragment =
        answer(303, &[("location", &format!("{CALLBACK}#error=unsupported_response_type&{STATE}&{ISS}"))], "");
    allowed(id, "authorize", &fragment);
    assert!(!should(id, "authorize", &fragment).is_empty(), "the fragment is an advisory");
    let query = redirect(302, &format!("error=unsupported_response_type&{STATE}&{ISS}"));
    allowed(id, "authorize", &query);
    assert!(should(id, "authorize", &query).is_empty());
    // A token in the fragment is the implicit grant itself.
    let token = answer(303, &[("location", &format!("{CALLBACK}#access_token=at&token_type=bearer&{STATE}"))], "");
    assert!(!must(id, "authorize", &token).is_empty());
    // The TypeScript SDK's AS: invalid_request, "an invalid parameter value", is an error response
    // as §4.1.2.1 describes; the fitting code is the advisory.
    let invalid = redirect(302, &format!("error=invalid_request&{STATE}&{ISS}"));
    allowed(id, "authorize", &invalid);
    assert!(!should(id, "authorize", &invalid).is_empty());
}

#[test]
fn what_no_must_obliges_an_as_to_refuse_is_an_advisory() {
    // A code for a malformed S256 challenge (the TypeScript SDK's AS): O21 §4.1.1 "validates"
    // without a BCP 14 keyword, and no verifier hashes to it.
    let id = "attacks/authorize/pkce-malformed-challenge";
    for label in ["10 characters", "43 characters with a '+'", "base64 padding"] {
        assert!(must(id, label, &code_303()).is_empty(), "{label}");
        assert!(!should(id, label, &code_303()).is_empty(), "{label}");
        // A redirect that loses the state still breaks a MUST.
        assert!(!must(id, label, &redirect(303, &format!("code=c-1&{ISS}"))).is_empty(), "{label}");
    }
    // Registering a redirect URI that O21 §2.3 forbids: RFC 7591 §3.2.1 lets the AS reject or
    // replace it, and no MUST obliges a refusal; the redirect to it is the MUST.
    let id = "attacks/registration/dcr-redirect-dangerous";
    let registered = answer(201, &[("content-type", "application/json")], r#"{"client_id":"c"}"#);
    for label in
        ["javascript: scheme", "relative URI", "fragment", "data: scheme", "a bad URI hidden behind a good one"]
    {
        assert!(must(id, label, &registered).is_empty(), "{label}");
        assert!(!should(id, label, &registered).is_empty(), "{label}");
    }
}

#[test]
fn a_reflected_origin_shows_cors_as_well_as_a_star() {
    let id = "attacks/authorize/cors-on-authorize";
    let control = "control: discovery is readable cross-origin, so the header is observable";
    let metadata = |origin: &str| {
        answer(200, &[("content-type", "application/json"), ("access-control-allow-origin", origin)], "{}")
    };
    allowed(id, control, &metadata("https://evil.example"));
    allowed(id, control, &metadata("*"));
    // RFC 8414 does not require CORS on the metadata: the control holds without it.
    let plain = answer(200, &[("content-type", "application/json")], "{}");
    assert_eq!(judge(id, control, &plain, &vars()), (vec![], vec![]));
    assert!(!must(id, control, &answer(404, &[], "")).is_empty());
    // /authorize answered with a 303 to the login page and no CORS header.
    let login = answer(303, &[("location", "/interaction/x")], "");
    allowed(id, "cross-origin GET /authorize", &login);
    let cors =
        answer(303, &[("location", "/interaction/x"), ("access-control-allow-origin", "https://evil.example")], "");
    assert!(!must(id, "cross-origin GET /authorize", &cors).is_empty());
}

#[test]
fn metadata_lists_hold_what_the_as_supports() {
    let id = "attacks/discovery/as-metadata-fields";
    let document = serde_json::json!({
        "issuer": "https://as.example",
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "registration_endpoint": "https://as.example/register",
        "jwks_uri": "https://as.example/jwks",
        "introspection_endpoint": "https://as.example/introspect",
        "revocation_endpoint": "https://as.example/revoke",
        "response_types_supported": ["code", "code id_token"],
        "response_modes_supported": ["form_post", "fragment", "query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
    });
    let seen = |document: &serde_json::Value| {
        answer(200, &[("content-type", "application/json; charset=utf-8")], &document.to_string())
    };
    allowed(id, "http", &seen(&document));
    // Listing implicit or password says what the AS supports (RFC 8414 §2): leaving them out is
    // the lab's choice, not a MUST.
    let mut implicit = document.clone();
    implicit["grant_types_supported"] = serde_json::json!(["authorization_code", "implicit", "password"]);
    allowed(id, "http", &seen(&implicit));
    // Endpoints elsewhere than the lab's paths: the document itself is where a client reads them.
    let mut elsewhere = document.clone();
    elsewhere["token_endpoint"] = serde_json::json!("https://tokens.as.example/oauth2/token");
    allowed(id, "http", &seen(&elsewhere));
    // grant_types_supported is OPTIONAL (RFC 8414 §2): omitted, it is no fault; a
    // response_types_supported (REQUIRED) without code still fails.
    let mut omitted = document.clone();
    omitted.as_object_mut().expect("an object").remove("grant_types_supported");
    allowed(id, "http", &seen(&omitted));
    let mut no_code = document.clone();
    no_code["response_types_supported"] = serde_json::json!(["token"]);
    assert!(!must(id, "http", &seen(&no_code)).is_empty());
    let oidc = serde_json::json!({
        "issuer": "https://as.example",
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "jwks_uri": "https://as.example/jwks",
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256", "plain"],
    });
    allowed("attacks/discovery/oidc-configuration-members", "http", &seen(&oidc));
    let id = "attacks/discovery/pkce-methods-advertised";
    allowed(
        id,
        "RFC 8414 metadata",
        &seen(&serde_json::json!({ "code_challenge_methods_supported": ["plain", "S256"] })),
    );
    assert!(
        !must(id, "OpenID configuration", &seen(&serde_json::json!({ "issuer": "https://as.example" }))).is_empty()
    );
    // An AS that does not advertise RFC 9207 breaks no MUST of the metadata step: an advisory.
    let id = "attacks/discovery/iss-parameter";
    let without = seen(&serde_json::json!({ "issuer": "https://as.example" }));
    allowed(id, "the metadata advertises iss", &without);
    assert!(!should(id, "the metadata advertises iss", &without).is_empty());
}

#[test]
fn registration_errors_are_the_ones_rfc_7591_allows() {
    // dcr-bad-metadata, fourth step: with response_types [] the only fault left is the grant type.
    let id = "attacks/registration/dcr-bad-metadata";
    let label = "client_credentials for a public client";
    allowed(id, label, &answer(400, &[("content-type", "application/json")], r#"{"error":"invalid_client_metadata"}"#));
    // O21 §4.2 forbids the grant, not the registration: accepting it is an advisory here, and the
    // grant itself is judged by client-credentials-public-dcr.
    let registered = answer(201, &[("content-type", "application/json")], r#"{"client_id":"c"}"#);
    allowed(id, label, &registered);
    assert!(!should(id, label, &registered).is_empty());
    let id = "attacks/registration/dcr-redirect-dangerous";
    let invalid_metadata =
        answer(400, &[("content-type", "application/json")], r#"{"error":"invalid_client_metadata"}"#);
    allowed(id, "javascript: scheme", &invalid_metadata);
    // A literal `*` registration is harmless where matching is exact: the match is what is tested.
    let literal = answer(
        201,
        &[("content-type", "application/json")],
        r#"{"client_id":"w","redirect_uris":["https://*.evil.example/cb"]}"#,
    );
    allowed(id, "wildcard host", &literal);
    let match_step = "a host the wildcard would match is not redirected to";
    allowed(id, match_step, &html_page("invalid_redirect_uri"));
    let to_wildcard = answer(303, &[("location", "https://a.evil.example/cb?code=c")], "");
    assert!(!must(id, match_step, &to_wildcard).is_empty());
    // A public redemption without client authentication may be a 400; the code is a SHOULD.
    let id = "attacks/registration/dcr-default-auth-method";
    let label = "redeeming as a public client is refused";
    let invalid_request = answer(400, &[("content-type", "application/json")], r#"{"error":"invalid_request"}"#);
    allowed(id, label, &invalid_request);
    assert!(!should(id, label, &invalid_request).is_empty());
    let issued = answer(200, &[("content-type", "application/json")], r#"{"access_token":"at","token_type":"Bearer"}"#);
    assert!(!must(id, label, &issued).is_empty());
    // RFC 7591 §3.1: the AS may provision its own default for the omitted method; one that
    // registers the client as public has nothing to test here, and another method with a secret
    // is an advisory.
    let omitted = "public client forgets token_endpoint_auth_method";
    let json = ("content-type", "application/json");
    let public = answer(201, &[json], r#"{"client_id":"c","token_endpoint_auth_method":"none"}"#);
    assert!(super::inapplicable(id, omitted, &public));
    // A secret issued under client_secret_post: the client must still authenticate, so the
    // scenario runs; a control refused Basic then makes it not applicable, not broken.
    let post = r#"{"client_id":"c","client_secret":"s-0123456789","client_secret_expires_at":0,"token_endpoint_auth_method":"client_secret_post"}"#;
    assert!(!super::inapplicable(id, omitted, &answer(201, &[json], post)));
    let control = "control: with the issued secret over Basic";
    assert!(super::inapplicable(id, control, &answer(401, &[json], r#"{"error":"invalid_client"}"#)));
    let basic = r#"{"client_id":"c","client_secret":"s-0123456789","client_secret_expires_at":0,"token_endpoint_auth_method":"client_secret_basic"}"#;
    assert!(!super::inapplicable(id, omitted, &answer(201, &[json], basic)));
    allowed(id, omitted, &answer(201, &[json], basic));
    let jwt = basic.replace("client_secret_basic", "client_secret_jwt");
    allowed(id, omitted, &answer(201, &[json], &jwt));
    assert!(!should(id, omitted, &answer(201, &[json], &jwt)).is_empty());
    // dcr-bad-metadata: RFC 7591 §3.2.1 lets the AS reject or replace what cannot work; accepting
    // (or replacing) it is an advisory, never a failed MUST.
    let id = "attacks/registration/dcr-bad-metadata";
    for label in ["private_key_jwt without jwks or jwks_uri", "response_types [token]", "grant_types [implicit]"] {
        let replaced =
            answer(201, &[json], r#"{"client_id":"c","token_endpoint_auth_method":"none","response_types":["code"]}"#);
        allowed(id, label, &replaced);
        assert!(!should(id, label, &replaced).is_empty(), "{label}");
        assert!(should(id, label, &answer(400, &[json], r#"{"error":"invalid_client_metadata"}"#)).is_empty());
    }
}

#[test]
fn which_users_may_hold_a_scope_is_the_labs_own_matrix() {
    // AS-16 is S/L: another AS's users and roles are its own, so a third-party AS run with
    // `--login carol` is not held to the lab's matrix.
    let scenario = super::scenario("attacks/authorize/customer-admin-scope");
    let target = crate::Target {
        as_issuer: Some("https://as.example".into()),
        as_metadata: Some(lab_proto::metadata::AuthorizationServerMetadata::default()),
        login: Some(crate::Login::new("carol", "pw")),
        ..crate::Target::default()
    };
    let reason = crate::not_applicable("authorize", &scenario, &target).unwrap_or_default();
    assert!(reason.contains("decision of the lab's own") && reason.contains("AS-16"), "{reason}");
}

#[test]
fn nothing_issued_is_no_exploit() {
    // An accepted registration, a metadata member left out, a redirect without iss: each breaks a
    // MUST (nonconforming), but nothing was issued that an attacker holds, so no step claims an
    // exploit (`vulnerable`).
    for id in [
        "attacks/registration/dcr-redirect-http-nonloopback",
        "attacks/discovery/pkce-methods-advertised",
        "attacks/discovery/pkce-methods-advertised-nonconforming",
        "attacks/discovery/iss-parameter",
        "attacks/discovery/iss-parameter-nonconforming",
    ] {
        let scenario = super::scenario(id);
        assert!(scenario.steps.iter().all(|step| step.exploit.is_none()), "{id} claims an exploit");
        assert!(scenario.quote.as_deref().is_some_and(|quote| quote.contains("MUST")), "{id}: {:?}", scenario.quote);
    }
    // The registration still fails when it accepts the URI.
    let id = "attacks/registration/dcr-redirect-http-nonloopback";
    let registered = answer(201, &[("content-type", "application/json")], r#"{"client_id":"c"}"#);
    assert!(!must(id, "register", &registered).is_empty());
    assert!(super::scenario(id).quote.unwrap_or_default().contains("MUST be either `localhost` or use HTTPS"));
    // The RFC 8414 member is OPTIONAL: its absence is an advisory. The OpenID configuration of an
    // AS serving it MUST include it (MCP-1125).
    let id = "attacks/discovery/pkce-methods-advertised";
    let without = answer(200, &[("content-type", "application/json")], r#"{"issuer":"https://as.example"}"#);
    allowed(id, "RFC 8414 metadata", &without);
    assert!(!should(id, "RFC 8414 metadata", &without).is_empty());
    assert!(!must(id, "OpenID configuration", &without).is_empty());
    let with = answer(200, &[("content-type", "application/json")], r#"{"code_challenge_methods_supported":["S256"]}"#);
    assert_eq!(judge(id, "OpenID configuration", &with, &vars()), (vec![], vec![]));
}
