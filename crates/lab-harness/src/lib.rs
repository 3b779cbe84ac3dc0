//! Runs MCP Auth Lab: binds the loopback sockets and serves the lab's routers over TLS.
//!
//! [`start`] turns a [`LabConfig`] into a [`RunningLab`]: it binds the authorization server's
//! port first (so an issuer on port 0 still names its real port), creates or reuses the lab CA,
//! builds the root issuer and the path issuer `…/tenant1` over one clock, and serves both on one
//! TLS port. [`RunningLab::start_helper_host`] serves extra routers (client ID metadata
//! documents, hostile documents) with the same lab leaf, and [`http_client`] builds the one kind
//! of reqwest client the lab talks through: lab CA only, no redirects, no proxy.
//!
//! This is the only crate that binds sockets or touches TLS; the server crates export routers and
//! know nothing of either. Tests use [`LabConfig::ephemeral`] (`127.0.0.1:0`, a CA in memory);
//! only `lab up` uses [`LabConfig::canonical`]. Nothing here listens beyond loopback.

mod config;
mod error;
mod host;
mod lab;

pub use config::{CANONICAL_AS_PORT, CANONICAL_CERT_DIR, LabConfig, Ports, TENANT_PATH};
pub use error::HarnessError;
pub use host::{SHUTDOWN_GRACE, TlsHost, bind_loopback, http_client};
pub use lab::{RunningLab, start};
