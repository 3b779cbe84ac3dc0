//! The resource-server and transport families: the answers the MCP servers built with the
//! official Python and TypeScript SDKs gave (a 401 challenge with `error="invalid_token"` and no
//! scope for a request without a token, a plain-text 400 or a 406 for a token sent twice, a 421
//! for a foreign `Host`, a 200 for `DELETE`, an SSE stream for `GET`) break no MUST; what only a
//! SHOULD asks is an advisory; data served, a token accepted or an evil origin served still fail.

use super::{allowed, answer, judge, scenario, vars};
use crate::expect::{Observation, check};
use crate::judge::{Projection, project};

const PRM: &str = "https://rs.example/.well-known/oauth-protected-resource/mcp";
const JSON: (&str, &str) = ("content-type", "application/json");

/// The MUST failures of `seen` at step `label` of scenario `id`.
fn must(id: &str, label: &str, seen: &Observation) -> Vec<String> {
    judge(id, label, seen, &vars()).0
}

/// The SHOULD failures (advisories) of `seen` at step `label` of scenario `id`.
fn should(id: &str, label: &str, seen: &Observation) -> Vec<String> {
    judge(id, label, seen, &vars()).1
}

/// Whether the `exploit` of step `label` of scenario `id` holds for `seen` (`None`: it states
/// none, so a failed defence there is a MUST broken, never a confirmed attack). As in a real run,
/// an exploit with nothing left to judge at a third-party server (a tool call's result) does not
/// hold.
fn exploit_holds(id: &str, label: &str, seen: &Observation) -> Option<bool> {
    let scenario = scenario(id);
    let step = scenario.steps.iter().find(|step| step.label() == label).expect("the step");
    let how = Projection::of(step, true, true);
    step.exploit.as_ref().map(|exploit| {
        let projected = project(exploit, how);
        !projected.is_empty() && check(&projected, seen, &vars()).is_empty()
    })
}

/// Both SDKs' answer to a request without a usable token: the MUST parts (401, a Bearer challenge
/// naming the metadata) with an error code the SHOULD NOT of O21 §5.3.2 advises against, and no
/// scope (the SHOULD of MCP-1125).
fn sdk_unauthorized() -> Observation {
    let challenge = format!(
        r#"Bearer error="invalid_token", error_description="Authentication required", resource_metadata="{PRM}""#
    );
    answer(
        401,
        &[JSON, ("www-authenticate", &challenge)],
        r#"{"error":"invalid_token","error_description":"Authentication required"}"#,
    )
}

/// What the lab answers: the challenge with the metadata and a scope, no error code.
fn lab_unauthorized() -> Observation {
    let challenge = format!(r#"Bearer resource_metadata="{PRM}", scope="mcp:read""#);
    answer(401, &[("www-authenticate", &challenge)], "")
}

/// An `initialize` served: what no refusal may look like.
fn served() -> Observation {
    answer(
        200,
        &[JSON, ("mcp-session-id", "3f0c7a1e-7c1b-4d55-9a39-0f3b1de2a8c4")],
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"x","version":"1"}}}"#,
    )
}

/// A tool result carrying alice's order.
fn alices_data() -> Observation {
    answer(
        200,
        &[JSON],
        r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"A-1001"}],"isError":false}}"#,
    )
}

