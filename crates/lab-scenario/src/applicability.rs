//! Which scenarios apply to which target. Pure: it reads the typed scenario and the target, and
//! starts nothing. Against the lab itself everything applies; against someone else's server, a
//! scenario that needs what only the lab has (its profiles, its clock, its key, its helper hosts,
//! its shop) is reported as not applicable, with the reason, and never run.

use crate::schema::{AsTarget, Capture, Expect, RsTarget, Scenario, Step, StepAction, Verdict};
use crate::target::Target;

/// The areas whose scenarios speak only HTTP and the authorization layer of MCP, so they can run
/// against any MCP server (their tool calls become `initialize`, which every server has).
/// What does not apply among their steps (the shop's tools and data, the lab's sessions, clock and
/// profiles) is told step by step, and at run time a step left with nothing to judge makes its
/// scenario not applicable.
const PORTABLE_AREAS: [&str; 5] = ["rs-validation", "transport", "flows", "scope", "privacy"];

/// The areas that apply to a running system: its AS and the MCP server that trusts it.
const SYSTEM_AREAS: [&str; 9] = [
    "discovery",
    "authorize",
    "token",
    "refresh",
    "registration",
    "introspection",
    "rs-validation",
    "transport",
    "flows",
];

/// The variables that name the MCP server; a step that uses one calls it.
const RS_VARIABLES: [&str; 4] = ["prm", "rs_origin", "rs_host", "resource"];

/// Why a scenario cannot run against `target`, if it cannot.
pub fn not_applicable(area: &str, scenario: &Scenario, target: &Target) -> Option<String> {
    if !target.is_external() {
        return None;
    }
    let lab = &scenario.lab;
    if scenario.verdict != Verdict::Defended {
        return Some("it proves a weakness of one of the lab's own weak profiles".to_owned());
    }
    // The lab's own decisions (rules marked L) are never held against anyone else.
    if let Some(rule) = &scenario.lab_rule {
        return Some(format!("it tests a decision of the lab's own, which no specification demands: {rule}"));
    }
    if lab.rs_profile.is_some()
        || lab.as_profile.is_some()
        || lab.verify.is_some()
        || lab.anonymous_public
        || lab.rs_issuer.is_some()
    {
        return Some("it configures the lab's own servers (a profile, the verify mode or the issuer)".to_owned());
    }
    if target.as_issuer.is_some() {
        // The system's own rules, then the resource-server rules below for every area, since the
        // AS areas call the MCP server too.
        if let Some(reason) = not_applicable_to_running_system(area, scenario, target)
            .or_else(|| not_applicable_to_third_party_as(area, scenario, target))
        {
            return Some(reason);
        }
    } else if !PORTABLE_AREAS.contains(&area) {
        return Some(format!(
            "the `{area}` scenarios test the lab's own servers or client, or need the lab shop's tools and data"
        ));
    }
    if lab.signing_alg.is_some() {
        return Some(
            "it switches the lab AS to another signing algorithm, whose key the third-party server never cached"
                .to_owned(),
        );
    }
    let insufficient = |expect: &Expect| expect.expects_error("insufficient_scope");
    if scenario.steps.iter().flat_map(Step::held_against_anyone).any(insufficient) {
        return Some("it depends on the lab shop's per-tool scopes".to_owned());
    }
    scenario.steps.iter().find_map(|step| needs_the_lab_rs(step, target))
}

/// What of the lab's own servers `step` depends on: its clock, profiles, twin RS, client (against
/// anything but an MCP server that trusts the lab AS), or session-less tool calls. (The rate-limit
/// scenarios carry `lab_rule`: rate limits are the lab's own policy.)
/// Sessions are not among them: a server that keeps none is found out at run time.
fn needs_the_lab_rs(step: &Step, target: &Target) -> Option<String> {
    // The lab's client signs in at the lab AS; against a third-party AS nobody can.
    let client_possible = target.rs_url.is_some() && target.as_issuer.is_none();
    match &step.action {
        StepAction::Client(_) if client_possible => {}
        StepAction::Client(_) | StepAction::Profile(_) => {
            return Some("it runs the lab's client or switches the lab's profiles".to_owned());
        }
        StepAction::Clock(_) => return Some("the third-party server does not share the lab's clock".to_owned()),

        // A tool call outside any session becomes `initialize` at a third-party server, which opens
        // one: what the step tests of sessions is lost, unless it names a session itself.
        StepAction::Mcp(mcp)
            if !mcp.in_session() && mcp.revision.is_none() && mcp.method() == "tools/call" && !names_a_session(mcp) =>
        {
            return Some("it tests how the lab's resource server keeps sessions".to_owned());
        }
        StepAction::Mcp(mcp) if mcp.in_session() && !["tools/call", "initialize", "ping"].contains(&mcp.method()) => {
            return Some("it needs an MCP method the third-party server may not offer".to_owned());
        }
        _ => {}
    }
    None
}

