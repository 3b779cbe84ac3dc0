//! The report formats against a small run: a pass, a finding, one not applicable.

use super::*;
use crate::outcome::{ExchangeRecord, Party, StepReport};
use crate::schema::Verdict;

fn entry(id: &str, verdict: &str) -> Entry {
    let text = format!(
        "summary = \"a <scenario> & more\"\nrefs = [\"O21 §4.1.1\"]\nquote = \"O21 §4.1.1: \\\"the <sentence>\\\"\"\nremedy = \"Refuse it.\"\nverdict = \"{verdict}\"\n[[step]]\ndo = \"register\"\nexpect = {{ status = 201 }}\nexploit = {{ status = 200 }}\n"
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
    let advisories = if observed == Observed::Verdict(Verdict::Advisory) {
        vec!["error: expected no error code, got invalid_token".to_owned()]
    } else {
        Vec::new()
    };
    Report {
        id: id.to_owned(),
        expected,
        observed,
        steps: vec![StepReport {
            label: "register".into(),
            attack: true,
            failures,
            advisories,
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
            detail: crate::outcome::Detail {
                request_headers: vec![("content-type".into(), "application/json".into())],
                request_body: "{}".into(),
                response_headers: vec![("www-authenticate".into(), "Bearer error=\"invalid_token\"".into())],
                response_body: "{\"error\":\"invalid_client_metadata\"}".into(),
            },
        }],
        used_secrets: crate::outcome::UsedSecrets::default(),
    }
}

fn outcome(id: &str, observed: Verdict, failures: &[&str]) -> Outcome {
    Outcome {
        entry: entry(id, "defended"),
        result: Ok(report(
            id,
            Verdict::Defended,
            Observed::Verdict(observed),
            failures.iter().map(|failure| (*failure).to_owned()).collect(),
        )),
        not_applicable: None,
        transcript: (observed != Verdict::Defended).then(|| format!("out/{}.log", id.replace('/', "__")).into()),
        revision: None,
    }
}

fn not_applicable(id: &str, reason: &str) -> Outcome {
    Outcome {
        entry: entry(id, "defended"),
        result: Err("not run".into()),
        not_applicable: Some(reason.into()),
        transcript: None,
        revision: None,
    }
}

/// A run in catalogue order: a pass, an advisory, what did not apply, a vulnerable and a
/// nonconforming finding.
fn outcomes() -> Vec<Outcome> {
    vec![
        outcome("attacks/token/passes", Verdict::Defended, &[]),
        outcome("attacks/rs-validation/no-token", Verdict::Advisory, &[]),
        not_applicable("flows/skipped", "the target has no such tool"),
        outcome("attacks/token/fails", Verdict::Vulnerable, &["status: expected 400, got 200 <&>"]),
        outcome("attacks/transport/origin", Verdict::Nonconforming, &["status: expected 403, got 401"]),
        not_applicable("flows/other", "the target has no such tool"),
    ]
}

#[test]
fn findings_come_first_by_grade_then_passes_then_what_did_not_apply() {
    let outcomes = outcomes();
    let ids: Vec<&str> = ordered(&outcomes).into_iter().map(|outcome| outcome.entry.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "attacks/token/fails",
            "attacks/transport/origin",
            "attacks/rs-validation/no-token",
            "attacks/token/passes",
            "flows/skipped",
            "flows/other"
        ]
    );
    let tally = tally(&outcomes);
    assert_eq!(
        (tally.vulnerable, tally.nonconforming, tally.advisory, tally.passed, tally.not_applicable),
        (1, 1, 1, 1, 2)
    );
    let groups = not_applicable_groups(&outcomes);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].1.len(), 2);
}

#[test]
fn fail_on_sets_which_grades_fail_a_run() {
    let outcomes = outcomes();
    let failing = |threshold| outcomes.iter().filter(|outcome| outcome.fails(threshold)).count();
    assert_eq!(failing(Verdict::Vulnerable), 1);
    assert_eq!(failing(Verdict::Nonconforming), 2);
    assert_eq!(failing(Verdict::Advisory), 3);
    // A run that could not conclude fails whatever the threshold: nothing was learnt.
    let broken = Outcome {
        entry: entry("attacks/token/broken", "defended"),
        result: Ok(report("attacks/token/broken", Verdict::Defended, Observed::Broken("x".into()), vec![])),
        not_applicable: None,
        transcript: None,
        revision: None,
    };
    assert!(broken.fails(Verdict::Vulnerable));
    assert_eq!(broken.standing(), Standing::Unconcluded);
}

