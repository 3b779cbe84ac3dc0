//! AS-17…AS-22: the login + consent page, its CSRF defence, its cookies and its redirects.

use axum::http::StatusCode;

use crate::support::{ISSUER, Lab, REDIRECT, Resp, pkce};

/// The hidden form field `name` of a consent page.
fn hidden(page: &Resp, name: &str) -> String {
    let text = page.text();
    let marker = format!("name=\"{name}\" value=\"");
    let start = text.find(&marker).unwrap_or_else(|| panic!("no {name} in page")) + marker.len();
    text[start..start + text[start..].find('"').unwrap()].to_owned()
}

/// `name=value` of the `Set-Cookie` named `name`.
fn cookie_pair(response: &Resp, name: &str) -> String {
    response
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn open_page(lab: &Lab, client_id: &str) -> Resp {
    let page = lab.authorize(&lab.params(client_id, &pkce().challenge)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page
}

async fn submit(lab: &Lab, page: &Resp, fields: &[(&str, &str)], cookies: &str) -> Resp {
    let request_id = hidden(page, "request_id");
    let csrf = hidden(page, "csrf");
    let mut pairs = vec![("request_id", request_id.as_str()), ("csrf", csrf.as_str())];
    pairs.extend_from_slice(fields);
    lab.post_form_with("/consent", &pairs, &[("cookie", cookies)]).await
}

async fn log_in(lab: &Lab, page: &Resp) -> Resp {
    let cookies = cookie_pair(page, "__Host-lab_csrf");
    submit(lab, page, &[("username", "alice"), ("password", "alice-pass"), ("action", "approve")], &cookies).await
}

#[tokio::test]
async fn page_names_client_scopes_and_redirect_host_and_cannot_be_framed() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let page = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("scope", "mcp:read mcp:write")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.location(), None);
    // AS-17 / `consent-clickjacking`.
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = page.text();
    // AS-18: client name, scopes and the redirect host; localhost warning (MCP-1125).
    assert!(html.contains("Test Client wants access"));
    assert!(html.contains("<code>mcp:read</code>") && html.contains("<code>mcp:write</code>"));
    assert!(html.contains("<strong>127.0.0.1</strong>, port <strong>53682</strong>"), "{html}");
    assert!(html.contains("localhost"));
    assert!(html.contains("registered itself"));
    assert!(!html.contains("alice-pass"), "passwords are never shown");
}

#[tokio::test]
async fn client_name_is_escaped() {
    let lab = Lab::new();
    let client = lab
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","client_name":"<script>alert(1)</script>"}),
        )
        .await
        .json();
    let page = open_page(&lab, client["client_id"].as_str().unwrap()).await;
    assert!(!page.text().contains("<script>alert(1)"));
    assert!(page.text().contains("&lt;script&gt;"));
}

#[tokio::test]
async fn login_and_approval_redirect_with_303_and_set_host_cookies() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let page = open_page(&lab, &client_id).await;
    let approved = log_in(&lab, &page).await;
    // AS-21: 303 after a credential-bearing POST, never 307.
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());
    assert!(approved.location().unwrap().starts_with(REDIRECT));
    assert!(approved.redirect_param("code").is_some());
    assert_eq!(approved.redirect_param("state").as_deref(), Some("state-123"));
    assert_eq!(approved.redirect_param("iss").as_deref(), Some(ISSUER));
    // AS-20 / `consent-cookie-attributes`.
    for name in ["__Host-lab_session", "__Host-lab_consent"] {
        let cookie = approved.set_cookies().into_iter().find(|cookie| cookie.starts_with(name)).unwrap();
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{name} lacks {attribute}: {cookie}");
        }
        assert!(!cookie.contains("Domain"), "__Host- cookies have no Domain");
        assert!(!cookie.contains("alice-pass"));
    }
}

/// One sign-in page yields one code, however many times it is submitted at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_page_submitted_concurrently_yields_one_code() {
    let lab = std::sync::Arc::new(Lab::new());
    let client_id = lab.register_public().await;
    for round in 0..10 {
        let page = std::sync::Arc::new(open_page(&lab, &client_id).await);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (lab, page, barrier) = (lab.clone(), page.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    log_in(&lab, &page).await
                })
            })
            .collect();
        let mut codes = 0;
        for task in tasks {
            let answer = task.await.unwrap();
            if answer.redirect_param("code").is_some() {
                codes += 1;
            } else {
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "round {round}: {}", answer.text());
            }
        }
        assert_eq!(codes, 1, "round {round}: one page gave {codes} codes");
    }
}