/// Whether an `authorize` step asks for plain PKCE: `code_challenge_method=plain`, or a challenge
/// without a method, which defaults to `plain` (O21 §4.1.1).
fn asks_plain_pkce(step: &Step) -> bool {
    let StepAction::Authorize(oauth) = &step.action else { return false };
    let method = oauth.with.get("code_challenge_method").and_then(serde_json::Value::as_str);
    // A request that removes the challenge too carries no PKCE at all, which no method excuses.
    let removed = |name: &str| oauth.remove.iter().any(|removed| removed == name);
    !removed("code_challenge") && (method == Some("plain") || (method.is_none() && removed("code_challenge_method")))
}

/// Whether `scenario` can run at either MCP revision against a third-party server: it reaches
/// the MCP endpoint only through `mcp` tool calls or `initialize` requests that name no revision,
/// no session and no MCP header of either era, and never a raw request or the lab's client. Such
/// a request becomes `ping` in a session or `initialize` at 2025-11-25, and a stateless list
/// request at 2026-07-28; what these scenarios judge (the authorization layer in front of every
/// method) is the same at both, so `run --rs-url` runs them at every revision the server speaks.
pub fn revision_neutral(scenario: &Scenario) -> bool {
    let mut calls = 0;
    for step in &scenario.steps {
        if step.uses_variable("session") || step.expect.session_ids.is_some() {
            return false;
        }
        match &step.action {
            StepAction::Mcp(mcp) => {
                let mcp_header = mcp.headers.keys().any(|name| name.to_ascii_lowercase().starts_with("mcp-"));
                if !mcp.stands_for_any_request() || mcp_header {
                    return false;
                }
                calls += 1;
            }
            StepAction::Client(_) => return false,
            _ if reaches_rs(step, &["resource"]) => return false,
            _ => {}
        }
    }
    calls > 0
}

/// The MCP revision `scenario`'s requests to a third-party MCP server speak, for the report:
/// 2026-07-28 where a step names it or the run is the battery's pass at that revision, else
/// 2025-11-25 where it calls the server at all; `None` at the lab, or for a scenario that never
/// speaks MCP.
pub fn revision_of(scenario: &Scenario, target: &Target) -> Option<&'static str> {
    target.rs_url.as_ref()?;
    let mcp = |step: &Step| match &step.action {
        StepAction::Mcp(mcp) => Some(mcp.revision.is_some()),
        _ => None,
    };
    let calls: Vec<bool> = scenario.steps.iter().filter_map(mcp).collect();
    if calls.iter().any(|modern| *modern) || (target.modern && revision_neutral(scenario)) {
        Some(crate::target::MODERN_REVISION)
    } else if !calls.is_empty() || scenario.steps.iter().any(|step| reaches_rs(step, &["resource"])) {
        Some(crate::target::LEGACY_REVISION)
    } else {
        None
    }
}

/// Whether an `mcp` step sends a session id of its own choosing.
pub(crate) fn names_a_session(mcp: &crate::schema::Mcp) -> bool {
    mcp.headers.keys().any(|name| name.eq_ignore_ascii_case("mcp-session-id"))
}

