//! Reports of a scenario run: JSON, JUnit XML, SARIF 2.1.0 and a self-contained HTML page with a
//! sequence diagram per scenario. Everything here is built from [`Report`]s, whose transcripts
//! and exchanges are already redacted.

use serde_json::{Value, json};

use crate::catalogue::Entry;
use crate::outcome::{ExchangeRecord, Observed, Party, Report};

/// One scenario's outcome in a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub entry: Entry,
    pub result: Result<Report, String>,
    /// Why the scenario was not run against this target (third-party runs), if so.
    pub not_applicable: Option<String>,
    /// Where the run's redacted transcript was written (failed runs), named in every report.
    pub transcript: Option<std::path::PathBuf>,
}

/// The status of one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    NotApplicable,
}

impl Status {
    /// The name reports use (JSON, HTML classes and badges).
    pub fn name(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::NotApplicable => "not-applicable",
        }
    }
}

impl Outcome {
    pub fn status(&self) -> Status {
        if self.not_applicable.is_some() {
            return Status::NotApplicable;
        }
        match &self.result {
            Ok(report) if report.passed() => Status::Passed,
            Ok(report) if matches!(report.observed, Observed::Inapplicable(_)) => Status::NotApplicable,
            _ => Status::Failed,
        }
    }

    /// What happened, in one paragraph.
    pub fn explanation(&self) -> String {
        if let Some(reason) = &self.not_applicable {
            return format!("not applicable: {reason}");
        }
        let text = match &self.result {
            Ok(report) => report.explanation(),
            Err(error) => format!("the scenario could not run: {error}"),
        };
        match &self.transcript {
            Some(path) => format!("{text}\n  transcript: {}", path.display()),
            None => text,
        }
    }

    /// The observed verdict's name.
    pub fn observed(&self) -> String {
        match (&self.not_applicable, &self.result) {
            (Some(_), _) => "not applicable".to_owned(),
            (None, Ok(report)) => match &report.observed {
                Observed::Verdict(verdict) => verdict.name().to_owned(),
                Observed::Broken(_) => "broken".to_owned(),
                Observed::Inapplicable(_) => "not applicable".to_owned(),
            },
            (None, Err(_)) => "error".to_owned(),
        }
    }
}

/// Counts: passed, failed, not applicable.
pub fn counts(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let count = |status| outcomes.iter().filter(|outcome| outcome.status() == status).count();
    (count(Status::Passed), count(Status::Failed), count(Status::NotApplicable))
}

