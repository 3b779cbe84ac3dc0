//! The revocation denylist: the `jti`s of access tokens the AS revoked, each until its `exp`, kept
//! per client.
//!
//! A JWT carries no revocation status of its own, so the lab AS tells the RS of every access token
//! it revokes (RFC 7009) through `McpServer::revoke_access_token`, and both verifiers consult this
//! list: the JWT verifier refuses a listed `jti`, and both check it on every hit of their
//! [`super::token_cache::TokenCache`].
//!
//! The list is kept per client and subject (the "owner" below) and is bounded and fails closed
//! (issue 14, item 8): past an owner's bound, its entry that expires soonest is dropped and every
//! token *of that owner* expiring by then is refused; past the global bound, the same happens to
//! the owner with the most entries. So a
//! revoked token stays refused until it expires whatever the load, and a flood of revocations (a
//! client revoking its own tokens, or many clients doing so) only ever shortens the flooders' own
//! tokens.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

/// The most revoked `jti`s the list keeps one by one, in all.
pub const MAX_REVOKED_TOKENS: usize = 65_536;
/// The most revoked `jti`s it keeps one by one for one client.
pub const MAX_REVOKED_PER_CLIENT: usize = 4_096;

/// The key of a revocation list: the token's client and subject, so one user's revocations (or a
/// client revoking its own tokens in bulk) never shorten another user's tokens at a shared client.
pub(super) fn owner_key(client_id: &str, sub: &str) -> String {
    format!("{client_id}\n{sub}")
}

/// Revoked `jti`s, told by the AS. Empty in nearly every run, so the request path pays one atomic
/// load for it.
pub(super) struct Revocations {
    any: std::sync::atomic::AtomicBool,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<Box<str>, ClientList>,
    /// Every listed entry by `exp`, for expiry: `(exp, client, jti)`; and for each watermark, a
    /// marker (`jti` [`WATERMARK`]) by which an owner whose entries all went is forgotten once its
    /// watermark has passed too.
    by_exp: BTreeSet<(u64, Box<str>, Box<str>)>,
    /// How many `jti`s are listed (the markers not counted).
    listed: usize,
}

/// The `jti` of a watermark's marker: no JWT's (a NUL is no character a `jti` is written with).
const WATERMARK: &str = "\0watermark";

#[derive(Default)]
struct ClientList {
    /// The client's listed entries by `exp`: `(exp, jti)`.
    by_exp: BTreeSet<(u64, Box<str>)>,
    jtis: HashMap<Box<str>, u64>,
    /// Every token of the client whose `exp` is at most this is refused.
    expiring_by: u64,
}

impl Inner {
    fn total(&self) -> usize {
        self.listed
    }

    /// Drops the client's entry that expires soonest and refuses every token of the client that
    /// expires by then.
    fn evict_soonest(&mut self, client: &str) {
        let Some(list) = self.clients.get_mut(client) else { return };
        let Some((exp, jti)) = list.by_exp.pop_first() else { return };
        list.jtis.remove(&jti);
        let previous = list.expiring_by;
        list.expiring_by = previous.max(exp);
        let current = list.expiring_by;
        self.by_exp.remove(&(exp, client.into(), jti));
        self.listed -= 1;
        // One marker per owner, at its newest watermark: the older one is moot.
        self.by_exp.remove(&(previous, client.into(), WATERMARK.into()));
        self.by_exp.insert((current, client.into(), WATERMARK.into()));
    }
}

impl Revocations {
    pub(super) fn new() -> Self {
        Self { any: std::sync::atomic::AtomicBool::new(false), inner: RwLock::new(Inner::default()) }
    }

    /// Whether the token `jti` of `client`, expiring at `exp`, is revoked (or may be, past the
    /// bound).
    pub(super) fn contains(&self, jti: &str, client: &str, exp: u64) -> bool {
        if !self.any.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        let inner = self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.clients.get(client).is_some_and(|list| exp <= list.expiring_by || list.jtis.contains_key(jti))
    }

    /// Whether the token `jti` of `client_id` for `sub`, expiring at `exp`, is revoked. The
    /// request path: with nothing ever revoked (nearly every run) it is one atomic load, and the
    /// owner's key is built only when there is a list to look in.
    pub(super) fn refuses(&self, jti: &str, client_id: &str, sub: &str, exp: u64) -> bool {
        self.any.load(std::sync::atomic::Ordering::Acquire) && self.contains(jti, &owner_key(client_id, sub), exp)
    }

    /// Whether a cached verification's token is revoked.
    pub(super) fn lists(&self, entry: &super::token_cache::CachedToken) -> bool {
        self.refuses(&entry.jti, &entry.principal.client_id, &entry.principal.sub, entry.exp)
    }

