//! The `client` step: the conforming client (`lab-client`) runs the whole flow against an MCP
//! server, and the step observes how it ended (succeeded, refused by which CL check, failed) and
//! every exchange it made.

use std::time::Duration;

use lab_client::{ClientConfig, ClientError, McpClient, PreRegistered};
use lab_proto::registration::TokenEndpointAuthMethod;
use serde_json::json;

use crate::error::StepError;
use crate::expect::{ClientOutcome, Observation};
use crate::outcome::{Detail, Party};
use crate::runner::Run;
use crate::schema::ClientRun;

impl Run {
    pub(super) async fn client(&mut self, step: &ClientRun) -> Result<Observation, StepError> {
        let url = match &step.url {
            Some(url) => self.vars.expand(url).map_err(StepError::field("url"))?,
            None => self.mcp_url_for(step.target),
        };
        // The lab's own hosts, and a third-party MCP server on loopback (which the client's SSRF
        // policy allows only by name).
        let mut allowed = vec![self.lab.as_addr().to_string(), self.lab.cimd_addr().to_string()];
        if let Some(authority) = self
            .target
            .rs_url
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok())
            .and_then(|url| Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?)))
        {
            allowed.push(authority);
        }
        let mut config = ClientConfig::new(url).allow(allowed);
        config.ca_pem = Some(self.lab.ca_pem().as_bytes().to_vec());
        config.callback_timeout = Duration::from_secs(5);
        config.login_hint = step.user.clone();
        config.scope = step.scope.clone();
        config.metadata_document = step
            .metadata_document
            .as_deref()
            .map(|url| self.vars.expand(url))
            .transpose()
            .map_err(StepError::field("metadata_document"))?;
        if let Some(client_id) = &step.client_id {
            let client_secret = step
                .client_secret
                .as_deref()
                .map(|secret| self.vars.expand(secret))
                .transpose()
                .map_err(StepError::field("client_secret"))?
                .map(lab_proto::ClientSecret::new);
            let auth_method = if client_secret.is_some() {
                TokenEndpointAuthMethod::ClientSecretBasic
            } else {
                TokenEndpointAuthMethod::None
            };
            config.pre_registered = Some(PreRegistered {
                issuer: None,
                client_id: self.vars.expand(client_id).map_err(StepError::field("client_id"))?,
                client_secret,
                auth_method,
            });
        }
        // Arguments only matter to a tool call; a `tools/list` step has none to expand.
        let args = match &step.tool {
            Some(_) => {
                self.vars.expand_json(step.args.as_ref().unwrap_or(&json!({}))).map_err(StepError::field("args"))?
            }
            None => json!({}),
        };
        let mut client = McpClient::new(config).map_err(|error| StepError::Client(error.to_string()))?;
        // A third-party server has none of the lab shop's tools: listing them reaches its
        // authorization layer just as well.
        let tool = step.tool.as_ref().filter(|_| self.target.rs_url.is_none());
        let result = match client.connect().await {
            Ok(()) => match tool {
                Some(tool) => client.call_tool(tool, args).await,
                None => client.list_tools().await,
            },
            Err(error) => Err(error),
        };
        for exchange in client.trace().exchanges {
            self.record(Party::Client, &exchange.url, &exchange.method, exchange.status, Detail::default());
            self.transcript.push(format!(
                "client step {}: {} {} -> {}",
                exchange.step,
                exchange.method,
                exchange.url,
                exchange.status.map_or_else(|| exchange.error.clone().unwrap_or_default(), |status| status.to_string())
            ));
        }
        let (client_outcome, json) = match result {
            Ok(value) => (ClientOutcome::Succeeded, Some(value)),
            Err(ClientError::Refused { check, reason }) => {
                self.transcript.push(format!("client refused ({check}): {reason}"));
                (ClientOutcome::Refused(check.to_owned()), None)
            }
            Err(other) => {
                self.transcript.push(format!("client failed: {other}"));
                (ClientOutcome::Failed(other.to_string()), None)
            }
        };
        Ok(Observation { json, client: Some(client_outcome), ..Observation::default() })
    }
}
