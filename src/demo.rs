//! `tocsin demo`: the whole pipeline on a simulated stream with an injected incident, no Kafka
//! and no setup. Serves `/metrics`, writes the enriched mentions and dead letters to files, and
//! prints a live summary.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{FileSinkConfig, PipelineConfig, SinkConfig};
use crate::mention::Mention;
use crate::metrics::Metrics;
use crate::pipeline::{Health, Shutdown, Stage};
use crate::simulate::{IncidentSpec, SimConfig, Simulator};
use crate::sources::{generator::GeneratorSource, Source};
use crate::{assemble, clock, stages};

pub const DEMO_CONFIG: &str = include_str!("../pipelines/demo.toml");

/// The built-in demo pipeline config.
pub fn default_config() -> Result<PipelineConfig> {
    let p = Path::new("pipelines/demo.toml (built in)");
    let cfg = PipelineConfig::parse(DEMO_CONFIG, p)?;
    cfg.validate(p)?;
    Ok(cfg)
}

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Simulated hours of traffic (ending at --end); an incident starts a third of the way in.
    #[arg(long, default_value_t = 8.0)]
    hours: f64,
    /// Mentions per simulated minute, on average.
    #[arg(long, default_value_t = 300.0)]
    per_minute: f64,
    /// Mentions per wall-clock second fed into the pipeline (0 = as fast as possible).
    #[arg(long, default_value_t = 4000.0)]
    rate: f64,
    /// Address for /metrics, /healthz, /readyz (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    listen: String,
    /// Folder for enriched.jsonl, dead_letters.jsonl, incidents.jsonl and the Parquet
    /// archive (`archive/`, for `tocsin query` and `tocsin backtest`).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("tocsin-demo"))]
    out: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// When the simulated traffic ends (RFC 3339, e.g. 2026-12-02T18:00:00Z; default: now).
    /// Traffic follows a daily curve, so the same end replays the same demo at any hour.
    #[arg(long)]
    end: Option<String>,
    /// Seconds between live summaries.
    #[arg(long, default_value_t = 3)]
    every: u64,
    /// Keep serving /metrics after the stream ends, until Ctrl-C.
    #[arg(long)]
    linger: bool,
}

/// What the demo shows, gathered by an observer stage at the end of the pipeline.
#[derive(Default)]
struct Summary {
    mentions: u64,
    by_lang: HashMap<String, u64>,
    by_platform: HashMap<&'static str, u64>,
    by_dedup: HashMap<&'static str, u64>,
    by_brand: HashMap<String, u64>,
    by_intent: HashMap<&'static str, u64>,
    private_replies: u64,
    /// Priority 70+ (answer these first).
    urgent: u64,
}

struct Observer(Arc<Mutex<Summary>>);

impl Stage for Observer {
    fn name(&self) -> &'static str {
        "demo_observer"
    }
    fn process(&mut self, batch: &mut [Mention]) {
        let Ok(mut s) = self.0.lock() else { return };
        for m in batch.iter() {
            s.mentions += 1;
            let lang = m
                .enrich
                .lang
                .clone()
                .or_else(|| m.lang_hint.as_ref().map(|h| format!("{h} (hint)")))
                .unwrap_or_else(|| "unknown".into());
            *s.by_lang.entry(lang).or_default() += 1;
            *s.by_platform.entry(m.platform.as_str()).or_default() += 1;
            if let Some(d) = &m.enrich.dedup {
                *s.by_dedup.entry(d.status.as_str()).or_default() += 1;
            }
            let scored = m.enrich.score.as_deref();
            let brand = m
                .brand
                .clone()
                .or_else(|| {
                    scored
                        .and_then(|x| x.brands.first())
                        .map(|b| format!("{} (text)", b.id))
                })
                .unwrap_or_else(|| "(none)".into());
            *s.by_brand.entry(brand).or_default() += 1;
            if let Some(x) = scored {
                *s.by_intent.entry(x.intent.as_str()).or_default() += 1;
                s.private_replies += u64::from(x.private_reply);
                s.urgent += u64::from(x.priority >= 70);
            }
        }
    }
}

