//! `mcp-authlab up`: starts the lab on the canonical ports, prints what to point clients at, and
//! runs until Ctrl-C.

use std::fmt::Write as _;

use anyhow::Context;
use lab_harness::{LabConfig, RunningLab};
use lab_proto::metadata::authorization_server_metadata_urls;

use crate::UpArgs;

pub(crate) async fn run(args: UpArgs) -> anyhow::Result<()> {
    let (profile, rs_profile) = args.profiles()?;
    let config = LabConfig {
        as_port: args.as_port,
        rs_port: args.rs_port,
        twin_port: args.twin_port,
        cert_dir: Some(args.certs),
        profile,
        rs_profile,
        verify: args.verify,
        anonymous_public: args.anonymous_public,
        revisions: args.revision.unwrap_or_default(),
        conformance_fixtures: args.conformance_fixtures,
        signing_alg: args.signing_alg,
        auto_approve: args.auto_approve,
        control: args.control,
        control_port: args.control_port,
        ports: if args.ephemeral_ports { lab_harness::Ports::Ephemeral } else { lab_harness::Ports::Canonical },
        ..LabConfig::canonical()
    };
    // No context here: the harness's messages already name the port, role or file at fault.
    let lab = lab_harness::start(config).await?;
    print!("{}", banner(&lab));

    wait_for_stop_signal().await?;
    println!("Stopping MCP Auth Lab...");
    lab.shutdown().await;
    println!("MCP Auth Lab stopped.");
    Ok(())
}

/// The variable that asks `up` and `proxy` to stop when their standard input closes: set by
/// `cargo xtask conformance`, which holds the other end, so that neither outlives it however it
/// ends (a killed xtask closes the pipe too).
pub(crate) const STOP_ON_STDIN_EOF: &str = "MCP_AUTHLAB_STOP_ON_STDIN_EOF";

/// Waits until standard input is closed, when [`STOP_ON_STDIN_EOF`] asks it; forever otherwise.
pub(crate) async fn stdin_closed() {
    if std::env::var_os(STOP_ON_STDIN_EOF).is_none() {
        return std::future::pending().await;
    }
    use tokio::io::AsyncReadExt as _;
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0_u8; 256];
    // Whatever is written is ignored; end of file (or an error) is the parent gone.
    while matches!(stdin.read(&mut buffer).await, Ok(read) if read > 0) {}
}

/// Waits for Ctrl-C, or for SIGTERM on unix (what `kill` and process managers send), or for the
/// end of standard input when [`STOP_ON_STDIN_EOF`] is set.
pub(crate) async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("failed to listen for Ctrl-C"),
            _ = terminate.recv() => Ok(()),
            () = stdin_closed() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("failed to listen for Ctrl-C")
    }
}

