//! The `mcp` step: a JSON-RPC request to the MCP endpoint (Streamable HTTP, MCP 2025-11-25), in a
//! session opened once per (URL, token) so that the attack step measures only itself; or, with
//! `revision = "2026-07-28"`, a stateless request of that revision.

use serde_json::{Map, Value, json};

use crate::error::StepError;
use crate::expect::Observation;
use crate::runner::Run;
use crate::schema::Mcp;
use crate::wire::Payload;

use crate::target::{LEGACY_REVISION, MODERN_REVISION};

/// An `initialize` request's params.
fn initialize_params() -> Value {
    json!({"protocolVersion": LEGACY_REVISION, "capabilities": {}, "clientInfo": {"name": "lab-scenario", "version": "0"}})
}

/// The `_meta` every 2026-07-28 request carries.
fn modern_meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN_REVISION,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "lab-scenario", "version": "0"},
    })
}

impl Run {
    pub(super) async fn mcp(&mut self, step: &Mcp) -> Result<Observation, StepError> {
        let url = self.mcp_url_for(step.target);
        let token = match step.token.as_deref() {
            Some("none") => None,
            Some(token) => Some(self.vars.expand(token).map_err(StepError::field("token"))?),
            None => self.vars.get("access_token").map(str::to_owned),
        };
        let third_party = self.target.rs_url.is_some();
        // The battery's pass at 2026-07-28 speaks it where the step names no revision.
        let modern = step.revision.is_some() || self.target.modern;
        let inapplicable = |reason: String| Ok(Observation { inapplicable: Some(reason), ..Observation::default() });
        let mut method = step.method().to_owned();
        if third_party && modern {
            match self.speaks_modern(&url).await? {
                Err(reason) => return inapplicable(reason),
                // A third-party server has none of the lab shop's tools; at 2026-07-28 a list
                // request its capabilities offer reaches the authorization layer in front of
                // every method (`ping` is gone in that revision, SEP-2575).
                Ok(list) if step.revision.is_none() && ["tools/call", "initialize"].contains(&method.as_str()) => {
                    match list {
                        Some(list) => method = list,
                        None => return inapplicable("the server lists no tools, resources or prompts".to_owned()),
                    }
                }
                Ok(_) => {}
            }
        } else if third_party && let Some(reason) = self.target.revisions.legacy_refused() {
            return inapplicable(reason);
        }
        if third_party && method == "tools/call" && step.revision.is_none() {
            // A third-party server has none of the lab shop's tools; the authorization layer in
            // front of every method is what these scenarios test. In a session `ping` reaches it
            // (every MCP server answers it, and it opens no new session); alone, `initialize`.
            let in_a_session = step.in_session() || crate::applicability::names_a_session(step);
            method = if in_a_session { "ping" } else { "initialize" }.to_owned();
        }
        let in_session = step.in_session() && !modern;
        let with = Value::Object(
            step.with
                .iter()
                .map(|(key, value)| Ok((key.clone(), self.vars.expand_json(value)?)))
                .collect::<Result<Map<_, _>, String>>()
                .map_err(StepError::field("with"))?,
        );
        let mut params = if method == "ping" || (method != step.method()) && method != "initialize" {
            // `ping`, or the list request a third-party server's tool call became.
            json!({})
        } else if method == "tools/call" {
            let arguments =
                self.vars.expand_json(step.args.as_ref().unwrap_or(&json!({}))).map_err(StepError::field("args"))?;
            let mut params = json!({"name": step.tool.clone().unwrap_or_default(), "arguments": arguments});
            // A tool call's other params (a 2026-07-28 retry's `requestState` and `inputResponses`).
            if let (Some(params), Some(with)) = (params.as_object_mut(), with.as_object()) {
                params.extend(with.clone());
            }
            params
        } else if method == "initialize" {
            initialize_params()
        } else {
            with
        };
        let mut headers = vec![("accept".to_owned(), "application/json, text/event-stream".to_owned())];
        if let Some(token) = &token {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        if modern {
            // MCP 2026-07-28: the request carries its own `_meta` (unless the step wrote one) and
            // the headers that mirror its body, which the step's `headers` may contradict.
            let capabilities = step.capabilities.clone().unwrap_or_else(|| json!({"elicitation": {}}));
            if let Some(params) = params.as_object_mut() {
                params.entry("_meta").or_insert_with(|| modern_meta(capabilities));
            }
            headers.push(("mcp-protocol-version".to_owned(), MODERN_REVISION.to_owned()));
            headers.push(("mcp-method".to_owned(), method.clone()));
            let named = match method.as_str() {
                "tools/call" | "prompts/get" => params.get("name"),
                "resources/read" => params.get("uri"),
                _ => None,
            };
            if let Some(name) = named.and_then(Value::as_str) {
                headers.push(("mcp-name".to_owned(), name.to_owned()));
            }
        }
        if in_session && method != "initialize" {
            if let Some(session) = self.session(&url, token.as_deref()).await? {
                headers.push(("mcp-session-id".to_owned(), session));
            }
            if let Some(reason) = self.target.revisions.legacy_refused() {
                return inapplicable(reason);
            }
            headers.push(("mcp-protocol-version".to_owned(), LEGACY_REVISION.to_owned()));
        }
        // The step's own headers replace the defaults of the same name.
        for (name, value) in self.headers(&step.headers, None)? {
            headers.retain(|(key, _)| key != &name);
            headers.push((name, value));
        }
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let seen = self.send("POST", &url, headers, Payload::Json(message)).await?;
        if third_party
            && !modern
            && method == "initialize"
            && step.headers.is_empty()
            && token.is_some()
            && token.as_deref() == self.vars.get("access_token")
            && let Some(reason) = self.refuses_legacy(&url, &seen).await?
        {
            return inapplicable(reason);
        }
        Ok(seen)
    }

    /// Why a third-party MCP server does not speak 2025-11-25 (and, answered, that it does), when
    /// it refused a plain
    /// `initialize` with a valid token (400, as a 2026-07-28-only server does: MCP 2026-07-28
    /// basic/versioning, "the request is missing the required headers and is rejected ... with
    /// `400 Bad Request`") and speaks 2026-07-28 instead. Learnt once for the whole battery.
    async fn refuses_legacy(&mut self, url: &str, seen: &Observation) -> Result<Option<String>, StepError> {
        let json = |pointer: &str| seen.json.as_ref().and_then(|json| json.pointer(pointer)).cloned();
        if seen.status.is_some_and(|status| (200..300).contains(&status)) && json("/result/protocolVersion").is_some() {
            self.target.revisions.set_legacy_spoken();
        }
        // A refusal that lists 2025-11-25 among the versions the server supports is no sign that
        // it does not speak it (another fault of the request, or of the server).
        let lists_legacy = json("/error/data/supported")
            .and_then(|versions| versions.as_array().cloned())
            .is_some_and(|versions| versions.iter().any(|version| version == LEGACY_REVISION));
        if seen.status != Some(400) || lists_legacy {
            return Ok(None);
        }
        if self.speaks_modern(url).await?.is_err() {
            return Ok(None);
        }
        let reason = format!(
            "the server speaks only MCP {MODERN_REVISION}: `initialize` at {LEGACY_REVISION} with a valid token answered 400"
        );
        self.target.revisions.set_legacy_refused(reason.clone());
        Ok(Some(reason))
    }

    /// Whether the third-party MCP server at `url` speaks MCP 2026-07-28, asked once per battery
    /// with `server/discover` (which a server of that revision MUST implement) and the run's
    /// valid access token: `Ok` with the list request its capabilities offer, else why a step at
    /// that revision does not apply there. An answer that tells nothing of the revision (a
    /// refused token, a rate limit, a server error, none) is not kept.
    async fn speaks_modern(&mut self, url: &str) -> Result<Result<Option<String>, String>, StepError> {
        if let Some(known) = self.target.revisions.modern() {
            return Ok(known);
        }
        let token = self.vars.get("access_token").map(str::to_owned);
        let mut headers = vec![
            ("accept".to_owned(), "application/json, text/event-stream".to_owned()),
            ("mcp-protocol-version".to_owned(), MODERN_REVISION.to_owned()),
            ("mcp-method".to_owned(), "server/discover".to_owned()),
        ];
        if let Some(token) = &token {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let message = json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": modern_meta(json!({}))}});
        let seen = self.send("POST", url, headers, Payload::Json(message)).await?;
        // Only an answer about the request says whether the server speaks the revision: a
        // refused token, a rate limit, a server error or no answer at all tells nothing, and is
        // not kept for the rest of the battery.
        if !seen.status.is_some_and(|status| status < 500 && !matches!(status, 401 | 403 | 408 | 429)) {
            return Ok(Err(format!(
                "whether the server speaks MCP {MODERN_REVISION} could not be learnt: server/discover {} answered {}",
                if token.is_some() { "with the run's token" } else { "without a token" },
                seen.status.map_or_else(|| "nothing".to_owned(), |status| status.to_string())
            )));
        }
        let versions = seen.json.as_ref().and_then(|json| json.pointer("/result/supportedVersions")).cloned();
        let speaks = seen.status.is_some_and(|status| (200..300).contains(&status))
            && versions
                .as_ref()
                .and_then(Value::as_array)
                .is_some_and(|versions| versions.iter().any(|v| v == MODERN_REVISION));
        let known = if speaks {
            self.discover_without_token(url).await?;
            let capabilities = seen.json.as_ref().and_then(|json| json.pointer("/result/capabilities"));
            Ok(["tools", "resources", "prompts"]
                .into_iter()
                .find(|kind| capabilities.and_then(|capabilities| capabilities.get(kind)).is_some())
                .map(|kind| format!("{kind}/list")))
        } else {
            Err(format!(
                "the server does not speak MCP {MODERN_REVISION} (server/discover answered {}{})",
                seen.status.map_or_else(|| "nothing".to_owned(), |status| status.to_string()),
                versions.map(|versions| format!(", supportedVersions {versions}")).unwrap_or_default()
            ))
        };
        self.target.revisions.set_modern(known.clone());
        Ok(known)
    }

    /// What a server of 2026-07-28 answers `server/discover` without a token, kept for the report
    /// as information: the revision is silent on whether discovery needs authorization.
    async fn discover_without_token(&mut self, url: &str) -> Result<(), StepError> {
        let headers = vec![
            ("accept".to_owned(), "application/json, text/event-stream".to_owned()),
            ("mcp-protocol-version".to_owned(), MODERN_REVISION.to_owned()),
            ("mcp-method".to_owned(), "server/discover".to_owned()),
        ];
        let message = json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": modern_meta(json!({}))}});
        let seen = self.send("POST", url, headers, Payload::Json(message)).await?;
        let answer = match seen.status {
            Some(status @ (401 | 403)) if seen.header("www-authenticate").is_some() => {
                format!("refused {status} with a challenge, as any request without a token")
            }
            Some(status) if (200..300).contains(&status) => {
                if seen.json.as_ref().and_then(|json| json.pointer("/result/supportedVersions")).is_some() {
                    format!("answered {status}: the server describes itself to anyone")
                } else {
                    format!("answered {status} without a discovery result")
                }
            }
            Some(status) => format!("answered {status}"),
            None => "no answer".to_owned(),
        };
        self.target.revisions.set_discover_without_token(answer);
        Ok(())
    }

    /// A session for `(url, token)`, opened once: the attack step then measures only itself.
    async fn session(&mut self, url: &str, token: Option<&str>) -> Result<Option<String>, StepError> {
        let key = (url.to_owned(), token.unwrap_or_default().to_owned());
        if let Some(session) = self.sessions.get(&key) {
            return Ok(Some(session.clone()));
        }
        let mut headers = vec![("accept".to_owned(), "application/json, text/event-stream".to_owned())];
        if let Some(token) = token {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let message = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize_params()});
        let seen = self.send("POST", url, headers.clone(), Payload::Json(message)).await?;
        if self.target.rs_url.is_some()
            && token.is_some()
            && token == self.vars.get("access_token")
            && self.refuses_legacy(url, &seen).await?.is_some()
        {
            return Ok(None);
        }
        let session = seen.header("mcp-session-id").map(str::to_owned);
        let initialized = seen.status.is_some_and(|status| (200..300).contains(&status));
        if let Some(session) = &session {
            self.sessions.insert(key, session.clone());
            self.vars.set("session", session.clone());
        }
        if initialized && self.target.rs_url.is_some() {
            // A third-party server may hold back requests until the client says it is ready,
            // as the lifecycle asks of every client (MCP 2025-11-25 basic/lifecycle).
            if session.is_none() {
                self.sessionless = true;
            }
            let mut headers = headers;
            if let Some(session) = &session {
                headers.push(("mcp-session-id".to_owned(), session.clone()));
            }
            headers.push(("mcp-protocol-version".to_owned(), LEGACY_REVISION.to_owned()));
            let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            self.send("POST", url, headers, Payload::Json(notification)).await?;
        }
        Ok(session)
    }
}
