//! Archive, SQL and backtest speed (issue 9's targets), with the project's own timing: each
//! figure is the median of several runs, printed with the run count.
//!
//! `cargo bench --bench archive` measures:
//! 1. archive write: 200,000 enriched simulated mentions → Arrow rows → zstd Parquet, committed
//!    (closed, fsynced, renamed), in mentions/s (also with snappy);
//! 2. SQL: an hourly count by language over 10,000,000 archived mentions (the 200,000 written
//!    50 times, each copy shifted by a day);
//! 3. backtest: a day of simulated traffic (300,000 mentions), archived, then replayed through
//!    dedup, scoring and spike detection (demo config) from the archive with its languages,
//!    from the archive detecting languages again, and from memory with every stage; mentions/s.
//!
//! `TOCSIN_BENCH_ROWS=1000000` (say) shrinks step 2 for a quick look.

mod common;

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use tocsin::archive::schema::mentions_batch;
use tocsin::archive::{ArchiveConfig, ArchiveWriter, Codec, Table};
use tocsin::backtest::Replay;
use tocsin::clock::{ManualClock, SharedClock};
use tocsin::mention::Mention;
use tocsin::metrics::Metrics;
use tocsin::stages::brand_router::BrandRouter;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        total += if path.is_dir() {
            dir_bytes(&path)
        } else {
            e.metadata().map(|m| m.len()).unwrap_or(0)
        };
    }
    total
}

/// Mentions enriched by the demo config's stages, as the archive sees them.
fn enriched(n: usize) -> Vec<Mention> {
    enriched_copy(&common::mentions(n, 24 * 60))
}

fn write_once(ms: &[Mention], router: &BrandRouter, codec: Codec) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ArchiveConfig::at(dir.path().display().to_string());
    cfg.compression = codec;
    let mut w = ArchiveWriter::open(&cfg, None).unwrap();
    let t = Instant::now();
    for chunk in ms.chunks(1000) {
        let refs: Vec<&Mention> = chunk.iter().collect();
        w.write(Table::Mentions, &mentions_batch(&refs, router, true, 0))
            .unwrap();
    }
    w.commit().unwrap();
    (t.elapsed().as_secs_f64(), dir_bytes(dir.path()))
}

