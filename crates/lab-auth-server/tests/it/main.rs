//! Router tests of the mock authorization server: every `AS-xx` requirement and every
//! requirements §6 row whose defender is the AS, positive and negative, under each fault profile.
//!
//! One binary (style-anchors §1 rule 8); modules by endpoint. Each test builds its own AS on a
//! frozen clock and drives it with `tower::ServiceExt::oneshot`, so nothing binds a socket.

// Helpers outside `#[test]` functions panic on purpose: a failed unwrap is a failed test.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod authorize;
mod consent;
mod introspection;
mod metadata;
mod profiles;
mod registration;
mod support;
mod token;
