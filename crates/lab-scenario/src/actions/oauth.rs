//! The OAuth steps: dynamic registration (RFC 7591), the authorization request with a fresh
//! PKCE pair (O21 §4.1.1, RFC 7636), and the token, revocation (RFC 7009) and introspection
//! (RFC 7662) endpoints, each with the lab's defaults that a step's `with`, `remove` and `add`
//! edit.

use serde_json::{Value, json};

use crate::error::StepError;
use crate::expect::Observation;
use crate::runner::Run;
use crate::schema::{OAuth, Register};
use crate::wire::Payload;

/// The endpoints an OAuth step POSTs to, by what it asks of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// The authorization-code grant at the token endpoint.
    Token,
    /// The refresh-token grant.
    Refresh,
    /// The client-credentials grant.
    ClientCredentials,
    /// RFC 7009 revocation.
    Revoke,
    /// RFC 7662 introspection.
    Introspect,
}

impl Endpoint {
    /// The endpoint's RFC 8414 metadata name and the lab AS's path for it.
    fn location(self) -> (&'static str, &'static str) {
        match self {
            Self::Token | Self::Refresh | Self::ClientCredentials => ("token_endpoint", "/token"),
            Self::Revoke => ("revocation_endpoint", "/revoke"),
            Self::Introspect => ("introspection_endpoint", "/introspect"),
        }
    }
}

/// The `application_type` that fits `redirect_uris` (SEP-837, after OIDC Dynamic Client
/// Registration §2): `native` when every one is a loopback http URI, `web` when every one is an
/// https URI on another host, and none otherwise.
fn application_type_for(redirect_uris: Option<&Value>) -> Option<&'static str> {
    let uris: Vec<&str> = redirect_uris?.as_array()?.iter().filter_map(Value::as_str).collect();
    let loopback = |uri: &str| {
        url::Url::parse(uri)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .is_some_and(|host| matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost"))
    };
    if uris.is_empty() {
        None
    } else if uris.iter().all(|uri| uri.starts_with("http://") && loopback(uri)) {
        Some("native")
    } else if uris.iter().all(|uri| uri.starts_with("https://") && !loopback(uri)) {
        Some("web")
    } else {
        None
    }
}

impl Run {
    pub(super) async fn register(&mut self, step: &Register) -> Result<Observation, StepError> {
        let endpoint = self.endpoint(step.target, "registration_endpoint", "/register");
        // The lab registers the loopback URI without a port and requests it with one (RFC 8252
        // §7.3). A third-party AS gets the exact URI too, so that one refusing the port variance
        // fails the scenario that tests it (`redirect-uri-loopback-port`) rather than every flow.
        let mut redirect_uris = vec!["http://127.0.0.1/callback".to_owned()];
        if self.target.as_issuer.is_some() {
            redirect_uris.push(self.var_or_empty("redirect_uri"));
        }
        let mut body = json!({
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "Scenario client",
            "application_type": "native",
            "scope": "mcp:read mcp:write mcp:admin"
        });
        if let Value::Object(members) = &mut body {
            for (name, value) in &step.with {
                members.insert(name.clone(), self.vars.expand_json(value).map_err(StepError::field("with"))?);
            }
            if step.with.contains_key("redirect_uris") && !step.with.contains_key("application_type") {
                // SEP-837: the type that fits the URIs a scenario registers, so that a scenario
                // about https or odd redirect URIs tests them rather than the type's constraint.
                match application_type_for(members.get("redirect_uris")) {
                    Some(kind) => members.insert("application_type".to_owned(), json!(kind)),
                    None => members.remove("application_type"),
                };
            }
            for name in &step.remove {
                members.remove(name);
            }
        }
        let headers = self.headers(&step.headers, None)?;
        let seen = self.send("POST", &endpoint, headers, Payload::Json(body)).await?;
        if let Some(json) = &seen.json {
            if let Some(client_id) = json.get("client_id").and_then(Value::as_str) {
                self.vars.set("client_id", client_id);
            }
            if let Some(secret) = json.get("client_secret").and_then(Value::as_str) {
                self.vars.set("client_secret", secret);
            }
        }
        Ok(seen)
    }

