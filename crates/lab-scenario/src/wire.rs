//! The runner's side of the wire: sending a request, reading the answer to a bound, pacing a
//! rate-limited third party, and writing both down (the redacted transcript and the exchange
//! records that reports draw as sequence diagrams).

use std::time::Duration;

use serde_json::Value;

use crate::error::StepError;
use crate::expect::Observation;
use crate::outcome::{Detail, ExchangeRecord, Party};
use crate::runner::Run;
use crate::vars::Vars;

/// How long an event stream is read before the step judges what arrived.
const STREAM_WAIT: Duration = Duration::from_secs(2);

/// What an event stream sends within `wait`, at most `limit` bytes; the stream is then dropped.
async fn read_stream_prefix(mut response: reqwest::Response, limit: usize, wait: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while body.len() < limit {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            // The stream ended, broke, or kept quiet past the wait: what came is the answer.
            _ => break,
        }
    }
    body
}

/// How much of a body a report shows of an exchange.
const EXCERPT: usize = 600;

/// The longest `Retry-After` a run against a running system waits out.
pub(crate) const MAX_PACING_SECONDS: u64 = 60;

/// A request body.
#[derive(Clone)]
pub(crate) enum Payload {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
    Raw(String),
}

/// How long to wait before sending once more, if the answer asks for a wait the run honours: a
/// `429` with a `Retry-After` in seconds of at most [`MAX_PACING_SECONDS`] (RFC 9110 §10.2.3;
/// the HTTP-date form is not waited for).
pub(crate) fn pacing(seen: &Observation) -> Option<u64> {
    let seconds = seen.header("retry-after").and_then(|value| value.trim().parse::<u64>().ok())?;
    (seen.status == Some(429) && seconds <= MAX_PACING_SECONDS).then_some(seconds)
}

/// What went wrong with an exchange, in words a person can act on: the kind of failure and its
/// innermost cause (refused, timed out, a certificate not trusted), never the HTTP library's bare
/// `builder error`, and without the URL (which may carry a credential in its query).
pub(crate) fn describe_http_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_builder() {
        "the request could not be built (is the URL valid?)"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off or unreadable"
    } else {
        "the exchange failed"
    };
    let mut cause = None;
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = Some(inner.to_string());
        source = inner.source();
    }
    match cause {
        Some(cause) if !cause.is_empty() => format!("{kind}: {cause}"),
        _ => kind.to_owned(),
    }
}

