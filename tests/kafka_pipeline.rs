//! End-to-end delivery tests against a real Kafka protocol implementation: librdkafka's mock
//! cluster, on loopback TCP, with consumer groups and offset commits.
//!
//! - N valid + M malformed in → exactly N enriched out, M dead letters with their reasons,
//!   input order kept per partition, committed offsets at the end of every partition;
//! - the real `tocsin` binary killed with SIGKILL mid-stream and restarted → every input is in
//!   the output at least once;
//! - two pipelines in one consumer group, one joining and one leaving mid-stream → nothing lost.

use crate::common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin::clock;
use tocsin::config::PipelineConfig;
use tocsin::metrics::Metrics;
use tocsin::pipeline::{Health, RunReport, Shutdown};

const PARTITIONS: i32 = 4;

struct Running {
    handle: tokio::task::JoinHandle<Result<RunReport, tocsin::pipeline::PipelineError>>,
    shutdown: Shutdown,
}

async fn start_pipeline(brokers: &str, group: &str) -> Running {
    let cfg = PipelineConfig::parse(&config_text(brokers, group), Path::new("test.toml")).unwrap();
    cfg.validate(Path::new("test.toml")).unwrap();
    let metrics = Arc::new(Metrics::new("test"));
    let (shutdown, stop) = Shutdown::new();
    let clock = clock::system();
    let stages = tocsin::stages::build(&cfg, clock.clone(), metrics.clone()).unwrap();
    let source = tocsin::assemble::open_source(&cfg, metrics.clone())
        .await
        .unwrap();
    let p = tocsin::assemble::pipeline(
        &cfg,
        stages,
        clock,
        metrics,
        Arc::new(Health::default()),
        stop.clone(),
    )
    .await
    .unwrap();
    Running {
        handle: tokio::spawn(p.run(source, stop)),
        shutdown,
    }
}

