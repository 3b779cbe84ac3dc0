//! Running a scenario against a fresh in-process lab on loopback port 0, over real TLS.

use std::collections::HashMap;
use std::time::Duration;

use lab_auth_server::keys::SigningKey;
use lab_auth_server::{AsProfile, SigningAlg};
use lab_client::{ClientConfig, ClientError, McpClient, PreRegistered};
use lab_harness::{LabConfig, RunningLab, VerifyMode};
use lab_mcp_server::RsProfile;
use lab_proto::jose::{b64url_encode, split_compact};
use lab_proto::registration::TokenEndpointAuthMethod;
use serde_json::{Map, Value, json};

use crate::expect::{ClientOutcome, Observation, check};
use crate::schema::{Action, ForgeKind, Scenario, Step, Verdict};
use crate::vars::{Vars, as_param};

/// The redirect URI of the scenario runner's authorization requests (loopback: any port matches
/// the lab clients' `http://127.0.0.1/callback`).
pub const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

/// What a run concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Verdict(Verdict),
    /// Neither verdict: a setup step failed, the canary was hit, or an attack failed without
    /// its exploit holding.
    Broken(String),
    /// The target turned out to offer nothing the scenario tests (a server that keeps no
    /// sessions has no session ids to sample), which only running it could tell.
    Inapplicable(String),
}

/// One step of a run.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub label: String,
    pub attack: bool,
    /// The expectations that did not hold.
    pub failures: Vec<String>,
    /// The exploit expectations that did not hold (when the step has an `exploit`).
    pub exploit_failures: Option<Vec<String>>,
    /// The status it saw, for reports.
    pub status: Option<u16>,
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Report {
    pub id: String,
    pub expected: Verdict,
    pub observed: Observed,
    pub steps: Vec<StepReport>,
    /// Every exchange, secrets redacted.
    pub transcript: Vec<String>,
    /// Every exchange as a record, for sequence diagrams.
    pub exchanges: Vec<ExchangeRecord>,
    /// The credentials the run used, for `--scan-log`; never printed.
    pub used_secrets: UsedSecrets,
}

/// The credentials a run used (tokens, codes, verifiers, client secrets, a password), with the
/// variable that held each. They stay in memory so that a server's log can be searched for them
/// (RS-22, CL-27); `Debug` prints only how many there are, and no report writes them.
#[derive(Clone, Default)]
pub struct UsedSecrets(pub(crate) Vec<(String, String)>);

impl std::fmt::Debug for UsedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UsedSecrets({} values)", self.0.len())
    }
}

/// One request and its answer, as a report draws it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExchangeRecord {
    /// The 1-based step it belongs to.
    pub step: usize,
    /// Who sent it: `attacker` (the runner's raw requests) or `client` (the conforming client).
    pub from: &'static str,
    /// Which server: `AS`, `RS`, `twin RS`, `upstream`, `CIMD host`, `canary`, or the host.
    pub to: String,
    pub method: String,
    /// The path and query, secrets redacted.
    pub path: String,
    pub status: Option<u16>,
}

impl Report {
    /// Whether the run concluded what the file expects (a strict baseline: an expected
    /// `vulnerable` that comes out `defended` fails too).
    pub fn passed(&self) -> bool {
        self.observed == Observed::Verdict(self.expected)
    }

    /// Why it did not pass, readable.
    pub fn explanation(&self) -> String {
        let mut text = match &self.observed {
            Observed::Verdict(verdict) if *verdict == self.expected => format!("{}: as expected", verdict.name()),
            Observed::Verdict(Verdict::Defended) => {
                "expected `vulnerable`, but the target defended itself: a stale expectation (the weakness is gone)"
                    .to_owned()
            }
            Observed::Verdict(Verdict::Vulnerable) => {
                // "Succeeded" only where an exploit expectation confirmed it; otherwise the target
                // answered the attack, but not as the specification requires (a wrong error code,
                // a missing parameter), which is a finding of its own.
                let confirmed = self.steps.iter().any(|step| {
                    step.attack
                        && !step.failures.is_empty()
                        && step.exploit_failures.as_ref().is_some_and(Vec::is_empty)
                });
                if confirmed {
                    "expected `defended`, but the attack succeeded".to_owned()
                } else {
                    "expected `defended`, but the target did not answer the attack as the specification requires"
                        .to_owned()
                }
            }
            Observed::Broken(reason) => format!("the scenario could not conclude: {reason}"),
            Observed::Inapplicable(reason) => format!("not applicable: {reason}"),
        };
        for step in &self.steps {
            for failure in &step.failures {
                text.push_str(&format!(
                    "\n  step `{}`{}: {failure}",
                    step.label,
                    if step.attack { " (attack)" } else { "" }
                ));
            }
            // An exploit only matters where the defence failed.
            if !step.failures.is_empty() {
                for failure in step.exploit_failures.iter().flatten() {
                    text.push_str(&format!("\n  step `{}` exploit: {failure}", step.label));
                }
            }
        }
        text
    }
}

/// A run in progress.
struct Run {
    /// Where the run goes: the lab, or third-party servers.
    target: Target,
    /// Cookies a third-party AS set during a headless sign-in, as (origin, name, value).
    cookies: Vec<(String, String, String)>,
    /// Whether this step's answer is the redirect after a submitted sign-in form.
    signed_in: bool,
    exchanges: Vec<ExchangeRecord>,
    step_index: usize,
    lab: RunningLab,
    http: reqwest::Client,
    vars: Vars,
    sessions: HashMap<(String, String), String>,
    transcript: Vec<String>,
    next_id: i64,
    /// Whether a wait happened in this run.
    paced: bool,
}

/// The longest `Retry-After` a run against a running system waits out.
const MAX_PACING_SECONDS: u64 = 60;

/// Where the scenarios run.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// A third-party MCP server (its MCP endpoint URL) that trusts the lab's authorization server:
    /// the resource-server steps go there instead of the lab's resource server.
    pub rs_url: Option<String>,
    /// The CA the third-party server's certificate chains to (the lab CA when `None`).
    pub rs_ca_pem: Option<Vec<u8>>,
    /// The lab's AS port when a third-party server must find it at a fixed issuer (`--as-port`).
    pub as_port: Option<u16>,
    /// The lab CA folder, shared with the third-party server's configuration (`certs/`).
    pub cert_dir: Option<std::path::PathBuf>,
    /// A third-party authorization server (its issuer). Alone, the authorization-server battery
    /// runs against it; with `rs_url` (the MCP server that trusts it) the whole battery runs
    /// against that running system. Without `login` it must approve the lab user `alice`
    /// without a page, and without `client_id` it must know the lab's pre-registered clients (as
    /// `mcp-authlab up --auto-approve alice` does).
    pub as_issuer: Option<String>,
    /// The third-party AS's metadata (RFC 8414), read once by [`crate::discover`]: its endpoints
    /// replace the lab's paths, and what it does not offer makes scenarios not applicable.
    pub as_metadata: Option<lab_proto::metadata::AuthorizationServerMetadata>,
    /// A public client pre-registered at the third-party AS: it replaces the lab's public client,
    /// and the plain registrations that only set a scenario up.
    pub client_id: Option<String>,
    /// The redirect URI registered for `client_id` (default [`REDIRECT_URI`]).
    pub redirect_uri: Option<String>,
    /// The resource indicator (RFC 8707) sent to an AS tested without its MCP server.
    pub resource: Option<String>,
    /// A headless sign-in at the third-party AS's own login and consent pages.
    pub login: Option<crate::Login>,
    /// A confidential client pre-registered at the third-party AS: it replaces the lab's
    /// `lab-confidential-client`.
    pub confidential_client: Option<crate::ConfidentialClient>,
    /// Whether the third-party AS serves an OpenID configuration, which is optional beside its
    /// RFC 8414 metadata (MCP-1125 §AS Metadata Discovery asks for one of the two).
    pub as_oidc_configuration: bool,
}

impl Target {
    /// Whether a third-party server is the target.
    pub fn is_external(&self) -> bool {
        self.rs_url.is_some() || self.as_issuer.is_some()
    }

    /// Whether `step` is a plain registration that only sets a scenario up, which a pre-registered
    /// client replaces. A named or capturing registration matters to its scenario (the attack
    /// depends on what it registered, or on a second client), so it still registers.
    fn replaces_registration(&self, step: &Step) -> bool {
        self.client_id.is_some()
            && step.action == Action::Register
            && !step.attack
            && step.name.is_none()
            && step.capture.is_empty()
            && step.with.is_empty()
            && step.remove.is_empty()
            && step.headers.is_empty()
    }
}

/// The areas whose scenarios speak only HTTP and the authorization layer of MCP, so they can run
/// against any MCP server (their tool calls become `initialize`, which every server has).
const PORTABLE_AREAS: [&str; 2] = ["rs-validation", "transport"];

