//! Fixtures shared by the benchmark targets of MCP Auth Lab.
//!
//! The targets are `jwt` (criterion: token verification per algorithm, its pieces, unknown `kid`s,
//! introspection, thread scaling), `e2e` (criterion: `tools/call` over loopback TLS with and without
//! a bearer token) and `summary` (the paired, interleaved measurement whose ratios are the headline
//! figures, printed as one table). `docs/PERFORMANCE.md` explains the numbers.
//!
//! On a shared 2-core machine absolute timings drift by tens of percent within minutes, so every
//! comparison that matters is a ratio taken between batches that ran next to each other
//! ([`measure::interleaved`]); criterion's separate runs are the detailed report beside it.
//!
//! `pieces` times the non-crypto work piece by piece and holds a prototype of the RS path with the
//! changes `docs/PERFORMANCE.md` proposes, so the proposal is measured against the same raw limit
//! in the same rounds before anyone changes the RS.
//!
//! Every fixture checks, before anything is timed, that each path accepts the genuine token and
//! rejects a tampered one: a benchmark of a verifier that accepts anything is worthless.

pub mod fixture;
pub mod loopback;
pub mod measure;
pub mod pieces;

pub use fixture::{IntrospectionFixture, JwtFixture, UnknownKidFixture};
pub use loopback::{AuthMode, LoopbackLab};
