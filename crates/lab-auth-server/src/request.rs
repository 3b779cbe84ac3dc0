//! The opening the client-authenticating endpoints share, as axum extractors: the caller's address
//! (the key of the AS-41 rate limits), the body within [`MAX_BODY_BYTES`], the form with the O21
//! §3.2 rules, and client authentication (O21 §3.2.1).
//!
//! The token, introspection and revocation endpoints take a [`ClientRequest`], so none of them can
//! read a parameter before its body was capped and its client authenticated; what differs between
//! them (a parameter read first, the error a failed authentication becomes) is stated by each
//! endpoint's [`ClientEndpoint`]. Registration has no client yet and takes [`Caller`] and
//! [`CappedBody`] alone.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lab_proto::{ClientSecret, OAuthErrorCode};

use crate::http::{Form, MAX_BODY_BYTES, OAuthError, secrets_equal};
use crate::profile::AsProfile;
use crate::records::Client;
use crate::state::AuthServer;

/// Who is calling, as the rate limits count callers (AS-41): the peer's IP address when the harness
/// passes one, `local` otherwise (router tests have none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller(String);

impl Caller {
    fn of(extensions: &axum::http::Extensions) -> Self {
        Self(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "local".to_owned(), |ConnectInfo(address)| address.ip().to_string()),
        )
    }

    /// The rate-limit key of this caller.
    pub(crate) fn key(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// A request body no larger than [`MAX_BODY_BYTES`] (the router's `DefaultBodyLimit`), or the
/// RFC-shaped error that says why it could not be read.
#[derive(Debug)]
pub(crate) struct CappedBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for CappedBody {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state).await.map(Self).map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OAuthError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    OAuthErrorCode::InvalidRequest,
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                OAuthError::invalid_request("request body could not be read")
            }
        })
    }
}

/// What sets one client-authenticating endpoint's opening apart from another's.
pub(crate) trait ClientEndpoint {
    /// Parameters read (and refused when repeated, O21 §3.2) before the client is authenticated,
    /// so a malformed request is told so whoever sends it.
    const READ_FIRST: &'static [&'static str] = &[];

    /// The error a failed client authentication becomes at this endpoint.
    fn refuse_client(_server: &AuthServer, error: OAuthError) -> OAuthError {
        error
    }
}

/// A form POST from an authenticated client, with the clock and profile read once for the whole
/// request.
#[derive(Debug)]
pub(crate) struct ClientRequest<E> {
    pub(crate) caller: Caller,
    pub(crate) now: u64,
    pub(crate) profile: AsProfile,
    pub(crate) form: Form,
    pub(crate) presented: PresentedClient,
    pub(crate) client: Client,
    endpoint: PhantomData<E>,
}

impl<E> ClientRequest<E> {
    /// The key failed token requests are counted under (AS-41): see [`rate_key`].
    pub(crate) fn rate_key(&self) -> String {
        let secret = match &self.presented {
            PresentedClient::Basic { client_secret, .. } | PresentedClient::Post { client_secret, .. } => {
                Some(client_secret.secret())
            }
            PresentedClient::Public { .. } => None,
        };
        rate_key(&self.caller, self.presented.client_id(), &self.form, secret)
    }
}

/// The key of the AS-41 failure count: the caller, the client it names and the credential it
/// presents (a code, else a refresh token, else its client secret). One caller's failures then
/// throttle only attempts at that same credential, so nobody can lock out an honest client that
/// presents its own (on loopback every caller shares one address, and a client id is anyone's to
/// name). The limiter stores keys as digests, so their length costs nothing.
fn rate_key(caller: &Caller, client_id: &str, form: &Form, client_secret: Option<&str>) -> String {
    let grant_credential = ["code", "refresh_token"].into_iter().find_map(|name| form.get(name).ok().flatten());
    let credential = grant_credential.or(client_secret).unwrap_or_default();
    format!("{}\n{client_id}\n{credential}", caller.key())
}

/// A request refused in its opening, with what the rate limits need to count it.
pub(crate) struct ClientRefusal {
    /// The AS-41 key of what the request claimed (client, credential), read without checking
    /// anything.
    rate_key: String,
    pub(crate) now: u64,
    pub(crate) error: OAuthError,
}

/// The rate key holds the credential the request presented (a code, a refresh token, a client
/// secret), so it is never printed.
impl std::fmt::Debug for ClientRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRefusal").field("now", &self.now).field("error", &self.error).finish_non_exhaustive()
    }
}

impl ClientRefusal {
    /// The same key as [`ClientRequest::rate_key`], from what the request claimed.
    pub(crate) fn rate_key(&self) -> &str {
        &self.rate_key
    }
}

