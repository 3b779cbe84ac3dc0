//! Running a scenario: a fresh lab on loopback port 0, the steps in order over real TLS, and the
//! report. The pieces it drives are named apart: `setup` (lab, client, variables), `actions`
//! (one module per family of steps), `wire` (sending and transcripts), `capture`, `judge` (the
//! pure verdict) and `applicability` (which scenario applies where, decided before a run).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lab_harness::RunningLab;

use crate::error::{RunError, StepError};
use crate::expect::{Observation, check};
use crate::judge::{Ending, Projection};
use crate::outcome::{ExchangeRecord, Report, StepReport, UsedSecrets};
use crate::schema::{Scenario, Step};
use crate::target::Target;
use crate::vars::Vars;

/// How the run waits out a third party's `Retry-After`: tokio's timer, or, in the engine's own
/// tests, no wait at all.
pub(crate) type Sleep = fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;

fn real_sleep(duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(tokio::time::sleep(duration))
}

/// A run in progress.
pub(crate) struct Run {
    /// Where the run goes: the lab, or third-party servers.
    pub(crate) target: Target,
    /// Cookies a third-party AS set during a headless sign-in, as (origin, name, value).
    pub(crate) cookies: Vec<(String, String, String)>,
    /// Whether this step's answer is the redirect after a submitted sign-in form.
    pub(crate) signed_in: bool,
    pub(crate) exchanges: Vec<ExchangeRecord>,
    pub(crate) step_index: usize,
    pub(crate) lab: RunningLab,
    pub(crate) http: reqwest::Client,
    pub(crate) vars: Vars,
    /// MCP sessions opened, by (URL, token).
    pub(crate) sessions: HashMap<(String, String), String>,
    pub(crate) transcript: Vec<String>,
    pub(crate) next_id: i64,
    /// Whether a wait happened in this run.
    pub(crate) paced: bool,
    /// Whether the scenario looks at the AS's pages (`[lab] interactive`): its authorization
    /// requests at a third-party AS run with `--login` stop at the first page rather than sign in.
    pub(crate) pages: bool,
    /// Whether a third-party MCP server answered `initialize` without a session id: it keeps no
    /// sessions, so a scenario about sessions has nothing to test there.
    pub(crate) sessionless: bool,
    pub(crate) sleep: Sleep,
}

/// Starts a lab for `scenario` and runs it.
pub async fn run(id: &str, scenario: &Scenario) -> Result<Report, RunError> {
    run_against(id, scenario, &Target::default()).await
}

/// Starts a lab for `scenario` and runs it against `target`.
pub async fn run_against(id: &str, scenario: &Scenario, target: &Target) -> Result<Report, RunError> {
    run_with(id, scenario, target, real_sleep).await
}

/// The flow that learns which MCP revisions a third-party MCP server speaks: a token as the flows
/// get one, then an `initialize` at 2025-11-25 (a 400 there makes the runner ask whether it
/// speaks 2026-07-28 instead) and a request at 2026-07-28, before which the runner asks
/// `server/discover`. Only what it learns is kept.
const REVISION_PROBE: &str = r#"
summary = "Learns which MCP revisions the server speaks"
verdict = "defended"
quote = "MCP 2026-07-28 basic/versioning"
remedy = "None: this run only learns."
[[step]]
do = "register"
[[step]]
do = "authorize"
[[step]]
do = "token"
[[step]]
do = "mcp"
method = "initialize"
session = false
expect = { status_between = [100, 599] }
[[step]]
do = "mcp"
revision = "2026-07-28"
method = "server/discover"
expect = { status = 200 }
"#;

/// Learns, once for the battery `target` belongs to and before it runs, which revisions its
/// third-party MCP server speaks (`target.revisions`): a scenario written for 2025-11-25 that
/// met a 2026-07-28-only server unwarned would judge its refusals of the old revision. A flow
/// that cannot get a token leaves it unknown: the runs then ask again themselves. The probe's run
/// comes back for `scan_logs` alone (the credentials it sent count too); it is no finding.
pub async fn learn_revisions(target: &Target) -> Option<crate::report::Outcome> {
    if target.rs_url.is_none() || target.revisions.modern().is_some() {
        return None;
    }
    let path = std::path::Path::new("<revision probe>");
    let scenario = crate::load::parse(path, REVISION_PROBE).ok()?;
    let report = run_against("revision-probe", &scenario, target).await;
    let entry = crate::catalogue::Entry {
        id: "revision-probe".to_owned(),
        area: String::new(),
        path: path.to_owned(),
        scenario,
    };
    Some(crate::report::Outcome {
        entry,
        result: report.map_err(|error| error.to_string()),
        not_applicable: Some("it only learns which revisions the server speaks".to_owned()),
        transcript: None,
        revision: None,
    })
}

