//! What a lab is started with.

use std::path::PathBuf;

use lab_auth_server::{AsProfile, SigningAlg};
use lab_proto::Clock;

/// The authorization server's port in the lab contract (design §2).
pub const CANONICAL_AS_PORT: u16 = 9443;

/// The certificate directory of `lab up`, relative to the working directory (design §2).
pub const CANONICAL_CERT_DIR: &str = "certs";

/// The path of the second issuer served next to the root issuer, to exercise RFC 8414 §3.1 path
/// insertion (`https://127.0.0.1:9443/tenant1`).
pub const TENANT_PATH: &str = "/tenant1";

/// Which ports the lab listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ports {
    /// The ports of the lab contract (design §2): what `lab up` uses and users configure.
    Canonical,
    /// Ports the operating system picks (`127.0.0.1:0`), so tests can run in parallel.
    #[default]
    Ephemeral,
}

/// Everything [`start`](crate::start) needs. Every field has a lab default; tests change the few
/// they care about.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Canonical or ephemeral ports.
    pub ports: Ports,
    /// Overrides the authorization server's port (`--as-port`), whatever `ports` says.
    pub as_port: Option<u16>,
    /// Where the lab CA lives and is reused from; `None` generates a throwaway CA in memory, which
    /// is what tests want (nothing on disk, nothing shared between tests).
    pub cert_dir: Option<PathBuf>,
    /// The authorization server's fault profile (the tenant issuer gets the same one).
    pub profile: AsProfile,
    /// The algorithm access tokens are signed with.
    pub signing_alg: SigningAlg,
    /// Headless login as this seeded user (`lab up --auto-approve alice`).
    pub auto_approve: Option<String>,
    /// The resources tokens may be minted for; `None` means the canonical RS, twin RS and
    /// upstream API of `lab_auth_server::config::lab`.
    pub resources: Option<Vec<String>>,
    /// The `host:port` pairs whose client ID metadata documents may be fetched; `None` keeps the
    /// authorization server's default (the canonical CIMD host).
    pub cimd_allowed_hosts: Option<Vec<String>>,
    /// The one clock of the lab, shared by both issuers (and later the resource servers).
    pub clock: Clock,
}

impl LabConfig {
    /// The configuration of `lab up`: canonical ports and the CA in `certs/`.
    pub fn canonical() -> Self {
        Self { ports: Ports::Canonical, cert_dir: Some(PathBuf::from(CANONICAL_CERT_DIR)), ..Self::ephemeral() }
    }

    /// The configuration of tests: ports picked by the operating system and a CA in memory.
    pub fn ephemeral() -> Self {
        Self {
            ports: Ports::Ephemeral,
            as_port: None,
            cert_dir: None,
            profile: AsProfile::default(),
            signing_alg: SigningAlg::default(),
            auto_approve: None,
            resources: None,
            cimd_allowed_hosts: None,
            clock: Clock::system(),
        }
    }

    /// The port the authorization server binds: the override, else the canonical port or 0.
    pub fn as_port(&self) -> u16 {
        self.as_port.unwrap_or(match self.ports {
            Ports::Canonical => CANONICAL_AS_PORT,
            Ports::Ephemeral => 0,
        })
    }
}

impl Default for LabConfig {
    /// The safe default is the test configuration: it never touches the canonical ports or disk.
    fn default() -> Self {
        Self::ephemeral()
    }
}
