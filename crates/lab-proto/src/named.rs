//! Parsing a value by its name: the lab's profiles, algorithms and modes are chosen on command
//! lines and in scenario files by name, and a wrong name is answered with the list of right ones.
//! Each of those types lists its `(name, value)` pairs once and parses through [`parse_named`], so
//! every such error reads the same way.

/// A name that is none of the expected ones; the message lists them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`, expected one of: {}", expected.join(", "))]
pub struct UnknownName {
    /// What was being named (`authorization server profile`, `signing algorithm`, …).
    pub kind: &'static str,
    /// The name that was given.
    pub name: String,
    /// Every name that would have been accepted, in the order they were offered.
    pub expected: Vec<&'static str>,
}

/// The value of `choices` whose name is exactly `name`, or an [`UnknownName`] that calls the
/// value a `kind` and lists every name of `choices`.
pub fn parse_named<T>(
    name: &str,
    choices: impl IntoIterator<Item = (&'static str, T)>,
    kind: &'static str,
) -> Result<T, UnknownName> {
    find(name, choices, kind, |candidate, name| candidate == name)
}

/// [`parse_named`], with the names compared ignoring ASCII case (for names such as JWS `alg`
/// values, which people type as `es256` as often as `ES256`).
pub fn parse_named_ignore_ascii_case<T>(
    name: &str,
    choices: impl IntoIterator<Item = (&'static str, T)>,
    kind: &'static str,
) -> Result<T, UnknownName> {
    find(name, choices, kind, str::eq_ignore_ascii_case)
}

fn find<T>(
    name: &str,
    choices: impl IntoIterator<Item = (&'static str, T)>,
    kind: &'static str,
    matches: impl Fn(&str, &str) -> bool,
) -> Result<T, UnknownName> {
    let mut expected = Vec::new();
    for (candidate, value) in choices {
        if matches(candidate, name) {
            return Ok(value);
        }
        expected.push(candidate);
    }
    Err(UnknownName { kind, name: name.to_owned(), expected })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHOICES: [(&str, u8); 3] = [("jwt", 1), ("introspection", 2), ("ES256", 3)];

    #[test]
    fn a_known_name_gives_its_value() {
        assert_eq!(parse_named("introspection", CHOICES, "mode"), Ok(2));
        assert_eq!(parse_named_ignore_ascii_case("es256", CHOICES, "mode"), Ok(3));
        assert_eq!(parse_named_ignore_ascii_case("ES256", CHOICES, "mode"), Ok(3));
    }

    #[test]
    fn an_unknown_name_lists_every_expected_one_in_order() {
        let error = parse_named("cache", CHOICES, "verification mode").unwrap_err();
        assert_eq!(error.name, "cache");
        assert_eq!(error.expected, ["jwt", "introspection", "ES256"]);
        assert_eq!(error.to_string(), "unknown verification mode `cache`, expected one of: jwt, introspection, ES256");
    }

    #[test]
    fn exact_matching_respects_case_and_whitespace() {
        for name in ["es256", "JWT", " jwt", "jwt ", ""] {
            assert!(parse_named(name, CHOICES, "mode").is_err(), "{name:?}");
        }
        assert!(parse_named_ignore_ascii_case(" es256", CHOICES, "mode").is_err());
    }

    #[test]
    fn no_choices_is_an_error_with_an_empty_list() {
        let error = parse_named("x", std::iter::empty::<(&'static str, u8)>(), "thing").unwrap_err();
        assert_eq!(error.to_string(), "unknown thing `x`, expected one of: ");
    }
}
