//! Tests of the conforming client against hostile servers played by wiremock: each persona breaks
//! one thing a client must check, and the client must refuse before doing anything unsafe (no
//! authorization request, no token request, no canary hit). Full flows against the real lab over
//! TLS live in `lab-harness`'s tests.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod hostile;
mod streams;
