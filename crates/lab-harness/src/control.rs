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

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lab_auth_server::AuthServer;
use lab_mcp_server::McpServer;
use lab_proto::Clock;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::canary::AddedDocuments;
use crate::requests::RequestLog;

mod grants;
mod lab_state;
mod tokens;

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
        .route("/tokens", post(tokens::mint))
        .route("/codes", post(grants::code))
        .route("/grants", post(grants::grant))
        .route("/client-documents", post(grants::add_document))
        .route("/clock", get(lab_state::read_clock).post(lab_state::move_clock))
        .route("/profiles", get(lab_state::read_profiles).post(lab_state::switch_profiles))
        .route("/revoke", post(lab_state::revoke))
        .route("/keys/rotate", post(lab_state::rotate))
        .route("/requests", get(lab_state::requests))
        .route("/reset", post(lab_state::reset))
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
