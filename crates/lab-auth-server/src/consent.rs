//! Remembered consent (AS-20): after a user approves a client, a later authorization request of
//! the same user, client, redirect URI and resources, for the same scope or less, is approved
//! without showing the page again.
//!
//! The memory is a signed cookie holding the user and a list of approvals. Each is bound to the
//! client (approving client A never approves client B: AS-18, SBP Confused Deputy) and to the
//! exact redirect URI, port included, and the resources: on loopback any local program can
//! listen on another port and name the same public client, so an approval given to the client
//! at port 53682 says nothing of port 40001 (O21 §7.3; MCP security best practices, localhost
//! redirect impersonation).

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::cookies::{self, SESSION_SECONDS};
use crate::records::ValidatedRequest;
use crate::state::AuthServer;

/// The cookie that remembers which clients the user approved (AS-20).
const CONSENT_COOKIE: &str = "__Host-lab_consent";
/// How many approvals the cookie keeps: the most recent ones, so the cookie stays small.
const MAX_APPROVALS: usize = 10;

/// One approval: what the user saw on the page and agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Approval {
    client_id: String,
    /// Compared exactly: the port is part of what was approved.
    redirect_uri: String,
    resources: Vec<String>,
    scope: String,
}

impl Approval {
    fn of(request: &ValidatedRequest) -> Self {
        Self {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            resources: request.resources.clone(),
            scope: request.scope.clone(),
        }
    }

    /// Whether this approval covers `request`: same client and redirect URI, no resource and no
    /// scope beyond what was approved.
    fn covers(&self, request: &ValidatedRequest) -> bool {
        self.client_id == request.client_id
            && self.redirect_uri == request.redirect_uri
            && request.resources.iter().all(|resource| self.resources.contains(resource))
            && lab_proto::scope::is_subset(&request.scope, &self.scope)
    }
}

/// What one user approved, most recent last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Approvals {
    sub: String,
    approved: Vec<Approval>,
}

impl Approvals {
    /// Reads the JSON payload of a verified cookie; a payload of another shape (an older cookie
    /// of the lab's, say) remembers nothing.
    fn from_payload(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }

    fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether `user` approved what `request` asks.
    fn covers(&self, user: &str, request: &ValidatedRequest) -> bool {
        self.sub == user && self.approved.iter().any(|approval| approval.covers(request))
    }

    /// `remembered` with `user`'s approval of `request`, which replaces an earlier approval of the
    /// same client and redirect URI. Another user's approvals are dropped, never carried over.
    fn with_approval(remembered: Option<Self>, user: &str, request: &ValidatedRequest) -> Self {
        let mut approved = match remembered {
            Some(remembered) if remembered.sub == user => remembered.approved,
            _ => Vec::new(),
        };
        approved.retain(|approval| {
            approval.client_id != request.client_id || approval.redirect_uri != request.redirect_uri
        });
        approved.push(Approval::of(request));
        if approved.len() > MAX_APPROVALS {
            approved.drain(..approved.len() - MAX_APPROVALS);
        }
        Self { sub: user.to_owned(), approved }
    }
}

/// The approvals a request's consent cookie carries, if its signature holds.
fn remembered(server: &AuthServer, headers: &HeaderMap) -> Option<Approvals> {
    Approvals::from_payload(&cookies::verify(server, cookies::cookie(headers, CONSENT_COOKIE)?)?)
}

/// Whether the request's consent cookie shows that `user` already approved what `request` asks
/// (AS-18, AS-20).
pub(crate) fn covers(server: &AuthServer, headers: &HeaderMap, user: &str, request: &ValidatedRequest) -> bool {
    remembered(server, headers).is_some_and(|approvals| approvals.covers(user, request))
}

