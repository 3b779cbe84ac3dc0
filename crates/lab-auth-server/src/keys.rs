//! Signing keys, the JWKS, and key rotation.
//!
//! Keys are generated with aws-lc-rs, the lab's one crypto provider, and JWTs are assembled here
//! rather than through a JWT library, so every header byte is under the lab's control.
//!
//! Rotation follows the usual safe order: a new key is published in the JWKS before it signs
//! anything (so verifiers with a cached JWKS already know it), and a retired key stays published
//! until every token it signed has expired (plus the leeway).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use lab_proto::jose::{b64url_encode, split_compact};
use serde_json::{Value, json};

/// The JWS algorithms the lab AS signs with (RFC 9068 §2.1: RS256 must be supported; ES256 is the
/// lab default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigningAlg {
    #[default]
    Es256,
    Rs256,
    Ps256,
    EdDsa,
}

impl SigningAlg {
    /// Every algorithm.
    pub const ALL: [SigningAlg; 4] = [Self::Es256, Self::Rs256, Self::Ps256, Self::EdDsa];

    /// The JWS `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown algorithm name; the message lists the known ones.
pub type UnknownAlg = lab_proto::named::UnknownName;

impl FromStr for SigningAlg {
    type Err = UnknownAlg;

    /// Any ASCII case is accepted (`es256`), as it always was on the command line.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let choices = Self::ALL.map(|alg| (alg.name(), alg));
        lab_proto::named::parse_named_ignore_ascii_case(name, choices, "signing algorithm")
    }
}

/// Key generation or signing failed inside aws-lc-rs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failed to {0} with aws-lc-rs")]
pub struct KeyError(&'static str);

impl KeyError {
    /// The ring has no active key (it always has one; kept for completeness).
    pub const NO_ACTIVE_KEY: KeyError = KeyError("find an active signing key");
}

enum KeyMaterial {
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ed(Ed25519KeyPair),
}

/// One signing key with its public JWK.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    material: KeyMaterial,
    jwk: Value,
    public_key: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key (RSA keys are 2048-bit).
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyError> {
        let kid = format!(
            "{}-{}",
            alg.name().to_ascii_lowercase(),
            lab_proto::random_token(9).map_err(|_| KeyError("generate a key id"))?
        );
        let (material, jwk, public_key) = match alg {
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| KeyError("generate a P-256 key"))?;
                // An uncompressed SEC1 point: 0x04 || x || y.
                let point = pair.public_key().as_ref().to_vec();
                if point.len() != 65 {
                    return Err(KeyError("encode a P-256 public key"));
                }
                let jwk =
                    json!({"kty":"EC","crv":"P-256","x":b64url_encode(&point[1..33]),"y":b64url_encode(&point[33..])});
                (KeyMaterial::Ec(pair), jwk, point)
            }
            SigningAlg::Rs256 | SigningAlg::Ps256 => {
                let pair =
                    aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError("generate an RSA key"))?;
                let public = pair.public_key();
                let jwk = json!({
                    "kty":"RSA",
                    "n":b64url_encode(public.modulus().big_endian_without_leading_zero()),
                    "e":b64url_encode(public.exponent().big_endian_without_leading_zero()),
                });
                let der = public.as_ref().to_vec();
                (KeyMaterial::Rsa(pair), jwk, der)
            }
            SigningAlg::EdDsa => {
                let pair = Ed25519KeyPair::generate().map_err(|_| KeyError("generate an Ed25519 key"))?;
                let public = pair.public_key().as_ref().to_vec();
                let jwk = json!({"kty":"OKP","crv":"Ed25519","x":b64url_encode(&public)});
                (KeyMaterial::Ed(pair), jwk, public)
            }
        };
        let mut jwk = jwk;
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(kid.clone()));
            members.insert("alg".into(), Value::String(alg.name().into()));
            members.insert("use".into(), Value::String("sig".into()));
        }
        Ok(Self { kid, alg, material, jwk, public_key })
    }

    /// An ES256 key from its PKCS#8 DER, with a `kid` derived from the public key, so the same key
    /// file always yields the same `kid` (a third-party server caching the JWKS keeps working
    /// across restarts of the lab).
    pub fn es256_from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| KeyError("read a P-256 key"))?;
        let point = pair.public_key().as_ref().to_vec();
        if point.len() != 65 {
            return Err(KeyError("encode a P-256 public key"));
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &point);
        let kid = format!("es256-{}", &b64url_encode(digest.as_ref())[..12]);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "x": b64url_encode(&point[1..33]), "y": b64url_encode(&point[33..]),
            "kid": kid, "alg": "ES256", "use": "sig",
        });
        Ok(Self { kid, alg: SigningAlg::Es256, material: KeyMaterial::Ec(pair), jwk, public_key: point })
    }

    /// A fresh ES256 key as PKCS#8 DER, for storing.
    pub fn generate_es256_pkcs8() -> Result<Vec<u8>, KeyError> {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| KeyError("generate a P-256 key"))?;
        let document = pair.to_pkcs8v1().map_err(|_| KeyError("encode a P-256 key"))?;
        Ok(document.as_ref().to_vec())
    }

    /// The key id published in the JWKS and the JWT header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match (&self.material, self.alg) {
            (KeyMaterial::Ec(pair), _) => {
                Ok(pair.sign(&rng, input).map_err(|_| KeyError("sign with ES256"))?.as_ref().to_vec())
            }
            (KeyMaterial::Rsa(pair), alg) => {
                let padding: &'static dyn signature::RsaEncoding =
                    if alg == SigningAlg::Ps256 { &signature::RSA_PSS_SHA256 } else { &signature::RSA_PKCS1_SHA256 };
                let mut out = vec![0_u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, input, &mut out).map_err(|_| KeyError("sign with RSA"))?;
                Ok(out)
            }
            (KeyMaterial::Ed(pair), _) => Ok(pair.sign(input).as_ref().to_vec()),
        }
    }

    fn verify(&self, input: &[u8], signature_bytes: &[u8]) -> bool {
        let algorithm: &'static dyn signature::VerificationAlgorithm = match self.alg {
            SigningAlg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            SigningAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            SigningAlg::EdDsa => &signature::ED25519,
        };
        signature::UnparsedPublicKey::new(algorithm, &self.public_key).verify(input, signature_bytes).is_ok()
    }

    /// Signs a compact JWS with exactly the given header (forgeries of the scenario runner put
    /// `jwk`, `jku` or a borrowed `kid` there); the signature is this key's whatever `alg` says.
    pub fn sign_jws(&self, header: &Value, claims: &Value) -> Result<String, KeyError> {
        let signing_input = format!(
            "{}.{}",
            b64url_encode(header.to_string().as_bytes()),
            b64url_encode(claims.to_string().as_bytes())
        );
        let signature_bytes = self.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64url_encode(&signature_bytes)))
    }

    /// Signs a compact JWS with header `{"alg","typ","kid"}` over `claims`.
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> Result<String, KeyError> {
        self.sign_jws(&json!({"alg": self.alg.name(), "typ": typ, "kid": self.kid}), claims)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    /// In the JWKS, not yet signing.
    Published { activate_at: u64 },
    /// Signing new tokens.
    Active,
    /// No longer signing; published until its last token has expired.
    Retiring { remove_at: u64 },
}

