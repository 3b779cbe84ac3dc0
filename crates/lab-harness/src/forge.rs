//! Tokens made on purpose: signed by the lab AS with whatever claims a test asks for, or broken
//! the ways an attacker breaks them. The one place they are built: the scenario runner's `forge`
//! step and the control API's `POST /tokens` both call [`forge`], so a token a scenario file
//! makes and one a third-party test suite asks for are the same bytes.
//!
//! The forms: re-signed by the AS's own key ("right key, wrong claims"), signed by the key the
//! last rotation retired, `alg: none`, HS256 keyed with the public key, attacker keys under an
//! unknown or a borrowed `kid`, embedded and remote keys (`jwk`, `jku`, `x5u`, the latter two on
//! the SSRF canary), a genuine token with its payload replaced, and the AS's header over an empty
//! or all-zero signature.

use std::collections::BTreeMap;

use lab_auth_server::keys::SigningKey;
use lab_auth_server::{AuthServer, SigningAlg};
use lab_proto::jose::{b64url_encode, split_compact};
use serde_json::{Value, json};

/// How a token is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Forgery {
    /// Signed by the AS's active key, with `header`'s members on top of its `alg`, `typ` and
    /// `kid` (a null member drops one).
    Signed { header: BTreeMap<String, Value> },
    /// Signed by the newest key the AS rotated away from while the JWKS still publishes it.
    RetiredKey,
    /// No signature, `alg` spelled as given (`none`, `NONE`, …).
    AlgNone { alg: String },
    /// The AS's header and an empty signature.
    Stripped,
    /// The AS's header and a signature of the right length, all zeros.
    ZeroSignature,
    /// HS256 keyed with the AS's public key (algorithm confusion).
    Hs256,
    /// Signed by a key of the attacker's under its own `kid`, which no JWKS lists.
    UnknownKid,
    /// Signed by a key of the attacker's under the AS's `kid`.
    AttackerKey,
    /// Signed by a key of the attacker's that the header carries (`jwk`).
    EmbeddedJwk,
    /// Signed by a key of the attacker's that the header points at (`jku`) on `canary`.
    Jku { canary: String },
    /// Signed by a key of the attacker's whose certificate the header points at (`x5u`) on
    /// `canary`.
    X5u { canary: String },
    /// `genuine`'s header and signature over other claims: a payload edited after signing.
    Tampered { genuine: String },
}

/// Why a token could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ForgeError(pub String);

