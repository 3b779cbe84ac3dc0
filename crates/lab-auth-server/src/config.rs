//! Construction-time configuration of the mock authorization server: issuer, protected resources,
//! seeded users, pre-registered clients, lifetimes, limits, and the fault profile.

use lab_proto::named::{UnknownName, parse_named};
use lab_proto::scope::LabScope;
use lab_proto::{ClientSecret, Password};

use crate::keys::SigningAlg;
use crate::profile::AsProfile;

/// A seeded user's role (seed §7.4): customers may hold at most `mcp:write`, admins `mcp:admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    /// The strongest scope the AS grants to a user of this role; a customer never gets
    /// `mcp:admin` (design §2 permission matrix).
    pub fn max_scope(self) -> LabScope {
        match self {
            Self::Customer => LabScope::Write,
            Self::Admin => LabScope::Admin,
        }
    }

    /// A lower-case name for pages and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }
}

/// A seeded user who can log in at the authorization endpoint.
#[derive(Debug, Clone)]
pub struct User {
    /// The login name, which is also the `sub` of the user's tokens.
    pub username: String,
    pub password: Password,
    pub display_name: String,
    pub role: Role,
}

/// A client registered in configuration (MCP-1125 §Client Registration Approaches: pre-registered
/// clients come first).
#[derive(Debug, Clone)]
pub struct PreRegisteredClient {
    pub client_id: String,
    pub client_name: String,
    /// `None` for a public client (`token_endpoint_auth_method` `none`).
    pub client_secret: Option<ClientSecret>,
    /// `client_secret_basic` or `client_secret_post` when a secret is set.
    pub token_endpoint_auth_method: lab_proto::registration::TokenEndpointAuthMethod,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: String,
    /// Resources whose tokens this client may introspect (RFC 7662 §2.1: the caller must be
    /// authorized; an RS sees only tokens meant for it). Empty for ordinary clients.
    pub introspection_resources: Vec<String>,
}

/// Lifetimes in seconds (requirements §0.4).
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// O21 §4.1.2: short-lived, at most 10 minutes recommended; the lab uses 60 s.
    pub authorization_code: u64,
    /// MCP-1125 §Token Theft: short-lived access tokens; the lab uses 300 s.
    pub access_token: u64,
    /// Refresh tokens expire after this much idle time.
    pub refresh_token_idle: u64,
    /// A pending login page stays valid this long.
    pub login_page: u64,
    /// Clock skew the RS allows; the AS keeps a retired key this much longer than its last token.
    pub leeway: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self { authorization_code: 60, access_token: 300, refresh_token_idle: 24 * 3600, login_page: 600, leeway: 30 }
    }
}

/// Rate limits (AS-41, lab decision: O21 §7.7, RFC 6585 §4).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Failed token requests allowed per caller, client and credential presented (a code, a
    /// refresh token or a client secret) in `window_seconds`.
    pub token_failures: u32,
    /// Failed sign-ins allowed per user in `window_seconds` (five times as many per caller
    /// address, which on loopback every local program shares).
    pub sign_in_failures: u32,
    /// Registrations allowed per caller in `window_seconds`.
    pub registrations: u32,
    pub window_seconds: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { token_failures: 10, sign_in_failures: 10, registrations: 30, window_seconds: 60 }
    }
}

/// Everything the AS is built from.
#[derive(Debug, Clone)]
pub struct AuthServerConfig {
    /// The issuer identifier, `https://host[:port][/path]` without a trailing slash. Its path, if
    /// any, prefixes every endpoint and is inserted into the well-known URLs (RFC 8414 §3.1).
    pub issuer: String,
    /// Canonical URIs of the resources this AS mints tokens for (RFC 8707): the RS and twin RS.
    pub resources: Vec<String>,
    pub users: Vec<User>,
    pub clients: Vec<PreRegisteredClient>,
    pub signing_alg: SigningAlg,
    /// A stored ES256 signing key (PKCS#8 DER); `None` generates one per start.
    pub signing_key_pkcs8: Option<Vec<u8>>,
    pub profile: AsProfile,
    /// Headless login: `/authorize` approves as this user at once (`login_hint` picks another).
    pub auto_approve: Option<String>,
    /// `host:port` pairs whose client ID metadata documents may be fetched (CIMD §SSRF); nothing
    /// else is ever fetched.
    pub cimd_allowed_hosts: Vec<String>,
    pub lifetimes: Lifetimes,
    pub rate_limits: RateLimits,
    pub clock: lab_proto::Clock,
}

