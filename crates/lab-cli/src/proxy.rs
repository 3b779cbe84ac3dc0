//! `mcp-authlab proxy`: opens a protected MCP server to tools that cannot send a bearer token
//! (the official conformance suite, the MCP Inspector without its OAuth, any plain MCP tool).
//!
//! The conforming client runs the authorization flow once, against whatever AS the target
//! names, exactly as `mcp-authlab client` does; the proxy then listens on a loopback port with
//! plain HTTP and forwards every request to the target with the access token added, refreshing
//! it once on a 401. Answers stream through as they come (SSE included), and `Origin` and the
//! MCP headers pass through untouched, so the target still judges where a request comes from.
//! The token never appears in its output: requests are logged by method and status only. It
//! answers only requests that name it by its own loopback address (`Host`), so a DNS-rebinding
//! page cannot borrow the token; every request goes to the target URL itself, whatever path the
//! caller asked for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Args;
use futures_util::StreamExt as _;
use lab_client::{ClientConfig, McpClient};

/// The largest request the proxy forwards.
const MAX_REQUEST_BYTES: usize = 4 << 20;
/// How long the proxy waits for the target to connect, and then for each read of its answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers that belong to one hop (RFC 9110 §7.6.1), which a proxy never forwards, and those the
/// proxy sets itself (`Host` from the target's URL, `Authorization`, the body's length).
const NOT_FORWARDED: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
];

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The protected MCP server's URL (for the lab: https://127.0.0.1:8443/mcp).
    #[arg(long, value_name = "URL")]
    pub(crate) target: String,
    /// The loopback port to listen on; 0 lets the system pick one (printed).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub(crate) port: u16,
    /// The CA to trust for the target and its AS, and only it. Without it, the system's roots.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// Sent as `login_hint`: the lab's headless mode signs in as this user.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// The scope to ask for, instead of the challenge's or the metadata's.
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// Also allow this loopback or private `host:port` (or `host:*`), e.g. an AS on another port.
    #[arg(long = "allow-host", value_name = "HOST:PORT")]
    pub(crate) allow_hosts: Vec<String>,
    /// Seconds to wait for the browser to return to the loopback listener.
    #[arg(long, default_value_t = 300)]
    pub(crate) login_timeout: u64,
}

struct Proxy {
    /// The `Host` values the proxy answers to: its own loopback address, so that a DNS-rebinding
    /// page (whose requests name its own host) cannot borrow the token it adds.
    hosts: Vec<String>,
    target: String,
    http: reqwest::Client,
    client: tokio::sync::Mutex<McpClient>,
    /// The current `Authorization` value; replaced after a refresh.
    authorization: tokio::sync::RwLock<String>,
}

pub(crate) async fn run(args: ProxyArgs) -> anyhow::Result<std::process::ExitCode> {
    let target = url::Url::parse(&args.target)
        .ok()
        .filter(|url| matches!(url.scheme(), "https" | "http") && url.host_str().is_some())
        .with_context(|| format!("--target expects the MCP server's absolute URL, got {:?}", args.target))?;
    let lab_hosts = crate::client::LAB_AUTHORITIES.iter().map(|authority| (*authority).to_owned());
    let mut config = ClientConfig::new(target.to_string()).allow(lab_hosts).allow(args.allow_hosts.clone());
    let ca_pem = match &args.ca {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("failed to read the CA file {}", path.display()))?)
        }
        None => None,
    };
    config.ca_pem = ca_pem.clone();
    config.login_hint = args.user.clone();
    config.scope = args.scope.clone();
    config.callback_timeout = Duration::from_secs(args.login_timeout);
    // The proxy speaks for other clients: what the server asks on its own stream is theirs.
    config.listen = false;
    let mut client = McpClient::new(config).map_err(|error| anyhow::format_err!("{error}"))?;
    eprintln!("mcp-authlab proxy: authorizing at {target}'s authorization server...");
    client.connect().await.map_err(|error| anyhow::format_err!("the authorization flow failed: {error}"))?;
    let authorization = client.authorization().context("the authorization flow ended without an access token")?;

    let mut http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT);
    if let Some(pem) = &ca_pem {
        let certificate = reqwest::Certificate::from_pem(pem).context("the CA file holds no PEM certificate")?;
        http = http.tls_certs_only([certificate]);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("failed to listen on 127.0.0.1:{}", args.port))?;
    let address = listener.local_addr()?;
    let port = address.port();
    let proxy = Arc::new(Proxy {
        hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        target: target.to_string(),
        http: http.build().context("failed to build the HTTP client")?,
        client: tokio::sync::Mutex::new(client),
        authorization: tokio::sync::RwLock::new(authorization),
    });
    let path = target.path();
    println!("mcp-authlab proxy: http://{address}{path} forwards to {target} with a bearer token (Ctrl-C stops)");
    use std::io::Write as _;
    std::io::stdout().flush().ok();
    let router =
        axum::Router::new().fallback(forward).layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES)).with_state(proxy);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            // Ctrl-C, SIGTERM, or (for `cargo xtask conformance`) the parent's end of stdin.
            let _ = crate::up::wait_for_stop_signal().await;
        })
        .await
        .context("the proxy stopped")?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Forwards one request with the token, refreshing it once on a 401 (the body is buffered, so it
/// can be sent again), and streams the answer back.
async fn forward(State(proxy): State<Arc<Proxy>>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let host = headers.get(axum::http::header::HOST).and_then(|host| host.to_str().ok()).unwrap_or_default();
    if !proxy.hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) {
        eprintln!("{method} -> 421: a Host that is not the proxy's own");
        return (StatusCode::MISDIRECTED_REQUEST, "this proxy answers only to its own loopback address\n")
            .into_response();
    }
    let sent = proxy.authorization.read().await.clone();
    let mut answer = send(&proxy, &method, &headers, &body, &sent).await;
    if answer.as_ref().is_ok_and(|answer| answer.status() == StatusCode::UNAUTHORIZED) {
        let mut client = proxy.client.lock().await;
        // Another request may have refreshed already while this one waited.
        let current = proxy.authorization.read().await.clone();
        let renewed = if current == sent {
            match client.refresh().await {
                Ok(true) => client.authorization(),
                _ => None,
            }
        } else {
            Some(current)
        };
        if let Some(renewed) = renewed {
            *proxy.authorization.write().await = renewed.clone();
            drop(client);
            answer = send(&proxy, &method, &headers, &body, &renewed).await;
        }
    }
    match answer {
        Ok(answer) => {
            eprintln!("{method} -> {}", answer.status().as_u16());
            relay(answer)
        }
        Err(error) => {
            eprintln!("{method} -> the target did not answer: {error}");
            (StatusCode::BAD_GATEWAY, format!("the target did not answer: {error}\n")).into_response()
        }
    }
}

async fn send(
    proxy: &Proxy,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    authorization: &str,
) -> Result<reqwest::Response, String> {
    let mut request = proxy.http.request(method.clone(), &proxy.target);
    for (name, value) in headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    request
        .header(reqwest::header::AUTHORIZATION, authorization)
        .body(body.clone())
        .send()
        .await
        .map_err(|error| describe(&error))
}

/// What went wrong, in words, without the URL's query or any header.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the connection failed".to_owned()
    }
}

/// The target's answer as the proxy's: its status and end-to-end headers, and its body as it
/// streams in.
fn relay(answer: reqwest::Response) -> Response {
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            headers.append(HeaderName::from(name), value.clone());
        }
    }
    let stream = answer.bytes_stream().map(|chunk| chunk.map_err(std::io::Error::other));
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
