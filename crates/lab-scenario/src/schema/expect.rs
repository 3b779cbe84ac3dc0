//! What a step must answer: the expectations (`expect`, and `exploit` for what a successful
//! attack looks like).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::step::json_texts;

/// What a `client` step must end with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientExpect {
    /// `succeeded`.
    Succeeded,
    /// `refused`, or `refused:CL-xx` for one check.
    Refused(Option<String>),
    /// `failed`.
    Failed,
}

impl FromStr for ClientExpect {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "succeeded" => Ok(Self::Succeeded),
            "refused" => Ok(Self::Refused(None)),
            "failed" => Ok(Self::Failed),
            _ => match text.strip_prefix("refused:") {
                Some(check) if !check.is_empty() => Ok(Self::Refused(Some(check.to_owned()))),
                _ => Err(format!("expect.client `{text}` must be succeeded, refused, refused:CL-xx or failed")),
            },
        }
    }
}

impl fmt::Display for ClientExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Succeeded => f.write_str("succeeded"),
            Self::Refused(None) => f.write_str("refused"),
            Self::Refused(Some(check)) => write!(f, "refused:{check}"),
            Self::Failed => f.write_str("failed"),
        }
    }
}

impl<'de> Deserialize<'de> for ClientExpect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What a step must answer. Every string may use `${variables}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status.
    pub status: Option<u16>,
    /// One of these HTTP statuses.
    pub status_in: Option<Vec<u16>>,
    /// A status in this inclusive range (`[400, 499]`: any client error).
    pub status_between: Option<[u16; 2]>,
    /// A redirect: a 3xx with a `Location`, any but 307, which would re-send a form's body to
    /// the client (O21 §1.6: "any other method … with the exception of HTTP 307, is allowed").
    pub redirected: Option<bool>,
    /// `true`: the answer sends the user agent nowhere but the AS itself: no `Location`, or one on
    /// the issuer's own origin (its error page). O21 §4.1.2.1: on a bad redirect URI or client
    /// the AS "MUST NOT automatically redirect the user agent to the invalid redirect URI"; how
    /// it informs the user (a 400 page, a 200 page, its own error page) is its own.
    pub stays_at_as: Option<bool>,
    /// The OAuth error code: the redirect's `error` (its query's, else its fragment's), else the
    /// JSON body's, else the challenge's.
    pub error: Option<String>,
    /// One of these OAuth error codes, where the specification allows several.
    pub error_in: Option<Vec<String>>,
    /// Headers that must equal these values (names are case-insensitive).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must contain these strings.
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub header_absent: Vec<String>,
    /// Parameters of the `Bearer` challenge in `WWW-Authenticate` that must equal these values.
    #[serde(default)]
    pub challenge: BTreeMap<String, String>,
    /// `true`: a `Bearer` challenge is in `WWW-Authenticate`, whatever its parameters (O21
    /// §5.3.1: a 401 "MUST include the HTTP `WWW-Authenticate` response header field").
    pub challenged: Option<bool>,
    /// Parameters of the `Bearer` challenge that must be present and not empty, whatever their
    /// value (a `scope`, whose value is the server's own).
    #[serde(default)]
    pub challenge_present: Vec<String>,
    /// Parameters of the `Bearer` challenge that must be absent.
    #[serde(default)]
    pub challenge_absent: Vec<String>,
    /// Query parameters of the `Location` redirect that must equal these values.
    #[serde(default)]
    pub redirect: BTreeMap<String, String>,
    /// Query parameters of the `Location` redirect that must be present and not empty (an
    /// authorization response's `code`, whose value the step cannot know in advance).
    #[serde(default)]
    pub redirect_present: Vec<String>,
    /// Query parameters of the `Location` redirect that must be absent.
    #[serde(default)]
    pub redirect_absent: Vec<String>,
    /// Parameters that must not be in the `Location` redirect's fragment (an authorization
    /// response belongs in the query, O21 §4.1.2).
    #[serde(default)]
    pub fragment_absent: Vec<String>,
    /// JSON pointers (RFC 6901) into the body that must equal these values.
    #[serde(default)]
    pub json: BTreeMap<String, Value>,
    /// JSON pointers that must be present, not null and not an empty string (an `access_token`
    /// issued, whatever it is).
    #[serde(default)]
    pub json_present: Vec<String>,
    /// JSON pointers that must be absent.
    #[serde(default)]
    pub json_absent: Vec<String>,
    /// JSON pointers whose string value must contain these strings.
    #[serde(default)]
    pub json_contains: BTreeMap<String, String>,
    /// Strings the body must contain.
    #[serde(default)]
    pub body_contains: Vec<String>,
    /// Strings that no byte of the body (or the headers) may contain: secrets, other users' data.
    #[serde(default)]
    pub body_not_contains: Vec<String>,
    /// The JSON-RPC error code of an `mcp` answer.
    pub rpc_error: Option<i64>,
    /// Whether an `mcp` tool result is a tool error (`isError`).
    pub tool_error: Option<bool>,
    /// A `client` step's outcome: `succeeded`, `refused`, `refused:CL-03`, or `failed`.
    #[schemars(with = "Option<String>")]
    pub client: Option<ClientExpect>,
    /// Expectations of which at least one must hold, where the specification allows several
    /// answers that one expectation cannot say (`X-Frame-Options` or CSP `frame-ancestors`).
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub any_of: Vec<Expect>,
    /// The `MCP-Session-Id`s the step's runs were given (with `repeat`, one per run): how they
    /// must look (TR-1125 §Session Management, SBP Session Hijacking).
    pub session_ids: Option<SessionIds>,
}

/// Checks of a sample of session ids. The ids themselves never appear in a report.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIds {
    /// Every run got an id, and every byte of every id is visible ASCII (`0x21`–`0x7E`).
    #[serde(default)]
    pub visible_ascii: bool,
    /// No id was issued twice.
    #[serde(default)]
    pub distinct: bool,
    /// The estimated entropy of the ids is at least this many bits.
    pub min_bits: Option<f64>,
    /// The estimated entropy of the ids is at most this many bits (an exploit: they can be guessed).
    pub max_bits: Option<f64>,
}

impl Expect {
    /// Whether nothing is expected.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.status_in.is_none()
            && self.status_between.is_none()
            && self.redirected.is_none()
            && self.stays_at_as.is_none()
            && self.error.is_none()
            && self.error_in.is_none()
            && self.headers.is_empty()
            && self.header_contains.is_empty()
            && self.header_absent.is_empty()
            && self.challenge.is_empty()
            && self.challenged.is_none()
            && self.challenge_present.is_empty()
            && self.challenge_absent.is_empty()
            && self.redirect.is_empty()
            && self.redirect_present.is_empty()
            && self.redirect_absent.is_empty()
            && self.fragment_absent.is_empty()
            && self.json.is_empty()
            && self.json_present.is_empty()
            && self.json_absent.is_empty()
            && self.json_contains.is_empty()
            && self.body_contains.is_empty()
            && self.body_not_contains.is_empty()
            && self.rpc_error.is_none()
            && self.tool_error.is_none()
            && self.client.is_none()
            && self.any_of.iter().all(Expect::is_empty)
            && self.session_ids.is_none()
    }

    /// Whether it expects the OAuth error `code`, as the error code (or one of them) or the
    /// challenge's `error`.
    pub fn expects_error(&self, code: &str) -> bool {
        self.error.as_deref() == Some(code)
            || self.error_in.as_ref().is_some_and(|codes| codes.iter().any(|known| known == code))
            || self.challenge.get("error").is_some_and(|error| error == code)
    }

    /// Every string that may name `${variables}`, with the expectation's field, for the loader's
    /// checks and applicability.
    pub fn fields_with_texts(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        out.extend(self.error.as_deref().map(|text| ("error", text)));
        for (field, map) in [
            ("headers", &self.headers),
            ("header_contains", &self.header_contains),
            ("challenge", &self.challenge),
            ("redirect", &self.redirect),
            ("json_contains", &self.json_contains),
        ] {
            out.extend(map.values().map(|text| (field, text.as_str())));
        }
        out.extend(self.body_contains.iter().map(|text| ("body_contains", text.as_str())));
        out.extend(self.body_not_contains.iter().map(|text| ("body_not_contains", text.as_str())));
        let mut json = Vec::new();
        self.json.values().for_each(|value| json_texts(value, &mut json));
        out.extend(json.into_iter().map(|text| ("json", text)));
        out
    }

    pub(crate) fn texts(&self) -> Vec<&str> {
        let mut texts: Vec<&str> = self.fields_with_texts().into_iter().map(|(_, text)| text).collect();
        for alternative in &self.any_of {
            texts.extend(alternative.texts());
        }
        texts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_outcomes_parse_and_print_back() {
        for text in ["succeeded", "refused", "refused:CL-03", "failed"] {
            assert_eq!(text.parse::<ClientExpect>().map(|expect| expect.to_string()), Ok(text.to_owned()));
        }
        assert!("refused:".parse::<ClientExpect>().is_err());
        assert!("ok".parse::<ClientExpect>().is_err());
    }
}
