//! `mcp-authlab client`: the conforming client against any MCP server, printing the six steps as
//! they happen.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lab_client::{ClientConfig, ClientError, Confirm, Event, McpClient, PreRegistered};
use lab_proto::ClientSecret;
use lab_proto::registration::TokenEndpointAuthMethod;
use serde_json::{Value, json};

/// The authorities of the lab contract (design §2): the AS and the metadata-document host.
pub(crate) const LAB_AUTHORITIES: [&str; 4] = ["127.0.0.1:9443", "localhost:9443", "127.0.0.1:9446", "localhost:9446"];

/// The client ID metadata document URL the conformance suite's servers expect.
const CONFORMANCE_METADATA_DOCUMENT: &str = "https://conformance-test.local/client-metadata.json";

/// The arguments of `client`.
#[derive(Debug, clap::Args)]
pub(crate) struct ClientArgs {
    /// The MCP server URL (for the lab: https://127.0.0.1:8443/mcp).
    pub(crate) url: String,
    /// The CA to trust, and only it (for the lab: certs/ca.pem). Without it, the system's roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// The tool to call after connecting; without it the tools are listed.
    #[arg(long, value_name = "NAME")]
    pub(crate) tool: Option<String>,
    /// The tool's arguments, a JSON object.
    #[arg(long = "args", value_name = "JSON", default_value = "{}", value_parser = parse_json_object)]
    pub(crate) arguments: Value,
    /// Sent as `login_hint`: the lab's headless mode signs in as this user.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// A pre-registered client id (skips registration at that client's AS, `--client-issuer`).
    #[arg(long, value_name = "ID", requires = "client_issuer")]
    pub(crate) client_id: Option<String>,
    /// The issuer of the AS the pre-registered client belongs to: its id and secret go to that AS
    /// only, never to another one a server's metadata names (CL-12, SEP-2352).
    #[arg(long, value_name = "ISSUER", value_parser = parse_issuer, requires = "client_id")]
    pub(crate) client_issuer: Option<String>,
    /// The pre-registered client's secret.
    #[arg(long, value_name = "SECRET", requires = "client_id")]
    pub(crate) client_secret: Option<String>,
    /// How the pre-registered client authenticates: none, client_secret_basic or client_secret_post.
    #[arg(long, value_name = "METHOD", value_parser = parse_auth_method, requires = "client_id")]
    pub(crate) auth_method: Option<TokenEndpointAuthMethod>,
    /// The client's metadata document URL, used when the AS supports client ID metadata documents.
    #[arg(long, value_name = "URL")]
    pub(crate) metadata_document: Option<String>,
    /// The scope to ask for, instead of the challenge's or the metadata's.
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// The MCP revision to speak first: `2026-07-28` (the default: stateless, falling back to
    /// 2025-11-25 at a server that does not speak it) or `2025-11-25` (`initialize` and a session).
    #[arg(long, value_name = "REVISION", value_parser = parse_client_revision)]
    pub(crate) revision: Option<bool>,
    /// Confirm what the server asks the user to confirm (a yes/no elicitation of a 2026-07-28
    /// input-required result); without it, the client declines.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Also allow this loopback or private `host:port` (or `host:*`), e.g. an AS on another port.
    #[arg(long = "allow-host", value_name = "HOST:PORT")]
    pub(crate) allow_hosts: Vec<String>,
    /// Seconds to wait for the browser to return to the loopback listener.
    #[arg(long, default_value_t = 300)]
    pub(crate) login_timeout: u64,
    /// Print a machine-readable summary instead of the steps.
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_json_object(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err("expected a JSON object, e.g. '{\"order_id\":\"A-1001\"}'".to_owned()),
        Err(error) => Err(format!("expected a JSON object: {error}")),
    }
}

/// Whether `text` is an issuer identifier: an https URL without query or fragment (RFC 8414 §2).
pub(crate) fn is_issuer(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| url.scheme() == "https" && url.query().is_none() && url.fragment().is_none())
}

/// `--client-issuer`'s value: an issuer identifier.
fn parse_issuer(text: &str) -> Result<String, String> {
    if is_issuer(text) {
        Ok(text.to_owned())
    } else {
        Err("expected an issuer: an https URL without query or fragment".to_owned())
    }
}

fn parse_auth_method(text: &str) -> Result<TokenEndpointAuthMethod, String> {
    TokenEndpointAuthMethod::parse(text)
        .ok_or_else(|| "expected none, client_secret_basic or client_secret_post".to_owned())
}

