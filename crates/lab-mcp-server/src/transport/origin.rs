//! Where a request may come from: the `Origin` and `Host` checks that run before anything else
//! (TR-1125 §Security Warning: DNS rebinding), the CORS preflight, and the CORS headers of every
//! answer to an allowed origin.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Refusal;
use crate::profile::RsProfile;
use crate::server::McpServer;

/// Whether `origin` may call the RS: an allowlisted one (the MCP Inspector's), or a page served
/// from this machine (`http` or `https` on `localhost`, `127.0.0.1` or `[::1]`, any port). TR-1125
/// and TR-2607 ask servers to validate `Origin` against DNS rebinding; a rebinding page keeps its
/// own origin (`http://evil.example`), which a browser sets and the page cannot change, so a
/// loopback origin is the local machine's own and the lab, a local server, accepts it (as the
/// official suite's `dns-rebinding-protection` expects of a localhost server).
fn origin_allowed(server: &McpServer, origin: &str) -> bool {
    if server.inner.config.allowed_origins.iter().any(|allowed| allowed == origin) {
        return true;
    }
    let Ok(url) = url::Url::parse(origin) else { return false };
    // Exactly as a browser serializes an origin (RFC 6454 §6.2: scheme, host and port, nothing
    // else): no user info, path, dot segments or upper case slips through a lenient parse.
    let exact = url.origin().ascii_serialization() == origin;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    exact && loopback && matches!(url.scheme(), "http" | "https")
}

/// TR-1125: `Origin`, when present, must be allowed (`origin_allowed`); `Host` must name this
/// server.
pub(super) fn check_origin_and_host(server: &McpServer, headers: &HeaderMap) -> Result<(), Refusal> {
    if server.profile() == RsProfile::NoOriginCheck {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|origin| origin_allowed(server, origin));
        if !allowed {
            return Err(Refusal::new(StatusCode::FORBIDDEN, "origin is not allowed"));
        }
    }
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
    match host {
        Some(host) if server.inner.config.allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) => {
            Ok(())
        }
        _ => Err(Refusal::new(StatusCode::FORBIDDEN, "host is not allowed")),
    }
}

pub(super) fn cors_headers(server: &McpServer, request_headers: &HeaderMap, response: &mut Response) {
    let Some(origin) = request_headers.get(header::ORIGIN) else { return };
    let allowed = origin.to_str().is_ok_and(|origin| origin_allowed(server, origin));
    if !allowed && server.profile() != RsProfile::NoOriginCheck {
        return;
    }
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("mcp-session-id, mcp-protocol-version, www-authenticate"),
    );
}

/// The answer to a CORS preflight (`OPTIONS`), once `Origin` and `Host` have passed: the methods
/// and request headers a browser-based client needs for Streamable HTTP.
pub(super) fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let response_headers = response.headers_mut();
    response_headers
        .insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
    response_headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id, mcp-method, mcp-name, mcp-param-orderid",
        ),
    );
    response_headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}
