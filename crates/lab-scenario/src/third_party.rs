//! What the runner needs to test an authorization server it did not start: its endpoints, read
//! from its metadata (RFC 8414), and a headless sign-in at its own login and consent pages.
//!
//! The sign-in is deliberately generic: it follows redirects inside the AS, fills the one form of
//! each page (the user name, the password, hidden fields such as a CSRF token) and presses the
//! affirmative button, until the AS redirects to the runner's redirect URI. It is what a user does
//! in a browser, without JavaScript, so it works with the lab's own page and with the plain HTML
//! login pages most authorization servers serve.

use std::time::Duration;

use lab_proto::metadata::{AuthorizationServerMetadata, authorization_server_metadata_urls};

/// The largest metadata document or login page the runner reads.
pub(crate) const MAX_PAGE_BYTES: usize = 1 << 20;

/// How many pages and redirects a sign-in may take before the runner gives up.
pub(crate) const MAX_SIGN_IN_HOPS: usize = 12;

/// The account a headless sign-in uses at a third-party AS. The password is a
/// [`lab_proto::Password`], whose `Debug` is redacted.
#[derive(Clone, Debug)]
pub struct Login {
    /// The user name typed into the login form.
    pub user: String,
    password: lab_proto::Password,
}

impl Login {
    /// A login as `user` with `password` (read from the environment, never from a flag, so it
    /// stays out of shell histories and process lists).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self { user: user.into(), password: lab_proto::Password::new(password) }
    }

    pub(crate) fn password(&self) -> &str {
        self.password.secret()
    }
}

/// A confidential client pre-registered at a third-party AS (`client_secret_basic`): it stands in
/// for the lab's `lab-confidential-client`. The secret is a [`lab_proto::ClientSecret`], whose
/// `Debug` is redacted.
#[derive(Clone, Debug)]
pub struct ConfidentialClient {
    pub id: String,
    secret: lab_proto::ClientSecret,
}

impl ConfidentialClient {
    /// The client `id` with `secret` (read from the environment, never from a flag).
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { id: id.into(), secret: lab_proto::ClientSecret::new(secret) }
    }

    pub(crate) fn secret(&self) -> &str {
        self.secret.secret()
    }
}

/// Whether `url` answers 200 with a JSON body, such as an optional OpenID configuration.
pub async fn serves_json(url: &str, ca_pems: &[Vec<u8>]) -> bool {
    let Ok(http) = client(ca_pems) else { return false };
    match http.get(url).send().await {
        Ok(response) if response.status().is_success() => {
            lab_mcp_server::verify::read_bounded(response, MAX_PAGE_BYTES)
                .await
                .is_ok_and(|body| serde_json::from_slice::<serde_json::Value>(&body).is_ok())
        }
        _ => false,
    }
}

/// A client for a third-party AS: no redirects, no proxy, bounded in time, trusting the
/// platform's roots and `ca_pems` (a third-party AS may have a public certificate).
fn client(ca_pems: &[Vec<u8>]) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .tls_certs_merge(ca_pems.iter().filter_map(|pem| reqwest::Certificate::from_pem(pem).ok()))
        .build()
        .map_err(|error| error.to_string())
}

/// Fetches the RFC 8414 metadata of `issuer` from the well-known URLs MCP-1125 §AS Metadata
/// Discovery names, in order, and checks that it names the same issuer (RFC 8414 §3.3).
/// `ca_pems` are trusted besides the platform's roots.
pub async fn discover(issuer: &str, ca_pems: &[Vec<u8>]) -> Result<AuthorizationServerMetadata, String> {
    let http = client(ca_pems)?;
    let mut tried = Vec::new();
    for url in authorization_server_metadata_urls(issuer) {
        let outcome = match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                lab_mcp_server::verify::read_bounded(response, MAX_PAGE_BYTES).await.and_then(|body| {
                    serde_json::from_slice::<AuthorizationServerMetadata>(&body).map_err(|error| error.to_string())
                })
            }
            Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
            Err(error) => Err(crate::wire::describe_http_error(&error)),
        };
        match outcome {
            Ok(metadata) if metadata.issuer == issuer => return Ok(metadata),
            Ok(metadata) => {
                return Err(format!(
                    "{url} names the issuer {:?}, not {issuer:?} (RFC 8414 §3.3 requires them to be identical)",
                    metadata.issuer
                ));
            }
            Err(error) => tried.push(format!("{url}: {error}")),
        }
    }
    Err(format!("no authorization server metadata for {issuer} ({})", tried.join("; ")))
}

