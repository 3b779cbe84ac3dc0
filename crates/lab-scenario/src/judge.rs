//! The verdict and what a report may show. Pure: step reports in, a conclusion out; the
//! expectations a third-party target is held to; and the scrubbing of every credential the run
//! held from what it reports.

use crate::outcome::{ExchangeRecord, Observed, StepReport};
use crate::schema::{Expect, Verdict};

/// How a run ended before the verdict: a step that could not run or a setup step that failed
/// (`broken`), or a target that showed it has nothing to test (`inapplicable`).
#[derive(Debug, Default)]
pub(crate) struct Ending {
    pub(crate) broken: Option<String>,
    pub(crate) inapplicable: Option<String>,
}

/// The conclusion of a run from its step reports. A finding an attack step established stands
/// whatever happened after it: `vulnerable` when an attack step's expectations failed and its
/// exploit held, `nonconforming` when one failed and no exploit was confirmed (a MUST broken).
/// Without one, a run that broke could not conclude, and one that found nothing to test did not
/// apply; otherwise `advisory` when a SHOULD (a step's `should`) did not hold, else `defended`.
pub(crate) fn conclude(reports: &[StepReport], ending: Ending) -> Observed {
    let failed = reports.iter().any(|step| step.attack && !step.failures.is_empty());
    if exploit_confirmed(reports) {
        Observed::Verdict(Verdict::Vulnerable)
    } else if failed {
        Observed::Verdict(Verdict::Nonconforming)
    } else if let Some(reason) = ending.broken {
        Observed::Broken(reason)
    } else if let Some(reason) = ending.inapplicable {
        Observed::Inapplicable(reason)
    } else if reports.iter().any(|step| !step.advisories.is_empty()) {
        Observed::Verdict(Verdict::Advisory)
    } else {
        Observed::Verdict(Verdict::Defended)
    }
}

/// The report of SSRF canary hits: a request the target made where it never should, which is the
/// attack succeeding (the canary counts only what reached it).
pub(crate) fn canary_report(hits: usize) -> Option<StepReport> {
    (hits > 0).then(|| StepReport {
        label: "the SSRF canary".to_owned(),
        attack: true,
        failures: vec![format!("the SSRF canary was reached {hits} times")],
        exploit_failures: Some(Vec::new()),
        advisories: Vec::new(),
        status: None,
    })
}

/// Whether an attack succeeded by its own exploit's measure, not just failed its defence.
pub(crate) fn exploit_confirmed(reports: &[StepReport]) -> bool {
    reports.iter().any(|step| {
        step.attack && !step.failures.is_empty() && step.exploit_failures.as_ref().is_some_and(Vec::is_empty)
    })
}

/// How a step's expectations are held against the target it reached.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Projection {
    /// The target is someone else's server: the lab's own decisions (`lab_only`) do not apply.
    pub(crate) third_party: bool,
    /// The step reached a third-party MCP server: only the HTTP layer is comparable.
    pub(crate) third_party_rs: bool,
    /// …and it was a JSON-RPC request, whose results are the lab shop's: its JSON is not
    /// comparable either (a plain HTTP request's, such as a metadata document's, is).
    pub(crate) json_rpc: bool,
    /// …and it was a call of one of the lab shop's tools, sent as `ping` or `initialize`: only a
    /// refusal (of a bad token, say) says anything of the target; what a working call returns is
    /// the shop's.
    pub(crate) tool_call: bool,
    /// The AS does not advertise RFC 9207 `iss`, so its absence is no fault here.
    pub(crate) iss_optional: bool,
    /// The answer followed a submitted sign-in form.
    pub(crate) after_form: bool,
    /// A `not_applicable_if` condition is projected: what the server says of its own CORS policy
    /// (an `Access-Control-Allow-Origin: *`) is what such a condition reads, so it is kept.
    pub(crate) keep_cors: bool,
    /// The battery's pass at MCP 2026-07-28 sent the step as a list request (its tool call or
    /// `initialize` has no such thing there): what an `initialize` result holds is not asked.
    pub(crate) listed: bool,
}

