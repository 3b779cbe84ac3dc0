//! MCP 2026-07-28 for the client (TR-2607): the request every call sends (`_meta`, the headers
//! that mirror its body, `Mcp-Param-*` from the tools' `x-mcp-header` marks in the base64 sentinel
//! where a plain header cannot carry them), the input-required rounds (MRTR) and what it reads of
//! a server of that revision. The flow of `flow.rs` decides when the client speaks it.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ACCEPT_BOTH, McpClient, printable, read_rpc};
use crate::config::{Confirm, Event};
use crate::error::ClientError;
use crate::http::{Answer, Body};
use lab_proto::jsonrpc;

impl McpClient {
    /// Whether the protected resource metadata, read again at the URL it was found at, no longer
    /// names the AS the client uses (SEP-2352). A metadata document that cannot be read says
    /// nothing, and the client goes on as before (refresh, then authorize).
    pub(super) async fn authorization_server_moved(&mut self) -> bool {
        let Some(discovered) = self.discovered.clone() else { return false };
        let Ok(answer) = self
            .send(2, Method::GET, &discovered.resource_metadata_url, &[("accept", "application/json")], Body::Empty)
            .await
        else {
            return false;
        };
        if answer.status != 200 {
            return false;
        }
        let Ok(document) = answer.json() else { return false };
        document["authorization_servers"].as_array().is_some_and(|servers| {
            !servers.is_empty() && !servers.iter().any(|server| server == &json!(discovered.issuer))
        })
    }

    /// A 2026-07-28 request of `method`: `params` with the `_meta` every request carries.
    pub(super) fn modern_message(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id();
        self.modern_message_with_id(id, method, params)
    }

