//! The conforming MCP client of MCP Auth Lab.
//!
//! [`McpClient`] runs the six steps of the seed's flow against any MCP server: the 401 and its
//! challenge, protected resource metadata (RFC 9728), authorization server metadata (RFC 8414 /
//! OIDC), registration (pre-registered, client ID metadata document, or RFC 7591), authorization
//! code with PKCE S256 and the token request, then MCP requests with the bearer token, with refresh
//! and step-up. Every CL-xx rule of the requirements is applied where it belongs, and a failed check
//! stops the flow with [`ClientError::Refused`] naming the rule.
//!
//! It deliberately knows the servers only through `lab-proto` and the wire: it does not depend on
//! the lab's server crates, so testing it is black-box. It contains no attack code; attacks are raw
//! HTTP steps of the scenario runner. All network access goes through [`Http`], which enforces the
//! SSRF policy, never follows redirects, bounds bodies and time, and records a redacted [`Trace`].

mod callback;
mod config;
mod error;
mod events;
mod flow;
mod http;
mod trace;

pub use config::{ClientConfig, Confirm, Event, EventSink, PreRegistered};
pub use error::ClientError;
pub use events::EventStream;
pub use flow::{ClientCredentials, Discovered, McpClient};
pub use http::{
    Answer, Http, MAX_RESPONSE_BYTES, NetworkPolicy, REQUEST_TIMEOUT, Received, STREAM_IDLE_TIMEOUT, STREAM_TIMEOUT,
    is_special,
};
pub use trace::{Exchange, Trace, is_secret_name, redact_body, redact_header, redact_json, redact_query};
