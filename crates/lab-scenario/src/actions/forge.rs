//! The `forge` step: tokens an attacker could make. Re-signed by the lab AS's own key ("right
//! key, wrong claims"), `alg: none`, HS256 keyed with the public key, attacker keys under an
//! unknown or a borrowed `kid`, embedded and remote keys (`jwk`, `jku`, `x5u`, the latter two on
//! the SSRF canary), a genuine token with its payload edited, and the AS's header over an empty or
//! all-zero signature.

use lab_auth_server::SigningAlg;
use lab_auth_server::keys::SigningKey;
use lab_proto::jose::{b64url_encode, split_compact};
use serde_json::{Value, json};

use crate::error::StepError;
use crate::runner::Run;
use crate::schema::{Forge, ForgeKind};

fn forge_error(error: &dyn std::fmt::Display) -> StepError {
    StepError::Forge(error.to_string())
}

/// How many bytes a signature by `jwk` has: twice the coordinate size for ECDSA (RFC 7518 §3.4),
/// 64 for Ed25519 (RFC 8037 §3.1), the modulus length for RSA (RFC 8017 §8.1.1).
fn signature_length(jwk: &Value) -> Result<usize, StepError> {
    let member = |name: &str| jwk[name].as_str().unwrap_or_default();
    match (member("kty"), member("crv")) {
        ("EC", "P-256") | ("OKP", "Ed25519") => Ok(64),
        ("EC", "P-384") => Ok(96),
        ("EC", "P-521") => Ok(132),
        ("RSA", _) => {
            let modulus = lab_proto::jose::b64url_decode(member("n")).map_err(|error| forge_error(&error))?;
            // The unsigned big-endian modulus may carry a leading zero octet.
            match modulus.iter().skip_while(|byte| **byte == 0).count() {
                0 => Err(StepError::Forge("the AS's RSA key has no modulus".to_owned())),
                length => Ok(length),
            }
        }
        (kty, crv) => Err(StepError::Forge(format!("no signature length known for a `{kty}` key on `{crv}`"))),
    }
}

impl Run {
    pub(super) fn forge(&self, step: &Forge) -> Result<String, StepError> {
        let now = self.lab.clock().now();
        let jwks_server = if self.vars.get("rs_issuer") == Some(self.lab.path_issuer()) {
            self.lab.tenant_server()
        } else {
            self.lab.auth_server()
        };
        let mut claims = json!({
            "iss": self.vars.get("rs_issuer").unwrap_or_default(),
            "sub": "alice",
            "aud": self.resource(),
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": lab_proto::random_token(12).map_err(|_| StepError::Random)?,
            "client_id": "lab-public-client",
            "scope": "mcp:read",
        });
        let kind = step.kind;
        // The token a tampering starts from: its claims are edited, its header and signature kept.
        let tampered = if kind == ForgeKind::Tamper {
            let token = self
                .vars
                .expand(step.token.as_deref().unwrap_or("${access_token}"))
                .map_err(StepError::field("token"))?;
            let parts = split_compact(&token).map_err(|error| forge_error(&error))?;
            claims = lab_proto::jose::decode_json(parts.payload).map_err(|error| forge_error(&error))?;
            Some((parts.header.to_owned(), parts.signature.to_owned()))
        } else {
            None
        };
        if let Value::Object(members) = &mut claims {
            for (name, value) in &step.claims {
                match value {
                    Value::Null => {
                        members.remove(name);
                    }
                    value => {
                        members.insert(name.clone(), self.vars.expand_json(value).map_err(StepError::field("claims"))?);
                    }
                }
            }
        }
        if let Value::Object(members) = &mut claims {
            for (name, offset) in [("exp", step.exp_in), ("nbf", step.nbf_in), ("iat", step.iat_in)] {
                if let Some(offset) = offset {
                    members.insert(name.to_owned(), json!(now.saturating_add_signed(offset)));
                }
            }
        }
        if let Value::Object(members) = &mut claims {
            for name in &step.remove {
                members.remove(name);
            }
        }
        let typ = step.typ.clone().unwrap_or_else(|| "at+jwt".to_owned());
        // The key that signs now: during a rotation the JWKS also lists a retiring key, perhaps of
        // another algorithm, which a borrowed header must not name.
        let as_key = jwks_server.active_jwk().ok_or_else(|| StepError::Forge("the AS has no active key".to_owned()))?;
        let as_key = &as_key;
        let as_kid = as_key["kid"].as_str().unwrap_or_default().to_owned();
        let attacker = || SigningKey::generate(SigningAlg::Es256).map_err(|error| forge_error(&error));
        let encode = |value: &Value| b64url_encode(value.to_string().as_bytes());
        let token = match kind {
            ForgeKind::Resign => {
                let mut header = step.header.clone();
                if step.omit_typ {
                    header.insert("typ".to_owned(), Value::Null);
                }
                jwks_server.mint_jwt_with_header(&typ, &header, &claims).map_err(|error| forge_error(&error))?
            }
            ForgeKind::None => {
                let alg = step.alg.as_deref().unwrap_or("none");
                format!("{}.{}.", encode(&json!({"alg": alg, "typ": typ, "kid": as_kid})), encode(&claims))
            }
            ForgeKind::Stripped | ForgeKind::ZeroSignature => {
                let alg =
                    as_key["alg"].as_str().ok_or_else(|| StepError::Forge("the AS's key names no `alg`".to_owned()))?;
                let input = format!("{}.{}", encode(&json!({"alg": alg, "typ": typ, "kid": as_kid})), encode(&claims));
                let length = if kind == ForgeKind::Stripped { 0 } else { signature_length(as_key)? };
                format!("{input}.{}", b64url_encode(&vec![0; length]))
            }
            ForgeKind::Hs256 => {
                let secret = as_key["x"].as_str().or_else(|| as_key["n"].as_str()).unwrap_or_default();
                let input =
                    format!("{}.{}", encode(&json!({"alg": "HS256", "typ": typ, "kid": as_kid})), encode(&claims));
                let tag = aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
                    input.as_bytes(),
                );
                format!("{input}.{}", b64url_encode(tag.as_ref()))
            }
            ForgeKind::UnknownKid => attacker()?.sign_jwt(&typ, &claims).map_err(|error| forge_error(&error))?,
            ForgeKind::AttackerKey => attacker()?
                .sign_jws(&json!({"alg": "ES256", "typ": typ, "kid": as_kid}), &claims)
                .map_err(|error| forge_error(&error))?,
            ForgeKind::EmbeddedJwk => {
                let key = attacker()?;
                key.sign_jws(&json!({"alg": "ES256", "typ": typ, "kid": key.kid(), "jwk": key.jwk()}), &claims)
                    .map_err(|error| forge_error(&error))?
            }
            ForgeKind::Jku | ForgeKind::X5u => {
                let key = attacker()?;
                let member = if kind == ForgeKind::Jku { "jku" } else { "x5u" };
                let mut header = json!({"alg": "ES256", "typ": typ, "kid": key.kid()});
                header[member] = json!(format!("{}/jwks.json", self.lab.canary().url()));
                key.sign_jws(&header, &claims).map_err(|error| forge_error(&error))?
            }
            ForgeKind::Tamper => {
                let (header, signature) = tampered.unwrap_or_default();
                format!("{header}.{}.{signature}", encode(&claims))
            }
        };
        Ok(token)
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
