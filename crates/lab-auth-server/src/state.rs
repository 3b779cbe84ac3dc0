//! The AS's state: configuration, keys and the in-memory store of clients, codes, grants and
//! tokens, behind one mutex (no await ever happens while it is held).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lab_proto::jose::split_compact;
use lab_proto::{AuthorizationCode, Clock};

use crate::cimd::{DocumentFetcher, HttpDocumentFetcher};
use crate::config::{AuthServerConfig, User};
use crate::expiring::Expiring;
use crate::http::secret_digest;
use crate::keys::{KeyError, KeyRing, SigningAlg};
use crate::profile::AsProfile;
use crate::records::{AccessRecord, Client, ClientSource, CodeRecord, Grant, PendingAuthorization, RefreshRecord};

/// Upper bound of every map in the store, so that a flood of registrations, authorization requests
/// or tokens cannot grow the lab without limit. Expired entries are pruned first.
pub(crate) const MAX_ENTRIES: usize = 50_000;

/// How long a new signing key is published before it signs (requirements: "new key published
/// before it signs"); RSes that cache the JWKS for less than this never see an unknown `kid`.
pub const KEY_PUBLISH_LEAD_SECONDS: u64 = 60;

/// How long a code challenge is remembered to detect its reuse (AS-42).
const CHALLENGE_MEMORY_SECONDS: u64 = 24 * 3600;

/// Why no authorization code could be issued (a full store makes room instead of refusing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodeIssueError {
    #[error("random source failed")]
    Random,
}

/// How many events a limiter remembers in all keys together: at the cap the oldest are forgotten,
/// so a flood of distinct keys costs bounded memory and constant work per request, and can only
/// make the limiter forget (never lock anyone out).
const MAX_LIMITER_EVENTS: usize = 100_000;

/// A sliding-window counter per key (AS-41). Keys are stored as their SHA-256, so a key's length
/// (a client id of 64 KiB, say) costs nothing; events are kept in one time-ordered queue, so expiry
/// and eviction take the front, amortised O(1), never a scan.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    window: u64,
    events: HashMap<[u8; 32], VecDeque<u64>>,
    /// Every remembered event, oldest first, with its key.
    order: VecDeque<([u8; 32], u64)>,
}

impl RateLimiter {
    pub(crate) fn new(window: u64) -> Self {
        Self { window, events: HashMap::new(), order: VecDeque::new() }
    }

    fn digest(key: &str) -> [u8; 32] {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        bytes
    }

    /// Forgets the oldest event: its key's oldest too, since both queues are in time order (an
    /// entry of a released event finds its key's oldest newer, and forgets nothing).
    fn forget_oldest(&mut self) {
        let Some((key, at)) = self.order.pop_front() else { return };
        if let Some(events) = self.events.get_mut(&key) {
            if events.front().is_some_and(|&oldest| oldest <= at) {
                events.pop_front();
            }
            if events.is_empty() {
                self.events.remove(&key);
            }
        }
    }

    fn expire(&mut self, now: u64) {
        while self.order.front().is_some_and(|(_, at)| at + self.window <= now) {
            self.forget_oldest();
        }
    }

    /// `Err(retry_after)` when `key` has `limit` events in the window ending now.
    pub(crate) fn check(&mut self, key: &str, limit: u32, now: u64) -> Result<(), u64> {
        self.expire(now);
        let Some(events) = self.events.get(&Self::digest(key)) else { return Ok(()) };
        if events.len() >= limit as usize {
            let oldest = events.front().copied().unwrap_or(now);
            return Err((oldest + self.window).saturating_sub(now).max(1));
        }
        Ok(())
    }

    /// Checks `key` and counts this attempt in the same step, so that concurrent attempts cannot
    /// all pass the check before any is counted: `Err(retry_after)` when `key` has `limit` events
    /// in the window already. An attempt that then succeeds is [`Self::release`]d.
    pub(crate) fn reserve(&mut self, key: &str, limit: u32, now: u64) -> Result<(), u64> {
        self.check(key, limit, now)?;
        self.record(key, now);
        Ok(())
    }

    /// Takes back an attempt [`Self::reserve`] counted at `now`, which succeeded. Its entry in the
    /// time order stays until it expires: a stale entry forgets at most an event of the same
    /// second early.
    pub(crate) fn release(&mut self, key: &str, now: u64) {
        let key = Self::digest(key);
        if let Some(events) = self.events.get_mut(&key)
            && events.back() == Some(&now)
        {
            events.pop_back();
            if events.is_empty() {
                self.events.remove(&key);
            }
        }
    }

