//! `mcp-authlab list` and `mcp-authlab run`: the scenario catalogue against the in-process lab.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use lab_scenario::catalogue::{self, Entry};
use lab_scenario::{Observed, Report};
use serde_json::json;

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
    let entries = select(&args.selection)?;
    let colour = std::io::stdout().is_terminal() && !args.json;
    let paint =
        |code: &str, text: &str| if colour { format!("\u{1b}[{code}m{text}\u{1b}[0m") } else { text.to_owned() };
    let total = entries.len();
    let mut results: Vec<(Entry, Result<Report, String>)> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let result = lab_scenario::run(&entry.id, &entry.scenario).await;
        if !args.json {
            let (mark, detail) = match &result {
                Ok(report) if report.passed() => (paint("32", "PASS"), report.expected.name().to_owned()),
                Ok(report) => (paint("31", "FAIL"), report.explanation()),
                Err(error) => (paint("31", "FAIL"), error.clone()),
            };
            println!("[{:>3}/{total}] {mark} {} ({})", index + 1, entry.id, detail.lines().next().unwrap_or(""));
            if !matches!(&result, Ok(report) if report.passed()) {
                for line in detail.lines().skip(1) {
                    println!("          {line}");
                }
                if let Ok(report) = &result
                    && let Ok(path) = lab_scenario::write_transcript(report) {
                        println!("          transcript: {}", path.display());
                    }
            }
            std::io::stdout().flush().ok();
        }
        results.push((entry, result));
    }
    let passed = results.iter().filter(|(_, result)| matches!(result, Ok(report) if report.passed())).count();
    let failed = total - passed;
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&results)).with_context(|| format!("failed to write {}", path.display()))?;
    }
    if args.json {
        let scenarios: Vec<serde_json::Value> = results
            .iter()
            .map(|(entry, result)| match result {
                Ok(report) => json!({
                    "id": entry.id,
                    "area": entry.area,
                    "refs": entry.scenario.refs,
                    "expected": report.expected.name(),
                    "observed": observed_name(&report.observed),
                    "passed": report.passed(),
                    "explanation": report.explanation(),
                    "steps": report.steps.iter().map(|step| json!({
                        "label": step.label, "attack": step.attack, "status": step.status, "failures": step.failures,
                    })).collect::<Vec<_>>(),
                }),
                Err(error) => json!({"id": entry.id, "area": entry.area, "passed": false, "error": error}),
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"passed": passed, "failed": failed, "scenarios": scenarios}))?
        );
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn observed_name(observed: &Observed) -> String {
    match observed {
        Observed::Verdict(verdict) => verdict.name().to_owned(),
        Observed::Broken(reason) => format!("broken: {reason}"),
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JUnit XML: one test case per scenario, grouped by area.
fn junit(results: &[(Entry, Result<Report, String>)]) -> String {
    let failures = results.iter().filter(|(_, result)| !matches!(result, Ok(report) if report.passed())).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mcp-authlab\" tests=\"{}\" failures=\"{failures}\">\n",
        results.len()
    );
    let mut areas: Vec<&str> = results.iter().map(|(entry, _)| entry.area.as_str()).collect();
    areas.dedup();
    areas.sort_unstable();
    areas.dedup();
    for area in areas {
        let cases: Vec<&(Entry, Result<Report, String>)> =
            results.iter().filter(|(entry, _)| entry.area == area).collect();
        let area_failures = cases.iter().filter(|(_, result)| !matches!(result, Ok(report) if report.passed())).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{area_failures}\">\n",
            xml(area),
            cases.len()
        ));
        for (entry, result) in cases {
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\">\n", xml(area), xml(&entry.id)));
            match result {
                Ok(report) if report.passed() => {}
                Ok(report) => out.push_str(&format!(
                    "      <failure message=\"{}\">{}</failure>\n",
                    xml(report.explanation().lines().next().unwrap_or("")),
                    xml(&report.explanation())
                )),
                Err(error) => out.push_str(&format!("      <error message=\"{}\"/>\n", xml(error))),
            }
            out.push_str(&format!(
                "      <properties><property name=\"refs\" value=\"{}\"/></properties>\n",
                xml(&entry.scenario.refs.join(", "))
            ));
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
