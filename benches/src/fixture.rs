//! Per-algorithm fixtures: the lab AS minting a realistic RFC 9068 token, the RS's verifier with
//! the key cached, the raw aws-lc-rs primitive over the same bytes, and jsonwebtoken as the peer
//! baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result, ensure, format_err};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lab_auth_server::config::lab;
use lab_auth_server::{AuthServer, AuthServerConfig, SigningAlg};
use lab_mcp_server::verify::{Checks, JwtVerifier};
use lab_mcp_server::{
    BoxFuture, IntrospectionSource, KeySource, McpServer, McpServerConfig, Principal, Rejection, VerifyConfig,
};
use lab_proto::Clock;
use lab_proto::jose::{JoseHeader, b64url_decode, b64url_encode, decode_json, split_compact};
use lab_proto::token::{AccessTokenClaims, IntrospectionResponse};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

use crate::pieces::ProposedPath;

/// The algorithms the lab AS signs with, in the order the summary prints them.
pub const ALGS: [SigningAlg; 4] = SigningAlg::ALL;

/// Lifetime of the benchmark tokens: longer than any run, so no token expires under a benchmark.
const TOKEN_LIFETIME: u64 = 2 * 3600;

/// The JWKS straight from the AS's key ring, as the RS would fetch it from `jwks_uri`, minus the
/// HTTP round trip; it counts fetches so the refetch guard can be checked from the outside too.
pub struct AsKeys {
    auth: AuthServer,
    fetches: AtomicU64,
}

impl AsKeys {
    pub fn new(auth: AuthServer) -> Self {
        Self { auth, fetches: AtomicU64::new(0) }
    }

    /// How many times the JWKS was asked for.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

impl KeySource for AsKeys {
    fn fetch_jwks(&self) -> BoxFuture<'_, Result<Value, String>> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let jwks = self.auth.jwks();
        Box::pin(async move { Ok(jwks) })
    }
}

/// A single-threaded tokio runtime: the in-process futures here never need a second thread, and a
/// current-thread runtime adds no cross-thread wake-ups to what is timed.
pub fn local_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("failed to build a tokio runtime")
}

/// The lab AS for `resource`, signing with `alg`, on `clock`.
pub fn lab_as(alg: SigningAlg, resource: &str, clock: Clock) -> Result<AuthServer> {
    let mut config = AuthServerConfig::lab(lab::ISSUER, vec![resource.to_owned()]);
    config.signing_alg = alg;
    config.clock = clock;
    AuthServer::new(config).context("failed to build the authorization server")
}

/// The claims the AS puts into an authorization-code token (`mint_access_token` in
/// `lab-auth-server`), for `resource`, issued `now`.
pub fn realistic_claims(now: u64, resource: &str) -> Result<Value> {
    let jti = lab_proto::random_token(16).map_err(|_| format_err!("the random source failed"))?;
    Ok(json!({
        "iss": lab::ISSUER,
        "sub": "alice",
        "aud": resource,
        "exp": now + TOKEN_LIFETIME,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": lab::PUBLIC_CLIENT_ID,
        "scope": "mcp:read mcp:write",
        "auth_time": now.saturating_sub(5),
    }))
}

/// `token` with one bit of its signature flipped.
pub fn tamper_signature(token: &str) -> Result<String> {
    let parts = split_compact(token)?;
    let mut signature = b64url_decode(parts.signature)?;
    let middle = signature.len() / 2;
    let byte = signature.get_mut(middle).context("the token has an empty signature")?;
    *byte ^= 0x01;
    Ok(format!("{}.{}", parts.signing_input, b64url_encode(&signature)))
}

/// `token` with its header's `kid` replaced: a forgery the RS must answer without trusting it.
pub fn with_kid(token: &str, kid: &str) -> Result<String> {
    let parts = split_compact(token)?;
    let mut header: Value = decode_json(parts.header)?;
    header["kid"] = json!(kid);
    let header = b64url_encode(&serde_json::to_vec(&header)?);
    Ok(format!("{header}.{}.{}", parts.payload, parts.signature))
}

/// The `kid` of a token's header.
pub fn kid_of(token: &str) -> Result<String> {
    let header: JoseHeader = decode_json(split_compact(token)?.header)?;
    header.kid.context("the token has no kid")
}

/// The JWK with `kid` in a JWKS document.
fn jwk_by_kid<'a>(jwks: &'a Value, kid: &str) -> Result<&'a Value> {
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|jwk| jwk["kid"] == kid)
        .with_context(|| format!("the JWKS has no key {kid}"))
}

