//! What a client run is configured with.

use std::sync::Arc;
use std::time::Duration;

use lab_proto::ClientSecret;
use lab_proto::registration::TokenEndpointAuthMethod;

use crate::http::NetworkPolicy;

/// Credentials issued out of band (MCP-1125 §Client Registration Approaches: first choice).
#[derive(Debug, Clone)]
pub struct PreRegistered {
    /// The issuer these credentials belong to (CL-12, SEP-2352: never used with, nor sent to,
    /// another AS). `None` pins the first AS the run discovers, for harnesses that hand out a
    /// client id without naming its AS (the conformance suite); a person names it.
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub auth_method: TokenEndpointAuthMethod,
}

/// One thing the client did, for live output (`mcp-authlab client` prints these as they happen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A numbered step of the seed's flow starts.
    Step { number: u8, title: &'static str },
    /// A request was answered (or failed).
    Exchange { method: String, url: String, status: Option<u16> },
    /// A check passed; `key` is the requirement key.
    Checked { key: &'static str, detail: String },
    /// Something worth saying.
    Note(String),
    /// The user must open this URL in a browser.
    OpenInBrowser(String),
}

/// Receives events.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// The configuration of a client.
#[derive(Clone)]
pub struct ClientConfig {
    /// The MCP server URL, exactly as the user gave it: also the expected PRM `resource` (CL-03).
    pub mcp_url: String,
    /// The only CA to trust (the lab CA); `None` trusts the platform's roots.
    pub ca_pem: Option<Vec<u8>>,
    pub policy: NetworkPolicy,
    pub pre_registered: Option<PreRegistered>,
    /// The client's metadata document URL, used when the AS supports CIMD.
    pub metadata_document: Option<String>,
    /// `login_hint` sent to the AS (the lab's headless mode picks this user).
    pub login_hint: Option<String>,
    /// Scope override; otherwise CL-16's order applies.
    pub scope: Option<String>,
    /// How many re-authorizations a step-up may take per operation (requirements §0.4: at most 2).
    pub step_up_limit: u32,
    /// How long to wait for the browser to come back to the loopback listener.
    pub callback_timeout: Duration,
    /// The loopback callback port; 0 picks one.
    pub callback_port: u16,
    pub client_name: String,
    pub events: Option<EventSink>,
    /// Speak MCP 2026-07-28 (stateless, `server/discover`), falling back to 2025-11-25 when the
    /// server does not answer it; otherwise 2025-11-25 (`initialize`, a session).
    pub modern: bool,
    /// What to answer when a server asks the user to confirm (an input-required elicitation whose
    /// form holds only yes/no fields): decline (the default), confirm (`client --yes`), or ask.
    pub confirm: Confirm,
    /// Whether a 2025-11-25 session also listens on the server's standalone stream (a `GET`), where
    /// a server sends requests that belong to no request of the client's (an elicitation). A
    /// proxy, which speaks for other clients, does not.
    pub listen: bool,
}

/// The client's answer when a server asks the user to confirm an operation (seed §7.1: high-risk
/// tools need the user's confirmation; MCP 2026-07-28 MRTR carries the question).
#[derive(Clone, Default)]
pub enum Confirm {
    /// Decline: nobody is there to ask.
    #[default]
    Decline,
    /// Confirm every yes/no question at once (`client --yes`).
    Yes,
    /// Ask a person: the function gets the server's message (control characters removed, at most
    /// 300 characters) and answers yes or no. It may block (it runs on a blocking thread); the
    /// client waits for it at most `callback_timeout`, then declines.
    Ask(std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Decline => "Decline",
            Self::Yes => "Yes",
            Self::Ask(_) => "Ask",
        })
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("mcp_url", &self.mcp_url)
            .field("policy", &self.policy)
            .field("pre_registered", &self.pre_registered)
            .field("metadata_document", &self.metadata_document)
            .field("login_hint", &self.login_hint)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A client for `mcp_url`, allowed to reach the URL's own host.
    pub fn new(mcp_url: impl Into<String>) -> Self {
        let mcp_url = mcp_url.into();
        let mut policy = NetworkPolicy::default();
        if let Ok(url) = url::Url::parse(&mcp_url)
            && let (Some(host), Some(port)) = (url.host(), url.port_or_known_default())
        {
            let authority = match host {
                url::Host::Ipv6(address) => format!("[{address}]:{port}"),
                other => format!("{other}:{port}"),
            };
            policy.allowed_authorities.push(authority);
        }
        Self {
            mcp_url,
            ca_pem: None,
            policy,
            pre_registered: None,
            metadata_document: None,
            login_hint: None,
            scope: None,
            step_up_limit: 2,
            callback_timeout: Duration::from_secs(300),
            callback_port: 0,
            client_name: "MCP Auth Lab client".to_owned(),
            events: None,
            modern: false,
            confirm: Confirm::Decline,
            listen: true,
        }
    }

    /// Also allows these `host:port` authorities (loopback or private hosts the user trusts).
    pub fn allow(mut self, authorities: impl IntoIterator<Item = String>) -> Self {
        self.policy.allowed_authorities.extend(authorities);
        self
    }
}

/// The pre-registered credentials usable at the AS `issuer` (CL-12, SEP-2352: only at their own
/// AS), and a note when there are some for another AS. An unnamed AS is pinned to the first one
/// asked about, so a later (migrated or hostile) AS gets nothing of them.
pub(crate) fn pre_registered_for(
    pre: &mut Option<PreRegistered>,
    issuer: &str,
) -> (Option<PreRegistered>, Option<String>) {
    let Some(pre) = pre else { return (None, None) };
    let own = pre.issuer.get_or_insert_with(|| issuer.to_owned());
    if own == issuer {
        (Some(pre.clone()), None)
    } else {
        (None, Some(format!("the pre-registered client belongs to {own}; nothing of it is sent to {issuer}")))
    }
}

#[cfg(test)]
mod pre_registered_tests {
    use lab_proto::ClientSecret;
    use lab_proto::registration::TokenEndpointAuthMethod;

    use super::{PreRegistered, pre_registered_for};

    fn credentials(issuer: Option<&str>) -> Option<PreRegistered> {
        Some(PreRegistered {
            issuer: issuer.map(str::to_owned),
            client_id: "c".to_owned(),
            client_secret: Some(ClientSecret::new("s-0123456789")),
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        })
    }

    #[test]
    fn credentials_go_to_their_own_issuer_only_and_an_unnamed_one_is_pinned_first() {
        let mut named = credentials(Some("https://as.example"));
        assert!(pre_registered_for(&mut named, "https://as.example").0.is_some());
        let (usable, note) = pre_registered_for(&mut named, "https://evil.example");
        assert!(usable.is_none());
        assert!(note.is_some_and(|note| !note.contains("s-0123456789")), "the note never shows the secret");
        // Unnamed (the conformance harness's client): the first AS asked about is its AS.
        let mut unnamed = credentials(None);
        assert!(pre_registered_for(&mut unnamed, "https://first.example").0.is_some());
        assert!(pre_registered_for(&mut unnamed, "https://migrated.example").0.is_none(), "a later AS gets nothing");
        assert!(pre_registered_for(&mut unnamed, "https://first.example").0.is_some());
        let (usable, note) = pre_registered_for(&mut None, "https://as.example");
        assert!(usable.is_none() && note.is_none());
    }
}