    pub(crate) fn record(&mut self, key: &str, now: u64) {
        self.expire(now);
        let key = Self::digest(key);
        self.events.entry(key).or_default().push_back(now);
        self.order.push_back((key, now));
        while self.order.len() > MAX_LIMITER_EVENTS {
            self.forget_oldest();
        }
    }

    /// How many keys are remembered (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.events.len()
    }
}

/// How many sign-ins one caller address may have open for one client; its oldest goes first
/// (issue 14, item 6). Keyed by the address too, since anyone can name a public client.
pub(crate) const MAX_PENDING_PER_CALLER: usize = 100;
/// How many sign-ins may be open at once; the client with the most makes room.
pub(crate) const MAX_PENDING: usize = 10_000;
/// How many codes one client may have outstanding (or remembered for replay detection).
pub(crate) const MAX_CODES_PER_CLIENT: usize = 1_000;
/// How many code challenges are remembered per client for AS-42.
pub(crate) const MAX_CHALLENGES_PER_CLIENT: usize = 10_000;
/// How many live grants one principal (a user, or a client acting for itself) holds at one
/// client; past it, its oldest grant there is revoked with its tokens (issue 14, item 3).
/// With [`MAX_RECORDS_PER_GRANT`] this bounds the token records too.
pub(crate) const MAX_GRANTS_PER_PRINCIPAL: usize = 1_000;

/// Everything that changes while the AS runs. Every store ends its entries at a deadline, in
/// deadline order ([`Expiring`]), and caps them per client or principal, so that no caller's
/// flood fills a store for everyone else.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) profile: AsProfile,
    pub(crate) auto_approve: Option<String>,
    pub(crate) clients: HashMap<String, Client>,
    /// Codes by the digest of the code, owned by their client; written only by
    /// [`Store::issue_code`], so that no path can store a code in the clear or forget the challenge
    /// it carries. A code is kept 10 minutes past its expiry to detect its replay (AS-27).
    codes: Expiring<CodeRecord>,
    /// Grants by id, owned by their principal (`sub`), each until the last code or token that
    /// refers to it ends.
    pub(crate) grants: Expiring<Grant>,
    /// Refresh tokens by digest, owned by their grant.
    pub(crate) refresh_tokens: Expiring<RefreshRecord>,
    /// Minted access tokens by `jti`, owned by their grant, kept until shortly after `exp`.
    pub(crate) access_tokens: Expiring<AccessRecord>,
    /// Open sign-ins by request id, owned by their client.
    pub(crate) pending: Expiring<PendingAuthorization>,
    /// Code challenges seen recently (AS-42), owned by their client.
    pub(crate) seen_challenges: Expiring<()>,
    pub(crate) keys: KeyRing,
    /// Every access token issued since the start or the last reset, newest last, at most
    /// [`MAX_REMEMBERED_ISSUED`]: what a reset revokes.
    issued: VecDeque<RevokedAccessToken>,
    pub(crate) token_failures: RateLimiter,
    /// Failed passwords at `POST /consent`, per user and per caller address.
    pub(crate) sign_in_failures: RateLimiter,
    pub(crate) registrations: RateLimiter,
}

/// How long a code is remembered after it expires, to detect its replay.
const CODE_MEMORY_SECONDS: u64 = 600;
/// How long a minted access token's record outlives its `exp` beyond the leeway (introspection
/// answers a forgotten token `active: false` all the same).
const RECORD_MARGIN_SECONDS: u64 = 30;
/// How many issued access tokens the AS remembers for a reset to revoke; as many as the resource
/// servers' revocation lists hold in all.
const MAX_REMEMBERED_ISSUED: usize = 65_536;
/// How many access (and refresh) records one grant keeps: a client uses its newest token, and a
/// refresh loop cannot grow a grant without bound.
pub(crate) const MAX_RECORDS_PER_GRANT: usize = 4;

