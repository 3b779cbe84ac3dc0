//! The lab's state as a test moves it: the clock, the profiles, revocation, the signing key, the
//! request log and a reset.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lab_auth_server::{AsProfile, KEY_PUBLISH_LEAD_SECONDS, SigningAlg};
use lab_mcp_server::RsProfile;
use lab_proto::Clock;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, ControlPlane, JsonBody, MAX_CLOCK_MOVE, Signer, ok};

fn clock_state(clock: &Clock) -> Value {
    json!({"now": clock.now(), "offset": clock.offset()})
}

pub(super) async fn read_clock(State(plane): State<ControlPlane>) -> Response {
    ok(&clock_state(&plane.clock))
}

/// `POST /clock`: `{"advance": seconds}` (negative moves it back) or `{"set": unix_seconds}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockMove {
    advance: Option<i64>,
    set: Option<u64>,
}

pub(super) async fn move_clock(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<ClockMove>) -> Response {
    let now = i64::try_from(plane.clock.now()).unwrap_or(i64::MAX);
    let by = match (request.advance, request.set) {
        (Some(seconds), None) => seconds,
        (None, Some(at)) => i64::try_from(at).unwrap_or(i64::MAX).saturating_sub(now),
        _ => {
            return ControlError::invalid("give exactly one of `advance` (seconds) and `set` (Unix seconds)")
                .into_response();
        }
    };
    if by.unsigned_abs() > MAX_CLOCK_MOVE {
        return ControlError::invalid("the clock moves at most ten years at a time").into_response();
    }
    // One clock for the whole lab: both issuers, both resource servers and the upstream API.
    plane.clock.advance(by);
    ok(&clock_state(&plane.clock))
}

fn profiles_state(plane: &ControlPlane) -> Value {
    json!({
        "as": plane.auth_server.profile().name(),
        "tenant": plane.tenant_server.profile().name(),
        "rs": plane.rs.profile().name(),
        "twin": plane.twin_rs.profile().name(),
        "available": {
            "as": AsProfile::ALL.map(AsProfile::name),
            "rs": RsProfile::ALL.map(RsProfile::name),
        },
    })
}

pub(super) async fn read_profiles(State(plane): State<ControlPlane>) -> Response {
    ok(&profiles_state(&plane))
}

/// `POST /profiles`: any of the four servers, by profile name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileSwitch {
    #[serde(rename = "as")]
    auth: Option<String>,
    tenant: Option<String>,
    rs: Option<String>,
    twin: Option<String>,
}

pub(super) async fn switch_profiles(
    State(plane): State<ControlPlane>,
    JsonBody(request): JsonBody<ProfileSwitch>,
) -> Response {
    // Every name is read before anything switches: a bad one changes nothing.
    let parse_as = |name: &Option<String>| name.as_deref().map(str::parse::<AsProfile>).transpose();
    let parse_rs = |name: &Option<String>| name.as_deref().map(str::parse::<RsProfile>).transpose();
    let parsed = (|| {
        Ok::<_, String>((
            parse_as(&request.auth).map_err(|error| error.to_string())?,
            parse_as(&request.tenant).map_err(|error| error.to_string())?,
            parse_rs(&request.rs).map_err(|error| error.to_string())?,
            parse_rs(&request.twin).map_err(|error| error.to_string())?,
        ))
    })();
    let (auth, tenant, rs, twin) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return ControlError::invalid(error).into_response(),
    };
    if let Some(profile) = auth {
        plane.auth_server.set_profile(profile);
    }
    if let Some(profile) = tenant {
        plane.tenant_server.set_profile(profile);
    }
    if let Some(profile) = rs {
        plane.rs.set_profile(profile);
    }
    if let Some(profile) = twin {
        plane.twin_rs.set_profile(profile);
    }
    ok(&profiles_state(&plane))
}

/// `POST /revoke`: `{"token": …}`, an access token or a refresh token (with its grant).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Revocation {
    token: String,
}

pub(super) async fn revoke(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<Revocation>) -> Response {
    // The AS's own revocation, without the RFC 7009 §2.1 check of the client: the control API
    // stands for the lab's operator, not a client. Its answer says what it revoked, which
    // RFC 7009's deliberately does not.
    for server in [&plane.auth_server, &plane.tenant_server] {
        if let Ok(Some(kind)) = server.revoke_token(&request.token, None) {
            return ok(&json!({"revoked": kind}));
        }
    }
    ok(&json!({"revoked": null}))
}

/// `POST /keys/rotate`: `{"alg": "ES256", "signer": "root"}`, both optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rotation {
    alg: Option<String>,
    #[serde(default)]
    signer: Signer,
}

pub(super) async fn rotate(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<Rotation>) -> Response {
    let server = plane.server(request.signer);
    let alg = match request.alg.as_deref().map(str::parse::<SigningAlg>).transpose() {
        Ok(alg) => alg.unwrap_or(server.config().signing_alg),
        Err(error) => return ControlError::invalid(error.to_string()).into_response(),
    };
    // One rotation at a time: each publishes a key, and a loop of them would grow the JWKS
    // without bound.
    if server.rotation_pending() {
        return ControlError::new(
            StatusCode::CONFLICT,
            "invalid_request",
            "a rotated key waits to sign: move the clock past its publication lead first",
        )
        .into_response();
    }
    match server.rotate_keys(alg) {
        Ok(kid) => ok(&json!({
            "kid": kid,
            "alg": alg.name(),
            // The key is published now and signs after the lead; move the clock to get there.
            "signs_from": plane.clock.now().saturating_add(KEY_PUBLISH_LEAD_SECONDS),
            "publication_lead_seconds": KEY_PUBLISH_LEAD_SECONDS,
        })),
        Err(error) => {
            ControlError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", error.to_string()).into_response()
        }
    }
}

pub(super) async fn requests(State(plane): State<ControlPlane>) -> Response {
    ok(&json!({"requests": plane.requests.records()}))
}

pub(super) async fn reset(State(plane): State<ControlPlane>) -> Response {
    reset_lab(&plane);
    ok(&json!({"reset": true, "clock": clock_state(&plane.clock), "profiles": profiles_state(&plane)}))
}

/// Puts the lab back as it started, keeping its keys and its CA: the clock unmoved, the
/// configured profiles, no client but the pre-registered ones, no live credential (every access
/// token still live is revoked at the resource servers), the seeded shop, an empty request log.
fn reset_lab(plane: &ControlPlane) {
    plane.clock.reset();
    plane.auth_server.reset();
    plane.tenant_server.reset();
    plane.rs.reset();
    plane.twin_rs.reset();
    plane.requests.clear();
    plane.added_documents.clear();
}
