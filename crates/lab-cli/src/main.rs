//! The `mcp-authlab` command: runs MCP Auth Lab on the canonical loopback ports.
//!
//! Run with `cargo xtask lab up --auto-approve alice` from a checkout, or
//! `mcp-authlab up --help` once installed. Logs go to stderr, filtered by `LAB_LOG`
//! (`info` unless set, same syntax as `RUST_LOG`); what the user needs to copy goes to stdout.

/// mimalloc rather than glibc malloc: under glibc, the servers' worker threads contend on the
/// arena locks, which cost the lab about a third of its request throughput (docs/PERFORMANCE.md,
/// "What changed for the end-to-end ratio").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod certs;
mod check;
mod client;
mod proxy;
mod scenarios;
mod up;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lab_auth_server::{AsProfile, SigningAlg};
use lab_harness::{HarnessError, VerifyMode};
use lab_mcp_server::RsProfile;
use lab_proto::named::UnknownName;
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
    /// Run the conforming MCP client against an MCP server: the six steps of the authorization
    /// flow, printed as they happen, then a tool call (or the tool list).
    Client(client::ClientArgs),
    /// Authorize once at a protected MCP server, then forward plain HTTP from a loopback port to
    /// it with the bearer token added (for tools that cannot send one, such as the official
    /// conformance suite).
    Proxy(proxy::ProxyArgs),
    /// List the scenario catalogue: id, area, expected verdict, summary, references.
    List(scenarios::Selection),
    /// Run scenarios against a fresh in-process lab each; `N passed, M failed` at the end.
    Run(scenarios::RunArgs),
    /// Serve a hostile or broken lab (a persona) on the canonical ports, for testing a client.
    Serve(check::ServeArgs),
    /// Run a third-party MCP client against every persona and judge what it did.
    CheckClient(check::CheckArgs),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Approve every authorization at once as this seeded user (alice, bob or carol) instead of
    /// showing the login page; `login_hint=<user>` picks another user per request.
    #[arg(long, value_name = "USER", value_parser = parse_seeded_user)]
    auto_approve: Option<String>,

    /// A fault profile of the authorization server or of the resource servers, by name; repeat
    /// it to set both (an unknown name lists them all). Without it, both conform.
    #[arg(long = "profile", value_name = "NAME", value_parser = parse_profile)]
    profiles: Vec<LabProfile>,

    /// The algorithm access tokens are signed with.
    #[arg(long, value_name = "ALG", default_value_t = SigningAlg::Es256, value_parser = |name: &str| name.parse::<SigningAlg>())]
    signing_alg: SigningAlg,

    /// Serve the authorization server on this port instead of 9443 (the issuer follows it).
    #[arg(long, value_name = "PORT")]
    as_port: Option<u16>,

    /// Serve the resource server on this port instead of 8443 (its URL, the token audience,
    /// follows it).
    #[arg(long, value_name = "PORT")]
    rs_port: Option<u16>,

    /// Serve the twin resource server on this port instead of 8444.
    #[arg(long, value_name = "PORT")]
    twin_port: Option<u16>,

    /// How the resource servers check bearer tokens: `jwt` (locally, against the JWKS) or
    /// `introspection` (at the authorization server, so revocation takes effect at once).
    #[arg(long, value_name = "MODE", default_value_t = VerifyMode::Jwt, value_parser = |name: &str| name.parse::<VerifyMode>())]
    verify: VerifyMode,

    /// Let callers without a token use the public tools (search_products, get_categories).
    #[arg(long)]
    anonymous_public: bool,

    /// Serve MCP 2026-07-28 only (refusing `initialize` and sessions), instead of 2026-07-28
    /// beside 2025-11-25 and 2025-06-18.
    #[arg(long, value_name = "REVISION", value_parser = parse_revision)]
    revision: Option<lab_mcp_server::Revisions>,

    /// Listen on ports the system picks instead of the canonical ones (the banner names them),
    /// so a lab can run beside another one.
    #[arg(long, conflicts_with_all = ["as_port", "rs_port", "twin_port", "control_port"])]
    ephemeral_ports: bool,

    /// Serve the control API on https://127.0.0.1:9447 for test suites: mint tokens with chosen
    /// claims, move the clock, switch profiles, revoke, rotate the key, read the request log,
    /// reset. Behind a secret made at start, printed once and written to `<certs>/control-token`.
    #[arg(long)]
    control: bool,

    /// Serve the control API on this port instead of 9447.
    #[arg(long, value_name = "PORT", requires = "control")]
    control_port: Option<u16>,

    /// Also serve the official conformance suite's diagnostic tools (`test_…`) to 2026-07-28
    /// requests, so its server scenarios can run against the lab through `mcp-authlab proxy`.
    #[arg(long)]
    conformance_fixtures: bool,

    /// The directory of the lab CA: created on first use, reused afterwards.
    #[arg(long, value_name = "DIR", default_value = lab_harness::CANONICAL_CERT_DIR)]
    certs: PathBuf,
}