/// The raw limit: aws-lc-rs signature verification with a key parsed once (its RSA Montgomery
/// context cached after the first use) and the signature already decoded, over the token's bytes.
pub struct RawSignature {
    key: ParsedPublicKey,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses a JWK of the lab AS into an aws-lc-rs key, independently of the RS, so a bug shared
/// by both could not hide.
fn parse_key(alg: SigningAlg, jwk: &Value) -> Result<ParsedPublicKey> {
    let member = |name: &str| -> Result<Vec<u8>> {
        let value = jwk[name].as_str().with_context(|| format!("the JWK has no {name}"))?;
        Ok(b64url_decode(value)?)
    };
    match alg {
        SigningAlg::Es256 => {
            let mut point = vec![0x04];
            point.extend_from_slice(&member("x")?);
            point.extend_from_slice(&member("y")?);
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        }
        SigningAlg::EdDsa => ParsedPublicKey::new(&signature::ED25519, member("x")?),
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            let params = if alg == SigningAlg::Ps256 {
                &signature::RSA_PSS_2048_8192_SHA256
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            RsaPublicKeyComponents { n: member("n")?, e: member("e")? }.to_parsed_public_key(params)
        }
    }
    .map_err(|error| format_err!("aws-lc-rs refused the {alg} JWK: {error}"))
}

impl RawSignature {
    fn new(alg: SigningAlg, jwk: &Value, token: &str) -> Result<Self> {
        let key = parse_key(alg, jwk)?;
        let parts = split_compact(token)?;
        let signature = b64url_decode(parts.signature)?;
        Ok(Self { key, signing_input: parts.signing_input.as_bytes().to_vec(), signature })
    }

    /// One verification of the genuine token's signature.
    #[inline]
    pub fn verify(&self) -> bool {
        self.key.verify_sig(&self.signing_input, &self.signature).is_ok()
    }