#[test]
fn a_request_without_a_token_may_carry_an_error_code_and_no_scope_as_advisories() {
    for (id, label) in [
        ("attacks/rs-validation/no-token", "mcp"),
        ("attacks/rs-validation/token-in-query", "the token in the query only"),
        ("attacks/transport/local-unauthenticated-access", "POST tools/call from loopback, no token"),
        ("attacks/transport/local-unauthenticated-access", "GET (the SSE stream), no token"),
        ("attacks/transport/local-unauthenticated-access", "DELETE (end a session), no token"),
        ("attacks/transport/session-without-token", "the session id alone"),
    ] {
        allowed(id, label, &sdk_unauthorized());
        let advisories = should(id, label, &sdk_unauthorized());
        assert!(advisories.iter().any(|advisory| advisory.contains("challenge error")), "{id}: {advisories:?}");
        assert!(advisories.iter().any(|advisory| advisory.contains("www-authenticate")), "{id}: {advisories:?}");
        // The lab's answer meets the SHOULDs too; a third party's scope need not be mcp:read.
        assert_eq!(judge(id, label, &lab_unauthorized(), &vars()), (vec![], vec![]), "{id}");
        let other_scope = answer(
            401,
            &[("www-authenticate", &format!(r#"Bearer resource_metadata="{PRM}", scope="files:read""#))],
            "",
        );
        assert_eq!(judge(id, label, &other_scope, &vars()), (vec![], vec![]), "{id}");
        // Served, or a 401 without a Bearer challenge, fails; one that does not name the metadata
        // is an advisory (MCP-1125's other way is the well-known URI).
        assert!(!must(id, label, &served()).is_empty(), "{id}");
        assert!(!must(id, label, &answer(401, &[], "")).is_empty(), "{id}");
        let unnamed = answer(401, &[("www-authenticate", r#"Bearer realm="mcp""#)], "");
        assert!(must(id, label, &unnamed).is_empty(), "{id}");
    }
}

#[test]
fn a_token_sent_twice_may_be_refused_with_any_client_error() {
    let (id, label) = ("attacks/rs-validation/token-multiple-methods", "header and form body at once");
    assert!(!scenario(id).refs.iter().any(|key| key == "RS-09"), "RS-09 is the JWT checks, not this");
    // The Python SDK: a plain-text 400 without a challenge.
    let python = answer(400, &[("content-type", "text/plain")], "Invalid Content-Type header");
    allowed(id, label, &python);
    // The 400 is all the SHOULD asks: the request carried a token, so a challenge is a MAY.
    assert!(should(id, label, &python).is_empty(), "a 400 meets the SHOULD");
    // The TypeScript SDK: a 406 JSON-RPC error.
    let typescript = answer(
        406,
        &[JSON],
        r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Not Acceptable: Client must accept both application/json and text/event-stream"},"id":null}"#,
    );
    allowed(id, label, &typescript);
    assert!(!should(id, label, &typescript).is_empty(), "a 406 answers the Accept header, not the token");
    // A 415 refuses the form body, which a server taking tokens in the header only may do.
    let unsupported = answer(415, &[("content-type", "text/plain")], "Unsupported Media Type");
    assert_eq!(judge(id, label, &unsupported, &vars()), (vec![], vec![]));
    // The lab's answer meets the SHOULD.
    let lab = answer(
        400,
        &[("www-authenticate", r#"Bearer error="invalid_request", error_description="token sent twice""#)],
        "",
    );
    assert_eq!(judge(id, label, &lab, &vars()), (vec![], vec![]));
    // Processed: a 200 with a session fails.
    assert!(!must(id, label, &served()).is_empty());
}

#[test]
fn a_foreign_host_may_be_refused_with_any_client_error_and_is_the_labs_own_rule() {
    let (id, label) = ("attacks/transport/dns-rebinding-host", "Host: evil.example:8443");
    allowed(id, label, &answer(421, &[("content-type", "text/plain")], "Invalid Host header"));
    allowed(id, label, &answer(403, &[], ""));
    allowed(
        id,
        label,
        &answer(400, &[JSON], r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"bad host"},"id":null}"#),
    );
    // Served: the check fails, and the scenario is the lab's own, so a third party never sees it.
    assert!(!must(id, label, &served()).is_empty());
    assert!(scenario(id).lab_rule.is_some(), "TR-1125's MUST is about Origin: checking Host is the lab's rule");
}

#[test]
fn an_evil_origin_gets_403_and_only_a_served_request_is_an_exploit() {
    let id = "attacks/transport/dns-rebinding-origin";
    let (tokenless, with_token) = ("no token, evil origin: 403, not 401", "valid token, evil origin");
    // The Python SDK's 403 in plain text, and a 403 with an id-less JSON-RPC error, are refusals.
    for label in [tokenless, with_token] {
        allowed(id, label, &answer(403, &[("content-type", "text/plain")], "Invalid Origin header"));
        allowed(
            id,
            label,
            &answer(403, &[JSON], r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Forbidden"},"id":null}"#),
        );
    }
    // Both SDKs without a token: 401 before the origin check. A MUST broken, nothing served.
    assert!(!must(id, tokenless, &sdk_unauthorized()).is_empty());
    assert_eq!(exploit_holds(id, tokenless, &sdk_unauthorized()), Some(false));
    // Served without a token: the page on the evil origin gets the answer.
    assert_eq!(exploit_holds(id, tokenless, &served()), Some(true));
    // The TypeScript SDK with a token: 200. The MUST is broken; no exploit is claimed, since a
    // page on the evil origin cannot hold the token.
    assert!(!must(id, with_token, &served()).is_empty());
    assert_eq!(exploit_holds(id, with_token, &served()), None);
    // Which origins are valid is the server's allowlist: one that tells every origin by CORS that
    // it may read the answer has chosen so, and the scenario does not apply to it.
    for label in [tokenless, with_token] {
        for allowed_origin in ["*", "http://evil.example"] {
            let open = answer(401, &[("access-control-allow-origin", allowed_origin)], "");
            assert!(super::inapplicable(id, label, &open), "{label}: {allowed_origin}");
        }
        assert!(!super::inapplicable(id, label, &sdk_unauthorized()), "{label}");
        assert!(!super::inapplicable(id, label, &served()), "{label}");
    }
    // Served without a token, reflecting the origin: the exploit, judged whatever CORS says.
    let mut reflected = served();
    reflected.headers.push(("access-control-allow-origin".to_owned(), "http://evil.example".to_owned()));
    assert!(!super::inapplicable(id, tokenless, &reflected));
    assert_eq!(exploit_holds(id, tokenless, &reflected), Some(true));
}

#[test]
fn session_ids_are_held_to_what_is_guessable_not_to_the_labs_floor() {
    // 90 random ids of 16 hex digits (64 bits): under the lab's 112-bit floor, yet no guessable
    // id, so no MUST fails against a third party. A counter fails.
    let id = "attacks/transport/session-id-entropy";
    let label = "90 initialize requests, each opening a session";
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        // SplitMix64: a fixed, well-mixed sample, so the test is deterministic.
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let random: Vec<String> = (0..90).map(|_| format!("{:016x}", next())).collect();
    let with_ids = |ids: Vec<String>| Observation {
        session_ids: ids.into_iter().map(Some).collect(),
        ..answer(200, &[JSON], "{}")
    };
    allowed(id, label, &with_ids(random));
    let counter: Vec<String> = (0..90).map(|n| format!("session-{n:08}")).collect();
    assert!(!must(id, label, &with_ids(counter)).is_empty());
}

#[test]
fn an_audience_refusal_must_keep_its_error_description_in_the_allowed_characters() {
    let (id, label) = ("attacks/rs-validation/wrong-audience-twin-rs", "the twin's token presented to the RS");
    assert!(scenario(id).refs.iter().any(|key| key == "O21 §5.3.1"));
    let challenge = |description: &str| {
        format!(r#"Bearer error="invalid_token", error_description="{description}", resource_metadata="{PRM}""#)
    };
    allowed(id, label, &answer(401, &[("www-authenticate", &challenge("unexpected aud claim value"))], ""));
    // The TypeScript SDK's description holds unescaped quotes (O21 §5.3.1 forbids %x22): its
    // challenge cannot be read, so its error code is not there.
    let typescript = answer(401, &[("www-authenticate", &challenge(r#"unexpected "aud" claim value"#))], "");
    let failures = must(id, label, &typescript);
    assert!(failures.iter().any(|failure| failure.starts_with("error:")), "{failures:?}");
    // Served: fails.
    assert!(!must(id, label, &alices_data()).is_empty());
}

#[test]
fn sessions_are_held_to_what_the_transport_allows() {
    // DELETE may answer 200 or 204.
    let id = "attacks/transport/session-terminated";
    allowed(id, "end the session", &answer(200, &[], ""));
    allowed(id, "end the session", &answer(204, &[], ""));
    // A server that does not let clients end sessions answers 405 (TR-1125): the scenario is then
    // not applicable (`not_applicable_if`); after a DELETE that ended it, the session must be gone.
    allowed(id, "end the session", &answer(405, &[("allow", "GET, POST")], ""));
    let step = scenario(id).steps.into_iter().find(|step| step.label() == "end the session");
    let condition = step.and_then(|step| step.not_applicable_if).expect("a 405 ends the scenario");
    assert!(crate::expect::check(&condition, &answer(405, &[], ""), &vars()).is_empty());
    assert!(!crate::expect::check(&condition, &answer(204, &[], ""), &vars()).is_empty());
    allowed(id, "the ended session", &answer(404, &[], ""));
    assert!(!must(id, "the ended session", &alices_data()).is_empty(), "a session that outlives its end");
    assert!(!must(id, "end the session", &answer(500, &[], "")).is_empty());
    assert!(!must(id, "the ended session", &answer(500, &[], "")).is_empty());
    // An initialize naming an unknown session may be refused, or served with the server's own id.
    let id = "attacks/transport/session-fixation";
    let label = "initialize with an attacker-chosen session id";
    allowed(
        id,
        label,
        &answer(400, &[JSON], r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Bad Request"},"id":null}"#),
    );
    allowed(
        id,
        label,
        &answer(404, &[JSON], r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}"#),
    );
    allowed(id, label, &served());
    let adopted = answer(
        200,
        &[JSON, ("mcp-session-id", "fixated-session-0123456789")],
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
    );
    assert!(!must(id, label, &adopted).is_empty());
    let label = "the attacker's id is no session";
    allowed(id, label, &answer(400, &[], ""));
    assert!(!must(id, label, &alices_data()).is_empty());
    // Another user's session: any refusal; serving nothing of alice's is the MUST, the refusal
    // the SBP's SHOULD.
    let (id, label) = ("attacks/transport/session-hijack-cross-user", "bob's token in alice's session");
    for status in [400, 403, 404] {
        assert_eq!(judge(id, label, &answer(status, &[], ""), &vars()), (vec![], vec![]), "{status}");
    }
    let bobs =
        answer(200, &[JSON], r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"B-2001"}]}}"#);
    allowed(id, label, &bobs);
    assert!(!should(id, label, &bobs).is_empty());
    // What a tool call returns is the lab shop's: at a third party only the refusal is judged.
    assert!(!should(id, label, &alices_data()).is_empty());
    // Resuming another user's stream: refused, or at least nothing of alice's replayed.
    let (id, label) = ("attacks/transport/sse-resume-cross-user", "bob resumes alice's stream");
    allowed(id, label, &answer(405, &[("allow", "POST, DELETE")], ""));
    allowed(id, label, &answer(404, &[], ""));
    assert!(
        !must(id, label, &answer(200, &[("content-type", "text/event-stream")], "id: 2\ndata: A-1001\n\n")).is_empty()
    );
    // A non-initialize request without a session id: the 400 is a SHOULD of servers that need one.
    let (id, label) = ("attacks/transport/session-required", "no session id");
    allowed(id, label, &answer(200, &[JSON], r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
    assert!(!should(id, label, &answer(200, &[JSON], r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)).is_empty());
    // GET: an SSE stream or 405.
    let id = "attacks/transport/get-without-stream";
    allowed(id, "http", &answer(200, &[("content-type", "text/event-stream")], ": ping\n\n"));
    allowed(id, "http", &answer(405, &[("allow", "POST, DELETE")], ""));
    assert!(!must(id, "http", &answer(404, &[], "")).is_empty());
    // A supported version that was not negotiated may be served: only the lab refuses it.
    let id = "attacks/transport/protocol-version-invalid";
    allowed(id, "the lab's rule: a supported version that was not negotiated", &served());
    assert!(!must(id, "an invalid version", &served()).is_empty());
}

#[test]
fn binding_to_every_interface_is_an_advisory() {
    let (id, label) = ("attacks/transport/local-bind-all-interfaces", "the sockets listening on the MCP server's port");
    let listening = |addresses: &str, loopback_only: bool| Observation {
        json: Some(serde_json::json!({"port": 8000, "addresses": [addresses], "loopback_only": loopback_only})),
        ..Observation::default()
    };
    allowed(id, label, &listening("0.0.0.0", false));
    assert!(!should(id, label, &listening("0.0.0.0", false)).is_empty());
    assert_eq!(judge(id, label, &listening("127.0.0.1", true), &vars()), (vec![], vec![]));
}

#[test]
fn the_protected_resource_metadata_names_the_url_clients_use() {
    let (id, label) = ("attacks/rs-validation/prm-document", "the protected resource metadata");
    // The Python SDK's document: its issuer serialized with a trailing slash, extra members.
    let python = answer(
        200,
        &[("content-type", "application/json")],
        r#"{"resource":"https://rs.example/mcp","authorization_servers":["https://as.example/"],"scopes_supported":["user"],"bearer_methods_supported":["header"]}"#,
    );
    allowed(id, label, &python);
    // A resource with a trailing slash added is not the URL clients use (RFC 9728 §3.3).
    let slash = answer(
        200,
        &[JSON],
        r#"{"resource":"https://rs.example/mcp/","authorization_servers":["https://as.example"]}"#,
    );
    assert!(!must(id, label, &slash).is_empty());
    // No authorization server (MCP-1125 asks for at least one).
    let none = answer(200, &[JSON], r#"{"resource":"https://rs.example/mcp","authorization_servers":[]}"#);
    assert!(!must(id, label, &none).is_empty());
}

#[test]
fn a_challenge_may_name_any_metadata_url() {
    // RFC 9728 §5.1: the challenge names the metadata URL; nothing fixes it to the well-known URL
    // built from the resource (what §3.3 checks is the document's resource).
    let elsewhere = r#"Bearer resource_metadata="https://meta.example/prm/mcp.json""#;
    let invalid = r#"Bearer error="invalid_token", resource_metadata="https://meta.example/prm/mcp.json""#;
    for (id, label, challenge) in [
        ("attacks/rs-validation/no-token", "mcp", elsewhere),
        ("attacks/rs-validation/token-in-query", "the token in the query only", elsewhere),
        ("attacks/rs-validation/prm-document", "the 401 challenge names the metadata", elsewhere),
        ("attacks/rs-validation/expired-token", "the expired token", invalid),
        ("attacks/rs-validation/wrong-audience-twin-rs", "the twin's token presented to the RS", invalid),
        ("attacks/transport/local-unauthenticated-access", "POST tools/call from loopback, no token", elsewhere),
        ("attacks/transport/local-unauthenticated-access", "GET (the SSE stream), no token", elsewhere),
        ("attacks/transport/local-unauthenticated-access", "DELETE (end a session), no token", elsewhere),
        ("attacks/transport/session-without-token", "the session id alone", elsewhere),
        ("flows/six-step-flow", "1: unauthenticated initialize gets 401 and a challenge", elsewhere),
    ] {
        allowed(id, label, &answer(401, &[("www-authenticate", challenge)], ""));
        // A challenge that names no metadata breaks no MUST, nor a SHOULD: MCP-1125 lets a server
        // publish it at the well-known URI instead, which prm-document checks.
        let bare = if challenge == invalid { r#"Bearer error="invalid_token""# } else { r#"Bearer realm="mcp""# };
        allowed(id, label, &answer(401, &[("www-authenticate", bare)], ""));
        let advisories = should(id, label, &answer(401, &[("www-authenticate", bare)], ""));
        assert!(!advisories.iter().any(|advisory| advisory.contains("resource_metadata")), "{id}: {advisories:?}");
        // A 401 without any Bearer challenge fails the MUST (O21 §5.3.1).
        assert!(!must(id, label, &answer(401, &[], "")).is_empty(), "{id}: {label}");
    }
    // The step-up challenge's metadata URL is a SHOULD, and any URL meets it.
    let (id, label) = ("attacks/scope/insufficient-scope-step-up", "create_return with mcp:read");
    let step_up = answer(
        403,
        &[("www-authenticate", r#"Bearer error="insufficient_scope", resource_metadata="https://meta.example/prm""#)],
        "",
    );
    assert_eq!(judge(id, label, &step_up, &vars()), (vec![], vec![]));
}

#[test]
fn a_method_not_offered_may_be_answered_405_without_a_token() {
    let id = "attacks/transport/local-unauthenticated-access";
    for label in ["GET (the SSE stream), no token", "DELETE (end a session), no token"] {
        let not_offered = answer(405, &[("allow", "POST")], "");
        assert_eq!(judge(id, label, &not_offered, &vars()), (vec![], vec![]), "{label}");
        // Served without a token, or refused with a status that says nothing, fails.
        assert!(!must(id, label, &answer(200, &[("content-type", "text/event-stream")], ": ping\n\n")).is_empty());
        assert!(!must(id, label, &answer(404, &[], "")).is_empty(), "{label}");
    }
    // POST is the transport's own method: a 405 there is no answer to a missing token.
    assert!(!must(id, "POST tools/call from loopback, no token", &answer(405, &[], "")).is_empty());
}

/// The steps that send a JSON-RPC message without a token (or with a session id alone), where
/// the quoted MUSTs ask for a 401 and nothing else.
const TOKENLESS_MESSAGES: [(&str, &str); 9] = [
    ("attacks/transport/unauthenticated-jsonrpc-methods", "ping, no token"),
    ("attacks/transport/unauthenticated-jsonrpc-methods", "tools/list, no token"),
    ("attacks/transport/unauthenticated-jsonrpc-methods", "resources/list, no token"),
    ("attacks/transport/unauthenticated-jsonrpc-methods", "prompts/list, no token"),
    ("attacks/transport/notification-without-token", "notifications/initialized, no token"),
    ("attacks/transport/notification-without-token", "a JSON-RPC response, no token"),
    ("attacks/transport/session-id-without-token-methods", "ping with the session id alone"),
    ("attacks/transport/session-id-without-token-methods", "tools/list with the session id alone"),
    ("attacks/transport/session-id-without-token-methods", "a notification with the session id alone"),
];

#[test]
fn every_method_and_message_without_a_token_gets_401_whatever_the_server() {
    let tools = answer(
        200,
        &[JSON],
        r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"search","inputSchema":{"type":"object"}}]}}"#,
    );
    for (id, label) in TOKENLESS_MESSAGES {
        // A third party's 401: the SDKs' challenge breaks only SHOULDs, a bare one none.
        allowed(id, label, &sdk_unauthorized());
        assert!(!should(id, label, &sdk_unauthorized()).is_empty(), "{id}: {label}");
        assert_eq!(judge(id, label, &lab_unauthorized(), &vars()), (vec![], vec![]), "{id}: {label}");
        let elsewhere =
            answer(401, &[("www-authenticate", r#"Bearer resource_metadata="https://meta.example/prm""#)], "");
        assert!(must(id, label, &elsewhere).is_empty(), "{id}: {label}");
        // Served, accepted, or refused with a status that asks for no token, fails.
        assert!(!must(id, label, &served()).is_empty(), "{id}: {label}");
        assert!(!must(id, label, &tools).is_empty(), "{id}: {label}");
        assert!(!must(id, label, &answer(202, &[], "")).is_empty(), "{id}: {label}: a notification accepted");
        assert!(!must(id, label, &answer(400, &[], "")).is_empty(), "{id}: {label}");
        // Only a list actually served is an exploit; a 202 accepts a message and serves nothing.
        if label.starts_with("tools/list") {
            assert_eq!(exploit_holds(id, label, &tools), Some(true), "{id}: {label}");
            assert_eq!(exploit_holds(id, label, &sdk_unauthorized()), Some(false), "{id}: {label}");
        } else if !label.contains("/list") {
            assert_eq!(exploit_holds(id, label, &answer(202, &[], "")), None, "{id}: {label}");
        }
    }
}

#[test]
fn a_sessions_stream_and_its_end_need_the_token_or_a_405() {
    let stream = ("attacks/transport/session-stream-without-token", "GET alice's stream with the session id alone");
    let delete = ("attacks/transport/session-delete-without-token", "DELETE alice's session with the session id alone");
    for (id, label) in [stream, delete] {
        // A server that offers no stream, or does not let clients end sessions, answers 405.
        assert_eq!(judge(id, label, &answer(405, &[("allow", "POST")], ""), &vars()), (vec![], vec![]), "{label}");
        assert_eq!(judge(id, label, &lab_unauthorized(), &vars()), (vec![], vec![]), "{label}");
        allowed(id, label, &sdk_unauthorized());
        // Served or ended without a token fails; so does a refusal that says nothing of the token.
        assert!(!must(id, label, &answer(200, &[("content-type", "text/event-stream")], ": ping\n\n")).is_empty());
        assert!(!must(id, label, &answer(204, &[], "")).is_empty(), "{label}");
        assert!(!must(id, label, &answer(404, &[], "")).is_empty(), "{label}");
    }
    let (id, label) = stream;
    let opened = answer(200, &[("content-type", "text/event-stream")], ": ping\n\n");
    assert_eq!(exploit_holds(id, label, &opened), Some(true), "alice's stream opened for anyone");
    assert_eq!(exploit_holds(id, label, &answer(405, &[], "")), Some(false));
    // After the refused DELETE alice's session answers her; a 404 shows it was ended.
    let (id, label) = ("attacks/transport/session-delete-without-token", "alice's session still answers her");
    allowed(id, label, &answer(200, &[JSON], r#"{"jsonrpc":"2.0","id":3,"result":{}}"#));
    assert!(!must(id, label, &answer(404, &[], "")).is_empty());
}

#[test]
fn a_bad_token_in_a_live_session_gets_401_and_invalid_token_is_the_should() {
    let id = "attacks/transport/bad-token-in-valid-session";
    let invalid = answer(
        401,
        &[("www-authenticate", &format!(r#"Bearer error="invalid_token", resource_metadata="{PRM}""#))],
        "",
    );
    for label in ["ping in alice's session with a bad token", "tools/list in alice's session with a bad token"] {
        assert_eq!(judge(id, label, &invalid, &vars()), (vec![], vec![]), "{label}");
        assert_eq!(judge(id, label, &sdk_unauthorized(), &vars()), (vec![], vec![]), "{label}");
        // A 401 without the error code breaks only RFC 6750's SHOULD.
        allowed(id, label, &lab_unauthorized());
        assert!(!should(id, label, &lab_unauthorized()).is_empty(), "{label}");
        // Served in the session, or refused for the session rather than the token, fails.
        assert!(!must(id, label, &served()).is_empty(), "{label}");
        assert!(!must(id, label, &answer(404, &[], "")).is_empty(), "{label}");
        assert!(!must(id, label, &answer(400, &[], "")).is_empty(), "{label}");
    }
    let label = "tools/list in alice's session with a bad token";
    let tools = answer(200, &[JSON], r#"{"jsonrpc":"2.0","id":21,"result":{"tools":[]}}"#);
    assert_eq!(exploit_holds(id, label, &tools), Some(true));
}

/// A 401 refusing a bad token, as the SDKs answer it: `error="invalid_token"` and the metadata.
fn invalid_token_401() -> Observation {
    let challenge =
        format!(r#"Bearer error="invalid_token", error_description="Invalid token", resource_metadata="{PRM}""#);
    answer(401, &[JSON, ("www-authenticate", &challenge)], r#"{"error":"invalid_token"}"#)
}

/// A 401 challenge naming the metadata and no error code, as for a request without a token.
fn bare_401() -> Observation {
    answer(401, &[("www-authenticate", &format!(r#"Bearer resource_metadata="{PRM}""#))], "")
}

#[test]
fn a_token_outside_the_bearer_header_is_the_labs_rule_only() {
    for (id, label) in [
        ("attacks/rs-validation/token-in-cookie", "the token in cookies only"),
        ("attacks/rs-validation/token-in-custom-header", "the token in custom headers only"),
        ("attacks/rs-validation/token-basic-scheme", "the token under the Basic scheme"),
    ] {
        // RFC 6750 §5.3 and §2 let a server accept other carriers: the file is the lab's rule,
        // never held against a third party, and no exploit is claimed.
        assert!(scenario(id).lab_rule.is_some(), "{id}");
        assert_eq!(exploit_holds(id, label, &served()), None, "{id}");
        assert_eq!(judge(id, label, &lab_unauthorized(), &vars()), (vec![], vec![]), "{id}");
        assert!(!must(id, label, &served()).is_empty(), "{id}: the lab itself must refuse");
    }
}

#[test]
fn an_empty_bearer_token_may_be_refused_as_malformed_or_missing() {
    let id = "attacks/rs-validation/bearer-empty-token";
    for label in ["Bearer with an empty token", "Bearer followed by spaces only"] {
        allowed(id, label, &sdk_unauthorized());
        allowed(id, label, &invalid_token_401());
        allowed(id, label, &bare_401());
        // A 400 invalid_request (O21 §5.3.2), even one without a challenge.
        allowed(id, label, &answer(400, &[("www-authenticate", r#"Bearer error="invalid_request""#)], ""));
        allowed(id, label, &answer(400, &[("content-type", "text/plain")], "Bad Request"));
        assert!(should(id, label, &bare_401()).is_empty(), "{label}: no SHOULD picks 400 over 401");
        assert!(!must(id, label, &served()).is_empty(), "{label}");
        assert_eq!(exploit_holds(id, label, &served()), Some(true), "{label}");
        assert!(!must(id, label, &answer(403, &[], "")).is_empty(), "{label}");
    }
}

#[test]
fn a_refresh_token_or_a_code_is_no_access_token() {
    for (id, label) in [
        ("attacks/rs-validation/refresh-token-as-access-token", "the refresh token as a bearer token"),
        ("attacks/rs-validation/authorization-code-as-access-token", "the authorization code as a bearer token"),
    ] {
        assert_eq!(judge(id, label, &invalid_token_401(), &vars()), (vec![], vec![]), "{id}");
        // Not a JWT: the error code is O21 §5.3.1's SHOULD, not RFC 9068 §4's MUST.
        allowed(id, label, &bare_401());
        assert!(!should(id, label, &bare_401()).is_empty(), "{id}");
        assert!(!must(id, label, &served()).is_empty(), "{id}");
        assert_eq!(exploit_holds(id, label, &served()), Some(true), "{id}");
        assert!(!must(id, label, &answer(400, &[], "")).is_empty(), "{id}: MCP-1125 asks 401 of an invalid token");
    }
}

#[test]
fn a_jwt_failing_validation_is_refused_with_invalid_token() {
    for (id, label) in [
        ("attacks/rs-validation/exp-missing", "the token without exp"),
        ("attacks/rs-validation/iss-missing", "the token without iss"),
        ("attacks/rs-validation/crit-unknown-extension", "the token with an unsupported critical extension"),
    ] {
        assert_eq!(judge(id, label, &invalid_token_401(), &vars()), (vec![], vec![]), "{id}");
        allowed(id, label, &sdk_unauthorized());
        // RFC 9068 §4: a failed JWT check MUST carry invalid_token.
        assert!(!must(id, label, &bare_401()).is_empty(), "{id}");
        assert!(!must(id, label, &served()).is_empty(), "{id}");
        // The token is still signed by the trusted AS, so serving it breaks the MUST but
        // confirms no exploit: nobody gained access they were not granted.
        assert_eq!(exploit_holds(id, label, &served()), None, "{id}");
    }
    // One appended character: the token may be opaque to the target, so the error code is
    // RFC 6750 §3's SHOULD, not RFC 9068 §4's MUST.
    let (id, label) = ("attacks/rs-validation/token-extra-character", "the token with an A appended");
    assert_eq!(judge(id, label, &invalid_token_401(), &vars()), (vec![], vec![]), "{id}");
    allowed(id, label, &bare_401());
    assert!(!should(id, label, &bare_401()).is_empty(), "{id}");
    assert!(!must(id, label, &served()).is_empty(), "{id}");
    assert_eq!(exploit_holds(id, label, &served()), None, "{id}");
}

#[test]
fn a_keyless_token_served_is_an_exploit_and_an_untyped_one_a_must_broken() {
    // Tokens anyone can write without a key: an `initialize` served to one (where a request
    // without a token is refused, which each file checks first) confirms the attack; a refusal of
    // any kind confirms nothing.
    for (id, label) in [
        ("attacks/rs-validation/alg-none", "mcp"),
        ("attacks/rs-validation/alg-none-spelling", "alg None"),
        ("attacks/rs-validation/alg-none-spelling", "alg NONE"),
        ("attacks/rs-validation/signature-stripped", "mcp"),
        ("attacks/rs-validation/signature-zero", "mcp"),
        ("attacks/rs-validation/alg-confusion-hs256", "mcp"),
    ] {
        assert_eq!(judge(id, label, &invalid_token_401(), &vars()), (vec![], vec![]), "{id}");
        allowed(id, label, &sdk_unauthorized());
        assert!(!must(id, label, &served()).is_empty(), "{id}");
        assert_eq!(exploit_holds(id, label, &served()), Some(true), "{id}");
        assert_eq!(exploit_holds(id, label, &invalid_token_401()), Some(false), "{id}");
        assert_eq!(exploit_holds(id, label, &answer(400, &[], "bad token")), Some(false), "{id}");
        // A 200 carrying a JSON-RPC error served nothing: no exploit (the MUST still fails).
        let error_in_200 =
            answer(200, &[JSON], r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"invalid token"}}"#);
        assert_eq!(exploit_holds(id, label, &error_in_200), Some(false), "{id}");
        assert!(!must(id, label, &error_in_200).is_empty(), "{id}");
    }
    // A token without typ is still the trusted AS's: a MUST broken, no exploit.
    let (id, label) = ("attacks/rs-validation/typ-missing", "no typ");
    assert_eq!(judge(id, label, &invalid_token_401(), &vars()), (vec![], vec![]));
    allowed(id, label, &sdk_unauthorized());
    assert!(!must(id, label, &alices_data()).is_empty());
    assert_eq!(exploit_holds(id, label, &alices_data()), None);
}

#[test]
fn a_string_exp_is_not_held_against_a_lenient_parser() {
    let (id, label) = ("attacks/rs-validation/exp-not-a-number", "the token whose exp is a string");
    assert_eq!(judge(id, label, &invalid_token_401(), &vars()), (vec![], vec![]));
    // PyJWT reads "9999999999" as the date it spells: RFC 7519 §4.1.4's MUST binds the issuer.
    allowed(id, label, &served());
    assert!(should(id, label, &served()).is_empty(), "no SHOULD binds the server here");
    assert_eq!(exploit_holds(id, label, &served()), None);
    // A refusal is an authorization error, not a crash.
    assert!(!must(id, label, &answer(500, &[], "")).is_empty());
}

#[test]
fn the_six_step_flow_holds_any_mcp_server_to_what_the_specifications_say() {
    let id = "flows/six-step-flow";
    let json = ("content-type", "application/json");
    // Step 2: the issuer may be written with a trailing slash; the resource must be identical.
    let prm = |resource: &str| {
        answer(200, &[json], &format!(r#"{{"resource":"{resource}","authorization_servers":["https://as.example/"]}}"#))
    };
    allowed(id, "2: protected resource metadata", &prm("https://rs.example/mcp"));
    assert!(!must(id, "2: protected resource metadata", &prm("https://rs.example/mcp/")).is_empty());
    // Step 6: the token is served, or found too small for this server's scopes (MCP-1125).
    let label = "6: bearer call";
    allowed(id, label, &served());
    allowed(
        id,
        label,
        &answer(403, &[("www-authenticate", r#"Bearer error="insufficient_scope", scope="files:read""#)], ""),
    );
    allowed(id, label, &answer(403, &[], ""));
    assert!(!must(id, label, &invalid_token_401()).is_empty(), "a valid token refused");
    assert!(!must(id, label, &answer(500, &[], "")).is_empty(), "a crash");
}