/// [`run_against`] with the way the run waits.
pub(crate) async fn run_with(id: &str, scenario: &Scenario, target: &Target, sleep: Sleep) -> Result<Report, RunError> {
    let (report, paced) = run_once(id, scenario, target, sleep).await?;
    if paced && !report.passed() {
        // A wait for the target's rate limit in the middle of a flow can outlast a code or a
        // token; the window is fresh now, so the scenario runs once more from the start.
        return run_once(id, scenario, target, sleep).await.map(|(report, _)| report);
    }
    Ok(report)
}

/// One run of `scenario` on a fresh lab, and whether it waited for the target's rate limits.
async fn run_once(id: &str, scenario: &Scenario, target: &Target, sleep: Sleep) -> Result<(Report, bool), RunError> {
    let lab = crate::setup::start_lab(id, scenario, target).await?;
    let http = match crate::setup::http_client(id, &lab, target) {
        Ok(http) => http,
        Err(error) => {
            lab.shutdown().await;
            return Err(error);
        }
    };
    let vars = crate::setup::initial_vars(scenario, &lab, target);
    let mut run = Run {
        target: target.clone(),
        cookies: Vec::new(),
        signed_in: false,
        paced: false,
        sessionless: false,
        pages: scenario.lab.interactive,
        exchanges: Vec::new(),
        step_index: 0,
        lab,
        http,
        vars,
        sessions: HashMap::new(),
        transcript: Vec::new(),
        next_id: 1,
        sleep,
    };
    let report = run.steps(id, scenario).await;
    run.lab.shutdown().await;
    Ok((report, run.paced))
}

/// Why a scenario about sessions does not apply to a server that keeps none.
const SESSIONLESS: &str = "the server keeps no sessions (TR-1125 makes them optional)";

/// What running one step came to.
enum StepRun {
    /// It ran; judge it.
    Seen(Observation),
    /// The target showed it has nothing this step tests.
    Inapplicable(String),
}