/// The rules of [`not_applicable`] that only a running system adds; the resource-server rules
/// (clock, profiles, sessions, rate limits, per-tool scopes) follow them for every area.
fn not_applicable_to_running_system(area: &str, scenario: &Scenario, target: &Target) -> Option<String> {
    if !SYSTEM_AREAS.contains(&area) {
        return Some(format!("the `{area}` scenarios test the lab's own client or need the lab shop's tools and data"));
    }
    if scenario.lab.signing_alg.is_some() {
        return Some("it switches the lab AS to another signing algorithm".to_owned());
    }
    // A scenario that shows the lab's login page applies to an AS run with `--login` when it
    // only looks at pages (no form of the lab's posted, no field of its page read).
    let lab_pages = scenario.steps.iter().any(|step| {
        matches!(step.action, StepAction::Http(_))
            || step.capture.values().any(|capture| matches!(capture, Capture::Html(_) | Capture::Cookie(_)))
    });
    let pages_only = scenario.lab.interactive && target.login.is_some() && !lab_pages;
    if (scenario.lab.interactive && !pages_only)
        || scenario.lab.auto_approve.as_deref().is_some_and(|user| user != "alice")
    {
        return Some("it signs in through the lab's login and consent page, or as another user than alice".to_owned());
    }
    for step in &scenario.steps {
        if matches!(step.action, StepAction::Forge(_)) {
            return Some(
                "it forges or re-signs tokens with the lab AS's key, which the third-party MCP server does not trust"
                    .to_owned(),
            );
        }
        if step.action.as_target() == Some(AsTarget::Tenant) {
            return Some("it uses the lab AS's path issuer (`/tenant1`)".to_owned());
        }
        if step.action.rs_target() == Some(RsTarget::Twin) {
            return Some("it uses the lab's twin resource server".to_owned());
        }
        // The lab's helper hosts run in this process, on ports the third-party AS does not know.
        let variables = step.variables();
        if variables.iter().any(|name| name.starts_with("cimd")) {
            return Some("the third-party AS cannot fetch the lab's client ID metadata document".to_owned());
        }
        let second = variables.contains(&"twin_resource") && target.second_resource.is_none();
        if second || variables.contains(&"upstream") {
            return Some(
                "it needs a second resource (the lab's twin RS or upstream API) the third-party AS does not know: add --second-resource"
                    .to_owned(),
            );
        }
    }
    None
}

/// The URL a step names itself (`http`'s, or the one a `client` step connects to).
fn named_url(step: &Step) -> Option<&str> {
    match &step.action {
        StepAction::Http(http) => Some(&http.url),
        StepAction::Client(client) => client.url.as_deref(),
        _ => None,
    }
}

/// Whether `step` reaches the MCP server: an `mcp` step, or a URL that names it.
pub(crate) fn reaches_rs(step: &Step, variables: &[&str]) -> bool {
    matches!(step.action, StepAction::Mcp(_) | StepAction::Client(crate::schema::ClientRun { url: None, .. }))
        || named_url(step).is_some_and(|url| crate::schema::variables_in(url).any(|name| variables.contains(&name)))
}

/// What a third-party AS lacks for `scenario`: its MCP server (when tested alone), an endpoint its
/// metadata does not name, or the lab's pre-registered clients (when one of its own is supplied).
fn not_applicable_to_third_party_as(area: &str, scenario: &Scenario, target: &Target) -> Option<String> {
    if target.rs_url.is_none() {
        if area == "rs-validation" || area == "transport" {
            return Some(format!("the `{area}` scenarios test an MCP server: add --rs-url"));
        }
        if scenario.steps.iter().any(|step| reaches_rs(step, &RS_VARIABLES)) {
            return Some("it calls the MCP server, which is not under test: add --rs-url".to_owned());
        }
    }
    // A step that asks only a SHOULD is left out where the AS lacks what it needs (`skipped`); the
    // scenario still needs an attack step that runs.
    let mut skipped =
        scenario.steps.iter().filter(|step| optional(step)).filter_map(|step| lacks_for_step(step, target));
    let attack_runs =
        scenario.steps.iter().enumerate().any(|(index, step)| {
            scenario.is_attack(index) && !(optional(step) && lacks_for_step(step, target).is_some())
        });
    if !attack_runs {
        return skipped.next();
    }
    scenario.steps.iter().filter(|step| !optional(step)).find_map(|step| lacks_for_step(step, target))
}

/// Whether `step` is optional at a third-party AS: an introspection (a question, which changes
/// nothing later steps rely on) that demands no MUST and captures nothing, so leaving it out
/// loses only its SHOULD.
fn optional(step: &Step) -> bool {
    matches!(step.action, StepAction::Introspect(_)) && step.expect.is_empty() && step.capture.is_empty()
}