/// Why a scenario cannot run against `target`, if it cannot.
pub fn not_applicable(area: &str, scenario: &Scenario, target: &Target) -> Option<String> {
    if !target.is_external() {
        return None;
    }
    let lab = &scenario.lab;
    if scenario.verdict == Verdict::Vulnerable {
        return Some("it proves a weakness of one of the lab's own weak profiles".to_owned());
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
        if let Some(reason) = not_applicable_to_running_system(area, scenario)
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
    let expects = scenario.steps.iter().flat_map(|step| std::iter::once(&step.expect).chain(step.exploit.as_ref()));
    let insufficient = |expect: &crate::schema::Expect| {
        expect.error.as_deref() == Some("insufficient_scope")
            || expect.challenge.get("error").is_some_and(|error| error == "insufficient_scope")
    };
    if expects.clone().any(insufficient) {
        return Some("it depends on the lab shop's per-tool scopes".to_owned());
    }
    for step in &scenario.steps {
        match step.action {
            Action::Client | Action::Profile => {
                return Some("it runs the lab's client or switches the lab's profiles".to_owned());
            }
            Action::Clock => return Some("the third-party server does not share the lab's clock".to_owned()),
            Action::Mcp
                if step.session == Some(false) && step.method.as_deref().unwrap_or("tools/call") == "tools/call" =>
            {
                return Some("it tests how the lab's resource server keeps sessions".to_owned());
            }
            Action::Mcp
                if step.session != Some(false)
                    && step
                        .method
                        .as_deref()
                        .is_some_and(|method| method != "tools/call" && method != "initialize") =>
            {
                return Some("it needs an MCP method the third-party server may not offer".to_owned());
            }
            _ => {}
        }
        let uses_sessions = step.headers.keys().any(|name| {
            name.eq_ignore_ascii_case("mcp-session-id") || name.eq_ignore_ascii_case("mcp-protocol-version")
        }) || step.capture.values().any(|spec| spec.eq_ignore_ascii_case("header:mcp-session-id"));
        if uses_sessions {
            return Some("it depends on how the lab's resource server keeps sessions".to_owned());
        }
        // A sample of session ids is about the server's generator, not about the lab's limits.
        if step.repeat.is_some() && step.expect.session_ids.is_none() {
            return Some("it depends on the lab's rate limits".to_owned());
        }
    }
    None
}

/// The areas that apply to a running system: its AS and the MCP server that trusts it.
const SYSTEM_AREAS: [&str; 8] =
    ["discovery", "authorize", "token", "refresh", "registration", "introspection", "rs-validation", "transport"];

/// The rules of [`not_applicable`] that only a running system adds; the resource-server rules
/// (clock, profiles, sessions, rate limits, per-tool scopes) follow them for every area.
fn not_applicable_to_running_system(area: &str, scenario: &Scenario) -> Option<String> {
    if !SYSTEM_AREAS.contains(&area) {
        return Some(format!("the `{area}` scenarios test the lab's own client or need the lab shop's tools and data"));
    }
    if scenario.lab.signing_alg.is_some() {
        return Some("it switches the lab AS to another signing algorithm".to_owned());
    }
    if scenario.lab.interactive || scenario.lab.auto_approve.as_deref().is_some_and(|user| user != "alice") {
        return Some("it signs in through the lab's login and consent page, or as another user than alice".to_owned());
    }
    for step in &scenario.steps {
        if step.action == Action::Forge {
            return Some(
                "it forges or re-signs tokens with the lab AS's key, which the third-party MCP server does not trust"
                    .to_owned(),
            );
        }
        if step.target.as_deref() == Some("tenant") {
            return Some("it uses the lab AS's path issuer (`/tenant1`)".to_owned());
        }
        if step.target.as_deref() == Some("twin") {
            return Some("it uses the lab's twin resource server".to_owned());
        }
        // The lab's helper hosts run in this process, on ports the third-party AS does not know.
        let text = format!("{step:?}");
        if text.contains("${cimd") {
            return Some("the third-party AS cannot fetch the lab's client ID metadata document".to_owned());
        }
        if text.contains("${twin_resource}") || text.contains("${upstream}") {
            return Some(
                "it needs a second resource (the lab's twin RS or upstream API) the third-party AS does not know"
                    .to_owned(),
            );
        }
    }
    None
}

/// What a third-party AS lacks for `scenario`: its MCP server (when tested alone), an endpoint its
/// metadata does not name, or the lab's pre-registered clients (when one of its own is supplied).
fn not_applicable_to_third_party_as(area: &str, scenario: &Scenario, target: &Target) -> Option<String> {
    if target.rs_url.is_none() {
        if area == "rs-validation" || area == "transport" {
            return Some(format!("the `{area}` scenarios test an MCP server: add --rs-url"));
        }
        for step in &scenario.steps {
            let url = step.url.as_deref().unwrap_or_default();
            if step.action == Action::Mcp
                || ["${prm}", "${rs_origin}", "${rs_host}", "${resource}"].iter().any(|var| url.contains(var))
            {
                return Some("it calls the MCP server, which is not under test: add --rs-url".to_owned());
            }
        }
    }
    for step in &scenario.steps {
        let text = format!("{step:?}");
        if target.as_metadata.is_some() && !target.as_oidc_configuration && text.contains("${oidc_metadata_url}") {
            return Some(
                "the AS serves no OpenID configuration, which is optional (MCP-1125 asks for one of the two documents)"
                    .to_owned(),
            );
        }
        if let Some(metadata) = &target.as_metadata {
            let endpoints = [
                (
                    "registration_endpoint",
                    &metadata.registration_endpoint,
                    step.action == Action::Register && !target.replaces_registration(step),
                ),
                ("revocation_endpoint", &metadata.revocation_endpoint, step.action == Action::Revoke),
                ("introspection_endpoint", &metadata.introspection_endpoint, step.action == Action::Introspect),
            ];
            for (name, endpoint, used) in endpoints {
                if endpoint.is_none() && (used || text.contains(&format!("${{{name}}}"))) {
                    return Some(format!("the AS's metadata names no `{name}` (RFC 8414 §2)"));
                }
            }
        }
        // The user a third-party AS signs in: --login's, or `alice`, whom it must approve.
        let signed_in = target.login.as_ref().map_or("alice", |login| login.user.as_str());
        let hint = step.with.get("login_hint").and_then(Value::as_str);
        if let Some(user) = hint.filter(|user| *user != signed_in) {
            return Some(format!("it signs in as the lab's user `{user}`, and the run signs in as `{signed_in}`"));
        }
        if target.client_id.is_some() {
            // `--confidential-client` stands in for the lab's confidential client, not for the RS's.
            let confidential = target.confidential_client.is_none()
                && (text.contains("${confidential_client}")
                    || (step.action == Action::ClientCredentials && step.basic.is_none()));
            let rs_client = text.contains("lab-rs") || (step.action == Action::Introspect && step.basic.is_none());
            if confidential {
                return Some(
                    "it uses the lab's pre-registered client `lab-confidential-client`, which the AS does not know: add --confidential-client"
                        .to_owned(),
                );
            }
            if rs_client {
                return Some("it uses the lab's pre-registered client `lab-rs`, which the AS does not know".to_owned());
            }
        }
    }
    None
}

/// Starts a lab for `scenario` and runs it.
pub async fn run(id: &str, scenario: &Scenario) -> Result<Report, String> {
    run_against(id, scenario, &Target::default()).await
}

/// Starts a lab for `scenario` and runs it against `target`.
pub async fn run_against(id: &str, scenario: &Scenario, target: &Target) -> Result<Report, String> {
    let (report, paced) = run_once(id, scenario, target).await?;
    if paced && !report.passed() {
        // A wait for the target's rate limit in the middle of a flow can outlast a code or a
        // token; the window is fresh now, so the scenario runs once more from the start.
        return run_once(id, scenario, target).await.map(|(report, _)| report);
    }
    Ok(report)
}

/// One run of `scenario` on a fresh lab, and whether it waited for the target's rate limits.
async fn run_once(id: &str, scenario: &Scenario, target: &Target) -> Result<(Report, bool), String> {
    let lab = start_lab(scenario, target).await?;
    let certs: Vec<reqwest::Certificate> = std::iter::once(lab.ca_pem().as_bytes().to_vec())
        .chain(target.rs_ca_pem.clone())
        .filter_map(|pem| reqwest::Certificate::from_pem(&pem).ok())
        .collect();
    let http_builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15));
    // A third-party AS may have a public certificate: the platform's roots are trusted beside the
    // lab CA and `--ca` then; the lab's own runs trust the lab CA alone.
    let mut http_builder = if target.as_issuer.is_some() {
        http_builder.tls_certs_merge(certs)
    } else {
        http_builder.tls_certs_only(certs)
    };
    if target.is_external() {
        // A third-party server may answer on another HTTP version; nothing else changes.
        http_builder = http_builder.pool_max_idle_per_host(4);
    }
    let http = http_builder.build().map_err(|error| error.to_string())?;
    let mut vars = Vars::default();
    let rs_issuer = if scenario.lab.rs_issuer.as_deref() == Some("tenant") { lab.path_issuer() } else { lab.issuer() };
    for (name, value) in [
        ("issuer", lab.issuer().to_owned()),
        ("tenant_issuer", lab.path_issuer().to_owned()),
        ("rs_issuer", rs_issuer.to_owned()),
        ("resource", lab.resource().to_owned()),
        ("twin_resource", lab.twin_resource().to_owned()),
        ("prm", lab.resource_metadata_url()),
        ("upstream", lab.upstream_url().to_owned()),
        ("canary", lab.canary().url()),
        ("canary_host", lab.canary().addr().to_string()),
        ("cimd", lab.client_metadata_document()),
        ("cimd_origin", format!("https://{}", lab.cimd_addr())),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("rs_origin", format!("https://{}", lab.rs_addr())),
        ("rs_host", lab.rs_addr().to_string()),
    ] {
        vars.set(name, value);
    }
    // The lab AS's endpoints, each replaced by what the third-party AS's metadata names.
    let endpoints = [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("registration_endpoint", "/register"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("jwks_uri", "/jwks"),
    ];
    for (name, path) in endpoints {
        vars.set(name, format!("{}{path}", lab.issuer()));
    }
    if let Some(issuer) = &target.as_issuer {
        for name in ["issuer", "rs_issuer"] {
            vars.set(name, issuer.clone());
        }
        let metadata = target.as_metadata.as_ref();
        for (name, path) in endpoints {
            let named = metadata.and_then(|metadata| match name {
                "authorization_endpoint" => metadata.authorization_endpoint.clone(),
                "token_endpoint" => metadata.token_endpoint.clone(),
                "registration_endpoint" => metadata.registration_endpoint.clone(),
                "revocation_endpoint" => metadata.revocation_endpoint.clone(),
                "introspection_endpoint" => metadata.introspection_endpoint.clone(),
                _ => metadata.jwks_uri.clone(),
            });
            vars.set(name, named.unwrap_or_else(|| format!("{issuer}{path}")));
        }
    }
    // RFC 8414 §3.1 and OIDCD §4: where the issuer's metadata documents are (path insertion), so
    // an issuer with a path or a terminating `/` finds them where a client would.
    let issuer = vars.get("issuer").unwrap_or_default().to_owned();
    let metadata_urls = lab_proto::metadata::authorization_server_metadata_urls(&issuer);
    for (name, index) in [("as_metadata_url", 0), ("oidc_metadata_url", 1)] {
        vars.set(name, metadata_urls.get(index).cloned().unwrap_or_default());
    }
    vars.set(
        "public_client",
        target.client_id.clone().unwrap_or_else(|| lab_auth_server::config::lab::PUBLIC_CLIENT_ID.to_owned()),
    );
    let (confidential_id, confidential_secret) = match &target.confidential_client {
        Some(client) => (client.id.clone(), client.secret().to_owned()),
        None => (
            lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_ID.to_owned(),
            lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_SECRET.to_owned(),
        ),
    };
    vars.set("confidential_client", confidential_id);
    vars.set("confidential_secret", confidential_secret);
    if let Some(uri) = &target.redirect_uri {
        vars.set("redirect_uri", uri.clone());
    }
    if let (None, Some(resource)) = (&target.rs_url, &target.resource) {
        vars.set("resource", resource.clone());
    }
    if let Some(url) = &target.rs_url {
        let (origin, _) = lab_proto::metadata::split_origin_path(url);
        vars.set("resource", url.clone());
        vars.set("prm", lab_proto::metadata::protected_resource_metadata_url(url));
        vars.set("rs_origin", origin.to_owned());
        vars.set("rs_host", origin.split_once("://").map_or(origin, |(_, host)| host).to_owned());
    }
    let mut run = Run {
        target: target.clone(),
        cookies: Vec::new(),
        signed_in: false,
        paced: false,
        exchanges: Vec::new(),
        step_index: 0,
        lab,
        http,
        vars,
        sessions: HashMap::new(),
        transcript: Vec::new(),
        next_id: 1,
    };
    let report = run.steps(id, scenario).await;
    run.lab.shutdown().await;
    Ok((report, run.paced))
}

