//! The `listeners` step: the addresses the MCP server's port listens on (RS-14: a local server
//! listens on loopback only), read from the kernel's socket tables by `sockets`.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::error::StepError;
use crate::expect::Observation;
use crate::runner::Run;
use crate::schema::RsTarget;

impl Run {
    /// The addresses listening on the MCP server's port, as JSON: `port`, `addresses` and
    /// `loopback_only`. Not applicable to a server on another machine, or where the sockets
    /// cannot be listed (not Linux, another network namespace).
    pub(super) fn listeners(&mut self, target: RsTarget) -> Result<Observation, StepError> {
        let url = self.mcp_url_for(target);
        // The URL is the MCP server's under test (`--rs-url`, checked before the run) or the lab's.
        let url = url::Url::parse(&url).map_err(|error| StepError::Field {
            field: "target",
            message: format!("the MCP server's URL {url:?}: {error}"),
        })?;
        let port = url.port_or_known_default().unwrap_or(443);
        let local = match url.host() {
            Some(url::Host::Ipv4(v4)) => crate::sockets::is_loopback(v4.into()),
            Some(url::Host::Ipv6(v6)) => crate::sockets::is_loopback(v6.into()),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let inapplicable = |reason: String| Observation { inapplicable: Some(reason), ..Observation::default() };
        if !local {
            return Ok(inapplicable(format!(
                "the MCP server at {} is not on this machine, so its sockets cannot be listed",
                url.host_str().unwrap_or_default()
            )));
        }
        let addresses = match crate::sockets::listening_addresses(port) {
            Ok(addresses) => addresses,
            Err(reason) => return Ok(inapplicable(reason)),
        };
        if addresses.is_empty() {
            return Ok(inapplicable(format!(
                "no socket listens on port {port} in this machine's network namespace (a container?)"
            )));
        }
        let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        self.transcript.push(format!("listening on port {port}: {}", listed.join(", ")));
        Ok(Observation { json: Some(listening(port, &addresses)), ..Observation::default() })
    }
}

/// What the step observes of the addresses listening on `port`, for its expectations.
fn listening(port: u16, addresses: &[IpAddr]) -> Value {
    let loopback_only = addresses.iter().all(|address| crate::sockets::is_loopback(*address));
    let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    json!({"port": port, "addresses": listed, "loopback_only": loopback_only})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_any_interface_is_not_loopback_only() {
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let local: [IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(listening(8443, &[local[0], any])["loopback_only"], json!(false));
        assert_eq!(listening(8443, &["::".parse().unwrap()])["loopback_only"], json!(false));
        assert_eq!(
            listening(8443, &local),
            json!({"port": 8443, "addresses": ["127.0.0.1", "::1"], "loopback_only": true})
        );
    }
}
