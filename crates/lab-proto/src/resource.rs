//! Resource indicators (RFC 8707 §2) and the MCP canonical server URI (MCP-1125 §Canonical Server URI).

use thiserror::Error;

/// Why a `resource` value is not acceptable. Each maps to `invalid_target` (RFC 8707 §2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResourceError {
    #[error("resource is not an absolute URI")]
    NotAbsolute,
    #[error("resource must not contain a fragment")]
    Fragment,
    #[error("resource must not contain userinfo, spaces or control characters")]
    Malformed,
}

/// Checks an RFC 8707 resource indicator and returns its canonical form: scheme and host
/// lower-cased (MCP-1125: implementations SHOULD accept upper-case scheme and host), everything else
/// kept verbatim. A trailing slash is *not* removed: `…/mcp/` is another resource.
pub fn canonicalize_resource(value: &str) -> Result<String, ResourceError> {
    if value.contains('#') {
        return Err(ResourceError::Fragment);
    }
    if value.bytes().any(|b| b <= b' ' || b == 0x7f) || !value.is_ascii() {
        return Err(ResourceError::Malformed);
    }
    let Some(scheme_end) = value.find("://") else {
        return Err(ResourceError::NotAbsolute);
    };
    let scheme = &value[..scheme_end];
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(ResourceError::NotAbsolute);
    }
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() {
        return Err(ResourceError::NotAbsolute);
    }
    if authority.contains('@') {
        return Err(ResourceError::Malformed);
    }
    Ok(format!("{}://{}{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase(), &rest[authority_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(canonicalize_resource("https://127.0.0.1:8443/mcp").unwrap(), "https://127.0.0.1:8443/mcp");
        assert_eq!(canonicalize_resource("HTTPS://LOCALHOST:8443/MCP").unwrap(), "https://localhost:8443/MCP");
        assert_eq!(canonicalize_resource("https://127.0.0.1:8443/mcp/").unwrap(), "https://127.0.0.1:8443/mcp/");
    }

    #[test]
    fn rejections() {
        assert_eq!(canonicalize_resource("https://127.0.0.1:8443/mcp#x"), Err(ResourceError::Fragment));
        assert_eq!(canonicalize_resource("mcp.example.com"), Err(ResourceError::NotAbsolute));
        assert_eq!(canonicalize_resource("https:///mcp"), Err(ResourceError::NotAbsolute));
        assert_eq!(canonicalize_resource("1https://h/mcp"), Err(ResourceError::NotAbsolute));
        assert_eq!(canonicalize_resource("https://u:p@h/mcp"), Err(ResourceError::Malformed));
        assert_eq!(canonicalize_resource("https://h/m cp"), Err(ResourceError::Malformed));
        assert_eq!(canonicalize_resource("https://h/é"), Err(ResourceError::Malformed));
        assert_eq!(canonicalize_resource(""), Err(ResourceError::NotAbsolute));
    }
}
