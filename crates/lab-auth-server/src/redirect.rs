//! Redirect URI rules: what may be registered (AS-11, RFC 7591 §3.2.2, BCP §2.6) and how a request
//! is matched against what was registered (AS-09: exact, except the port of loopback URIs).

/// Why a redirect URI cannot be registered.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) || !uri.is_ascii() {
        return Err(format!("redirect URI {uri:?} contains spaces or non-ASCII characters"));
    }
    if uri.contains('#') {
        return Err("redirect URIs must not contain a fragment (O21 §2.3)".to_owned());
    }
    // RFC 3986 §2: what a URI may hold. A `\` (or `|`, `^`, `{`…) is no URI character, and
    // browsers repair it their own way (WHATWG reads `\` as `/`), so the host the consent page
    // shows and the one a browser goes to could differ.
    if let Some(bad) = uri.chars().find(|c| !is_uri_char(*c)) {
        return Err(format!("redirect URIs may hold only the characters RFC 3986 allows, not {bad:?}"));
    }
    if !percent_encoding_is_valid(uri) {
        return Err(
            "redirect URIs must write `%` only as a percent-encoding of two hex digits (RFC 3986 §2.1)".to_owned()
        );
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err("redirect URIs must be absolute http(s) URIs".to_owned());
    };
    let authority = authority_of(rest);
    if authority.is_empty() {
        return Err("redirect URIs must have a host".to_owned());
    }
    if authority.contains('@') {
        return Err("redirect URIs must not contain userinfo".to_owned());
    }
    if authority.contains('*') {
        return Err("redirect URIs must not contain wildcards".to_owned());
    }
    if !port_is_valid(authority) {
        return Err("a redirect URI's port must be digits (RFC 3986 §3.2.3)".to_owned());
    }
    match scheme {
        "https" => Ok(()),
        // BCP §2.6, MCP-1125 §Communication Security: plain http only for loopback.
        "http" if is_loopback_host(host_of(authority)) => Ok(()),
        "http" => Err("http redirect URIs are allowed only for loopback hosts".to_owned()),
        _ => Err(format!("redirect URI scheme {scheme:?} is not allowed, only https or loopback http")),
    }
}

/// RFC 3986 §2.2 and §2.3: unreserved and reserved characters, and `%` (checked apart).
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn percent_encoding_is_valid(uri: &str) -> bool {
    let bytes = uri.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b'%')
        .all(|(index, _)| bytes.get(index + 1..index + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)))
}

/// Whether `requested` matches `registered`: identical strings (RFC 3986 §6.2.1 simple comparison),
/// or, for loopback http URIs, identical apart from the port (O21 §4.1.1, RFC 8252 §7.3).
pub(crate) fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Some(registered_rest), Some(requested_rest)) =
        (registered.strip_prefix("http://"), requested.strip_prefix("http://"))
    else {
        return false;
    };
    let registered_authority = authority_of(registered_rest);
    let requested_authority = authority_of(requested_rest);
    let registered_host = host_of(registered_authority);
    let requested_host = host_of(requested_authority);
    is_loopback_host(registered_host)
        && registered_host == requested_host
        && port_is_valid(requested_authority)
        && registered_rest[registered_authority.len()..] == requested_rest[requested_authority.len()..]
}

/// Whether the URI is a loopback http redirect (the consent page warns about these, MCP-1125
/// §Localhost Redirect URI Risks).
pub(crate) fn is_loopback_redirect(uri: &str) -> bool {
    uri.strip_prefix("http://").is_some_and(|rest| is_loopback_host(host_of(authority_of(rest))))
}

/// The host of a redirect URI, to show on the consent page.
pub(crate) fn redirect_host(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    host_of(authority_of(rest))
}

/// The explicit port of a redirect URI, to show on the consent page.
pub(crate) fn redirect_port(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = authority_of(rest);
    authority[host_of(authority).len()..].strip_prefix(':').filter(|port| !port.is_empty())
}

