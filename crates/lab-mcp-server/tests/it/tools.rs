//! RS-07, RS-12, RS-19, RS-20, RS-23 and seed §7.4–7.5: the permission matrix, ownership,
//! redaction, the passthrough guard and input validation.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Lab, Mode, RS, UPSTREAM, assert_no_token_challenge};

fn text(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tools_list_names_every_tool_with_its_level() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let session = lab.session(&token).await;
    let response = lab.post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).await;
    let tools = response.json()["result"]["tools"].as_array().unwrap().clone();
    let names: Vec<&str> = tools.iter().map(|tool| tool["name"].as_str().unwrap()).collect();
    for name in [
        "search_products",
        "get_categories",
        "get_order",
        "list_orders",
        "track_shipment",
        "create_return",
        "update_profile",
        "update_inventory",
        "manage_promotions",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    assert!(tools.iter().all(|tool| tool["inputSchema"]["type"] == "object"));
}

#[tokio::test]
async fn public_and_logged_in_tools_work_with_read_scope() {
    let lab = Lab::new();
    let token = lab.alice().await;
    let products = lab.call(&token, "search_products", json!({"query": "tent"})).await.tool_result();
    assert_eq!(products["isError"], false);
    assert_eq!(products["structuredContent"]["products"][0]["product_id"], "P-105");
    let order = lab.call(&token, "get_order", json!({"order_id": "A-1001"})).await.tool_result();
    assert_eq!(order["structuredContent"]["status"], "delivered");
    assert_eq!(order["structuredContent"]["payment"]["card"], "**** **** **** 1111");
}

#[tokio::test]
async fn write_tools_with_a_read_token_get_a_step_up_challenge() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // `insufficient-scope-step-up`: 403 naming existing + needed scopes (requirements §7 item 16).
    let response = lab.call(&token, "create_return", json!({"order_id":"A-1001","reason":"too small"})).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let challenge = response.challenge();
    assert_eq!(challenge.param("error"), Some("insufficient_scope"));
    assert_eq!(challenge.param("scope"), Some("mcp:read mcp:write"));
    assert_eq!(
        challenge.param("resource_metadata"),
        Some("https://127.0.0.1:8443/.well-known/oauth-protected-resource/mcp")
    );
    assert!(challenge.param("error_description").is_some());
    // After the step-up the call succeeds.
    let stepped_up = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    let result =
        lab.call(&stepped_up, "create_return", json!({"order_id":"A-1001","reason":"too small"})).await.tool_result();
    assert_eq!(result["structuredContent"]["status"], "requested");
    // Return ids are unguessable: two returns tell nothing of how many there are.
    let second =
        lab.call(&stepped_up, "create_return", json!({"order_id":"A-1001","reason":"too big"})).await.tool_result();
    let ids = [&result, &second].map(|result| result["structuredContent"]["return_id"].as_str().unwrap().to_owned());
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(id.starts_with("R-") && id.len() >= 14, "{id}");
        assert!(!id[2..].chars().all(|c| c.is_ascii_digit()), "not a counter: {id}");
    }
}

#[tokio::test]
async fn admin_tools_need_the_role_and_the_scope() {
    let lab = Lab::new();
    // A customer cannot get there by any scope: a tool error, not a challenge (no step-up loop).
    let alice = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    let denied = lab.call(&alice, "update_inventory", json!({"product_id":"P-104","stock":5})).await.tool_result();
    assert_eq!(denied["isError"], true);
    assert_eq!(text(&denied), "this tool needs the admin role");
    // Carol has the role; with mcp:write only she is asked to step up to mcp:admin.
    let carol_write = lab.token_for("carol", "mcp:write", RS).await;
    let challenge = lab.call(&carol_write, "update_inventory", json!({"product_id":"P-104","stock":5})).await;
    assert_eq!(challenge.status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.challenge().param("scope"), Some("mcp:write mcp:admin"));
    let carol = lab.token_for("carol", "mcp:admin", RS).await;
    let updated = lab.call(&carol, "update_inventory", json!({"product_id":"P-104","stock":5})).await.tool_result();
    assert_eq!(updated["structuredContent"]["stock"], 5);
    let promotions = lab
        .call(&carol, "manage_promotions", json!({"action":"create","code":"SUMMER","percent_off":15}))
        .await
        .tool_result();
    assert_eq!(promotions["structuredContent"]["created"], "SUMMER");
}

