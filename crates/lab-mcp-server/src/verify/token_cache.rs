//! The verified-token cache: what a verification concluded, remembered by the SHA-256 of the
//! whole token until the token's `exp`, so a token the RS has already verified costs a hash and a
//! map lookup instead of a signature check. The JWT verifier empties it on every JWKS refetch, so a
//! key the AS withdrew stops vouching for tokens at the same moment the uncached path would stop
//! trusting it; the introspecting verifier uses it to reuse an active answer for a few seconds.

use std::collections::HashMap;
use std::sync::RwLock;

use super::check_times;
use crate::principal::Principal;

/// The most verified tokens the cache holds. A few hundred bytes each, so the cache stays under a
/// few megabytes whatever the traffic; past the bound, expired entries are dropped and, if none
/// were, new tokens are simply verified every time.
pub const MAX_CACHED_TOKENS: usize = 4096;

/// Verified tokens by the SHA-256 of the whole token, so a token that differs in any byte (a
/// tampered signature, another claim) is a different entry and never borrows another's verdict.
/// Both verifiers use it: the JWT verifier for its verified tokens, the introspecting one for
/// active answers it may reuse for a few seconds. Only strict verifications are cached: a weak
/// profile's checks bypass it in both directions.
pub(super) struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], CachedToken>>,
    /// When a full cache was last swept for expired entries: at most once per second, so a
    /// full cache of live tokens does not make every miss walk it.
    swept_at: std::sync::atomic::AtomicU64,
}

/// What a verification learnt beside the principal, for the cache: the token's identity and
/// lifetime.
pub(super) struct Validity {
    pub(super) jti: String,
    pub(super) exp: u64,
    pub(super) nbf: Option<u64>,
}

/// What a cached verification still has to check on every hit: time.
pub(super) struct CachedToken {
    pub(super) principal: Principal,
    /// The token's `jti`, by which a revocation finds the entry.
    pub(super) jti: Box<str>,
    pub(super) exp: u64,
    pub(super) nbf: Option<u64>,
    /// The first second the entry no longer answers, whatever `exp` says (`u64::MAX`: none).
    pub(super) until: u64,
}

impl CachedToken {
    /// RFC 9068 §4 steps 5–6 again on every hit: an entry ends at its token's `exp`.
    fn answers_at(&self, now: u64, leeway: u64) -> bool {
        now < self.until && check_times(leeway, now, self.exp, self.nbf).is_ok()
    }
}

pub(super) fn token_digest(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

impl TokenCache {
    pub(super) fn new() -> Self {
        Self { entries: RwLock::new(HashMap::new()), swept_at: std::sync::atomic::AtomicU64::new(0) }
    }

    /// The principal of a token verified before, if its entry still answers at `now`; a stale
    /// entry is dropped, and the caller verifies afresh.
    /// An entry whose token `revoked` lists (one by one, or past the list's bound by its `exp`)
    /// answers no more.
    pub(super) fn get(
        &self,
        digest: &[u8; 32],
        now: u64,
        leeway: u64,
        revoked: impl Fn(&CachedToken) -> bool,
    ) -> Option<Principal> {
        let hit = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(digest)
            .map(|entry| (entry.answers_at(now, leeway) && !revoked(entry)).then(|| entry.principal.clone()));
        match hit {
            Some(Some(principal)) => Some(principal),
            Some(None) => {
                self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(digest);
                None
            }
            None => None,
        }
    }

    /// Remembers a verification, unless the cache is full of entries that still answer or
    /// `revoked` says its token was revoked meanwhile. That last check runs under the cache's
    /// lock, and a revocation records the `jti` before it takes the lock to purge, so an entry
    /// verified just before its revocation cannot be inserted after the purge.
    pub(super) fn insert(
        &self,
        digest: [u8; 32],
        entry: CachedToken,
        now: u64,
        leeway: u64,
        revoked: impl Fn(&CachedToken) -> bool,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if revoked(&entry) {
            return;
        }
        if entries.len() >= MAX_CACHED_TOKENS && self.swept_at.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
            entries.retain(|_, entry| entry.answers_at(now, leeway));
        }
        if entries.len() < MAX_CACHED_TOKENS {
            entries.insert(digest, entry);
        }
    }

    pub(super) fn clear(&self) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// Drops the entries of a revoked token.
    pub(super) fn forget(&self, jti: &str) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, entry| &*entry.jti != jti);
    }

    pub(super) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}
