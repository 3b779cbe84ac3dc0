//! The HTML pages of the AS: login + consent, and the error page shown when the AS must not
//! redirect. Plain server-rendered HTML with one inline style sheet and no script, so the CSP can
//! forbid everything else.

use crate::http::escape_html;

const STYLE: &str = r#"
:root { color-scheme: light dark; --accent: #2557d6; --muted: #667085; --card: #ffffff; --bg: #f2f4f7; --line: #d0d5dd; }
@media (prefers-color-scheme: dark) { :root { --card: #1d2330; --bg: #11151c; --line: #344054; --muted: #98a2b3; --accent: #6b93ff; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); }
main { width: min(28rem, calc(100vw - 2rem)); background: var(--card); border: 1px solid var(--line);
  border-radius: 14px; padding: 1.75rem; box-shadow: 0 8px 24px rgba(16,24,40,.08); }
.brand { font-size: .8rem; letter-spacing: .06em; text-transform: uppercase; color: var(--muted); margin: 0 0 .75rem; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
p { margin: .25rem 0 .75rem; }
.muted { color: var(--muted); font-size: .9rem; }
ul.scopes { list-style: none; padding: 0; margin: .5rem 0 1rem; border: 1px solid var(--line); border-radius: 10px; }
ul.scopes li { padding: .55rem .8rem; border-top: 1px solid var(--line); }
ul.scopes li:first-child { border-top: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88em; }
dl { display: grid; grid-template-columns: auto 1fr; gap: .2rem .8rem; margin: 0 0 1rem; font-size: .9rem; }
dt { color: var(--muted); } dd { margin: 0; word-break: break-all; }
.warning { border-left: 4px solid #f79009; background: rgba(247,144,9,.1); padding: .5rem .75rem; border-radius: 6px; font-size: .9rem; }
.error { border-left: 4px solid #d92d20; background: rgba(217,45,32,.1); padding: .5rem .75rem; border-radius: 6px; }
label { display: block; font-size: .9rem; margin: .6rem 0 .2rem; }
input[type=text], input[type=password] { width: 100%; padding: .55rem .65rem; border: 1px solid var(--line);
  border-radius: 8px; font: inherit; background: transparent; color: inherit; }
.actions { display: flex; gap: .75rem; margin-top: 1.25rem; }
button { flex: 1; padding: .6rem; border-radius: 8px; font: inherit; font-weight: 600; cursor: pointer; border: 1px solid var(--line); background: transparent; color: inherit; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
"#;

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\
         <p class=\"brand\">MCP Auth Lab · authorization server</p>{body}</main></body></html>\n",
        escape_html(title)
    )
}

/// What the login + consent page shows.
pub(crate) struct ConsentPage<'a> {
    pub(crate) action: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) client_name: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) redirect_host: &'a str,
    /// The redirect's explicit port: on loopback the port is what tells one local program from
    /// another, so the user sees it (MCP security best practices: localhost redirect impersonation).
    pub(crate) redirect_port: Option<&'a str>,
    pub(crate) localhost_redirect: bool,
    /// How the AS knows the client: shown so the user can judge it (SBP Confused Deputy).
    pub(crate) client_origin: &'a str,
    pub(crate) scopes: &'a [&'a str],
    pub(crate) resources: &'a [String],
    /// `Some(user)` when a session already identifies the user: then no password is asked.
    pub(crate) signed_in_as: Option<&'a str>,
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
    pub(crate) known_users: &'a [&'a str],
}

fn scope_description(scope: &str) -> &'static str {
    match scope {
        "mcp:read" => "read the catalogue and your orders",
        "mcp:write" => "change things on your behalf: returns, your profile",
        "mcp:admin" => "administer the shop: inventory and promotions",
        _ => "an unknown permission",
    }
}

/// The login + consent page (AS-18: names the client, the scopes and the redirect host).
pub(crate) fn consent_page(page: &ConsentPage<'_>) -> String {
    let mut body = String::new();
    body.push_str(&format!("<h1>{} wants access to your account</h1>", escape_html(page.client_name)));
    body.push_str("<p class=\"muted\">Only continue if you started this from an application you trust.</p>");
    if let Some(error) = page.error {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(error)));
    }
    body.push_str("<p>It asks for permission to:</p><ul class=\"scopes\">");
    for scope in page.scopes {
        body.push_str(&format!(
            "<li><code>{}</code><br><span class=\"muted\">{}</span></li>",
            escape_html(scope),
            scope_description(scope)
        ));
    }
    body.push_str("</ul><dl>");
    body.push_str(&format!(
        "<dt>Client</dt><dd><code>{}</code><br><span class=\"muted\">{}</span></dd>",
        escape_html(page.client_id),
        escape_html(page.client_origin)
    ));
    body.push_str(&format!("<dt>Returns to</dt><dd><strong>{}</strong>", escape_html(page.redirect_host)));
    if let Some(port) = page.redirect_port {
        body.push_str(&format!(", port <strong>{}</strong>", escape_html(port)));
    }
    body.push_str("</dd>");
    for resource in page.resources {
        body.push_str(&format!("<dt>Server</dt><dd><code>{}</code></dd>", escape_html(resource)));
    }
    body.push_str("</dl>");
    if page.localhost_redirect {
        // MCP-1125 §Localhost Redirect URI Risks: any local program can listen on a loopback port.
        body.push_str(
            "<p class=\"warning\">This application receives the authorization on your own computer \
             (<strong>localhost</strong>). Any program running on this computer could be listening there: \
             approve only if you just started this sign-in yourself.</p>",
        );
    }
    body.push_str(&format!("<form method=\"post\" action=\"{}\">", escape_html(page.action)));
    body.push_str(&format!(
        "<input type=\"hidden\" name=\"request_id\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape_html(page.request_id),
        escape_html(page.csrf)
    ));
    match page.signed_in_as {
        Some(user) => body.push_str(&format!("<p>Signed in as <strong>{}</strong>.</p>", escape_html(user))),
        None => {
            body.push_str(&format!(
                "<label for=\"username\">User name</label>\
                 <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" value=\"{}\" required>\
                 <label for=\"password\">Password</label>\
                 <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>",
                escape_html(page.login_hint.unwrap_or(""))
            ));
            body.push_str(&format!(
                "<p class=\"muted\">Lab users: {}. Their passwords are in the README.</p>",
                page.known_users
                    .iter()
                    .map(|user| format!("<code>{}</code>", escape_html(user)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    body.push_str(
        "<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Deny</button>\
         <button class=\"primary\" type=\"submit\" name=\"action\" value=\"approve\">Approve</button></div></form>",
    );
    layout(&format!("Authorize {}", page.client_name), &body)
}

/// The page shown instead of a redirect when the client or the redirect URI cannot be trusted
/// (O21 §4.1.2.1: inform the resource owner, never redirect automatically).
pub(crate) fn error_page(error_code: &str, description: &str) -> String {
    let body = format!(
        "<h1>This sign-in request cannot continue</h1>\
         <p class=\"error\" role=\"alert\">{}</p>\
         <p class=\"muted\">Error code <code>{}</code>. You were not sent back to the application because \
         the request could not be verified. Close this page and start again from the application.</p>",
        escape_html(description),
        escape_html(error_code)
    );
    layout("Sign-in error", &body)
}
