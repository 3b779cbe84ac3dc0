//! Discovery: RFC 8414 metadata, the OpenID configuration (OIDCD §4), and the JWKS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lab_proto::metadata::AuthorizationServerMetadata;

use crate::http::json_public;
use crate::profile::AsProfile;
use crate::state::AuthServer;

fn strings(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|value| (*value).to_owned()).collect())
}

/// The metadata document of the current profile. Every field of requirements §3.3 is emitted
/// explicitly, because RFC 8414's defaults for omitted fields are unsafe (AS-04).
pub fn metadata_document(server: &AuthServer, oidc: bool) -> AuthorizationServerMetadata {
    let profile = server.profile();
    let issuer = match profile {
        AsProfile::IssuerMismatch => AsProfile::MISMATCHED_ISSUER.to_owned(),
        _ => server.issuer().to_owned(),
    };
    let code_challenge_methods_supported = match profile {
        // Hostile: MCP-1125 tells clients to refuse an AS that does not advertise PKCE.
        AsProfile::NoS256Advertised => None,
        AsProfile::AcceptPlainPkce => strings(&["S256", "plain"]),
        // AS-03: S256 only, in the OIDC document too (requirements §7 item 13).
        _ => strings(&["S256"]),
    };
    AuthorizationServerMetadata {
        issuer,
        authorization_endpoint: Some(match profile {
            // Hostile: a client that opens this in a browser (or a shell) runs script (CL-08).
            AsProfile::JavascriptAuthorizationEndpoint => "javascript:alert(document.domain)".to_owned(),
            _ => server.endpoint("/authorize"),
        }),
        token_endpoint: Some(server.endpoint("/token")),
        registration_endpoint: Some(server.endpoint("/register")),
        jwks_uri: Some(server.endpoint("/jwks")),
        introspection_endpoint: Some(server.endpoint("/introspect")),
        revocation_endpoint: Some(server.endpoint("/revoke")),
        // SEP-2207: `offline_access` listed, so a client of 2026-07-28 may ask for a refresh token.
        scopes_supported: strings(&["mcp:read", "mcp:write", "mcp:admin", lab_proto::scope::OFFLINE_ACCESS]),
        response_types_supported: vec!["code".to_owned()],
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token", "client_credentials"]),
        token_endpoint_auth_methods_supported: strings(&["none", "client_secret_basic", "client_secret_post"]),
        introspection_endpoint_auth_methods_supported: strings(&["client_secret_basic", "client_secret_post"]),
        revocation_endpoint_auth_methods_supported: strings(&["none", "client_secret_basic", "client_secret_post"]),
        code_challenge_methods_supported,
        // RFC 9207 §2.3: the lab emits `iss`, so it says so (also under missing-iss, which is the
        // point of that profile).
        authorization_response_iss_parameter_supported: Some(true),
        client_id_metadata_document_supported: Some(true),
        protected_resources: Some(server.inner.config.resources.clone()),
        service_documentation: None,
        // OIDCD §3: required in the OpenID document. The lab issues no ID tokens, but the values
        // must be present and RS256 must be listed.
        subject_types_supported: oidc.then(|| vec!["public".to_owned()]),
        id_token_signing_alg_values_supported: oidc.then(|| vec!["RS256".to_owned()]),
    }
}

/// `GET /.well-known/oauth-authorization-server[/path]`.
pub(crate) async fn oauth_metadata(State(server): State<AuthServer>) -> Response {
    if server.profile() == AsProfile::OidcOnlyMetadata {
        return StatusCode::NOT_FOUND.into_response();
    }
    json_public(&metadata_document(&server, false))
}

/// `GET /.well-known/openid-configuration[/path]` and `GET /path/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(State(server): State<AuthServer>) -> Response {
    json_public(&metadata_document(&server, true))
}

/// `GET /jwks`.
pub(crate) async fn jwks(State(server): State<AuthServer>) -> Response {
    json_public(&server.jwks())
}
