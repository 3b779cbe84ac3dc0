//! `mcp-authlab serve --persona` and `mcp-authlab check-client`: hostile or broken labs for
//! testing MCP clients, and a judge of what a third-party client did against each.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use lab_auth_server::AsProfile;
use lab_harness::{LabConfig, RunningLab};
use lab_mcp_server::{Revisions, RsProfile};
use serde_json::json;

/// What a client must do against a persona.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Right {
    /// Complete the flow: an authenticated MCP request succeeds.
    Completes,
    /// Refuse before any authorization, registration or token request (metadata is bad).
    NoAuthorization,
    /// Never redeem the code (the authorization response is bad).
    NoToken,
    /// Give up after a bounded number of authorizations.
    BoundedRetries,
    /// Complete the flow with a server that speaks MCP 2026-07-28 alone (a client of an earlier
    /// revision cannot, which MCP 2026-07-28 basic/versioning expects: not applicable).
    CompletesModern,
    /// Echo every round's `requestState` exactly, and none where a round carried none (SEP-2322).
    EchoesRequestState,
    /// Follow the move to another AS: register there, and bring it nothing of the old one
    /// (SEP-2352).
    FollowsMigration,
}

/// A persona: a lab with hostile or broken behaviour, and what a client must do about it.
struct Persona {
    name: &'static str,
    as_profile: AsProfile,
    rs_profile: RsProfile,
    /// The revisions the lab's resource server speaks.
    revisions: Revisions,
    right: Right,
    /// How strong the sentence behind `right` is: what a wrong client breaks.
    strength: &'static str,
    /// …for a client that speaks only an earlier revision than 2026-07-28, where the sentence is
    /// weaker (RFC 9207's `iss` is a MUST of MCP 2026-07-28, SEP-2468; before it, a mix-up
    /// defence OAuth 2.1 §7.14 recommends).
    legacy_strength: &'static str,
    what: &'static str,
}

const PERSONAS: [Persona; 13] = [
    Persona {
        name: "conforming",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::Completes,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "the conforming lab: the client must complete the flow",
    },
    Persona {
        name: "oidc-only-metadata",
        as_profile: AsProfile::OidcOnlyMetadata,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::Completes,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "only OpenID discovery: the client must fall back to it (MCP-1125)",
    },
    Persona {
        name: "prm-resource-mismatch",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::PrmResourceMismatch,
        revisions: Revisions::Dual,
        right: Right::NoAuthorization,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "the PRM names another resource: no registration, authorization or token request (RFC 9728 §3.3, CL-03)",
    },
    Persona {
        name: "ssrf-resource-metadata",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::SsrfResourceMetadata,
        revisions: Revisions::Dual,
        right: Right::NoAuthorization,
        strength: "SHOULD",
        legacy_strength: "SHOULD",
        what: "resource_metadata points at a private address: never fetch it (CL-07, the canary counts)",
    },
    Persona {
        name: "issuer-mismatch",
        as_profile: AsProfile::IssuerMismatch,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::NoAuthorization,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "metadata issuer differs: discard it (RFC 8414 §3.3, CL-05)",
    },
    Persona {
        name: "no-s256-advertised",
        as_profile: AsProfile::NoS256Advertised,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::NoAuthorization,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "no PKCE advertised: refuse (MCP-1125, CL-06)",
    },
    Persona {
        name: "javascript-authorization-endpoint",
        as_profile: AsProfile::JavascriptAuthorizationEndpoint,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::NoToken,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "a javascript: authorization endpoint: never open it (CL-08)",
    },
    Persona {
        name: "wrong-iss",
        as_profile: AsProfile::WrongIss,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::NoToken,
        strength: "MUST",
        legacy_strength: "SHOULD",
        what: "the authorization response names another issuer: do not redeem (RFC 9207, CL-18)",
    },
    Persona {
        name: "missing-iss",
        as_profile: AsProfile::MissingIss,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Dual,
        right: Right::NoToken,
        strength: "MUST",
        legacy_strength: "SHOULD",
        what: "iss advertised but missing: do not redeem (RFC 9207 §2.4, CL-18)",
    },
    Persona {
        name: "never-satisfied-step-up",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::NeverSatisfiedStepUp,
        revisions: Revisions::Dual,
        right: Right::BoundedRetries,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "403 insufficient_scope forever: give up after a few tries (CL-23)",
    },
    Persona {
        name: "modern-only",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::Conforming,
        revisions: Revisions::Modern,
        right: Right::CompletesModern,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "a server of MCP 2026-07-28 alone, which refuses initialize: a client of that revision completes (TR-2607)",
    },
    Persona {
        name: "shifting-request-state",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::ShiftingRequestState,
        revisions: Revisions::Dual,
        right: Right::EchoesRequestState,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "each tool call asks for input three times, a new requestState each round, then none: echo each exactly, never craft one (SEP-2322)",
    },
    Persona {
        name: "as-migration",
        as_profile: AsProfile::Conforming,
        rs_profile: RsProfile::AsMigration,
        revisions: Revisions::Dual,
        right: Right::FollowsMigration,
        strength: "MUST",
        legacy_strength: "MUST",
        what: "the metadata names another AS after the first answer: register there, bring it nothing of the old one (SEP-2352)",
    },
];