async fn start_lab(scenario: &Scenario, target: &Target) -> Result<RunningLab, String> {
    let setup = &scenario.lab;
    let mut config = LabConfig::ephemeral();
    if let Some(url) = &target.rs_url
        && target.as_issuer.is_none()
    {
        // The third-party server trusts the lab AS at a fixed issuer, with the CA it was given.
        config.as_port = target.as_port;
        config.cert_dir = target.cert_dir.clone();
        config.extra_resources = vec![url.clone()];
    }
    config.profile = parse_or_default(setup.as_profile.as_deref())?;
    config.rs_profile = parse_or_default(setup.rs_profile.as_deref())?;
    config.signing_alg = parse_or_default(setup.signing_alg.as_deref())?;
    config.verify =
        if setup.verify.as_deref() == Some("introspection") { VerifyMode::Introspection } else { VerifyMode::Jwt };
    config.anonymous_public = setup.anonymous_public;
    config.auto_approve =
        if setup.interactive { None } else { Some(setup.auto_approve.clone().unwrap_or_else(|| "alice".to_owned())) };
    config.rs_uses_path_issuer = setup.rs_issuer.as_deref() == Some("tenant");
    lab_harness::start(config).await.map_err(|error| format!("failed to start the lab: {error}"))
}

/// A `[lab]` name parsed into its type (a profile, an algorithm), or the type's default.
fn parse_or_default<T>(name: Option<&str>) -> Result<T, String>
where
    T: std::str::FromStr + Default,
    T::Err: std::fmt::Display,
{
    name.map_or_else(|| Ok(T::default()), |name| name.parse::<T>().map_err(|error| error.to_string()))
}

