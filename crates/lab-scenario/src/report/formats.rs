//! The machine-readable reports: JSON (`--json`), JUnit XML (`--junit`) and SARIF 2.1.0
//! (`--sarif`), each with the grade of every finding.

use serde_json::{Value, json};

use super::{Outcome, Standing, Status, broken_steps, counts, ordered, tally};
use crate::schema::Verdict;

/// The machine-readable result (`--json`): the tally, then every scenario in report order.
pub fn json(outcomes: &[Outcome]) -> Value {
    let (passed, failed, not_applicable) = counts(outcomes);
    let scenarios: Vec<Value> = ordered(outcomes)
        .into_iter()
        .map(|outcome| {
            let report = outcome.result.as_ref().ok();
            let scenario = &outcome.entry.scenario;
            json!({
                "id": outcome.entry.id,
                "name": outcome.name(),
                "revision": outcome.revision,
                "area": outcome.entry.area,
                "summary": scenario.summary,
                "refs": scenario.refs,
                "quote": outcome.quote(),
                "remedy": scenario.remedy,
                "expected": scenario.verdict.name(),
                "observed": outcome.observed(),
                "grade": outcome.standing().name(),
                "status": outcome.status().name(),
                "explanation": outcome.explanation(),
                "not_applicable_reason": outcome.not_applicable_reason(),
                "steps": report.map(|report| report.steps.iter().map(|step| json!({
                    "label": step.label, "attack": step.attack, "status": step.status,
                    "failures": step.failures, "advisories": step.advisories,
                    "exploit_failures": step.exploit_failures,
                })).collect::<Vec<_>>()),
                "exchanges": report.map(|report| &report.exchanges),
                "transcript": outcome.transcript.as_ref().map(|path| path.display().to_string()),
            })
        })
        .collect();
    json!({
        "passed": passed,
        "failed": failed,
        "not_applicable": not_applicable,
        "grades": tally(outcomes),
        "scenarios": scenarios,
    })
}

fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Whether JUnit shows the outcome as a failure: a vulnerable or nonconforming finding, or a run
/// that could not conclude. An advisory passes, with its grade as a property and its advisories
/// as system-out.
fn junit_failure(outcome: &Outcome) -> bool {
    matches!(
        outcome.standing(),
        Standing::Finding(std::cmp::Reverse(Verdict::Vulnerable | Verdict::Nonconforming)) | Standing::Unconcluded
    )
}

/// JUnit XML: one test suite per area, one test case per scenario (`--junit`), findings first.
pub fn junit(outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|outcome| junit_failure(outcome)).count();
    let (_, _, not_applicable) = counts(outcomes);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mcp-authlab\" tests=\"{}\" failures=\"{failed}\" skipped=\"{not_applicable}\">\n",
        outcomes.len()
    );
    let ordered = ordered(outcomes);
    let mut areas: Vec<&str> = Vec::new();
    for outcome in &ordered {
        if !areas.contains(&outcome.entry.area.as_str()) {
            areas.push(&outcome.entry.area);
        }
    }
    for area in areas {
        let cases: Vec<&Outcome> = ordered.iter().copied().filter(|outcome| outcome.entry.area == area).collect();
        let area_failed = cases.iter().filter(|outcome| junit_failure(outcome)).count();
        let area_skipped = cases.iter().filter(|outcome| outcome.status() == Status::NotApplicable).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{area_failed}\" skipped=\"{area_skipped}\">\n",
            xml(area),
            cases.len()
        ));
        for outcome in cases {
            let scenario = &outcome.entry.scenario;
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\">\n", xml(area), xml(&outcome.name())));
            out.push_str(&format!(
                "      <properties><property name=\"refs\" value=\"{}\"/><property name=\"expected\" value=\"{}\"/><property name=\"observed\" value=\"{}\"/><property name=\"grade\" value=\"{}\"/>{}{}</properties>\n",
                xml(&scenario.refs.join(", ")),
                scenario.verdict.name(),
                xml(&outcome.observed()),
                outcome.standing().name(),
                scenario.quote.as_ref().map(|quote| format!("<property name=\"quote\" value=\"{}\"/>", xml(quote))).unwrap_or_default(),
                scenario.remedy.as_ref().map(|remedy| format!("<property name=\"remedy\" value=\"{}\"/>", xml(remedy))).unwrap_or_default(),
            ));
            let explanation = outcome.explanation();
            match outcome.standing() {
                Standing::Passed => {}
                Standing::NotApplicable => {
                    out.push_str(&format!("      <skipped message=\"{}\"/>\n", xml(&explanation)));
                }
                _ if junit_failure(outcome) => out.push_str(&format!(
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                    xml(explanation.lines().next().unwrap_or("")),
                    outcome.standing().name(),
                    xml(&explanation)
                )),
                _ => out.push_str(&format!("      <system-out>{}</system-out>\n", xml(&explanation))),
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The SARIF level of a finding: `error` for vulnerable (and a run that could not conclude),
/// `warning` for nonconforming, `note` for advisory.
fn sarif_level(standing: Standing) -> &'static str {
    match standing {
        Standing::Finding(std::cmp::Reverse(Verdict::Nonconforming)) => "warning",
        Standing::Finding(std::cmp::Reverse(Verdict::Advisory)) => "note",
        _ => "error",
    }
}