/// The machine-readable result (`--json`).
pub fn json(outcomes: &[Outcome]) -> Value {
    let (passed, failed, not_applicable) = counts(outcomes);
    let scenarios: Vec<Value> = outcomes
        .iter()
        .map(|outcome| {
            let report = outcome.result.as_ref().ok();
            json!({
                "id": outcome.entry.id,
                "area": outcome.entry.area,
                "summary": outcome.entry.scenario.summary,
                "refs": outcome.entry.scenario.refs,
                "expected": outcome.entry.scenario.verdict.name(),
                "observed": outcome.observed(),
                "status": outcome.status().name(),
                "explanation": outcome.explanation(),
                "steps": report.map(|report| report.steps.iter().map(|step| json!({
                    "label": step.label, "attack": step.attack, "status": step.status, "failures": step.failures,
                })).collect::<Vec<_>>()),
                "exchanges": report.map(|report| &report.exchanges),
                "transcript": outcome.transcript.as_ref().map(|path| path.display().to_string()),
            })
        })
        .collect();
    json!({"passed": passed, "failed": failed, "not_applicable": not_applicable, "scenarios": scenarios})
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

/// JUnit XML: one test suite per area, one test case per scenario (`--junit`).
pub fn junit(outcomes: &[Outcome]) -> String {
    let (_, failed, not_applicable) = counts(outcomes);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mcp-authlab\" tests=\"{}\" failures=\"{failed}\" skipped=\"{not_applicable}\">\n",
        outcomes.len()
    );
    let mut areas: Vec<&str> = outcomes.iter().map(|outcome| outcome.entry.area.as_str()).collect();
    areas.sort_unstable();
    areas.dedup();
    for area in areas {
        let cases: Vec<&Outcome> = outcomes.iter().filter(|outcome| outcome.entry.area == area).collect();
        let (_, area_failed, area_skipped) =
            counts(&cases.iter().map(|outcome| (*outcome).clone()).collect::<Vec<_>>());
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{area_failed}\" skipped=\"{area_skipped}\">\n",
            xml(area),
            cases.len()
        ));
        for outcome in cases {
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\">\n", xml(area), xml(&outcome.entry.id)));
            out.push_str(&format!(
                "      <properties><property name=\"refs\" value=\"{}\"/><property name=\"expected\" value=\"{}\"/><property name=\"observed\" value=\"{}\"/></properties>\n",
                xml(&outcome.entry.scenario.refs.join(", ")),
                outcome.entry.scenario.verdict.name(),
                xml(&outcome.observed())
            ));
            let explanation = outcome.explanation();
            match outcome.status() {
                Status::Passed => {}
                Status::NotApplicable => out.push_str(&format!("      <skipped message=\"{}\"/>\n", xml(&explanation))),
                Status::Failed => out.push_str(&format!(
                    "      <failure message=\"{}\">{}</failure>\n",
                    xml(explanation.lines().next().unwrap_or("")),
                    xml(&explanation)
                )),
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// SARIF 2.1.0 for code scanning (`--sarif`): rules are the scenarios, one result per failed check.
pub fn sarif(outcomes: &[Outcome]) -> Value {
    let rules: Vec<Value> = outcomes
        .iter()
        .map(|outcome| {
            let scenario = &outcome.entry.scenario;
            json!({
                "id": outcome.entry.id,
                "name": outcome.entry.id.rsplit('/').next().unwrap_or(&outcome.entry.id),
                "shortDescription": {"text": scenario.summary},
                "fullDescription": {"text": format!("{} Expected verdict: {}.", scenario.summary, scenario.verdict.name())},
                "help": {
                    "text": format!("References: {}. Scenario file: scenarios/{}.toml.", if scenario.refs.is_empty() { "none".to_owned() } else { scenario.refs.join(", ") }, outcome.entry.id),
                    "markdown": format!("**References:** {}\n\nScenario file: `scenarios/{}.toml`", scenario.refs.join(", "), outcome.entry.id),
                },
                "properties": {"tags": ["security", "mcp", "oauth", outcome.entry.area.clone()]},
            })
        })
        .collect();
    let mut results = Vec::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        if outcome.status() != Status::Failed {
            continue;
        }
        let location = json!([{"physicalLocation": {"artifactLocation": {"uri": format!("scenarios/{}.toml", outcome.entry.id)}}}]);
        let failures: Vec<String> = match &outcome.result {
            Ok(report) => {
                let mut failures: Vec<String> = report
                    .steps
                    .iter()
                    .flat_map(|step| {
                        step.failures.iter().map(move |failure| format!("step `{}`: {failure}", step.label))
                    })
                    .collect();
                if failures.is_empty() {
                    failures.push(report.explanation());
                }
                failures
            }
            Err(error) => vec![error.clone()],
        };
        for failure in failures {
            results.push(json!({
                "ruleId": outcome.entry.id,
                "ruleIndex": index,
                "level": "error",
                "message": {"text": format!("{}: {failure}", outcome.explanation().lines().next().unwrap_or(""))},
                "locations": location,
                "properties": {"transcript": outcome.transcript.as_ref().map(|path| path.display().to_string())},
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

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The lifelines of a sequence diagram, in order: the senders, then the lab's servers in a fixed
/// order, then any other host.
fn lifelines(exchanges: &[ExchangeRecord]) -> Vec<Party> {
    let mut lines = Vec::new();
    let order = [
        Party::Attacker,
        Party::Client,
        Party::As,
        Party::Rs,
        Party::TwinRs,
        Party::Upstream,
        Party::CimdHost,
        Party::Canary,
    ];
    for party in order {
        if exchanges.iter().any(|exchange| exchange.from == party || exchange.to == party) {
            lines.push(party);
        }
    }
    for exchange in exchanges {
        if !lines.contains(&exchange.to) {
            lines.push(exchange.to.clone());
        }
    }
    lines
}

/// An SVG sequence diagram: one lifeline per party, one arrow per request with its status.
fn sequence_svg(report: &Report) -> String {
    let exchanges = &report.exchanges;
    if exchanges.is_empty() {
        return "<p class=\"muted\">No HTTP exchange (clock, profile or forge steps only).</p>".to_owned();
    }
    let lines = lifelines(exchanges);
    let column = 170;
    let row = 34;
    let longest_label = exchanges.iter().map(|exchange| exchange.path.chars().count().min(60) + 24).max().unwrap_or(0);
    let width = (column * lines.len() + 40).max(column / 2 + 40 + longest_label * 7);
    let height = 60 + row * exchanges.len() + 20;
    let x = |party: &Party| 20 + column / 2 + column * lines.iter().position(|line| line == party).unwrap_or(0);
    let attack_steps: Vec<usize> =
        report.steps.iter().enumerate().filter(|(_, step)| step.attack).map(|(index, _)| index + 1).collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"sequence diagram\">"
    );
    for party in &lines {
        let position = x(party);
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"8\" width=\"{}\" height=\"26\" rx=\"6\" class=\"party\"/><text x=\"{position}\" y=\"26\" class=\"party-name\">{}</text><line x1=\"{position}\" y1=\"34\" x2=\"{position}\" y2=\"{}\" class=\"lifeline\"/>",
            position - 70,
            140,
            html_escape(party.name()),
            height - 10
        ));
    }
    for (index, exchange) in exchanges.iter().enumerate() {
        let y = 60 + row * index;
        let (from, to) = (x(&exchange.from), x(&exchange.to));
        let attack = attack_steps.contains(&exchange.step);
        let class = match exchange.status {
            Some(status) if status >= 400 => "arrow refused",
            Some(_) => "arrow ok",
            None => "arrow failed",
        };
        let label =
            format!("{}. {} {}", exchange.step, exchange.method, exchange.path.chars().take(60).collect::<String>());
        let status = exchange.status.map_or_else(|| "no answer".to_owned(), |status| status.to_string());
        let direction = if to >= from { 1 } else { -1 };
        let tip = to as i64 - 6 * direction;
        svg.push_str(&format!(
            "<line x1=\"{from}\" y1=\"{y}\" x2=\"{to}\" y2=\"{y}\" class=\"{class}{}\"/><path d=\"M{tip} {} L{to} {y} L{tip} {}\" class=\"{class}\"/>",
            if attack { " attack" } else { "" },
            y - 4,
            y + 4
        ));
        // Labels start just right of the arrow's left end, so long paths grow to the right
        // instead of leaving the picture.
        let text_x = from.min(to) + 8;
        svg.push_str(&format!(
            "<text x=\"{text_x}\" y=\"{}\" class=\"label\">{} <tspan class=\"status\">→ {status}</tspan></text>",
            y - 7,
            html_escape(&label)
        ));
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = r#"
:root { --ok:#067647; --bad:#b42318; --na:#667085; --line:#d0d5dd; --bg:#f9fafb; --accent:#2557d6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #101828; background: var(--bg); }
header { background: #101828; color: #fff; padding: 24px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #d0d5dd; }
main { padding: 24px 32px; max-width: 1400px; }
.cards { display: flex; gap: 16px; margin-bottom: 24px; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 14px 20px; min-width: 150px; }
.card b { display: block; font-size: 28px; }
.card.ok b { color: var(--ok); } .card.bad b { color: var(--bad); } .card.na b { color: var(--na); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); border-radius: 12px; overflow: hidden; }
th, td { text-align: left; padding: 8px 12px; border-top: 1px solid var(--line); vertical-align: top; }
th { background: #f2f4f7; border-top: 0; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #475467; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.badge.passed { background: #ecfdf3; color: var(--ok); } .badge.failed { background: #fef3f2; color: var(--bad); } .badge.not-applicable { background: #f2f4f7; color: var(--na); }
.refs { color: #475467; font-size: 13px; }
section.scenario { background: #fff; border: 1px solid var(--line); border-radius: 12px; margin: 20px 0; padding: 16px 20px; }
section.scenario h3 { margin: 0 0 4px; font-size: 16px; }
section.scenario.failed { border-left: 5px solid var(--bad); }
pre { background: #f2f4f7; padding: 10px 12px; border-radius: 8px; white-space: pre-wrap; font-size: 13px; }
.diagram { overflow-x: auto; margin-top: 8px; }
svg .party { fill: #eef4ff; stroke: var(--accent); }
svg .party-name { text-anchor: middle; font: 600 13px system-ui, sans-serif; fill: #1d2939; }
svg .lifeline { stroke: #98a2b3; stroke-dasharray: 4 4; }
svg .arrow { stroke-width: 1.6; fill: none; }
svg .arrow.ok { stroke: var(--ok); } svg .arrow.refused { stroke: var(--bad); } svg .arrow.failed { stroke: var(--na); stroke-dasharray: 2 3; }
svg .arrow.attack { stroke-width: 2.8; }
svg .label { text-anchor: start; font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; fill: #344054; }
svg .status { font-weight: 700; }
.muted { color: var(--na); }
a { color: var(--accent); }
"#;

/// A self-contained HTML page (`--html`): no script, no network, secrets already redacted.
pub fn html(outcomes: &[Outcome], title: &str) -> String {
    let (passed, failed, not_applicable) = counts(outcomes);
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        html_escape(title)
    );
    page.push_str(&format!(
        "<header><h1>{}</h1><p>MCP Auth Lab scenario report · {} scenarios · arrows are requests, drawn thick for the attack steps; red answers are refusals</p></header><main>",
        html_escape(title),
        outcomes.len()
    ));
    page.push_str(&format!(
        "<div class=\"cards\" id=\"summary\"><div class=\"card ok\"><b>{passed}</b>passed</div><div class=\"card bad\"><b>{failed}</b>failed</div><div class=\"card na\"><b>{not_applicable}</b>not applicable</div></div>"
    ));
    page.push_str("<table id=\"scenarios\"><thead><tr><th>scenario</th><th>result</th><th>expected</th><th>observed</th><th>references</th></tr></thead><tbody>");
    for outcome in outcomes {
        let status = outcome.status().name();
        page.push_str(&format!(
            "<tr><td><a href=\"#{anchor}\">{id}</a><br><span class=\"refs\">{summary}</span></td><td><span class=\"badge {status}\">{status}</span></td><td>{expected}</td><td>{observed}</td><td class=\"refs\">{refs}</td></tr>",
            anchor = anchor(&outcome.entry.id),
            id = html_escape(&outcome.entry.id),
            summary = html_escape(&outcome.entry.scenario.summary),
            expected = outcome.entry.scenario.verdict.name(),
            observed = html_escape(&outcome.observed()),
            refs = html_escape(&outcome.entry.scenario.refs.join(", "))
        ));
    }
    page.push_str("</tbody></table>");
    for outcome in outcomes {
        let status = outcome.status().name();
        page.push_str(&format!(
            "<section class=\"scenario {status}\" id=\"{}\"><h3>{}</h3><p>{}</p><p class=\"refs\">{}</p><pre>{}</pre>",
            anchor(&outcome.entry.id),
            html_escape(&outcome.entry.id),
            html_escape(&outcome.entry.scenario.summary),
            html_escape(&outcome.entry.scenario.refs.join(", ")),
            html_escape(&outcome.explanation())
        ));
        if let Ok(report) = &outcome.result {
            page.push_str(&format!("<div class=\"diagram\">{}</div>", sequence_svg(report)));
        }
        page.push_str("</section>");
    }
    page.push_str("</main></body></html>\n");
    page
}

fn anchor(id: &str) -> String {
    format!("s-{}", id.replace(['/', '.'], "-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::StepReport;
    use crate::schema::Verdict;

    fn entry(id: &str, verdict: &str) -> Entry {
        let text = format!(
            "summary = \"a <scenario> & more\"\nrefs = [\"O21 §4.1.1\"]\nverdict = \"{verdict}\"\n[[step]]\ndo = \"register\"\nexpect = {{ status = 201 }}\nexploit = {{ status = 200 }}\n"
        );
        let scenario = crate::parse(std::path::Path::new("x.toml"), &text).unwrap();
        Entry {
            id: id.to_owned(),
            area: crate::catalogue::area(id),
            path: std::path::PathBuf::from(format!("{id}.toml")),
            scenario,
        }
    }

    fn report(id: &str, expected: Verdict, observed: Observed, failures: Vec<String>) -> Report {
        Report {
            id: id.to_owned(),
            expected,
            observed,
            steps: vec![StepReport {
                label: "register".into(),
                attack: true,
                failures,
                advisories: Vec::new(),
                exploit_failures: None,
                status: Some(201),
            }],
            transcript: vec!["> POST https://127.0.0.1:1/register".into()],
            exchanges: vec![ExchangeRecord {
                step: 1,
                from: Party::Attacker,
                to: Party::As,
                method: "POST".into(),
                path: "/register".into(),
                status: Some(201),
            }],
            used_secrets: crate::outcome::UsedSecrets::default(),
        }
    }

    fn outcomes() -> Vec<Outcome> {
        vec![
            Outcome {
                entry: entry("attacks/token/passes", "defended"),
                result: Ok(report(
                    "attacks/token/passes",
                    Verdict::Defended,
                    Observed::Verdict(Verdict::Defended),
                    vec![],
                )),
                not_applicable: None,
                transcript: None,
            },
            Outcome {
                entry: entry("attacks/token/fails", "defended"),
                result: Ok(report(
                    "attacks/token/fails",
                    Verdict::Defended,
                    Observed::Verdict(Verdict::Vulnerable),
                    vec!["status: expected 400, got 200 <&>".into()],
                )),
                not_applicable: None,
                transcript: Some("out/attacks__token__fails.log".into()),
            },
            Outcome {
                entry: entry("flows/skipped", "defended"),
                result: Err("not run".into()),
                not_applicable: Some("the target has no such tool".into()),
                transcript: None,
            },
        ]
    }

    #[test]
    fn junit_parses_and_counts_failures_and_skips() {
        let text = junit(&outcomes());
        let document = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("skipped"), Some("1"));
        let cases: Vec<_> = document.descendants().filter(|node| node.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), 3);
        let failed = cases.iter().find(|case| case.attribute("name") == Some("attacks/token/fails")).unwrap();
        let failure = failed.children().find(|node| node.has_tag_name("failure")).expect("a failure element");
        assert!(failure.text().unwrap().contains("expected 400, got 200 <&>"));
        let skipped = cases.iter().find(|case| case.attribute("name") == Some("flows/skipped")).unwrap();
        assert!(skipped.children().any(|node| node.has_tag_name("skipped")));
    }

    #[test]
    fn sarif_has_the_2_1_0_shape_and_one_result_per_failed_check() {
        let sarif = sarif(&outcomes());
        assert_eq!(sarif["version"], "2.1.0");
        assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
        let run = &sarif["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "mcp-authlab");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 3);
        for rule in rules {
            assert!(
                rule["id"].is_string()
                    && rule["shortDescription"]["text"].is_string()
                    && rule["help"]["text"].as_str().unwrap().contains("O21 §4.1.1")
            );
        }
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "only the failed scenario, and the not-applicable one is no finding");
        let result = &results[0];
        assert_eq!(result["ruleId"], "attacks/token/fails");
        assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], result["ruleId"]);
        assert_eq!(result["level"], "error");
        assert!(result["message"]["text"].as_str().unwrap().contains("expected 400"));
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "scenarios/attacks/token/fails.toml"
        );
    }

    #[test]
    fn html_is_self_contained_with_summary_table_and_diagrams() {
        let page = html(&outcomes(), "Report <title>");
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("id=\"summary\"") && page.contains("id=\"scenarios\""));
        assert!(
            page.contains("<b>1</b>passed")
                && page.contains("<b>1</b>failed")
                && page.contains("<b>1</b>not applicable")
        );
        for id in ["s-attacks-token-passes", "s-attacks-token-fails", "s-flows-skipped"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert_eq!(page.matches("<svg").count(), 2, "a diagram per scenario that ran");
        assert!(page.contains("not applicable: the target has no such tool"));
        assert!(page.contains("Report &lt;title&gt;") && !page.contains("<title>Report <title>"));
        assert!(
            !page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"),
            "nothing loads from the network"
        );
    }

    #[test]
    fn json_counts_and_statuses() {
        let value = json(&outcomes());
        assert_eq!(
            (value["passed"].as_u64(), value["failed"].as_u64(), value["not_applicable"].as_u64()),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(value["scenarios"][2]["status"], "not-applicable");
    }
}