impl IntoResponse for ClientRefusal {
    fn into_response(self) -> Response {
        self.error.into_response()
    }
}

impl<E: ClientEndpoint> FromRequest<AuthServer> for ClientRequest<E> {
    type Rejection = ClientRefusal;

    async fn from_request(request: Request, server: &AuthServer) -> Result<Self, Self::Rejection> {
        let now = server.clock().now();
        let profile = server.profile();
        let caller = Caller::of(request.extensions());
        let headers = request.headers().clone();
        let refuse = |body: Option<&[u8]>, error| ClientRefusal {
            rate_key: claimed_rate_key(&caller, &headers, body),
            now,
            error,
        };
        let body = match CappedBody::from_request(request, server).await {
            Ok(CappedBody(body)) => body,
            Err(error) => return Err(refuse(None, error)),
        };
        match authenticate_form::<E>(server, &headers, &body) {
            Ok((form, presented, client)) => {
                Ok(Self { caller: caller.clone(), now, profile, form, presented, client, endpoint: PhantomData })
            }
            Err(error) => Err(refuse(Some(&body), error)),
        }
    }
}

/// The strict part of the opening: the form (O21 §3.2), the endpoint's first parameters, then the
/// client (O21 §3.2.1).
fn authenticate_form<E: ClientEndpoint>(
    server: &AuthServer,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Form, PresentedClient, Client), OAuthError> {
    let form = Form::from_post(headers, body)?;
    for name in E::READ_FIRST {
        form.get(name)?;
    }
    let presented =
        presented_client(headers, &form, server.issuer()).map_err(|error| E::refuse_client(server, error))?;
    let client = authenticate(server, &presented).map_err(|error| E::refuse_client(server, error))?;
    Ok((form, presented, client))
}

/// The AS-41 key of what a refused request claims, without checking anything: any content type,
/// the Basic header or the body's `client_id`, or nothing.
fn claimed_rate_key(caller: &Caller, headers: &HeaderMap, body: Option<&[u8]>) -> String {
    let form = body.and_then(|body| Form::parse(body).ok()).unwrap_or_default();
    match presented_client(headers, &form, "") {
        Ok(
            PresentedClient::Basic { client_id, client_secret } | PresentedClient::Post { client_id, client_secret },
        ) => rate_key(caller, &client_id, &form, Some(client_secret.secret())),
        Ok(PresentedClient::Public { client_id }) => rate_key(caller, &client_id, &form, None),
        Err(_) => rate_key(caller, "", &form, None),
    }
}

/// What a caller presented to identify itself at the token, introspection or revocation endpoint.
#[derive(Debug)]
pub(crate) enum PresentedClient {
    /// `Authorization: Basic` (O21 §2.4.1).
    Basic { client_id: String, client_secret: ClientSecret },
    /// `client_id` and `client_secret` in the body.
    Post { client_id: String, client_secret: ClientSecret },
    /// A public client's `client_id` alone.
    Public { client_id: String },
}

impl PresentedClient {
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. } | Self::Post { client_id, .. } | Self::Public { client_id } => client_id,
        }
    }
}

/// Reads the client credentials of a request. `basic_realm` goes into the 401 challenge.
fn presented_client(headers: &HeaderMap, form: &Form, basic_realm: &str) -> Result<PresentedClient, OAuthError> {
    let body_client_id = form.get("client_id")?;
    let body_secret = form.get("client_secret")?;
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let basic_failure = |description: &str| {
            let mut error = OAuthError::new(StatusCode::UNAUTHORIZED, OAuthErrorCode::InvalidClient, description);
            error.www_authenticate =
                Some(lab_proto::www_authenticate::format_challenge("Basic", &[("realm", basic_realm)]));
            error
        };
        let value = authorization.to_str().map_err(|_| basic_failure("malformed Authorization header"))?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
        let (client_id, client_secret) = lab_proto::basic::parse(value).map_err(|error| match error {
            lab_proto::basic::BasicError::OtherScheme => {
                basic_failure("client authentication must use the Basic scheme")
            }
            lab_proto::basic::BasicError::Malformed => basic_failure("malformed Basic credentials"),
        })?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request("client authenticated by more than one method"));
        }
        if body_client_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
        }
        return Ok(PresentedClient::Basic { client_id, client_secret: ClientSecret::new(client_secret) });
    }
    match (body_client_id, body_secret) {
        (Some(client_id), Some(secret)) => {
            Ok(PresentedClient::Post { client_id: client_id.to_owned(), client_secret: ClientSecret::new(secret) })
        }
        (Some(client_id), None) => Ok(PresentedClient::Public { client_id: client_id.to_owned() }),
        (None, _) => Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "client authentication required",
        )),
    }
}

