//! The observability stack for real: the Debian `prometheus` on loopback scrapes a running
//! pipeline (Kafka through librdkafka's mock cluster, fed by the simulator with an incident,
//! alerts to a local webhook) and evaluates `deploy/rules/tocsin.yml`. Then:
//!
//! - every metric of the catalogue (`metrics::names::ALL`) is exposed and scraped;
//! - every PromQL expression of every dashboard panel and annotation, and every rule,
//!   evaluates without error through Prometheus's HTTP API and returns data (an alert
//!   condition is checked without its threshold, which a healthy pipeline does not cross);
//! - Prometheus reports every rule healthy.
//!
//! Without the `prometheus` binary this says SKIPPED, unless `TOCSIN_REQUIRE_EXTERNAL=1`.

use crate::common;

use common::alertmanager::{wait_for, webhook};
use common::*;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tocsin::config::{FileSinkConfig, SinkConfig, SourceConfig};
use tocsin::metrics::Metrics;
use tocsin::pipeline::{Health, Shutdown};
use tocsin::sources::{generator::GeneratorSource, Source};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every PromQL expression of the dashboards, Grafana's variables expanded.
fn dashboard_exprs() -> Vec<(String, String)> {
    common::dashboard_exprs()
        .into_iter()
        .map(|(what, e)| (what, grafana_expand(&e)))
        .collect()
}

