//! Who may do what: the seed's four-level permission matrix (public; logged in, with `mcp:read`;
//! owner, with `mcp:write`; admin, with `mcp:admin` and the admin role) and the methods an
//! anonymous caller may use.

use lab_proto::scope::LabScope;
use serde_json::Value;

use super::dispatch::Dispatch;
use crate::principal::{Principal, PrincipalKind};
use crate::profile::RsProfile;
use crate::server::McpServer;
use crate::tools::{self, Level, Outcome};

/// Whether the principal is a user with the admin role (whatever its token's scope).
pub(super) fn is_admin_user(server: &McpServer, principal: &Principal) -> bool {
    principal
        .user_id()
        .and_then(|user| server.shop().customers.get(user).map(|customer| customer.admin))
        .unwrap_or(false)
}

/// The seed's permission matrix. `Ok(None)`: allowed. `Ok(Some(outcome))`: a tool error that
/// tells the caller it cannot do this (no step-up would help). `Err`: an HTTP refusal (401 for an
/// anonymous caller, 403 `insufficient_scope` for a scope the caller could still obtain).
pub(super) fn permission(server: &McpServer, principal: &Principal, level: Level) -> Result<Option<Outcome>, Dispatch> {
    let Some(needed) = level.scope() else { return Ok(None) };
    if server.profile() == RsProfile::NeverSatisfiedStepUp && principal.kind != PrincipalKind::Anonymous {
        // Hostile: whatever the client obtains, it is never enough.
        return Err(Dispatch::Refused(server.insufficient_scope(principal, LabScope::Admin.max(needed))));
    }
    match principal.kind {
        PrincipalKind::Anonymous => return Err(Dispatch::Refused(server.no_token())),
        // RS-23: a client acting for itself has no user data to act on.
        PrincipalKind::Client => {
            return Ok(Some(Outcome::Error(
                "this tool acts for a user; a client-credentials token has none".to_owned(),
            )));
        }
        PrincipalKind::User => {}
    }
    if level == Level::Admin && !is_admin_user(server, principal) {
        return Ok(Some(Outcome::Error("this tool needs the admin role".to_owned())));
    }
    if !lab_proto::scope::covers(&principal.scope, needed) {
        return Err(Dispatch::Refused(server.insufficient_scope(principal, needed)));
    }
    Ok(None)
}

/// Methods an anonymous caller may use with `--anonymous-public`.
pub(super) fn anonymous_may(method: &str, params: Option<&Value>) -> bool {
    match method {
        "initialize" | "ping" | "tools/list" | "server/discover" => true,
        "tools/call" => {
            let name = params.and_then(|params| params.get("name")).and_then(Value::as_str);
            tools::catalogue().iter().any(|tool| Some(tool.name) == name && tool.level == Level::Public)
        }
        _ => method.starts_with("notifications/"),
    }
}
