//! Reports of a scenario run: JSON, JUnit XML, SARIF 2.1.0 and a self-contained HTML page with a
//! sequence diagram per scenario. Everything here is built from [`Report`]s, whose transcripts
//! and exchanges are already redacted.
//!
//! Every format leads with what a person must act on: findings first, by grade (vulnerable,
//! nonconforming, advisory), then the runs that could not conclude, then passes, then what did
//! not apply, grouped by reason. Each finding carries its grade, the sentence it breaks and the
//! scenario's remedy.

mod formats;
mod html;

pub use formats::{json, junit, sarif};
pub use html::html;

use crate::catalogue::Entry;
use crate::outcome::{Observed, Report};
use crate::schema::Verdict;

/// One scenario's outcome in a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub entry: Entry,
    pub result: Result<Report, String>,
    /// Why the scenario was not run against this target (third-party runs), if so.
    pub not_applicable: Option<String>,
    /// Where the run's redacted transcript was written (failed runs), named in every report.
    pub transcript: Option<std::path::PathBuf>,
    /// The MCP revision the run spoke to a third-party MCP server (`run --rs-url` runs a
    /// revision-neutral scenario at every revision the server speaks), or `None`.
    pub revision: Option<&'static str>,
}

/// The status of one outcome against what its file expects.
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

/// What an outcome means to the person who ran it, in the order reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// A finding about the target: a grade worse than `defended`.
    Finding(std::cmp::Reverse<Verdict>),
    /// The run could not conclude (a step that could not run, a canary hit), or the lab's own
    /// weak profile no longer shows its weakness (a stale expectation).
    Unconcluded,
    /// Concluded what the file expects.
    Passed,
    /// Did not apply to this target.
    NotApplicable,
}

impl Standing {
    /// The name reports use: the grade of a finding, or `could-not-conclude`, `passed`,
    /// `not-applicable`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Finding(std::cmp::Reverse(grade)) => grade.name(),
            Self::Unconcluded => "could-not-conclude",
            Self::Passed => "passed",
            Self::NotApplicable => "not-applicable",
        }
    }
}

impl Outcome {
    /// The name reports give the outcome: the scenario's id, with the MCP revision the run spoke
    /// to a third-party server (`attacks/rs-validation/expired-token@2026-07-28`).
    pub fn name(&self) -> String {
        match self.revision {
            Some(revision) => format!("{}@{revision}", self.entry.id),
            None => self.entry.id.clone(),
        }
    }

    /// The sentence a report quotes beside the outcome: the SHOULD's for an advisory (when the
    /// file names it), else the scenario's.
    pub fn quote(&self) -> Option<&str> {
        let scenario = &self.entry.scenario;
        match self.finding() {
            Some(Verdict::Advisory) => scenario.should_quote.as_deref().or(scenario.quote.as_deref()),
            _ => scenario.quote.as_deref(),
        }
    }

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

    /// The grade of a finding: the run concluded worse than the `defended` its file expects.
    pub fn finding(&self) -> Option<Verdict> {
        match (&self.result, self.status()) {
            (Ok(report), Status::Failed) if report.expected == Verdict::Defended => match report.observed {
                Observed::Verdict(grade) if grade > Verdict::Defended => Some(grade),
                _ => None,
            },
            _ => None,
        }
    }

    /// Where the outcome stands, for ordering and labels.
    pub fn standing(&self) -> Standing {
        match (self.status(), self.finding()) {
            (Status::NotApplicable, _) => Standing::NotApplicable,
            (Status::Passed, _) => Standing::Passed,
            (Status::Failed, Some(grade)) => Standing::Finding(std::cmp::Reverse(grade)),
            (Status::Failed, None) => Standing::Unconcluded,
        }
    }

