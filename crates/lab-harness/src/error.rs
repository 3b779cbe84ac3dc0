//! Errors of the harness: every message names what could not be started, and where.

use std::io;
use std::net::SocketAddr;

/// Everything that can go wrong while starting the lab or one of its hosts.
///
/// Messages are lowercase fragments without a trailing period, so they read after "failed to"
/// in a chain (`error: port 9443 (authorization server) is already in use`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Another process (or another lab) already listens on the port.
    #[error("port {port} ({role}) is already in use")]
    PortInUse {
        /// The port that was asked for.
        port: u16,
        /// What the port was meant for, for example "authorization server".
        role: &'static str,
    },

    /// Binding failed for another reason than the port being taken.
    #[error("failed to bind {addr} ({role})")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the address was meant for.
        role: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The bound listener could not be handed to the TLS server.
    #[error("failed to serve {role} on {addr}")]
    Serve {
        /// The address of the listener.
        addr: SocketAddr,
        /// What the listener was meant for.
        role: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The lab CA or the lab leaf could not be generated, loaded or written.
    #[error("failed to set up the lab certificates")]
    Pki(#[source] lab_pki::PkiError),

    /// `auto_approve` names a user the lab does not seed.
    #[error("auto-approve user `{name}` is not a seeded lab user, expected one of: {known}")]
    UnknownUser {
        /// The name that was given.
        name: String,
        /// The seeded users, comma-separated.
        known: String,
    },

    /// The authorization server refused its configuration.
    #[error("failed to build the authorization server `{issuer}`")]
    AuthServer {
        /// The issuer of the server that could not be built.
        issuer: String,
        /// The server's error.
        #[source]
        source: lab_auth_server::AuthServerError,
    },

    /// The fetcher of client ID metadata documents could not be built.
    #[error("failed to build the client id metadata document fetcher")]
    DocumentFetcher(#[source] reqwest::Error),

    /// A reqwest client trusting the lab CA could not be built (usually: the PEM holds no
    /// certificate).
    #[error("failed to build an http client trusting the lab ca")]
    HttpClient(#[source] reqwest::Error),
    /// The AS's stored signing key could not be read or written.
    #[error("failed to load the signing key `{}`: {reason}", path.display())]
    SigningKey { path: std::path::PathBuf, reason: String },
    /// The control API's secret could not be made or written.
    #[error("failed to write the control secret `{}`: {reason}", path.display())]
    ControlSecret { path: std::path::PathBuf, reason: String },
}
