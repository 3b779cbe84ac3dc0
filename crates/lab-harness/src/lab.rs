//! Starting the lab: certificates, the authorization servers, the resource servers, the upstream
//! API, and the TLS hosts that serve them.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use lab_auth_server::{AuthServer, AuthServerConfig, HttpDocumentFetcher, config::lab};
use lab_mcp_server::verify::JwtVerifier;
use lab_mcp_server::{
    HttpIntrospection, HttpKeySource, HttpUpstream, McpServer, McpServerConfig, Migration, VerifyConfig,
};
use lab_pki::{CertDir, LabCa, ServerConfig};
use lab_proto::ClientSecret;

use crate::canary::{CANARY_IP, Canary};
use crate::control::{CONTROL_TOKEN_FILE, ControlPlane, ControlSecret};
use crate::host::bind_loopback_on;
use crate::requests::{Recorder, RequestLog};
use crate::role::{AS_ROLE, CANARY_ROLE, CIMD_ROLE, CONTROL_ROLE, HELPER_ROLE, RS_ROLE, TWIN_ROLE, UPSTREAM_ROLE};
use crate::upstream::{self, UpstreamLog};
use crate::{HarnessError, LabConfig, MCP_PATH, TENANT_PATH, TlsHost, VerifyMode, bind_loopback, http_client};

/// The clock skew the upstream API allows on `exp` and `nbf`, like the resource servers
/// (requirements §0.4: 30 s).
const UPSTREAM_LEEWAY: u64 = 30;

/// A running lab. Dropping it stops every server at once; [`RunningLab::shutdown`] stops them
/// gracefully.
pub struct RunningLab {
    issuer: String,
    path_issuer: String,
    auth_server: AuthServer,
    tenant_server: AuthServer,
    rs: McpServer,
    twin_rs: McpServer,
    upstream_url: String,
    upstream_log: UpstreamLog,
    verify: VerifyMode,
    ca: LabCa,
    tls: Arc<ServerConfig>,
    cert_dir: Option<CertDir>,
    created_ca: bool,
    as_host: TlsHost,
    rs_host: TlsHost,
    twin_host: TlsHost,
    upstream_host: TlsHost,
    cimd_host: TlsHost,
    canary: Canary,
    requests: RequestLog,
    leaf_spki_sha256: String,
    /// Handles to every part the control API acts on (kept even without `--control`, for
    /// [`RunningLab::control_router`] in tests).
    plane: ControlPlane,
    control: Option<Control>,
}

/// The served control API.
struct Control {
    host: TlsHost,
    secret: ControlSecret,
    token_file: Option<std::path::PathBuf>,
}

/// The listeners of the lab, bound before anything is built on them.
struct Listeners {
    auth: TcpListener,
    rs: TcpListener,
    twin: TcpListener,
    upstream: TcpListener,
    cimd: TcpListener,
    canary: TcpListener,
    control: Option<TcpListener>,
}

impl Listeners {
    /// Binds every port of the lab, so a taken one fails before any certificate is written and
    /// before any server starts, and so every URL can name its real port when it is 0.
    fn bind(config: &LabConfig) -> Result<Self, HarnessError> {
        Ok(Self {
            auth: bind_loopback(config.as_port(), AS_ROLE)?,
            rs: bind_loopback(config.rs_port(), RS_ROLE)?,
            twin: bind_loopback(config.twin_port(), TWIN_ROLE)?,
            upstream: bind_loopback(config.upstream_port(), UPSTREAM_ROLE)?,
            cimd: bind_loopback(config.cimd_port(), CIMD_ROLE)?,
            canary: bind_loopback_on(CANARY_IP, config.canary_port(), CANARY_ROLE)?,
            control: config.control.then(|| bind_loopback(config.control_port(), CONTROL_ROLE)).transpose()?,
        })
    }
}

