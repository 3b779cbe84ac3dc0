//! What a lab is started with.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use lab_auth_server::{AsProfile, SigningAlg};
use lab_mcp_server::RsProfile;
use lab_proto::Clock;

/// The authorization server's port in the lab contract (design §2).
pub const CANONICAL_AS_PORT: u16 = 9443;

/// The resource server's port in the lab contract (design §2: `https://127.0.0.1:8443/mcp`).
pub const CANONICAL_RS_PORT: u16 = 8443;

/// The twin resource server's port in the lab contract (design §2: `https://127.0.0.1:8444/mcp`).
pub const CANONICAL_TWIN_PORT: u16 = 8444;

/// The upstream API's port (`lab_auth_server::config::lab::UPSTREAM_RESOURCE`): the carrier
/// `track_shipment` calls with the resource server's own token.
pub const CANONICAL_UPSTREAM_PORT: u16 = 9445;

/// The path of the MCP endpoint on both resource servers (design §2).
pub const MCP_PATH: &str = "/mcp";

/// The port of the host that serves the lab client's metadata document (requirements §0.4).
pub const CANONICAL_CIMD_PORT: u16 = 9446;

/// The SSRF canary's port, on `127.0.0.2` (requirements §0.4): any request to it is a failure.
pub const CANONICAL_CANARY_PORT: u16 = 7777;

/// The port of the control API (`lab up --control`), from the lab contract (design.md).
pub const CANONICAL_CONTROL_PORT: u16 = 9447;

/// The path of the lab client's metadata document on the CIMD host.
pub const CIMD_PATH: &str = "/client.json";

/// How the resource servers check bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyMode {
    /// Local RFC 9068 validation with the authorization server's JWKS (the default: no call to
    /// the AS per request).
    #[default]
    Jwt,
    /// RFC 7662 introspection at the authorization server on every request, so a revoked token
    /// is refused at once.
    Introspection,
}

impl VerifyMode {
    /// Every mode, the default first.
    pub const ALL: [VerifyMode; 2] = [Self::Jwt, Self::Introspection];

    /// The name used by `--verify`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Introspection => "introspection",
        }
    }

    /// What the mode does, for the banner.
    pub fn summary(self) -> &'static str {
        match self {
            Self::Jwt => "RFC 9068 JWTs checked locally against the AS's JWKS",
            Self::Introspection => "every token introspected at the AS (RFC 7662): revocation takes effect at once",
        }
    }
}

impl fmt::Display for VerifyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown verification mode; the message lists the known ones.
pub type UnknownVerifyMode = lab_proto::named::UnknownName;

