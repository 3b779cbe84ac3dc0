//! A deterministic mutation fuzzer for the lab's parsers (issue 14: parsers under fuzzing with a
//! fixed budget in CI). From a few valid samples it derives inputs by flipping, inserting,
//! deleting and repeating bytes and by splicing in the characters parsers trip on (quotes,
//! separators, escapes, percent signs, very long runs), always from the same seed, so a failure is
//! reproduced by running the test again. Every input is at most [`MAX_INPUT_BYTES`] long, so what
//! a parser allocates for one stays bounded too.
//!
//! Tests of each parser call [`Mutations::new`] with their samples and a budget, and assert that
//! the parser returns (an answer or an error) for every input: a panic fails the test with the
//! input that caused it.

/// The longest input a mutation yields.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Fragments that parsers of HTTP headers, JOSE, JSON, forms and TOML treat specially.
const FRAGMENTS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"=",
    b",",
    b";",
    b".",
    b"%",
    b"%zz",
    b"%ff",
    b"+",
    b"&",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b" ",
    b"\t",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3\x28",
    b"\xe2\x82",
    b"null",
    b"-1",
    b"1e999",
    b"\"\"",
    b"[[step]]",
    b"do = ",
    b"Bearer ",
    b"Basic ",
    b"realm=",
    b"==",
    b"\xf0\x9f\x92\xa9",
];

/// An endless, reproducible stream of inputs derived from samples; `take(n)` bounds it.
pub struct Mutations {
    samples: Vec<Vec<u8>>,
    state: u64,
}

impl Mutations {
    /// Mutations of `samples` (at least one), from a fixed seed.
    pub fn new(samples: &[&[u8]]) -> Self {
        assert!(!samples.is_empty(), "mutations need a sample");
        Self { samples: samples.iter().map(|sample| sample.to_vec()).collect(), state: 0x9e37_79b9_7f4a_7c15 }
    }

    /// xorshift64*: deterministic and good enough to spread mutations.
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 { 0 } else { (self.next() % bound as u64) as usize }
    }

    fn mutate(&mut self, input: &mut Vec<u8>) {
        let at = self.below(input.len() + 1);
        match self.below(7) {
            0 if !input.is_empty() => {
                let index = self.below(input.len());
                input[index] ^= 1 << self.below(8);
            }
            1 => {
                let byte = self.next() as u8;
                input.insert(at, byte);
            }
            2 if !input.is_empty() => {
                let end = (at + 1 + self.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            3 => {
                let fragment = FRAGMENTS[self.below(FRAGMENTS.len())];
                input.splice(at..at, fragment.iter().copied());
            }
            4 if !input.is_empty() => {
                // Repeat a slice many times: long runs of one construct.
                let start = self.below(input.len());
                let end = (start + 1 + self.below(8)).min(input.len());
                let slice = input[start..end].to_vec();
                for _ in 0..self.below(2_000) {
                    input.splice(at..at, slice.iter().copied());
                }
            }
            5 => {
                let pick = self.below(self.samples.len());
                let other = self.samples[pick].clone();
                let cut = self.below(other.len() + 1);
                input.splice(at..at, other[cut..].iter().copied());
            }
            _ => input.truncate(at),
        }
        input.truncate(MAX_INPUT_BYTES);
    }
}

impl Iterator for Mutations {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let pick = self.below(self.samples.len());
        let mut input = self.samples[pick].clone();
        for _ in 0..1 + self.below(6) {
            self.mutate(&mut input);
        }
        Some(input)
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_INPUT_BYTES, Mutations};

    #[test]
    fn mutations_are_reproducible_varied_and_bounded() {
        let first: Vec<_> = Mutations::new(&[b"Bearer realm=\"x\""]).take(500).collect();
        let again: Vec<_> = Mutations::new(&[b"Bearer realm=\"x\""]).take(500).collect();
        assert_eq!(first, again, "the same seed gives the same inputs");
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert!(distinct.len() > 400, "the inputs vary: {}", distinct.len());
        assert!(first.iter().all(|input| input.len() <= MAX_INPUT_BYTES));
    }

    /// The parsers of this crate return, for every input: an answer or an error, never a panic.
    #[test]
    fn the_wire_parsers_never_panic() {
        let challenges: &[&[u8]] = &[
            br#"Bearer resource_metadata="https://rs.example/.well-known/oauth-protected-resource", scope="mcp:read""#,
            br#"Bearer error="invalid_token", error_description="the token expired", Basic realm="x""#,
        ];
        for input in Mutations::new(challenges).take(10_000) {
            let text = String::from_utf8_lossy(&input);
            let _ = crate::www_authenticate::parse(&text);
            let _ = crate::basic::parse(&text);
        }
        let tokens: &[&[u8]] = &[
            b"eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImF1ZCI6WyJhIl19.c2ln",
            b"e30.e30.",
        ];
        for input in Mutations::new(tokens).take(10_000) {
            let text = String::from_utf8_lossy(&input);
            if let Ok(parts) = crate::jose::split_compact(&text) {
                let _ = crate::jose::decode_json::<serde_json::Value>(parts.header);
                let _ = crate::jose::decode_json::<crate::token::AccessTokenClaims>(parts.payload);
                let _ = crate::jose::b64url_decode(parts.signature);
            }
        }
        // Mutated JSON, then encoded, so the claims decoder sees near-valid claims sets too.
        let claims: &[&[u8]] = &[
            br#"{"iss":"https://as.example","sub":"alice","aud":["https://rs.example/mcp"],"exp":1800000300,"iat":1800000000,"nbf":1800000000,"jti":"j-1","client_id":"c","scope":"mcp:read"}"#,
            br#"{"alg":"ES256","typ":"at+jwt","kid":"k1","crit":["x"]}"#,
        ];
        let mut decoded = 0;
        for input in Mutations::new(claims).take(10_000) {
            let part = crate::jose::b64url_encode(&input);
            let token = format!("{part}.{part}.c2ln");
            // An empty part (an input mutated to nothing) is refused by the splitter itself.
            let Ok(parts) = crate::jose::split_compact(&token) else { continue };
            let _ = crate::jose::decode_json::<serde_json::Value>(parts.header);
            decoded += usize::from(crate::jose::decode_json::<crate::token::AccessTokenClaims>(parts.payload).is_ok());
        }
        assert!(decoded > 100, "the claims decoder saw near-valid sets: {decoded} decoded");
        let messages: &[&[u8]] = &[
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2]}}}"#,
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            br#"[{"jsonrpc":"2.0","id":"a","result":{}}]"#,
        ];
        for input in Mutations::new(messages).take(10_000) {
            let _ = crate::jsonrpc::parse_message(&input);
        }
    }
}