impl Store {
    /// The store of an AS that has just started: the configured profile and clients, `keys`,
    /// and nothing issued.
    fn fresh(config: &AuthServerConfig, keys: KeyRing) -> Self {
        let clients = config
            .clients
            .iter()
            .map(|client| {
                let record = Client {
                    client_id: client.client_id.clone(),
                    client_name: Some(client.client_name.clone()),
                    secret: client.client_secret.clone(),
                    auth_method: client.token_endpoint_auth_method,
                    redirect_uris: client.redirect_uris.clone(),
                    grant_types: client.grant_types.clone(),
                    scope: Some(client.scope.clone()),
                    introspection_resources: client.introspection_resources.clone(),
                    source: ClientSource::PreRegistered,
                };
                (client.client_id.clone(), record)
            })
            .collect();
        Self {
            profile: config.profile,
            auto_approve: config.auto_approve.clone(),
            clients,
            codes: Expiring::default(),
            grants: Expiring::default(),
            refresh_tokens: Expiring::default(),
            access_tokens: Expiring::default(),
            pending: Expiring::default(),
            seen_challenges: Expiring::default(),
            keys,
            issued: VecDeque::new(),
            token_failures: RateLimiter::new(config.rate_limits.window_seconds),
            sign_in_failures: RateLimiter::new(config.rate_limits.window_seconds),
            registrations: RateLimiter::new(config.rate_limits.window_seconds),
        }
    }

    /// Drops what has expired: the front of each store's deadline order, never a scan.
    pub(crate) fn prune(&mut self, now: u64) {
        self.codes.expire(now);
        self.pending.expire(now);
        self.seen_challenges.expire(now);
        self.refresh_tokens.expire(now);
        self.access_tokens.expire(now);
        self.grants.expire(now);
    }

    /// Opens a sign-in for a request from `caller`. Past the cap of that caller and client its
    /// oldest open sign-in ends; past the global cap, the oldest of the caller and client with the
    /// most. (On loopback every local program is one caller: the lab cannot tell them apart.)
    pub(crate) fn open_sign_in(&mut self, caller: &str, request_id: String, pending: PendingAuthorization, now: u64) {
        self.prune(now);
        let owner = format!("{caller}\n{}", pending.request.client_id);
        self.pending.make_room(&owner, MAX_PENDING_PER_CALLER, MAX_PENDING);
        let deadline = pending.expires_at;
        self.pending.insert(request_id, pending, deadline, Some(&owner));
    }

    /// Issues an authorization code for `record` (O21 §4.1.2): a fresh random value, stored only
    /// under its digest, with the record's code challenge remembered so that a client reusing it is
    /// refused (AS-42). This is the only place a code enters the store. Past the client's cap (or
    /// the global one) the oldest code of that client (or of the client with the most) goes.
    pub(crate) fn issue_code(&mut self, record: CodeRecord, now: u64) -> Result<AuthorizationCode, CodeIssueError> {
        let code = AuthorizationCode::new(lab_proto::random_token(32).map_err(|_| CodeIssueError::Random)?);
        self.prune(now);
        let client_id = record.client_id.clone();
        self.codes.make_room(&client_id, MAX_CODES_PER_CLIENT, MAX_ENTRIES);
        if let Some((challenge, _)) = &record.challenge {
            self.seen_challenges.make_room(&client_id, MAX_CHALLENGES_PER_CLIENT, MAX_ENTRIES);
            self.seen_challenges.insert(challenge.clone(), (), now + CHALLENGE_MEMORY_SECONDS, Some(&client_id));
        }
        let deadline = record.expires_at + CODE_MEMORY_SECONDS;
        self.codes.insert(secret_digest(code.secret()), record, deadline, Some(&client_id));
        Ok(code)
    }

    /// The record of a code this AS issued, redeemed or not.
    pub(crate) fn code(&self, code: &AuthorizationCode) -> Option<&CodeRecord> {
        self.codes.get(&secret_digest(code.secret()))
    }

    /// Marks a code as redeemed into `grant_id`, so a second redemption can revoke it (AS-27): the
    /// grant lives at least as long as the code is remembered.
    pub(crate) fn mark_code_redeemed(&mut self, code: &AuthorizationCode, grant_id: String) {
        let digest = secret_digest(code.secret());
        if let Some(record) = self.codes.get_mut(&digest) {
            record.redeemed_grant = Some(grant_id.clone());
            let deadline = record.expires_at + CODE_MEMORY_SECONDS;
            self.grants.extend(&grant_id, deadline);
        }
    }