/// SARIF 2.1.0 for code scanning (`--sarif`): rules are the scenarios, one result per broken
/// check of a finding (or per run that could not conclude), with the finding's level.
pub fn sarif(outcomes: &[Outcome]) -> Value {
    let rules: Vec<Value> = outcomes
        .iter()
        .map(|outcome| {
            let scenario = &outcome.entry.scenario;
            let refs = if scenario.refs.is_empty() { "none".to_owned() } else { scenario.refs.join(", ") };
            let quote = scenario.quote.as_deref().unwrap_or("");
            let remedy = scenario.remedy.as_deref().unwrap_or("");
            let name = outcome.name();
            json!({
                "id": name,
                "name": name.rsplit('/').next().unwrap_or(&name),
                "shortDescription": {"text": scenario.summary},
                "fullDescription": {"text": format!("{} Expected verdict: {}.", scenario.summary, scenario.verdict.name())},
                "help": {
                    "text": format!("References: {refs}. {quote} Remedy: {remedy} Scenario file: scenarios/{}.toml.", outcome.entry.id),
                    "markdown": format!("**References:** {refs}\n\n> {quote}\n\n**Remedy:** {remedy}\n\nScenario file: `scenarios/{}.toml`", outcome.entry.id),
                },
                "properties": {"tags": ["security", "mcp", "oauth", outcome.entry.area.clone()]},
            })
        })
        .collect();
    let mut results = Vec::new();
    for outcome in ordered(outcomes) {
        let standing = outcome.standing();
        if matches!(standing, Standing::Passed | Standing::NotApplicable) {
            continue;
        }
        let index = outcomes.iter().position(|known| std::ptr::eq(known, outcome)).unwrap_or(0);
        let location = json!([{"physicalLocation": {"artifactLocation": {"uri": format!("scenarios/{}.toml", outcome.entry.id)}}}]);
        // Each broken check at its own level: a MUST at the outcome's, a SHOULD always a note.
        let level = sarif_level(standing);
        let checks: Vec<(String, &str)> = match &outcome.result {
            Ok(report) => {
                let mut checks: Vec<(String, &str)> = Vec::new();
                for (label, failures, advisories) in broken_steps(report) {
                    checks.extend(failures.iter().map(|failure| (format!("step `{label}`: {failure}"), level)));
                    checks.extend(
                        advisories.iter().map(|advisory| (format!("step `{label}` (SHOULD): {advisory}"), "note")),
                    );
                }
                if checks.is_empty() {
                    checks.push((report.explanation(), level));
                }
                checks
            }
            Err(error) => vec![(error.clone(), level)],
        };
        for (check, level) in checks {
            results.push(json!({
                "ruleId": outcome.name(),
                "ruleIndex": index,
                "level": level,
                "message": {"text": format!("{}: {check}", outcome.explanation().lines().next().unwrap_or(""))},
                "locations": location,
                "properties": {
                    "grade": standing.name(),
                    "quote": outcome.quote(),
                    "remedy": outcome.entry.scenario.remedy,
                    "transcript": outcome.transcript.as_ref().map(|path| path.display().to_string()),
                },
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mcp-authlab", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    })
}
