//! The `mcp-authlab` binary as a user runs it: the scenario runner's reports, and `check-client`
//! judging the conforming client against hostile personas.

use std::process::Command;

/// The binary, run in a working directory of this test process's own, so that what it writes
/// there by default (transcripts) never lands in the checkout.
fn mcp_authlab() -> Command {
    let cwd = std::env::temp_dir().join(format!("mcp-authlab-it-cwd-{}", std::process::id()));
    // A folder that cannot be made shows as the command failing to start.
    let _ = std::fs::create_dir_all(&cwd);
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-authlab"));
    command.current_dir(cwd);
    command
}

#[test]
fn run_prints_the_closing_line_and_writes_every_report() {
    let dir = std::env::temp_dir().join(format!("mcp-authlab-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (junit, sarif, html) = (dir.join("r.xml"), dir.join("r.sarif"), dir.join("r.html"));
    let output = mcp_authlab()
        .args(["run", "six-step-flow", "pkce-plain-downgrade", "--junit"])
        .arg(&junit)
        .arg("--sarif")
        .arg(&sarif)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.lines().last(), Some("3 passed, 0 failed"), "{stdout}");
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<testsuites"));
    let sarif: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap().len(), 3);
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_filters_and_flags_are_clear_errors() {
    let output = mcp_authlab().args(["run", "no-such-scenario-anywhere"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no scenario under"));
    let output = mcp_authlab().args(["check-client", "--command", "true", "--persona", "nice"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown persona `nice`"));
    // A pre-registered client names its AS (CL-12), as an issuer.
    let output = mcp_authlab().args(["client", "https://127.0.0.1:1/mcp", "--client-id", "c"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--client-issuer"), "{output:?}");
    let output = mcp_authlab()
        .args(["client", "https://127.0.0.1:1/mcp", "--client-id", "c", "--client-issuer", "http://as.example"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected an issuer"), "{output:?}");
}

#[test]
fn check_client_judges_the_conforming_client_right_against_every_persona() {
    // A tool call, so that the shifting-request-state persona has something to ask about.
    let client = format!("{} client --tool list_orders", env!("CARGO_BIN_EXE_mcp-authlab"));
    let output = mcp_authlab().args(["check-client", "--command", &client, "--timeout", "30"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("13 passed, 0 failed"), "{stdout}");
    // At 2025-11-25 the personas of 2026-07-28 do not apply (the earlier revision has no such
    // rules), and the iss checks are graded by OAuth 2.1's recommendation rather than a MUST.
    let legacy = format!("{client} --revision 2025-11-25");
    let output = mcp_authlab()
        .args(["check-client", "--command", &legacy, "--persona", "modern-only", "--persona", "as-migration"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "not applicable is no failure: {stdout}");
    assert!(stdout.contains("N/A modern-only") && stdout.contains("N/A as-migration"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 0 failed, 2 not applicable"), "{stdout}");
    // A client that does nothing at all is judged wrong where it had to complete the flow.
    let output = mcp_authlab()
        .args(["check-client", "--command", "true", "--persona", "conforming", "--persona", "wrong-iss"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("WRONG (MUST) conforming") && stdout.contains("RIGHT wrong-iss"), "{stdout}");
    // A client that leaves a process behind holding its output: the group is stopped, and what
    // the client printed is still read. The process it left writes down its pid, so the test
    // checks that it was stopped rather than how long the run took.
    let pid_file = std::env::temp_dir().join(format!("mcp-authlab-it-leftover-{}", std::process::id()));
    let command = format!("sleep 600 & echo $! > '{}'; echo still-here", pid_file.display());
    let output =
        mcp_authlab().args(["check-client", "--command", &command, "--persona", "conforming"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("WRONG (MUST) conforming") && stdout.contains("last output: still-here"), "{stdout}");
    let leftover: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    std::fs::remove_file(&pid_file).unwrap();
    let running = still_runs(leftover);
    if running {
        // Not left behind for ten minutes when the check fails.
        let _ = Command::new("kill").arg("-9").arg(leftover.to_string()).status();
    }
    assert!(!running, "the process the client left behind (pid {leftover}) still runs");
}

/// Whether process `pid` still runs, as `/proc` tells: a process that is gone, a zombie, one on
/// its way out or one with a SIGKILL pending no longer does. `check-client` waits for its `kill`
/// to return, and by then the signal is at least pending, so the answer does not depend on how
/// fast the kernel finishes the process.
fn still_runs(pid: u32) -> bool {
    assert!(std::path::Path::new("/proc/self/stat").exists(), "this check reads /proc");
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) state ppid pgrp session tty_nr tpgid flags …`: the command name may hold
    // spaces, so the fields are counted from its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let state = fields.first().copied().unwrap_or("X");
    let flags: u64 = fields.get(6).and_then(|flags| flags.parse().ok()).unwrap_or(0);
    const PF_EXITING: u64 = 0x4;
    if matches!(state, "Z" | "X" | "x") || flags & PF_EXITING != 0 {
        return false;
    }
    // SIGKILL is signal 9, bit 8 of the pending masks (per thread and shared).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kill_pending = status.lines().any(|line| {
        let mask = line.strip_prefix("SigPnd:").or_else(|| line.strip_prefix("ShdPnd:"));
        mask.and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok()).is_some_and(|mask| mask & (1 << 8) != 0)
    });
    !kill_pending
}

#[test]
fn run_against_an_as_alone_signs_in_headlessly_with_a_pre_registered_client() {
    // The lab's AS with its login and consent page (no auto-approval), on loopback port 0.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lab = runtime.block_on(lab_harness::start(lab_harness::LabConfig::ephemeral())).unwrap();
    let dir = std::env::temp_dir().join(format!("mcp-authlab-as-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).unwrap();
    let (user, password) = ("alice", "alice-pass");
    let run = |extra: &[&str]| {
        mcp_authlab()
            .args(["run", "state-echo-exact", "code-wrong-client", "customer-admin-scope"])
            .args(["client-auth-basic-failure", "no-token", "refresh-wrong-client"])
            .args(["--as-url", lab.issuer(), "--resource", lab.resource(), "--ca"])
            .arg(&ca)
            .args(extra)
            .env("MCP_AUTHLAB_PASSWORD", password)
            .output()
            .unwrap()
    };
    let output = run(&["--login", user, "--client-id", "lab-public-client"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // Each authorization went through the page: the sign-in really happened.
    assert!(stdout.contains("PASS attacks/authorize/state-echo-exact"), "{stdout}");
    assert!(
        stdout.contains(
            "N/A  attacks/authorize/customer-admin-scope (not applicable: it tests a decision of the lab's own"
        ),
        "{stdout}"
    );
    // This AS knows the lab's confidential client (the probe before the run asked it), so the
    // scenarios that authenticate as that client apply without --confidential-client.
    assert!(stdout.contains("PASS attacks/token/client-auth-basic-failure"), "{stdout}");
    assert!(stdout.contains("N/A  attacks/rs-validation/no-token (not applicable: the `rs-validation` scenarios test an MCP server: add --rs-url)"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("4 passed, 0 failed, 2 skipped"), "{stdout}");
    // A confidential client of the AS's own, its secret from the environment, makes the
    // scenarios of the lab's confidential client applicable; a wrong secret fails them.
    // (Each refused token request counts against the AS's limit of ten a minute per client, so
    // the wrong secret is tried on one scenario only.)
    let confidential = |id: &str, secret: &str, scenarios: &[&str]| {
        mcp_authlab()
            .arg("run")
            .args(scenarios)
            .args(["--as-url", lab.issuer(), "--resource", lab.resource(), "--ca"])
            .arg(&ca)
            .args(["--login", user, "--client-id", "lab-public-client", "--confidential-client", id])
            .env("MCP_AUTHLAB_PASSWORD", password)
            .env("MCP_AUTHLAB_CLIENT_SECRET", secret)
            .output()
            .unwrap()
    };
    let output = confidential(
        "lab-confidential-client",
        "lab-confidential-secret",
        &["client-auth-basic-failure", "pkce-downgrade-verifier-without-challenge"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // The PKCE downgrade tests a decision of the lab's own (a confidential client may skip PKCE).
    assert!(stdout.contains("N/A  attacks/token/pkce-downgrade-verifier-without-challenge (not applicable: it tests a decision of the lab's own"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed, 1 skipped"), "{stdout}");
    assert!(!stdout.contains("lab-confidential-secret"), "{stdout}");
    for (id, secret) in [("lab-confidential-client", "not-the-secret"), ("nobody-knows-me", "lab-confidential-secret")]
    {
        let output = confidential(id, secret, &["client-auth-basic-failure"]);
        assert!(!output.status.success(), "{id}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("0 passed, 1 failed"), "{id}");
    }
    let output = mcp_authlab()
        .args(["run", "client-auth-basic-failure", "--as-url", lab.issuer(), "--ca"])
        .arg(&ca)
        .args(["--confidential-client", "lab-confidential-client"])
        .env_remove("MCP_AUTHLAB_CLIENT_SECRET")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("MCP_AUTHLAB_CLIENT_SECRET, which is not set"));
    // The report draws the third-party AS in the AS's lane, every request of the flow there.
    let output = run(&["--login", user, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let state_echo = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "attacks/authorize/state-echo-exact")
        .unwrap();
    let lanes: std::collections::BTreeSet<&str> =
        state_echo["exchanges"].as_array().unwrap().iter().filter_map(|exchange| exchange["to"].as_str()).collect();
    assert_eq!(lanes, ["AS"].into_iter().collect(), "{state_echo}");
    // Without the sign-in the AS answers with its login page: nothing the scenario tests can be
    // judged, so it is not applicable and says what is missing (never a pass, nor a false finding).
    let output = mcp_authlab()
        .args(["run", "state-echo-exact", "--as-url", lab.issuer(), "--resource", lab.resource(), "--ca"])
        .arg(&ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("the AS asks a person to sign in (a login or consent page): add --login USER"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 0 failed, 1 skipped"), "{stdout}");
    // The password comes from the environment, never from a flag.
    let output = mcp_authlab()
        .args(["run", "--as-url", lab.issuer(), "--ca"])
        .arg(&ca)
        .args(["--login", user])
        .env_remove("MCP_AUTHLAB_PASSWORD")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("MCP_AUTHLAB_PASSWORD, which is not set"));
    runtime.block_on(lab.shutdown());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_against_a_running_system_passes_what_applies_and_skips_the_rest() {
    // A running system on loopback port 0: the lab's AS approving alice, and its MCP server.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = lab_harness::LabConfig::ephemeral();
    config.auto_approve = Some("alice".to_owned());
    let lab = runtime.block_on(lab_harness::start(config)).unwrap();
    let dir = std::env::temp_dir().join(format!("mcp-authlab-system-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).unwrap();
    // The servers' log is searched for the run's credentials afterwards (this one has none).
    let log = dir.join("server.log");
    std::fs::write(&log, "POST /token 200\nPOST /mcp 401\n").unwrap();
    let output = mcp_authlab()
        .args(["run", "token-get-method", "code-wrong-client", "no-token", "expired-token", "embedded-jwk"])
        .args(["--rs-url", lab.resource(), "--as-url", lab.issuer(), "--ca"])
        .arg(&ca)
        .arg("--scan-log")
        .arg(&log)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // The clock and the lab AS's key are not the running system's: not applicable, never passed.
    assert!(
        stdout.contains("N/A  attacks/rs-validation/expired-token@2025-11-25 (not applicable: it forges"),
        "{stdout}"
    );
    assert!(
        stdout.contains("N/A  attacks/rs-validation/embedded-jwk@2025-11-25 (not applicable: it forges"),
        "{stdout}"
    );
    assert!(stdout.contains("[log] PASS logs/secrets-in-logs (defended: as expected)"), "{stdout}");
    // The server speaks both revisions: the scenario that fits either runs at each, and says so.
    assert!(stdout.contains("PASS attacks/rs-validation/no-token@2025-11-25 (defended)"), "{stdout}");
    assert!(stdout.contains("PASS attacks/rs-validation/no-token@2026-07-28 (defended)"), "{stdout}");
    assert!(stdout.contains("PASS attacks/token/token-get-method (defended)"), "an AS scenario has no revision");
    assert_eq!(stdout.lines().last(), Some("5 passed, 0 failed, 3 skipped"), "{stdout}");
    let output = mcp_authlab().args(["run", "no-token", "--scan-log"]).arg(dir.join("absent.log")).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("absent.log cannot be read"));
    // An issuer must be an https URL, and the AS battery needs the MCP server that trusts it.
    let output = mcp_authlab().args(["run", "--rs-url", lab.resource(), "--as-url", "http://x"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("--as-url expects an issuer"));
    let output = mcp_authlab().args(["run", "--rs-url", lab.resource(), "--resource", "https://x"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be used with"));
    runtime.block_on(lab.shutdown());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_that_speaks_only_2026_07_28_is_tested_at_that_revision_and_the_report_says_so() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = lab_harness::LabConfig::ephemeral();
    config.auto_approve = Some("alice".to_owned());
    config.revisions = lab_mcp_server::Revisions::Modern;
    let lab = runtime.block_on(lab_harness::start(config)).unwrap();
    let dir = std::env::temp_dir().join(format!("mcp-authlab-modern-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).unwrap();
    let output = mcp_authlab()
        .args(["run", "no-token", "bearer-scheme-case", "six-step-flow", "mcp-name-mismatch", "--json"])
        .args(["--rs-url", lab.resource(), "--as-url", lab.issuer(), "--ca"])
        .arg(&ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let grade = |name: &str| {
        let scenarios = report["scenarios"].as_array().unwrap();
        let found = scenarios.iter().find(|scenario| scenario["name"] == name);
        found.map(|scenario| (scenario["grade"].as_str().unwrap_or_default().to_owned(), scenario["revision"].clone()))
    };
    // At 2025-11-25 nothing applies (its `initialize` is refused), at 2026-07-28 everything runs.
    for id in ["attacks/rs-validation/no-token", "attacks/rs-validation/bearer-scheme-case", "flows/six-step-flow"] {
        assert_eq!(grade(&format!("{id}@2025-11-25")).map(|(grade, _)| grade).as_deref(), Some("not-applicable"));
        let (grade, revision) = grade(&format!("{id}@2026-07-28")).unwrap();
        assert_eq!((grade.as_str(), revision.as_str()), ("passed", Some("2026-07-28")), "{id}: {report}");
    }
    let reason = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|scenario| scenario["name"] == "flows/six-step-flow@2025-11-25")
        .map(|scenario| scenario["not_applicable_reason"].as_str().unwrap_or_default().to_owned())
        .unwrap();
    assert!(reason.contains("speaks only MCP 2026-07-28"), "{reason}");
    assert_eq!(
        grade("attacks/transport/mcp-name-mismatch@2026-07-28").map(|(grade, _)| grade).as_deref(),
        Some("passed")
    );
    // What was learnt of the server is reported beside the verdicts; discovery without a token
    // is information (the revision is silent), never a finding.
    let information = report["information"].to_string();
    assert!(information.contains("MCP 2025-11-25: not spoken"), "{information}");
    assert!(information.contains("MCP 2026-07-28: spoken"), "{information}");
    assert!(information.contains("server/discover without a token: refused 401 with a challenge"), "{information}");
    runtime.block_on(lab.shutdown());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_third_party_rs_is_checked_before_the_run_and_its_certs_are_never_rewritten() {
    let dir = std::env::temp_dir().join(format!("mcp-authlab-rs-alone-{}", std::process::id()));
    let certs = dir.join("certs");
    // A URL that is not one, and a server that is not there: one line each, before any scenario.
    let output = mcp_authlab().args(["run", "no-token", "--rs-url", "not-a-url"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--rs-url expects the MCP endpoint's absolute URL"));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("no-token"), "no scenario ran");
    let output = mcp_authlab()
        .args(["run", "no-token", "--rs-url", "https://127.0.0.1:1/mcp", "--certs"])
        .arg(&certs)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("run `mcp-authlab certs --out"), "no CA yet");
    assert!(mcp_authlab().args(["certs", "--out"]).arg(&certs).output().unwrap().status.success());
    let output = mcp_authlab()
        .args(["run", "no-token", "--rs-url", "https://127.0.0.1:1/mcp", "--certs"])
        .arg(&certs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("could not reach the MCP server at https://127.0.0.1:1/mcp: could not connect"),
        "{stderr}"
    );
    assert!(!stderr.contains("builder error"), "{stderr}");

    // The user's server: the lab's RS serving the folder's leaf, started before the run.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = lab_harness::LabConfig::ephemeral();
    config.cert_dir = Some(certs.clone());
    let server = runtime.block_on(lab_harness::start(config)).unwrap();
    let leaf = std::fs::read(certs.join("server.pem")).unwrap();
    let key = std::fs::read(certs.join("server-key.pem")).unwrap();
    // A scenario that fails against it, so that a transcript is written, with --json.
    let scenarios = dir.join("scenarios/attacks/rs-validation");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("teapot.toml"),
        "summary = \"s\"\nverdict = \"defended\"\nquote = \"RFC 2324 §2.3.2\"\nremedy = \"Be a teapot.\"\n[[step]]\ndo = \"mcp\"\nmethod = \"initialize\"\nsession = false\ntoken = \"none\"\nexpect = { status = 418 }\n",
    )
    .unwrap();
    let as_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let transcripts = dir.join("transcripts");
    // The run against the user's server, with the folder's scenario and transcripts.
    let run_teapot = |extra: &[&str]| {
        mcp_authlab()
            .args(["run", "--rs-url", server.resource(), "--as-port", &as_port.to_string(), "--certs"])
            .arg(&certs)
            .arg("--scenarios")
            .arg(dir.join("scenarios"))
            .arg("--transcripts")
            .arg(&transcripts)
            .args(extra)
            .output()
            .unwrap()
    };
    let output = run_teapot(&["--json"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let path = report["scenarios"][0]["transcript"].as_str().unwrap_or_default().to_owned();
    assert!(path.starts_with(&transcripts.display().to_string()), "{report}");
    assert!(std::fs::read_to_string(&path).unwrap().contains("expected 418"), "the transcript names the failure");
    assert_eq!(report["scenarios"][0]["grade"], "nonconforming", "a MUST broken, nothing exploited");
    // Below --fail-on the finding is reported, and the run passes.
    let output = run_teapot(&["--fail-on", "vulnerable"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("NOTE attacks/rs-validation/teapot@2025-11-25 (nonconforming:"), "{stdout}");
    assert!(stdout.contains("findings: 0 vulnerable, 1 nonconforming, 0 advisory; 0 could not conclude"), "{stdout}");
    // A request without a token fits either revision; whether this server speaks 2026-07-28
    // cannot be learnt (it trusts another AS than the run's), so that run does not apply.
    assert!(stdout.contains("N/A  attacks/rs-validation/teapot@2026-07-28 (not applicable: whether the server speaks MCP 2026-07-28 could not be learnt"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 0 failed, 1 below --fail-on vulnerable, 1 skipped"), "{stdout}");
    let output = mcp_authlab().args(["run", "--fail-on", "serious"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected one of: vulnerable, nonconforming, advisory"));
    assert_eq!(std::fs::read(certs.join("server.pem")).unwrap(), leaf, "the server's certificate is untouched");
    assert_eq!(std::fs::read(certs.join("server-key.pem")).unwrap(), key, "and so is its key");
    runtime.block_on(server.shutdown());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One plain-HTTP request on loopback, answered with `Connection: close`: the status line, the
/// headers and the body, as text. A failure to connect, send or read fails the test.
#[expect(clippy::unwrap_used, reason = "a test helper fails the test by panicking")]
fn http_post(address: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let host = headers.iter().find(|(name, _)| *name == "host").map_or(address, |(_, value)| *value);
    let mut request =
        format!("POST {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers.iter().filter(|(name, _)| *name != "host") {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_proxy_forwards_plain_http_to_a_protected_server_with_the_token_it_obtained() {
    use std::io::BufRead as _;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lab = runtime
        .block_on(lab_harness::start(lab_harness::LabConfig {
            auto_approve: Some("alice".to_owned()),
            ..lab_harness::LabConfig::ephemeral()
        }))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("mcp-authlab-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, lab.ca_pem()).unwrap();
    let mut proxy = mcp_authlab()
        .args(["proxy", "--target", lab.resource(), "--user", "alice", "--allow-host", "127.0.0.1:*", "--ca"])
        .arg(&ca)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A failed assertion must not leave the proxy, which holds a token, running.
    struct Kill(Option<std::process::Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Some(child) = &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let stdout = proxy.stdout.take().unwrap();
    let mut guard = Kill(Some(proxy));
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|word| word.starts_with("http://")).unwrap_or_else(|| panic!("{line}"));
    let (address, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    let path = format!("/{path}");
    let discover = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "server/discover"),
    ];
    let answer = http_post(address, &path, &headers, discover);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""supportedVersions":["2026-07-28"]"#), "{answer}");
    // `Origin` passes through, so the target still judges where a request comes from.
    let mut from_evil = headers.to_vec();
    from_evil.push(("origin", "http://evil.example"));
    let answer = http_post(address, &path, &from_evil, discover);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // A token sent to the proxy is replaced by its own, never forwarded.
    let mut forged = headers.to_vec();
    forged.push(("authorization", "Bearer not-a-token"));
    assert!(http_post(address, &path, &forged, discover).starts_with("HTTP/1.1 200"));
    // A request that names another host (a DNS-rebinding page's) is not forwarded.
    let answer = http_post(address, &path, &[("host", "evil.example:80")], discover);
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    let mut proxy = guard.0.take().unwrap();
    proxy.kill().unwrap();
    let output = proxy.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The proxy logs requests by method and status only: no token, no header.
    assert!(stderr.contains("POST -> 200"), "{stderr}");
    assert!(!stderr.contains("Bearer") && !stderr.contains("eyJ"), "{stderr}");
    runtime.block_on(lab.shutdown());
}
