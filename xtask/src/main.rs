//! Project automation for MCP Auth Lab, following the cargo-xtask convention
//! (<https://github.com/matklad/cargo-xtask>): `cargo xtask <command>` runs this binary through
//! the alias in `.cargo/config.toml`.
//!
//! It only orchestrates cargo. It has no dependencies and links no lab crate, so it builds in
//! seconds on a fresh clone; anything that needs the lab itself is a subcommand of `mcp-authlab`
//! that this forwards to.
//!
//! Commands:
//!
//! - `cargo xtask lab up [ARGS...]`: runs `mcp-authlab up ARGS...` (also `lab certs`, any
//!   `mcp-authlab` subcommand really).
//! - `cargo xtask test [ARGS...]`: the project's test run; cargo-nextest when installed
//!   (`--profile ci` when `CI` is set), plain `cargo test` otherwise. It first builds the bench
//!   targets in the dev profile, so the benchmarks keep compiling without a release build.
//! - `cargo xtask bench [ARGS...]`: the benchmark suite with sizes that finish in a few minutes on
//!   two cores: the criterion targets (ARGS go to criterion, e.g. a filter), then the paired
//!   summary, whose table and last lines are the headline figures (`docs/PERFORMANCE.md`).
//! - `cargo xtask conformance [ARGS...]`: installs the pinned official MCP conformance suite
//!   (`conformance/package.json`) into `target/conformance`, runs its `auth` suite against
//!   `mcp-authlab client` (`conformance/expected-failures.yml` is the baseline), then, without
//!   ARGS, the pre-release line's client requirement sets of 2026-07-28 and 2025-11-25
//!   (`conformance/expected-failures-client.yml`) and its server scenarios against the lab RS
//!   through `mcp-authlab proxy` (`conformance/expected-failures-server.yml`).
//! - `cargo xtask regen`: rewrites the generated files (`scenarios/README.md`'s catalogue table and
//!   `scenarios/schema.json`) that the test run checks for freshness.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [args...]

commands:
  lab <subcommand> [args...]   run `mcp-authlab <subcommand>` (up, certs, ...) from the project root
                               example: cargo xtask lab up --auto-approve alice
  test [args...]               run every test: cargo nextest when installed,
                               otherwise cargo test; extra args go to the test runner
  bench [--quick] [args...]    run the benchmarks (criterion, then the paired summary table);
                               extra args go to criterion, --quick also shortens the summary
  conformance [args...]        run the official MCP conformance suite's auth scenarios against
                               `mcp-authlab client`, then its server scenarios against the lab RS
                               through `mcp-authlab proxy` (needs npm; installs Node 22 from npm),
                               then the test-suite examples against `lab up --control`
  soak                         the proof under load: the lab over TLS under 200 connections
                               against the RS and the AS, then beside floods (a few minutes)
  regen                        rewrite the generated scenario table and JSON Schema";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match command.as_ref().and_then(|command| command.to_str()) {
        Some("lab") if !rest.is_empty() => lab(&rest),
        Some("test") => test(&rest),
        Some("bench") => bench(&rest),
        Some("conformance") => conformance(&rest),
        Some("soak") if rest.is_empty() => soak(),
        Some("regen") if rest.is_empty() => regen(),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: this crate lives in `<root>/xtask`.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A cargo command run from the project root, with the cargo that runs this xtask (`CARGO`), so
/// a pinned toolchain stays pinned.
fn cargo() -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(project_root());
    command
}

/// Runs `command` to completion and returns its exit code.
fn run(mut command: Command) -> Result<ExitCode, String> {
    let status = command.status().map_err(|error| format!("failed to run {command:?}: {error}"))?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        // Exit codes outside 1..=255 cannot be passed on as they are; they still mean failure.
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // Killed by a signal.
        None => ExitCode::FAILURE,
    }
}

/// `cargo xtask lab ARGS...` → `cargo run --quiet --package lab-cli --bin mcp-authlab -- ARGS...`.
fn lab(args: &[OsString]) -> Result<ExitCode, String> {
    let mut command = cargo();
    command.args(["run", "--quiet", "--package", "lab-cli", "--bin", "mcp-authlab", "--"]).args(args);
    exec(command)
}

