//! MCP 2026-07-28 on the lab RS (TR-2607): stateless requests beside the 2025-11-25 sessions,
//! the revision's server validation in its order, `server/discover`, caching hints, the removed
//! methods, and the user's confirmation of high-risk tools by an input-required result (MRTR)
//! whose `requestState` is sealed and bound.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Lab, RS, Resp, initialize};

const VERSION: &str = "2026-07-28";

/// The `_meta` a 2026-07-28 client sends, with `capabilities`.
fn meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
    })
}

/// The headers a 2026-07-28 client sends for `method` (and `name`, for the methods that name
/// something), then `extra`.
fn headers<'a>(
    token: &'a str,
    method: &'a str,
    name: Option<&'a str>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, String)> {
    let mut headers = vec![
        ("authorization", format!("Bearer {token}")),
        ("mcp-protocol-version", VERSION.to_owned()),
        ("mcp-method", method.to_owned()),
    ];
    if let Some(name) = name {
        headers.push(("mcp-name", name.to_owned()));
    }
    for (key, value) in extra {
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case(key));
        headers.push((key, (*value).to_owned()));
    }
    headers
}

/// POSTs `body` with `headers` to `/mcp`.
async fn send(lab: &Lab, headers: &[(&str, String)], body: &Value) -> Resp {
    let borrowed: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
    lab.request("POST", "/mcp", &borrowed, serde_json::to_vec(body).unwrap()).await
}

/// A well-formed 2026-07-28 request of `method` with `params` (its `_meta` added).
async fn modern(lab: &Lab, token: &str, method: &str, mut params: Value) -> Resp {
    params["_meta"] = meta(json!({"elicitation": {}}));
    let name = params.get("name").or_else(|| params.get("uri")).and_then(Value::as_str).map(str::to_owned);
    let named = matches!(method, "tools/call" | "resources/read" | "prompts/get").then_some(name).flatten();
    let headers = headers(token, method, named.as_deref(), &[]);
    send(lab, &headers, &json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})).await
}

/// The JSON-RPC error of an answer: its HTTP status, code, and the id it echoed.
fn error(response: &Resp) -> (StatusCode, i64, Value) {
    let body = response.json();
    (
        response.status,
        body["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error: {}", response.text())),
        body["id"].clone(),
    )
}

#[tokio::test]
async fn discover_names_the_revision_and_mints_no_session() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let response = modern(&lab, &token, "server/discover", json!({})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert!(response.header("mcp-session-id").is_none(), "2026-07-28 mints no session");
    let result = &response.json()["result"];
    assert_eq!(result["supportedVersions"], json!([VERSION]));
    assert!(result["capabilities"]["tools"].is_object() && result["capabilities"]["prompts"].is_object());
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["cacheScope"], "public");
    assert!(result["ttlMs"].as_u64().is_some());
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcp-auth-lab-rs");
    // One line, compact: a reader that takes the body line by line gets the whole message.
    assert!(!response.text().trim_end().contains('\n'));
}

