//! Paired, interleaved measurement: the cases of one comparison run in small alternating batches,
//! round after round, and each ratio is taken within a round, so a slow minute of the shared
//! machine slows both sides of a ratio alike. The reported figure is the median over rounds.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One contender: a name and one operation.
pub struct Case<'a> {
    pub name: &'static str,
    op: Box<dyn FnMut() + 'a>,
}

impl<'a> Case<'a> {
    /// `op` runs one operation; its result goes through `black_box` so it is not optimised away.
    pub fn new<T>(name: &'static str, mut op: impl FnMut() -> T + 'a) -> Self {
        Self {
            name,
            op: Box::new(move || {
                black_box(op());
            }),
        }
    }
}

/// Batches of every case in every round, in nanoseconds per operation.
#[derive(Debug, Clone)]
pub struct Paired {
    pub names: Vec<&'static str>,
    /// `ns_per_op[case][round]`.
    pub ns_per_op: Vec<Vec<f64>>,
}

impl Paired {
    fn index(&self, name: &str) -> usize {
        // Case names are fixed by the caller; an unknown one is a bug in the summary program.
        self.names.iter().position(|known| *known == name).unwrap_or_else(|| panic!("no case named {name}"))
    }

    /// The median time of `case` over the rounds.
    pub fn median_ns(&self, case: &str) -> f64 {
        median(&self.ns_per_op[self.index(case)])
    }

    /// `case / reference`, taken per round.
    pub fn ratios(&self, case: &str, reference: &str) -> Vec<f64> {
        let (case, reference) = (&self.ns_per_op[self.index(case)], &self.ns_per_op[self.index(reference)]);
        case.iter().zip(reference).map(|(case, reference)| case / reference).collect()
    }

    /// The median of the per-round ratios `case / reference`.
    pub fn ratio(&self, case: &str, reference: &str) -> f64 {
        median(&self.ratios(case, reference))
    }

    /// The interquartile range of the per-round ratios, to show how stable a ratio was.
    pub fn ratio_iqr(&self, case: &str, reference: &str) -> (f64, f64) {
        quartiles(&self.ratios(case, reference))
    }

    /// The median per-round difference `case - reference`, in nanoseconds.
    pub fn difference_ns(&self, case: &str, reference: &str) -> f64 {
        let (case, reference) = (&self.ns_per_op[self.index(case)], &self.ns_per_op[self.index(reference)]);
        median(&case.iter().zip(reference).map(|(case, reference)| case - reference).collect::<Vec<_>>())
    }
}

/// Runs `cases` for `rounds` rounds of one batch each, every batch about `batch` long, rotating the
/// order each round so no case always runs first (or right after a given other one).
///
/// The batch sizes are calibrated first, which also warms up caches, the allocator and aws-lc-rs's
/// lazily cached key state.
pub fn interleaved(cases: &mut [Case<'_>], rounds: usize, batch: Duration) -> Paired {
    let iterations: Vec<u64> = cases.iter_mut().map(|case| calibrate(&mut case.op, batch)).collect();
    let mut ns_per_op = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        for offset in 0..cases.len() {
            let index = (round + offset) % cases.len();
            let op = &mut cases[index].op;
            let start = Instant::now();
            for _ in 0..iterations[index] {
                op();
            }
            ns_per_op[index].push(start.elapsed().as_nanos() as f64 / iterations[index] as f64);
        }
    }
    Paired { names: cases.iter().map(|case| case.name).collect(), ns_per_op }
}

/// How many operations fill about `batch`, found by doubling.
fn calibrate(op: &mut dyn FnMut(), batch: Duration) -> u64 {
    let mut iterations = 1_u64;
    loop {
        let start = Instant::now();
        for _ in 0..iterations {
            op();
        }
        let elapsed = start.elapsed();
        if elapsed >= batch / 2 || iterations >= 1 << 30 {
            let per_op = elapsed.as_secs_f64() / iterations as f64;
            return ((batch.as_secs_f64() / per_op) as u64).max(1);
        }
        iterations *= 2;
    }
}

/// Operations per second of `threads` workers running `op` for `duration`, all started together.
pub fn throughput(threads: usize, duration: Duration, op: &(dyn Fn() + Sync)) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start_line = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                start_line.wait();
                let mut count = 0_u64;
                // The stop flag is read every few operations only, so the load costs nothing
                // against operations of tens of microseconds and never lets a worker run long.
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..4 {
                        op();
                    }
                    count += 4;
                }
                done.fetch_add(count, Ordering::Relaxed);
            });
        }
        start_line.wait();
        let start = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        start.elapsed()
    });
    // The workers finish their last few operations after the stop; that slight overcount is the
    // same for one and two threads and is under a thousandth of a 200 ms window.
    done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

/// 1-thread and 2-thread throughput in alternating order, round by round.
#[derive(Debug, Clone)]
pub struct Scaling {
    pub one: Vec<f64>,
    pub two: Vec<f64>,
}

impl Scaling {
    /// 1- and 2-thread throughput of each of `ops` in the same rounds: the first op is the one
    /// under test, the others controls (the raw primitive), so a round in which another tenant
    /// took the second core shows up in the controls too.
    pub fn measure(rounds: usize, window: Duration, ops: &[&(dyn Fn() + Sync)]) -> Vec<Self> {
        let mut results = vec![Self { one: Vec::with_capacity(rounds), two: Vec::with_capacity(rounds) }; ops.len()];
        for op in ops {
            // A short warm-up so the first round does not pay for cold caches and thread start-up.
            throughput(2, window / 4, *op);
        }
        for round in 0..rounds {
            // The op under test and its controls take turns going first, as the 1- and 2-thread
            // windows do, so neither always follows the other's heat or idleness.
            let mut order: Vec<usize> = (0..ops.len()).collect();
            order.rotate_left((round / 2) % ops.len().max(1));
            for index in order {
                let (op, result) = (&ops[index], &mut results[index]);
                if round % 2 == 0 {
                    result.one.push(throughput(1, window, *op));
                    result.two.push(throughput(2, window, *op));
                } else {
                    result.two.push(throughput(2, window, *op));
                    result.one.push(throughput(1, window, *op));
                }
            }
        }
        results
    }

    /// The median of the per-round ratios 2 threads / 1 thread.
    pub fn ratio(&self) -> f64 {
        median(&self.ratios())
    }

    pub fn ratios(&self) -> Vec<f64> {
        self.two.iter().zip(&self.one).map(|(two, one)| two / one).collect()
    }
}

/// The median; NaN for no values.
pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// The first and third quartiles.
pub fn quartiles(values: &[f64]) -> (f64, f64) {
    (quantile(values, 0.25), quantile(values, 0.75))
}

fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// Nanoseconds as a short human figure: `81.2 us`, `950 ns`.
pub fn human_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.1} us", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
