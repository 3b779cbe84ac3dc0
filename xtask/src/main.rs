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
//!   (`--profile ci` when `CI` is set), plain `cargo test` otherwise.

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
                               otherwise cargo test; extra args go to the test runner";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match command.as_ref().and_then(|command| command.to_str()) {
        Some("lab") if !rest.is_empty() => lab(&rest),
        Some("test") => test(&rest),
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