#[tokio::test]
async fn the_server_validation_runs_in_the_revisions_order() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let discover = |params: Value| json!({"jsonrpc": "2.0", "id": 101, "method": "server/discover", "params": params});
    let plain = headers(&token, "server/discover", None, &[]);
    // `_meta` missing, or missing a required field: -32602, 400, the id echoed.
    let mut no_capabilities = meta(json!({}));
    no_capabilities.as_object_mut().unwrap().remove("io.modelcontextprotocol/clientCapabilities");
    let mut no_version = meta(json!({}));
    no_version.as_object_mut().unwrap().remove("io.modelcontextprotocol/protocolVersion");
    for params in [json!({}), json!({"_meta": no_capabilities}), json!({"_meta": no_version})] {
        let response = send(&lab, &plain, &discover(params.clone())).await;
        assert_eq!(error(&response), (StatusCode::BAD_REQUEST, -32602, json!(101)), "{params}");
    }
    // clientInfo is optional.
    let mut no_info = meta(json!({}));
    no_info.as_object_mut().unwrap().remove("io.modelcontextprotocol/clientInfo");
    assert_eq!(send(&lab, &plain, &discover(json!({"_meta": no_info}))).await.status, StatusCode::OK);
    // The header against `_meta`, before the version itself: -32020.
    let mut v999 = meta(json!({}));
    v999["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
    let response = send(&lab, &plain, &discover(json!({"_meta": v999.clone()}))).await;
    assert_eq!(error(&response).0, StatusCode::BAD_REQUEST);
    assert_eq!(error(&response).1, -32020);
    let missing: Vec<(&str, String)> =
        plain.iter().filter(|(name, _)| *name != "mcp-protocol-version").cloned().collect();
    let response = send(&lab, &missing, &discover(json!({"_meta": meta(json!({}))}))).await;
    assert_eq!(error(&response).1, -32020, "a missing MCP-Protocol-Version");
    // A version it does not speak: -32022 with the supported list and the requested one.
    let unsupported = headers(&token, "server/discover", None, &[("mcp-protocol-version", "v999.0.0")]);
    let response = send(&lab, &unsupported, &discover(json!({"_meta": v999}))).await;
    assert_eq!(error(&response), (StatusCode::BAD_REQUEST, -32022, json!(101)));
    assert_eq!(response.json()["error"]["data"], json!({"supported": [VERSION], "requested": "v999.0.0"}));
}

#[tokio::test]
async fn mcp_method_and_mcp_name_must_match_the_body() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta(json!({}))}});
    for (method_header, expected) in [
        (Some("prompts/list"), StatusCode::BAD_REQUEST),
        (None, StatusCode::BAD_REQUEST),
        (Some("TOOLS/LIST"), StatusCode::BAD_REQUEST),
        (Some("tools/list"), StatusCode::OK),
        (Some(" tools/list "), StatusCode::OK),
    ] {
        let mut headers = headers(&token, "tools/list", None, &[]);
        headers.retain(|(name, _)| *name != "mcp-method");
        if let Some(value) = method_header {
            // Header names are case-insensitive.
            headers.push(("MCP-METHOD", value.to_owned()));
        }
        let response = send(&lab, &headers, &list).await;
        assert_eq!(response.status, expected, "{method_header:?}: {}", response.text());
        if expected == StatusCode::BAD_REQUEST {
            assert_eq!(error(&response).1, -32020);
        }
    }
    let call = |name: &str| json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": {}, "_meta": meta(json!({}))}});
    for (header, expected) in [
        (Some("search_products"), StatusCode::OK),
        (Some("  search_products  "), StatusCode::OK),
        (Some("=?base64?c2VhcmNoX3Byb2R1Y3Rz?="), StatusCode::OK),
        (Some("=?base64?c2VhcmNoX3Byb2R1Y3Rz?"), StatusCode::BAD_REQUEST),
        (Some("=?base64?c2VhcmNoX3Byb2R1Y3R?="), StatusCode::BAD_REQUEST),
        (Some("wrong_tool_name"), StatusCode::BAD_REQUEST),
        (None, StatusCode::BAD_REQUEST),
    ] {
        let headers = headers(&token, "tools/call", header, &[]);
        let response = send(&lab, &headers, &call("search_products")).await;
        assert_eq!(response.status, expected, "{header:?}: {}", response.text());
    }
}

#[tokio::test]
async fn a_header_naming_a_public_tool_never_opens_an_admin_one() {
    // A gateway that authorises on `Mcp-Name` would let this through; the RS refuses the mismatch
    // and judges the body's tool: alice, a customer, never reaches manage_promotions.
    let lab = Lab::new();
    let token = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "manage_promotions", "arguments": {"action": "create", "code": "SPRING", "percent_off": 90}, "_meta": meta(json!({"elicitation": {}}))}});
    let response = send(&lab, &headers(&token, "tools/call", Some("search_products"), &[]), &body).await;
    assert_eq!(error(&response), (StatusCode::BAD_REQUEST, -32020, json!(3)));
    // Named truthfully, the permission matrix answers from the body: no admin role.
    let response = send(&lab, &headers(&token, "tools/call", Some("manage_promotions"), &[]), &body).await;
    let result = response.tool_result();
    assert_eq!(result["isError"], true, "{result}");
}

