//! Bearer token verification: RFC 9068 §4 JWT validation against the AS's JWKS, or RFC 7662
//! introspection (requirements §3.8, RS-06, RS-08, RS-09).
//!
//! The JWT path is the hot path of every request, so keys are parsed once per `kid` into aws-lc-rs
//! `ParsedPublicKey`s and the header and claims are decoded once. An unknown `kid` triggers at most
//! one JWKS refetch per [`MIN_REFETCH_SECONDS`], so a flood of forged `kid`s cannot turn the RS into
//! a JWKS amplifier.
//!
//! On top of that, verified tokens are remembered (`verify/token_cache.rs`): a token the RS has already
//! verified is answered from a bounded map keyed by the SHA-256 of the whole token, until its
//! `exp`, and the map is emptied whenever the JWKS is refetched, so a key the AS withdrew stops
//! vouching for tokens at the same moment the uncached path would stop trusting it.
//!
//! This module holds the two verifiers and the checks of requirements §3.8. What they remember
//! lives apart: verified tokens in `token_cache`, revoked `jti`s in `revocations`. How they reach
//! the AS over the network lives in `http` (the JWKS fetch, the introspection client and
//! [`read_bounded`]).

mod http;
mod revocations;
mod token_cache;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use lab_proto::Clock;
use lab_proto::jose::{JoseHeader, b64url_decode, decode_json, split_compact};
use lab_proto::token::{AccessTokenClaims, IntrospectionResponse};
use serde_json::Value;

pub(crate) use self::http::basic_authorization;
pub use self::http::{HttpIntrospection, HttpKeySource, read_bounded};
use self::revocations::Revocations;
use self::revocations::owner_key;
pub use self::revocations::{MAX_REVOKED_PER_CLIENT, MAX_REVOKED_TOKENS};
pub use self::token_cache::MAX_CACHED_TOKENS;
use self::token_cache::{CachedToken, TokenCache, Validity, token_digest};
use crate::principal::Principal;

/// The largest token the RS reads; anything larger is malformed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// At most one JWKS refetch for unknown `kid`s in this many seconds (RFC 9068 §4, kid-unknown row).
pub const MIN_REFETCH_SECONDS: u64 = 10;

/// A boxed future, for the source traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the JWKS comes from: the AS's `jwks_uri`, or an in-process stand-in in tests.
pub trait KeySource: Send + Sync {
    fn fetch_jwks(&self) -> BoxFuture<'_, Result<Value, String>>;
}

/// RFC 7662 introspection against the AS.
pub trait IntrospectionSource: Send + Sync {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<IntrospectionResponse, String>>;
}

/// Why a token was refused; the description goes into the `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

fn reject(description: &str) -> Rejection {
    Rejection(description.to_owned())
}

/// What a verification checks beyond the signature; the weak RS profiles turn checks off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    pub audience: bool,
    /// Weak `accept-any-alg`: `none` and `HS256` (keyed with the public key) are accepted.
    pub any_alg: bool,
}

impl Checks {
    /// Everything on.
    pub const STRICT: Checks = Checks { audience: true, any_alg: false };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Es256,
    Rs256,
    Ps256,
    EdDsa,
}

impl Alg {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// Whether [`JwtVerifier::run`] checks the signature.
#[derive(Clone, Copy)]
enum Signature {
    Verify,
    Skip,
}

/// What a checked header's `alg` asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderAlg {
    /// The key's own algorithm: the only outcome under strict checks, and the only one cached.
    Key,
    /// Weak `accept-any-alg` only.
    None,
    /// Weak `accept-any-alg` only: HMAC keyed with the public key.
    Hs256,
}

/// A failed run: a rejection, or a `kid` the cache does not know yet.
enum Failure {
    Rejected(Rejection),
    UnknownKid,
}