impl Run {
    /// The server an authority belongs to, for the sequence diagram.
    fn party_at(&self, authority: &str) -> Party {
        let authority_of = |url: &str| {
            url::Url::parse(url)
                .ok()
                .and_then(|url| Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?)))
        };
        let third_party = [(self.target.as_issuer.as_deref(), Party::As), (self.target.rs_url.as_deref(), Party::Rs)];
        if let Some((_, party)) =
            third_party.into_iter().find(|(url, _)| url.and_then(authority_of).is_some_and(|own| own == authority))
        {
            return party;
        }
        let lab = &self.lab;
        let parties = [
            (lab.as_addr().to_string(), Party::As),
            (lab.rs_addr().to_string(), Party::Rs),
            (lab.twin_addr().to_string(), Party::TwinRs),
            (lab.upstream_addr().to_string(), Party::Upstream),
            (lab.cimd_addr().to_string(), Party::CimdHost),
            (lab.canary().addr().to_string(), Party::Canary),
        ];
        parties
            .into_iter()
            .find(|(address, _)| address == authority)
            .map_or_else(|| Party::Host(authority.to_owned()), |(_, party)| party)
    }

    pub(crate) fn record(&mut self, from: Party, url: &str, method: &str, status: Option<u16>, detail: Detail) {
        let (authority, path) = match url::Url::parse(url) {
            Ok(parsed) => {
                let authority = match (parsed.host_str(), parsed.port_or_known_default()) {
                    (Some(host), Some(port)) => format!("{}:{port}", host.trim_matches(['[', ']'])),
                    _ => String::new(),
                };
                let path = match parsed.query() {
                    Some(query) => format!("{}?{query}", parsed.path()),
                    None => parsed.path().to_owned(),
                };
                (authority, path)
            }
            Err(_) => (String::new(), url.to_owned()),
        };
        let to = self.party_at(&authority);
        self.exchanges.push(ExchangeRecord {
            step: self.step_index,
            from,
            to,
            method: method.to_owned(),
            path: lab_client::redact_query(&path),
            status,
            detail,
        });
    }

    /// Sends a request. Against a running system, whose rate limits outlive one scenario, a 429
    /// with a `Retry-After` of at most [`MAX_PACING_SECONDS`] is waited out and the request sent
    /// once more (the scenarios that test rate limits are not applicable there).
    pub(crate) async fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        payload: Payload,
    ) -> Result<Observation, StepError> {
        // A third-party AS's rate limits outlive a scenario (a running system); the lab's own
        // rate-limit scenarios must see its 429s.
        if self.target.as_issuer.is_none() {
            return self.send_once(method, url, headers, payload).await;
        }
        let seen = self.send_once(method, url, headers.clone(), payload.clone()).await?;
        match pacing(&seen) {
            Some(seconds) => {
                self.transcript.push(format!("(rate-limited by the target: waiting {seconds} s, then once more)"));
                (self.sleep)(Duration::from_secs(seconds + 1)).await;
                self.paced = true;
                self.send_once(method, url, headers, payload).await
            }
            None => Ok(seen),
        }
    }

    async fn send_once(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        payload: Payload,
    ) -> Result<Observation, StepError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| StepError::Field { field: "method", message: format!("`{method}` is not an HTTP method") })?;
        let mut request = self.http.request(method.clone(), url);
        remember_sent_credentials(&mut self.vars, &headers, &payload);
        let sent_headers = headers.clone();
        self.transcript.push(format!("> {method} {}", lab_client::redact_query(url)));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
            self.transcript.push(format!(">   {name}: {}", lab_client::redact_header(name, value)));
        }
        let body_text = match payload {
            Payload::None => None,
            Payload::Form(pairs) => {
                let encoded: String =
                    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
                request = request.header("content-type", "application/x-www-form-urlencoded").body(encoded.clone());
                self.transcript.push(">   content-type: application/x-www-form-urlencoded".to_owned());
                Some(encoded)
            }
            Payload::Json(value) => {
                let text = value.to_string();
                if !headers.iter().any(|(name, _)| name == "content-type") {
                    request = request.header("content-type", "application/json");
                }
                request = request.body(text.clone());
                Some(text)
            }
            Payload::Raw(text) => {
                request = request.body(text.clone());
                Some(text)
            }
        };
        if let Some(text) = &body_text {
            self.transcript.push(format!(">   {}", lab_client::redact_body(text)));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let message = describe_http_error(&error);
                self.transcript.push(format!("< no answer: {message}"));
                self.record(Party::Attacker, url, method.as_str(), None, Detail::default());
                return Err(StepError::NoAnswer(message));
            }
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        // A third-party server's answer is read to a bound, like every body the lab reads. An event
        // stream may stay open for as long as the server likes (a GET's stream, TR-1125): what
        // arrives within a short wait is what the step saw.
        let stream =
            headers.iter().any(|(name, value)| name == "content-type" && value.starts_with("text/event-stream"));
        let body = if stream {
            read_stream_prefix(response, crate::third_party::MAX_PAGE_BYTES * 4, STREAM_WAIT).await
        } else {
            lab_mcp_server::verify::read_bounded(response, crate::third_party::MAX_PAGE_BYTES * 4)
                .await
                .map_err(StepError::Body)?
        };
        self.transcript.push(format!("< {status}"));
        for (name, value) in &headers {
            self.transcript.push(format!("<   {name}: {}", lab_client::redact_header(name, value)));
        }
        let text = String::from_utf8_lossy(&body);
        if !text.is_empty() {
            let shown: String = lab_client::redact_body(&text).chars().take(1500).collect();
            self.transcript.push(format!("<   {shown}"));
        }
        let redact_headers = |headers: &[(String, String)]| -> Vec<(String, String)> {
            headers.iter().map(|(name, value)| (name.clone(), lab_client::redact_header(name, value))).collect()
        };
        let detail = Detail {
            request_headers: redact_headers(&sent_headers),
            request_body: body_text
                .as_deref()
                .map(lab_client::redact_body)
                .unwrap_or_default()
                .chars()
                .take(EXCERPT)
                .collect(),
            response_headers: redact_headers(&headers),
            response_body: lab_client::redact_body(&text).chars().take(EXCERPT).collect(),
        };
        self.record(Party::Attacker, url, method.as_str(), Some(status), detail);
        let json = parse_body(&headers, &body);
        Ok(Observation {
            status: Some(status),
            headers,
            body,
            json,
            client: None,
            session_ids: Vec::new(),
            inapplicable: None,
        })
    }
}

