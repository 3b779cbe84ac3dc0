//! The token endpoint (O21 §3.2, §4.1.3, §4.2, §4.3) and access-token minting (RFC 9068).
//!
//! Errors follow requirements §3.5 row by row. Every response, success or error, carries
//! `Cache-Control: no-store` (O21 §3.2.3). Failed requests count against a per-caller limit
//! (AS-41) so codes and verifiers cannot be guessed at speed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lab_proto::pkce::{self, CodeChallengeMethod};
use lab_proto::token::TokenResponse;
use lab_proto::{AccessToken, AuthorizationCode, OAuthErrorCode, PkceVerifier, RefreshToken};
use serde_json::json;

use crate::http::{OAuthError, json_no_store, secret_digest};
use crate::profile::AsProfile;
use crate::records::{AccessRecord, Grant, RefreshRecord};
use crate::request::{ClientEndpoint, ClientRefusal, ClientRequest, PresentedClient};
use crate::resource::{Redemption, redeemed_resources, validate_resource};
use crate::state::{AuthServer, RevokedAccessToken, Store};

/// The token endpoint's opening.
#[derive(Debug)]
pub(crate) struct TokenEndpoint;

impl ClientEndpoint for TokenEndpoint {
    // A repeated grant_type is invalid_request before the client is looked at, whoever sends it.
    const READ_FIRST: &'static [&'static str] = &["grant_type"];
}

type TokenRequest = ClientRequest<TokenEndpoint>;

/// `POST /token`.
pub(crate) async fn token(State(server): State<AuthServer>, request: Result<TokenRequest, ClientRefusal>) -> Response {
    // Failures are counted per caller address, client and the credential presented (the code, the
    // refresh token or the client secret), so what is throttled is guessing at one credential (a
    // verifier for a stolen code, say), and nobody's failures lock out an honest redemption of
    // another code: on loopback every caller has the same address, and the client id is anyone's
    // to name. Codes, refresh tokens and the lab's generated secrets are 256-bit random, so
    // guessing a new one each time gets nowhere (O21 §7.7 asks them to be unguessable).
    let (caller, now) = match &request {
        Ok(request) => (request.rate_key(), request.now),
        Err(refusal) => (refusal.rate_key().to_owned(), refusal.now),
    };
    // The attempt is counted as it is checked, so concurrent guesses cannot all pass the check
    // before any of them is counted; one that succeeds (or fails on the AS's side) is taken back.
    let limits = server.inner.config.rate_limits;
    if let Err(retry_after) = server.store().token_failures.reserve(&caller, limits.token_failures, now) {
        return OAuthError::too_many_requests(retry_after).into_response();
    }
    match request.map_err(|refusal| refusal.error).and_then(|request| handle(&server, &request)) {
        Ok(response) => {
            server.store().token_failures.release(&caller, now);
            response
        }
        Err(error) => {
            if !error.status.is_client_error() {
                server.store().token_failures.release(&caller, now);
            }
            tracing::info!(error = %error.body.error, status = %error.status, "token request refused");
            error.into_response()
        }
    }
}

/// `GET /token` and other methods: O21 §3.2 says POST; the lab answers 405 with the RFC error body.
pub(crate) async fn token_wrong_method() -> Response {
    let mut error = OAuthError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        OAuthErrorCode::InvalidRequest,
        "the token endpoint accepts only POST",
    );
    error.retry_after = None;
    let mut response = error.into_response();
    response.headers_mut().insert(axum::http::header::ALLOW, axum::http::HeaderValue::from_static("POST"));
    response
}

fn handle(server: &AuthServer, request: &TokenRequest) -> Result<Response, OAuthError> {
    match request.form.get("grant_type")? {
        None => Err(OAuthError::invalid_request("missing parameter grant_type")),
        Some("authorization_code") => authorization_code(server, request),
        Some("refresh_token") => refresh_token(server, request),
        Some("client_credentials") => client_credentials(server, request),
        // AS-40: no ROPC, no implicit (BCP §2.4).
        Some(other) => Err(OAuthError::bad_request(
            OAuthErrorCode::UnsupportedGrantType,
            format!("grant_type {other} is not supported"),
        )),
    }
}

