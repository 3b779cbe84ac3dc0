//! The `mcp-authlab` command: runs MCP Auth Lab on the canonical loopback ports.
//!
//! Run with `cargo xtask lab up --auto-approve alice` from a checkout, or
//! `mcp-authlab up --help` once installed. Logs go to stderr, filtered by `LAB_LOG`
//! (`info` unless set, same syntax as `RUST_LOG`); what the user needs to copy goes to stdout.

mod certs;
mod up;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lab_auth_server::config::lab;
use lab_auth_server::{AsProfile, SigningAlg};
use lab_harness::HarnessError;
use tracing_subscriber::EnvFilter;

/// MCP Auth Lab: mock OAuth 2.1 and MCP servers over TLS on loopback, for testing the security
/// of remote MCP servers and clients.
#[derive(Debug, Parser)]
#[command(name = "mcp-authlab", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the lab on the canonical ports and run until Ctrl-C.
    Up(UpArgs),
    /// Create the lab CA (or reuse it) and issue a fresh server certificate, then print the paths.
    Certs(CertsArgs),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Approve every authorization at once as this seeded user (alice, bob or carol) instead of
    /// showing the login page; `login_hint=<user>` picks another user per request.
    #[arg(long, value_name = "USER", value_parser = parse_seeded_user)]
    auto_approve: Option<String>,

    /// The authorization server's fault profile: `conforming`, or a weak or hostile one (an
    /// unknown name lists them all).
    #[arg(long, value_name = "NAME", default_value_t = AsProfile::Conforming, value_parser = |name: &str| name.parse::<AsProfile>())]
    profile: AsProfile,

    /// The algorithm access tokens are signed with.
    #[arg(long, value_name = "ALG", default_value_t = SigningAlg::Es256, value_parser = |name: &str| name.parse::<SigningAlg>())]
    signing_alg: SigningAlg,

    /// Serve the authorization server on this port instead of 9443 (the issuer follows it).
    #[arg(long, value_name = "PORT")]
    as_port: Option<u16>,

    /// The directory of the lab CA: created on first use, reused afterwards.
    #[arg(long, value_name = "DIR", default_value = lab_harness::CANONICAL_CERT_DIR)]
    certs: PathBuf,
}

#[derive(Debug, Args)]
struct CertsArgs {
    /// The directory of the lab CA: created on first use, reused afterwards.
    #[arg(long, value_name = "DIR", default_value = lab_harness::CANONICAL_CERT_DIR)]
    out: PathBuf,
}

/// Accepts only the seeded users, so a typo fails here rather than as `access_denied` at the
/// first authorization.
fn parse_seeded_user(name: &str) -> Result<String, String> {
    if lab::USERS.iter().any(|(username, _, _)| *username == name) {
        return Ok(name.to_owned());
    }
    let known = lab::USERS.iter().map(|(username, _, _)| *username).collect::<Vec<_>>().join(", ");
    Err(format!("`{name}` is not a seeded lab user, expected one of: {known}"))
}

/// Logs go to stderr so stdout carries only what the user reads and copies.
fn init_logging() -> anyhow::Result<()> {
    let filter = match std::env::var("LAB_LOG") {
        Ok(directives) => {
            EnvFilter::try_new(&directives).with_context(|| format!("invalid LAB_LOG filter `{directives}`"))?
        }
        Err(_) => EnvFilter::new("info"),
    };
    // Colours only on a terminal: escape codes make redirected logs hard to read and to grep.
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging()?;
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Certs(args) => certs::run(&args),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(HarnessError::PortInUse { .. }) = error.downcast_ref::<HarnessError>() {
                eprintln!("hint: is another `mcp-authlab up` running? Stop it, or pick another port with --as-port");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mcp-authlab").chain(args.iter().copied()))
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn up_defaults_are_the_lab_contract() {
        let Ok(Cli { command: Command::Up(args) }) = parse(&["up"]) else { panic!("`up` did not parse") };
        assert_eq!(args.auto_approve, None);
        assert_eq!(args.profile, AsProfile::Conforming);
        assert_eq!(args.signing_alg, SigningAlg::Es256);
        assert_eq!(args.as_port, None);
        assert_eq!(args.certs, PathBuf::from("certs"));
    }

    #[test]
    fn up_parses_every_flag() {
        let parsed = parse(&[
            "up",
            "--auto-approve",
            "carol",
            "--profile",
            "wrong-iss",
            "--signing-alg",
            "EdDSA",
            "--as-port",
            "19443",
            "--certs",
            "/tmp/lab-certs",
        ]);
        let Ok(Cli { command: Command::Up(args) }) = parsed else { panic!("{parsed:?}") };
        assert_eq!(args.auto_approve.as_deref(), Some("carol"));
        assert_eq!(args.profile, AsProfile::WrongIss);
        assert_eq!(args.signing_alg, SigningAlg::EdDsa);
        assert_eq!(args.as_port, Some(19443));
        assert_eq!(args.certs, PathBuf::from("/tmp/lab-certs"));
    }

    #[test]
    fn bad_values_are_errors_that_list_the_valid_ones() {
        let cases = [
            (&["up", "--auto-approve", "mallory"][..], "expected one of: alice, bob, carol"),
            (&["up", "--profile", "lenient"][..], "expected one of: conforming, issuer-mismatch,"),
            (&["up", "--signing-alg", "HS256"][..], "expected one of: ES256, RS256, PS256, EdDSA"),
            (&["up", "--as-port", "70000"][..], "70000"),
        ];
        for (args, expected) in cases {
            let Err(error) = parse(args) else { panic!("{args:?} was accepted") };
            let message = error.to_string();
            assert!(message.contains(expected), "{args:?}: {message}");
        }
    }

    #[test]
    fn certs_defaults_to_the_canonical_directory() {
        let Ok(Cli { command: Command::Certs(args) }) = parse(&["certs"]) else { panic!("`certs` did not parse") };
        assert_eq!(args.out, PathBuf::from("certs"));
    }
}