/// Everything a user needs to point a client at the lab, as it is printed after start.
fn banner(lab: &RunningLab) -> String {
    let server = lab.auth_server();
    let config = server.config();
    let issuer = lab.issuer();
    let mut out = String::new();
    // Writing to a String cannot fail, so the results of `writeln!` are ignored throughout.
    let _ = writeln!(out, "MCP Auth Lab is up.\n");

    let ca_path = lab.cert_dir().map(|dir| dir.ca_cert_path().display().to_string());
    match (&ca_path, lab.created_ca()) {
        (Some(path), true) => {
            let _ = writeln!(out, "Lab CA:      {path} (created now: clients must be told to trust it)");
        }
        (Some(path), false) => {
            let _ = writeln!(out, "Lab CA:      {path} (reused)");
        }
        (None, _) => {
            let _ = writeln!(out, "Lab CA:      in memory only");
        }
    }

    let _ = writeln!(out, "\nAuthorization server");
    let _ = writeln!(out, "  issuer         {issuer}");
    let metadata_urls = authorization_server_metadata_urls(issuer);
    if let [rfc_8414, oidc, ..] = metadata_urls.as_slice() {
        let _ = writeln!(out, "  RFC 8414       {rfc_8414}");
        let _ = writeln!(out, "  OIDC discovery {oidc}");
    }
    let jwks_uri = lab_auth_server::metadata_document(server, false).jwks_uri.unwrap_or_default();
    let _ = writeln!(out, "  JWKS           {jwks_uri}");
    let _ = writeln!(out, "  path issuer    {} (tests RFC 8414 path insertion)", lab.path_issuer());
    for url in authorization_server_metadata_urls(lab.path_issuer()) {
        let _ = writeln!(out, "                   {url}");
    }
    let profile = server.profile();
    let _ = writeln!(out, "  profile        {profile}: {}", profile.summary());
    let _ = writeln!(out, "  signing alg    {}", config.signing_alg);
    match &config.auto_approve {
        Some(user) => {
            let _ = writeln!(
                out,
                "  auto-approve   on: /authorize approves at once as {user} (login_hint=<user> picks another)"
            );
        }
        None => {
            let _ = writeln!(out, "  auto-approve   off: /authorize shows the login and consent page");
        }
    }

    let rs = lab.rs();
    let _ = writeln!(out, "\nResource servers");
    let _ = writeln!(out, "  MCP endpoint   {} (the resource and the token audience)", lab.resource());
    let _ = writeln!(out, "  PRM            {}", rs.resource_metadata_url());
    let _ = writeln!(out, "  twin           {} (same AS, another audience)", lab.twin_resource());
    let _ = writeln!(
        out,
        "  upstream API   {} (track_shipment's carrier: takes only the RS's own token)",
        lab.upstream_url()
    );
    let verify = lab.verify_mode();
    let _ = writeln!(out, "  verify         {verify}: {}", verify.summary());
    if rs.config().anonymous_public {
        let _ = writeln!(out, "  anonymous      on: public tools answer without a token");
    } else {
        let _ = writeln!(out, "  anonymous      off: every request needs a bearer token");
    }
    let rs_profile = rs.profile();
    let _ = writeln!(out, "  profile        {rs_profile}: {}", rs_profile.summary());
    match rs.config().revisions {
        lab_mcp_server::Revisions::Dual => {
            let _ = writeln!(
                out,
                "  revisions      MCP 2026-07-28 (stateless, server/discover) beside 2025-11-25 and 2025-06-18 (initialize, sessions)"
            );
        }
        lab_mcp_server::Revisions::Modern => {
            let _ = writeln!(out, "  revisions      MCP 2026-07-28 only: initialize is refused, no sessions");
        }
    }
    if rs.config().conformance_fixtures {
        let _ = writeln!(out, "  fixtures       on: the conformance suite's test_… tools answer 2026-07-28 requests");
    }

    let _ = writeln!(out, "\nSeeded users (documented lab values)");
    let width = config.users.iter().map(|user| user.username.len()).max().unwrap_or(0);
    for user in &config.users {
        let _ = writeln!(
            out,
            "  {:width$}  password {:<12} role {}",
            user.username,
            user.password.secret(),
            user.role.as_str()
        );
    }

    let _ = writeln!(out, "\nPre-registered clients (documented lab values)");
    // Clients without redirect URIs are the resource servers' introspection credentials, which
    // nobody runs an authorization flow with.
    let clients: Vec<_> = config.clients.iter().filter(|client| !client.redirect_uris.is_empty()).collect();
    let width = clients.iter().map(|client| client.client_id.len()).max().unwrap_or(0);
    for client in clients {
        let method = client.token_endpoint_auth_method.as_str();
        match &client.client_secret {
            Some(secret) => {
                let _ =
                    writeln!(out, "  {:width$}  confidential, secret {} ({method})", client.client_id, secret.secret());
            }
            None => {
                let _ = writeln!(out, "  {:width$}  public ({method}, PKCE S256)", client.client_id);
            }
        }
    }

    let _ = writeln!(out, "\nTry it:");
    if let (Some(path), Some(rfc_8414)) = (&ca_path, metadata_urls.first()) {
        let ca = shell_quote(path);
        let _ = writeln!(out, "  curl --cacert {ca} {rfc_8414}");
        if rs.config().anonymous_public {
            let _ = writeln!(
                out,
                "  # step 1 of the flow; with --anonymous-public, initialize answers 200 without a token:"
            );
        } else {
            let _ = writeln!(out, "  # step 1 of the flow: the first 401 and its WWW-Authenticate challenge:");
        }
        let _ = writeln!(out, "  {}", initialize_curl(&ca, lab.resource()));
    }
    if let (Some(url), Some(secret)) = (lab.control_url(), lab.control_secret()) {
        let _ = writeln!(out, "\nControl API (for test suites; see the README's \"The lab as a test fixture\")");
        let _ = writeln!(out, "  control API    {url}");
        // Printed this once; the file keeps it for test suites to read.
        let _ = writeln!(out, "  secret         {}", secret.expose());
        if let Some(path) = lab.control_token_file() {
            let path = shell_quote(&path.display().to_string());
            let _ = writeln!(out, "  secret file    {path} (owner-only)");
            if let Some(ca) = &ca_path {
                let ca = shell_quote(ca);
                let _ = writeln!(
                    out,
                    "  try            curl --cacert {ca} -H \"authorization: Bearer $(cat {path})\" {url}/clock"
                );
            }
        }
    }
    let _ = writeln!(out, "\nPress Ctrl-C to stop.");
    out
}

/// The `curl` that sends an MCP `initialize` without a token, as the first step of the flow does.
/// `ca` is already quoted for the shell; the JSON holds no single quote, so single quotes suffice.
fn initialize_curl(ca: &str, resource: &str) -> String {
    let message = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}"#;
    format!(
        "curl -i --cacert {ca} -X POST {resource} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '{message}'"
    )
}

