//! Wire types of MCP Auth Lab, named after the RFCs that define them.
//!
//! This crate is the vocabulary the servers, the client and the scenario runner share: discovery
//! documents (RFC 8414, OIDC Discovery, RFC 9728), registration messages (RFC 7591, client ID
//! metadata documents), token messages and RFC 9068 claims, OAuth error codes, the
//! `WWW-Authenticate` grammar, PKCE, resource indicators, the lab scopes, the parsing of named
//! values ([`named`]), the shared [`Clock`], and the deterministic mutation fuzzer the parsers'
//! tests share ([`mutate`]).
//!
//! It deliberately does no IO (no files, no sockets) and has no async, and everything here is a
//! pure function of its input except two reads of the operating system: [`Clock`] reads the system
//! time unless it is frozen, and [`random_token`] (with [`pkce::generate_verifier`], built on it)
//! reads the system CSPRNG. So it is tested with plain unit tests and can be used by any side of a
//! test.

pub mod basic;
pub mod bounded;
pub mod clock;
pub mod error;
pub mod jose;
pub mod jsonrpc;
pub mod metadata;
pub mod mutate;
pub mod named;
pub mod pkce;
pub mod registration;
pub mod resource;
pub mod scope;
pub mod secret;
pub mod token;
pub mod www_authenticate;

pub use clock::Clock;
pub use error::{ErrorResponse, OAuthErrorCode};
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, Password, PkceVerifier, RefreshToken};

/// A random base64url string from `bytes` bytes of the system CSPRNG (O21 §7.7: codes, tokens and
/// secrets need at least 128 bits; the lab uses 256).
pub fn random_token(bytes: usize) -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut buffer = vec![0_u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer)?;
    Ok(jose::b64url_encode(&buffer))
}