fn shifted(b: &RecordBatch, by_ms: i64) -> RecordBatch {
    let t = b
        .column(2)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    let moved: TimestampMillisecondArray = t
        .iter()
        .map(|v| v.map(|v| v + by_ms))
        .collect::<TimestampMillisecondArray>()
        .with_timezone("UTC");
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    cols[2] = Arc::new(moved);
    RecordBatch::try_new(b.schema(), cols).unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; nothing to list here
    }
    let n = 200_000;
    let ms = enriched(n);
    let router = BrandRouter::new(&tocsin::demo::default_config().unwrap().brands);

    // 1. Write.
    for codec in [Codec::Zstd, Codec::Snappy] {
        let runs: Vec<(f64, u64)> = (0..5).map(|_| write_once(&ms, &router, codec)).collect();
        let secs = median(runs.iter().map(|r| r.0).collect());
        println!(
            "archive write ({codec:?}): {n} mentions, median of 5: {:.3} s = {:.0} mentions/s, {:.0} bytes/mention on disk",
            secs,
            n as f64 / secs,
            runs[0].1 as f64 / n as f64
        );
    }

    // 2. Hourly count by language over a large archive.
    let target: usize = std::env::var("TOCSIN_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let cfg = ArchiveConfig::at(dir.path().display().to_string());
    let mut w = ArchiveWriter::open(&cfg, None).unwrap();
    let batches: Vec<RecordBatch> = ms
        .chunks(10_000)
        .map(|c| {
            let refs: Vec<&Mention> = c.iter().collect();
            mentions_batch(&refs, &router, true, 0)
        })
        .collect();
    let t = Instant::now();
    let mut rows = 0;
    let mut copy = 0i64;
    while rows < target {
        for b in &batches {
            w.write(Table::Mentions, &shifted(b, copy * 86_400_000))
                .unwrap();
            rows += b.num_rows();
        }
        w.commit().unwrap();
        copy += 1;
    }
    println!(
        "built a {rows}-mention archive ({copy} days) in {:.1} s, {:.0} MiB",
        t.elapsed().as_secs_f64(),
        dir_bytes(dir.path()) as f64 / (1 << 20) as f64
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sql = "SELECT date, hour, lang, count(*) AS n FROM mentions GROUP BY date, hour, lang";
    let mut times = Vec::new();
    let mut groups = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = rt.block_on(async {
            let ctx = tocsin::archive::query::context(dir.path()).await.unwrap();
            tocsin::archive::query::sql(&ctx, sql).await.unwrap()
        });
        times.push(t.elapsed().as_secs_f64());
        groups = out.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    println!(
        "hourly count by language over {rows} archived mentions ({groups} groups): median of 5 {:.3} s (min {:.3}, max {:.3})",
        median(times.clone()),
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max)
    );
    drop(dir);

    // 3. Backtest: a day of traffic, archived, then replayed as `tocsin backtest` does:
    //    from the archive (Parquet read + replay; archived languages, and detected again),
    //    and from mentions in memory (what `--input` replays after loading the file).
    let cfg = tocsin::demo::default_config().unwrap();
    let history = common::mentions(300_000, 24 * 60);
    let archived = enriched_copy(&history);
    let dir = tempfile::tempdir().unwrap();
    let acfg = ArchiveConfig::at(dir.path().display().to_string());
    let mut w = ArchiveWriter::open(&acfg, None).unwrap();
    for chunk in archived.chunks(10_000) {
        let refs: Vec<&Mention> = chunk.iter().collect();
        w.write(Table::Mentions, &mentions_batch(&refs, &router, true, 0))
            .unwrap();
    }
    w.commit().unwrap();
    drop(w);
    let n = history.len() as f64;
    let report = |what: &str, times: Vec<f64>| {
        let secs = median(times);
        println!(
            "backtest, {what}: {n} mentions, median of 3: {secs:.2} s = {:.0} mentions/s",
            n / secs
        );
    };
    for reuse_lang in [true, false] {
        let mut rcfg = cfg.clone();
        rcfg.stages.language.enabled = !reuse_lang;
        let mut times = Vec::new();
        for _ in 0..3 {
            let mut replay = Replay::new(&rcfg).unwrap();
            let t = Instant::now();
            rt.block_on(replay.feed_archive(
                dir.path(),
                &Default::default(),
                rcfg.pipeline.batch_size,
                reuse_lang,
                |_| {},
            ))
            .unwrap();
            std::hint::black_box(replay.finish(0));
            times.push(t.elapsed().as_secs_f64());
        }
        let what = if reuse_lang {
            "from the archive, archived languages"
        } else {
            "from the archive, languages detected again (--detect-lang)"
        };
        report(what, times);
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        let input = history.clone();
        let mut replay = Replay::new(&cfg).unwrap();
        let t = Instant::now();
        replay.feed_all(input, cfg.pipeline.batch_size, |_| {});
        std::hint::black_box(replay.finish(0));
        times.push(t.elapsed().as_secs_f64());
    }
    report(
        "mentions in memory, every stage (--input after loading)",
        times,
    );
}

/// `ms` enriched by the demo stages (in event-time order, as an archive holds them).
fn enriched_copy(ms: &[Mention]) -> Vec<Mention> {
    let cfg = tocsin::demo::default_config().unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(0));
    let mut stages = tocsin::stages::build(&cfg, clock, Arc::new(Metrics::new("bench"))).unwrap();
    let mut out = ms.to_vec();
    for chunk in out.chunks_mut(1000) {
        for s in stages.iter_mut() {
            s.process(chunk);
        }
    }
    out
}
