//! The loopback redirect listener (O21 §8.4.2, RFC 8252 §7.3): the browser brings the
//! authorization response here. It takes the one `/callback` request that carries the flow's
//! `state`, ignores any other, and never redirects anywhere (CL-17: no open redirector on the
//! callback).

use std::time::Duration;

use lab_proto::AuthorizationCode;
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

    /// Waits for the browser's `GET /callback?…` whose `state` is `expected_state`, and returns its
    /// query with how many callbacks of another `state` were ignored meanwhile (for the log). Any local program can connect: each connection is served in a task of its own with a
    /// short read timeout (at most [`MAX_OPEN_CALLBACKS`] at once), so silent connections cannot
    /// hold up the browser's, and a callback with another `state` is answered 400 and ignored; the
    /// wait goes on until the right one comes or the time is up (CL-14: it never reaches the token
    /// request, nor ends the sign-in the user is still doing).
    pub(crate) async fn wait(&self, timeout: Duration, expected_state: &str) -> Result<(String, usize), ClientError> {
        let (found, mut received) = tokio::sync::mpsc::channel::<String>(1);
        let ignored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // Dropped when the wait ends, which aborts whatever connections are still open.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = &mut deadline => {
                    let ignored = ignored.load(std::sync::atomic::Ordering::Relaxed);
                    let note = if ignored > 0 { format!(" ({ignored} with another state were ignored)") } else { String::new() };
                    return Err(ClientError::Config(format!(
                        "no authorization response arrived within {} s{note}",
                        timeout.as_secs()
                    )));
                }
                Some(query) = received.recv() => return Ok((query, ignored.load(std::sync::atomic::Ordering::Relaxed))),
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    if connections.len() >= MAX_OPEN_CALLBACKS {
                        continue;
                    }
                    connections.spawn(serve_callback(stream, expected_state.to_owned(), found.clone(), ignored.clone()));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

/// How many callback connections are served at once; more are closed at once.
const MAX_OPEN_CALLBACKS: usize = 64;
/// How long one connection may take to send its request line and headers.
const CALLBACK_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one connection to the callback listener: the right callback's query goes to `found`.
async fn serve_callback(
    mut stream: tokio::net::TcpStream,
    expected_state: String,
    found: tokio::sync::mpsc::Sender<String>,
    ignored: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 2048];
    // Read until the end of the headers, bounded in size and time.
    let read = tokio::time::timeout(CALLBACK_READ_TIMEOUT, async {
        while !buffer.windows(4).any(|window| window == b"\r\n\r\n") && buffer.len() < MAX_REQUEST_BYTES {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let request = String::from_utf8_lossy(&buffer);
    let target = request.lines().next().and_then(|line| line.split(' ').nth(1)).unwrap_or("");
    let Some(query) = target.strip_prefix("/callback?") else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        return;
    };
    let (status, page) = if AuthorizationResponse::parse(query).state.as_deref() == Some(expected_state.as_str()) {
        (
            "200 OK",
            "<!doctype html><title>MCP Auth Lab</title><p>Signed in. You can close this window and return to the terminal.</p>",
        )
    } else {
        ignored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (
            "400 Bad Request",
            "<!doctype html><title>MCP Auth Lab</title><p>This response is not for the sign-in in progress; it was ignored.</p>",
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\nreferrer-policy: no-referrer\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    if status == "200 OK" {
        let _ = found.send(query.to_owned()).await;
    }
}

/// The parameters of an authorization response (O21 §4.1.2, §4.1.2.1; RFC 9207 `iss`) that the
/// client reads. The code is an [`AuthorizationCode`] from the moment it is read, so it is never
/// printed and never copied on its way to the token request. A repeated parameter counts by its
/// last value.
#[derive(Debug, Default)]
pub(crate) struct AuthorizationResponse {
    pub(crate) code: Option<AuthorizationCode>,
    pub(crate) state: Option<String>,
    pub(crate) iss: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
}

impl AuthorizationResponse {
    /// Reads the query of the redirect to the callback; parameters the client does not use are
    /// ignored.
    pub(crate) fn parse(query: &str) -> Self {
        let mut response = Self::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "code" => response.code = Some(AuthorizationCode::new(value)),
                "state" => response.state = Some(value.into_owned()),
                "iss" => response.iss = Some(value.into_owned()),
                "error" => response.error = Some(value.into_owned()),
                "error_description" => response.error_description = Some(value.into_owned()),
                _ => {}
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `GET target` to the listener and returns the status line of its answer.
    async fn get(port: u16, target: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn a_callback_with_another_state_is_ignored_and_the_right_one_awaited() {
        let listener = CallbackListener::bind(0).await.unwrap();
        let port: u16 =
            listener.redirect_uri.rsplit(':').next().unwrap().trim_end_matches("/callback").parse().unwrap();
        let waiting = tokio::spawn(async move { listener.wait(Duration::from_secs(10), "the-state").await });
        // A silent connection holds nothing up, and another local program's callback is refused
        // while the wait goes on.
        let _silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(get(port, "/callback?code=planted&state=forged").await, "HTTP/1.1 400 Bad Request");
        assert_eq!(get(port, "/callback?code=planted").await, "HTTP/1.1 400 Bad Request");
        assert_eq!(get(port, "/callback?code=real&state=the-state").await, "HTTP/1.1 200 OK");
        assert_eq!(waiting.await.unwrap().unwrap(), ("code=real&state=the-state".to_owned(), 2));
    }

    #[tokio::test]
    async fn the_wait_ends_at_its_timeout_and_counts_what_it_ignored() {
        let listener = CallbackListener::bind(0).await.unwrap();
        let port: u16 =
            listener.redirect_uri.rsplit(':').next().unwrap().trim_end_matches("/callback").parse().unwrap();
        let waiting = tokio::spawn(async move { listener.wait(Duration::from_secs(2), "the-state").await });
        assert_eq!(get(port, "/callback?code=planted&state=forged").await, "HTTP/1.1 400 Bad Request");
        let error = waiting.await.unwrap().unwrap_err().to_string();
        assert!(error.contains("1 with another state were ignored"), "{error}");
    }

    #[test]
    fn the_code_is_a_secret_from_the_moment_it_is_read() {
        let response = AuthorizationResponse::parse("code=c0de-XyZ&state=s%201&iss=https%3A%2F%2Fas&state=s2&extra=1");
        assert_eq!(response.code.as_ref().map(AuthorizationCode::secret), Some("c0de-XyZ"));
        assert_eq!(response.state.as_deref(), Some("s2"), "the last value counts");
        assert_eq!(response.iss.as_deref(), Some("https://as"));
        assert!(response.error.is_none() && response.error_description.is_none());
        let printed = format!("{response:?}");
        assert!(!printed.contains("c0de-XyZ") && printed.contains("AuthorizationCode([redacted])"), "{printed}");

        let refused = AuthorizationResponse::parse("error=access_denied&error_description=no+thanks&state=s");
        assert!(refused.code.is_none());
        assert_eq!(refused.error.as_deref(), Some("access_denied"));
        assert_eq!(refused.error_description.as_deref(), Some("no thanks"));
    }
}
