//! `WWW-Authenticate` parsing and formatting (RFC 9110 §11.6.1, O21 §5.3.1, RFC 9728 §5.1).
//!
//! The parser copes with what requirements §3.1 lists: several challenges in one field
//! (`DPoP algs="ES256", Bearer resource_metadata="…"`), several fields, commas and spaces inside
//! quoted strings, any parameter order, and upper-case scheme and parameter names. It is strict about
//! syntax: an unterminated quoted string or a parameter without a value is an error, not a guess.

use thiserror::Error;

/// One challenge: a scheme and either a token68 or a list of auth-params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent; compare with [`Challenge::is_scheme`], which ignores case.
    pub scheme: String,
    pub token68: Option<String>,
    /// Parameter names lower-cased (they are case-insensitive, RFC 9110 §11.2), values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether the scheme is `scheme`, ignoring ASCII case (RFC 9110 §11.1).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The first value of a parameter, by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The parameters that O21 §5.3.1 forbids to repeat (`realm`, `scope`, `error`,
    /// `error_description`, `error_uri`) and that appear more than once.
    pub fn repeated_params(&self) -> Vec<&str> {
        let mut repeated = Vec::new();
        for name in ["realm", "scope", "error", "error_description", "error_uri"] {
            if self.params.iter().filter(|(key, _)| key == name).count() > 1 {
                repeated.push(name);
            }
        }
        repeated
    }
}

/// Why a `WWW-Authenticate` value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed WWW-Authenticate value at byte {position}: {reason}")]
pub struct ParseError {
    pub position: usize,
    pub reason: &'static str,
}

/// Parses one `WWW-Authenticate` field value into its challenges.
pub fn parse(value: &str) -> Result<Vec<Challenge>, ParseError> {
    let mut parser = Parser { bytes: value.as_bytes(), position: 0 };
    let mut challenges = Vec::new();
    loop {
        parser.skip_list_separators();
        if parser.at_end() {
            break;
        }
        let scheme = parser.token().ok_or_else(|| parser.error("expected an auth-scheme"))?;
        let mut challenge = Challenge { scheme, token68: None, params: Vec::new() };
        parser.skip_spaces();
        if let Some(token68) = parser.try_token68() {
            challenge.token68 = Some(token68);
        } else if !parser.at_end() && parser.peek() != Some(b',') {
            parser.auth_params(&mut challenge.params)?;
        }
        challenges.push(challenge);
    }
    if challenges.is_empty() {
        return Err(ParseError { position: 0, reason: "no challenge" });
    }
    Ok(challenges)
}

/// Parses several `WWW-Authenticate` fields (RFC 9728 §5.4 allows one per scheme) into one list.
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<Challenge>, ParseError> {
    let mut challenges = Vec::new();
    for value in values {
        challenges.extend(parse(value)?);
    }
    Ok(challenges)
}

