//! Hostile metadata and authorization responses (requirements §6.1, §6.3, §6.8).

use std::sync::{Arc, Mutex};

use lab_client::{ClientConfig, ClientError, McpClient};
use serde_json::{Value, json};
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the fake AS puts in the authorization response.
#[derive(Clone, Copy)]
enum Iss {
    Right,
    Missing,
    Wrong,
    Normalized,
}

/// Answers `/authorize` with a redirect to the client's callback, echoing `state` (or not).
struct AuthorizeResponder {
    issuer: String,
    iss: Iss,
    state_ok: bool,
}

impl Respond for AuthorizeResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: std::collections::HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
        let state =
            if self.state_ok { query.get("state").cloned().unwrap_or_default() } else { "forged-state".to_owned() };
        let mut location = format!("{redirect}?code=the-code&state={state}");
        match self.iss {
            Iss::Right => location.push_str(&format!("&iss={}", enc(&self.issuer))),
            Iss::Wrong => location.push_str(&format!("&iss={}", enc("https://127.0.0.1:9999"))),
            Iss::Normalized => location.push_str(&format!("&iss={}", enc(&format!("{}/", self.issuer)))),
            Iss::Missing => {}
        }
        ResponseTemplate::new(302).insert_header("location", location.as_str())
    }
}

fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A value the fake world builds from its own base URL (`http://127.0.0.1:{port}`), so a test
/// names the port of the server it talks to, never the port of an earlier one.
type FromBase<T> = Box<dyn Fn(&str) -> T + Send + Sync>;

/// Knobs of the fake world; the default is a conforming RS + AS.
struct Persona {
    prm_resource: Option<FromBase<String>>,
    /// Where the RS serves its metadata; by default the path-suffixed well-known URL a client
    /// falls back to without a challenge (RFC 9728 §3.1).
    prm_path: &'static str,
    resource_metadata: Option<String>,
    metadata: FromBase<Value>,
    iss: Iss,
    state_ok: bool,
    challenge: Option<FromBase<String>>,
    tool_status: u16,
}

/// The path-suffixed well-known URL of `/mcp` (RFC 9728 §3.1).
const WELL_KNOWN_PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";

impl Default for Persona {
    fn default() -> Self {
        Self {
            prm_resource: None,
            prm_path: WELL_KNOWN_PRM_PATH,
            resource_metadata: None,
            metadata: Box::new(conforming_metadata),
            iss: Iss::Right,
            state_ok: true,
            challenge: None,
            tool_status: 200,
        }
    }
}

fn conforming_metadata(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true
    })
}

struct World {
    server: MockServer,
    base: String,
}

impl World {
    async fn start(persona: Persona) -> Self {
        let server = MockServer::start().await;
        let base = server.uri();
        let mcp = format!("{base}/mcp");
        let prm_url = persona.resource_metadata.clone().unwrap_or_else(|| format!("{base}{}", persona.prm_path));
        let challenge = persona.challenge.as_ref().map_or_else(
            || format!(r#"Bearer resource_metadata="{prm_url}", scope="mcp:read""#),
            |challenge| challenge(&base),
        );
        // The MCP endpoint: 401 without a token, a session with one.
        Mock::given(method("POST"))
            .and(path("/mcp"))
            .and(header_exists("authorization"))
            .respond_with(McpResponder { tool_status: persona.tool_status, prm_url: prm_url.clone() })
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/mcp"))
            .respond_with(ResponseTemplate::new(401).insert_header("www-authenticate", challenge.as_str()))
            .mount(&server)
            .await;
        let resource = persona.prm_resource.as_ref().map_or(mcp, |resource| resource(&base));
        Mock::given(method("GET"))
            .and(path(persona.prm_path))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"resource": resource, "authorization_servers": [base], "scopes_supported": ["mcp:read"]}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/.well-known/oauth-authorization-server"))
            .respond_with(ResponseTemplate::new(200).set_body_json((persona.metadata)(&base)))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/register"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"client_id": "c1", "token_endpoint_auth_method": "none"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/authorize"))
            .respond_with(AuthorizeResponder { issuer: base.clone(), iss: persona.iss, state_ok: persona.state_ok })
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"access_token": "AT-1", "token_type": "Bearer", "refresh_token": "RT-1", "scope": "mcp:read"}),
            ))
            .mount(&server)
            .await;
        Self { server, base }
    }

    fn client(&self) -> McpClient {
        let config = ClientConfig::new(format!("{}/mcp", self.base));
        McpClient::new(config).unwrap()
    }

    async fn hits(&self, wanted_path: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request| request.url.path() == wanted_path)
            .count()
    }

    async fn requests_to(&self, wanted_path: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.url.path() == wanted_path)
            .collect()
    }
}

