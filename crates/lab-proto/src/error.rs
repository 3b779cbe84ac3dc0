//! OAuth error responses (O21 §3.2.4, §4.1.2.1, §5.3.2; RFC 7591 §3.2.2; RFC 8707 §2; RFC 7009 §2.2.1).

use serde::{Deserialize, Serialize};

/// The registered OAuth error codes the lab speaks.
///
/// Unknown codes from a third-party server deserialize as [`OAuthErrorCode::Other`] so a client can
/// still report them; the lab's own servers only ever emit the named variants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    /// O21 §3.2.4, §4.1.2.1, §5.3.2.
    InvalidRequest,
    /// O21 §3.2.4.
    InvalidClient,
    /// O21 §3.2.4.
    InvalidGrant,
    /// O21 §3.2.4, §4.1.2.1.
    UnauthorizedClient,
    /// O21 §3.2.4.
    UnsupportedGrantType,
    /// O21 §3.2.4, §4.1.2.1.
    InvalidScope,
    /// O21 §4.1.2.1.
    AccessDenied,
    /// O21 §4.1.2.1.
    UnsupportedResponseType,
    /// O21 §4.1.2.1.
    ServerError,
    /// O21 §4.1.2.1.
    TemporarilyUnavailable,
    /// RFC 8707 §2.
    InvalidTarget,
    /// O21 §5.3.2.
    InvalidToken,
    /// O21 §5.3.2.
    InsufficientScope,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2.
    InvalidClientMetadata,
    /// RFC 7591 §3.2.2.
    InvalidSoftwareStatement,
    /// RFC 7591 §3.2.2.
    UnapprovedSoftwareStatement,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// OIDC Core §3.1.2.6, seen from third-party servers.
    LoginRequired,
    /// Any other code, kept verbatim.
    Other(String),
}

impl OAuthErrorCode {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::LoginRequired => "login_required",
            Self::Other(other) => other,
        }
    }

    /// Parses a wire value; never fails, unknown codes become [`OAuthErrorCode::Other`].
    pub fn parse(value: &str) -> Self {
        match value {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "invalid_target" => Self::InvalidTarget,
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            "invalid_redirect_uri" => Self::InvalidRedirectUri,
            "invalid_client_metadata" => Self::InvalidClientMetadata,
            "invalid_software_statement" => Self::InvalidSoftwareStatement,
            "unapproved_software_statement" => Self::UnapprovedSoftwareStatement,
            "unsupported_token_type" => Self::UnsupportedTokenType,
            "login_required" => Self::LoginRequired,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OAuthErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OAuthErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(Self::parse(&value))
    }
}

/// The JSON error body of the token, registration, introspection and revocation endpoints
/// (O21 §3.2.4, RFC 7591 §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: OAuthErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl ErrorResponse {
    /// An error with a description.
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self { error, error_description: Some(sanitize_description(&description.into())), error_uri: None }
    }
}

/// Restricts a description to the characters O21 §5.3.1 allows in `error_description`
/// (`%x20-21 / %x23-5B / %x5D-7E`): quotes and backslashes become `'` and `/`, anything else `?`.
pub fn sanitize_description(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in ["invalid_request", "invalid_target", "invalid_redirect_uri", "unsupported_token_type"] {
            let parsed = OAuthErrorCode::parse(code);
            assert_ne!(parsed, OAuthErrorCode::Other(code.to_owned()));
            assert_eq!(parsed.as_str(), code);
        }
        assert_eq!(OAuthErrorCode::parse("weird_code"), OAuthErrorCode::Other("weird_code".into()));
    }

    #[test]
    fn error_response_shape() {
        let body = ErrorResponse::new(OAuthErrorCode::InvalidGrant, "code \"expired\"\n");
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json, serde_json::json!({"error": "invalid_grant", "error_description": "code 'expired'?"}));
        let parsed: ErrorResponse = serde_json::from_str(r#"{"error":"invalid_scope"}"#).unwrap();
        assert_eq!(parsed.error, OAuthErrorCode::InvalidScope);
        assert!(serde_json::from_str::<ErrorResponse>(r#"{"error_description":"x"}"#).is_err());
    }
}
