//! `mcp-authlab list` and `mcp-authlab run`: the scenario catalogue against the in-process lab.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use lab_scenario::catalogue::{self, Entry};
use lab_scenario::report::{self, Outcome, Status};

/// Where the scenarios are, and which.
#[derive(Debug, clap::Args)]
pub(crate) struct Selection {
    /// Only scenarios whose id contains one of these, or whose area is one of these
    /// (`token`, `attacks/rs-validation`, `personas`, `code-replay`).
    pub(crate) filters: Vec<String>,
    /// The scenario folder (default: `scenarios/` of the working directory, else of the checkout
    /// the binary was built from).
    #[arg(long, value_name = "DIR")]
    pub(crate) scenarios: Option<PathBuf>,
}

/// The arguments of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) selection: Selection,
    /// Print a machine-readable result instead of progress lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write a JUnit XML report to this file (for CI).
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 report (one result per failed check) for code scanning.
    #[arg(long, value_name = "FILE")]
    pub(crate) sarif: Option<PathBuf>,
    /// Also write a self-contained HTML report with a sequence diagram per scenario.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Run the resource-server battery against this third-party MCP server (its MCP endpoint
    /// URL), which must trust the lab AS at `https://127.0.0.1:{--as-port}` with the CA in
    /// `--certs`. Scenarios that cannot apply are reported as not applicable, with the reason.
    #[arg(long, value_name = "URL")]
    pub(crate) rs_url: Option<String>,
    /// The CA of the third-party servers' certificates, if it is not the lab CA.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// The lab AS port the third-party server trusts (with `--rs-url`).
    #[arg(long, default_value_t = 9443, requires = "rs_url")]
    pub(crate) as_port: u16,
    /// The lab CA folder the third-party server trusts (with `--rs-url`).
    #[arg(long, value_name = "DIR", default_value = "certs", requires = "rs_url")]
    pub(crate) certs: PathBuf,
    /// Run the authorization-server battery against this third-party AS (its issuer; endpoints
    /// come from its RFC 8414 metadata). With `--rs-url` too, the whole battery runs against a
    /// running system: this AS and the MCP server that trusts it. Without `--login` the AS must
    /// approve the lab user `alice` without a page, and without `--client-id` it must know the
    /// lab's pre-registered clients, as `mcp-authlab up --auto-approve alice` does.
    #[arg(long, value_name = "ISSUER")]
    pub(crate) as_url: Option<String>,
    /// A public client pre-registered at the `--as-url` AS (PKCE, no secret): it replaces the
    /// lab's public client and the registrations that only set a scenario up.
    #[arg(long, value_name = "ID", requires = "as_url")]
    pub(crate) client_id: Option<String>,
    /// The redirect URI registered for `--client-id` (default: the runner's
    /// `http://127.0.0.1:53682/callback`).
    #[arg(long, value_name = "URI", requires = "client_id")]
    pub(crate) redirect_uri: Option<String>,
    /// Sign in at the `--as-url` AS's own login and consent pages as this user, headlessly; the
    /// password is read from the environment variable `MCP_AUTHLAB_PASSWORD`.
    #[arg(long, value_name = "USER", requires = "as_url")]
    pub(crate) login: Option<String>,
    /// A confidential client pre-registered at the `--as-url` AS (`client_secret_basic`, allowed
    /// the authorization-code and client-credentials grants): it replaces the lab's
    /// `lab-confidential-client`. The secret is read from `MCP_AUTHLAB_CLIENT_SECRET`.
    #[arg(long, value_name = "ID", requires = "as_url")]
    pub(crate) confidential_client: Option<String>,
    /// The resource indicator (RFC 8707) sent to an AS tested without `--rs-url`.
    #[arg(long, value_name = "URI", requires = "as_url", conflicts_with = "rs_url", default_value = DEFAULT_RESOURCE)]
    pub(crate) resource: String,
    /// The lowest grade of finding that fails the run (exit code 1): `vulnerable` (an exploit
    /// confirmed), `nonconforming` (a MUST broken) or `advisory` (a SHOULD missed). A scenario
    /// that could not conclude always fails the run.
    #[arg(long, value_name = "GRADE", default_value = "nonconforming", value_parser = parse_grade)]
    pub(crate) fail_on: lab_scenario::Verdict,
    /// Where the redacted transcripts of failed scenarios are written (created if missing); every
    /// report names each transcript's path.
    #[arg(long, value_name = "DIR", default_value = "mcp-authlab-transcripts")]
    pub(crate) transcripts: PathBuf,
    /// The scope to ask the `--as-url` AS for in authorization and client-credentials requests
    /// (default: the lab's `mcp:read`, or none when the AS's metadata lists scopes without it).
    #[arg(long, value_name = "SCOPE", requires = "as_url")]
    pub(crate) scope: Option<String>,
    /// A second resource the `--as-url` AS knows (another MCP server's URL): it stands in for the
    /// lab's twin RS, so the audience-per-resource scenarios apply (RFC 8707).
    #[arg(long, value_name = "URI", requires = "as_url")]
    pub(crate) second_resource: Option<String>,
    /// After the run, search this log file of a server under test for every token, code,
    /// verifier, client secret and password the run sent (repeatable). A match fails the run.
    #[arg(long, value_name = "FILE")]
    pub(crate) scan_log: Vec<PathBuf>,
}

