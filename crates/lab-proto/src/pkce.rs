//! PKCE (RFC 7636) values: verifier syntax, S256 challenges.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::PkceVerifier;

/// `code_challenge_method` values (RFC 7636 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChallengeMethod {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))`, the only method MCP clients may use when able
    /// (MCP-1125 §Authorization Code Protection).
    S256,
    /// The verifier itself; also what an absent method means (O21 §4.1.1).
    Plain,
}

impl CodeChallengeMethod {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// Parses a wire value (case-sensitive, RFC 7636 §4.3).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "S256" => Some(Self::S256),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// Whether `value` has the RFC 7636 §4.1 syntax of a verifier or a challenge:
/// 43 to 128 characters from `[A-Za-z0-9-._~]`.
pub fn is_valid_verifier_syntax(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Whether `verifier` answers `challenge` under `method`, comparing in constant time.
pub fn verify(method: CodeChallengeMethod, challenge: &str, verifier: &str) -> bool {
    let computed = match method {
        CodeChallengeMethod::S256 => s256_challenge(verifier),
        CodeChallengeMethod::Plain => verifier.to_owned(),
    };
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

/// A fresh verifier of 43 characters from 256 bits of the system CSPRNG (O21 §7.5.2, CL-13).
pub fn generate_verifier() -> Result<PkceVerifier, aws_lc_rs::error::Unspecified> {
    Ok(PkceVerifier::new(crate::random_token(32)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256_challenge(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(verify(CodeChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", verifier));
        assert!(!verify(CodeChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN", verifier));
        assert!(verify(CodeChallengeMethod::Plain, verifier, verifier));
    }

    #[test]
    fn verifier_syntax() {
        assert!(is_valid_verifier_syntax(&"a".repeat(43)));
        assert!(is_valid_verifier_syntax(&"a~._-".repeat(25)));
        assert!(!is_valid_verifier_syntax(&"a".repeat(42)));
        assert!(!is_valid_verifier_syntax(&"a".repeat(129)));
        assert!(!is_valid_verifier_syntax(&format!("{}+", "a".repeat(43))));
        assert!(!is_valid_verifier_syntax(&format!("{}=", "a".repeat(43))));
    }

    #[test]
    fn generated_verifiers_are_fresh_and_valid() {
        let first = generate_verifier().unwrap();
        let second = generate_verifier().unwrap();
        assert!(is_valid_verifier_syntax(first.secret()));
        assert_ne!(first.secret(), second.secret());
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(CodeChallengeMethod::parse("S256"), Some(CodeChallengeMethod::S256));
        assert_eq!(CodeChallengeMethod::parse("s256"), None);
        assert_eq!(CodeChallengeMethod::parse("plain"), Some(CodeChallengeMethod::Plain));
    }
}
