//! Router tests of the MCP resource server: every `RS-xx` requirement and every requirements §6 row
//! whose defender is the RS, with tokens minted by the real AS (and hand-forged ones for the
//! attacks), under each RS profile.
//!
//! One binary; modules by concern. The RS reaches the AS in-process, on one frozen clock.

// Helpers outside `#[test]` functions panic on purpose: a failed unwrap is a failed test.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod discovery;
mod modern;
mod profiles;
mod support;
mod tokens;
mod tools;
mod transport;
