//! The `tocsin` command line. Library errors (thiserror) become `anyhow` errors here, at the
//! binary's edge.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

use tocsin::config::{FileSinkConfig, FileSourceConfig, PipelineConfig, SinkConfig, SourceConfig};
use tocsin::logging::{self, LogFormat};
use tocsin::metrics::Metrics;
use tocsin::pipeline::{Health, Shutdown};
use tocsin::{assemble, clock, demo, simulate, stages};

#[derive(Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Stream processor for social-media mentions: dedup, language, scoring, spikes, alerts"
)]
struct Cli {
    /// Log format on standard error (filter with RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a pipeline from its config file (Kafka in production).
    Run { config: PathBuf },
    /// Check pipeline config files; prints every problem with its field path.
    Validate {
        #[arg(required = true)]
        configs: Vec<PathBuf>,
    },
    /// Run the stages offline, JSON-lines file to file (no Kafka).
    Enrich(EnrichArgs),
    /// Generate a realistic mention stream (JSON lines or to Kafka) with ground truth.
    Simulate(SimulateArgs),
    /// The whole pipeline on a simulated stream with an incident: no Kafka, no setup.
    Demo(demo::DemoArgs),
    /// Run the spike detector alone on `timestamp,value` CSV (NAB form): backtests and scoring.
    DetectSpikes(DetectSpikesArgs),
    /// Fit the learned intent option to labelled posts and save it (or cross-validate it).
    TrainIntent(stages::scoring::command::TrainIntentArgs),
    /// Measure the scoring stage: complaint detection, influence ranking, brand matching.
    EvalScoring(stages::scoring::command::EvalScoringArgs),
    /// Detect the language of posts (one per line), or measure it on labelled TSV (--eval).
    DetectLang(stages::language::command::DetectLangArgs),
    /// List open and recent incidents (from the incidents file or topic) and queued alerts.
    Incidents(IncidentsArgs),
    /// Run SQL over an archive (tables `mentions` and `incidents`).
    Query(tocsin::archive::query::QueryArgs),
    /// Replay history (an archive or a JSON-lines file) through the stages in event time and
    /// report the incidents and broadcasts it would have produced.
    Backtest(tocsin::backtest::command::BacktestArgs),
}

#[derive(Args)]
struct IncidentsArgs {
    /// The pipeline whose incidents sink (and alert outbox) to read.
    #[arg(long)]
    config: Option<PathBuf>,
    /// An incidents JSON-lines file (instead of the config's sink).
    #[arg(long)]
    input: Option<String>,
    /// Show resolved incidents too (default: open ones and the 20 most recent).
    #[arg(long)]
    all: bool,
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DetectSpikesArgs {
    /// A CSV file, or a directory searched recursively for `.csv` files.
    #[arg(long)]
    input: PathBuf,
    /// Output CSV (`timestamp,alert,score,expected`), or a directory when INPUT is one.
    #[arg(long)]
    output: PathBuf,
    /// Take the detector settings from this pipeline config's `[stages.spikes.detector]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override: alert when a scale's z passes this multiple of its typical daily maximum.
    #[arg(long)]
    threshold: Option<f64>,
    /// Override: the minimum z.
    #[arg(long)]
    min_z: Option<f64>,
    /// Override: seconds after an opening during which only a far stronger surge (the
    /// config's `escalation_factor`, 2.5 × the opening score) opens a new incident.
    #[arg(long)]
    cooldown_secs: Option<u64>,
    /// Also flag drops (for non-count series).
    #[arg(long)]
    two_sided: bool,
    #[arg(long, value_enum, default_value_t = tocsin::detect_spikes::ValueKind::Auto)]
    values: tocsin::detect_spikes::ValueKind,
}

#[derive(Args)]
struct EnrichArgs {
    /// Input JSON lines (`-` for standard input).
    #[arg(long)]
    input: String,
    /// Output JSON lines (`-` for standard output).
    #[arg(long)]
    output: String,
    /// Dead-letter JSON lines; default: OUTPUT with `.dlq.jsonl` (standard error's sibling
    /// `tocsin-dead-letters.jsonl` when OUTPUT is `-`).
    #[arg(long)]
    dlq: Option<String>,
    /// Incident events of the spike stage; default: OUTPUT with `.incidents.jsonl`
    /// (`tocsin-incidents.jsonl` when OUTPUT is `-`).
    #[arg(long)]
    incidents: Option<String>,
    /// Pipeline config for stage settings and brands (its source and sinks are ignored).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also archive the enriched mentions and incidents as Parquet in this folder (with the
    /// config's `[archive]` settings, if any).
    #[arg(long)]
    archive: Option<String>,
}

#[derive(Args)]
struct SimulateArgs {
    /// Event-time span in minutes.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    /// Stop after this many records (default: the whole span).
    #[arg(long)]
    count: Option<u64>,
    /// Average mentions per event-time minute.
    #[arg(long, default_value_t = 200.0)]
    per_minute: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start of event time: RFC 3339, or `now-<minutes>m` (default: the span ends now).
    #[arg(long)]
    start: Option<String>,
    #[arg(long, default_value_t = 0.01)]
    malformed_rate: f64,
    #[arg(long, default_value_t = 0.03)]
    pii_rate: f64,
    /// Flat volume instead of daily/weekly seasonality.
    #[arg(long)]
    no_seasonality: bool,
    /// Inject an incident: `brand=northwind,lang=fr,start=30,duration=40,factor=5,product=app`
    /// (minutes from the start). Repeatable.
    #[arg(long = "incident")]
    incidents: Vec<String>,
    /// Where to write JSON lines (`-` = standard output). Ignored with --kafka-brokers.
    #[arg(long, default_value = "-")]
    output: String,
    /// Ground truth, one JSON object per generated record.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Produce to Kafka instead of a file.
    #[arg(long, env = "TOCSIN_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    #[arg(long, default_value = "mentions")]
    topic: String,
    /// Records per wall-clock second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Past records at once, later ones when their event time comes (a history, then a live
    /// feed; replaces --rate).
    #[arg(long)]
    real_time: bool,
}

fn main() {
    if let Err(e) = real_main() {
        // `{:#}` prints the whole cause chain on one line; no backtrace for user errors.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format, "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Run { config } => run(config).await,
            Cmd::Validate { configs } => validate(&configs),
            Cmd::Enrich(a) => enrich(a).await,
            Cmd::Simulate(a) => simulate_cmd(a).await,
            Cmd::Demo(a) => demo::run(a).await,
            Cmd::DetectSpikes(a) => detect_spikes(a),
            Cmd::TrainIntent(a) => stages::scoring::command::train_intent(a),
            Cmd::EvalScoring(a) => stages::scoring::command::eval_scoring(a),
            Cmd::DetectLang(a) => stages::language::command::run(a),
            Cmd::Incidents(a) => incidents(a),
            Cmd::Query(a) => tocsin::archive::query::command(a).await,
            Cmd::Backtest(a) => tocsin::backtest::command::run(a).await,
        }
    })
}

