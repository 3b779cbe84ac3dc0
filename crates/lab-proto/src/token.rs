//! The token endpoint's response (O21 §3.2.3), RFC 9068 access-token claims, RFC 7662
//! introspection and RFC 7009 revocation.
//!
//! Token requests have no type here: the client and the scenario runner send form pairs (the
//! runner must be able to send malformed ones), and the AS reads raw pairs itself, because it must
//! detect repeated parameters (O21 §3.2) that a serde form decoder would silently collapse.

use serde::{Deserialize, Serialize};

use crate::secret::{AccessToken, RefreshToken};

/// The successful token response (O21 §3.2.3). Unknown members are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    /// Case-insensitive `Bearer` (O21 §3.2.3).
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The audience claim: one string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `resource` is one of the audiences, by exact string comparison (RFC 9068 §4).
    pub fn contains(&self, resource: &str) -> bool {
        match self {
            Self::One(audience) => audience == resource,
            Self::Many(audiences) => audiences.iter().any(|audience| audience == resource),
        }
    }
}

/// RFC 9068 §2.2 access-token claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub exp: u64,
    pub aud: Audience,
    pub sub: String,
    pub client_id: String,
    pub iat: u64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// RFC 9068 §2.2.3: space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
}

/// The RFC 7662 §2.2 introspection response. An inactive token is `{"active":false}` and nothing
/// else (RFC 7662 §2.2 "SHOULD NOT include any additional information").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl IntrospectionResponse {
    /// `{"active":false}`.
    pub fn inactive() -> Self {
        Self::default()
    }
}

/// RFC 7009 §2.1 and RFC 7662 §2.1 `token_type_hint` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    /// Parses a hint; `None` for a value the lab does not know (RFC 7009 §2.2.1
    /// `unsupported_token_type`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "access_token" => Some(Self::AccessToken),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_matches_exactly() {
        let one = Audience::One("https://127.0.0.1:8443/mcp".into());
        assert!(one.contains("https://127.0.0.1:8443/mcp"));
        assert!(!one.contains("https://127.0.0.1:8443/mcp/"));
        assert!(!one.contains("HTTPS://127.0.0.1:8443/mcp"));
        let many: Audience = serde_json::from_str(r#"["a","https://127.0.0.1:8443/mcp"]"#).unwrap();
        assert!(many.contains("https://127.0.0.1:8443/mcp"));
        assert!(serde_json::from_str::<Audience>("5").is_err());
    }

    #[test]
    fn claims_require_the_rfc_9068_members() {
        let full = r#"{"iss":"i","exp":2,"aud":"a","sub":"s","client_id":"c","iat":1,"jti":"j","scope":"mcp:read"}"#;
        let claims: AccessTokenClaims = serde_json::from_str(full).unwrap();
        assert_eq!(claims.scope.as_deref(), Some("mcp:read"));
        let without_aud = r#"{"iss":"i","exp":2,"sub":"s","client_id":"c","iat":1,"jti":"j"}"#;
        assert!(serde_json::from_str::<AccessTokenClaims>(without_aud).is_err());
    }

    #[test]
    fn token_response_ignores_unknown_members_and_redacts() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token":"at-secret","token_type":"bearer","expires_in":300,"refresh_token":"rt-secret","extra":1}"#,
        )
        .unwrap();
        let printed = format!("{response:?}");
        assert!(!printed.contains("at-secret") && !printed.contains("rt-secret"));
        assert!(serde_json::from_str::<TokenResponse>(r#"{"token_type":"Bearer"}"#).is_err());
    }

    #[test]
    fn inactive_introspection_is_minimal() {
        assert_eq!(serde_json::to_string(&IntrospectionResponse::inactive()).unwrap(), r#"{"active":false}"#);
    }
}
