//! Checking what a step observed against what it expected.

use serde_json::Value;

use crate::schema::{ClientExpect, Expect, SessionIds};
use crate::vars::Vars;

/// What a `client` step ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    Succeeded,
    /// Refused by the named check (`CL-03`, …).
    Refused(String),
    Failed(String),
}

/// What a step saw.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub status: Option<u16>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body as JSON (an SSE body's JSON-RPC message).
    pub json: Option<Value>,
    pub client: Option<ClientOutcome>,
    /// The `MCP-Session-Id` of each run of the step (`None` where an answer carried none).
    pub session_ids: Vec<Option<String>>,
    /// Why the target offers nothing this step can test, when running it showed that.
    pub inapplicable: Option<String>,
}

impl Observation {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str()).collect()
    }

    /// The query parameters of the `Location` header (its fragment apart).
    pub fn redirect_params(&self) -> Option<Vec<(String, String)>> {
        let location = self.header("location")?;
        let without_fragment = location.split_once('#').map_or(location, |(before, _)| before);
        let query = without_fragment.split_once('?').map_or("", |(_, query)| query);
        Some(url::form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    /// The parameters in the `Location` header's fragment, where an implicit-style answer puts
    /// them.
    pub fn fragment_params(&self) -> Vec<(String, String)> {
        let fragment = self.header("location").and_then(|location| location.split_once('#')).map_or("", |(_, f)| f);
        url::form_urlencoded::parse(fragment.as_bytes()).into_owned().collect()
    }

    /// The `Bearer` challenge of the `WWW-Authenticate` headers.
    pub fn challenge(&self) -> Option<lab_proto::www_authenticate::Challenge> {
        let values = self.header_values("www-authenticate");
        let challenges = lab_proto::www_authenticate::parse_all(values).ok()?;
        challenges.into_iter().find(|challenge| challenge.is_scheme("Bearer"))
    }

    /// The OAuth error code, wherever it is.
    pub fn error_code(&self) -> Option<String> {
        if let Some(params) = self.redirect_params()
            && let Some((_, error)) = params.iter().find(|(name, _)| name == "error")
        {
            return Some(error.clone());
        }
        // An error answered in the fragment is still the AS's answer (O21 §4.1.2.1 puts it in the
        // query; a scenario that cares says so with `fragment_absent`).
        if let Some((_, error)) = self.fragment_params().into_iter().find(|(name, _)| name == "error") {
            return Some(error);
        }
        // A resource server's error code is its Bearer challenge's (RFC 6750 §3); the body of its
        // 401 is unspecified, so a challenge's `error` comes before a body's.
        if let Some(error) = self.challenge().and_then(|challenge| challenge.param("error").map(str::to_owned)) {
            return Some(error);
        }
        self.json.as_ref().and_then(|json| json.get("error")).and_then(Value::as_str).map(str::to_owned)
    }
}

/// The failed expectations, each as a sentence.
pub(crate) fn check(expect: &Expect, seen: &Observation, vars: &Vars) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |message: String| failures.push(message);
    let expand = |text: &str| vars.expand(text).unwrap_or_else(|error| format!("<{error}>"));
    let status = seen.status.map_or_else(|| "no status".to_owned(), |status| status.to_string());
    if let Some(wanted) = expect.status
        && seen.status != Some(wanted)
    {
        fail(format!("status: expected {wanted}, got {status}"));
    }
    if let Some(wanted) = &expect.status_in
        && !seen.status.is_some_and(|status| wanted.contains(&status))
    {
        fail(format!("status: expected one of {wanted:?}, got {status}"));
    }
    if let Some([low, high]) = expect.status_between
        && !seen.status.is_some_and(|status| (low..=high).contains(&status))
    {
        fail(format!("status: expected {low} to {high}, got {status}"));
    }
    if let Some(wanted) = expect.redirected {
        // O21 §1.6: any redirect but 307, and a redirect has somewhere to go.
        let redirect = seen.status.is_some_and(|status| (300..400).contains(&status) && status != 307)
            && seen.header("location").is_some();
        if redirect != wanted {
            let what = if wanted { "a redirect (3xx but 307, with a Location)" } else { "no redirect" };
            fail(format!("status: expected {what}, got {status}"));
        }
    }
    if let Some(wanted) = expect.stays_at_as {
        // The AS's own origins: its issuer's and its authorization endpoint's (a hosted login UI
        // may live on another origin than the issuer). A Location is resolved against the
        // authorization endpoint that answered (RFC 9110 §10.2.2), so a network-path reference
        // (`//evil.example/cb`) is judged by where it really leads.
        let own: Vec<url::Url> = ["${authorization_endpoint}", "${issuer}"]
            .iter()
            .filter_map(|name| vars.expand(name).ok())
            .filter_map(|url| url::Url::parse(&url).ok())
            .collect();
        let stays = match seen.header("location") {
            None => true,
            Some(location) => own.first().and_then(|base| base.join(location).ok()).is_some_and(|target| {
                target.origin().is_tuple() && own.iter().any(|url| url.origin() == target.origin())
            }),
        };
        if stays != wanted {
            let what = if wanted { "no redirect away from the AS" } else { "a redirect away from the AS" };
            let location = seen.header("location").map(|value| lab_client::redact_header("location", value));
            fail(format!("location: expected {what}, got {status} to {location:?}"));
        }
    }
    if let Some(wanted) = &expect.error_in {
        let got = seen.error_code();
        if !got.as_ref().is_some_and(|code| wanted.contains(code)) {
            fail(format!("error: expected one of {wanted:?}, got {}", got.unwrap_or_else(|| "none".to_owned())));
        }
    }
    if let Some(wanted) = &expect.error {
        let got = seen.error_code();
        if got.as_deref() != Some(wanted.as_str()) {
            fail(format!("error: expected {wanted}, got {}", got.unwrap_or_else(|| "none".to_owned())));
        }
    }
    for (name, wanted) in &expect.headers {
        let wanted = expand(wanted);
        match seen.header(name) {
            Some(value) if value == wanted => {}
            other => fail(format!("header {name}: expected {wanted:?}, got {:?}", shown(name, other))),
        }
    }
    for (name, wanted) in &expect.header_contains {
        let wanted = expand(wanted);
        // Header values are compared without regard to case: the tokens these checks look for
        // (`no-store`, `Bearer`, `HttpOnly`, `DENY`) are case-insensitive in their own specs
        // (RFC 9111 §5.2, RFC 9110 §11.1, RFC 6265 §5.2, RFC 7034 §2.1). A `Location` is a URI,
        // whose path is case-sensitive (RFC 3986 §6.2.2.1), so it alone is matched exactly.
        let exact = name.eq_ignore_ascii_case("location");
        let contains = |value: &&str| {
            if exact {
                value.contains(&wanted)
            } else {
                value.to_ascii_lowercase().contains(&wanted.to_ascii_lowercase())
            }
        };
        if !seen.header_values(name).into_iter().any(|value| contains(&value)) {
            fail(format!("header {name}: expected to contain {wanted:?}, got {:?}", shown(name, seen.header(name))));
        }
    }
    for name in &expect.header_absent {
        if let Some(value) = seen.header(name) {
            fail(format!("header {name}: expected absent, got {:?}", lab_client::redact_header(name, value)));
        }
    }
    if let Some(wanted) = expect.challenged
        && seen.challenge().is_some() != wanted
    {
        fail(if wanted {
            "challenge: expected a Bearer challenge in WWW-Authenticate, got none that can be read".to_owned()
        } else {
            "challenge: expected no Bearer challenge, got one".to_owned()
        });
    }
    if !expect.challenge.is_empty() || !expect.challenge_present.is_empty() || !expect.challenge_absent.is_empty() {
        match seen.challenge() {
            None if !seen.header_values("www-authenticate").is_empty() => fail(
                "challenge: WWW-Authenticate cannot be read as Bearer challenges (RFC 9110 §11.6.1; O21 §5.3.1 allows only %x20-21 / %x23-5B / %x5D-7E in error_description)"
                    .to_owned(),
            ),
            None => fail("challenge: no Bearer challenge in WWW-Authenticate".to_owned()),
            Some(challenge) => {
                for (name, wanted) in &expect.challenge {
                    let wanted = expand(wanted);
                    if challenge.param(name) != Some(wanted.as_str()) {
                        fail(format!("challenge {name}: expected {wanted:?}, got {:?}", challenge.param(name)));
                    }
                }
                for name in &expect.challenge_present {
                    if challenge.param(name).is_none_or(str::is_empty) {
                        fail(format!("challenge {name}: expected present, got none"));
                    }
                }
                for name in &expect.challenge_absent {
                    if let Some(value) = challenge.param(name) {
                        fail(format!("challenge {name}: expected absent, got {value:?}"));
                    }
                }
            }
        }
    }
    for name in &expect.fragment_absent {
        if seen.fragment_params().iter().any(|(key, _)| key == name) {
            fail(format!("redirect fragment: expected no {name}, got one (O21 §4.1.2 puts it in the query)"));
        }
    }
    if !expect.redirect.is_empty() || !expect.redirect_present.is_empty() || !expect.redirect_absent.is_empty() {
        match seen.redirect_params() {
            None => fail(format!("redirect: expected a Location header, got status {status}")),
            Some(params) => {
                let param = |name: &str| params.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
                for (name, wanted) in &expect.redirect {
                    let wanted = expand(wanted);
                    if param(name).as_deref() != Some(wanted.as_str()) {
                        fail(format!("redirect {name}: expected {wanted:?}, got {:?}", param(name)));
                    }
                }
                // Present and not empty; the value is not quoted, since it is a credential.
                for name in &expect.redirect_present {
                    if param(name).is_none_or(|value| value.is_empty()) {
                        fail(format!("redirect {name}: expected present, got none"));
                    }
                }
                for name in &expect.redirect_absent {
                    if let Some(value) = param(name) {
                        fail(format!(
                            "redirect {name}: expected absent, got {}",
                            if name == "code" { "a code".to_owned() } else { format!("{value:?}") }
                        ));
                    }
                }
            }
        }
    }
    let json = seen.json.clone().unwrap_or(Value::Null);
    for (pointer, wanted) in &expect.json {
        let wanted = vars.expand_json(wanted).unwrap_or_else(Value::String);
        // RFC 6749 §5.1: "The value is case insensitive" for `token_type`, so `bearer` is `Bearer`.
        let same_token_type = |value: &Value| {
            pointer.ends_with("/token_type")
                && value.as_str().zip(wanted.as_str()).is_some_and(|(seen, wanted)| seen.eq_ignore_ascii_case(wanted))
        };
        match json.pointer(pointer) {
            Some(value) if *value == wanted || same_token_type(value) => {}
            other => fail(format!(
                "json {pointer}: expected {wanted}, got {}",
                other.map_or_else(|| "nothing".to_owned(), Value::to_string)
            )),
        }
    }
    for pointer in &expect.json_present {
        if json.pointer(pointer).is_none_or(|value| value.is_null() || value.as_str() == Some("")) {
            fail(format!("json {pointer}: expected present, got nothing"));
        }
    }
    for pointer in &expect.json_absent {
        if let Some(value) = json.pointer(pointer) {
            fail(format!("json {pointer}: expected absent, got {}", shown_json(pointer, value)));
        }
    }
    for (pointer, wanted) in &expect.json_contains {
        let wanted = expand(wanted);
        let text = json.pointer(pointer).map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned));
        if !text.as_deref().is_some_and(|text| text.contains(&wanted)) {
            let text = text.map(|text| if secret_pointer(pointer) { "[redacted]".to_owned() } else { text });
            fail(format!("json {pointer}: expected to contain {wanted:?}, got {text:?}"));
        }
    }
    let body = String::from_utf8_lossy(&seen.body);
    for wanted in &expect.body_contains {
        let wanted = expand(wanted);
        if !body.contains(&wanted) {
            fail(format!("body: expected to contain {wanted:?}"));
        }
    }
    for unwanted in &expect.body_not_contains {
        let unwanted = expand(unwanted);
        let in_headers = seen.headers.iter().any(|(_, value)| value.contains(&unwanted));
        if !unwanted.is_empty() && (body.contains(&unwanted) || in_headers) {
            // The value itself is not repeated: it may be a secret.
            fail(format!("body: contains a value that must not appear ({} bytes)", unwanted.len()));
        }
    }
    if let Some(wanted) = expect.rpc_error {
        let got = json.pointer("/error/code").and_then(Value::as_i64);
        if got != Some(wanted) {
            fail(format!("rpc_error: expected {wanted}, got {got:?}"));
        }
    }
    if let Some(wanted) = expect.tool_error {
        let got = json.pointer("/result/isError").and_then(Value::as_bool);
        if got != Some(wanted) {
            fail(format!("tool_error: expected {wanted}, got {got:?}"));
        }
    }
    if let Some(wanted) = &expect.client {
        let ok = match (&seen.client, wanted) {
            (Some(ClientOutcome::Succeeded), ClientExpect::Succeeded)
            | (Some(ClientOutcome::Refused(_)), ClientExpect::Refused(None))
            | (Some(ClientOutcome::Failed(_)), ClientExpect::Failed) => true,
            (Some(ClientOutcome::Refused(check)), ClientExpect::Refused(Some(wanted))) => check == wanted,
            _ => false,
        };
        if !ok {
            fail(format!("client: expected {wanted}, got {:?}", seen.client));
        }
    }
    if !expect.any_of.is_empty() {
        let alternatives: Vec<Vec<String>> =
            expect.any_of.iter().map(|alternative| check(alternative, seen, vars)).collect();
        if alternatives.iter().all(|failures| !failures.is_empty()) {
            let each: Vec<String> = alternatives.iter().map(|failures| failures.join("; ")).collect();
            fail(format!("any_of: none held ({})", each.join(" | ")));
        }
    }
    if let Some(wanted) = &expect.session_ids {
        for failure in check_session_ids(wanted, &seen.session_ids) {
            fail(failure);
        }
    }
    failures
}