    pub(super) async fn authorize(&mut self, step: &OAuth) -> Result<Observation, StepError> {
        let endpoint = self.endpoint(step.target, "authorization_endpoint", "/authorize");
        let verifier = lab_proto::pkce::generate_verifier().map_err(|_| StepError::Random)?.into_secret();
        let state = lab_proto::random_token(16).map_err(|_| StepError::Random)?;
        let challenge = lab_proto::pkce::s256_challenge(&verifier);
        self.vars.set("verifier", verifier);
        self.vars.set("challenge", challenge.clone());
        self.vars.set("state", state.clone());
        let mut defaults = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.var_or_empty("client_id")),
            ("redirect_uri", self.var_or_empty("redirect_uri")),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".to_owned()),
            ("resource", self.resource()),
        ];
        // The lab's `mcp:read`, unless the AS under test names other scopes (`Target::requested_scope`).
        if let Some(scope) = self.target.requested_scope() {
            defaults.insert(3, ("scope", scope));
        }
        let params = self.params(&defaults, &step.with, &step.remove, &step.add)?;
        let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        let headers = self.headers(&step.headers, step.basic.as_ref())?;
        // RFC 6749 §3.1: an endpoint may carry its own query, which is kept.
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{endpoint}{separator}{query}");
        let mut seen = self.send("GET", &url, headers, Payload::None).await?;
        if let Some(login) = self.target.login.clone() {
            let submit = step.sign_in.unwrap_or(!self.pages);
            seen = self.sign_in(&url, seen, &login, submit).await?;
        } else if self.target.as_issuer.is_some() && asks_for_sign_in(&seen, &url) {
            // Without `--login` nobody can sign in at a third-party AS's page: what follows would
            // judge the login page, not the authorization response.
            return Ok(Observation {
                inapplicable: Some(
                    "the AS asks a person to sign in (a login or consent page): add --login USER".to_owned(),
                ),
                ..Observation::default()
            });
        }
        if let Some((_, code)) =
            seen.redirect_params().and_then(|params| params.into_iter().find(|(key, _)| key == "code"))
        {
            self.vars.set("code", code);
        }
        // A credential answered in the fragment (an AS that honours an implicit-style request) is
        // one the run held: redacted everywhere and looked for in logs.
        for (name, value) in seen.fragment_params() {
            if lab_client::is_secret_name(&name) {
                self.vars.remember(&name, &value);
            }
        }
        Ok(seen)
    }

    /// A POST to the token, revocation or introspection endpoint.
    pub(super) async fn oauth(&mut self, kind: Endpoint, step: &OAuth) -> Result<Observation, StepError> {
        let resource = self.resource();
        let defaults: Vec<(&str, String)> = match kind {
            Endpoint::Token => vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", self.var_or_empty("code")),
                ("code_verifier", self.var_or_empty("verifier")),
                ("client_id", self.var_or_empty("client_id")),
                ("redirect_uri", self.var_or_empty("redirect_uri")),
                ("resource", resource),
            ],
            Endpoint::Refresh => vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", self.var_or_empty("refresh_token")),
                ("client_id", self.var_or_empty("client_id")),
                ("resource", resource),
            ],
            Endpoint::ClientCredentials => {
                let mut defaults = vec![("grant_type", "client_credentials".to_owned())];
                defaults.extend(self.target.requested_scope().map(|scope| ("scope", scope)));
                defaults.push(("resource", resource));
                defaults
            }
            Endpoint::Revoke => {
                vec![("token", self.var_or_empty("access_token")), ("client_id", self.var_or_empty("client_id"))]
            }
            Endpoint::Introspect => vec![("token", self.var_or_empty("access_token"))],
        };
        // The client credentials a step sends with HTTP Basic unless it says otherwise: the
        // confidential client's for its grant, the RS's for introspection (RFC 7662 §2.1).
        let default_basic = match kind {
            Endpoint::ClientCredentials => {
                Some((self.var_or_empty("confidential_client"), self.var_or_empty("confidential_secret")))
            }
            Endpoint::Introspect => Some((
                lab_auth_server::config::lab::RS_CLIENT_ID.to_owned(),
                lab_auth_server::config::lab::RS_CLIENT_SECRET.to_owned(),
            )),
            _ => None,
        };
        let (name, path) = kind.location();
        let params = self.params(&defaults, &step.with, &step.remove, &step.add)?;
        let mut headers = self.headers(&step.headers, step.basic.as_ref())?;
        if step.basic.is_none()
            && let Some((id, secret)) = default_basic
        {
            headers.push(("authorization".to_owned(), lab_proto::basic::authorization(&id, &secret)));
        }
        let endpoint = self.endpoint(step.target, name, path);
        let seen = self.send("POST", &endpoint, headers, Payload::Form(params)).await?;
        let grants_tokens = matches!(kind, Endpoint::Token | Endpoint::Refresh | Endpoint::ClientCredentials);
        if grants_tokens
            && seen.status == Some(200)
            && let Some(json) = &seen.json
        {
            for name in ["access_token", "refresh_token"] {
                if let Some(value) = json.get(name).and_then(Value::as_str) {
                    self.vars.set(name, value);
                }
            }
        }
        Ok(seen)
    }
}

