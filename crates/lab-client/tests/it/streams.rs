//! Event streams at 2025-11-25 (TR-1125): a server's request on the stream of a tool call is
//! answered before its response arrives (an elicitation, accepted with the form's defaults under
//! `--yes`, SEP-1034), and a stream that ends before the response is resumed with a `GET` and
//! `Last-Event-ID`, no sooner than the `retry` the server named.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab_client::{ClientConfig, Confirm, McpClient};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the fake server saw: the id of the last tool call, when its stream closed, and the
/// messages the client POSTed.
#[derive(Default)]
struct Seen {
    call_id: Option<Value>,
    closed_at: Option<Instant>,
    resumed_after: Option<Duration>,
    last_event_id: Option<String>,
    posted: Vec<Value>,
}

fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).insert_header("mcp-session-id", "s-1").set_body_raw(body, "text/event-stream")
}

struct Post(Arc<Mutex<Seen>>);

impl Respond for Post {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let message: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let mut seen = self.0.lock().unwrap();
        seen.posted.push(message.clone());
        match message["method"].as_str() {
            Some("initialize") => ResponseTemplate::new(200).insert_header("mcp-session-id", "s-1").set_body_json(
                json!({"jsonrpc": "2.0", "id": message["id"], "result": {"protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {}}, "serverInfo": {"name": "streams", "version": "1"}}}),
            ),
            Some("server/discover") => ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0",
                "id": message["id"], "result": {"resultType": "complete", "supportedVersions": ["2026-07-28"],
                "capabilities": {"tools": {}}, "serverInfo": {"name": "streams", "version": "1"}}})),
            Some("tools/list") => ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": message["id"],
                "result": {"resultType": "complete", "tools": [{"name": "resume", "inputSchema": {"type": "object"}}]}})),
            // At 2026-07-28 the request comes again, under another id: answered this time.
            Some("tools/call") if message["params"]["name"] == "resume" && message["id"].is_string() => {
                ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": message["id"],
                    "result": {"resultType": "complete", "content": [{"type": "text", "text": "sent again"}]}}))
            }
            Some("tools/call") if message["params"]["name"] == "resume" => {
                // A priming event with an id and a retry, then the stream ends without the result.
                seen.call_id = Some(message["id"].clone());
                seen.closed_at = Some(Instant::now());
                sse("id: e-1\nretry: 300\ndata: \n\n".to_owned())
            }
            Some("tools/call") => {
                // The server's own request first, then the response, on the call's stream.
                let ask = json!({"jsonrpc": "2.0", "id": "srv-1", "method": "elicitation/create", "params": {
                    "message": "Accept the defaults?",
                    "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string", "default": "John Doe"},
                        "age": {"type": "integer", "default": 30},
                        "verified": {"type": "boolean"},
                    }},
                }});
                let done = json!({"jsonrpc": "2.0", "id": message["id"], "result": {"content": [{"type": "text", "text": "done"}]}});
                sse(format!(": a comment\r\nevent: message\r\ndata: {ask}\r\n\r\ndata: {done}\n\n"))
            }
            Some(_) => ResponseTemplate::new(202),
            // The client's answer to the server's request.
            None => ResponseTemplate::new(202),
        }
    }
}

struct Get(Arc<Mutex<Seen>>);

impl Respond for Get {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut seen = self.0.lock().unwrap();
        let Some(last) = request.headers.get("last-event-id").and_then(|value| value.to_str().ok()) else {
            // The standalone stream: this server offers none.
            return ResponseTemplate::new(405);
        };
        seen.last_event_id = Some(last.to_owned());
        seen.resumed_after = seen.closed_at.map(|closed| closed.elapsed());
        let id = seen.call_id.clone().unwrap_or_default();
        let done = json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "resumed"}]}});
        // Bare CRs end the lines here, which the event-stream format allows too.
        sse(format!("id: e-2\rdata: {done}\r\r"))
    }
}

async fn world() -> (MockServer, Arc<Mutex<Seen>>) {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    Mock::given(method("POST")).and(path("/mcp")).respond_with(Post(seen.clone())).mount(&server).await;
    Mock::given(method("GET")).and(path("/mcp")).respond_with(Get(seen.clone())).mount(&server).await;
    (server, seen)
}

fn client(server: &MockServer, confirm: Confirm) -> McpClient {
    let mut config = ClientConfig::new(format!("{}/mcp", server.uri()));
    config.confirm = confirm;
    McpClient::new(config).unwrap()
}

