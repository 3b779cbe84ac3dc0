//! Scenario files of MCP Auth Lab: the schema, the loader, the runner and the verdicts.
//!
//! A scenario is data (design §4): a TOML file with a summary, requirement references, the lab
//! setup, ordered steps (high-level OAuth and MCP actions, raw HTTP, forged tokens, clock moves,
//! profile switches, the conforming client), captures into variables, and expectations. The
//! runner starts a fresh lab on loopback port 0 for each file, plays the steps over real TLS, and
//! concludes `defended` or `vulnerable`; the file says which it must be, and anything else fails,
//! so an attack that stops working under a weak profile is a failing test too.
//!
//! Attacks by a client are raw HTTP steps here, never code in `lab-client`.

mod actions;
mod applicability;
mod capture;
pub mod catalogue;
mod error;
mod expect;
mod judge;
mod load;
mod logscan;
mod outcome;
pub mod report;
mod runner;
pub mod schema;
mod setup;
mod sign_in;
mod sockets;
mod target;
mod third_party;
#[cfg(test)]
mod variants;
mod vars;
mod wire;

pub use applicability::{not_applicable, revision_neutral, revision_of};
pub use catalogue::Entry;
pub use error::RunError;
pub use expect::{ClientOutcome, Observation};
pub use load::{ScenarioError, parse};
pub use logscan::{LOG_SCAN_ID, scan_logs};
pub use outcome::{Detail, ExchangeRecord, Observed, Party, Report, StepReport, UsedSecrets};
pub use runner::{learn_revisions, run, run_against};
pub use schema::{Scenario, Verdict};
pub use target::{LEGACY_REVISION, MODERN_REVISION, REDIRECT_URI, Revisions, Target};
pub use third_party::{
    ConfidentialClient, LabClients, Login, check_mcp_url, discover, probe_lab_clients, probe_mcp_endpoint, serves_json,
};

/// Where the scenario tests of this checkout leave the transcripts of failed runs
/// (`target/lab-transcripts`). `mcp-authlab run` writes them where its user says instead.
pub fn test_transcript_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"), Into::into);
    target.join("lab-transcripts")
}

/// Writes a report's redacted transcript into `dir` (created if missing); returns its path.
pub fn write_transcript(report: &Report, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.log", report.id.replace('/', "__")));
    let mut text = format!("scenario {}\nexpected {}\n{}\n\n", report.id, report.expected.name(), report.explanation());
    text.push_str(&report.transcript.join("\n"));
    text.push('\n');
    std::fs::write(&path, text)?;
    Ok(path)
}