impl Projection {
    /// How `step`'s expectations apply when `external` (someone else's servers) and, with
    /// `rs_target`, an MCP server of theirs is under test: only the steps that reach that server
    /// are cut down to the HTTP level (tool results are the lab shop's); an AS step keeps every
    /// expectation. The runner and the variants harness both build it here; the runner then sets
    /// what only a run knows (`iss_optional`, `after_form`), so the harness holds expectations at
    /// least as strictly as a run does (and so finds a `not_applicable_if` condition holding no
    /// more often than a run does).
    pub(crate) fn of(step: &crate::schema::Step, external: bool, rs_target: bool) -> Self {
        use crate::schema::StepAction;
        Self {
            third_party: external,
            third_party_rs: rs_target && crate::applicability::reaches_rs(step, &["resource", "prm", "rs_origin"]),
            json_rpc: matches!(step.action, StepAction::Mcp(_) | StepAction::Client(_)),
            tool_call: matches!(&step.action, StepAction::Mcp(mcp) if mcp.method() == "tools/call"),
            iss_optional: false,
            after_form: false,
            keep_cors: false,
            listed: false,
        }
    }
}

/// `expect` as the target of the step is held to it.
pub(crate) fn project(expect: &Expect, how: Projection) -> Expect {
    if how.third_party_rs && how.tool_call && !about_a_refusal(expect) {
        return Expect::default();
    }
    let mut expect = if how.third_party_rs {
        http_level(expect, how.json_rpc && !how.listed, how.json_rpc, how.keep_cors)
    } else {
        expect.clone()
    };
    // RFC 9207 §2.4: `iss` in the authorization response is required only of an AS that
    // advertises it; whether it does is `discovery/iss-parameter`'s question.
    if how.iss_optional {
        remove_iss(&mut expect);
    }
    if how.after_form && expect.status == Some(302) {
        // After a form POST an AS redirects with 302 or 303 (RFC 9110 §15.4.4); both are an
        // authorization response. A 307 would re-post the password, so it still fails.
        expect.status = None;
        expect.status_in = Some(vec![302, 303]);
    }
    expect
}

/// Removes the `iss` an authorization response is expected to carry, in `expect` and in each of
/// its alternatives.
fn remove_iss(expect: &mut Expect) {
    expect.redirect.remove("iss");
    expect.any_of.iter_mut().for_each(remove_iss);
}

/// Whether `expect` is about a refusal: it asks for a client-error status, or names no status and
/// only the shape of a refusal (a `should` on the challenge a refusal carries). What a working tool
/// call returns is the lab shop's; how a server refuses is its own.
fn about_a_refusal(expect: &Expect) -> bool {
    let names_a_status = expect.status.is_some() || expect.status_in.is_some() || expect.status_between.is_some();
    let refusal_shape = !expect.challenge.is_empty()
        || expect.challenged.is_some()
        || !expect.challenge_present.is_empty()
        || !expect.challenge_absent.is_empty()
        || expect.error.is_some()
        || expect.error_in.is_some()
        || expect.header_contains.contains_key("www-authenticate");
    let alternatives_refuse = !expect.any_of.is_empty() && expect.any_of.iter().all(about_a_refusal);
    expects_refusal(expect) || (!names_a_status && refusal_shape) || alternatives_refuse
}

/// Whether `expect` asks for a refusal (a client-error status), rather than a working answer.
fn expects_refusal(expect: &Expect) -> bool {
    let refusal = |status: u16| (400..500).contains(&status);
    expect.status.is_some_and(refusal)
        || expect
            .status_in
            .as_ref()
            .is_some_and(|statuses| !statuses.is_empty() && statuses.iter().copied().all(refusal))
        || expect.status_between.is_some_and(|[low, high]| refusal(low) && refusal(high))
}

