//! Steps 4 and 5 of the flow: the client's registration (pre-registered, then a metadata
//! document, then DCR; CL-09), the authorization code with PKCE S256 at the loopback listener,
//! the token request and refreshes (CL-14 to CL-20).

use lab_proto::token::TokenResponse;

use super::*;

impl McpClient {
    /// Step 4: pre-registered, then a metadata document, then DCR (CL-09).
    pub(super) async fn register(&mut self, redirect_uri: &str) -> Result<ClientCredentials, ClientError> {
        let discovered = self.discovered.clone().ok_or_else(|| ClientError::Config("discover first".into()))?;
        if let Some(existing) = self.credentials.get(&discovered.issuer) {
            return Ok(existing.clone());
        }
        self.emit(Event::Step { number: 4, title: "client registration" });
        let (usable, note) = crate::config::pre_registered_for(&mut self.config.pre_registered, &discovered.issuer);
        if let Some(note) = note {
            self.emit(Event::Note(note));
        }
        let credentials = if let Some(pre) = usable {
            ClientCredentials {
                client_id: pre.client_id,
                client_secret: pre.client_secret,
                auth_method: pre.auth_method,
                how: "pre-registered",
            }
        } else if let (Some(document), Some(true)) =
            (self.config.metadata_document.clone(), discovered.metadata.client_id_metadata_document_supported)
        {
            ClientCredentials {
                client_id: document,
                client_secret: None,
                auth_method: TokenEndpointAuthMethod::None,
                how: "metadata document",
            }
        } else if let Some(endpoint) = discovered.metadata.registration_endpoint.clone() {
            // CL-11: a public native client with a loopback redirect, and then whatever method the
            // AS says it registered.
            let body = json!({
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "client_name": self.config.client_name,
                "application_type": "native",
            });
            let answer =
                self.send(4, Method::POST, &endpoint, &[("accept", "application/json")], Body::Json(&body)).await?;
            if answer.status != 201 && answer.status != 200 {
                return Err(ClientError::Denied(format!(
                    "registration refused: {} {}",
                    answer.status,
                    error_text(&answer)
                )));
            }
            let response = answer.json()?;
            let client_id = response["client_id"]
                .as_str()
                .ok_or_else(|| ClientError::protocol(&endpoint, "no client_id"))?
                .to_owned();
            let method = response["token_endpoint_auth_method"].as_str().unwrap_or("none");
            let auth_method = TokenEndpointAuthMethod::parse(method).ok_or_else(|| {
                ClientError::protocol(&endpoint, format!("unsupported token_endpoint_auth_method {method}"))
            })?;
            let client_secret = response["client_secret"].as_str().map(ClientSecret::new);
            if auth_method.is_confidential() && client_secret.is_none() {
                return Err(ClientError::protocol(&endpoint, "a confidential method without a client_secret"));
            }
            ClientCredentials { client_id, client_secret, auth_method, how: "dynamic registration" }
        } else {
            return Err(ClientError::Config(
                "no way to register: no pre-registered client, metadata document or registration endpoint".into(),
            ));
        };
        self.checked("CL-09", format!("client {} ({})", credentials.client_id, credentials.how));
        self.credentials.insert(discovered.issuer.clone(), credentials.clone());
        Ok(credentials)
    }

    /// CL-16: the override, the challenge's scope, then `scopes_supported`, else none.
    pub(super) fn select_scope(&self, requested: Option<&str>) -> Option<String> {
        if let Some(requested) = requested {
            return Some(requested.to_owned());
        }
        if let Some(scope) = &self.config.scope {
            return Some(scope.clone());
        }
        let discovered = self.discovered.as_ref()?;
        discovered
            .challenged_scope
            .clone()
            .or_else(|| discovered.scopes_supported.as_ref().map(|scopes| scopes.join(" ")))
    }