#[tokio::test]
async fn consent_post_without_the_csrf_token_is_forbidden() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let page = open_page(&lab, &client_id).await;
    let request_id = hidden(&page, "request_id");
    let csrf = hidden(&page, "csrf");
    let cookie = cookie_pair(&page, "__Host-lab_csrf");
    let credentials = [("username", "alice"), ("password", "alice-pass"), ("action", "approve")];
    // A cross-site form knows neither the field nor the cookie.
    let mut no_field = vec![("request_id", request_id.as_str())];
    no_field.extend_from_slice(&credentials);
    let forged = lab.post_form_with("/consent", &no_field, &[("cookie", &cookie)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.location(), None);
    // The field alone (no cookie) is not enough either, nor a wrong value.
    let mut with_field = vec![("request_id", request_id.as_str()), ("csrf", csrf.as_str())];
    with_field.extend_from_slice(&credentials);
    assert_eq!(lab.post_form("/consent", &with_field).await.status, StatusCode::FORBIDDEN);
    let wrong_cookie = lab.post_form_with("/consent", &with_field, &[("cookie", "__Host-lab_csrf=guess")]).await;
    assert_eq!(wrong_cookie.status, StatusCode::FORBIDDEN);
    // The genuine page still works afterwards.
    assert_eq!(log_in(&lab, &page).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn wrong_password_gets_no_code_and_deny_returns_access_denied() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let page = open_page(&lab, &client_id).await;
    let cookies = cookie_pair(&page, "__Host-lab_csrf");
    let wrong =
        submit(&lab, &page, &[("username", "alice"), ("password", "bob-pass"), ("action", "approve")], &cookies).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.location(), None);
    assert!(wrong.text().contains("Wrong user name or password"));
    // The retry page is a fresh form.
    let retry_cookies = cookie_pair(&wrong, "__Host-lab_csrf");
    let denied = submit(&lab, &wrong, &[("action", "deny")], &retry_cookies).await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    assert_eq!(denied.redirect_param("error").as_deref(), Some("access_denied"));
    assert_eq!(denied.redirect_param("code"), None);
    assert_eq!(denied.redirect_param("iss").as_deref(), Some(ISSUER));
}

/// O21 §7.7: passwords cannot be guessed at speed. Ten failures for one user throttle that user's
/// sign-in (the right password included) for the window, tell the caller when to retry, and leave
/// other users alone; an unknown user name is throttled the same way.
#[tokio::test]
async fn failed_sign_ins_are_limited_per_user() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let sign_in = |user: &'static str, password: &'static str| {
        let lab = &lab;
        let client_id = client_id.clone();
        async move {
            let page = open_page(lab, &client_id).await;
            let cookies = cookie_pair(&page, "__Host-lab_csrf");
            submit(lab, &page, &[("username", user), ("password", password), ("action", "approve")], &cookies).await
        }
    };
    for _ in 0..10 {
        assert_eq!(sign_in("alice", "guess").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(sign_in("nobody", "guess").await.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = sign_in("alice", "alice-pass").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.header("retry-after").is_some());
    assert!(throttled.text().contains("Too many failed sign-ins"));
    assert_eq!(throttled.location(), None, "no code while throttled");
    assert_eq!(sign_in("nobody", "guess").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sign_in("bob", "bob-pass").await.status, StatusCode::SEE_OTHER, "another user signs in");
    lab.clock.advance(60);
    assert_eq!(sign_in("alice", "alice-pass").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn consent_is_remembered_per_client_only() {
    let lab = Lab::new();
    let client_a = lab.register_public().await;
    let page = open_page(&lab, &client_a).await;
    let approved = log_in(&lab, &page).await;
    let cookies =
        format!("{}; {}", cookie_pair(&approved, "__Host-lab_session"), cookie_pair(&approved, "__Host-lab_consent"));
    // The same client again: no prompt.
    let again = lab
        .get_with(&format!("/authorize?{}", lab.params(&client_a, &pkce().challenge).query()), &[("cookie", &cookies)])
        .await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert!(again.redirect_param("code").is_some());
    // `consent-skip-cross-client`: attacker's client B is never approved silently.
    let client_b = lab
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","client_name":"Client B"}),
        )
        .await
        .json();
    let client_b = client_b["client_id"].as_str().unwrap();
    let page_b = lab
        .get_with(&format!("/authorize?{}", lab.params(client_b, &pkce().challenge).query()), &[("cookie", &cookies)])
        .await;
    assert_eq!(page_b.status, StatusCode::OK);
    assert_eq!(page_b.location(), None);
    assert!(page_b.text().contains("Client B wants access"));
    assert!(page_b.text().contains("Signed in as <strong>alice</strong>"));
    // A wider scope for client A needs consent again.
    let wider = lab
        .get_with(
            &format!("/authorize?{}", lab.params(&client_a, &pkce().challenge).set("scope", "mcp:write").query()),
            &[("cookie", &cookies)],
        )
        .await;
    assert_eq!(wider.status, StatusCode::OK);
    // A tampered (unsigned) consent cookie is ignored.
    let forged_consent = format!(
        "{}; __Host-lab_consent={}.AAAA",
        cookie_pair(&approved, "__Host-lab_session"),
        lab_proto::jose::b64url_encode(
            format!(r#"{{"sub":"alice","approved":[["{client_b}","mcp:read"]]}}"#).as_bytes()
        )
    );
    let forged = lab
        .get_with(
            &format!("/authorize?{}", lab.params(client_b, &pkce().challenge).query()),
            &[("cookie", &forged_consent)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::OK, "a forged consent cookie must not skip the page");
}

/// Localhost redirect impersonation (O21 §7.3, MCP security best practices): a consent remembered
/// for a public client at one loopback port approves nothing for another program that names the
/// same client at another port; the page it gets shows that port.
#[tokio::test]
async fn remembered_consent_is_bound_to_the_exact_redirect_uri() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let approved = log_in(&lab, &open_page(&lab, &client_id).await).await;
    let cookies =
        format!("{}; {}", cookie_pair(&approved, "__Host-lab_session"), cookie_pair(&approved, "__Host-lab_consent"));
    let at = |redirect: &str| {
        format!("/authorize?{}", lab.params(&client_id, &pkce().challenge).set("redirect_uri", redirect).query())
    };
    let same = lab.get_with(&at(REDIRECT), &[("cookie", &cookies)]).await;
    assert_eq!(same.status, StatusCode::FOUND, "the approved redirect is remembered");
    let other_port = lab.get_with(&at("http://127.0.0.1:40001/callback"), &[("cookie", &cookies)]).await;
    assert_eq!(other_port.status, StatusCode::OK, "another port needs the page again");
    assert_eq!(other_port.location(), None);
    assert!(other_port.text().contains("port <strong>40001</strong>"), "{}", other_port.text());
    // Nor does it cover another resource than the one shown.
    let twin = lab
        .get_with(
            &format!(
                "/authorize?{}",
                lab.params(&client_id, &pkce().challenge).set("resource", crate::support::TWIN).query()
            ),
            &[("cookie", &cookies)],
        )
        .await;
    assert_eq!(twin.status, StatusCode::OK, "another resource needs the page again");
}

#[tokio::test]
async fn prompt_none_never_redirects_an_unauthenticated_user() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let response = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("prompt", "none")).await;
    // `as-open-redirect-silent`: the login page, not a 302 to the client.
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.location(), None);
}