impl Run {
    async fn steps(&mut self, id: &str, scenario: &Scenario) -> Report {
        let mut reports = Vec::new();
        let mut ending = Ending::default();
        for (index, step) in scenario.steps.iter().enumerate() {
            let attack = scenario.is_attack(index);
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
                    advisories: Vec::new(),
                    status: None,
                });
                continue;
            }
            if let Some(reason) = crate::applicability::skipped(step, &self.target) {
                // A step that only asks a SHOULD of what this target lacks (an introspection as a
                // client it does not know) is left out, rather than the whole scenario.
                self.transcript.push(format!("(not run: {reason})"));
                continue;
            }
            if let Some(reason) = self.sessions_missing(step) {
                ending.inapplicable = Some(reason);
                break;
            }
            let observation = match self.run_step(step).await {
                Ok(StepRun::Seen(observation)) => observation,
                Ok(StepRun::Inapplicable(reason)) => {
                    ending.inapplicable = Some(reason);
                    break;
                }
                Err(error) => {
                    ending.broken = Some(format!("step {} `{}` failed to {error}", index + 1, step.label()));
                    // A step that could not run is no defence that failed: never counted as an attack.
                    reports.push(StepReport {
                        label: step.label(),
                        attack: false,
                        failures: vec![format!("failed to {error}")],
                        exploit_failures: None,
                        advisories: Vec::new(),
                        status: None,
                    });
                    break;
                }
            };
            // Before anything is taken from the answer: an answer that shows the target lacks what
            // the scenario tests (no refresh token, a 405) ends it as not applicable. A condition
            // with nothing left to judge at this target never holds.
            let how = self.projection(step);
            if let Some(condition) = &step.not_applicable_if {
                let condition = crate::judge::project(condition, crate::judge::Projection { keep_cors: true, ..how });
                if !condition.is_empty() && check(&condition, &observation, &self.vars).is_empty() {
                    ending.inapplicable = Some(format!(
                        "the answer to step `{}` shows the target does not offer what the scenario tests",
                        step.label()
                    ));
                    break;
                }
            }
            if let Err(error) = self.capture(step, &observation) {
                // A setup step that answered as expected but lacks what a capture takes (a refresh
                // token, which an AS may not issue) shows the target does not offer what the
                // scenario tests: not applicable, not broken.
                if !attack
                    && self.target.is_external()
                    && check(&crate::judge::project(&step.expect, how), &observation, &self.vars).is_empty()
                {
                    ending.inapplicable = Some(format!(
                        "the answer to step `{}` has no {}: the target does not offer what the scenario tests",
                        step.label(),
                        match &error {
                            StepError::Capture { spec, .. } => format!("`{spec}`"),
                            other => other.to_string(),
                        }
                    ));
                    break;
                }
                if self.target.rs_url.is_some()
                    && step
                        .capture
                        .values()
                        .any(|capture| *capture == crate::schema::Capture::Header("mcp-session-id".to_owned()))
                    && observation.header("mcp-session-id").is_none()
                    && observation.status.is_some_and(|status| (200..300).contains(&status))
                {
                    ending.inapplicable = Some(SESSIONLESS.to_owned());
                    break;
                }
                ending.broken = Some(format!("step {} `{}` failed to {error}", index + 1, step.label()));
                break;
            }
            let judge =
                |expect: &crate::schema::Expect| check(&crate::judge::project(expect, how), &observation, &self.vars);
            // An attack step with nothing left to judge against this target (every expectation
            // was the lab shop's) would pass for nothing: the scenario does not apply.
            let projected_empty = |expect: &crate::schema::Expect| crate::judge::project(expect, how).is_empty();
            if attack && projected_empty(&step.expect) && step.should.as_ref().is_none_or(projected_empty) {
                ending.inapplicable = Some(format!(
                    "nothing step `{}` expects can be judged against this target (it is the lab's own shop or rules)",
                    step.label()
                ));
                break;
            }
            let mut failures = judge(&step.expect);
            // The lab's own decisions are held against the lab only, as strictly as a MUST.
            if !how.third_party
                && let Some(lab_only) = &step.lab_only
            {
                failures.extend(judge(lab_only).into_iter().map(|failure| format!("{failure} (the lab's own rule)")));
            }
            // An exploit with nothing left to judge against this target proves nothing: it does
            // not hold, so a failed defence there is nonconforming, never vulnerable.
            let exploit_failures = step.exploit.as_ref().map(|exploit| {
                if projected_empty(exploit) {
                    vec!["the exploit cannot be judged against this target".to_owned()]
                } else {
                    judge(exploit)
                }
            });
            let advisories = step.should.as_ref().map(judge).unwrap_or_default();
            let setup_failed = !attack && !failures.is_empty();
            reports.push(StepReport {
                label: step.label(),
                attack,
                failures,
                exploit_failures,
                advisories,
                status: observation.status,
            });
            if setup_failed {
                // A finding an earlier attack step established stands: a control that fails after
                // it (a code the attack already consumed) ends the run without erasing it.
                let established = reports.iter().any(|report| report.attack && !report.failures.is_empty());
                if !established {
                    ending.broken =
                        Some(format!("setup step {} `{}` did not answer as expected", index + 1, step.label()));
                }
                break;
            }
        }
        reports.extend(crate::judge::canary_report(self.lab.canary().hits()));
        let observed = crate::judge::conclude(&reports, ending);
        // Secrets the run learnt are scrubbed from everything it reports, as a last line of
        // defence behind the redaction of known fields.
        let secrets = self.vars.secrets();
        let mut exchanges = std::mem::take(&mut self.exchanges);
        let (observed, transcript) =
            crate::judge::scrub_report(&mut reports, observed, &self.transcript, &mut exchanges, &secrets);
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

    /// Runs `step` (`repeat` times), keeping the session ids of every run for `session_ids`.
    async fn run_step(&mut self, step: &Step) -> Result<StepRun, StepError> {
        self.signed_in = false;
        let mut session_ids = Vec::new();
        let mut last = Observation::default();
        for _ in 0..step.repeat.unwrap_or(1) {
            last = self.execute(step).await?;
            session_ids.push(last.header("mcp-session-id").map(str::to_owned));
        }
        let observation = Observation { session_ids, ..last };
        // TR-1125 §Session Management: a server MAY assign session ids; one that answered every
        // run without any has none to judge.
        if let Some(reason) = observation.inapplicable.clone() {
            return Ok(StepRun::Inapplicable(reason));
        }
        if step.expect.session_ids.is_some()
            && observation.status.is_some_and(|status| (200..300).contains(&status))
            && observation.session_ids.iter().all(Option::is_none)
        {
            return Ok(StepRun::Inapplicable(
                "the server assigns no session ids (TR-1125 makes them optional)".to_owned(),
            ));
        }
        Ok(StepRun::Seen(observation))
    }

    /// Why `step` cannot run against a third-party MCP server that keeps no sessions: it names the
    /// session an earlier step would have opened.
    fn sessions_missing(&self, step: &Step) -> Option<String> {
        (self.sessionless && self.vars.get("session").is_none() && step.uses_variable("session"))
            .then(|| SESSIONLESS.to_owned())
    }

    /// How this step's expectations apply to the target it reached.
    fn projection(&self, step: &Step) -> Projection {
        let iss_optional = self
            .target
            .as_metadata
            .as_ref()
            .is_some_and(|metadata| metadata.authorization_response_iss_parameter_supported != Some(true));
        // The battery's pass at 2026-07-28 sends a third-party server a list request for each
        // tool call or `initialize` that names no revision (`actions/mcp`).
        let listed = self.target.modern
            && self.target.rs_url.is_some()
            && matches!(&step.action, crate::schema::StepAction::Mcp(mcp) if mcp.stands_for_any_request());
        Projection {
            iss_optional,
            listed,
            after_form: self.signed_in,
            ..Projection::of(step, self.target.is_external(), self.target.rs_url.is_some())
        }
    }

    fn capture(&mut self, step: &Step, seen: &Observation) -> Result<(), StepError> {
        for (name, capture) in &step.capture {
            let value = crate::capture::value(capture, seen, &self.vars)
                .ok_or_else(|| StepError::Capture { name: name.clone(), spec: capture.to_string() })?;
            self.vars.set(name.clone(), value);
        }
        Ok(())
    }

    pub(crate) fn var_or_empty(&self, name: &str) -> String {
        self.vars.get(name).unwrap_or_default().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::outcome::Observed;
    use crate::schema::Verdict;
    use crate::wire::MAX_PACING_SECONDS;

    fn scenario(text: &str) -> Scenario {
        crate::parse(std::path::Path::new("x.toml"), text).unwrap()
    }

    /// The engine's tests do not wait out a `Retry-After`: the transcript says how long a real
    /// run would have waited.
    #[test]
    fn the_revision_probe_is_a_valid_scenario() {
        let scenario = crate::load::parse(std::path::Path::new("<revision probe>"), REVISION_PROBE).unwrap();
        assert!(matches!(scenario.steps.last().map(|step| &step.action), Some(crate::schema::StepAction::Mcp(_))));
    }

    fn no_sleep(_: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(std::future::ready(()))
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
        let report = run_with("paced", &two_steps(&url), &system, no_sleep).await.unwrap();
        assert!(report.passed(), "{}", report.explanation());
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert!(report.transcript.iter().any(|line| line.contains("rate-limited by the target: waiting 1 s")));
        // A flow the wait disturbed (here a 500 after it) runs once more from the start.
        let (url, seen) = scripted_target(vec![(429, Some(1)), (500, None)]).await;
        let report = run_with("rerun", &two_steps(&url), &system, no_sleep).await.unwrap();
        assert!(report.passed(), "{}", report.explanation());
        assert_eq!(seen.load(Ordering::SeqCst), 4, "429, 500 after the wait, then the re-run's two requests");
        // A wait longer than the bound is not waited: the 429 is the answer, and the run fails.
        let (url, seen) = scripted_target(vec![(429, Some(MAX_PACING_SECONDS + 1))]).await;
        let report = run_with("too-long", &two_steps(&url), &system, no_sleep).await.unwrap();
        assert!(!report.passed());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        // The lab itself is never paced: its rate-limit scenarios must see the 429.
        let (url, seen) = scripted_target(vec![(429, Some(1))]).await;
        let report = run_with("lab", &two_steps(&url), &Target::default(), no_sleep).await.unwrap();
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
        assert_eq!(report.observed, Observed::Verdict(Verdict::Nonconforming), "{}", report.explanation());
    }

    #[tokio::test]
    async fn a_precondition_the_target_lacks_is_not_applicable_and_a_finding_survives_a_later_control() {
        let system = Target { as_issuer: Some("https://127.0.0.1:1".into()), ..Target::default() };
        // The setup answered as expected but has no refresh token to take: not applicable.
        let (url, _) = scripted_target(Vec::new()).await;
        let text = format!(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\nname = \"tokens\"\ndo = \"http\"\nurl = \"{url}\"\ncapture = {{ rt = \"json:/refresh_token\" }}\nexpect = {{ status = 200 }}\n[[step]]\ndo = \"http\"\nurl = \"{url}\"\nattack = true\nexpect = {{ status = 200 }}\n"
        );
        let report = run_with("no-refresh", &scenario(&text), &system, no_sleep).await.unwrap();
        assert!(
            matches!(&report.observed, Observed::Inapplicable(reason) if reason.contains("step `tokens` has no `json:/refresh_token`")),
            "{}",
            report.explanation()
        );
        // Against the lab itself the same is a broken run: the lab must offer what it tests.
        let report = run_with("lab", &scenario(&text), &Target::default(), no_sleep).await.unwrap();
        assert!(matches!(report.observed, Observed::Broken(_)), "{}", report.explanation());
        // An attack that failed stands though a control after it fails too.
        let (url, _) = scripted_target(Vec::new()).await;
        let text = format!(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"http\"\nurl = \"{url}\"\nattack = true\nexpect = {{ status = 400 }}\n[[step]]\nname = \"control\"\ndo = \"http\"\nurl = \"{url}\"\nexpect = {{ status = 201 }}\n"
        );
        let report = run_with("finding", &scenario(&text), &system, no_sleep).await.unwrap();
        assert_eq!(report.observed, Observed::Verdict(Verdict::Nonconforming), "{}", report.explanation());
    }

    #[tokio::test]
    async fn a_step_that_cannot_run_breaks_the_run_and_names_the_step_and_field() {
        let text = "summary = \"s\"\nverdict = \"defended\"\n[[step]]\nname = \"reach it\"\ndo = \"http\"\nurl = \"${nowhere}/x\"\nexpect = { status = 200 }\n";
        let report = run_against("broken", &scenario(text), &Target::default()).await.unwrap();
        let Observed::Broken(reason) = &report.observed else { panic!("{:?}", report.observed) };
        assert!(reason.contains("step 1 `reach it` failed to use field `url`"), "{reason}");
        assert!(reason.contains("unknown variable `${nowhere}`"), "{reason}");
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

    #[tokio::test]
    async fn the_listeners_of_a_local_server_are_listed_and_a_remote_one_is_not_applicable() {
        let check = scenario(
            "summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"listeners\"\nexpect = { json = { \"/loopback_only\" = true } }\n",
        );
        // Bound to loopback for the length of the test; nothing ever connects to it. (That a
        // listener on every interface is found out is `actions::listeners`' unit test: tests bind
        // loopback only.)
        let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = local.local_addr().unwrap().port();
        let target = Target { rs_url: Some(format!("https://127.0.0.1:{port}/mcp")), ..Target::default() };
        let report = run_against("local", &check, &target).await.unwrap();
        assert_eq!(report.observed, Observed::Verdict(Verdict::Defended), "{}", report.explanation());
        assert!(report.transcript.iter().any(|line| line.contains(&format!("listening on port {port}: 127.0.0.1"))));
        // A server elsewhere cannot be inspected from here.
        let remote = Target { rs_url: Some("https://mcp.example.com/mcp".into()), ..Target::default() };
        let report = run_against("remote", &check, &remote).await.unwrap();
        assert!(matches!(&report.observed, Observed::Inapplicable(reason) if reason.contains("not on this machine")));
    }
}