/// The HTTP-level part of an expectation: what any MCP server answers, without the lab shop's
/// tool results (the JSON of a JSON-RPC answer) and, unless `cors`, without the CORS choices of
/// the deployment.
///
/// With `initialized`, what MCP defines of an `initialize` result is kept (the request was one).
pub(crate) fn http_level(expect: &Expect, initialized: bool, json_rpc: bool, cors: bool) -> Expect {
    let json = !json_rpc;
    // CORS is a deployment choice: which browser origins a third-party server admits is its own,
    // never a fault; but a condition may ask what the server said of itself (`not_applicable_if`).
    let not_cors = |(name, _): &(&String, &String)| cors || !name.starts_with("access-control-");
    Expect {
        status: expect.status,
        status_in: expect.status_in.clone(),
        status_between: expect.status_between,
        redirected: expect.redirected,
        stays_at_as: expect.stays_at_as,
        error: expect.error.clone(),
        error_in: expect.error_in.clone(),
        headers: expect.headers.iter().filter(not_cors).map(|(name, value)| (name.clone(), value.clone())).collect(),
        header_contains: expect
            .header_contains
            .iter()
            .filter(not_cors)
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        header_absent: expect.header_absent.clone(),
        challenge: expect.challenge.clone(),
        challenged: expect.challenged,
        challenge_present: expect.challenge_present.clone(),
        challenge_absent: expect.challenge_absent.clone(),
        body_not_contains: expect.body_not_contains.clone(),
        session_ids: expect.session_ids.clone(),
        // How the conforming client ended is the client's own, whatever server it talked to.
        client: expect.client.clone(),
        any_of: expect.any_of.iter().map(|alternative| http_level(alternative, initialized, json_rpc, cors)).collect(),
        json: if json { expect.json.clone() } else { Default::default() },
        // What MCP itself defines in an `initialize` result is comparable on any server.
        json_present: expect
            .json_present
            .iter()
            .filter(|pointer| json || (initialized && mcp_defined(pointer)))
            .cloned()
            .collect(),
        json_absent: if json { expect.json_absent.clone() } else { Vec::new() },
        json_contains: if json { expect.json_contains.clone() } else { Default::default() },
        ..Default::default()
    }
}

/// A JSON pointer into what the MCP specification defines of an `initialize` result (its
/// `serverInfo` and `protocolVersion`), as opposed to the lab shop's tool results.
fn mcp_defined(pointer: &str) -> bool {
    ["/result/serverInfo", "/result/protocolVersion"]
        .iter()
        .any(|defined| pointer == *defined || pointer.strip_prefix(defined).is_some_and(|rest| rest.starts_with('/')))
}

/// Credentials at least this long are scrubbed wherever they stand as a whole token; a shorter
/// one (a password `x`) only where it is a whole field value (`=x&`, `"x"`), since replacing
/// every `x` would corrupt the report.
const MIN_FREE_SCRUB: usize = 8;

/// Replaces every credential of `secrets` in `text` by `[redacted]`, as whole tokens.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| scrub_one(&text, secret))
}

