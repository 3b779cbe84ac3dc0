//! Where the scenarios run: the lab itself, or third-party servers (`run --rs-url`, `--as-url`).

use crate::schema::{Step, StepAction};

/// The redirect URI of the scenario runner's authorization requests (loopback: any port matches
/// the lab clients' `http://127.0.0.1/callback`).
pub const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

/// Where the scenarios run.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// A third-party MCP server (its MCP endpoint URL) that trusts the lab's authorization server:
    /// the resource-server steps go there instead of the lab's resource server.
    pub rs_url: Option<String>,
    /// The CA the third-party server's certificate chains to (the lab CA when `None`).
    pub rs_ca_pem: Option<Vec<u8>>,
    /// The lab's AS port when a third-party server must find it at a fixed issuer (`--as-port`).
    pub as_port: Option<u16>,
    /// The lab CA folder, shared with the third-party server's configuration (`certs/`).
    pub cert_dir: Option<std::path::PathBuf>,
    /// A third-party authorization server (its issuer). Alone, the authorization-server battery
    /// runs against it; with `rs_url` (the MCP server that trusts it) the whole battery runs
    /// against that running system. Without `login` it must approve the lab user `alice`
    /// without a page, and without `client_id` it must know the lab's pre-registered clients (as
    /// `mcp-authlab up --auto-approve alice` does).
    pub as_issuer: Option<String>,
    /// The third-party AS's metadata (RFC 8414), read once by [`crate::discover`]: its endpoints
    /// replace the lab's paths, and what it does not offer makes scenarios not applicable.
    pub as_metadata: Option<lab_proto::metadata::AuthorizationServerMetadata>,
    /// A public client pre-registered at the third-party AS: it replaces the lab's public client,
    /// and the plain registrations that only set a scenario up.
    pub client_id: Option<String>,
    /// The redirect URI registered for `client_id` (default [`REDIRECT_URI`]).
    pub redirect_uri: Option<String>,
    /// The resource indicator (RFC 8707) sent to an AS tested without its MCP server.
    pub resource: Option<String>,
    /// The scope the runner's authorization and client-credentials requests ask a third-party AS
    /// for (`--scope`), instead of the lab's `mcp:read`.
    pub scope: Option<String>,
    /// A second resource the third-party AS knows (`--second-resource`): it stands in for the
    /// lab's twin RS as `${twin_resource}`, so the audience-per-resource scenarios apply.
    pub second_resource: Option<String>,
    /// A headless sign-in at the third-party AS's own login and consent pages.
    pub login: Option<crate::Login>,
    /// A confidential client pre-registered at the third-party AS: it replaces the lab's
    /// `lab-confidential-client`.
    pub confidential_client: Option<crate::ConfidentialClient>,
    /// Whether the third-party AS serves an OpenID configuration, which is optional beside its
    /// RFC 8414 metadata (MCP-1125 §AS Metadata Discovery asks for one of the two).
    pub as_oidc_configuration: bool,
    /// Which of the lab's pre-registered confidential clients a third-party AS knows, asked before
    /// the run ([`crate::probe_lab_clients`]); `None` at the lab, whose AS knows them all.
    pub lab_clients: Option<crate::LabClients>,
    /// Whether `mcp` steps that name no revision speak MCP 2026-07-28: `run --rs-url` runs each
    /// revision-neutral scenario once more this way against a server that speaks it
    /// ([`crate::revision_neutral`]).
    pub modern: bool,
    /// What the runs have learnt of the third-party MCP server's revisions, shared by every run
    /// of one battery (clones share it).
    pub revisions: Revisions,
}

/// The revision a scenario's MCP requests speak unless a step names another.
pub const LEGACY_REVISION: &str = "2025-11-25";
/// The stateless revision (`revision = "2026-07-28"`, or the battery's second pass).
pub const MODERN_REVISION: &str = "2026-07-28";

/// What is known of a third-party MCP server's revisions, learnt once and shared by the runs of a
/// battery, so that a pass at a revision the server does not speak stops at once.
#[derive(Debug, Clone, Default)]
pub struct Revisions(std::sync::Arc<std::sync::Mutex<Known>>);

#[derive(Debug, Clone, Default)]
struct Known {
    /// `Ok(list method)` when the server answered `server/discover` listing 2026-07-28 (the list
    /// method is the one its capabilities offer, if any); `Err(reason)` when it does not speak it.
    modern: Option<Result<Option<String>, String>>,
    /// Why the server does not speak 2025-11-25, once a valid `initialize` was refused.
    legacy_refused: Option<String>,
    /// Whether a valid `initialize` at 2025-11-25 was answered.
    legacy_spoken: bool,
    /// What the server answered `server/discover` without a token, which the revision leaves
    /// open: information for the report, never a verdict.
    discover_without_token: Option<String>,
}

impl Revisions {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        // A poisoned lock only means a run panicked mid-update; what it holds is still whole.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the server speaks 2026-07-28, once learnt: `Ok` with the list method its
    /// capabilities offer, or why it does not.
    pub fn modern(&self) -> Option<Result<Option<String>, String>> {
        self.known().modern.clone()
    }

