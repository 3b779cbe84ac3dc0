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
}

/// The personas' state: the log, and the round a shifting-state tool call is in.
#[derive(Debug, Default)]
pub(crate) struct PersonaState {
    pub(crate) log: PersonaLog,
    /// The round of the current tool call (0: none asked yet) and the state its last answer
    /// carried.
    round: u32,
    expected: Option<String>,
}

/// `shifting-request-state`: `Some(answer)` while the tool call is still asking, `None` once the
/// third retry came back right and the tool may run.
pub(super) fn shifting_round(
    server: &McpServer,
    params: Option<&Map<String, Value>>,
) -> Result<Option<Value>, Failure> {
    let echoed = params.and_then(|params| params.get("requestState"));
    let answered = params.is_some_and(|params| params.contains_key("inputResponses"));
    let mut state = lock(&server.inner.personas);
    if !answered && echoed.is_none() {
        // A new call: the first round.
        state.round = 0;
        state.expected = None;
    } else {
        let right = match (&state.expected, echoed) {
            (Some(expected), Some(echoed)) => echoed.as_str() == Some(expected.as_str()),
            (None, None) => state.round > 0,
            _ => false,
        };
        if !right {
            state.log.states_refused += 1;
            return Err(Failure::Answer(
                StatusCode::BAD_REQUEST,
                code::INVALID_PARAMS,
                "requestState refused: the retry does not carry exactly what the last round sent".to_owned(),
                None,
            ));
        }
        state.log.states_echoed += 1;
    }
    state.round += 1;
    if state.round > 3 {
        state.round = 0;
        state.expected = None;
        return Ok(None);
    }
    // Rounds 1 and 2 carry a state, a new one each time; round 3 carries none.
    state.expected = (state.round < 3)
        .then(|| lab_proto::random_token(12).ok().map(|nonce| format!("round-{}.{nonce}", state.round)))
        .flatten();
    state.log.input_rounds += 1;
    let mut answer = json!({
        "resultType": "input_required",
        "inputRequests": {
            "round": {
                "method": "elicitation/create",
                "params": {
                    "mode": "form",
                    "message": format!("Round {} of 3: go on?", state.round),
                    "requestedSchema": {"type": "object", "properties": {"go_on": {"type": "boolean"}}},
                },
            },
        },
    });
    if let (Some(expected), Some(members)) = (&state.expected, answer.as_object_mut()) {
        members.insert("requestState".to_owned(), json!(expected));
    }
    Ok(Some(answer))
}

/// `as-migration`: records a verified token, and moves after the first one. Called only under
/// that profile; `migrated` says whether the token was the new AS's.
pub(super) fn token_taken(server: &McpServer, migrated: bool) {
    let mut state = lock(&server.inner.personas);
    if migrated {
        state.log.served_after_migration = true;
    } else {
        state.log.migrated = true;
    }
}