fn validate(configs: &[PathBuf]) -> Result<()> {
    let mut failed = 0;
    for path in configs {
        match PipelineConfig::load(path) {
            Ok(_) => println!("{}: ok", path.display()),
            Err(e) => {
                println!("{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} config file(s) invalid", configs.len());
    }
    Ok(())
}

/// Stops the pipeline on SIGINT or SIGTERM (a second signal exits at once).
fn stop_on_signals(shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term_fut = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term_fut => {},
        }
        tracing::info!(
            "stopping: draining in-flight batches and committing (signal again to abort)"
        );
        shutdown.trigger();
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
}

async fn run(path: PathBuf) -> Result<()> {
    let cfg = PipelineConfig::load(&path)?;
    let metrics = Arc::new(Metrics::new(&cfg.pipeline.name));
    let health = Arc::new(Health::default());
    if !cfg.metrics.listen.is_empty() {
        let addr = cfg.metrics.listen.parse().context("metrics.listen")?;
        let bound = tocsin::server::serve(addr, metrics.clone(), health.clone())
            .await
            .with_context(|| {
                format!("cannot listen on {addr} (metrics.listen); is another process using it?")
            })?;
        tracing::info!(%bound, "serving /metrics, /healthz, /readyz");
    }
    let (shutdown, stop) = Shutdown::new();
    stop_on_signals(shutdown);
    let clock = clock::system();
    let stage_list = stages::build(&cfg, clock.clone(), metrics.clone())?;
    let source = assemble::open_source(&cfg, metrics.clone()).await?;
    let pipeline =
        assemble::pipeline(&cfg, stage_list, clock, metrics, health, stop.clone()).await?;
    tracing::info!(pipeline = %cfg.pipeline.name, "pipeline started");
    let report = pipeline.run(source, stop).await?;
    tracing::info!(
        read = report.read,
        enriched = report.enriched,
        dead_letters = report.dead_letters,
        "pipeline stopped"
    );
    Ok(())
}

async fn enrich(a: EnrichArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => PipelineConfig::load(p)?,
        None => demo::default_config()?,
    };
    let beside_output = |given: &Option<String>, for_stdout: &str, suffix: &str| {
        given.clone().unwrap_or_else(|| {
            if a.output == "-" {
                for_stdout.into()
            } else {
                format!("{}.{suffix}", a.output.trim_end_matches(".jsonl"))
            }
        })
    };
    let dlq = beside_output(&a.dlq, "tocsin-dead-letters.jsonl", "dlq.jsonl");
    let incidents = beside_output(&a.incidents, "tocsin-incidents.jsonl", "incidents.jsonl");
    cfg.stages.spikes.incidents = SinkConfig::File(FileSinkConfig {
        path: incidents.clone(),
        fsync: false,
    });
    // A one-off enrichment must neither start from nor overwrite a live pipeline's spike state.
    cfg.stages.spikes.checkpoint_path = None;
    cfg.source = SourceConfig::File(FileSourceConfig {
        path: a.input.clone(),
    });
    cfg.sink = SinkConfig::File(FileSinkConfig {
        path: a.output.clone(),
        fsync: false,
    });
    cfg.dead_letter = SinkConfig::File(FileSinkConfig {
        path: dlq.clone(),
        fsync: false,
    });
    cfg.archive = a.archive.clone().map(|path| {
        let mut c = cfg
            .archive
            .clone()
            .unwrap_or_else(|| tocsin::archive::ArchiveConfig::at(""));
        c.path = path;
        c
    });
    cfg.validate(
        a.config
            .as_deref()
            .unwrap_or(std::path::Path::new("(enrich arguments)")),
    )?;
    if a.output != "-" {
        // A fresh output, not an append to an old run.
        for p in [&a.output, &dlq, &incidents] {
            if std::path::Path::new(p).exists() {
                std::fs::remove_file(p).with_context(|| format!("cannot replace {p}"))?;
            }
        }
    }
    let metrics = Arc::new(Metrics::new("enrich"));
    let (_shutdown, stop) = Shutdown::new();
    let clock = clock::system();
    let stage_list = stages::build(&cfg, clock.clone(), metrics.clone())?;
    let source = assemble::open_source(&cfg, metrics.clone()).await?;
    let pipeline = assemble::pipeline(
        &cfg,
        stage_list,
        clock,
        metrics,
        Arc::new(Health::default()),
        stop.clone(),
    )
    .await?;
    let report = pipeline.run(source, stop).await?;
    eprintln!(
        "enriched {} mention(s) into {}; {} dead letter(s){}",
        report.enriched,
        a.output,
        report.dead_letters,
        if report.dead_letters > 0 {
            format!(" in {dlq}")
        } else {
            String::new()
        }
    );
    Ok(())
}

async fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let start_ms = match a.start.as_deref() {
        None => now - (a.minutes as i64) * 60_000,
        Some(s) if s.starts_with("now-") && s.ends_with('m') => {
            let m: i64 = s[4..s.len() - 1]
                .parse()
                .context("--start now-<minutes>m")?;
            now - m * 60_000
        }
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--start {s:?} is not RFC 3339"))?
            .timestamp_millis(),
    };
    let incidents = a
        .incidents
        .iter()
        .enumerate()
        .map(|(i, s)| {
            simulate::IncidentSpec::parse(s, i)
                .map_err(|e| anyhow::anyhow!("--incident {s:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let cfg = simulate::SimConfig {
        seed: a.seed,
        start_ms,
        minutes: a.minutes,
        per_minute: a.per_minute,
        seasonality: !a.no_seasonality,
        malformed_rate: a.malformed_rate,
        pii_rate: a.pii_rate,
        incidents,
        ..simulate::SimConfig::default()
    };
    let items = simulate::Simulator::new(cfg).take(a.count.unwrap_or(u64::MAX) as usize);
    let n = simulate::output::write(
        items,
        &a.output,
        a.labels.as_deref(),
        a.kafka_brokers.as_deref(),
        &a.topic,
        if a.real_time {
            simulate::output::Pace::RealTime
        } else {
            simulate::output::Pace::Rate(a.rate)
        },
    )
    .await?;
    eprintln!("simulated {n} record(s)");
    Ok(())
}

fn detect_spikes(a: DetectSpikesArgs) -> Result<()> {
    let mut det = match &a.config {
        Some(p) => PipelineConfig::load(p)?.stages.spikes.detector,
        None => Default::default(),
    };
    if let Some(t) = a.threshold {
        det.threshold = t;
    }
    if let Some(z) = a.min_z {
        det.min_z = z;
    }
    if let Some(c) = a.cooldown_secs {
        det.cooldown_secs = c;
    }
    det.two_sided |= a.two_sided;
    let mut problems = Vec::new();
    det.validate("detector", &mut |p: &str, m: &str| {
        problems.push(format!("{p}: {m}"))
    });
    if !problems.is_empty() {
        bail!("invalid detector settings: {}", problems.join("; "));
    }
    let reports = tocsin::detect_spikes::run_path(&det, a.values, &a.input, &a.output)?;
    let alerts: usize = reports.iter().map(|r| r.alerts).sum();
    let rows: usize = reports.iter().map(|r| r.rows).sum();
    for r in &reports {
        eprintln!(
            "{}: {} rows, bucket {} s, {:?}, {} alert(s) -> {}",
            r.input.display(),
            r.rows,
            r.bucket_secs,
            r.values,
            r.alerts,
            r.output.display()
        );
    }
    eprintln!("{} file(s), {rows} rows, {alerts} alert(s)", reports.len());
    Ok(())
}

fn incidents(a: IncidentsArgs) -> Result<()> {
    let cfg = a.config.as_deref().map(PipelineConfig::load).transpose()?;
    let out = tocsin::alerting::history::report(cfg.as_ref(), a.input.as_deref(), a.all, a.json)?;
    print!("{}", out.text);
    for n in out.notes {
        eprintln!("{n}");
    }
    Ok(())
}
