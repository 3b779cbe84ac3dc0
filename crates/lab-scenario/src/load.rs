//! Reading scenario files: TOML into [`Scenario`], then the checks serde cannot do. Every error
//! names the file, the line and the field.

use std::path::{Path, PathBuf};

use lab_auth_server::{AsProfile, SigningAlg};
use lab_mcp_server::RsProfile;

use crate::schema::{Action, Scenario, Step};

/// A scenario file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The field the error is about, when known.
    pub field: Option<String>,
    pub message: String,
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |newline| offset - newline - 1) + 1;
    (line, column)
}

/// The line of the `index`-th `[[step]]` header (0-based), for errors about a step.
fn step_line(text: &str, index: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("[[step]]"))
        .nth(index)
        .map_or(1, |(number, _)| number + 1)
}

/// The line where `key` is set inside the `index`-th step, or the step's header line.
fn field_line(text: &str, index: usize, key: &str) -> usize {
    let start = step_line(text, index);
    for (offset, line) in text.lines().skip(start).enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("[[step]]") {
            break;
        }
        let name = trimmed.split(['=', ' ', '.']).next().unwrap_or("");
        if name == key {
            return start + offset + 1;
        }
    }
    start
}

fn section_line(text: &str, header: &str, key: &str) -> usize {
    let mut in_section = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_section = trimmed.starts_with(header);
        } else if in_section && trimmed.split(['=', ' ']).next() == Some(key) {
            return number + 1;
        }
    }
    1
}

/// Parses and checks a scenario file's text.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|error| {
        let (line, column) = error.span().map_or((1, 1), |span| position(text, span.start));
        let field = error.span().map(|span| {
            text[span.start..span.end.min(text.len())].split(['=', '\n']).next().unwrap_or("").trim().to_owned()
        });
        ScenarioError { path: path.to_owned(), line, column, field, message: error.message().trim().to_owned() }
    })?;
    let fail = |line: usize, field: &str, message: String| ScenarioError {
        path: path.to_owned(),
        line,
        column: 1,
        field: Some(field.to_owned()),
        message,
    };
    if scenario.steps.is_empty() {
        return Err(fail(1, "step", "a scenario needs at least one [[step]]".to_owned()));
    }
    let lab = &scenario.lab;
    if let Some(name) = &lab.as_profile {
        name.parse::<AsProfile>()
            .map_err(|error| fail(section_line(text, "[lab]", "as_profile"), "as_profile", error.to_string()))?;
    }
    if let Some(name) = &lab.rs_profile {
        name.parse::<RsProfile>()
            .map_err(|error| fail(section_line(text, "[lab]", "rs_profile"), "rs_profile", error.to_string()))?;
    }
    if let Some(alg) = &lab.signing_alg {
        alg.parse::<SigningAlg>()
            .map_err(|error| fail(section_line(text, "[lab]", "signing_alg"), "signing_alg", error.to_string()))?;
    }
    if let Some(verify) = &lab.verify
        && !matches!(verify.as_str(), "jwt" | "introspection")
    {
        return Err(fail(
            section_line(text, "[lab]", "verify"),
            "verify",
            format!("unknown verify mode `{verify}`, expected jwt or introspection"),
        ));
    }
    if let Some(issuer) = &lab.rs_issuer
        && !matches!(issuer.as_str(), "root" | "tenant")
    {
        return Err(fail(
            section_line(text, "[lab]", "rs_issuer"),
            "rs_issuer",
            format!("unknown issuer `{issuer}`, expected root or tenant"),
        ));
    }
    if let Some(user) = &lab.auto_approve
        && !lab_auth_server::config::lab::USERS.iter().any(|(name, _, _)| name == user)
    {
        return Err(fail(
            section_line(text, "[lab]", "auto_approve"),
            "auto_approve",
            format!("`{user}` is not a seeded user, expected alice, bob or carol"),
        ));
    }
    for (index, step) in scenario.steps.iter().enumerate() {
        check_step(step).map_err(|(field, message)| fail(field_line(text, index, field), field, message))?;
    }
    Ok(scenario)
}