fn authorization_code(server: &AuthServer, request: &TokenRequest) -> Result<Response, OAuthError> {
    let TokenRequest { form, client, now, profile, .. } = request;
    let invalid_grant = |description: &str| OAuthError::bad_request(OAuthErrorCode::InvalidGrant, description);
    let code = AuthorizationCode::new(form.require("code")?);
    let verifier = form.get("code_verifier")?.map(PkceVerifier::new);
    let redirect_uri = form.get("redirect_uri")?;
    let record = server.store().code(&code).cloned().ok_or_else(|| invalid_grant("authorization code is unknown"))?;
    // O21 §4.1.3: the code must have been issued to this client.
    if record.client_id != client.client_id {
        return Err(invalid_grant("authorization code was issued to another client"));
    }
    if record.expires_at <= *now {
        return Err(invalid_grant("authorization code has expired"));
    }
    match (&record.challenge, &verifier) {
        // O21 §3.2.4, BCP §4.8.2 (PKCE downgrade): a verifier for a code that had no challenge.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (Some(_), None) => return Err(OAuthError::invalid_request("missing parameter code_verifier")),
        (Some((challenge, method)), Some(verifier)) => {
            let syntax_ok = pkce::is_valid_verifier_syntax(verifier.secret());
            // RFC 7636 §4.6: a mismatch is invalid_grant.
            if !syntax_ok || !pkce::verify(*method, challenge, verifier.secret()) {
                return Err(invalid_grant("code_verifier does not match the code_challenge"));
            }
            if *method == CodeChallengeMethod::Plain && *profile != AsProfile::AcceptPlainPkce {
                return Err(invalid_grant("plain PKCE is not accepted"));
            }
        }
        (None, None) => {}
    }
    // O21 §10.2, AS-28: redirect_uri is optional here but enforced when present.
    if redirect_uri.is_some_and(|uri| uri != record.redirect_uri) {
        return Err(invalid_grant("redirect_uri differs from the authorization request"));
    }
    let resources = redeemed_resources(server, *profile, form, &record.resources, Redemption::Code)?;
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: record.sub.clone(),
        scope: record.scope.clone(),
        resources,
        auth_time: Some(record.auth_time),
        revoked: false,
    };
    let issue_refresh = client.grant_types.iter().any(|grant_type| grant_type == "refresh_token");
    // O21 §4.1.3 (single use) and AS-27: whether the code was redeemed is read, and the code
    // marked redeemed, in one critical section with the minting, so that of two concurrent
    // redemptions exactly one gets tokens and the other counts as a replay. The checks above come
    // first, so an attacker without the verifier cannot trigger the revocation.
    let mut store = server.store();
    let redeemed =
        store.code(&code).ok_or_else(|| invalid_grant("authorization code is unknown"))?.redeemed_grant.clone();
    if let Some(first_grant) = redeemed
        && *profile != AsProfile::NoCodeReplayCheck
    {
        let revoked = store.revoke_grant(&first_grant);
        drop(store);
        server.announce_revoked(&revoked);
        tracing::warn!(client_id = %client.client_id, "authorization code replayed; its tokens were revoked");
        return Err(invalid_grant("authorization code was already used"));
    }
    let (grant_id, response, revoked) = issue(server, &mut store, grant, issue_refresh)?;
    store.mark_code_redeemed(&code, grant_id);
    drop(store);
    server.announce_revoked(&revoked);
    Ok(response)
}

fn refresh_token(server: &AuthServer, request: &TokenRequest) -> Result<Response, OAuthError> {
    let TokenRequest { form, client, now, profile, .. } = request;
    let invalid_grant = |description: &str| OAuthError::bad_request(OAuthErrorCode::InvalidGrant, description);
    let presented = RefreshToken::new(form.require("refresh_token")?);
    let scope = form.get("scope")?;
    let digest = secret_digest(presented.secret());
    // O21 §4.3.1, RFC 9700 §4.14.2: the record is read, checked, rotated and its successor minted
    // in one critical section, so two concurrent refreshes cannot each get a live successor and a
    // revocation is either seen here or sees the new access token. Only the scope and resource of
    // the request are checked before, as they are the same whatever the store holds.
    let grant_scope = {
        let store = server.store();
        let Some(record) = store.refresh_tokens.get(&digest) else {
            return Err(unknown_refresh_token(server, store, &presented, client, *profile));
        };
        let grant = store.grants.get(&record.grant_id).ok_or_else(|| invalid_grant("refresh token is unknown"))?;
        (grant.scope.clone(), grant.resources.clone())
    };
    let scope = match scope {
        None => grant_scope.0.clone(),
        Some(requested) => {
            if !lab_proto::scope::split(requested).iter().all(|token| lab_proto::scope::is_known(token))
                || !lab_proto::scope::is_subset(requested, &grant_scope.0)
            {
                return Err(OAuthError::bad_request(OAuthErrorCode::InvalidScope, "scope exceeds the original grant"));
            }
            lab_proto::scope::split(requested).join(" ")
        }
    };
    let resources = redeemed_resources(server, *profile, form, &grant_scope.1, Redemption::Refresh)?;
    let mut store = server.store();
    // Between the two holds a concurrent refresh may have pushed this token's record out: the
    // same rule applies to it.
    let Some(record) = store.refresh_tokens.get(&digest).cloned() else {
        return Err(unknown_refresh_token(server, store, &presented, client, *profile));
    };
    let grant = store.grants.get(&record.grant_id).cloned().ok_or_else(|| invalid_grant("refresh token is unknown"))?;
    // O21 §4.3.1: bound to the client it was issued to.
    if record.client_id != client.client_id {
        return Err(invalid_grant("refresh token was issued to another client"));
    }
    if record.revoked || grant.revoked {
        return Err(invalid_grant("refresh token was revoked"));
    }
    if record.expires_at <= *now {
        return Err(invalid_grant("refresh token has expired"));
    }
    if record.rotated && *profile != AsProfile::NoRefreshRotation {
        // AS-33 (O21 §4.3.1, BCP §4.14.2): reuse of a rotated token kills the whole family,
        // including the legitimate holder's newest token.
        let revoked = store.revoke_grant(&record.grant_id);
        drop(store);
        server.announce_revoked(&revoked);
        tracing::warn!(client_id = %client.client_id, "rotated refresh token reused; the grant was revoked");
        return Err(invalid_grant("refresh token was already used"));
    }
    let refresh = if *profile == AsProfile::NoRefreshRotation {
        // Weak: the same refresh token stays valid and is handed back.
        presented
    } else {
        if let Some(old) = store.refresh_tokens.get_mut(&digest) {
            old.rotated = true;
        }
        new_refresh_token(server, &mut store, &record.grant_id, &client.client_id)?
    };
    let mut revoked = Vec::new();
    let minted = mint_access_token(server, &mut store, &mut revoked, &record.grant_id, &grant, &scope, &resources);
    drop(store);
    // The grant's oldest access token beyond its newest few was revoked to make room.
    server.announce_revoked(&revoked);
    let access = minted?;
    let body = TokenResponse {
        access_token: access,
        token_type: "Bearer".to_owned(),
        expires_in: Some(server.inner.config.lifetimes.access_token),
        refresh_token: Some(refresh),
        scope: Some(scope),
    };
    Ok(json_no_store(StatusCode::OK, &body))
}