    pub(super) fn modern_message_with_id(&self, id: i64, method: &str, mut params: Value) -> Value {
        // The client answers elicitations (as `--yes` says, or by declining); it has no sampling
        // or roots, so it declares none (MCP 2026-07-28: a server must not ask for them).
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-auth-lab-client", "version": env!("CARGO_PKG_VERSION")},
        });
        if let Some(params) = params.as_object_mut() {
            params.insert("_meta".to_owned(), meta);
        }
        jsonrpc::request(id, method, params)
    }

    /// POSTs a 2026-07-28 message with the token and the headers that mirror it; no session.
    pub(super) async fn modern_post(
        &self,
        message: &Value,
        method: &str,
        name: Option<&str>,
        params: &[(String, String)],
    ) -> Result<Answer, ClientError> {
        let bearer = self.tokens.as_ref().map(|tokens| format!("Bearer {}", tokens.access.secret()));
        let owned = modern_headers(method, name, params);
        let mut headers: Vec<(&str, &str)> = vec![("accept", ACCEPT_BOTH), ("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        headers.extend(owned.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        self.post_and_follow(&headers, message).await
    }

    /// The `Mcp-Param-*` headers of a 2026-07-28 tool call: each argument the tool's input schema
    /// marks `x-mcp-header`, as a header named by the mark (the tools are listed once for it).
    pub(super) async fn param_headers(
        &mut self,
        method: &str,
        params: &Value,
    ) -> Result<Vec<(String, String)>, ClientError> {
        if method != "tools/call" {
            return Ok(Vec::new());
        }
        if self.tools.is_none() {
            Box::pin(self.list_tools()).await?;
        }
        let name = params.get("name").and_then(Value::as_str);
        let tool = self
            .tools
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|tools| tools.iter().find(|tool| tool["name"].as_str() == name));
        if tool.is_none() {
            // Not listed, or dropped for its marks (TR-2607): never called.
            return Err(ClientError::Denied(format!(
                "the tool {} is not among the server's valid tools",
                name.unwrap_or_default().chars().filter(|c| !c.is_control()).take(64).collect::<String>()
            )));
        }
        let mut headers = Vec::new();
        if let (Some(tool), Some(arguments)) = (tool, params.get("arguments")) {
            for (header, path) in header_marks(tool).unwrap_or_default() {
                let Some(value) = path.iter().try_fold(arguments, |value, key| value.get(key)) else { continue };
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Bool(flag) => flag.to_string(),
                    Value::Number(number) => number.to_string(),
                    // null or absent: no header (TR-2607).
                    _ => continue,
                };
                headers.push((header, text));
            }
        }
        Ok(headers)
    }

    /// The answer to an elicitation (an input-required result's at 2026-07-28, a request on the
    /// stream at 2025-11-25). A form can be accepted without a person's typing only when each
    /// field has a default the server offered (SEP-1034: a client applies the defaults of the
    /// fields it does not fill) or is a yes/no, which confirming sets to yes; it is accepted as
    /// `ClientConfig::confirm` says (`--yes`, or a person who is shown what accepting sends), and
    /// otherwise declined.
    pub(super) async fn elicitation_response(&self, params: &Value) -> Value {
        let (response, note) = answer_elicitation(&self.config.confirm, self.config.callback_timeout, params).await;
        self.emit(Event::Note(note));
        response
    }

    /// The retry of a request that answered input-required: its params with `inputResponses` for
    /// what the client can answer and the server's `requestState` echoed untouched.
    pub(super) async fn answer_input(&self, mut params: Value, result: &Value) -> Result<Value, ClientError> {
        let mut responses = serde_json::Map::new();
        for (key, request) in result["inputRequests"].as_object().into_iter().flatten() {
            if request["method"] != "elicitation/create" {
                // No sampling and no roots here (the client declared neither): an input it cannot
                // construct ends the request rather than a retry without it.
                return Err(ClientError::Denied(format!(
                    "the server asked for {}, which this client does not offer",
                    printable(request["method"].as_str().unwrap_or_default(), 64)
                )));
            }
            let response = self.elicitation_response(&request["params"]).await;
            responses.insert(key.clone(), response);
        }
        if let Some(object) = params.as_object_mut() {
            object.insert("inputResponses".to_owned(), Value::Object(responses));
            match result.get("requestState") {
                Some(state) => {
                    object.insert("requestState".to_owned(), state.clone());
                }
                None => {
                    object.remove("requestState");
                }
            }
        }
        Ok(params)
    }
}

/// The revision a client of 2026-07-28 speaks, and what it sends in every request's `_meta`.
pub(super) const MODERN_PROTOCOL_VERSION: &str = "2026-07-28";
/// How many input-required rounds one request may take before the client gives up.
pub(super) const MAX_INPUT_ROUNDS: u32 = 5;

/// Whether an answer refuses the protocol version (-32022) while naming 2026-07-28 among the
/// versions it supports: a request worth sending once more at that version.
pub(super) fn offers_modern_again(answer: &Answer) -> bool {
    answer.status == 400
        && read_rpc(answer, None).is_ok_and(|response| {
            response.pointer("/error/code").and_then(Value::as_i64) == Some(-32022)
                && response
                    .pointer("/error/data/supported")
                    .and_then(Value::as_array)
                    .is_some_and(|versions| versions.iter().any(|version| version == MODERN_PROTOCOL_VERSION))
        })
}

