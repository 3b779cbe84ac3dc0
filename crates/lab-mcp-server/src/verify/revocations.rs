//! The revocation denylist: the `jti`s of access tokens the AS revoked, each until its `exp`.
//!
//! A JWT carries no revocation status of its own, so the lab AS tells the RS of every access token
//! it revokes (RFC 7009) through `McpServer::revoke_access_token`, and both verifiers consult this
//! set: the JWT verifier refuses a listed `jti`, and both keep a listed token's verification out
//! of their [`super::token_cache::TokenCache`].

use std::collections::HashMap;
use std::sync::RwLock;

/// The most revoked `jti`s a verifier remembers. Entries end at their token's `exp`, so only a
/// revocation storm of long-lived tokens could fill it; past the bound the oldest-expiring entry
/// is dropped, which can only re-admit the token that expires soonest.
pub const MAX_REVOKED_TOKENS: usize = 65_536;

/// Revoked `jti`s, told by the AS (a JWT carries no revocation status of its own). Empty in
/// nearly every run, so the request path pays one atomic load for it.
pub(super) struct Revocations {
    any: std::sync::atomic::AtomicBool,
    jtis: RwLock<HashMap<Box<str>, u64>>,
}

impl Revocations {
    pub(super) fn new() -> Self {
        Self { any: std::sync::atomic::AtomicBool::new(false), jtis: RwLock::new(HashMap::new()) }
    }

    pub(super) fn contains(&self, jti: &str) -> bool {
        self.any.load(std::sync::atomic::Ordering::Acquire)
            && self.jtis.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(jti)
    }

    pub(super) fn insert(&self, jti: &str, exp: u64, now: u64, leeway: u64) {
        let mut jtis = self.jtis.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A token past `exp` + leeway is refused anyway: nobody needs to remember it.
        jtis.retain(|_, exp| exp.saturating_add(leeway) > now);
        if jtis.len() >= MAX_REVOKED_TOKENS
            && let Some(soonest) = jtis.iter().min_by_key(|(_, exp)| **exp).map(|(jti, _)| jti.clone())
        {
            jtis.remove(&soonest);
        }
        jtis.insert(jti.into(), exp);
        self.any.store(true, std::sync::atomic::Ordering::Release);
    }
}
