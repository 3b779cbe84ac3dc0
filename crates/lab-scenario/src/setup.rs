//! Setting a run up: the lab it starts (on loopback port 0), the HTTP client it sends with, and
//! the `${variables}` its steps start from (the lab's URLs, or what a third-party target names).

use std::time::Duration;

use lab_harness::{LabConfig, RunningLab, VerifyMode};

use crate::error::RunError;
use crate::schema::{LabSetup, Scenario};
use crate::target::{REDIRECT_URI, Target};
use crate::vars::Vars;

/// Starts the lab `scenario` asks for; against a third-party RS alone it also trusts that server
/// at a fixed issuer.
pub(crate) async fn start_lab(id: &str, scenario: &Scenario, target: &Target) -> Result<RunningLab, RunError> {
    lab_harness::start(lab_config(&scenario.lab, target))
        .await
        .map_err(|source| RunError::StartLab { id: id.to_owned(), source })
}

/// The lab configuration of a scenario's `[lab]` table, whose names the loader already parsed.
fn lab_config(setup: &LabSetup, target: &Target) -> LabConfig {
    let mut config = LabConfig::ephemeral();
    if let Some(url) = &target.rs_url
        && target.as_issuer.is_none()
    {
        // The third-party server trusts the lab AS at a fixed issuer, with the CA it was given.
        config.as_port = target.as_port;
        config.cert_dir = target.cert_dir.clone();
        // That server serves the folder's leaf: nothing there is rewritten during the run.
        config.cert_dir_read_only = true;
        config.extra_resources = vec![url.clone()];
    }
    config.profile = setup.as_profile.unwrap_or_default();
    config.rs_profile = setup.rs_profile.unwrap_or_default();
    config.signing_alg = setup.signing_alg.unwrap_or_default();
    config.verify = setup.verify.unwrap_or(VerifyMode::Jwt);
    config.anonymous_public = setup.anonymous_public;
    config.auto_approve =
        if setup.interactive { None } else { Some(setup.auto_approve.clone().unwrap_or_else(|| "alice".to_owned())) };
    config.rs_uses_path_issuer = setup.rs_trusts_tenant();
    config
}

/// The runner's HTTP client: no redirects followed (a redirect is an answer to judge), no proxy,
/// a timeout, and the lab CA (with the third party's CA or the platform roots where one is tested).
pub(crate) fn http_client(id: &str, lab: &RunningLab, target: &Target) -> Result<reqwest::Client, RunError> {
    let certs: Vec<reqwest::Certificate> = std::iter::once(lab.ca_pem().as_bytes().to_vec())
        .chain(target.rs_ca_pem.clone())
        .filter_map(|pem| reqwest::Certificate::from_pem(&pem).ok())
        .collect();
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15));
    // A third-party AS may have a public certificate: the platform's roots are trusted beside the
    // lab CA and `--ca` then; the lab's own runs trust the lab CA alone.
    let mut builder =
        if target.as_issuer.is_some() { builder.tls_certs_merge(certs) } else { builder.tls_certs_only(certs) };
    if target.is_external() {
        // A third-party server may answer on another HTTP version; nothing else changes.
        builder = builder.pool_max_idle_per_host(4);
    }
    builder.build().map_err(|source| RunError::HttpClient { id: id.to_owned(), source })
}

/// The lab AS's endpoints by their RFC 8414 metadata names, each replaced by what a third-party
/// AS's metadata names.
const ENDPOINTS: [(&str, &str); 6] = [
    ("authorization_endpoint", "/authorize"),
    ("token_endpoint", "/token"),
    ("registration_endpoint", "/register"),
    ("revocation_endpoint", "/revoke"),
    ("introspection_endpoint", "/introspect"),
    ("jwks_uri", "/jwks"),
];

