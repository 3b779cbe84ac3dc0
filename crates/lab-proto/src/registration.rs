//! Client metadata: RFC 7591 dynamic client registration and client ID metadata documents (CIMD).
//!
//! One struct serves the registration request, the registration response and the CIMD document,
//! because RFC 7591 §3.2.1 echoes "all registered metadata" and CIMD §Client Metadata reuses the
//! RFC 7591 vocabulary. Unknown members are ignored (RFC 7591 §2: the AS "MUST ignore any client
//! metadata sent by the client that it does not understand").

use serde::{Deserialize, Serialize};

use crate::secret::ClientSecret;

/// RFC 7591 §2 client metadata plus the §3.2.1 response members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClientMetadata {
    /// Issued by the AS in a registration response; in a CIMD document it equals the document URL.
    /// A value sent in a registration request is ignored (RFC 7591 §3.2.1; O21 §7.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_issued_at: Option<u64>,
    /// RFC 7591 §3.2.1: REQUIRED when a secret is issued, 0 meaning it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// RFC 7591 §2: defaults to `client_secret_basic` when omitted, so a public client must send `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// RFC 7591 §2: defaults to `["authorization_code"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// RFC 7591 §2: defaults to `["code"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
    /// OIDC Registration §2 / MCP-2607 §Application Type: `native` for loopback redirects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

/// The RFC 7591 registration request.
pub type ClientRegistrationRequest = ClientMetadata;
/// The RFC 7591 §3.2.1 registration response.
pub type ClientRegistrationResponse = ClientMetadata;
/// A client ID metadata document (CIMD §Client Metadata).
pub type ClientIdMetadataDocument = ClientMetadata;

/// Token endpoint authentication methods (RFC 7591 §2, O21 §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    /// A public client: no authentication.
    None,
    /// HTTP Basic with the client id and secret (O21 §2.4.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (O21 §2.4.1).
    ClientSecretPost,
}

impl TokenEndpointAuthMethod {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses a wire value the lab supports.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }

    /// Whether the method proves possession of a client secret.
    pub fn is_confidential(self) -> bool {
        !matches!(self, Self::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_registration_request_and_ignores_unknown_members() {
        let request: ClientRegistrationRequest = serde_json::from_str(
            r#"{"redirect_uris":["http://127.0.0.1:53682/callback"],"token_endpoint_auth_method":"none",
                "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
                "client_name":"MCP Lab Client","application_type":"native","scope":"mcp:read mcp:write",
                "x_unknown":{"nested":true}}"#,
        )
        .unwrap();
        assert_eq!(request.token_endpoint_auth_method.as_deref(), Some("none"));
        assert_eq!(request.redirect_uris.unwrap().len(), 1);
    }

    #[test]
    fn wrong_member_types_are_errors() {
        assert!(serde_json::from_str::<ClientMetadata>(r#"{"redirect_uris":"http://x/cb"}"#).is_err());
        assert!(serde_json::from_str::<ClientMetadata>(r#"{"client_name":5}"#).is_err());
        assert!(serde_json::from_str::<ClientMetadata>("\"text\"").is_err());
    }

    #[test]
    fn response_keeps_the_secret_out_of_debug() {
        let response = ClientRegistrationResponse {
            client_id: Some("c1".into()),
            client_secret: Some(ClientSecret::new("hunter2-very-secret")),
            client_secret_expires_at: Some(0),
            ..Default::default()
        };
        assert!(!format!("{response:?}").contains("hunter2"));
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["client_secret"], "hunter2-very-secret");
        assert_eq!(json["client_secret_expires_at"], 0);
    }

    #[test]
    fn auth_methods() {
        assert_eq!(TokenEndpointAuthMethod::parse("none"), Some(TokenEndpointAuthMethod::None));
        assert_eq!(TokenEndpointAuthMethod::parse("private_key_jwt"), None);
        assert!(TokenEndpointAuthMethod::ClientSecretPost.is_confidential());
        assert!(!TokenEndpointAuthMethod::None.is_confidential());
    }
}
