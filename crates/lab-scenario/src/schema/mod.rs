//! The scenario file format: data, not code (design §4). `scenarios/README.md` documents every
//! field; `scenarios/schema.json` is generated from these types and kept fresh by a test.
//!
//! A step is typed once, when it is read: the fields every step has sit in [`Step`], and the
//! action (`do = "…"`) selects one struct of [`StepAction`] that holds exactly the fields that
//! action reads. Unknown keys are errors in every struct (`deny_unknown_fields`), so a typo, or a
//! field the action would ignore, never passes silently. Names the lab resolves (profiles,
//! algorithms, targets, capture sources, client outcomes) are parsed here too, so the runner
//! never parses a string twice.

use std::fmt;
use std::str::FromStr;

use lab_auth_server::{AsProfile, SigningAlg};
use lab_harness::VerifyMode;
use lab_mcp_server::RsProfile;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

mod expect;
mod step;

pub use expect::{ClientExpect, Expect, SessionIds};
pub use step::{
    Capture, ClientRun, Clock, Forge, ForgeKind, Http, Listeners, Mcp, OAuth, ProfileSwitch, Register, Step,
    StepAction, variables_in,
};

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line: what is attempted and what a defended target does.
    pub summary: String,
    /// Requirement keys of `requirements.md` (`O21 §4.1.1`, `RFC 9728 §3.3`, `MCP-1125`, `AS-07`).
    #[serde(default)]
    pub refs: Vec<String>,
    /// What the run must conclude against the lab: `defended`, or under a weak profile the grade
    /// the weakness earns (`vulnerable` when its `exploit` holds).
    pub verdict: Verdict,
    /// The sentence of the specification the attack's expectations stand on, quoted with its
    /// source (`O21 §4.1.2.1: "…"`); reports show it beside every finding.
    pub quote: Option<String>,
    /// The sentence its `should` expectations stand on, where it is another than `quote`'s:
    /// reports show it beside an advisory.
    pub should_quote: Option<String>,
    /// One line: what a target that fails this scenario should change.
    pub remedy: Option<String>,
    /// Set when the scenario tests a decision of the lab's own (a rule marked L in the
    /// requirements), which no specification demands of anyone else: the reason, shown when the
    /// scenario is not applicable to a third-party target.
    pub lab_rule: Option<String>,
    /// How the lab is set up before the first step.
    #[serde(default)]
    pub lab: LabSetup,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Whether step `index` is an attack step: marked `attack = true`, or, when no step is, the
    /// last one.
    pub fn is_attack(&self, index: usize) -> bool {
        let marked = self.steps.iter().any(|step| step.attack);
        match self.steps.get(index) {
            Some(step) if marked => step.attack,
            Some(_) => index + 1 == self.steps.len(),
            None => false,
        }
    }
}

/// A scenario's conclusion: its grade, from no finding to a confirmed attack. The order is the
/// grade's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every attack step's `expect` and every step's `should` held.
    Defended,
    /// A SHOULD was missed (a step's `should` failed); every MUST held.
    Advisory,
    /// A MUST was broken (an attack step's `expect` failed), and no exploit was confirmed.
    Nonconforming,
    /// An attack step's `expect` failed and its `exploit` held: the attack worked.
    Vulnerable,
}

impl Verdict {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Defended => "defended",
            Self::Advisory => "advisory",
            Self::Nonconforming => "nonconforming",
            Self::Vulnerable => "vulnerable",
        }
    }
}

/// The lab a scenario starts with.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabSetup {
    /// An authorization-server profile name (`conforming` unless set).
    #[serde(default, deserialize_with = "named")]
    #[schemars(with = "Option<String>")]
    pub as_profile: Option<AsProfile>,
    /// A resource-server profile name (`conforming` unless set).
    #[serde(default, deserialize_with = "named")]
    #[schemars(with = "Option<String>")]
    pub rs_profile: Option<RsProfile>,
    /// The user `/authorize` approves as without a login page; `alice` unless set.
    #[serde(default, deserialize_with = "seeded_user")]
    pub auto_approve: Option<String>,
    /// `true`: no headless approval, `/authorize` shows the login + consent page.
    #[serde(default)]
    pub interactive: bool,
    /// `jwt` (default) or `introspection`.
    #[serde(default, deserialize_with = "named")]
    #[schemars(with = "Option<String>")]
    pub verify: Option<VerifyMode>,
    /// Callers without a token may use the public tools.
    #[serde(default)]
    pub anonymous_public: bool,
    /// `ES256` (default), `RS256`, `PS256` or `EdDSA`.
    #[serde(default, deserialize_with = "named")]
    #[schemars(with = "Option<String>")]
    pub signing_alg: Option<SigningAlg>,
    /// `root` (default) or `tenant`: which issuer the resource servers trust.
    pub rs_issuer: Option<Issuer>,
}

impl LabSetup {
    /// Whether the resource servers trust the path issuer.
    pub fn rs_trusts_tenant(&self) -> bool {
        self.rs_issuer == Some(Issuer::Tenant)
    }
}

/// An optional name parsed by its type's `FromStr`, whose error lists the known names.
pub(crate) fn named<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    Option::<String>::deserialize(deserializer)?
        .map(|name| name.parse::<T>().map_err(serde::de::Error::custom))
        .transpose()
}

/// A seeded lab user (design §2).
fn seeded_user<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|name| lab_auth_server::config::seeded_user(&name).map(str::to_owned).map_err(serde::de::Error::custom))
        .transpose()
}

/// Which issuer of the lab AS the resource servers trust, or an OAuth step talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Issuer {
    /// The root issuer (the default).
    Root,
    /// The `/tenant1` path issuer (RFC 8414 §3.1 path insertion).
    Tenant,
}

/// The authorization server an OAuth step talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AsTarget {
    /// The root issuer, or the third-party AS under test (the default).
    #[default]
    As,
    /// The lab AS's `/tenant1` path issuer.
    Tenant,
}

/// The MCP revision an `mcp` step speaks when it is not the runner's default (2025-11-25, with
/// `initialize` and a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Revision {
    /// MCP 2026-07-28: stateless, `_meta` and the `MCP-Protocol-Version`, `Mcp-Method` and
    /// `Mcp-Name` headers on the request, no session.
    #[serde(rename = "2026-07-28")]
    Modern,
}

/// The resource server an MCP or client step talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RsTarget {
    /// The lab's resource server, or the third-party MCP server under test (the default).
    #[default]
    Rs,
    /// The lab's twin resource server (another audience, same AS).
    Twin,
}