/// The failed checks of a sample of session ids, in words that never quote an id.
fn check_session_ids(wanted: &SessionIds, seen: &[Option<String>]) -> Vec<String> {
    let mut failures = Vec::new();
    let ids: Vec<&str> = seen.iter().flatten().map(String::as_str).collect();
    let sample = format!("{} answers", seen.len());
    if wanted.visible_ascii {
        let missing = seen.len() - ids.len();
        if missing > 0 || seen.is_empty() {
            failures.push(format!("session ids: {missing} of {sample} carried no MCP-Session-Id"));
        }
        // TR-1125 §Session Management: the id MUST only contain visible ASCII (0x21 to 0x7E).
        let bad = ids.iter().filter(|id| id.is_empty() || !id.bytes().all(|b| (0x21..=0x7e).contains(&b))).count();
        if bad > 0 {
            failures.push(format!("session ids: {bad} of {sample} contain bytes outside visible ASCII (0x21–0x7E)"));
        }
    }
    if wanted.distinct {
        let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
        if unique.len() < ids.len() {
            failures.push(format!(
                "session ids: {} of {} ids were issued more than once",
                ids.len() - unique.len(),
                ids.len()
            ));
        }
    }
    if wanted.min_bits.is_some() || wanted.max_bits.is_some() {
        let bits = estimated_entropy_bits(&ids);
        if let Some(min) = wanted.min_bits
            && bits < min
        {
            failures.push(format!(
                "session ids: about {bits:.0} bits of entropy estimated from {} ids, expected at least {min:.0}",
                ids.len()
            ));
        }
        if let Some(max) = wanted.max_bits
            && bits > max
        {
            failures.push(format!(
                "session ids: about {bits:.0} bits of entropy estimated from {} ids, expected at most {max:.0}",
                ids.len()
            ));
        }
    }
    failures
}