/// `--revision`: the one revision the resource servers may be limited to.
fn parse_revision(value: &str) -> Result<lab_mcp_server::Revisions, String> {
    match value {
        "2026-07-28" => Ok(lab_mcp_server::Revisions::Modern),
        other => Err(format!(
            "expected 2026-07-28 (the lab serves that revision alone; without --revision it serves 2026-07-28, 2025-11-25 and 2025-06-18 together), got {other:?}"
        )),
    }
}

/// A `--profile` name, resolved to the server it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabProfile {
    /// An authorization-server profile (`conforming` resolves here first).
    As(AsProfile),
    /// A resource-server profile.
    Rs(RsProfile),
}

/// Resolves a name as an authorization-server profile first, then as a resource-server profile;
/// the two sets share only `conforming`, so the order matters for nothing else.
fn parse_profile(name: &str) -> Result<LabProfile, String> {
    if let Ok(profile) = name.parse::<AsProfile>() {
        return Ok(LabProfile::As(profile));
    }
    if let Ok(profile) = name.parse::<RsProfile>() {
        return Ok(LabProfile::Rs(profile));
    }
    let as_names = AsProfile::ALL.map(AsProfile::name).join(", ");
    let rs_names = RsProfile::ALL.map(RsProfile::name).join(", ");
    Err(format!(
        "unknown profile `{name}`, expected an authorization server profile ({as_names}) or a resource server profile ({rs_names})"
    ))
}

impl UpArgs {
    /// The authorization server's and the resource servers' profiles from the `--profile` flags.
    ///
    /// Two different profiles for the same server are an error rather than "the last one wins",
    /// so a scripted `lab up` never runs with a weakness other than the one it named.
    fn profiles(&self) -> anyhow::Result<(AsProfile, RsProfile)> {
        let mut as_profile = None;
        let mut rs_profile = None;
        for profile in &self.profiles {
            match *profile {
                LabProfile::As(profile) => set_once(&mut as_profile, profile, "authorization server")?,
                LabProfile::Rs(profile) => set_once(&mut rs_profile, profile, "resource server")?,
            }
        }
        Ok((as_profile.unwrap_or_default(), rs_profile.unwrap_or_default()))
    }
}

/// Records `profile` for `server`, refusing a second, different one.
fn set_once<P: Copy + PartialEq + std::fmt::Display>(
    slot: &mut Option<P>,
    profile: P,
    server: &str,
) -> anyhow::Result<()> {
    match *slot {
        Some(earlier) if earlier != profile => {
            anyhow::bail!("--profile names two {server} profiles, `{earlier}` and `{profile}`: pick one")
        }
        _ => {
            *slot = Some(profile);
            Ok(())
        }
    }
}

#[derive(Debug, Args)]
struct CertsArgs {
    /// The directory of the lab CA: created on first use, reused afterwards.
    #[arg(long, value_name = "DIR", default_value = lab_harness::CANONICAL_CERT_DIR)]
    out: PathBuf,
}