/// Replaces this process with `command` on unix, so Ctrl-C and `kill` reach the lab itself
/// (`cargo run` does the same with the binary) and the lab can shut down gracefully; elsewhere
/// it runs the command and passes its exit code on.
#[cfg(unix)]
fn exec(mut command: Command) -> Result<ExitCode, String> {
    use std::os::unix::process::CommandExt;
    // `exec` only returns when it failed.
    let error = command.exec();
    Err(format!("failed to run {command:?}: {error}"))
}

#[cfg(not(unix))]
fn exec(command: Command) -> Result<ExitCode, String> {
    run(command)
}

/// `cargo xtask test ARGS...`: the one test command of the project.
fn test(args: &[OsString]) -> Result<ExitCode, String> {
    // The bench targets are not tests, so neither runner builds them; building them here keeps
    // them compiling. `--workspace --bench '*'` in the dev profile resolves features exactly as
    // the test build does, so every dependency is shared with it (`--benches` would also build
    // each library as a benchmark, and `cargo bench --no-run` the whole tree with optimisations).
    let mut benches = cargo();
    benches.args(["build", "--quiet", "--workspace", "--bench", "*", "--profile", "dev"]);
    let code = run(benches)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    if !nextest_installed() {
        eprintln!("xtask: cargo-nextest not found; running `cargo test --workspace`");
        let mut command = cargo();
        command.args(["test", "--workspace"]).args(args);
        return run(command);
    }
    let mut nextest = cargo();
    nextest.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    if env::var_os("CI").is_some() {
        nextest.args(["--profile", "ci"]);
    }
    nextest.args(args);
    // nextest does not run doc tests; the project keeps its examples in tests instead, so the
    // run's last line is nextest's summary of every test.
    run(nextest)
}

