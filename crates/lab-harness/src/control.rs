//! The control API (`mcp-authlab up --control`): what the lab's own tests do through Rust calls,
//! offered over HTTPS to anyone's test suite. A test asks for exactly the token it needs (expired,
//! for another audience, with another `typ`, broken on purpose), moves the shared clock, switches
//! profiles, revokes, rotates the signing key, reads the request log and resets the lab.
//!
//! Every endpoint calls the path the lab already has: tokens come from [`crate::forge`] (which the
//! scenario runner's `forge` step calls too), the clock is the lab's one [`Clock`], revocation is
//! the AS's own [`AuthServer::revoke_token`] (which its RFC 7009 endpoint calls), profiles are
//! switched with the servers' `set_profile`.
//!
//! It exists only when asked for (`LabConfig::control`) and answers only requests that carry the
//! secret made at start (`Authorization: Bearer …`), compared in constant time; a missing or
//! wrong secret is a 401 before any routing. Bodies are JSON, at most [`MAX_CONTROL_BODY`] bytes,
//! and a field the endpoint does not know is an error, never ignored.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lab_auth_server::{AsProfile, AuthServer, KEY_PUBLISH_LEAD_SECONDS, SigningAlg};
use lab_mcp_server::{McpServer, RsProfile};
use lab_proto::Clock;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::canary::{ADDED_DOCUMENTS_PATH, AddedDocuments};
use crate::forge::{Forgery, forge};
use crate::requests::RequestLog;

/// The file in the certificate folder that holds the control secret (owner-only permissions).
pub const CONTROL_TOKEN_FILE: &str = "control-token";

/// The largest request body the control API reads.
pub const MAX_CONTROL_BODY: usize = 16 * 1024;

/// How far one request may move the clock, either way: ten years, enough for any expiry.
const MAX_CLOCK_MOVE: u64 = 10 * 365 * 24 * 3600;

/// The secret that opens the control API. `Debug` never prints it.
#[derive(Clone)]
pub struct ControlSecret(Arc<str>);

impl ControlSecret {
    /// A fresh secret from the system's CSPRNG (32 random bytes, base64url).
    pub fn generate() -> Result<Self, aws_lc_rs::error::Unspecified> {
        Ok(Self(lab_proto::random_token(32)?.into()))
    }

    /// A given secret (tests).
    pub fn new(secret: &str) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that prints it and the file that keeps it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the secret, in time that does not depend on where they differ.
    fn matches(&self, candidate: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), candidate.as_bytes()).is_ok()
    }
}

impl std::fmt::Debug for ControlSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlSecret([redacted])")
    }
}

/// What the control API acts on: handles to the running lab's parts (each a cheap clone that
/// shares its state).
#[derive(Clone)]
pub(crate) struct ControlPlane {
    pub(crate) auth_server: AuthServer,
    pub(crate) tenant_server: AuthServer,
    pub(crate) rs: McpServer,
    pub(crate) twin_rs: McpServer,
    pub(crate) clock: Clock,
    pub(crate) requests: RequestLog,
    pub(crate) upstream_url: String,
    pub(crate) canary_url: String,
    /// The metadata-document host's origin, and the documents tests added there.
    pub(crate) documents_origin: String,
    pub(crate) added_documents: AddedDocuments,
}

impl ControlPlane {
    fn server(&self, signer: Signer) -> &AuthServer {
        match signer {
            Signer::Root => &self.auth_server,
            Signer::Tenant => &self.tenant_server,
        }
    }
}

/// The control API's router, behind the secret.
pub(crate) fn router(plane: ControlPlane, secret: ControlSecret) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/tokens", post(mint))
        .route("/clock", get(read_clock).post(move_clock))
        .route("/profiles", get(read_profiles).post(switch_profiles))
        .route("/codes", post(code))
        .route("/grants", post(grant))
        .route("/client-documents", post(add_document))
        .route("/revoke", post(revoke))
        .route("/keys/rotate", post(rotate))
        .route("/requests", get(requests))
        .route("/reset", post(reset))
        .fallback(|| async { ControlError::new(StatusCode::NOT_FOUND, "not_found", "no such control endpoint") })
        .with_state(plane)
        // Outermost, so an unknown path or a wrong method learns nothing without the secret.
        .layer(axum::middleware::from_fn_with_state(secret, authenticate))
}