/// Client credentials the request carries outside any variable: HTTP Basic (the encoded pair
/// and the secret in it) and a `client_secret` form parameter.
pub(crate) fn remember_sent_credentials(vars: &mut Vars, headers: &[(String, String)], payload: &Payload) {
    for (_, value) in headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
        // Whatever a step sends as a bearer token (a genuine one with a character added, say) is
        // scrubbed as a whole from every report; one a variable held is a credential already.
        if let Some((scheme, token)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            vars.redact(token.trim());
        }
        if let Ok((_, secret)) = lab_proto::basic::parse(value) {
            // The encoded pair, as a log would print the header, and the secret in it.
            vars.remember("basic_credentials", value.split_once(' ').map_or("", |(_, encoded)| encoded.trim()));
            vars.remember("client_secret", &secret);
        }
    }
    if let Payload::Form(pairs) = payload {
        for (name, value) in pairs {
            if name == "client_secret" {
                vars.remember("client_secret", value);
            }
        }
    }
}

/// JSON bodies as they are; an SSE body's last JSON-RPC message.
pub(crate) fn parse_body(headers: &[(String, String)], body: &[u8]) -> Option<Value> {
    let event_stream =
        headers.iter().any(|(name, value)| name == "content-type" && value.starts_with("text/event-stream"));
    if event_stream {
        let text = String::from_utf8_lossy(body);
        return text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .next_back();
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_short_numeric_retry_after_on_a_429_is_waited_out() {
        let answer = |status: u16, retry: &str| Observation {
            status: Some(status),
            headers: vec![("retry-after".into(), retry.into())],
            ..Observation::default()
        };
        assert_eq!(pacing(&answer(429, " 7 ")), Some(7));
        assert_eq!(pacing(&answer(429, "60")), Some(60));
        assert_eq!(pacing(&answer(429, "61")), None);
        assert_eq!(pacing(&answer(503, "1")), None);
        assert_eq!(pacing(&answer(429, "Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(pacing(&Observation { status: Some(429), ..Observation::default() }), None);
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64_and_remembered_decoded() {
        use base64::Engine as _;
        let header = lab_proto::basic::authorization("my client", "a+b&c%d~e");
        let encoded = header.strip_prefix("Basic ").unwrap();
        let pair = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(String::from_utf8(pair).unwrap(), "my+client:a%2Bb%26c%25d%7Ee");
        let mut vars = Vars::default();
        remember_sent_credentials(&mut vars, &[("authorization".to_owned(), header.clone())], &Payload::None);
        let secrets = vars.used_secrets();
        assert!(secrets.iter().any(|(name, value)| name == "client_secret" && value == "a+b&c%d~e"), "{secrets:?}");
    }

    #[test]
    fn an_event_stream_s_last_message_is_its_json() {
        let sse = [("content-type".to_owned(), "text/event-stream".to_owned())];
        let body = b"event: message\ndata: {\"id\":1}\n\ndata: {\"id\":2}\n\n";
        assert_eq!(parse_body(&sse, body), Some(serde_json::json!({"id": 2})));
        assert_eq!(parse_body(&[], b"{\"a\":1}"), Some(serde_json::json!({"a": 1})));
        assert_eq!(parse_body(&[], b"not json"), None);
    }
}
