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
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse as _;
use axum::routing::get;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::HarnessError;
use crate::role::CANARY_ROLE;

/// The canary's address: loopback, but not the `127.0.0.1` every lab server listens on.
pub(crate) const CANARY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

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
            addr: SocketAddr::from((CANARY_IP, 0)),
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

/// Where the CIMD host serves its hostile documents; each is what a hostile or broken client
/// might publish, and a conforming AS refuses it (requirements §6.6, AS-37).
pub const HOSTILE_CIMD_PATHS: [&str; 6] = [
    "/hostile/client-id-mismatch.json",
    "/hostile/symmetric-auth.json",
    "/hostile/oversize.json",
    "/hostile/oversize-chunked.json",
    "/hostile/redirect.json",
    "/hostile/slow.json",
];

/// How long the slow document trickles, a byte a second, before it sends a valid document: past
/// any sane fetch timeout (the lab AS's is 5 s), yet within the runner's 15 s, so an AS that
/// waits it out answers with a code, and the scenario sees it.
const SLOW_SECONDS: u64 = 10;

/// The size of the oversize documents: ten times CIMD's recommended 5 KB cap.
const OVERSIZE_BYTES: usize = 50 * 1024;

/// The lab client's metadata document (CIMD §Client Metadata, MCP-1125 §CIMD): `client_id` equal
/// to its URL, a name, loopback redirect URIs (any port), a public client. Beside it, on the same
/// host, the hostile documents of [`HOSTILE_CIMD_PATHS`]; one of them redirects to `canary_url`,
/// which nothing may ever reach.
/// Where the documents a test adds through the control API are served: `{origin}/documents/{name}`.
pub(crate) const ADDED_DOCUMENTS_PATH: &str = "/documents";

/// How many documents the control API may add; past it the oldest name goes.
pub(crate) const MAX_ADDED_DOCUMENTS: usize = 100;

/// The metadata documents a test added through the control API, by name, served beside the
/// lab's own on the metadata-document host (the only host the AS fetches documents from).
#[derive(Debug, Clone, Default)]
pub(crate) struct AddedDocuments(Arc<std::sync::Mutex<std::collections::VecDeque<(String, serde_json::Value)>>>);

impl AddedDocuments {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<(String, serde_json::Value)>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds (or replaces) the document `name`; past [`MAX_ADDED_DOCUMENTS`] the oldest goes.
    pub(crate) fn insert(&self, name: String, document: serde_json::Value) {
        let mut documents = self.lock();
        documents.retain(|(existing, _)| *existing != name);
        if documents.len() >= MAX_ADDED_DOCUMENTS {
            documents.pop_front();
        }
        documents.push_back((name, document));
    }

    fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.lock().iter().find(|(existing, _)| existing == name).map(|(_, document)| document.clone())
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

pub(crate) fn document_router(origin: &str, canary_url: &str, added: AddedDocuments) -> Router {
    let honest_id = format!("{origin}{}", crate::CIMD_PATH);
    let document = |client_id: &str| {
        json!({
            "client_id": client_id,
            "client_name": "MCP Auth Lab client (metadata document)",
            "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native"
        })
    };
    let honest = document(&honest_id);
    // CIMD §Client Metadata: the document's client_id must equal the URL it was fetched from;
    // this one claims to be the lab's honest client.
    let mismatch = document(&honest_id);
    // CIMD §Client Metadata: symmetric client authentication MUST NOT be used.
    let mut symmetric = document(&format!("{origin}{}", HOSTILE_CIMD_PATHS[1]));
    symmetric["token_endpoint_auth_method"] = json!("client_secret_basic");
    // CIMD §Maximum Response Size: valid in every member, but 50 KB long (an unknown member pads
    // it, which RFC 7591 §2 says an AS ignores, so the size is its only fault).
    let oversize = |path: &str| {
        let mut document = document(&format!("{origin}{path}"));
        document["lab_padding"] = json!("x".repeat(OVERSIZE_BYTES));
        serde_json::to_vec(&document).unwrap_or_default()
    };
    let sized = oversize(HOSTILE_CIMD_PATHS[2]);
    let chunked = oversize(HOSTILE_CIMD_PATHS[3]);
    // CIMD §SSRF: an AS that follows redirects can be steered anywhere; this one points at the
    // canary, so following it is counted.
    let elsewhere = format!("{canary_url}/c.json");
    // Valid in every member, once it finally arrives.
    let slow =
        Bytes::from(serde_json::to_vec(&document(&format!("{origin}{}", HOSTILE_CIMD_PATHS[5]))).unwrap_or_default());
    Router::new()
        .route(crate::CIMD_PATH, get(move || async move { axum::Json(honest) }))
        .route(HOSTILE_CIMD_PATHS[0], get(move || async move { axum::Json(mismatch) }))
        .route(HOSTILE_CIMD_PATHS[1], get(move || async move { axum::Json(symmetric) }))
        .route(HOSTILE_CIMD_PATHS[2], get(move || async move { ([(header::CONTENT_TYPE, "application/json")], sized) }))
        .route(
            HOSTILE_CIMD_PATHS[3],
            get(move || async move {
                // No Content-Length: an AS that only checks the header reads it all.
                ([(header::CONTENT_TYPE, "application/json")], Body::new(Chunked::new(chunked)))
            }),
        )
        .route(HOSTILE_CIMD_PATHS[4], get(move || async move { (StatusCode::FOUND, [(header::LOCATION, elsewhere)]) }))
        .route(
            HOSTILE_CIMD_PATHS[5],
            // A slowloris document: an AS without a fetch timeout waits as long as it trickles.
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], Body::new(Trickle::new(slow))) }),
        )
        .route(
            &format!("{ADDED_DOCUMENTS_PATH}/{{name}}"),
            get(move |axum::extract::Path(name): axum::extract::Path<String>| async move {
                match added.get(&name) {
                    Some(document) => axum::Json(document).into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
}

/// A body of one byte a second (spaces, which JSON allows before a value) for [`SLOW_SECONDS`],
/// then `document`.
struct Trickle {
    sent: u64,
    document: Option<Bytes>,
    next: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Trickle {
    fn new(document: Bytes) -> Self {
        Self {
            sent: 0,
            document: Some(document),
            next: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(1))),
        }
    }
}

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.sent >= SLOW_SECONDS {
            return std::task::Poll::Ready(self.document.take().map(|document| Ok(http_body::Frame::data(document))));
        }
        std::task::ready!(self.next.as_mut().poll(context));
        self.sent += 1;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        self.next.as_mut().reset(deadline);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b" ")))))
    }
}

/// A body sent in 1 KB chunks with no length announced, so hyper frames it with chunked
/// transfer coding and the reader learns the size only by reading.
struct Chunked {
    rest: Bytes,
}

impl Chunked {
    fn new(bytes: Vec<u8>) -> Self {
        Self { rest: Bytes::from(bytes) }
    }
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let take = self.rest.len().min(1024);
        let chunk = self.rest.split_to(take);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}
