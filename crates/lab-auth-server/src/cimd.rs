//! Client ID metadata documents (CIMD; MCP-1125 §CIMD): a `client_id` that is an https URL names a
//! JSON document the AS fetches and validates.
//!
//! The fetch is the AS's only outbound request, so it is fenced in (CIMD §SSRF, SBP-2607 "SSRF
//! against the AS"): the URL shape is checked first, only allowlisted `host:port` pairs are ever
//! contacted, redirects are not followed, the body is capped at 5 KB and every step has a timeout.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lab_proto::registration::{ClientIdMetadataDocument, TokenEndpointAuthMethod};

use crate::records::{Client, ClientSource};
use crate::redirect::validate_redirect_uri;

/// CIMD §Maximum Response Size: the AS SHOULD cap documents at 5 KB.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// The whole fetch, connect to last byte, must finish within this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a document could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("document request answered with HTTP {0}")]
    Status(u16),
    #[error("document request was redirected; redirects are not followed")]
    Redirect,
    #[error("document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("document could not be fetched: {0}")]
    Transport(String),
}

/// Future returned by [`DocumentFetcher::fetch`].
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchError>> + Send + 'a>>;

/// Fetches a client ID metadata document. The AS validates the URL and the allowlist before it
/// calls this; implementations must not follow redirects and must stop reading at
/// [`MAX_DOCUMENT_BYTES`].
pub trait DocumentFetcher: Send + Sync {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a>;
}

/// The real fetcher: reqwest over TLS, no redirects, no proxy, bounded size and time.
#[derive(Debug, Clone)]
pub struct HttpDocumentFetcher {
    client: reqwest::Client,
}

impl HttpDocumentFetcher {
    /// With `ca_pem`, only that CA is trusted (the lab CA); otherwise the platform's roots.
    pub fn new(ca_pem: Option<&[u8]>) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(true)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(3));
        if let Some(pem) = ca_pem {
            builder = builder.tls_certs_only([reqwest::Certificate::from_pem(pem)?]);
        }
        Ok(Self { client: builder.build()? })
    }
}

impl DocumentFetcher for HttpDocumentFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            let mut response = self
                .client
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|error| FetchError::Transport(without_url(error)))?;
            let status = response.status();
            if status.is_redirection() {
                return Err(FetchError::Redirect);
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let too_large = |_| FetchError::TooLarge;
            let mut body = lab_proto::bounded::BoundedBody::new(MAX_DOCUMENT_BYTES, response.content_length())
                .map_err(too_large)?;
            while let Some(chunk) = response.chunk().await.map_err(|error| FetchError::Transport(without_url(error)))? {
                body.push(&chunk).map_err(too_large)?;
            }
            Ok(body.into_bytes())
        })
    }
}

/// The error text without the URL (a client's URL is not secret, but error texts end up in reports
/// and should say what failed, not repeat the input).
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    if let Some(source) = std::error::Error::source(&error) {
        text.push_str(": ");
        text.push_str(&source.to_string());
    }
    text
}

/// Whether a `client_id` is meant as a metadata document URL (CIMD §Client Identifier).
pub(crate) fn is_document_client_id(client_id: &str) -> bool {
    client_id.contains("://")
}

/// Checks a `client_id` URL before any fetch (CIMD §Client Identifier, AS-37): https, a path, no
/// dot segments, no fragment, no userinfo, no query (lab: SHOULD NOT becomes refused), and an
/// allowlisted `host:port` (CIMD §SSRF).
pub(crate) fn check_client_id_url(client_id: &str, allowed_hosts: &[String]) -> Result<(), String> {
    let Some(rest) = client_id.strip_prefix("https://") else {
        return Err("client_id URL must use https".to_owned());
    };
    if client_id.contains('#') {
        return Err("client_id URL must not contain a fragment".to_owned());
    }
    if client_id.contains('?') {
        return Err("client_id URL must not contain a query".to_owned());
    }
    if client_id.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\') || !client_id.is_ascii() {
        return Err("client_id URL contains characters that are not allowed".to_owned());
    }
    let Some(slash) = rest.find('/') else {
        return Err("client_id URL must contain a path".to_owned());
    };
    let (authority, path) = rest.split_at(slash);
    if authority.contains('@') {
        return Err("client_id URL must not contain userinfo".to_owned());
    }
    if path == "/" {
        return Err("client_id URL must contain a path".to_owned());
    }
    let dot_segment = path.split('/').any(|segment| {
        let lowered = segment.to_ascii_lowercase();
        matches!(lowered.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.")
    });
    if dot_segment {
        return Err("client_id URL must not contain dot segments".to_owned());
    }
    if !allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(authority)) {
        return Err(format!("client_id host {authority} is not on the lab's fetch allowlist; nothing was fetched"));
    }
    Ok(())
}

