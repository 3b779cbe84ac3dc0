//! Starting the lab: certificates, the authorization servers, and the TLS host that serves them.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use lab_auth_server::{AuthServer, AuthServerConfig, HttpDocumentFetcher, config::lab};
use lab_pki::{CertDir, LabCa, ServerConfig};

use crate::{HarnessError, LabConfig, TENANT_PATH, TlsHost, bind_loopback, http_client};

/// The role named in errors and logs for the authorization server's port.
const AS_ROLE: &str = "authorization server";

/// The role named in errors and logs for helper hosts.
const HELPER_ROLE: &str = "helper host";

/// A running lab. Dropping it stops every server at once; [`RunningLab::shutdown`] stops them
/// gracefully.
pub struct RunningLab {
    issuer: String,
    path_issuer: String,
    auth_server: AuthServer,
    tenant_server: AuthServer,
    ca: LabCa,
    tls: Arc<ServerConfig>,
    cert_dir: Option<CertDir>,
    created_ca: bool,
    as_host: TlsHost,
}

/// Starts the lab described by `config` on loopback and returns once it accepts connections.
///
/// The authorization server's port is bound first, so the issuer (`https://127.0.0.1:{port}`)
/// names the real port even when the operating system picks it, and a taken port fails before
/// any certificate is written. Two issuers share that port: the root issuer and the path issuer
/// `{issuer}/tenant1`, whose routes never collide with the root's. Both fetch client ID metadata
/// documents trusting only the lab CA, and both read the one lab clock.
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
    let listener = bind_loopback(config.as_port(), AS_ROLE)?;
    let as_addr = local_addr(&listener, AS_ROLE)?;

    let cert_dir = config.cert_dir.as_ref().map(CertDir::new);
    let pki = match &cert_dir {
        Some(dir) => dir.load_or_create().map_err(HarnessError::Pki)?,
        None => {
            let ca = LabCa::generate().map_err(HarnessError::Pki)?;
            let leaf = ca.issue_lab_leaf().map_err(HarnessError::Pki)?;
            lab_pki::LabPki { ca, leaf, created_ca: true }
        }
    };
    let tls = pki.leaf.server_config(&pki.ca).map_err(HarnessError::Pki)?;

    let issuer = format!("https://{as_addr}");
    let path_issuer = format!("{issuer}{TENANT_PATH}");
    let fetcher =
        Arc::new(HttpDocumentFetcher::new(Some(pki.ca.cert_pem().as_bytes())).map_err(HarnessError::DocumentFetcher)?);
    let auth_server = build_auth_server(&config, &issuer, fetcher.clone())?;
    let tenant_server = build_auth_server(&config, &path_issuer, fetcher)?;

    let router = Router::new()
        .merge(lab_auth_server::router(auth_server.clone()))
        .merge(lab_auth_server::router(tenant_server.clone()));
    let as_host = TlsHost::serve(listener, router, tls.clone(), AS_ROLE)?;
    tracing::info!(%issuer, %path_issuer, "authorization server listening");

    Ok(RunningLab {
        issuer,
        path_issuer,
        auth_server,
        tenant_server,
        ca: pki.ca,
        tls,
        cert_dir,
        created_ca: pki.created_ca,
        as_host,
    })
}

fn build_auth_server(
    config: &LabConfig,
    issuer: &str,
    fetcher: Arc<HttpDocumentFetcher>,
) -> Result<AuthServer, HarnessError> {
    let resources = config.resources.clone().unwrap_or_else(|| {
        vec![lab::RESOURCE.to_owned(), lab::TWIN_RESOURCE.to_owned(), lab::UPSTREAM_RESOURCE.to_owned()]
    });
    let mut as_config = AuthServerConfig::lab(issuer, resources);
    as_config.profile = config.profile;
    as_config.signing_alg = config.signing_alg;
    as_config.auto_approve = config.auto_approve.clone();
    if let Some(hosts) = &config.cimd_allowed_hosts {
        as_config.cimd_allowed_hosts = hosts.clone();
    }
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

    /// The lab clock, shared by both issuers: move it to test expiry without sleeping.
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
        self.as_host.shutdown().await;
        tracing::info!(issuer = %self.issuer, "authorization server stopped");
    }
}
