//! The token-passthrough guard (RS-12, SBP Token Passthrough): a tool that needs the carrier's API
//! gets the RS's *own* token for that audience from the AS, with the client-credentials grant. The
//! caller's token never leaves the RS.

use std::sync::Arc;
use std::time::Duration;

use lab_proto::Clock;
use lab_proto::token::TokenResponse;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::verify::{BoxFuture, basic_authorization};

/// The carrier's API as the shipping tool sees it.
pub trait Upstream: Send + Sync {
    /// The status of a shipment.
    fn shipment_status<'a>(&'a self, tracking_number: &'a str) -> BoxFuture<'a, Result<Value, String>>;
}

/// Calls the upstream API over HTTPS with a token the RS obtained for the upstream audience.
pub struct HttpUpstream {
    client: reqwest::Client,
    base_url: String,
    token_endpoint: String,
    client_id: String,
    client_secret: lab_proto::ClientSecret,
    clock: Clock,
    cached: Mutex<Option<(lab_proto::AccessToken, u64)>>,
}

impl std::fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUpstream").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl HttpUpstream {
    /// `base_url` is also the `resource` the RS asks the AS for (`https://127.0.0.1:9445`).
    pub fn new(
        client: reqwest::Client,
        base_url: String,
        token_endpoint: String,
        client_id: String,
        client_secret: lab_proto::ClientSecret,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(Self { client, base_url, token_endpoint, client_id, client_secret, clock, cached: Mutex::new(None) })
    }

    async fn token(&self) -> Result<lab_proto::AccessToken, String> {
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some((token, expires_at)) = cached.as_ref()
            && *expires_at > now + 30
        {
            return Ok(token.clone());
        }
        let response = self
            .client
            .post(&self.token_endpoint)
            .header(reqwest::header::AUTHORIZATION, basic_authorization(&self.client_id, &self.client_secret)?)
            .form(&[("grant_type", "client_credentials"), ("scope", "mcp:read"), ("resource", self.base_url.as_str())])
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|error| error.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("the authorization server refused the upstream token: {}", response.status()));
        }
        let tokens: TokenResponse = response.json().await.map_err(|error| error.without_url().to_string())?;
        let expires_at = now + tokens.expires_in.unwrap_or(60);
        *cached = Some((tokens.access_token.clone(), expires_at));
        Ok(tokens.access_token)
    }
}

impl Upstream for HttpUpstream {
    fn shipment_status<'a>(&'a self, tracking_number: &'a str) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let token = self.token().await?;
            let response = self
                .client
                .get(format!("{}/shipments/{tracking_number}", self.base_url))
                .bearer_auth(token.secret())
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|error| error.without_url().to_string())?;
            if !response.status().is_success() {
                return Err(format!("the carrier answered {}", response.status()));
            }
            response.json().await.map_err(|error| error.without_url().to_string())
        })
    }
}