/// Quotes `word` for a POSIX shell when it holds anything beyond a conservative safe set, so the
/// printed command can be pasted as is.
fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'+' | b':' | b'@'));
    if safe { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_paths_alone_and_quotes_the_rest() {
        assert_eq!(shell_quote("certs/ca.pem"), "certs/ca.pem");
        assert_eq!(shell_quote("/tmp/my certs/ca.pem"), "'/tmp/my certs/ca.pem'");
        assert_eq!(shell_quote("it's/ca.pem"), r"'it'\''s/ca.pem'");
    }

    #[tokio::test]
    async fn banner_lists_urls_users_clients_and_a_curl_line() -> anyhow::Result<()> {
        let lab =
            lab_harness::start(LabConfig { auto_approve: Some("alice".to_owned()), ..LabConfig::ephemeral() }).await?;
        let issuer = lab.issuer().to_owned();
        let resource = lab.resource().to_owned();
        let rs_port = lab.rs_addr().port();
        let twin_port = lab.twin_addr().port();
        let upstream_port = lab.upstream_addr().port();
        let text = banner(&lab);
        for expected in [
            format!("issuer         {issuer}\n"),
            format!("RFC 8414       {issuer}/.well-known/oauth-authorization-server\n"),
            format!("OIDC discovery {issuer}/.well-known/openid-configuration\n"),
            format!("JWKS           {issuer}/jwks\n"),
            format!("path issuer    {issuer}/tenant1"),
            format!("{issuer}/.well-known/oauth-authorization-server/tenant1\n"),
            "carol  password carol-pass   role admin".to_owned(),
            "alice  password alice-pass   role customer".to_owned(),
            "lab-public-client        public (none, PKCE S256)".to_owned(),
            "lab-confidential-client  confidential, secret lab-confidential-secret (client_secret_basic)".to_owned(),
            "auto-approve   on: /authorize approves at once as alice".to_owned(),
            "Lab CA:      in memory only".to_owned(),
            "Press Ctrl-C to stop.".to_owned(),
            "\nResource servers\n".to_owned(),
            format!("MCP endpoint   {resource} (the resource and the token audience)\n"),
            format!("PRM            https://127.0.0.1:{rs_port}/.well-known/oauth-protected-resource/mcp\n"),
            format!("twin           https://127.0.0.1:{twin_port}/mcp (same AS, another audience)\n"),
            format!("upstream API   https://127.0.0.1:{upstream_port} (track_shipment's carrier"),
            "verify         jwt: RFC 9068 JWTs checked locally against the AS's JWKS\n".to_owned(),
            "anonymous      off: every request needs a bearer token\n".to_owned(),
            "profile        conforming: follows the specs\n".to_owned(),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
        }
        // The introspection credentials of the resource servers are not for users.
        assert!(!text.contains("lab-rs"), "{text}");
        lab.shutdown().await;
        Ok(())
    }

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(label: &str) -> anyhow::Result<Self> {
            let path = std::env::temp_dir().join(format!("lab-cli-test-{label}-{}", std::process::id()));
            // A directory left over by a crashed run with the same pid is stale, never reused.
            if path.exists() {
                std::fs::remove_dir_all(&path)?;
            }
            Ok(Self(path))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            // Cleanup is best effort: a leftover directory in the temp dir harms nobody.
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn banner_prints_both_curl_lines_and_the_resource_server_settings() -> anyhow::Result<()> {
        let temp = TempDir::new("banner")?;
        let config = LabConfig {
            cert_dir: Some(temp.0.clone()),
            verify: lab_harness::VerifyMode::Introspection,
            anonymous_public: true,
            rs_profile: lab_mcp_server::RsProfile::NoRedaction,
            ..LabConfig::ephemeral()
        };
        let lab = lab_harness::start(config).await?;
        let text = banner(&lab);
        let ca = temp.0.join("ca.pem").display().to_string();
        let resource = lab.resource();
        for expected in [
            format!("  curl --cacert {} {}/.well-known/oauth-authorization-server\n", shell_quote(&ca), lab.issuer()),
            format!(
                "  curl -i --cacert {} -X POST {resource} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"0\"}}}}}}'\n",
                shell_quote(&ca)
            ),
            "with --anonymous-public, initialize answers 200 without a token".to_owned(),
            "verify         introspection: every token introspected at the AS".to_owned(),
            "anonymous      on: public tools answer without a token\n".to_owned(),
            "profile        no-redaction: returns card numbers, IDs, cost prices unmasked (weak)\n".to_owned(),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
        }
        lab.shutdown().await;
        Ok(())
    }

    #[test]
    fn initialize_curl_sends_a_well_formed_initialize() -> anyhow::Result<()> {
        let line = initialize_curl("certs/ca.pem", "https://127.0.0.1:8443/mcp");
        assert!(line.starts_with("curl -i --cacert certs/ca.pem -X POST https://127.0.0.1:8443/mcp "), "{line}");
        let (_, body) = line.split_once(" -d '").ok_or_else(|| anyhow::anyhow!("no body in {line}"))?;
        let body: serde_json::Value = serde_json::from_str(body.trim_end_matches('\''))?;
        assert_eq!(body["method"], "initialize");
        assert_eq!(body["params"]["protocolVersion"], lab_proto::jsonrpc::LATEST_PROTOCOL_VERSION);
        Ok(())
    }
}
