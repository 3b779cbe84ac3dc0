//! One test per scenario file, named by its path (`attacks/token/code-replay.toml`), plus the
//! freshness checks of the generated `scenarios/schema.json` and catalogue table. The format is
//! described in `scenarios/README.md`. Set `LAB_UPDATE=1` to rewrite the generated files.

use std::path::PathBuf;

use lab_scenario::catalogue;
use libtest_mimic::{Arguments, Failed, Trial};

fn run_file(id: String, path: PathBuf) -> Result<(), Failed> {
    let text = std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    // deny_unknown_fields and the action checks: a typo is a failing test naming file, line, field.
    let scenario = lab_scenario::parse(&path, &text).map_err(|error| error.to_string())?;
    // nextest runs each test in its own process, so every scenario gets a fresh lab on port 0.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let report = runtime.block_on(lab_scenario::run(&id, &scenario))?;
    if report.passed() {
        return Ok(());
    }
    let transcript = lab_scenario::write_transcript(&report, &lab_scenario::test_transcript_dir())
        .map(|path| path.display().to_string())
        .unwrap_or_else(|error| format!("(not written: {error})"));
    Err(format!("{}\ntranscript: {transcript}", report.explanation()).into())
}

fn fresh(name: &str, path: PathBuf, expected: String) -> Result<(), Failed> {
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == expected {
        return Ok(());
    }
    if std::env::var_os("LAB_UPDATE").is_some() {
        std::fs::write(&path, expected).map_err(|error| error.to_string())?;
        return Ok(());
    }
    Err(format!(
        "{name} is stale: run `cargo xtask regen` (or LAB_UPDATE=1 cargo test -p lab-scenario --test scenarios)"
    )
    .into())
}

fn main() -> std::process::ExitCode {
    let arguments = Arguments::from_args();
    let root = catalogue::default_dir();
    let mut trials = Vec::new();
    match catalogue::files(&root) {
        Ok(files) => {
            for (id, path) in files {
                let name = format!("{id}.toml");
                let kind = catalogue::area(&id);
                trials.push(Trial::test(name, move || run_file(id, path)).with_kind(kind));
            }
        }
        Err(error) => trials.push(Trial::test("scenario folder", move || Err(error.to_string().into()))),
    }
    let schema_path = root.join("schema.json");
    trials.push(Trial::test("generated/schema.json", move || {
        fresh("scenarios/schema.json", schema_path, catalogue::schema_json())
    }));
    let readme_path = root.join("README.md");
    trials.push(Trial::test("generated/catalogue-table", move || {
        let entries = catalogue::load(&catalogue::default_dir()).map_err(|error| error.to_string())?;
        let readme = std::fs::read_to_string(&readme_path).map_err(|error| error.to_string())?;
        let updated = catalogue::with_table(&readme, &catalogue::table(&entries))
            .ok_or("scenarios/README.md has no catalogue markers")?;
        fresh("the catalogue table in scenarios/README.md", readme_path, updated)
    }));
    libtest_mimic::run(&arguments, trials).exit_code()
}
