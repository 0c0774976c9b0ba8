//! `tocsin train-intent` and `tocsin eval-scoring`: fit the learned intent option to labelled
//! posts, and measure the stage (complaint detection, influence ranking, brand matching) on
//! labelled data. Both print their figures to standard output; README "Scoring" quotes them.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use super::model::TrainOptions;
use super::{eval, Scorer};
use crate::config::PipelineConfig;

#[derive(Args)]
pub struct TrainIntentArgs {
    /// TSV with a header: `text` and `intent` (intent names) or `label`/`is_complaint` (1/0).
    #[arg(long)]
    input: PathBuf,
    /// Where to save the model (point `stages.scoring.model` at it).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Report k-fold cross-validated precision, recall and F1 instead of only training.
    #[arg(long)]
    cv: Option<usize>,
    /// Pipeline config whose `[stages.scoring]` lexicons the model builds on.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Inverse L2 regularisation strength (larger fits the examples more closely).
    #[arg(long, default_value_t = 30.0)]
    c: f64,
    /// L-BFGS iterations at most.
    #[arg(long, default_value_t = 100)]
    max_iters: u64,
    /// Model probability at or above which a post counts as a problem (default: the config's
    /// `model_threshold`).
    #[arg(long)]
    threshold: Option<f64>,
    /// A sentence encoder (BERT family, Hugging Face layout: config.json, tokenizer.json,
    /// model.safetensors; `scripts/fetch-encoder` gets all-MiniLM-L6-v2) whose embeddings join
    /// the features: more accurate, about 20 ms of CPU per mention (README, "Scoring").
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Seed of the cross-validation's shuffle (other seeds show how much the figure moves).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print up to N posts the rules get wrong, with the cues that fired (tuning lexicons).
    #[arg(long, default_value_t = 0)]
    show_errors: usize,
}

#[derive(Args)]
pub struct EvalScoringArgs {
    /// Labelled TSV (`text` and `is_complaint`/`label`/`intent`): complaint P/R/F1.
    #[arg(long)]
    complaints: Option<PathBuf>,
    /// Tweets CSV with followers and engagement: Spearman of influence vs engagement.
    #[arg(long)]
    influence: Option<PathBuf>,
    /// Brand matching on the generated misspelling and look-alike set.
    #[arg(long)]
    brands: bool,
    /// Pipeline config for `[stages.scoring]` (lexicons, model, dictionaries) and brands.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The pipeline whose `[stages.scoring]` to measure: the given file, else the demo's.
fn scoring_config(path: Option<&PathBuf>) -> Result<PipelineConfig> {
    let cfg = match path {
        Some(p) => PipelineConfig::load(p)?,
        None => PipelineConfig::parse(crate::demo::DEMO_CONFIG, std::path::Path::new("pipelines"))?,
    };
    Ok(cfg)
}

/// `tocsin train-intent`.
pub fn train_intent(a: TrainIntentArgs) -> Result<()> {
    let mut cfg = scoring_config(a.config.as_ref())?.stages.scoring;
    cfg.model = None;
    let rules = Scorer::new(&cfg, &[])?;
    let rows = eval::read_labelled(&a.input)?;
    let opts = TrainOptions {
        c: a.c,
        max_iters: a.max_iters,
        seed: a.seed,
    };
    let encoder = match &a.encoder {
        Some(dir) => {
            let started = std::time::Instant::now();
            let e = super::encoder::Encoder::load(dir)?;
            println!(
                "encoder {} ({} dimensions) loaded in {:.1} s",
                dir.display(),
                e.dim(),
                started.elapsed().as_secs_f64()
            );
            Some(std::sync::Arc::new(e))
        }
        None => None,
    };
    println!("{} labelled posts from {}", rows.len(), a.input.display());
    println!("rules alone:        {}", eval::eval_intent(&rules, &rows));
    let mut shown = 0;
    let mut scratch = super::Scratch::default();
    for r in &rows {
        if shown >= a.show_errors {
            break;
        }
        let m = crate::mention::Mention::plain("x", crate::mention::Platform::Twitter, 0, &r.text);
        let s = rules.score(&m, &mut scratch);
        if s.intent.is_urgent() != r.label.is_urgent() {
            shown += 1;
            println!(
                "{}\t{}\t{:?}\t{}",
                r.label.as_str(),
                s.intent.as_str(),
                s.intent_cues,
                r.text
            );
        }
    }
    if let Some(k) = a.cv.filter(|k| *k >= 2) {
        let (pooled, per) = eval::cross_validate(
            &rules,
            &rows,
            k,
            a.threshold.unwrap_or(cfg.model_threshold),
            opts,
            encoder.as_ref(),
        );
        for (i, f) in per.iter().enumerate() {
            println!("fold {}: {f}", i + 1);
        }
        println!("rules + model, {k}-fold cross-validation: {pooled}");
    }
    if let Some(out) = &a.output {
        let m = eval::train(&rules, &rows, opts, encoder.as_ref());
        m.save(out, rows.len())?;
        println!(
            "saved {} (labels: {:?}); set stages.scoring.model to use it",
            out.display(),
            m.labels
        );
    }
    Ok(())
}

/// `tocsin eval-scoring`.
pub fn eval_scoring(a: EvalScoringArgs) -> Result<()> {
    let cfg = scoring_config(a.config.as_ref())?;
    let sc = &cfg.stages.scoring;
    if let Some(p) = &a.complaints {
        let scorer = Scorer::new(sc, &cfg.brands)?;
        let rows = eval::read_labelled(p)?;
        let what = if sc.model.is_some() {
            "rules + model"
        } else {
            "rules"
        };
        println!(
            "complaints ({} posts, {what}): {}",
            rows.len(),
            eval::eval_intent(&scorer, &rows)
        );
    }
    if let Some(p) = &a.influence {
        let scorer = Scorer::new(sc, &cfg.brands)?;
        let (inf, fol, n) = eval::eval_influence(&scorer, p)?;
        println!(
            "influence ({n} posts): Spearman with engagement {inf:.3}; followers alone {fol:.3}"
        );
    }
    if a.brands {
        let dict: Vec<String> = std::fs::read_to_string(super::SYSTEM_DICTIONARY)
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let mut bare = sc.clone();
        bare.dictionaries = Some(Vec::new());
        for (what, cfg) in [("as configured", sc), ("without dictionaries", &bare)] {
            let (p, r, pos, neg, misses) =
                eval::eval_brands(|brands| Scorer::new(cfg, brands).expect("scorer"), &dict);
            println!(
                "brands {what}: precision {p:.4}  recall {r:.4}  ({pos} misspellings, {neg} look-alike texts from {} dictionary words)",
                dict.len()
            );
            for m in misses.iter().take(5) {
                println!("  false hit: {m}");
            }
        }
    }
    Ok(())
}
