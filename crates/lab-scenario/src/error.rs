//! The runner's errors; like every library error here, their messages read after "failed to". A run that cannot start is a [`RunError`]; a step that cannot run ends
//! its scenario as broken, with a [`StepError`] that names the step's field where one is at fault.

/// A scenario that could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The lab the scenario runs on did not start.
    #[error("start the lab for scenario `{id}`: {source}")]
    StartLab {
        id: String,
        #[source]
        source: lab_harness::HarnessError,
    },
    /// The runner's HTTP client could not be built (a CA that rustls refuses, say).
    #[error("build the HTTP client for scenario `{id}`: {source}")]
    HttpClient {
        id: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Why one step could not run; the runner adds the scenario and the step's label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StepError {
    /// A field's `${variable}` could not be expanded.
    #[error("use field `{field}`: {message}")]
    Field { field: &'static str, message: String },
    /// The system's random source failed.
    #[error("draw from the random source")]
    Random,
    /// The request got no answer (refused, reset, timed out, TLS).
    #[error("get an answer: {0}")]
    NoAnswer(String),
    /// The answer's body could not be read (too large, cut off).
    #[error("read the answer's body: {0}")]
    Body(String),
    /// A capture found nothing in the answer.
    #[error("capture `{name}` from `{spec}`: the answer has nothing there")]
    Capture { name: String, spec: String },
    /// A token to forge could not be built.
    #[error("forge the token: {0}")]
    Forge(String),
    /// The conforming client could not be set up.
    #[error("set up the conforming client: {0}")]
    Client(String),
    /// The headless sign-in at a third-party AS went wrong.
    #[error("sign in headlessly: {0}")]
    SignIn(String),
}

impl StepError {
    /// A closure that wraps a `Vars` error as the error of `field`.
    pub(crate) fn field(field: &'static str) -> impl Fn(String) -> Self {
        move |message| Self::Field { field, message }
    }
}