pub async fn run(a: DemoArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let enriched = a.out.join("enriched.jsonl");
    let dead = a.out.join("dead_letters.jsonl");
    for p in [&enriched, &dead] {
        let _ = std::fs::remove_file(p);
    }
    let mut cfg = default_config()?;
    cfg.sink = SinkConfig::File(FileSinkConfig {
        path: enriched.display().to_string(),
        fsync: false,
    });
    cfg.dead_letter = SinkConfig::File(FileSinkConfig {
        path: dead.display().to_string(),
        fsync: false,
    });

    let incidents_path = a.out.join("incidents.jsonl");
    let _ = std::fs::remove_file(&incidents_path);
    cfg.stages.spikes.incidents = SinkConfig::File(FileSinkConfig {
        path: incidents_path.display().to_string(),
        fsync: false,
    });

    let archive = a.out.join("archive");
    let _ = std::fs::remove_dir_all(&archive);
    cfg.archive = Some(crate::archive::ArchiveConfig::at(
        archive.display().to_string(),
    ));

    // The incident starts a third of the way into the live hours: at the default 8 hours, 4 h 20
    // are left after it ends. It resolves only after an hour in which every key it opened on
    // (down to brand × platform) is back to normal: 66 to 70 min after the surge at the 8 end
    // hours tried (every 3 h over a day), so the ending has hours of margin.
    let live_minutes = (a.hours * 60.0).round().max(10.0) as u64;
    // The spike detector calibrates on its own history (two days by default): the demo
    // streams that history as fast as it can, then the live hours at --rate.
    let history_minutes = cfg.stages.spikes.detector.min_calibration_days as u64 * 1440 + 60;
    let minutes = history_minutes + live_minutes;
    let now = match &a.end {
        None => chrono::Utc::now().timestamp_millis(),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--end {s:?} is not RFC 3339 (e.g. 2026-12-02T18:00:00Z)"))?
            .timestamp_millis(),
    };
    let incident = IncidentSpec::parse(
        &format!(
            "name=login-outage,brand=northwind,lang=fr,product=app,start={},duration={},factor=6",
            history_minutes + live_minutes / 3,
            (live_minutes / 8).max(10)
        ),
        0,
    )
    .map_err(anyhow::Error::msg)?;
    let sim = Simulator::new(SimConfig {
        seed: a.seed,
        start_ms: now - (minutes as i64) * 60_000,
        minutes,
        per_minute: a.per_minute,
        incidents: vec![incident.clone()],
        ..SimConfig::default()
    });
    let metrics = Arc::new(Metrics::new("demo"));
    let health = Arc::new(Health::default());
    let addr: std::net::SocketAddr = a.listen.parse().context("--listen must be host:port")?;
    let bound = match crate::server::serve(addr, metrics.clone(), health.clone()).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("note: cannot listen on {addr} ({e}); using a free port instead");
            crate::server::serve(
                std::net::SocketAddr::new(addr.ip(), 0),
                metrics.clone(),
                health.clone(),
            )
            .await?
        }
    };

    let summary = Arc::new(Mutex::new(Summary::default()));
    let clock = clock::system();
    let mut stage_list = stages::build(&cfg, clock.clone(), metrics.clone())?;
    stage_list.push(Box::new(Observer(summary.clone())));
    let (shutdown, stop) = Shutdown::new();
    let s2 = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        s2.trigger();
    });
    let pipeline = assemble::pipeline(
        &cfg,
        stage_list,
        clock,
        metrics.clone(),
        health,
        stop.clone(),
    )
    .await?;
    let live_from = now - live_minutes as i64 * 60_000;
    let source = Source::Generator(GeneratorSource::simulated(sim, live_from, a.rate));

    println!(
        "Tocsin demo: {:.1} simulated hours of mentions for 5 brands, ~{} per minute,",
        a.hours, a.per_minute
    );
    println!(
        "after {} days of history streamed at full speed so the spike detector can calibrate,",
        history_minutes / 1440
    );
    println!(
        "with an injected incident: {} ({} complaints in {}, minute {} for {} min, x{}).",
        incident.name,
        incident.brand,
        incident.lang,
        incident.start_min,
        incident.duration_min,
        incident.factor
    );
    println!("Metrics: http://{bound}/metrics   Health: http://{bound}/healthz");
    println!(
        "Output:  {}\n         {}\n         {}\n",
        enriched.display(),
        dead.display(),
        incidents_path.display()
    );

    let started = Instant::now();
    let run = tokio::spawn(pipeline.run(source, stop));
    let mut ticker = tokio::time::interval(Duration::from_secs(a.every.max(1)));
    ticker.tick().await;
    let mut last = 0u64;
    while !run.is_finished() {
        ticker.tick().await;
        let n = print_live(&summary, &metrics, started, last, a.every.max(1));
        last = n;
    }
    let report = run.await.context("pipeline task")??;
    println!(
        "\n== Final summary ({:.1} s) ==",
        started.elapsed().as_secs_f64()
    );
    print_final(
        &summary,
        &metrics,
        report.read,
        report.enriched,
        report.dead_letters,
        started,
    );
    print_incidents(&incidents_path);
    println!(
        "\nEverything is archived as Parquet in {dir}. Ask it, for example:\n  \
         tocsin query --archive {dir} \"SELECT date, hour, lang, count(*) AS n FROM mentions \
         WHERE brand = 'northwind' GROUP BY 1, 2, 3 ORDER BY 1, 2, n DESC LIMIT 20\"\n  \
         tocsin backtest --archive {dir}",
        dir = archive.display()
    );
    if a.linger {
        println!("\nServing http://{bound}/metrics until Ctrl-C.");
        let _ = tokio::signal::ctrl_c().await;
    }
    Ok(())
}