/// Whether an answer to `server/discover` names 2026-07-28 among the server's versions.
pub(super) fn speaks_modern(answer: &Answer) -> bool {
    read_rpc(answer, None).is_ok_and(|response| {
        response
            .pointer("/result/supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|versions| versions.iter().any(|version| version == MODERN_PROTOCOL_VERSION))
    })
}

/// A header value as TR-2607 §Value Encoding asks: plain, or the base64 sentinel for what a plain
/// header cannot carry (non-ASCII, control characters, surrounding whitespace, or a value that
/// itself looks like the sentinel).
pub(super) fn header_value(value: &str) -> String {
    use base64::Engine as _;
    let plain = value.chars().all(|c| (' '..='~').contains(&c))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// Whether a tool's `x-mcp-header` marks are valid (TR-2607 §Custom Headers from Tool
/// Parameters): each a non-empty HTTP token, unique among the tool's marks whatever its case, on
/// a top-level property of type integer, string or boolean. A mark anywhere else in the schema
/// (under `items`, a combinator, `$defs`) cannot be reached and makes the tool invalid too.
pub(super) fn header_marks_valid(tool: &Value) -> bool {
    header_marks(tool).is_some()
}

/// The `x-mcp-header` marks of a tool, each with the path of `properties` keys that reaches its
/// property (TR-2607: "statically reachable through `properties` keys only"), or `None` when a
/// mark is invalid: not a non-empty HTTP token, on a type other than integer, string or boolean,
/// repeated whatever its case, or found under anything but a chain of `properties` (`items`, a
/// combinator, `$defs`).
pub(super) fn header_marks(tool: &Value) -> Option<Vec<(String, Vec<String>)>> {
    fn marks_below(value: &Value) -> bool {
        match value {
            Value::Object(object) => object.contains_key("x-mcp-header") || object.values().any(marks_below),
            Value::Array(items) => items.iter().any(marks_below),
            _ => false,
        }
    }
    /// Walks `schema` (an object schema at `path`), collecting marks; `false` on an invalid one.
    fn walk(schema: &Value, path: &[String], marks: &mut Vec<(String, Vec<String>)>) -> bool {
        let Some(object) = schema.as_object() else { return true };
        for (key, value) in object {
            match key.as_str() {
                "properties" => {
                    for (name, property) in value.as_object().into_iter().flatten() {
                        let mut at = path.to_vec();
                        at.push(name.clone());
                        if let Some(mark) = property.get("x-mcp-header") {
                            let Some(mark) = mark.as_str() else { return false };
                            let token = !mark.is_empty()
                                && mark.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
                            let typed = matches!(property["type"].as_str(), Some("integer" | "string" | "boolean"));
                            let repeated = marks.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(mark));
                            if !token || !typed || repeated {
                                return false;
                            }
                            marks.push((mark.to_owned(), at.clone()));
                        }
                        if !walk(property, &at, marks) {
                            return false;
                        }
                    }
                }
                "x-mcp-header" => {}
                _ if marks_below(value) => return false,
                _ => {}
            }
        }
        true
    }
    let mut marks = Vec::new();
    walk(&tool["inputSchema"], &[], &mut marks).then_some(marks)
}

/// The headers of a 2026-07-28 request: the version, the method, the name it acts on, and the
/// parameters a tool mirrors (`Mcp-Param-*`).
pub(super) fn modern_headers(method: &str, name: Option<&str>, params: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers = vec![
        ("mcp-protocol-version".to_owned(), MODERN_PROTOCOL_VERSION.to_owned()),
        ("mcp-method".to_owned(), method.to_owned()),
    ];
    if let Some(name) = name {
        headers.push(("mcp-name".to_owned(), header_value(name)));
    }
    for (header, value) in params {
        headers.push((format!("mcp-param-{}", header.to_ascii_lowercase()), header_value(value)));
    }
    headers
}

/// [`McpClient::elicitation_response`] without the client: the answer and a note of it, for a
/// task that answers the server's requests on its own stream too.
pub(super) async fn answer_elicitation(
    confirm: &Confirm,
    timeout: std::time::Duration,
    params: &Value,
) -> (Value, String) {
    let message: String =
        params["message"].as_str().unwrap_or_default().chars().filter(|c| !c.is_control()).take(300).collect();
    let properties = params["requestedSchema"]["properties"].as_object().cloned().unwrap_or_default();
    // What accepting sends: each field's default, and yes for a yes/no field that has none.
    let content: Option<serde_json::Map<String, Value>> = (!properties.is_empty())
        .then(|| {
            properties
                .iter()
                .map(|(name, property)| {
                    let value =
                        default_value(property).or_else(|| (property["type"] == "boolean").then_some(json!(true)))?;
                    Some((name.clone(), value))
                })
                .collect()
        })
        .flatten();
    let Some(content) = content else {
        return (json!({"action": "decline"}), format!("declined (the form needs a person's input): {message}"));
    };
    let answers: Vec<String> = content.iter().map(|(name, value)| printable(&format!("{name}={value}"), 80)).collect();
    let confirmed = match confirm {
        Confirm::Decline => None,
        Confirm::Yes => Some("--yes"),
        Confirm::Ask(ask) => {
            let ask = ask.clone();
            // The person sees what accepting sends, not only the server's words.
            let question = format!("{message} (accepting sends {})", answers.join(", "));
            // A person may take their time, but not forever: past the callback timeout the
            // question is declined (the blocking thread is left to its read).
            let answer = tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || ask(&question))).await;
            matches!(answer, Ok(Ok(true))).then_some("the user")
        }
    };
    match confirmed {
        Some(by) => (
            json!({"action": "accept", "content": content}),
            format!("confirmed ({by}), sending {}: {message}", answers.join(", ")),
        ),
        None => (json!({"action": "decline"}), format!("declined: {message}")),
    }
}