/// A `--fail-on` grade.
fn parse_grade(text: &str) -> Result<lab_scenario::Verdict, String> {
    match text {
        "vulnerable" => Ok(lab_scenario::Verdict::Vulnerable),
        "nonconforming" => Ok(lab_scenario::Verdict::Nonconforming),
        "advisory" => Ok(lab_scenario::Verdict::Advisory),
        other => Err(format!("unknown grade `{other}`, expected one of: vulnerable, nonconforming, advisory")),
    }
}

/// The lab contract's MCP resource (design §2), the default resource indicator for an AS alone.
const DEFAULT_RESOURCE: &str = "https://127.0.0.1:8443/mcp";

/// Where `--confidential-client` reads the client's secret.
pub(crate) const CLIENT_SECRET_VARIABLE: &str = "MCP_AUTHLAB_CLIENT_SECRET";

/// Where `--login` reads the password, so it stays out of shell histories and process lists.
pub(crate) const PASSWORD_VARIABLE: &str = "MCP_AUTHLAB_PASSWORD";

fn folder(selection: &Selection) -> PathBuf {
    selection.scenarios.clone().unwrap_or_else(|| {
        let local = PathBuf::from("scenarios");
        if local.is_dir() { local } else { catalogue::default_dir() }
    })
}

fn select(selection: &Selection) -> anyhow::Result<Vec<Entry>> {
    let root = folder(selection);
    let entries = catalogue::load(&root).map_err(|error| anyhow::format_err!("{error}"))?;
    let selected: Vec<Entry> =
        entries.into_iter().filter(|entry| catalogue::matches(&selection.filters, entry)).collect();
    if selected.is_empty() {
        anyhow::bail!("no scenario under {} matches {:?}", root.display(), selection.filters);
    }
    Ok(selected)
}

/// `mcp-authlab list`.
pub(crate) fn list(selection: &Selection) -> anyhow::Result<ExitCode> {
    let entries = select(selection)?;
    let width = entries.iter().map(|entry| entry.id.len()).max().unwrap_or(0);
    for entry in &entries {
        println!(
            "{:<width$}  {:<10}  {:<10}  {}",
            entry.id,
            entry.area,
            entry.scenario.verdict.name(),
            entry.scenario.summary
        );
        if !entry.scenario.refs.is_empty() {
            println!("{:<width$}  {}", "", entry.scenario.refs.join(", "));
        }
    }
    println!("{} scenarios", entries.len());
    Ok(ExitCode::SUCCESS)
}