/// The MCP endpoint with a token: initialize, notifications, tools/call (or a fixed error status).
struct McpResponder {
    tool_status: u16,
    prm_url: String,
}

impl Respond for McpResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let message: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match message["method"].as_str() {
            Some("initialize") => ResponseTemplate::new(200)
                .insert_header("mcp-session-id", "session-1")
                .set_body_json(json!({"jsonrpc":"2.0","id":message["id"],"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"fake","version":"0"}}})),
            Some("notifications/initialized") => ResponseTemplate::new(202),
            _ if self.tool_status == 403 => ResponseTemplate::new(403).insert_header(
                "www-authenticate",
                format!(r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="{}""#, self.prm_url).as_str(),
            ),
            _ => ResponseTemplate::new(200).set_body_raw(
                format!("event: message\ndata: {}\n\n", json!({"jsonrpc":"2.0","id":message["id"],"result":{"content":[{"type":"text","text":"ok"}],"isError":false}})),
                "text/event-stream",
            ),
        }
    }
}

fn refused_by(result: Result<(), ClientError>, check: &str) {
    match result {
        Err(error) => assert_eq!(error.check(), Some(check), "{error}"),
        Ok(()) => panic!("the client accepted what it should refuse ({check})"),
    }
}

#[tokio::test]
async fn conforming_world_completes_the_flow() {
    let world = World::start(Persona::default()).await;
    let mut client = world.client();
    client.connect().await.unwrap();
    let result = client.call_tool("get_categories", json!({})).await.unwrap();
    assert_eq!(result["content"][0]["text"], "ok", "the SSE answer was read");
    // CL-15: resource in the authorization and token requests, the same value.
    let resource = format!("{}/mcp", world.base);
    let authorize = &world.requests_to("/authorize").await[0];
    assert_eq!(authorize.url.query_pairs().find(|(key, _)| key == "resource").unwrap().1, resource);
    assert_eq!(authorize.url.query_pairs().find(|(key, _)| key == "code_challenge_method").unwrap().1, "S256");
    let token = String::from_utf8(world.requests_to("/token").await[0].body.clone()).unwrap();
    assert!(token.contains(&format!("resource={}", enc(&resource))), "{token}");
    assert!(token.contains("code_verifier="));
    // CL-11: a public native client.
    let registration: Value = serde_json::from_slice(&world.requests_to("/register").await[0].body).unwrap();
    assert_eq!(registration["token_endpoint_auth_method"], "none");
    assert_eq!(registration["application_type"], "native");
    // CL-21: the token on every MCP request after authorization; never in a URL.
    let mcp = world.requests_to("/mcp").await;
    assert!(mcp[1..].iter().all(|request| request.headers.get("authorization").is_some()));
    assert!(
        world.server.received_requests().await.unwrap().iter().all(|request| !request.url.as_str().contains("AT-1"))
    );
    // CL-25: session and version headers after initialize.
    let last = mcp.last().unwrap();
    assert_eq!(last.headers.get("mcp-session-id").unwrap(), "session-1");
    assert_eq!(last.headers.get("mcp-protocol-version").unwrap(), "2025-11-25");
    // The trace holds no secret.
    let trace = serde_json::to_string(&client.trace()).unwrap();
    assert!(!trace.contains("AT-1") && !trace.contains("RT-1") && !trace.contains("the-code"), "{trace}");
}

#[tokio::test]
async fn prm_resource_mismatch_is_refused_before_any_as_contact() {
    for resource in ["https://evil.example/mcp"] {
        let world =
            World::start(Persona { prm_resource: Some(Box::new(move |_| resource.to_owned())), ..Persona::default() })
                .await;
        refused_by(world.client().connect().await, "CL-03");
        // `prm-resource-mismatch`: zero requests to the AS.
        assert_eq!(world.hits("/.well-known/oauth-authorization-server").await, 0);
        assert_eq!(world.hits("/register").await + world.hits("/authorize").await + world.hits("/token").await, 0);
    }
}

#[tokio::test]
async fn prm_resource_with_a_trailing_slash_is_refused() {
    // The metadata names this very server's resource plus a `/`, so the slash is the only
    // difference the client can object to (RFC 9728 §3.3: no normalization).
    let world =
        World::start(Persona { prm_resource: Some(Box::new(|base| format!("{base}/mcp/"))), ..Persona::default() })
            .await;
    refused_by(world.client().connect().await, "CL-03");
    assert_eq!(world.hits(WELL_KNOWN_PRM_PATH).await, 1, "the metadata was read");
    assert_eq!(world.hits("/.well-known/oauth-authorization-server").await, 0);
}

#[tokio::test]
async fn issuer_mismatch_is_refused() {
    let world = World::start(Persona {
        metadata: Box::new(|base| {
            let mut metadata = conforming_metadata(base);
            metadata["issuer"] = json!("https://honest.example");
            metadata
        }),
        ..Persona::default()
    })
    .await;
    refused_by(world.client().connect().await, "CL-05");
    assert_eq!(world.hits("/authorize").await + world.hits("/token").await + world.hits("/register").await, 0);
}

#[tokio::test]
async fn missing_or_plain_only_pkce_is_refused() {
    for methods in [None, Some(json!(["plain"]))] {
        let world = World::start(Persona {
            metadata: Box::new(move |base| {
                let mut metadata = conforming_metadata(base);
                match &methods {
                    None => {
                        metadata.as_object_mut().unwrap().remove("code_challenge_methods_supported");
                    }
                    Some(methods) => metadata["code_challenge_methods_supported"] = methods.clone(),
                }
                metadata
            }),
            ..Persona::default()
        })
        .await;
        refused_by(world.client().connect().await, "CL-06");
        assert_eq!(world.hits("/authorize").await, 0);
    }
}

#[tokio::test]
async fn dangerous_authorization_endpoints_are_never_opened() {
    for endpoint in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,hi",
        "http://evil.example/authorize",
        "https://169.254.169.254/authorize",
    ] {
        let world = World::start(Persona {
            metadata: Box::new(move |base| {
                let mut metadata = conforming_metadata(base);
                metadata["authorization_endpoint"] = json!(endpoint);
                metadata
            }),
            ..Persona::default()
        })
        .await;
        // `authz-endpoint-dangerous-scheme`.
        refused_by(world.client().connect().await, "CL-08");
        assert_eq!(world.hits("/register").await + world.hits("/token").await, 0, "{endpoint}");
    }
}

#[tokio::test]
async fn wrong_missing_or_normalized_iss_is_refused_before_the_token_request() {
    for iss in [Iss::Wrong, Iss::Missing, Iss::Normalized] {
        let world = World::start(Persona { iss, ..Persona::default() }).await;
        // `mixup-iss-wrong`, `mixup-iss-missing-when-advertised`, `mixup-iss-normalized`.
        refused_by(world.client().connect().await, "CL-18");
        assert_eq!(world.hits("/token").await, 0);
    }
}

#[tokio::test]
async fn unexpected_iss_is_refused_when_not_advertised() {
    let world = World::start(Persona {
        iss: Iss::Wrong,
        metadata: Box::new(|base| {
            let mut metadata = conforming_metadata(base);
            metadata.as_object_mut().unwrap().remove("authorization_response_iss_parameter_supported");
            metadata
        }),
        ..Persona::default()
    })
    .await;
    // `mixup-iss-unexpected`.
    refused_by(world.client().connect().await, "CL-18");
    // And without the flag and without iss, the flow proceeds (MCP-2607 row 4).
    let quiet = World::start(Persona {
        iss: Iss::Missing,
        metadata: Box::new(|base| {
            let mut metadata = conforming_metadata(base);
            metadata.as_object_mut().unwrap().remove("authorization_response_iss_parameter_supported");
            metadata
        }),
        ..Persona::default()
    })
    .await;
    quiet.client().connect().await.unwrap();
}

#[tokio::test]
async fn a_forged_state_stops_the_flow() {
    let world = World::start(Persona { state_ok: false, ..Persona::default() }).await;
    // `state-mismatch-csrf`: no token request.
    refused_by(world.client().connect().await, "CL-14");
    assert_eq!(world.hits("/token").await, 0);
}

#[tokio::test]
async fn private_address_discovery_urls_are_never_fetched() {
    let canary_listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let canary = MockServer::builder().listener(canary_listener).start().await;
    let canary_url = format!("{}/x", canary.uri());
    for target in [
        canary_url.clone(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://2130706434:{}/", canary.address().port()),
    ] {
        let world = World::start(Persona { resource_metadata: Some(target.clone()), ..Persona::default() }).await;
        // `ssrf-resource-metadata`, `ssrf-ip-encoding`.
        refused_by(world.client().connect().await, "CL-07");
    }
    assert!(canary.received_requests().await.unwrap().is_empty(), "the canary was hit");
}

#[tokio::test]
async fn challenges_are_parsed_in_every_legal_shape() {
    // `www-auth-parse-variants`: another scheme first, upper-case names, quoted commas. The
    // metadata is served only where the header points, not at either well-known URL, so a client
    // that misreads the header and falls back to discovery finds nothing (CL-01).
    const PRM_PATH: &str = "/metadata/from-the-challenge";
    let world = World::start(Persona {
        prm_path: PRM_PATH,
        challenge: Some(Box::new(|base| {
            format!(r#"DPoP algs="ES256 PS256", Bearer scope="mcp:read", RESOURCE_METADATA="{base}{PRM_PATH}""#)
        })),
        ..Persona::default()
    })
    .await;
    world.client().connect().await.unwrap();
    assert_eq!(world.hits(PRM_PATH).await, 1);
    assert_eq!(world.hits(WELL_KNOWN_PRM_PATH).await + world.hits("/.well-known/oauth-protected-resource").await, 0);
}

#[tokio::test]
async fn step_up_is_bounded() {
    let world = World::start(Persona { tool_status: 403, ..Persona::default() }).await;
    let mut client = world.client();
    client.connect().await.unwrap();
    // `step-up-retry-limit`: at most 2 re-authorizations, then a permanent failure.
    let error = client.call_tool("create_return", json!({})).await.unwrap_err();
    assert!(error.to_string().contains("giving up"), "{error}");
    assert_eq!(world.hits("/authorize").await, 1 + 2);
    // The step-up asked for the union of granted and challenged scopes.
    let last = world.requests_to("/authorize").await.pop().unwrap();
    let scope = last.url.query_pairs().find(|(key, _)| key == "scope").unwrap().1.into_owned();
    assert_eq!(scope, "mcp:read mcp:write");
}

#[tokio::test]
async fn events_number_the_six_steps() {
    let world = World::start(Persona::default()).await;
    let steps = Arc::new(Mutex::new(Vec::new()));
    let sink = steps.clone();
    let mut config = ClientConfig::new(format!("{}/mcp", world.base));
    config.events = Some(Arc::new(move |event| {
        if let lab_client::Event::Step { number, .. } = event {
            sink.lock().unwrap().push(*number);
        }
    }));
    McpClient::new(config).unwrap().connect().await.unwrap();
    assert_eq!(*steps.lock().unwrap(), vec![1, 2, 3, 4, 5, 6]);
}
