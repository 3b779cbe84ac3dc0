//! The bearer token on the MCP endpoint: reading it from the request (O21 §5.1: the header method
//! only), verifying it on every request, initialize included (MCP-1125 §Token Requirements), and
//! the `WWW-Authenticate` challenges of a refusal (requirements §3.13, RFC 6750 §3).

use axum::http::{HeaderMap, StatusCode, header};
use lab_proto::scope::LabScope;
use lab_proto::www_authenticate::format_challenge;

use super::{Refusal, session_id};
use crate::principal::Principal;
use crate::profile::RsProfile;
use crate::server::McpServer;

impl McpServer {
    /// `Bearer resource_metadata="…", scope="mcp:read"`: no `error` when no token was sent
    /// (O21 §5.3.2 SHOULD NOT), the minimal scope (SBP Scope Minimization).
    pub(super) fn no_token(&self) -> Refusal {
        let mut refusal = Refusal::new(StatusCode::UNAUTHORIZED, "authorization required");
        refusal.challenge = Some(match self.profile() {
            // Legacy persona: a 2025-03-26 server knows no protected resource metadata.
            RsProfile::Legacy20250326 => format_challenge("Bearer", &[("realm", "mcp")]),
            RsProfile::SsrfResourceMetadata => {
                let canary = self.inner.config.canary_url.clone().unwrap_or_else(|| "http://127.0.0.2:7777".to_owned());
                let url = format!("{canary}/metadata");
                format_challenge("Bearer", &[("resource_metadata", &url), ("scope", LabScope::Read.as_str())])
            }
            _ => {
                let prm = self.resource_metadata_url();
                format_challenge("Bearer", &[("resource_metadata", &prm), ("scope", LabScope::Read.as_str())])
            }
        });
        refusal
    }

    /// `Bearer error="invalid_token", error_description="…", resource_metadata="…"` (requirements §3.13).
    pub(super) fn invalid_token(&self, description: &str) -> Refusal {
        let prm = self.resource_metadata_url();
        let description = lab_proto::error::sanitize_description(description);
        let mut refusal = Refusal::new(StatusCode::UNAUTHORIZED, format!("invalid token: {description}"));
        refusal.challenge = Some(format_challenge(
            "Bearer",
            &[("error", "invalid_token"), ("error_description", &description), ("resource_metadata", &prm)],
        ));
        refusal
    }

    /// 403 with the scopes the caller has plus the one it needs (requirements §7 item 16).
    pub(super) fn insufficient_scope(&self, principal: &Principal, needed: LabScope) -> Refusal {
        let prm = self.resource_metadata_url();
        let mut scopes: Vec<LabScope> =
            lab_proto::scope::split(&principal.scope).into_iter().filter_map(LabScope::parse).collect();
        scopes.push(needed);
        scopes.sort();
        scopes.dedup();
        let scope = scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(" ");
        let description = format!("this operation needs {}", needed.as_str());
        let mut refusal = Refusal::new(StatusCode::FORBIDDEN, description.clone());
        refusal.challenge = Some(format_challenge(
            "Bearer",
            &[
                ("error", "insufficient_scope"),
                ("scope", &scope),
                ("resource_metadata", &prm),
                ("error_description", &description),
            ],
        ));
        refusal
    }

    pub(super) fn bad_request(&self, description: &str) -> Refusal {
        let mut refusal = Refusal::new(StatusCode::BAD_REQUEST, description);
        refusal.challenge =
            Some(format_challenge("Bearer", &[("error", "invalid_request"), ("error_description", description)]));
        refusal
    }
}

/// What the request presented as a bearer token.
enum Presented<'a> {
    None,
    /// Borrowed from the request's headers: the request path copies no token.
    Token(&'a str),
}

/// Whether every byte is in RFC 7235 §2.1 `token68` (a bearer token's alphabet, `=` padding
/// included). Branch-free over fixed-size chunks, so the compiler checks 32 bytes at a time:
/// every authenticated request checks each byte of a 700-byte token.
fn is_token68(token: &[u8]) -> bool {
    fn allowed(b: u8) -> bool {
        b.is_ascii_alphanumeric()
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/')
            | (b == b'=')
    }
    let mut chunks = token.chunks_exact(32);
    let whole = chunks.by_ref().all(|chunk| chunk.iter().fold(true, |ok, &b| ok & allowed(b)));
    whole && chunks.remainder().iter().all(|&b| allowed(b))
}