impl Run {
    async fn steps(&mut self, id: &str, scenario: &Scenario) -> Report {
        let last = scenario.steps.len().saturating_sub(1);
        let any_attack = scenario.steps.iter().any(|step| step.attack);
        let mut reports = Vec::new();
        let mut broken = None;
        let mut inapplicable = None;
        for (index, step) in scenario.steps.iter().enumerate() {
            let attack = step.attack || (!any_attack && index == last);
            self.step_index = index + 1;
            self.transcript.push(format!(
                "--- step {}: {}{}",
                index + 1,
                step.label(),
                if attack { " (attack)" } else { "" }
            ));
            if self.target.replaces_registration(step) {
                // A pre-registered client stands in for a registration that only sets the
                // scenario up; its expectations are about the lab's registration, so none apply.
                let client_id = self.target.client_id.clone().unwrap_or_default();
                self.transcript.push(format!("(the pre-registered client `{client_id}` replaces this registration)"));
                self.vars.set("client_id", client_id);
                reports.push(StepReport {
                    label: step.label(),
                    attack,
                    failures: Vec::new(),
                    exploit_failures: None,
                    status: None,
                });
                continue;
            }
            self.signed_in = false;
            let times = step.repeat.unwrap_or(1);
            let mut observation = Ok(Observation::default());
            let mut session_ids = Vec::new();
            for _ in 0..times {
                observation = self.execute(step).await;
                match &observation {
                    Ok(seen) => session_ids.push(seen.header("mcp-session-id").map(str::to_owned)),
                    Err(_) => break,
                }
            }
            let observation = observation.map(|seen| Observation { session_ids, ..seen });
            let observation = match observation {
                // TR-1125 §Session Management: a server MAY assign session ids; one that answered
                // every run without any has none to judge.
                Ok(observation) if observation.inapplicable.is_some() => {
                    inapplicable = observation.inapplicable;
                    break;
                }
                Ok(observation)
                    if step.expect.session_ids.is_some()
                        && observation.status.is_some_and(|status| (200..300).contains(&status))
                        && observation.session_ids.iter().all(Option::is_none) =>
                {
                    inapplicable = Some("the server assigns no session ids (TR-1125 makes them optional)".to_owned());
                    break;
                }
                Ok(observation) => observation,
                Err(error) => {
                    broken = Some(format!("step `{}` could not run: {error}", step.label()));
                    reports.push(StepReport {
                        label: step.label(),
                        attack,
                        failures: vec![error],
                        exploit_failures: None,
                        status: None,
                    });
                    break;
                }
            };
            if let Err(error) = self.capture(step, &observation) {
                broken = Some(format!("step `{}`: {error}", step.label()));
                break;
            }
            // Against a third-party server only the HTTP layer is comparable: status, headers,
            // challenges, and secrets that must not appear; tool results are the lab shop's.
            let signed_in = self.signed_in;
            // Only the steps that reach a third-party MCP server are cut down to the HTTP level;
            // the AS steps of a running system keep every expectation.
            let to_rs = step.action == Action::Mcp
                || step
                    .url
                    .as_deref()
                    .is_some_and(|url| ["${resource}", "${prm}", "${rs_origin}"].iter().any(|var| url.contains(var)));
            // RFC 9207 §2.4: `iss` in the authorization response is required only of an AS that
            // advertises it; whether it does is `discovery/iss-parameter`'s question.
            let iss_optional = self
                .target
                .as_metadata
                .as_ref()
                .is_some_and(|metadata| metadata.authorization_response_iss_parameter_supported != Some(true));
            let project = |expect: &crate::schema::Expect| {
                let mut expect =
                    if self.target.rs_url.is_some() && to_rs { http_level(expect) } else { expect.clone() };
                if iss_optional {
                    expect.redirect.remove("iss");
                }
                if signed_in && expect.status == Some(302) {
                    // After a form POST an AS redirects with 302 or 303 (RFC 9110 §15.4.4); both
                    // are an authorization response. A 307 would re-post the password, so it
                    // still fails.
                    expect.status = None;
                    expect.status_in = Some(vec![302, 303]);
                }
                expect
            };
            let failures = check(&project(&step.expect), &observation, &self.vars);
            let exploit_failures =
                step.exploit.as_ref().map(|exploit| check(&project(exploit), &observation, &self.vars));
            let setup_failed = !attack && !failures.is_empty();
            reports.push(StepReport {
                label: step.label(),
                attack,
                failures,
                exploit_failures,
                status: observation.status,
            });
            if setup_failed {
                broken = Some(format!("setup step `{}` did not answer as expected", step.label()));
                break;
            }
        }
        if broken.is_none() && self.lab.canary().hits() > 0 {
            broken = Some(format!("the SSRF canary was reached {} times", self.lab.canary().hits()));
        }
        let observed = match (broken, inapplicable) {
            (Some(reason), _) => Observed::Broken(reason),
            (None, Some(reason)) => Observed::Inapplicable(reason),
            (None, None) => {
                let attacks: Vec<&StepReport> = reports.iter().filter(|step| step.attack).collect();
                if attacks.iter().all(|step| step.failures.is_empty()) {
                    Observed::Verdict(Verdict::Defended)
                } else if attacks
                    .iter()
                    .filter(|step| !step.failures.is_empty())
                    .all(|step| step.exploit_failures.as_ref().is_none_or(Vec::is_empty))
                {
                    Observed::Verdict(Verdict::Vulnerable)
                } else {
                    Observed::Broken("an attack step was neither defended nor clearly exploited".to_owned())
                }
            }
        };
        // Secrets the run learnt are scrubbed from the transcript as a last line of defence.
        let secrets = self.vars.secrets();
        let scrub = |text: &str| {
            secrets.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), "[redacted]"))
        };
        // Failure messages quote what was seen, which may be a token: scrubbed like the transcript.
        for step in &mut reports {
            step.failures = step.failures.iter().map(|failure| scrub(failure)).collect();
            if let Some(failures) = &mut step.exploit_failures {
                *failures = failures.iter().map(|failure| scrub(failure)).collect();
            }
        }
        let observed = match observed {
            Observed::Broken(reason) => Observed::Broken(scrub(&reason)),
            verdict => verdict,
        };
        let transcript = self.transcript.iter().map(|line| scrub(line)).collect();
        let exchanges = std::mem::take(&mut self.exchanges)
            .into_iter()
            .map(|mut exchange| {
                exchange.path = scrub(&exchange.path);
                exchange
            })
            .collect();
        Report {
            id: id.to_owned(),
            expected: scenario.verdict,
            observed,
            steps: reports,
            transcript,
            exchanges,
            used_secrets: UsedSecrets(self.vars.used_secrets()),
        }
    }

    fn capture(&mut self, step: &Step, seen: &Observation) -> Result<(), String> {
        for (name, spec) in &step.capture {
            let value = if let Some(pointer) = spec.strip_prefix("json:") {
                seen.json.as_ref().and_then(|json| json.pointer(pointer)).map(as_param)
            } else if let Some(param) = spec.strip_prefix("redirect:") {
                seen.redirect_params()
                    .and_then(|params| params.into_iter().find(|(key, _)| key == param).map(|(_, value)| value))
            } else if let Some(header) = spec.strip_prefix("header:") {
                seen.header(header).map(str::to_owned)
            } else if let Some(cookie) = spec.strip_prefix("cookie:") {
                // `name=value` of the named cookie, from whichever Set-Cookie carries it.
                seen.headers
                    .iter()
                    .filter(|(key, _)| key == "set-cookie")
                    .filter_map(|(_, value)| value.split(';').next())
                    .find(|pair| pair.split_once('=').is_some_and(|(key, _)| key.trim() == cookie))
                    .map(|pair| pair.trim().to_owned())
            } else if let Some(variable) = spec.strip_prefix("var:") {
                // A value the step itself chose, such as its fresh PKCE `challenge`.
                self.vars.get(variable).map(str::to_owned)
            } else if let Some(field) = spec.strip_prefix("html:") {
                // The value of a form field `name="field" value="…"` of an HTML page.
                let body = String::from_utf8_lossy(&seen.body);
                let marker = format!("name=\"{field}\" value=\"");
                body.find(&marker).and_then(|start| {
                    let rest = &body[start + marker.len()..];
                    rest.find('"').map(|end| rest[..end].replace("&quot;", "\"").replace("&amp;", "&"))
                })
            } else {
                None
            };
            let value = value.ok_or_else(|| format!("nothing to capture into `{name}` from `{spec}`"))?;
            self.vars.set(name.clone(), value);
        }
        Ok(())
    }

    /// The issuer a step talks to: the lab's (or its path issuer), or the third-party one.
    fn issuer_for(&self, step: &Step) -> String {
        match step.target.as_deref() {
            Some("tenant") => self.lab.path_issuer().to_owned(),
            _ => self.vars.get("issuer").unwrap_or(self.lab.issuer()).to_owned(),
        }
    }

    fn mcp_url_for(&self, step: &Step) -> String {
        match step.target.as_deref() {
            Some("twin") => self.lab.twin_resource().to_owned(),
            _ => self.resource(),
        }
    }

    /// The resource under test: the lab's RS, or the third-party one.
    fn resource(&self) -> String {
        self.target
            .rs_url
            .clone()
            .or_else(|| self.target.resource.clone())
            .unwrap_or_else(|| self.lab.resource().to_owned())
    }

    /// The URL of an AS endpoint for `step`: the path issuer's, or the one the run's variables
    /// name (the lab's path, or what a third-party AS's metadata says).
    fn endpoint(&self, step: &Step, name: &str, path: &str) -> String {
        if step.target.as_deref() == Some("tenant") {
            return format!("{}{path}", self.lab.path_issuer());
        }
        self.vars.get(name).map_or_else(|| format!("{}{path}", self.issuer_for(step)), str::to_owned)
    }

    /// Default parameters edited by `with`, `remove` and `add`.
    fn params(&self, step: &Step, defaults: &[(&str, String)]) -> Result<Vec<(String, String)>, String> {
        let mut params: Vec<(String, String)> =
            defaults.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        for (name, value) in &step.with {
            let value = self.vars.expand(&as_param(value))?;
            match params.iter_mut().find(|(key, _)| key == name) {
                Some(slot) => slot.1 = value,
                None => params.push((name.clone(), value)),
            }
        }
        params.retain(|(name, _)| !step.remove.contains(name));
        for [name, value] in &step.add {
            params.push((name.clone(), self.vars.expand(value)?));
        }
        Ok(params)
    }

    fn var_or_empty(&self, name: &str) -> String {
        self.vars.get(name).unwrap_or_default().to_owned()
    }

    fn headers(&self, step: &Step) -> Result<Vec<(String, String)>, String> {
        let mut headers: Vec<(String, String)> = step
            .headers
            .iter()
            .map(|(name, value)| Ok((name.to_ascii_lowercase(), self.vars.expand(value)?)))
            .collect::<Result<_, String>>()?;
        if let Some([id, secret]) = &step.basic {
            headers.push((
                "authorization".to_owned(),
                lab_proto::basic::authorization(&self.vars.expand(id)?, &self.vars.expand(secret)?),
            ));
        }
        Ok(headers)
    }

    async fn execute(&mut self, step: &Step) -> Result<Observation, String> {
        match step.action {
            Action::Register => {
                let endpoint = self.endpoint(step, "registration_endpoint", "/register");
                // The lab registers the loopback URI without a port and requests it with one (RFC
                // 8252 §7.3). A third-party AS gets the exact URI too, so that one refusing the port
                // variance fails the scenario that tests it (`redirect-uri-loopback-port`) rather
                // than every flow.
                let mut redirect_uris = vec!["http://127.0.0.1/callback".to_owned()];
                if self.target.as_issuer.is_some() {
                    redirect_uris.push(self.var_or_empty("redirect_uri"));
                }
                let mut body = json!({
                    "redirect_uris": redirect_uris,
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "client_name": "Scenario client",
                    "application_type": "native",
                    "scope": "mcp:read mcp:write mcp:admin"
                });
                if let Value::Object(members) = &mut body {
                    for (name, value) in &step.with {
                        members.insert(name.clone(), self.vars.expand_json(value)?);
                    }
                    for name in &step.remove {
                        members.remove(name);
                    }
                }
                let headers = self.headers(step)?;
                let seen = self.send("POST", &endpoint, headers, Payload::Json(body)).await?;
                if let Some(json) = &seen.json {
                    if let Some(client_id) = json.get("client_id").and_then(Value::as_str) {
                        self.vars.set("client_id", client_id);
                    }
                    if let Some(secret) = json.get("client_secret").and_then(Value::as_str) {
                        self.vars.set("client_secret", secret);
                    }
                }
                Ok(seen)
            }
            Action::Authorize => {
                let endpoint = self.endpoint(step, "authorization_endpoint", "/authorize");
                let verifier =
                    lab_proto::pkce::generate_verifier().map_err(|_| "random source failed".to_owned())?.into_secret();
                let state = lab_proto::random_token(16).map_err(|_| "random source failed".to_owned())?;
                self.vars.set("verifier", verifier.clone());
                self.vars.set("challenge", lab_proto::pkce::s256_challenge(&verifier));
                self.vars.set("state", state.clone());
                let defaults = [
                    ("response_type", "code".to_owned()),
                    ("client_id", self.var_or_empty("client_id")),
                    ("redirect_uri", self.var_or_empty("redirect_uri")),
                    ("scope", "mcp:read".to_owned()),
                    ("state", state),
                    ("code_challenge", lab_proto::pkce::s256_challenge(&verifier)),
                    ("code_challenge_method", "S256".to_owned()),
                    ("resource", self.resource()),
                ];
                let params = self.params(step, &defaults)?;
                let query: String =
                    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
                let headers = self.headers(step)?;
                // RFC 6749 §3.1: an endpoint may carry its own query, which is kept.
                let separator = if endpoint.contains('?') { '&' } else { '?' };
                let url = format!("{endpoint}{separator}{query}");
                let mut seen = self.send("GET", &url, headers, Payload::None).await?;
                if let Some(login) = self.target.login.clone() {
                    seen = self.sign_in(&url, seen, &login).await?;
                }
                if let Some((_, code)) =
                    seen.redirect_params().and_then(|params| params.into_iter().find(|(key, _)| key == "code"))
                {
                    self.vars.set("code", code);
                }
                Ok(seen)
            }
            Action::Token | Action::Refresh | Action::ClientCredentials | Action::Revoke | Action::Introspect => {
                let resource = self.resource();
                let (path, defaults, default_basic): (&str, Vec<(&str, String)>, DefaultBasic) = match step.action {
                    Action::Token => (
                        "/token",
                        vec![
                            ("grant_type", "authorization_code".to_owned()),
                            ("code", self.var_or_empty("code")),
                            ("code_verifier", self.var_or_empty("verifier")),
                            ("client_id", self.var_or_empty("client_id")),
                            ("redirect_uri", self.var_or_empty("redirect_uri")),
                            ("resource", resource),
                        ],
                        None,
                    ),
                    Action::Refresh => (
                        "/token",
                        vec![
                            ("grant_type", "refresh_token".to_owned()),
                            ("refresh_token", self.var_or_empty("refresh_token")),
                            ("client_id", self.var_or_empty("client_id")),
                            ("resource", resource),
                        ],
                        None,
                    ),
                    Action::ClientCredentials => (
                        "/token",
                        vec![
                            ("grant_type", "client_credentials".to_owned()),
                            ("scope", "mcp:read".to_owned()),
                            ("resource", resource),
                        ],
                        Some((self.var_or_empty("confidential_client"), self.var_or_empty("confidential_secret"))),
                    ),
                    Action::Revoke => (
                        "/revoke",
                        vec![
                            ("token", self.var_or_empty("access_token")),
                            ("client_id", self.var_or_empty("client_id")),
                        ],
                        None,
                    ),
                    _ => (
                        "/introspect",
                        vec![("token", self.var_or_empty("access_token"))],
                        Some((
                            lab_auth_server::config::lab::RS_CLIENT_ID.to_owned(),
                            lab_auth_server::config::lab::RS_CLIENT_SECRET.to_owned(),
                        )),
                    ),
                };
                let params = self.params(step, &defaults)?;
                let mut headers = self.headers(step)?;
                if step.basic.is_none()
                    && let Some((id, secret)) = default_basic
                {
                    headers.push(("authorization".to_owned(), lab_proto::basic::authorization(&id, &secret)));
                }
                let endpoint = match path {
                    "/token" => self.endpoint(step, "token_endpoint", path),
                    "/revoke" => self.endpoint(step, "revocation_endpoint", path),
                    _ => self.endpoint(step, "introspection_endpoint", path),
                };
                let seen = self.send("POST", &endpoint, headers, Payload::Form(params)).await?;
                if matches!(step.action, Action::Token | Action::Refresh | Action::ClientCredentials)
                    && seen.status == Some(200)
                    && let Some(json) = &seen.json
                {
                    for name in ["access_token", "refresh_token"] {
                        if let Some(value) = json.get(name).and_then(Value::as_str) {
                            self.vars.set(name, value);
                        }
                    }
                }
                Ok(seen)
            }
            Action::Mcp => self.mcp(step).await,
            Action::Http => {
                let url = self.vars.expand(step.url.as_deref().unwrap_or_default())?;
                let mut headers = self.headers(step)?;
                if let Some(token) = &step.token {
                    headers.push(("authorization".to_owned(), format!("Bearer {}", self.vars.expand(token)?)));
                }
                let payload = match (&step.form, &step.json, &step.body) {
                    (Some(form), _, _) => Payload::Form(
                        form.iter()
                            .map(|[name, value]| Ok((name.clone(), self.vars.expand(value)?)))
                            .collect::<Result<_, String>>()?,
                    ),
                    (None, Some(json), _) => Payload::Json(self.vars.expand_json(json)?),
                    (None, None, Some(body)) => Payload::Raw(self.vars.expand(body)?),
                    _ => Payload::None,
                };
                let method = step.method.clone().unwrap_or_else(|| "GET".to_owned());
                self.send(&method, &url, headers, payload).await
            }
            Action::Forge => {
                let token = self.forge(step)?;
                self.vars.set(step.into.clone().unwrap_or_else(|| "forged".to_owned()), token);
                Ok(Observation::default())
            }
            Action::Clock => {
                let seconds = step.advance.unwrap_or(0);
                self.lab.clock().advance(seconds);
                self.transcript.push(format!("clock moved by {seconds} s"));
                Ok(Observation::default())
            }
            Action::Profile => {
                if let Some(name) = &step.as_profile {
                    let profile: AsProfile =
                        name.parse().map_err(|error: lab_auth_server::UnknownProfile| error.to_string())?;
                    self.lab.auth_server().set_profile(profile);
                    self.lab.tenant_server().set_profile(profile);
                }
                if let Some(name) = &step.rs {
                    let profile: RsProfile =
                        name.parse().map_err(|error: lab_mcp_server::UnknownRsProfile| error.to_string())?;
                    self.lab.rs().set_profile(profile);
                    self.lab.twin_rs().set_profile(profile);
                }
                self.transcript.push(format!("profiles: as={:?} rs={:?}", step.as_profile, step.rs));
                Ok(Observation::default())
            }
            Action::Client => self.client(step).await,
            Action::Listeners => self.listeners(step),
        }
    }

    /// The addresses listening on the MCP server's port, as JSON: `port`, `addresses` and
    /// `loopback_only`. Not applicable to a server on another machine, or where the sockets
    /// cannot be listed (not Linux, another network namespace).
    fn listeners(&mut self, step: &Step) -> Result<Observation, String> {
        let url = url::Url::parse(&self.mcp_url_for(step)).map_err(|error| error.to_string())?;
        let port = url.port_or_known_default().unwrap_or(443);
        let local = match url.host() {
            Some(url::Host::Ipv4(v4)) => crate::sockets::is_loopback(v4.into()),
            Some(url::Host::Ipv6(v6)) => crate::sockets::is_loopback(v6.into()),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let inapplicable = |reason: String| Observation { inapplicable: Some(reason), ..Observation::default() };
        if !local {
            return Ok(inapplicable(format!(
                "the MCP server at {} is not on this machine, so its sockets cannot be listed",
                url.host_str().unwrap_or_default()
            )));
        }
        let addresses = match crate::sockets::listening_addresses(port) {
            Ok(addresses) => addresses,
            Err(reason) => return Ok(inapplicable(reason)),
        };
        if addresses.is_empty() {
            return Ok(inapplicable(format!(
                "no socket listens on port {port} in this machine's network namespace (a container?)"
            )));
        }
        let loopback_only = addresses.iter().all(|address| crate::sockets::is_loopback(*address));
        let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        self.transcript.push(format!("listening on port {port}: {}", listed.join(", ")));
        Ok(Observation {
            json: Some(json!({"port": port, "addresses": listed, "loopback_only": loopback_only})),
            ..Observation::default()
        })
    }

    async fn mcp(&mut self, step: &Step) -> Result<Observation, String> {
        let url = self.mcp_url_for(step);
        let token = match step.token.as_deref() {
            Some("none") => None,
            Some(token) => Some(self.vars.expand(token)?),
            None => self.vars.get("access_token").map(str::to_owned),
        };
        let mut method = step.method.clone().unwrap_or_else(|| "tools/call".to_owned());
        if self.target.rs_url.is_some() && method == "tools/call" {
            // A third-party server has none of the lab shop's tools; the authorization layer in
            // front of every method is what these scenarios test, and `initialize` reaches it.
            method = "initialize".to_owned();
        }
        let params = if method == "tools/call" {
            json!({"name": step.tool.clone().unwrap_or_default(), "arguments": self.vars.expand_json(step.args.as_ref().unwrap_or(&json!({})))?})
        } else if method == "initialize" {
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab-scenario", "version": "0"}})
        } else {
            Value::Object(
                step.with
                    .iter()
                    .map(|(key, value)| Ok((key.clone(), self.vars.expand_json(value)?)))
                    .collect::<Result<Map<_, _>, String>>()?,
            )
        };
        let mut headers = vec![("accept".to_owned(), "application/json, text/event-stream".to_owned())];
        if let Some(token) = &token {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        if step.session != Some(false) && method != "initialize" {
            let session = self.session(&url, token.as_deref()).await?;
            if let Some(session) = session {
                headers.push(("mcp-session-id".to_owned(), session));
            }
            headers.push(("mcp-protocol-version".to_owned(), "2025-11-25".to_owned()));
        }
        for (name, value) in self.headers(step)? {
            headers.retain(|(key, _)| key != &name);
            headers.push((name, value));
        }
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send("POST", &url, headers, Payload::Json(message)).await
    }

    /// A session for `(url, token)`, opened once: the attack step then measures only itself.
    async fn session(&mut self, url: &str, token: Option<&str>) -> Result<Option<String>, String> {
        let key = (url.to_owned(), token.unwrap_or_default().to_owned());
        if let Some(session) = self.sessions.get(&key) {
            return Ok(Some(session.clone()));
        }
        let mut headers = vec![("accept".to_owned(), "application/json, text/event-stream".to_owned())];
        if let Some(token) = token {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let message = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "lab-scenario", "version": "0"}}});
        let seen = self.send("POST", url, headers, Payload::Json(message)).await?;
        let session = seen.header("mcp-session-id").map(str::to_owned);
        if let Some(session) = &session {
            self.sessions.insert(key, session.clone());
            self.vars.set("session", session.clone());
        }
        Ok(session)
    }

    fn forge(&self, step: &Step) -> Result<String, String> {
        let now = self.lab.clock().now();
        let jwks_server = if self.vars.get("rs_issuer") == Some(self.lab.path_issuer()) {
            self.lab.tenant_server()
        } else {
            self.lab.auth_server()
        };
        let mut claims = json!({
            "iss": self.vars.get("rs_issuer").unwrap_or_default(),
            "sub": "alice",
            "aud": self.resource(),
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": lab_proto::random_token(12).map_err(|_| "random source failed".to_owned())?,
            "client_id": "lab-public-client",
            "scope": "mcp:read",
        });
        let kind = step.kind.unwrap_or(ForgeKind::Resign);
        if kind == ForgeKind::Tamper {
            let token = self.vars.expand(step.token.as_deref().unwrap_or("${access_token}"))?;
            let parts = split_compact(&token).map_err(|error| error.to_string())?;
            claims = lab_proto::jose::decode_json(parts.payload).map_err(|error| error.to_string())?;
        }
        if let (Some(overrides), Value::Object(members)) = (&step.claims, &mut claims) {
            for (name, value) in overrides {
                match value {
                    Value::Null => {
                        members.remove(name);
                    }
                    value => {
                        members.insert(name.clone(), self.vars.expand_json(value)?);
                    }
                }
            }
        }
        if let Value::Object(members) = &mut claims {
            for name in &step.remove {
                members.remove(name);
            }
        }
        let typ = step.typ.clone().unwrap_or_else(|| "at+jwt".to_owned());
        let jwks = jwks_server.jwks();
        let as_key = &jwks["keys"][0];
        let as_kid = as_key["kid"].as_str().unwrap_or_default().to_owned();
        let attacker = || SigningKey::generate(SigningAlg::Es256).map_err(|error| error.to_string());
        let encode = |value: &Value| b64url_encode(value.to_string().as_bytes());
        let token = match kind {
            ForgeKind::Resign => jwks_server.mint_jwt(&typ, &claims).map_err(|error| error.to_string())?,
            ForgeKind::None => {
                format!("{}.{}.", encode(&json!({"alg": "none", "typ": typ, "kid": as_kid})), encode(&claims))
            }
            ForgeKind::Hs256 => {
                let secret = as_key["x"].as_str().or_else(|| as_key["n"].as_str()).unwrap_or_default();
                let input =
                    format!("{}.{}", encode(&json!({"alg": "HS256", "typ": typ, "kid": as_kid})), encode(&claims));
                let tag = aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
                    input.as_bytes(),
                );
                format!("{input}.{}", b64url_encode(tag.as_ref()))
            }
            ForgeKind::UnknownKid => attacker()?.sign_jwt(&typ, &claims).map_err(|error| error.to_string())?,
            ForgeKind::AttackerKey => attacker()?
                .sign_jws(&json!({"alg": "ES256", "typ": typ, "kid": as_kid}), &claims)
                .map_err(|error| error.to_string())?,
            ForgeKind::EmbeddedJwk => {
                let key = attacker()?;
                key.sign_jws(&json!({"alg": "ES256", "typ": typ, "kid": key.kid(), "jwk": key.jwk()}), &claims)
                    .map_err(|error| error.to_string())?
            }
            ForgeKind::Jku | ForgeKind::X5u => {
                let key = attacker()?;
                let member = if kind == ForgeKind::Jku { "jku" } else { "x5u" };
                let mut header = json!({"alg": "ES256", "typ": typ, "kid": key.kid()});
                header[member] = json!(format!("{}/jwks.json", self.lab.canary().url()));
                key.sign_jws(&header, &claims).map_err(|error| error.to_string())?
            }
            ForgeKind::Tamper => {
                let token = self.vars.expand(step.token.as_deref().unwrap_or("${access_token}"))?;
                let parts = split_compact(&token).map_err(|error| error.to_string())?;
                format!("{}.{}.{}", parts.header, encode(&claims), parts.signature)
            }
        };
        Ok(token)
    }

    async fn client(&mut self, step: &Step) -> Result<Observation, String> {
        let url = match &step.url {
            Some(url) => self.vars.expand(url)?,
            None => self.mcp_url_for(step),
        };
        let mut config =
            ClientConfig::new(url).allow([self.lab.as_addr().to_string(), self.lab.cimd_addr().to_string()]);
        config.ca_pem = Some(self.lab.ca_pem().as_bytes().to_vec());
        config.callback_timeout = Duration::from_secs(5);
        config.login_hint = step.user.clone();
        config.scope = step.scope.clone();
        config.metadata_document = step.metadata_document.as_deref().map(|url| self.vars.expand(url)).transpose()?;
        if let Some(client_id) = &step.client_id {
            let client_secret = step
                .client_secret
                .as_deref()
                .map(|secret| self.vars.expand(secret))
                .transpose()?
                .map(lab_proto::ClientSecret::new);
            let auth_method = if client_secret.is_some() {
                TokenEndpointAuthMethod::ClientSecretBasic
            } else {
                TokenEndpointAuthMethod::None
            };
            config.pre_registered = Some(PreRegistered {
                issuer: None,
                client_id: self.vars.expand(client_id)?,
                client_secret,
                auth_method,
            });
        }
        let mut client = McpClient::new(config).map_err(|error| error.to_string())?;
        let result = match client.connect().await {
            Ok(()) => match &step.tool {
                Some(tool) => {
                    client.call_tool(tool, self.vars.expand_json(step.args.as_ref().unwrap_or(&json!({})))?).await
                }
                None => client.list_tools().await,
            },
            Err(error) => Err(error),
        };
        for exchange in client.trace().exchanges {
            self.record("client", &exchange.url, &exchange.method, exchange.status);
            self.transcript.push(format!(
                "client step {}: {} {} -> {}",
                exchange.step,
                exchange.method,
                exchange.url,
                exchange.status.map_or_else(|| exchange.error.clone().unwrap_or_default(), |status| status.to_string())
            ));
        }
        let (client_outcome, json) = match result {
            Ok(value) => (ClientOutcome::Succeeded, Some(value)),
            Err(ClientError::Refused { check, reason }) => {
                self.transcript.push(format!("client refused ({check}): {reason}"));
                (ClientOutcome::Refused(check.to_owned()), None)
            }
            Err(other) => {
                self.transcript.push(format!("client failed: {other}"));
                (ClientOutcome::Failed(other.to_string()), None)
            }
        };
        Ok(Observation { json, client: Some(client_outcome), ..Observation::default() })
    }

    /// Names the server a URL belongs to, for the sequence diagram.
    fn role_of(&self, authority: &str) -> String {
        // A third-party AS or MCP server is drawn in the AS's or the RS's lane, like the lab's.
        let authority_of = |url: &str| {
            url::Url::parse(url)
                .ok()
                .and_then(|url| Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?)))
        };
        let third_party = [(self.target.as_issuer.as_deref(), "AS"), (self.target.rs_url.as_deref(), "RS")];
        if let Some((_, role)) =
            third_party.iter().find(|(url, _)| url.and_then(authority_of).is_some_and(|own| own == authority))
        {
            return (*role).to_owned();
        }
        let lab = &self.lab;
        let roles = [
            (lab.as_addr().to_string(), "AS"),
            (lab.rs_addr().to_string(), "RS"),
            (lab.twin_addr().to_string(), "twin RS"),
            (lab.upstream_addr().to_string(), "upstream"),
            (lab.cimd_addr().to_string(), "CIMD host"),
            (lab.canary().addr().to_string(), "canary"),
        ];
        roles
            .iter()
            .find(|(address, _)| address == authority)
            .map_or_else(|| authority.to_owned(), |(_, role)| (*role).to_owned())
    }

    fn record(&mut self, from: &'static str, url: &str, method: &str, status: Option<u16>) {
        let (authority, path) = match url::Url::parse(url) {
            Ok(parsed) => {
                let authority = match (parsed.host_str(), parsed.port_or_known_default()) {
                    (Some(host), Some(port)) => format!("{}:{port}", host.trim_matches(['[', ']'])),
                    _ => String::new(),
                };
                let path = match parsed.query() {
                    Some(query) => format!("{}?{query}", parsed.path()),
                    None => parsed.path().to_owned(),
                };
                (authority, path)
            }
            Err(_) => (String::new(), url.to_owned()),
        };
        let to = self.role_of(&authority);
        self.exchanges.push(ExchangeRecord {
            step: self.step_index,
            from,
            to,
            method: method.to_owned(),
            path: lab_client::redact_query(&path),
            status,
        });
    }

    /// Sends a request. Against a running system, whose rate limits outlive one scenario, a 429
    /// with a `Retry-After` of at most [`MAX_PACING_SECONDS`] is waited out and the request sent
    /// once more (the scenarios that test rate limits are not applicable there).
    async fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        payload: Payload,
    ) -> Result<Observation, String> {
        // A third-party AS's rate limits outlive a scenario (a running system); the lab's own
        // rate-limit scenarios must see its 429s.
        if self.target.as_issuer.is_none() {
            return self.send_once(method, url, headers, payload).await;
        }
        let seen = self.send_once(method, url, headers.clone(), payload.clone()).await?;
        let wait = seen.header("retry-after").and_then(|value| value.trim().parse::<u64>().ok());
        match wait {
            Some(seconds) if seen.status == Some(429) && seconds <= MAX_PACING_SECONDS => {
                self.transcript.push(format!("(rate-limited by the target: waiting {seconds} s, then once more)"));
                tokio::time::sleep(Duration::from_secs(seconds + 1)).await;
                self.paced = true;
                self.send_once(method, url, headers, payload).await
            }
            _ => Ok(seen),
        }
    }

    /// A headless sign-in at a third-party AS. From the answer to the authorization request at
    /// `url`, it follows the AS's redirects and submits its login and consent forms as `login`,
    /// carrying the cookies the AS sets, until the AS redirects to the redirect URI. That answer,
    /// or the first one that neither redirects nor offers a form to sign in (an error page), is
    /// what the step observed.
    async fn sign_in(&mut self, url: &str, mut seen: Observation, login: &crate::Login) -> Result<Observation, String> {
        use crate::third_party::{MAX_SIGN_IN_HOPS, sign_in_form};
        // Only for redaction: a login page may echo what was typed.
        self.vars.set("login_password", login.password());
        let redirect_uri = url::Url::parse(&self.var_or_empty("redirect_uri")).map_err(|error| error.to_string())?;
        let mut current = url::Url::parse(url).map_err(|error| error.to_string())?;
        let as_origin = current.origin();
        let mut submitted = false;
        for _ in 0..MAX_SIGN_IN_HOPS {
            self.keep_cookies(&current, &seen);
            let (next, method, payload) = match seen.status {
                Some(300..=399) => {
                    let Some(location) = seen.header("location") else { return Ok(seen) };
                    let next = current.join(location).map_err(|error| {
                        format!("the AS redirected to {:?}: {error}", lab_client::redact_query(location))
                    })?;
                    let arrived = next.scheme() == redirect_uri.scheme()
                        && next.host_str() == redirect_uri.host_str()
                        && next.port_or_known_default() == redirect_uri.port_or_known_default()
                        && next.path() == redirect_uri.path();
                    // A redirect out of the AS is its authorization response, to whichever
                    // redirect URI the request named; the sign-in never follows it.
                    if arrived || next.origin() != as_origin {
                        self.signed_in = submitted;
                        return Ok(seen);
                    }
                    (next, "GET", Payload::None)
                }
                Some(200) => {
                    let html = String::from_utf8_lossy(&seen.body);
                    let Some(form) = sign_in_form(&html, &current, login)? else { return Ok(seen) };
                    submitted = true;
                    let mut action = url::Url::parse(&form.action).map_err(|error| error.to_string())?;
                    if form.method == "GET" {
                        action.query_pairs_mut().extend_pairs(form.fields.iter());
                        (action, "GET", Payload::None)
                    } else {
                        (action, "POST", Payload::Form(form.fields))
                    }
                }
                _ => return Ok(seen),
            };
            self.transcript.push(format!("(headless sign-in as `{}`)", login.user));
            let origin = next.origin().ascii_serialization();
            let cookie: Vec<String> = self
                .cookies
                .iter()
                .filter(|(site, _, _)| *site == origin)
                .map(|(_, name, value)| format!("{name}={value}"))
                .collect();
            let headers = if cookie.is_empty() { Vec::new() } else { vec![("cookie".to_owned(), cookie.join("; "))] };
            seen = self.send(method, next.as_str(), headers, payload).await?;
            current = next;
        }
        Err(format!("the sign-in did not reach the redirect URI within {MAX_SIGN_IN_HOPS} pages"))
    }

    /// Keeps the cookies of an answer from `url`'s origin (a session or CSRF cookie of a login
    /// page); the last value of a name wins, as in a browser.
    fn keep_cookies(&mut self, url: &url::Url, seen: &Observation) {
        let origin = url.origin().ascii_serialization();
        for (_, value) in seen.headers.iter().filter(|(name, _)| name == "set-cookie") {
            let Some((name, value)) = value.split(';').next().and_then(|pair| pair.split_once('=')) else { continue };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            self.cookies.retain(|(site, known, _)| !(*site == origin && *known == name));
            self.cookies.push((origin.clone(), name, value));
        }
    }

    async fn send_once(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        payload: Payload,
    ) -> Result<Observation, String> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| format!("`{method}` is not an HTTP method"))?;
        let mut request = self.http.request(method.clone(), url);
        remember_sent_credentials(&mut self.vars, &headers, &payload);
        self.transcript.push(format!("> {method} {}", lab_client::redact_query(url)));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
            self.transcript.push(format!(">   {name}: {}", lab_client::redact_header(name, value)));
        }
        let body_text = match payload {
            Payload::None => None,
            Payload::Form(pairs) => {
                let encoded: String =
                    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
                request = request.header("content-type", "application/x-www-form-urlencoded").body(encoded.clone());
                Some(encoded)
            }
            Payload::Json(value) => {
                let text = value.to_string();
                if !headers.iter().any(|(name, _)| name == "content-type") {
                    request = request.header("content-type", "application/json");
                }
                request = request.body(text.clone());
                Some(text)
            }
            Payload::Raw(text) => {
                request = request.body(text.clone());
                Some(text)
            }
        };
        if let Some(text) = &body_text {
            self.transcript.push(format!(">   {}", lab_client::redact_body(text)));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let message = format!("{}", error.without_url());
                self.transcript.push(format!("< no answer: {message}"));
                self.record("attacker", url, method.as_str(), None);
                return Err(message);
            }
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        // A third-party server's answer is read to a bound, like every body the lab reads.
        let body = lab_mcp_server::verify::read_bounded(response, crate::third_party::MAX_PAGE_BYTES * 4).await?;
        self.transcript.push(format!("< {status}"));
        for (name, value) in &headers {
            self.transcript.push(format!("<   {name}: {}", lab_client::redact_header(name, value)));
        }
        let text = String::from_utf8_lossy(&body);
        if !text.is_empty() {
            let shown: String = lab_client::redact_body(&text).chars().take(1500).collect();
            self.transcript.push(format!("<   {shown}"));
        }
        self.record("attacker", url, method.as_str(), Some(status));
        let json = parse_body(&headers, &body);
        Ok(Observation {
            status: Some(status),
            headers,
            body,
            json,
            client: None,
            session_ids: Vec::new(),
            inapplicable: None,
        })
    }
}

