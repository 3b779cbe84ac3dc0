//! The non-crypto work of a verification, piece by piece, with the public `lab-proto` functions the
//! RS calls, next to borrowed-decoding prototypes of the same pieces.
//!
//! The prototypes exist only to measure what a change to `lab_proto::jose` / `lab_mcp_server::verify`
//! would save before anyone makes it (see `docs/PERFORMANCE.md`); they verify nothing and are not
//! used by any verification path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lab_mcp_server::Principal;
use lab_mcp_server::verify::MAX_TOKEN_BYTES;
use lab_proto::Clock;
use lab_proto::jose::{JoseHeader, b64url_decode, decode_json, split_compact};
use lab_proto::token::AccessTokenClaims;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// `split_compact`: finding the two dots.
pub fn split(token: &str) -> bool {
    split_compact(token).is_ok()
}

/// The RS's header decode today: base64url into a `Vec`, then serde into `JoseHeader` (owned
/// `String`s, and `jwk` as an `Option<serde_json::Value>`).
pub fn header_owned(token: &str) -> Option<JoseHeader> {
    decode_json(split_compact(token).ok()?.header).ok()
}

/// The RS's signature decode today: base64url into a `Vec`.
pub fn signature(token: &str) -> Option<Vec<u8>> {
    b64url_decode(split_compact(token).ok()?.signature).ok()
}

/// The RS's claims decode today: base64url into a `Vec`, then serde into `AccessTokenClaims`
/// (six owned `String`s; `aud` through `#[serde(untagged)]`, which buffers the value first).
pub fn claims_owned(token: &str) -> Option<AccessTokenClaims> {
    decode_json(split_compact(token).ok()?.payload).ok()
}

/// A header that borrows from the decoded bytes. The dangerous members are only checked for
/// presence, so they are skipped without being built (`IgnoredAny`).
#[derive(Debug, Deserialize)]
pub struct BorrowedHeader<'a> {
    #[serde(borrow)]
    pub alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub kid: Option<Cow<'a, str>>,
    #[serde(default)]
    pub jku: Option<IgnoredAny>,
    #[serde(default)]
    pub x5u: Option<IgnoredAny>,
    #[serde(default)]
    pub jwk: Option<IgnoredAny>,
    #[serde(default)]
    pub x5c: Option<IgnoredAny>,
    #[serde(default)]
    pub crit: Option<IgnoredAny>,
}

/// The audience without `#[serde(untagged)]`: a string or an array of strings, borrowed.
#[derive(Debug)]
pub enum BorrowedAudience<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedAudience<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BorrowedAudience<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a string or an array of strings")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedAudience::One(Cow::Borrowed(value)))
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(BorrowedAudience::One(Cow::Owned(value.to_owned())))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut audiences = Vec::new();
                while let Some(audience) = seq.next_element::<Cow<'de, str>>()? {
                    audiences.push(audience);
                }
                Ok(BorrowedAudience::Many(audiences))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The claims the RS reads, borrowed; `iat`, `jti` and `auth_time` are required or typed exactly
/// as in `AccessTokenClaims`, so the accepted set of tokens is the same.
#[derive(Debug, Deserialize)]
pub struct BorrowedClaims<'a> {
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    pub exp: u64,
    #[serde(borrow)]
    pub aud: BorrowedAudience<'a>,
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    #[serde(borrow)]
    pub client_id: Cow<'a, str>,
    pub iat: u64,
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    #[serde(default)]
    pub nbf: Option<u64>,
    #[serde(borrow, default)]
    pub scope: Option<Cow<'a, str>>,
    #[serde(default)]
    pub auth_time: Option<u64>,
}

/// The borrowed header decode: base64url into a fresh `Vec` as today, then serde without `String`s.
pub fn header_borrowed(token: &str) -> bool {
    let Some(bytes) = split_compact(token).ok().and_then(|parts| b64url_decode(parts.header).ok()) else {
        return false;
    };
    serde_json::from_slice::<BorrowedHeader<'_>>(&bytes).is_ok_and(|header| header.kid.is_some())
}

/// The borrowed claims decode.
pub fn claims_borrowed(token: &str) -> bool {
    let Some(bytes) = split_compact(token).ok().and_then(|parts| b64url_decode(parts.payload).ok()) else {
        return false;
    };
    serde_json::from_slice::<BorrowedClaims<'_>>(&bytes).is_ok_and(|claims| !claims.sub.is_empty())
}

/// The three decodes of a verification with the borrowed header and claims: split, header,
/// signature and claims, without the `kid` lookup, the claim checks and the principal.
pub fn decode_borrowed(token: &str) -> bool {
    let Ok(parts) = split_compact(token) else { return false };
    let (Ok(header), Ok(signature), Ok(claims)) =
        (b64url_decode(parts.header), b64url_decode(parts.signature), b64url_decode(parts.payload))
    else {
        return false;
    };
    !signature.is_empty()
        && serde_json::from_slice::<BorrowedHeader<'_>>(&header).is_ok()
        && serde_json::from_slice::<BorrowedClaims<'_>>(&claims).is_ok()
}

/// The same three decodes as the RS does them today, for the comparison with [`decode_borrowed`].
pub fn decode_owned(token: &str) -> bool {
    let Ok(parts) = split_compact(token) else { return false };
    decode_json::<JoseHeader>(parts.header).is_ok()
        && b64url_decode(parts.signature).is_ok()
        && decode_json::<AccessTokenClaims>(parts.payload).is_ok()
}