/// Starts the lab described by `config` on loopback and returns once it accepts connections.
///
/// Every port is bound first (authorization server, resource server, twin, upstream API), so the
/// issuer (`https://127.0.0.1:{port}`) and the resource URLs (`https://127.0.0.1:{port}/mcp`)
/// name the real ports even when the operating system picks them, and a taken port fails before
/// any certificate is written. Two issuers share the AS port: the root issuer and the path issuer
/// `{issuer}/tenant1`, whose routes never collide with the root's. The root issuer mints tokens
/// for the resource server, the twin and the upstream API; both resource servers trust it, and
/// every outbound request of the lab (client ID metadata documents, JWKS, introspection, the
/// upstream API) trusts only the lab CA. Everything reads the one lab clock.
///
/// Must be called inside a tokio runtime: the servers run as tasks of it.
pub async fn start(config: LabConfig) -> Result<RunningLab, HarnessError> {
    if let Some(name) = &config.auto_approve {
        // The AS would answer every authorization with `access_denied`; say so now instead.
        if !lab::USERS.iter().any(|(username, _, _)| username == name) {
            let known = lab::USERS.iter().map(|(username, _, _)| *username).collect::<Vec<_>>().join(", ");
            return Err(HarnessError::UnknownUser { name: name.clone(), known });
        }
    }
    let listeners = Listeners::bind(&config)?;
    let as_addr = local_addr(&listeners.auth, AS_ROLE)?;
    let rs_addr = local_addr(&listeners.rs, RS_ROLE)?;
    let twin_addr = local_addr(&listeners.twin, TWIN_ROLE)?;
    let upstream_addr = local_addr(&listeners.upstream, UPSTREAM_ROLE)?;
    let cimd_addr = local_addr(&listeners.cimd, CIMD_ROLE)?;
    let canary_url = format!("http://{}", local_addr(&listeners.canary, CANARY_ROLE)?);

    let cert_dir = config.cert_dir.as_ref().map(CertDir::new);
    let pki = match &cert_dir {
        Some(dir) if config.cert_dir_read_only => dir.load_without_writing().map_err(HarnessError::Pki)?,
        Some(dir) => dir.load_or_create().map_err(HarnessError::Pki)?,
        None => {
            let ca = LabCa::generate().map_err(HarnessError::Pki)?;
            let leaf = ca.issue_lab_leaf().map_err(HarnessError::Pki)?;
            lab_pki::LabPki { ca, leaf, created_ca: true }
        }
    };
    let tls = pki.leaf.server_config(&pki.ca).map_err(HarnessError::Pki)?;
    let ca_pem = pki.ca.cert_pem().as_bytes();

    let issuer = format!("https://{as_addr}");
    let path_issuer = format!("{issuer}{TENANT_PATH}");
    // RFC 9728 §3.3 and MCP-1125: the resource is the exact URL clients use, port included.
    let resource = format!("https://{rs_addr}{MCP_PATH}");
    let twin_resource = format!("https://{twin_addr}{MCP_PATH}");
    let upstream_url = format!("https://{upstream_addr}");
    let mut resources =
        config.resources.clone().unwrap_or_else(|| vec![resource.clone(), twin_resource.clone(), upstream_url.clone()]);
    resources.extend(config.extra_resources.iter().cloned());

    let signing_key = match (&cert_dir, config.signing_alg) {
        (Some(dir), lab_auth_server::SigningAlg::Es256) => Some(stored_signing_key(dir)?),
        _ => None,
    };
    let fetcher = Arc::new(HttpDocumentFetcher::new(Some(ca_pem)).map_err(HarnessError::DocumentFetcher)?);
    // CIMD §SSRF: the AS fetches metadata documents from the lab's own document host only.
    let cimd_allowed = config.cimd_allowed_hosts.clone().unwrap_or_else(|| vec![cimd_addr.to_string()]);
    let auth_server =
        build_auth_server(&config, &issuer, resources.clone(), fetcher.clone(), &cimd_allowed, signing_key.clone())?;
    let tenant_server = build_auth_server(&config, &path_issuer, resources, fetcher, &cimd_allowed, signing_key)?;
    let rs_issuer = if config.rs_uses_path_issuer { path_issuer.clone() } else { issuer.clone() };

    // One client for every call the lab makes to itself: lab CA only, no redirects, no proxy.
    let client = http_client(ca_pem)?;
    let rs =
        build_resource_server(&config, &client, &rs_issuer, resource, &upstream_url, &canary_url, RsCredentials::RS);
    let twin_rs = build_resource_server(
        &config,
        &client,
        &rs_issuer,
        twin_resource,
        &upstream_url,
        &canary_url,
        RsCredentials::TWIN,
    );

    let upstream_verifier = Arc::new(JwtVerifier::new(
        rs_issuer.clone(),
        upstream_url.clone(),
        UPSTREAM_LEEWAY,
        config.clock.clone(),
        Arc::new(HttpKeySource::new(client, format!("{rs_issuer}/jwks"))),
    ));
    let upstream_log = UpstreamLog::default();
    // The revocation back channel: a JWT carries no revocation status, so both issuers tell every
    // verifier the lab runs which access tokens they revoked (RFC 7009 revocation, and grants
    // revoked for a replayed code or a reused refresh token).
    for server in [&auth_server, &tenant_server] {
        let (rs, twin_rs, upstream) = (rs.clone(), twin_rs.clone(), upstream_verifier.clone());
        server.on_access_token_revoked(move |revoked| {
            for token in revoked {
                rs.revoke_access_token(&token.jti, &token.client_id, &token.sub, token.exp);
                twin_rs.revoke_access_token(&token.jti, &token.client_id, &token.sub, token.exp);
                upstream.revoke(&token.jti, &token.client_id, &token.sub, token.exp);
            }
        });
    }

    let router = Router::new()
        .merge(lab_auth_server::router(auth_server.clone()))
        .merge(lab_auth_server::router(tenant_server.clone()));
    let requests = RequestLog::default();
    let logged = |router: Router, role: &'static str| {
        router.layer(axum::middleware::from_fn_with_state(
            Recorder { role, log: requests.clone() },
            crate::requests::record,
        ))
    };
    let as_host = TlsHost::serve(listeners.auth, logged(router, AS_ROLE), tls.clone(), AS_ROLE)?;
    tracing::info!(%issuer, %path_issuer, "authorization server listening");
    let rs_host =
        TlsHost::serve(listeners.rs, logged(lab_mcp_server::router(rs.clone()), RS_ROLE), tls.clone(), RS_ROLE)?;
    let twin_host = TlsHost::serve(
        listeners.twin,
        logged(lab_mcp_server::router(twin_rs.clone()), TWIN_ROLE),
        tls.clone(),
        TWIN_ROLE,
    )?;
    tracing::info!(
        resource = %rs.config().resource,
        twin = %twin_rs.config().resource,
        verify = %config.verify,
        profile = %config.rs_profile,
        "resource servers listening"
    );
    let upstream_router = upstream::router(upstream_verifier.clone(), upstream_log.clone());
    let upstream_host = TlsHost::serve(listeners.upstream, upstream_router, tls.clone(), UPSTREAM_ROLE)?;
    tracing::info!(%upstream_url, "upstream API listening");
    let added_documents = crate::canary::AddedDocuments::default();
    let cimd_router =
        crate::canary::document_router(&format!("https://{cimd_addr}"), &canary_url, added_documents.clone());
    let cimd_host = TlsHost::serve(listeners.cimd, logged(cimd_router, CIMD_ROLE), tls.clone(), CIMD_ROLE)?;
    let canary = Canary::serve(listeners.canary)?;
    let plane = ControlPlane {
        auth_server: auth_server.clone(),
        tenant_server: tenant_server.clone(),
        rs: rs.clone(),
        twin_rs: twin_rs.clone(),
        clock: config.clock.clone(),
        requests: requests.clone(),
        upstream_url: upstream_url.clone(),
        canary_url: canary_url.clone(),
        documents_origin: format!("https://{cimd_addr}"),
        added_documents,
    };
    let control = match listeners.control {
        Some(listener) => Some(serve_control(listener, &plane, cert_dir.as_ref(), &tls)?),
        None => None,
    };

    // The AS is up, so the keys can be loaded now rather than by the first request. A failure is
    // logged by the verifier and is no reason to stop: it refetches when it meets an unknown key.
    tokio::join!(rs.prefetch_keys(), twin_rs.prefetch_keys(), upstream_verifier.prefetch());

    Ok(RunningLab {
        issuer,
        path_issuer,
        auth_server,
        tenant_server,
        rs,
        twin_rs,
        upstream_url,
        upstream_log,
        verify: config.verify,
        ca: pki.ca,
        tls,
        cert_dir,
        created_ca: pki.created_ca,
        as_host,
        rs_host,
        twin_host,
        upstream_host,
        cimd_host,
        canary,
        requests,
        leaf_spki_sha256: pki.leaf.spki_sha256_base64(),
        plane,
        control,
    })
}