/// The answer to a refresh token the store has no record of. A grant keeps only its newest refresh
/// records, and every refresh token starts with its grant's id: an unknown one that names a live
/// grant of the presenting client is a rotated token reused, so the grant is revoked (AS-33,
/// failing closed); any other is simply unknown.
fn unknown_refresh_token(
    server: &AuthServer,
    mut store: std::sync::MutexGuard<'_, Store>,
    presented: &RefreshToken,
    client: &crate::records::Client,
    profile: AsProfile,
) -> OAuthError {
    let invalid_grant = |description: &str| OAuthError::bad_request(OAuthErrorCode::InvalidGrant, description);
    let reused_grant = presented
        .secret()
        .split_once('.')
        .map(|(grant_id, _)| grant_id.to_owned())
        .filter(|grant_id| {
            store.grants.get(grant_id).is_some_and(|grant| grant.client_id == client.client_id && !grant.revoked)
        })
        .filter(|_| profile != AsProfile::NoRefreshRotation);
    let Some(grant_id) = reused_grant else { return invalid_grant("refresh token is unknown") };
    let revoked = store.revoke_grant(&grant_id);
    drop(store);
    server.announce_revoked(&revoked);
    tracing::warn!(client_id = %client.client_id, "an old rotated refresh token was reused; the grant was revoked");
    invalid_grant("refresh token was already used")
}

fn client_credentials(server: &AuthServer, request: &TokenRequest) -> Result<Response, OAuthError> {
    let TokenRequest { form, client, presented, profile, .. } = request;
    // O21 §4.2: only confidential clients, and only those registered for the grant.
    if matches!(presented, PresentedClient::Public { .. })
        || !client.grant_types.iter().any(|grant| grant == "client_credentials")
    {
        return Err(OAuthError::bad_request(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use client_credentials",
        ));
    }
    let requested = form.get("scope")?.unwrap_or("mcp:read");
    if !lab_proto::scope::split(requested).iter().all(|token| lab_proto::scope::is_known(token)) {
        return Err(OAuthError::bad_request(OAuthErrorCode::InvalidScope, "unknown scope"));
    }
    // O21 §4.2.3: no refresh token for client credentials, so `offline_access` is not granted.
    let requested = &lab_proto::scope::for_resources(requested);
    if let Some(allowed) = &client.scope
        && !lab_proto::scope::is_subset(requested, allowed)
    {
        return Err(OAuthError::bad_request(OAuthErrorCode::InvalidScope, "scope exceeds what the client registered"));
    }
    let resources = if *profile == AsProfile::IgnoreResource {
        server.inner.config.resources.clone()
    } else {
        vec![
            validate_resource(server, form)
                .map_err(|(code, description)| OAuthError::bad_request(code, description))?,
        ]
    };
    // RFC 9068 §2.2: for a client acting on its own behalf, `sub` is the client id (RS-23).
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: client.client_id.clone(),
        scope: lab_proto::scope::split(requested).join(" "),
        resources,
        auth_time: None,
        revoked: false,
    };
    let (_, response, revoked) = issue(server, &mut server.store(), grant, false)?;
    server.announce_revoked(&revoked);
    Ok(response)
}

