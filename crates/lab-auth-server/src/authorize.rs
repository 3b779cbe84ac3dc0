//! The authorization endpoint (O21 §4.1.1–4.1.2.1) and the login + consent form behind it.
//!
//! The order of checks is the spec's: until the client and its redirect URI are established, every
//! error is a page and never a redirect (O21 §4.1.2.1, AS-10); after that, errors go back to the
//! client by redirect with `state` and `iss` (RFC 9207 §2, AS-14).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lab_proto::OAuthErrorCode;
use lab_proto::pkce::{self, CodeChallengeMethod};
use lab_proto::scope::LabScope;

use crate::http::{Form, html_response, secret_digest, secrets_equal};
use crate::page::{ConsentPage, consent_page, error_page};
use crate::profile::AsProfile;
use crate::records::{Client, ClientSource, CodeRecord, PendingAuthorization, ValidatedRequest};
use crate::redirect::{is_loopback_redirect, redirect_host, redirect_matches, redirect_port};
use crate::request::Caller;
use crate::resource::validate_resource;
use crate::state::{AuthServer, MAX_ENTRIES};
use crate::{cimd, consent, cookies};

/// The scope granted when a client asks for none.
const DEFAULT_SCOPE: &str = "mcp:read";

/// An outcome that is not a page: a redirect back to the client.
struct Redirect {
    location: String,
}