/// Formats one challenge with quoted parameter values, in the order given.
///
/// Quotes and backslashes in values are escaped as quoted-pairs (RFC 9110 §5.6.4); the lab's own
/// servers never put them there (O21 §5.3.1 forbids them in `error_description`).
pub fn format_challenge(scheme: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::from(scheme);
    for (index, (name, value)) in params.iter().enumerate() {
        out.push_str(if index == 0 { " " } else { ", " });
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out
}

struct Parser<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn error(&self, reason: &'static str) -> ParseError {
        ParseError { position: self.position, reason }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.position += 1;
        }
    }

    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.position += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.position;
        while self.peek().is_some_and(is_tchar) {
            self.position += 1;
        }
        (self.position > start).then(|| String::from_utf8_lossy(&self.bytes[start..self.position]).into_owned())
    }

    /// A token68 is only taken when it is followed by the end of the value or a comma, so that
    /// `realm="x"` is never mistaken for one.
    fn try_token68(&mut self) -> Option<String> {
        let start = self.position;
        let mut end = start;
        while self.bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b)) {
            end += 1;
        }
        if end == start {
            return None;
        }
        while self.bytes.get(end) == Some(&b'=') {
            end += 1;
        }
        let mut after = end;
        while matches!(self.bytes.get(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        if after < self.bytes.len() && self.bytes[after] != b',' {
            return None;
        }
        self.position = after;
        Some(String::from_utf8_lossy(&self.bytes[start..end]).into_owned())
    }

    fn auth_params(&mut self, params: &mut Vec<(String, String)>) -> Result<(), ParseError> {
        loop {
            let name = self.token().ok_or_else(|| self.error("expected a parameter name"))?;
            self.skip_spaces();
            if self.peek() != Some(b'=') {
                return Err(self.error("expected '=' after a parameter name"));
            }
            self.position += 1;
            self.skip_spaces();
            let value = if self.peek() == Some(b'"') {
                self.quoted_string()?
            } else {
                self.token().ok_or_else(|| self.error("expected a token or a quoted string"))?
            };
            params.push((name.to_ascii_lowercase(), value));
            self.skip_spaces();
            if self.at_end() {
                return Ok(());
            }
            if self.peek() != Some(b',') {
                return Err(self.error("expected ',' between parameters"));
            }
            // After a comma comes either another parameter of this challenge or a new challenge.
            let comma = self.position;
            self.skip_list_separators();
            if self.at_end() || !self.next_is_param() {
                self.position = comma;
                return Ok(());
            }
        }
    }

    /// Whether the input continues with `token BWS "="`, i.e. another auth-param.
    fn next_is_param(&self) -> bool {
        let mut index = self.position;
        let start = index;
        while self.bytes.get(index).copied().is_some_and(is_tchar) {
            index += 1;
        }
        if index == start {
            return false;
        }
        while matches!(self.bytes.get(index), Some(b' ' | b'\t')) {
            index += 1;
        }
        self.bytes.get(index) == Some(&b'=')
    }

    fn quoted_string(&mut self) -> Result<String, ParseError> {
        let open = self.position;
        self.position += 1;
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ParseError { position: open, reason: "unterminated quoted string" }),
                Some(b'"') => {
                    self.position += 1;
                    return Ok(String::from_utf8_lossy(&value).into_owned());
                }
                Some(b'\\') => {
                    let Some(escaped) = self.bytes.get(self.position + 1).copied() else {
                        return Err(ParseError { position: open, reason: "unterminated quoted string" });
                    };
                    value.push(escaped);
                    self.position += 2;
                }
                Some(byte) => {
                    value.push(byte);
                    self.position += 1;
                }
            }
        }
    }
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_lab_no_token_challenge() {
        let challenges = parse(
            r#"Bearer resource_metadata="https://127.0.0.1:8443/.well-known/oauth-protected-resource/mcp", scope="mcp:read""#,
        )
        .unwrap();
        assert_eq!(challenges.len(), 1);
        let bearer = &challenges[0];
        assert!(bearer.is_scheme("bearer"));
        assert_eq!(
            bearer.param("resource_metadata"),
            Some("https://127.0.0.1:8443/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(bearer.param("scope"), Some("mcp:read"));
        assert_eq!(bearer.param("error"), None);
    }

    #[test]
    fn parses_several_challenges_in_one_field_with_upper_case_names() {
        let challenges = parse(
            r#"DPoP algs="ES256 PS256", Bearer scope="a b", RESOURCE_METADATA="https://h/x, y", error=invalid_token"#,
        )
        .unwrap();
        assert_eq!(challenges.len(), 2);
        assert!(challenges[0].is_scheme("DPoP"));
        assert_eq!(challenges[0].param("algs"), Some("ES256 PS256"));
        assert_eq!(challenges[1].param("scope"), Some("a b"));
        assert_eq!(challenges[1].param("resource_metadata"), Some("https://h/x, y"));
        assert_eq!(challenges[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn parses_token68_and_parameterless_challenges() {
        let challenges = parse("Basic, Negotiate abc+/def==, Bearer realm=\"x\"").unwrap();
        assert_eq!(challenges.len(), 3);
        assert_eq!(challenges[0].scheme, "Basic");
        assert!(challenges[0].params.is_empty());
        assert_eq!(challenges[1].token68.as_deref(), Some("abc+/def=="));
        assert_eq!(challenges[2].param("realm"), Some("x"));
    }

    #[test]
    fn parses_several_fields_and_escapes() {
        let challenges =
            parse_all([r#"Basic realm="lab""#, r#"Bearer error_description="say \"hi\" \\ now""#]).unwrap();
        assert_eq!(challenges.len(), 2);
        assert_eq!(challenges[1].param("error_description"), Some(r#"say "hi" \ now"#));
    }

    #[test]
    fn detects_repeated_parameters() {
        let challenges = parse(r#"Bearer scope="a", Scope="b", error="x""#).unwrap();
        assert_eq!(challenges[0].repeated_params(), ["scope"]);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "   ",
            r#"Bearer realm="unterminated"#,
            r#"Bearer realm="a" scope="b""#,
            "Bearer \"quoted-scheme\"",
            "=",
            r#"Bearer realm="x\"#,
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        let value = format_challenge(
            "Bearer",
            &[
                ("error", "insufficient_scope"),
                ("scope", "mcp:read mcp:write"),
                ("error_description", r#"needs "write""#),
            ],
        );
        assert_eq!(
            value,
            r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write", error_description="needs \"write\"""#
        );
        let parsed = parse(&value).unwrap();
        assert_eq!(parsed[0].param("error_description"), Some(r#"needs "write""#));
        assert_eq!(parsed[0].param("scope"), Some("mcp:read mcp:write"));
    }

    /// A small deterministic generator (xorshift64*), so a failing input can be reproduced from
    /// the seed the assertion prints.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
            choices[self.below(choices.len())]
        }
    }

    #[test]
    fn arbitrary_input_is_an_answer_or_an_error_never_a_panic() {
        // The pieces a hostile server would combine: the grammar's own bytes, near misses and
        // non-ASCII text, so the parser meets every branch and every boundary.
        let pieces = [
            "Bearer",
            "DPoP",
            "bearer",
            " ",
            "\t",
            ",",
            "=",
            "==",
            "\"",
            "\\",
            "realm",
            "scope",
            "a b",
            "x=",
            "\"a,b\"",
            "abc+/=",
            "é",
            "😀",
            "\u{0}",
            "\r\n",
            ",,",
            "resource_metadata",
            "\"https://x/\"",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let seed = rng.0;
            let length = rng.below(12);
            let value: String = (0..length).map(|_| rng.pick(&pieces)).collect();
            // Either answer is fine; what matters is that there is one. A panic names its input.
            if std::panic::catch_unwind(|| parse(&value)).is_err() {
                panic!("round {round} seed {seed:#x}: parsing {value:?} panicked");
            }
        }
    }

    #[test]
    fn whatever_the_lab_formats_parses_back_to_the_same_challenge() {
        let names = ["realm", "scope", "error", "error_description", "resource_metadata", "Max_Age"];
        let values = ["", " ", "a b", "\"", "\\", "a,b", "x=y", "mcp:read mcp:write", "é", "https://h/p?q=1"];
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for round in 0..5_000 {
            let seed = rng.0;
            let params: Vec<(&str, String)> = (0..1 + rng.below(4))
                .map(|_| (rng.pick(&names), (0..rng.below(4)).map(|_| rng.pick(&values)).collect::<String>()))
                .collect();
            let borrowed: Vec<(&str, &str)> = params.iter().map(|(name, value)| (*name, value.as_str())).collect();
            let formatted = format_challenge("Bearer", &borrowed);
            let parsed = parse(&formatted)
                .unwrap_or_else(|error| panic!("round {round} seed {seed:#x}: {formatted:?}: {error}"));
            assert_eq!(parsed.len(), 1, "round {round} seed {seed:#x}: {formatted:?}");
            let expected: Vec<(String, String)> =
                params.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.clone())).collect();
            assert_eq!(parsed[0].params, expected, "round {round} seed {seed:#x}: {formatted:?}");
        }
    }
}