/// The variables a run starts with.
pub(crate) fn initial_vars(scenario: &Scenario, lab: &RunningLab, target: &Target) -> Vars {
    let mut vars = Vars::default();
    let rs_issuer = if scenario.lab.rs_trusts_tenant() { lab.path_issuer() } else { lab.issuer() };
    for (name, value) in [
        ("issuer", lab.issuer().to_owned()),
        ("tenant_issuer", lab.path_issuer().to_owned()),
        ("rs_issuer", rs_issuer.to_owned()),
        ("resource", lab.resource().to_owned()),
        ("twin_resource", lab.twin_resource().to_owned()),
        ("prm", lab.resource_metadata_url()),
        ("upstream", lab.upstream_url().to_owned()),
        ("canary", lab.canary().url()),
        ("canary_host", lab.canary().addr().to_string()),
        ("cimd", lab.client_metadata_document()),
        ("cimd_origin", format!("https://{}", lab.cimd_addr())),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("rs_origin", format!("https://{}", lab.rs_addr())),
        ("rs_host", lab.rs_addr().to_string()),
    ] {
        vars.set(name, value);
    }
    for (name, path) in ENDPOINTS {
        vars.set(name, format!("{}{path}", lab.issuer()));
    }
    if let Some(issuer) = &target.as_issuer {
        for name in ["issuer", "rs_issuer"] {
            vars.set(name, issuer.clone());
        }
        let metadata = target.as_metadata.as_ref();
        for (name, path) in ENDPOINTS {
            let named = metadata.and_then(|metadata| match name {
                "authorization_endpoint" => metadata.authorization_endpoint.clone(),
                "token_endpoint" => metadata.token_endpoint.clone(),
                "registration_endpoint" => metadata.registration_endpoint.clone(),
                "revocation_endpoint" => metadata.revocation_endpoint.clone(),
                "introspection_endpoint" => metadata.introspection_endpoint.clone(),
                _ => metadata.jwks_uri.clone(),
            });
            vars.set(name, named.unwrap_or_else(|| format!("{issuer}{path}")));
        }
    }
    // RFC 8414 §3.1 and OIDCD §4: where the issuer's metadata documents are (path insertion), so
    // an issuer with a path or a terminating `/` finds them where a client would.
    let issuer = vars.get("issuer").unwrap_or_default().to_owned();
    let metadata_urls = lab_proto::metadata::authorization_server_metadata_urls(&issuer);
    for (name, index) in [("as_metadata_url", 0), ("oidc_metadata_url", 1)] {
        vars.set(name, metadata_urls.get(index).cloned().unwrap_or_default());
    }
    vars.set(
        "public_client",
        target.client_id.clone().unwrap_or_else(|| lab_auth_server::config::lab::PUBLIC_CLIENT_ID.to_owned()),
    );
    let (confidential_id, confidential_secret) = match &target.confidential_client {
        Some(client) => (client.id.clone(), client.secret().to_owned()),
        None => (
            lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_ID.to_owned(),
            lab_auth_server::config::lab::CONFIDENTIAL_CLIENT_SECRET.to_owned(),
        ),
    };
    vars.set("confidential_client", confidential_id);
    vars.set("confidential_secret", confidential_secret);
    if let Some(uri) = &target.redirect_uri {
        vars.set("redirect_uri", uri.clone());
    }
    if let (Some(_), Some(second)) = (&target.as_issuer, &target.second_resource) {
        vars.set("twin_resource", second.clone());
    }
    if let (None, Some(resource)) = (&target.rs_url, &target.resource) {
        vars.set("resource", resource.clone());
    }
    if let Some(url) = &target.rs_url {
        let (origin, _) = lab_proto::metadata::split_origin_path(url);
        vars.set("resource", url.clone());
        vars.set("prm", lab_proto::metadata::protected_resource_metadata_url(url));
        vars.set("rs_origin", origin.to_owned());
        vars.set("rs_host", origin.split_once("://").map_or(origin, |(_, host)| host).to_owned());
    }
    vars
}
