//! `${name}` variables: the lab's URLs, and whatever steps capture.

use std::collections::BTreeMap;

use serde_json::Value;

/// The variables of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    values: BTreeMap<String, String>,
    /// Every credential the run held, in order, with the variable that held it: a refresh
    /// replaces `access_token`, but the old token was sent too and must be redacted (and looked
    /// for in logs) as well.
    used: Vec<(String, String)>,
    /// Values sent that no variable held (a scenario's literal fake bearer token): redacted like
    /// a credential, but none, so `--scan-log` does not look for them.
    redacted: Vec<String>,
}

/// The variables that hold credentials besides those whose names say so (`…token`, `…secret`,
/// `…code`, …: `lab_client::is_secret_name`), which catches captured ones.
const SECRET: [&str; 10] = [
    "login_password",
    "confidential_secret",
    "access_token",
    "refresh_token",
    "code",
    "verifier",
    "client_secret",
    "forged",
    "victim_code",
    "victim_token",
];

/// Credentials a run holds from the start (the user's own): redacted whatever their length, and
/// remembered as used only when a request carries them.
const HELD_NOT_SENT: [&str; 2] = ["confidential_secret", "login_password"];

/// A credential as it may be written down: as it is, and form-encoded as a form body or query
/// string carries it (`p@ss!` is `p%40ss%21` there). The transcript's redaction and the log scan
/// both look for these.
pub(crate) fn written_forms(value: &str) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    if encoded == value { vec![value.to_owned()] } else { vec![value.to_owned(), encoded] }
}

/// At most this many credentials are remembered per run; a scenario uses a handful.
const MAX_USED: usize = 4096;

fn is_secret(name: &str) -> bool {
    SECRET.contains(&name) || lab_client::is_secret_name(name)
}

impl Vars {
    pub(crate) fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        // A credential the run only may send (a client secret) counts as used once it is sent.
        if is_secret(&name) && !HELD_NOT_SENT.contains(&name.as_str()) {
            self.remember(&name, &value);
        }
        self.values.insert(name, value);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Remembers a credential the run sent (a variable's, or one no variable holds, such as a
    /// client secret in a Basic header), for redaction and `--scan-log`. Shorter values are not
    /// credentials worth the name, and would redact ordinary words.
    pub(crate) fn remember(&mut self, name: &str, value: &str) {
        if value.len() >= 8 && self.used.len() < MAX_USED && !self.used.iter().any(|(_, used)| used == value) {
            self.used.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Redacts `value` from every report without counting it as a credential: a bearer value a
    /// step sent that may be a scenario's literal fake token, which a server that logs it does
    /// not leak. Short values are left alone, as in [`Self::remember`].
    pub(crate) fn redact(&mut self, value: &str) {
        if value.len() >= 8 && self.redacted.len() < MAX_USED && !self.redacted.iter().any(|known| known == value) {
            self.redacted.push(value.to_owned());
        }
    }

    /// Every credential the run held, for the transcript's redaction: all it remembered and the
    /// current ones (in case more were used than it remembers), each also as a form or query
    /// string carries it ([`written_forms`]).
    pub(crate) fn secrets(&self) -> Vec<String> {
        let current = self.values.iter().filter(|(name, value)| {
            is_secret(name) && (value.len() >= 8 || (HELD_NOT_SENT.contains(&name.as_str()) && !value.is_empty()))
        });
        let mut secrets: Vec<String> = Vec::new();
        let held = self.used.iter().map(|(_, value)| value).chain(current.map(|(_, value)| value));
        for value in held.chain(&self.redacted) {
            for form in written_forms(value) {
                if !secrets.contains(&form) {
                    secrets.push(form);
                }
            }
        }
        secrets
    }

    /// Every credential the run held, with the variable that held it, for `--scan-log`.
    pub(crate) fn used_secrets(&self) -> Vec<(String, String)> {
        self.used.clone()
    }

    /// Replaces every `${name}`; an unknown name is an error naming it.
    pub(crate) fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("unterminated `${{` in {text:?}"))?;
            let name = &after[..end];
            let value = self.get(name).ok_or_else(|| missing(name))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands every string inside a JSON value.
    pub(crate) fn expand_json(&self, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::String(text) => Value::String(self.expand(text)?),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.expand_json(item)).collect::<Result<_, _>>()?)
            }
            Value::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, value)| Ok((key.clone(), self.expand_json(value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// Why `${name}` has no value, without listing the run's variables (some hold credentials, and a
/// table of them helps nobody act).
fn missing(name: &str) -> String {
    match name {
        "code" => "unknown variable `${code}`: no earlier step got an authorization code".to_owned(),
        "access_token" | "refresh_token" => {
            format!("unknown variable `${{{name}}}`: no earlier step got a token")
        }
        "client_id" => "unknown variable `${client_id}`: no earlier step registered a client".to_owned(),
        _ => format!("unknown variable `${{{name}}}`"),
    }
}

/// A JSON value as a parameter string: strings as they are, anything else as JSON.
pub(crate) fn as_param(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_variable_is_named_without_the_others() {
        let mut vars = Vars::default();
        vars.set("access_token", "eyJ-a-long-token-value");
        let error = vars.expand("${code}").unwrap_err();
        assert!(error.contains("`${code}`") && error.contains("authorization code"), "{error}");
        assert!(!error.contains("access_token") && !error.contains("eyJ"), "{error}");
        assert_eq!(vars.expand("${x}").unwrap_err(), "unknown variable `${x}`");
    }

    #[test]
    fn a_literal_bearer_value_is_redacted_but_no_credential_to_scan_logs_for() {
        let mut vars = Vars::default();
        vars.set("access_token", "eyJ-a-long-token-value");
        vars.redact("eyJ-a-long-token-value");
        vars.redact("not-a-valid-access-token");
        assert!(vars.secrets().contains(&"not-a-valid-access-token".to_owned()));
        let scanned = vars.used_secrets();
        assert!(scanned.iter().all(|(_, value)| value != "not-a-valid-access-token"), "{scanned:?}");
        assert!(scanned.iter().any(|(name, _)| name == "access_token"), "the real one stays");
    }

    #[test]
    fn a_credential_by_its_name_is_one_whatever_the_name() {
        let mut vars = Vars::default();
        vars.set("registration_access_token", "rat-0123456789");
        vars.set("issuer", "https://as.example");
        assert!(vars.secrets().contains(&"rat-0123456789".to_owned()));
        assert!(!vars.secrets().iter().any(|secret| secret.contains("as.example")));
    }

    #[test]
    fn a_credential_is_redacted_as_written_and_as_form_encoded() {
        let mut vars = Vars::default();
        vars.set("login_password", "p@ss! word");
        vars.set("access_token", "abcdefgh.ijkl");
        let secrets = vars.secrets();
        for form in ["p@ss! word", "p%40ss%21+word", "abcdefgh.ijkl"] {
            assert!(secrets.contains(&form.to_owned()), "{form} in {secrets:?}");
        }
    }

    #[test]
    fn expands_and_names_unknown_variables() {
        let mut vars = Vars::default();
        vars.set("issuer", "https://127.0.0.1:1");
        assert_eq!(vars.expand("${issuer}/token").unwrap(), "https://127.0.0.1:1/token");
        assert_eq!(vars.expand("no vars").unwrap(), "no vars");
        assert!(vars.expand("${nope}").unwrap_err().contains("`${nope}`"));
        assert!(vars.expand("${issuer").is_err());
        let json = vars.expand_json(&serde_json::json!({"a": ["${issuer}", 1]})).unwrap();
        assert_eq!(json["a"][0], "https://127.0.0.1:1");
    }
}
