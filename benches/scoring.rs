//! Scoring stage speed on one core.
//!
//! `cargo bench --bench scoring`: mentions/s through the whole stage (tokenising, lexicon cues,
//! brands with fuzzy matching and the system dictionary guard, personal data, influence,
//! priority, SLA, metrics) applied one mention at a time on one thread, on simulated tweets of
//! nine languages.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;

use tocsin::metrics::Metrics;
use tocsin::pipeline::MapStage;
use tocsin::stages::scoring::{Scorer, ScoringStage};

fn bench(c: &mut Criterion) {
    let cfg = tocsin::demo::default_config().unwrap();
    let input = common::mentions(50_000, 1000);
    let avg_len = input.iter().map(|m| m.text.len()).sum::<usize>() / input.len();
    eprintln!(
        "{} mentions, {avg_len} bytes of text on average",
        input.len()
    );
    let scorer = Scorer::new(&cfg.stages.scoring, &cfg.brands).unwrap();
    let stage = ScoringStage::new(scorer, Arc::new(Metrics::new("bench")));
    let mut g = c.benchmark_group("scoring");
    g.sample_size(10);
    g.throughput(Throughput::Elements(input.len() as u64));
    // Scoring the same mentions again replaces (and frees) their previous score, as the
    // allocator would see in a pipeline; cloning fresh inputs would measure the clone.
    let mut batch = input.clone();
    g.bench_function("stage_one_core_50k_mentions", |b| {
        b.iter(|| {
            for m in batch.iter_mut() {
                stage.apply(m);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
