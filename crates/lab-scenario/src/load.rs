//! Reading scenario files: TOML into [`Scenario`] (which types every step once), then the checks
//! serde cannot do. Every error names the file, the line and the field.

use std::path::{Path, PathBuf};

use crate::schema::{Expect, Scenario, Step, StepAction, Verdict};

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

fn is_step_header(line: &str) -> bool {
    line.trim_start().starts_with("[[step]]")
}

/// The line of the `index`-th `[[step]]` header (0-based), for errors about a step.
fn step_line(text: &str, index: usize) -> usize {
    text.lines().enumerate().filter(|(_, line)| is_step_header(line)).nth(index).map_or(1, |(number, _)| number + 1)
}

/// The step (0-based) whose table holds 1-based `line`, if any.
fn step_at(text: &str, line: usize) -> Option<usize> {
    let headers = text.lines().take(line).filter(|line| is_step_header(line)).count();
    headers.checked_sub(1)
}

/// The line where `key` is set inside the `index`-th step (as `key = …`, or as a sub-table
/// `[step.key]`), or the step's header line.
fn field_line(text: &str, index: usize, key: &str) -> usize {
    let start = step_line(text, index);
    for (offset, line) in text.lines().skip(start).enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            // A sub-table of this step (`[step.expect]`, `[step.expect.redirect]`) belongs to it;
            // any other header (the next `[[step]]`, `[lab]`) ends it.
            let header = trimmed.trim_start_matches('[').split(']').next().unwrap_or_default().trim();
            match header.strip_prefix("step.") {
                Some(sub) if !trimmed.starts_with("[[") => {
                    if sub.split('.').next() == Some(key) {
                        return start + offset + 1;
                    }
                    continue;
                }
                _ => break,
            }
        }
        let name = trimmed.split(['=', ' ', '.']).next().unwrap_or("");
        if name == key {
            return start + offset + 1;
        }
    }
    start
}

/// The name between the first pair of backticks after `marker` in a serde message.
fn named_in<'m>(message: &'m str, marker: &str) -> Option<&'m str> {
    let rest = &message[message.find(marker)? + marker.len()..];
    let rest = rest.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Which key of step `index` a serde error without a field name is about: the first key whose
/// removal makes that error go away. Only error paths pay for this; it names the field of a bad
/// value inside an action's fields, which serde reports without one.
fn culprit_key(text: &str, index: usize, message: &str) -> Option<String> {
    let table: toml::Table = text.parse().ok()?;
    let steps = table.get("step")?.as_array()?;
    let keys: Vec<String> = steps.get(index)?.as_table()?.keys().filter(|key| *key != "do").cloned().collect();
    keys.into_iter().find(|key| {
        let mut probe = table.clone();
        if let Some(step) = probe
            .get_mut("step")
            .and_then(toml::Value::as_array_mut)
            .and_then(|steps| steps.get_mut(index))
            .and_then(toml::Value::as_table_mut)
        {
            step.remove(key);
        }
        match toml::Value::Table(probe).try_into::<Scenario>() {
            Ok(_) => true,
            Err(error) => !error.message().contains(message.trim()),
        }
    })
}

