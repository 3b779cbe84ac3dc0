//! RS-13, RS-15…RS-18, RS-24 and TR-1125: Streamable HTTP, sessions, versions, Origin and Host.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Lab, assert_no_token_challenge, initialize};

#[tokio::test]
async fn initialize_negotiates_the_version_and_mints_a_session() {
    let lab = Lab::new();
    let token = lab.alice().await;
    for (asked, answered) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2026-07-28", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
    ] {
        let response = lab.post(Some(&token), None, &initialize(asked)).await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.json()["result"]["protocolVersion"], answered, "{asked}");
        assert!(response.header("mcp-session-id").is_some());
    }
    let response =
        lab.post(Some(&token), None, &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})).await;
    assert_eq!(response.json()["error"]["code"], -32602);
}

#[tokio::test]
async fn session_ids_are_random_visible_ascii() {
    let lab = Lab::with(crate::support::Mode::Jwt, |config| config.rate_limit = None);
    let token = lab.alice().await;
    // `session-id-entropy`: 200 samples, no repeats, visible ASCII, 256 bits.
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let id =
            lab.post(Some(&token), None, &initialize("2025-11-25")).await.header("mcp-session-id").unwrap().to_owned();
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(id.len(), 43);
        assert!(seen.insert(id), "repeated session id");
    }
}