#[tokio::test]
async fn a_server_request_on_the_stream_is_answered_before_the_response_with_the_form_defaults() {
    let (server, seen) = world().await;
    let mut client = client(&server, Confirm::Yes);
    client.connect().await.unwrap();
    let result = client.call_tool("ask", json!({})).await.unwrap();
    assert_eq!(result["content"][0]["text"], "done");
    let posted = seen.lock().unwrap().posted.clone();
    let answer = posted.iter().find(|message| message["id"] == "srv-1").expect("the elicitation was answered");
    assert_eq!(
        answer["result"],
        json!({"action": "accept", "content": {"name": "John Doe", "age": 30, "verified": true}}),
        "the defaults, and yes to the yes/no field"
    );
    // The handshake's end is sent (the lifecycle's MUST), and the client said it can be asked.
    assert!(posted.iter().any(|message| message["method"] == "notifications/initialized"));
    let initialize = posted.iter().find(|message| message["method"] == "initialize").unwrap();
    assert!(initialize["params"]["capabilities"]["elicitation"].is_object());

    // Without --yes nobody is there to accept: declined, and the call still gets its response.
    let (server, seen) = world().await;
    let mut client = self::client(&server, Confirm::Decline);
    client.connect().await.unwrap();
    client.call_tool("ask", json!({})).await.unwrap();
    let posted = seen.lock().unwrap().posted.clone();
    let answer = posted.iter().find(|message| message["id"] == "srv-1").unwrap();
    assert_eq!(answer["result"], json!({"action": "decline"}));
}

#[tokio::test]
async fn a_stream_that_ends_before_the_response_is_resumed_from_its_last_event_after_the_retry() {
    let (server, seen) = world().await;
    let mut client = client(&server, Confirm::Decline);
    client.connect().await.unwrap();
    let result = client.call_tool("resume", json!({})).await.unwrap();
    assert_eq!(result["content"][0]["text"], "resumed");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last_event_id.as_deref(), Some("e-1"));
    let waited = seen.resumed_after.unwrap();
    assert!(waited >= Duration::from_millis(300), "resumed after {waited:?}, before the server's retry");
    // Both streams are in the trace, the GET with its Last-Event-ID.
    let trace = client.trace();
    assert!(trace.exchanges.iter().any(|exchange| exchange.method == "GET"
        && exchange.request_headers.iter().any(|(name, value)| name == "last-event-id" && value == "e-1")));
}

#[tokio::test]
async fn at_2026_07_28_a_stream_that_ends_before_the_response_is_sent_again_under_a_new_id() {
    let (server, seen) = world().await;
    let mut config = ClientConfig::new(format!("{}/mcp", server.uri()));
    config.modern = true;
    let mut client = McpClient::new(config).unwrap();
    client.connect().await.unwrap();
    let result = client.call_tool("resume", json!({})).await.unwrap();
    assert_eq!(result["content"][0]["text"], "sent again");
    let seen = seen.lock().unwrap();
    let calls: Vec<&Value> = seen.posted.iter().filter(|message| message["method"] == "tools/call").collect();
    assert_eq!(calls.len(), 2, "sent twice");
    assert_ne!(calls[0]["id"], calls[1]["id"], "the second time under a new id");
    assert!(seen.last_event_id.is_none(), "no GET at 2026-07-28");
}

/// A server may send a request about the next tool call on its standalone stream, and one sent
/// before the client listens is lost (the official suite's `elicitation-sep1034-client-defaults`
/// timed out that way on a loaded machine): the client waits for the server's answer to the GET
/// that opens the stream before it sends anything else.
#[tokio::test]
async fn the_standalone_stream_is_open_before_the_next_request() {
    struct Timed(Arc<Mutex<Vec<(String, Instant)>>>, &'static str);
    impl Respond for Timed {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let message: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let label = message["method"].as_str().unwrap_or(self.1).to_owned();
            self.0.lock().unwrap().push((label, Instant::now()));
            match message["method"].as_str() {
                Some("initialize") => ResponseTemplate::new(200).insert_header("mcp-session-id", "s-1").set_body_json(
                    json!({"jsonrpc": "2.0", "id": message["id"], "result": {"protocolVersion": "2025-11-25",
                        "capabilities": {"tools": {}}, "serverInfo": {"name": "slow GET", "version": "1"}}}),
                ),
                Some("tools/list") => ResponseTemplate::new(200)
                    .set_body_json(json!({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": []}})),
                Some(_) => ResponseTemplate::new(202),
                // The GET: its answer takes a while to come, and then offers no stream.
                None => ResponseTemplate::new(405).set_delay(Duration::from_millis(400)),
            }
        }
    }
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST")).and(path("/mcp")).respond_with(Timed(seen.clone(), "POST")).mount(&server).await;
    Mock::given(method("GET")).and(path("/mcp")).respond_with(Timed(seen.clone(), "GET")).mount(&server).await;
    let mut client = client(&server, Confirm::Decline);
    client.connect().await.unwrap();
    client.list_tools().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let at = |label: &str| seen.iter().find(|(seen, _)| seen == label).map(|(_, at)| *at);
    let (get, list) = (at("GET").expect("the client listens"), at("tools/list").expect("tools/list was sent"));
    assert!(
        list.duration_since(get) >= Duration::from_millis(400),
        "tools/list went out before the GET's answer: {seen:?}"
    );
}
