//! The HTML report (`--html`): self-contained (no script, no network), findings first, each
//! with its grade, the sentence it breaks, the remedy, the sequence diagram and the exchange
//! that failed; passes next; what did not apply collapsed, grouped by reason.

use super::{Outcome, Standing, broken_steps, not_applicable_groups, ordered, tally};
use crate::outcome::{ExchangeRecord, Party, Report};

/// A self-contained HTML page (`--html`): no script, no network, secrets already redacted.
pub fn html(outcomes: &[Outcome], title: &str) -> String {
    let counts = tally(outcomes);
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        html_escape(title)
    );
    page.push_str(&format!(
        "<header><h1>{}</h1><p>MCP Auth Lab scenario report · {} scenarios · findings first; arrows are requests, drawn thick for the attack steps; red answers are refusals</p></header><main>",
        html_escape(title),
        outcomes.len()
    ));
    page.push_str("<div class=\"cards\" id=\"summary\">");
    for (class, count, label) in [
        ("bad", counts.vulnerable, "vulnerable"),
        ("bad", counts.nonconforming, "nonconforming"),
        ("warn", counts.advisory, "advisory"),
        ("na", counts.could_not_conclude, "could not conclude"),
        ("ok", counts.passed, "passed"),
        ("na", counts.not_applicable, "not applicable"),
    ] {
        page.push_str(&format!("<div class=\"card {class}\"><b>{count}</b>{label}</div>"));
    }
    page.push_str("</div>");
    let ordered = ordered(outcomes);
    let open: Vec<&Outcome> = ordered
        .iter()
        .copied()
        .filter(|outcome| matches!(outcome.standing(), Standing::Finding(_) | Standing::Unconcluded))
        .collect();
    if !open.is_empty() {
        page.push_str("<h2 id=\"findings\">Findings</h2>");
        for outcome in open {
            page.push_str(&section(outcome));
        }
    }
    let passed: Vec<&Outcome> =
        ordered.iter().copied().filter(|outcome| outcome.standing() == Standing::Passed).collect();
    if !passed.is_empty() {
        page.push_str(&format!("<details id=\"passed\"><summary>{} passed</summary>", passed.len()));
        page.push_str("<table id=\"scenarios\"><thead><tr><th>scenario</th><th>result</th><th>references</th></tr></thead><tbody>");
        for outcome in &passed {
            page.push_str(&format!(
                "<tr><td><a href=\"#{anchor}\">{id}</a><br><span class=\"refs\">{summary}</span></td><td><span class=\"badge passed\">{observed}</span></td><td class=\"refs\">{refs}</td></tr>",
                anchor = anchor(&outcome.name()),
                id = html_escape(&outcome.name()),
                summary = html_escape(&outcome.entry.scenario.summary),
                observed = html_escape(&outcome.observed()),
                refs = html_escape(&outcome.entry.scenario.refs.join(", "))
            ));
        }
        page.push_str("</tbody></table>");
        for outcome in passed {
            page.push_str(&section(outcome));
        }
        page.push_str("</details>");
    }
    let groups = not_applicable_groups(outcomes);
    if !groups.is_empty() {
        page.push_str("<h2 id=\"not-applicable\">Not applicable</h2>");
        for (reason, members) in groups {
            page.push_str(&format!("<details><summary>{} · {}</summary><ul>", members.len(), html_escape(&reason)));
            for outcome in members {
                page.push_str(&format!(
                    "<li id=\"{}\">{} <span class=\"refs\">{}</span></li>",
                    anchor(&outcome.name()),
                    html_escape(&outcome.name()),
                    html_escape(&outcome.entry.scenario.summary)
                ));
            }
            page.push_str("</ul></details>");
        }
    }
    page.push_str("</main></body></html>\n");
    page
}

