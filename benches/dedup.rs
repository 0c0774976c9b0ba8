//! Dedup throughput per tier and memory per remembered mention, on one thread.
//! Run: `cargo bench --bench dedup` (criterion groups, then a memory report that fills one
//! shard with 10 million tweet-length mentions; `DEDUP_BENCH_ENTRIES` changes the count).

use criterion::{BatchSize, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use tocsin::mention::Platform;
use tocsin::stages::dedup::sketch::Sketch;
use tocsin::stages::dedup::state::{DedupInput, Shard};
use tocsin::stages::dedup::DedupConfig;

/// Counts live heap bytes, to check the shard's own estimate.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static A: Counting = Counting;

/// Tweet-length texts (12–30 words from a 20,000-word vocabulary, ~140 characters).
struct Texts {
    vocab: Vec<String>,
    rng: SmallRng,
}

impl Texts {
    fn new() -> Self {
        let mut rng = SmallRng::seed_from_u64(7);
        let vocab = (0..20_000)
            .map(|_| {
                let n = rng.gen_range(2..9);
                (0..n).map(|_| rng.gen_range(b'a'..=b'z') as char).collect()
            })
            .collect();
        Texts { vocab, rng }
    }
    fn text(&mut self) -> String {
        let n = self.rng.gen_range(12..30);
        let mut t = String::from("@brand ");
        for i in 0..n {
            if i > 0 {
                t.push(' ');
            }
            t.push_str(&self.vocab[self.rng.gen_range(0..self.vocab.len())]);
        }
        t
    }
    /// A copy-paste variant: another handle, one word replaced, an emoji.
    fn variant(&mut self, t: &str) -> String {
        let mut w: Vec<&str> = t.split(' ').collect();
        let i = self.rng.gen_range(1..w.len());
        let repl = self.vocab[self.rng.gen_range(0..self.vocab.len())].clone();
        w[i] = &repl;
        format!("@someone {} 😡", w[1..].join(" "))
    }
}

fn input<'a>(id: &'a str, t: i64, text: &'a str, repost_of: Option<&'a str>) -> DedupInput<'a> {
    DedupInput {
        id,
        platform: Platform::Twitter,
        created_at_ms: t,
        text,
        repost_of,
    }
}

const N: usize = 20_000;

fn prefilled(texts: &[String]) -> Shard {
    let mut s = Shard::new(DedupConfig::default().shard_settings());
    for (i, t) in texts.iter().enumerate() {
        s.observe(input(&format!("{}", 1_000_000_000 + i), i as i64, t, None));
    }
    s
}

fn bench(c: &mut Criterion) {
    let mut gen = Texts::new();
    let originals: Vec<String> = (0..N).map(|_| gen.text()).collect();
    let ids: Vec<String> = (0..N).map(|i| format!("{}", 1_000_000_000 + i)).collect();
    let new_ids: Vec<String> = (0..N).map(|i| format!("{}", 2_000_000_000 + i)).collect();
    let base = prefilled(&originals);

    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    // Tier 1: the same ids delivered again.
    g.bench_function("exact", |b| {
        b.iter_batched_ref(
            || prefilled(&originals),
            |s| {
                for (i, id) in ids.iter().enumerate() {
                    s.observe(input(id, (N + i) as i64, &originals[i], None));
                }
            },
            BatchSize::LargeInput,
        )
    });
    // Tier 2: reposts naming a remembered original.
    g.bench_function("repost_of", |b| {
        b.iter_batched_ref(
            || prefilled(&originals),
            |s| {
                for (i, id) in new_ids.iter().enumerate() {
                    s.observe(input(id, (N + i) as i64, &originals[i], Some(&ids[i])));
                }
            },
            BatchSize::LargeInput,
        )
    });
    // Every tier: a stream of new tweets, 20 % of them copy-paste variants and 10 % "RT @x:"
    // reposts, against a shard already holding 20,000 texts.
    let mixed: Vec<String> = (0..N)
        .map(|i| match i % 10 {
            0 | 1 => gen.variant(&originals[i]),
            2 => format!("RT @someone: {}", originals[i]),
            _ => gen.text(),
        })
        .collect();
    // In batches of 500, as the dedup stage hands a shard its part of a batch.
    let mixed_inputs: Vec<DedupInput> = new_ids
        .iter()
        .enumerate()
        .map(|(i, id)| input(id, (N + i) as i64, &mixed[i], None))
        .collect();
    g.bench_function("all_tiers_tweets", |b| {
        b.iter_batched_ref(
            || prefilled(&originals),
            |s| {
                for batch in mixed_inputs.chunks(500) {
                    s.observe_all(batch);
                }
            },
            BatchSize::LargeInput,
        )
    });
    // The same stream against a shard at its cap (a full window): the steady state of a
    // long-running pipeline, where the indexes no longer grow (each growth rebuilds them from
    // the entries, which the run above includes once).
    let full = || {
        let mut s = Shard::new(
            DedupConfig {
                max_entries: N,
                ..DedupConfig::default()
            }
            .shard_settings(),
        );
        for (i, t) in originals.iter().enumerate() {
            s.observe(input(&ids[i], i as i64, t, None));
        }
        s
    };
    g.bench_function("all_tiers_tweets_full_window", |b| {
        b.iter_batched_ref(
            full,
            |s| {
                for batch in mixed_inputs.chunks(500) {
                    s.observe_all(batch);
                }
            },
            BatchSize::LargeInput,
        )
    });
    // The near tier's own work on a mention, without the shard: tokens, shingles, sketch.
    g.bench_function("sketch_tweets", |b| {
        b.iter(|| {
            mixed
                .iter()
                .map(|t| Sketch::of(t).bands[0])
                .fold(0u64, |x, k| x ^ k)
        })
    });
    g.finish();
    drop(base);
}

