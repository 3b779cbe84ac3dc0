//! The loopback redirect listener (O21 §8.4.2, RFC 8252 §7.3): the browser brings the
//! authorization response here. It answers one `/callback` request and never redirects anywhere
//! (CL-17: no open redirector on the callback).

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::error::ClientError;

/// The largest request line and headers the listener reads.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// A bound loopback listener.
pub(crate) struct CallbackListener {
    listener: TcpListener,
    pub(crate) redirect_uri: String,
}

impl CallbackListener {
    /// Binds `127.0.0.1:port` (0 picks a port).
    pub(crate) async fn bind(port: u16) -> Result<Self, ClientError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|error| {
            ClientError::Config(format!("failed to bind the loopback callback listener on port {port}: {error}"))
        })?;
        let port = listener.local_addr().map_err(|error| ClientError::Config(error.to_string()))?.port();
        Ok(Self { listener, redirect_uri: format!("http://127.0.0.1:{port}/callback") })
    }

    /// Waits for the browser's `GET /callback?…` and returns its query.
    pub(crate) async fn wait(&self, timeout: Duration) -> Result<String, ClientError> {
        tokio::time::timeout(timeout, async {
            loop {
                let Ok((mut stream, _)) = self.listener.accept().await else { continue };
                let mut buffer = Vec::new();
                let mut chunk = [0_u8; 2048];
                // Read until the end of the headers, bounded in size and time.
                let read = tokio::time::timeout(Duration::from_secs(10), async {
                    while !buffer.windows(4).any(|window| window == b"\r\n\r\n") && buffer.len() < MAX_REQUEST_BYTES {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
                        }
                    }
                })
                .await;
                if read.is_err() {
                    continue;
                }
                let request = String::from_utf8_lossy(&buffer);
                let target = request.lines().next().and_then(|line| line.split(' ').nth(1)).unwrap_or("");
                if let Some(query) = target.strip_prefix("/callback?") {
                    let page = "<!doctype html><title>MCP Auth Lab</title><p>Signed in. You can close this window and return to the terminal.</p>";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\nreferrer-policy: no-referrer\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    return query.to_owned();
                }
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            }
        })
        .await
        .map_err(|_| ClientError::Config(format!("no authorization response arrived within {} s", timeout.as_secs())))
    }
}
