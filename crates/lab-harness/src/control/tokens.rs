//! `POST /tokens`: an access token made to a test's order, through [`crate::forge`].

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, ControlPlane, JsonBody, MAX_CLOCK_MOVE, Signer, ok};
use crate::forge::{Forgery, forge};

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
pub(super) struct MintRequest {
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

pub(super) async fn mint(State(plane): State<ControlPlane>, JsonBody(request): JsonBody<MintRequest>) -> Response {
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
