//! The plain records the AS keeps: clients, validated authorization requests, codes, grants and
//! tokens. They sit below every module that reads or writes them (the store in `state.rs`, the
//! authorization endpoint, the client ID metadata document reader), and use none of those modules,
//! so the modules that share them never import one another for a type.

use lab_proto::ClientSecret;
use lab_proto::pkce::CodeChallengeMethod;
use lab_proto::registration::TokenEndpointAuthMethod;

/// Where a client came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientSource {
    PreRegistered,
    Dynamic,
    MetadataDocument,
}

/// A client the AS knows.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) client_name: Option<String>,
    pub(crate) secret: Option<ClientSecret>,
    pub(crate) auth_method: TokenEndpointAuthMethod,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    /// The scopes the client may ask for; `None` means any lab scope.
    pub(crate) scope: Option<String>,
    pub(crate) introspection_resources: Vec<String>,
    pub(crate) source: ClientSource,
}

/// A code waiting to be redeemed (O21 §4.1.2: bound to client, redirect URI and challenge).
#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: Option<(String, CodeChallengeMethod)>,
    pub(crate) resources: Vec<String>,
    pub(crate) scope: String,
    pub(crate) sub: String,
    pub(crate) auth_time: u64,
    pub(crate) expires_at: u64,
    /// The grant created by the first redemption; a second valid redemption revokes it (AS-27).
    pub(crate) redeemed_grant: Option<String>,
}

/// A grant: what one authorization (or client-credentials request) allowed, shared by the
/// refresh-token family and the access tokens it produced.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) sub: String,
    pub(crate) scope: String,
    pub(crate) resources: Vec<String>,
    pub(crate) auth_time: Option<u64>,
    pub(crate) revoked: bool,
}

/// A refresh token, keyed by its digest.
#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub(crate) grant_id: String,
    pub(crate) client_id: String,
    /// Set once it has been exchanged: a second use is reuse (O21 §4.3.1).
    pub(crate) rotated: bool,
    pub(crate) revoked: bool,
    pub(crate) expires_at: u64,
}

/// An access token the AS minted, keyed by `jti`.
#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub(crate) grant_id: String,
    pub(crate) client_id: String,
    pub(crate) sub: String,
    pub(crate) scope: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) revoked: bool,
}

/// A validated authorization request waiting for the user's login and consent.
#[derive(Debug, Clone)]
pub(crate) struct PendingAuthorization {
    pub(crate) request: ValidatedRequest,
    /// The anti-CSRF token of the consent form (SBP Consent UI, AS-19); also set as a cookie.
    pub(crate) csrf: String,
    pub(crate) expires_at: u64,
}

/// An authorization request that passed every check that does not need the user.
#[derive(Debug, Clone)]
pub(crate) struct ValidatedRequest {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) scope: String,
    pub(crate) resources: Vec<String>,
    pub(crate) challenge: Option<(String, CodeChallengeMethod)>,
    pub(crate) login_hint: Option<String>,
    pub(crate) client_source: ClientSource,
}
