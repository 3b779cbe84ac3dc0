//! RS fault profiles: named weaknesses a scenario switches on to prove an attack succeeds against a
//! vulnerable server. The default, [`RsProfile::Conforming`], follows the specs.

use std::fmt;
use std::str::FromStr;

/// A named RS behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RsProfile {
    /// Spec-conforming (the default).
    #[default]
    Conforming,
    /// Tokens for any audience are accepted (weak: RFC 8707, MCP-1125 §Token Handling).
    SkipAudienceCheck,
    /// `alg: none` and HS256 keyed with the public key are accepted (weak: RFC 8725 §2.1).
    AcceptAnyAlg,
    /// Objects of other users are served (weak: RS-19, IDOR).
    NoOwnerCheck,
    /// Personal and payment data is returned unmasked (weak: seed §7.5).
    NoRedaction,
    /// A known session id stands in for a token (weak: SBP Session Hijacking).
    SessionAsAuth,
    /// `Origin` and `Host` are not checked (weak: TR-1125 DNS rebinding).
    NoOriginCheck,
    /// Session ids count up (`lab-session-00000001`, …) instead of being random (weak: SBP
    /// Session Hijacking, TR-1125 §Session Management).
    PredictableSessionIds,
    /// The PRM claims `resource = https://evil.example/mcp` (hostile, for clients: CL-03).
    PrmResourceMismatch,
    /// The challenge's `resource_metadata` points at the SSRF canary (hostile, for clients: CL-07).
    SsrfResourceMetadata,
    /// Every non-public tool call answers 403 `insufficient_scope`, whatever the token (hostile,
    /// for clients: CL-23's retry limit).
    NeverSatisfiedStepUp,
    /// A 2025-03-26 server: no PRM, a challenge without `resource_metadata` (legacy, for clients).
    Legacy20250326,
    /// 2026-07-28: authorises a tool call on its `Mcp-Name` header, not on the body's tool, as
    /// a gateway in front of the server might (weak).
    TrustMcpName,
    /// 2026-07-28: takes a `requestState` back without checking its seal, caller, request or
    /// expiry (weak).
    UnsealedRequestState,
    /// 2026-07-28: marks every cacheable result `public`, the caller's own included (weak).
    PublicCacheScope,
    /// 2026-07-28: every tool call asks for input three times, with a new `requestState`, then
    /// another, then none, before it runs (hostile, for clients: the echo rule of SEP-2322).
    ShiftingRequestState,
    /// After the first authenticated answer the protected resource metadata names the lab's path
    /// issuer, and only its tokens are taken (hostile, for clients: SEP-2352).
    AsMigration,
}

impl RsProfile {
    /// Every profile, the default first.
    pub const ALL: [RsProfile; 17] = [
        Self::Conforming,
        Self::SkipAudienceCheck,
        Self::AcceptAnyAlg,
        Self::NoOwnerCheck,
        Self::NoRedaction,
        Self::SessionAsAuth,
        Self::NoOriginCheck,
        Self::PredictableSessionIds,
        Self::PrmResourceMismatch,
        Self::SsrfResourceMetadata,
        Self::NeverSatisfiedStepUp,
        Self::Legacy20250326,
        Self::TrustMcpName,
        Self::UnsealedRequestState,
        Self::PublicCacheScope,
        Self::ShiftingRequestState,
        Self::AsMigration,
    ];

    /// The kebab-case name used by the CLI and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conforming => "conforming",
            Self::SkipAudienceCheck => "skip-audience-check",
            Self::AcceptAnyAlg => "accept-any-alg",
            Self::NoOwnerCheck => "no-owner-check",
            Self::NoRedaction => "no-redaction",
            Self::SessionAsAuth => "session-as-auth",
            Self::NoOriginCheck => "no-origin-check",
            Self::PredictableSessionIds => "predictable-session-ids",
            Self::PrmResourceMismatch => "prm-resource-mismatch",
            Self::SsrfResourceMetadata => "ssrf-resource-metadata",
            Self::NeverSatisfiedStepUp => "never-satisfied-step-up",
            Self::Legacy20250326 => "legacy-2025-03-26",
            Self::TrustMcpName => "trust-mcp-name",
            Self::UnsealedRequestState => "unsealed-request-state",
            Self::PublicCacheScope => "public-cache-scope",
            Self::ShiftingRequestState => "shifting-request-state",
            Self::AsMigration => "as-migration",
        }
    }

    /// What the profile does.
    pub fn summary(self) -> &'static str {
        match self {
            Self::Conforming => "follows the specs",
            Self::SkipAudienceCheck => "accepts tokens minted for any resource (weak)",
            Self::AcceptAnyAlg => "accepts alg=none and HS256 keyed with the public key (weak)",
            Self::NoOwnerCheck => "serves other users' orders and profiles (weak)",
            Self::NoRedaction => "returns card numbers, IDs, cost prices unmasked (weak)",
            Self::SessionAsAuth => "accepts a session id instead of a token (weak)",
            Self::NoOriginCheck => "does not validate Origin and Host (weak)",
            Self::PredictableSessionIds => "issues session ids that count up (weak)",
            Self::PrmResourceMismatch => "PRM claims another resource (hostile, for clients)",
            Self::SsrfResourceMetadata => {
                "challenge points resource_metadata at the SSRF canary (hostile, for clients)"
            }
            Self::NeverSatisfiedStepUp => {
                "answers 403 insufficient_scope to every protected tool call (hostile, for clients)"
            }
            Self::Legacy20250326 => {
                "behaves like a 2025-03-26 server: no PRM, no resource_metadata (legacy, for clients)"
            }
            Self::TrustMcpName => "authorizes 2026-07-28 tool calls on the Mcp-Name header, not the body (weak)",
            Self::UnsealedRequestState => "takes any requestState back unchecked (weak)",
            Self::PublicCacheScope => "marks every cacheable result public, the caller's own included (weak)",
            Self::ShiftingRequestState => {
                "asks for input on every tool call in three rounds: a requestState, another, then none (hostile, for clients)"
            }
            Self::AsMigration => {
                "moves to the lab's path issuer after the first authenticated answer (hostile, for clients)"
            }
        }
    }
}

impl fmt::Display for RsProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name; the message lists the known ones.
pub type UnknownRsProfile = lab_proto::named::UnknownName;

impl FromStr for RsProfile {
    type Err = UnknownRsProfile;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let choices = Self::ALL.map(|profile| (profile.name(), profile));
        lab_proto::named::parse_named(name, choices, "resource server profile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for profile in RsProfile::ALL {
            assert_eq!(profile.name().parse::<RsProfile>(), Ok(profile));
        }
        assert!("lax".parse::<RsProfile>().unwrap_err().to_string().contains("no-owner-check"));
    }
}
