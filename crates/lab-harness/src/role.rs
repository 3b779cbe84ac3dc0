//! The roles of the lab's listeners, named in bind and serve errors, in the request log and in
//! `mcp-authlab`'s hints. They sit in a module of their own, below both `lab` (which binds the
//! listeners) and `canary` (which serves one of them), so neither has to import the other.

/// The role named in errors and logs for the authorization server's port.
pub const AS_ROLE: &str = "authorization server";

/// The role named in errors and logs for the resource server's port.
pub const RS_ROLE: &str = "resource server";

/// The role named in errors and logs for the twin resource server's port.
pub const TWIN_ROLE: &str = "twin resource server";

/// The role named in errors and logs for the upstream API's port.
pub const UPSTREAM_ROLE: &str = "upstream API";

/// The role named in errors and logs for the metadata-document host.
pub const CIMD_ROLE: &str = "client metadata document host";

/// The role named in errors and logs for the SSRF canary.
pub const CANARY_ROLE: &str = "SSRF canary";

/// The role named in errors and logs for the control API's port.
pub const CONTROL_ROLE: &str = "control API";

/// The role named in errors and logs for helper hosts.
pub(crate) const HELPER_ROLE: &str = "helper host";