/// A TOML or serde error as the file, line and field it is about.
fn located(path: &Path, text: &str, error: &toml::de::Error) -> ScenarioError {
    let mut message = error.message().trim().to_owned();
    let span = error.span();
    let (mut line, mut column) = span.as_ref().map_or((1, 1), |span| position(text, span.start));
    let spanned = span.as_ref().map_or("", |span| &text[span.start.min(text.len())..span.end.min(text.len())]);
    // The key of the line the error is on (`as_profile = "weak"` names `as_profile` whether the span
    // covers the key or the value), else the start of what the span covers.
    let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
    let key =
        line_text.split_once('=').map(|(key, _)| key.trim()).filter(|key| !key.is_empty() && !key.starts_with('['));
    let mut field = key
        .map(str::to_owned)
        .or_else(|| Some(spanned.split(['=', '\n']).next().unwrap_or("").trim().to_owned()))
        .filter(|field| !field.is_empty());
    // An error inside an action's fields (`do = "…"` selects them) is reported on the whole step
    // table, without a line of its own: find the field and its line.
    if let Some(index) =
        step_at(text, line).filter(|_| spanned.contains('\n') || spanned.trim_start().starts_with("[["))
    {
        let action = toml_action(text, index).unwrap_or_default();
        // An unknown action is the tagged enum's "unknown variant" naming the step's own `do`.
        let unknown_action = named_in(&message, "unknown variant ").is_some_and(|variant| variant == action);
        let tag = (unknown_action || message.contains("`do`")).then(|| "do".to_owned());
        let named = tag
            .or_else(|| named_in(&message, "unknown field ").map(str::to_owned))
            .or_else(|| named_in(&message, "missing field ").map(str::to_owned))
            .or_else(|| culprit_key(text, index, &message));
        if let Some(name) = named {
            if message.starts_with("unknown field") {
                message = if ACTION_FIELDS.contains(&name.as_str()) {
                    format!("field `{name}` is not used by `do = \"{action}\"`")
                } else {
                    format!("unknown field `{name}` in a `do = \"{action}\"` step")
                };
            } else if !message.contains(&format!("`{name}`")) {
                message = format!("`{name}`: {message}");
            }
            line = field_line(text, index, &name);
            column = 1;
            field = Some(name);
        }
    }
    ScenarioError { path: path.to_owned(), line, column, field, message }
}

/// The `do` of step `index`, read from the raw TOML.
fn toml_action(text: &str, index: usize) -> Option<String> {
    let table: toml::Table = text.parse().ok()?;
    let step = table.get("step")?.as_array()?.get(index)?;
    step.get("do")?.as_str().map(str::to_owned)
}

/// Every field some action reads: an unknown field that is one of these is one the step's own
/// action does not use.
const ACTION_FIELDS: [&str; 36] = [
    "target",
    "with",
    "remove",
    "add",
    "headers",
    "basic",
    "tool",
    "args",
    "method",
    "token",
    "session",
    "url",
    "form",
    "json",
    "body",
    "kind",
    "claims",
    "typ",
    "into",
    "advance",
    "as",
    "rs",
    "user",
    "scope",
    "metadata_document",
    "client_id",
    "client_secret",
    "exp_in",
    "nbf_in",
    "iat_in",
    "sign_in",
    "header",
    "alg",
    "omit_typ",
    "revision",
    "capabilities",
];

/// Parses and checks a scenario file's text.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|error| located(path, text, &error))?;
    if scenario.steps.is_empty() {
        return Err(ScenarioError {
            path: path.to_owned(),
            line: 1,
            column: 1,
            field: Some("step".to_owned()),
            message: "a scenario needs at least one [[step]]".to_owned(),
        });
    }
    // A file of the attack catalogue says what a finding breaks and what fixes it: reports show
    // both beside every finding.
    let attack_file = path.components().any(|part| part.as_os_str() == "attacks");
    for (field, value) in [("quote", &scenario.quote), ("remedy", &scenario.remedy)] {
        if attack_file && value.as_deref().is_none_or(|text| text.trim().is_empty()) {
            return Err(ScenarioError {
                path: path.to_owned(),
                line: 1,
                column: 1,
                field: Some(field.to_owned()),
                message: format!(
                    "an attack scenario needs `{field}`: {}",
                    if field == "quote" {
                        "the sentence its expectations stand on, with its source"
                    } else {
                        "one line on what a target that fails it should change"
                    }
                ),
            });
        }
    }
    let fail = |index: usize, field: &str, message: String| ScenarioError {
        path: path.to_owned(),
        line: field_line(text, index, field),
        column: 1,
        field: Some(field.to_owned()),
        message,
    };
    for (index, step) in scenario.steps.iter().enumerate() {
        check_step(step, scenario.is_attack(index)).map_err(|(field, message)| fail(index, field, message))?;
    }
    // A weak twin proves that an attack succeeds, so each of its attack steps must say what
    // success looks like; without an `exploit`, any failure (a 500 included) would count as the
    // attack succeeding. A control that only sets the attack up is a setup step.
    if scenario.verdict == Verdict::Vulnerable {
        for (index, step) in scenario.steps.iter().enumerate() {
            if scenario.is_attack(index) && step.exploit.is_none() {
                return Err(fail(
                    index,
                    "exploit",
                    format!(
                        "the attack step `{}` of a `vulnerable` scenario needs an `exploit`: what the attack achieves when it succeeds",
                        step.label()
                    ),
                ));
            }
        }
    }
    Ok(scenario)
}

