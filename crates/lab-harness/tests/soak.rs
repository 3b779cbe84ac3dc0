//! Proof under load (issue 14): the lab on loopback over TLS, 200 concurrent connections against
//! the RS and the AS for 30 s each, then the same beside floods of the abuses the lab bounds.
//! Honest callers must keep getting answers (the lab's documented 429s apart), and resident memory
//! must level off. Not part of the default test run (it takes a few minutes): `cargo xtask soak`.
//!
//! Memory is this process's resident set: the lab and the load it is under run in one process,
//! so the load's own (bounded) memory is included.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use lab_harness::{LabConfig, RunningLab, start};
use lab_proto::pkce::{generate_verifier, s256_challenge};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONNECTIONS: usize = 200;
const PHASE: Duration = Duration::from_secs(30);
const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";
const ACCEPT: &str = "application/json, text/event-stream";

/// This process's resident set, in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A client with one connection of its own.
fn client(lab: &RunningLab) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(lab.ca_pem().as_bytes())?])
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(20))
        .build()?)
}

/// What the load saw: answers by kind.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
}

impl Tally {
    fn count(&self, status: Result<StatusCode, reqwest::Error>) {
        match status {
            Ok(status) if status.is_success() => self.ok.fetch_add(1, Ordering::Relaxed),
            Ok(StatusCode::TOO_MANY_REQUESTS) => self.throttled.fetch_add(1, Ordering::Relaxed),
            _ => self.errors.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn line(&self) -> String {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!("{} ok, {} throttled (429), {} errors", load(&self.ok), load(&self.throttled), load(&self.errors))
    }
}

/// The value of the hidden form field `name` of a sign-in page.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

/// The authorization request of the lab's public client, with `state`.
async fn open_sign_in(
    lab: &RunningLab,
    http: &reqwest::Client,
    client_id: &str,
    state: &str,
    challenge: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    http.get(format!("{}/authorize", lab.issuer()))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "mcp:read"),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", lab.resource()),
        ])
        .send()
        .await
}

/// Submits a sign-in page as `user` with `password`; returns the answer.
async fn sign_in(
    lab: &RunningLab,
    http: &reqwest::Client,
    page: reqwest::Response,
    user: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Host-lab_csrf="))
        .and_then(|value| value.split(';').next())
        .context("no CSRF cookie")?
        .to_owned();
    let html = page.text().await?;
    let (request_id, csrf) =
        (hidden(&html, "request_id").context("no request id")?, hidden(&html, "csrf").context("no csrf")?);
    Ok(http
        .post(format!("{}/consent", lab.issuer()))
        .header("cookie", cookie)
        .form(&[
            ("request_id", request_id.as_str()),
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
            ("action", "approve"),
        ])
        .send()
        .await?)
}

/// A user's access token for the RS through the public client `client_id`, signed in on the
/// consent page.
async fn user_token(lab: &RunningLab, http: &reqwest::Client, client_id: &str, user: &str) -> anyhow::Result<String> {
    let verifier = generate_verifier()?;
    let page = open_sign_in(lab, http, client_id, "soak-state", &s256_challenge(verifier.secret())).await?;
    let approved = sign_in(lab, http, page, user, &format!("{user}-pass")).await?;
    ensure!(approved.status() == StatusCode::SEE_OTHER, "sign-in as {user} answered {}", approved.status());
    let location = approved.headers().get("location").context("no redirect")?.to_str()?.to_owned();
    let code = url::Url::parse(&location)?
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .context("no code")?;
    let tokens: Value = http
        .post(format!("{}/token", lab.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier.secret()),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("resource", lab.resource()),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(tokens["access_token"].as_str().context("no access token")?.to_owned())
}

/// An MCP session of `token`'s principal.
async fn session(lab: &RunningLab, http: &reqwest::Client, token: &str) -> anyhow::Result<String> {
    let answer = http
        .post(lab.resource())
        .header("accept", ACCEPT)
        .bearer_auth(token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "soak", "version": "0"}}}))
        .send()
        .await?;
    Ok(answer.headers().get("mcp-session-id").context("no session")?.to_str()?.to_owned())
}