    /// Lists `jti` of `client` until `exp` (plus the leeway).
    pub(super) fn insert(&self, jti: &str, client: &str, exp: u64, now: u64, leeway: u64) {
        let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A token past `exp` + leeway is refused anyway: nobody needs to remember it.
        while let Some(first) = inner.by_exp.first().filter(|(exp, ..)| exp.saturating_add(leeway) <= now).cloned() {
            inner.by_exp.remove(&first);
            let (exp, client, jti) = first;
            if &*jti != WATERMARK {
                inner.listed -= 1;
            }
            if let Some(list) = inner.clients.get_mut(&client) {
                list.by_exp.remove(&(exp, jti.clone()));
                list.jtis.remove(&jti);
                if list.jtis.is_empty() && list.expiring_by.saturating_add(leeway) <= now {
                    inner.clients.remove(&client);
                }
            }
        }
        self.any.store(true, std::sync::atomic::Ordering::Release);
        let list = inner.clients.entry(client.into()).or_default();
        if list.jtis.contains_key(jti) || exp <= list.expiring_by {
            return;
        }
        if list.jtis.len() >= MAX_REVOKED_PER_CLIENT {
            inner.evict_soonest(client);
        }
        if inner.total() >= MAX_REVOKED_TOKENS {
            let largest =
                inner.clients.iter().max_by_key(|(_, list)| list.jtis.len()).map(|(client, _)| client.clone());
            if let Some(largest) = largest {
                inner.evict_soonest(&largest);
            }
        }
        let list = inner.clients.entry(client.into()).or_default();
        list.jtis.insert(jti.into(), exp);
        list.by_exp.insert((exp, jti.into()));
        inner.by_exp.insert((exp, client.into(), jti.into()));
        inner.listed += 1;
    }

    /// How many `jti`s are listed one by one (for tests of the bound).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).total()
    }

    /// How many owners have a list (for tests that none is kept for ever).
    #[cfg(test)]
    pub(super) fn owners(&self) -> usize {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_REVOKED_PER_CLIENT, MAX_REVOKED_TOKENS, Revocations};

    #[test]
    fn a_revoked_token_stays_refused_until_it_expires_whatever_the_flood() {
        let revocations = Revocations::new();
        assert!(!revocations.contains("stolen", "victim", 1_000));
        revocations.insert("stolen", "victim", 1_000, 100, 30);
        // One client revokes a flood of its own tokens: only its own tokens are shortened.
        for index in 0..MAX_REVOKED_PER_CLIENT + 10 {
            revocations.insert(&format!("own-{index}"), "flooder", 2_000 + index as u64, 100, 30);
        }
        assert!(revocations.contains("stolen", "victim", 1_000), "the stolen token is still refused");
        assert!(!revocations.contains("honest", "victim", 1_500), "the victim's other tokens are not");
        assert!(revocations.contains("own-0", "flooder", 2_000), "the flooder's evicted entries fail closed");
        assert!(revocations.contains("later", "flooder", 2_005), "and its tokens expiring by them");
        // Many clients flooding together reach the global bound: the largest holders pay.
        for client in 0..MAX_REVOKED_TOKENS / MAX_REVOKED_PER_CLIENT + 2 {
            for index in 0..MAX_REVOKED_PER_CLIENT {
                revocations.insert(&format!("t-{index}"), &format!("sybil-{client}"), 3_000, 100, 30);
            }
        }
        assert!(revocations.len() <= MAX_REVOKED_TOKENS);
        assert!(revocations.contains("stolen", "victim", 1_000), "the victim's one entry is never the largest");
        assert!(!revocations.contains("honest", "victim", 1_500));
        // Expired entries go first, and are forgotten.
        revocations.insert("late", "victim", 9_000, 7_000, 30);
        assert_eq!(revocations.len(), 1);
        assert!(revocations.contains("late", "victim", 9_000));
        assert!(!revocations.contains("own-0", "flooder", 7_500), "an old watermark ends with its tokens");
        assert_eq!(revocations.owners(), 1, "owners whose entries and watermark passed are forgotten");
    }

    #[test]
    fn an_owner_emptied_by_eviction_is_forgotten_once_its_watermark_passes() {
        let revocations = Revocations::new();
        // One entry for each of as many owners as the global bound: the next evicts one of them
        // whole (each is as large as the largest), leaving it a watermark and no entry.
        for owner in 0..=MAX_REVOKED_TOKENS {
            revocations.insert("t", &format!("o-{owner}"), 1_000, 100, 30);
        }
        assert_eq!(revocations.len(), MAX_REVOKED_TOKENS);
        // The emptied owner fails closed: any token of it expiring by the watermark is refused.
        let failing_closed = (0..=MAX_REVOKED_TOKENS)
            .filter(|owner| revocations.contains("other", &format!("o-{owner}"), 1_000))
            .count();
        assert_eq!(failing_closed, 1);
        assert_eq!(revocations.owners(), MAX_REVOKED_TOKENS + 1, "the emptied owner keeps its watermark");
        revocations.insert("late", "o-new", 9_000, 2_000, 30);
        assert_eq!(revocations.owners(), 1, "every owner whose entries and watermark passed is forgotten");
    }
}