/// Authenticates the caller with the method its registration names (O21 §3.2.1), and with no
/// other: a Basic client's secret in the body, or a confidential client's `client_id` alone, fails.
/// A failure after `Authorization: Basic` is 401 with a `Basic` challenge (O21 §3.2.4); a failure
/// in the body is 400 `invalid_client`, apart from a confidential client that sent no secret (401).
fn authenticate(server: &AuthServer, presented: &PresentedClient) -> Result<Client, OAuthError> {
    use lab_proto::registration::TokenEndpointAuthMethod as Method;
    let client = server.store().clients.get(presented.client_id()).cloned();
    let basic_failure = || {
        let mut error =
            OAuthError::new(StatusCode::UNAUTHORIZED, OAuthErrorCode::InvalidClient, "client authentication failed");
        error.www_authenticate =
            Some(lab_proto::www_authenticate::format_challenge("Basic", &[("realm", server.issuer())]));
        error
    };
    let body_failure =
        || OAuthError::new(StatusCode::BAD_REQUEST, OAuthErrorCode::InvalidClient, "client authentication failed");
    let secret_matches = |client: &Client, presented_secret: &str| {
        client.secret.as_ref().is_some_and(|secret| secrets_equal(secret.secret(), presented_secret))
    };
    match (presented, client) {
        (PresentedClient::Basic { client_secret, .. }, Some(client))
            if client.auth_method == Method::ClientSecretBasic && secret_matches(&client, client_secret.secret()) =>
        {
            Ok(client)
        }
        (PresentedClient::Basic { .. }, _) => Err(basic_failure()),
        (PresentedClient::Post { client_secret, .. }, Some(client))
            if client.auth_method == Method::ClientSecretPost && secret_matches(&client, client_secret.secret()) =>
        {
            Ok(client)
        }
        (PresentedClient::Public { .. }, Some(client)) if client.auth_method == Method::None => Ok(client),
        (PresentedClient::Public { .. }, Some(_)) => Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "this client must authenticate with its secret",
        )),
        _ => Err(body_failure()),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::HeaderValue;
    use lab_proto::Clock;

    use super::*;
    use crate::config::{AuthServerConfig, lab};

    fn server() -> AuthServer {
        let mut config = AuthServerConfig::lab(lab::ISSUER, vec![lab::RESOURCE.to_owned()]);
        config.clock = Clock::frozen(1_800_000_000);
        AuthServer::new(config).unwrap()
    }

    /// An endpoint with the default opening.
    #[derive(Debug)]
    struct Plain;
    impl ClientEndpoint for Plain {}

    /// An endpoint that reads `grant_type` first and answers failed authentication its own way.
    #[derive(Debug)]
    struct Strict;
    impl ClientEndpoint for Strict {
        const READ_FIRST: &'static [&'static str] = &["grant_type"];

        fn refuse_client(_server: &AuthServer, _error: OAuthError) -> OAuthError {
            OAuthError::new(StatusCode::UNAUTHORIZED, OAuthErrorCode::InvalidClient, "strict")
        }
    }

    fn post(content_type: &str, body: &str, authorization: Option<&str>) -> Request {
        let mut request = Request::post("/token").header(header::CONTENT_TYPE, content_type);
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        request.body(Body::from(body.to_owned())).unwrap()
    }

    fn form(body: &str) -> Request {
        post("application/x-www-form-urlencoded", body, None)
    }

    async fn extract<E: ClientEndpoint>(request: Request) -> Result<ClientRequest<E>, ClientRefusal> {
        ClientRequest::<E>::from_request(request, &server()).await
    }

    fn confidential_basic() -> String {
        lab_proto::basic::authorization(lab::CONFIDENTIAL_CLIENT_ID, lab::CONFIDENTIAL_CLIENT_SECRET)
    }

    #[tokio::test]
    async fn an_authenticated_client_comes_with_its_form_clock_and_profile() {
        let request = extract::<Plain>(form(&format!("client_id={}&x=1", lab::PUBLIC_CLIENT_ID))).await.unwrap();
        assert_eq!(request.client.client_id, lab::PUBLIC_CLIENT_ID);
        assert!(matches!(request.presented, PresentedClient::Public { .. }));
        assert_eq!(request.form.get("x").unwrap(), Some("1"));
        assert_eq!((request.now, request.profile), (1_800_000_000, AsProfile::Conforming));
        assert_eq!(request.rate_key(), format!("local\n{}\n", lab::PUBLIC_CLIENT_ID));
        // The credential presented is part of the key: a code, else a refresh token.
        let code = form(&format!("client_id={}&code=c-1&refresh_token=r-1", lab::PUBLIC_CLIENT_ID));
        assert_eq!(extract::<Plain>(code).await.unwrap().rate_key(), format!("local\n{}\nc-1", lab::PUBLIC_CLIENT_ID));
        let basic = post("application/x-www-form-urlencoded", "", Some(&confidential_basic()));
        let request = extract::<Plain>(basic).await.unwrap();
        assert_eq!(request.client.client_id, lab::CONFIDENTIAL_CLIENT_ID);
    }

    #[tokio::test]
    async fn the_caller_is_the_peer_address_when_there_is_one() {
        let mut request = form(&format!("client_id={}", lab::PUBLIC_CLIENT_ID));
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 7], 4711))));
        let request = extract::<Plain>(request).await.unwrap();
        assert_eq!(request.caller.key(), "127.0.0.7");
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_utf8_form_is_invalid_request_whoever_sends_it() {
        let id = lab::PUBLIC_CLIENT_ID;
        let json = extract::<Strict>(post("application/json", &format!("client_id={id}"), None)).await.unwrap_err();
        assert_eq!(
            (json.error.status, &json.error.body.error),
            (StatusCode::BAD_REQUEST, &OAuthErrorCode::InvalidRequest)
        );
        // The rate limits still count the refusal against the client the body names.
        assert_eq!(json.rate_key(), format!("local\n{id}\n"));
        let not_utf8 = extract::<Strict>(form(&format!("client_id={id}&x=%ff"))).await.unwrap_err();
        assert_eq!(not_utf8.error.body.error, OAuthErrorCode::InvalidRequest);
        assert_eq!(not_utf8.error.status, StatusCode::BAD_REQUEST, "not the endpoint's authentication error");
    }

    #[tokio::test]
    async fn a_repeated_first_parameter_is_refused_before_the_client_is_looked_at() {
        let strict = extract::<Strict>(form("grant_type=a&grant_type=b&client_id=nobody")).await.unwrap_err();
        assert_eq!(strict.error.body.error, OAuthErrorCode::InvalidRequest);
        assert_eq!(strict.rate_key(), "local\nnobody\n");
        let plain = extract::<Plain>(form("grant_type=a&grant_type=b&client_id=nobody")).await.unwrap_err();
        assert_eq!(plain.error.body.error, OAuthErrorCode::InvalidClient, "only the endpoint that reads it first");
    }

    #[tokio::test]
    async fn failed_client_authentication_is_refused_as_the_endpoint_says() {
        let unknown = extract::<Plain>(form("client_id=nobody")).await.unwrap_err();
        assert_eq!(
            (unknown.error.status, &unknown.error.body.error),
            (StatusCode::BAD_REQUEST, &OAuthErrorCode::InvalidClient)
        );
        let anonymous = extract::<Plain>(form("x=1")).await.unwrap_err();
        assert_eq!(anonymous.error.status, StatusCode::UNAUTHORIZED);
        assert_eq!(anonymous.rate_key(), "local\n\n");
        let wrong_secret = lab_proto::basic::authorization(lab::CONFIDENTIAL_CLIENT_ID, "wrong");
        let basic = extract::<Plain>(post("application/x-www-form-urlencoded", "", Some(&wrong_secret))).await;
        let basic = basic.unwrap_err();
        assert_eq!(basic.error.status, StatusCode::UNAUTHORIZED);
        assert_eq!(basic.error.www_authenticate.as_deref(), Some(format!("Basic realm=\"{}\"", lab::ISSUER).as_str()));
        // A refused secret is the credential of its key: guessing one secret after another is not
        // what AS-41 throttles (the lab's secrets are published or 256-bit), locking the client out is.
        assert_eq!(basic.rate_key(), format!("local\n{}\nwrong", lab::CONFIDENTIAL_CLIENT_ID));
        let confidential_without_secret = form(&format!("client_id={}", lab::CONFIDENTIAL_CLIENT_ID));
        let refused = extract::<Plain>(confidential_without_secret).await.unwrap_err();
        assert_eq!(
            refused.error.body.error_description.as_deref(),
            Some("this client must authenticate with its secret")
        );
        let strict = extract::<Strict>(form("client_id=nobody")).await.unwrap_err();
        assert_eq!(strict.error.body.error_description.as_deref(), Some("strict"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode("my%20client:p%40ss")
        };
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("basic {encoded}")).unwrap());
        let presented = presented_client(&headers, &Form::default(), "lab").unwrap();
        match presented {
            PresentedClient::Basic { client_id, client_secret } => {
                assert_eq!(client_id, "my client");
                assert_eq!(client_secret.secret(), "p@ss");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_basic_gets_401_with_a_challenge() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        let error = presented_client(&headers, &Form::default(), "https://as").unwrap_err();
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error.www_authenticate.as_deref(), Some("Basic realm=\"https://as\""));
    }
}