async fn tool_call(
    lab: &RunningLab,
    http: &reqwest::Client,
    token: &str,
    session: &str,
    round: u64,
) -> Result<StatusCode, reqwest::Error> {
    let message = if round.is_multiple_of(2) {
        json!({"jsonrpc": "2.0", "id": round, "method": "tools/list"})
    } else {
        json!({"jsonrpc": "2.0", "id": round, "method": "tools/call", "params": {"name": "get_categories", "arguments": {}}})
    };
    http.post(lab.resource())
        .header("accept", ACCEPT)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(token)
        .json(&message)
        .send()
        .await
        .map(|answer| answer.status())
}

async fn client_credentials(lab: &RunningLab, http: &reqwest::Client) -> Result<reqwest::Response, reqwest::Error> {
    http.post(format!("{}/token", lab.issuer()))
        .basic_auth("lab-confidential-client", Some("lab-confidential-secret"))
        .form(&[("grant_type", "client_credentials"), ("resource", lab.resource())])
        .send()
        .await
}

/// Samples the resident set every second while `running`.
fn sample_memory(running: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        while running.load(Ordering::Relaxed) {
            samples.push(resident_kib());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        samples
    })
}

/// Growth of the resident set over the second half of `samples`, as a fraction.
fn second_half_growth(samples: &[u64]) -> f64 {
    let middle = samples[samples.len() / 2] as f64;
    let end = samples.iter().rev().take(3).copied().max().unwrap_or(0) as f64;
    (end - middle) / middle
}