/// Which of the lab's pre-registered confidential clients a third-party AS knows, asked once
/// before the run (`lab-rs` and `lab-rs-twin` at its introspection endpoint, and
/// `lab-confidential-client` at its token endpoint, each with the lab's documented secret). A
/// scenario that authenticates as a client the AS does not know would only measure that the AS
/// refuses a stranger: it is not applicable there, with that reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabClients {
    /// `lab-rs`, the RS's introspection client.
    pub rs: bool,
    /// `lab-rs-twin`, the twin RS's introspection client.
    pub rs_twin: bool,
    /// `lab-confidential-client`.
    pub confidential: bool,
}

impl LabClients {
    /// The lab's own AS knows them all.
    pub const ALL: Self = Self { rs: true, rs_twin: true, confidential: true };
}

/// Asks a third-party AS whether it knows the lab's confidential clients (see [`LabClients`]).
/// A client counts as known when its authenticated request is answered as a known client's is:
/// an introspection with 200 (RFC 7662 §2.2: an unknown token is `active: false`), a
/// client-credentials request with 200 or a 400 that refuses the grant, scope or resource of an
/// authenticated client (`unauthorized_client`, `invalid_scope`, RFC 6749 §5.2; `invalid_target`,
/// RFC 8707 §2.2, for an AS that requires a resource the probe does not name), and the same
/// request with a wrong secret answered otherwise (an endpoint that answers every caller alike
/// knows nobody). Anything else, a `429` or an unreachable endpoint included, counts as not
/// known: a scenario then does not apply, which is never a false alarm. Nothing is used: the
/// introspected token is a made-up string, and a token the AS may issue is dropped.
pub async fn probe_lab_clients(metadata: &AuthorizationServerMetadata, ca_pems: &[Vec<u8>]) -> LabClients {
    use lab_auth_server::config::lab;
    let Ok(http) = client(ca_pems) else { return LabClients::default() };
    let accepted = |endpoint: Option<String>,
                    id: &'static str,
                    secret: &'static str,
                    form: Vec<(&'static str, &'static str)>,
                    accepts_400: bool| {
        let http = http.clone();
        async move {
            let Some(endpoint) = endpoint else { return false };
            let request = http
                .post(endpoint)
                .header(reqwest::header::AUTHORIZATION, lab_proto::basic::authorization(id, secret))
                .form(&form);
            let Ok(response) = request.send().await else { return false };
            let status = response.status().as_u16();
            let body = lab_mcp_server::verify::read_bounded(response, MAX_PAGE_BYTES).await.unwrap_or_default();
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|json| json.get("error").and_then(|error| error.as_str()).map(str::to_owned));
            // Only a refusal that names something past the client's authentication counts: an
            // `invalid_request` may mean the AS never read the Basic credentials (the TypeScript
            // SDK's AS takes `client_id` from the body alone), so it says nothing of the client.
            status == 200
                || (status == 400
                    && accepts_400
                    && matches!(error.as_deref(), Some("unauthorized_client" | "invalid_scope" | "invalid_target")))
        }
    };
    let known = |endpoint: Option<String>,
                 id: &'static str,
                 secret: &'static str,
                 form: Vec<(&'static str, &'static str)>,
                 accepts_400: bool| {
        let accepted = &accepted;
        async move {
            accepted(endpoint.clone(), id, secret, form.clone(), accepts_400).await
                && !accepted(endpoint, id, "mcp-authlab-probe-wrong-secret", form, accepts_400).await
        }
    };
    let introspection = metadata.introspection_endpoint.clone();
    let probe = vec![("token", "mcp-authlab-probe-not-a-token")];
    LabClients {
        rs: known(introspection.clone(), lab::RS_CLIENT_ID, lab::RS_CLIENT_SECRET, probe.clone(), false).await,
        rs_twin: known(introspection, lab::TWIN_RS_CLIENT_ID, lab::TWIN_RS_CLIENT_SECRET, probe, false).await,
        confidential: known(
            metadata.token_endpoint.clone(),
            lab::CONFIDENTIAL_CLIENT_ID,
            lab::CONFIDENTIAL_CLIENT_SECRET,
            vec![("grant_type", "client_credentials")],
            true,
        )
        .await,
    }
}