#[derive(Debug)]
struct KeyEntry {
    key: Arc<SigningKey>,
    state: KeyState,
}

/// The AS's keys over time.
#[derive(Debug)]
pub struct KeyRing {
    entries: Vec<KeyEntry>,
    /// How long a new key is published before it signs.
    publish_lead: u64,
    /// How long a retired key stays published: the access-token lifetime plus the leeway.
    retire_after: u64,
}

impl KeyRing {
    /// A ring with one active key.
    pub fn new(alg: SigningAlg, publish_lead: u64, retire_after: u64) -> Result<Self, KeyError> {
        let key = Arc::new(SigningKey::generate(alg)?);
        Ok(Self { entries: vec![KeyEntry { key, state: KeyState::Active }], publish_lead, retire_after })
    }

    /// A ring whose active key is `key`.
    pub fn with_key(key: SigningKey, publish_lead: u64, retire_after: u64) -> Self {
        Self { entries: vec![KeyEntry { key: Arc::new(key), state: KeyState::Active }], publish_lead, retire_after }
    }

    /// Applies the passage of time: promotes due keys, drops expired retired ones.
    pub fn tick(&mut self, now: u64) {
        let due = self
            .entries
            .iter()
            .position(|entry| matches!(entry.state, KeyState::Published { activate_at } if activate_at <= now));
        if let Some(due) = due {
            for entry in &mut self.entries {
                if entry.state == KeyState::Active {
                    entry.state = KeyState::Retiring { remove_at: now + self.retire_after };
                }
            }
            self.entries[due].state = KeyState::Active;
        }
        self.entries.retain(|entry| !matches!(entry.state, KeyState::Retiring { remove_at } if remove_at <= now));
    }

    /// Starts a rotation: the new key is published now and signs from `now + publish_lead`.
    /// Returns its `kid`.
    pub fn rotate(&mut self, alg: SigningAlg, now: u64) -> Result<String, KeyError> {
        let key = Arc::new(SigningKey::generate(alg)?);
        let kid = key.kid().to_owned();
        self.entries.push(KeyEntry { key, state: KeyState::Published { activate_at: now + self.publish_lead } });
        Ok(kid)
    }

