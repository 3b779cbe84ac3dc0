//! The RS's configuration and state.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lab_proto::Clock;

use crate::data::Shop;
use crate::principal::Principal;
use crate::profile::RsProfile;
use crate::upstream::Upstream;
use crate::verify::{Checks, IntrospectionSource, IntrospectionVerifier, JwtVerifier, KeySource, Rejection, Verifier};

/// How the RS checks bearer tokens.
#[derive(Clone)]
pub enum VerifyConfig {
    /// Local RFC 9068 validation with the AS's JWKS (the default).
    Jwt(Arc<dyn KeySource>),
    /// RFC 7662 introspection at the AS, so revocation takes effect at once.
    Introspection(Arc<dyn IntrospectionSource>),
}

impl std::fmt::Debug for VerifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Jwt(_) => "Jwt",
            Self::Introspection(_) => "Introspection",
        })
    }
}

/// Requests allowed per principal in a window (lab decision, seed §7.7 "rate limiting").
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub requests: u32,
    pub window_seconds: u64,
}

/// Which protocol eras the RS serves on its MCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Revisions {
    /// 2026-07-28 requests beside 2025-11-25 and 2025-06-18 sessions, chosen per request as a
    /// dual-era server does (MCP 2026-07-28 `basic/versioning`).
    #[default]
    Dual,
    /// 2026-07-28 only: `initialize` is refused with the supported versions, GET and DELETE are
    /// 405, and no session is ever minted (`up --revision 2026-07-28`).
    Modern,
}