/// Serves the control API on `listener` behind a fresh secret, written to the certificate
/// folder (owner-only) when the lab has one.
fn serve_control(
    listener: TcpListener,
    plane: &ControlPlane,
    cert_dir: Option<&CertDir>,
    tls: &Arc<ServerConfig>,
) -> Result<Control, HarnessError> {
    let token_file = cert_dir.map(|dir| dir.path().join(CONTROL_TOKEN_FILE));
    let failed = |reason: String| HarnessError::ControlSecret {
        path: token_file.clone().unwrap_or_else(|| CONTROL_TOKEN_FILE.into()),
        reason,
    };
    let secret = ControlSecret::generate().map_err(|_| failed("the system's random source failed".to_owned()))?;
    if let Some(path) = &token_file {
        crate::control::write_secret(path, &secret).map_err(|error| failed(error.to_string()))?;
    }
    let router = crate::control::router(plane.clone(), secret.clone());
    let host = TlsHost::serve(listener, router, tls.clone(), CONTROL_ROLE)?;
    tracing::info!(url = %host.url(""), "control API listening");
    Ok(Control { host, secret, token_file })
}

/// The client credentials a resource server authenticates to the AS with: for introspection and
/// for its own upstream tokens. The AS pairs `lab-rs` with the first resource and `lab-rs-twin`
/// with the second.
#[derive(Clone, Copy)]
struct RsCredentials {
    client_id: &'static str,
    client_secret: &'static str,
}