fn nextest_installed() -> bool {
    let mut command = cargo();
    command.args(["nextest", "--version"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    command.status().is_ok_and(|status| status.success())
}

/// Criterion settings for `cargo xtask bench`, chosen so the whole suite (42 criterion benchmarks,
/// then the summary) runs in under 5 minutes on two cores. A flag given on the command line
/// replaces the default for that flag.
const CRITERION_DEFAULTS: [(&str, &str); 4] =
    [("--warm-up-time", "0.3"), ("--measurement-time", "1"), ("--sample-size", "30"), ("--nresamples", "10000")];

/// `cargo xtask bench ARGS...`: the criterion targets `jwt` and `e2e`, then `summary`, whose
/// output ends the run (its last lines are the headline figures).
fn bench(args: &[OsString]) -> Result<ExitCode, String> {
    let mut criterion = cargo();
    criterion.args(["bench", "--package", "lab-benches", "--bench", "jwt", "--bench", "e2e", "--"]);
    let quick = args.iter().any(|arg| arg == "--quick");
    for (flag, value) in CRITERION_DEFAULTS {
        // Criterion refuses `--quick` together with `--sample-size`: quick mode sizes itself.
        let replaced = args.iter().any(|arg| arg == flag) || (quick && flag == "--sample-size");
        if !replaced {
            criterion.args([flag, value]);
        }
    }
    criterion.args(args);
    let code = run(criterion)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let mut summary = cargo();
    summary.args(["bench", "--quiet", "--package", "lab-benches", "--bench", "summary", "--"]);
    if quick {
        summary.arg("--quick");
    }
    run(summary)
}

/// `cargo xtask regen`: the freshness tests of the generated files rewrite them when
/// `LAB_UPDATE=1` is set, so regeneration and its check cannot disagree.
/// `cargo xtask soak`: the load test of `crates/lab-harness/tests/soak.rs`, which is not part of
/// the default run (`test = false`), with its measurements printed.
fn soak() -> Result<ExitCode, String> {
    let mut command = cargo();
    command.args(["test", "--package", "lab-harness", "--test", "soak", "--", "--nocapture"]);
    run(command)
}

fn regen() -> Result<ExitCode, String> {
    let mut command = cargo();
    command.args(["test", "--quiet", "--package", "lab-scenario", "--test", "scenarios", "--", "generated"]);
    command.env("LAB_UPDATE", "1");
    run(command)
}

/// The pinned version of the suite, for the messages; `conformance/package.json` is the truth.
const CONFORMANCE_SUITE: &str = "@modelcontextprotocol/conformance 0.1.16 and 0.2.0-alpha.12";

/// `cargo xtask conformance ARGS...`: the official suite's `auth` scenarios against our client.
///
/// The suite needs Node 22 (it imports `fs.globSync`); the lockfile pins the npm package `node`,
/// whose binary `node_modules/.bin` puts first on `PATH`, so any npm can install it.
fn conformance(args: &[OsString]) -> Result<ExitCode, String> {
    let root = project_root();
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target = if target.is_absolute() { target } else { root.join(target) };
    let dir = target.join("conformance");
    std::fs::create_dir_all(&dir).map_err(|error| format!("failed to create {}: {error}", dir.display()))?;

    // Reinstall only when the pinned lockfile changed since the last install.
    let lock = read(&root.join("conformance/package-lock.json"))?;
    let stamp = dir.join("installed-package-lock.json");
    let bin = dir.join("node_modules/.bin");
    if !bin.join("conformance").exists() || std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(root.join("conformance").join(file), dir.join(file))
                .map_err(|error| format!("failed to copy conformance/{file}: {error}"))?;
        }
        eprintln!("xtask: installing {CONFORMANCE_SUITE} and Node 22 into {}", dir.display());
        let mut npm = Command::new("npm");
        npm.current_dir(&dir).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        let status = npm.status().map_err(|error| {
            format!("failed to run npm ({error}); the conformance suite needs Node.js with npm on PATH")
        })?;
        if !status.success() {
            return Ok(exit_code(status));
        }
        std::fs::write(&stamp, &lock).map_err(|error| format!("failed to write {}: {error}", stamp.display()))?;
    }

    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "lab-cli", "--bin", "mcp-authlab"]);
    let code = run(build)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let client = target.join("debug").join(format!("mcp-authlab{}", env::consts::EXE_SUFFIX));

    let path = env::var_os("PATH").unwrap_or_default();
    let path = env::join_paths(std::iter::once(bin.clone()).chain(env::split_paths(&path)))
        .map_err(|error| format!("failed to build PATH: {error}"))?;
    // Each line of the suite by its own entry point: both pin the bin name `conformance`.
    let node = |package: &str| {
        let mut command = Command::new(bin.join("node"));
        command.arg(dir.join("node_modules").join(package).join("dist/index.js"));
        // The suite writes its results under the working directory.
        command.current_dir(&dir).env("PATH", &path);
        command
    };
    let mut suite = node("@modelcontextprotocol/conformance");
    suite.arg("client").arg("--command").arg(format!("{} client", client.display()));
    suite.args(["--suite", "auth", "--expected-failures"]).arg(root.join("conformance/expected-failures.yml"));
    suite.args(args);
    let code = run(suite)?;
    if code != ExitCode::SUCCESS || !args.is_empty() {
        return Ok(code);
    }
    // The pre-release line's requirement sets: every scenario each revision requires of a client,
    // at that revision's wire (the client speaks the revision the suite names).
    for requirements in ["2026-07-28", "2025-11-25"] {
        println!("--- conformance client --requirements {requirements}");
        let mut suite = node("conformance-next");
        suite.arg("client").arg("--command").arg(format!("{} client", client.display()));
        suite.args(["--requirements", requirements, "--expected-failures"]);
        suite.arg(root.join("conformance/expected-failures-client.yml"));
        let code = run(suite)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let code = conformance_servers(&root, &dir, &client, &node)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    examples(&root, &dir, &client, &bin)
}

/// The README's test-suite examples (`examples/`), run as a user runs them: against
/// `mcp-authlab up --control` (on ports the system picks, so their URLs come from the banner),
/// the Python one with the system's Python 3 and its standard library only, the Node one with the
/// Node the suite installed.
fn examples(root: &Path, dir: &Path, mcp_authlab: &Path, bin: &Path) -> Result<ExitCode, String> {
    let mut children = Children(Vec::new());
    let certs = dir.join("examples-certs");
    let mut up = Command::new(mcp_authlab);
    up.args(["up", "--ephemeral-ports", "--control", "--certs"]).arg(&certs);
    let line = start_and_read(up, "control API    https://", &mut children)?;
    let url = line.split_whitespace().find(|word| word.starts_with("https://")).ok_or("no control API URL")?;
    let with_lab = |mut command: Command| {
        command.current_dir(root).env("MCP_AUTHLAB_CONTROL_URL", url).env("MCP_AUTHLAB_CERTS", &certs);
        command
    };
    println!("--- examples/python (python3 -m unittest)");
    let mut python = with_lab(Command::new("python3"));
    python.args(["-m", "unittest", "discover", "--start-directory", "examples/python", "--verbose"]);
    let code = run(python)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    println!("--- examples/node (node --test)");
    let mut node = with_lab(Command::new(bin.join("node")));
    // Named, not the folder: from Node 21 on `--test` reads its arguments as glob patterns, and a
    // bare folder matches no test file.
    node.args(["--test", "examples/node/mcp-server-tokens.test.mjs"]);
    run(node)
}