impl Redirect {
    fn into_response(self, status: StatusCode) -> Response {
        let mut response = status.into_response();
        if let Ok(location) = HeaderValue::from_str(&self.location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        response
    }
}

/// Builds `redirect_uri?…&iss=…` for a success or an error.
fn redirect_to(server: &AuthServer, redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Redirect {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    if let Some(state) = state {
        // O21 §4.1.2: the exact value received.
        query.append_pair("state", state);
    }
    match server.profile() {
        AsProfile::MissingIss => {}
        AsProfile::WrongIss => {
            query.append_pair("iss", AsProfile::WRONG_ISS);
        }
        // RFC 9207 §2: on success and on error responses alike.
        _ => {
            query.append_pair("iss", server.issuer());
        }
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    Redirect { location: format!("{redirect_uri}{separator}{}", query.finish()) }
}

fn error_redirect(
    server: &AuthServer,
    redirect_uri: &str,
    state: Option<&str>,
    code: OAuthErrorCode,
    description: &str,
) -> Redirect {
    let description = lab_proto::error::sanitize_description(description);
    redirect_to(server, redirect_uri, &[("error", code.as_str()), ("error_description", &description)], state)
}

/// An error page (400 unless said otherwise), as HTML or, for API callers, JSON.
fn page_error(headers: &HeaderMap, status: StatusCode, code: OAuthErrorCode, description: &str) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"));
    if wants_json {
        let body = lab_proto::ErrorResponse::new(code, description);
        return crate::http::json_no_store(status, &body);
    }
    html_response(status, error_page(code.as_str(), description))
}

/// The longest `state` the AS keeps (a lab decision: O21 sets no bound; clients use a few dozen
/// bytes).
const MAX_STATE_BYTES: usize = 2048;

/// `GET /authorize`.
pub(crate) async fn authorize(
    State(server): State<AuthServer>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    authorization(&server, &headers, uri.query().unwrap_or(""), Approval::ByPerson(&caller)).await
}

/// Who approves a valid authorization request.
enum Approval<'a> {
    /// A person, at the login and consent page (or headless auto-approval, or consent they gave
    /// before): `GET /authorize`.
    ByPerson(&'a Caller),
    /// This lab user, at once: [`AuthServer::authorize_as`].
    As(&'a str),
}

impl AuthServer {
    /// The answer `GET /authorize?{query}` gets once `username` has signed in and approved: the
    /// request checked exactly as the endpoint checks it (client, redirect URI, PKCE, scope,
    /// resource, state), then a code issued for `username` as the consent page would. A redirect
    /// (302) with the code or the error, or the error page the endpoint shows. The control API's
    /// `POST /codes` and `POST /grants` use it, so that a code made for a test is one the AS
    /// could have issued.
    pub async fn authorize_as(&self, username: &str, query: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, axum::http::HeaderValue::from_static("application/json"));
        authorization(self, &headers, query, Approval::As(username)).await
    }
}

/// `GET /authorize` after its extractors; see [`Approval`] for who approves.
async fn authorization(server: &AuthServer, headers: &HeaderMap, query: &str, approval: Approval<'_>) -> Response {
    let (server, headers) = (server.clone(), headers.clone());
    let form = match Form::parse(query.as_bytes()) {
        Ok(form) => form,
        Err(error) => {
            return page_error(
                &headers,
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                error.body.error_description.as_deref().unwrap_or(""),
            );
        }
    };
    let client = match resolve_client(&server, &form).await {
        Ok(client) => client,
        Err((code, description)) => return page_error(&headers, StatusCode::BAD_REQUEST, code, &description),
    };
    let redirect_uri = match form.get("redirect_uri") {
        Err(_) => {
            return page_error(
                &headers,
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                "redirect_uri is repeated",
            );
        }
        // Lab decision (requirements §3.4): the lab always requires redirect_uri, so that a missing
        // one never falls back to a registered URI the user cannot see.
        Ok(None) => {
            return page_error(
                &headers,
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                "redirect_uri is required",
            );
        }
        Ok(Some(uri)) => uri.to_owned(),
    };
    if !client.redirect_uris.iter().any(|registered| redirect_matches(registered, &redirect_uri)) {
        // AS-09, AS-10: a mismatch is shown, never followed.
        return page_error(
            &headers,
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "redirect_uri does not match any URI registered for this client",
        );
    }
    // From here on errors are redirects to a URI the client registered (O21 §4.1.2.1), if that URI
    // is trusted: a pre-registered client's, or a loopback one, which leads back to the user's own
    // machine. Anyone can register an https redirect of their own, and redirecting an error there
    // before the user has seen anything would make the AS an open redirector (RFC 9700 §4.11.2):
    // such errors are shown as a page.
    let trusted_redirect = client.source == ClientSource::PreRegistered || is_loopback_redirect(&redirect_uri);
    let fail = |state: Option<&str>, code: OAuthErrorCode, description: &str| {
        if trusted_redirect {
            error_redirect(&server, &redirect_uri, state, code, description).into_response(StatusCode::FOUND)
        } else {
            page_error(&headers, StatusCode::BAD_REQUEST, code, description)
        }
    };
    let state = match form.get("state") {
        Ok(state) if state.is_some_and(|state| state.len() > MAX_STATE_BYTES) => {
            // Not echoed: a sign-in page holds its request, and a 64 KiB state in each of many
            // would fill the store (issue 14, item 6).
            return fail(None, OAuthErrorCode::InvalidRequest, "state is longer than 2048 bytes");
        }
        Ok(state) => state.map(str::to_owned),
        Err(_) => return fail(None, OAuthErrorCode::InvalidRequest, "state is repeated"),
    };
    let request = match validate(&server, &form, &client, &redirect_uri, state.clone()) {
        Ok(request) => request,
        Err((code, description)) => return fail(state.as_deref(), code, &description),
    };
    let caller = match approval {
        Approval::ByPerson(caller) => caller,
        Approval::As(username) => {
            if server.user(username).is_none() {
                return fail(state.as_deref(), OAuthErrorCode::AccessDenied, "no lab user of that name");
            }
            return approve(&server, &request, username).into_response(StatusCode::FOUND);
        }
    };
    let auto_approve = server.store().auto_approve.clone();
    if let Some(default_user) = auto_approve {
        // Headless mode (design §2): approve at once as the hinted or the default user.
        let username = request.login_hint.clone().unwrap_or(default_user);
        if server.user(&username).is_none() {
            return fail(state.as_deref(), OAuthErrorCode::AccessDenied, "login_hint names no lab user");
        }
        return approve(&server, &request, &username).into_response(StatusCode::FOUND);
    }
    let session_user = cookies::session_user(&server, &headers);
    if let Some(user) = &session_user
        && consent::covers(&server, &headers, user, &request)
    {
        return approve(&server, &request, user).into_response(StatusCode::FOUND);
    }
    // AS-22: `prompt=none` never short-cuts a login; the user sees the page.
    render_consent(&server, caller, request, session_user.as_deref(), None, StatusCode::OK)
}

/// Looks up the client named by `client_id`, fetching its metadata document when it is a URL.
async fn resolve_client(server: &AuthServer, form: &Form) -> Result<Client, (OAuthErrorCode, String)> {
    let client_id = match form.get("client_id") {
        Err(_) => return Err((OAuthErrorCode::InvalidRequest, "client_id is repeated".to_owned())),
        Ok(None) => return Err((OAuthErrorCode::InvalidRequest, "client_id is required".to_owned())),
        Ok(Some(client_id)) => client_id.to_owned(),
    };
    if cimd::is_document_client_id(&client_id) {
        cimd::check_client_id_url(&client_id, &server.inner.config.cimd_allowed_hosts)
            .map_err(|reason| (OAuthErrorCode::InvalidClient, reason))?;
        let bytes = server
            .inner
            .fetcher
            .fetch(&client_id)
            .await
            .map_err(|error| (OAuthErrorCode::InvalidClient, format!("client metadata document: {error}")))?;
        let client =
            cimd::client_from_document(&client_id, &bytes).map_err(|reason| (OAuthErrorCode::InvalidClient, reason))?;
        let mut store = server.store();
        if store.clients.len() >= MAX_ENTRIES && !store.clients.contains_key(&client_id) {
            return Err((OAuthErrorCode::TemporarilyUnavailable, "too many clients".to_owned()));
        }
        // The token endpoint needs the client too; a re-fetch replaces the record (documents are not
        // cached across authorizations, which is the safe reading of CIMD's caching rules).
        store.clients.insert(client_id, client.clone());
        return Ok(client);
    }
    server
        .store()
        .clients
        .get(&client_id)
        .filter(|client| !client.redirect_uris.is_empty())
        .cloned()
        .ok_or((OAuthErrorCode::InvalidClient, "unknown client_id".to_owned()))
}

/// The checks of O21 §4.1.1 that end in an error redirect.
fn validate(
    server: &AuthServer,
    form: &Form,
    client: &Client,
    redirect_uri: &str,
    state: Option<String>,
) -> Result<ValidatedRequest, (OAuthErrorCode, String)> {
    let invalid = |description: &str| (OAuthErrorCode::InvalidRequest, description.to_owned());
    let profile = server.profile();
    let response_type = form.get("response_type").map_err(|_| invalid("response_type is repeated"))?;
    match response_type {
        None => return Err(invalid("response_type is required")),
        Some("code") => {}
        // AS-40: no implicit grant (BCP §2.1.2).
        Some(_) => {
            return Err((OAuthErrorCode::UnsupportedResponseType, "only response_type=code is supported".to_owned()));
        }
    }
    let challenge = form.get("code_challenge").map_err(|_| invalid("code_challenge is repeated"))?;
    let method = form.get("code_challenge_method").map_err(|_| invalid("code_challenge_method is repeated"))?;
    let challenge = match challenge {
        None if method.is_some() => return Err(invalid("code_challenge_method without code_challenge")),
        // O21 §4.1.2.1, AS-07: public clients must send a challenge. Confidential clients may omit
        // it, which is what makes the PKCE downgrade check of the token endpoint reachable.
        None if !client.auth_method.is_confidential() => return Err(invalid("code challenge required")),
        None => None,
        Some(challenge) => {
            // O21 §4.1.1: an absent method means plain.
            let method = match method {
                None => CodeChallengeMethod::Plain,
                Some(value) => {
                    CodeChallengeMethod::parse(value).ok_or_else(|| invalid("transform algorithm not supported"))?
                }
            };
            if method == CodeChallengeMethod::Plain && profile != AsProfile::AcceptPlainPkce {
                // MCP-1125: S256 is required; AS-08.
                return Err(invalid("transform algorithm not supported, use S256"));
            }
            let well_formed = match method {
                CodeChallengeMethod::S256 => challenge.len() == 43 && pkce::is_valid_verifier_syntax(challenge),
                CodeChallengeMethod::Plain => pkce::is_valid_verifier_syntax(challenge),
            };
            if !well_formed {
                return Err(invalid("malformed code_challenge"));
            }
            // AS-42 (BCP §2.1.1): a challenge seen before means the client is not using a fresh verifier.
            if server.store().seen_challenges.contains_key(challenge) {
                return Err(invalid("code_challenge was used before; use a fresh verifier per request"));
            }
            Some((challenge.to_owned(), method))
        }
    };
    let resources = if profile == AsProfile::IgnoreResource {
        server.inner.config.resources.clone()
    } else {
        vec![validate_resource(server, form)?]
    };
    let scope = validate_scope(form, client)?;
    let login_hint = form.get("login_hint").ok().flatten().map(str::to_owned);
    Ok(ValidatedRequest {
        client_id: client.client_id.clone(),
        client_name: client.client_name.clone().unwrap_or_else(|| client.client_id.clone()),
        redirect_uri: redirect_uri.to_owned(),
        state,
        scope,
        resources,
        challenge,
        login_hint,
        client_source: client.source,
    })
}

/// AS-16: known lab scopes (and `offline_access`) only, within what the client registered.
fn validate_scope(form: &Form, client: &Client) -> Result<String, (OAuthErrorCode, String)> {
    let invalid_scope = |description: String| (OAuthErrorCode::InvalidScope, description);
    let requested = form
        .get("scope")
        .map_err(|_| (OAuthErrorCode::InvalidRequest, "scope is repeated".to_owned()))?
        .unwrap_or(DEFAULT_SCOPE);
    let tokens = lab_proto::scope::split(requested);
    if tokens.is_empty() {
        return Ok(DEFAULT_SCOPE.to_owned());
    }
    for token in &tokens {
        if !lab_proto::scope::is_known(token) {
            return Err(invalid_scope(format!("unknown scope {token}")));
        }
    }
    // `offline_access` alone asks for a refresh token and no resource scope: the default one.
    let scope = if lab_proto::scope::for_resources(&tokens.join(" ")).is_empty() {
        format!("{DEFAULT_SCOPE} {}", tokens.join(" "))
    } else {
        tokens.join(" ")
    };
    // `offline_access` asks for a refresh token, which the client's registered grant types
    // govern, not its registered scope (SEP-2207).
    if let Some(allowed) = &client.scope
        && !lab_proto::scope::is_subset(&lab_proto::scope::for_resources(&scope), allowed)
    {
        return Err(invalid_scope("scope exceeds what the client registered".to_owned()));
    }
    Ok(scope)
}

/// Issues a code for `username` and builds the success redirect, or an `invalid_scope` error when
/// the user may not hold the scope (a customer never gets `mcp:admin`).
fn approve(server: &AuthServer, request: &ValidatedRequest, username: &str) -> Redirect {
    let state = request.state.as_deref();
    let Some(user) = server.user(username) else {
        return error_redirect(server, &request.redirect_uri, state, OAuthErrorCode::AccessDenied, "unknown user");
    };
    let max = user.role.max_scope();
    if let Some(too_strong) = lab_proto::scope::split(&request.scope)
        .into_iter()
        .find(|token| LabScope::parse(token).is_some_and(|scope| scope > max))
    {
        let description = format!("{too_strong} is not available to this user");
        return error_redirect(server, &request.redirect_uri, state, OAuthErrorCode::InvalidScope, &description);
    }
    let now = server.clock().now();
    let record = CodeRecord {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        challenge: request.challenge.clone(),
        resources: request.resources.clone(),
        scope: request.scope.clone(),
        sub: user.username.clone(),
        auth_time: now,
        expires_at: now + server.inner.config.lifetimes.authorization_code,
        redeemed_grant: None,
    };
    let issued = server.store().issue_code(record, now);
    let code = match issued {
        Ok(code) => code,
        Err(error) => {
            return error_redirect(
                server,
                &request.redirect_uri,
                state,
                OAuthErrorCode::ServerError,
                &error.to_string(),
            );
        }
    };
    tracing::info!(client_id = %request.client_id, user = %user.username, scope = %request.scope, "authorization code issued");
    redirect_to(server, &request.redirect_uri, &[("code", code.secret())], state)
}

fn render_consent(
    server: &AuthServer,
    caller: &Caller,
    request: ValidatedRequest,
    signed_in_as: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (Ok(request_id), Ok(csrf)) = (lab_proto::random_token(24), lab_proto::random_token(24)) else {
        return html_response(StatusCode::INTERNAL_SERVER_ERROR, error_page("server_error", "random source failed"));
    };
    let now = server.clock().now();
    let page_lifetime = server.inner.config.lifetimes.login_page;
    server.store().open_sign_in(
        caller.key(),
        request_id.clone(),
        PendingAuthorization { request: request.clone(), csrf: csrf.clone(), expires_at: now + page_lifetime },
        now,
    );
    let scopes = lab_proto::scope::split(&request.scope);
    let known_users: Vec<&str> = server.inner.config.users.iter().map(|user| user.username.as_str()).collect();
    let action = format!("{}/consent", server.inner.path_prefix);
    let html = consent_page(&ConsentPage {
        action: &action,
        request_id: &request_id,
        csrf: &csrf,
        client_name: &request.client_name,
        client_id: &request.client_id,
        redirect_host: redirect_host(&request.redirect_uri),
        redirect_port: redirect_port(&request.redirect_uri),
        localhost_redirect: is_loopback_redirect(&request.redirect_uri),
        client_origin: match request.client_source {
            ClientSource::PreRegistered => "registered by the lab operator",
            ClientSource::Dynamic => "registered itself moments ago: the name is unverified",
            ClientSource::MetadataDocument => "described by its metadata document at the address above",
        },
        scopes: &scopes,
        resources: &request.resources,
        signed_in_as,
        login_hint: request.login_hint.as_deref(),
        error,
        known_users: &known_users,
    });
    let mut response = html_response(status, html);
    if let Ok(cookie) = HeaderValue::from_str(&cookies::csrf_cookie(&csrf, page_lifetime)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Whether `password` is `username`'s. Both sides are digested first, so the comparison runs in
/// constant time over equal lengths whatever was typed, and an unknown user costs the same as a
/// known one (no timing tells which user names exist).
fn password_matches(server: &AuthServer, username: &str, password: &str) -> bool {
    let user = server.user(username);
    let expected = secret_digest(user.map_or("\0no such user", |user| user.password.secret()));
    secrets_equal(&expected, &secret_digest(password)) && user.is_some()
}

/// `POST /consent`: the login + consent form.
pub(crate) async fn consent(
    State(server): State<AuthServer>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bad =
        |status: StatusCode, code: OAuthErrorCode, description: &str| page_error(&headers, status, code, description);
    let Ok(body) = body else {
        return bad(StatusCode::PAYLOAD_TOO_LARGE, OAuthErrorCode::InvalidRequest, "form is too large");
    };
    let Ok(form) = Form::parse(&body) else {
        return bad(StatusCode::BAD_REQUEST, OAuthErrorCode::InvalidRequest, "form is not UTF-8");
    };
    let (Ok(Some(request_id)), Ok(csrf)) = (form.get("request_id"), form.get("csrf")) else {
        return bad(StatusCode::BAD_REQUEST, OAuthErrorCode::InvalidRequest, "the form is incomplete");
    };
    let now = server.clock().now();
    let pending = {
        let store = server.store();
        store.pending.get(request_id).filter(|pending| pending.expires_at > now).cloned()
    };
    let Some(pending) = pending else {
        return bad(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "this sign-in has expired; start again from the application",
        );
    };
    // AS-19: both the form field and the cookie must carry the token issued with this page, so a
    // cross-site POST (which cannot read either) gets 403 and no code.
    let field_ok = csrf.is_some_and(|csrf| secrets_equal(csrf, &pending.csrf));
    let cookie_ok = cookies::presented_csrf(&headers).is_some_and(|value| secrets_equal(value, &pending.csrf));
    if !field_ok || !cookie_ok {
        return bad(
            StatusCode::FORBIDDEN,
            OAuthErrorCode::AccessDenied,
            "the form was not submitted from the sign-in page",
        );
    }
    // Single use, as for codes (O21 §4.1.3): the sign-in is taken out of the store in one step, so
    // of two concurrent submissions of one page only one goes on; a wrong password or a denial
    // ends it too.
    if server.store().pending.remove(request_id).is_none() {
        return bad(StatusCode::BAD_REQUEST, OAuthErrorCode::InvalidRequest, "this sign-in was already submitted");
    }
    let request = pending.request;
    if form.get("action").ok().flatten() != Some("approve") {
        return error_redirect(
            &server,
            &request.redirect_uri,
            request.state.as_deref(),
            OAuthErrorCode::AccessDenied,
            "the user denied access",
        )
        .into_response(StatusCode::SEE_OTHER);
    }
    let username = match cookies::session_user(&server, &headers) {
        Some(user) => user,
        None => {
            let username = form.get("username").ok().flatten().unwrap_or("");
            let password = form.get("password").ok().flatten().unwrap_or("");
            // O21 §7.7 (passwords must not be guessable at speed): failures are limited per user
            // name and caller address, checked before the password. Not per address alone: on
            // loopback every local program shares one, and fifty failures from anyone would lock
            // out everyone's sign-in.
            let limit = server.inner.config.rate_limits.sign_in_failures;
            let keys = [(format!("user\n{username}\n{}", caller.key()), limit)];
            // Counted as it is checked (concurrent guesses cannot all slip past), taken back if the
            // password is right.
            let throttled = {
                let mut store = server.store();
                keys.iter().find_map(|(key, limit)| store.sign_in_failures.reserve(key, *limit, now).err())
            };
            if let Some(retry_after) = throttled {
                let mut response = render_consent(
                    &server,
                    &caller,
                    request,
                    None,
                    Some("Too many failed sign-ins: wait a minute, then try again."),
                    StatusCode::TOO_MANY_REQUESTS,
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return response;
            }
            if password_matches(&server, username, password) {
                let mut store = server.store();
                for (key, _) in &keys {
                    store.sign_in_failures.release(key, now);
                }
            } else {
                return render_consent(
                    &server,
                    &caller,
                    request,
                    None,
                    Some("Wrong user name or password."),
                    StatusCode::UNAUTHORIZED,
                );
            }
            username.to_owned()
        }
    };
    let redirect = approve(&server, &request, &username);
    // O21 §7.5.4, AS-21: 303 so the browser does not re-POST the password to the client.
    let mut response = redirect.into_response(StatusCode::SEE_OTHER);
    for value in [
        cookies::session_cookie(&server, &username, now),
        consent::remember(&server, &headers, &username, &request),
        cookies::clear_csrf_cookie(),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}