/// Refuses every request without the secret: 401 and a `Bearer` challenge (RFC 6750 §3).
async fn authenticate(State(secret): State<ControlSecret>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")));
    match presented {
        Some(candidate) if secret.matches(candidate.trim()) => next.run(request).await,
        Some(_) => unauthorized("the control secret is wrong (see certs/control-token)"),
        None => unauthorized("the control API needs `Authorization: Bearer <secret>` (see certs/control-token)"),
    }
}

fn unauthorized(description: &str) -> Response {
    let mut response = ControlError::new(StatusCode::UNAUTHORIZED, "invalid_token", description).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"mcp-authlab-control\""));
    response
}

/// An error answer: `{"error": code, "error_description": text}`, the shape of RFC 6749 §5.2.
#[derive(Debug)]
struct ControlError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl ControlError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into() }
    }

    fn invalid(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        answer(self.status, &json!({"error": self.code, "error_description": self.description}))
    }
}

/// A JSON answer that no cache keeps (it may carry a token).
fn answer(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn ok(body: &Value) -> Response {
    answer(StatusCode::OK, body)
}

/// A JSON request body: `application/json`, at most [`MAX_CONTROL_BODY`] bytes, every field known.
/// An empty body is `{}`, for the endpoints whose fields are all optional.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ControlError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let typed =
            request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(|value| {
                value.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
            });
        let bytes = axum::body::to_bytes(request.into_body(), MAX_CONTROL_BODY).await.map_err(|_| {
            ControlError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the body is over {MAX_CONTROL_BODY} bytes"),
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_str("{}").map(JsonBody).map_err(|error| ControlError::invalid(error.to_string()));
        }
        if typed != Some(true) {
            return Err(ControlError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be JSON, sent as `content-type: application/json`",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ControlError::invalid(format!("the JSON body does not fit this endpoint: {error}")))
    }
}

/// `GET /`: the lab this API controls, and its endpoints.
async fn index(State(plane): State<ControlPlane>) -> Response {
    ok(&json!({
        "issuer": plane.auth_server.issuer(),
        "path_issuer": plane.tenant_server.issuer(),
        "resource": plane.rs.config().resource,
        "twin_resource": plane.twin_rs.config().resource,
        "upstream": plane.upstream_url,
        "endpoints": ["POST /tokens", "POST /codes", "POST /grants", "POST /client-documents", "GET /clock", "POST /clock", "GET /profiles", "POST /profiles",
                      "POST /revoke", "POST /keys/rotate", "GET /requests", "POST /reset"],
    }))
}

/// Which issuer signs (and, unless `iss` says otherwise, names itself in the token).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Signer {
    #[default]
    Root,
    Tenant,
}

/// Which key signs a `signed` token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum KeyChoice {
    /// The key the AS signs with now.
    #[default]
    Current,
    /// The key the last rotation retired, while the JWKS still publishes it.
    Retired,
    /// A key of nobody's under a `kid` no JWKS lists.
    UnknownKid,
    /// A key of nobody's under the AS's own `kid`.
    BorrowedKid,
}

/// The deliberately broken forms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Form {
    /// A well-formed, signed token.
    #[default]
    Signed,
    /// Signed, then its payload replaced by the claims with `tamper`'s edits.
    Tampered,
    /// The AS's header and no signature.
    Stripped,
    /// The AS's header and an all-zero signature of the right length.
    ZeroSignature,
    /// `alg: none` (spelled as `alg` says) and no signature.
    AlgNone,
    /// HS256 keyed with the AS's public key.
    Hs256,
    /// Signed by a key the header carries (`jwk`).
    EmbeddedJwk,
    /// Signed by a key the header points at (`jku`, on the lab's SSRF canary).
    Jku,
    /// Signed by a key whose certificate the header points at (`x5u`, on the lab's SSRF canary).
    X5u,
}

/// `POST /tokens`: what a test asks of its access token. Every field is optional; the default is
/// the token the lab AS would issue to `lab-public-client` for alice, `mcp:read`, at the lab RS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    #[serde(default)]
    signer: Signer,
    sub: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    /// Any JSON value: a URL, an array of them, or something wrong on purpose.
    aud: Option<Value>,
    iss: Option<String>,
    /// Unix seconds, or a string `"+N"` / `"-N"`: seconds from the lab clock's now.
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    /// The JOSE `typ` (default `at+jwt`, RFC 9068 §2.1); `null` leaves it out.
    #[serde(default = "default_typ", deserialize_with = "nullable")]
    typ: Option<String>,
    /// Claims set on top (`null` removes one).
    #[serde(default)]
    claims: BTreeMap<String, Value>,
    /// JOSE header members set on top of a signed token's (`null` removes one).
    #[serde(default)]
    header: BTreeMap<String, Value>,
    #[serde(default)]
    key: KeyChoice,
    #[serde(default)]
    form: Form,
    /// For `alg-none`: how `alg` is spelled (default `none`).
    alg: Option<String>,
    /// For `tampered`: the claims edited after signing (default: `scope` widened to
    /// `mcp:admin`).
    tamper: Option<BTreeMap<String, Value>>,
}