/// `mcp-authlab run`.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(issuer) = &args.as_url
        && !crate::client::is_issuer(issuer)
    {
        anyhow::bail!("--as-url expects an issuer: an https URL without query or fragment, got {issuer:?}");
    }
    if let Some(url) = &args.rs_url {
        lab_scenario::check_mcp_url(url).map_err(|error| anyhow::format_err!("{error}"))?;
    }
    if args.ca.is_some() && args.rs_url.is_none() && args.as_url.is_none() {
        anyhow::bail!("--ca names the CA of third-party servers: it needs --rs-url or --as-url");
    }
    for (flag, value) in [
        ("--resource", Some(args.resource.as_str())),
        ("--redirect-uri", args.redirect_uri.as_deref()),
        ("--second-resource", args.second_resource.as_deref()),
    ] {
        if let Some(value) = value
            && url::Url::parse(value).is_err()
        {
            anyhow::bail!("{flag} expects an absolute URI, got {value:?}");
        }
    }
    let rs_ca_pem = args
        .ca
        .as_ref()
        .map(|path| std::fs::read(path).with_context(|| format!("failed to read {}", path.display())))
        .transpose()?;
    let login = match &args.login {
        Some(user) => {
            let password = std::env::var(PASSWORD_VARIABLE).map_err(|_| {
                anyhow::format_err!("--login {user} reads the password from {PASSWORD_VARIABLE}, which is not set")
            })?;
            Some(lab_scenario::Login::new(user.clone(), password))
        }
        None => None,
    };
    let confidential_client = match &args.confidential_client {
        Some(id) => {
            let secret =
                std::env::var(CLIENT_SECRET_VARIABLE).ok().filter(|secret| !secret.is_empty()).ok_or_else(|| {
                    anyhow::format_err!(
                        "--confidential-client {id} reads the secret from {CLIENT_SECRET_VARIABLE}, which is not set"
                    )
                })?;
            Some(lab_scenario::ConfidentialClient::new(id.clone(), secret))
        }
        None => None,
    };
    let mut target = lab_scenario::Target {
        rs_url: args.rs_url.clone(),
        rs_ca_pem,
        // Exactly as given: RFC 8414 §3.3 compares the metadata's issuer byte for byte.
        as_issuer: args.as_url.clone(),
        client_id: args.client_id.clone(),
        redirect_uri: args.redirect_uri.clone(),
        resource: args.as_url.is_some().then(|| args.resource.clone()),
        second_resource: args.second_resource.clone(),
        scope: args.scope.clone(),
        login,
        confidential_client,
        ..lab_scenario::Target::default()
    };
    if let Some(url) = &target.rs_url {
        // A bad target is refused before the run, in one line, rather than failing every scenario.
        let mut pems: Vec<Vec<u8>> = target.rs_ca_pem.iter().cloned().collect();
        if target.as_issuer.is_none() {
            target.as_port = Some(args.as_port);
            target.cert_dir = Some(args.certs.clone());
            // The server under test serves the folder's leaf and trusts its CA: the run reads the
            // CA from there and writes nothing into the folder (`mcp-authlab certs` makes it).
            let certs = lab_pki::CertDir::new(&args.certs).load_without_writing().map_err(|error| {
                anyhow::format_err!(
                    "--certs {}: {error}; run `mcp-authlab certs --out {}` first and serve the MCP server with its server.pem",
                    args.certs.display(),
                    args.certs.display()
                )
            })?;
            pems.push(certs.ca.cert_pem().as_bytes().to_vec());
        }
        lab_scenario::probe_mcp_endpoint(url, &pems).await.map_err(|error| anyhow::format_err!("{error}"))?;
    }
    if let Some(issuer) = &target.as_issuer {
        // The AS's endpoints and what it offers, read once (RFC 8414); a run without them would
        // report its failures against the wrong URLs.
        let pems: Vec<Vec<u8>> = target.rs_ca_pem.iter().cloned().collect();
        let metadata = lab_scenario::discover(issuer, &pems).await.map_err(|error| anyhow::format_err!("{error}"))?;
        // Which of the lab's confidential clients it knows: a scenario that authenticates as one
        // it does not know is not applicable there, rather than a finding against it.
        target.lab_clients = Some(lab_scenario::probe_lab_clients(&metadata, &pems).await);
        target.as_metadata = Some(metadata);
        let oidc = lab_proto::metadata::authorization_server_metadata_urls(issuer);
        target.as_oidc_configuration = match oidc.get(1) {
            Some(url) => lab_scenario::serves_json(url, &pems).await,
            None => false,
        };
    }
    let entries = select(&args.selection)?;
    let colour = std::io::stdout().is_terminal() && !args.json;
    let paint =
        |code: &str, text: &str| if colour { format!("\u{1b}[{code}m{text}\u{1b}[0m") } else { text.to_owned() };
    // Against a third-party MCP server, the revision-neutral scenarios run once more at
    // 2026-07-28 after the whole battery; a server that does not speak it, as learnt before the
    // run, gets those runs marked not applicable at once, without a flow each. What does not
    // apply to the server at all is not run a second time.
    let mut passes: Vec<(Entry, bool)> = entries.iter().cloned().map(|entry| (entry, false)).collect();
    if target.rs_url.is_some() {
        passes.extend(
            entries
                .into_iter()
                .filter(|entry| {
                    lab_scenario::revision_neutral(&entry.scenario)
                        && lab_scenario::not_applicable(&entry.area, &entry.scenario, &target).is_none()
                })
                .map(|entry| (entry, true)),
        );
    }
    let probe = lab_scenario::learn_revisions(&target).await;
    let total = passes.len();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (index, (entry, modern)) in passes.into_iter().enumerate() {
        let target = lab_scenario::Target { modern, ..target.clone() };
        let revision = lab_scenario::revision_of(&entry.scenario, &target);
        let not_applicable =
            lab_scenario::not_applicable(&entry.area, &entry.scenario, &target).or_else(|| match revision {
                Some(lab_scenario::MODERN_REVISION) => target.revisions.modern().and_then(Result::err),
                Some(_) => target.revisions.legacy_refused(),
                None => None,
            });
        let result = match &not_applicable {
            Some(reason) => Err(format!("not applicable: {reason}")),
            None => {
                // Named with its revision, so that each run's transcript has a file of its own.
                let name = revision.map_or_else(|| entry.id.clone(), |revision| format!("{}@{revision}", entry.id));
                lab_scenario::run_against(&name, &entry.scenario, &target).await.map_err(|error| error.to_string())
            }
        };
        let mut outcome = Outcome { entry, result, not_applicable, transcript: None, revision };
        // Every failed run leaves its transcript where the user said, whatever the output format.
        if outcome.status() == Status::Failed
            && let Ok(report) = &outcome.result
        {
            match lab_scenario::write_transcript(report, &args.transcripts) {
                Ok(path) => outcome.transcript = Some(path),
                Err(error) => {
                    eprintln!("mcp-authlab: failed to write a transcript into {}: {error}", args.transcripts.display())
                }
            }
        }
        if !args.json {
            let explanation = outcome.explanation();
            let mark = match outcome.status() {
                Status::Passed => paint("32", "PASS"),
                Status::Failed if outcome.fails(args.fail_on) => paint("31", "FAIL"),
                // A finding below --fail-on: reported, but it does not fail the run.
                Status::Failed => paint("33", "NOTE"),
                Status::NotApplicable => paint("33", "N/A "),
            };
            let detail = if outcome.status() == Status::Passed {
                outcome.observed()
            } else {
                explanation.lines().next().unwrap_or("").to_owned()
            };
            println!("[{:>3}/{total}] {mark} {} ({detail})", index + 1, outcome.name());
            if outcome.status() == Status::Failed {
                for line in explanation.lines().skip(1) {
                    println!("          {line}");
                }
            }
            std::io::stdout().flush().ok();
        }
        outcomes.push(outcome);
    }
    if !args.scan_log.is_empty() {
        // The credentials the revision probe sent are searched for too.
        let scanned: Vec<Outcome> = outcomes.iter().cloned().chain(probe.clone()).collect();
        let outcome = lab_scenario::scan_logs(&args.scan_log, &scanned);
        if !args.json {
            let mark = if outcome.status() == Status::Passed { paint("32", "PASS") } else { paint("31", "FAIL") };
            let explanation = outcome.explanation();
            println!("[log] {mark} {} ({})", outcome.entry.id, explanation.lines().next().unwrap_or(""));
            for line in explanation.lines().skip(1) {
                println!("          {line}");
            }
        }
        outcomes.push(outcome);
    }
    let (passed, _, not_applicable) = report::counts(&outcomes);
    let failed = outcomes.iter().filter(|outcome| outcome.fails(args.fail_on)).count();
    let below = report::counts(&outcomes).1 - failed;
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&outcomes))
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    if let Some(path) = &args.sarif {
        let text = serde_json::to_string_pretty(&report::sarif(&outcomes))?;
        std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report::html(&outcomes, "MCP Auth Lab: scenario run"))
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    // What the battery learnt of a third-party MCP server's revisions, beside the verdicts.
    let information = if target.rs_url.is_some() { target.revisions.information() } else { Vec::new() };
    if args.json {
        let mut value = report::json(&outcomes);
        value["information"] = serde_json::json!(information);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if !information.is_empty() {
            println!();
            println!("the server:");
            for line in &information {
                println!("  {line}");
            }
        }
        print_summary(&outcomes);
        let mut closing = format!("{passed} passed, {failed} failed");
        if below > 0 {
            closing.push_str(&format!(", {below} below --fail-on {}", args.fail_on.name()));
        }
        if not_applicable > 0 {
            closing.push_str(&format!(", {not_applicable} skipped"));
        }
        println!("{closing}");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What a person must act on, after the progress lines: the findings by grade, the runs that
/// could not conclude, and what did not apply, grouped by reason.
fn print_summary(outcomes: &[Outcome]) {
    let tally = report::tally(outcomes);
    if tally.vulnerable + tally.nonconforming + tally.advisory + tally.could_not_conclude > 0 {
        println!();
        println!(
            "findings: {} vulnerable, {} nonconforming, {} advisory; {} could not conclude",
            tally.vulnerable, tally.nonconforming, tally.advisory, tally.could_not_conclude
        );
        for outcome in report::ordered(outcomes) {
            if matches!(outcome.standing(), report::Standing::Finding(_) | report::Standing::Unconcluded) {
                let remedy =
                    outcome.entry.scenario.remedy.as_deref().map(|remedy| format!(" · {remedy}")).unwrap_or_default();
                println!("  {:<20} {}{remedy}", outcome.standing().name(), outcome.name());
            }
        }
    }
    let groups = report::not_applicable_groups(outcomes);
    if !groups.is_empty() {
        println!();
        println!("not applicable:");
        for (reason, members) in groups {
            println!("  {:>3} · {reason}", members.len());
        }
    }
    println!();
}
