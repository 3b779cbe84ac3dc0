//! Remembered consent (AS-20): after a user approves a client for a scope, a later authorization
//! request of the same user, client and scope (or less) is approved without showing the page again.
//!
//! The memory is a signed cookie holding the user and a list of `client_id scope` approvals. It is
//! bound to each client: approving client A never approves client B (AS-18, SBP Confused Deputy).

use axum::http::HeaderMap;

use crate::cookies::{self, SESSION_SECONDS};
use crate::state::AuthServer;

/// The cookie that remembers which clients the user approved, bound to each `client_id` (AS-20).
const CONSENT_COOKIE: &str = "__Host-lab_consent";
/// How many approvals the cookie keeps: the most recent ones, so the cookie stays small.
const MAX_APPROVALS: usize = 10;

/// What one user approved, most recent last: `(client_id, scope)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Approvals {
    user: String,
    approved: Vec<(String, String)>,
}

impl Approvals {
    /// Reads the JSON payload of a verified cookie, `{"sub": user, "approved": [[client, scope], …]}`;
    /// entries that are not a pair of strings are skipped.
    fn from_payload(payload: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(payload).ok()?;
        let user = value.get("sub")?.as_str()?.to_owned();
        let approved = value
            .get("approved")?
            .as_array()?
            .iter()
            .filter_map(|entry| Some((entry.get(0)?.as_str()?.to_owned(), entry.get(1)?.as_str()?.to_owned())))
            .collect();
        Some(Self { user, approved })
    }

    fn to_payload(&self) -> String {
        serde_json::json!({"sub": self.user, "approved": self.approved}).to_string()
    }

    /// Whether `user` approved `client_id` for at least `scope`.
    fn covers(&self, user: &str, client_id: &str, scope: &str) -> bool {
        self.user == user
            && self.approved.iter().any(|(approved_client, approved_scope)| {
                approved_client == client_id && lab_proto::scope::is_subset(scope, approved_scope)
            })
    }

    /// `remembered` with `user`'s approval of `client_id` for `scope`, which replaces an earlier
    /// approval of that client. Another user's approvals are dropped, never carried over.
    fn with_approval(remembered: Option<Self>, user: &str, client_id: &str, scope: &str) -> Self {
        let mut approved = match remembered {
            Some(remembered) if remembered.user == user => remembered.approved,
            _ => Vec::new(),
        };
        approved.retain(|(approved_client, _)| approved_client != client_id);
        approved.push((client_id.to_owned(), scope.to_owned()));
        if approved.len() > MAX_APPROVALS {
            approved.drain(..approved.len() - MAX_APPROVALS);
        }
        Self { user: user.to_owned(), approved }
    }
}

/// The approvals a request's consent cookie carries, if its signature holds.
fn remembered(server: &AuthServer, headers: &HeaderMap) -> Option<Approvals> {
    Approvals::from_payload(&cookies::verify(server, cookies::cookie(headers, CONSENT_COOKIE)?)?)
}

/// Whether the request's consent cookie shows that `user` already approved `client_id` for
/// `scope` (AS-18, AS-20).
pub(crate) fn covers(server: &AuthServer, headers: &HeaderMap, user: &str, client_id: &str, scope: &str) -> bool {
    remembered(server, headers).is_some_and(|approvals| approvals.covers(user, client_id, scope))
}

/// The `Set-Cookie` value that remembers `user`'s approval of `client_id` for `scope`, beside what
/// the request's cookie already remembered for the same user.
pub(crate) fn remember(server: &AuthServer, headers: &HeaderMap, user: &str, client_id: &str, scope: &str) -> String {
    let approvals = Approvals::with_approval(remembered(server, headers), user, client_id, scope);
    cookies::host_cookie(CONSENT_COOKIE, &cookies::sign(server, &approvals.to_payload()), SESSION_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals(user: &str, approved: &[(&str, &str)]) -> Approvals {
        Approvals {
            user: user.to_owned(),
            approved: approved.iter().map(|(client, scope)| ((*client).to_owned(), (*scope).to_owned())).collect(),
        }
    }

    #[test]
    fn an_approval_covers_its_user_its_client_and_at_most_its_scope() {
        let remembered = approvals("alice", &[("client-a", "mcp:read mcp:write")]);
        assert!(remembered.covers("alice", "client-a", "mcp:read"));
        assert!(remembered.covers("alice", "client-a", "mcp:write mcp:read"));
        assert!(!remembered.covers("alice", "client-a", "mcp:admin"), "more scope needs the page again");
        assert!(!remembered.covers("alice", "client-b", "mcp:read"), "AS-18: another client is not approved");
        assert!(!remembered.covers("bob", "client-a", "mcp:read"), "another user is not approved");
    }

    #[test]
    fn a_new_approval_replaces_the_clients_old_one_and_drops_another_users() {
        let remembered = approvals("alice", &[("client-a", "mcp:read"), ("client-b", "mcp:read")]);
        let updated = Approvals::with_approval(Some(remembered.clone()), "alice", "client-a", "mcp:write");
        assert_eq!(updated, approvals("alice", &[("client-b", "mcp:read"), ("client-a", "mcp:write")]));
        let other_user = Approvals::with_approval(Some(remembered), "bob", "client-c", "mcp:read");
        assert_eq!(other_user, approvals("bob", &[("client-c", "mcp:read")]));
    }

    #[test]
    fn only_the_most_recent_approvals_are_kept() {
        let mut remembered = None;
        for index in 0..=MAX_APPROVALS {
            remembered = Some(Approvals::with_approval(remembered, "alice", &format!("client-{index}"), "mcp:read"));
        }
        let remembered = remembered.unwrap();
        assert_eq!(remembered.approved.len(), MAX_APPROVALS);
        assert!(!remembered.covers("alice", "client-0", "mcp:read"), "the oldest approval is forgotten");
        assert!(remembered.covers("alice", &format!("client-{MAX_APPROVALS}"), "mcp:read"));
    }

    #[test]
    fn the_payload_round_trips_and_skips_malformed_entries() {
        let remembered = approvals("alice", &[("client-a", "mcp:read")]);
        assert_eq!(Approvals::from_payload(&remembered.to_payload()), Some(remembered));
        let odd = r#"{"sub":"alice","approved":[["client-a","mcp:read"],["lonely"],[1,2],"x"]}"#;
        assert_eq!(Approvals::from_payload(odd), Some(approvals("alice", &[("client-a", "mcp:read")])));
        assert_eq!(Approvals::from_payload(r#"{"approved":[]}"#), None);
        assert_eq!(Approvals::from_payload("not json"), None);
    }
}
