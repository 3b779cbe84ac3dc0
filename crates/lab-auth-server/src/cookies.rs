//! The cookies of the login + consent form: the signed session, the double-submit CSRF half, and
//! the signing both the session and the remembered consent (`consent.rs`) rely on.
//!
//! Every cookie is a `__Host-` cookie with the attributes SBP §Consent Cookie Security asks for, and
//! the ones the AS must be able to trust later are signed with a key that lives only in memory, so a
//! page on another origin can neither forge a login nor an approval.

use axum::http::{HeaderMap, header};

use crate::state::AuthServer;

/// The cookie that carries the signed-in user.
const SESSION_COOKIE: &str = "__Host-lab_session";
/// The double-submit half of the consent form's CSRF protection (AS-19).
const CSRF_COOKIE: &str = "__Host-lab_csrf";
/// How long a login (and the consent remembered with it) lasts.
pub(crate) const SESSION_SECONDS: u64 = 8 * 3600;

/// The value of one cookie from the `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value with the attributes SBP §Consent Cookie Security asks for: the `__Host-`
/// prefix (so `Secure`, `Path=/` and no `Domain`), `HttpOnly` and `SameSite=Lax`.
pub(crate) fn host_cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

/// `payload.tag`, both base64url, the tag an HMAC-SHA256 of the payload under the AS's cookie key.
pub(crate) fn sign(server: &AuthServer, payload: &str) -> String {
    let tag = aws_lc_rs::hmac::sign(&server.inner.cookie_key, payload.as_bytes());
    format!("{}.{}", lab_proto::jose::b64url_encode(payload.as_bytes()), lab_proto::jose::b64url_encode(tag.as_ref()))
}

/// The payload of a value [`sign`] made, or `None` for anything else (a forged or altered value).
pub(crate) fn verify(server: &AuthServer, value: &str) -> Option<String> {
    let (payload, tag) = value.split_once('.')?;
    let payload = lab_proto::jose::b64url_decode(payload).ok()?;
    let tag = lab_proto::jose::b64url_decode(tag).ok()?;
    aws_lc_rs::hmac::verify(&server.inner.cookie_key, &payload, &tag).ok()?;
    String::from_utf8(payload).ok()
}

/// The lab user a request's session cookie names, while the login lasts and the user exists.
pub(crate) fn session_user(server: &AuthServer, headers: &HeaderMap) -> Option<String> {
    let payload = verify(server, cookie(headers, SESSION_COOKIE)?)?;
    let (user, expires_at) = payload.split_once('|')?;
    let expires_at: u64 = expires_at.parse().ok()?;
    (expires_at > server.clock().now() && server.user(user).is_some()).then(|| user.to_owned())
}

/// The `Set-Cookie` value that signs `username` in from `now` for [`SESSION_SECONDS`].
pub(crate) fn session_cookie(server: &AuthServer, username: &str, now: u64) -> String {
    let session = sign(server, &format!("{username}|{}", now + SESSION_SECONDS));
    host_cookie(SESSION_COOKIE, &session, SESSION_SECONDS)
}

/// The `Set-Cookie` value of the CSRF half that goes out with a consent page (AS-19).
pub(crate) fn csrf_cookie(csrf: &str, max_age: u64) -> String {
    host_cookie(CSRF_COOKIE, csrf, max_age)
}

/// The `Set-Cookie` value that drops the CSRF half once its form was used.
pub(crate) fn clear_csrf_cookie() -> String {
    format!("{CSRF_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The CSRF half a form submission came back with.
pub(crate) fn presented_csrf(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, CSRF_COOKIE)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::config::{AuthServerConfig, lab};

    fn server() -> AuthServer {
        AuthServer::new(AuthServerConfig::lab(lab::ISSUER, vec![lab::RESOURCE.to_owned()])).unwrap()
    }

    #[test]
    fn signed_values_verify_and_altered_ones_do_not() {
        let server = server();
        let value = sign(&server, "alice|99");
        assert_eq!(verify(&server, &value).as_deref(), Some("alice|99"));
        let (_, tag) = value.split_once('.').unwrap();
        let forged = format!("{}.{tag}", lab_proto::jose::b64url_encode(b"admin|99"));
        assert_eq!(verify(&server, &forged), None);
        assert_eq!(verify(&server, "alice|99"), None);
        // Another AS (another key) does not vouch for this one's cookies.
        assert_eq!(verify(&self::server(), &value), None);
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; __Host-lab_csrf=x"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(presented_csrf(&headers), Some("x"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
