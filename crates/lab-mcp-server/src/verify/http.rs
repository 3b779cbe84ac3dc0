//! The verifiers' HTTP adapters: the [`KeySource`] that fetches the AS's JWKS and the
//! [`IntrospectionSource`] that asks its RFC 7662 endpoint, both over a client the harness builds
//! (the lab CA only, no redirects), with a timeout and a bounded body.

use std::time::Duration;

use lab_proto::bounded::{BoundedBody, TooLarge};
use lab_proto::token::IntrospectionResponse;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::Value;

use super::{BoxFuture, IntrospectionSource, KeySource};

/// Fetches the JWKS over HTTPS.
#[derive(Debug, Clone)]
pub struct HttpKeySource {
    client: reqwest::Client,
    jwks_uri: String,
}

impl HttpKeySource {
    /// `client` should trust only the lab CA and follow no redirects (the harness builds it).
    pub fn new(client: reqwest::Client, jwks_uri: String) -> Self {
        Self { client, jwks_uri }
    }
}

/// Upper bound of a JWKS document.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// A response body of at most `limit` bytes, read chunk by chunk into a [`BoundedBody`] so a larger
/// one is refused before it is buffered, and one that declares a larger `Content-Length` before a
/// byte is read (also the scenario runner's reader of a third-party AS's documents).
pub async fn read_bounded(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut response = response;
    let too_large = |TooLarge { limit }| format!("response is larger than {limit} bytes");
    let mut body = BoundedBody::new(limit, response.content_length()).map_err(too_large)?;
    while let Some(chunk) = response.chunk().await.map_err(|error| error.without_url().to_string())? {
        body.push(&chunk).map_err(too_large)?;
    }
    Ok(body.into_bytes())
}

/// The `Authorization` value of the RS's own client credentials (`client_secret_basic`), built by
/// the workspace's one codec, so the id and secret are form-encoded before Base64 as RFC 6749
/// §2.3.1 requires and the AS reads them back whatever characters they hold. Marked sensitive, so
/// the HTTP stack never prints it.
pub(crate) fn basic_authorization(
    client_id: &str,
    client_secret: &lab_proto::ClientSecret,
) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::try_from(lab_proto::basic::authorization(client_id, client_secret.secret()))
        .map_err(|_| "client credentials cannot be sent in a header".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

impl KeySource for HttpKeySource {
    fn fetch_jwks(&self) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.jwks_uri)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|error| error.without_url().to_string())?;
            if !response.status().is_success() {
                return Err(format!("JWKS request answered {}", response.status()));
            }
            let body = read_bounded(response, MAX_JWKS_BYTES).await?;
            serde_json::from_slice(&body).map_err(|error| format!("JWKS is not JSON: {error}"))
        })
    }
}

/// Introspects over HTTPS with the RS's client credentials (`client_secret_basic`).
#[derive(Clone)]
pub struct HttpIntrospection {
    client: reqwest::Client,
    endpoint: String,
    client_id: String,
    client_secret: lab_proto::ClientSecret,
}

impl std::fmt::Debug for HttpIntrospection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpIntrospection")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl HttpIntrospection {
    pub fn new(
        client: reqwest::Client,
        endpoint: String,
        client_id: String,
        client_secret: lab_proto::ClientSecret,
    ) -> Self {
        Self { client, endpoint, client_id, client_secret }
    }
}

impl IntrospectionSource for HttpIntrospection {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<IntrospectionResponse, String>> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.endpoint)
                .header(AUTHORIZATION, basic_authorization(&self.client_id, &self.client_secret)?)
                .form(&[("token", token), ("token_type_hint", "access_token")])
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|error| error.without_url().to_string())?;
            if !response.status().is_success() {
                return Err(format!("introspection answered {}", response.status()));
            }
            let body = read_bounded(response, MAX_JWKS_BYTES).await?;
            serde_json::from_slice(&body).map_err(|error| format!("introspection response is malformed: {error}"))
        })
    }
}
