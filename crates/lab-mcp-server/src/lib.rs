//! The mock MCP resource server of MCP Auth Lab.
//!
//! [`router`] turns an [`McpServer`] into an `axum::Router` serving Streamable HTTP JSON-RPC at the
//! path of its resource URL (`/mcp`), RFC 9728 protected resource metadata at the path-inserted
//! well-known URL, bearer protection with the challenges of requirements §3.13, and the seed's
//! e-commerce tools behind its four-level permission matrix with data redaction.
//! Requirement keys (`RS-xx`, `O21 §…`, `TR-1125`) in comments mark where the code decides.
//!
//! It deliberately does not bind sockets or touch TLS (`lab-harness` serves it), and it does not
//! depend on the AS crate: it knows the AS only through the wire (its JWKS, its introspection and
//! token endpoints). Weaknesses are named [`RsProfile`]s; the default conforms.

mod data;
mod principal;
mod profile;
mod redact;
mod server;
mod tools;
mod transport;
mod upstream;
pub mod verify;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get};

pub use data::SECRETS_THAT_NEVER_LEAVE;
pub use principal::{Principal, PrincipalKind};
pub use profile::{RsProfile, UnknownRsProfile};
pub use server::{INSPECTOR_ORIGINS, McpServer, McpServerConfig, Migration, RateLimit, Revisions, VerifyConfig};
pub use tools::{Level, Tool, catalogue};
pub use transport::personas::PersonaLog;
pub use upstream::{HttpUpstream, Upstream};
pub use verify::{
    BoxFuture, HttpIntrospection, HttpKeySource, IntrospectionSource, KeySource, MAX_CACHED_TOKENS,
    MIN_REFETCH_SECONDS, Rejection,
};

/// The RS as a router.
pub fn router(server: McpServer) -> Router {
    let mcp_path = server.inner.mcp_path.clone();
    let prm_path = server.inner.prm_path.clone();
    let mcp: MethodRouter<McpServer> = axum::routing::any(transport::mcp);
    Router::new()
        .route(&prm_path, get(transport::protected_resource_metadata))
        .route(&mcp_path, mcp)
        .layer(DefaultBodyLimit::max(transport::MAX_BODY_BYTES))
        .with_state(server)
}