#[tokio::test]
async fn mcp_param_headers_mirror_the_marked_arguments() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let listed = modern(&lab, &token, "tools/list", json!({})).await.json();
    let get_order =
        listed["result"]["tools"].as_array().unwrap().iter().find(|tool| tool["name"] == "get_order").unwrap().clone();
    assert_eq!(get_order["inputSchema"]["properties"]["order_id"]["x-mcp-header"], "OrderId");
    let body = |order: &str| {
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "get_order", "arguments": {"order_id": order}, "_meta": meta(json!({}))}})
    };
    for (header, expected) in [
        (Some("A-1001"), StatusCode::OK),
        (Some("=?base64?QS0xMDAx?="), StatusCode::OK),
        (Some("A-1002"), StatusCode::BAD_REQUEST),
        (Some("=?base64?QS0xMDAx?"), StatusCode::BAD_REQUEST),
        (None, StatusCode::BAD_REQUEST),
    ] {
        let extra: Vec<(&str, &str)> = header.map(|value| ("mcp-param-orderid", value)).into_iter().collect();
        let response = send(&lab, &headers(&token, "tools/call", Some("get_order"), &extra), &body("A-1001")).await;
        assert_eq!(response.status, expected, "{header:?}: {}", response.text());
        if expected == StatusCode::OK {
            assert_eq!(response.json()["result"]["structuredContent"]["order_id"], "A-1001");
        } else {
            assert_eq!(error(&response).1, -32020);
        }
    }
}

#[tokio::test]
async fn the_removed_and_unknown_methods_are_404() {
    let lab = Lab::new();
    let token = lab.alice().await;
    for method in
        ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe", "unknown/method"]
    {
        let response = modern(&lab, &token, method, json!({})).await;
        assert_eq!(error(&response), (StatusCode::NOT_FOUND, -32601, json!(7)), "{method}");
        assert!(response.header("mcp-session-id").is_none());
    }
    // GET and DELETE of a 2026-07-28 client: 405, POST only; a session id is never honoured.
    let authorization = format!("Bearer {token}");
    for method in ["GET", "DELETE"] {
        let response = lab
            .request(
                method,
                "/mcp",
                &[("authorization", &authorization), ("mcp-protocol-version", VERSION), ("mcp-session-id", "x")],
                Vec::new(),
            )
            .await;
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(response.header("allow"), Some("POST"));
    }
}

#[tokio::test]
async fn results_carry_caching_hints_and_what_depends_on_the_caller_is_private() {
    let lab = Lab::new();
    let token = lab.token_for("carol", "mcp:read mcp:admin", RS).await;
    let hints = |response: &Resp| {
        let result = &response.json()["result"];
        (result["resultType"].clone(), result["ttlMs"].as_u64(), result["cacheScope"].as_str().map(str::to_owned))
    };
    for (method, params, scope) in [
        ("tools/list", json!({}), "public"),
        ("prompts/list", json!({}), "public"),
        ("resources/templates/list", json!({}), "public"),
        ("resources/list", json!({}), "private"),
        ("resources/read", json!({"uri": "commerce://catalog/categories"}), "public"),
        ("resources/read", json!({"uri": "commerce://analytics/daily"}), "private"),
    ] {
        let response = modern(&lab, &token, method, params.clone()).await;
        let (kind, ttl, cache_scope) = hints(&response);
        assert_eq!(kind, "complete", "{method} {params}: {}", response.text());
        assert!(ttl.is_some(), "{method}");
        assert_eq!(cache_scope.as_deref(), Some(scope), "{method} {params}");
    }
    // A tool result is no list: no hints, but its resultType.
    let called = modern(&lab, &token, "tools/call", json!({"name": "list_orders", "arguments": {}})).await;
    let result = called.tool_result();
    assert_eq!(result["resultType"], "complete");
    assert!(result.get("cacheScope").is_none());
    // A resource that does not exist: -32602 with its URI (SEP-2164), never empty contents.
    let missing = modern(&lab, &token, "resources/read", json!({"uri": "test://nonexistent"})).await;
    assert_eq!(
        missing.json()["error"],
        json!({"code": -32602, "message": "resource test://nonexistent not found", "data": {"uri": "test://nonexistent"}})
    );
}