/// One scenario's section: its grade, what it checks, the sentence and the remedy, what was
/// seen, the sequence diagram, and each exchange that broke something.
fn section(outcome: &Outcome) -> String {
    let standing = outcome.standing().name();
    let scenario = &outcome.entry.scenario;
    let mut out = format!(
        "<section class=\"scenario {standing}\" id=\"{}\"><h3><span class=\"badge {standing}\">{}</span> {}</h3><p>{}</p><p class=\"refs\">{}</p>",
        anchor(&outcome.name()),
        standing.replace('-', " "),
        html_escape(&outcome.name()),
        html_escape(&scenario.summary),
        html_escape(&scenario.refs.join(", "))
    );
    let finding = matches!(outcome.standing(), Standing::Finding(_));
    if finding && let Some(quote) = outcome.quote() {
        out.push_str(&format!("<blockquote>{}</blockquote>", html_escape(quote)));
    }
    if finding && let Some(remedy) = &scenario.remedy {
        out.push_str(&format!("<p class=\"remedy\"><b>Remedy:</b> {}</p>", html_escape(remedy)));
    }
    out.push_str(&format!("<pre>{}</pre>", html_escape(&outcome.explanation())));
    if let Ok(report) = &outcome.result {
        out.push_str(&format!("<div class=\"diagram\">{}</div>", sequence_svg(report)));
        for (index, label) in failing_steps(report) {
            if let Some(exchange) = report.exchanges.iter().rev().find(|exchange| exchange.step == index) {
                out.push_str(&exchange_detail(label, exchange));
            }
        }
    }
    out.push_str("</section>");
    out
}

/// The 1-based indexes and labels of the steps that broke something.
fn failing_steps(report: &Report) -> Vec<(usize, &str)> {
    let broken = broken_steps(report);
    report
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| broken.iter().any(|(label, _, _)| *label == step.label))
        .map(|(index, step)| (index + 1, step.label.as_str()))
        .collect()
}

/// The exchange a finding is about, as sent and answered (redacted).
fn exchange_detail(label: &str, exchange: &ExchangeRecord) -> String {
    let detail = &exchange.detail;
    let mut text = format!("{} {}\n", exchange.method, exchange.path);
    for (name, value) in &detail.request_headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    if !detail.request_body.is_empty() {
        text.push_str(&format!("\n{}\n", detail.request_body));
    }
    let status = exchange.status.map_or_else(|| "no answer".to_owned(), |status| status.to_string());
    text.push_str(&format!("\n→ {status}\n"));
    for (name, value) in &detail.response_headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    if !detail.response_body.is_empty() {
        text.push_str(&format!("\n{}\n", detail.response_body));
    }
    format!(
        "<p class=\"exchange\">The exchange of step `{}`:</p><pre class=\"exchange\">{}</pre>",
        html_escape(label),
        html_escape(&text)
    )
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
.badge.passed { background: #ecfdf3; color: var(--ok); } .badge.not-applicable { background: #f2f4f7; color: var(--na); }
.badge.vulnerable { background: #b42318; color: #fff; } .badge.nonconforming { background: #fef3f2; color: var(--bad); }
.badge.advisory { background: #fffaeb; color: #b54708; } .badge.could-not-conclude { background: #f2f4f7; color: #344054; }
.card.warn b { color: #b54708; }
blockquote { margin: 8px 0; padding: 6px 12px; border-left: 4px solid var(--accent); background: #eef4ff; font-size: 14px; }
.remedy { font-size: 14px; } .remedy b { color: #067647; }
details { background: #fff; border: 1px solid var(--line); border-radius: 12px; margin: 8px 0; padding: 8px 16px; }
summary { cursor: pointer; font-weight: 600; }
.exchange { font-size: 13px; }
.refs { color: #475467; font-size: 13px; }
section.scenario { background: #fff; border: 1px solid var(--line); border-radius: 12px; margin: 20px 0; padding: 16px 20px; }
section.scenario h3 { margin: 0 0 4px; font-size: 16px; }
section.scenario.vulnerable, section.scenario.nonconforming { border-left: 5px solid var(--bad); } section.scenario.advisory { border-left: 5px solid #b54708; } section.scenario.could-not-conclude { border-left: 5px solid var(--na); }
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

fn anchor(id: &str) -> String {
    format!("s-{}", id.replace(['/', '.'], "-"))
}
