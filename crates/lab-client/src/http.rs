//! The client's only way onto the network: every URL is checked against the SSRF policy before it
//! is fetched (CL-07, SBP SSRF), redirects are never followed automatically, bodies are bounded,
//! every request has a timeout, TLS trusts only the given CA (CL-26), and every exchange is
//! recorded in the trace with secrets redacted.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lab_proto::bounded::{BoundedBody, TooLarge};
use reqwest::header::HeaderMap;
use url::{Host, Url};

use crate::error::ClientError;
use crate::events::EventStream;
use crate::trace::{Exchange, Trace, redact_body, redact_header, redact_query};

/// The largest response body the client reads (metadata, tokens, MCP results).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The timeout of one request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest an event stream may stay silent (between two reads) before the client gives up.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest one event stream may last, however busy: a tool that runs longer loses its
/// answer, rather than holding the client for ever.
pub const STREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// What the client may connect to.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    /// `host:port` authorities that may be loopback or private, and may use plain http when
    /// loopback (the lab's own hosts, or what the user allowed with `--allow-host`).
    pub allowed_authorities: Vec<String>,
}

impl NetworkPolicy {
    /// Whether an authority is allowlisted; an entry `host:*` allows every port of the host.
    fn allows(&self, authority: &str) -> bool {
        self.allowed_authorities.iter().any(|allowed| match allowed.strip_suffix(":*") {
            Some(host) => {
                authority.rsplit_once(':').is_some_and(|(authority_host, _)| authority_host.eq_ignore_ascii_case(host))
            }
            None => allowed.eq_ignore_ascii_case(authority),
        })
    }

    fn allows_host(&self, host: &str) -> bool {
        self.allowed_authorities.iter().any(|allowed| {
            allowed
                .rsplit_once(':')
                .map_or(allowed.as_str(), |(host, _)| host)
                .trim_matches(['[', ']'])
                .eq_ignore_ascii_case(host)
        })
    }

    /// CL-07, CL-08: https only (loopback http when allowlisted); loopback, private, link-local,
    /// ULA and other special addresses only when allowlisted, whatever their spelling (the URL
    /// parser turns `2130706434` and `0x7f.0.0.2` into `127.0.0.2`; IPv4-mapped IPv6 is unwrapped).
    pub fn check(&self, url: &Url) -> Result<(), ClientError> {
        let refused = |reason: String| ClientError::refused("CL-07", reason);
        let host = url.host().ok_or_else(|| refused(format!("{} has no host", redact_query(url.as_str()))))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("URLs with userinfo are not fetched".to_owned()));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let authority = match &host {
            Host::Ipv6(address) => format!("[{address}]:{port}"),
            other => format!("{other}:{port}"),
        };
        let special = match &host {
            Host::Ipv4(address) => is_special(IpAddr::V4(*address)),
            Host::Ipv6(address) => is_special(IpAddr::V6(*address)),
            Host::Domain(name) => {
                let name = name.to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if special && self.allows(&authority) => {}
            "http" => {
                return Err(refused(format!(
                    "{authority}: plain http is refused (https only, loopback excepted when allowed)"
                )));
            }
            other => return Err(refused(format!("scheme {other}: is never fetched"))),
        }
        // An allowed host name may resolve to a special address, but only on the ports allowed
        // with it: `lab.internal:9446` allows nothing on `lab.internal:22`.
        if let Host::Domain(name) = &host
            && self.allows_host(name)
            && !self.allows(&authority)
        {
            return Err(refused(format!("{authority} is allowed only on the ports given with it")));
        }
        if special && !self.allows(&authority) {
            return Err(refused(format!(
                "{authority} is a loopback, private or link-local address that is not allowed"
            )));
        }
        Ok(())
    }
}

/// Addresses that must not be reached unless allowed: what an SSRF would aim at. Everything but
/// global unicast is special, after the IANA special-purpose registries (RFC 6890 and its
/// updates); IPv6 addresses that embed an IPv4 address (mapped, NAT64, 6to4) are judged by it,
/// the rest of `::/96`, Teredo and the other IETF assignments in `2001::/23` are refused.
pub fn is_special(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                is_special(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            match segments {
                // IPv4-mapped: the IPv4 address is what is reached.
                [0, 0, 0, 0, 0, 0xffff, high, low] => embedded(high, low),
                // Loopback, unspecified and the deprecated IPv4-compatible `::a.b.c.d`.
                [0, 0, 0, 0, 0, 0, _, _] => true,
                // NAT64 well-known prefix (RFC 6052): judged by the IPv4 address it translates to.
                [0x64, 0xff9b, 0, 0, 0, 0, high, low] => embedded(high, low),
                // 6to4 (RFC 3056): the relay reaches the embedded IPv4 address.
                [0x2002, high, low, ..] => embedded(high, low),
                // IETF protocol assignments (Teredo 2001::/32, ORCHID, …) and documentation.
                [0x2001, second, ..] if second < 0x0200 || second == 0x0db8 => true,
                // Documentation (RFC 9637).
                [first, ..] if first & 0xfff0 == 0x3ff0 => true,
                // Global unicast is 2000::/3; everything outside it (ULA fc00::/7, link-local
                // fe80::/10, site-local fec0::/10, multicast ff00::/8, discard 100::/64, the local
                // NAT64 64:ff9b:1::/48, …) is special.
                [first, ..] => first & 0xe000 != 0x2000,
            }
        }
    }
}

