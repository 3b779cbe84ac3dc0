//! `mcp-authlab up`: starts the lab on the canonical ports, prints what to point clients at, and
//! runs until Ctrl-C.

use std::fmt::Write as _;

use anyhow::Context;
use lab_harness::{LabConfig, RunningLab};
use lab_proto::metadata::authorization_server_metadata_urls;

use crate::UpArgs;

pub(crate) async fn run(args: UpArgs) -> anyhow::Result<()> {
    let config = LabConfig {
        as_port: args.as_port,
        cert_dir: Some(args.certs),
        profile: args.profile,
        signing_alg: args.signing_alg,
        auto_approve: args.auto_approve,
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

/// Waits for Ctrl-C, or for SIGTERM on unix (what `kill` and process managers send).
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("failed to listen for Ctrl-C"),
            _ = terminate.recv() => Ok(()),
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
        let _ = writeln!(out, "  curl --cacert {} {rfc_8414}", shell_quote(path));
    }
    let _ = writeln!(out, "\nPress Ctrl-C to stop.");
    out
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
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
        }
        // The introspection credentials of the resource servers are not for users.
        assert!(!text.contains("lab-rs"), "{text}");
        lab.shutdown().await;
        Ok(())
    }
}