impl From<Rejection> for Failure {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl Failure {
    fn into_rejection(self) -> Rejection {
        match self {
            Self::Rejected(rejection) => rejection,
            Self::UnknownKid => reject("unknown key id"),
        }
    }
}

/// A JWKS key, parsed once.
struct VerifyingKey {
    alg: Alg,
    key: ParsedPublicKey,
    /// The HMAC secret a vulnerable verifier would derive from this key under `accept-any-alg`:
    /// the key's `x` (EC, OKP) or `n` (RSA) member as published, as ASCII. Documented so a
    /// scenario can forge the classic algorithm-confusion token.
    confusion_secret: Vec<u8>,
}

fn parse_jwk(jwk: &Value) -> Option<(String, VerifyingKey)> {
    let kid = jwk["kid"].as_str()?.to_owned();
    let member = |name: &str| jwk[name].as_str().and_then(|value| b64url_decode(value).ok());
    let alg_name = jwk["alg"].as_str();
    let (alg, key, confusion) = match jwk["kty"].as_str()? {
        "EC" if jwk["crv"] == "P-256" && alg_name.is_none_or(|alg| alg == "ES256") => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).ok()?;
            (Alg::Es256, key, jwk["x"].as_str()?)
        }
        "OKP" if jwk["crv"] == "Ed25519" && alg_name.is_none_or(|alg| alg == "EdDSA") => {
            let key = ParsedPublicKey::new(&signature::ED25519, member("x")?).ok()?;
            (Alg::EdDsa, key, jwk["x"].as_str()?)
        }
        "RSA" => {
            // RFC 8725 §3.1: the algorithm is bound to the key; an RSA key without `alg` is RS256.
            let alg = Alg::parse(alg_name.unwrap_or("RS256")).filter(|alg| matches!(alg, Alg::Rs256 | Alg::Ps256))?;
            let components = RsaPublicKeyComponents { n: member("n")?, e: member("e")? };
            let params: &'static signature::RsaParameters = if alg == Alg::Ps256 {
                &signature::RSA_PSS_2048_8192_SHA256
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            let key = components.to_parsed_public_key(params).ok()?;
            (alg, key, jwk["n"].as_str()?)
        }
        _ => return None,
    };
    Some((kid, VerifyingKey { alg, key, confusion_secret: confusion.as_bytes().to_vec() }))
}

/// Verifies RFC 9068 JWTs with keys from the AS.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    leeway: u64,
    clock: Clock,
    source: Arc<dyn KeySource>,
    /// The JWKS's keys by `kid`. Read on every verification by every thread, replaced whole on
    /// a refetch: an `ArcSwap`, whose reads write no shared memory, so two threads verifying at
    /// once do not pass a lock's cache line back and forth (the 2-thread scaling target).
    keys: ArcSwap<HashMap<String, Arc<VerifyingKey>>>,
    /// When the JWKS was last fetched, guarding the refetch rate.
    last_fetch: tokio::sync::Mutex<Option<u64>>,
    fetches: std::sync::atomic::AtomicU64,
    cache: TokenCache,
    /// Whether the verified-token cache is on (the default).
    cache_on: std::sync::atomic::AtomicBool,
    /// Header segments that passed every header check, with their key; emptied with the keys.
    /// Read like `keys`; a new header is added by copying the (at most 64-entry) map.
    headers: ArcSwap<HashMap<Box<str>, Arc<VerifyingKey>>>,
    /// The `jti`s of revoked tokens, each until its `exp`.
    revoked: Revocations,
}

