//! `POST /codes`, `POST /grants` and `POST /client-documents`: what the AS's own authorization
//! and token endpoints issue, and the metadata documents it fetches, made for a test.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, ControlPlane, JsonBody, MAX_CONTROL_BODY, Signer, answer, ok};
use crate::canary::ADDED_DOCUMENTS_PATH;

/// The redirect URI of `POST /codes` and `POST /grants` unless one is named: a loopback one,
/// which the lab's pre-registered clients accept on any port (O21 §8.4.2).
const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

/// `POST /codes` and `POST /grants`: an authorization request, approved by `user` at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthorizationRequest {
    #[serde(default)]
    signer: Signer,
    /// The lab user who approves (default `alice`).
    user: Option<String>,
    client_id: Option<String>,
    /// For a confidential client registered dynamically (`POST /grants` only); the lab's
    /// pre-registered clients' secrets are known.
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    /// The resource indicator (RFC 8707; default the lab RS).
    resource: Option<String>,
    /// `POST /codes` only: the challenge the code is bound to. Without one the API makes a
    /// verifier and answers it with the code.
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    state: Option<String>,
}

/// A code for `request`, through the AS's own authorization endpoint, and the verifier when the
/// API made one.
async fn authorize_code(
    plane: &ControlPlane,
    request: &AuthorizationRequest,
) -> Result<(Value, Option<lab_proto::PkceVerifier>), ControlError> {
    let server = plane.server(request.signer);
    let verifier = match &request.code_challenge {
        Some(_) => None,
        None => Some(lab_proto::pkce::generate_verifier().map_err(|_| {
            ControlError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the random source failed")
        })?),
    };
    let challenge = match (&request.code_challenge, &verifier) {
        (Some(challenge), _) => challenge.clone(),
        (None, Some(verifier)) => lab_proto::pkce::s256_challenge(verifier.secret()),
        (None, None) => String::new(),
    };
    let method = request.code_challenge_method.clone().unwrap_or_else(|| "S256".to_owned());
    let client_id = request.client_id.as_deref().unwrap_or("lab-public-client");
    let redirect_uri = request.redirect_uri.as_deref().unwrap_or(DEFAULT_REDIRECT_URI);
    let resource = request.resource.clone().unwrap_or_else(|| plane.rs.config().resource.clone());
    let mut url = reqwest::Url::parse("https://control.invalid/authorize")
        .map_err(|error| ControlError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", error.to_string()))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("response_type", "code");
        query.append_pair("client_id", client_id);
        query.append_pair("redirect_uri", redirect_uri);
        query.append_pair("code_challenge", &challenge);
        query.append_pair("code_challenge_method", &method);
        query.append_pair("resource", &resource);
        if let Some(scope) = &request.scope {
            query.append_pair("scope", scope);
        }
        if let Some(state) = &request.state {
            query.append_pair("state", state);
        }
    }
    let user = request.user.as_deref().unwrap_or("alice");
    let response = server.authorize_as(user, url.query().unwrap_or_default()).await;
    let status = response.status();
    let location = response.headers().get(header::LOCATION).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let Some(location) = location else {
        // The endpoint showed an error page instead of redirecting: a bad client or redirect URI.
        let body = axum::body::to_bytes(response.into_body(), MAX_CONTROL_BODY).await.unwrap_or_default();
        let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let description = error["error_description"].as_str().unwrap_or("the authorization request was refused");
        return Err(ControlError::invalid(format!("the authorization endpoint answered {status}: {description}")));
    };
    let parameters: BTreeMap<String, String> =
        reqwest::Url::parse(&location).map(|url| url.query_pairs().into_owned().collect()).unwrap_or_default();
    if let Some(error) = parameters.get("error") {
        let description = parameters.get("error_description").map_or("", String::as_str);
        return Err(ControlError::invalid(format!("the authorization endpoint answered `{error}`: {description}")));
    }
    let code =
        parameters.get("code").ok_or_else(|| ControlError::invalid("the authorization endpoint issued no code"))?;
    let lifetime = server.config().lifetimes.authorization_code;
    let answer = json!({
        "code": code,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "resource": resource,
        "iss": parameters.get("iss"),
        "state": parameters.get("state"),
        "expires_in": lifetime,
    });
    Ok((answer, verifier))
}