#[test]
fn junit_fails_vulnerable_and_nonconforming_and_passes_an_advisory_with_its_grade() {
    let text = junit(&outcomes());
    let document = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(
        (root.attribute("tests"), root.attribute("failures"), root.attribute("skipped")),
        (Some("6"), Some("2"), Some("2"))
    );
    let case = |id: &str| {
        document.descendants().find(|node| node.has_tag_name("testcase") && node.attribute("name") == Some(id)).unwrap()
    };
    let failure = case("attacks/token/fails").children().find(|node| node.has_tag_name("failure")).expect("a failure");
    assert_eq!(failure.attribute("type"), Some("vulnerable"));
    assert!(failure.text().unwrap().contains("expected 400, got 200 <&>"));
    let advisory = case("attacks/rs-validation/no-token");
    assert!(!advisory.children().any(|node| node.has_tag_name("failure")), "an advisory is no failure");
    assert!(advisory.children().any(|node| node.has_tag_name("system-out")));
    let grade = advisory.descendants().find(|node| node.attribute("name") == Some("grade")).unwrap();
    assert_eq!(grade.attribute("value"), Some("advisory"));
    assert!(case("flows/skipped").children().any(|node| node.has_tag_name("skipped")));
}

#[test]
fn sarif_levels_follow_the_grade() {
    let sarif = sarif(&outcomes());
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "mcp-authlab");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 6);
    assert!(
        rules[0]["help"]["text"].as_str().unwrap().contains("O21 §4.1.1")
            && rules[0]["help"]["text"].as_str().unwrap().contains("Remedy: Refuse it.")
    );
    let results = run["results"].as_array().unwrap();
    let levels: Vec<(&str, &str)> =
        results.iter().map(|result| (result["ruleId"].as_str().unwrap(), result["level"].as_str().unwrap())).collect();
    assert_eq!(
        levels,
        [
            ("attacks/token/fails", "error"),
            ("attacks/transport/origin", "warning"),
            ("attacks/rs-validation/no-token", "note")
        ]
    );
    for result in results {
        assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], result["ruleId"]);
    }
    assert!(results[2]["message"]["text"].as_str().unwrap().contains("(SHOULD)"));
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "scenarios/attacks/token/fails.toml"
    );
}

#[test]
fn html_leads_with_findings_and_shows_the_sentence_the_remedy_and_the_exchange() {
    let page = html(&outcomes(), "Report <title>");
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("id=\"summary\"") && page.contains("id=\"findings\""));
    for (count, label) in
        [(1, "vulnerable"), (1, "nonconforming"), (1, "advisory"), (1, "passed"), (2, "not applicable")]
    {
        assert!(page.contains(&format!("<b>{count}</b>{label}")), "{label}");
    }
    let position = |text: &str| page.find(text).unwrap_or_else(|| panic!("{text}"));
    assert!(position("id=\"s-attacks-token-fails\"") < position("id=\"s-attacks-transport-origin\""));
    assert!(position("id=\"s-attacks-transport-origin\"") < position("id=\"s-attacks-rs-validation-no-token\""));
    assert!(position("id=\"s-attacks-rs-validation-no-token\"") < position("id=\"s-attacks-token-passes\""));
    assert!(page.contains("<blockquote>O21 §4.1.1: &quot;the &lt;sentence&gt;&quot;</blockquote>"));
    assert!(page.contains("<b>Remedy:</b> Refuse it."));
    assert!(page.contains("www-authenticate: Bearer error=&quot;invalid_token&quot;"), "the failing exchange's answer");
    assert!(page.contains("2 · the target has no such tool"), "not applicable, grouped by reason");
    assert!(page.contains("Report &lt;title&gt;") && !page.contains("<title>Report <title>"));
    assert!(
        !page.contains("<script") && !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing loads from the network"
    );
}

#[test]
fn json_carries_grades_in_report_order() {
    let value = json(&outcomes());
    assert_eq!(
        (value["passed"].as_u64(), value["failed"].as_u64(), value["not_applicable"].as_u64()),
        (Some(1), Some(3), Some(2))
    );
    assert_eq!(value["grades"]["vulnerable"], 1);
    assert_eq!(value["scenarios"][0]["grade"], "vulnerable");
    assert_eq!(value["scenarios"][0]["remedy"], "Refuse it.");
    assert_eq!(value["scenarios"][2]["steps"][0]["advisories"][0], "error: expected no error code, got invalid_token");
    assert_eq!(value["scenarios"][5]["status"], "not-applicable");
}

#[test]
fn a_run_at_each_revision_is_named_apart_in_every_format() {
    let at = |revision| Outcome { revision: Some(revision), ..outcome("attacks/x/y", Verdict::Nonconforming, &["f"]) };
    let outcomes = [at("2025-11-25"), at("2026-07-28")];
    let json = json(&outcomes);
    let names: Vec<&str> = json["scenarios"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["attacks/x/y@2025-11-25", "attacks/x/y@2026-07-28"]);
    assert_eq!(json["scenarios"][1]["revision"], "2026-07-28");
    assert_eq!(json["scenarios"][1]["id"], "attacks/x/y", "the id stays the file's");
    assert!(junit(&outcomes).contains("name=\"attacks/x/y@2026-07-28\""));
    let sarif = sarif(&outcomes);
    assert_eq!(sarif["runs"][0]["results"][1]["ruleId"], "attacks/x/y@2026-07-28");
    assert!(html(&outcomes, "t").contains("attacks/x/y@2026-07-28"));
}