impl RsCredentials {
    const RS: Self = Self { client_id: lab::RS_CLIENT_ID, client_secret: lab::RS_CLIENT_SECRET };
    const TWIN: Self = Self { client_id: lab::TWIN_RS_CLIENT_ID, client_secret: lab::TWIN_RS_CLIENT_SECRET };
}

fn build_resource_server(
    config: &LabConfig,
    client: &reqwest::Client,
    issuer: &str,
    resource: String,
    upstream_url: &str,
    canary_url: &str,
    credentials: RsCredentials,
) -> McpServer {
    let verify = match config.verify {
        VerifyMode::Jwt => VerifyConfig::Jwt(Arc::new(HttpKeySource::new(client.clone(), format!("{issuer}/jwks")))),
        VerifyMode::Introspection => VerifyConfig::Introspection(Arc::new(HttpIntrospection::new(
            client.clone(),
            format!("{issuer}/introspect"),
            credentials.client_id.to_owned(),
            ClientSecret::new(credentials.client_secret),
        ))),
    };
    let mut rs_config = McpServerConfig::new(resource, issuer, verify);
    rs_config.profile = config.rs_profile;
    rs_config.anonymous_public = config.anonymous_public;
    rs_config.revisions = config.revisions;
    rs_config.conformance_fixtures = config.conformance_fixtures;
    // Only the `as-migration` persona uses it: the path issuer, with its own keys.
    if !issuer.ends_with(TENANT_PATH) {
        let moved = format!("{issuer}{TENANT_PATH}");
        rs_config.migration = Some(Migration {
            keys: Arc::new(HttpKeySource::new(client.clone(), format!("{moved}/jwks"))),
            issuer: moved,
        });
    }
    rs_config.clock = config.clock.clone();
    // Only the `ssrf-resource-metadata` persona uses it: to point clients at the canary.
    rs_config.canary_url = Some(canary_url.to_owned());
    // RS-12: the carrier is called with the RS's own client-credentials token for the upstream
    // audience, never with the caller's.
    rs_config.upstream = Some(HttpUpstream::new(
        client.clone(),
        upstream_url.to_owned(),
        format!("{issuer}/token"),
        credentials.client_id.to_owned(),
        ClientSecret::new(credentials.client_secret),
        config.clock.clone(),
    ));
    McpServer::new(rs_config)
}

/// The file of the AS's stored ES256 key in the certificate folder.
pub const SIGNING_KEY_FILE: &str = "as-es256-key.pem";

/// Loads the AS's ES256 key from the certificate folder, or creates it there: a lab whose CA lives
/// on disk keeps its signing key too, so servers that cached the JWKS keep verifying after a
/// restart (and `mcp-authlab run --rs-url` can start one lab per scenario).
fn stored_signing_key(dir: &CertDir) -> Result<Vec<u8>, HarnessError> {
    use base64::Engine as _;
    let path = dir.path().join(SIGNING_KEY_FILE);
    let io = |source: std::io::Error| HarnessError::SigningKey { path: path.clone(), reason: source.to_string() };
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let body: String = text.lines().filter(|line| !line.starts_with("-----")).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|error| HarnessError::SigningKey { path: path.clone(), reason: error.to_string() });
    }
    let pkcs8 = lab_auth_server::keys::SigningKey::generate_es256_pkcs8()
        .map_err(|error| HarnessError::SigningKey { path: path.clone(), reason: error.to_string() })?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pkcs8);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    std::fs::create_dir_all(dir.path()).map_err(io)?;
    std::fs::write(&path, pem).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(pkcs8)
}