fn persona(name: &str) -> anyhow::Result<&'static Persona> {
    Ok(lab_proto::named::parse_named(name, PERSONAS.iter().map(|persona| (persona.name, persona)), "persona")?)
}

/// The arguments of `serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The persona to serve (see `check-client --help` for the list).
    #[arg(long)]
    pub(crate) persona: String,
}

/// The arguments of `check-client`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The client's command line; the MCP server URL is appended as its last argument (like the
    /// official conformance suite). The lab CA is in `$MCP_AUTHLAB_CA`, `$NODE_EXTRA_CA_CERTS`,
    /// `$SSL_CERT_FILE` and `$REQUESTS_CA_BUNDLE`.
    #[arg(long)]
    pub(crate) command: String,
    /// Only these personas (default: all).
    #[arg(long = "persona")]
    pub(crate) personas: Vec<String>,
    /// Seconds each run of the client may take.
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout: u64,
    /// Print a machine-readable summary.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `serve --persona`: the `up` arguments of the persona's lab, its profiles and the revisions
/// its resource server speaks (the caller adds the headless login as alice).
pub(crate) fn serve_arguments(args: &ServeArgs) -> anyhow::Result<Vec<String>> {
    let persona = persona(&args.persona)?;
    let mut arguments = Vec::new();
    for profile in [persona.as_profile.name(), persona.rs_profile.name()] {
        arguments.extend(["--profile".to_owned(), profile.to_owned()]);
    }
    if persona.revisions == Revisions::Modern {
        arguments.extend(["--revision".to_owned(), lab_proto::jsonrpc::MODERN_PROTOCOL_VERSIONS[0].to_owned()]);
    }
    Ok(arguments)
}

/// What the client did, from the lab's request log.
fn observed(lab: &RunningLab) -> (String, bool, bool, usize, usize) {
    let log = lab.requests();
    let as_role = lab_harness::AS_ROLE;
    let metadata = log.count(|record| record.role == as_role && record.path.contains(".well-known"));
    let registrations = log.count(|record| record.role == as_role && record.path.ends_with("/register"));
    let authorizations = log.count(|record| record.role == as_role && record.path.ends_with("/authorize"));
    let tokens = log.count(|record| record.role == as_role && record.path.ends_with("/token"));
    let served = log.any(|record| record.role == lab_harness::RS_ROLE && record.bearer && record.status == 200);
    let canary = lab.canary().hits();
    let summary = format!(
        "AS metadata {metadata}, registrations {registrations}, authorizations {authorizations}, token requests {tokens}, authenticated MCP answers {}, canary hits {canary}",
        if served { "yes" } else { "none" }
    );
    (summary, served, tokens > 0, authorizations, canary)
}

/// What a client did against a persona, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Judged {
    Right,
    Wrong,
    /// The persona tests what the client does not speak, or never reached.
    NotApplicable(&'static str),
}