    pub(crate) fn set_modern(&self, known: Result<Option<String>, String>) {
        self.known().modern = Some(known);
    }

    /// Why the server does not speak 2025-11-25, once learnt.
    pub fn legacy_refused(&self) -> Option<String> {
        self.known().legacy_refused.clone()
    }

    pub(crate) fn set_legacy_refused(&self, reason: String) {
        self.known().legacy_refused = Some(reason);
    }

    pub(crate) fn set_legacy_spoken(&self) {
        self.known().legacy_spoken = true;
    }

    pub(crate) fn set_discover_without_token(&self, answer: String) {
        self.known().discover_without_token = Some(answer);
    }

    /// What the battery learnt of the server's revisions, in sentences for the report: which it
    /// speaks, and what it answers `server/discover` without a token (information, not a verdict:
    /// MCP 2026-07-28 does not say whether discovery needs one).
    pub fn information(&self) -> Vec<String> {
        let known = self.known();
        let mut lines = Vec::new();
        match (&known.legacy_refused, known.legacy_spoken) {
            (Some(reason), _) => lines.push(format!("MCP {LEGACY_REVISION}: not spoken ({reason})")),
            (None, true) => lines.push(format!("MCP {LEGACY_REVISION}: spoken (initialize answered)")),
            (None, false) => lines.push(format!("MCP {LEGACY_REVISION}: unknown (no run could ask)")),
        }
        match &known.modern {
            Some(Ok(_)) => lines.push(format!("MCP {MODERN_REVISION}: spoken (server/discover lists it)")),
            Some(Err(reason)) => lines.push(format!("MCP {MODERN_REVISION}: not spoken ({reason})")),
            None => lines.push(format!("MCP {MODERN_REVISION}: unknown (no run could ask)")),
        }
        if let Some(answer) = &known.discover_without_token {
            lines.push(format!(
                "server/discover without a token: {answer} (information, not a verdict: the revision does not say whether discovery needs a token)"
            ));
        }
        lines
    }
}

impl Target {
    /// Whether a third-party server is the target.
    pub fn is_external(&self) -> bool {
        self.rs_url.is_some() || self.as_issuer.is_some()
    }

    /// Whether `step` is a plain registration that only sets a scenario up, which a pre-registered
    /// client replaces. A named or capturing registration matters to its scenario (the attack
    /// depends on what it registered, or on a second client), so it still registers.
    pub(crate) fn replaces_registration(&self, step: &Step) -> bool {
        let StepAction::Register(register) = &step.action else { return false };
        self.client_id.is_some()
            && !step.attack
            && step.name.is_none()
            && step.capture.is_empty()
            && register.with.is_empty()
            && register.remove.is_empty()
            && register.headers.is_empty()
    }

    /// The scope the runner asks for: `--scope`; else, from an AS whose metadata lists scopes
    /// without the lab's `mcp:read`, none (the AS then applies its default, O21 §3.2.2.1); else
    /// `mcp:read`.
    pub(crate) fn requested_scope(&self) -> Option<String> {
        if let Some(scope) = &self.scope {
            return Some(scope.clone());
        }
        let foreign = self.as_issuer.is_some()
            && self
                .as_metadata
                .as_ref()
                .and_then(|metadata| metadata.scopes_supported.as_ref())
                .is_some_and(|scopes| !scopes.iter().any(|scope| scope == "mcp:read"));
        (!foreign).then(|| "mcp:read".to_owned())
    }

    /// Which of the lab's pre-registered confidential clients the AS under test knows.
    pub(crate) fn known_lab_clients(&self) -> crate::LabClients {
        match (&self.as_issuer, self.lab_clients) {
            (None, _) => crate::LabClients::ALL,
            (Some(_), known) => known.unwrap_or_default(),
        }
    }

    /// The user a third-party AS signs in: `--login`'s, or `alice`, whom it must approve.
    pub(crate) fn signed_in_user(&self) -> &str {
        self.login.as_ref().map_or("alice", |login| login.user.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_asked_for_is_the_users_the_lab_s_or_none_for_an_as_with_its_own() {
        assert_eq!(Target::default().requested_scope().as_deref(), Some("mcp:read"));
        let own = |scopes: &[&str]| Target {
            as_issuer: Some("https://as.example".into()),
            as_metadata: Some(lab_proto::metadata::AuthorizationServerMetadata {
                scopes_supported: Some(scopes.iter().map(|scope| (*scope).to_owned()).collect()),
                ..Default::default()
            }),
            ..Target::default()
        };
        assert_eq!(own(&["files:read", "openid"]).requested_scope(), None, "the AS's default applies");
        assert_eq!(own(&["mcp:read", "openid"]).requested_scope().as_deref(), Some("mcp:read"));
        let chosen = Target { scope: Some("files:read".into()), ..own(&["files:read"]) };
        assert_eq!(chosen.requested_scope().as_deref(), Some("files:read"));
    }
}
