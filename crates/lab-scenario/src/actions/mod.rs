//! The actions a step can take, one module per family: `oauth` (registration and the AS's
//! endpoints), `mcp` (JSON-RPC to the MCP server), `http` (raw requests), `forge` (tokens), `client` (the conforming
//! client) and `listeners` (the MCP server's sockets). The lab controls (clock, profiles) are
//! here, with the helpers that resolve where a step goes and what it sends.

mod client;
mod forge;
mod http;
mod listeners;
mod mcp;
mod oauth;

use oauth::Endpoint;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::StepError;
use crate::expect::Observation;
use crate::runner::Run;
use crate::schema::{AsTarget, ProfileSwitch, RsTarget, Step, StepAction};
use crate::vars::as_param;

impl Run {
    /// Runs `step` once and returns what it saw.
    pub(crate) async fn execute(&mut self, step: &Step) -> Result<Observation, StepError> {
        match &step.action {
            StepAction::Register(register) => self.register(register).await,
            StepAction::Mcp(mcp) => self.mcp(mcp).await,
            StepAction::Http(http) => self.http(http).await,
            StepAction::Forge(forge) => {
                let token = self.forge(forge)?;
                self.vars.set(forge.into.clone().unwrap_or_else(|| "forged".to_owned()), token);
                Ok(Observation::default())
            }
            StepAction::Clock(clock) => {
                self.lab.clock().advance(clock.advance);
                self.transcript.push(format!("clock moved by {} s", clock.advance));
                Ok(Observation::default())
            }
            StepAction::Profile(switch) => {
                self.switch_profiles(switch);
                Ok(Observation::default())
            }
            StepAction::Client(client) => self.client(client).await,
            StepAction::Listeners(listeners) => self.listeners(listeners.target),
            StepAction::Authorize(oauth) => self.authorize(oauth).await,
            StepAction::Token(oauth) => self.oauth(Endpoint::Token, oauth).await,
            StepAction::Refresh(oauth) => self.oauth(Endpoint::Refresh, oauth).await,
            StepAction::ClientCredentials(oauth) => self.oauth(Endpoint::ClientCredentials, oauth).await,
            StepAction::Revoke(oauth) => self.oauth(Endpoint::Revoke, oauth).await,
            StepAction::Introspect(oauth) => self.oauth(Endpoint::Introspect, oauth).await,
        }
    }

    /// Switches the profiles of both issuers or both resource servers at run time.
    fn switch_profiles(&mut self, switch: &ProfileSwitch) {
        if let Some(profile) = switch.as_profile {
            self.lab.auth_server().set_profile(profile);
            self.lab.tenant_server().set_profile(profile);
        }
        if let Some(profile) = switch.rs {
            self.lab.rs().set_profile(profile);
            self.lab.twin_rs().set_profile(profile);
        }
        let name = |profile: Option<String>| profile.unwrap_or_else(|| "unchanged".to_owned());
        self.transcript.push(format!(
            "profiles: as={} rs={}",
            name(switch.as_profile.map(|profile| profile.to_string())),
            name(switch.rs.map(|profile| profile.to_string()))
        ));
    }

    /// The issuer a step talks to: the lab's (or its path issuer), or the third-party one.
    pub(crate) fn issuer_for(&self, target: AsTarget) -> String {
        match target {
            AsTarget::Tenant => self.lab.path_issuer().to_owned(),
            AsTarget::As => self.vars.get("issuer").unwrap_or(self.lab.issuer()).to_owned(),
        }
    }

    /// The MCP endpoint a step talks to.
    pub(crate) fn mcp_url_for(&self, target: RsTarget) -> String {
        match target {
            RsTarget::Twin => self.lab.twin_resource().to_owned(),
            RsTarget::Rs => self.resource(),
        }
    }

    /// The resource under test: the lab's RS, or the third-party one.
    pub(crate) fn resource(&self) -> String {
        self.target
            .rs_url
            .clone()
            .or_else(|| self.target.resource.clone())
            .unwrap_or_else(|| self.lab.resource().to_owned())
    }

    /// The URL of an AS endpoint: the path issuer's, or the one the run's variables name (the
    /// lab's path, or what a third-party AS's metadata says).
    pub(crate) fn endpoint(&self, target: AsTarget, name: &str, path: &str) -> String {
        if target == AsTarget::Tenant {
            return format!("{}{path}", self.lab.path_issuer());
        }
        self.vars.get(name).map_or_else(|| format!("{}{path}", self.issuer_for(target)), str::to_owned)
    }

    /// Default parameters edited by `with`, `remove` and `add`.
    pub(crate) fn params(
        &self,
        defaults: &[(&str, String)],
        with: &BTreeMap<String, Value>,
        remove: &[String],
        add: &[[String; 2]],
    ) -> Result<Vec<(String, String)>, StepError> {
        let mut params: Vec<(String, String)> =
            defaults.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        for (name, value) in with {
            let value = self.vars.expand(&as_param(value)).map_err(StepError::field("with"))?;
            match params.iter_mut().find(|(key, _)| key == name) {
                Some(slot) => slot.1 = value,
                None => params.push((name.clone(), value)),
            }
        }
        params.retain(|(name, _)| !remove.contains(name));
        for [name, value] in add {
            params.push((name.clone(), self.vars.expand(value).map_err(StepError::field("add"))?));
        }
        Ok(params)
    }

    /// The step's extra headers (names lower-cased), and HTTP Basic credentials if it sets them.
    pub(crate) fn headers(
        &self,
        headers: &BTreeMap<String, String>,
        basic: Option<&[String; 2]>,
    ) -> Result<Vec<(String, String)>, StepError> {
        let mut out: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| Ok((name.to_ascii_lowercase(), self.vars.expand(value)?)))
            .collect::<Result<_, String>>()
            .map_err(StepError::field("headers"))?;
        if let Some([id, secret]) = basic {
            let expand = |text: &str| self.vars.expand(text).map_err(StepError::field("basic"));
            out.push(("authorization".to_owned(), lab_proto::basic::authorization(&expand(id)?, &expand(secret)?)));
        }
        Ok(out)
    }
}
