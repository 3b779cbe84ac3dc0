//! The revocation denylist: the `jti`s of access tokens the AS revoked, each until its `exp`.
//!
//! A JWT carries no revocation status of its own, so the lab AS tells the RS of every access token
//! it revokes (RFC 7009) through `McpServer::revoke_access_token`, and both verifiers consult this
//! set: the JWT verifier refuses a listed `jti`, and both keep a listed token's verification out
//! of their [`super::token_cache::TokenCache`].

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

/// The most revoked `jti`s a verifier remembers one by one. Entries end at their token's `exp`,
/// so only a revocation storm could fill it. Past the bound the list fails closed: the entry that
/// expires soonest is dropped and every token expiring by then is refused (honest holders of such
/// tokens refresh), so a flood of revocations can never make a revoked token valid again.
pub const MAX_REVOKED_TOKENS: usize = 65_536;

/// Revoked `jti`s, told by the AS (a JWT carries no revocation status of its own). Empty in
/// nearly every run, so the request path pays one atomic load for it.
pub(super) struct Revocations {
    any: std::sync::atomic::AtomicBool,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each listed `jti` with its token's `exp`.
    jtis: HashMap<Box<str>, u64>,
    /// The same entries by `exp`, so expiry and eviction take the first, never a scan.
    by_exp: BTreeSet<(u64, Box<str>)>,
    /// Every token whose `exp` is at most this is refused: the watermark of evicted entries.
    expiring_by: u64,
}

impl Revocations {
    pub(super) fn new() -> Self {
        Self { any: std::sync::atomic::AtomicBool::new(false), inner: RwLock::new(Inner::default()) }
    }

    /// Whether the token `jti`, expiring at `exp`, is revoked (or may be, past the bound).
    pub(super) fn contains(&self, jti: &str, exp: u64) -> bool {
        if !self.any.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        let inner = self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        exp <= inner.expiring_by || inner.jtis.contains_key(jti)
    }

    /// Lists `jti` until `exp` (plus the leeway). Returns whether the list had to fail closed (a
    /// watermark was raised), after which cached verifications must be dropped.
    pub(super) fn insert(&self, jti: &str, exp: u64, now: u64, leeway: u64) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A token past `exp` + leeway is refused anyway: nobody needs to remember it.
        while let Some(first) = inner.by_exp.first().filter(|(exp, _)| exp.saturating_add(leeway) <= now).cloned() {
            inner.by_exp.remove(&first);
            inner.jtis.remove(&first.1);
        }
        self.any.store(true, std::sync::atomic::Ordering::Release);
        if inner.jtis.contains_key(jti) || exp <= inner.expiring_by {
            return false;
        }
        let mut raised = false;
        if inner.jtis.len() >= MAX_REVOKED_TOKENS
            && let Some((soonest, evicted)) = inner.by_exp.pop_first()
        {
            inner.jtis.remove(&evicted);
            inner.expiring_by = inner.expiring_by.max(soonest);
            raised = true;
        }
        inner.jtis.insert(jti.into(), exp);
        inner.by_exp.insert((exp, jti.into()));
        raised
    }

    /// How many `jti`s are listed one by one (for tests of the bound).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).jtis.len()
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_REVOKED_TOKENS, Revocations};

    #[test]
    fn a_revoked_token_stays_refused_until_it_expires_whatever_the_flood() {
        let revocations = Revocations::new();
        assert!(!revocations.contains("stolen", 1_000));
        revocations.insert("stolen", 1_000, 100, 30);
        // An attacker revokes a flood of their own tokens, all expiring later than the stolen one.
        for index in 0..MAX_REVOKED_TOKENS + 10 {
            revocations.insert(&format!("own-{index}"), 2_000, 100, 30);
        }
        assert!(revocations.len() <= MAX_REVOKED_TOKENS);
        assert!(revocations.contains("stolen", 1_000), "the stolen token is still refused");
        // Failing closed refuses honest tokens expiring by the evicted ones (the flood's own, at
        // 2,000, once the stolen one was evicted); later ones are unaffected.
        assert!(revocations.contains("honest", 1_500));
        assert!(!revocations.contains("honest", 2_500));
        // Expired entries go first, and are forgotten.
        revocations.insert("late", 5_000, 2_100, 30);
        assert_eq!(revocations.len(), 1);
        assert!(revocations.contains("late", 5_000));
    }
}
