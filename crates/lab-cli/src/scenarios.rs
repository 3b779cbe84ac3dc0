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
    /// The CA of the third-party server's certificate, if it is not the lab CA.
    #[arg(long, value_name = "FILE", requires = "rs_url")]
    pub(crate) ca: Option<PathBuf>,
    /// The lab AS port the third-party server trusts (with `--rs-url`).
    #[arg(long, default_value_t = 9443, requires = "rs_url")]
    pub(crate) as_port: u16,
    /// The lab CA folder the third-party server trusts (with `--rs-url`).
    #[arg(long, value_name = "DIR", default_value = "certs", requires = "rs_url")]
    pub(crate) certs: PathBuf,
    /// With `--rs-url`: run the whole battery against a running system, this authorization
    /// server (its issuer) and the MCP server that trusts it. The AS must approve the lab user
    /// `alice` without a page and know the lab's pre-registered clients, as
    /// `mcp-authlab up --auto-approve alice` does.
    #[arg(long, value_name = "ISSUER", requires = "rs_url")]
    pub(crate) as_url: Option<String>,
}

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
    if let Some(issuer) = &args.as_url {
        // RFC 8414 §2: an issuer is an https URL without query or fragment.
        let valid = url::Url::parse(issuer)
            .is_ok_and(|url| url.scheme() == "https" && url.query().is_none() && url.fragment().is_none());
        if !valid {
            anyhow::bail!("--as-url expects an issuer: an https URL without query or fragment, got {issuer:?}");
        }
    }
    let target = match &args.rs_url {
        Some(url) => {
            let rs_ca_pem = args
                .ca
                .as_ref()
                .map(|path| std::fs::read(path).with_context(|| format!("failed to read {}", path.display())))
                .transpose()?;
            lab_scenario::Target {
                rs_url: Some(url.clone()),
                rs_ca_pem,
                as_port: Some(args.as_port),
                cert_dir: Some(args.certs.clone()),
                as_issuer: args.as_url.as_ref().map(|issuer| issuer.trim_end_matches('/').to_owned()),
            }
        }
        None => lab_scenario::Target::default(),
    };
    let entries = select(&args.selection)?;
    let colour = std::io::stdout().is_terminal() && !args.json;
    let paint =
        |code: &str, text: &str| if colour { format!("\u{1b}[{code}m{text}\u{1b}[0m") } else { text.to_owned() };
    let total = entries.len();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let not_applicable = lab_scenario::not_applicable(&entry.area, &entry.scenario, &target);
        let result = match &not_applicable {
            Some(reason) => Err(format!("not applicable: {reason}")),
            None => lab_scenario::run_against(&entry.id, &entry.scenario, &target).await,
        };
        let outcome = Outcome { entry, result, not_applicable };
        if !args.json {
            let explanation = outcome.explanation();
            let mark = match outcome.status() {
                Status::Passed => paint("32", "PASS"),
                Status::Failed => paint("31", "FAIL"),
                Status::NotApplicable => paint("33", "N/A "),
            };
            let detail = if outcome.status() == Status::Passed {
                outcome.observed()
            } else {
                explanation.lines().next().unwrap_or("").to_owned()
            };
            println!("[{:>3}/{total}] {mark} {} ({detail})", index + 1, outcome.entry.id);
            if outcome.status() == Status::Failed {
                for line in explanation.lines().skip(1) {
                    println!("          {line}");
                }
                if let Ok(path) = outcome
                    .result
                    .as_ref()
                    .map_err(|_| ())
                    .and_then(|report| lab_scenario::write_transcript(report).map_err(|_| ()))
                {
                    println!("          transcript: {}", path.display());
                }
            }
            std::io::stdout().flush().ok();
        }
        outcomes.push(outcome);
    }
    let (passed, failed, not_applicable) = report::counts(&outcomes);
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report::json(&outcomes))?);
    } else if not_applicable > 0 {
        println!("{passed} passed, {failed} failed, {not_applicable} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
