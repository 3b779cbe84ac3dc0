//! Why a flow stopped.

/// A flow that did not finish. [`ClientError::Refused`] is the client doing its job: a security
/// check failed and the client stopped before doing anything unsafe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// A check of the client refused to continue; `check` is the requirement key (`CL-03`, …).
    #[error("refused ({check}): {reason}")]
    Refused { check: &'static str, reason: String },
    /// The network or TLS failed.
    #[error("failed to reach {url}: {reason}")]
    Network { url: String, reason: String },
    /// A server answered something the client cannot use.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// The authorization server or the MCP server said no.
    #[error("{0}")]
    Denied(String),
    /// The user or the configuration is needed.
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    pub(crate) fn refused(check: &'static str, reason: impl Into<String>) -> Self {
        Self::Refused { check, reason: reason.into() }
    }

    pub(crate) fn protocol(url: &str, reason: impl Into<String>) -> Self {
        Self::Protocol { url: crate::trace::redact_query(url), reason: reason.into() }
    }

    /// The requirement key of a refusal.
    pub fn check(&self) -> Option<&'static str> {
        match self {
            Self::Refused { check, .. } => Some(check),
            _ => None,
        }
    }
}