/// Why a third-party AS's run leaves `step` out: it is optional, and the AS lacks what it needs.
pub(crate) fn skipped(step: &Step, target: &Target) -> Option<String> {
    if target.as_issuer.is_none() || !optional(step) {
        return None;
    }
    lacks_for_step(step, target)
}

/// What a third-party AS lacks for one step.
fn lacks_for_step(step: &Step, target: &Target) -> Option<String> {
    let variables = step.variables();
    let uses = |name: &str| variables.contains(&name);
    if let Some(metadata) = &target.as_metadata {
        // A URL as `client_id` tests the fetch of client ID metadata documents; against an AS
        // that does not offer them, refusing such a client is refusing an unknown one, and would
        // pass for nothing.
        let url_client =
            step.action.with().and_then(|with| with.get("client_id")).and_then(serde_json::Value::as_str).is_some_and(
                |client_id| {
                    ["https://", "http://", "${canary", "${cimd"].iter().any(|start| client_id.starts_with(start))
                },
            );
        if url_client && metadata.client_id_metadata_document_supported != Some(true) {
            return Some(
                "the AS does not advertise client ID metadata documents (`client_id_metadata_document_supported`), so a URL `client_id` tests nothing"
                    .to_owned(),
            );
        }
        // O21 §4.1.2.1 demands the refusal of a `code_challenge_method` the server does not
        // support; an AS that advertises `plain` (RFC 8414 §2) supports it, and granting a plain
        // challenge is its right (only MCP clients MUST use S256, MCP-1125).
        if step.attack
            && asks_plain_pkce(step)
            && metadata
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|methods| methods.iter().any(|method| method == "plain"))
        {
            return Some(
                "the AS advertises the `plain` PKCE method (`code_challenge_methods_supported`), and O21 §4.1.2.1 demands a refusal only of a method the AS does not support"
                    .to_owned(),
            );
        }
        // RFC 8414 §2: an AS that lists its token endpoint's authentication methods without
        // `client_secret_basic` (the default when the list is omitted) cannot be asked to take a
        // Basic header there; a step that sends one would only measure that.
        let token_endpoint =
            matches!(step.action, StepAction::Token(_) | StepAction::Refresh(_) | StepAction::ClientCredentials(_));
        let sends_basic = step.action.oauth().is_some_and(|oauth| oauth.basic.is_some())
            || matches!(step.action, StepAction::ClientCredentials(_));
        let basic_listed = metadata
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|method| method == "client_secret_basic"));
        if token_endpoint && sends_basic && !basic_listed {
            return Some(
                "the AS does not list `client_secret_basic` in `token_endpoint_auth_methods_supported` (RFC 8414 §2), and the scenario authenticates a client with HTTP Basic"
                    .to_owned(),
            );
        }
        if !target.as_oidc_configuration && uses("oidc_metadata_url") {
            return Some(
                "the AS serves no OpenID configuration, which is optional (MCP-1125 asks for one of the two documents)"
                    .to_owned(),
            );
        }
        let endpoints = [
            (
                "registration_endpoint",
                &metadata.registration_endpoint,
                matches!(step.action, StepAction::Register(_)) && !target.replaces_registration(step),
            ),
            ("revocation_endpoint", &metadata.revocation_endpoint, matches!(step.action, StepAction::Revoke(_))),
            (
                "introspection_endpoint",
                &metadata.introspection_endpoint,
                matches!(step.action, StepAction::Introspect(_)),
            ),
        ];
        for (name, endpoint, used) in endpoints {
            if endpoint.is_none() && (used || uses(name)) {
                return Some(format!("the AS's metadata names no `{name}` (RFC 8414 §2)"));
            }
        }
    }
    let signed_in = target.signed_in_user();
    let hint = step.action.with().and_then(|with| with.get("login_hint")).and_then(serde_json::Value::as_str);
    if let Some(user) = hint.filter(|user| *user != signed_in) {
        return Some(format!("it signs in as the lab's user `{user}`, and the run signs in as `{signed_in}`"));
    }
    // The lab's confidential clients, where a third-party AS is asked to authenticate them: that
    // AS knows them only if its operator registered them (the probe before the run asked).
    let known = target.known_lab_clients();
    let basic = step.action.oauth().and_then(|oauth| oauth.basic.as_ref());
    // `--confidential-client` stands in for the lab's confidential client, not for the RS's.
    let confidential = target.confidential_client.is_none()
        && !known.confidential
        && (uses("confidential_client")
            || (matches!(step.action, StepAction::ClientCredentials(_)) && basic.is_none()));
    if confidential {
        return Some(
            "it uses the lab's pre-registered client `lab-confidential-client`, which the AS does not know: add --confidential-client"
                .to_owned(),
        );
    }
    let texts = step.texts();
    if !known.rs_twin && texts.iter().any(|text| text.contains(lab_auth_server::config::lab::TWIN_RS_CLIENT_ID)) {
        return Some("it uses the lab's pre-registered client `lab-rs-twin`, which the AS does not know".to_owned());
    }
    let rs_client = texts.iter().any(|text| {
        text.contains(lab_auth_server::config::lab::RS_CLIENT_ID)
            && !text.contains(lab_auth_server::config::lab::TWIN_RS_CLIENT_ID)
    }) || (matches!(step.action, StepAction::Introspect(_)) && basic.is_none());
    if !known.rs && rs_client {
        return Some("it uses the lab's pre-registered client `lab-rs`, which the AS does not know".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        crate::parse(std::path::Path::new("x.toml"), text).unwrap()
    }

    /// A scenario of one attack step, `step` being its TOML lines after `[[step]]`.
    fn one_step(verdict: &str, lab: &str, step: &str) -> Scenario {
        let exploit = if verdict == "vulnerable" { "exploit = { status = 200 }\n" } else { "" };
        scenario(&format!(
            "summary = \"s\"\nverdict = \"{verdict}\"\n{lab}[[step]]\n{step}\nexpect = {{ status = 400 }}\n{exploit}"
        ))
    }

    fn defended(step: &str) -> Scenario {
        one_step("defended", "", step)
    }

    #[test]
    fn third_party_targets_skip_what_cannot_apply_and_say_why() {
        let external = Target { rs_url: Some("https://127.0.0.1:7443/mcp".into()), ..Target::default() };
        let portable = defended("do = \"mcp\"\nmethod = \"initialize\"\nsession = false\ntoken = \"none\"");
        assert_eq!(not_applicable("rs-validation", &portable, &external), None);
        assert_eq!(not_applicable("rs-validation", &portable, &Target::default()), None, "the lab runs everything");
        let reason = |area: &str, scenario: Scenario| not_applicable(area, &scenario, &external).unwrap_or_default();
        assert!(reason("personas", defended("do = \"register\"")).contains("shop"));
        // The lab's client runs against an MCP server that trusts the lab AS, never a twin.
        assert_eq!(reason("flows", defended("do = \"client\"")), "");
        // A control at the lab's twin RS is the lab's own server: nothing to judge the target by, but
        // no reason to skip the scenario either.
        assert_eq!(reason("flows", defended("do = \"client\"\ntarget = \"twin\"")), "");
        let named = defended("do = \"mcp\"\nsession = false\nheaders = { mcp-session-id = \"${session}\" }");
        assert_eq!(reason("transport", named), "", "a step naming a session tests the target's sessions");
        assert!(reason("rs-validation", one_step("vulnerable", "", "do = \"register\"")).contains("weak profiles"));
        let lab_rule = scenario(
            "summary = \"s\"\nlab_rule = \"AS-42: a reused challenge is refused\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nexpect = { status = 401 }\n",
        );
        assert!(reason("rs-validation", lab_rule).contains("lab's own, which no specification demands: AS-42"));
        let profiled = one_step("defended", "[lab]\nrs_profile = \"no-redaction\"\n", "do = \"register\"");
        assert!(reason("rs-validation", profiled).contains("profile"));
        assert!(reason("rs-validation", defended("do = \"clock\"\nadvance = 5")).contains("clock"));
        // Sessions apply: a server that keeps none is found out at run time.
        assert_eq!(reason("transport", defended("do = \"mcp\"\nheaders = { mcp-session-id = \"x\" }")), "");
        let captured = defended("do = \"mcp\"\ncapture = { sid = \"header:Mcp-Session-Id\" }");
        assert_eq!(reason("transport", captured), "");
        assert_eq!(reason("transport", defended("do = \"mcp\"\nmethod = \"ping\"")), "", "every server answers ping");
        let scoped = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nexpect = { error = \"insufficient_scope\" }\n",
        );
        assert!(reason("rs-validation", scoped).contains("scopes"));
        assert!(reason("rs-validation", defended("do = \"mcp\"\nmethod = \"resources/list\"")).contains("MCP method"));
        assert!(reason("rs-validation", defended("do = \"mcp\"\nsession = false")).contains("keeps sessions"));
        // A short burst is no test of the lab's rate limits (those scenarios carry lab_rule).
        assert_eq!(reason("rs-validation", defended("do = \"mcp\"\nrepeat = 3")), "");
    }

    #[test]
    fn an_as_alone_skips_what_needs_its_mcp_server_an_endpoint_it_lacks_or_the_lab_clients() {
        let metadata = lab_proto::metadata::AuthorizationServerMetadata {
            issuer: "https://as.example".into(),
            revocation_endpoint: Some("https://as.example/oauth/revoke".into()),
            ..Default::default()
        };
        let alone =
            Target { as_issuer: Some("https://as.example".into()), as_metadata: Some(metadata), ..Target::default() };
        let said = |target: &Target, area: &str, step: &str| not_applicable(area, &defended(step), target);
        assert_eq!(said(&alone, "token", "do = \"revoke\""), None);
        assert!(said(&alone, "token", "do = \"mcp\"").unwrap_or_default().contains("--rs-url"));
        assert!(said(&alone, "token", "do = \"http\"\nurl = \"${prm}\"").unwrap_or_default().contains("--rs-url"));
        assert!(said(&alone, "rs-validation", "do = \"revoke\"").unwrap_or_default().contains("--rs-url"));
        assert!(said(&alone, "token", "do = \"introspect\"").unwrap_or_default().contains("introspection_endpoint"));
        let url_client = "do = \"authorize\"\nwith = { client_id = \"${canary}/c.json\" }";
        assert!(
            said(&alone, "registration", url_client)
                .unwrap_or_default()
                .contains("client_id_metadata_document_supported")
        );
        let cimd_metadata = lab_proto::metadata::AuthorizationServerMetadata {
            client_id_metadata_document_supported: Some(true),
            ..alone.as_metadata.clone().unwrap_or_default()
        };
        let cimd = Target { as_metadata: Some(cimd_metadata), ..alone.clone() };
        assert_eq!(said(&cimd, "registration", url_client), None);
        // A step that asks only a SHOULD of a client the AS does not know is left out; the
        // scenario still applies while an attack step runs.
        let introspecting_alone = Target {
            as_metadata: Some(lab_proto::metadata::AuthorizationServerMetadata {
                introspection_endpoint: Some("https://as.example/introspect".into()),
                ..alone.as_metadata.clone().unwrap_or_default()
            }),
            ..alone.clone()
        };
        let with_optional = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"revoke\"\nattack = true\nexpect = { status = 200 }\n[[step]]\ndo = \"introspect\"\nattack = true\nshould = { json = { \"/active\" = false } }\n",
        );
        assert_eq!(not_applicable("token", &with_optional, &introspecting_alone), None);
        let introspect_step = &with_optional.steps[1];
        assert!(skipped(introspect_step, &introspecting_alone).unwrap_or_default().contains("`lab-rs`"));
        assert_eq!(skipped(&with_optional.steps[0], &introspecting_alone), None);
        let known = Target { lab_clients: Some(crate::LabClients::ALL), ..introspecting_alone.clone() };
        assert_eq!(skipped(introspect_step, &known), None);
        // With every attack step left out, nothing is judged: not applicable.
        let only_optional = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"introspect\"\nattack = true\nshould = { json = { \"/active\" = false } }\n",
        );
        assert!(not_applicable("token", &only_optional, &introspecting_alone).unwrap_or_default().contains("`lab-rs`"));
        // HTTP Basic at a token endpoint whose AS lists its methods without it.
        let post_only = Target {
            as_metadata: Some(lab_proto::metadata::AuthorizationServerMetadata {
                token_endpoint_auth_methods_supported: Some(vec!["client_secret_post".into(), "none".into()]),
                ..alone.as_metadata.clone().unwrap_or_default()
            }),
            ..alone.clone()
        };
        let basic_token = "do = \"token\"\nbasic = [\"${client_id}\", \"${client_secret}\"]";
        assert!(said(&post_only, "token", basic_token).unwrap_or_default().contains("client_secret_basic"));
        assert_eq!(said(&alone, "token", basic_token), None, "omitted, the list defaults to client_secret_basic");
        assert_eq!(said(&post_only, "token", "do = \"token\""), None);
        // Plain PKCE asked of an AS that advertises `plain`: it may grant it.
        let plain_pkce = "do = \"authorize\"\nattack = true\nwith = { code_challenge_method = \"plain\" }";
        let omitted = "do = \"authorize\"\nattack = true\nremove = [\"code_challenge_method\"]";
        assert_eq!(said(&alone, "authorize", plain_pkce), None);
        let plain_metadata = lab_proto::metadata::AuthorizationServerMetadata {
            code_challenge_methods_supported: Some(vec!["S256".into(), "plain".into()]),
            ..alone.as_metadata.clone().unwrap_or_default()
        };
        let plain_as = Target { as_metadata: Some(plain_metadata), ..alone.clone() };
        for step in [plain_pkce, omitted] {
            assert!(said(&plain_as, "authorize", step).unwrap_or_default().contains("`plain`"), "{step}");
        }
        assert_eq!(said(&plain_as, "authorize", "do = \"authorize\"\nattack = true"), None);
        // No challenge at all is no plain PKCE: O21 §4.1.2.1's refusal holds whatever is advertised.
        let no_pkce = "do = \"authorize\"\nattack = true\nremove = [\"code_challenge\", \"code_challenge_method\"]";
        assert_eq!(said(&plain_as, "authorize", no_pkce), None);
        // A variable that names a plain client is no URL.
        assert_eq!(said(&alone, "token", "do = \"authorize\"\nwith = { client_id = \"${public_client}\" }"), None);
        let oidc = "do = \"http\"\nurl = \"${oidc_metadata_url}\"";
        assert!(said(&alone, "discovery", oidc).unwrap_or_default().contains("OpenID configuration"));
        let with_oidc = Target { as_oidc_configuration: true, ..alone.clone() };
        assert_eq!(said(&with_oidc, "discovery", oidc), None);
        // No registration endpoint: registering is not applicable, unless a pre-registered client
        // stands in for a plain set-up registration.
        let plain = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"register\"\n[[step]]\ndo = \"token\"\nexpect = { status = 200 }\n";
        assert!(
            not_applicable("token", &scenario(plain), &alone).unwrap_or_default().contains("registration_endpoint")
        );
        let with_client = Target { client_id: Some("mine".into()), ..alone.clone() };
        assert_eq!(not_applicable("token", &scenario(plain), &with_client), None);
        let named = plain.replace("do = \"register\"", "name = \"registered x\"\ndo = \"register\"");
        assert!(
            not_applicable("token", &scenario(&named), &with_client)
                .unwrap_or_default()
                .contains("registration_endpoint")
        );
        // A third-party AS knows the lab's confidential and RS clients only where the probe before
        // the run found them, whether or not the user brought a client of their own.
        let credentials = "do = \"client-credentials\"";
        assert!(said(&alone, "token", credentials).unwrap_or_default().contains("confidential"));
        assert!(said(&with_client, "token", credentials).unwrap_or_default().contains("confidential"));
        let knowing = |known: crate::LabClients| Target { lab_clients: Some(known), ..alone.clone() };
        assert_eq!(said(&knowing(crate::LabClients::ALL), "token", credentials), None);
        let full = lab_proto::metadata::AuthorizationServerMetadata {
            introspection_endpoint: Some("https://as.example/introspect".into()),
            ..with_client.as_metadata.clone().unwrap_or_default()
        };
        let introspecting = Target { as_metadata: Some(full.clone()), ..with_client.clone() };
        assert!(said(&introspecting, "token", "do = \"introspect\"").unwrap_or_default().contains("`lab-rs`"));
        let rs_known = Target {
            as_metadata: Some(full),
            lab_clients: Some(crate::LabClients { rs: true, ..crate::LabClients::default() }),
            ..alone.clone()
        };
        assert_eq!(said(&rs_known, "token", "do = \"introspect\""), None);
        let as_twin = "do = \"token\"\nbasic = [\"lab-rs-twin\", \"x\"]";
        assert!(said(&rs_known, "token", as_twin).unwrap_or_default().contains("`lab-rs-twin`"));
        assert_eq!(said(&knowing(crate::LabClients::ALL), "token", as_twin), None);
        // The lab's own AS (an MCP server under test beside it) knows them all.
        let lab_as = Target { rs_url: Some("https://127.0.0.1:7443/mcp".into()), ..Target::default() };
        assert_eq!(lab_as.known_lab_clients(), crate::LabClients::ALL);
        let login = Target { login: Some(crate::Login::new("alice", "pw")), ..alone };
        let carol = "do = \"authorize\"\nwith = { login_hint = \"carol\" }";
        assert!(said(&login, "authorize", carol).unwrap_or_default().contains("user `carol`"));
    }

    #[test]
    fn a_running_system_takes_the_as_areas_but_nothing_that_needs_the_lab_as() {
        let system = Target {
            rs_url: Some("https://127.0.0.1:8443/mcp".into()),
            as_issuer: Some("https://127.0.0.1:9443".into()),
            ..Target::default()
        };
        let reason = |area: &str, scenario: Scenario| not_applicable(area, &scenario, &system);
        // The flows too: the six steps end to end are what a running system is for.
        for area in
            ["discovery", "authorize", "token", "refresh", "registration", "introspection", "rs-validation", "flows"]
        {
            assert_eq!(reason(area, defended("do = \"register\"")), None, "{area}");
        }
        // Against an RS alone the AS areas stay the lab's.
        let rs_only = Target { as_issuer: None, ..system.clone() };
        assert!(not_applicable("token", &defended("do = \"register\""), &rs_only).is_some());
        let said = |area: &str, scenario: Scenario| reason(area, scenario).unwrap_or_default();
        assert!(said("personas", defended("do = \"register\"")).contains("client"));
        assert!(said("token", defended("do = \"forge\"\nkind = \"hs256\"")).contains("lab AS's key"));
        assert!(said("token", defended("do = \"register\"\ntarget = \"tenant\"")).contains("path issuer"));
        assert!(said("rs-validation", defended("do = \"mcp\"\ntarget = \"twin\"")).contains("twin resource server"));
        let cimd = defended("do = \"register\"\nwith = { client_id = \"${cimd}\" }");
        assert!(said("registration", cimd).contains("metadata document"));
        let cimd_origin = defended("do = \"http\"\nurl = \"${cimd_origin}/x\"");
        assert!(said("registration", cimd_origin).contains("metadata document"));
        let interactive = || one_step("defended", "[lab]\ninteractive = true\n", "do = \"authorize\"");
        assert!(said("authorize", interactive()).contains("consent page"));
        // With --login, a scenario that only looks at the AS's pages applies; one that posts the
        // lab's own consent form does not.
        let login = Target { login: Some(crate::Login::new("alice", "pw")), ..system.clone() };
        assert_eq!(not_applicable("authorize", &interactive(), &login), None);
        let posting = one_step(
            "defended",
            "[lab]\ninteractive = true\n",
            "do = \"http\"\nmethod = \"POST\"\nurl = \"${issuer}/consent\"",
        );
        assert!(not_applicable("authorize", &posting, &login).unwrap_or_default().contains("consent page"));
        let bob = one_step("defended", "[lab]\nauto_approve = \"bob\"\n", "do = \"authorize\"");
        assert!(said("authorize", bob).contains("another user"));
        assert!(said("token", one_step("vulnerable", "", "do = \"register\"")).contains("weak profiles"));
        let twin = || defended("do = \"token\"\nwith = { resource = \"${twin_resource}\" }");
        assert!(said("token", twin()).contains("second resource"));
        let second = Target { second_resource: Some("https://127.0.0.1:7445/mcp".into()), ..system.clone() };
        assert_eq!(not_applicable("token", &twin(), &second), None, "--second-resource stands in for the twin");
        // A variable in an expectation counts as much as one in the request.
        let upstream = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"token\"\nexpect = { body_not_contains = [\"${upstream}\"] }\n",
        );
        assert!(said("token", upstream).contains("second resource"));
        // The resource-server rules hold in every area of a running system.
        assert!(said("token", defended("do = \"clock\"\nadvance = 5")).contains("clock"));
        assert!(said("token", defended("do = \"client\"")).contains("client"), "the lab's client cannot sign in there");
    }
}