impl ForgeError {
    fn of(error: &dyn std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

/// Makes a token of `claims` with `typ` in its header (none when `None`), signed (or not) as
/// `forgery` says, with the keys of `server` (the root issuer or the path issuer).
pub fn forge(server: &AuthServer, typ: Option<&str>, claims: &Value, forgery: &Forgery) -> Result<String, ForgeError> {
    let encode = |value: &Value| b64url_encode(value.to_string().as_bytes());
    // Every header this writes: `alg` and `kid`, then `typ` unless there is none.
    let header = |alg: &str, kid: &str| {
        let mut header = json!({"alg": alg, "kid": kid});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        header
    };
    // The key that signs now: during a rotation the JWKS also lists a retiring key, perhaps of
    // another algorithm, which a borrowed header must not name.
    let as_key = || server.active_jwk().ok_or_else(|| ForgeError("the AS has no active key".to_owned()));
    let kid_of = |jwk: &Value| jwk["kid"].as_str().unwrap_or_default().to_owned();
    let attacker = || SigningKey::generate(SigningAlg::Es256).map_err(|error| ForgeError::of(&error));
    let token = match forgery {
        Forgery::Signed { header: extra } => {
            let mut extra = extra.clone();
            if typ.is_none() {
                extra.insert("typ".to_owned(), Value::Null);
            }
            server
                .mint_jwt_with_header(typ.unwrap_or_default(), &extra, claims)
                .map_err(|error| ForgeError::of(&error))?
        }
        Forgery::RetiredKey => {
            let key = server.retiring_key().ok_or_else(|| {
                ForgeError(
                    "the AS publishes no retired key: rotate its key and move the clock past the publication lead first"
                        .to_owned(),
                )
            })?;
            key.sign_jws(&header(key.alg().name(), key.kid()), claims).map_err(|error| ForgeError::of(&error))?
        }
        Forgery::AlgNone { alg } => {
            format!("{}.{}.", encode(&header(alg, &kid_of(&as_key()?))), encode(claims))
        }
        Forgery::Stripped | Forgery::ZeroSignature => {
            let jwk = as_key()?;
            let alg = jwk["alg"].as_str().ok_or_else(|| ForgeError("the AS's key names no `alg`".to_owned()))?;
            let input = format!("{}.{}", encode(&header(alg, &kid_of(&jwk))), encode(claims));
            let length = if *forgery == Forgery::Stripped { 0 } else { signature_length(&jwk)? };
            format!("{input}.{}", b64url_encode(&vec![0; length]))
        }
        Forgery::Hs256 => {
            let jwk = as_key()?;
            let secret = jwk["x"].as_str().or_else(|| jwk["n"].as_str()).unwrap_or_default();
            let input = format!("{}.{}", encode(&header("HS256", &kid_of(&jwk))), encode(claims));
            let tag = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
                input.as_bytes(),
            );
            format!("{input}.{}", b64url_encode(tag.as_ref()))
        }
        Forgery::UnknownKid => {
            let key = attacker()?;
            key.sign_jws(&header("ES256", key.kid()), claims).map_err(|error| ForgeError::of(&error))?
        }
        Forgery::AttackerKey => {
            let kid = kid_of(&as_key()?);
            attacker()?.sign_jws(&header("ES256", &kid), claims).map_err(|error| ForgeError::of(&error))?
        }
        Forgery::EmbeddedJwk => {
            let key = attacker()?;
            let mut header = header("ES256", key.kid());
            header["jwk"] = key.jwk().clone();
            key.sign_jws(&header, claims).map_err(|error| ForgeError::of(&error))?
        }
        Forgery::Jku { canary } | Forgery::X5u { canary } => {
            let key = attacker()?;
            let member = if matches!(forgery, Forgery::Jku { .. }) { "jku" } else { "x5u" };
            let mut header = header("ES256", key.kid());
            header[member] = json!(format!("{canary}/jwks.json"));
            key.sign_jws(&header, claims).map_err(|error| ForgeError::of(&error))?
        }
        Forgery::Tampered { genuine } => {
            let parts = split_compact(genuine).map_err(|error| ForgeError::of(&error))?;
            format!("{}.{}.{}", parts.header, encode(claims), parts.signature)
        }
    };
    Ok(token)
}

/// How many bytes a signature by `jwk` has: twice the coordinate size for ECDSA (RFC 7518 §3.4),
/// 64 for Ed25519 (RFC 8037 §3.1), the modulus length for RSA (RFC 8017 §8.1.1).
fn signature_length(jwk: &Value) -> Result<usize, ForgeError> {
    let member = |name: &str| jwk[name].as_str().unwrap_or_default();
    match (member("kty"), member("crv")) {
        ("EC", "P-256") | ("OKP", "Ed25519") => Ok(64),
        ("EC", "P-384") => Ok(96),
        ("EC", "P-521") => Ok(132),
        ("RSA", _) => {
            let modulus = lab_proto::jose::b64url_decode(member("n")).map_err(|error| ForgeError::of(&error))?;
            // The unsigned big-endian modulus may carry a leading zero octet.
            match modulus.iter().skip_while(|byte| **byte == 0).count() {
                0 => Err(ForgeError("the AS's RSA key has no modulus".to_owned())),
                length => Ok(length),
            }
        }
        (kty, crv) => Err(ForgeError(format!("no signature length known for a `{kty}` key on `{crv}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::signature_length;
    use serde_json::json;

    #[test]
    fn a_zero_signature_is_as_long_as_the_key_makes_one() {
        assert_eq!(signature_length(&json!({"kty": "EC", "crv": "P-256"})).unwrap(), 64);
        assert_eq!(signature_length(&json!({"kty": "OKP", "crv": "Ed25519"})).unwrap(), 64);
        // A 2048-bit modulus written with a leading zero octet is still 256 bytes long.
        let mut modulus = vec![0u8];
        modulus.extend([0xc3; 256]);
        let n = lab_proto::jose::b64url_encode(&modulus);
        assert_eq!(signature_length(&json!({"kty": "RSA", "n": n})).unwrap(), 256);
        let n = lab_proto::jose::b64url_encode(&[0xc3; 384]);
        assert_eq!(signature_length(&json!({"kty": "RSA", "n": n})).unwrap(), 384);
        assert_eq!(signature_length(&json!({"kty": "EC", "crv": "P-384"})).unwrap(), 96);
        assert_eq!(signature_length(&json!({"kty": "EC", "crv": "P-521"})).unwrap(), 132);
        assert!(signature_length(&json!({"kty": "RSA", "n": ""})).is_err(), "no modulus, no length");
        assert!(signature_length(&json!({"kty": "oct"})).is_err());
    }
}
