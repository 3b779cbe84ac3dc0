//! `run --scan-log FILE`: after a run against third-party servers, their logs are searched for
//! every credential the run used (RS-22, CL-27, MCP-1125 §Token Theft: tokens are never logged;
//! requirements §6 `client-token-leak-logs`). The run knows exactly which tokens, codes,
//! verifiers, client secrets and password it sent, so a match is a leak, not a guess. Findings
//! name the file, the line and the kind of credential, never its value.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;

use crate::catalogue::Entry;
use crate::outcome::{Observed, Report, StepReport};
use crate::report::Outcome;
use crate::schema::{LabSetup, Scenario, Verdict};

/// The id under which the scan is reported, beside the scenarios.
pub const LOG_SCAN_ID: &str = "logs/secrets-in-logs";

/// How much of each log is read: its end, where the run's lines are.
const MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;

/// How many findings are listed per file; the rest are counted.
const MAX_FINDINGS: usize = 20;

/// Searches `paths` for the credentials of `outcomes`' runs, as one more outcome of the run.
pub fn scan_logs(paths: &[PathBuf], outcomes: &[Outcome]) -> Outcome {
    let mut secrets: Vec<(&str, &str)> = Vec::new();
    for report in outcomes.iter().filter_map(|outcome| outcome.result.as_ref().ok()) {
        for (name, value) in &report.used_secrets.0 {
            if !secrets.iter().any(|(_, known)| known == value) {
                secrets.push((name, value));
            }
        }
    }
    let scenario = Scenario {
        summary: "No token, code, verifier, client secret or password the run sent appears in the servers' logs"
            .to_owned(),
        refs: ["MCP-1125 §Token Theft", "RS-22", "CL-27", "O21 §7.1.3.7"].map(str::to_owned).to_vec(),
        verdict: Verdict::Defended,
        quote: Some(
            "MCP-1125 §Token Theft: \"Attackers who obtain tokens stored by the client, or tokens cached or logged on the server can access protected resources with requests that appear legitimate to resource servers. Clients and servers MUST implement secure token storage and follow OAuth best practices\"".to_owned(),
        ),
        should_quote: None,
        remedy: Some(
            "Log no token, code, verifier, secret or password: redact them where requests are logged.".to_owned(),
        ),
        lab_rule: None,
        lab: LabSetup::default(),
        steps: Vec::new(),
    };
    let entry = Entry {
        id: LOG_SCAN_ID.to_owned(),
        area: "logs".to_owned(),
        path: paths.first().cloned().unwrap_or_default(),
        scenario,
    };
    let result = scan(paths, &secrets);
    Outcome { entry, result, not_applicable: None, transcript: None, revision: None }
}

fn scan(paths: &[PathBuf], secrets: &[(&str, &str)]) -> Result<Report, String> {
    // Each credential as sent, and as a form or query string carries it (`~` becomes `%7E`).
    let patterns: Vec<(String, &str)> = secrets
        .iter()
        .flat_map(|(name, value)| crate::vars::written_forms(value).into_iter().map(move |form| (form, *name)))
        .collect();
    let matcher = AhoCorasick::new(patterns.iter().map(|(value, _)| value))
        .map_err(|error| format!("the credentials cannot be searched for: {error}"))?;
    let mut steps = Vec::new();
    let mut transcript = vec![format!("looking for {} credentials the run used", secrets.len())];
    for path in paths {
        let (text, offset_line) = read_tail(path)?;
        let mut failures = Vec::new();
        let mut found = 0;
        let (mut line, mut counted_to) = (offset_line, 0);
        let mut last: Option<(usize, &str)> = None;
        for hit in matcher.find_iter(&text) {
            line += text[counted_to..hit.start()].iter().filter(|&&byte| byte == b'\n').count();
            counted_to = hit.start();
            let kind = kind_of(patterns[hit.pattern().as_usize()].1);
            if last == Some((line, kind)) {
                continue;
            }
            last = Some((line, kind));
            found += 1;
            if failures.len() < MAX_FINDINGS {
                failures.push(format!("line {}: {kind} the run sent", line + 1));
            }
        }
        if found > failures.len() {
            failures.push(format!("and {} more", found - failures.len()));
        }
        transcript.push(format!("{}: {} bytes read, {found} findings", path.display(), text.len()));
        steps.push(StepReport {
            label: format!("scan {}", path.display()),
            attack: true,
            // A credential in a log is the leak itself: the exploit is confirmed by the finding.
            exploit_failures: Some(Vec::new()),
            failures,
            advisories: Vec::new(),
            status: None,
        });
    }
    let observed = if secrets.is_empty() {
        // Nothing was sent, so nothing can be found: no evidence either way.
        Observed::Inapplicable("the run sent no credentials to look for".to_owned())
    } else if steps.iter().all(|step| step.failures.is_empty()) {
        Observed::Verdict(Verdict::Defended)
    } else {
        Observed::Verdict(Verdict::Vulnerable)
    };
    Ok(Report {
        id: LOG_SCAN_ID.to_owned(),
        expected: Verdict::Defended,
        observed,
        steps,
        transcript,
        exchanges: Vec::new(),
        used_secrets: crate::outcome::UsedSecrets::default(),
    })
}