fn default_typ() -> Option<String> {
    Some("at+jwt".to_owned())
}

/// Reads a field whose `null` means "leave it out" rather than "default".
fn nullable<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer)
}

/// A time claim: absolute Unix seconds, or `"+N"` / `"-N"` seconds from `now`.
fn time_claim(name: &str, value: &Value, now: u64) -> Result<Value, ControlError> {
    let expected = || {
        ControlError::invalid(format!(
            "`{name}` must be Unix seconds (a number) or seconds from now as a string (\"+300\", \"-60\")"
        ))
    };
    match value {
        Value::Number(number) if number.as_u64().is_some() => Ok(value.clone()),
        Value::String(text) if text.starts_with(['+', '-']) => {
            let offset: i64 = text.parse().map_err(|_| expected())?;
            if offset.unsigned_abs() > MAX_CLOCK_MOVE {
                return Err(ControlError::invalid(format!("`{name}` is more than ten years away")));
            }
            Ok(json!(now.saturating_add_signed(offset)))
        }
        _ => Err(expected()),
    }
}

async fn mint(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<MintRequest>) -> Response {
    match mint_token(&plane, request) {
        Ok(body) => ok(&body),
        Err(error) => error.into_response(),
    }
}

fn mint_token(plane: &ControlPlane, request: MintRequest) -> Result<Value, ControlError> {
    let server = plane.server(request.signer);
    let now = plane.clock.now();
    let lifetime = server.config().lifetimes.access_token;
    let mut claims = json!({
        "iss": request.iss.as_deref().unwrap_or(server.issuer()),
        "sub": request.sub.as_deref().unwrap_or("alice"),
        "aud": request.aud.clone().unwrap_or_else(|| json!(plane.rs.config().resource)),
        "client_id": request.client_id.as_deref().unwrap_or("lab-public-client"),
        "scope": request.scope.as_deref().unwrap_or("mcp:read"),
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(lifetime),
        "jti": lab_proto::random_token(12)
            .map_err(|_| ControlError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "no randomness"))?,
    });
    for (name, value) in [("exp", &request.exp), ("nbf", &request.nbf), ("iat", &request.iat)] {
        if let Some(value) = value {
            claims[name] = time_claim(name, value, now)?;
        }
    }
    lab_proto::jose::edit_members(&mut claims, &request.claims);
    if request.key != KeyChoice::Current && request.form != Form::Signed {
        return Err(ControlError::invalid("`key` chooses the key of a `signed` token; leave it out for other forms"));
    }
    if request.alg.is_some() && request.form != Form::AlgNone {
        return Err(ControlError::invalid("`alg` is the spelling of `none` for `form: alg-none` only"));
    }
    if request.tamper.is_some() && request.form != Form::Tampered {
        return Err(ControlError::invalid("`tamper` edits a `tampered` token only"));
    }
    if !request.header.is_empty() && (request.form != Form::Signed || request.key != KeyChoice::Current) {
        return Err(ControlError::invalid("`header` adds to the header of a `signed` token with the current key only"));
    }
    let typ = request.typ.as_deref();
    let header = request.header.clone();
    let canary = || plane.canary_url.clone();
    let mut payload = claims.clone();
    let forgery = match request.form {
        Form::Signed => match request.key {
            KeyChoice::Current => Forgery::Signed { header },
            KeyChoice::Retired => Forgery::RetiredKey,
            KeyChoice::UnknownKid => Forgery::UnknownKid,
            KeyChoice::BorrowedKid => Forgery::AttackerKey,
        },
        Form::Tampered => {
            let genuine = forge(server, typ, &claims, &Forgery::Signed { header })
                .map_err(|error| ControlError::invalid(error.to_string()))?;
            let edits = request
                .tamper
                .clone()
                .unwrap_or_else(|| BTreeMap::from([("scope".to_owned(), json!("mcp:read mcp:write mcp:admin"))]));
            lab_proto::jose::edit_members(&mut payload, &edits);
            Forgery::Tampered { genuine }
        }
        Form::Stripped => Forgery::Stripped,
        Form::ZeroSignature => Forgery::ZeroSignature,
        Form::AlgNone => Forgery::AlgNone { alg: request.alg.clone().unwrap_or_else(|| "none".to_owned()) },
        Form::Hs256 => Forgery::Hs256,
        Form::EmbeddedJwk => Forgery::EmbeddedJwk,
        Form::Jku => Forgery::Jku { canary: canary() },
        Form::X5u => Forgery::X5u { canary: canary() },
    };
    // A token without `typ` is asked for with `"typ": null`: no form writes one then.
    let token = forge(server, typ, &payload, &forgery)
        .map_err(|error| ControlError::new(StatusCode::CONFLICT, "invalid_request", error.to_string()))?;
    let header = lab_proto::jose::split_compact(&token)
        .ok()
        .and_then(|parts| lab_proto::jose::decode_json::<Value>(parts.header).ok())
        .unwrap_or(Value::Null);
    Ok(json!({"access_token": token, "token_type": "Bearer", "header": header, "claims": payload}))
}