/// The judgement of what the client did, what it did, and whether it spoke MCP 2026-07-28.
fn judge(right: Right, lab: &RunningLab, exited: bool) -> (Judged, String, bool) {
    let (mut summary, served, redeemed, authorizations, canary) = observed(lab);
    let log = lab.requests();
    let registered_or_authorized = log.any(|record| {
        record.role == lab_harness::AS_ROLE
            && (record.path.ends_with("/register")
                || record.path.ends_with("/authorize")
                || record.path.ends_with("/token"))
    });
    // Whether the client spoke MCP 2026-07-28 to the resource server at all.
    let modern = log.any(|record| {
        record.role == lab_harness::RS_ROLE
            && record.mcp_version.as_deref() == Some(lab_proto::jsonrpc::MODERN_PROTOCOL_VERSIONS[0])
    });
    let personas = lab.rs().persona_log();
    let verdict = |right: bool| if right { Judged::Right } else { Judged::Wrong };
    let judged = match right {
        _ if canary > 0 => Judged::Wrong,
        Right::Completes => verdict(served),
        Right::NoAuthorization => verdict(!registered_or_authorized && !served),
        Right::NoToken => verdict(!redeemed && !served),
        Right::BoundedRetries => verdict(exited && (1..=4).contains(&authorizations)),
        Right::CompletesModern if !modern => {
            Judged::NotApplicable("the client speaks only an earlier revision, which a 2026-07-28-only server refuses")
        }
        Right::CompletesModern => verdict(served),
        Right::EchoesRequestState => {
            summary.push_str(&format!(
                ", input rounds {}, states echoed {}, states refused {}",
                personas.input_rounds, personas.states_echoed, personas.states_refused
            ));
            if personas.states_refused > 0 {
                Judged::Wrong
            } else if personas.input_rounds == 0 {
                Judged::NotApplicable("the client called no tool at 2026-07-28, so no requestState was asked of it")
            } else if personas.states_echoed == 0 {
                Judged::NotApplicable("the client answered no input-required result, so it echoed nothing")
            } else {
                Judged::Right
            }
        }
        Right::FollowsMigration => {
            summary.push_str(&format!(
                ", moved {}, tokens refused after the move {}, served by the new AS's token {}",
                if personas.migrated { "yes" } else { "no" },
                personas.refused_after_migration,
                if personas.served_after_migration { "yes" } else { "no" }
            ));
            migration_verdict(modern, personas, brought_old_credentials(log))
        }
    };
    (judged, summary, modern)
}

/// `as-migration`: right when the new AS's token was taken; wrong when the client brought the
/// new AS a credential of the old one, or came back after the move and never followed it. A
/// client of an earlier revision is not held to SEP-2352, and one that never came back after the
/// move had no chance to follow it.
fn migration_verdict(modern: bool, log: lab_mcp_server::PersonaLog, brought_old: bool) -> Judged {
    if !log.migrated {
        Judged::NotApplicable("the client never got an authenticated answer, so the server never moved")
    } else if !modern {
        Judged::NotApplicable("the client speaks an earlier revision, which does not bind credentials to their AS")
    } else if brought_old {
        Judged::Wrong
    } else if log.served_after_migration {
        Judged::Right
    } else if log.refused_after_migration == 0 {
        Judged::NotApplicable("the client sent nothing after the move, so it had nothing to follow")
    } else {
        Judged::Wrong
    }
}

/// Whether a client that registered dynamically at the old AS used the new AS's authorization or
/// token endpoint before registering there: it brought the old AS's client id (SEP-2352: "MUST
/// NOT reuse client credentials from a different authorization server"). A client that never
/// registered dynamically (pre-registered, or a metadata document, whose id is portable) is not
/// judged by this.
fn brought_old_credentials(log: &lab_harness::RequestLog) -> bool {
    let records = log.records();
    let tenant = |record: &lab_harness::RequestRecord| {
        record.role == lab_harness::AS_ROLE && record.path.starts_with(lab_harness::TENANT_PATH)
    };
    let registered =
        |record: &lab_harness::RequestRecord| record.path.ends_with("/register") && (200..300).contains(&record.status);
    let registered_at_old =
        records.iter().any(|record| record.role == lab_harness::AS_ROLE && !tenant(record) && registered(record));
    if !registered_at_old {
        return false;
    }
    let registered_at_new =
        records.iter().position(|record| tenant(record) && registered(record)).unwrap_or(records.len());
    records[..registered_at_new]
        .iter()
        .any(|record| tenant(record) && (record.path.ends_with("/authorize") || record.path.ends_with("/token")))
}