/// The checks of one step that serde cannot express.
fn check_step(step: &Step) -> Result<(), (&'static str, String)> {
    if let Some(field) = step.unused_fields().first() {
        return Err((field, format!("field `{field}` is not used by `do = \"{}\"`", step.action.name())));
    }
    if let Some(target) = &step.target {
        let valid: &[&str] = match step.action {
            Action::Mcp | Action::Client | Action::Listeners => &["rs", "twin"],
            _ => &["as", "tenant"],
        };
        if !valid.contains(&target.as_str()) {
            return Err((
                "target",
                format!(
                    "unknown target `{target}` for `{}`, expected one of: {}",
                    step.action.name(),
                    valid.join(", ")
                ),
            ));
        }
    }
    match step.action {
        Action::Forge if step.kind.is_none() => return Err(("kind", "`do = \"forge\"` needs `kind`".to_owned())),
        Action::Clock if step.advance.is_none() => {
            return Err(("advance", "`do = \"clock\"` needs `advance`".to_owned()));
        }
        Action::Profile if step.as_profile.is_none() && step.rs.is_none() => {
            return Err(("as", "`do = \"profile\"` needs `as` or `rs`".to_owned()));
        }
        Action::Http if step.url.is_none() => return Err(("url", "`do = \"http\"` needs `url`".to_owned())),
        _ => {}
    }
    if let Some(name) = &step.as_profile {
        name.parse::<AsProfile>().map_err(|error| ("as", error.to_string()))?;
    }
    if let Some(name) = &step.rs {
        name.parse::<RsProfile>().map_err(|error| ("rs", error.to_string()))?;
    }
    if step.repeat.is_some_and(|times| !(1..=200).contains(&times)) {
        return Err(("repeat", "repeat must be between 1 and 200".to_owned()));
    }
    for (name, spec) in &step.capture {
        let valid = ["json:/", "redirect:", "header:", "cookie:", "html:", "var:"]
            .iter()
            .any(|prefix| spec.starts_with(prefix));
        if !valid {
            return Err((
                "capture",
                format!(
                    "capture `{name} = \"{spec}\"` must start with json:/, redirect:, header:, cookie:, html: or var:"
                ),
            ));
        }
    }
    for expect in std::iter::once(&step.expect).chain(step.exploit.as_ref()) {
        if expect.client.is_some() && step.action != Action::Client {
            return Err(("expect", "`expect.client` is only for `do = \"client\"`".to_owned()));
        }
        if let Some(client) = &expect.client {
            let valid = matches!(client.as_str(), "succeeded" | "refused" | "failed") || client.starts_with("refused:");
            if !valid {
                return Err((
                    "expect",
                    format!("expect.client `{client}` must be succeeded, refused, refused:CL-xx or failed"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Scenario, ScenarioError> {
        parse(Path::new("scenarios/x.toml"), text)
    }

    #[test]
    fn a_typo_names_file_line_and_field() {
        let error =
            parse_text("summary = \"s\"\nverdict = \"defended\"\n\n[[step]]\ndo = \"token\"\nexpect_stauts = 400\n")
                .unwrap_err();
        assert_eq!(error.line, 6, "{error}");
        assert_eq!(error.field.as_deref(), Some("expect_stauts"));
        assert!(error.to_string().starts_with("scenarios/x.toml:6:"), "{error}");
        assert!(error.message.contains("unknown field"), "{error}");
    }

    #[test]
    fn a_field_the_action_ignores_is_an_error() {
        let error = parse_text("summary = \"s\"\nverdict = \"defended\"\n\n[[step]]\ndo = \"token\"\ntool = \"x\"\n")
            .unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (6, Some("tool")), "{error}");
        assert!(error.message.contains("not used by `do = \"token\"`"));
    }

    #[test]
    fn bad_values_are_named() {
        let error = parse_text("summary = \"s\"\nverdict = \"maybe\"\n[[step]]\ndo = \"token\"\n").unwrap_err();
        assert_eq!(error.line, 2, "{error}");
        let error = parse_text(
            "summary = \"s\"\nverdict = \"defended\"\n[lab]\nas_profile = \"weak\"\n[[step]]\ndo = \"token\"\n",
        )
        .unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (4, Some("as_profile")), "{error}");
        assert!(error.message.contains("accept-plain-pkce"));
        let error = parse_text("summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"forge\"\n").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("kind"));
        let error = parse_text("summary = \"s\"\nverdict = \"defended\"\n[[step]]\ndo = \"mcp\"\ntarget = \"as\"\n")
            .unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("target")), "{error}");
        let error = parse_text("summary = \"s\"\nverdict = \"defended\"\n").unwrap_err();
        assert!(error.message.contains("step"), "{error}");
    }
}