    /// Stores a new grant for its principal. Past the principal's cap its oldest grant is revoked
    /// with its tokens, and past the global cap the oldest grant of the principal with the most:
    /// a flood only ever revokes the flooder's own grants. Returns what was revoked, for the
    /// revocation listeners.
    #[must_use = "the revocation listeners must hear of the revoked access tokens"]
    pub(crate) fn store_grant(&mut self, grant_id: String, grant: Grant, now: u64) -> Vec<RevokedAccessToken> {
        self.prune(now);
        let mut revoked = Vec::new();
        // Per principal and client: one client a user approved cannot push out the user's grants
        // at another.
        let owner = format!("{}\n{}", grant.sub, grant.client_id);
        for (evicted, _) in self.grants.make_room(&owner, MAX_GRANTS_PER_PRINCIPAL, MAX_ENTRIES) {
            revoked.extend(self.drop_grant(&evicted));
        }
        // Until its first token extends it, a grant lives as long as a code would.
        self.grants.insert(grant_id, grant, now + CODE_MEMORY_SECONDS, Some(&owner));
        revoked
    }

    /// Revokes a grant with its tokens and forgets all of them (a forgotten access token is
    /// inactive at introspection, and the resource servers were told).
    fn drop_grant(&mut self, grant_id: &str) -> Vec<RevokedAccessToken> {
        let revoked = self.revoke_grant(grant_id);
        for digest in self.refresh_tokens.keys_of(grant_id) {
            self.refresh_tokens.remove(&digest);
        }
        for jti in self.access_tokens.keys_of(grant_id) {
            self.access_tokens.remove(&jti);
        }
        self.grants.remove(grant_id);
        revoked
    }

    /// Stores a refresh token's record under its grant, which then lives at least as long. A
    /// grant keeps its [`MAX_RECORDS_PER_GRANT`] newest refresh records: older ones are rotated
    /// out already, and a token whose record went is still known by the grant id it starts with,
    /// so its reuse still revokes the grant.
    pub(crate) fn store_refresh_token(&mut self, digest: String, record: RefreshRecord) {
        let (grant_id, deadline) = (record.grant_id.clone(), record.expires_at);
        // Records are bounded through their grants, so no total of their own applies.
        self.refresh_tokens.make_room(&grant_id, MAX_RECORDS_PER_GRANT, usize::MAX);
        self.grants.extend(&grant_id, deadline);
        self.refresh_tokens.insert(digest, record, deadline, Some(&grant_id));
    }

    /// Stores a minted access token's record under its grant, which then lives at least as long.
    /// A grant keeps its [`MAX_RECORDS_PER_GRANT`] newest access tokens valid: the oldest beyond
    /// them is revoked (and returned, for the resource servers), so no record is forgotten while
    /// its token is still honoured.
    #[must_use = "the revocation listeners must hear of the revoked access tokens"]
    pub(crate) fn store_access_token(
        &mut self,
        jti: String,
        record: AccessRecord,
        leeway: u64,
    ) -> Option<RevokedAccessToken> {
        // Kept while a resource server may still honour the token (its leeway), and a margin.
        let (grant_id, deadline) = (record.grant_id.clone(), record.exp + leeway + RECORD_MARGIN_SECONDS);
        let now = record.iat;
        // A token already past `exp` + leeway is refused everywhere: telling the resource servers
        // would only fill their lists (an honest client refreshes after expiry).
        let revoked = self
            .access_tokens
            .make_room(&grant_id, MAX_RECORDS_PER_GRANT, usize::MAX)
            .into_iter()
            .find(|(_, access)| !access.revoked && access.exp.saturating_add(leeway) > now)
            .map(|(jti, access)| RevokedAccessToken::of(jti, &access));
        self.grants.extend(&grant_id, deadline);
        // Remembered apart from the records, by count rather than by the lab clock, for
        // `AuthServer::reset`: a clock moved forward prunes the record, and the reset's clock moved
        // back would make the token valid again.
        if self.issued.len() >= MAX_REMEMBERED_ISSUED {
            self.issued.pop_front();
        }
        self.issued.push_back(RevokedAccessToken::of(jti.clone(), &record));
        self.access_tokens.insert(jti, record, deadline, Some(&grant_id));
        revoked
    }

