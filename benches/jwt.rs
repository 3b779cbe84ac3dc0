//! Criterion: bearer token verification in the RS.
//!
//! Groups, in the order they run:
//! - `non_crypto`: everything the RS does except the signature, per algorithm, then its pieces
//!   on the RS256 token (the `lab-proto` decodes the RS calls) next to borrowed-decoding
//!   prototypes. It runs first,
//!   in a fresh process, because allocation-heavy benchmarks slow down late in a long process.
//! - `verify/<alg>`: the raw aws-lc-rs limit, the RS's request path and jsonwebtoken, side by side
//!   in one group so their ratio comes from one run.
//! - `unknown_kid`: a forged `kid` with the JWKS refetch suppressed by the rate limit, and with a
//!   refetch due on every call.
//! - `introspection`: RFC 7662 against the in-process AS next to the local JWT path.
//! - `scaling/<alg>`: RS verifications per second on 1 and 2 threads (ES256 and RS256).
//!
//! The headline ratios come from `summary`, which interleaves the contenders; these are the
//! detailed distributions beside it.

/// The allocator of the `mcp-authlab` binary, so the numbers are the lab's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Result;
use criterion::{BenchmarkId, Criterion, Throughput};
use lab_auth_server::SigningAlg;
use lab_benches::fixture::ALGS;
use lab_benches::{IntrospectionFixture, JwtFixture, UnknownKidFixture, pieces};
use lab_mcp_server::MIN_REFETCH_SECONDS;

fn main() -> Result<()> {
    let mut criterion = Criterion::default().noise_threshold(0.05).configure_from_args();
    let fixtures = ALGS.into_iter().map(JwtFixture::new).collect::<Result<Vec<_>>>()?;
    non_crypto(&mut criterion, &fixtures);
    verify(&mut criterion, &fixtures);
    unknown_kid(&mut criterion)?;
    introspection(&mut criterion)?;
    scaling(&mut criterion, &fixtures);
    criterion.final_summary();
    Ok(())
}

fn non_crypto(criterion: &mut Criterion, fixtures: &[JwtFixture]) {
    let mut group = criterion.benchmark_group("non_crypto");
    for fixture in fixtures {
        group.bench_function(BenchmarkId::new("rs", fixture.alg), |b| b.iter(|| fixture.rs_non_crypto()));
    }
    // The pieces on the RS256 token (256-byte signature), where the non-crypto part weighs most
    // against the signature and the ratio target is tightest.
    for fixture in fixtures.iter().filter(|fixture| fixture.alg == SigningAlg::Rs256) {
        let token = fixture.token.as_str();
        let alg = fixture.alg;
        group.bench_function(BenchmarkId::new("split", alg), |b| b.iter(|| pieces::split(black_box(token))));
        group.bench_function(BenchmarkId::new("header_owned", alg), |b| {
            b.iter(|| pieces::header_owned(black_box(token)))
        });
        group.bench_function(BenchmarkId::new("header_borrowed", alg), |b| {
            b.iter(|| pieces::header_borrowed(black_box(token)))
        });
        group
            .bench_function(BenchmarkId::new("signature_b64", alg), |b| b.iter(|| pieces::signature(black_box(token))));
        group.bench_function(BenchmarkId::new("claims_owned", alg), |b| {
            b.iter(|| pieces::claims_owned(black_box(token)))
        });
        group.bench_function(BenchmarkId::new("claims_borrowed", alg), |b| {
            b.iter(|| pieces::claims_borrowed(black_box(token)))
        });
        group.bench_function(BenchmarkId::new("decode_owned", alg), |b| {
            b.iter(|| pieces::decode_owned(black_box(token)))
        });
        group.bench_function(BenchmarkId::new("decode_borrowed", alg), |b| {
            b.iter(|| pieces::decode_borrowed(black_box(token)))
        });
    }
    group.finish();
}

fn verify(criterion: &mut Criterion, fixtures: &[JwtFixture]) {
    for fixture in fixtures {
        let mut group = criterion.benchmark_group(format!("verify/{}", fixture.alg));
        group.throughput(Throughput::Elements(1));
        group.bench_function("raw_aws_lc_rs", |b| b.iter(|| fixture.raw_verify()));
        group.bench_function("rs_path", |b| b.iter(|| fixture.rs_verify()));
        group.bench_function("rs_cache_hit", |b| b.iter(|| fixture.rs_cache_hit()));
        group.bench_function("rs_cache_miss", |b| b.iter(|| fixture.rs_cache_miss()));
        group.bench_function("jsonwebtoken", |b| b.iter(|| fixture.jsonwebtoken_verify()));
        // The prototype of the proposed change to the RS path (see `pieces::ProposedPath`).
        group.bench_function("proposed_prototype", |b| b.iter(|| fixture.proposed_verify()));
        group.bench_function("proposed_prototype_header_cache", |b| b.iter(|| fixture.proposed_cached_verify()));
        group.finish();
    }
}

fn unknown_kid(criterion: &mut Criterion) -> Result<()> {
    let mut group = criterion.benchmark_group("unknown_kid");
    for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
        // Refetch suppressed: the clock never moves, so after the prefetch every unknown kid is
        // answered from the rate limit without a fetch, as during a flood.
        let suppressed = UnknownKidFixture::new(alg)?;
        let forged = suppressed.forged(1)?.remove(0);
        group.bench_function(BenchmarkId::new("refetch_suppressed", alg), |b| b.iter(|| suppressed.verify(&forged)));
        // Refetch due: the clock moves past the rate limit before each call, so each call fetches
        // and parses the JWKS (in process: the HTTP round trip to the AS is not included).
        let due = UnknownKidFixture::new(alg)?;
        let forged = due.forged(1)?.remove(0);
        group.bench_function(BenchmarkId::new("refetch_due", alg), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    due.clock.advance(MIN_REFETCH_SECONDS as i64);
                    let start = Instant::now();
                    black_box(due.verify(&forged).is_err());
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
    Ok(())
}

fn introspection(criterion: &mut Criterion) -> Result<()> {
    let fixture = IntrospectionFixture::new(SigningAlg::default())?;
    let mut group = criterion.benchmark_group(format!("introspection/{}", fixture.alg));
    group.throughput(Throughput::Elements(1));
    group.bench_function("local_jwt", |b| b.iter(|| fixture.local()));
    group.bench_function("rfc7662_in_process", |b| b.iter(|| fixture.introspect()));
    group.bench_function("rfc7662_cached_5s", |b| b.iter(|| fixture.introspect_cached()));
    group.finish();
    Ok(())
}

fn scaling(criterion: &mut Criterion, fixtures: &[JwtFixture]) {
    // The slowest and the fastest algorithm; the summary measures all four with a raw control.
    for fixture in fixtures.iter().filter(|fixture| matches!(fixture.alg, SigningAlg::Es256 | SigningAlg::Rs256)) {
        let mut group = criterion.benchmark_group(format!("scaling/{}", fixture.alg));
        for threads in [1_u64, 2] {
            // Each iteration is one verification on every thread, so criterion's elements per
            // second is the verifications per second of all threads together.
            group.throughput(Throughput::Elements(threads));
            group.bench_function(BenchmarkId::new("threads", threads), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for _ in 0..threads {
                            scope.spawn(|| {
                                for _ in 0..iters {
                                    black_box(fixture.rs_verify());
                                }
                            });
                        }
                    });
                    start.elapsed()
                })
            });
        }
        group.finish();
    }
}