/// Accepts only the seeded users, so a typo fails here rather than as `access_denied` at the
/// first authorization.
fn parse_seeded_user(name: &str) -> Result<String, UnknownName> {
    lab_auth_server::config::seeded_user(name).map(str::to_owned)
}

/// Logs go to stderr so stdout carries only what the user reads and copies.
fn init_logging(default: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("LAB_LOG") {
        Ok(directives) => {
            EnvFilter::try_new(&directives).with_context(|| format!("invalid LAB_LOG filter `{directives}`"))?
        }
        Err(_) => EnvFilter::new(default),
    };
    // Colours only on a terminal: escape codes make redirected logs hard to read and to grep.
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `up` narrates what the lab does; the other commands print their own output, and the labs
    // they start for scenarios would only drown it.
    init_logging(if matches!(cli.command, Command::Up(_)) { "info" } else { "warn" })?;
    match cli.command {
        Command::Up(args) => up::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Certs(args) => certs::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Client(args) => client::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::List(selection) => scenarios::list(&selection),
        Command::Run(args) => scenarios::run(args).await,
        Command::CheckClient(args) => check::check_client(args).await,
        Command::Serve(args) => {
            let mut arguments =
                vec!["mcp-authlab".to_owned(), "up".to_owned(), "--auto-approve".to_owned(), "alice".to_owned()];
            arguments.extend(check::serve_arguments(&args)?);
            let Cli { command: Command::Up(up_args) } = Cli::try_parse_from(arguments)? else {
                anyhow::bail!("failed to build the persona's lab");
            };
            up::run(up_args).await.map(|()| ExitCode::SUCCESS)
        }
    }
}