/// Checks that `url` can name an MCP endpoint: an absolute http(s) URL with a host.
pub fn check_mcp_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url)
        .map_err(|error| format!("--rs-url expects the MCP endpoint's absolute URL, got {url:?}: {error}"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(format!("--rs-url expects the MCP endpoint's absolute URL (https), got {url:?}"));
    }
    Ok(())
}

/// Checks, before any scenario runs, that `url` is an MCP endpoint this run can use: an absolute
/// http(s) URL that answers, and answers like an MCP server does to a request without a token (a
/// 401 with a `Bearer` challenge, MCP-1125 §Authorization Flow Steps, or a JSON-RPC answer). The
/// error is one line a person can act on.
pub async fn probe_mcp_endpoint(url: &str, ca_pems: &[Vec<u8>]) -> Result<(), String> {
    check_mcp_url(url)?;
    let http = client(ca_pems)?;
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mcp-authlab probe", "version": "0"}}
    });
    let response =
        http.post(url).header("accept", "application/json, text/event-stream").json(&initialize).send().await.map_err(
            |error| format!("could not reach the MCP server at {url}: {}", crate::wire::describe_http_error(&error)),
        )?;
    let status = response.status().as_u16();
    let challenged = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.trim_start().get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer")));
    let body = lab_mcp_server::verify::read_bounded(response, MAX_PAGE_BYTES).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let json_rpc = text.contains("\"jsonrpc\"");
    if (status == 401 && challenged) || json_rpc {
        return Ok(());
    }
    Err(format!(
        "{url} does not answer like an MCP endpoint: a request without a token got HTTP {status}{}, not a 401 with a Bearer challenge or a JSON-RPC answer (is it the MCP endpoint's full URL?)",
        if challenged { " with a Bearer challenge" } else { "" }
    ))
}

/// A form to submit: where, how, and the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    pub(crate) action: String,
    pub(crate) method: String,
    pub(crate) fields: Vec<(String, String)>,
}

/// Words of a button that approves, signs in or goes on; a button with one of the refusing words
/// is never pressed.
const AFFIRMATIVE: [&str; 13] = [
    "approve",
    "allow",
    "accept",
    "authorize",
    "authorise",
    "consent",
    "continue",
    "sign in",
    "log in",
    "login",
    "signin",
    "grant",
    "yes",
];
const REFUSING: [&str; 5] = ["deny", "cancel", "reject", "decline", "no"];