#[tokio::test]
async fn both_eras_share_the_endpoint_and_a_modern_only_server_refuses_initialize() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // A 2025-11-25 client still opens a session, bound to its principal.
    let session = lab.session(&token).await;
    let legacy = lab.call_in(&token, &session, "list_orders", json!({})).await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert!(legacy.json()["result"].get("resultType").is_none(), "the 2025-11-25 result is unchanged");
    // ... beside a 2026-07-28 request.
    assert_eq!(modern(&lab, &token, "tools/list", json!({})).await.status, StatusCode::OK);
    // A server of 2026-07-28 alone: initialize gets the versions it speaks, GET a 405.
    let only = Lab::with(crate::support::Mode::Jwt, |config| config.revisions = lab_mcp_server::Revisions::Modern);
    let token = only.alice().await;
    let response = only.post(Some(&token), None, &initialize("2025-11-25")).await;
    assert_eq!(error(&response), (StatusCode::BAD_REQUEST, -32022, json!(1)));
    assert_eq!(response.json()["error"]["data"]["supported"], json!([VERSION]));
    assert!(response.header("mcp-session-id").is_none());
    let authorization = format!("Bearer {token}");
    let get = only.request("GET", "/mcp", &[("authorization", &authorization)], Vec::new()).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(modern(&only, &token, "server/discover", json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_modern_request_without_a_token_is_challenged_first() {
    let lab = Lab::new();
    let headers = [("mcp-protocol-version", VERSION), ("mcp-method", "server/discover")];
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta(json!({}))}});
    let response = lab.request("POST", "/mcp", &headers, serde_json::to_vec(&body).unwrap()).await;
    crate::support::assert_no_token_challenge(&response);
}

#[tokio::test]
async fn a_loopback_origin_is_this_machines_own_and_a_foreign_one_is_refused() {
    let lab = Lab::new();
    let token = lab.alice().await;
    for (origin, expected) in [
        ("http://127.0.0.1:6100", StatusCode::OK),
        ("http://localhost:3000", StatusCode::OK),
        ("https://[::1]:8443", StatusCode::OK),
        ("http://evil.example", StatusCode::FORBIDDEN),
        ("http://127.0.0.1.evil.example", StatusCode::FORBIDDEN),
        ("http://localhost.evil.example:80", StatusCode::FORBIDDEN),
        ("null", StatusCode::FORBIDDEN),
        // Only an origin as a browser writes it, of the three loopback names.
        ("http://:pw@localhost:1", StatusCode::FORBIDDEN),
        ("http://localhost/.", StatusCode::FORBIDDEN),
        ("http://LOCALHOST:80", StatusCode::FORBIDDEN),
        ("http://127.0.0.2:5", StatusCode::FORBIDDEN),
        ("http://127.1:5", StatusCode::FORBIDDEN),
        ("http://[::ffff:127.0.0.1]:5", StatusCode::FORBIDDEN),
    ] {
        let headers = headers(&token, "server/discover", None, &[("origin", origin)]);
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta(json!({}))}});
        let response = send(&lab, &headers, &body).await;
        assert_eq!(response.status, expected, "{origin}: {}", response.text());
    }
}

/// alice's token with `mcp:write`, and the `create_return` call of her delivered order A-1001.
async fn returner(lab: &Lab) -> (String, Value) {
    let token = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    (token, json!({"name": "create_return", "arguments": {"order_id": "A-1001", "reason": "too small"}}))
}

/// The confirmation's answer of the user, as `inputResponses`.
fn confirmed(accept: bool) -> Value {
    json!({"confirm": {"action": "accept", "content": {"confirm": accept}}})
}