/// Every rule expression of a Prometheus rules file.
fn rule_exprs(text: &str) -> Vec<String> {
    let v: serde_norway::Value = serde_norway::from_str(text).unwrap();
    v["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .map(|r| r["expr"].as_str().unwrap().trim().to_string())
        .collect()
}

/// The parts of an alert condition that must return data: each side of `and`, without its
/// trailing threshold.
fn data_parts(expr: &str) -> Vec<String> {
    let split = regex::Regex::new(r"\s+and(\s+on\s*\([^)]*\))?\s+").unwrap();
    let threshold = regex::Regex::new(r"\s*(==|!=|>=|<=|>|<)\s*[0-9.e+-]+\s*$").unwrap();
    split
        .split(expr)
        .map(|p| threshold.replace(p.trim(), "").to_string())
        .collect()
}

async fn query(http: &reqwest::Client, base: &str, expr: &str) -> Result<usize, String> {
    let r = http
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_scrapes_every_metric_and_every_expression_returns_data() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    // One process, two pipelines sharing its metrics (as `/metrics` of one Tocsin would show):
    // (1) a simulated day of history and an incident, at full speed, alerting a local webhook;
    // (2) a Kafka pipeline (librdkafka's mock cluster) for the consumer-side series. The mock
    // cluster is kept small: past ~10,000 messages in a partition its fetches stopped short of
    // the end in our runs.
    let dir = tempfile::tempdir().unwrap();
    let (hook, hits) = webhook().await;
    let (sim, _) = outage_day(60, 0.01);
    let mut cfg = tocsin::demo::default_config().unwrap();
    cfg.pipeline.name = "stack".into();
    file_outputs(&mut cfg, dir.path());
    cfg.stages.spikes.detector.min_calibration_days = 1;
    cfg.alerting = toml::from_str(&format!(
        "outbox = \"{}\"\n[[receivers]]\nname = \"care\"\ntype = \"webhook\"\nurl = \"{hook}/care\"\n",
        dir.path().join("outbox").display()
    ))
    .unwrap();
    cfg.validate(std::path::Path::new("stack")).unwrap();

    let kafka = Kafka::start(2);
    let items = traffic(120, 20.0, 0.02, 3);
    kafka.produce(&items).await;
    let mut kcfg = tocsin::config::PipelineConfig::parse(
        &config_text(&kafka.brokers, "stack"),
        std::path::Path::new("stack-kafka.toml"),
    )
    .unwrap();
    if let SourceConfig::Kafka(k) = &mut kcfg.source {
        k.options
            .insert("statistics.interval.ms".into(), "1000".into());
    }
    kcfg.brands = cfg.brands.clone();
    kcfg.stages.spikes.incidents = SinkConfig::File(FileSinkConfig {
        path: dir
            .path()
            .join("kafka-incidents.jsonl")
            .display()
            .to_string(),
        fsync: false,
    });

    let metrics = Arc::new(Metrics::new("stack"));
    let health = Arc::new(Health::default());
    let bound = tocsin::server::serve(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        health.clone(),
    )
    .await
    .unwrap();
    let (shutdown, stop) = Shutdown::new();
    let clock = tocsin::clock::system();
    let mut runs = Vec::new();
    for (c, source) in [
        (
            &cfg,
            Source::Generator(GeneratorSource::new(Box::new(sim.map(|i| i.record)), 0.0)),
        ),
        (
            &kcfg,
            tocsin::assemble::open_source(&kcfg, metrics.clone())
                .await
                .unwrap(),
        ),
    ] {
        let stages = tocsin::stages::build(c, clock.clone(), metrics.clone()).unwrap();
        let p = tocsin::assemble::pipeline(
            c,
            stages,
            clock.clone(),
            metrics.clone(),
            health.clone(),
            stop.clone(),
        )
        .await
        .unwrap();
        runs.push(tokio::spawn(p.run(source, stop.clone())));
    }

    // Prometheus scraping it every second and evaluating the rules every second.
    let rules = std::fs::read_to_string(format!("{ROOT}/deploy/rules/tocsin.yml")).unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        rules.replace("interval: 30s", "interval: 1s"),
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\n\
             scrape_configs:\n  - job_name: tocsin\n    static_configs:\n      - targets: ['{bound}']\n",
            dir.path().join("rules.yml").display()
        ),
    )
    .unwrap();
    let _prom = ChildGuard(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let n = items.len() as u64;
    wait_for("the Kafka pipeline to read every record", 60, || {
        metrics
            .source_received_events
            .with_label_values(&["kafka"])
            .get()
            >= n
    })
    .await;
    wait_for("the incident's notification", 30, || {
        !hits.lock().unwrap().is_empty()
    })
    .await;
    let mut scraped = false;
    for _ in 0..60 {
        if query(&http, &base, "tocsin_notification_duration_seconds_count").await == Ok(1)
            && query(&http, &base, "tocsin_kafka_consumer_lag_messages")
                .await
                .unwrap_or(0)
                > 0
        {
            scraped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(scraped, "Prometheus never scraped the pipeline at {bound}");
    // Enough samples for rate() windows and deriv().
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut problems = Vec::new();
    for name in tocsin::metrics::names::ALL {
        let e = format!("{{__name__=~\"{name}|{name}_count\"}}");
        match query(&http, &base, &e).await {
            Ok(0) => problems.push(format!("metric {name}: not scraped")),
            Err(err) => problems.push(format!("metric {name}: {err}")),
            Ok(_) => {}
        }
    }
    let dash = dashboard_exprs();
    let rules_n = rule_exprs(&rules).len();
    eprintln!(
        "checking {} catalogue metrics, {} dashboard expressions, {rules_n} rule expressions",
        tocsin::metrics::names::ALL.len(),
        dash.len()
    );
    let rule_list = rule_exprs(&rules);
    assert!(rule_list.len() >= 14, "{rule_list:?}");
    let rules_tagged = rule_list.into_iter().map(|e| ("rule".to_string(), e));
    for (what, e) in dash.into_iter().chain(rules_tagged) {
        if let Err(err) = query(&http, &base, &e).await {
            problems.push(format!("{what}: {err} in {e}"));
        }
        // Annotation queries are conditions: their data is the part before the threshold.
        for part in data_parts(&e) {
            match query(&http, &base, &part).await {
                Ok(0) => problems.push(format!("{what}: no data for {part}")),
                Err(err) => problems.push(format!("{what}: {err} in {part}")),
                Ok(_) => {}
            }
        }
    }
    let v: serde_json::Value = http
        .get(format!("{base}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for g in v["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            if r["health"] != "ok" {
                problems.push(format!(
                    "rule {} health {}: {}",
                    r["name"], r["health"], r["lastError"]
                ));
            }
        }
    }
    shutdown.trigger();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