/// `check-client`: runs the client against each persona and says whether it did the right thing.
pub(crate) async fn check_client(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let selected: Vec<&Persona> = if args.personas.is_empty() {
        PERSONAS.iter().collect()
    } else {
        args.personas.iter().map(|name| persona(name)).collect::<anyhow::Result<_>>()?
    };
    let mut results = Vec::new();
    for persona in selected {
        let mut config = LabConfig::ephemeral();
        config.profile = persona.as_profile;
        config.rs_profile = persona.rs_profile;
        config.revisions = persona.revisions;
        config.auto_approve = Some("alice".to_owned());
        let lab = lab_harness::start(config).await?;
        let ca_path = std::env::temp_dir().join(format!("mcp-authlab-ca-{}-{}.pem", std::process::id(), persona.name));
        std::fs::write(&ca_path, lab.ca_pem()).context("failed to write the lab CA for the client")?;
        let url = lab.resource().to_owned();
        let allow = [lab.as_addr().to_string(), lab.cimd_addr().to_string()].join(",");
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(format!("{} {}", args.command, shell_quote(&url)))
            .env("MCP_AUTHLAB_CA", &ca_path)
            .env("MCP_AUTHLAB_ALLOW_HOSTS", &allow)
            .env("NODE_EXTRA_CA_CERTS", &ca_path)
            .env("SSL_CERT_FILE", &ca_path)
            .env("REQUESTS_CA_BUNDLE", &ca_path)
            // The client under test gets none of the runner's own secrets.
            .env_remove(crate::scenarios::PASSWORD_VARIABLE)
            .env_remove(crate::scenarios::CLIENT_SECRET_VARIABLE)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // Its own process group, so whatever it starts (`npx`, a browser opener) is stopped
            // with it and cannot hold the output pipes open.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().context("failed to start the client command")?;
        // Taken now: once the child is reaped, tokio no longer knows it.
        let group = child.id();
        // The output is read while the client runs, so what it printed before a timeout is
        // searched too (CL-27).
        let (stdout, stdout_reader) = read_bounded(child.stdout.take());
        let (stderr, stderr_reader) = read_bounded(child.stderr.take());
        let status = tokio::time::timeout(Duration::from_secs(args.timeout), child.wait()).await;
        stop_group(group).await;
        if status.is_err() {
            let _ = child.kill().await;
        }
        let text = collect_output(&stdout, stdout_reader).await + "\n" + &collect_output(&stderr, stderr_reader).await;
        let found = credentials_in(&text, lab.auth_server());
        let printed = kinds_of(&found);
        // The output's tail is shown for a wrong client: never with the credentials it printed.
        let text = redact_found(text, &found);
        let (exited, exit_code, tail) = match status {
            Ok(Ok(status)) => {
                let tail: String = text
                    .lines()
                    .rev()
                    .filter(|line| !line.is_empty())
                    .take(3)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join(" | ");
                (true, status.code(), lab_client::redact_body(&tail))
            }
            Ok(Err(error)) => (false, None, format!("could not wait for the client: {error}")),
            Err(_) => (false, None, format!("still running after {} s; stopped", args.timeout)),
        };
        let (mut judged, mut summary, modern) = judge(persona.right, &lab, exited);
        let strength = if modern { persona.strength } else { persona.legacy_strength };
        // CL-27: whatever else it did, a client that prints its credentials did the wrong thing.
        if !printed.is_empty() {
            judged = Judged::Wrong;
            summary.push_str(&format!("; printed {} the lab issued (CL-27)", printed.join(", ")));
        }
        let right = judged == Judged::Right;
        if !args.json {
            let mark = match &judged {
                Judged::Right => "RIGHT".to_owned(),
                Judged::Wrong => format!("WRONG ({strength})"),
                Judged::NotApplicable(_) => "N/A".to_owned(),
            };
            println!("{mark} {:<34} {}", persona.name, persona.what);
            println!(
                "      did: {summary}; exit {}",
                exit_code.map_or_else(|| "none".to_owned(), |code| code.to_string())
            );
            if let Judged::NotApplicable(reason) = &judged {
                println!("      not applicable: {reason}");
            }
            if judged == Judged::Wrong && !tail.is_empty() {
                println!("      last output: {}", tail.chars().take(300).collect::<String>());
            }
        }
        let (outcome, reason) = match &judged {
            Judged::Right => ("right", None),
            Judged::Wrong => ("wrong", None),
            Judged::NotApplicable(reason) => ("not-applicable", Some(*reason)),
        };
        results.push(json!({"persona": persona.name, "expected": persona.what, "strength": strength, "client_revision": if modern { "2026-07-28" } else { "earlier" }, "right": right, "outcome": outcome, "not_applicable_reason": reason, "did": summary, "exit_code": exit_code, "exited": exited, "printed_credentials": printed}));
        let _ = std::fs::remove_file(&ca_path);
        lab.shutdown().await;
    }
    let count = |outcome: &str| results.iter().filter(|result| result["outcome"] == outcome).count();
    let (right, wrong, not_applicable) = (count("right"), count("wrong"), count("not-applicable"));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"right": right, "wrong": wrong, "not_applicable": not_applicable, "personas": results})
            )?
        );
    } else if not_applicable > 0 {
        println!("{right} passed, {wrong} failed, {not_applicable} not applicable");
    } else {
        println!("{right} passed, {wrong} failed");
    }
    Ok(if wrong == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The lab's credentials that appear in a client's output, each with its kind: every word of
/// token characters (base64url and the JWT's dots; at least 16 of them) is asked of the AS, which
/// knows what it signed and keeps digests of what it issued, so nothing is guessed from shape.
fn credentials_in(output: &str, auth: &lab_auth_server::AuthServer) -> Vec<(&'static str, String)> {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    let words = output.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')));
    for word in words.filter(|word| word.len() >= 16).take(MAX_CANDIDATES) {
        // A token at the end of a sentence keeps its full stop.
        let word = if word.matches('.').count() > 2 { word.trim_end_matches('.') } else { word };
        if let Some(kind) = auth.recognize_credential(word)
            && !found.iter().any(|(_, seen)| seen == word)
        {
            found.push((kind, word.to_owned()));
        }
    }
    found
}

