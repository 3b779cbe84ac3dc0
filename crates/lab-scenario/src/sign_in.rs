//! The headless sign-in at a third-party AS (`run --login`): from the answer to an
//! authorization request, follow the AS's redirects and fill its login and consent forms (read by
//! `third_party::sign_in_form`), carrying its cookies, until it redirects out of itself.

use crate::error::StepError;
use crate::expect::Observation;
use crate::runner::Run;
use crate::wire::Payload;

impl Run {
    /// A headless sign-in at a third-party AS. From the answer to the authorization request at
    /// `url`, it follows the AS's redirects and submits its login and consent forms as `login`,
    /// carrying the cookies the AS sets, until the AS redirects to the redirect URI. That answer,
    /// or the first one that neither redirects nor offers a form to sign in (an error page), is
    /// what the step observed. Without `submit` it stops at the first page the AS shows.
    pub(crate) async fn sign_in(
        &mut self,
        url: &str,
        mut seen: Observation,
        login: &crate::Login,
        submit: bool,
    ) -> Result<Observation, StepError> {
        use crate::third_party::{MAX_SIGN_IN_HOPS, sign_in_form};
        // Only for redaction: a login page may echo what was typed.
        self.vars.set("login_password", login.password());
        let parse = |url: &str| url::Url::parse(url).map_err(|error| StepError::SignIn(error.to_string()));
        let redirect_uri = parse(&self.var_or_empty("redirect_uri"))?;
        let mut current = parse(url)?;
        let as_origin = current.origin();
        let mut submitted = false;
        for _ in 0..MAX_SIGN_IN_HOPS {
            self.keep_cookies(&current, &seen);
            let (next, method, payload) = match seen.status {
                Some(300..=399) => {
                    let Some(location) = seen.header("location") else { return Ok(seen) };
                    let next = current.join(location).map_err(|error| {
                        StepError::SignIn(format!(
                            "the AS redirected to {:?}: {error}",
                            lab_client::redact_query(location)
                        ))
                    })?;
                    let arrived = next.scheme() == redirect_uri.scheme()
                        && next.host_str() == redirect_uri.host_str()
                        && next.port_or_known_default() == redirect_uri.port_or_known_default()
                        && next.path() == redirect_uri.path();
                    // A redirect out of the AS is its authorization response, to whichever
                    // redirect URI the request named; the sign-in never follows it.
                    if arrived || next.origin() != as_origin {
                        self.signed_in = submitted;
                        return Ok(seen);
                    }
                    (next, "GET", Payload::None)
                }
                Some(200) if !submit => return Ok(seen),
                Some(200) => {
                    let html = String::from_utf8_lossy(&seen.body);
                    let Some(form) = sign_in_form(&html, &current, login).map_err(StepError::SignIn)? else {
                        return Ok(seen);
                    };
                    submitted = true;
                    let mut action = parse(&form.action)?;
                    password_may_go(&form, &action, &as_origin, login).map_err(StepError::SignIn)?;
                    if form.method == "GET" {
                        action.query_pairs_mut().extend_pairs(form.fields.iter());
                        (action, "GET", Payload::None)
                    } else {
                        (action, "POST", Payload::Form(form.fields))
                    }
                }
                _ => return Ok(seen),
            };
            self.transcript.push(format!("(headless sign-in as `{}`)", login.user));
            let origin = next.origin().ascii_serialization();
            let cookie: Vec<String> = self
                .cookies
                .iter()
                .filter(|(site, _, _)| *site == origin)
                .map(|(_, name, value)| format!("{name}={value}"))
                .collect();
            let headers = if cookie.is_empty() { Vec::new() } else { vec![("cookie".to_owned(), cookie.join("; "))] };
            seen = self.send(method, next.as_str(), headers, payload).await?;
            current = next;
        }
        Err(StepError::SignIn(format!("it did not reach the redirect URI within {MAX_SIGN_IN_HOPS} pages")))
    }

    /// Keeps the cookies of an answer from `url`'s origin (a session or CSRF cookie of a login
    /// page); the last value of a name wins, as in a browser.
    fn keep_cookies(&mut self, url: &url::Url, seen: &Observation) {
        let origin = url.origin().ascii_serialization();
        for (_, value) in seen.headers.iter().filter(|(name, _)| name == "set-cookie") {
            let Some((name, value)) = value.split(';').next().and_then(|pair| pair.split_once('=')) else { continue };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            self.cookies.retain(|(site, known, _)| !(*site == origin && *known == name));
            self.cookies.push((origin.clone(), name, value));
        }
    }
}

/// Whether `form`, sent to `action`, may carry the password: only to the AS that asked for it, as
/// an https form of the AS's own origin, in a POST body (a GET would put it in a URL, and so in
/// logs and histories). A form without the password (a consent page) may go anywhere the AS sends.
fn password_may_go(
    form: &crate::third_party::Form,
    action: &url::Url,
    as_origin: &url::Origin,
    login: &crate::Login,
) -> Result<(), String> {
    let carries_password = form.fields.iter().any(|(_, value)| value == login.password());
    if carries_password && (action.origin() != *as_origin || action.scheme() != "https" || form.method != "POST") {
        return Err(format!(
            "the login form would send the password by {} to {}, not by POST to the AS's own https origin: it was not sent",
            form.method,
            action.origin().ascii_serialization()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::password_may_go;
    use crate::third_party::Form;

    #[test]
    fn the_password_goes_only_by_post_to_the_as_own_https_origin() {
        let login = crate::Login::new("alice", "alice-pass");
        let as_origin = url::Url::parse("https://as.example/authorize").unwrap().origin();
        let form = |method: &str, password: &str| Form {
            action: String::new(),
            method: method.to_owned(),
            fields: vec![("username".to_owned(), "alice".to_owned()), ("password".to_owned(), password.to_owned())],
        };
        let to = |url: &str| url::Url::parse(url).unwrap();
        assert!(
            password_may_go(&form("POST", "alice-pass"), &to("https://as.example/login"), &as_origin, &login).is_ok()
        );
        for (method, action) in [
            ("POST", "https://evil.example/login"),
            ("POST", "http://as.example/login"),
            ("POST", "https://as.example:8443/login"),
            ("GET", "https://as.example/login"),
        ] {
            let refused = password_may_go(&form(method, "alice-pass"), &to(action), &as_origin, &login);
            assert!(refused.is_err(), "{method} {action}");
            assert!(!refused.unwrap_err().contains("alice-pass"), "the refusal never shows the password");
        }
        // A consent form carries no password: the AS's own affair.
        assert!(password_may_go(&form("GET", ""), &to("https://other.example/consent"), &as_origin, &login).is_ok());
    }
}