/// `POST /codes`: an authorization code, as the AS's authorization endpoint issues it once the
/// user approved (the request is checked as that endpoint checks it).
pub(super) async fn code(
    State(plane): State<ControlPlane>,
    JsonBody(request): JsonBody<AuthorizationRequest>,
) -> Response {
    if request.client_secret.is_some() {
        return ControlError::invalid("`client_secret` is for `POST /grants`: a code needs none").into_response();
    }
    match authorize_code(&plane, &request).await {
        Ok((mut answer, verifier)) => {
            if let Some(verifier) = verifier {
                answer["code_verifier"] = json!(verifier.secret());
            }
            ok(&answer)
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /grants`: a whole grant, as a client gets it: a code (as `POST /codes`) redeemed at the
/// AS's own token endpoint; the answer is that endpoint's (access and refresh token), so the AS
/// records the tokens, introspection knows them and revocation reaches them.
pub(super) async fn grant(
    State(plane): State<ControlPlane>,
    JsonBody(request): JsonBody<AuthorizationRequest>,
) -> Response {
    if request.code_challenge.is_some() || request.code_challenge_method.is_some() {
        return ControlError::invalid("a grant's PKCE is the API's own: leave out `code_challenge`").into_response();
    }
    let (code, verifier) = match authorize_code(&plane, &request).await {
        Ok((code, Some(verifier))) => (code, verifier),
        Ok((_, None)) => return ControlError::invalid("no verifier").into_response(),
        Err(error) => return error.into_response(),
    };
    let server = plane.server(request.signer);
    let client_id = code["client_id"].as_str().unwrap_or_default().to_owned();
    let secret = request.client_secret.clone().or_else(|| {
        server
            .config()
            .clients
            .iter()
            .find(|client| client.client_id == client_id)
            .and_then(|client| client.client_secret.as_ref())
            .map(|secret| secret.secret().to_owned())
    });
    let post_secret = server.client_auth_method(&client_id).map(|method| method.as_str()) == Some("client_secret_post");
    let Ok(mut form) = reqwest::Url::parse("https://control.invalid/") else {
        return ControlError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "bad token request")
            .into_response();
    };
    {
        let mut pairs = form.query_pairs_mut();
        pairs.append_pair("grant_type", "authorization_code");
        pairs.append_pair("code", code["code"].as_str().unwrap_or_default());
        pairs.append_pair("code_verifier", verifier.secret());
        pairs.append_pair("redirect_uri", code["redirect_uri"].as_str().unwrap_or_default());
        pairs.append_pair("resource", code["resource"].as_str().unwrap_or_default());
        // The client authenticates as it registered (O21 §2.4.1): in the body for
        // `client_secret_post`, with HTTP Basic for `client_secret_basic`, not at all when public.
        if secret.is_none() || post_secret {
            pairs.append_pair("client_id", &client_id);
        }
        if let (Some(secret), true) = (&secret, post_secret) {
            pairs.append_pair("client_secret", secret);
        }
    }
    let path = format!("{}/token", lab_proto::metadata::split_origin_path(server.issuer()).1);
    let mut token_request =
        axum::http::Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let (Some(secret), false) = (&secret, post_secret) {
        token_request =
            token_request.header(header::AUTHORIZATION, lab_proto::basic::authorization(&client_id, secret));
    }
    let Ok(token_request) = token_request.body(axum::body::Body::from(form.query().unwrap_or_default().to_owned()))
    else {
        return ControlError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "bad token request")
            .into_response();
    };
    // The AS's own token endpoint, in-process: what a client's redemption runs.
    let response = match tower::ServiceExt::oneshot(lab_auth_server::router(server.clone()), token_request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_CONTROL_BODY).await.ok();
    match body.and_then(|body| serde_json::from_slice::<Value>(&body).ok()) {
        Some(body) => answer(status, &body),
        None => ControlError::new(
            StatusCode::BAD_GATEWAY,
            "server_error",
            format!(
                "the token endpoint answered {status} with a body that is not JSON of at most {MAX_CONTROL_BODY} bytes"
            ),
        )
        .into_response(),
    }
}

/// `POST /client-documents`: `{"name": …, "document": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddedDocument {
    name: String,
    document: serde_json::Map<String, Value>,
}

/// Serves a client ID metadata document on the lab's metadata-document host, the one host the
/// AS fetches documents from, at `/documents/{name}`; its URL is the client's `client_id`. A
/// document without `client_id` gets that URL; one with another keeps it (a mismatch to test).
pub(super) async fn add_document(
    State(plane): State<ControlPlane>,
    JsonBody(request): JsonBody<AddedDocument>,
) -> Response {
    // A name is one path segment that no URL normalisation changes (no `.` or `..`).
    let valid = !request.name.is_empty()
        && !request.name.starts_with('.')
        && request.name.len() <= 64
        && request.name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if !valid {
        return ControlError::invalid("`name` is 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.`")
            .into_response();
    }
    let url = format!("{}{ADDED_DOCUMENTS_PATH}/{}", plane.documents_origin, request.name);
    let mut document = request.document;
    document.entry("client_id").or_insert_with(|| json!(url));
    let client_id = document["client_id"].clone();
    plane.added_documents.insert(request.name, Value::Object(document.clone()));
    ok(&json!({"url": url, "client_id": client_id, "document": document}))
}