#[tokio::test]
async fn expired_sign_in_pages_are_refused() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let page = open_page(&lab, &client_id).await;
    lab.clock.advance(601);
    let late = log_in(&lab, &page).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert_eq!(late.location(), None);
}

#[tokio::test]
async fn interactive_customer_cannot_approve_admin_scope() {
    let lab = Lab::new();
    let client_id = lab.register_public().await;
    let page = lab.authorize(&lab.params(&client_id, &pkce().challenge).set("scope", "mcp:admin")).await;
    assert_eq!(page.status, StatusCode::OK);
    let result = log_in(&lab, &page).await;
    assert_eq!(result.status, StatusCode::SEE_OTHER);
    assert_eq!(result.redirect_param("error").as_deref(), Some("invalid_scope"));
    assert_eq!(result.redirect_param("code"), None);
}

#[tokio::test]
async fn malformed_consent_posts_get_clear_errors() {
    let lab = Lab::new();
    assert_eq!(lab.post_form("/consent", &[]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        lab.post_form("/consent", &[("request_id", "nope"), ("csrf", "x")]).await.status,
        StatusCode::BAD_REQUEST
    );
    let invalid_utf8 =
        lab.post_raw("/consent", "application/x-www-form-urlencoded", b"request_id=%ff".to_vec(), &[]).await;
    assert_eq!(invalid_utf8.status, StatusCode::BAD_REQUEST);
    let huge = lab.post_raw("/consent", "application/x-www-form-urlencoded", vec![b'a'; 70 * 1024], &[]).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Issue 14, item 6: one client's flood of sign-in pages ends its own oldest pages, never another
/// client's, and an oversized `state` is refused before anything is stored.
#[tokio::test]
async fn open_sign_ins_are_capped_per_client() {
    let lab = Lab::new();
    let victim = lab.register_public().await;
    let victims_page = open_page(&lab, &victim).await;
    let flooder = lab.register_public().await;
    let first = open_page(&lab, &flooder).await;
    for _ in 0..100 {
        open_page(&lab, &flooder).await;
    }
    let expired = log_in(&lab, &first).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST, "the flooder's oldest page ended");
    assert!(expired.text().contains("expired"));
    let approved = log_in(&lab, &victims_page).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "another client's page is untouched");
    let huge = lab.authorize(&lab.params(&victim, &pkce().challenge).set("state", &"s".repeat(2049))).await;
    assert_eq!(huge.status, StatusCode::FOUND);
    assert_eq!(huge.redirect_param("error").as_deref(), Some("invalid_request"));
    assert_eq!(huge.redirect_param("state"), None, "an oversized state is not echoed");
}
