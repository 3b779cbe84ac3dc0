//! Discovery documents: RFC 8414 authorization server metadata, OpenID Connect Discovery 1.0, and
//! RFC 9728 protected resource metadata.
//!
//! Optional fields are `Option`s that are omitted when `None`: RFC 8414 §3.2 and RFC 9728 §3.2 say
//! zero-valued parameters are omitted. Unknown fields are ignored on input (RFC 8414 §3.2), which is
//! why these types do not use `deny_unknown_fields`.

use serde::{Deserialize, Serialize};

/// RFC 8414 §2 authorization server metadata, with the fields MCP relies on and the OIDC Discovery
/// fields (OIDCD §3) that the OpenID configuration document adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuthorizationServerMetadata {
    /// REQUIRED; byte-identical to the issuer the well-known URL was built from (RFC 8414 §3.3).
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// REQUIRED by RFC 8414 §2.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// RFC 8414 §2: when omitted it defaults to `["authorization_code", "implicit"]`, so the lab
    /// always emits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// RFC 8414 §2: when omitted it defaults to `client_secret_basic`, so the lab always emits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 8414 §2: "If omitted, the authorization server does not support PKCE"; MCP clients then
    /// refuse (MCP-1125 §Authorization Code Protection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §2.3: MUST be true when the AS emits `iss`; defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// CIMD §AS Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// RFC 9728 §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// OIDCD §3: REQUIRED in an OpenID configuration document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<String>>,
    /// OIDCD §3: REQUIRED in an OpenID configuration document and must include RS256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
}

/// RFC 9728 §2 protected resource metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProtectedResourceMetadata {
    /// REQUIRED; identical to the resource identifier (RFC 9728 §3.3).
    pub resource: String,
    /// OPTIONAL in RFC 9728, at least one entry in MCP-1125 §AS Location.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_methods_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_signing_alg_values_supported: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// Where RFC 8414 §3.1 and OIDCD §4 put the metadata of `issuer`, in the order MCP-1125
/// §AS Metadata Discovery tells clients to try them.
///
/// For `https://h/tenant1` that is path insertion for both documents and then OIDC path
/// appending; for an issuer without a path, the two root documents. The root of a path issuer is
/// never probed.
pub fn authorization_server_metadata_urls(issuer: &str) -> Vec<String> {
    let (origin, path) = split_origin_path(issuer);
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

/// The RFC 9728 §3.1 well-known URL of a resource: `/.well-known/oauth-protected-resource` inserted
/// between the host and the path, with a terminating `/` of the path removed first.
pub fn protected_resource_metadata_url(resource: &str) -> String {
    let (origin, path) = split_origin_path(resource);
    format!("{origin}/.well-known/oauth-protected-resource{path}")
}

/// Splits `scheme://authority/path` into the origin and the path without a trailing `/`.
/// A query or fragment is dropped; the input is otherwise kept verbatim (no normalisation).
pub fn split_origin_path(url: &str) -> (&str, &str) {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let without_query = without_fragment.split('?').next().unwrap_or(without_fragment);
    let after_scheme = without_query.find("://").map_or(0, |index| index + 3);
    match without_query[after_scheme..].find('/') {
        Some(slash) => {
            let (origin, path) = without_query.split_at(after_scheme + slash);
            (origin, path.trim_end_matches('/'))
        }
        None => (without_query, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_for_root_and_path_issuers() {
        assert_eq!(
            authorization_server_metadata_urls("https://127.0.0.1:9443"),
            [
                "https://127.0.0.1:9443/.well-known/oauth-authorization-server",
                "https://127.0.0.1:9443/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            authorization_server_metadata_urls("https://127.0.0.1:9443/tenant1"),
            [
                "https://127.0.0.1:9443/.well-known/oauth-authorization-server/tenant1",
                "https://127.0.0.1:9443/.well-known/openid-configuration/tenant1",
                "https://127.0.0.1:9443/tenant1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn prm_url_inserts_well_known() {
        assert_eq!(
            protected_resource_metadata_url("https://127.0.0.1:8443/mcp"),
            "https://127.0.0.1:8443/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            protected_resource_metadata_url("https://127.0.0.1:8443/"),
            "https://127.0.0.1:8443/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            protected_resource_metadata_url("https://h/a/b/?q=1#f"),
            "https://h/.well-known/oauth-protected-resource/a/b"
        );
    }

    #[test]
    fn unknown_metadata_fields_are_ignored_and_absent_fields_omitted() {
        let parsed: AuthorizationServerMetadata =
            serde_json::from_str(r#"{"issuer":"https://a","response_types_supported":["code"],"x_vendor":1}"#).unwrap();
        assert_eq!(parsed.issuer, "https://a");
        assert_eq!(parsed.code_challenge_methods_supported, None);
        let json = serde_json::to_value(&parsed).unwrap();
        assert_eq!(json, serde_json::json!({"issuer":"https://a","response_types_supported":["code"]}));
        assert!(serde_json::from_str::<AuthorizationServerMetadata>("{}").is_err());
        assert!(serde_json::from_str::<ProtectedResourceMetadata>(r#"{"resource":1}"#).is_err());
    }
}