    /// Verifies another token's signature with the same key (for the tampered-token check).
    fn verify_token(&self, token: &str) -> Result<bool> {
        let parts = split_compact(token)?;
        let signature = b64url_decode(parts.signature)?;
        Ok(self.key.verify_sig(parts.signing_input.as_bytes(), &signature).is_ok())
    }
}

/// The RS's configuration for `resource` trusting the lab issuer: the very values `lab up` uses.
fn rs_config(resource: &str, verify: VerifyConfig, clock: Clock) -> McpServerConfig {
    let mut config = McpServerConfig::new(resource, lab::ISSUER, verify);
    config.clock = clock;
    config
}

/// A `JwtVerifier` built from an RS configuration exactly as `McpServer::new` builds it.
fn verifier_for(config: &McpServerConfig, keys: Arc<AsKeys>) -> JwtVerifier {
    JwtVerifier::new(config.issuer.clone(), config.resource.clone(), config.leeway, config.clock.clone(), keys)
}

/// Everything the per-algorithm verification benchmarks need, checked before use.
pub struct JwtFixture {
    pub alg: SigningAlg,
    /// A realistic RFC 9068 access token minted by the lab AS for the lab RS.
    pub token: String,
    /// The same token with one signature bit flipped.
    pub tampered: String,
    pub auth: AuthServer,
    pub keys: Arc<AsKeys>,
    verifier: JwtVerifier,
    raw: RawSignature,
    jwt_key: DecodingKey,
    validation: Validation,
    proposed: ProposedPath,
    proposed_cached: ProposedPath,
}

impl JwtFixture {
    /// Builds the fixture for `alg` and checks every path on it.
    pub fn new(alg: SigningAlg) -> Result<Self> {
        let clock = Clock::system();
        let auth = lab_as(alg, lab::RESOURCE, clock.clone())?;
        let token = auth.mint_jwt("at+jwt", &realistic_claims(clock.now(), lab::RESOURCE)?)?;
        let tampered = tamper_signature(&token)?;
        let jwks = auth.jwks();
        let jwk = jwk_by_kid(&jwks, &kid_of(&token)?)?;
        let raw = RawSignature::new(alg, jwk, &token)?;

        let keys = Arc::new(AsKeys::new(auth.clone()));
        let config = rs_config(lab::RESOURCE, VerifyConfig::Jwt(keys.clone()), clock);
        let verifier = verifier_for(&config, keys.clone());
        local_runtime()?.block_on(verifier.prefetch());

        let jwt_key = DecodingKey::from_jwk(&serde_json::from_value(jwk.clone())?)
            .with_context(|| format!("jsonwebtoken refused the {alg} JWK"))?;
        let mut validation = Validation::new(match alg {
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Ps256 => Algorithm::PS256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        });
        validation.set_audience(&[lab::RESOURCE]);
        validation.set_issuer(&[lab::ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway;

        let kid = kid_of(&token)?;
        let prototype = || -> Result<ProposedPath> {
            let key = parse_key(alg, jwk)?;
            Ok(ProposedPath::new(
                &config.issuer,
                &config.resource,
                config.leeway,
                config.clock.clone(),
                &kid,
                alg.name(),
                key,
            ))
        };
        let (proposed, proposed_cached) = (prototype()?, prototype()?.with_header_cache());

        let fixture =
            Self { alg, token, tampered, auth, keys, verifier, raw, jwt_key, validation, proposed, proposed_cached };
        fixture.check()?;
        Ok(fixture)
    }

    /// Every path accepts the genuine token and refuses a tampered one and one for another
    /// audience; the verifier's non-crypto part accepts the genuine token.
    fn check(&self) -> Result<()> {
        let alg = self.alg;
        ensure!(self.raw.verify(), "raw {alg} refused the genuine token");
        ensure!(!self.raw.verify_token(&self.tampered)?, "raw {alg} accepted a tampered signature");

        let principal = self.rs_verify().with_context(|| format!("the RS does not have the {alg} key cached"))?;
        let principal =
            principal.map_err(|rejection| format_err!("the RS refused the genuine {alg} token: {rejection}"))?;
        ensure!(&*principal.sub == "alice", "the RS verified the {alg} token as {principal:?}");
        let refused = |token: &str| matches!(self.verifier.verify_uncached(token, Checks::STRICT), Some(Err(_)));
        ensure!(refused(&self.tampered), "the RS accepted a tampered {alg} token");
        // The cache: a miss and a hit give the same principal, and the tampered token stays refused
        // with the genuine one cached.
        for (name, result) in [("miss", self.rs_cache_miss()), ("hit", self.rs_cache_hit())] {
            let found = result.with_context(|| format!("cache {name}: kid unknown"))?;
            ensure!(found.as_ref().ok() == Some(&principal), "the cache {name} gave {found:?}");
        }
        ensure!(
            matches!(self.verifier.verify_sync(&self.tampered, Checks::STRICT), Some(Err(_))),
            "the RS's cache accepted a tampered {alg} token"
        );
        self.verifier.non_crypto_cost(&self.token).map_err(|rejection| format_err!("non-crypto path: {rejection}"))?;

        ensure!(self.jsonwebtoken_accepts(&self.token), "jsonwebtoken refused the genuine {alg} token");
        ensure!(!self.jsonwebtoken_accepts(&self.tampered), "jsonwebtoken accepted a tampered {alg} token");

        let now = Clock::system().now();
        let foreign = self.auth.mint_jwt("at+jwt", &realistic_claims(now, lab::TWIN_RESOURCE)?)?;
        ensure!(refused(&foreign), "the RS accepted a {alg} token for another resource");
        ensure!(!self.jsonwebtoken_accepts(&foreign), "jsonwebtoken accepted a {alg} token for another resource");
        let wrong_typ = self.auth.mint_jwt("JWT", &realistic_claims(now, lab::RESOURCE)?)?;
        ensure!(refused(&wrong_typ), "the RS accepted a {alg} token whose typ is not at+jwt");
        ensure!(!self.jsonwebtoken_accepts(&wrong_typ), "the jsonwebtoken path accepted a {alg} token typed JWT");

        for prototype in [&self.proposed, &self.proposed_cached] {
            // Twice, so the header-cache variant is checked with the header cached too.
            for _ in 0..2 {
                let found = prototype.verify(&self.token).map_err(|refused| format_err!("prototype: {refused:?}"))?;
                ensure!(found == principal, "the prototype found {found:?}, the RS {principal:?}");
                for token in [&self.tampered, &foreign, &wrong_typ] {
                    ensure!(prototype.verify(token).is_err(), "the {alg} prototype accepted a token the RS refuses");
                }
            }
        }
        Ok(())
    }

    /// The raw limit, once.
    #[inline]
    pub fn raw_verify(&self) -> bool {
        self.raw.verify()
    }

    /// The RS's request path once the key is cached: header, `typ`, `kid` lookup, signature,
    /// claims (`iss`, `aud`, `exp`, `nbf`) and the principal with its scope.
    #[inline]
    pub fn rs_verify(&self) -> Option<Result<Principal, Rejection>> {
        self.verifier.verify_uncached(&self.token, Checks::STRICT)
    }

    /// The RS's request path with the verified-token cache, on a hit: the token's SHA-256, a map
    /// lookup and the `exp`/`nbf` check, what every request after the first costs.
    #[inline]
    pub fn rs_cache_hit(&self) -> Option<Result<Principal, Rejection>> {
        self.verifier.verify_sync(&self.token, Checks::STRICT)
    }

    /// The same on a miss: the cache is emptied first, so the call hashes, misses, verifies in
    /// full and inserts (the emptying of a one-entry map is part of the figure, and tiny).
    #[inline]
    pub fn rs_cache_miss(&self) -> Option<Result<Principal, Rejection>> {
        self.verifier.set_token_cache(false);
        self.verifier.set_token_cache(true);
        self.verifier.verify_sync(&self.token, Checks::STRICT)
    }

    /// Everything the RS path does except the signature.
    #[inline]
    pub fn rs_non_crypto(&self) -> Result<(), Rejection> {
        self.verifier.non_crypto_cost(&self.token)
    }

    /// The peer baseline once: `jsonwebtoken::decode` with a key from the JWK, then the RFC 9068
    /// §4 `typ` check that jsonwebtoken does not do itself.
    #[inline]
    pub fn jsonwebtoken_verify(&self) -> bool {
        self.jsonwebtoken_accepts(&self.token)
    }

    fn jsonwebtoken_accepts(&self, token: &str) -> bool {
        jsonwebtoken::decode::<AccessTokenClaims>(token, &self.jwt_key, &self.validation)
            .is_ok_and(|data| data.header.typ.as_deref() == Some("at+jwt"))
    }

    /// The prototype of the proposed RS path (`pieces::ProposedPath`), once.
    #[inline]
    pub fn proposed_verify(&self) -> bool {
        self.proposed.verify(&self.token).is_ok()
    }

    /// The prototype with the header cache as well, once.
    #[inline]
    pub fn proposed_cached_verify(&self) -> bool {
        self.proposed_cached.verify(&self.token).is_ok()
    }

    /// The RS's verifier (for the scaling and flood measurements).
    pub fn verifier(&self) -> &JwtVerifier {
        &self.verifier
    }
}

/// An RS whose clock only moves when told, for the unknown-`kid` refetch guard.
pub struct UnknownKidFixture {
    pub clock: Clock,
    pub keys: Arc<AsKeys>,
    /// A genuine token, which must still verify after any flood.
    pub genuine: String,
    verifier: JwtVerifier,
    runtime: Runtime,
}

impl UnknownKidFixture {
    pub fn new(alg: SigningAlg) -> Result<Self> {
        let clock = Clock::frozen(Clock::system().now());
        let auth = lab_as(alg, lab::RESOURCE, clock.clone())?;
        let genuine = auth.mint_jwt("at+jwt", &realistic_claims(clock.now(), lab::RESOURCE)?)?;
        let keys = Arc::new(AsKeys::new(auth));
        let config = rs_config(lab::RESOURCE, VerifyConfig::Jwt(keys.clone()), clock.clone());
        let verifier = verifier_for(&config, keys.clone());
        // The refetch guard is what is measured; a cached genuine token would make its
        // comparison a cache hit.
        verifier.set_token_cache(false);
        let runtime = local_runtime()?;
        runtime.block_on(verifier.prefetch());
        let fixture = Self { clock, keys, genuine, verifier, runtime };
        fixture.verify(&fixture.genuine).map_err(|rejection| format_err!("genuine token refused: {rejection}"))?;
        Ok(fixture)
    }

    /// `count` copies of the genuine token, each with a distinct `kid` the AS never published.
    pub fn forged(&self, count: usize) -> Result<Vec<String>> {
        (0..count).map(|index| with_kid(&self.genuine, &format!("forged-{index:06}"))).collect()
    }

    /// The full request path (`JwtVerifier::verify`), which refetches the JWKS for an unknown
    /// `kid` at most once per `MIN_REFETCH_SECONDS`.
    pub fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        self.runtime.block_on(self.verifier.verify(token, Checks::STRICT))
    }

    /// JWKS fetches the verifier has made.
    pub fn fetches(&self) -> u64 {
        self.verifier.jwks_fetches()
    }
}

/// An RS in introspection mode against the in-process AS router, and the same RS's local JWT path
/// for comparison, both through `McpServer::verify_token` as a request calls it.
pub struct IntrospectionFixture {
    pub alg: SigningAlg,
    pub introspecting: McpServer,
    /// The same with a short-lived cache of active answers (5 s), which the lab never turns on.
    pub introspecting_cached: McpServer,
    pub local: McpServer,
    /// A real token from the AS's token endpoint (client credentials), so the AS knows its `jti`.
    pub token: String,
    runtime: Runtime,
}

/// Introspection through the AS router, authenticated as the RS's client (`client_secret_basic`),
/// exactly as `HttpIntrospection` does it over the network.
struct AsIntrospection {
    router: Router,
}

impl IntrospectionSource for AsIntrospection {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<IntrospectionResponse, String>> {
        Box::pin(async move {
            let request = Request::post("/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", lab_proto::basic::authorization(lab::RS_CLIENT_ID, lab::RS_CLIENT_SECRET))
                .body(Body::from(format!("token={token}&token_type_hint=access_token")))
                .map_err(|error| error.to_string())?;
            let (status, body) = send(&self.router, request).await.map_err(|error| error.to_string())?;
            if status != StatusCode::OK {
                return Err(format!("introspection answered {status}"));
            }
            serde_json::from_slice(&body).map_err(|error| error.to_string())
        })
    }
}

async fn send(router: &Router, request: Request<Body>) -> Result<(StatusCode, Vec<u8>)> {
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

/// `application/x-www-form-urlencoded` for a value made of URL characters.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

impl IntrospectionFixture {
    pub fn new(alg: SigningAlg) -> Result<Self> {
        let clock = Clock::system();
        let auth = lab_as(alg, lab::RESOURCE, clock.clone())?;
        let router = lab_auth_server::router(auth.clone());
        let runtime = local_runtime()?;

        let form = format!("grant_type=client_credentials&scope=mcp%3Aread&resource={}", form_encode(lab::RESOURCE));
        let request = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                lab_proto::basic::authorization(lab::CONFIDENTIAL_CLIENT_ID, lab::CONFIDENTIAL_CLIENT_SECRET),
            )
            .body(Body::from(form))?;
        let (status, body) = runtime.block_on(send(&router, request))?;
        ensure!(status == StatusCode::OK, "the token endpoint answered {status}: {}", String::from_utf8_lossy(&body));
        let response: Value = serde_json::from_slice(&body)?;
        let token = response["access_token"].as_str().context("the token response has no access_token")?.to_owned();

        let source = Arc::new(AsIntrospection { router });
        let introspecting =
            McpServer::new(rs_config(lab::RESOURCE, VerifyConfig::Introspection(source.clone()), clock.clone()));
        let introspecting_cached =
            McpServer::new(rs_config(lab::RESOURCE, VerifyConfig::Introspection(source), clock.clone()));
        introspecting_cached.introspection_verifier().context("introspection mode")?.set_cache_seconds(5);
        let keys = Arc::new(AsKeys::new(auth));
        let local = McpServer::new(rs_config(lab::RESOURCE, VerifyConfig::Jwt(keys), clock));
        // Verification against verification: the local path without its verified-token cache.
        local.jwt_verifier().context("the local RS verifies JWTs")?.set_token_cache(false);
        runtime.block_on(local.prefetch_keys());

        let fixture = Self { alg, introspecting, introspecting_cached, local, token, runtime };
        let tampered = tamper_signature(&fixture.token)?;
        for (name, server) in [
            ("introspection", &fixture.introspecting),
            ("cached introspection", &fixture.introspecting_cached),
            ("local JWT", &fixture.local),
        ] {
            let principal = fixture
                .runtime
                .block_on(server.verify_token(&fixture.token))
                .map_err(|rejection| format_err!("{name} refused the genuine token: {rejection}"))?;
            ensure!(&*principal.client_id == lab::CONFIDENTIAL_CLIENT_ID, "{name} verified the token as {principal:?}");
            ensure!(
                fixture.runtime.block_on(server.verify_token(&tampered)).is_err(),
                "{name} accepted a tampered token"
            );
        }
        Ok(fixture)
    }

    /// One verification by RFC 7662 introspection at the in-process AS (no cache: every request
    /// asks the AS, so a revocation takes effect at once).
    pub fn introspect(&self) -> Result<Principal, Rejection> {
        self.runtime.block_on(self.introspecting.verify_token(&self.token))
    }

    /// The same through the 5 s cache of active answers: a hit after the first call.
    pub fn introspect_cached(&self) -> Result<Principal, Rejection> {
        self.runtime.block_on(self.introspecting_cached.verify_token(&self.token))
    }

    /// One local JWT verification through the same entry point, for the ratio.
    pub fn local(&self) -> Result<Principal, Rejection> {
        self.runtime.block_on(self.local.verify_token(&self.token))
    }
}
