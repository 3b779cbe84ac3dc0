//! Criterion: `tools/call search_products` over loopback TLS with keep-alive, anonymously
//! (`anonymous_public`), anonymously with a token-sized header the RS ignores, with a bearer token
//! the RS verifies in full on every request, and with the same token through the RS's
//! verified-token cache (the lab's default).
//!
//! Client and server share the machine's two cores, so this is the throughput of the whole
//! exchange; the summary interleaves the two modes and reports their ratio per round.

/// The allocator of the `mcp-authlab` binary, so the numbers are the lab's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use criterion::{Criterion, Throughput};
use lab_auth_server::SigningAlg;
use lab_benches::{AuthMode, LoopbackLab};

/// Requests per criterion iteration: criterion's smallest samples are a single iteration, and a
/// batch of one request with [`lab_benches::loopback::CONCURRENCY`] workers would time task
/// start-up and an idle core rather than requests under load.
const REQUESTS_PER_ITERATION: u64 = 16;

fn main() -> Result<()> {
    let mut criterion = Criterion::default().noise_threshold(0.05).configure_from_args();
    for alg in [SigningAlg::default(), SigningAlg::Rs256] {
        let lab = LoopbackLab::start(alg)?;
        let mut group = criterion.benchmark_group(format!("e2e_tools_call/{alg}"));
        group.throughput(Throughput::Elements(REQUESTS_PER_ITERATION));
        for mode in AuthMode::ALL {
            group.bench_function(mode.name(), |b| {
                b.iter_custom(|iters| {
                    // A failed request means the lab is broken and every later number would be
                    // meaningless, so it ends the run.
                    lab.batch(mode, iters * REQUESTS_PER_ITERATION)
                        .unwrap_or_else(|error| panic!("{} batch failed: {error:#}", mode.name()))
                })
            });
        }
        group.finish();
    }
    criterion.final_summary();
    Ok(())
}