/// Whether the answer to an authorization request at `url` is the AS's own sign-in: a page with a
/// form, or a redirect to another page of the AS (its login page), rather than an authorization
/// response, an error redirect or an error page.
fn asks_for_sign_in(seen: &Observation, url: &str) -> bool {
    let Ok(request) = url::Url::parse(url) else { return false };
    match seen.status {
        Some(200) => {
            let html =
                seen.header("content-type").is_some_and(|value| value.to_ascii_lowercase().contains("text/html"));
            html && String::from_utf8_lossy(&seen.body).to_ascii_lowercase().contains("<form")
        }
        Some(300..=399) => seen
            .header("location")
            .and_then(|location| request.join(location).ok())
            .is_some_and(|next| next.origin() == request.origin() && next.path() != request.path()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_page_is_told_from_an_authorization_response() {
        let url = "https://as.example/authorize?client_id=c";
        let answer = |status: u16, headers: &[(&str, &str)], body: &str| Observation {
            status: Some(status),
            headers: headers.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect(),
            body: body.as_bytes().to_vec(),
            ..Observation::default()
        };
        assert!(asks_for_sign_in(&answer(303, &[("location", "/interaction/abc")], ""), url));
        assert!(asks_for_sign_in(
            &answer(200, &[("content-type", "text/html; charset=utf-8")], "<FORM method=post>"),
            url
        ));
        assert!(!asks_for_sign_in(&answer(302, &[("location", "http://127.0.0.1:53682/callback?code=x")], ""), url));
        assert!(!asks_for_sign_in(&answer(400, &[("content-type", "text/html")], "<form>"), url));
        assert!(
            !asks_for_sign_in(&answer(303, &[("location", "https://as.example/authorize?again=1")], ""), url),
            "the same endpoint is no login page"
        );
    }

    #[test]
    fn the_application_type_fits_the_redirect_uris_or_is_left_out() {
        let kind = |uris: serde_json::Value| application_type_for(Some(&uris));
        assert_eq!(kind(serde_json::json!(["http://127.0.0.1/callback", "http://localhost:8080/cb"])), Some("native"));
        assert_eq!(kind(serde_json::json!(["https://app.example/cb"])), Some("web"));
        assert_eq!(kind(serde_json::json!(["https://app.example/cb", "http://127.0.0.1/cb"])), None, "mixed");
        assert_eq!(kind(serde_json::json!(["https://127.0.0.1/cb"])), None, "https on loopback is neither");
        assert_eq!(kind(serde_json::json!([])), None);
        assert_eq!(application_type_for(None), None);
    }
}