/// The `Set-Cookie` value that remembers `user`'s approval of `request`, beside what the request's
/// cookie already remembered for the same user.
pub(crate) fn remember(server: &AuthServer, headers: &HeaderMap, user: &str, request: &ValidatedRequest) -> String {
    let approvals = Approvals::with_approval(remembered(server, headers), user, request);
    cookies::host_cookie(CONSENT_COOKIE, &cookies::sign(server, &approvals.to_payload()), SESSION_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ClientSource;

    const RS: &str = "https://127.0.0.1:8443/mcp";

    fn request(client_id: &str, redirect_uri: &str, scope: &str) -> ValidatedRequest {
        ValidatedRequest {
            client_id: client_id.to_owned(),
            client_name: "n".to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            state: None,
            scope: scope.to_owned(),
            resources: vec![RS.to_owned()],
            challenge: None,
            login_hint: None,
            client_source: ClientSource::Dynamic,
        }
    }

    fn alice_approved(requests: &[ValidatedRequest]) -> Approvals {
        requests
            .iter()
            .fold(None, |remembered, request| Some(Approvals::with_approval(remembered, "alice", request)))
            .unwrap()
    }

    const A: &str = "http://127.0.0.1:53682/callback";

    #[test]
    fn an_approval_covers_its_user_client_redirect_and_resources_and_at_most_its_scope() {
        let remembered = alice_approved(&[request("client-a", A, "mcp:read mcp:write")]);
        assert!(remembered.covers("alice", &request("client-a", A, "mcp:read")));
        assert!(remembered.covers("alice", &request("client-a", A, "mcp:write mcp:read")));
        assert!(!remembered.covers("alice", &request("client-a", A, "mcp:admin")), "more scope needs the page");
        assert!(!remembered.covers("alice", &request("client-b", A, "mcp:read")), "AS-18: another client");
        assert!(!remembered.covers("bob", &request("client-a", A, "mcp:read")), "another user");
        // Localhost redirect impersonation: another port, path or host is another approval.
        assert!(!remembered.covers("alice", &request("client-a", "http://127.0.0.1:40001/callback", "mcp:read")));
        assert!(!remembered.covers("alice", &request("client-a", "http://127.0.0.1:53682/other", "mcp:read")));
        assert!(!remembered.covers("alice", &request("client-a", "http://localhost:53682/callback", "mcp:read")));
        // Another resource was never shown on the page.
        let mut twin = request("client-a", A, "mcp:read");
        twin.resources = vec!["https://127.0.0.1:8444/mcp".to_owned()];
        assert!(!remembered.covers("alice", &twin));
    }

    #[test]
    fn a_new_approval_replaces_the_same_redirects_old_one_and_drops_another_users() {
        let remembered = alice_approved(&[request("client-a", A, "mcp:read"), request("client-b", A, "mcp:read")]);
        let updated = Approvals::with_approval(Some(remembered.clone()), "alice", &request("client-a", A, "mcp:write"));
        assert_eq!(updated, alice_approved(&[request("client-b", A, "mcp:read"), request("client-a", A, "mcp:write")]));
        let other_user = Approvals::with_approval(Some(remembered), "bob", &request("client-c", A, "mcp:read"));
        assert_eq!(other_user.sub, "bob");
        assert_eq!(other_user.approved, vec![Approval::of(&request("client-c", A, "mcp:read"))]);
    }

    #[test]
    fn only_the_most_recent_approvals_are_kept() {
        let requests: Vec<_> =
            (0..=MAX_APPROVALS).map(|index| request(&format!("client-{index}"), A, "mcp:read")).collect();
        let remembered = alice_approved(&requests);
        assert_eq!(remembered.approved.len(), MAX_APPROVALS);
        assert!(!remembered.covers("alice", &requests[0]), "the oldest approval is forgotten");
        assert!(remembered.covers("alice", &requests[MAX_APPROVALS]));
    }

    #[test]
    fn the_payload_round_trips_and_an_old_or_odd_one_remembers_nothing() {
        let remembered = alice_approved(&[request("client-a", A, "mcp:read")]);
        assert_eq!(Approvals::from_payload(&remembered.to_payload()), Some(remembered));
        // The cookie of earlier labs, `[client, scope]` pairs, approved any redirect: it is dropped.
        assert_eq!(Approvals::from_payload(r#"{"sub":"alice","approved":[["client-a","mcp:read"]]}"#), None);
        assert_eq!(Approvals::from_payload(r#"{"approved":[]}"#), None);
        assert_eq!(Approvals::from_payload("not json"), None);
    }
}
