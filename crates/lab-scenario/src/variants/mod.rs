//! The answers a specification allows, fed to the catalogue's own expectations. People act on
//! what the battery says about their servers, so an expectation that can fail a third-party
//! target must accept every answer the sentence it quotes allows. Each test here loads a scenario
//! file, holds one of its steps to the expectations a third-party target is held to, and feeds it
//! an answer that sentence allows (a 303, a 421, an error in the fragment, a reflected origin…):
//! no MUST may fail. One module per family of scenarios.

use std::path::Path;

use crate::expect::{Observation, check};
use crate::judge::{Projection, project};
use crate::schema::Scenario;
use crate::vars::Vars;

mod authorize;
mod rs;
mod token;

/// A scenario of the catalogue by its id (`attacks/authorize/pkce-plain-downgrade`).
pub(crate) fn scenario(id: &str) -> Scenario {
    let path = crate::catalogue::default_dir().join(format!("{id}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    crate::parse(Path::new(&path), &text).unwrap_or_else(|error| panic!("{error}"))
}

/// The variables a run against a third-party AS and MCP server would hold.
pub(crate) fn vars() -> Vars {
    let mut vars = Vars::default();
    for (name, value) in [
        ("issuer", "https://as.example"),
        ("rs_issuer", "https://as.example"),
        ("tenant_issuer", "https://as.example/tenant1"),
        ("resource", "https://rs.example/mcp"),
        ("twin_resource", "https://twin.example/mcp"),
        ("prm", "https://rs.example/.well-known/oauth-protected-resource/mcp"),
        ("rs_origin", "https://rs.example"),
        ("rs_host", "rs.example"),
        ("redirect_uri", "http://127.0.0.1:53682/callback"),
        ("state", "s-0123456789"),
        ("client_id", "client-0123456789"),
        ("code", "code-0123456789"),
        ("access_token", "at-0123456789"),
        ("refresh_token", "rt-0123456789"),
        ("authorization_endpoint", "https://as.example/authorize"),
        ("token_endpoint", "https://as.example/token"),
        ("registration_endpoint", "https://as.example/register"),
        ("revocation_endpoint", "https://as.example/revoke"),
        ("introspection_endpoint", "https://as.example/introspect"),
        ("jwks_uri", "https://as.example/jwks"),
        ("as_metadata_url", "https://as.example/.well-known/oauth-authorization-server"),
        ("oidc_metadata_url", "https://as.example/.well-known/openid-configuration"),
        ("public_client", "client-0123456789"),
        ("confidential_client", "confidential-0123456789"),
    ] {
        vars.set(name, value);
    }
    vars
}

/// An answer: its status, headers (names lower-cased here) and body.
pub(crate) fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Observation {
    Observation {
        status: Some(status),
        headers: headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned())).collect(),
        body: body.as_bytes().to_vec(),
        json: serde_json::from_str(body).ok(),
        ..Observation::default()
    }
}

/// What a third-party target's answer `seen` to step `label` (its name, or its action's name
/// when unnamed and unique) of scenario `id` breaks: the MUST failures, then the SHOULD ones.
pub(crate) fn judge(id: &str, label: &str, seen: &Observation, vars: &Vars) -> (Vec<String>, Vec<String>) {
    let scenario = scenario(id);
    let steps: Vec<_> = scenario.steps.iter().filter(|step| step.label() == label).collect();
    assert_eq!(steps.len(), 1, "{id}: one step labelled `{label}`, found {}", steps.len());
    let step = steps[0];
    // A running system of theirs: the AS steps keep every expectation, the MCP steps are held at
    // the HTTP level, as a real run holds them.
    let how = Projection::of(step, true, true);
    let held = |expect: &crate::schema::Expect| check(&project(expect, how), seen, vars);
    (held(&step.expect), step.should.as_ref().map(held).unwrap_or_default())
}

/// Whether `seen`, answered to step `label` of scenario `id`, shows a third-party target does not
/// offer what the scenario tests (its `not_applicable_if`, projected as the runner projects it).
pub(crate) fn inapplicable(id: &str, label: &str, seen: &Observation) -> bool {
    let scenario = scenario(id);
    let step = scenario.steps.iter().find(|step| step.label() == label).expect("the step");
    let Some(condition) = &step.not_applicable_if else { return false };
    let how = Projection { keep_cors: true, ..Projection::of(step, true, true) };
    let condition = project(condition, how);
    !condition.is_empty() && check(&condition, seen, &vars()).is_empty()
}

/// Asserts that `seen` breaks no MUST of step `label` of scenario `id`.
#[track_caller]
pub(crate) fn allowed(id: &str, label: &str, seen: &Observation) {
    let (failures, _) = judge(id, label, seen, &vars());
    assert!(failures.is_empty(), "{id}, step `{label}`: an answer the specification allows failed: {failures:?}");
}

#[test]
fn the_harness_tells_an_allowed_answer_from_a_refused_one() {
    // The plain-PKCE downgrade: a 303 error redirect carrying the error is allowed ...
    let id = "attacks/authorize/pkce-plain-downgrade";
    let label = scenario(id).steps.iter().find(|step| step.attack).map(|step| step.label()).unwrap_or_default();
    let refused = answer(
        302,
        &[(
            "location",
            "http://127.0.0.1:53682/callback?error=invalid_request&state=s-0123456789&iss=https%3A%2F%2Fas.example",
        )],
        "",
    );
    allowed(id, &label, &refused);
    // ... and a code is not.
    let issued = answer(302, &[("location", "http://127.0.0.1:53682/callback?code=c&state=s-0123456789")], "");
    assert!(!judge(id, &label, &issued, &vars()).0.is_empty());
}
