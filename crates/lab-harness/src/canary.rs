//! The SSRF canary and the lab client's metadata document.
//!
//! The canary (requirements §0.4: `http://127.0.0.2:7777`) is a plain-HTTP listener that counts
//! every connection that sends a request: no lab component may ever reach it, so a scenario or a
//! test checks that its count stays at zero. It listens on `127.0.0.2` (all of 127/8 is loopback on
//! Linux), which nothing in the lab is allowed to contact.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::HarnessError;
use crate::lab::CANARY_ROLE;

/// Binds the canary's listener on `127.0.0.2`.
pub(crate) fn bind(port: u16) -> Result<TcpListener, HarnessError> {
    let addr = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), port));
    let listener = TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => HarnessError::PortInUse { port, role: CANARY_ROLE },
        _ => HarnessError::Bind { addr, role: CANARY_ROLE, source },
    })?;
    listener.set_nonblocking(true).map_err(|source| HarnessError::Bind { addr, role: CANARY_ROLE, source })?;
    Ok(listener)
}

/// The running canary. Dropping it stops it.
#[derive(Debug)]
pub struct Canary {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hit(State(hits): State<Arc<AtomicUsize>>) -> StatusCode {
    hits.fetch_add(1, Ordering::SeqCst);
    tracing::error!("the SSRF canary was reached");
    StatusCode::IM_A_TEAPOT
}

impl Canary {
    pub(crate) fn serve(listener: TcpListener) -> Result<Self, HarnessError> {
        let addr = listener.local_addr().map_err(|source| HarnessError::Bind {
            addr: SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)),
            role: CANARY_ROLE,
            source,
        })?;
        let hits = Arc::new(AtomicUsize::new(0));
        let router = Router::new().fallback(hit).with_state(hits.clone());
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|source| HarnessError::Bind {
            addr,
            role: CANARY_ROLE,
            source,
        })?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { addr, hits, task })
    }

    /// `http://127.0.0.2:{port}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The canary's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests reached it: anything but zero is an SSRF.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The lab client's metadata document (CIMD §Client Metadata, MCP-1125 §CIMD): `client_id` equal
/// to its URL, a name, loopback redirect URIs (any port), a public client.
pub(crate) fn document_router(client_id: &str) -> Router {
    let document = json!({
        "client_id": client_id,
        "client_name": "MCP Auth Lab client (metadata document)",
        "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native"
    });
    Router::new().route(crate::CIMD_PATH, get(move || async move { axum::Json(document) }))
}
