//! Loopback listeners and the TLS hosts that serve routers on them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use lab_pki::ServerConfig;
use tokio::task::JoinHandle;

use crate::HarnessError;

/// How long a graceful shutdown lets open connections finish before they are closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Binds `127.0.0.1:port` (0 lets the operating system pick) for `role`.
///
/// The listener is bound before anything is built on it, so an issuer can name the real port
/// even for port 0, and so a taken port is reported before certificates are written.
pub fn bind_loopback(port: u16, role: &'static str) -> Result<TcpListener, HarnessError> {
    bind_loopback_on(Ipv4Addr::LOCALHOST, port, role)
}

/// [`bind_loopback`] on another loopback address of `127/8` (the SSRF canary's `127.0.0.2`).
pub(crate) fn bind_loopback_on(ip: Ipv4Addr, port: u16, role: &'static str) -> Result<TcpListener, HarnessError> {
    // Nothing of the lab listens beyond loopback; a caller that asks for more is a bug.
    debug_assert!(ip.is_loopback(), "{ip} is not a loopback address");
    let addr = SocketAddr::from((ip, port));
    let listener = TcpListener::bind(addr).map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => HarnessError::PortInUse { port, role },
        _ => HarnessError::Bind { addr, role, source },
    })?;
    // tokio requires a non-blocking socket when it adopts a std listener.
    listener.set_nonblocking(true).map_err(|source| HarnessError::Bind { addr, role, source })?;
    Ok(listener)
}

/// A router served over TLS on a loopback listener.
///
/// [`TlsHost::shutdown`] stops it gracefully; dropping it stops it at once, so a test that fails
/// half-way never leaves a server behind.
#[derive(Debug)]
pub struct TlsHost {
    addr: SocketAddr,
    role: &'static str,
    handle: Handle<SocketAddr>,
    task: Option<JoinHandle<()>>,
}

impl TlsHost {
    /// Serves `router` on `listener` with `tls`, in a task of the current tokio runtime.
    ///
    /// The peer address is available to handlers as `ConnectInfo<SocketAddr>`, which the
    /// authorization server uses for its rate limits.
    pub fn serve(
        listener: TcpListener,
        router: Router,
        tls: Arc<ServerConfig>,
        role: &'static str,
    ) -> Result<TlsHost, HarnessError> {
        let addr = listener.local_addr().map_err(|source| HarnessError::Serve {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            role,
            source,
        })?;
        let handle = Handle::new();
        let server = axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls))
            .map_err(|source| HarnessError::Serve { addr, role, source })?
            .handle(handle.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = server.serve(router.into_make_service_with_connect_info::<SocketAddr>()).await {
                tracing::error!(%addr, role, %error, "server stopped with an error");
            }
        });
        tracing::debug!(%addr, role, "serving over tls");
        Ok(TlsHost { addr, role, handle, task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:port`, the origin clients use.
    pub fn origin(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `path` (which starts with `/`) under [`TlsHost::origin`].
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// `host:port`, the form of `cimd_allowed_hosts` entries.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Stops accepting, lets open connections finish for up to [`SHUTDOWN_GRACE`], then closes
    /// whatever is left and waits for the server task.
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        let Some(mut task) = self.task.take() else { return };
        // The server closes lingering connections itself after the grace period; the extra second
        // only guards against a server task that never returns, which must not hang the caller.
        if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), &mut task).await.is_err() {
            tracing::warn!(addr = %self.addr, role = self.role, "server did not stop in time; aborting it");
            task.abort();
        }
        tracing::debug!(addr = %self.addr, role = self.role, "stopped");
    }
}

impl Drop for TlsHost {
    fn drop(&mut self) {
        // Without an await there is no grace: close everything now. After `shutdown` this is a
        // no-op, since the server has already stopped.
        self.handle.shutdown();
    }
}

/// A reqwest client for talking to the lab: it trusts the lab CA in `ca_pem` and nothing else,
/// follows no redirects, ignores proxy settings, speaks https only and never waits forever.
///
/// Not following redirects matters: an authorization response *is* a redirect, and the lab's
/// callers inspect it rather than chase it (and a client that chases redirects is an SSRF risk).
pub fn http_client(ca_pem: &[u8]) -> Result<reqwest::Client, HarnessError> {
    let certificate = reqwest::Certificate::from_pem(ca_pem).map_err(HarnessError::HttpClient)?;
    reqwest::Client::builder()
        .tls_certs_only([certificate])
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(HarnessError::HttpClient)
}