/// O21 §5.1: the header method only; the scheme is case-insensitive (RS-11); query tokens are
/// ignored (RS-10); a token sent two ways is `invalid_request` (O21 §5.3.2).
fn presented_token<'a>(server: &McpServer, headers: &'a HeaderMap, body: &[u8]) -> Result<Presented<'a>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(server.bad_request("more than one Authorization header"));
    }
    let header_token = match first {
        None => None,
        Some(value) => {
            // The token68 check runs on the header's bytes: token68 characters are visible ASCII,
            // so a bearer value that passes it needs no `to_str` validation of the whole header,
            // and a malformed one is refused before any conversion.
            let bytes = value.as_bytes();
            let (scheme, rest) = bytes.split_at(bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len()));
            if scheme.eq_ignore_ascii_case(b"bearer") {
                let token = rest.trim_ascii();
                if token.is_empty() || !is_token68(token) {
                    return Err(server.bad_request("malformed bearer token"));
                }
                Some(std::str::from_utf8(token).map_err(|_| server.bad_request("malformed bearer token"))?)
            } else {
                value.to_str().map_err(|_| server.bad_request("malformed Authorization header"))?;
                // Another scheme is no bearer credential: answered like a missing token.
                None
            }
        }
    };
    let form_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form_body && url_form_has(body, "access_token") && header_token.is_some() {
        return Err(server.bad_request("the token was sent in more than one way"));
    }
    Ok(header_token.map_or(Presented::None, Presented::Token))
}

fn url_form_has(body: &[u8], name: &str) -> bool {
    body.split(|&byte| byte == b'&').any(|pair| pair.split(|&byte| byte == b'=').next() == Some(name.as_bytes()))
}

/// Who sent the request. A presented bearer token is verified and its principal returned; a
/// refused one is a 401 `invalid_token` challenge. Without a token, the principal is the session's
/// under the weak `session-as-auth` profile, the anonymous principal with `--anonymous-public`
/// (which later checks confine to public methods), and otherwise a 401 challenge without `error`.
/// A malformed `Authorization` header or a token sent two ways is a 400 `invalid_request`.
pub(super) async fn authenticate(server: &McpServer, headers: &HeaderMap, body: &[u8]) -> Result<Principal, Refusal> {
    match presented_token(server, headers, body)? {
        Presented::Token(token) => {
            let checks = server.checks();
            let refused = |rejection: crate::verify::Rejection| {
                tracing::info!(reason = %rejection, "bearer token refused");
                server.invalid_token(&rejection.0)
            };
            // The `as-migration` persona, once moved, takes only the new AS's tokens.
            let moved = match &server.inner.migration_verifier {
                Some(verifier) if server.profile() == RsProfile::AsMigration && server.persona_log().migrated => {
                    Some(verifier)
                }
                _ => None,
            };
            let verified = match moved {
                Some(verifier) => verifier.verify(token, checks).await,
                None => server.inner.verifier.verify(token, checks).await,
            };
            if server.profile() == RsProfile::AsMigration && server.inner.migration_verifier.is_some() {
                // The first token taken moves the server to the other AS; a token of that AS
                // taken afterwards is what a client that followed the move shows.
                super::personas::token_seen(server, moved.is_some(), verified.is_ok());
            }
            verified.map_err(refused)
        }
        Presented::None => {
            if server.profile() == RsProfile::SessionAsAuth {
                // Weak: the session id is taken as proof of identity (what SBP forbids).
                if let Some(session) = session_id(headers).and_then(|id| server.sessions().get(&id).cloned()) {
                    return Ok(session.principal);
                }
            }
            if server.inner.config.anonymous_public {
                return Ok(Principal::anonymous());
            }
            Err(server.no_token())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token68_is_exactly_rfc_7235s_alphabet_at_any_length() {
        let alphabet = b"ABCXYZabcxyz0189-._~+/=";
        for length in [1, 31, 32, 33, 64, 700] {
            let token: Vec<u8> = alphabet.iter().copied().cycle().take(length).collect();
            assert!(is_token68(&token), "{length}");
            for bad in [b' ', b'"', b',', b'%', b'*', 0x7f, 0xc3] {
                for at in [0, length / 2, length - 1] {
                    let mut broken = token.clone();
                    broken[at] = bad;
                    assert!(!is_token68(&broken), "{length} {bad} at {at}");
                }
            }
        }
    }
}