#[tokio::test]
async fn a_high_risk_tool_runs_only_once_the_user_confirms() {
    let lab = Lab::new();
    let (token, call) = returner(&lab).await;
    let first = modern(&lab, &token, "tools/call", call.clone()).await.tool_result();
    assert_eq!(first["resultType"], "input_required", "{first}");
    let request = &first["inputRequests"]["confirm"];
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["requestedSchema"]["required"], json!(["confirm"]));
    let state = first["requestState"].as_str().unwrap().to_owned();
    // Confirmed: the return is made.
    let mut retry = call.clone();
    retry["inputResponses"] = confirmed(true);
    retry["requestState"] = json!(state);
    let done = modern(&lab, &token, "tools/call", retry.clone()).await.tool_result();
    assert_eq!(done["resultType"], "complete");
    assert_eq!(done["structuredContent"]["status"], "requested", "{done}");
    // The same state again: answered once already.
    let replay = modern(&lab, &token, "tools/call", retry).await;
    assert_eq!(error(&replay).1, -32602, "{}", replay.text());
    assert!(!replay.text().contains(&state), "the refusal never quotes the state");
}

#[tokio::test]
async fn a_request_state_is_refused_tampered_expired_elsewhere_or_for_another_user() {
    let lab = Lab::new();
    let (token, call) = returner(&lab).await;
    let state_for = |result: Value| result["requestState"].as_str().unwrap().to_owned();
    let fresh = || async { state_for(modern(&lab, &token, "tools/call", call.clone()).await.tool_result()) };
    let retry = |state: String, call: &Value| {
        let mut retry = call.clone();
        retry["inputResponses"] = confirmed(true);
        retry["requestState"] = json!(state);
        retry
    };
    // Tampered: the seal fails.
    let tampered = format!("{}-TAMPERED", fresh().await);
    let response = modern(&lab, &token, "tools/call", retry(tampered, &call)).await;
    assert_eq!(error(&response).1, -32602);
    // Claims edited, the tag kept: the seal fails (the claims decode, so the HMAC is what refuses).
    let state = fresh().await;
    let edited = format!("AAAA{state}");
    let response = modern(&lab, &token, "tools/call", retry(edited, &call)).await;
    assert!(response.text().contains("seal does not verify"), "{}", response.text());
    // On another request: another order's return.
    let mut other = call.clone();
    other["arguments"]["reason"] = json!("changed my mind");
    let response = modern(&lab, &token, "tools/call", retry(fresh().await, &other)).await;
    assert!(response.text().contains("another request"), "{}", response.text());
    // Another user's token with alice's state.
    let bob = lab.token_for("bob", "mcp:read mcp:write", RS).await;
    let state = fresh().await;
    // The same call, word for word, by bob: the state is alice's, bound to her.
    let response = modern(&lab, &bob, "tools/call", retry(state, &call)).await;
    assert!(response.text().contains("another request or caller"), "{}", response.text());
    // A state issued for one tool, carried to another.
    let state = fresh().await;
    let inventory = json!({"name": "update_inventory", "arguments": {"product_id": "P-100", "stock": 0}});
    let carol = lab.token_for("carol", "mcp:read mcp:write", RS).await;
    let response = modern(&lab, &carol, "tools/call", retry(state, &inventory)).await;
    assert!(!response.text().contains("\"resultType\":\"complete\""), "{}", response.text());
    // Expired: past its TTL.
    let state = fresh().await;
    lab.clock.advance(301);
    let token = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    let response = modern(&lab, &token, "tools/call", retry(state, &call)).await;
    assert!(response.text().contains("expired"), "{}", response.text());
}

