//! What a run reports: its conclusion, each step's failed expectations, the exchanges it made
//! and the credentials it used. Plain data and the sentences that explain it; no IO.

use crate::schema::Verdict;

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
    /// The SHOULD expectations (`should`) that did not hold: advisories, never a failed defence.
    pub advisories: Vec<String>,
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

/// Who takes part in an exchange, as a sequence diagram draws them (one lifeline each). A
/// third-party AS or MCP server is drawn in the AS's or the RS's lane, like the lab's own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum Party {
    /// The runner's raw requests.
    Attacker,
    /// The conforming client of a `client` step.
    Client,
    /// The authorization server (the lab's or the one under test).
    As,
    /// The MCP server (the lab's or the one under test).
    Rs,
    /// The lab's twin resource server.
    TwinRs,
    /// The lab's upstream API.
    Upstream,
    /// The lab's client ID metadata document host.
    CimdHost,
    /// The SSRF canary.
    Canary,
    /// Any other host, by its authority.
    Host(String),
}

impl Party {
    /// The lifeline's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Attacker => "attacker",
            Self::Client => "client",
            Self::As => "AS",
            Self::Rs => "RS",
            Self::TwinRs => "twin RS",
            Self::Upstream => "upstream",
            Self::CimdHost => "CIMD host",
            Self::Canary => "canary",
            Self::Host(authority) => authority,
        }
    }
}

impl From<Party> for String {
    fn from(party: Party) -> Self {
        party.name().to_owned()
    }
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One request and its answer, as a report draws it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExchangeRecord {
    /// The 1-based step it belongs to.
    pub step: usize,
    /// Who sent it: the attacker (the runner's raw requests) or the conforming client.
    pub from: Party,
    /// Which server it went to.
    pub to: Party,
    pub method: String,
    /// The path and query, secrets redacted.
    pub path: String,
    pub status: Option<u16>,
    /// What a finding shows of the exchange, redacted: the request's headers and body, the
    /// answer's headers and the start of its body.
    #[serde(skip_serializing_if = "Detail::is_empty")]
    pub detail: Detail,
}

/// The redacted contents of an exchange, for the report of a finding.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Detail {
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
}

impl Detail {
    /// Whether nothing was recorded (the conforming client's exchanges, a request with no answer).
    pub fn is_empty(&self) -> bool {
        self.request_headers.is_empty()
            && self.request_body.is_empty()
            && self.response_headers.is_empty()
            && self.response_body.is_empty()
    }
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
            Observed::Verdict(Verdict::Defended) => format!(
                "expected `{}`, but the target defended itself: a stale expectation (the weakness is gone)",
                self.expected.name()
            ),
            Observed::Verdict(verdict) => {
                let what = match verdict {
                    Verdict::Vulnerable => "the attack succeeded: its exploit was confirmed",
                    Verdict::Nonconforming => {
                        "the target did not answer the attack as the specification requires (a MUST), though no exploit was confirmed"
                    }
                    _ => "the target defended itself, but missed what a SHOULD of the specification asks",
                };
                if self.expected == Verdict::Defended {
                    format!("{}: {what}", verdict.name())
                } else {
                    format!("expected `{}`, concluded `{}`: {what}", self.expected.name(), verdict.name())
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
            for advisory in &step.advisories {
                text.push_str(&format!("\n  step `{}` (SHOULD): {advisory}", step.label));
            }
        }
        text
    }
}