/// An estimate, in bits, of the entropy of the generator that issued `ids`: the sum over character
/// positions of each position's Shannon entropy across the sample, with the Miller–Madow
/// correction for the sample's size, and no position counted above log2 of the sample size (what
/// a sample can show). Positions are taken as independent, so a counter or a timestamp scores only
/// the few positions that change, and a random id about its length times log2 of its alphabet
/// (43 base64url characters: about 250 bits from 100 ids; a UUIDv4: about 122). A generator
/// that hides a counter behind a hash cannot be told from a random one by any sample.
pub(crate) fn estimated_entropy_bits(ids: &[&str]) -> f64 {
    if ids.len() < 2 {
        return 0.0;
    }
    let n = ids.len() as f64;
    let longest = ids.iter().map(|id| id.len()).max().unwrap_or(0);
    let mut total = 0.0;
    for position in 0..longest {
        // `None` stands for "this id has ended", so lengths that vary count too.
        let mut counts: std::collections::HashMap<Option<u8>, usize> = std::collections::HashMap::new();
        for id in ids {
            *counts.entry(id.as_bytes().get(position).copied()).or_default() += 1;
        }
        let plug_in: f64 = counts
            .values()
            .map(|&count| {
                let p = count as f64 / n;
                -p * p.log2()
            })
            .sum();
        let correction = (counts.len() as f64 - 1.0) / (2.0 * n * std::f64::consts::LN_2);
        total += (plug_in + correction).min(n.log2());
    }
    total
}