    /// Step 5: authorization code with PKCE S256, then the token request.
    pub(super) async fn authorize(&mut self, scope_override: Option<&str>) -> Result<(), ClientError> {
        if self.listener.is_none() {
            self.listener = Some(CallbackListener::bind(self.config.callback_port).await?);
        }
        let redirect_uri = self.listener.as_ref().map(|listener| listener.redirect_uri.clone()).unwrap_or_default();
        let credentials = self.register(&redirect_uri).await?;
        let discovered = self.discovered.clone().ok_or_else(|| ClientError::Config("discover first".into()))?;
        self.emit(Event::Step { number: 5, title: "authorization code with PKCE S256, then the token request" });
        // CL-13, CL-14: fresh, high-entropy values for every request.
        let verifier =
            lab_proto::pkce::generate_verifier().map_err(|_| ClientError::Config("random source failed".into()))?;
        let challenge = lab_proto::pkce::s256_challenge(verifier.secret());
        let state = lab_proto::random_token(32).map_err(|_| ClientError::Config("random source failed".into()))?;
        let scope = self.select_scope(scope_override);
        let endpoint = discovered.metadata.authorization_endpoint.clone().unwrap_or_default();
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let query = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("response_type", "code");
            query.append_pair("client_id", &credentials.client_id);
            query.append_pair("redirect_uri", &redirect_uri);
            if let Some(scope) = &scope {
                query.append_pair("scope", scope);
            }
            query.append_pair("state", &state);
            query.append_pair("code_challenge", &challenge);
            query.append_pair("code_challenge_method", "S256");
            // CL-15: the same resource in the authorization, token and refresh requests.
            query.append_pair("resource", &discovered.resource);
            if let Some(hint) = &self.config.login_hint {
                query.append_pair("login_hint", hint);
            }
            query.finish()
        };
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let authorization_url = format!("{endpoint}{separator}{query}");
        // Try the AS directly: one that approves headlessly answers with a redirect to the
        // callback, which is read without following it. Anything else is for a human.
        let answer = self.send(5, Method::GET, &authorization_url, &[("accept", "text/html")], Body::Empty).await?;
        let location = answer.header("location").filter(|_| (300..400).contains(&answer.status));
        let callback_query = match location {
            Some(location) if location.starts_with(&format!("{redirect_uri}?")) => {
                location[redirect_uri.len() + 1..].to_owned()
            }
            Some(location) => {
                return Err(ClientError::protocol(
                    &endpoint,
                    format!("redirected somewhere other than the callback: {}", crate::trace::redact_query(&location)),
                ));
            }
            None => {
                self.emit(Event::OpenInBrowser(authorization_url.clone()));
                let listener = self.listener.as_ref().ok_or_else(|| ClientError::Config("no listener".into()))?;
                let (query, ignored) = listener.wait(self.config.callback_timeout, &state).await?;
                if ignored > 0 {
                    // CL-14: said, never acted on (the ignored callbacks' contents are not shown).
                    self.emit(Event::Note(format!(
                        "{ignored} callback(s) with another state came to the listener and were ignored"
                    )));
                }
                query
            }
        };
        let response = AuthorizationResponse::parse(&callback_query);
        // CL-14: the state must be ours; otherwise no token request at all.
        if response.state.as_deref() != Some(state.as_str()) {
            return Err(ClientError::refused(
                "CL-14",
                "the callback's state does not match; no token request was made",
            ));
        }
        self.checked("CL-14", "state matches");
        // CL-18 (RFC 9207 §2.4, MCP-2607): simple string comparison, no normalization; on a
        // mismatch the error fields are not shown.
        let advertised = discovered.metadata.authorization_response_iss_parameter_supported == Some(true);
        match (advertised, response.iss.as_ref()) {
            (_, Some(iss)) if iss != &discovered.issuer => {
                return Err(ClientError::refused(
                    "CL-18",
                    format!("the callback's iss {iss:?} is not the issuer {:?}", discovered.issuer),
                ));
            }
            (true, None) => {
                return Err(ClientError::refused(
                    "CL-18",
                    "the authorization server advertises iss but the callback has none",
                ));
            }
            (_, Some(_)) => self.checked("CL-18", "iss matches"),
            (false, None) => {}
        }
        if let Some(error) = &response.error {
            let description = response.error_description.as_deref().unwrap_or("");
            return Err(ClientError::Denied(format!("authorization failed: {error} {description}").trim().to_owned()));
        }
        let code = response.code.ok_or_else(|| ClientError::protocol(&endpoint, "the callback carries no code"))?;
        // The code and the verifier leave their secret types only here, as the form is written.
        let pairs = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.into_secret()),
            ("code_verifier", verifier.into_secret()),
            ("redirect_uri", redirect_uri.clone()),
            ("resource", discovered.resource.clone()),
        ];
        let tokens = self.token_request(5, &credentials, &discovered, pairs).await?;
        self.checked("CL-15", format!("resource {} sent in the authorization and token requests", discovered.resource));
        self.tokens = Some(tokens);
        Ok(())
    }

    /// A token request with the client's authentication method (CL-19).
    pub(super) async fn token_request(
        &self,
        step: u8,
        credentials: &ClientCredentials,
        discovered: &Discovered,
        mut pairs: Vec<(&str, String)>,
    ) -> Result<Tokens, ClientError> {
        let endpoint = discovered.metadata.token_endpoint.clone().unwrap_or_default();
        let mut authorization = None;
        match credentials.auth_method {
            TokenEndpointAuthMethod::None => pairs.push(("client_id", credentials.client_id.clone())),
            TokenEndpointAuthMethod::ClientSecretPost => {
                pairs.push(("client_id", credentials.client_id.clone()));
                pairs.push((
                    "client_secret",
                    credentials.client_secret.as_ref().map(|secret| secret.secret().to_owned()).unwrap_or_default(),
                ));
            }
            TokenEndpointAuthMethod::ClientSecretBasic => {
                let secret = credentials.client_secret.as_ref().map_or("", |secret| secret.secret());
                authorization = Some(lab_proto::basic::authorization(&credentials.client_id, secret));
            }
        }
        let form: Vec<(&str, &str)> = pairs.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let mut headers = vec![("accept", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        let answer = self.send(step, Method::POST, &endpoint, &headers, Body::Form(&form)).await?;
        if answer.status != 200 {
            let body = answer.json().unwrap_or(Value::Null);
            let code = body["error"].as_str().unwrap_or("unknown_error").to_owned();
            return Err(ClientError::Denied(
                format!("token request refused: {code} {}", body["error_description"].as_str().unwrap_or(""))
                    .trim()
                    .to_owned(),
            ));
        }
        let response: TokenResponse = serde_json::from_value(answer.json()?)
            .map_err(|error| ClientError::protocol(&endpoint, format!("malformed token response: {error}")))?;
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(ClientError::protocol(&endpoint, format!("token_type {} is not Bearer", response.token_type)));
        }
        Ok(Tokens { access: response.access_token, refresh: response.refresh_token, scope: response.scope })
    }

    /// Refreshes the access token, resending `resource` (CL-15) and replacing the refresh token
    /// (CL-20). `invalid_grant` means "authorize again".
    pub async fn refresh(&mut self) -> Result<bool, ClientError> {
        let (Some(discovered), Some(tokens)) = (self.discovered.clone(), self.tokens.clone()) else { return Ok(false) };
        let Some(refresh) = tokens.refresh.clone() else { return Ok(false) };
        let Some(credentials) = self.credentials.get(&discovered.issuer).cloned() else { return Ok(false) };
        self.emit(Event::Note("refreshing the access token".into()));
        let pairs = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.secret().to_owned()),
            ("resource", discovered.resource.clone()),
        ];
        match self.token_request(6, &credentials, &discovered, pairs).await {
            Ok(new) => {
                let refresh = new.refresh.clone().or(tokens.refresh);
                self.tokens = Some(Tokens { refresh, ..new });
                Ok(true)
            }
            Err(ClientError::Denied(reason)) => {
                // O21 §4.3.1: a refused refresh token is dropped, never retried.
                self.emit(Event::Note(format!("refresh refused ({reason}); authorizing again")));
                self.tokens = None;
                Ok(false)
            }
            Err(other) => Err(other),
        }
    }
}