#[tokio::test]
async fn scope_hierarchy_is_honoured() {
    let lab = Lab::new();
    // `scope-hierarchy`: mcp:admin covers mcp:write and mcp:read.
    let carol = lab.token_for("carol", "mcp:admin", RS).await;
    let result =
        lab.call(&carol, "update_profile", json!({"user_id":"carol","display_name":"Carol A."})).await.tool_result();
    assert_eq!(result["isError"], false);
    assert_eq!(lab.call(&carol, "list_orders", json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn someone_elses_order_looks_exactly_like_a_missing_one() {
    let lab = Lab::new();
    let token = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    // `idor-tool-call`.
    let foreign = lab.call(&token, "get_order", json!({"order_id":"B-2001"})).await.tool_result();
    let missing = lab.call(&token, "get_order", json!({"order_id":"Z-9999"})).await.tool_result();
    assert_eq!(foreign["isError"], true);
    assert_eq!(text(&foreign).replace("B-2001", "ID"), text(&missing).replace("Z-9999", "ID"));
    assert!(foreign.get("structuredContent").is_none());
    for (tool, arguments) in [
        ("create_return", json!({"order_id":"B-2001","reason":"mine now"})),
        ("track_shipment", json!({"order_id":"B-2001"})),
        ("update_profile", json!({"user_id":"bob","phone":"+1-555-0000"})),
    ] {
        let result = lab.call(&token, tool, arguments).await.tool_result();
        assert_eq!(result["isError"], true, "{tool}");
        assert!(text(&result).contains("not found"), "{tool}");
        assert!(!result.to_string().contains("Bob"), "{tool} leaked bob's data");
    }
    let orders = lab.call(&token, "list_orders", json!({})).await.tool_result();
    assert!(!orders.to_string().contains("B-2001"));
}

#[tokio::test]
async fn results_never_carry_personal_or_payment_secrets() {
    let lab = Lab::new();
    let token = lab.token_for("alice", "mcp:read mcp:write", RS).await;
    let mut everything = String::new();
    for (tool, arguments) in [
        ("list_orders", json!({})),
        ("get_order", json!({"order_id":"A-1001"})),
        ("search_products", json!({})),
        ("update_profile", json!({"user_id":"alice","display_name":"Alice L."})),
    ] {
        everything.push_str(&lab.call(&token, tool, arguments).await.text());
    }
    for secret in lab_mcp_server::SECRETS_THAT_NEVER_LEAVE {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    assert!(
        everything.contains("a***@example.com")
            && everything.contains("***-**-6789")
            && everything.contains("***-1234")
    );
}

#[tokio::test]
async fn client_credentials_tokens_get_no_user_data() {
    let lab = Lab::new();
    let token = lab.client_token().await;
    // `client-impersonating-user` (RS-23).
    for (tool, arguments) in [("list_orders", json!({})), ("get_order", json!({"order_id":"A-1001"}))] {
        let result = lab.call(&token, tool, arguments).await.tool_result();
        assert_eq!(result["isError"], true, "{tool}");
        assert!(!result.to_string().contains("A-1001\",\"status"));
    }
    assert_eq!(lab.call(&token, "search_products", json!({})).await.tool_result()["isError"], false);
}

#[tokio::test]
async fn the_upstream_sees_the_rs_token_never_the_callers() {
    let lab = Lab::new();
    let token = lab.alice().await;
    // `token-passthrough-upstream` (RS-12).
    let result = lab.call(&token, "track_shipment", json!({"order_id":"A-1002"})).await.tool_result();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["shipment"]["status"], "in transit");
    let seen = lab.upstream.seen_tokens.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0], token);
    let claims: Value = lab_proto::jose::decode_json(seen[0].split('.').nth(1).unwrap()).unwrap();
    assert_eq!(claims["aud"], UPSTREAM);
    assert_eq!(claims["sub"], "lab-rs");
}

#[tokio::test]
async fn tool_inputs_are_validated() {
    let lab = Lab::new();
    let token = lab.alice().await;
    for arguments in [
        json!({"order_id": 1001}),
        json!({}),
        json!({"order_id": "x".repeat(100)}),
        json!({"order_id":"A-1001","extra":true}),
        json!("A-1001"),
    ] {
        let response = lab.call(&token, "get_order", arguments.clone()).await;
        assert_eq!(response.json()["error"]["code"], -32602, "{arguments}");
    }
    let response = lab.call(&token, "search_products", json!({"query": "x".repeat(500)})).await;
    assert_eq!(response.json()["error"]["code"], -32602);
}

#[tokio::test]
async fn analytics_resource_is_for_admins_and_the_assistant() {
    let lab = Lab::new();
    let carol = lab.token_for("carol", "mcp:admin", RS).await;
    let session = lab.session(&carol).await;
    let list =
        lab.post(Some(&carol), Some(&session), &json!({"jsonrpc":"2.0","id":1,"method":"resources/list"})).await.json();
    let analytics = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|resource| resource["uri"] == "commerce://analytics/daily")
        .unwrap()
        .clone();
    assert_eq!(analytics["annotations"], json!({"audience":["assistant"],"priority":0.3}));
    let read = lab
        .post(
            Some(&carol),
            Some(&session),
            &json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"commerce://analytics/daily"}}),
        )
        .await
        .json();
    let content = &read["result"]["contents"][0];
    assert_eq!(content["annotations"]["audience"], json!(["assistant"]));
    assert!(!content["text"].as_str().unwrap().contains("cost"));
    let alice = lab.alice().await;
    let alice_session = lab.session(&alice).await;
    let denied = lab
        .post(
            Some(&alice),
            Some(&alice_session),
            &json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"commerce://analytics/daily"}}),
        )
        .await
        .json();
    assert_eq!(denied["error"]["code"], -32002);
}

