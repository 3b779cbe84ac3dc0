//! Loopback listeners and the TLS hosts that serve routers on them.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::Handle;
use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsConfig;
use lab_pki::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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

/// The bounds every TLS listener of the lab keeps, so that a slow, idle or greedy client holds
/// nothing for long and cannot starve the others (issue 14, item 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The TLS handshake.
    pub handshake: Duration,
    /// From the handshake to the first request's complete headers.
    pub first_request: Duration,
    /// A later request's headers on a kept-alive connection.
    pub header_read: Duration,
    /// A request, its body included, until its answer starts (a stream may then go on).
    pub request: Duration,
    /// Connections open at once; one more is closed before its handshake.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            first_request: Duration::from_secs(10),
            header_read: Duration::from_secs(30),
            request: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// An acceptor that lets at most as many connections in as it has permits, each holding its
/// permit until it closes.
#[derive(Clone)]
struct Limited<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A, I, S> Accept<I, S> for Limited<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Permitted<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let accepting = self.inner.accept(stream, service);
        Box::pin(async move {
            // Over the cap the connection is dropped before its handshake costs anything.
            let permit = permit.map_err(|_| io::Error::other("too many connections"))?;
            let (stream, service) = accepting.await?;
            Ok((Permitted { stream, _permit: permit }, service))
        })
    }
}

/// A connection's stream with the permit it holds while open.
struct Permitted<T> {
    stream: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Permitted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Permitted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Answers 408 to a request whose handling (its body read included) outlasts the limit.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "the request took too long\n").into_response(),
    }
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
        Self::serve_with(listener, router, tls, role, ConnectionLimits::default())
    }

    /// [`TlsHost::serve`] with other connection limits (tests use short ones).
    pub fn serve_with(
        listener: TcpListener,
        router: Router,
        tls: Arc<ServerConfig>,
        role: &'static str,
        limits: ConnectionLimits,
    ) -> Result<TlsHost, HarnessError> {
        let addr = listener.local_addr().map_err(|source| HarnessError::Serve {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            role,
            source,
        })?;
        let handle = Handle::new();
        let router = router.layer(axum::middleware::from_fn_with_state(limits.request, request_deadline));
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let mut server = axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls))
            .map_err(|source| HarnessError::Serve { addr, role, source })?
            .map(|acceptor| Limited { inner: acceptor.handshake_timeout(limits.handshake), permits })
            .first_request_timeout(limits.first_request)
            .handle(handle.clone());
        server.http_builder().http1().header_read_timeout(limits.header_read);
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
