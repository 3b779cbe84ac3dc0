//! The record of every exchange the client makes, with secrets redacted (design §4: transcripts
//! never hold a raw secret).

use serde::Serialize;
use serde_json::Value;

/// Whether a parameter or JSON member called `name` carries a credential: any name ending, without
/// regard to case, in `token`, `secret`, `password`, `code`, `verifier` or `assertion`
/// (`lab_proto::secret::is_secret_name`, the one rule the whole lab redacts by).
pub fn is_secret_name(name: &str) -> bool {
    lab_proto::secret::is_secret_name(name)
}

/// One HTTP exchange.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// The step of the six-step flow it belongs to (1–6).
    pub step: u8,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    /// Why the exchange failed before an answer arrived.
    pub error: Option<String>,
}

/// Everything the client did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Trace {
    pub exchanges: Vec<Exchange>,
}

/// An exchange with its answer's status, headers and body, each redacted.
pub(crate) fn answered(
    mut exchange: Exchange,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Exchange {
    exchange.status = Some(status);
    exchange.response_headers = headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), redact_header(name.as_str(), value.to_str().ok()?))))
        .collect();
    exchange.response_body = Some(redact_body(&String::from_utf8_lossy(body)));
    exchange
}

/// Redacts the secret parameters of a URL or form body (`code=…` becomes `code=[redacted]`), in
/// the query and in the fragment, where an implicit-style answer puts its tokens.
pub fn redact_query(text: &str) -> String {
    let (before, fragment) = match text.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (text, None),
    };
    let (prefix, query) = match before.split_once('?') {
        Some((prefix, query)) => (format!("{prefix}?"), Some(query)),
        None if before.contains('=') && !before.contains("://") => (String::new(), Some(before)),
        None => (before.to_owned(), None),
    };
    let mut out = match query {
        Some(query) => format!("{prefix}{}", redact_pairs(query)),
        None => prefix,
    };
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&redact_pairs(fragment));
    }
    out
}

/// `name=value&…` with every credential's value redacted.
fn redact_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts secret members of a JSON document, at any depth.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, value)| {
                    let value = if is_secret_name(name) && value.is_string() {
                        Value::String("[redacted]".into())
                    } else {
                        redact_json(value)
                    };
                    (name.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// Redacts a header value: credentials, cookies, session ids and the code in a `Location`.
pub fn redact_header(name: &str, value: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} [redacted]"),
            None => "[redacted]".to_owned(),
        },
        // A session id is a handle an attacker can hijack (SBP Session Hijacking), and on a
        // server that wrongly takes it as authentication it is a credential.
        "cookie" | "set-cookie" | "mcp-session-id" => "[redacted]".to_owned(),
        "location" => redact_query(value),
        // A tool argument mirrored into a header (MCP 2026-07-28) is redacted as the same member
        // of a JSON body would be.
        other if other.strip_prefix("mcp-param-").is_some_and(is_secret_name) => "[redacted]".to_owned(),
        _ => value.to_owned(),
    }
}

/// Redacts a body: JSON members, form parameters, or SSE `data:` lines.
pub fn redact_body(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        return redact_json(&value).to_string();
    }
    // An event stream: any of its field lines, or a comment (`:`) or `retry:` first.
    let stream = ["event:", "id:", "data:", "retry:", ":"].iter().any(|start| body.starts_with(start))
        || body.lines().any(|line| line.starts_with("data:"));
    if stream {
        return body
            .lines()
            // `data:` with or without its optional space (the event-stream format allows both).
            .map(|line| match line.strip_prefix("data:") {
                Some(data) => format!("data: {}", redact_body(data.strip_prefix(' ').unwrap_or(data))),
                None => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    redact_query(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_recognised_by_its_name_s_ending() {
        assert!(is_secret_name("registration_access_token") && !is_secret_name("code_challenge"));
        let json = redact_body(r#"{"client_id":"c","registration_access_token":"RAT-123","error":{"code":-32600}}"#);
        assert!(!json.contains("RAT-123") && json.contains("-32600"), "{json}");
    }

    #[test]
    fn a_token_in_a_fragment_or_a_compact_event_stream_is_redacted() {
        assert_eq!(
            redact_query("http://127.0.0.1:5/cb#access_token=AT-123&token_type=bearer&state=s"),
            "http://127.0.0.1:5/cb#access_token=[redacted]&token_type=bearer&state=s"
        );
        assert_eq!(redact_query("http://h/cb?code=C#id_token=I"), "http://h/cb?code=[redacted]#id_token=[redacted]");
        let stream = redact_body("event: message\ndata:{\"access_token\":\"AT-456\"}\n");
        assert!(!stream.contains("AT-456"), "{stream}");
    }

    #[test]
    fn redacts_every_credential_form() {
        assert_eq!(
            redact_query("http://127.0.0.1:5/callback?code=SECRET&state=s&iss=x"),
            "http://127.0.0.1:5/callback?code=[redacted]&state=s&iss=x"
        );
        assert_eq!(
            redact_body("grant_type=authorization_code&code=C&code_verifier=V"),
            "grant_type=authorization_code&code=[redacted]&code_verifier=[redacted]"
        );
        let json = redact_body(r#"{"access_token":"AT","token_type":"Bearer","nested":{"refresh_token":"RT"}}"#);
        assert!(!json.contains("AT\"") && !json.contains("RT") && json.contains("Bearer"));
        assert_eq!(redact_header("Authorization", "Bearer abc.def.ghi"), "Bearer [redacted]");
        assert_eq!(redact_header("MCP-Session-Id", "a1b2c3d4e5f6"), "[redacted]");
        assert_eq!(redact_header("content-type", "application/json"), "application/json");
        let sse = redact_body("event: message\ndata: {\"result\":{\"access_token\":\"AT\"}}");
        assert!(!sse.contains("\"AT\""));
    }
}
