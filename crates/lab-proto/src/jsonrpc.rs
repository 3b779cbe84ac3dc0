//! JSON-RPC 2.0 messages as MCP uses them (MCP `basic/index`), and the MCP protocol constants.
//!
//! Requests are parsed from `serde_json::Value` by hand rather than through a derived enum, so that
//! every malformed message gets the JSON-RPC error code the spec assigns (`-32700` parse error,
//! `-32600` invalid request) instead of a generic deserialization failure.

use serde_json::{Map, Value, json};

/// The protocol revisions the lab's RS speaks, newest first (requirements §0.3: 2025-11-25 is the
/// baseline; 2025-06-18 is still negotiated).
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 2] = ["2025-11-25", "2025-06-18"];
/// The newest revision the lab speaks.
pub const LATEST_PROTOCOL_VERSION: &str = SUPPORTED_PROTOCOL_VERSIONS[0];
/// TR-1125 §Protocol Version Header: what a server assumes when the header is absent.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-03-26";
/// The stateless revisions (TR-2607: no `initialize`, no sessions, `_meta` on every request), newest
/// first. A dual-era server serves them beside [`SUPPORTED_PROTOCOL_VERSIONS`] on one endpoint.
pub const MODERN_PROTOCOL_VERSIONS: [&str; 1] = ["2026-07-28"];
/// The revisions that open with `initialize` (any of them names the legacy era in a header).
pub const LEGACY_PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// The `_meta` keys of a 2026-07-28 request and result (MCP 2026-07-28 `basic/index`).
pub mod meta {
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
}

/// JSON-RPC error codes.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP 2025-11-25: a resource that does not exist (2026-07-28 answers -32602 instead).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// MCP 2026-07-28: a header that is missing or disagrees with the body (TR-2607, SEP-2243).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the request needs a client capability the client did not declare.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: a protocol version the server does not speak.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// One incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: has an `id` and expects a response.
    Request { id: Value, method: String, params: Option<Value> },
    /// A notification: no `id`, no response.
    Notification { method: String, params: Option<Value> },
    /// A response (to a request the server sent), which the lab's RS only acknowledges.
    Response { id: Value },
}

/// Why a message was refused, with the JSON-RPC error to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The request id when it could be read, else `null`.
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl Refusal {
    /// The JSON-RPC error response.
    pub fn to_response(&self) -> Value {
        error_response(self.id.clone(), self.code, &self.message, None)
    }
}

/// Parses one JSON-RPC message from bytes. Batches (JSON arrays) are refused: MCP removed them in
/// 2025-06-18.
pub fn parse_message(bytes: &[u8]) -> Result<Message, Refusal> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| Refusal {
        id: Value::Null,
        code: code::PARSE_ERROR,
        message: format!("parse error: {error}"),
    })?;
    parse_value(value)
}

/// Parses one JSON-RPC message from a JSON value.
pub fn parse_value(value: Value) -> Result<Message, Refusal> {
    let invalid = |id: Value, message: &str| Refusal { id, code: code::INVALID_REQUEST, message: message.to_owned() };
    let Value::Object(object) = value else {
        let message = if value.is_array() { "batches are not supported" } else { "message must be a JSON object" };
        return Err(invalid(Value::Null, message));
    };
    let id = object.get("id").cloned();
    let reported_id = id.clone().filter(valid_id).unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&Value::String("2.0".to_owned())) {
        return Err(invalid(reported_id, "jsonrpc must be \"2.0\""));
    }
    if let Some(id) = &id
        && !valid_id(id)
    {
        return Err(invalid(Value::Null, "id must be a string or an integer"));
    }
    let params = object.get("params").cloned();
    if params.as_ref().is_some_and(|params| !params.is_object() && !params.is_array()) {
        return Err(invalid(reported_id, "params must be an object or an array"));
    }
    match (object.get("method"), id) {
        (Some(Value::String(method)), Some(id)) => Ok(Message::Request { id, method: method.clone(), params }),
        (Some(Value::String(method)), None) => Ok(Message::Notification { method: method.clone(), params }),
        (Some(_), _) => Err(invalid(reported_id, "method must be a string")),
        (None, Some(id)) if object.contains_key("result") || object.contains_key("error") => {
            Ok(Message::Response { id })
        }
        (None, _) => Err(invalid(reported_id, "message has no method")),
    }
}

/// MCP: request ids are strings or integers, never null.
fn valid_id(id: &Value) -> bool {
    id.is_string() || id.as_i64().is_some() || id.as_u64().is_some()
}

/// A success response.
pub fn result_response(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response.
pub fn error_response(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = Map::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if let Some(data) = data {
        error.insert("data".into(), data);
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// A request (for clients).
pub fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A notification (for clients).
pub fn notification(method: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": method})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_notifications_and_responses() {
        let request = parse_message(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert_eq!(request, Message::Request { id: json!(1), method: "ping".into(), params: None });
        let notification = parse_message(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(notification, Message::Notification { .. }));
        let response = parse_message(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert_eq!(response, Message::Response { id: json!("a") });
    }

    #[test]
    fn malformed_messages_get_the_right_codes() {
        assert_eq!(parse_message(b"{not json").unwrap_err().code, code::PARSE_ERROR);
        assert_eq!(parse_message(b"").unwrap_err().code, code::PARSE_ERROR);
        let batch = parse_message(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).unwrap_err();
        assert_eq!(batch.code, code::INVALID_REQUEST);
        assert!(batch.message.contains("batch"));
        for bad in [
            r#"{"id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"str"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#""text""#,
        ] {
            assert_eq!(parse_message(bad.as_bytes()).unwrap_err().code, code::INVALID_REQUEST, "{bad}");
        }
        assert_eq!(parse_message(br#"{"jsonrpc":"1.0","id":7,"method":"x"}"#).unwrap_err().id, json!(7));
    }

    #[test]
    fn builds_responses() {
        assert_eq!(result_response(json!(1), json!({})), json!({"jsonrpc":"2.0","id":1,"result":{}}));
        let error = error_response(json!("x"), code::METHOD_NOT_FOUND, "nope", None);
        assert_eq!(error["error"]["code"], -32601);
    }
}