fn build_auth_server(
    config: &LabConfig,
    issuer: &str,
    resources: Vec<String>,
    fetcher: Arc<HttpDocumentFetcher>,
    cimd_allowed_hosts: &[String],
    signing_key_pkcs8: Option<Vec<u8>>,
) -> Result<AuthServer, HarnessError> {
    let mut as_config = AuthServerConfig::lab(issuer, resources);
    as_config.profile = config.profile;
    as_config.signing_alg = config.signing_alg;
    as_config.auto_approve = config.auto_approve.clone();
    as_config.cimd_allowed_hosts = cimd_allowed_hosts.to_vec();
    as_config.signing_key_pkcs8 = signing_key_pkcs8;
    as_config.clock = config.clock.clone();
    AuthServer::with_fetcher(as_config, fetcher)
        .map_err(|source| HarnessError::AuthServer { issuer: issuer.to_owned(), source })
}

fn local_addr(listener: &TcpListener, role: &'static str) -> Result<SocketAddr, HarnessError> {
    listener.local_addr().map_err(|source| HarnessError::Serve {
        addr: SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        role,
        source,
    })
}

impl std::fmt::Debug for RunningLab {
    /// Written by hand so that no key material (the CA key, the leaf key in the TLS config) can
    /// ever reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningLab")
            .field("issuer", &self.issuer)
            .field("path_issuer", &self.path_issuer)
            .field("as_addr", &self.as_host.addr())
            .field("resource", &self.resource())
            .field("twin_resource", &self.twin_resource())
            .field("upstream_url", &self.upstream_url)
            .field("verify", &self.verify)
            .field("cert_dir", &self.cert_dir)
            .field("created_ca", &self.created_ca)
            .finish_non_exhaustive()
    }
}

impl RunningLab {
    /// The root issuer, `https://127.0.0.1:{port}`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The path issuer, `https://127.0.0.1:{port}/tenant1`, served on the same port.
    pub fn path_issuer(&self) -> &str {
        &self.path_issuer
    }

    /// The root authorization server, to switch its profile or auto-approve user mid-scenario.
    pub fn auth_server(&self) -> &AuthServer {
        &self.auth_server
    }

    /// The path-issuer authorization server.
    pub fn tenant_server(&self) -> &AuthServer {
        &self.tenant_server
    }

    /// The resource server's MCP endpoint, `https://127.0.0.1:{port}/mcp`: its `resource` and the
    /// `aud` of its tokens.
    pub fn resource(&self) -> &str {
        &self.rs.config().resource
    }

    /// The twin resource server's MCP endpoint: same AS, another audience.
    pub fn twin_resource(&self) -> &str {
        &self.twin_rs.config().resource
    }

    /// The resource server's protected resource metadata URL (RFC 9728 §3.1).
    pub fn resource_metadata_url(&self) -> String {
        self.rs.resource_metadata_url()
    }

    /// The upstream API's origin, `https://127.0.0.1:{port}`: also the audience of the tokens
    /// the resource servers obtain for it.
    pub fn upstream_url(&self) -> &str {
        &self.upstream_url
    }

    /// The resource server, to switch its profile mid-scenario.
    pub fn rs(&self) -> &McpServer {
        &self.rs
    }

    /// The twin resource server.
    pub fn twin_rs(&self) -> &McpServer {
        &self.twin_rs
    }

    /// How the resource servers check tokens.
    pub fn verify_mode(&self) -> VerifyMode {
        self.verify
    }

    /// What the upstream API accepted: claims and token digests, never a token (RS-12 evidence).
    pub fn upstream_log(&self) -> &UpstreamLog {
        &self.upstream_log
    }

    /// The lab clock, shared by both issuers, both resource servers and the upstream API: move it
    /// to test expiry without sleeping.
    pub fn clock(&self) -> &lab_proto::Clock {
        self.auth_server.clock()
    }

    /// The lab CA certificate as PEM: what clients of the lab trust.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// The lab CA, for issuing extra leaves (a host under another name, say).
    pub fn ca(&self) -> &LabCa {
        &self.ca
    }

    /// The certificate directory, when the CA lives on disk.
    pub fn cert_dir(&self) -> Option<&CertDir> {
        self.cert_dir.as_ref()
    }

    /// Whether the CA was generated by this start (always for an in-memory CA), so clients have
    /// to be told to trust a new `ca.pem`.
    pub fn created_ca(&self) -> bool {
        self.created_ca
    }

