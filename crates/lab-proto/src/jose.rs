//! JWS compact serialization pieces (RFC 7515) shared by the AS that signs and the RS that verifies.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A JOSE header. The dangerous members (`jku`, `x5u`, `jwk`, `x5c`) are parsed only so that a
/// verifier can see them and refuse to use them (RFC 8725 §3.10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JoseHeader {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5u: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<Vec<String>>,
}

/// The three parts of a compact JWS, still base64url-encoded.
#[derive(Debug, Clone, Copy)]
pub struct CompactParts<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
}

/// Why a token is not a well-formed compact JWS.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompactError {
    #[error("token is not three base64url parts separated by dots")]
    Shape,
    #[error("token part is not base64url")]
    Base64,
    #[error("token header or payload is not the expected JSON: {0}")]
    Json(String),
}

/// Splits `header.payload.signature`.
pub fn split_compact(token: &str) -> Result<CompactParts<'_>, CompactError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CompactError::Shape);
    };
    if header.is_empty() || payload.is_empty() {
        return Err(CompactError::Shape);
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(CompactParts { header, payload, signature, signing_input })
}

/// Decodes unpadded base64url (RFC 7515 §2).
pub fn b64url_decode(part: &str) -> Result<Vec<u8>, CompactError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| CompactError::Base64)
}

/// Encodes unpadded base64url.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url JSON part into `T`.
pub fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, CompactError> {
    let bytes = b64url_decode(part)?;
    serde_json::from_slice(&bytes).map_err(|error| CompactError::Json(error.to_string()))
}

/// Sets members of a JSON object (a JOSE header, a claims set) to `edits`' values, where a `null`
/// removes the member instead: how a forgery asks for a token without `typ` or without `exp`.
/// Anything but an object is left alone.
pub fn edit_members(object: &mut serde_json::Value, edits: &std::collections::BTreeMap<String, serde_json::Value>) {
    if let serde_json::Value::Object(members) = object {
        for (name, value) in edits {
            if value.is_null() {
                members.remove(name);
            } else {
                members.insert(name.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_set_members_and_a_null_removes_one() {
        let mut header = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": "k"});
        let edits = std::collections::BTreeMap::from([
            ("typ".to_owned(), serde_json::Value::Null),
            ("crit".to_owned(), serde_json::json!(["x"])),
            ("absent".to_owned(), serde_json::Value::Null),
        ]);
        edit_members(&mut header, &edits);
        assert_eq!(header, serde_json::json!({"alg": "ES256", "kid": "k", "crit": ["x"]}));
        let mut not_an_object = serde_json::json!([1]);
        edit_members(&mut not_an_object, &edits);
        assert_eq!(not_an_object, serde_json::json!([1]));
    }

    #[test]
    fn splits_three_parts() {
        let parts = split_compact("aGVhZA.cGF5.c2ln").unwrap();
        assert_eq!(parts.header, "aGVhZA");
        assert_eq!(parts.signing_input, "aGVhZA.cGF5");
        assert_eq!(parts.signature, "c2ln");
        assert!(split_compact("a.b").is_err());
        assert!(split_compact("a.b.c.d").is_err());
        assert!(split_compact(".b.c").is_err());
        assert!(split_compact("a.b.").is_ok(), "an empty signature is a shape a verifier must reject itself");
    }

    #[test]
    fn decodes_headers() {
        let header = b64url_encode(br#"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#);
        let parsed: JoseHeader = decode_json(&header).unwrap();
        assert_eq!(parsed.alg, "ES256");
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert!(decode_json::<JoseHeader>("!!!").is_err());
        assert!(decode_json::<JoseHeader>(&b64url_encode(b"{}")).is_err());
        assert!(b64url_decode("abc=").is_err());
    }
}
