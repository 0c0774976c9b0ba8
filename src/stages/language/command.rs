//! `tocsin detect-lang`: the language stage alone, on lines of text or, with `--eval`, on
//! labelled TSV (`lang<TAB>text`), so anyone can measure it on their own posts.

use anyhow::{bail, Context as _, Result};
use std::io::Write;
use std::path::PathBuf;

use super::detector::Context;
use super::eval::{evaluate, parse_tsv};
use super::{known, LanguageConfig};
use crate::config::PipelineConfig;

#[derive(clap::Args, Debug, Clone)]
pub struct DetectLangArgs {
    /// Text to read, one post per line (`-` = standard input).
    #[arg(long, default_value = "-")]
    input: String,
    /// INPUT is labelled TSV (`lang<TAB>text[<TAB>…]`, optional `lang` header): print accuracy
    /// per language, the commonest confusions, calibration and throughput.
    #[arg(long)]
    eval: bool,
    /// Candidate languages, comma-separated ISO 639-1 codes (default: all, or the config's).
    #[arg(long, value_delimiter = ',')]
    languages: Vec<String>,
    /// Take `[stages.language]` from this pipeline file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Use only the static prior (by default the stream's language mix is learned as the
    /// pipeline stage learns it, post by post).
    #[arg(long)]
    static_prior: bool,
    /// Override the weight of the static prior (1 = Bayes, 0 = none).
    #[arg(long)]
    prior_weight: Option<f32>,
    /// With --eval: print up to N misdetected posts.
    #[arg(long, default_value_t = 0)]
    show_errors: usize,
}

pub fn run(a: DetectLangArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => PipelineConfig::load(p)?.stages.language,
        None => LanguageConfig::default(),
    };
    for l in &a.languages {
        if !known(l) {
            bail!("--languages: unknown language {l:?}; use ISO 639-1 codes (e.g. en,fr,de)");
        }
    }
    if !a.languages.is_empty() {
        cfg.languages = a.languages.clone();
    }
    if let Some(w) = a.prior_weight {
        cfg.prior_weight = w;
    }
    let det = cfg.detector(&[]);
    let text = if a.input == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(&a.input).with_context(|| format!("cannot read {}", a.input))?
    };
    if a.eval {
        let rows = parse_tsv(&text);
        if rows.is_empty() {
            bail!("{}: no `lang<TAB>text` rows", a.input);
        }
        let report = evaluate(&det, &rows, !a.static_prior);
        let mut text = format!(
            "{} posts, {} candidate languages, model {:.1} MB, prior: {}\n{report}",
            rows.len(),
            det.log_prior().iter().filter(|p| p.is_finite()).count(),
            det.model().size_bytes() as f64 / 1e6,
            if a.static_prior {
                "static"
            } else {
                "learned from the stream"
            }
        );
        if a.show_errors > 0 {
            text.push_str("\nmisdetected (static prior):\n");
            let wrong = rows.iter().filter_map(|(gold, t)| {
                let d = det.detect(t, Context::default());
                (d.lang != gold.as_str())
                    .then(|| format!("  {gold} → {} ({:.2}): {t}\n", d.lang, d.confidence))
            });
            text.extend(wrong.take(a.show_errors));
        }
        return quiet_on_broken_pipe(std::io::stdout().lock().write_all(text.as_bytes()));
    }
    let mut mix = super::mix::LanguageMix::new(&det, cfg.mix_half_life);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in text.lines() {
        let d = if a.static_prior {
            det.detect(line, Context::default())
        } else {
            mix.detect_next(&det, line)
        };
        quiet_on_broken_pipe(writeln!(out, "{}\t{:.3}\t{line}", d.lang, d.confidence))?;
    }
    quiet_on_broken_pipe(out.flush())
}

/// `tocsin detect-lang … | head` is not an error.
fn quiet_on_broken_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => Ok(r?),
    }
}