impl FromStr for VerifyMode {
    type Err = UnknownVerifyMode;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        lab_proto::named::parse_named(name, Self::ALL.map(|mode| (mode.name(), mode)), "verification mode")
    }
}

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
    /// Overrides the resource server's port (`--rs-port`); its URL follows.
    pub rs_port: Option<u16>,
    /// Overrides the twin resource server's port (`--twin-port`); its URL follows.
    pub twin_port: Option<u16>,
    /// Overrides the upstream API's port; its URL (the audience of the RS's own tokens) follows.
    pub upstream_port: Option<u16>,
    /// Where the lab CA lives and is reused from; `None` generates a throwaway CA in memory, which
    /// is what tests want (nothing on disk, nothing shared between tests).
    pub cert_dir: Option<PathBuf>,
    /// Read the CA from `cert_dir` and write nothing there: the lab serves a leaf of its own from
    /// memory, because a third-party server serves the directory's leaf (`run --rs-url --certs`)
    /// and its files must not change during a run.
    pub cert_dir_read_only: bool,
    /// The authorization server's fault profile (the tenant issuer gets the same one).
    pub profile: AsProfile,
    /// The resource servers' fault profile (the twin gets the same one).
    pub rs_profile: RsProfile,
    /// How the resource servers check bearer tokens (`--verify`).
    pub verify: VerifyMode,
    /// Callers without a token may use the public tools (`--anonymous-public`).
    pub anonymous_public: bool,
    /// The MCP eras the resource servers speak (`--revision`): both by default.
    pub revisions: lab_mcp_server::Revisions,
    /// The resource servers also serve the official conformance suite's diagnostic tools
    /// (`--conformance-fixtures`).
    pub conformance_fixtures: bool,
    /// The algorithm access tokens are signed with.
    pub signing_alg: SigningAlg,
    /// Headless login as this seeded user (`lab up --auto-approve alice`).
    pub auto_approve: Option<String>,
    /// The resources tokens may be minted for; `None` means the lab's own resource server, twin
    /// and upstream API, at the URLs of the ports they bound (in that order, which is also the
    /// order the AS pairs them with the `lab-rs` and `lab-rs-twin` introspection clients).
    pub resources: Option<Vec<String>>,
    /// The `host:port` pairs whose client ID metadata documents may be fetched; `None` keeps the
    /// authorization server's default (the canonical CIMD host).
    pub cimd_allowed_hosts: Option<Vec<String>>,
    /// More resources the AS mints tokens for, after the lab's own: a third-party MCP server under
    /// test that trusts the lab AS (`mcp-authlab run --rs-url`).
    pub extra_resources: Vec<String>,
    /// The resource servers trust the path issuer (`…/tenant1`) instead of the root issuer, so a
    /// client must find the AS by RFC 8414 path insertion.
    pub rs_uses_path_issuer: bool,
    /// The one clock of the lab, shared by both issuers, both resource servers and the upstream
    /// API's verifier.
    pub clock: Clock,
    /// Serve the control API (`lab up --control`): off unless asked for.
    pub control: bool,
    /// The control API's port: overrides the canonical port (tests bind 0).
    pub control_port: Option<u16>,
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
            rs_port: None,
            twin_port: None,
            upstream_port: None,
            cert_dir: None,
            cert_dir_read_only: false,
            profile: AsProfile::default(),
            rs_profile: RsProfile::default(),
            verify: VerifyMode::default(),
            anonymous_public: false,
            revisions: lab_mcp_server::Revisions::Dual,
            conformance_fixtures: false,
            signing_alg: SigningAlg::default(),
            auto_approve: None,
            resources: None,
            cimd_allowed_hosts: None,
            rs_uses_path_issuer: false,
            extra_resources: Vec::new(),
            clock: Clock::system(),
            control: false,
            control_port: None,
        }
    }

    /// The port the authorization server binds: the override, else the canonical port or 0.
    pub fn as_port(&self) -> u16 {
        self.port(self.as_port, CANONICAL_AS_PORT)
    }

    /// The port the resource server binds: the override, else the canonical port or 0.
    pub fn rs_port(&self) -> u16 {
        self.port(self.rs_port, CANONICAL_RS_PORT)
    }

    /// The port the twin resource server binds: the override, else the canonical port or 0.
    pub fn twin_port(&self) -> u16 {
        self.port(self.twin_port, CANONICAL_TWIN_PORT)
    }

    /// The port the upstream API binds: the override, else the canonical port or 0.
    pub fn upstream_port(&self) -> u16 {
        self.port(self.upstream_port, CANONICAL_UPSTREAM_PORT)
    }

    /// The port of the metadata-document host: canonical or 0.
    pub fn cimd_port(&self) -> u16 {
        self.port(None, CANONICAL_CIMD_PORT)
    }

    /// The port of the control API: the override, else the canonical port or 0.
    pub fn control_port(&self) -> u16 {
        self.port(self.control_port, CANONICAL_CONTROL_PORT)
    }

    /// The port of the SSRF canary on `127.0.0.2`: canonical or 0.
    pub fn canary_port(&self) -> u16 {
        self.port(None, CANONICAL_CANARY_PORT)
    }

    fn port(&self, explicit: Option<u16>, canonical: u16) -> u16 {
        explicit.unwrap_or(match self.ports {
            Ports::Canonical => canonical,
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