/// The form of a login or consent page, filled in as `login`, with the affirmative button
/// pressed; `None` when the page has no form that signs in or approves.
pub(crate) fn sign_in_form(html: &str, page_url: &url::Url, login: &Login) -> Result<Option<Form>, String> {
    let dom = tl::parse(html, tl::ParserOptions::default()).map_err(|error| format!("unreadable page: {error}"))?;
    let parser = dom.parser();
    let Some(forms) = dom.query_selector("form") else { return Ok(None) };
    for handle in forms {
        let Some(form) = handle.get(parser).and_then(tl::Node::as_tag) else { continue };
        let attribute = |tag: &tl::HTMLTag<'_>, name: &str| {
            tag.attributes().get(name).flatten().map(|value| decode_entities(&value.as_utf8_str()))
        };
        let mut fields = Vec::new();
        let mut has_password = false;
        let mut user_filled = false;
        let mut button: Option<(Option<String>, Option<String>)> = None;
        let mut fallback_allowed = true;
        // Every descendant, in document order: the controls are the `input`s and `button`s.
        for node in form.children().all(parser) {
            let Some(tag) = node.as_tag() else { continue };
            let element = tag.name().as_utf8_str().to_ascii_lowercase();
            if element != "input" && element != "button" {
                continue;
            }
            let kind = attribute(tag, "type").unwrap_or_default().to_ascii_lowercase();
            let name = attribute(tag, "name");
            let value = attribute(tag, "value");
            let is_button = element == "button";
            if is_button || kind == "submit" || kind == "image" {
                if is_button && (kind == "button" || kind == "reset") {
                    continue;
                }
                let label = format!("{} {}", value.clone().unwrap_or_default(), tag.inner_text(parser)).to_lowercase();
                let words: Vec<&str> = label.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
                let joined = words.join(" ");
                if REFUSING.iter().any(|word| words.contains(word)) {
                    fallback_allowed = false;
                    continue;
                }
                if button.is_none() && AFFIRMATIVE.iter().any(|word| joined.contains(word)) {
                    button = Some((name, value));
                }
                continue;
            }
            let Some(name) = name else { continue };
            match kind.as_str() {
                "password" => {
                    has_password = true;
                    fields.push((name, login.password().to_owned()));
                }
                "hidden" => fields.push((name, value.unwrap_or_default())),
                "checkbox" | "radio" => {
                    if tag.attributes().contains("checked") {
                        fields.push((name, value.unwrap_or_else(|| "on".to_owned())));
                    }
                }
                "" | "text" | "email" => {
                    if !user_filled {
                        user_filled = true;
                        fields.push((name, login.user.clone()));
                    } else {
                        fields.push((name, value.unwrap_or_default()));
                    }
                }
                _ => fields.push((name, value.unwrap_or_default())),
            }
        }
        // A form is pressed through its affirmative button; a login form with a password but no
        // recognisable button is sent as pressing Enter would, unless it offers only refusals.
        let send = match &button {
            Some((name, value)) => {
                if let Some(name) = name {
                    fields.push((name.clone(), value.clone().unwrap_or_default()));
                }
                true
            }
            None => has_password && fallback_allowed,
        };
        if !send {
            continue;
        }
        let action = attribute(form, "action").unwrap_or_default();
        let action = page_url.join(&action).map_err(|error| format!("the form's action {action:?}: {error}"))?;
        let method = attribute(form, "method").unwrap_or_else(|| "get".to_owned()).to_ascii_uppercase();
        return Ok(Some(Form { action: action.to_string(), method, fields }));
    }
    Ok(None)
}

