//! The resource server's hostile personas for MCP 2026-07-28 clients (`check-client`): what they
//! do, and what they saw of the client, which `check-client` reads to judge it.
//!
//! - `shifting-request-state`: every tool call asks for input three times before it runs, the
//!   first two answers carrying a `requestState` (a new one each round) and the third none. SEP-2322
//!   (MCP 2026-07-28 basic/patterns/mrtr): "the client MUST echo back the exact value of that field
//!   when retrying the original request", and "If the InputRequiredResult does not contain a
//!   requestState field, the client MUST NOT include one in the retry." A retry that carries
//!   anything else is refused, and counted.
//! - `as-migration`: after the first authenticated answer, the protected resource metadata names
//!   the lab's path issuer and only its tokens are taken (SEP-2352: the client registers anew
//!   there and brings nothing of the old AS). The move itself lives in `bearer.rs` and the
//!   metadata; this module keeps what was seen.

use std::collections::HashMap;

use axum::http::StatusCode;
use lab_proto::jsonrpc::code;
use serde_json::{Map, Value, json};

use super::modern::Failure;
use crate::server::{McpServer, lock};

/// What the personas saw of the client under test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PersonaLog {
    /// `shifting-request-state`: input-required answers sent.
    pub input_rounds: u32,
    /// …retries that echoed exactly what the round before carried (a state, or none).
    pub states_echoed: u32,
    /// …retries that carried anything else (a changed, crafted, old or unasked-for state).
    pub states_refused: u32,
    /// `as-migration`: whether the server has moved to the other AS.
    pub migrated: bool,
    /// …whether a token of the new AS was taken after the move.
    pub served_after_migration: bool,
    /// …how many tokens were refused after the move (the old AS's, or anything else).
    pub refused_after_migration: u32,
}

/// The personas' state: the log, and the rounds of the shifting-state tool calls in progress.
#[derive(Debug, Default)]
pub(crate) struct PersonaState {
    pub(crate) log: PersonaLog,
    /// The states sent and not yet echoed, each with the round it was sent in: a client may have
    /// several tool calls in progress, each with its own.
    issued: HashMap<String, u32>,
    /// Third rounds answered without a state whose retry has not come yet.
    stateless: u32,
}

/// At most this many states are remembered; past it they are forgotten.
const MAX_ISSUED: usize = 1_000;

/// `shifting-request-state`: `Some(answer)` while the tool call is still asking, `None` once the
/// third retry came back right and the tool may run.
pub(super) fn shifting_round(
    server: &McpServer,
    params: Option<&Map<String, Value>>,
) -> Result<Option<Value>, Failure> {
    let echoed = params.and_then(|params| params.get("requestState"));
    let answered = params.is_some_and(|params| params.contains_key("inputResponses"));
    let mut state = lock(&server.inner.personas);
    let round = match (echoed, answered) {
        // A new call: the first round.
        (None, false) => 1,
        (Some(echoed), _) => match echoed.as_str().and_then(|echoed| state.issued.remove(echoed)) {
            Some(sent_in) => sent_in + 1,
            None => return Err(refuse(&mut state)),
        },
        // A retry of a round that carried no state: there must be one waiting.
        (None, true) if state.stateless > 0 => {
            state.stateless -= 1;
            4
        }
        (None, true) => return Err(refuse(&mut state)),
    };
    if round > 1 {
        state.log.states_echoed += 1;
    }
    if round > 3 {
        return Ok(None);
    }
    // Rounds 1 and 2 carry a state, a new one each time; round 3 carries none.
    let sent = if round < 3 {
        let nonce = lab_proto::random_token(12).map_err(|_| Failure::no_randomness())?;
        let sent = format!("round-{round}.{nonce}");
        if state.issued.len() >= MAX_ISSUED {
            state.issued.clear();
        }
        state.issued.insert(sent.clone(), round);
        Some(sent)
    } else {
        state.stateless = state.stateless.saturating_add(1);
        None
    };
    state.log.input_rounds += 1;
    let mut answer = json!({
        "resultType": "input_required",
        "inputRequests": {
            "round": {
                "method": "elicitation/create",
                "params": {
                    "mode": "form",
                    "message": format!("Round {round} of 3: go on?"),
                    "requestedSchema": {"type": "object", "properties": {"go_on": {"type": "boolean"}}},
                },
            },
        },
    });
    if let (Some(sent), Some(members)) = (sent, answer.as_object_mut()) {
        members.insert("requestState".to_owned(), json!(sent));
    }
    Ok(Some(answer))
}

/// A retry that does not carry exactly what a round sent: refused, and counted.
fn refuse(state: &mut PersonaState) -> Failure {
    state.log.states_refused += 1;
    Failure::Answer(
        StatusCode::BAD_REQUEST,
        code::INVALID_PARAMS,
        "requestState refused: the retry does not carry exactly what the last round sent".to_owned(),
        None,
    )
}

/// `as-migration`: records a token presented, checked against the new AS (`moved`) or the old
/// one, and taken (`ok`) or not; the first token taken moves the server.
pub(super) fn token_seen(server: &McpServer, moved: bool, ok: bool) {
    let mut state = lock(&server.inner.personas);
    match (moved, ok) {
        (true, true) => state.log.served_after_migration = true,
        (true, false) => state.log.refused_after_migration = state.log.refused_after_migration.saturating_add(1),
        (false, true) => state.log.migrated = true,
        (false, false) => {}
    }
}