/// Runs `CONNECTIONS` workers for a phase, each calling `work` in a loop with its own client.
async fn phase<F, Fut>(lab: &Arc<RunningLab>, work: F) -> anyhow::Result<Vec<u64>>
where
    F: Fn(Arc<RunningLab>, reqwest::Client, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let work = Arc::new(work);
    let running = Arc::new(AtomicBool::new(true));
    let memory = sample_memory(running.clone());
    let until = tokio::time::Instant::now() + PHASE;
    let mut workers = Vec::new();
    for worker in 0..CONNECTIONS {
        let (lab, work, http) = (lab.clone(), work.clone(), client(lab)?);
        workers.push(tokio::spawn(async move {
            let mut round = worker as u64;
            while tokio::time::Instant::now() < until {
                work(lab.clone(), http.clone(), round).await;
                round += CONNECTIONS as u64;
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    running.store(false, Ordering::Relaxed);
    Ok(memory.await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_load_then_abuse_beside_honest_callers() -> anyhow::Result<()> {
    // The lab as people run it: every sign-in through the consent page.
    let lab = Arc::new(start(LabConfig::ephemeral()).await?);
    let setup = client(&lab)?;
    // Three principals, 20 sessions each (under the RS's 64 per principal), shared by the workers.
    let mut sessions = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let token = user_token(&lab, &setup, "lab-public-client", user).await?;
        for _ in 0..20 {
            sessions.push((token.clone(), session(&lab, &setup, &token).await?));
        }
    }
    let sessions = Arc::new(sessions);

    // 1. Honest load on the RS: authenticated tools/list and tools/call.
    let tally = Arc::new(Tally::default());
    let (rs_tally, rs_sessions) = (tally.clone(), sessions.clone());
    let memory = phase(&lab, move |lab, http, round| {
        let (tally, sessions) = (rs_tally.clone(), rs_sessions.clone());
        async move {
            let (token, session) = &sessions[round as usize % sessions.len()];
            tally.count(tool_call(&lab, &http, token, session, round).await);
        }
    })
    .await?;
    println!("RS load: {}; resident set {:?} KiB", tally.line(), memory);
    ensure!(tally.errors.load(Ordering::Relaxed) == 0, "RS load: {}", tally.line());
    ensure!(tally.ok.load(Ordering::Relaxed) > 0);
    let growth = second_half_growth(&memory);
    ensure!(growth < 0.10, "RS load: the resident set grew {:.1} % over the second half", growth * 100.0);

    // 2. Honest load on the AS: client-credentials token requests.
    let tally = Arc::new(Tally::default());
    let as_tally = tally.clone();
    let memory = phase(&lab, move |lab, http, _| {
        let tally = as_tally.clone();
        async move { tally.count(client_credentials(&lab, &http).await.map(|answer| answer.status())) }
    })
    .await?;
    println!("AS load: {}; resident set {:?} KiB", tally.line(), memory);
    ensure!(tally.errors.load(Ordering::Relaxed) == 0, "AS load: {}", tally.line());
    ensure!(tally.ok.load(Ordering::Relaxed) > 0, "AS load: nothing issued");
    let growth = second_half_growth(&memory);
    ensure!(growth < 0.10, "AS load: the resident set grew {:.1} % over the second half", growth * 100.0);

    // 3. Abuse beside honest callers: floods of bad codes in a public client's name (items 4
    //    and 5), client-credentials grants revoked in bulk (items 3 and 8), sign-in pages with a
    //    long state (item 6), guessed passwords (item 10) and sessions opened by one principal
    //    (item 13); alice keeps calling a tool and bob's sign-ins keep completing.
    let honest = Arc::new(Tally::default());
    let alices = Arc::new(Tally::default());
    let abuse = Arc::new(Tally::default());
    // The honest sign-ins use a client of their own: the floods name the lab's public client, and
    // on loopback the lab cannot tell one local caller from another (README: limits).
    let registered: Value = setup
        .post(format!("{}/register", lab.issuer()))
        .json(&json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none", "client_name": "honest"}))
        .send()
        .await?
        .json()
        .await?;
    let honest_client_in = registered["client_id"].as_str().context("no client id")?.to_owned();
    // alice is honest; carol floods sessions of her own.
    let (honest_in, alices_in, abuse_in, alice, carol) =
        (honest.clone(), alices.clone(), abuse.clone(), sessions[0].clone(), sessions[40].0.clone());
    let memory = phase(&lab, move |lab, http, round| {
        let (honest, alices, abuse, alice, carol) =
            (honest_in.clone(), alices_in.clone(), abuse_in.clone(), alice.clone(), carol.clone());
        let honest_client = honest_client_in.clone();
        async move {
            // The honest callers, one worker each: alice calls a tool in her session well under
            // her rate limit, and bob signs in through a client of his own again and again.
            if round % CONNECTIONS as u64 == 0 {
                // `round / CONNECTIONS` alternates tools/list and tools/call for this one worker.
                alices.count(tool_call(&lab, &http, &alice.0, &alice.1, round / CONNECTIONS as u64).await);
                tokio::time::sleep(Duration::from_millis(300)).await;
                return;
            }
            match round % 50 {
                0 => abuse.count(tool_call(&lab, &http, &carol, "no-such-session", round).await.map(|status| {
                    // Another principal's flood beside alice: a made-up session is 404.
                    if status == StatusCode::NOT_FOUND { StatusCode::OK } else { status }
                })),
                1 => {
                    let flow = user_token(&lab, &http, &honest_client, "bob").await;
                    honest.count(Ok(if flow.is_ok() { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR }));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                2..=15 => {
                    let bad_code = lab_proto::random_token(32).unwrap_or_default();
                    let answer = http
                        .post(format!("{}/token", lab.issuer()))
                        .form(&[
                            ("grant_type", "authorization_code"),
                            ("code", bad_code.as_str()),
                            ("code_verifier", "x".repeat(43).as_str()),
                            ("client_id", "lab-public-client"),
                        ])
                        .send()
                        .await;
                    abuse.count(answer.map(|answer| if answer.status() == 400 { StatusCode::OK } else { answer.status() }));
                }
                16..=30 => {
                    // A grant, then its token revoked: the AS's stores and the RS's list fill.
                    let issued = client_credentials(&lab, &http).await;
                    let token = match issued {
                        Ok(answer) => answer.json::<Value>().await.ok().and_then(|tokens| tokens["access_token"].as_str().map(str::to_owned)),
                        Err(_) => None,
                    };
                    let Some(token) = token else {
                        abuse.count(Ok(StatusCode::INTERNAL_SERVER_ERROR));
                        return;
                    };
                    let revoked = http
                        .post(format!("{}/revoke", lab.issuer()))
                        .basic_auth("lab-confidential-client", Some("lab-confidential-secret"))
                        .form(&[("token", token.as_str())])
                        .send()
                        .await;
                    abuse.count(revoked.map(|answer| answer.status()));
                }
                31..=36 => {
                    // Sign-in pages held open, each with a 2 KiB state (item 6).
                    let challenge = s256_challenge(&lab_proto::random_token(32).unwrap_or_default());
                    let opened = open_sign_in(&lab, &http, "lab-public-client", &"s".repeat(2048), &challenge).await;
                    abuse.count(opened.map(|answer| answer.status()));
                }
                37..=40 => {
                    // Passwords guessed for carol (item 10): refused, then throttled.
                    let challenge = s256_challenge(&lab_proto::random_token(32).unwrap_or_default());
                    let Ok(page) = open_sign_in(&lab, &http, "lab-public-client", "guess", &challenge).await else {
                        abuse.count(Ok(StatusCode::INTERNAL_SERVER_ERROR));
                        return;
                    };
                    let guessed = sign_in(&lab, &http, page, "carol", "guess").await;
                    abuse.count(Ok(match guessed {
                        Ok(answer) if answer.status() == StatusCode::UNAUTHORIZED => StatusCode::OK,
                        Ok(answer) => answer.status(),
                        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    }));
                }
                _ => {
                    let opened = http
                        .post(lab.resource())
                        .header("accept", ACCEPT)
                        .bearer_auth(&carol)
                        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "flood", "version": "0"}}}))
                        .send()
                        .await;
                    abuse.count(opened.map(|answer| answer.status()));
                }
            }
        }
    })
    .await?;
    println!(
        "abuse: alice {}; bob's sign-ins {}; abusers {}; resident set {:?} KiB",
        alices.line(),
        honest.line(),
        abuse.line(),
        memory
    );
    // alice stays under her own rate: every call of hers is answered, none throttled.
    ensure!(alices.errors.load(Ordering::Relaxed) == 0, "alice beside the abuse: {}", alices.line());
    ensure!(alices.throttled.load(Ordering::Relaxed) == 0, "alice was throttled: {}", alices.line());
    ensure!(alices.ok.load(Ordering::Relaxed) > 0, "alice was served: {}", alices.line());
    ensure!(honest.errors.load(Ordering::Relaxed) == 0, "bob's sign-ins beside the abuse: {}", honest.line());
    ensure!(honest.ok.load(Ordering::Relaxed) > 0, "bob signed in: {}", honest.line());
    // Every abuse got the answer the lab documents for it (a refusal, a 429, a page).
    ensure!(abuse.errors.load(Ordering::Relaxed) == 0, "abusers: {}", abuse.line());
    ensure!(abuse.ok.load(Ordering::Relaxed) > 1_000, "the floods happened: {}", abuse.line());
    let peak = memory.iter().copied().max().unwrap_or(0);
    // The caps imply under 300 MiB of the stores at their fullest (README: limits); with the
    // load's own clients, 512 MiB.
    ensure!(peak < 512 * 1024, "the resident set reached {peak} KiB under abuse");
    Ok(())
}