/// A prototype of the RS's JWT path with the proposed changes (borrowed header and claims, the
/// signature decoded onto the stack), doing every check `JwtVerifier::verify_uncached` does in the
/// same order, so that the summary can time the proposal against the same raw limit in the same
/// rounds. It is a measuring instrument only: the lab verifies tokens with `JwtVerifier`.
pub struct ProposedPath {
    issuer: String,
    audience: String,
    leeway: u64,
    clock: Clock,
    keys: RwLock<HashMap<String, PrototypeKey>>,
    /// The header-cache variant: base64url header segments that passed every header check, with
    /// their key. The AS signs every token of one key with the same header, so a real RS would
    /// hold one entry per key; the bound keeps variants of a valid header from growing it.
    headers: Option<RwLock<HashMap<String, PrototypeKey>>>,
}

/// Entries the header cache may hold at most.
const MAX_CACHED_HEADERS: usize = 16;

/// A key of the prototype with the JWS `alg` it is bound to.
type PrototypeKey = Arc<(&'static str, ParsedPublicKey)>;

/// Why the prototype refused a token; the RS's messages are not needed to time it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

impl ProposedPath {
    pub fn new(
        issuer: &str,
        audience: &str,
        leeway: u64,
        clock: Clock,
        kid: &str,
        alg: &'static str,
        key: ParsedPublicKey,
    ) -> Self {
        let keys = RwLock::new(HashMap::from([(kid.to_owned(), Arc::new((alg, key)))]));
        Self { issuer: issuer.to_owned(), audience: audience.to_owned(), leeway, clock, keys, headers: None }
    }

    /// The same prototype with the header cache on.
    pub fn with_header_cache(mut self) -> Self {
        self.headers = Some(RwLock::new(HashMap::new()));
        self
    }

    /// The key for a header segment: from the header cache, or by decoding and checking it.
    fn header_key(&self, header_segment: &str) -> Result<PrototypeKey, Refused> {
        if let Some(headers) = &self.headers
            && let Some(key) = headers.read().unwrap_or_else(PoisonError::into_inner).get(header_segment)
        {
            return Ok(key.clone());
        }
        let header_bytes = b64url_decode(header_segment).map_err(|_| Refused("token header is malformed"))?;
        let header: BorrowedHeader<'_> =
            serde_json::from_slice(&header_bytes).map_err(|_| Refused("token header is malformed"))?;
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt"));
        if !typ_ok {
            return Err(Refused("token type is not at+jwt"));
        }
        if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
            return Err(Refused("token header carries a key or key URL"));
        }
        if header.crit.is_some() {
            return Err(Refused("token has critical header parameters"));
        }
        let Some(kid) = header.kid.as_deref() else { return Err(Refused("token has no key id")) };
        if kid.len() > 128 {
            return Err(Refused("unknown key id"));
        }
        let key = self.keys.read().unwrap_or_else(PoisonError::into_inner).get(kid).cloned();
        let Some(key) = key else { return Err(Refused("unknown key id")) };
        if header.alg != key.0 {
            return Err(Refused("token algorithm is not allowed for its key"));
        }
        if let Some(headers) = &self.headers {
            let mut headers = headers.write().unwrap_or_else(PoisonError::into_inner);
            if headers.len() < MAX_CACHED_HEADERS {
                headers.insert(header_segment.to_owned(), key.clone());
            }
        }
        Ok(key)
    }

    pub fn verify(&self, token: &str) -> Result<Principal, Refused> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refused("token is too large"));
        }
        let parts = split_compact(token).map_err(|_| Refused("token is not a JWS"))?;
        // The RS checks the header before decoding the signature; the order does not change
        // which tokens are refused, only which message a doubly broken token gets.
        let key = self.header_key(parts.header)?;
        // RSA signatures up to 8192 bits; anything longer is malformed anyway.
        let mut signature = [0_u8; 1024];
        let signature_len = URL_SAFE_NO_PAD
            .decode_slice(parts.signature, &mut signature)
            .map_err(|_| Refused("token signature is malformed"))?;
        if key.1.verify_sig(parts.signing_input.as_bytes(), &signature[..signature_len]).is_err() {
            return Err(Refused("token signature is invalid"));
        }
        let claims_bytes = b64url_decode(parts.payload).map_err(|_| Refused("token claims are malformed"))?;
        let claims: BorrowedClaims<'_> =
            serde_json::from_slice(&claims_bytes).map_err(|_| Refused("token claims are malformed"))?;
        let now = self.clock.now();
        let has_audience = match &claims.aud {
            BorrowedAudience::One(audience) => *audience == self.audience,
            BorrowedAudience::Many(audiences) => audiences.iter().any(|audience| *audience == self.audience),
        };
        if claims.iss != self.issuer {
            return Err(Refused("token was issued by another authorization server"));
        }
        if !has_audience {
            return Err(Refused("token is for another resource"));
        }
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(Refused("token expired"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(Refused("token is not yet valid"));
        }
        Ok(Principal::from_token(
            claims.sub.into_owned(),
            claims.client_id.into_owned(),
            claims.scope.map(Cow::into_owned).unwrap_or_default(),
        ))
    }
}