/// Header segments the header cache holds at most: the AS uses one header per key.
const MAX_CACHED_HEADERS: usize = 64;

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    pub fn new(issuer: String, audience: String, leeway: u64, clock: Clock, source: Arc<dyn KeySource>) -> Self {
        Self {
            issuer,
            audience,
            leeway,
            clock,
            source,
            keys: ArcSwap::from_pointee(HashMap::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
            cache: TokenCache::new(),
            cache_on: std::sync::atomic::AtomicBool::new(true),
            headers: ArcSwap::from_pointee(HashMap::new()),
            revoked: Revocations::new(),
        }
    }

    /// Refuses the token `jti` from now on (until its `exp`, after which it is refused anyway),
    /// and drops its cached verification: what the AS's revocation back channel calls.
    pub fn revoke(&self, jti: &str, client_id: &str, sub: &str, exp: u64) {
        self.revoked.insert(jti, &owner_key(client_id, sub), exp, self.clock.now(), self.leeway);
        self.cache.forget(jti);
    }

    /// Turns the verified-token cache on (the default) or off; benchmarks compare the two, and
    /// turning it off empties it.
    pub fn set_token_cache(&self, enabled: bool) {
        self.cache_on.store(enabled, std::sync::atomic::Ordering::Relaxed);
        if !enabled {
            self.cache.clear();
        }
    }

    /// How many verified tokens the cache holds (for tests of its bound and invalidation).
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    /// How many times the JWKS has been fetched (for tests and benchmarks of the refetch guard).
    pub fn jwks_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.keys.load().get(kid).cloned()
    }

    /// Fetches the JWKS unless it was fetched less than [`MIN_REFETCH_SECONDS`] ago.
    async fn refresh(&self, force_first: bool) {
        let mut last_fetch = self.last_fetch.lock().await;
        let now = self.clock.now();
        let due = match *last_fetch {
            None => true,
            Some(at) => !force_first && now >= at + MIN_REFETCH_SECONDS,
        };
        if !due {
            return;
        }
        *last_fetch = Some(now);
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.source.fetch_jwks().await {
            Ok(jwks) => {
                let parsed: HashMap<String, Arc<VerifyingKey>> = jwks["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(parse_jwk)
                    .map(|(kid, key)| (kid, Arc::new(key)))
                    .collect();
                tracing::debug!(keys = parsed.len(), "JWKS fetched");
                // Keys first: a header being remembered meanwhile is checked against them.
                self.keys.store(Arc::new(parsed));
                self.headers.store(Arc::new(HashMap::new()));
                // A key may have been withdrawn: nothing verified with the old set vouches any more.
                self.cache.clear();
            }
            Err(error) => tracing::warn!(%error, "JWKS fetch failed"),
        }
    }

    /// Verifies a token and returns its principal (RFC 9068 §4, the order of requirements §3.8).
    /// An unknown `kid` triggers at most one rate-limited JWKS refetch.
    pub async fn verify(&self, token: &str, checks: Checks) -> Result<Principal, Rejection> {
        match self.verify_sync(token, checks) {
            None => {
                self.refresh(false).await;
                self.verify_sync(token, checks).unwrap_or_else(|| Err(reject("unknown key id")))
            }
            Some(result) => result,
        }
    }

    /// The synchronous part of [`JwtVerifier::verify`], verified-token cache included: `None` when
    /// the `kid` is not (yet) known. Benchmarks measure cache hits and misses through this.
    pub fn verify_sync(&self, token: &str, checks: Checks) -> Option<Result<Principal, Rejection>> {
        let cache_on = checks == Checks::STRICT && self.cache_on.load(std::sync::atomic::Ordering::Relaxed);
        if !cache_on || token.len() > MAX_TOKEN_BYTES {
            return self.verify_uncached(token, checks);
        }
        let digest = token_digest(token);
        let now = self.clock.now();
        if let Some(principal) = self.cache.get(&digest, now, self.leeway, |entry| self.revoked.lists(entry)) {
            return Some(Ok(principal));
        }
        Some(match self.run_with_times(token, checks, Signature::Verify) {
            Err(Failure::UnknownKid) => return None,
            Err(Failure::Rejected(rejection)) => Err(rejection),
            Ok((principal, Validity { jti, exp, nbf })) => {
                let entry = CachedToken { principal: principal.clone(), jti: jti.into(), exp, nbf, until: u64::MAX };
                self.cache.insert(digest, entry, now, self.leeway, |entry| self.revoked.lists(entry));
                Ok(principal)
            }
        })
    }

    /// [`JwtVerifier::verify_sync`] without the verified-token cache: every check, signature
    /// included, on every call: the path of a verification when the cache is off, a weak profile's
    /// checks are in force, or the token is over [`MAX_TOKEN_BYTES`] (refused before it is hashed).
    /// `None` when the `kid` is not (yet) known. Benchmarks measure the uncached request path
    /// through this.
    pub fn verify_uncached(&self, token: &str, checks: Checks) -> Option<Result<Principal, Rejection>> {
        match self.run(token, checks, Signature::Verify) {
            Err(Failure::UnknownKid) => None,
            other => Some(other.map_err(Failure::into_rejection)),
        }
    }

    /// Everything [`JwtVerifier::verify_uncached`] does except the signature check: the non-crypto
    /// cost of a verification, for the benchmarks. It deliberately returns no principal, so it
    /// cannot be used to authenticate anyone.
    #[doc(hidden)]
    pub fn non_crypto_cost(&self, token: &str) -> Result<(), Rejection> {
        self.run(token, Checks::STRICT, Signature::Skip).map(|_| ()).map_err(Failure::into_rejection)
    }

    fn run(&self, token: &str, checks: Checks, signature: Signature) -> Result<Principal, Failure> {
        self.run_with_times(token, checks, signature).map(|(principal, _)| principal)
    }

    /// The verification, returning the token's `jti`, `exp` and `nbf` beside the principal for
    /// the cache.
    fn run_with_times(
        &self,
        token: &str,
        checks: Checks,
        signature: Signature,
    ) -> Result<(Principal, Validity), Failure> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(reject("token is too large").into());
        }
        let parts = split_compact(token).map_err(|_| reject("token is not a JWS"))?;
        // A header segment byte-for-byte equal to one that already passed every check below, with
        // its `alg` its key's, needs none of them again (the AS signs a key's tokens with one header).
        // The key is borrowed from the header cache's snapshot: no reference count is touched.
        let headers = self.headers.load();
        let mut fresh = None;
        let (key, kind, signature_bytes): (&VerifyingKey, _, _) = match headers.get(parts.header) {
            Some(key) => {
                let signature_bytes =
                    b64url_decode(parts.signature).map_err(|_| reject("token signature is malformed"))?;
                (key, HeaderAlg::Key, signature_bytes)
            }
            None => {
                let (key, kind, signature_bytes) = self.check_header(parts.header, parts.signature, checks)?;
                (fresh.insert(key), kind, signature_bytes)
            }
        };
        let signature_ok = match kind {
            HeaderAlg::Key => match signature {
                Signature::Verify => key.key.verify_sig(parts.signing_input.as_bytes(), &signature_bytes).is_ok(),
                Signature::Skip => true,
            },
            HeaderAlg::None => true,
            HeaderAlg::Hs256 => {
                let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key.confusion_secret);
                aws_lc_rs::hmac::verify(&hmac_key, parts.signing_input.as_bytes(), &signature_bytes).is_ok()
            }
        };
        // Only a header that came with a genuine signature of its key is remembered, so forged
        // headers cannot fill the cache.
        if signature_ok
            && kind == HeaderAlg::Key
            && matches!(signature, Signature::Verify)
            && let Some(key) = &fresh
        {
            self.remember_header(parts.header, key);
        }
        if !signature_ok {
            return Err(reject("token signature is invalid").into());
        }
        let claims: AccessTokenClaims =
            decode_json(parts.payload).map_err(|_| reject("token lacks required claims or they are malformed"))?;
        self.check_claims(&claims.iss, |resource| claims.aud.contains(resource), claims.exp, claims.nbf, checks)?;
        // RFC 7009 §2: the AS revoked it, and told this RS.
        if self.revoked.refuses(&claims.jti, &claims.client_id, &claims.sub, claims.exp) {
            return Err(reject("token was revoked").into());
        }
        let times = Validity { jti: claims.jti, exp: claims.exp, nbf: claims.nbf };
        Ok((Principal::from_token(claims.sub, claims.client_id, claims.scope.unwrap_or_default()), times))
    }

    /// Remembers a header segment that passed [`JwtVerifier::check_header`] with `key`, unless a
    /// refetch withdrew `key` meanwhile: a stale entry would keep a withdrawn key trusted.
    fn remember_header(&self, segment: &str, key: &Arc<VerifyingKey>) {
        let current = || self.keys.load().values().any(|known| Arc::ptr_eq(known, key));
        // Bounded: variants of a valid header (whitespace, member order) cannot grow it. Checked
        // before `rcu` copies the map, so a full cache costs no copy per new header.
        if !current() || self.headers.load().len() >= MAX_CACHED_HEADERS {
            return;
        }
        self.headers.rcu(|headers| {
            let mut headers = HashMap::clone(headers);
            if current() && headers.len() < MAX_CACHED_HEADERS {
                headers.insert(segment.into(), key.clone());
            }
            headers
        });
    }

    /// Steps 1–3 of requirements §3.8 on the header: `typ`, no key material, no `crit`, a known
    /// `kid`, and an algorithm that is the key's (or, under `accept-any-alg`, `none` or `HS256`).
    fn check_header(
        &self,
        segment: &str,
        signature: &str,
        checks: Checks,
    ) -> Result<(Arc<VerifyingKey>, HeaderAlg, Vec<u8>), Failure> {
        let header: JoseHeader = decode_json(segment).map_err(|_| reject("token header is malformed"))?;
        // 1. RFC 9068 §4: typ must be at+jwt (media types compare case-insensitively).
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt"));
        if !typ_ok {
            return Err(reject("token type is not at+jwt").into());
        }
        // RFC 8725 §3.10: keys are never taken from the token.
        if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
            return Err(reject("token header carries a key or key URL, which is never trusted").into());
        }
        if header.crit.is_some() {
            return Err(reject("token has critical header parameters the RS does not understand").into());
        }
        let signature_bytes = b64url_decode(signature).map_err(|_| reject("token signature is malformed"))?;
        let Some(kid) = header.kid.as_deref() else {
            return Err(reject("token has no key id").into());
        };
        if kid.len() > 128 {
            return Err(reject("unknown key id").into());
        }
        let key = self.key(kid).ok_or(Failure::UnknownKid)?;
        // 2–3. The algorithm is the key's (RFC 8725 §3.1); never none, never HMAC.
        let kind = match (Alg::parse(&header.alg), checks.any_alg) {
            (Some(alg), _) if alg == key.alg => HeaderAlg::Key,
            (_, true) if header.alg == "none" => HeaderAlg::None,
            (_, true) if header.alg == "HS256" => HeaderAlg::Hs256,
            _ => return Err(reject("token algorithm is not allowed for its key").into()),
        };
        Ok((key, kind, signature_bytes))
    }

    /// 4–6 of requirements §3.8: exact `iss`, exact `aud`, `exp` and `nbf` with leeway.
    fn check_claims(
        &self,
        iss: &str,
        has_audience: impl Fn(&str) -> bool,
        exp: u64,
        nbf: Option<u64>,
        checks: Checks,
    ) -> Result<(), Rejection> {
        check_claims(&self.issuer, &self.audience, self.leeway, self.clock.now(), iss, has_audience, exp, nbf, checks)
    }

    /// Loads the JWKS before the first request, so the first verification does not pay for it.
    pub async fn prefetch(&self) {
        self.refresh(true).await;
    }
}

