//! HTTP Basic client authentication as OAuth uses it (RFC 6749 §2.3.1, O21 §2.4.1): the client
//! id and secret are each form-urlencoded, joined by `:`, then Base64-encoded. The AS, the client
//! and the scenario runner build and read the header with these two functions, so a secret with
//! `+`, `%` or `:` means the same thing on every side.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why an `Authorization` value is not usable Basic client authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    /// Another scheme (`Bearer`, …).
    OtherScheme,
    /// Not Base64, not UTF-8, or no `:` between id and secret.
    Malformed,
}

/// The `Authorization` value for `client_id` and `secret`.
pub fn authorization(client_id: &str, secret: &str) -> String {
    let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret))))
}

/// The client id and secret of an `Authorization` value, decoded (the scheme is case-insensitive,
/// RFC 9110 §11.1).
pub fn parse(value: &str) -> Result<(String, String), BasicError> {
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(BasicError::OtherScheme);
    }
    let decoded = STANDARD
        .decode(credentials.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(BasicError::Malformed)?;
    let (client_id, secret) = decoded.split_once(':').ok_or(BasicError::Malformed)?;
    Ok((form_decode(client_id), form_decode(secret)))
}

fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, decoded)| decoded.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_one_side_builds_the_other_reads_back() {
        for (id, secret) in [("lab-rs", "lab-rs-secret"), ("my client", "a+b&c%d~e:f"), ("ü", "")] {
            assert_eq!(parse(&authorization(id, secret)), Ok((id.to_owned(), secret.to_owned())), "{id}");
        }
        // RFC 6749 §2.3.1's encoding, visible in the Base64.
        let value = authorization("my client", "a+b");
        let raw = STANDARD.decode(value.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "my+client:a%2Bb");
        assert_eq!(parse(&value.replacen("Basic", "bAsIc", 1)), Ok(("my client".to_owned(), "a+b".to_owned())));
    }

    #[test]
    fn other_schemes_and_broken_credentials_are_told_apart() {
        assert_eq!(parse("Bearer abc"), Err(BasicError::OtherScheme));
        assert_eq!(parse("Basic"), Err(BasicError::Malformed));
        assert_eq!(parse("Basic !!!"), Err(BasicError::Malformed));
        assert_eq!(parse(&format!("Basic {}", STANDARD.encode("no-colon"))), Err(BasicError::Malformed));
    }
}