#[tokio::test]
async fn client_supplied_session_ids_are_ignored() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // `session-fixation`.
    let response = lab
        .request(
            "POST",
            "/mcp",
            &[("authorization", &format!("Bearer {token}")), ("mcp-session-id", "attacker-chosen")],
            serde_json::to_vec(&initialize("2025-11-25")).unwrap(),
        )
        .await;
    assert_ne!(response.header("mcp-session-id"), Some("attacker-chosen"));
    let fixed = lab.post(Some(&token), Some("attacker-chosen"), &json!({"jsonrpc":"2.0","id":2,"method":"ping"})).await;
    assert_eq!(fixed.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_require_a_token_and_belong_to_their_principal() {
    let lab = Lab::new();
    let alice = lab.alice().await;
    let session = lab.session(&alice).await;
    // `session-without-token`.
    assert_no_token_challenge(
        &lab.post(None, Some(&session), &json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})).await,
    );
    // `session-hijack-cross-user`: bob's token with alice's session.
    let bob = lab.token_for("bob", "mcp:read", crate::support::RS).await;
    let hijack = lab.call_in(&bob, &session, "list_orders", json!({})).await;
    assert_eq!(hijack.status, StatusCode::NOT_FOUND);
    assert!(!hijack.text().contains("A-1001") && !hijack.text().contains("Alice"));
    // Alice's own session works.
    assert_eq!(lab.call_in(&alice, &session, "list_orders", json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn session_rules_of_the_transport() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // No session id on a non-initialize request: 400.
    let missing = lab.post(Some(&token), None, &json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    // DELETE ends the session; afterwards it is 404.
    let session = lab.session(&token).await;
    let authorization = format!("Bearer {token}");
    let deleted = lab
        .request("DELETE", "/mcp", &[("authorization", &authorization), ("mcp-session-id", &session)], Vec::new())
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after = lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":2,"method":"ping"})).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    // Idle sessions expire on the shared clock.
    let session = lab.session(&token).await;
    lab.clock.advance(3600);
    let fresh = lab.alice().await;
    assert_eq!(
        lab.post(Some(&fresh), Some(&session), &json!({"jsonrpc":"2.0","id":2,"method":"ping"})).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn get_offers_no_stream_and_replays_nothing() {
    let lab = Lab::new();
    let alice = lab.alice().await;
    let session = lab.session(&alice).await;
    let authorization = format!("Bearer {alice}");
    let get = lab
        .request(
            "GET",
            "/mcp",
            &[("authorization", &authorization), ("mcp-session-id", &session), ("accept", "text/event-stream")],
            Vec::new(),
        )
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    // `sse-resume-cross-user`: bob resuming alice's stream gets nothing of hers.
    let bob = lab.token_for("bob", "mcp:read", crate::support::RS).await;
    let resume = lab
        .request(
            "GET",
            "/mcp",
            &[
                ("authorization", &format!("Bearer {bob}")),
                ("mcp-session-id", &session),
                ("last-event-id", "1"),
                ("accept", "text/event-stream"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(resume.status, StatusCode::NOT_FOUND);
    assert!(!resume.text().contains("data:"));
}

#[tokio::test]
async fn protocol_version_header_is_checked() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let session = lab.session(&token).await;
    let authorization = format!("Bearer {token}");
    let ping = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":2,"method":"ping"})).unwrap();
    // `protocol-version-invalid`.
    for version in ["1999-01-01", "2025-06-18", "garbage"] {
        let response = lab
            .request(
                "POST",
                "/mcp",
                &[("authorization", &authorization), ("mcp-session-id", &session), ("mcp-protocol-version", version)],
                ping.clone(),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{version}");
    }
    // Absent: the negotiated version is assumed.
    let absent =
        lab.request("POST", "/mcp", &[("authorization", &authorization), ("mcp-session-id", &session)], ping).await;
    assert_eq!(absent.status, StatusCode::OK);
}

#[tokio::test]
async fn origin_and_host_are_checked_before_authentication() {
    let lab = Lab::new();
    let init = serde_json::to_vec(&initialize("2025-11-25")).unwrap();
    // `dns-rebinding-origin`: 403 even without a token (checked first).
    let evil = lab.request("POST", "/mcp", &[("origin", "http://evil.example")], init.clone()).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    assert!(evil.header("www-authenticate").is_none());
    assert_eq!(evil.json()["id"], serde_json::Value::Null);
    // `dns-rebinding-host`.
    let host = lab.request("POST", "/mcp", &[("host", "evil.example:8443")], init.clone()).await;
    assert_eq!(host.status, StatusCode::FORBIDDEN);
    // The Inspector's origin is allowed, gets CORS, and still needs a token.
    let inspector = lab.request("POST", "/mcp", &[("origin", "http://localhost:6274")], init.clone()).await;
    assert_no_token_challenge(&inspector);
    assert_eq!(inspector.header("access-control-allow-origin"), Some("http://localhost:6274"));
    assert!(inspector.header("access-control-expose-headers").unwrap().contains("www-authenticate"));
    let preflight = lab
        .request(
            "OPTIONS",
            "/mcp",
            &[("origin", "http://localhost:6274"), ("access-control-request-method", "POST")],
            Vec::new(),
        )
        .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert!(preflight.header("access-control-allow-headers").unwrap().contains("mcp-session-id"));
    let evil_preflight = lab.request("OPTIONS", "/mcp", &[("origin", "http://evil.example")], Vec::new()).await;
    assert_eq!(evil_preflight.status, StatusCode::FORBIDDEN);
    // Other loopback spellings of the same port are this server.
    let token = lab.alice().await;
    let localhost = lab
        .request("POST", "/mcp", &[("host", "localhost:8443"), ("authorization", &format!("Bearer {token}"))], init)
        .await;
    assert_eq!(localhost.status, StatusCode::OK);
}

#[tokio::test]
async fn batches_are_refused_and_not_executed() {
    let lab = Lab::new();
    let token = lab.token_for("alice", "mcp:read mcp:write", crate::support::RS).await;
    let session = lab.session(&token).await;
    // `jsonrpc-batch-smuggle`.
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_orders","arguments":{}}},
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_return","arguments":{"order_id":"A-1001","reason":"smuggled"}}}
    ]);
    let response = lab.post(Some(&token), Some(&session), &batch).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json()["error"]["code"], -32600);
    let orders = lab.call_in(&token, &session, "list_orders", json!({})).await.tool_result();
    assert_eq!(orders["structuredContent"]["returns"], json!([]), "the batched write never ran");
}

#[tokio::test]
async fn json_rpc_errors_have_the_right_codes() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let session = lab.session(&token).await;
    let unknown =
        lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":3,"method":"secrets/dump"})).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.json()["error"]["code"], -32601);
    assert_eq!(unknown.json()["id"], 3);
    let authorization = format!("Bearer {token}");
    let headers = [("authorization", authorization.as_str()), ("mcp-session-id", session.as_str())];
    let malformed = lab.request("POST", "/mcp", &headers, b"{\"jsonrpc\":".to_vec()).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["error"]["code"], -32700);
    let not_rpc = lab.request("POST", "/mcp", &headers, b"{\"hello\":1}".to_vec()).await;
    assert_eq!(not_rpc.json()["error"]["code"], -32600);
    let unknown_tool = lab.call_in(&token, &session, "drop_tables", json!({})).await;
    assert_eq!(unknown_tool.json()["error"]["code"], -32602);
    let huge = lab.request("POST", "/mcp", &headers, vec![b' '; 300 * 1024]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn notifications_are_accepted_and_responses_follow_accept() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let session = lab.session(&token).await;
    let accepted =
        lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert!(accepted.body.is_empty());
    let authorization = format!("Bearer {token}");
    let ping = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":9,"method":"ping"})).unwrap();
    let sse = lab
        .request(
            "POST",
            "/mcp",
            &[("authorization", &authorization), ("mcp-session-id", &session), ("accept", "text/event-stream")],
            ping.clone(),
        )
        .await;
    assert_eq!(sse.status, StatusCode::OK);
    assert_eq!(sse.header("content-type"), Some("text/event-stream"));
    let text = sse.text();
    let data = text.lines().find_map(|line| line.strip_prefix("data: ")).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(data).unwrap()["id"], 9);
    let html = lab
        .request(
            "POST",
            "/mcp",
            &[("authorization", &authorization), ("mcp-session-id", &session), ("accept", "text/html")],
            ping,
        )
        .await;
    assert_eq!(html.status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn callers_are_rate_limited() {
    let lab = Lab::with(crate::support::Mode::Jwt, |config| {
        config.rate_limit = Some(lab_mcp_server::RateLimit { requests: 5, window_seconds: 10 });
    });
    let token = lab.alice().await;
    let session = lab.session(&token).await;
    for _ in 0..4 {
        assert_eq!(
            lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await.status,
            StatusCode::OK
        );
    }
    let limited = lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Another user is not affected; the window slides on the shared clock.
    let bob = lab.token_for("bob", "mcp:read", crate::support::RS).await;
    assert_eq!(lab.post(Some(&bob), None, &initialize("2025-11-25")).await.status, StatusCode::OK);
    lab.clock.advance(10);
    assert_eq!(
        lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // RS-22 / `client-token-leak-logs`: a full flow, a refused token and a tool call.
    let lab = Lab::new();
    let token = lab.token_for("alice", "mcp:read mcp:write", crate::support::RS).await;
    lab.call(&token, "create_return", json!({"order_id":"A-1001","reason":"too small"})).await;
    let mut forged = token.clone();
    forged.push('x');
    assert_eq!(crate::support::ok_call(&lab, &forged).await.status, StatusCode::UNAUTHORIZED);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("tool called"), "the capture works: {logs}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "a token signature reached the logs");
    assert!(!logs.contains(&token[..40]));
}