    /// Whether the outcome fails a run whose `--fail-on` is `threshold`: a finding of that grade
    /// or worse, or a run that could not conclude (nothing can be said of the target then).
    pub fn fails(&self, threshold: Verdict) -> bool {
        match self.standing() {
            Standing::Finding(std::cmp::Reverse(grade)) => grade >= threshold,
            Standing::Unconcluded => true,
            Standing::Passed | Standing::NotApplicable => false,
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
                Observed::Broken(_) => "could not conclude".to_owned(),
                Observed::Inapplicable(_) => "not applicable".to_owned(),
            },
            (None, Err(_)) => "error".to_owned(),
        }
    }

    /// Why it did not apply, if it did not: the reason a report groups it under.
    pub fn not_applicable_reason(&self) -> Option<String> {
        if let Some(reason) = &self.not_applicable {
            return Some(reason.clone());
        }
        match &self.result {
            Ok(Report { observed: Observed::Inapplicable(reason), .. }) => Some(reason.clone()),
            _ => None,
        }
    }
}

/// Counts: passed, failed, not applicable.
pub fn counts(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let count = |status| outcomes.iter().filter(|outcome| outcome.status() == status).count();
    (count(Status::Passed), count(Status::Failed), count(Status::NotApplicable))
}

/// How many outcomes stand where: findings by grade, could not conclude, passed, not applicable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub vulnerable: usize,
    pub nonconforming: usize,
    pub advisory: usize,
    pub could_not_conclude: usize,
    pub passed: usize,
    pub not_applicable: usize,
}

/// The tally of `outcomes`.
pub fn tally(outcomes: &[Outcome]) -> Tally {
    let mut tally = Tally::default();
    for outcome in outcomes {
        match outcome.standing() {
            Standing::Finding(std::cmp::Reverse(Verdict::Vulnerable)) => tally.vulnerable += 1,
            Standing::Finding(std::cmp::Reverse(Verdict::Nonconforming)) => tally.nonconforming += 1,
            Standing::Finding(_) => tally.advisory += 1,
            Standing::Unconcluded => tally.could_not_conclude += 1,
            Standing::Passed => tally.passed += 1,
            Standing::NotApplicable => tally.not_applicable += 1,
        }
    }
    tally
}

/// The outcomes in report order: findings by grade, then could-not-conclude, passes, and what
/// did not apply grouped by reason; the catalogue's order within each.
pub fn ordered(outcomes: &[Outcome]) -> Vec<&Outcome> {
    let mut ordered: Vec<(usize, &Outcome)> = outcomes.iter().enumerate().collect();
    ordered.sort_by(|(a_index, a), (b_index, b)| {
        (a.standing(), a.not_applicable_reason(), a_index).cmp(&(b.standing(), b.not_applicable_reason(), b_index))
    });
    ordered.into_iter().map(|(_, outcome)| outcome).collect()
}

/// The not-applicable outcomes grouped by reason, most common reason first.
pub fn not_applicable_groups(outcomes: &[Outcome]) -> Vec<(String, Vec<&Outcome>)> {
    let mut groups: Vec<(String, Vec<&Outcome>)> = Vec::new();
    for outcome in outcomes {
        let Some(reason) = outcome.not_applicable_reason() else { continue };
        match groups.iter_mut().find(|(known, _)| *known == reason) {
            Some((_, members)) => members.push(outcome),
            None => groups.push((reason, vec![outcome])),
        }
    }
    groups.sort_by(|(a_reason, a), (b_reason, b)| b.len().cmp(&a.len()).then_with(|| a_reason.cmp(b_reason)));
    groups
}

/// The steps of a report with what they broke: (label, failures, advisories).
fn broken_steps(report: &Report) -> Vec<(&str, &[String], &[String])> {
    report
        .steps
        .iter()
        .filter(|step| !step.failures.is_empty() || !step.advisories.is_empty())
        .map(|step| (step.label.as_str(), step.failures.as_slice(), step.advisories.as_slice()))
        .collect()
}

#[cfg(test)]
mod tests;