/// What to do about a taken port, by the role the harness named. The upstream API has no port
/// flag, so its hint can only ask for the port to be freed.
fn port_hint(role: &str) -> &'static str {
    match role {
        lab_harness::AS_ROLE => "Stop it, or pick another port with --as-port",
        lab_harness::RS_ROLE => "Stop it, or pick another port with --rs-port",
        lab_harness::TWIN_ROLE => "Stop it, or pick another port with --twin-port",
        _ => "Stop it, or free the port",
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(HarnessError::PortInUse { role, .. }) = error.downcast_ref::<HarnessError>() {
                eprintln!("hint: is another `mcp-authlab up` running? {}", port_hint(role));
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
        assert_eq!(args.profiles().ok(), Some((AsProfile::Conforming, RsProfile::Conforming)));
        assert_eq!(args.signing_alg, SigningAlg::Es256);
        assert_eq!(args.as_port, None);
        assert_eq!(args.rs_port, None);
        assert_eq!(args.twin_port, None);
        assert_eq!(args.verify, VerifyMode::Jwt);
        assert!(!args.anonymous_public);
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
            "--rs-port",
            "18443",
            "--twin-port",
            "18444",
            "--verify",
            "introspection",
            "--anonymous-public",
            "--profile",
            "no-owner-check",
            "--certs",
            "/tmp/lab-certs",
            "--revision",
            "2026-07-28",
            "--conformance-fixtures",
        ]);
        let ephemeral = parse(&["up", "--ephemeral-ports"]);
        let Ok(Cli { command: Command::Up(ephemeral) }) = ephemeral else { panic!("{ephemeral:?}") };
        assert!(ephemeral.ephemeral_ports);
        assert!(parse(&["up", "--ephemeral-ports", "--rs-port", "1"]).is_err(), "a port and ephemeral ports conflict");
        let Ok(Cli { command: Command::Up(args) }) = parsed else { panic!("{parsed:?}") };
        assert_eq!(args.auto_approve.as_deref(), Some("carol"));
        assert_eq!(args.profiles().ok(), Some((AsProfile::WrongIss, RsProfile::NoOwnerCheck)));
        assert_eq!(args.signing_alg, SigningAlg::EdDsa);
        assert_eq!(args.as_port, Some(19443));
        assert_eq!(args.rs_port, Some(18443));
        assert_eq!(args.twin_port, Some(18444));
        assert_eq!(args.verify, VerifyMode::Introspection);
        assert!(args.anonymous_public);
        assert_eq!(args.certs, PathBuf::from("/tmp/lab-certs"));
        assert_eq!(args.revision, Some(lab_mcp_server::Revisions::Modern));
        assert!(args.conformance_fixtures);
        // Any other revision is refused with what the flag takes.
        let error = parse(&["up", "--revision", "2025-11-25"]).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("expected 2026-07-28"), "{error}");
    }

    #[test]
    fn an_unknown_auto_approve_user_is_refused_with_the_seeded_users() {
        let Err(error) = parse(&["up", "--auto-approve", "mallory"]) else { panic!("mallory was accepted") };
        assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation);
        let message = error.to_string();
        assert!(message.contains("unknown seeded user `mallory`, expected one of: alice, bob, carol"), "{message}");
    }

    fn up_args(args: &[&str]) -> UpArgs {
        let parsed = parse(&[&["up"], args].concat());
        let Ok(Cli { command: Command::Up(args) }) = parsed else { panic!("{parsed:?}") };
        args
    }

    #[test]
    fn profile_names_resolve_to_the_server_they_belong_to() {
        // `conforming` is in both sets and resolves as the authorization server's, which changes
        // nothing: the resource servers conform by default too.
        let cases = [
            (&["--profile", "conforming"][..], (AsProfile::Conforming, RsProfile::Conforming)),
            (&["--profile", "ignore-resource"][..], (AsProfile::IgnoreResource, RsProfile::Conforming)),
            (&["--profile", "accept-any-alg"][..], (AsProfile::Conforming, RsProfile::AcceptAnyAlg)),
            (
                &["--profile", "skip-audience-check", "--profile", "ignore-resource"][..],
                (AsProfile::IgnoreResource, RsProfile::SkipAudienceCheck),
            ),
            (
                &["--profile", "no-redaction", "--profile", "no-redaction"][..],
                (AsProfile::Conforming, RsProfile::NoRedaction),
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(up_args(args).profiles().ok(), Some(expected), "{args:?}");
        }
    }

    #[test]
    fn two_profiles_for_one_server_are_an_error() {
        let args = up_args(&["--profile", "wrong-iss", "--profile", "missing-iss"]);
        let Err(error) = args.profiles() else { panic!("two AS profiles were accepted") };
        assert_eq!(
            error.to_string(),
            "--profile names two authorization server profiles, `wrong-iss` and `missing-iss`: pick one"
        );
        let args = up_args(&["--profile", "no-redaction", "--profile", "no-owner-check"]);
        let Err(error) = args.profiles() else { panic!("two RS profiles were accepted") };
        assert!(error.to_string().contains("two resource server profiles"), "{error}");
    }

    #[test]
    fn port_hints_name_the_flag_of_the_taken_port() {
        assert!(port_hint(lab_harness::AS_ROLE).contains("--as-port"));
        assert!(port_hint(lab_harness::RS_ROLE).contains("--rs-port"));
        assert!(port_hint(lab_harness::TWIN_ROLE).contains("--twin-port"));
        assert!(!port_hint(lab_harness::UPSTREAM_ROLE).contains("--"));
    }

    #[test]
    fn bad_values_are_errors_that_list_the_valid_ones() {
        let cases = [
            (&["up", "--auto-approve", "mallory"][..], "expected one of: alice, bob, carol"),
            (
                &["up", "--profile", "lenient"][..],
                "unknown profile `lenient`, expected an authorization server profile (conforming, issuer-mismatch,",
            ),
            (&["up", "--profile", "lenient"][..], "or a resource server profile (conforming, skip-audience-check,"),
            (&["up", "--verify", "cache"][..], "expected one of: jwt, introspection"),
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