    /// The authorization server's address.
    pub fn as_addr(&self) -> SocketAddr {
        self.as_host.addr()
    }

    /// The resource server's address.
    pub fn rs_addr(&self) -> SocketAddr {
        self.rs_host.addr()
    }

    /// The twin resource server's address.
    pub fn twin_addr(&self) -> SocketAddr {
        self.twin_host.addr()
    }

    /// The upstream API's address.
    pub fn upstream_addr(&self) -> SocketAddr {
        self.upstream_host.addr()
    }

    /// The URL of the lab client's metadata document (`https://127.0.0.1:{port}/client.json`):
    /// a `client_id` the AS fetches and validates (CIMD).
    pub fn client_metadata_document(&self) -> String {
        format!("https://{}{}", self.cimd_host.addr(), crate::CIMD_PATH)
    }

    /// The metadata-document host's address.
    pub fn cimd_addr(&self) -> SocketAddr {
        self.cimd_host.addr()
    }

    /// Every request the AS, the resource servers and the metadata-document host answered.
    pub fn requests(&self) -> &RequestLog {
        &self.requests
    }

    /// The SSRF canary: nothing may ever reach it.
    pub fn canary(&self) -> &Canary {
        &self.canary
    }

    /// The pin of the lab leaf's key (`base64(SHA-256(SPKI))`), for browsers that must trust the
    /// lab without trusting everything.
    pub fn leaf_spki_sha256(&self) -> String {
        self.leaf_spki_sha256.clone()
    }

    /// The control API's base URL, when the lab serves it (`LabConfig::control`).
    pub fn control_url(&self) -> Option<String> {
        self.control.as_ref().map(|control| control.host.url(""))
    }

    /// The secret that opens the control API, when the lab serves it.
    pub fn control_secret(&self) -> Option<&ControlSecret> {
        self.control.as_ref().map(|control| &control.secret)
    }

    /// The file that holds the control secret, when the lab serves the API and has a
    /// certificate folder.
    pub fn control_token_file(&self) -> Option<&std::path::Path> {
        self.control.as_ref().and_then(|control| control.token_file.as_deref())
    }

    /// The control API's router over this lab behind `secret`, for `oneshot` tests; it acts on
    /// the same servers, clock and log as the served one.
    pub fn control_router(&self, secret: ControlSecret) -> Router {
        crate::control::router(self.plane.clone(), secret)
    }

    /// A client that trusts only the lab CA (see [`http_client`]).
    pub fn http_client(&self) -> Result<reqwest::Client, HarnessError> {
        http_client(self.ca_pem().as_bytes())
    }

    /// Serves `router` over TLS on `127.0.0.1:0` with the lab leaf, for documents the lab must
    /// fetch from elsewhere (client ID metadata documents, hostile metadata, upstream APIs).
    pub fn start_helper_host(&self, router: Router) -> Result<TlsHost, HarnessError> {
        self.serve_helper_host(bind_loopback(0, HELPER_ROLE)?, router)
    }

    /// Serves `router` over TLS with the lab leaf on a listener bound earlier (see
    /// [`bind_loopback`]).
    ///
    /// Binding first is how a helper's address gets into the lab's configuration before the lab
    /// starts, as `cimd_allowed_hosts` must be.
    pub fn serve_helper_host(&self, listener: TcpListener, router: Router) -> Result<TlsHost, HarnessError> {
        TlsHost::serve(listener, router, self.tls.clone(), HELPER_ROLE)
    }

    /// Stops the lab gracefully: no new connections, open ones get [`crate::SHUTDOWN_GRACE`].
    /// Helper hosts are stopped by their own [`TlsHost::shutdown`] (or when dropped).
    pub async fn shutdown(self) {
        // In parallel, so open connections get one grace period in all rather than one per host.
        let control = async {
            if let Some(control) = self.control {
                control.host.shutdown().await;
                // The secret opens nothing any more; a later start writes its own.
                if let Some(path) = control.token_file {
                    let _ = std::fs::remove_file(path);
                }
            }
        };
        tokio::join!(
            self.as_host.shutdown(),
            self.rs_host.shutdown(),
            self.twin_host.shutdown(),
            self.upstream_host.shutdown(),
            self.cimd_host.shutdown(),
            control
        );
        tracing::info!(issuer = %self.issuer, resource = %self.rs.config().resource, "lab stopped");
    }
}
