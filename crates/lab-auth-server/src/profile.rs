//! Fault profiles: the named ways the AS can be made weak or hostile.
//!
//! Misbehaviour is data (ARCHITECTURE.md): a profile is chosen at construction time or switched by
//! a scenario step, never compiled in. The default, [`AsProfile::Conforming`], follows the specs.
//! Weak profiles let a scenario prove that an attack *succeeds* against a vulnerable server;
//! hostile ones let it test how a client reacts to a broken server.

use std::fmt;
use std::str::FromStr;

/// A named AS behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AsProfile {
    /// Spec-conforming (the default).
    #[default]
    Conforming,
    /// Metadata `issuer` differs from the issuer the URL was built from (tests CL-05).
    IssuerMismatch,
    /// Metadata omits `code_challenge_methods_supported` (tests CL-06).
    NoS256Advertised,
    /// Authorization responses carry no `iss` although metadata advertises it (tests CL-18).
    MissingIss,
    /// Authorization responses carry the `iss` of another AS (tests CL-18).
    WrongIss,
    /// `plain` (and an absent method) is accepted at `/authorize` (weak: O21 §4.1.1).
    AcceptPlainPkce,
    /// A code can be redeemed more than once (weak: O21 §4.1.3).
    NoCodeReplayCheck,
    /// Refresh tokens are not rotated and reuse is not detected (weak: O21 §4.3.1).
    NoRefreshRotation,
    /// `resource` is neither required nor checked and tokens name every resource (weak: RFC 8707).
    IgnoreResource,
    /// Only the OpenID configuration document is served; RFC 8414 metadata is 404.
    OidcOnlyMetadata,
    /// Metadata names a `javascript:` authorization endpoint (hostile: tests CL-08).
    JavascriptAuthorizationEndpoint,
}

impl AsProfile {
    /// Every profile, the default first.
    pub const ALL: [AsProfile; 11] = [
        Self::Conforming,
        Self::IssuerMismatch,
        Self::NoS256Advertised,
        Self::MissingIss,
        Self::WrongIss,
        Self::AcceptPlainPkce,
        Self::NoCodeReplayCheck,
        Self::NoRefreshRotation,
        Self::IgnoreResource,
        Self::OidcOnlyMetadata,
        Self::JavascriptAuthorizationEndpoint,
    ];

    /// The kebab-case name used by the CLI and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conforming => "conforming",
            Self::IssuerMismatch => "issuer-mismatch",
            Self::NoS256Advertised => "no-s256-advertised",
            Self::MissingIss => "missing-iss",
            Self::WrongIss => "wrong-iss",
            Self::AcceptPlainPkce => "accept-plain-pkce",
            Self::NoCodeReplayCheck => "no-code-replay-check",
            Self::NoRefreshRotation => "no-refresh-rotation",
            Self::IgnoreResource => "ignore-resource",
            Self::OidcOnlyMetadata => "oidc-only-metadata",
            Self::JavascriptAuthorizationEndpoint => "javascript-authorization-endpoint",
        }
    }

    /// What the profile does, for `--help` and reports.
    pub fn summary(self) -> &'static str {
        match self {
            Self::Conforming => "follows the specs",
            Self::IssuerMismatch => "metadata issuer differs from the issuer URL (hostile, for clients)",
            Self::NoS256Advertised => "metadata omits code_challenge_methods_supported (hostile, for clients)",
            Self::MissingIss => "authorization responses omit iss while metadata advertises it (hostile)",
            Self::WrongIss => "authorization responses carry another issuer's iss (hostile)",
            Self::AcceptPlainPkce => "accepts plain PKCE and an absent method (weak)",
            Self::NoCodeReplayCheck => "lets a code be redeemed more than once (weak)",
            Self::NoRefreshRotation => "does not rotate refresh tokens or detect reuse (weak)",
            Self::IgnoreResource => "ignores resource and mints tokens for every resource (weak)",
            Self::OidcOnlyMetadata => "serves only OpenID discovery, no RFC 8414 metadata",
            Self::JavascriptAuthorizationEndpoint => "metadata names a javascript: authorization endpoint (hostile)",
        }
    }

    /// The issuer a `wrong-iss` AS puts in `iss` (requirements §6.3 `mixup-iss-wrong`).
    pub const WRONG_ISS: &'static str = "https://127.0.0.1:9999";
    /// The issuer an `issuer-mismatch` AS claims (requirements §6.1 `as-metadata-issuer-mismatch`).
    pub const MISMATCHED_ISSUER: &'static str = "https://honest.example";
}

impl fmt::Display for AsProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name; the message lists the known ones.
pub type UnknownProfile = lab_proto::named::UnknownName;

impl FromStr for AsProfile {
    type Err = UnknownProfile;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let choices = Self::ALL.map(|profile| (profile.name(), profile));
        lab_proto::named::parse_named(name, choices, "authorization server profile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for profile in AsProfile::ALL {
            assert_eq!(profile.name().parse::<AsProfile>(), Ok(profile));
        }
        let error = "weak".parse::<AsProfile>().unwrap_err().to_string();
        assert!(error.contains("`weak`") && error.contains("accept-plain-pkce"), "{error}");
    }
}