    /// A ring with no key at all, which signs nothing: a placeholder while a store is rebuilt
    /// around the keys it keeps.
    pub(crate) fn empty() -> Self {
        Self { entries: Vec::new(), publish_lead: 0, retire_after: 0 }
    }

    /// Whether a published key waits to sign.
    pub fn pending(&self) -> bool {
        self.entries.iter().any(|entry| matches!(entry.state, KeyState::Published { .. }))
    }

    /// The newest key that stopped signing and is still published.
    pub fn retiring(&self) -> Option<Arc<SigningKey>> {
        self.entries
            .iter()
            .rev()
            .find(|entry| matches!(entry.state, KeyState::Retiring { .. }))
            .map(|entry| entry.key.clone())
    }

    /// The key that signs now.
    pub fn active(&self) -> Option<Arc<SigningKey>> {
        self.entries.iter().find(|entry| entry.state == KeyState::Active).map(|entry| entry.key.clone())
    }

    /// The published JWKS (RFC 7517 §5).
    pub fn jwks(&self) -> Value {
        json!({"keys": self.entries.iter().map(|entry| entry.key.jwk().clone()).collect::<Vec<_>>()})
    }

    /// Verifies a JWS that this AS signed with a key it still publishes, with the algorithm bound
    /// to that key. Used by introspection, which must not trust anything else.
    pub fn verify_own(&self, token: &str) -> bool {
        let Ok(parts) = split_compact(token) else { return false };
        let Ok(header) = lab_proto::jose::decode_json::<lab_proto::jose::JoseHeader>(parts.header) else {
            return false;
        };
        let Some(kid) = header.kid else { return false };
        let Some(entry) = self.entries.iter().find(|entry| entry.key.kid() == kid) else { return false };
        if header.alg != entry.key.alg().name() {
            return false;
        }
        let Ok(signature_bytes) = lab_proto::jose::b64url_decode(parts.signature) else { return false };
        entry.key.verify(parts.signing_input.as_bytes(), &signature_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in SigningAlg::ALL {
            let ring = KeyRing::new(alg, 60, 330).unwrap();
            let key = ring.active().unwrap();
            let token = key.sign_jwt("at+jwt", &json!({"sub":"alice"})).unwrap();
            assert!(ring.verify_own(&token), "{alg}");
            let mut tampered = token.clone();
            tampered.insert(token.find('.').unwrap() + 2, 'A');
            assert!(!ring.verify_own(&tampered), "{alg} accepted a tampered token");
            let jwks = ring.jwks();
            assert_eq!(jwks["keys"][0]["alg"], alg.name());
            assert_eq!(jwks["keys"][0]["kid"], key.kid());
        }
    }

    #[test]
    fn rotation_publishes_before_signing_and_retires_after_expiry() {
        let mut ring = KeyRing::new(SigningAlg::Es256, 60, 330).unwrap();
        let old = ring.active().unwrap().kid().to_owned();
        let new = ring.rotate(SigningAlg::Es256, 1_000).unwrap();
        ring.tick(1_000);
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2, "new key published at once");
        assert_eq!(ring.active().unwrap().kid(), old, "but it does not sign yet");
        ring.tick(1_060);
        assert_eq!(ring.active().unwrap().kid(), new);
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2, "old key kept for its tokens");
        ring.tick(1_060 + 329);
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2);
        ring.tick(1_060 + 330);
        let keys = ring.jwks();
        assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
        assert_eq!(keys["keys"][0]["kid"], new.as_str());
    }

    #[test]
    fn a_stored_key_keeps_its_kid() {
        let pkcs8 = SigningKey::generate_es256_pkcs8().unwrap();
        let first = SigningKey::es256_from_pkcs8(&pkcs8).unwrap();
        let second = SigningKey::es256_from_pkcs8(&pkcs8).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwk(), second.jwk());
        let ring = KeyRing::with_key(second, 60, 330);
        assert!(ring.verify_own(&first.sign_jwt("at+jwt", &json!({"a": 1})).unwrap()));
        assert!(SigningKey::es256_from_pkcs8(b"not a key").is_err());
    }

    #[test]
    fn algorithm_names() {
        assert_eq!("es256".parse::<SigningAlg>().unwrap(), SigningAlg::Es256);
        assert_eq!("EdDSA".parse::<SigningAlg>().unwrap(), SigningAlg::EdDsa);
        assert!("HS256".parse::<SigningAlg>().unwrap_err().to_string().contains("HS256"));
    }
}
