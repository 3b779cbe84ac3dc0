//! The upstream API: the carrier that `track_shipment` calls, served by the lab so the
//! token-passthrough guard (RS-12, SBP Token Passthrough) can be proved on the wire.
//!
//! It accepts only tokens minted for its own audience, and it records what it accepted (the
//! claims and a digest, never the token), so a test can show that the caller's token never
//! reached it: the resource server must have asked the AS for a token of its own.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lab_mcp_server::verify::{Checks, JwtVerifier};
use lab_proto::jose::{decode_json, split_compact};
use lab_proto::token::{AccessTokenClaims, Audience};
use lab_proto::www_authenticate::format_challenge;
use serde_json::json;

/// How many accepted calls the log keeps; older ones are dropped so a long `lab up` stays small.
pub const UPSTREAM_LOG_CAPACITY: usize = 1000;

/// The longest tracking number the API answers for; anything longer is not one of the lab's.
const MAX_TRACKING_LEN: usize = 64;

/// One call the upstream API accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    /// The tracking number asked for.
    pub tracking_number: String,
    /// The token's `aud`, as a list.
    pub aud: Vec<String>,
    /// The token's `sub`: the resource server's client id when the guard works.
    pub sub: String,
    /// The token's `client_id`.
    pub client_id: String,
    /// The SHA-256 of the raw token, lowercase hex: comparable with a caller's token without
    /// keeping a usable credential.
    pub token_sha256: String,
}

/// The calls the upstream API accepted, oldest first. Cheap to clone: clones share the log.
#[derive(Debug, Clone, Default)]
pub struct UpstreamLog {
    calls: Arc<Mutex<Vec<UpstreamCall>>>,
}

impl UpstreamLog {
    /// A copy of the calls so far.
    pub fn calls(&self) -> Vec<UpstreamCall> {
        self.lock().clone()
    }

    /// Forgets every call, so a scenario step can start from an empty log.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, call: UpstreamCall) {
        let mut calls = self.lock();
        if calls.len() >= UPSTREAM_LOG_CAPACITY {
            calls.remove(0);
        }
        calls.push(call);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<UpstreamCall>> {
        // The lock is never held across an await, and a push that panicked leaves at worst one
        // entry missing, so a poisoned log is still worth reading.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The SHA-256 of `token` as lowercase hex.
pub fn token_sha256(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[derive(Clone)]
struct UpstreamApi {
    verifier: Arc<JwtVerifier>,
    log: UpstreamLog,
}

/// The upstream API's router: `GET /shipments/{tracking}` behind bearer tokens for `verifier`'s
/// audience, recording each accepted call in `log`.
pub(crate) fn router(verifier: Arc<JwtVerifier>, log: UpstreamLog) -> Router {
    Router::new().route("/shipments/{tracking}", get(shipment)).with_state(UpstreamApi { verifier, log })
}

/// RFC 6750 §3: a 401 with a `Bearer` challenge, carrying `error` only when a token was sent.
fn unauthorized(error: Option<&str>) -> Response {
    let challenge = match error {
        None => format_challenge("Bearer", &[("realm", "upstream")]),
        Some(description) => {
            let description = lab_proto::error::sanitize_description(description);
            format_challenge(
                "Bearer",
                &[("realm", "upstream"), ("error", "invalid_token"), ("error_description", &description)],
            )
        }
    };
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "unauthorized"}))).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn shipment(State(api): State<UpstreamApi>, Path(tracking): Path<String>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token.filter(|token| !token.is_empty()) else { return unauthorized(None) };
    // RS-12: only a token minted for this API's own audience is accepted, so the caller's token
    // (whose audience is the MCP endpoint) is refused here even if a resource server forwarded it.
    let principal = match api.verifier.verify(token, Checks::STRICT).await {
        Ok(principal) => principal,
        Err(rejection) => {
            tracing::info!(reason = %rejection, "upstream API refused a token");
            return unauthorized(Some(&rejection.0));
        }
    };
    // The verifier has checked the signature and the claims; only `aud` is read back, which it
    // does not return.
    let aud = split_compact(token)
        .ok()
        .and_then(|parts| decode_json::<AccessTokenClaims>(parts.payload).ok())
        .map(|claims| match claims.aud {
            Audience::One(one) => vec![one],
            Audience::Many(many) => many,
        })
        .unwrap_or_default();
    if tracking.len() > MAX_TRACKING_LEN || !tracking.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "unknown tracking number"}))).into_response();
    }
    tracing::info!(sub = %principal.sub, client_id = %principal.client_id, %tracking, "upstream API call accepted");
    api.log.push(UpstreamCall {
        tracking_number: tracking.clone(),
        aud,
        sub: principal.sub.to_string(),
        client_id: principal.client_id.to_string(),
        token_sha256: token_sha256(token),
    });
    axum::Json(json!({"tracking_number": tracking, "status": "in transit", "carrier": "Lab Parcel"})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digest_is_lowercase_sha256_hex() {
        // The SHA-256 of "abc" from FIPS 180-2, appendix B.1.
        assert_eq!(token_sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn log_keeps_the_newest_calls() {
        let log = UpstreamLog::default();
        for index in 0..=UPSTREAM_LOG_CAPACITY {
            log.push(UpstreamCall {
                tracking_number: index.to_string(),
                aud: Vec::new(),
                sub: String::new(),
                client_id: String::new(),
                token_sha256: String::new(),
            });
        }
        let calls = log.calls();
        assert_eq!(calls.len(), UPSTREAM_LOG_CAPACITY);
        assert_eq!(calls[0].tracking_number, "1");
        log.clear();
        assert!(log.calls().is_empty());
    }
}