/// Resolves names and refuses special addresses, so a public name that resolves to 127.0.0.1 or
/// 169.254.169.254 is blocked, and the checked address is the one connected to (no rebinding
/// between check and use).
struct GuardedResolver {
    policy: NetworkPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.allows_host(&host);
            let safe: Vec<SocketAddr> =
                addresses.into_iter().filter(|address| allowed || !is_special(address.ip())).collect();
            if safe.is_empty() {
                return Err(format!("{host} resolves only to addresses the client refuses (CL-07)").into());
            }
            Ok(Box::new(safe.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP answer, body read and bounded.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body)
            .map_err(|error| ClientError::protocol(&self.url, format!("body is not JSON: {error}")))
    }

    /// All values of a header.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).map(str::to_owned).collect()
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_values(name).into_iter().next()
    }
}

/// The guarded HTTP client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    policy: NetworkPolicy,
    trace: Arc<Mutex<Trace>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// A request body.
pub enum Body<'a> {
    Empty,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a serde_json::Value),
}

impl Http {
    /// `ca_pem`: the only CA trusted (the lab CA); `None` trusts the platform's roots.
    pub fn new(ca_pem: Option<&[u8]>, policy: NetworkPolicy) -> Result<Self, ClientError> {
        let config_error =
            |error: reqwest::Error| ClientError::Config(format!("failed to build the HTTP client: {error}"));
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .read_timeout(STREAM_IDLE_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }));
        if let Some(pem) = ca_pem {
            builder = builder.tls_certs_only([reqwest::Certificate::from_pem(pem).map_err(config_error)?]);
        }
        Ok(Self {
            client: builder.build().map_err(config_error)?,
            policy,
            trace: Arc::new(Mutex::new(Trace::default())),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    /// A copy of the trace so far.
    pub fn trace(&self) -> Trace {
        self.trace.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sends one request after the policy check, records it, and reads a bounded body.
    pub async fn send(
        &self,
        step: u8,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Answer, ClientError> {
        let (exchange, response) = self.start(step, method, url, headers, body, REQUEST_TIMEOUT).await?;
        self.finish(exchange, response, url).await
    }

    /// Reads the whole answer to an exchange, bounded, and records the exchange.
    async fn finish(
        &self,
        exchange: Exchange,
        response: Result<reqwest::Response, ClientError>,
        url: &str,
    ) -> Result<Answer, ClientError> {
        let answer = match response {
            Ok(response) => self.read_whole(response, url).await,
            Err(error) => Err(error),
        };
        self.record(exchange, answer.as_ref());
        answer
    }

    /// [`Http::send`], except that a successful event-stream answer is handed back unread, to be
    /// read event by event as it arrives (its exchange is recorded when it is dropped), and may
    /// last [`STREAM_TIMEOUT`], silent [`STREAM_IDLE_TIMEOUT`] at most between two reads.
    pub async fn open(
        &self,
        step: u8,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Received, ClientError> {
        let (exchange, response) = self.start(step, method, url, headers, body, STREAM_TIMEOUT).await?;
        let response = match response {
            Ok(response) if is_event_stream(&response) => {
                return EventStream::new(response, redact_query(url), exchange, self.trace.clone())
                    .map(|stream| Received::Events(Box::new(stream)));
            }
            other => other,
        };
        self.finish(exchange, response, url).await.map(Received::Whole)
    }

    /// Checks the URL against the policy, then sends the request, which may take `timeout` in
    /// all: the exchange to record, and the response or why none came. A URL the policy refuses
    /// is never sent nor recorded.
    async fn start(
        &self,
        step: u8,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        timeout: Duration,
    ) -> Result<(Exchange, Result<reqwest::Response, ClientError>), ClientError> {
        let parsed = Url::parse(url)
            .map_err(|error| ClientError::refused("CL-07", format!("{} is not a URL: {error}", redact_query(url))))?;
        self.policy.check(&parsed)?;
        let mut request = self.client.request(method.clone(), parsed.clone()).timeout(timeout);
        let mut recorded_headers = Vec::new();
        for (name, value) in headers {
            request = request.header(*name, *value);
            recorded_headers.push(((*name).to_owned(), redact_header(name, value)));
        }
        let recorded_body = match body {
            Body::Empty => None,
            Body::Form(pairs) => {
                request = request.form(pairs);
                let encoded: String =
                    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
                Some(redact_body(&encoded))
            }
            Body::Json(value) => {
                request = request.json(value);
                Some(redact_body(&value.to_string()))
            }
        };
        let exchange = Exchange {
            step,
            method: method.to_string(),
            url: redact_query(url),
            request_headers: recorded_headers,
            request_body: recorded_body,
            status: None,
            response_headers: Vec::new(),
            response_body: None,
            error: None,
        };
        let response = request.send().await.map_err(|error| network(url, &error));
        Ok((exchange, response))
    }

    /// Records an exchange with its answer, or why it has none.
    fn record(&self, mut exchange: Exchange, answer: Result<&Answer, &ClientError>) {
        match answer {
            Ok(answer) => exchange = crate::trace::answered(exchange, answer.status, &answer.headers, &answer.body),
            Err(error) => exchange.error = Some(error.to_string()),
        }
        self.trace.lock().unwrap_or_else(PoisonError::into_inner).exchanges.push(exchange);
    }

    async fn read_whole(&self, mut response: reqwest::Response, url: &str) -> Result<Answer, ClientError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let too_large = |error: TooLarge| ClientError::protocol(url, error.to_string());
        let mut body = BoundedBody::new(MAX_RESPONSE_BYTES, response.content_length()).map_err(too_large)?;
        while let Some(chunk) = response.chunk().await.map_err(|error| network(url, &error))? {
            body.push(&chunk).map_err(too_large)?;
        }
        Ok(Answer { status, headers, body: body.into_bytes(), url: redact_query(url) })
    }
}

/// What a request got: the whole answer, or an event stream to read as it arrives.
pub enum Received {
    Whole(Answer),
    Events(Box<EventStream>),
}

/// A network or TLS failure, with every cause in the chain and no secret of the URL.
fn network(url: &str, error: &reqwest::Error) -> ClientError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        reason.push_str(": ");
        reason.push_str(&inner.to_string());
        source = inner.source();
    }
    ClientError::Network { url: redact_query(url), reason: redact_query(&reason) }
}

/// Whether `response` is a successful event stream, to be read as it arrives.
fn is_event_stream(response: &reqwest::Response) -> bool {
    response.status().is_success()
        && response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().starts_with("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &NetworkPolicy, url: &str) -> Result<(), ClientError> {
        policy.check(&Url::parse(url).unwrap())
    }

    #[test]
    fn ssrf_targets_are_refused_in_every_spelling() {
        let policy = NetworkPolicy { allowed_authorities: vec!["127.0.0.1:9443".into()] };
        for url in [
            "http://127.0.0.2:7777/x",
            "https://127.0.0.2:7777/x",
            "http://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "http://2130706434/",
            "https://2130706434/",
            "https://0x7f.0.0.2/",
            "https://[::ffff:127.0.0.2]/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://localhost/",
            "https://0.0.0.0/",
            "http://example.com/",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/plain,x",
            "https://user:pw@example.com/",
        ] {
            let result = check(&policy, url);
            assert_eq!(result.as_ref().err().and_then(ClientError::check), Some("CL-07"), "{url}: {result:?}");
        }
        assert!(check(&policy, "https://127.0.0.1:9443/.well-known/oauth-authorization-server").is_ok());
        assert!(check(&policy, "http://127.0.0.1:9443/x").is_ok(), "allowlisted loopback may use http");
        assert!(check(&policy, "https://example.com/mcp").is_ok());
        assert!(check(&policy, "https://127.0.0.1:9444/").is_err(), "another port is another authority");
        let any_port = NetworkPolicy { allowed_authorities: vec!["localhost:*".into()] };
        assert!(check(&any_port, "http://localhost:41234/mcp").is_ok());
        assert!(check(&any_port, "http://127.0.0.1:41234/mcp").is_err());
    }

    #[test]
    fn special_ranges() {
        for address in [
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "192.88.99.1",
            "2001:db8::1",
            "64:ff9b::7f00:2",
            "64:ff9b::a9fe:a9fe",
            // Issue 14, item 15: what the first classification missed.
            "::127.0.0.1",
            "::169.254.169.254",
            "::8.8.8.8",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "fec0::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::1",
            "100::1",
            "3fff::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::1",
            "::",
        ] {
            assert!(is_special(address.parse().unwrap()), "{address}");
        }
        for address in
            ["93.184.216.34", "2606:4700::1111", "1.1.1.1", "64:ff9b::808:808", "2002:808:808::1", "::ffff:1.1.1.1"]
        {
            assert!(!is_special(address.parse().unwrap()), "{address}");
        }
    }

    #[test]
    fn an_allowed_host_name_is_allowed_on_its_ports_only() {
        let policy = NetworkPolicy { allowed_authorities: vec!["lab.internal:9446".into()] };
        assert!(check(&policy, "https://lab.internal:9446/client.json").is_ok());
        assert!(check(&policy, "https://lab.internal:22/").is_err());
        assert!(check(&policy, "https://lab.internal/").is_err());
        let any_port = NetworkPolicy { allowed_authorities: vec!["lab.internal:*".into()] };
        assert!(check(&any_port, "https://lab.internal:22/").is_ok());
    }
}