#[expect(clippy::too_many_arguments, reason = "the checks of requirements §3.8 steps 4 to 6, spelled out")]
fn check_claims(
    issuer: &str,
    audience: &str,
    leeway: u64,
    now: u64,
    iss: &str,
    has_audience: impl Fn(&str) -> bool,
    exp: u64,
    nbf: Option<u64>,
    checks: Checks,
) -> Result<(), Rejection> {
    if iss != issuer {
        return Err(reject("token was issued by another authorization server"));
    }
    if checks.audience && !has_audience(audience) {
        return Err(reject("token is for another resource"));
    }
    check_times(leeway, now, exp, nbf)
}

/// Requirements §3.8 steps 5–6: `exp` and `nbf` with leeway.
fn check_times(leeway: u64, now: u64, exp: u64, nbf: Option<u64>) -> Result<(), Rejection> {
    if now >= exp.saturating_add(leeway) {
        return Err(reject("token expired"));
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(reject("token is not yet valid"));
    }
    Ok(())
}

/// Verifies tokens by asking the AS (RFC 7662), so a revoked token is refused at once.
pub struct IntrospectionVerifier {
    issuer: String,
    audience: String,
    leeway: u64,
    clock: Clock,
    source: Arc<dyn IntrospectionSource>,
    /// How long an active answer is reused; 0, the default, asks the AS on every request.
    cache_seconds: std::sync::atomic::AtomicU64,
    /// Active answers, each answering until it is `cache_seconds` old.
    answers: TokenCache,
    /// Revoked `jti`s, so an answer given just before a revocation is not reused after it.
    revoked: Revocations,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    pub fn new(
        issuer: String,
        audience: String,
        leeway: u64,
        clock: Clock,
        source: Arc<dyn IntrospectionSource>,
    ) -> Self {
        Self {
            issuer,
            audience,
            leeway,
            clock,
            source,
            cache_seconds: std::sync::atomic::AtomicU64::new(0),
            answers: TokenCache::new(),
            revoked: Revocations::new(),
        }
    }