/// Everything the RS is built from.
#[derive(Clone)]
pub struct McpServerConfig {
    /// The canonical MCP URL: the `resource` of the PRM and the `aud` tokens must carry.
    pub resource: String,
    /// The one AS this RS trusts.
    pub issuer: String,
    pub verify: VerifyConfig,
    pub profile: RsProfile,
    /// Callers without a token may use the public tools (`--anonymous-public`).
    pub anonymous_public: bool,
    /// Browser origins allowed to call the RS (CORS and the `Origin` check, TR-1125).
    pub allowed_origins: Vec<String>,
    /// `Host` values the RS answers to (DNS-rebinding defence).
    pub allowed_hosts: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf` (requirements §0.4: 30 s).
    pub leeway: u64,
    pub clock: Clock,
    pub resource_name: String,
    pub rate_limit: Option<RateLimit>,
    pub upstream: Option<Arc<dyn Upstream>>,
    /// Where the `ssrf-resource-metadata` persona points clients (the lab's SSRF canary).
    pub canary_url: Option<String>,
    /// The eras the endpoint speaks.
    pub revisions: Revisions,
    /// Serve the official conformance suite's diagnostic tools beside the shop's (`test_…`,
    /// 2026-07-28 requests only), so its server scenarios can run against the lab
    /// (`up --conformance-fixtures`). Off by default: they are no part of the shop.
    pub conformance_fixtures: bool,
    /// The AS the `as-migration` persona moves to (the lab's path issuer) and where its keys
    /// are; without one that profile never moves.
    pub migration: Option<Migration>,
}

impl std::fmt::Debug for McpServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServerConfig")
            .field("resource", &self.resource)
            .field("issuer", &self.issuer)
            .field("verify", &self.verify)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The MCP Inspector's default origins: the lab answers its CORS preflights.
pub const INSPECTOR_ORIGINS: [&str; 2] = ["http://localhost:6274", "http://127.0.0.1:6274"];

impl McpServerConfig {
    /// The lab defaults for `resource` trusting `issuer`: hosts derived from the resource's port,
    /// the Inspector's origins, 30 s leeway, 100 requests per 10 s per principal.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>, verify: VerifyConfig) -> Self {
        let resource = resource.into();
        let (origin, _) = lab_proto::metadata::split_origin_path(&resource);
        let authority = origin.split_once("://").map_or(origin, |(_, authority)| authority).to_owned();
        let port = authority.rsplit_once(':').map(|(_, port)| port.to_owned());
        let allowed_hosts = match port {
            Some(port) => vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")],
            None => vec![authority],
        };
        Self {
            resource,
            issuer: issuer.into(),
            verify,
            profile: RsProfile::Conforming,
            anonymous_public: false,
            allowed_origins: INSPECTOR_ORIGINS.iter().map(|origin| (*origin).to_owned()).collect(),
            allowed_hosts,
            leeway: 30,
            clock: Clock::system(),
            resource_name: "MCP Lab RS".to_owned(),
            rate_limit: Some(RateLimit { requests: 100, window_seconds: 10 }),
            upstream: None,
            canary_url: None,
            revisions: Revisions::Dual,
            conformance_fixtures: false,
            migration: None,
        }
    }
}

/// An MCP session, bound to the principal that created it (RS-18).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) principal_key: String,
    pub(crate) protocol_version: String,
    pub(crate) principal: Principal,
    pub(crate) last_seen: u64,
}

/// How many sessions the RS keeps; idle ones go first.
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// How many sessions one principal (a user, or a client acting for itself) keeps at once.
pub(crate) const MAX_SESSIONS_PER_PRINCIPAL: usize = 64;

/// Which session makes room for a new one of the principal `key`, if any must: past its own
/// cap, that principal's least recently used; past the global cap, the least recently used of
/// whichever principal holds the most. One principal (or many clients acting for themselves) can
/// then only push out its own sessions, never a user's few.
pub(crate) fn session_to_evict(sessions: &HashMap<String, Session>, key: &str) -> Option<String> {
    let least_recent = |owner: &str| {
        sessions
            .iter()
            .filter(|(_, session)| session.principal_key == owner)
            .min_by_key(|(_, session)| session.last_seen)
            .map(|(id, _)| id.clone())
    };
    // Every anonymous caller (`--anonymous-public`) has one key: capping it would let one of them
    // end all the others' sessions, so they meet only the global cap, where they are the largest
    // holder first.
    let own = sessions.values().filter(|session| session.principal_key == key).count();
    if key != "anonymous" && own >= MAX_SESSIONS_PER_PRINCIPAL {
        return least_recent(key);
    }
    if sessions.len() < MAX_SESSIONS {
        return None;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for session in sessions.values() {
        *counts.entry(&session.principal_key).or_default() += 1;
    }
    let (largest, _) = counts.into_iter().max_by_key(|(_, count)| *count)?;
    least_recent(largest)
}
/// Idle sessions end after this long.
pub(crate) const SESSION_IDLE_SECONDS: u64 = 3600;

pub(crate) struct Inner {
    pub(crate) config: McpServerConfig,
    pub(crate) verifier: Verifier,
    pub(crate) profile: Mutex<RsProfile>,
    pub(crate) shop: Mutex<Shop>,
    pub(crate) sessions: Mutex<HashMap<String, Session>>,
    pub(crate) requests: Mutex<HashMap<String, VecDeque<u64>>>,
    /// The next id of the `predictable-session-ids` profile.
    pub(crate) session_counter: std::sync::atomic::AtomicU64,
    pub(crate) mcp_path: String,
    pub(crate) prm_path: String,
    /// The key that seals the `requestState` of input-required results (MRTR, SEP-2322): fresh
    /// at every start, so a state outlives neither the server nor its TTL. `None` only if the
    /// system's random source failed, and then no state is issued at all.
    pub(crate) state_key: Option<aws_lc_rs::hmac::Key>,
    /// The states already answered, by nonce, until they expire: a state is good for one retry.
    pub(crate) spent_states: Mutex<HashMap<String, u64>>,
    /// What the client personas (`shifting-request-state`, `as-migration`) saw of a client.
    pub(crate) personas: Mutex<crate::transport::personas::PersonaState>,
    /// The verifier of the AS `as-migration` moves to.
    pub(crate) migration_verifier: Option<JwtVerifier>,
}

/// Where the `as-migration` persona moves: the other AS's issuer and its keys.
#[derive(Clone)]
pub struct Migration {
    pub issuer: String,
    pub keys: Arc<dyn crate::verify::KeySource>,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// The mock MCP resource server. Cheap to clone: clones share state.
#[derive(Clone)]
pub struct McpServer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("resource", &self.inner.config.resource).finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No lock is held across an await, and a panic mid-update leaves nothing worse than the
    // update undone, so poisoning is ignored.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl McpServer {
    /// Builds the RS.
    pub fn new(config: McpServerConfig) -> Self {
        let verifier = match &config.verify {
            VerifyConfig::Jwt(source) => Verifier::Jwt(JwtVerifier::new(
                config.issuer.clone(),
                config.resource.clone(),
                config.leeway,
                config.clock.clone(),
                source.clone(),
            )),
            VerifyConfig::Introspection(source) => Verifier::Introspection(IntrospectionVerifier::new(
                config.issuer.clone(),
                config.resource.clone(),
                config.leeway,
                config.clock.clone(),
                source.clone(),
            )),
        };
        let migration_verifier = config.migration.as_ref().map(|migration| {
            JwtVerifier::new(
                migration.issuer.clone(),
                config.resource.clone(),
                config.leeway,
                config.clock.clone(),
                migration.keys.clone(),
            )
        });
        let (_, path) = lab_proto::metadata::split_origin_path(&config.resource);
        let mcp_path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
        let prm_path = format!("/.well-known/oauth-protected-resource{path}");
        let profile = Mutex::new(config.profile);
        let state_key =
            aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &aws_lc_rs::rand::SystemRandom::new()).ok();
        Self {
            inner: Arc::new(Inner {
                config,
                verifier,
                profile,
                shop: Mutex::new(Shop::seeded()),
                sessions: Mutex::new(HashMap::new()),
                requests: Mutex::new(HashMap::new()),
                session_counter: std::sync::atomic::AtomicU64::new(1),
                mcp_path,
                prm_path,
                state_key,
                spent_states: Mutex::new(HashMap::new()),
                personas: Mutex::new(Default::default()),
                migration_verifier,
            }),
        }
    }

    /// What the client personas saw of the client under test (`check-client`).
    pub fn persona_log(&self) -> crate::PersonaLog {
        lock(&self.inner.personas).log
    }

    /// The configuration.
    pub fn config(&self) -> &McpServerConfig {
        &self.inner.config
    }

    /// The current profile.
    pub fn profile(&self) -> RsProfile {
        *lock(&self.inner.profile)
    }

    /// Switches the profile (a scenario step).
    pub fn set_profile(&self, profile: RsProfile) {
        *lock(&self.inner.profile) = profile;
    }

    /// Puts the RS back as it started: the configured profile, the seeded shop (returns and
    /// inventory changes undone), no session, no rate-limit count, nothing the personas saw.
    /// What keeps tokens refused stays: the revoked `jti`s and the spent `requestState`s, so a
    /// reset re-admits no credential.
    pub fn reset(&self) {
        *lock(&self.inner.profile) = self.inner.config.profile;
        *lock(&self.inner.shop) = Shop::seeded();
        lock(&self.inner.sessions).clear();
        lock(&self.inner.requests).clear();
        *lock(&self.inner.personas) = Default::default();
        self.inner.session_counter.store(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The PRM URL of this RS (RFC 9728 §3.1).
    pub fn resource_metadata_url(&self) -> String {
        lab_proto::metadata::protected_resource_metadata_url(&self.inner.config.resource)
    }

    /// Verifies a bearer token as a request would (header parse excluded): the RS's real
    /// verification path, exposed for benchmarks.
    pub async fn verify_token(&self, token: &str) -> Result<Principal, Rejection> {
        let checks = self.checks();
        self.inner.verifier.verify(token, checks).await
    }

    /// Fetches the JWKS now (JWT mode), so the first request does not wait for it.
    pub async fn prefetch_keys(&self) {
        if let Verifier::Jwt(verifier) = &self.inner.verifier {
            verifier.prefetch().await;
        }
    }

    /// The AS revoked the access token `jti` of `client_id` for `sub` (valid until `exp`): it is
    /// refused from now on, cached or not. The lab wires its AS's revocation back channel here.
    pub fn revoke_access_token(&self, jti: &str, client_id: &str, sub: &str, exp: u64) {
        match &self.inner.verifier {
            Verifier::Jwt(verifier) => verifier.revoke(jti, client_id, sub, exp),
            Verifier::Introspection(verifier) => verifier.revoke(jti, client_id, sub, exp),
        }
    }

    /// The JWT verifier (JWT mode), for benchmarks of the exact request path.
    pub fn jwt_verifier(&self) -> Option<&JwtVerifier> {
        match &self.inner.verifier {
            Verifier::Jwt(verifier) => Some(verifier),
            Verifier::Introspection(_) => None,
        }
    }

    /// The introspecting verifier (introspection mode), for benchmarks of its optional cache.
    pub fn introspection_verifier(&self) -> Option<&crate::verify::IntrospectionVerifier> {
        match &self.inner.verifier {
            Verifier::Jwt(_) => None,
            Verifier::Introspection(verifier) => Some(verifier),
        }
    }

    /// How many JWKS fetches the verifier has made (JWT mode).
    pub fn jwks_fetches(&self) -> u64 {
        match &self.inner.verifier {
            Verifier::Jwt(verifier) => verifier.jwks_fetches(),
            Verifier::Introspection(_) => 0,
        }
    }

    pub(crate) fn checks(&self) -> Checks {
        let profile = self.profile();
        Checks { audience: profile != RsProfile::SkipAudienceCheck, any_alg: profile == RsProfile::AcceptAnyAlg }
    }

    pub(crate) fn shop(&self) -> MutexGuard<'_, Shop> {
        lock(&self.inner.shop)
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        lock(&self.inner.sessions)
    }

    /// `Err(retry_after)` when the principal is over its rate limit (sliding window).
    pub(crate) fn rate_limit(&self, principal: &crate::principal::Principal) -> Result<(), u64> {
        let Some(limit) = self.inner.config.rate_limit else { return Ok(()) };
        let key = &principal.key();
        let now = self.inner.config.clock.now();
        let mut requests = lock(&self.inner.requests);
        if requests.len() >= MAX_SESSIONS && !requests.contains_key(key) {
            requests.retain(|_, events| events.back().is_some_and(|&at| at + limit.window_seconds > now));
        }
        let events = requests.entry(key.to_owned()).or_default();
        while events.front().is_some_and(|&at| at + limit.window_seconds <= now) {
            events.pop_front();
        }
        if events.len() >= limit.requests as usize {
            let oldest = events.front().copied().unwrap_or(now);
            return Err((oldest + limit.window_seconds).saturating_sub(now).max(1));
        }
        events.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod session_tests {
    use std::collections::HashMap;

    use super::{MAX_SESSIONS, MAX_SESSIONS_PER_PRINCIPAL, Session, session_to_evict};
    use crate::principal::Principal;

    fn session(owner: &str, last_seen: u64) -> Session {
        let principal = Principal::from_token(owner.to_owned(), "c".to_owned(), "mcp:read".to_owned());
        Session { principal_key: principal.key(), protocol_version: "2025-11-25".to_owned(), principal, last_seen }
    }

    #[test]
    fn a_principal_past_its_cap_evicts_its_own_oldest_session() {
        let mut sessions = HashMap::new();
        sessions.insert("bob-1".to_owned(), session("bob", 1));
        for index in 0..MAX_SESSIONS_PER_PRINCIPAL {
            sessions.insert(format!("mallory-{index}"), session("mallory", 10 + index as u64));
        }
        assert_eq!(session_to_evict(&sessions, "user:mallory").as_deref(), Some("mallory-0"));
        assert_eq!(session_to_evict(&sessions, "user:bob"), None);
    }

    #[test]
    fn at_the_global_cap_the_largest_holder_makes_room() {
        let mut sessions = HashMap::new();
        sessions.insert("bob-1".to_owned(), session("bob", 1));
        // Many principals (clients acting for themselves, say), each under its own cap.
        for index in 0..MAX_SESSIONS - 1 {
            let owner = format!("client-{}", index / 50);
            sessions.insert(format!("s-{index}"), session(&owner, 100 + index as u64));
        }
        sessions.insert("s-extra".to_owned(), session("client-0", 5));
        let evicted = session_to_evict(&sessions, "user:carol").expect("room is made");
        assert_ne!(evicted, "bob-1", "bob's one session, the least recently used of all, stays");
        assert_eq!(evicted, "s-extra", "the largest holder's least recently used goes");
    }
}