/// The conformance suite passes the scenario and its context in the environment
/// (`MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_CONTEXT`); its servers are plain http on
/// localhost, which the client then allows.
fn apply_conformance_environment(config: &mut ClientConfig) -> anyhow::Result<bool> {
    let Ok(scenario) = std::env::var("MCP_CONFORMANCE_SCENARIO") else { return Ok(false) };
    config.policy.allowed_authorities.extend(["localhost:*".to_owned(), "127.0.0.1:*".to_owned()]);
    // The revision the suite runs the scenario at: its wire, 2026-07-28's or the earlier one's.
    if let Ok(version) = std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION") {
        config.modern = version == "2026-07-28";
    }
    if let Ok(context) = std::env::var("MCP_CONFORMANCE_CONTEXT") {
        let context: Value = serde_json::from_str(&context).context("MCP_CONFORMANCE_CONTEXT is not JSON")?;
        if let Some(client_id) = context["client_id"].as_str() {
            let client_secret = context["client_secret"].as_str().map(ClientSecret::new);
            let auth_method = match context["token_endpoint_auth_method"].as_str() {
                Some(method) => {
                    TokenEndpointAuthMethod::parse(method).unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic)
                }
                None if client_secret.is_some() => TokenEndpointAuthMethod::ClientSecretBasic,
                None => TokenEndpointAuthMethod::None,
            };
            config.pre_registered =
                Some(PreRegistered { issuer: None, client_id: client_id.to_owned(), client_secret, auth_method });
        }
    }
    // The suite's servers expect the client ID metadata document URL its own test clients are
    // configured with; the suite never fetches it.
    if config.metadata_document.is_none() {
        config.metadata_document = Some(CONFORMANCE_METADATA_DOCUMENT.to_owned());
    }
    // The suite stands in for the user: its elicitation scenarios ask the client to accept (with
    // the defaults of the fields it leaves out, SEP-1034).
    config.confirm = Confirm::Yes;
    eprintln!("conformance scenario {scenario}");
    Ok(true)
}

fn print_event(event: &Event) {
    let mut out = std::io::stdout().lock();
    let _ = match event {
        Event::Step { number, title } => writeln!(out, "\n[{number}] {title}"),
        Event::Exchange { method, url, status } => match status {
            Some(status) => writeln!(out, "    {method} {url} -> {status}"),
            None => writeln!(out, "    {method} {url} -> no answer"),
        },
        Event::Checked { key, detail } => writeln!(out, "    ok {key}: {detail}"),
        Event::Note(text) => writeln!(out, "    note: {text}"),
        Event::OpenInBrowser(url) => {
            writeln!(
                out,
                "\n    Open this URL in a browser to sign in (the client opens nothing by itself):\n\n    {url}\n"
            )
        }
    };
}

