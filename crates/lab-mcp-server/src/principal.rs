//! Who is calling: a user, a client acting for itself, or nobody.

use std::sync::Arc;

/// The kind of caller (RS-23: a client-credentials token is not a user, whatever its `sub` says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user's token: `sub` is the user.
    User,
    /// A client-credentials token: `sub` equals `client_id` (RFC 9068 §2.2).
    Client,
    /// No token (only with `--anonymous-public`, for public tools).
    Anonymous,
}

/// A verified caller.
///
/// The strings are shared: the verified-token cache hands every request a clone, which then
/// costs three reference counts instead of three allocations and copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: Arc<str>,
    pub client_id: Arc<str>,
    pub scope: Arc<str>,
    pub kind: PrincipalKind,
}

impl Principal {
    /// The anonymous caller.
    pub fn anonymous() -> Self {
        Self { sub: "".into(), client_id: "".into(), scope: "".into(), kind: PrincipalKind::Anonymous }
    }

    /// Classifies a token's subject (RS-23).
    pub fn from_token(sub: String, client_id: String, scope: String) -> Self {
        let kind = if sub == client_id { PrincipalKind::Client } else { PrincipalKind::User };
        Self { sub: sub.into(), client_id: client_id.into(), scope: scope.into(), kind }
    }

    /// The user, if the caller is one.
    pub fn user_id(&self) -> Option<&str> {
        (self.kind == PrincipalKind::User).then_some(&*self.sub)
    }

    /// What sessions and rate limits are keyed by (SBP Session Hijacking: `<user_id>:<session_id>`).
    pub fn key(&self) -> String {
        match self.kind {
            PrincipalKind::User => format!("user:{}", self.sub),
            PrincipalKind::Client => format!("client:{}", self.client_id),
            PrincipalKind::Anonymous => "anonymous".to_owned(),
        }
    }

    /// Whether [`Principal::key`] is `key`, without building it (every request with a session
    /// asks).
    pub fn has_key(&self, key: &str) -> bool {
        match self.kind {
            PrincipalKind::User => key.strip_prefix("user:") == Some(&*self.sub),
            PrincipalKind::Client => key.strip_prefix("client:") == Some(&*self.client_id),
            PrincipalKind::Anonymous => key == "anonymous",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_tokens_are_not_users() {
        let client = Principal::from_token(
            "lab-confidential-client".into(),
            "lab-confidential-client".into(),
            "mcp:read".into(),
        );
        assert_eq!(client.kind, PrincipalKind::Client);
        assert_eq!(client.user_id(), None);
        let user = Principal::from_token("alice".into(), "dcr-x".into(), "mcp:read".into());
        assert_eq!(user.user_id(), Some("alice"));
        assert_eq!(user.key(), "user:alice");
    }

    #[test]
    fn has_key_agrees_with_key() {
        let principals = [
            Principal::from_token("alice".into(), "dcr-x".into(), String::new()),
            Principal::from_token("c".into(), "c".into(), String::new()),
            Principal::anonymous(),
        ];
        for principal in &principals {
            for other in &principals {
                assert_eq!(principal.has_key(&other.key()), principal.key() == other.key());
            }
        }
        // A user named like a client's key is not that client.
        assert!(!Principal::from_token("client:c".into(), "x".into(), String::new()).has_key("client:c"));
    }
}