fn counter_total(m: &Metrics, name: &str) -> u64 {
    m.registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| {
            f.get_metric()
                .iter()
                .map(|x| x.get_counter().value() as u64)
                .collect::<Vec<_>>()
        })
        .sum()
}

fn top(map: &HashMap<impl AsRef<str>, u64>, n: usize) -> String {
    let total: u64 = map.values().sum::<u64>().max(1);
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.as_ref().cmp(b.0.as_ref())));
    v.iter()
        .take(n)
        .map(|(k, c)| format!("{} {:.0}%", k.as_ref(), **c as f64 * 100.0 / total as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_live(
    summary: &Mutex<Summary>,
    m: &Metrics,
    started: Instant,
    last: u64,
    every: u64,
) -> u64 {
    let s = summary
        .lock()
        .map(|s| (s.mentions, top(&s.by_lang, 4), top(&s.by_dedup, 4)))
        .unwrap_or_default();
    let dlq = counter_total(m, crate::metrics::names::DEAD_LETTER_EVENTS);
    let rate = (s.0 - last.min(s.0)) / every;
    let open = m.incidents_open.get();
    println!(
        "[{:>5.1}s] {:>8} mentions ({:>6}/s) | dead letters {:>5} | incidents open {} | langs: {} {}",
        started.elapsed().as_secs_f64(),
        s.0,
        rate,
        dlq,
        open,
        s.1,
        if s.2.is_empty() {
            String::new()
        } else {
            format!("| dedup: {}", s.2)
        }
    );
    s.0
}

fn print_final(
    summary: &Mutex<Summary>,
    m: &Metrics,
    read: u64,
    enriched: u64,
    dead: u64,
    started: Instant,
) {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    println!(
        "read {read}, enriched {enriched}, dead letters {dead} ({:.0} mentions/s)",
        read as f64 / secs
    );
    if let Ok(s) = summary.lock() {
        println!("languages: {}", top(&s.by_lang, 8));
        println!("platforms: {}", top(&s.by_platform, 6));
        println!("brands:    {}", top(&s.by_brand, 6));
        if !s.by_dedup.is_empty() {
            println!("dedup:     {}", top(&s.by_dedup, 4));
        }
        if !s.by_intent.is_empty() {
            println!("intents:   {}", top(&s.by_intent, 7));
            println!(
                "priority:  {} mentions at 70+ (answer first), {} need a private reply (personal data)",
                s.urgent, s.private_replies
            );
        }
    }
    let mut reasons = BTreeMap::new();
    for f in m.registry.gather() {
        if f.name() == crate::metrics::names::DEAD_LETTER_EVENTS {
            for x in f.get_metric() {
                let v = x.get_counter().value() as u64;
                if v > 0 {
                    let label = x
                        .get_label()
                        .iter()
                        .map(|l| l.value().to_string())
                        .collect::<String>();
                    reasons.insert(label, v);
                }
            }
        }
    }
    println!("dead letters by reason: {reasons:?}");
}

/// One line per incident event written by the spike stage.
fn print_incidents(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    println!("\nincident events ({}):", events.len());
    for e in &events {
        println!(
            "  {:<8} {} severity {} at {}: {}",
            e["event"].as_str().unwrap_or("?"),
            e["incident_id"].as_str().unwrap_or("?"),
            e["severity"],
            e["at"].as_str().unwrap_or("?"),
            e["summary"].as_str().unwrap_or("")
        );
        let b = &e["broadcast"];
        if let Some(kind) = b["kind"].as_str() {
            let d = &b["drafts"][0];
            println!(
                "           broadcast {kind} ({}): [{}] {}",
                b["reasons"][0].as_str().unwrap_or(""),
                d["lang"].as_str().unwrap_or("?"),
                d["status_update"].as_str().unwrap_or("")
            );
        }
    }
}