pub(crate) async fn run(args: ClientArgs) -> anyhow::Result<std::process::ExitCode> {
    // The lab's own loopback hosts are allowed by default, so `client` works against `lab up`
    // without flags; any other loopback or private host needs `--allow-host` (CL-07).
    let lab_hosts = LAB_AUTHORITIES.iter().map(|authority| (*authority).to_owned());
    // `check-client` passes the lab it started through the environment.
    let env_hosts: Vec<String> = std::env::var("MCP_AUTHLAB_ALLOW_HOSTS")
        .map(|hosts| hosts.split(',').filter(|host| !host.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut config =
        ClientConfig::new(args.url.clone()).allow(lab_hosts).allow(env_hosts).allow(args.allow_hosts.clone());
    let ca = args.ca.clone().or_else(|| std::env::var_os("MCP_AUTHLAB_CA").map(PathBuf::from));
    if let Some(path) = &ca {
        config.ca_pem =
            Some(std::fs::read(path).with_context(|| format!("failed to read the CA file {}", path.display()))?);
    }
    if let Some(client_id) = &args.client_id {
        let client_secret = args.client_secret.clone().map(ClientSecret::new);
        let auth_method = args.auth_method.unwrap_or(if client_secret.is_some() {
            TokenEndpointAuthMethod::ClientSecretBasic
        } else {
            TokenEndpointAuthMethod::None
        });
        config.pre_registered = Some(PreRegistered {
            issuer: args.client_issuer.clone(),
            client_id: client_id.clone(),
            client_secret,
            auth_method,
        });
    }
    config.login_hint = args.user.clone();
    config.scope = args.scope.clone();
    config.modern = args.revision.unwrap_or(true);
    config.confirm = confirmation(args.yes);
    config.callback_timeout = Duration::from_secs(args.login_timeout);
    config.metadata_document = args.metadata_document.clone();
    let conformance = apply_conformance_environment(&mut config)?;
    if !args.json {
        config.events = Some(Arc::new(print_event));
    }
    let mut client = McpClient::new(config).map_err(|error| anyhow::format_err!("{error}"))?;
    let outcome = drive(&mut client, &args, conformance).await;
    if args.json {
        let summary = json!({
            "ok": outcome.is_ok(),
            "error": outcome.as_ref().err().map(ToString::to_string),
            "refused_by": outcome.as_ref().err().and_then(ClientError::check),
            "resource": client.discovered().map(|discovered| discovered.resource.clone()),
            "issuer": client.discovered().map(|discovered| discovered.issuer.clone()),
            "registration": client.credentials().map(|credentials| credentials.how),
            "client_id": client.credentials().map(|credentials| credentials.client_id.clone()),
            "granted_scope": client.granted_scope(),
            "protocol_version": client.protocol_version(),
            "result": outcome.as_ref().ok(),
            "trace": client.trace(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        match &outcome {
            Ok(result) => println!("\nResult:\n{}", serde_json::to_string_pretty(result)?),
            Err(error) => println!("\nStopped: {error}"),
        }
    }
    Ok(if outcome.is_ok() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

async fn drive(client: &mut McpClient, args: &ClientArgs, conformance: bool) -> Result<Value, ClientError> {
    client.connect().await?;
    match &args.tool {
        Some(tool) => client.call_tool(tool, args.arguments.clone()).await,
        None if conformance => {
            // The suite's servers watch what an ordinary client does after connecting: list the
            // tools and call the first one (the auth scenarios), or each of them, with arguments
            // its input schema asks for (the protocol scenarios of 2026-07-28, whose servers watch
            // the calls themselves: their headers, their retries).
            let tools = client.list_tools().await?;
            // A scenario that says which calls to make (`toolCalls` in its context) gets exactly
            // those, with its arguments.
            let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
                .ok()
                .and_then(|context| serde_json::from_str(&context).ok())
                .unwrap_or(Value::Null);
            if let Some(calls) = context["toolCalls"].as_array() {
                let mut last = Ok(tools.clone());
                for call in calls.iter().take(20) {
                    let Some(name) = call["name"].as_str() else { continue };
                    last = client.call_tool(name, call.get("arguments").cloned().unwrap_or_else(|| json!({}))).await;
                }
                return last;
            }
            let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
            let every = !scenario.starts_with("auth/");
            let listed: Vec<Value> = tools["tools"].as_array().cloned().unwrap_or_default();
            let mut last = Ok(tools.clone());
            for tool in listed.iter().take(if every { 10 } else { 1 }) {
                let Some(name) = tool["name"].as_str() else { continue };
                let arguments = if every { arguments_for(&tool["inputSchema"]) } else { json!({}) };
                last = client.call_tool(name, arguments).await;
                if !every {
                    return last;
                }
            }
            last
        }
        None => client.list_tools().await,
    }
}

/// `--revision`: the one revision the client can be asked to speak first.
fn parse_client_revision(value: &str) -> Result<bool, String> {
    match value {
        "2026-07-28" => Ok(true),
        "2025-11-25" => Ok(false),
        other => Err(format!("expected 2026-07-28 or 2025-11-25, got {other:?}")),
    }
}

/// Arguments an input schema asks for: each required property, with the value its schema
/// suggests (`default`, the first of `examples`, `const`, the first of `enum`) or else a plain
/// value of its type.
fn arguments_for(schema: &Value) -> Value {
    let mut arguments = serde_json::Map::new();
    let properties = schema["properties"].as_object().cloned().unwrap_or_default();
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, property) in &properties {
        if !required.contains(&name.as_str()) {
            continue;
        }
        let suggested = property
            .get("default")
            .or_else(|| property["examples"].get(0))
            .or_else(|| property.get("const"))
            .or_else(|| property["enum"].get(0))
            .cloned();
        let value = suggested.unwrap_or_else(|| match property["type"].as_str() {
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(false),
            Some("object") => json!({}),
            Some("array") => json!([]),
            _ => json!("test"),
        });
        arguments.insert(name.clone(), value);
    }
    Value::Object(arguments)
}

/// What the client answers a server's request for the user's confirmation: yes with `--yes`;
/// at a terminal, the person's answer to a prompt on stderr; otherwise no (nobody is there).
fn confirmation(yes: bool) -> Confirm {
    use std::io::IsTerminal as _;
    if yes {
        Confirm::Yes
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Confirm::Ask(Arc::new(|message: &str| {
            // One question at a time: the flow and the session's own stream may both ask, and
            // an answer must never go to the other question.
            static PROMPT: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one = PROMPT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            eprint!("The server asks you to confirm: {message}\nConfirm? [y/N] ");
            std::io::stderr().flush().ok();
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).is_ok() && is_yes(&line)
        }))
    } else {
        Confirm::Decline
    }
}

/// Whether a person's answer to a yes/no prompt is yes (`y` or `yes`, any case); anything else,
/// an empty line included, is no.
fn is_yes(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y\n", "Y", " yes \n", "YES"] {
            assert!(super::is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yess", "y es", "sure"] {
            assert!(!super::is_yes(no), "{no:?}");
        }
    }
}