/// Validates a fetched document (CIMD §Client Metadata, MCP-1125 §CIMD) and turns it into a client.
pub(crate) fn client_from_document(client_id: &str, bytes: &[u8]) -> Result<Client, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| format!("client metadata document is not JSON: {error}"))?;
    if !value.is_object() {
        return Err("client metadata document is not a JSON object".to_owned());
    }
    if value.get("client_secret").is_some() || value.get("client_secret_expires_at").is_some() {
        return Err("client metadata document must not contain client_secret".to_owned());
    }
    let document: ClientIdMetadataDocument =
        serde_json::from_value(value).map_err(|error| format!("client metadata document is malformed: {error}"))?;
    // CIMD §Client Metadata: simple string comparison with the URL it was fetched from.
    if document.client_id.as_deref() != Some(client_id) {
        return Err("client metadata document client_id differs from its URL".to_owned());
    }
    let client_name = document.client_name.clone().filter(|name| !name.trim().is_empty());
    if client_name.is_none() {
        return Err("client metadata document has no client_name".to_owned());
    }
    let redirect_uris = document.redirect_uris.clone().unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err("client metadata document has no redirect_uris".to_owned());
    }
    for uri in &redirect_uris {
        validate_redirect_uri(uri)?;
    }
    let auth_method = match document.token_endpoint_auth_method.as_deref() {
        None | Some("none") => TokenEndpointAuthMethod::None,
        // CIMD §Client Metadata: symmetric methods MUST NOT be used.
        Some(method) if method.starts_with("client_secret_") => {
            return Err(format!("client metadata document declares {method}, a symmetric method that CIMD forbids"));
        }
        Some(method) => return Err(format!("token_endpoint_auth_method {method} is not supported by the lab")),
    };
    let grant_types = document.grant_types.clone().unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if let Some(grant) =
        grant_types.iter().find(|grant| !matches!(grant.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(format!("grant type {grant} is not allowed for a metadata document client"));
    }
    Ok(Client {
        client_id: client_id.to_owned(),
        client_name,
        secret: None,
        auth_method,
        redirect_uris,
        grant_types,
        scope: document.scope.clone(),
        introspection_resources: Vec::new(),
        source: ClientSource::MetadataDocument,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &str = "127.0.0.1:9446";

    #[test]
    fn client_id_url_rules() {
        let allowed = vec![ALLOWED.to_owned()];
        assert!(check_client_id_url("https://127.0.0.1:9446/client.json", &allowed).is_ok());
        for bad in [
            "http://127.0.0.1:9446/client.json",
            "https://127.0.0.1:9446",
            "https://127.0.0.1:9446/",
            "https://127.0.0.1:9446/a/../x.json",
            "https://127.0.0.1:9446/a/%2E%2E/x.json",
            "https://127.0.0.1:9446/x.json#f",
            "https://u:p@127.0.0.1:9446/x.json",
            "https://127.0.0.1:9446/x.json?q=1",
            "https://127.0.0.2:7777/c.json",
            "https://169.254.169.254/latest",
        ] {
            assert!(check_client_id_url(bad, &allowed).is_err(), "{bad}");
        }
    }

    #[test]
    fn document_rules() {
        let id = "https://127.0.0.1:9446/client.json";
        let good = format!(r#"{{"client_id":"{id}","client_name":"Doc","redirect_uris":["http://127.0.0.1/cb"]}}"#);
        let client = client_from_document(id, good.as_bytes()).unwrap();
        assert_eq!(client.auth_method, TokenEndpointAuthMethod::None);
        for bad in [
            r#"{"client_id":"https://127.0.0.1:9446/other.json","client_name":"Doc","redirect_uris":["http://127.0.0.1/cb"]}"#.to_owned(),
            format!(r#"{{"client_id":"{id}","redirect_uris":["http://127.0.0.1/cb"]}}"#),
            format!(r#"{{"client_id":"{id}","client_name":"Doc"}}"#),
            format!(r#"{{"client_id":"{id}","client_name":"Doc","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}}"#),
            format!(r#"{{"client_id":"{id}","client_name":"Doc","redirect_uris":["http://127.0.0.1/cb"],"client_secret":"x"}}"#),
            format!(r#"{{"client_id":"{id}","client_name":"Doc","redirect_uris":["javascript:alert(1)"]}}"#),
            "[1,2]".to_owned(),
            "not json".to_owned(),
        ] {
            assert!(client_from_document(id, bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