    /// Revokes a grant and everything minted from it (AS-27, AS-33, AS-39), and returns the access
    /// tokens this newly revoked, for the revocation listeners.
    #[must_use = "the revocation listeners must hear of the revoked access tokens"]
    pub(crate) fn revoke_grant(&mut self, grant_id: &str) -> Vec<RevokedAccessToken> {
        if let Some(grant) = self.grants.get_mut(grant_id) {
            grant.revoked = true;
        }
        for digest in self.refresh_tokens.keys_of(grant_id) {
            if let Some(refresh) = self.refresh_tokens.get_mut(&digest) {
                refresh.revoked = true;
            }
        }
        let mut revoked = Vec::new();
        for jti in self.access_tokens.keys_of(grant_id) {
            if let Some(access) = self.access_tokens.get_mut(&jti)
                && !access.revoked
            {
                access.revoked = true;
                revoked.push(RevokedAccessToken::of(jti, access));
            }
        }
        revoked
    }
}

/// The mock authorization server. Cheap to clone: clones share state.
#[derive(Clone)]
pub struct AuthServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: AuthServerConfig,
    /// The issuer's path (`""` or `/tenant1`), which prefixes every endpoint.
    pub(crate) path_prefix: String,
    pub(crate) store: Mutex<Store>,
    /// Signs the session and consent cookies.
    pub(crate) cookie_key: aws_lc_rs::hmac::Key,
    pub(crate) fetcher: Arc<dyn DocumentFetcher>,
    /// Who hears of revoked access tokens (the lab's resource servers).
    pub(crate) revocation_listeners: std::sync::RwLock<Vec<RevocationListener>>,
}

/// The token named in a revocation was issued to another client (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token was not issued to this client")]
pub struct NotIssuedToClient;

/// An access token the AS revoked: its `jti`, and its `exp`, after which nobody needs to remember it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedAccessToken {
    pub jti: String,
    /// The client it was issued to and its subject: resource servers keep their revocation lists
    /// per client and subject, so one user's revocations never shorten another's tokens.
    pub client_id: String,
    pub sub: String,
    pub exp: u64,
}

impl RevokedAccessToken {
    pub(crate) fn of(jti: String, access: &AccessRecord) -> Self {
        Self { jti, client_id: access.client_id.clone(), sub: access.sub.clone(), exp: access.exp }
    }
}

/// A callback told of every access token the AS revokes.
pub type RevocationListener = Arc<dyn Fn(&[RevokedAccessToken]) + Send + Sync>;

/// The AS could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthServerError {
    #[error("issuer `{0}` must be an https URL without query, fragment or trailing slash")]
    InvalidIssuer(String),
    #[error("failed to create signing keys")]
    Keys(#[from] KeyError),
    #[error("failed to generate a random cookie key")]
    Random,
    #[error("failed to build the client ID metadata document fetcher")]
    Fetcher(#[source] reqwest::Error),
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer").field("issuer", &self.inner.config.issuer).finish_non_exhaustive()
    }
}

impl AuthServer {
    /// Builds an AS whose client ID metadata documents are fetched over HTTPS trusting the system
    /// roots. The harness uses [`AuthServer::with_fetcher`] to trust the lab CA instead.
    pub fn new(config: AuthServerConfig) -> Result<Self, AuthServerError> {
        let fetcher = HttpDocumentFetcher::new(None).map_err(AuthServerError::Fetcher)?;
        Self::with_fetcher(config, Arc::new(fetcher))
    }