/// `text` with every credential of `found` replaced by `[redacted]`.
fn redact_found(text: String, found: &[(&'static str, String)]) -> String {
    found.iter().fold(text, |text, (_, word)| text.replace(word.as_str(), "[redacted]"))
}

/// The kinds among `found`, each once, in the order they were printed.
fn kinds_of(found: &[(&'static str, String)]) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for (kind, _) in found {
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    kinds
}

/// At most this much of each of a client's output streams is kept.
const MAX_OUTPUT_BYTES: u64 = 4 * 1024 * 1024;

/// What one output stream of the client printed so far.
type Captured = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Reads one output stream of the client as it runs, keeping the first [`MAX_OUTPUT_BYTES`] and
/// draining the rest, so a chatty client never blocks on a full pipe or dies of a closed one.
fn read_bounded<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    pipe: Option<R>,
) -> (Captured, tokio::task::JoinHandle<()>) {
    let captured = Captured::default();
    let sink = captured.clone();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        let Some(mut pipe) = pipe else { return };
        let mut chunk = vec![0_u8; 16 * 1024];
        while let Ok(read) = pipe.read(&mut chunk).await {
            if read == 0 {
                break;
            }
            let mut kept = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let room = usize::try_from(MAX_OUTPUT_BYTES).unwrap_or(usize::MAX).saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..read.min(room)]);
        }
    });
    (captured, reader)
}

