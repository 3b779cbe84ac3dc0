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

#[cfg(test)]
mod tests {
    use super::*;

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