    /// Builds an AS with a given document fetcher.
    pub fn with_fetcher(config: AuthServerConfig, fetcher: Arc<dyn DocumentFetcher>) -> Result<Self, AuthServerError> {
        let issuer = config.issuer.clone();
        // RFC 8414 §2: the issuer is an https URL with no query or fragment.
        let valid = issuer.starts_with("https://")
            && !issuer.contains(['?', '#'])
            && !issuer.ends_with('/')
            && issuer.len() > "https://".len();
        if !valid {
            return Err(AuthServerError::InvalidIssuer(issuer));
        }
        let (_, path) = lab_proto::metadata::split_origin_path(&issuer);
        let path_prefix = path.to_owned();
        let retire_after = config.lifetimes.access_token + config.lifetimes.leeway;
        let keys = match (&config.signing_key_pkcs8, config.signing_alg) {
            // A stored ES256 key keeps the JWKS stable across runs.
            (Some(pkcs8), SigningAlg::Es256) => KeyRing::with_key(
                crate::keys::SigningKey::es256_from_pkcs8(pkcs8)?,
                KEY_PUBLISH_LEAD_SECONDS,
                retire_after,
            ),
            _ => KeyRing::new(config.signing_alg, KEY_PUBLISH_LEAD_SECONDS, retire_after)?,
        };
        let mut key_bytes = [0_u8; 32];
        aws_lc_rs::rand::fill(&mut key_bytes).map_err(|_| AuthServerError::Random)?;
        let cookie_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key_bytes);
        let store = Store::fresh(&config, keys);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                path_prefix,
                store: Mutex::new(store),
                cookie_key,
                fetcher,
                revocation_listeners: std::sync::RwLock::new(Vec::new()),
            }),
        })
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The shared clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.config.clock
    }

    /// The configuration the AS was built from.
    pub fn config(&self) -> &AuthServerConfig {
        &self.inner.config
    }

    /// The current fault profile.
    pub fn profile(&self) -> AsProfile {
        self.store().profile
    }

    /// Switches the fault profile (a scenario step).
    pub fn set_profile(&self, profile: AsProfile) {
        self.store().profile = profile;
    }

    /// Switches headless login on (as `user`) or off.
    pub fn set_auto_approve(&self, user: Option<String>) {
        self.store().auto_approve = user;
    }

    /// Starts a key rotation: the new key is published now and signs after
    /// [`KEY_PUBLISH_LEAD_SECONDS`]. Returns its `kid`.
    pub fn rotate_keys(&self, alg: SigningAlg) -> Result<String, KeyError> {
        let now = self.clock().now();
        let mut store = self.store();
        store.keys.tick(now);
        store.keys.rotate(alg, now)
    }

    /// Puts the AS back as it started, keeping its keys: the configured profile and sign-in, the
    /// pre-registered clients only, and no code, grant, token, open sign-in or rate-limit count.
    /// Every access token still live is revoked through the listeners first, so the lab's
    /// resource servers refuse it in both verification modes (a JWT would otherwise outlive the
    /// reset, and the control API's reset promises a lab without credentials).
    pub fn reset(&self) {
        let revoked = {
            let mut store = self.store();
            // Every token issued, revoked ones included, and whether or not the lab clock has
            // pruned its record: a resource server forgets a revocation once the token expires
            // by the clock, and a reset may move the clock back before the token's `exp`.
            let revoked = Vec::from(std::mem::take(&mut store.issued));
            let keys = std::mem::replace(&mut store.keys, KeyRing::empty());
            *store = Store::fresh(&self.inner.config, keys);
            revoked
        };
        let now = self.clock().now();
        let live = revoked.into_iter().filter(|token| token.exp >= now).collect::<Vec<_>>();
        self.announce_revoked(&live);
    }

    /// Whether a rotation has published a key that does not sign yet.
    pub fn rotation_pending(&self) -> bool {
        let now = self.clock().now();
        let mut store = self.store();
        store.keys.tick(now);
        store.keys.pending()
    }

    /// How the client `client_id` authenticates at the token endpoint, if the AS knows it.
    pub fn client_auth_method(&self, client_id: &str) -> Option<lab_proto::registration::TokenEndpointAuthMethod> {
        self.store().clients.get(client_id).map(|client| client.auth_method)
    }

    /// Revokes `token`, an access token this AS signed or a refresh token it issued (with its
    /// grant, RFC 7009 §2.1), as `POST /revoke` does; `client`, when given, must be the client it
    /// was issued to. What was revoked, if anything: an unknown or invalid token revokes nothing
    /// and is no error (RFC 7009 §2.2).
    pub fn revoke_token(&self, token: &str, client: Option<&str>) -> Result<Option<&'static str>, NotIssuedToClient> {
        let mut store = self.store();
        let mine = |owner: &str| client.is_none_or(|client| client == owner);
        if let Some(refresh) = store.refresh_tokens.get(&secret_digest(token)).cloned() {
            if !mine(&refresh.client_id) {
                return Err(NotIssuedToClient);
            }
            drop(store);
            self.revoke_grant(&refresh.grant_id);
            return Ok(Some("refresh token"));
        }
        // Access token: found by its `jti` once the signature proves the AS minted it.
        if !store.keys.verify_own(token) {
            return Ok(None);
        }
        let jti = split_compact(token)
            .ok()
            .and_then(|parts| lab_proto::jose::decode_json::<lab_proto::token::AccessTokenClaims>(parts.payload).ok())
            .map(|claims| claims.jti);
        let Some(jti) = jti else { return Ok(None) };
        let Some(record) = store.access_tokens.get_mut(&jti) else { return Ok(None) };
        if !mine(&record.client_id) {
            return Err(NotIssuedToClient);
        }
        let newly = !std::mem::replace(&mut record.revoked, true);
        let announcement = RevokedAccessToken::of(jti, record);
        drop(store);
        if newly {
            self.announce_revoked(&[announcement]);
        }
        Ok(Some("access token"))
    }

    /// The key that signed until the last rotation took effect, while the JWKS still publishes it
    /// (the access-token lifetime and leeway after it stopped signing): tokens it signs verify,
    /// though the AS would no longer mint them.
    pub fn retiring_key(&self) -> Option<Arc<crate::keys::SigningKey>> {
        let now = self.clock().now();
        let mut store = self.store();
        store.keys.tick(now);
        store.keys.retiring()
    }

    /// Signs arbitrary claims with the AS's current key, as the scenario runner's "right key, wrong
    /// claims" forgeries need (`iss-mismatch`, `typ-confusion`, `aud-prefix-confusion`). Tokens
    /// minted here are not recorded, so introspection reports them inactive.
    pub fn mint_jwt(&self, typ: &str, claims: &serde_json::Value) -> Result<String, KeyError> {
        self.mint_jwt_with_header(typ, &std::collections::BTreeMap::new(), claims)
    }

    /// Like [`Self::mint_jwt`], with `extra` members added to the JOSE header: the scenario
    /// runner's forgeries that only a header tells apart (an unknown `crit` extension). A null
    /// member drops the member of that name (`typ`, for a token without one).
    pub fn mint_jwt_with_header(
        &self,
        typ: &str,
        extra: &std::collections::BTreeMap<String, serde_json::Value>,
        claims: &serde_json::Value,
    ) -> Result<String, KeyError> {
        let now = self.clock().now();
        let key = {
            let mut store = self.store();
            store.keys.tick(now);
            store.keys.active()
        };
        let key = key.ok_or(KeyError::NO_ACTIVE_KEY)?;
        // The header `sign_jwt` writes, with the extra members on top; a null member drops one
        // (a token without `typ`, for the resource server's RFC 9068 §4 check).
        let mut header = serde_json::json!({"alg": key.alg().name(), "typ": typ, "kid": key.kid()});
        lab_proto::jose::edit_members(&mut header, extra);
        key.sign_jws(&header, claims)
    }

    /// The public JWK of the key that signs now (the JWKS may also hold a retiring or a
    /// published-ahead key): forgeries that borrow the AS's header take its `kid` and `alg`.
    pub fn active_jwk(&self) -> Option<serde_json::Value> {
        let now = self.clock().now();
        let mut store = self.store();
        store.keys.tick(now);
        store.keys.active().map(|key| key.jwk().clone())
    }

    /// The published JWKS.
    pub fn jwks(&self) -> serde_json::Value {
        let now = self.clock().now();
        let mut store = self.store();
        store.keys.tick(now);
        store.keys.jwks()
    }

    /// What `candidate` is, if it is a credential of this AS's: an access token it signed, a
    /// refresh token or authorization code it issued (compared by digest, the only form the store
    /// keeps), or the verifier of a PKCE challenge it was sent. `check-client` asks this of every
    /// token-shaped word a client printed (CL-27: a client never logs its credentials).
    pub fn recognize_credential(&self, candidate: &str) -> Option<&'static str> {
        let store = self.store();
        let digest = secret_digest(candidate);
        if store.refresh_tokens.contains_key(&digest) {
            return Some("a refresh token");
        }
        if store.codes.contains_key(&digest) {
            return Some("an authorization code");
        }
        if lab_proto::pkce::is_valid_verifier_syntax(candidate)
            && store.seen_challenges.contains_key(&lab_proto::pkce::s256_challenge(candidate))
        {
            return Some("a PKCE code verifier");
        }
        if candidate.matches('.').count() == 2 && store.keys.verify_own(candidate) {
            return Some("an access token");
        }
        None
    }

    /// Tells `listener` of every access token this AS revokes from now on: by RFC 7009 revocation,
    /// or with its grant (a replayed code, a reused refresh token, a revoked refresh token).
    ///
    /// A JWT carries no revocation status, so a resource server that verifies JWTs locally learns
    /// of a revocation only by being told. Deployments use a back channel for that; the lab's AS and
    /// resource servers share a process, so the back channel is this callback (`lab-harness` wires
    /// it to every RS the lab starts).
    pub fn on_access_token_revoked(&self, listener: impl Fn(&[RevokedAccessToken]) + Send + Sync + 'static) {
        self.inner.revocation_listeners.write().unwrap_or_else(PoisonError::into_inner).push(Arc::new(listener));
    }

    /// Revokes a grant and everything minted from it, then tells the revocation listeners of the
    /// access tokens that revoked, with the store unlocked (a listener takes its own locks). Every
    /// grant revocation goes through here, so none can forget the listeners.
    pub(crate) fn revoke_grant(&self, grant_id: &str) {
        let revoked = self.store().revoke_grant(grant_id);
        self.announce_revoked(&revoked);
    }

    /// Tells the listeners of `revoked`. Called with the store unlocked: a listener takes its own
    /// locks.
    pub(crate) fn announce_revoked(&self, revoked: &[RevokedAccessToken]) {
        if revoked.is_empty() {
            return;
        }
        let listeners = self.inner.revocation_listeners.read().unwrap_or_else(PoisonError::into_inner).clone();
        for listener in listeners {
            listener(revoked);
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-written in a way that matters
        // more than refusing every later request would, so poisoning is ignored.
        self.inner.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn user(&self, username: &str) -> Option<&User> {
        self.inner.config.users.iter().find(|user| user.username == username)
    }

    /// An endpoint URL under the issuer.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.inner.config.issuer)
    }
}