/// What a stream reader captured, once the stream ended or, if something still holds it open,
/// after two seconds: what was printed until then is kept either way.
async fn collect_output(captured: &Captured, reader: tokio::task::JoinHandle<()>) -> String {
    let abort = reader.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), reader).await.is_err() {
        abort.abort();
    }
    let bytes = captured.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Stops whatever is left of the client's process group (`kill -KILL -- -PGID`, the shell's
/// own way to name a group, as the workspace forbids the unsafe `killpg`).
async fn stop_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        let _ = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
    }
}

/// At most this many words of a client's output are checked: a verification costs tens of
/// microseconds, and a client that prints megabytes must not stall the run.
const MAX_CANDIDATES: usize = 20_000;

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod serve_tests {
    use super::{Judged, migration_verdict};

    #[test]
    fn a_migration_is_judged_only_where_the_client_had_to_follow_it() {
        let log = |migrated, served, refused| lab_mcp_server::PersonaLog {
            migrated,
            served_after_migration: served,
            refused_after_migration: refused,
            ..Default::default()
        };
        assert_eq!(migration_verdict(true, log(true, true, 1), false), Judged::Right);
        assert_eq!(migration_verdict(true, log(true, true, 1), true), Judged::Wrong, "old credentials at the new AS");
        assert_eq!(migration_verdict(true, log(true, false, 2), false), Judged::Wrong, "came back, never followed");
        // One request and gone: nothing to follow. Never moved, or an earlier revision: not held to it.
        assert!(matches!(migration_verdict(true, log(true, false, 0), false), Judged::NotApplicable(_)));
        assert!(matches!(migration_verdict(true, log(false, false, 0), false), Judged::NotApplicable(_)));
        assert!(matches!(migration_verdict(false, log(true, false, 3), true), Judged::NotApplicable(_)));
    }

    #[test]
    fn a_persona_is_served_with_its_profiles_and_revisions() {
        let arguments = |name: &str| super::serve_arguments(&super::ServeArgs { persona: name.to_owned() }).unwrap();
        assert_eq!(arguments("as-migration"), ["--profile", "conforming", "--profile", "as-migration"]);
        assert_eq!(
            arguments("modern-only"),
            ["--profile", "conforming", "--profile", "conforming", "--revision", "2026-07-28"]
        );
        assert!(super::serve_arguments(&super::ServeArgs { persona: "nope".to_owned() }).is_err());
    }
}

#[cfg(test)]
mod printed_tests {
    use lab_auth_server::config::lab;
    use lab_auth_server::{AuthServer, AuthServerConfig};
    use serde_json::json;

    use super::{credentials_in, kinds_of, redact_found};

    #[test]
    fn a_token_the_lab_signed_is_found_in_a_client_s_output_and_lookalikes_are_not() {
        let auth = AuthServer::new(AuthServerConfig::lab(lab::ISSUER, vec![lab::RESOURCE.to_owned()])).unwrap();
        let now = auth.clock().now();
        let claims = json!({"iss": lab::ISSUER, "sub": "alice", "aud": lab::RESOURCE, "exp": now + 300, "iat": now,
            "jti": "jti-of-the-test", "client_id": lab::PUBLIC_CLIENT_ID, "scope": "mcp:read"});
        let token = auth.mint_jwt("at+jwt", &claims).unwrap();
        let output = format!("step 5: token received\nDEBUG sending Authorization: Bearer {token}.\ndone\n");
        assert_eq!(kinds_of(&credentials_in(&output, &auth)), vec!["an access token"]);
        let shown = redact_found(output.clone(), &credentials_in(&output, &auth));
        assert!(!shown.contains(&token) && shown.contains("Bearer [redacted]."), "{shown}");
        // The same token signed by nobody the AS knows, and the ordinary words of a trace.
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signing_input}.{}", "A".repeat(86));
        let clean = format!(
            "step 5: token received ({} bytes)\nforged {forged}\nclient_id {}\n",
            token.len(),
            lab::PUBLIC_CLIENT_ID
        );
        assert!(kinds_of(&credentials_in(&clean, &auth)).is_empty());
    }
}