/// The redirect URI of `POST /codes` and `POST /grants` unless one is named: a loopback one,
/// which the lab's pre-registered clients accept on any port (O21 §8.4.2).
const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

/// `POST /codes` and `POST /grants`: an authorization request, approved by `user` at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationRequest {
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
async fn code(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<AuthorizationRequest>) -> Response {
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
async fn grant(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<AuthorizationRequest>) -> Response {
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
struct AddedDocument {
    name: String,
    document: serde_json::Map<String, Value>,
}

/// Serves a client ID metadata document on the lab's metadata-document host, the one host the
/// AS fetches documents from, at `/documents/{name}`; its URL is the client's `client_id`. A
/// document without `client_id` gets that URL; one with another keeps it (a mismatch to test).
async fn add_document(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<AddedDocument>) -> Response {
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

fn clock_state(clock: &Clock) -> Value {
    json!({"now": clock.now(), "offset": clock.offset()})
}

async fn read_clock(State(plane): State<ControlPlane>) -> Response {
    ok(&clock_state(&plane.clock))
}

/// `POST /clock`: `{"advance": seconds}` (negative moves it back) or `{"set": unix_seconds}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockMove {
    advance: Option<i64>,
    set: Option<u64>,
}

async fn move_clock(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<ClockMove>) -> Response {
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

async fn read_profiles(State(plane): State<ControlPlane>) -> Response {
    ok(&profiles_state(&plane))
}

/// `POST /profiles`: any of the four servers, by profile name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSwitch {
    #[serde(rename = "as")]
    auth: Option<String>,
    tenant: Option<String>,
    rs: Option<String>,
    twin: Option<String>,
}

async fn switch_profiles(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<ProfileSwitch>) -> Response {
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
struct Revocation {
    token: String,
}

async fn revoke(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<Revocation>) -> Response {
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
struct Rotation {
    alg: Option<String>,
    #[serde(default)]
    signer: Signer,
}

async fn rotate(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<Rotation>) -> Response {
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

async fn requests(State(plane): State<ControlPlane>) -> Response {
    ok(&json!({"requests": plane.requests.records()}))
}

async fn reset(State(plane): State<ControlPlane>) -> Response {
    reset_lab(&plane);
    ok(&json!({"reset": true, "clock": clock_state(&plane.clock), "profiles": profiles_state(&plane)}))
}

/// Puts the lab back as it started, keeping its keys and its CA: the clock unmoved, the
/// configured profiles, no client but the pre-registered ones, no live credential (every access
/// token still live is revoked at the resource servers), the seeded shop, an empty request log.
pub(crate) fn reset_lab(plane: &ControlPlane) {
    plane.clock.reset();
    plane.auth_server.reset();
    plane.tenant_server.reset();
    plane.rs.reset();
    plane.twin_rs.reset();
    plane.requests.clear();
    plane.added_documents.clear();
}

/// Writes the secret to `path`, readable and writable by its owner only.
pub(crate) fn write_secret(path: &std::path::Path, secret: &ControlSecret) -> std::io::Result<()> {
    use std::io::Write as _;
    // Removed and created anew (`create_new` is `O_EXCL`, which follows no symbolic link), so a
    // link planted at the path cannot send the secret elsewhere, and the new file's mode is ours.
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.expose().as_bytes())?;
    file.write_all(b"\n")
}
