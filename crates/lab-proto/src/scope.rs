//! The lab's scopes and their hierarchy: `mcp:read` ⊂ `mcp:write` ⊂ `mcp:admin` (MCP-2607 §Step-Up,
//! RS-20: servers "account for scope hierarchies").

/// One lab scope, ordered by what it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabScope {
    Read,
    Write,
    Admin,
}

impl LabScope {
    /// Every lab scope, weakest first.
    pub const ALL: [LabScope; 3] = [LabScope::Read, LabScope::Write, LabScope::Admin];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "mcp:read",
            Self::Write => "mcp:write",
            Self::Admin => "mcp:admin",
        }
    }

    /// Parses a wire value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "mcp:read" => Some(Self::Read),
            "mcp:write" => Some(Self::Write),
            "mcp:admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The scope a client asks for when it wants a refresh token (MCP 2026-07-28 §Refresh Tokens,
/// SEP-2207): a request about the grant, not about a resource.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Whether the lab's AS knows `token`: a lab scope or `offline_access`.
pub fn is_known(token: &str) -> bool {
    LabScope::parse(token).is_some() || token == OFFLINE_ACCESS
}

/// `scope` without `offline_access`: what a resource is told of the grant (an access token's
/// `scope`), since refresh tokens are no resource requirement.
pub fn for_resources(scope: &str) -> String {
    split(scope).into_iter().filter(|token| *token != OFFLINE_ACCESS).collect::<Vec<_>>().join(" ")
}

/// Splits a `scope` value into its tokens (O21 §1.4.1: space-delimited, case-sensitive).
/// Repeated spaces are tolerated; duplicates are kept once, in first-seen order.
pub fn split(scope: &str) -> Vec<&str> {
    let mut tokens: Vec<&str> = Vec::new();
    for token in scope.split(' ').filter(|token| !token.is_empty()) {
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    tokens
}

/// Whether the granted scope string covers `needed`, honouring the hierarchy.
pub fn covers(granted: &str, needed: LabScope) -> bool {
    split(granted).into_iter().filter_map(LabScope::parse).any(|scope| scope >= needed)
}

/// Whether every token of `requested` is covered by `granted` (with the hierarchy).
/// Tokens outside the lab vocabulary must appear verbatim in `granted`.
pub fn is_subset(requested: &str, granted: &str) -> bool {
    let granted_tokens = split(granted);
    split(requested).into_iter().all(|token| match LabScope::parse(token) {
        Some(scope) => covers(granted, scope),
        None => granted_tokens.contains(&token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy() {
        assert!(covers("mcp:admin", LabScope::Write));
        assert!(covers("mcp:write", LabScope::Read));
        assert!(!covers("mcp:read", LabScope::Write));
        assert!(!covers("", LabScope::Read));
        assert!(!covers("MCP:WRITE", LabScope::Read));
    }

    #[test]
    fn offline_access_is_known_and_kept_from_resources() {
        assert!(is_known(OFFLINE_ACCESS) && is_known("mcp:read") && !is_known("Offline_Access"));
        assert_eq!(for_resources("mcp:read offline_access mcp:write"), "mcp:read mcp:write");
        assert_eq!(for_resources("offline_access"), "");
    }

    #[test]
    fn subsets() {
        assert!(is_subset("mcp:read", "mcp:read mcp:write"));
        assert!(is_subset("mcp:read mcp:write", "mcp:admin"));
        assert!(!is_subset("mcp:read mcp:admin", "mcp:read"));
        assert!(!is_subset("other", "mcp:admin"));
        assert!(is_subset("", "mcp:read"));
    }

    #[test]
    fn split_tolerates_extra_spaces() {
        assert_eq!(split("  mcp:read   mcp:write mcp:read "), ["mcp:read", "mcp:write"]);
    }
}