/// The 2026-07-28 server scenarios of the suite's pre-release line (and two at 2025-11-25) that
/// fit the lab's shop, each `(scenario, spec version)`.
const SERVER_SCENARIOS: [(&str, Option<&str>); 11] = [
    ("server-stateless", Some("2026-07-28")),
    ("dns-rebinding-protection", Some("2026-07-28")),
    ("http-header-validation", Some("2026-07-28")),
    ("http-custom-header-server-validation", Some("2026-07-28")),
    ("caching", Some("2026-07-28")),
    ("sep-2164-resource-not-found", Some("2026-07-28")),
    ("tools-list", Some("2026-07-28")),
    ("input-required-result-unsupported-methods", Some("2026-07-28")),
    ("input-required-result-tampered-state", Some("2026-07-28")),
    ("tools-list", None),
    ("dns-rebinding-protection", None),
];

/// Kills the child processes it holds when dropped, whatever path the run took (and if xtask
/// itself is killed, their stdin closes, which stops them: `MCP_AUTHLAB_STOP_ON_STDIN_EOF`).
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `command` with its stdout piped and waits (at most a minute) for a line holding
/// `marker`, returning that line.
fn start_and_read(mut command: Command, marker: &str, children: &mut Children) -> Result<String, String> {
    use std::io::BufRead as _;
    // The child stops when this end of its stdin closes: when xtask ends, however it ends.
    command.stdout(std::process::Stdio::piped()).stdin(std::process::Stdio::piped());
    command.env("MCP_AUTHLAB_STOP_ON_STDIN_EOF", "1");
    let mut child = command.spawn().map_err(|error| format!("failed to start {command:?}: {error}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    children.0.push(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    let wanted = marker.to_owned();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(&wanted) {
                let _ = sender.send(line);
            }
        }
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(60))
        .map_err(|_| format!("{command:?} exited, or printed no line with {marker:?} within a minute"))
}

/// The suite's server scenarios against the lab RS through `mcp-authlab proxy` (the suite cannot
/// send a bearer token): a lab on ports the system picks, with the suite's fixtures, and the proxy
/// in front of its MCP endpoint.
fn conformance_servers(
    root: &Path,
    dir: &Path,
    mcp_authlab: &Path,
    node: &impl Fn(&str) -> Command,
) -> Result<ExitCode, String> {
    let mut children = Children(Vec::new());
    let certs = dir.join("certs");
    let mut up = Command::new(mcp_authlab);
    up.args(["up", "--ephemeral-ports", "--auto-approve", "alice", "--conformance-fixtures", "--certs"]).arg(&certs);
    let line = start_and_read(up, "MCP endpoint", &mut children)?;
    let endpoint = line.split_whitespace().find(|word| word.starts_with("https://")).ok_or("no MCP endpoint URL")?;
    let mut proxy = Command::new(mcp_authlab);
    proxy.args(["proxy", "--target", endpoint, "--user", "alice", "--allow-host", "127.0.0.1:*", "--ca"]);
    proxy.arg(certs.join("ca.pem"));
    let line = start_and_read(proxy, "forwards to", &mut children)?;
    let url = line.split_whitespace().find(|word| word.starts_with("http://")).ok_or("no proxy URL")?.to_owned();
    let mut failed = Vec::new();
    for (scenario, version) in SERVER_SCENARIOS {
        let mut suite = node("conformance-next");
        suite.args(["server", "--url", &url, "--scenario", scenario]);
        if let Some(version) = version {
            suite.args(["--spec-version", version]);
        }
        suite.arg("--expected-failures").arg(root.join("conformance/expected-failures-server.yml"));
        let label = format!("{scenario} at {}", version.unwrap_or("2025-11-25"));
        println!("--- conformance server {label}");
        if run(suite)? != ExitCode::SUCCESS {
            failed.push(label);
        }
    }
    if failed.is_empty() {
        println!("conformance server: {} scenarios passed through mcp-authlab proxy", SERVER_SCENARIOS.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("conformance server: failed: {}", failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("failed to read {}: {error}", path.display()))
}