/// A header's value as a failure message may show it: credentials, cookies, session ids and a
/// redirect's query (a code) are redacted, whatever the variables of the run know.
fn shown(name: &str, value: Option<&str>) -> Option<String> {
    value.map(|value| lab_client::redact_header(name, value))
}

/// Whether a JSON pointer ends at a credential-shaped member (`access_token`, `client_secret`…).
fn secret_pointer(pointer: &str) -> bool {
    pointer.rsplit('/').next().is_some_and(lab_client::is_secret_name)
}

/// A JSON value as a failure message may show it: a credential-shaped member, or any member of
/// an object, is redacted by name.
fn shown_json(pointer: &str, value: &serde_json::Value) -> String {
    if secret_pointer(pointer) { "\"[redacted]\"".to_owned() } else { lab_client::redact_json(value).to_string() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A failure names what it saw without the credentials in it, even ones the run never held
    /// in a variable (a code in a forged redirect, a token in an error body, a session id).
    #[test]
    fn failures_show_no_credential() {
        let seen = Observation {
            headers: vec![
                ("location".to_owned(), "http://127.0.0.1/cb?code=c0de-SECRET&state=s".to_owned()),
                ("mcp-session-id".to_owned(), "sess-SECRET".to_owned()),
            ],
            json: Some(json!({"access_token": "at-SECRET", "nested": {"refresh_token": "rt-SECRET"}})),
            ..Default::default()
        };
        let expect = Expect {
            header_absent: vec!["location".to_owned(), "mcp-session-id".to_owned()],
            json_absent: vec!["/access_token".to_owned(), "/nested".to_owned()],
            json_contains: [("/access_token".to_owned(), "x".to_owned())].into_iter().collect(),
            ..Default::default()
        };
        let failures = check(&expect, &seen, &Vars::default());
        assert_eq!(failures.len(), 5, "{failures:?}");
        assert!(failures.iter().all(|failure| !failure.contains("SECRET")), "{failures:?}");
    }

    #[test]
    fn token_type_compares_case_insensitively_and_nothing_else_does() {
        let seen =
            Observation { json: Some(json!({"token_type": "bearer", "scope": "mcp:read"})), ..Default::default() };
        let expect = |pointer: &str, value: &str| Expect {
            json: [(pointer.to_owned(), Value::String(value.to_owned()))].into_iter().collect(),
            ..Default::default()
        };
        let vars = Vars::default();
        assert!(check(&expect("/token_type", "Bearer"), &seen, &vars).is_empty());
        assert_eq!(check(&expect("/token_type", "DPoP"), &seen, &vars).len(), 1);
        assert_eq!(check(&expect("/scope", "MCP:READ"), &seen, &vars).len(), 1);
    }

    #[test]
    fn entropy_estimate_tells_random_ids_from_counters_and_uuids() {
        let random: Vec<String> = (0..100).map(|_| lab_proto::random_token(32).unwrap()).collect();
        let random: Vec<&str> = random.iter().map(String::as_str).collect();
        let bits = estimated_entropy_bits(&random);
        assert!((230.0..=270.0).contains(&bits), "{bits}");

        let counter: Vec<String> = (0..100).map(|n| format!("session-{:08}", 5000 + n)).collect();
        let counter: Vec<&str> = counter.iter().map(String::as_str).collect();
        let bits = estimated_entropy_bits(&counter);
        assert!(bits < 10.0, "{bits}");

        // A UUIDv4 has 122 random bits: 30 free hex digits and 2 bits in the variant digit. The
        // sample is the scenario's (90 ids), and each digit takes four bits of a random byte.
        let uuids: Vec<String> = (0..90)
            .map(|_| {
                let mut bytes = [0_u8; 31];
                aws_lc_rs::rand::fill(&mut bytes).unwrap();
                let hex: String =
                    bytes.iter().map(|b| char::from(b"0123456789abcdef"[usize::from(b & 0x0f)])).collect();
                let variant = char::from(b"89ab"[usize::from(hex.as_bytes()[30]) % 4]);
                format!("{}-{}-4{}-{variant}{}-{}", &hex[0..8], &hex[8..12], &hex[12..15], &hex[15..18], &hex[18..30])
            })
            .collect();
        let uuids: Vec<&str> = uuids.iter().map(String::as_str).collect();
        let bits = estimated_entropy_bits(&uuids);
        assert!((112.0..=128.0).contains(&bits), "{bits}: the scenario's threshold of 112 bits admits a UUIDv4");
    }

    #[test]
    fn session_id_checks_name_each_fault_without_quoting_an_id() {
        let strict = SessionIds { visible_ascii: true, distinct: true, min_bits: Some(128.0), max_bits: None };
        let good: Vec<Option<String>> = (0..100).map(|_| Some(lab_proto::random_token(32).unwrap())).collect();
        assert!(check_session_ids(&strict, &good).is_empty());

        let mut faulty = good.clone();
        faulty[3] = None;
        faulty[4] = Some("has space".to_owned());
        faulty[5] = faulty[6].clone();
        let failures = check_session_ids(&strict, &faulty);
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures.iter().all(|failure| !failure.contains(faulty[6].as_deref().unwrap())));

        let counter: Vec<Option<String>> = (0..100).map(|n| Some(format!("s{n}"))).collect();
        assert_eq!(check_session_ids(&strict, &counter).len(), 1);
        let guessable = SessionIds { max_bits: Some(64.0), ..SessionIds::default() };
        assert!(check_session_ids(&guessable, &counter).is_empty());
        assert_eq!(check_session_ids(&guessable, &good).len(), 1);
    }
}