fn memory_report() {
    let n: usize = std::env::var("DEDUP_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let mut gen = Texts::new();
    let cfg = DedupConfig {
        max_entries: n,
        ..DedupConfig::default()
    };
    let before = LIVE.load(Ordering::Relaxed);
    let mut s = Shard::new(cfg.shard_settings());
    let start = std::time::Instant::now();
    for i in 0..n {
        let t = if i % 10 < 2 && i > 0 {
            let o = gen.text();
            gen.variant(&o)
        } else {
            gen.text()
        };
        s.observe(input(
            &format!("{}", 1_500_000_000_000_000_000u64 + i as u64),
            i as i64,
            &t,
            None,
        ));
    }
    let secs = start.elapsed().as_secs_f64();
    let live = LIVE.load(Ordering::Relaxed) - before;
    // Then the steady state at that size: the all-tiers stream into the full shard, which
    // evicts one entry per new one and never grows (every lookup is a miss to main memory).
    // Long enough (`DEDUP_BENCH_STEADY`, 6 M by default) to include the id table's periodic
    // rebuild, which clears the slots of evicted entries every few million mentions: the
    // whole-run rate is the honest one, the first 200,000 the rate between rebuilds.
    let steady_n: usize = std::env::var("DEDUP_BENCH_STEADY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6_000_000);
    let (mut done, mut busy, mut first_rate) = (0usize, 0f64, 0f64);
    let mut chunk_rates = Vec::new();
    let compared_before = s.counts.candidates;
    while done < steady_n {
        let chunk = (steady_n - done).min(200_000);
        let texts: Vec<String> = (0..chunk)
            .map(|i| match i % 10 {
                0 | 1 => {
                    let o = gen.text();
                    gen.variant(&o)
                }
                _ => gen.text(),
            })
            .collect();
        let ids: Vec<String> = (0..chunk)
            .map(|i| format!("{}", 2_500_000_000_000_000_000u64 + (done + i) as u64))
            .collect();
        // In batches, as the stage hands them over (`observe_all` looks ahead).
        let inputs: Vec<DedupInput> = texts
            .iter()
            .zip(&ids)
            .enumerate()
            .map(|(i, (t, id))| input(id, (n + done + i) as i64, t, None))
            .collect();
        let t0 = std::time::Instant::now();
        for batch in inputs.chunks(500) {
            s.observe_all(batch);
        }
        let secs = t0.elapsed().as_secs_f64();
        if done == 0 {
            first_rate = chunk as f64 / secs;
        }
        chunk_rates.push(chunk as f64 / secs);
        busy += secs;
        done += chunk;
    }
    let steady_rate = done as f64 / busy;
    // On a shared machine a neighbour's burst slows some chunks: their median says what the
    // code does, the whole-run rate what a user would have seen that hour.
    chunk_rates.sort_by(f64::total_cmp);
    let median_rate = chunk_rates[chunk_rates.len() / 2];
    // Each candidate is a read from main memory: the count says what the rate depends on,
    // unlike the rate itself on a shared machine.
    let compared = (s.counts.candidates - compared_before) as f64 / done.max(1) as f64;
    println!(
        "dedup memory: {} entries held, heap {:.1} MiB ({:.0} bytes/entry; shard estimate {:.1} MiB); filled at {:.0} mentions/s; then all tiers at the cap: {:.0} mentions/s over {} mentions ({:.0}/s over the first 200,000, median of 200,000-mention chunks {:.0}/s), {:.2} candidates compared per mention",
        s.len(),
        live as f64 / (1 << 20) as f64,
        live as f64 / s.len().max(1) as f64,
        s.state_bytes() as f64 / (1 << 20) as f64,
        n as f64 / secs,
        steady_rate,
        done,
        first_rate,
        median_rate,
        compared
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--list") {
        memory_report();
    }
}
