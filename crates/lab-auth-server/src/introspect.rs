//! RFC 7662 introspection and RFC 7009 revocation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lab_proto::OAuthErrorCode;
use lab_proto::jose::{JoseHeader, decode_json, split_compact};
use lab_proto::token::{Audience, IntrospectionResponse, TokenTypeHint};

use crate::http::{OAuthError, json_no_store};
use crate::request::{ClientEndpoint, ClientRequest};
use crate::state::{AuthServer, NotIssuedToClient};

/// The introspection endpoint's opening: RFC 7662 §2.1 wants the caller authorized "to prevent
/// token scanning", so every failed authentication gets the same 401 that names no reason.
#[derive(Debug)]
pub(crate) struct Introspection;

impl ClientEndpoint for Introspection {
    fn refuse_client(server: &AuthServer, _error: OAuthError) -> OAuthError {
        unauthorized(server)
    }
}

/// The revocation endpoint's opening: the default one (RFC 7009 §2.1, O21 §3.2.1).
#[derive(Debug)]
pub(crate) struct Revocation;

impl ClientEndpoint for Revocation {}

/// `POST /introspect` (AS-38).
pub(crate) async fn introspect(
    State(server): State<AuthServer>,
    request: ClientRequest<Introspection>,
) -> Result<Response, OAuthError> {
    let ClientRequest { form, client: caller, now, .. } = request;
    // RFC 7662 §2.1: in the lab only a resource server's client may introspect, and only tokens
    // meant for that resource.
    if caller.introspection_resources.is_empty() || !caller.auth_method.is_confidential() {
        return Err(unauthorized(&server));
    }
    let token = form.require("token")?;
    if let Some(hint) = form.get("token_type_hint")?
        && TokenTypeHint::parse(hint).is_none()
    {
        return Err(OAuthError::bad_request(OAuthErrorCode::UnsupportedTokenType, "unknown token_type_hint"));
    }
    let response = access_token_status(&server, token, now)
        .filter(|active| {
            active
                .aud
                .as_ref()
                .is_some_and(|aud| caller.introspection_resources.iter().any(|resource| aud.contains(resource)))
        })
        .unwrap_or_else(IntrospectionResponse::inactive);
    // RFC 7662 §2.2: inactive is `{"active":false}` and nothing else. Refresh tokens are never
    // shown to a resource server.
    Ok(json_no_store(StatusCode::OK, &response))
}

fn unauthorized(server: &AuthServer) -> OAuthError {
    let mut error = OAuthError::new(
        StatusCode::UNAUTHORIZED,
        OAuthErrorCode::InvalidClient,
        "introspection requires resource server credentials",
    );
    error.www_authenticate =
        Some(lab_proto::www_authenticate::format_challenge("Basic", &[("realm", server.issuer())]));
    error
}

/// The introspection view of an access token this AS minted, if it is active now.
fn access_token_status(server: &AuthServer, token: &str, now: u64) -> Option<IntrospectionResponse> {
    let store = server.store();
    if !store.keys.verify_own(token) {
        return None;
    }
    let parts = split_compact(token).ok()?;
    let header: JoseHeader = decode_json(parts.header).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let claims: lab_proto::token::AccessTokenClaims = decode_json(parts.payload).ok()?;
    let record = store.access_tokens.get(&claims.jti)?;
    let grant_revoked = store.grants.get(&record.grant_id).is_none_or(|grant| grant.revoked);
    if record.revoked || grant_revoked || record.exp <= now {
        return None;
    }
    let aud = match record.audiences.as_slice() {
        [one] => Audience::One(one.clone()),
        many => Audience::Many(many.to_vec()),
    };
    Some(IntrospectionResponse {
        active: true,
        scope: Some(record.scope.clone()),
        client_id: Some(record.client_id.clone()),
        sub: Some(record.sub.clone()),
        aud: Some(aud),
        iss: Some(server.issuer().to_owned()),
        exp: Some(record.exp),
        iat: Some(record.iat),
        nbf: claims.nbf,
        jti: Some(claims.jti),
        token_type: Some("Bearer".to_owned()),
    })
}

/// `POST /revoke` (AS-39).
pub(crate) async fn revoke(
    State(server): State<AuthServer>,
    request: ClientRequest<Revocation>,
) -> Result<Response, OAuthError> {
    let ClientRequest { form, client, .. } = request;
    let token = form.require("token")?;
    if let Some(hint) = form.get("token_type_hint")?
        && TokenTypeHint::parse(hint).is_none()
    {
        return Err(OAuthError::bad_request(OAuthErrorCode::UnsupportedTokenType, "unknown token_type_hint"));
    }
    // A refresh token's revocation cascades to the whole grant (RFC 7009 §2.1 SHOULD); the one
    // path shared with the control API.
    match server.revoke_token(token, Some(&client.client_id)) {
        Err(NotIssuedToClient) => return Err(not_yours()),
        Ok(Some(kind)) => tracing::info!(client_id = %client.client_id, "{kind} revoked"),
        Ok(None) => {}
    }
    // RFC 7009 §2.2: an unknown or invalid token is answered with 200 too, so revocation is no
    // oracle for which strings are tokens.
    Ok(ok_empty())
}

fn ok_empty() -> Response {
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// RFC 7009 §2.1: the AS verifies the token was issued to the caller; if not, the request is
/// refused and the token stays active.
fn not_yours() -> OAuthError {
    OAuthError::bad_request(OAuthErrorCode::UnauthorizedClient, "the token was not issued to this client")
}
