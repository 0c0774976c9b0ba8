//! The `tocsin backtest` command: arguments, reading history, progress, output.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::report::{summarise, Inputs, Report};
use super::Replay;
use crate::archive::read::{self, Selection};
use crate::clock::Millis;
use crate::config::PipelineConfig;
use crate::mention::{decode, Mention, Origin, RawRecord};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("history").required(true).args(["archive", "input"])))]
pub struct BacktestArgs {
    /// An archive folder (the `archive.path` of a pipeline) to replay.
    #[arg(long)]
    archive: Option<PathBuf>,
    /// A JSON-lines file of mentions (input or enriched form) to replay; held in memory and
    /// sorted by `created_at`.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Pipeline config whose stages, brands and broadcast rule to use (default: the demo's).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Replay from this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long)]
    from: Option<String>,
    /// Replay until this time (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Only this brand's mentions (archive: its `brand` column).
    #[arg(long)]
    brand: Option<String>,
    /// Override `stages.spikes.detector.threshold` (judge a sensitivity change).
    #[arg(long)]
    threshold: Option<f64>,
    /// Write every incident event (JSON lines, as the pipeline would) to this file.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Detect languages again instead of using the archived ones (slower; to judge a change
    /// to the language stage). Input files are always detected.
    #[arg(long)]
    detect_lang: bool,
    /// After the last mention, let this many minutes of quiet pass (incidents may resolve).
    #[arg(long, default_value_t = 0)]
    drain_minutes: u64,
}

fn parse_time(s: &str) -> Result<Millis> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(d.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis());
    }
    bail!("`{s}` is not a time; use RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)")
}

fn bar(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} mentions ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Reads a JSON-lines file, sorted by event time then id; undecodable lines are counted.
fn load_jsonl(
    path: &PathBuf,
    cfg: &PipelineConfig,
    sel: &Selection,
) -> Result<(Vec<Mention>, u64)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let limits = cfg.limits.decode_limits();
    let now = chrono::Utc::now().timestamp_millis();
    let origin: std::sync::Arc<str> = path.display().to_string().into();
    let (mut out, mut dead) = (Vec::new(), 0u64);
    // Bytes, not strings: a line that is not UTF-8 is a dead letter, not the end of the file.
    for (n, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec = RawRecord {
            payload: line,
            key: None,
            origin: Origin::File {
                path: origin.clone(),
                line: n as u64 + 1,
            },
        };
        match decode(rec, &limits, now) {
            Ok(m) => {
                let t = m.created_at_ms;
                let keep = sel.from_ms.is_none_or(|f| t >= f)
                    && sel.to_ms.is_none_or(|e| t < e)
                    && sel
                        .brand
                        .as_ref()
                        .is_none_or(|b| m.brand.as_ref() == Some(b));
                if keep {
                    out.push(m);
                }
            }
            Err(_) => dead += 1,
        }
    }
    out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    Ok((out, dead))
}

pub async fn run(a: BacktestArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => PipelineConfig::load(p)?,
        None => crate::demo::default_config()?,
    };
    if let Some(t) = a.threshold {
        cfg.stages.spikes.detector.threshold = t;
        let file = a
            .config
            .clone()
            .unwrap_or_else(|| "(backtest arguments)".into());
        cfg.validate(&file)?;
    }
    let sel = Selection {
        from_ms: a.from.as_deref().map(parse_time).transpose()?,
        to_ms: a.to.as_deref().map(parse_time).transpose()?,
        brand: a.brand.clone(),
    };
    // An archive already holds each mention's detected language: replaying without the
    // language stage is several times faster and gives the keys the live pipeline gave.
    let reuse_lang = a.archive.is_some() && !a.detect_lang;
    if reuse_lang {
        cfg.stages.language.enabled = false;
    }
    let batch_size = cfg.pipeline.batch_size.max(1);
    let mut replay = Replay::new(&cfg)?;
    let started = Instant::now();
    let mut dead = 0;
    if let Some(path) = &a.input {
        let (ms, d) = load_jsonl(path, &cfg, &sel)?;
        dead = d;
        let pb = bar(ms.len() as u64);
        replay.feed_all(ms, batch_size, |n| pb.inc(n));
        pb.finish_and_clear();
    } else if let Some(root) = &a.archive {
        let ctx = crate::archive::query::context(root).await?;
        let total = crate::archive::query::sql(&ctx, &read::count_statement(&sel))
            .await?
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Int64Array>()
                    .map(|c| c.value(0) as u64)
            })
            .unwrap_or(0);
        let pb = bar(total);
        replay
            .feed_archive(root, &sel, batch_size, reuse_lang, |n| pb.inc(n))
            .await
            .context("reading the archive failed")?;
        pb.finish_and_clear();
    }
    let (mentions, out_of_order) = (replay.mentions, replay.out_of_order);
    let (first_ms, last_ms) = (replay.first_ms, replay.last_ms);
    let raw = replay.finish(a.drain_minutes as i64 * 60_000);
    let wall_secs = started.elapsed().as_secs_f64();
    if let Some(p) = &a.events {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        );
        for e in &raw {
            f.write_all(e)?;
            f.write_all(b"\n")?;
        }
        f.flush()?;
    }
    let events = Replay::parse(&raw);
    let report: Report = summarise(Inputs {
        events: &events,
        mentions,
        dead_letters: dead,
        out_of_order,
        first_ms,
        last_ms,
        wall_secs,
        languages: if reuse_lang { "archived" } else { "detected" },
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
