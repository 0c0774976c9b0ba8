//! Spike stage speed and detector memory.
//!
//! `cargo bench --bench spikes`: mentions/s into the stage (counting into buckets of brand,
//! brand × platform, language and intent keys, closing buckets, detecting), with and without
//! the theme keys (which read every counted text), and the detector's bytes per key for
//! 100,000 active keys, and checkpoint sizes and times (printed).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;

use tocsin::clock::{ManualClock, SharedClock};
use tocsin::metrics::Metrics;
use tocsin::pipeline::Stage;
use tocsin::stages::spikes::detector::{Detector, DetectorConfig, Params, Values};
use tocsin::stages::spikes::SpikeStage;

fn bench(c: &mut Criterion) {
    let with_themes = tocsin::demo::default_config().unwrap();
    let mut without = with_themes.clone();
    without
        .stages
        .spikes
        .dimensions
        .retain(|d| *d != tocsin::stages::spikes::Dimension::Theme);
    // As in the pipeline, dedup has run: its status decides what counts, and the themes read
    // the content-word hashes it computed.
    let mut input = common::mentions(200_000, 10000);
    let mut dedup = tocsin::stages::dedup::DedupStage::new(
        &with_themes.stages.dedup,
        &with_themes.brands,
        Arc::new(Metrics::new("bench")),
    );
    for chunk in input.chunks_mut(1000) {
        dedup.process(chunk);
    }
    let mut g = c.benchmark_group("spikes");
    g.sample_size(10);
    g.throughput(Throughput::Elements(input.len() as u64));
    for (name, cfg) in [
        ("stage_200k_mentions", &with_themes),
        ("stage_200k_mentions_no_themes", &without),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let clock: SharedClock = Arc::new(ManualClock::new(0));
                    let stage = SpikeStage::new(
                        &cfg.stages.spikes,
                        &cfg.brands,
                        None,
                        clock,
                        Arc::new(Metrics::new("bench")),
                    );
                    (stage, input.clone())
                },
                |(mut stage, mut batch)| {
                    for chunk in batch.chunks_mut(1000) {
                        stage.process(chunk);
                    }
                    // Returned, so criterion drops the mentions outside the timing (the
                    // pipeline frees them in the sink, not in this stage).
                    (stage, batch)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    // The theme path alone: terms of each text into a brand's frequent-terms summary.
    let texts: Vec<&str> = input.iter().map(|m| m.text.as_str()).collect();
    g.bench_function("theme_terms_200k_texts", |b| {
        b.iter(|| {
            let mut sk = tocsin::stages::spikes::themes::ThemeSketch::new(1024);
            let mut out = Vec::new();
            for t in &texts {
                out.clear();
                sk.observe(t, &mut out);
            }
            sk
        })
    });
    // The same from the hashes dedup handed on (what the stage does after dedup).
    g.bench_function("theme_terms_200k_from_dedup", |b| {
        b.iter(|| {
            let mut sk = tocsin::stages::spikes::themes::ThemeSketch::new(1024);
            let mut out = Vec::new();
            for m in &input {
                out.clear();
                match m.enrich.dedup.as_ref() {
                    Some(d) if !d.terms.is_empty() => {
                        sk.observe_hashes(&d.terms, &m.text, &mut out)
                    }
                    _ => sk.observe(&m.text, &mut out),
                }
            }
            sk
        })
    });
    g.finish();

    // Memory: 100,000 detectors after a day of 1-minute buckets.
    let p = Params::new(&DetectorConfig::default(), 60, Values::Counts);
    let mut dets: Vec<Detector> = (0..100_000).map(|_| Detector::new(&p)).collect();
    for t in 0..10 {
        for (i, d) in dets.iter_mut().enumerate() {
            d.observe(&p, t * 60, (i % 7) as f64);
        }
    }
    let bytes: usize = dets.iter().map(|d| d.size_bytes()).sum();
    println!(
        "detector state: {} keys, {:.1} MiB, {} bytes/key",
        dets.len(),
        bytes as f64 / (1 << 20) as f64,
        bytes / dets.len()
    );

    // Checkpoints: the 100,000 detectors as the checkpoint encodes them, and the whole stage
    // (series, themes, open buckets) after the 200k mentions above, written and restored.
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    ciborium::into_writer(&dets, &mut buf).unwrap();
    let enc = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let back: Vec<Detector> = ciborium::from_reader(buf.as_slice()).unwrap();
    let dec = t.elapsed().as_secs_f64();
    assert_eq!(back.len(), dets.len());
    println!(
        "checkpoint of {} detectors: {:.1} MiB ({} bytes/key), encoded in {:.3} s, decoded in {:.3} s",
        dets.len(),
        buf.len() as f64 / (1 << 20) as f64,
        buf.len() / dets.len(),
        enc,
        dec
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spikes.checkpoint");
    let cfg = &with_themes;
    let new_stage = || {
        SpikeStage::new(
            &cfg.stages.spikes,
            &cfg.brands,
            None,
            Arc::new(ManualClock::new(0)),
            Arc::new(Metrics::new("bench")),
        )
    };
    let mut stage = new_stage();
    for chunk in input.chunks_mut(1000) {
        stage.process(chunk);
    }
    let t = std::time::Instant::now();
    stage.save_checkpoint(&path).unwrap();
    let write = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let r = new_stage().restore_checkpoint(&path).unwrap().unwrap();
    println!(
        "stage checkpoint after 200k mentions: {} series, {:.0} KiB, written (fsync, rename) in {:.3} s, restored in {:.3} s",
        r.series,
        std::fs::metadata(&path).unwrap().len() as f64 / 1024.0,
        write,
        t.elapsed().as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
