//! HTTP plumbing shared by the endpoints: RFC-shaped error responses, form parsing with the O21
//! §3.2 rules, secret digests and comparison, and the security headers of HTML pages.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lab_proto::{ErrorResponse, OAuthErrorCode};
use serde::Serialize;

/// The largest request body any endpoint reads. Registration documents and token requests are a
/// few hundred bytes; anything near this is abuse.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// An error of the token, registration, introspection or revocation endpoints: the RFC error JSON
/// with `Cache-Control: no-store` (O21 §3.2.3 applies it to error responses too, requirements §7
/// item 10).
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorResponse,
    /// `WWW-Authenticate: Basic …` when a client failed to authenticate with the header
    /// (O21 §3.2.4).
    pub(crate) www_authenticate: Option<String>,
    pub(crate) retry_after: Option<u64>,
}

impl OAuthError {
    pub(crate) fn new(status: StatusCode, code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self { status, body: ErrorResponse::new(code, description), www_authenticate: None, retry_after: None }
    }

    pub(crate) fn bad_request(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request(OAuthErrorCode::InvalidRequest, description)
    }

    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            OAuthErrorCode::TemporarilyUnavailable,
            "too many requests, retry later",
        );
        error.retry_after = Some(retry_after.max(1));
        error
    }

    pub(crate) fn server_error() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, OAuthErrorCode::ServerError, "internal error")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = json_no_store(self.status, &self.body);
        if let Some(challenge) = self.www_authenticate.and_then(|value| HeaderValue::from_str(&value).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON response that must not be cached because it carries (or may carry) credentials.
pub(crate) fn json_no_store(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A public JSON document (metadata, JWKS).
pub(crate) fn json_public(body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Headers every HTML page of the AS carries: anti-framing (O21 §7.10, BCP §4.16, AS-17), no
/// caching, no referrer (the page URL holds the authorization request), and a CSP that allows
/// nothing but the inline style.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A parsed `application/x-www-form-urlencoded` body.
#[derive(Default)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

/// Every parameter's name, but the value of a credential (`client_secret`, `code`,
/// `code_verifier`, `refresh_token`, `token`, …: `lab_proto::secret::is_secret_name`) as
/// `[redacted]`, so a form that reaches a log line or a failing test's output shows no secret.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Redacted;
        impl std::fmt::Debug for Redacted {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }
        f.write_str("Form ")?;
        let mut map = f.debug_map();
        for (name, value) in &self.pairs {
            if lab_proto::secret::is_secret_name(name) {
                map.entry(name, &Redacted);
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl Form {
    /// Parses a form body or query string. The bytes must be UTF-8 (O21 §3.2).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, OAuthError> {
        let not_utf8 = || OAuthError::invalid_request("request parameters are not UTF-8");
        let mut pairs = Vec::new();
        for field in bytes.split(|&byte| byte == b'&').filter(|field| !field.is_empty()) {
            let (key, value) = match field.iter().position(|&byte| byte == b'=') {
                Some(index) => (&field[..index], &field[index + 1..]),
                None => (field, &b""[..]),
            };
            // Decoded strictly, unlike `url::form_urlencoded`, which would turn `%ff` into U+FFFD
            // and silently accept it.
            let decode = |part: &[u8]| -> Result<String, OAuthError> {
                let plus_as_space: Vec<u8> = part.iter().map(|&byte| if byte == b'+' { b' ' } else { byte }).collect();
                percent_encoding::percent_decode(&plus_as_space)
                    .decode_utf8()
                    .map(|text| text.into_owned())
                    .map_err(|_| not_utf8())
            };
            pairs.push((decode(key)?, decode(value)?));
        }
        Ok(Self { pairs })
    }

    /// Parses a token-style request: checks the content type first.
    pub(crate) fn from_post(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("content type must be application/x-www-form-urlencoded"));
        }
        Self::parse(body)
    }

    /// The value of a parameter. O21 §3.2: a parameter without a value is treated as omitted, and
    /// a parameter defined by the spec must not be repeated (`invalid_request`).
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.pairs.iter().filter(|(key, value)| key == name && !value.is_empty());
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!("parameter {name} is repeated")));
        }
        Ok(first)
    }

    /// Like [`Form::get`] but the parameter is required.
    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }

    /// How many values a parameter has, empty ones excluded.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(key, value)| key == name && !value.is_empty()).count()
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Hex SHA-256 of a secret, the key under which the store keeps codes and refresh tokens so that a
/// memory dump of the lab holds no usable credential.
pub(crate) fn secret_digest(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Constant-time comparison of two secrets.
pub(crate) fn secrets_equal(left: &str, right: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(left.as_bytes(), right.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    /// Issue 14: the form decoder, the redirect-URI rules and the client metadata document reader
    /// return for every input, whatever it holds.
    #[test]
    fn the_request_parsers_never_panic() {
        let forms: &[&[u8]] = &[
            b"grant_type=authorization_code&code=c%2Bd&code_verifier=v&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
            b"client_id=a&client_id=b&scope=mcp%3Aread+mcp%3Awrite&state=",
        ];
        for input in lab_proto::mutate::Mutations::new(forms).take(10_000) {
            let _ = Form::parse(&input);
            let text = String::from_utf8_lossy(&input);
            let _ = crate::redirect::validate_redirect_uri(&text);
            let _ = crate::redirect::redirect_matches("http://127.0.0.1/callback", &text);
            let _ = (crate::redirect::redirect_host(&text), crate::redirect::redirect_port(&text));
        }
        let documents: &[&[u8]] = &[
            br#"{"client_id":"https://app.example/c.json","client_name":"n","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}"#,
        ];
        for input in lab_proto::mutate::Mutations::new(documents).take(5_000) {
            let _ = crate::cimd::client_from_document("https://app.example/c.json", &input);
        }
    }

    use super::*;

    #[test]
    fn form_rules() {
        let form = Form::parse(b"a=1&b=&c=x&c=y&d=&d=2&e=%2B%20").unwrap();
        assert_eq!(form.get("a").unwrap(), Some("1"));
        assert_eq!(form.get("b").unwrap(), None, "empty means absent");
        assert!(form.get("c").is_err(), "repeated");
        assert_eq!(form.get("d").unwrap(), Some("2"));
        assert_eq!(form.get("e").unwrap(), Some("+ "));
        assert!(Form::parse(b"a=\xff").is_err());
        assert!(Form::parse(b"a=%ff").is_err());
        assert_eq!(Form::parse(b"a=%EF%BF%BD").unwrap().get("a").unwrap(), Some("\u{fffd}"));
    }

    #[test]
    fn debug_names_every_parameter_but_shows_no_credential() {
        let form = Form::parse(b"client_secret=s3cr3t&code=abc&grant_type=x").unwrap();
        let printed = format!("{form:?}");
        assert!(!printed.contains("s3cr3t") && !printed.contains("abc"), "{printed}");
        assert!(printed.contains("grant_type") && printed.contains("\"x\""), "{printed}");
        assert!(printed.contains("client_secret") && printed.contains("code"), "{printed}");
        let form = Form::parse(b"code_verifier=v1&refresh_token=r1&token=t1&Client_Assertion=a1").unwrap();
        let printed = format!("{form:?}");
        assert!(["v1", "r1", "t1", "a1"].iter().all(|value| !printed.contains(value)), "{printed}");
    }

    #[test]
    fn html_escaping() {
        assert_eq!(escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