#[tokio::test]
async fn a_declined_or_missing_confirmation_runs_nothing() {
    let lab = Lab::new();
    let (token, call) = returner(&lab).await;
    let state = modern(&lab, &token, "tools/call", call.clone()).await.tool_result()["requestState"].clone();
    let mut declined = call.clone();
    declined["inputResponses"] = confirmed(false);
    declined["requestState"] = state;
    let result = modern(&lab, &token, "tools/call", declined).await.tool_result();
    assert_eq!(result["isError"], true);
    // A retry that answers nothing is asked again (MRTR), with a new state.
    let state = modern(&lab, &token, "tools/call", call.clone()).await.tool_result()["requestState"].clone();
    let mut silent = call.clone();
    silent["requestState"] = state.clone();
    let again = modern(&lab, &token, "tools/call", silent).await.tool_result();
    assert_eq!(again["resultType"], "input_required");
    assert_ne!(again["requestState"], state);
    // No elicitation capability: the confirmation cannot be asked (-32021, 400).
    let mut params = call.clone();
    params["_meta"] = meta(json!({"sampling": {}}));
    let response = send(
        &lab,
        &headers(&token, "tools/call", Some("create_return"), &[]),
        &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params}),
    )
    .await;
    assert_eq!(error(&response), (StatusCode::BAD_REQUEST, -32021, json!(9)));
    assert_eq!(response.json()["error"]["data"], json!({"requiredCapabilities": {"elicitation": {}}}));
}

#[tokio::test]
async fn a_header_sent_twice_is_refused() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let mut headers = headers(&token, "tools/list", None, &[]);
    headers.push(("mcp-method", "tools/list".to_owned()));
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta(json!({}))}});
    let response = send(&lab, &headers, &body).await;
    assert_eq!(error(&response), (StatusCode::BAD_REQUEST, -32020, json!(5)));
}

#[tokio::test]
async fn a_modern_refusal_names_the_request_it_refuses() {
    // A 403 step-up at 2026-07-28 still echoes the request's id.
    let lab = Lab::new();
    let token = lab.alice().await;
    let response = modern(
        &lab,
        &token,
        "tools/call",
        json!({"name": "create_return", "arguments": {"order_id": "A-1001", "reason": "x"}}),
    )
    .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.json()["id"], json!(7));
}

#[tokio::test]
async fn the_shifting_request_state_persona_asks_three_times_and_counts_each_echo() {
    let lab = Lab::new();
    lab.set_profile(lab_mcp_server::RsProfile::ShiftingRequestState);
    let token = lab.token_for("alice", "mcp:read", RS).await;
    let call = json!({"name": "list_orders", "arguments": {}});
    let answer = json!({"round": {"action": "decline"}});
    let mut params = call.clone();
    let mut states = Vec::new();
    for round in 1..=3 {
        let result = modern(&lab, &token, "tools/call", params.clone()).await.tool_result();
        assert_eq!(result["resultType"], "input_required", "round {round}: {result}");
        // Rounds 1 and 2 carry a new state each; round 3 none.
        let state = result.get("requestState").cloned();
        assert_eq!(state.is_some(), round < 3, "round {round}");
        states.extend(state.clone());
        params = call.clone();
        params["inputResponses"] = answer.clone();
        if let Some(state) = state {
            params["requestState"] = state;
        }
    }
    assert_ne!(states[0], states[1], "a new state each round");
    let done = modern(&lab, &token, "tools/call", params).await.tool_result();
    assert_eq!(done["resultType"], "complete", "{done}");
    let log = lab.rs.persona_log();
    assert_eq!((log.input_rounds, log.states_echoed, log.states_refused), (3, 3, 0));
    // An old state, a crafted one, or none where the round sent one: refused, and counted.
    for state in [Some(states[0].clone()), Some(json!("crafted")), None] {
        let first = modern(&lab, &token, "tools/call", call.clone()).await.tool_result();
        let mut retry = call.clone();
        retry["inputResponses"] = answer.clone();
        assert!(first["requestState"].is_string());
        if let Some(state) = state {
            retry["requestState"] = state;
        }
        let refused = modern(&lab, &token, "tools/call", retry).await;
        assert_eq!(error(&refused), (StatusCode::BAD_REQUEST, -32602, json!(7)), "{}", refused.text());
    }
    assert_eq!(lab.rs.persona_log().states_refused, 3);
}
