//! Secret newtypes.
//!
//! Tokens, codes, verifiers, client secrets and passwords are wrapped so that `Debug` never prints
//! them: a secret that reaches a log line, a transcript or an error message by accident shows up as
//! `AccessToken([redacted])`. There is deliberately no `Display`; the raw value is reached only
//! through `secret()`, which makes every use greppable.

use serde::{Deserialize, Serialize};

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, PartialEq, Eq)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The raw value.
            ///
            /// # Security warning
            /// Never log or display the result; it is a credential.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// The raw value, consuming the wrapper.
            pub fn into_secret(self) -> String {
                self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, Clone) => {
        secret_type!($(#[$meta])* $name);
        impl Clone for $name {
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }
        }
    };
}

secret_type!(
    /// An OAuth access token (O21 §1.4); in the lab an RFC 9068 JWT.
    AccessToken,
    Clone
);
secret_type!(
    /// An OAuth refresh token (O21 §1.3.2), opaque.
    RefreshToken,
    Clone
);
secret_type!(
    /// A client secret (O21 §2.4.1).
    ClientSecret,
    Clone
);
secret_type!(
    /// A seeded user's password.
    Password,
    Clone
);
// Single-use values deliberately do not implement `Clone` (oauth2-rs), so reusing one takes an
// explicit `secret().to_owned()` that stands out in review.
secret_type!(
    /// An authorization code (O21 §4.1.2): single use.
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1): single use.
    PkceVerifier
);

/// The endings of parameter and member names that carry a credential, matched without regard
/// to case: `access_token`, `registration_access_token` (RFC 7592), `client_secret`, `password`,
/// `code`, `code_verifier`, `client_assertion`, and whatever else a server names so. A rule rather
/// than a list, so that a credential nobody here has heard of is redacted too.
const SECRET_ENDINGS: [&str; 6] = ["token", "secret", "password", "code", "verifier", "assertion"];

/// Whether a parameter or JSON member called `name` carries a credential: the one rule by which
/// the client's transcripts, the runner's reports and the AS's debug output redact values.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_ENDINGS.iter().any(|ending| name.ends_with(ending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_recognised_by_its_name_s_ending() {
        for name in ["registration_access_token", "Client_Secret", "user_password", "device_code", "client_assertion"] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["code_verifier", "refresh_token", "token", "CODE"] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["token_type", "token_endpoint", "code_challenge", "client_secret_expires_at", "state", "scope"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let token = AccessToken::new("eyJhbGciOi.secret.value");
        let printed = format!("{token:?}");
        assert_eq!(printed, "AccessToken([redacted])");
        assert!(!printed.contains("secret.value"));
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(format!("{verifier:?}"), "PkceVerifier([redacted])");
        assert_eq!(verifier.secret(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    }

    #[test]
    fn serializes_transparently() {
        let secret = ClientSecret::new("s3cr3t");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"s3cr3t\"");
        let back: ClientSecret = serde_json::from_str("\"s3cr3t\"").unwrap();
        assert_eq!(back, secret);
    }
}
