//! Per-record cost of the foundation: decoding + validating a simulated mention and encoding
//! the enriched output, on one thread. Run: `cargo bench --bench foundation`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tocsin::mention::{decode, DecodeLimits, RawRecord};
use tocsin::simulate::{SimConfig, Simulator};

fn records() -> Vec<RawRecord> {
    Simulator::new(SimConfig {
        minutes: 30,
        malformed_rate: 0.0,
        ..SimConfig::default()
    })
    .map(|i| i.record)
    .take(5000)
    .collect()
}

fn bench(c: &mut Criterion) {
    let recs = records();
    let now = SimConfig::default().start_ms + 86_400_000;
    let limits = DecodeLimits::default();
    let mut g = c.benchmark_group("foundation");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("decode", |b| {
        b.iter_batched(
            || recs.clone(),
            |rs| {
                rs.into_iter()
                    .filter_map(|r| decode(r, &limits, now).ok())
                    .count()
            },
            BatchSize::LargeInput,
        )
    });
    let mentions: Vec<_> = recs
        .iter()
        .cloned()
        .filter_map(|r| decode(r, &limits, now).ok())
        .collect();
    g.bench_function("encode", |b| {
        b.iter(|| mentions.iter().map(|m| m.encode().len()).sum::<usize>())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