/// The checks of one step that serde cannot express.
fn check_step(step: &Step, attack: bool) -> Result<(), (&'static str, String)> {
    if let Some(oauth) = step.action.oauth()
        && oauth.sign_in.is_some()
        && !matches!(step.action, StepAction::Authorize(_))
    {
        return Err(("sign_in", format!("field `sign_in` is not used by `do = \"{}\"`", step.action.name())));
    }
    if let StepAction::Profile(switch) = &step.action
        && switch.as_profile.is_none()
        && switch.rs.is_none()
    {
        return Err(("as", "`do = \"profile\"` needs `as` or `rs`".to_owned()));
    }
    for (field, expect) in [
        ("exploit", &step.exploit),
        ("should", &step.should),
        ("lab_only", &step.lab_only),
        ("not_applicable_if", &step.not_applicable_if),
    ] {
        if expect.as_ref().is_some_and(Expect::is_empty) {
            return Err((field, format!("the step `{}` has an empty `{field}`: it would always hold", step.label())));
        }
    }
    if attack && step.expect.is_empty() && step.should.as_ref().is_none_or(Expect::is_empty) {
        return Err((
            "expect",
            format!("the attack step `{}` has an empty `expect` and no `should`: it could never fail", step.label()),
        ));
    }
    if let StepAction::Forge(forge) = &step.action {
        use crate::schema::ForgeKind;
        if !forge.header.is_empty() && forge.kind != ForgeKind::Resign {
            return Err((
                "header",
                "`header` is only for `kind = \"resign\"`: other kinds fix their own header".to_owned(),
            ));
        }
        match (&forge.alg, forge.kind) {
            (Some(_), kind) if kind != ForgeKind::None => {
                return Err(("alg", "`alg` is only for `kind = \"none\"`: other kinds fix their own `alg`".to_owned()));
            }
            // Another spelling of `none`: anything else would be another forgery than the kind says.
            (Some(alg), _) if !alg.eq_ignore_ascii_case("none") => {
                return Err(("alg", format!("`alg` must be `none` in some case (`NONE`, `None`), got `{alg}`")));
            }
            _ => {}
        }
        if forge.omit_typ && forge.kind != ForgeKind::Resign {
            return Err(("omit_typ", "`omit_typ` is only for `kind = \"resign\"`".to_owned()));
        }
        if forge.omit_typ && forge.typ.is_some() {
            return Err(("omit_typ", "`omit_typ` drops the `typ` that `typ` sets: give one of the two".to_owned()));
        }
        // The AS's key decides alg and kid, and typ has its own field: a header that replaced
        // them would sign something else than the file says.
        if let Some(name) = forge.header.keys().find(|name| ["alg", "typ", "kid"].contains(&name.as_str())) {
            return Err(("header", format!("`header` adds members; `{name}` is the signing key's or `typ`'s own")));
        }
    }
    for expect in step.expectations() {
        if expect.client.is_some() && !matches!(step.action, StepAction::Client(_)) {
            return Err(("expect", "`expect.client` is only for `do = \"client\"`".to_owned()));
        }
    }
    // An expectation that compares the answer with a value the step took from that same answer
    // holds whatever the answer is.
    let own = step.answer_vars();
    let expectations = [
        ("expect", Some(&step.expect)),
        ("exploit", step.exploit.as_ref()),
        ("should", step.should.as_ref()),
        ("lab_only", step.lab_only.as_ref()),
    ];
    for (which, expect) in expectations {
        let Some(expect) = expect else { continue };
        for (field, text) in expect.fields_with_texts() {
            if let Some(name) = crate::schema::variables_in(text).find(|name| own.contains(name)) {
                return Err((
                    which,
                    format!(
                        "`{which}.{field}` compares the answer with `${{{name}}}`, which this step takes from that same answer, so it cannot fail; say what is meant (for a code: `redirect_present = [\"code\"]`)"
                    ),
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

    const HEAD: &str = "summary = \"s\"\nverdict = \"defended\"\n";

    /// Issue 14: a scenario file of any content is read into a scenario or a located error, never
    /// a panic (the catalogue's own files are the samples).
    #[test]
    fn the_scenario_reader_never_panics() {
        let dir = crate::catalogue::default_dir().join("attacks/rs-validation");
        let samples: Vec<Vec<u8>> = ["alg-none-spelling.toml", "typ-missing.toml", "exp-not-a-number.toml"]
            .iter()
            .map(|name| std::fs::read(dir.join(name)).unwrap())
            .collect();
        let samples: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        for input in lab_proto::mutate::Mutations::new(&samples).take(8_000) {
            if let Err(error) = parse_text(&String::from_utf8_lossy(&input)) {
                assert!(!error.message.is_empty());
            }
        }
    }

    #[test]
    fn a_typo_names_file_line_and_field() {
        let error = parse_text(&format!("{HEAD}\n[[step]]\ndo = \"token\"\nexpect_stauts = 400\n")).unwrap_err();
        assert_eq!(error.line, 6, "{error}");
        assert_eq!(error.field.as_deref(), Some("expect_stauts"));
        assert!(error.to_string().starts_with("scenarios/x.toml:6:"), "{error}");
        assert!(error.message.contains("unknown field"), "{error}");
    }

    #[test]
    fn a_field_the_action_ignores_is_an_error() {
        let error = parse_text(&format!("{HEAD}\n[[step]]\ndo = \"token\"\ntool = \"x\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (6, Some("tool")), "{error}");
        assert!(error.message.contains("not used by `do = \"token\"`"), "{error}");
    }

    #[test]
    fn a_bad_value_inside_an_action_names_its_line_and_field() {
        let error =
            parse_text(&format!("{HEAD}[[step]]\ndo = \"register\"\n[[step]]\ndo = \"clock\"\nadvance = \"soon\"\n"))
                .unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (7, Some("advance")), "{error}");
        assert!(error.message.contains("invalid type"), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"profile\"\n\nrs = \"weak\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (6, Some("rs")), "{error}");
        assert!(
            error.message.contains("unknown resource server profile") || error.message.contains("`weak`"),
            "{error}"
        );
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"http\"\nurl = \"x\"\nmethod = \"G T\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (6, Some("method")), "{error}");
        assert!(error.message.contains("not an HTTP method"), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"http\"\nmethod = \"GET\"\n")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("url"), "{error}");
        assert!(error.message.contains("missing field `url`"), "{error}");
    }

    #[test]
    fn bad_values_are_named() {
        let error = parse_text("summary = \"s\"\nverdict = \"maybe\"\n[[step]]\ndo = \"token\"\n").unwrap_err();
        assert_eq!(error.line, 2, "{error}");
        let error = parse_text(&format!("{HEAD}[lab]\nas_profile = \"weak\"\n[[step]]\ndo = \"token\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (4, Some("as_profile")), "{error}");
        assert!(error.message.contains("accept-plain-pkce"), "{error}");
        let error =
            parse_text(&format!("{HEAD}[lab]\nauto_approve = \"mallory\"\n[[step]]\ndo = \"token\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (4, Some("auto_approve")), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"forge\"\n")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("kind"), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"mcp\"\ntarget = \"as\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("target")), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"mcp\"\ncapture = {{ x = \"body:y\" }}\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("capture")), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"mcp\"\nrepeat = 0\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("repeat")), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"profile\"\n")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("as"), "{error}");
        let error = parse_text(HEAD).unwrap_err();
        assert!(error.message.contains("step"), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\nname = \"x\"\ndo = \"tokn\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("do")), "{error}");
        assert!(error.message.contains("`tokn`") && error.message.contains("`token`"), "{error}");
        let error = parse_text(&format!("{HEAD}[[step]]\nname = \"x\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (3, Some("do")), "{error}");
    }

    #[test]
    fn an_expectation_that_compares_an_answer_with_itself_is_refused() {
        let error = parse_text(&format!(
            "{HEAD}[[step]]\ndo = \"register\"\n[[step]]\ndo = \"authorize\"\nexpect = {{ status = 302, redirect = {{ code = \"${{code}}\" }} }}\n"
        ))
        .unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (7, Some("expect")), "{error}");
        assert!(error.message.contains("`expect.redirect` compares the answer with `${code}`"), "{error}");
        // A captured value compared in the same step is refused as well ...
        let error = parse_text(&format!(
            "{HEAD}[[step]]\ndo = \"mcp\"\ncapture = {{ sid = \"header:mcp-session-id\" }}\nexpect = {{ headers = {{ mcp-session-id = \"${{sid}}\" }} }}\n"
        ))
        .unwrap_err();
        assert!(error.message.contains("`${sid}`"), "{error}");
        // ... but not a value the step chose and the answer must echo (`state`), nor a `var:`
        // capture, nor a value an earlier step took.
        parse_text(&format!(
            "{HEAD}[[step]]\ndo = \"register\"\n[[step]]\ndo = \"authorize\"\ncapture = {{ sent = \"var:challenge\" }}\nexpect = {{ redirect = {{ state = \"${{state}}\" }}, redirect_present = [\"code\"], body_not_contains = [\"${{sent}}\"] }}\n[[step]]\ndo = \"token\"\nexpect = {{ body_not_contains = [\"${{code}}\"] }}\n"
        ))
        .unwrap();
    }

    #[test]
    fn a_field_in_a_sub_table_is_found_there_and_a_later_table_ends_the_step() {
        let text = format!(
            "{HEAD}[[step]]\ndo = \"register\"\n[[step]]\ndo = \"authorize\"\n\n[step.expect]\nstatus = 302\n\n[step.expect.redirect]\ncode = \"${{code}}\"\n"
        );
        let error = parse_text(&text).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (8, Some("expect")), "{error}");
        assert_eq!(field_line("[[step]]\ndo = \"x\"\n[lab]\nexpect = 1\n", 0, "expect"), 1, "[lab] is not the step's");
    }

    #[test]
    fn an_attack_file_without_its_quote_or_remedy_is_refused() {
        let text = format!("{HEAD}[[step]]\ndo = \"token\"\nexpect = {{ status = 400 }}\n");
        let path = Path::new("scenarios/attacks/token/x.toml");
        let error = parse(path, &text).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (1, Some("quote")), "{error}");
        let quoted = format!("quote = 'O21 §3.2: \"…\"'\n{text}");
        let error = parse(path, &quoted).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("remedy"), "{error}");
        parse(path, &format!("remedy = \"Refuse it.\"\n{quoted}")).unwrap();
        parse(Path::new("scenarios/flows/x.toml"), &text).unwrap();
    }

    #[test]
    fn a_weak_twin_without_an_exploit_is_refused() {
        let text = "summary = \"s\"\nverdict = \"vulnerable\"\n[[step]]\ndo = \"register\"\n[[step]]\ndo = \"token\"\nexpect = { status = 400 }\n";
        let error = parse_text(text).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("exploit")), "{error}");
        assert!(error.message.contains("needs an `exploit`"), "{error}");
        parse_text(&format!("{text}exploit = {{ status = 200 }}\n")).unwrap();
        // Every attack step of a twin, not just one of them.
        let two = "summary = \"s\"\nverdict = \"vulnerable\"\n[[step]]\ndo = \"token\"\nattack = true\nexpect = { status = 400 }\nexploit = { status = 200 }\n[[step]]\nname = \"control\"\ndo = \"token\"\nattack = true\nexpect = { status = 200 }\n";
        let error = parse_text(two).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (8, Some("exploit")), "{error}");
        assert!(error.message.contains("`control`"), "{error}");
        // An exploit that asks nothing always holds.
        let error = parse_text(&format!("{text}exploit = {{}}\n")).unwrap_err();
        assert!(error.message.contains("empty `exploit`"), "{error}");
    }

    #[test]
    fn an_attack_step_that_expects_nothing_is_refused() {
        let error = parse_text(&format!("{HEAD}[[step]]\ndo = \"register\"\n[[step]]\ndo = \"token\"\n")).unwrap_err();
        assert_eq!((error.line, error.field.as_deref()), (5, Some("expect")), "{error}");
        assert!(error.message.contains("empty `expect`"), "{error}");
        let error = parse_text(&format!(
            "{HEAD}[[step]]\ndo = \"register\"\nattack = true\n[[step]]\ndo = \"token\"\nexpect = {{ status = 200 }}\n"
        ))
        .unwrap_err();
        assert_eq!(error.line, 3, "{error}");
    }

    #[test]
    fn a_forged_header_is_only_for_a_resigned_token() {
        let step = "[[step]]\ndo = \"forge\"\nkind = \"none\"\nheader = { crit = [\"x\"] }\n[[step]]\ndo = \"mcp\"\nexpect = { status = 401 }\n";
        let error = parse_text(&format!("{HEAD}{step}")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("header"), "{error}");
        assert!(error.message.contains("only for `kind = \"resign\"`"), "{error}");
        parse_text(&format!("{HEAD}{}", step.replace("\"none\"", "\"resign\""))).unwrap();
        let error = parse_text(&format!("{HEAD}{}", step.replace("\"none\"", "\"resign\"").replace("crit", "alg")))
            .unwrap_err();
        assert!(error.message.contains("`alg` is the signing key's"), "{error}");
        // `typ` is dropped by its own flag, on a resigned token, and not beside `typ`.
        let resign = step.replace("\"none\"", "\"resign\"").replace("header = { crit = [\"x\"] }", "omit_typ = true");
        parse_text(&format!("{HEAD}{resign}")).unwrap();
        let error =
            parse_text(&format!("{HEAD}{}", resign.replace("omit_typ", "typ = \"JWT\"\nomit_typ"))).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("omit_typ"), "{error}");
        let error = parse_text(&format!("{HEAD}{}", resign.replace("\"resign\"", "\"none\""))).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("omit_typ"), "{error}");
        // A field of another action is named as such.
        let error =
            parse_text(&format!("{HEAD}[[step]]\ndo = \"mcp\"\nomit_typ = true\nexpect = {{ status = 401 }}\n"))
                .unwrap_err();
        assert!(error.message.contains("is not used by `do = \"mcp\"`"), "{error}");
    }

    #[test]
    fn an_alg_spelling_is_only_for_an_unsecured_token() {
        let step = "[[step]]\ndo = \"forge\"\nkind = \"none\"\nalg = \"NONE\"\n[[step]]\ndo = \"mcp\"\nexpect = { status = 401 }\n";
        parse_text(&format!("{HEAD}{step}")).unwrap();
        let error = parse_text(&format!("{HEAD}{}", step.replace("\"none\"", "\"stripped\""))).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("alg"), "{error}");
        let error = parse_text(&format!("{HEAD}{}", step.replace("NONE", "ES256"))).unwrap_err();
        assert!(error.message.contains("must be `none` in some case"), "{error}");
    }
}