/// SEP-837 (MCP 2026-07-28 client-registration §Application Type and Redirect URI Constraints,
/// after OpenID Connect Dynamic Client Registration §2): a `native` client registers loopback
/// redirect URIs (the lab takes no private-use schemes at all), a `web` client https ones on a
/// host that is not loopback. A registration without `application_type` is checked by the rules
/// above only: 2025-11-25 clients never sent it (the lab's decision, L).
pub(crate) fn fits_application_type(application_type: &str, uri: &str) -> Result<(), String> {
    let (scheme, rest) = uri.split_once("://").unwrap_or((uri, ""));
    let loopback = is_loopback_host(host_of(authority_of(rest)));
    match application_type {
        "native" if scheme == "http" && loopback => Ok(()),
        "native" => Err(format!("a native client's redirect URIs are loopback http URIs, not {uri:?}")),
        "web" if scheme == "https" && !loopback => Ok(()),
        "web" => {
            Err(format!("a web client's redirect URIs are https URIs on a host that is not loopback, not {uri:?}"))
        }
        other => Err(format!("application_type {other:?} is neither native nor web")),
    }
}

fn authority_of(rest: &str) -> &str {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn port_is_valid(authority: &str) -> bool {
    let host = host_of(authority);
    match authority[host.len()..].strip_prefix(':') {
        None => authority.len() == host.len(),
        Some(port) => !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Loopback for the lab: `127.0.0.1`, `[::1]` and `localhost` (requirements §8: O21 does not
/// recommend `localhost`, but MCP's CIMD example lists it).
fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        for ok in [
            "http://127.0.0.1:53682/callback",
            "http://127.0.0.1/callback",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
            "https://app.example/cb?x=1",
            "https://app.example/c%20b",
            "https://[::1]:8443/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "javascript:alert(1)",
            "/relative/cb",
            "https://app.example/cb#frag",
            "https://*.evil/cb",
            "data:text/html,hi",
            "com.example.app:/callback",
            "https://user:pw@app.example/cb",
            "https:///cb",
            "http://127.0.0.1.evil.example/cb",
            "https://app.example/c b",
            // A browser reads `\` as `/`: the page would show one host, the browser visit another.
            "https://app.example\\@evil.example/cb",
            "http://127.0.0.1\\.evil.example/cb",
            "https://app.example/cb\\..",
            "https://app.example/c|b",
            "https://app.example/%zz",
            "https://app.example:80a/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact_except_loopback_ports() {
        let registered = "https://app.example/cb";
        assert!(redirect_matches(registered, "https://app.example/cb"));
        for variant in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/cb/extra",
            "https://APP.example/cb",
            "http://app.example/cb",
            "https://other.example/cb",
            "https://app.example:444/cb",
        ] {
            assert!(!redirect_matches(registered, variant), "{variant}");
        }
        let loopback = "http://127.0.0.1/callback";
        assert!(redirect_matches(loopback, "http://127.0.0.1:53682/callback"));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:1234/cb"));
        assert!(!redirect_matches(loopback, "http://127.0.0.1:53682/callback/x"));
        assert!(!redirect_matches(loopback, "http://localhost:53682/callback"));
        assert!(!redirect_matches(loopback, "http://127.0.0.1:abc/callback"));
        assert!(!redirect_matches(loopback, "http://127.0.0.1:/callback"));
        assert!(!redirect_matches(loopback, "https://127.0.0.1:53682/callback"));
    }

    #[test]
    fn hosts() {
        assert_eq!(redirect_host("http://127.0.0.1:5/cb"), "127.0.0.1");
        assert_eq!(redirect_host("https://[::1]:5/cb"), "[::1]");
        assert_eq!(redirect_host("https://app.example/cb"), "app.example");
        assert!(is_loopback_redirect("http://localhost:1/cb"));
        assert_eq!(redirect_port("http://127.0.0.1:53682/callback"), Some("53682"));
        assert_eq!(redirect_port("http://[::1]:8080/cb"), Some("8080"));
        assert_eq!(redirect_port("http://127.0.0.1/callback"), None);
        assert_eq!(redirect_port("https://app.example/cb?x=a:1"), None);
        assert!(!is_loopback_redirect("https://localhost:1/cb"));
    }
}