/// The canonical lab values of design §2.
pub mod lab {
    /// The root issuer of `lab up`.
    pub const ISSUER: &str = "https://127.0.0.1:9443";
    /// The path issuer variant that tests path insertion.
    pub const PATH_ISSUER: &str = "https://127.0.0.1:9443/tenant1";
    /// The RS canonical URI (= `resource` = `aud`).
    pub const RESOURCE: &str = "https://127.0.0.1:8443/mcp";
    /// The twin RS: same AS, another audience.
    pub const TWIN_RESOURCE: &str = "https://127.0.0.1:8444/mcp";
    /// The upstream API of the token-passthrough tests.
    pub const UPSTREAM_RESOURCE: &str = "https://127.0.0.1:9445";
    /// The host of client ID metadata documents.
    pub const CIMD_HOST: &str = "127.0.0.1:9446";
    /// The public pre-registered client.
    pub const PUBLIC_CLIENT_ID: &str = "lab-public-client";
    /// The confidential pre-registered client.
    pub const CONFIDENTIAL_CLIENT_ID: &str = "lab-confidential-client";
    /// Its secret, documented in the README like the users' passwords: the lab is a test bed.
    pub const CONFIDENTIAL_CLIENT_SECRET: &str = "lab-confidential-secret";
    /// The RS's introspection client.
    pub const RS_CLIENT_ID: &str = "lab-rs";
    /// Its secret.
    pub const RS_CLIENT_SECRET: &str = "lab-rs-secret";
    /// The twin RS's introspection client.
    pub const TWIN_RS_CLIENT_ID: &str = "lab-rs-twin";
    /// Its secret.
    pub const TWIN_RS_CLIENT_SECRET: &str = "lab-rs-twin-secret";
    /// The seeded users and their passwords (design §2).
    pub const USERS: [(&str, &str, &str); 3] = [
        ("alice", "alice-pass", "Alice Liddell"),
        ("bob", "bob-pass", "Bob Builder"),
        ("carol", "carol-pass", "Carol Admin"),
    ];
}

/// The seeded user (design §2) called exactly `name`, or an error that lists every seeded user:
/// the one check of a user named on a command line or in a scenario file, so a typo fails there
/// rather than as `access_denied` at the first authorization.
pub fn seeded_user(name: &str) -> Result<&'static str, UnknownName> {
    parse_named(name, lab::USERS.map(|(username, _, _)| (username, username)), "seeded user")
}

impl AuthServerConfig {
    /// The lab's configuration for `issuer` with resources on the given origins, the seeded users
    /// and the pre-registered clients. `resources` are canonical URIs (the RS first).
    pub fn lab(issuer: impl Into<String>, resources: Vec<String>) -> Self {
        use lab_proto::registration::TokenEndpointAuthMethod;
        let users = lab::USERS
            .iter()
            .map(|(username, password, display_name)| User {
                username: (*username).to_owned(),
                password: Password::new(*password),
                display_name: (*display_name).to_owned(),
                role: if *username == "carol" { Role::Admin } else { Role::Customer },
            })
            .collect();
        let loopback_redirects = vec![
            "http://127.0.0.1/callback".to_owned(),
            "http://localhost/callback".to_owned(),
            "http://[::1]/callback".to_owned(),
        ];
        let code_grants = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
        let mut clients = vec![
            PreRegisteredClient {
                client_id: lab::PUBLIC_CLIENT_ID.to_owned(),
                client_name: "MCP Auth Lab public client".to_owned(),
                client_secret: None,
                token_endpoint_auth_method: TokenEndpointAuthMethod::None,
                redirect_uris: loopback_redirects.clone(),
                grant_types: code_grants.clone(),
                scope: "mcp:read mcp:write mcp:admin".to_owned(),
                introspection_resources: Vec::new(),
            },
            PreRegisteredClient {
                client_id: lab::CONFIDENTIAL_CLIENT_ID.to_owned(),
                client_name: "MCP Auth Lab confidential client".to_owned(),
                client_secret: Some(ClientSecret::new(lab::CONFIDENTIAL_CLIENT_SECRET)),
                token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
                redirect_uris: loopback_redirects,
                grant_types: vec![
                    "authorization_code".to_owned(),
                    "refresh_token".to_owned(),
                    "client_credentials".to_owned(),
                ],
                scope: "mcp:read mcp:write".to_owned(),
                introspection_resources: Vec::new(),
            },
        ];
        let introspectors =
            [(lab::RS_CLIENT_ID, lab::RS_CLIENT_SECRET), (lab::TWIN_RS_CLIENT_ID, lab::TWIN_RS_CLIENT_SECRET)];
        for ((client_id, secret), resource) in introspectors.into_iter().zip(resources.iter()) {
            clients.push(PreRegisteredClient {
                client_id: client_id.to_owned(),
                client_name: format!("Resource server {resource}"),
                client_secret: Some(ClientSecret::new(secret)),
                token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
                redirect_uris: Vec::new(),
                // The RS gets its own tokens for the upstream API (RS-12: never the caller's).
                grant_types: vec!["client_credentials".to_owned()],
                scope: "mcp:read".to_owned(),
                introspection_resources: vec![resource.clone()],
            });
        }
        Self {
            issuer: issuer.into(),
            resources,
            users,
            clients,
            signing_alg: SigningAlg::Es256,
            signing_key_pkcs8: None,
            profile: AsProfile::Conforming,
            auto_approve: None,
            cimd_allowed_hosts: vec![lab::CIMD_HOST.to_owned()],
            lifetimes: Lifetimes::default(),
            rate_limits: RateLimits::default(),
            clock: lab_proto::Clock::system(),
        }
    }

    /// The lab configuration with the canonical values of `lab up`.
    pub fn canonical() -> Self {
        Self::lab(
            lab::ISSUER,
            vec![lab::RESOURCE.to_owned(), lab::TWIN_RESOURCE.to_owned(), lab::UPSTREAM_RESOURCE.to_owned()],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_user_is_named_exactly_and_an_unknown_one_is_told_the_seeded_ones() {
        assert_eq!(seeded_user("bob"), Ok("bob"));
        assert!(seeded_user("Bob").is_err() && seeded_user("").is_err());
        let error = seeded_user("mallory").unwrap_err();
        assert_eq!(error.to_string(), "unknown seeded user `mallory`, expected one of: alice, bob, carol");
    }
}