    /// Reuses an active answer for `seconds` (0 turns the cache off and empties it). A revoked
    /// token is then still accepted until its answer is that old: the trade-off RFC 7662 §4
    /// leaves to the RS. The lab never turns it on; benchmarks measure what it saves.
    pub fn set_cache_seconds(&self, seconds: u64) {
        self.cache_seconds.store(seconds, std::sync::atomic::Ordering::Relaxed);
        if seconds == 0 {
            self.answers.clear();
        }
    }

    pub async fn verify(&self, token: &str, checks: Checks) -> Result<Principal, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(reject("token is too large"));
        }
        let ttl = self.cache_seconds.load(std::sync::atomic::Ordering::Relaxed);
        if ttl == 0 || checks != Checks::STRICT {
            return self.ask(token, checks).await;
        }
        let digest = token_digest(token);
        let now = self.clock.now();
        if let Some(principal) = self.answers.get(&digest, now, self.leeway, |entry| self.revoked.lists(entry)) {
            return Ok(principal);
        }
        let (principal, Validity { jti, exp, nbf }) = self.ask_with_times(token, checks).await?;
        let entry =
            CachedToken { principal: principal.clone(), jti: jti.into(), exp, nbf, until: now.saturating_add(ttl) };
        self.answers.insert(digest, entry, now, self.leeway, |entry| self.revoked.lists(entry));
        Ok(principal)
    }

    /// Drops a revoked token's reused answer, and keeps an answer that was on its way from being
    /// reused; the AS itself answers `active: false` from then on.
    pub fn revoke(&self, jti: &str, client_id: &str, sub: &str, exp: u64) {
        self.revoked.insert(jti, &owner_key(client_id, sub), exp, self.clock.now(), self.leeway);
        self.answers.forget(jti);
    }

    /// One RFC 7662 request and the checks of its answer.
    async fn ask(&self, token: &str, checks: Checks) -> Result<Principal, Rejection> {
        self.ask_with_times(token, checks).await.map(|(principal, _)| principal)
    }

    async fn ask_with_times(&self, token: &str, checks: Checks) -> Result<(Principal, Validity), Rejection> {
        let response = self.source.introspect(token).await.map_err(|error| {
            tracing::warn!(%error, "introspection failed");
            reject("token could not be checked with the authorization server")
        })?;
        if !response.active {
            return Err(reject("token is not active"));
        }
        // MCP-1125 §Token Handling applies to any validation method: iss and aud are still checked.
        let iss = response.iss.clone().unwrap_or_default();
        let audiences = response.aud.clone();
        check_claims(
            &self.issuer,
            &self.audience,
            self.leeway,
            self.clock.now(),
            &iss,
            |resource| audiences.as_ref().is_some_and(|aud| aud.contains(resource)),
            response.exp.unwrap_or(0),
            response.nbf,
            checks,
        )?;
        let times =
            Validity { jti: response.jti.unwrap_or_default(), exp: response.exp.unwrap_or(0), nbf: response.nbf };
        let (Some(sub), Some(client_id)) = (response.sub, response.client_id) else {
            return Err(reject("introspection response lacks sub or client_id"));
        };
        Ok((Principal::from_token(sub, client_id, response.scope.unwrap_or_default()), times))
    }
}

/// The RS's verifier, by configuration.
#[derive(Debug)]
pub enum Verifier {
    Jwt(JwtVerifier),
    Introspection(IntrospectionVerifier),
}

impl Verifier {
    pub async fn verify(&self, token: &str, checks: Checks) -> Result<Principal, Rejection> {
        match self {
            Self::Jwt(verifier) => verifier.verify(token, checks).await,
            Self::Introspection(verifier) => verifier.verify(token, checks).await,
        }
    }
}