fn valid_ids(items: &[tocsin::simulate::SimItem]) -> HashSet<String> {
    items.iter().filter_map(|i| i.truth.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valid_and_malformed_are_counted_exactly_and_offsets_reach_the_end() {
    let kafka = Kafka::start(PARTITIONS);
    let items = traffic(20, 150.0, 0.05, 1);
    let n_valid = items.iter().filter(|i| i.truth.malformed.is_none()).count();
    let n_bad = items.len() - n_valid;
    assert!(
        n_bad > 50 && n_valid > 2000,
        "{n_valid} valid, {n_bad} malformed"
    );
    kafka.produce(&items).await;

    let run = start_pipeline(&kafka.brokers, "exact").await;
    let out = kafka.read_all(OUTPUT, PARTITIONS, n_valid, Duration::from_secs(60));
    let dlq = kafka.read_all(DLQ, PARTITIONS, n_bad, Duration::from_secs(30));
    run.shutdown.trigger();
    let report = run.handle.await.unwrap().unwrap();

    assert_eq!(out.len(), n_valid, "exactly one output per valid input");
    assert_eq!(dlq.len(), n_bad, "every malformed input dead-lettered once");
    assert_eq!(report.enriched as usize, n_valid);
    assert_eq!(report.dead_letters as usize, n_bad);

    // Reasons: each dead letter carries the reason the simulator meant it to get.
    let mut want: HashMap<String, usize> = HashMap::new();
    for i in &items {
        if let Some(r) = i.truth.malformed {
            *want.entry(r.to_string()).or_default() += 1;
        }
    }
    let mut got: HashMap<String, usize> = HashMap::new();
    for d in &dlq {
        *got.entry(d.headers["tocsin.dlq.reason"].clone())
            .or_default() += 1;
        assert!(d.headers.contains_key("tocsin.dlq.origin"));
    }
    assert_eq!(got, want);
    kafka.assert_input_untruncated(PARTITIONS);

    // Order: per partition, outputs come in input order (ids of valid inputs, keyed alike).
    let mut out_by_key: HashMap<String, Vec<String>> = HashMap::new();
    for r in &out {
        out_by_key
            .entry(r.key.clone().unwrap())
            .or_default()
            .push(r.id());
    }
    let mut in_by_key: HashMap<String, Vec<String>> = HashMap::new();
    for i in items.iter().filter(|i| i.truth.malformed.is_none()) {
        in_by_key
            .entry(String::from_utf8(i.record.key.clone().unwrap()).unwrap())
            .or_default()
            .push(i.truth.id.clone().unwrap());
    }
    assert_eq!(
        out_by_key, in_by_key,
        "per-key (hence per-partition) order is the input order"
    );

    // Every valid id is out; outputs keep unknown fields and the contract fields.
    let ids: HashSet<String> = out.iter().map(Record::id).collect();
    assert_eq!(ids, valid_ids(&items));

    // Offsets: the group's committed offsets are the end of every partition.
    assert_eq!(kafka.committed("exact", PARTITIONS), kafka.ends(PARTITIONS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_killed_mid_stream_and_restarted_loses_nothing() {
    let kafka = Kafka::start(PARTITIONS);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &kafka.brokers, "crash");
    let items = traffic(60, 300.0, 0.01, 2);
    let (first, second) = items.split_at(items.len() / 2);
    kafka.produce(first).await;

    let bin = env!("CARGO_BIN_EXE_tocsin");
    let spawn = || {
        std::process::Command::new(bin)
            .args(["run", cfg.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tocsin starts")
    };
    let mut child = ChildGuard(spawn());
    // As soon as it has written something, kill it without warning: batches are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka.count(OUTPUT, PARTITIONS) == 0 {
        assert!(Instant::now() < deadline, "the pipeline produced nothing");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    kafka.produce(second).await;

    let mut child = ChildGuard(spawn());
    let out = kafka.read_ids(
        OUTPUT,
        PARTITIONS,
        &valid_ids(&items),
        Duration::from_secs(90),
    );
    // A clean stop: SIGTERM drains and commits, exit code 0.
    sigterm(child.0.id());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM, got {status}");

    let ids: HashSet<String> = out.iter().map(Record::id).collect();
    let missing: Vec<_> = valid_ids(&items).difference(&ids).cloned().collect();
    assert!(
        missing.is_empty(),
        "{} inputs lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(out.len() >= valid_ids(&items).len());
    assert_eq!(kafka.committed("crash", PARTITIONS), kafka.ends(PARTITIONS));
}

fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebalance_between_two_consumers_loses_nothing() {
    if let Ok(path) = std::env::var("TOCSIN_TEST_LOG") {
        let f = std::fs::File::create(path).unwrap();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .try_init();
    }
    let kafka = Kafka::start(PARTITIONS);
    let items = traffic(60, 200.0, 0.01, 3);
    let (first, rest) = items.split_at(items.len() / 3);
    let (second, third) = rest.split_at(rest.len() / 2);

    let mut at = kafka.produce(first).await;
    let a = start_pipeline(&kafka.brokers, "pair").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka.count(OUTPUT, PARTITIONS) == 0 {
        assert!(Instant::now() < deadline, "A produced nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    at.extend(kafka.produce(second).await);
    // B joins: the group rebalances while A is busy.
    let b = start_pipeline(&kafka.brokers, "pair").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    at.extend(kafka.produce(third).await);
    // A leaves: its partitions move to B.
    a.shutdown.trigger();
    let ra = a.handle.await.unwrap().unwrap();

    let out = kafka.read_ids(
        OUTPUT,
        PARTITIONS,
        &valid_ids(&items),
        Duration::from_secs(90),
    );
    // Once the group is stable, B's periodic commits reach the end (a commit made during the
    // rebalance may have failed: that only means re-reading, which B does).
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka.committed("pair", PARTITIONS) != kafka.ends(PARTITIONS) && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.shutdown.trigger();
    let rb = b.handle.await.unwrap().unwrap();

    kafka.assert_input_untruncated(PARTITIONS);
    let ids: HashSet<String> = out.iter().map(Record::id).collect();
    let missing: Vec<_> = valid_ids(&items).difference(&ids).cloned().collect();
    if !missing.is_empty() {
        let miss: HashSet<&String> = missing.iter().collect();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for i in &items {
            if i.truth.id.as_ref().is_some_and(|id| miss.contains(id)) {
                *by_key
                    .entry(String::from_utf8_lossy(i.record.key.as_deref().unwrap()).into_owned())
                    .or_default() += 1;
            }
        }
        let mut ranges: HashMap<i32, (i64, i64)> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            if it.truth.id.as_ref().is_some_and(|id| miss.contains(id)) {
                let (p, o) = at[i];
                let e = ranges.entry(p).or_insert((i64::MAX, i64::MIN));
                e.0 = e.0.min(o);
                e.1 = e.1.max(o);
            }
        }
        eprintln!(
            "missing input ranges {ranges:?}; output watermarks {:?}; read {}",
            kafka.watermarks(OUTPUT, PARTITIONS),
            out.len()
        );
        eprintln!(
            "missing by key: {by_key:?}; committed {:?}; ends {:?}; A {ra:?}; B {rb:?}",
            kafka.committed("pair", PARTITIONS),
            kafka.ends(PARTITIONS)
        );
    }
    assert!(
        missing.is_empty(),
        "{} inputs lost across the rebalance",
        missing.len()
    );
    assert!(ra.enriched > 0, "A did some of the work");
    assert!(rb.enriched > 0, "B did some of the work");
    assert_eq!(kafka.committed("pair", PARTITIONS), kafka.ends(PARTITIONS));
}
