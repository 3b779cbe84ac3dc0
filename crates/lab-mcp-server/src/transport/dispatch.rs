//! The JSON-RPC methods of an established session: `ping`, `tools/list`, `tools/call`,
//! `resources/list` and `resources/read`, each behind the permission matrix (`permission.rs`), and
//! the upstream call that completes `track_shipment` (RS-12). `initialize` is not here: it makes
//! the session, and belongs with the checks that come before it.

use lab_proto::jsonrpc::code;
use serde_json::{Value, json};

use super::Refusal;
use super::permission::{is_admin_user, permission};
use crate::principal::Principal;
use crate::profile::RsProfile;
use crate::server::McpServer;
use crate::tools::{self, Level, Outcome, Policy};

/// How a method failed: a JSON-RPC error in a 200 answer, or an HTTP refusal (a 401 or 403
/// challenge the client can act on).
pub(super) enum Dispatch {
    Error(i64, String),
    Refused(Refusal),
}

pub(super) async fn dispatch(
    server: &McpServer,
    method: &str,
    params: Option<&Value>,
    principal: &Principal,
) -> Result<Value, Dispatch> {
    let invalid = |message: &str| Dispatch::Error(code::INVALID_PARAMS, message.to_owned());
    match method {
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools::catalogue().iter().map(tools::describe).collect::<Vec<_>>()})),
        "tools/call" => {
            let params = params.and_then(Value::as_object).ok_or_else(|| invalid("tools/call needs params"))?;
            let name =
                params.get("name").and_then(Value::as_str).ok_or_else(|| invalid("tools/call needs a tool name"))?;
            let empty = json!({});
            let arguments = params.get("arguments").unwrap_or(&empty);
            if let Some(outcome) = gate(server, principal, name, arguments)? {
                return Ok(outcome.to_result());
            }
            let profile = server.profile();
            let policy = Policy {
                owner_check: profile != RsProfile::NoOwnerCheck,
                redaction: profile != RsProfile::NoRedaction,
            };
            let outcome = tools::execute(&mut server.shop(), name, arguments, principal, policy);
            let outcome = match (name, outcome) {
                ("track_shipment", Outcome::Ok(order)) => track(server, &order).await,
                (_, outcome) => outcome,
            };
            tracing::info!(tool = name, principal = %principal.key(), error = matches!(outcome, Outcome::Error(_)), "tool called");
            Ok(outcome.to_result())
        }
        "resources/list" => {
            let mut resources = vec![
                json!({"uri": "commerce://catalog/categories", "name": "categories", "title": "Product categories", "mimeType": "application/json"}),
            ];
            // The seed's permission matrix, for listing too: a customer is not even told the
            // admin-only analytics exist (an admin whose token lacks mcp:admin is, and steps up).
            if is_admin_user(server, principal) {
                resources.push(json!({"uri": ANALYTICS_URI, "name": "analytics-daily", "title": "Daily analytics",
                    "mimeType": "application/json", "annotations": {"audience": ["assistant"], "priority": 0.3}}));
            }
            Ok(json!({"resources": resources}))
        }
        "resources/read" => {
            let uri = params
                .and_then(|params| params.get("uri"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("resources/read needs a uri"))?;
            match uri {
                "commerce://catalog/categories" => {
                    let categories = tools::execute(
                        &mut server.shop(),
                        "get_categories",
                        &json!({}),
                        principal,
                        Policy { owner_check: true, redaction: true },
                    );
                    let Outcome::Ok(value) = categories else {
                        return Err(Dispatch::Error(code::INTERNAL_ERROR, "categories unavailable".into()));
                    };
                    Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": value.to_string()}]}))
                }
                ANALYTICS_URI => {
                    if permission(server, principal, Level::Admin)?.is_some() {
                        // Not the caller's to see: answered like a missing resource.
                        return Err(Dispatch::Error(code::RESOURCE_NOT_FOUND, format!("resource {uri} not found")));
                    }
                    let value = tools::analytics(&server.shop());
                    Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": value.to_string(),
                        "annotations": {"audience": ["assistant"], "priority": 0.3}}]}))
                }
                _ => Err(Dispatch::Error(code::RESOURCE_NOT_FOUND, format!("resource {uri} not found"))),
            }
        }
        _ => Err(Dispatch::Error(code::METHOD_NOT_FOUND, format!("method {method} not found"))),
    }
}

const ANALYTICS_URI: &str = "commerce://analytics/daily";

/// What stands before a tool runs: the tool exists, the permission matrix lets the caller use it
/// (`Ok(Some(outcome))` is the tool error that says it may not), and the arguments fit its schema.
pub(super) fn gate(
    server: &McpServer,
    principal: &Principal,
    name: &str,
    arguments: &Value,
) -> Result<Option<Outcome>, Dispatch> {
    let invalid = |message: String| Dispatch::Error(code::INVALID_PARAMS, message);
    let tool = tools::catalogue()
        .iter()
        .find(|tool| tool.name == name)
        .ok_or_else(|| invalid(format!("unknown tool {name}")))?;
    if let Some(outcome) = permission(server, principal, tool.level)? {
        return Ok(Some(outcome));
    }
    tools::validate(&tool.input_schema, arguments)
        .map_err(|message| invalid(format!("invalid arguments for {name}: {message}")))?;
    Ok(None)
}

/// Completes `track_shipment` through the upstream API with the RS's own token (RS-12).
async fn track(server: &McpServer, order: &Value) -> Outcome {
    let Some(upstream) = server.inner.config.upstream.clone() else {
        return Outcome::Error("the shipping service is not configured".to_owned());
    };
    let order_id = order["order_id"].as_str().unwrap_or_default().to_owned();
    let tracking = server.shop().order(&order_id).map(|order| order.tracking_number.to_owned());
    let Some(tracking) = tracking else { return Outcome::Error(format!("order {order_id} not found")) };
    match upstream.shipment_status(&tracking).await {
        Ok(status) => Outcome::Ok(json!({"order_id": order_id, "tracking_number": tracking, "shipment": status})),
        Err(error) => {
            tracing::warn!(%error, "upstream call failed");
            Outcome::Error("the shipping service is unavailable".to_owned())
        }
    }
}
