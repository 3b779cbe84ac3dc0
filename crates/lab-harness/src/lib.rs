//! Runs MCP Auth Lab: binds the loopback sockets and serves the lab's routers over TLS.
//!
//! [`start`] turns a [`LabConfig`] into a [`RunningLab`]: it binds every port first (so an issuer
//! or a resource URL on port 0 still names its real port), creates or reuses the lab CA, builds
//! the root issuer and the path issuer `…/tenant1`, the resource server, its twin and the upstream
//! API over one clock, and serves each on its own TLS port, with the control API beside them
//! when asked for. [`forge`] makes the tokens a test asks for, for scenarios and the control API
//! alike. [`RunningLab::start_helper_host`]
//! serves extra routers (client ID metadata documents, hostile documents) with the same lab leaf,
//! and [`http_client`] builds the one kind of reqwest client the lab talks through: lab CA only,
//! no redirects, no proxy.
//!
//! This is the only crate that serves TLS, and the one that binds the lab's listeners (the
//! client's redirect listener is `lab-client`'s own); the server crates export routers and know
//! nothing of either, and `lab-pki` only makes the certificates and rustls configurations. Tests
//! use [`LabConfig::ephemeral`] (port 0, a CA in memory); only `lab up` uses
//! [`LabConfig::canonical`]. Nothing here listens beyond loopback.

mod canary;
mod config;
mod control;
mod error;
mod forge;
mod host;
mod lab;
mod requests;
mod role;
mod upstream;

pub use canary::{Canary, HOSTILE_CIMD_PATHS};
pub use config::{
    CANONICAL_AS_PORT, CANONICAL_CANARY_PORT, CANONICAL_CERT_DIR, CANONICAL_CIMD_PORT, CANONICAL_CONTROL_PORT,
    CANONICAL_RS_PORT, CANONICAL_TWIN_PORT, CANONICAL_UPSTREAM_PORT, CIMD_PATH, LabConfig, MCP_PATH, Ports,
    TENANT_PATH, UnknownVerifyMode, VerifyMode,
};
pub use control::{CONTROL_TOKEN_FILE, ControlSecret, MAX_CONTROL_BODY};
pub use error::HarnessError;
pub use forge::{ForgeError, Forgery, forge};
pub use host::{ConnectionLimits, SHUTDOWN_GRACE, TlsHost, bind_loopback, http_client};
pub use lab::{RunningLab, SIGNING_KEY_FILE, start};
pub use requests::{REQUEST_LOG_CAPACITY, RequestLog, RequestRecord};
pub use role::{AS_ROLE, CANARY_ROLE, CIMD_ROLE, CONTROL_ROLE, RS_ROLE, TWIN_ROLE, UPSTREAM_ROLE};
pub use upstream::{UPSTREAM_LOG_CAPACITY, UpstreamCall, UpstreamLog, token_sha256};
