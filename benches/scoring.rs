//! Scoring stage speed on one core.
//!
//! `cargo bench --bench scoring`: mentions/s through the whole stage (tokenising, lexicon cues,
//! brands with fuzzy matching and the system dictionary guard, personal data, influence,
//! priority, SLA, metrics) applied one mention at a time on one thread, on simulated tweets of
//! nine languages, then on real customer tweets (`../shared/data/twcs/tweets.csv`, read at run
//! time and skipped when absent) with no language known, so every lexicon is a candidate.
//! With `../shared/data/complaints/dev.tsv` it also trains the learned intent option on it
//! and measures the stage with that model (`with_model_real_tweets`), and, when the encoder is
//! in `models/all-MiniLM-L6-v2` (`scripts/fetch-encoder`), with model and encoder on 500
//! tweets (`with_encoder_real_tweets`).

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
    if let Some(texts) = real_tweets(input.len()) {
        let avg = texts.iter().map(String::len).sum::<usize>() / texts.len().max(1);
        eprintln!(
            "{} real tweets, {avg} bytes of text on average",
            texts.len()
        );
        let mut real: Vec<_> = input
            .iter()
            .cycle()
            .zip(texts)
            .map(|(m, text)| {
                let mut m = m.clone();
                m.text = text;
                m.lang_hint = None;
                m
            })
            .collect();
        g.throughput(Throughput::Elements(real.len() as u64));
        g.bench_function("stage_one_core_real_tweets", |b| {
            b.iter(|| {
                for m in real.iter_mut() {
                    stage.apply(m);
                }
            })
        });
        let dir = std::env::temp_dir().join(format!("tocsin-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, encoder, n) in [
            ("with_model_real_tweets", None, real.len()),
            (
                "with_encoder_real_tweets",
                Some("models/all-MiniLM-L6-v2"),
                500,
            ),
        ] {
            let Some(model) = train_model(&dir, encoder) else {
                continue;
            };
            let mut sc = cfg.stages.scoring.clone();
            sc.model = Some(model.display().to_string());
            let scorer = Scorer::new(&sc, &cfg.brands).unwrap();
            let stage = ScoringStage::new(scorer, Arc::new(Metrics::new("bench")));
            let batch = &mut real[..n];
            g.throughput(Throughput::Elements(batch.len() as u64));
            g.bench_function(name, |b| {
                b.iter(|| {
                    for m in batch.iter_mut() {
                        stage.apply(m);
                    }
                })
            });
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

/// A model trained on the complaints set (with the encoder in `encoder`), saved in `dir`;
/// `None` when the data or the encoder is not here.
fn train_model(dir: &std::path::Path, encoder: Option<&str>) -> Option<std::path::PathBuf> {
    use tocsin::stages::scoring::{encoder::Encoder, eval, ScoringConfig};
    let data = std::path::Path::new("../shared/data/complaints/dev.tsv");
    let rows = eval::read_labelled(data).ok()?;
    let enc = match encoder {
        Some(e) => match Encoder::load(std::path::Path::new(e)) {
            Ok(e) => Some(Arc::new(e)),
            Err(e) => {
                eprintln!("{e}: encoder bench skipped");
                return None;
            }
        },
        None => None,
    };
    let rules = Scorer::new(&ScoringConfig::default(), &[]).unwrap();
    let m = eval::train(&rules, &rows, Default::default(), enc.as_ref());
    let path = dir.join(format!("model-{}.json", enc.is_some()));
    m.save(&path, rows.len()).unwrap();
    Some(path)
}

/// Up to `n` customer tweets (inbound) of the twcs corpus, when it is beside the project.
fn real_tweets(n: usize) -> Option<Vec<String>> {
    let path = std::path::Path::new("../shared/data/twcs/tweets.csv");
    let Ok(mut rd) = csv::Reader::from_path(path) else {
        eprintln!("{} not found: real-tweet bench skipped", path.display());
        return None;
    };
    let texts: Vec<String> = rd
        .records()
        .filter_map(Result::ok)
        .filter(|r| r.get(2) == Some("True"))
        .filter_map(|r| r.get(4).map(str::to_string))
        .take(n)
        .collect();
    (!texts.is_empty()).then_some(texts)
}

criterion_group!(benches, bench);
criterion_main!(benches);