#[tokio::test]
async fn anonymous_public_allows_only_public_tools() {
    let lab = Lab::with(Mode::Jwt, |config| config.anonymous_public = true);
    let init = lab.post(None, None, &crate::support::initialize("2025-11-25")).await;
    assert_eq!(init.status, StatusCode::OK);
    let session = init.header("mcp-session-id").unwrap().to_owned();
    let call = |tool: &'static str| json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":tool,"arguments":{}}});
    let products = lab.post(None, Some(&session), &call("search_products")).await;
    assert_eq!(products.json()["result"]["isError"], false);
    assert_no_token_challenge(&lab.post(None, Some(&session), &call("list_orders")).await);
    // A token-holder's session is not the anonymous one.
    let token = lab.alice().await;
    assert_eq!(lab.call_in(&token, &session, "list_orders", json!({})).await.status, StatusCode::NOT_FOUND);
}

/// Issue 14, item 14: a customer's resource listing does not name the admin-only analytics; an
/// admin's does (even one whose token lacks mcp:admin: reading it then steps up).
#[tokio::test]
async fn the_resource_listing_names_only_what_the_caller_may_read() {
    let lab = Lab::new();
    let list = |token: String| {
        let lab = &lab;
        async move {
            let session = lab.session(&token).await;
            let response = lab
                .post(Some(&token), Some(&session), &json!({"jsonrpc":"2.0","id":1,"method":"resources/list"}))
                .await;
            let listing = response.json();
            listing["result"]["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|resource| resource["uri"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let alice = list(lab.token_for("alice", "mcp:read", RS).await).await;
    assert_eq!(alice, ["commerce://catalog/categories"]);
    let carol = list(lab.token_for("carol", "mcp:read", RS).await).await;
    assert!(carol.contains(&"commerce://analytics/daily".to_owned()), "{carol:?}");
}