/// Stores a grant and answers with its first tokens, all under the caller's hold of the store.
/// Also returns the access tokens revoked to make room under the principal's cap (issue 14,
/// item 3), which the caller announces once the store is unlocked.
fn issue(
    server: &AuthServer,
    store: &mut Store,
    grant: Grant,
    with_refresh: bool,
) -> Result<(String, Response, Vec<RevokedAccessToken>), OAuthError> {
    let grant_id = lab_proto::random_token(16).map_err(|_| OAuthError::server_error())?;
    let mut revoked = store.store_grant(grant_id.clone(), grant.clone(), server.clock().now());
    let minted = mint_access_token(server, store, &mut revoked, &grant_id, &grant, &grant.scope, &grant.resources)
        .and_then(|access| {
            let refresh =
                if with_refresh { Some(new_refresh_token(server, store, &grant_id, &grant.client_id)?) } else { None };
            Ok((access, refresh))
        });
    let (access, refresh) = match minted {
        Ok(minted) => minted,
        Err(error) => {
            // The error path returns no list, so the revocations are told at once (the listeners
            // take only their own locks, never the store's).
            server.announce_revoked(&revoked);
            return Err(error);
        }
    };
    let body = TokenResponse {
        access_token: access,
        token_type: "Bearer".to_owned(),
        expires_in: Some(server.inner.config.lifetimes.access_token),
        refresh_token: refresh,
        // O21 §3.2.3 requires it only when it differs from the request; the lab always sends it.
        scope: Some(grant.scope.clone()),
    };
    tracing::info!(client_id = %grant.client_id, sub = %grant.sub, scope = %grant.scope, "tokens issued");
    Ok((grant_id, json_no_store(StatusCode::OK, &body), revoked))
}

fn new_refresh_token(
    server: &AuthServer,
    store: &mut Store,
    grant_id: &str,
    client_id: &str,
) -> Result<RefreshToken, OAuthError> {
    // The grant's id leads the token, so a rotated token whose record was dropped is still known
    // as this grant's, and its reuse still revokes the grant (AS-33).
    let random = lab_proto::random_token(32).map_err(|_| OAuthError::server_error())?;
    let token = RefreshToken::new(format!("{grant_id}.{random}"));
    let now = server.clock().now();
    store.store_refresh_token(
        secret_digest(token.secret()),
        RefreshRecord {
            grant_id: grant_id.to_owned(),
            client_id: client_id.to_owned(),
            rotated: false,
            revoked: false,
            expires_at: now + server.inner.config.lifetimes.refresh_token_idle,
        },
    );
    Ok(token)
}

/// Mints an RFC 9068 access token: `typ` `at+jwt`, `aud` the resource, a `jti`, the `client_id`
/// and the `scope` (AS-35, AS-29).
pub(crate) fn mint_access_token(
    server: &AuthServer,
    store: &mut Store,
    revoked: &mut Vec<RevokedAccessToken>,
    grant_id: &str,
    grant: &Grant,
    scope: &str,
    resources: &[String],
) -> Result<AccessToken, OAuthError> {
    let now = server.clock().now();
    let exp = now + server.inner.config.lifetimes.access_token;
    let jti = lab_proto::random_token(16).map_err(|_| OAuthError::server_error())?;
    let aud = match resources {
        [one] => json!(one),
        many => json!(many),
    };
    let mut claims = json!({
        "iss": server.issuer(),
        "sub": grant.sub,
        "aud": aud,
        "exp": exp,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": grant.client_id,
        // What the resource is told: `offline_access` is about the grant (SEP-2207).
        "scope": lab_proto::scope::for_resources(scope),
    });
    if let (Some(auth_time), Some(members)) = (grant.auth_time, claims.as_object_mut()) {
        members.insert("auth_time".into(), json!(auth_time));
    }
    store.keys.tick(now);
    let key = store.keys.active().ok_or_else(OAuthError::server_error)?;
    let token = AccessToken::new(key.sign_jwt("at+jwt", &claims).map_err(|_| OAuthError::server_error())?);
    let evicted = store.store_access_token(
        jti,
        AccessRecord {
            grant_id: grant_id.to_owned(),
            client_id: grant.client_id.clone(),
            sub: grant.sub.clone(),
            scope: lab_proto::scope::for_resources(scope),
            audiences: resources.to_vec(),
            iat: now,
            exp,
            revoked: false,
        },
        server.inner.config.lifetimes.leeway,
    );
    revoked.extend(evicted);
    Ok(token)
}
