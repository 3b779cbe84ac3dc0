//! The lab's own servers under concurrency and abuse (issue 14): what holds when many callers
//! race, flood or misbehave at once, over real TLS on loopback.

use anyhow::{Context, ensure};
use lab_harness::{LabConfig, RunningLab};
use lab_proto::pkce::{generate_verifier, s256_challenge};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{REDIRECT_URI, authorize, code_from, lab_with, redeem, register_public_client};

/// How many callers race in each round, and how many rounds: the race this guards against was
/// seen once in 30 rounds of four, so many rounds of eight make it near certain to show.
const RACERS: usize = 8;
const ROUNDS: usize = 12;

async fn alice_lab() -> anyhow::Result<RunningLab> {
    lab_with(LabConfig { auto_approve: Some("alice".to_owned()), ..LabConfig::ephemeral() }).await
}

/// `POST /token` with `form` from a client of its own (its own connection), returning the status
/// and the JSON body.
async fn token_request(lab: &RunningLab, form: Vec<(&'static str, String)>) -> anyhow::Result<(StatusCode, Value)> {
    let client = lab.http_client()?;
    let response = client.post(format!("{}/token", lab.issuer())).form(&form).send().await?;
    let status = response.status();
    Ok((status, response.json().await.context("token response is not JSON")?))
}

/// Whether the lab RS serves `token` (an `initialize`), or refuses it with 401.
async fn rs_accepts(lab: &RunningLab, token: &str) -> anyhow::Result<bool> {
    match crate::rs_status(lab, token).await? {
        StatusCode::OK => Ok(true),
        StatusCode::UNAUTHORIZED => Ok(false),
        other => anyhow::bail!("the RS answered {other}"),
    }
}

/// Runs `RACERS` copies of one token request at once, on a multi-threaded runtime, each on its
/// own connection, and returns the answers.
async fn race(lab: &RunningLab, form: Vec<(&'static str, String)>) -> anyhow::Result<Vec<(StatusCode, Value)>> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let (lab_issuer, form, barrier) = (lab.issuer().to_owned(), form.clone(), barrier.clone());
        let client = lab.http_client()?;
        tasks.push(tokio::spawn(async move {
            // The connection is opened before the barrier, so the requests leave together.
            client.get(format!("{lab_issuer}/.well-known/oauth-authorization-server")).send().await?;
            barrier.wait().await;
            let response = client.post(format!("{lab_issuer}/token")).form(&form).send().await?;
            let status = response.status();
            anyhow::Ok((status, response.json::<Value>().await?))
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await??);
    }
    Ok(answers)
}

/// A newly registered public client, a code for it and the code's verifier. A client per round:
/// each round's losers count as failures against their client.
async fn fresh_code(
    lab: &RunningLab,
    client: &reqwest::Client,
) -> anyhow::Result<(String, String, lab_proto::PkceVerifier)> {
    let client_id = register_public_client(lab, client).await?;
    let verifier = generate_verifier()?;
    let code = code_from(lab, &authorize(lab, client, &client_id, &s256_challenge(verifier.secret())).await?)?;
    Ok((client_id, code, verifier))
}

/// O21 §4.1.3 ("a single use"), AS-27: of many concurrent redemptions of one code exactly one
/// gets tokens, every other is `invalid_grant`, and, being a replay of a valid redemption, revokes
/// what the winner got.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_code_yield_tokens_once() -> anyhow::Result<()> {
    let lab = alice_lab().await?;
    let client = lab.http_client()?;
    for round in 0..ROUNDS {
        let (client_id, code, verifier) = fresh_code(&lab, &client).await?;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("code_verifier", verifier.secret().to_owned()),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("resource", lab.resource().to_owned()),
        ];
        let answers = race(&lab, form).await?;
        let winners: Vec<_> = answers.iter().filter(|(status, _)| *status == StatusCode::OK).collect();
        ensure!(winners.len() == 1, "round {round}: {} redemptions got tokens", winners.len());
        for (status, body) in answers.iter().filter(|(status, _)| *status != StatusCode::OK) {
            ensure!(*status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant", "round {round}: {body}");
        }
        let token = winners[0].1["access_token"].as_str().context("no access_token")?;
        ensure!(!rs_accepts(&lab, token).await?, "round {round}: the replay did not revoke the winner's token");
    }
    lab.shutdown().await;
    Ok(())
}

/// O21 §4.3.1, RFC 9700 §4.14.2: of many concurrent refreshes of one refresh token exactly one
/// gets a successor; the others are reuse of a rotated token, which revokes the whole grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_rotate_once() -> anyhow::Result<()> {
    let lab = alice_lab().await?;
    let client = lab.http_client()?;
    for round in 0..ROUNDS {
        let (client_id, code, verifier) = fresh_code(&lab, &client).await?;
        let tokens = redeem(&lab, &client, &client_id, &code, verifier.secret()).await?;
        let refresh = tokens["refresh_token"].as_str().context("no refresh_token")?.to_owned();
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh),
            ("client_id", client_id.clone()),
            ("resource", lab.resource().to_owned()),
        ];
        let answers = race(&lab, form).await?;
        let winners: Vec<_> = answers.iter().filter(|(status, _)| *status == StatusCode::OK).collect();
        ensure!(winners.len() == 1, "round {round}: {} refreshes got a successor", winners.len());
        // The reuse revoked the family: the winner's successor is dead too.
        let successor = winners[0].1["refresh_token"].as_str().context("no refresh_token")?.to_owned();
        let (status, body) = token_request(
            &lab,
            vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", successor), ("client_id", client_id)],
        )
        .await?;
        ensure!(status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant", "round {round}: {body}");
        let token = winners[0].1["access_token"].as_str().context("no access_token")?;
        ensure!(!rs_accepts(&lab, token).await?, "round {round}: the winner's access token outlived the reuse");
    }
    lab.shutdown().await;
    Ok(())
}