/// Characters a credential is made of (RFC 3986 unreserved, which covers base64url, JWTs and
/// random tokens): a match bordered by one of these is part of a longer word, not the credential.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn scrub_one(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, _) in text.match_indices(secret) {
        if start < last {
            continue;
        }
        let end = start + secret.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let whole = !before.is_some_and(is_token_char) && !after.is_some_and(is_token_char);
        let field = matches!(before, Some('=' | '"'))
            && after.is_none_or(|c| matches!(c, '&' | '"' | ';' | ',') || c.is_whitespace());
        if whole && (secret.len() >= MIN_FREE_SCRUB || field) {
            out.push_str(&text[last..start]);
            out.push_str("[redacted]");
            last = end;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Scrubs what a report shows: failure messages quote what was seen (which may be a token), the
/// broken reason, the transcript and the exchanges' paths.
pub(crate) fn scrub_report(
    reports: &mut [StepReport],
    observed: Observed,
    transcript: &[String],
    exchanges: &mut [ExchangeRecord],
    secrets: &[String],
) -> (Observed, Vec<String>) {
    for step in reports.iter_mut() {
        for failure in
            step.failures.iter_mut().chain(step.exploit_failures.iter_mut().flatten()).chain(step.advisories.iter_mut())
        {
            *failure = scrub(failure, secrets);
        }
    }
    for exchange in exchanges.iter_mut() {
        exchange.path = scrub(&exchange.path, secrets);
        let detail = &mut exchange.detail;
        for (_, value) in detail.request_headers.iter_mut().chain(detail.response_headers.iter_mut()) {
            *value = scrub(value, secrets);
        }
        detail.request_body = scrub(&detail.request_body, secrets);
        detail.response_body = scrub(&detail.response_body, secrets);
    }
    let observed = match observed {
        Observed::Broken(reason) => Observed::Broken(scrub(&reason, secrets)),
        other => other,
    };
    (observed, transcript.iter().map(|line| scrub(line, secrets)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(attack: bool, failures: &[&str], exploit: Option<&[&str]>) -> StepReport {
        StepReport {
            label: "s".into(),
            attack,
            failures: failures.iter().map(|text| (*text).to_owned()).collect(),
            exploit_failures: exploit.map(|failures| failures.iter().map(|text| (*text).to_owned()).collect()),
            advisories: Vec::new(),
            status: None,
        }
    }

    #[test]
    fn the_grade_follows_the_attack_steps_their_exploits_and_the_shoulds() {
        let conclude = |reports: &[StepReport]| conclude(reports, Ending::default());
        let defended = [step(false, &[], None), step(true, &[], Some(&["x"]))];
        assert_eq!(conclude(&defended), Observed::Verdict(Verdict::Defended));
        // A failed defence whose exploit held: the attack worked.
        let exploited = [step(true, &["status"], Some(&[]))];
        assert_eq!(conclude(&exploited), Observed::Verdict(Verdict::Vulnerable));
        assert!(exploit_confirmed(&exploited));
        // A failed defence with no exploit stated, or one that did not hold: a MUST broken, and
        // nothing shown to have been gained by it.
        let without_exploit = [step(true, &["status"], None)];
        assert_eq!(conclude(&without_exploit), Observed::Verdict(Verdict::Nonconforming));
        assert!(!exploit_confirmed(&without_exploit));
        let unproven = [step(true, &["status"], Some(&["json"]))];
        assert_eq!(conclude(&unproven), Observed::Verdict(Verdict::Nonconforming));
        // A step that held does not need its exploit to.
        let mixed = [step(true, &[], Some(&["json"])), step(true, &["status"], Some(&[]))];
        assert_eq!(conclude(&mixed), Observed::Verdict(Verdict::Vulnerable));
        // Every MUST held, a SHOULD did not: advisory, on an attack step or any other.
        let mut should = step(false, &[], None);
        should.advisories.push("scope: expected the challenge to name one".into());
        assert_eq!(conclude(&[should.clone(), step(true, &[], None)]), Observed::Verdict(Verdict::Advisory));
        assert_eq!(conclude(&[should, step(true, &["status"], None)]), Observed::Verdict(Verdict::Nonconforming));
    }

    #[test]
    fn a_canary_hit_is_a_confirmed_attack_and_a_finding_outlives_what_broke_after_it() {
        let mut reports = vec![step(true, &[], None)];
        reports.extend(canary_report(2));
        assert_eq!(conclude(&reports, Ending::default()), Observed::Verdict(Verdict::Vulnerable));
        assert!(canary_report(0).is_none());
        let defended = [step(true, &[], None)];
        let ending = || Ending { broken: Some("setup".into()), inapplicable: Some("none".into()) };
        assert_eq!(conclude(&defended, ending()), Observed::Broken("setup".into()));
        let ending_na = Ending { broken: None, inapplicable: Some("no sessions".into()) };
        assert_eq!(conclude(&defended, ending_na), Observed::Inapplicable("no sessions".into()));
        // An attack that failed before the run broke or turned out not to apply still counts.
        assert_eq!(conclude(&[step(true, &["status"], None)], ending()), Observed::Verdict(Verdict::Nonconforming));
        assert_eq!(conclude(&[step(true, &["status"], Some(&[]))], ending()), Observed::Verdict(Verdict::Vulnerable));
    }

    fn expect(text: &str) -> Expect {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_http_projection_keeps_only_comparable_expectations() {
        let full = expect(
            "status = 401\ntool_error = false\njson = { \"/a\" = 1 }\nheaders = { access-control-allow-origin = \"x\", cache-control = \"no-store\" }\nchallenge = { error = \"invalid_token\" }\n",
        );
        let projected = project(&full, Projection { third_party_rs: true, json_rpc: true, ..Projection::default() });
        assert_eq!(projected.status, Some(401));
        assert_eq!(projected.tool_error, None);
        assert!(projected.json.is_empty());
        assert_eq!(projected.headers.keys().collect::<Vec<_>>(), ["cache-control"]);
        assert_eq!(projected.challenge.get("error").map(String::as_str), Some("invalid_token"));
        // The lab's own RS keeps every expectation, and a plain document of the third party's its JSON.
        assert_eq!(project(&full, Projection::default()).json.len(), 1);
        let document = project(&full, Projection { third_party_rs: true, ..Projection::default() });
        assert_eq!((document.json.len(), document.tool_error), (1, None));
    }

    #[test]
    fn a_shop_tool_call_at_a_third_party_keeps_only_its_refusals() {
        let how = Projection { third_party_rs: true, json_rpc: true, tool_call: true, ..Projection::default() };
        // What a working call of the shop returns says nothing of someone else's server ...
        assert!(project(&expect("status = 200\nbody_not_contains = [\"A-1002\"]\n"), how).is_empty());
        assert!(project(&expect("body_not_contains = [\"4111\"]\n"), how).is_empty());
        // ... a refusal of a bad token does.
        let refused = project(&expect("status = 401\nchallenge = { error = \"invalid_token\" }\n"), how);
        assert_eq!((refused.status, refused.challenge.len()), (Some(401), 1));
        assert!(!project(&expect("status_in = [401, 429]\n"), how).is_empty());
    }

    #[test]
    fn iss_and_the_status_after_a_form_are_judged_as_the_rfcs_allow() {
        let redirect = expect("status = 302\nredirect = { iss = \"x\", state = \"y\" }\n");
        let projected =
            project(&redirect, Projection { iss_optional: true, after_form: true, ..Projection::default() });
        assert_eq!(projected.redirect.keys().collect::<Vec<_>>(), ["state"]);
        assert_eq!((projected.status, projected.status_in), (None, Some(vec![302, 303])));
        let kept = project(&redirect, Projection::default());
        assert_eq!((kept.status, kept.redirect.len()), (Some(302), 2));
    }

    #[test]
    fn a_short_secret_is_scrubbed_only_as_a_field_value_and_a_long_one_only_as_a_whole_token() {
        let short = vec!["x".to_owned()];
        assert_eq!(
            scrub("> POST /login\n>   user=alice&password=x", &short),
            "> POST /login\n>   user=alice&password=[redacted]"
        );
        assert_eq!(scrub(r#"{"pwd":"x"} max x-ray"#, &short), r#"{"pwd":"[redacted]"} max x-ray"#);
        let long = vec!["s3cr3t-token".to_owned()];
        assert_eq!(scrub("Bearer s3cr3t-token, s3cr3t-tokens", &long), "Bearer [redacted], s3cr3t-tokens");
        assert_eq!(scrub("t=s3cr3t-token&u=1 (s3cr3t-token)", &long), "t=[redacted]&u=1 ([redacted])");
    }

    #[test]
    fn scrubbing_reaches_failures_reasons_transcripts_and_paths() {
        let secrets = vec!["s3cr3t-token".to_owned()];
        let mut reports = [step(true, &["saw s3cr3t-token"], Some(&["no s3cr3t-token"]))];
        let mut exchanges = [ExchangeRecord {
            step: 1,
            from: crate::outcome::Party::Attacker,
            to: crate::outcome::Party::As,
            method: "GET".into(),
            path: "/x?t=s3cr3t-token".into(),
            status: None,
            detail: crate::outcome::Detail {
                request_headers: vec![("x-token".into(), "s3cr3t-token".into())],
                request_body: "t=s3cr3t-token".into(),
                response_headers: Vec::new(),
                response_body: "{\"echo\":\"s3cr3t-token\"}".into(),
            },
        }];
        let (observed, transcript) = scrub_report(
            &mut reports,
            Observed::Broken("s3cr3t-token".into()),
            &["> s3cr3t-token".to_owned()],
            &mut exchanges,
            &secrets,
        );
        let shown = format!("{reports:?} {observed:?} {transcript:?} {exchanges:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(transcript, ["> [redacted]"]);
    }
}