/// The HTTP-level part of an expectation.
fn http_level(expect: &crate::schema::Expect) -> crate::schema::Expect {
    crate::schema::Expect {
        status: expect.status,
        status_in: expect.status_in.clone(),
        error: expect.error.clone(),
        // CORS is a deployment choice: which browser origins a third-party server admits is its own.
        headers: expect
            .headers
            .iter()
            .filter(|(name, _)| !name.starts_with("access-control-"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        header_contains: expect
            .header_contains
            .iter()
            .filter(|(name, _)| !name.starts_with("access-control-"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        header_absent: expect.header_absent.clone(),
        challenge: expect.challenge.clone(),
        challenge_absent: expect.challenge_absent.clone(),
        body_not_contains: expect.body_not_contains.clone(),
        session_ids: expect.session_ids.clone(),
        ..Default::default()
    }
}

/// Client credentials the request carries outside any variable: HTTP Basic (the encoded pair
/// and the secret in it) and a `client_secret` form parameter.
fn remember_sent_credentials(vars: &mut Vars, headers: &[(String, String)], payload: &Payload) {
    for (_, value) in headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
        if let Ok((_, secret)) = lab_proto::basic::parse(value) {
            // The encoded pair, as a log would print the header, and the secret in it.
            vars.remember("basic_credentials", value.split_once(' ').map_or("", |(_, encoded)| encoded.trim()));
            vars.remember("client_secret", &secret);
        }
    }
    if let Payload::Form(pairs) = payload {
        for (name, value) in pairs {
            if name == "client_secret" {
                vars.remember("client_secret", value);
            }
        }
    }
}

/// The client credentials an OAuth step sends with HTTP Basic unless the step says otherwise.
type DefaultBasic = Option<(String, String)>;

#[derive(Clone)]
enum Payload {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
    Raw(String),
}

/// JSON bodies as they are; an SSE body's last JSON-RPC message.
fn parse_body(headers: &[(String, String)], body: &[u8]) -> Option<Value> {
    let event_stream =
        headers.iter().any(|(name, value)| name == "content-type" && value.starts_with("text/event-stream"));
    if event_stream {
        let text = String::from_utf8_lossy(body);
        return text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .next_back();
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn scenario(text: &str) -> Scenario {
        crate::parse(std::path::Path::new("x.toml"), text).unwrap()
    }

    /// A target that answers each request with the next of `answers` (status, `Retry-After`),
    /// then 200, and counts what it was sent.
    async fn scripted_target(answers: Vec<(u16, Option<u64>)>) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/limited", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let mut request = vec![0_u8; 4096];
                let _ = stream.read(&mut request).await;
                let index = count.fetch_add(1, Ordering::SeqCst);
                let (status, retry_after) = answers.get(index).copied().unwrap_or((200, None));
                let retry = retry_after.map(|seconds| format!("retry-after: {seconds}\r\n")).unwrap_or_default();
                let answer = format!("HTTP/1.1 {status} X\r\n{retry}content-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_running_system_s_rate_limit_is_waited_out_and_a_disturbed_scenario_runs_once_more() {
        // `as_issuer` makes the target a running system, whose rate limits outlive a scenario.
        let system = Target { as_issuer: Some("https://127.0.0.1:1".into()), ..Target::default() };
        let two_steps = |url: &str| {
            scenario(&format!(
                "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"http\"\nurl = \"{url}\"\nexpect = {{ status = 200 }}\n[[step]]\ndo = \"http\"\nurl = \"{url}\"\nattack = true\nexpect = {{ status = 200 }}\n"
            ))
        };
        // A 429 with a short Retry-After is waited out, and the request sent once more.
        let (url, seen) = scripted_target(vec![(429, Some(1))]).await;
        let report = run_against("paced", &two_steps(&url), &system).await.unwrap();
        assert!(report.passed(), "{}", report.explanation());
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert!(report.transcript.iter().any(|line| line.contains("rate-limited by the target: waiting 1 s")));
        // A flow the wait disturbed (here a 500 after it) runs once more from the start.
        let (url, seen) = scripted_target(vec![(429, Some(1)), (500, None)]).await;
        let report = run_against("rerun", &two_steps(&url), &system).await.unwrap();
        assert!(report.passed(), "{}", report.explanation());
        assert_eq!(seen.load(Ordering::SeqCst), 4, "429, 500 after the wait, then the re-run's two requests");
        // A wait longer than the bound is not waited: the 429 is the answer, and the run fails.
        let (url, seen) = scripted_target(vec![(429, Some(MAX_PACING_SECONDS + 1))]).await;
        let report = run_against("too-long", &two_steps(&url), &system).await.unwrap();
        assert!(!report.passed());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        // The lab itself is never paced: its rate-limit scenarios must see the 429.
        let (url, seen) = scripted_target(vec![(429, Some(1))]).await;
        let report = run_against("lab", &two_steps(&url), &Target::default()).await.unwrap();
        assert!(!report.passed());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_server_that_assigns_no_session_ids_makes_the_sample_not_applicable() {
        let (url, seen) = scripted_target(Vec::new()).await;
        let sample = scenario(&format!(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"http\"\nurl = \"{url}\"\nrepeat = 5\nexpect = {{ status = 200, session_ids = {{ visible_ascii = true, min_bits = 128 }} }}\n"
        ));
        let report = run_against("no-sessions", &sample, &Target::default()).await.unwrap();
        assert!(!report.passed());
        assert!(matches!(&report.observed, Observed::Inapplicable(reason) if reason.contains("no session ids")));
        assert_eq!(seen.load(Ordering::SeqCst), 5, "every run is sent before the sample is judged");
        // An error answer is no evidence of a server without sessions: the checks fail as usual.
        let (url, _) = scripted_target(vec![(500, None); 5]).await;
        let failing = scenario(&format!(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"http\"\nurl = \"{url}\"\nrepeat = 5\nexpect = {{ session_ids = {{ visible_ascii = true }} }}\n"
        ));
        let report = run_against("errors", &failing, &Target::default()).await.unwrap();
        assert_eq!(report.observed, Observed::Verdict(Verdict::Vulnerable), "{}", report.explanation());
    }

    #[tokio::test]
    async fn every_credential_a_run_sends_is_remembered_for_the_log_scan_and_redacted() {
        let flow = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"client-credentials\"\nexpect = { status = 200 }\n",
        );
        let report = run_against("remember", &flow, &Target::default()).await.unwrap();
        assert!(report.passed(), "{}", report.explanation());
        let remembered: Vec<&str> = report.used_secrets.0.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(remembered, ["basic_credentials", "client_secret", "access_token"]);
        let secret = lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_SECRET;
        assert!(report.used_secrets.0.iter().any(|(_, value)| value == secret));
        assert!(report.transcript.iter().all(|line| !line.contains(secret)));
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64_and_remembered_decoded() {
        use base64::Engine as _;
        let header = lab_proto::basic::authorization("my client", "a+b&c%d~e");
        let encoded = header.strip_prefix("Basic ").unwrap();
        let pair = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(String::from_utf8(pair).unwrap(), "my+client:a%2Bb%26c%25d%7Ee");
        let mut vars = Vars::default();
        remember_sent_credentials(&mut vars, &[("authorization".to_owned(), header.clone())], &Payload::None);
        let secrets = vars.used_secrets();
        assert!(secrets.iter().any(|(name, value)| name == "client_secret" && value == "a+b&c%d~e"), "{secrets:?}");
    }

    #[tokio::test]
    async fn a_server_listening_on_all_interfaces_is_found_out() {
        let check = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"listeners\"\nexpect = { json = { \"/loopback_only\" = true } }\n",
        );
        // Bound to every interface for the length of the test; nothing ever connects to it.
        let exposed = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = exposed.local_addr().unwrap().port();
        let target = Target { rs_url: Some(format!("https://127.0.0.1:{port}/mcp")), ..Target::default() };
        let report = run_against("exposed", &check, &target).await.unwrap();
        assert_eq!(report.observed, Observed::Verdict(Verdict::Vulnerable), "{}", report.explanation());
        assert!(report.transcript.iter().any(|line| line.contains(&format!("listening on port {port}: 0.0.0.0"))));
        // A server elsewhere cannot be inspected from here.
        let remote = Target { rs_url: Some("https://mcp.example.com/mcp".into()), ..Target::default() };
        let report = run_against("remote", &check, &remote).await.unwrap();
        assert!(matches!(&report.observed, Observed::Inapplicable(reason) if reason.contains("not on this machine")));
    }

    #[test]
    fn third_party_targets_skip_what_cannot_apply_and_say_why() {
        let external = Target { rs_url: Some("https://127.0.0.1:7443/mcp".into()), ..Target::default() };
        let portable = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nmethod = \"initialize\"\nsession = false\ntoken = \"none\"\n",
        );
        assert_eq!(not_applicable("rs-validation", &portable, &external), None);
        assert_eq!(
            not_applicable("rs-validation", &portable, &Target::default()),
            None,
            "the lab itself runs everything"
        );
        let reason = |area: &str, text: &str| not_applicable(area, &scenario(text), &external).unwrap_or_default();
        assert!(
            reason("scope", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"register\"\n").contains("shop")
        );
        assert!(
            reason("rs-validation", "summary = \"s\"\nverdict = \"vulnerable\"\n[[step]]\ndo = \"register\"\n")
                .contains("weak profiles")
        );
        assert!(reason("rs-validation", "summary = \"s\"\nverdict = \"defended\"\n[lab]\nrs_profile = \"no-redaction\"\n[[step]]\ndo = \"register\"\n").contains("profile"));
        assert!(
            reason("rs-validation", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"clock\"\nadvance = 5\n")
                .contains("clock")
        );
        assert!(reason("transport", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nheaders = { mcp-session-id = \"x\" }\n").contains("sessions"));
        assert!(reason("rs-validation", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nexpect = { error = \"insufficient_scope\" }\n").contains("scopes"));
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
        let said = |target: &Target, area: &str, text: &str| not_applicable(area, &scenario(text), target);
        let plain = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"register\"\n";
        let revoke = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"revoke\"\n";
        let mcp = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\n";
        assert_eq!(said(&alone, "token", revoke), None);
        assert!(said(&alone, "token", mcp).unwrap_or_default().contains("--rs-url"));
        assert!(said(&alone, "rs-validation", revoke).unwrap_or_default().contains("--rs-url"));
        // No registration endpoint: registering is not applicable, unless a pre-registered client
        // stands in for a plain set-up registration.
        assert!(said(&alone, "token", plain).unwrap_or_default().contains("registration_endpoint"));
        let with_client = Target { client_id: Some("mine".into()), ..alone.clone() };
        assert_eq!(said(&with_client, "token", plain), None);
        let named = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\nname = \"registered x\"\ndo = \"register\"\n";
        assert!(said(&with_client, "token", named).unwrap_or_default().contains("registration_endpoint"));
        // The AS does not know the lab's confidential clients once the user brings their own.
        let credentials = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"client-credentials\"\n";
        assert_eq!(said(&alone, "token", credentials), None);
        assert!(said(&with_client, "token", credentials).unwrap_or_default().contains("confidential"));
        let login = Target { login: Some(crate::Login::new("alice", "pw")), ..alone };
        let carol = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"authorize\"\nwith = { login_hint = \"carol\" }\n";
        assert!(said(&login, "authorize", carol).unwrap_or_default().contains("user `carol`"));
    }

    #[test]
    fn a_running_system_takes_the_as_areas_but_nothing_that_needs_the_lab_as() {
        let system = Target {
            rs_url: Some("https://127.0.0.1:8443/mcp".into()),
            as_issuer: Some("https://127.0.0.1:9443".into()),
            ..Target::default()
        };
        let reason = |area: &str, text: &str| not_applicable(area, &scenario(text), &system);
        let plain = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"register\"\n";
        for area in ["discovery", "authorize", "token", "refresh", "registration", "introspection", "rs-validation"] {
            assert_eq!(reason(area, plain), None, "{area}");
        }
        // Against an RS alone the AS areas stay the lab's.
        let rs_only = Target { as_issuer: None, ..system.clone() };
        assert!(not_applicable("token", &scenario(plain), &rs_only).is_some());
        let said = |area: &str, text: &str| reason(area, text).unwrap_or_default();
        assert!(said("personas", plain).contains("client"));
        assert!(
            said("token", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"forge\"\nkind = \"hs256\"\n")
                .contains("lab AS's key")
        );
        assert!(
            said(
                "token",
                "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"register\"\ntarget = \"tenant\"\n"
            )
            .contains("path issuer")
        );
        assert!(said("registration", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"register\"\nwith = { client_id = \"${cimd}\" }\n").contains("metadata document"));
        assert!(
            said(
                "authorize",
                "summary = \"s\"\nverdict = \"defended\"\n[lab]\ninteractive = true\n[[step]]\ndo = \"authorize\"\n"
            )
            .contains("consent page")
        );
        assert!(
            said("token", "summary = \"s\"\nverdict = \"vulnerable\"\n[[step]]\ndo = \"register\"\n")
                .contains("weak profiles")
        );
        assert!(said("token", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"token\"\nwith = { resource = \"${twin_resource}\" }\n").contains("second resource"));
        // The resource-server rules hold in every area of a running system.
        assert!(said("token", "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nheaders = { mcp-session-id = \"x\" }\n").contains("sessions"));
    }

    #[test]
    fn the_http_projection_keeps_only_comparable_expectations() {
        let text = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\nexpect = { status = 401, tool_error = false, json = { \"/a\" = 1 }, headers = { access-control-allow-origin = \"x\", cache-control = \"no-store\" }, challenge = { error = \"invalid_token\" } }\n";
        let projected = http_level(&scenario(text).steps[0].expect);
        assert_eq!(projected.status, Some(401));
        assert_eq!(projected.tool_error, None);
        assert!(projected.json.is_empty());
        assert_eq!(projected.headers.keys().collect::<Vec<_>>(), ["cache-control"]);
        assert_eq!(projected.challenge.get("error").map(String::as_str), Some("invalid_token"));
    }
}