/// Issue 14, item 12: a connection that never completes its handshake is dropped at the handshake
/// timeout, one over the cap is dropped at once, a request that outlasts its deadline gets 408, and
/// other callers are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_slow_and_surplus_connections_are_dropped_while_others_are_served() -> anyhow::Result<()> {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use lab_harness::{ConnectionLimits, TlsHost, bind_loopback};
    use tokio::io::AsyncReadExt as _;
    use tokio::net::TcpStream;

    let ca = lab_pki::LabCa::generate()?;
    let tls = ca.issue_lab_leaf()?.server_config(&ca)?;
    // The idle connections must outlive the steps before the surplus one on a loaded machine, so
    // the handshake timeout is a few seconds, not a few hundred milliseconds.
    let limits = ConnectionLimits {
        handshake: Duration::from_secs(5),
        first_request: Duration::from_secs(5),
        header_read: Duration::from_secs(5),
        request: Duration::from_millis(500),
        max_connections: 3,
    };
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let host = TlsHost::serve_with(bind_loopback(0, "limits test")?, router, tls, "limits test", limits)?;
    // A client that keeps no connection open after its answer, so only the idle ones hold permits.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?])
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?;
    // Whether the server closes `stream` within `within`.
    async fn closed(stream: &mut TcpStream, within: Duration) -> bool {
        let mut byte = [0_u8; 1];
        matches!(tokio::time::timeout(within, stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }
    let settle = || tokio::time::sleep(Duration::from_millis(200));

    let mut idle = vec![TcpStream::connect(host.addr()).await?, TcpStream::connect(host.addr()).await?];
    settle().await;
    let answer = client.get(host.url("/")).send().await?;
    ensure!(answer.status() == StatusCode::OK, "served beside two idle connections: {}", answer.status());
    settle().await;
    idle.push(TcpStream::connect(host.addr()).await?);
    settle().await;
    let mut surplus = TcpStream::connect(host.addr()).await?;
    ensure!(closed(&mut surplus, Duration::from_millis(500)).await, "a fourth connection over the cap of 3 is dropped");
    for stream in &mut idle {
        ensure!(closed(stream, Duration::from_secs(10)).await, "an idle connection outlived the handshake timeout");
    }
    let answer = client.get(host.url("/slow")).send().await?;
    ensure!(answer.status() == StatusCode::REQUEST_TIMEOUT, "a slow request got {}", answer.status());
    let answer = client.get(host.url("/")).send().await?;
    ensure!(answer.status() == StatusCode::OK);
    host.shutdown().await;
    Ok(())
}

/// Issue 14, faults: the RS's JWT verifier, fetching the JWKS over TLS from an endpoint that goes
/// down, answers garbage or answers slowly, keeps verifying with the keys it has and refuses an
/// unknown `kid` without hanging; the AS rotating its key under load fails no honest token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rs_rides_out_a_failing_jwks_and_a_key_rotation() -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use lab_mcp_server::verify::{Checks, JwtVerifier};

    const OK: u8 = 0;
    const DOWN: u8 = 1;
    const GARBAGE: u8 = 2;
    const SLOW: u8 = 3;
    let clock = lab_proto::Clock::frozen(1_800_000_000);
    let lab = lab_with(LabConfig { clock: clock.clone(), ..LabConfig::ephemeral() }).await?;
    // The JWKS endpoint the RS is pointed at: the AS's keys, or one of the faults.
    let mode = Arc::new(AtomicU8::new(OK));
    let (auth, served_mode) = (lab.auth_server().clone(), mode.clone());
    let router = Router::new().route(
        "/jwks",
        get(move || {
            let (auth, mode) = (auth.clone(), served_mode.clone());
            async move {
                match mode.load(Ordering::Relaxed) {
                    DOWN => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    GARBAGE => "{\"keys\": [{\"kty\": \"EC\", \"crv\": ".into_response(),
                    SLOW => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        axum::Json(auth.jwks()).into_response()
                    }
                    _ => axum::Json(auth.jwks()).into_response(),
                }
            }
        }),
    );
    let jwks_host = lab.start_helper_host(router)?;
    let source = lab_mcp_server::HttpKeySource::new(lab.http_client()?, jwks_host.url("/jwks"));
    let verifier = Arc::new(JwtVerifier::new(
        lab.issuer().to_owned(),
        lab.resource().to_owned(),
        30,
        clock.clone(),
        Arc::new(source),
    ));
    let claims = |sub: &str| {
        let now = clock.now();
        json!({"iss": lab.issuer(), "sub": sub, "aud": lab.resource(), "exp": now + 300, "iat": now, "nbf": now,
               "jti": lab_proto::random_token(12).unwrap_or_default(), "client_id": "lab-public-client", "scope": "mcp:read"})
    };
    let mint = |sub: &str| lab.auth_server().mint_jwt("at+jwt", &claims(sub));
    // A token under a kid nobody published, which makes the verifier try the JWKS again.
    let stranger = lab_auth_server::keys::SigningKey::generate(lab_auth_server::SigningAlg::Es256)?;
    // Each verification must end, whatever the endpoint does (the fetch's own timeout is 5 s).
    let verify = |token: String| {
        let verifier = &verifier;
        async move {
            tokio::time::timeout(Duration::from_secs(20), verifier.verify(&token, Checks::STRICT))
                .await
                .map_err(|_| anyhow::anyhow!("a verification hung"))
        }
    };

    ensure!(verify(mint("alice")?).await?.is_ok(), "the JWKS is fetched and the token verified");
    for fault in [DOWN, GARBAGE, SLOW] {
        mode.store(fault, Ordering::Relaxed);
        // Past the refetch guard, so the unknown kid makes the verifier fetch the faulty JWKS.
        clock.advance(lab_mcp_server::MIN_REFETCH_SECONDS as i64);
        let fetches = verifier.jwks_fetches();
        let refused = verify(stranger.sign_jwt("at+jwt", &claims("mallory"))?).await?;
        ensure!(refused.is_err(), "fault {fault}: a token of an unknown key was accepted");
        ensure!(verifier.jwks_fetches() == fetches + 1, "fault {fault}: the faulty JWKS was fetched");
        // The failed fetch left the keys the verifier had: a token with a header never seen before
        // (so not answered from the header cache) is verified with them.
        let header = std::collections::BTreeMap::from([("x-fault".to_owned(), json!(fault))]);
        let fresh = lab.auth_server().mint_jwt_with_header("at+jwt", &header, &claims("bob"))?;
        ensure!(verify(fresh).await?.is_ok(), "fault {fault}: a new token of a known key is verified");
    }
    mode.store(OK, Ordering::Relaxed);

    // The AS rotates its key while honest tokens keep coming: eight callers mint and verify tokens
    // without pause while the new key is published, then starts signing. It is published before
    // it signs, so not one of their tokens is refused.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..8 {
        let (verifier, auth, stop, clock) = (verifier.clone(), lab.auth_server().clone(), stop.clone(), clock.clone());
        let (issuer, resource) = (lab.issuer().to_owned(), lab.resource().to_owned());
        callers.push(tokio::spawn(async move {
            let (mut verified, mut of_new_keys) = (0_u32, 0_u32);
            let first_kid = {
                let jwks = auth.jwks();
                jwks["keys"][0]["kid"].as_str().unwrap_or_default().to_owned()
            };
            while !stop.load(Ordering::Relaxed) {
                let now = clock.now();
                let token = auth.mint_jwt(
                    "at+jwt",
                    &json!({"iss": issuer, "sub": "alice", "aud": resource,
                    "exp": now + 300, "iat": now, "nbf": now, "jti": format!("c{caller}-{verified}"),
                    "client_id": "lab-public-client", "scope": "mcp:read"}),
                )?;
                verifier
                    .verify(&token, Checks::STRICT)
                    .await
                    .map_err(|error| anyhow::anyhow!("caller {caller}: {error}"))?;
                verified += 1;
                let header =
                    lab_proto::jose::split_compact(&token).map(|parts| parts.header.to_owned()).unwrap_or_default();
                let kid = lab_proto::jose::decode_json::<Value>(&header)
                    .ok()
                    .and_then(|header| header["kid"].as_str().map(str::to_owned));
                of_new_keys += u32::from(kid.as_deref() != Some(first_kid.as_str()));
                tokio::task::yield_now().await;
            }
            anyhow::Ok((verified, of_new_keys))
        }));
    }
    let before = mint("alice")?;
    ensure!(verify(before.clone()).await?.is_ok(), "a token of the old key");
    let settle = || tokio::time::sleep(Duration::from_millis(200));
    settle().await;
    lab.auth_server().rotate_keys(lab_auth_server::SigningAlg::Es256)?;
    settle().await;
    clock.advance(lab_mcp_server::MIN_REFETCH_SECONDS as i64);
    settle().await;
    clock.advance(lab_auth_server::KEY_PUBLISH_LEAD_SECONDS as i64);
    settle().await;
    stop.store(true, Ordering::Relaxed);
    let mut of_new_keys = 0;
    for caller in callers {
        let (verified, new) = caller.await??;
        ensure!(verified > 0, "a caller verified nothing");
        of_new_keys += new;
    }
    ensure!(of_new_keys > 0, "the callers verified tokens of the new key while it took over");
    ensure!(verify(mint("alice")?).await?.is_ok(), "a token of the new key");
    ensure!(verify(before).await?.is_ok(), "an old key's token until it expires");
    jwks_host.shutdown().await;
    lab.shutdown().await;
    Ok(())
}
