//! The mock OAuth 2.1 authorization server of MCP Auth Lab.
//!
//! [`router`] turns an [`AuthServer`] into an `axum::Router` serving RFC 8414 and OIDC discovery,
//! RFC 7591 registration, client ID metadata documents, the authorization endpoint with PKCE S256
//! and a real login + consent page, the token endpoint (authorization code, refresh with rotation,
//! client credentials), RFC 9068 JWT access tokens with a rotating JWKS, RFC 7662 introspection and
//! RFC 7009 revocation. Requirement keys (`AS-xx`, `O21 §…`) in comments mark where the code decides.
//!
//! It deliberately does not bind sockets or touch TLS: `lab-harness` serves the router, and tests
//! call it directly with `tower::ServiceExt::oneshot`. Misbehaviour is data: an [`AsProfile`]
//! chosen at construction (or switched by a scenario) makes it weak or hostile; the default
//! conforms.

mod authorize;
mod cimd;
pub mod config;
mod consent;
mod cookies;
mod expiring;
mod http;
mod introspect;
pub mod keys;
mod metadata;
mod page;
pub mod profile;
mod records;
mod redirect;
mod register;
mod request;
mod resource;
mod state;
mod token;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use cimd::{DocumentFetcher, FETCH_TIMEOUT, FetchError, FetchFuture, HttpDocumentFetcher, MAX_DOCUMENT_BYTES};
pub use config::{AuthServerConfig, Lifetimes, PreRegisteredClient, RateLimits, Role, User};
pub use keys::{SigningAlg, UnknownAlg};
pub use metadata::metadata_document;
pub use profile::{AsProfile, UnknownProfile};
pub use state::{
    AuthServer, AuthServerError, KEY_PUBLISH_LEAD_SECONDS, NotIssuedToClient, RevocationListener, RevokedAccessToken,
};

/// The AS as a router. Endpoints live under the issuer's path, so a root issuer and a path issuer
/// (`…/tenant1`) can be merged into one router on one port.
pub fn router(server: AuthServer) -> Router {
    let prefix = server.inner.path_prefix.clone();
    let at = |path: &str| format!("{prefix}{path}");
    // Endpoints that browser-based clients (the MCP Inspector) call with fetch: public documents
    // and the credential endpoints, none of which rely on cookies. `/authorize` and `/consent` are
    // deliberately absent (AS-23, BCP §2.6).
    let cors = Router::new()
        .route(&format!("/.well-known/oauth-authorization-server{prefix}"), get(metadata::oauth_metadata))
        .route(&format!("/.well-known/openid-configuration{prefix}"), get(metadata::openid_configuration))
        .route(&at("/jwks"), get(metadata::jwks))
        .route(&at("/token"), post(token::token).get(token::token_wrong_method))
        .route(&at("/register"), post(register::register))
        .route(&at("/revoke"), post(introspect::revoke))
        .layer(axum::middleware::map_response(allow_any_origin));
    let mut router = Router::new()
        .route(&at("/authorize"), get(authorize::authorize))
        .route(&at("/consent"), post(authorize::consent))
        .route(&at("/introspect"), post(introspect::introspect))
        .merge(cors);
    if !prefix.is_empty() {
        // OIDCD §4.1: path appending, the third place MCP clients look for a path issuer.
        router = router.route(&at("/.well-known/openid-configuration"), get(metadata::openid_configuration));
    }
    router.layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES)).with_state(server)
}

/// Adds CORS headers for any origin and answers preflights. No credentials are allowed, so a page
/// on another origin can read only what it could fetch without cookies anyway.
async fn allow_any_origin(method: Method, mut response: Response) -> Response {
    if method == Method::OPTIONS {
        response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}