/// The last [`MAX_LOG_BYTES`] of `path` (its first line may be cut), and how many lines came
/// before (so findings carry the file's own line numbers).
fn read_tail(path: &Path) -> Result<(Vec<u8>, usize), String> {
    let fail = |error: std::io::Error| format!("{} cannot be read: {error}", path.display());
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let length = file.metadata().map_err(fail)?.len();
    let skip = length.saturating_sub(MAX_LOG_BYTES);
    let mut skipped_lines = 0;
    if skip > 0 {
        // Counting the lines of what is skipped reads it once, in bounded chunks.
        let mut chunk = vec![0_u8; 1 << 20];
        let mut left = skip;
        while left > 0 {
            let want = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            let read = file.read(&mut chunk[..want]).map_err(fail)?;
            if read == 0 {
                break;
            }
            skipped_lines += chunk[..read].iter().filter(|&&byte| byte == b'\n').count();
            left -= read as u64;
        }
        file.seek(SeekFrom::Start(skip)).map_err(fail)?;
    }
    let mut text = Vec::new();
    file.take(MAX_LOG_BYTES).read_to_end(&mut text).map_err(fail)?;
    Ok((text, skipped_lines))
}

/// What a credential was, from the variable that held it.
fn kind_of(name: &str) -> &'static str {
    match name {
        name if name.ends_with("refresh_token") => "a refresh token",
        "basic_credentials" => "client credentials in an HTTP Basic header",
        "code" | "victim_code" => "an authorization code",
        "verifier" => "a PKCE code verifier",
        "client_secret" | "confidential_secret" => "a client secret",
        "login_password" => "the sign-in password",
        "forged" => "a forged token",
        name if name.ends_with("_code") => "an authorization code",
        _ => "an access token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::UsedSecrets;

    fn outcome_with(secrets: &[(&str, &str)]) -> Outcome {
        let mut outcome = scan_logs(&[], &[]);
        let report = Report {
            id: "attacks/token/x".into(),
            expected: Verdict::Defended,
            observed: Observed::Verdict(Verdict::Defended),
            steps: Vec::new(),
            transcript: Vec::new(),
            exchanges: Vec::new(),
            used_secrets: UsedSecrets(secrets.iter().map(|(name, value)| ((*name).into(), (*value).into())).collect()),
        };
        outcome.result = Ok(report);
        outcome
    }

    #[test]
    fn a_credential_in_a_log_is_found_by_line_and_kind_and_never_quoted() {
        let dir = tempfile_dir();
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        let code = "Xq7rT2mZpL9vB4nK";
        let clean = dir.join("clean.log");
        std::fs::write(&clean, "GET /mcp 200\nPOST /token 200 client=lab-public-client\n").unwrap();
        let leaky = dir.join("leaky.log");
        std::fs::write(
            &leaky,
            format!("start\nauthorization: Bearer {token}\nredeeming code={code} for a token\nok {token}\n"),
        )
        .unwrap();
        let runs = [outcome_with(&[("access_token", token), ("code", code)])];

        let outcome = scan_logs(std::slice::from_ref(&clean), &runs);
        assert!(outcome.result.as_ref().unwrap().passed(), "{}", outcome.explanation());

        let outcome = scan_logs(&[clean.clone(), leaky], &runs);
        let explanation = outcome.explanation();
        assert_eq!(outcome.status(), crate::report::Status::Failed);
        assert!(explanation.contains("the attack succeeded"), "{explanation}");
        for line in ["line 2: an access token", "line 3: an authorization code", "line 4: an access token"] {
            assert!(explanation.contains(line), "{line} in {explanation}");
        }
        assert!(!explanation.contains(token) && !explanation.contains(code), "{explanation}");

        let missing = scan_logs(&[dir.join("absent.log")], &runs);
        assert!(missing.explanation().contains("cannot be read"));

        // As a form or a query string carries it, and a refresh token captured under another name.
        let verifier = "verifier~with.tilde-and_more-characters-0123456789";
        let encoded = dir.join("encoded.log");
        std::fs::write(
            &encoded,
            "POST /token code_verifier=verifier%7Ewith.tilde-and_more-characters-0123456789\nold rt RTRTRTRTRTRT\n",
        )
        .unwrap();
        let runs = [outcome_with(&[("verifier", verifier), ("first_refresh_token", "RTRTRTRTRTRT")])];
        let explanation = scan_logs(std::slice::from_ref(&encoded), &runs).explanation();
        assert!(explanation.contains("line 1: a PKCE code verifier"), "{explanation}");
        assert!(explanation.contains("line 2: a refresh token"), "{explanation}");

        // A run that sent nothing has nothing to look for: no verdict either way.
        let nothing = scan_logs(&[clean], &[outcome_with(&[])]);
        assert_eq!(nothing.status(), crate::report::Status::NotApplicable, "{}", nothing.explanation());
    }

    #[test]
    fn a_long_log_is_read_from_its_end_with_its_own_line_numbers() {
        let dir = tempfile_dir();
        let path = dir.join("long.log");
        let mut text = "x\n".repeat(usize::try_from(MAX_LOG_BYTES).unwrap() / 2 + 10);
        text.push_str("leaked SECRETVALUE123\n");
        std::fs::write(&path, &text).unwrap();
        let runs = [outcome_with(&[("client_secret", "SECRETVALUE123")])];
        let explanation = scan_logs(std::slice::from_ref(&path), &runs).explanation();
        std::fs::remove_file(&path).ok();
        let expected = format!("line {}: a client secret", text.lines().count());
        assert!(explanation.contains(&expected), "{expected} in {explanation}");
    }

    /// A fresh folder under the system's temporary directory (left for the OS to clean: the
    /// files are a few bytes, and one of 64 MiB that the test removes itself).
    fn tempfile_dir() -> PathBuf {
        let suffix = lab_proto::random_token(6).unwrap();
        let dir = std::env::temp_dir().join(format!("lab-logscan-{}-{suffix}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