/// The character references attribute values carry in practice.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    [("&quot;", "\""), ("&#39;", "'"), ("&#x27;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&#x2F;", "/"), ("&#47;", "/")]
        .iter()
        .fold(text.to_owned(), |text, (entity, character)| text.replace(entity, character))
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let client = format!("{:?}", ConfidentialClient::new("my-client", "s3cret-value"));
        assert!(client.contains("my-client") && !client.contains("s3cret"), "{client}");
    }

    /// An AS on loopback that answers every request with `status` and `body`, one connection at
    /// a time; its endpoints are the metadata's.
    async fn answering(status: &'static str, body: &'static str) -> AuthorizationServerMetadata {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        AuthorizationServerMetadata {
            issuer: base.clone(),
            token_endpoint: Some(format!("{base}/token")),
            introspection_endpoint: Some(format!("{base}/introspect")),
            ..AuthorizationServerMetadata::default()
        }
    }

    #[tokio::test]
    async fn a_lab_client_counts_as_known_only_where_the_as_answers_it_as_a_known_client() {
        // An AS that never reads the Basic credentials (a 400 invalid_request), refuses the
        // client, or fails: none of the lab's clients counts as known.
        for (status, body) in [
            ("400 Bad Request", r#"{"error":"invalid_request"}"#),
            ("401 Unauthorized", r#"{"error":"invalid_client"}"#),
            ("400 Bad Request", r#"{"error":"invalid_client"}"#),
            ("500 Internal Server Error", "{}"),
        ] {
            let metadata = answering(status, body).await;
            assert_eq!(probe_lab_clients(&metadata, &[]).await, LabClients::default(), "{status} {body}");
        }
        // An endpoint that answers every caller alike, the right secret or a wrong one, knows
        // nobody: an introspection answered 200 for anyone, a grant refused before the client.
        for (status, body) in [("200 OK", r#"{"active":false}"#), ("400 Bad Request", r#"{"error":"invalid_target"}"#)]
        {
            let metadata = answering(status, body).await;
            assert_eq!(probe_lab_clients(&metadata, &[]).await, LabClients::default(), "{status} {body}");
        }
    }

    #[test]
    fn the_lab_as_knows_its_own_clients() {
        // The lab's AS answers the right secret as a known client and a wrong one with 401: the
        // probe finds all three (run against the lab on loopback).
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let known = runtime.block_on(async {
            let lab = lab_harness::start(lab_harness::LabConfig::ephemeral()).await.unwrap();
            let ca = lab.ca_pem().as_bytes().to_vec();
            let metadata = discover(lab.issuer(), std::slice::from_ref(&ca)).await.unwrap();
            probe_lab_clients(&metadata, &[ca]).await
        });
        assert_eq!(known, LabClients::ALL);
    }

    fn page() -> url::Url {
        url::Url::parse("https://as.example/login?x=1").unwrap()
    }

    #[test]
    fn a_login_and_consent_form_is_filled_and_approved() {
        let html = r#"<html><body><form method="post" action="/consent">
            <input type="hidden" name="csrf" value="a&amp;b">
            <label>User <input type="text" name="username" value=""></label>
            <input type="password" name="password">
            <button type="submit" name="action" value="deny" formnovalidate>Deny</button>
            <button class="primary" type="submit" name="action" value="approve">Approve</button>
            </form></body></html>"#;
        let form = sign_in_form(html, &page(), &Login::new("alice", "pw")).unwrap().unwrap();
        assert_eq!(form.action, "https://as.example/consent");
        assert_eq!(form.method, "POST");
        let fields: Vec<(&str, &str)> = form.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(fields, [("csrf", "a&b"), ("username", "alice"), ("password", "pw"), ("action", "approve")]);
    }

    #[test]
    fn a_login_form_without_a_named_button_is_sent_as_enter_would() {
        let html = r#"<form action="https://as.example/u/login" method="POST"><input name="email" type="email">
            <input name="pass" type="password"><input type="submit" value="Sign in"></form>"#;
        let form = sign_in_form(html, &page(), &Login::new("bob", "s")).unwrap().unwrap();
        assert_eq!(form.fields, [("email".to_owned(), "bob".to_owned()), ("pass".to_owned(), "s".to_owned())]);
    }

    #[test]
    fn a_page_offering_only_refusal_or_no_form_is_not_submitted() {
        let deny_only =
            r#"<form method="post"><input type="password" name="p"><button value="deny">Deny</button></form>"#;
        assert_eq!(sign_in_form(deny_only, &page(), &Login::new("a", "b")).unwrap(), None);
        assert_eq!(sign_in_form("<p>error: invalid_request</p>", &page(), &Login::new("a", "b")).unwrap(), None);
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        assert!(!format!("{:?}", Login::new("alice", "hunter2")).contains("hunter2"));
    }
}