#[cfg(test)]
mod limiter_tests {
    use super::{MAX_LIMITER_EVENTS, RateLimiter};

    #[test]
    fn a_key_is_limited_in_its_window_and_released_after_it() {
        let mut limiter = RateLimiter::new(60);
        for at in 0..3 {
            assert_eq!(limiter.check("k", 3, 100 + at), Ok(()));
            limiter.record("k", 100 + at);
        }
        assert_eq!(limiter.check("k", 3, 110), Err(50), "retry when the oldest event leaves the window");
        assert_eq!(limiter.check("other", 3, 110), Ok(()));
        assert_eq!(limiter.check("k", 3, 160), Ok(()), "the oldest event left the window");
        assert_eq!(limiter.check("k", 3, 200), Ok(()));
        assert_eq!(limiter.keys(), 0, "expired keys are forgotten");
    }

    #[test]
    fn an_attempt_is_counted_as_it_is_checked_and_taken_back_when_it_succeeds() {
        let mut limiter = RateLimiter::new(60);
        // Concurrent attempts each reserve before any ends: the third is refused at once.
        assert_eq!(limiter.reserve("k", 2, 100), Ok(()));
        assert_eq!(limiter.reserve("k", 2, 100), Ok(()));
        assert!(limiter.reserve("k", 2, 100).is_err());
        // One of them succeeded: it no longer counts.
        limiter.release("k", 100);
        assert_eq!(limiter.reserve("k", 2, 101), Ok(()));
        limiter.release("k", 101);
        limiter.release("k", 100);
        assert_eq!(limiter.check("k", 1, 102), Ok(()), "released attempts count for nothing");
        // The released events' entries in the time order expire harmlessly.
        limiter.record("k", 150);
        assert!(limiter.check("k", 1, 170).is_err(), "a stale entry forgot no newer event");
        assert_eq!(limiter.check("k", 1, 210), Ok(()));
    }

    #[test]
    fn a_flood_of_distinct_and_long_keys_stays_bounded() {
        let mut limiter = RateLimiter::new(60);
        // Keys as long as a client id may be cost their digest only (one long key shows it; all of
        // them long would only slow the test down).
        let long = "x".repeat(16);
        limiter.record(&"y".repeat(64 * 1024), 5);
        for index in 0..MAX_LIMITER_EVENTS + 1_000 {
            limiter.record(&format!("{long}{index}"), 5);
        }
        assert!(limiter.keys() <= MAX_LIMITER_EVENTS);
        // The newest keys are remembered; the oldest were forgotten, never a lockout.
        assert_eq!(limiter.check(&format!("{long}{}", MAX_LIMITER_EVENTS + 999), 1, 5), Err(60));
        assert_eq!(limiter.check(&format!("{long}0"), 1, 5), Ok(()));
    }
}