/// The default a form field offers, when it is a value such a field can hold: a string, a
/// number, a boolean, or a list of strings (a multi-select).
fn default_value(property: &Value) -> Option<Value> {
    let default = property.get("default")?;
    let fits = match default {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    };
    fits.then(|| default.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(properties: Value) -> Value {
        json!({"name": "t", "inputSchema": {"type": "object", "properties": properties}})
    }

    #[test]
    fn a_tool_with_an_invalid_header_mark_is_dropped() {
        assert!(header_marks_valid(&tool(json!({"region": {"type": "string", "x-mcp-header": "Region"}}))));
        assert!(header_marks_valid(&tool(
            json!({"n": {"type": "integer", "x-mcp-header": "N"}, "b": {"type": "boolean", "x-mcp-header": "B"}})
        )));
        for invalid in [
            json!({"r": {"type": "string", "x-mcp-header": ""}}),
            json!({"r": {"type": "number", "x-mcp-header": "R"}}),
            json!({"r": {"type": "object", "x-mcp-header": "R"}}),
            json!({"r": {"type": "array", "x-mcp-header": "R"}}),
            json!({"r": {"type": "string", "x-mcp-header": "Has Space"}}),
            json!({"r": {"type": "string", "x-mcp-header": "Colon:"}}),
            json!({"r": {"type": "string", "x-mcp-header": "Région"}}),
            json!({"r": {"type": "string", "x-mcp-header": null}}),
            json!({"a": {"type": "string", "x-mcp-header": "Same"}, "b": {"type": "string", "x-mcp-header": "same"}}),
            json!({"list": {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}}}),
        ] {
            assert!(!header_marks_valid(&tool(invalid.clone())), "{invalid}");
        }
        let nested = json!({"name": "t", "inputSchema": {"type": "object", "anyOf": [{"properties": {"x": {"type": "string", "x-mcp-header": "X"}}}]}});
        assert!(!header_marks_valid(&nested));
        // Reached through a chain of `properties`: valid, and mirrored from its exact path.
        let chain = tool(
            json!({"location": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}}),
        );
        assert_eq!(
            header_marks(&chain),
            Some(vec![("Region".to_owned(), vec!["location".to_owned(), "region".to_owned()])])
        );
    }

    #[test]
    fn header_values_use_the_base64_sentinel_only_where_a_plain_one_cannot_carry_them() {
        assert_eq!(header_value("A-1001"), "A-1001");
        assert_eq!(header_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
        assert_eq!(header_value(" padded "), format!("=?base64?{}?=", "IHBhZGRlZCA="));
        assert_eq!(header_value("=?base64?literal?="), "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
    }
}
