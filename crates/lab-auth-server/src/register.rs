//! RFC 7591 dynamic client registration (AS-36).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lab_proto::registration::{ClientMetadata, ClientRegistrationResponse, TokenEndpointAuthMethod};
use lab_proto::{ClientSecret, OAuthErrorCode};

use crate::http::{OAuthError, json_no_store};
use crate::records::{Client, ClientSource};
use crate::redirect::validate_redirect_uri;
use crate::request::{Caller, CappedBody};
use crate::state::{AuthServer, MAX_ENTRIES};

/// `POST /register`.
pub(crate) async fn register(
    State(server): State<AuthServer>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<CappedBody, OAuthError>,
) -> Response {
    let caller = caller.key();
    let now = server.clock().now();
    let limits = server.inner.config.rate_limits;
    {
        // AS-41 (`dcr-flood`): every attempt counts, successful or not.
        let mut store = server.store();
        if let Err(retry_after) = store.registrations.check(caller, limits.registrations, now) {
            return OAuthError::too_many_requests(retry_after).into_response();
        }
        store.registrations.record(caller, now);
    }
    match handle(&server, &headers, body) {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(error = %error.body.error, "registration refused");
            error.into_response()
        }
    }
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::bad_request(OAuthErrorCode::InvalidClientMetadata, description)
}

fn handle(
    server: &AuthServer,
    headers: &HeaderMap,
    body: Result<CappedBody, OAuthError>,
) -> Result<Response, OAuthError> {
    let CappedBody(body) = body?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(metadata_error("content type must be application/json"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|error| metadata_error(format!("body is not JSON: {error}")))?;
    if !value.is_object() {
        return Err(metadata_error("body must be a JSON object"));
    }
    let mut request: ClientMetadata =
        serde_json::from_value(value).map_err(|error| metadata_error(format!("malformed client metadata: {error}")))?;
    if request.software_statement.is_some() {
        return Err(OAuthError::bad_request(
            OAuthErrorCode::UnapprovedSoftwareStatement,
            "the lab accepts no software statements",
        ));
    }
    // RFC 7591 §2: the default method is client_secret_basic, which makes a client that forgets to
    // say `none` confidential (requirements §7 item 9); the lab applies the default as written.
    let method_name = request.token_endpoint_auth_method.clone().unwrap_or_else(|| "client_secret_basic".to_owned());
    let auth_method = match TokenEndpointAuthMethod::parse(&method_name) {
        Some(method) => method,
        None if method_name == "private_key_jwt" && request.jwks.is_none() && request.jwks_uri.is_none() => {
            return Err(metadata_error("private_key_jwt requires jwks or jwks_uri"));
        }
        None => return Err(metadata_error(format!("token_endpoint_auth_method {method_name} is not supported"))),
    };
    let grant_types = request.grant_types.clone().unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    let uses_code = grant_types.iter().any(|grant| grant == "authorization_code");
    // RFC 7591 §2: response_types defaults to `code`; a client without the code grant needs none.
    let response_types =
        request.response_types.clone().unwrap_or_else(|| if uses_code { vec!["code".to_owned()] } else { Vec::new() });
    for grant in &grant_types {
        match grant.as_str() {
            "authorization_code" | "refresh_token" => {}
            "client_credentials" if auth_method.is_confidential() => {}
            "client_credentials" => return Err(metadata_error("client_credentials needs a confidential client")),
            other => return Err(metadata_error(format!("grant type {other} is not supported"))),
        }
    }
    for response_type in &response_types {
        if response_type != "code" {
            return Err(metadata_error(format!("response type {response_type} is not supported")));
        }
    }
    if uses_code == response_types.is_empty() {
        return Err(metadata_error("grant_types and response_types are inconsistent"));
    }
    let redirect_uris = request.redirect_uris.clone().unwrap_or_default();
    if uses_code && redirect_uris.is_empty() {
        return Err(OAuthError::bad_request(OAuthErrorCode::InvalidRedirectUri, "redirect_uris is required"));
    }
    for uri in &redirect_uris {
        validate_redirect_uri(uri)
            .map_err(|reason| OAuthError::bad_request(OAuthErrorCode::InvalidRedirectUri, reason))?;
    }
    if let Some(scope) = &request.scope
        && let Some(unknown) =
            lab_proto::scope::split(scope).into_iter().find(|token| !lab_proto::scope::is_known(token))
    {
        return Err(metadata_error(format!("unknown scope {unknown}")));
    }
    if let Some(application_type) = &request.application_type {
        if !matches!(application_type.as_str(), "native" | "web") {
            return Err(metadata_error("application_type must be native or web"));
        }
        for uri in &redirect_uris {
            crate::redirect::fits_application_type(application_type, uri)
                .map_err(|reason| OAuthError::bad_request(OAuthErrorCode::InvalidRedirectUri, reason))?;
        }
    }
    // RFC 7591 §3.2.1, O21 §7.4: the AS chooses the client_id; a supplied one is ignored.
    let client_id = format!("dcr-{}", lab_proto::random_token(16).map_err(|_| OAuthError::server_error())?);
    let secret = if auth_method.is_confidential() {
        Some(ClientSecret::new(lab_proto::random_token(32).map_err(|_| OAuthError::server_error())?))
    } else {
        None
    };
    let now = server.clock().now();
    request.client_id = Some(client_id.clone());
    request.client_secret = secret.clone();
    request.client_id_issued_at = Some(now);
    // RFC 7591 §3.2.1: REQUIRED when a secret is issued; 0 = never expires.
    request.client_secret_expires_at = secret.as_ref().map(|_| 0);
    request.token_endpoint_auth_method = Some(auth_method.as_str().to_owned());
    request.grant_types = Some(grant_types.clone());
    request.response_types = Some(response_types);
    request.redirect_uris = Some(redirect_uris.clone());
    let response: ClientRegistrationResponse = request.clone();
    let client = Client {
        client_id: client_id.clone(),
        client_name: request.client_name.clone(),
        secret,
        auth_method,
        redirect_uris,
        grant_types,
        scope: request.scope.clone(),
        introspection_resources: Vec::new(),
        source: ClientSource::Dynamic,
    };
    {
        let mut store = server.store();
        if store.clients.len() >= MAX_ENTRIES {
            return Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                OAuthErrorCode::TemporarilyUnavailable,
                "too many clients",
            ));
        }
        store.clients.insert(client_id.clone(), client);
    }
    tracing::info!(%client_id, method = auth_method.as_str(), "client registered");
    // The response carries a secret for confidential clients, so it is not cached either.
    Ok(json_no_store(StatusCode::CREATED, &response))
}
