//! Shared helpers for end-to-end tests: a real Kafka protocol peer (librdkafka's mock cluster on
//! loopback TCP), producing simulated mentions, reading topics back, and committed offsets.
#![allow(dead_code)]

pub mod alertmanager;

/// Points the pipeline's sink, dead letters and incident events at files in `dir`
/// (`enriched.jsonl`, `dlq.jsonl`, `incidents.jsonl`), without fsync.
pub fn file_outputs(cfg: &mut tocsin::config::PipelineConfig, dir: &Path) {
    let file = |name: &str| {
        tocsin::config::SinkConfig::File(tocsin::config::FileSinkConfig {
            path: dir.join(name).display().to_string(),
            fsync: false,
        })
    };
    cfg.sink = file("enriched.jsonl");
    cfg.dead_letter = file("dlq.jsonl");
    cfg.stages.spikes.incidents = file("incidents.jsonl");
}

/// A file of `../shared/data` (real labelled posts, never copied into the project), or `None`
/// with a note when the folder is not beside the clone.
pub fn shared_data(rel: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not here", p.display());
        None
    }
}

/// Whether a Debian program the test needs is installed. Without it the test says SKIPPED and
/// passes, unless `TOCSIN_REQUIRE_EXTERNAL=1` (set by `.ci/run`) makes that a failure.
pub fn installed(program: &str, package: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        let msg =
            format!("{program} not found: install the Debian package {package} (.ci/run does)");
        assert!(std::env::var("TOCSIN_REQUIRE_EXTERNAL").is_err(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// Runs `cmd`, asserts it succeeded, and returns its standard output and error together.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}:\n{text}");
    text
}

/// A loopback port free a moment ago, for a program that takes its port on the command line.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use tocsin::simulate::{SimConfig, SimItem, Simulator};

pub const INPUT: &str = "mentions";
pub const OUTPUT: &str = "mentions.enriched";
pub const DLQ: &str = "mentions.dlq";

pub struct Kafka {
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    pub brokers: String,
}

impl Kafka {
    pub fn start(partitions: i32) -> Self {
        let cluster = MockCluster::new(3).expect("mock cluster starts");
        for t in [INPUT, OUTPUT, DLQ] {
            cluster
                .create_topic(t, partitions, 1)
                .expect("topic created");
        }
        let brokers = cluster.bootstrap_servers();
        Kafka { cluster, brokers }
    }

    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .create()
            .expect("producer")
    }

    /// Produces records keyed as the simulator keys them (by brand) and waits for every ack.
    pub async fn produce(&self, items: &[SimItem]) -> Vec<(i32, i64)> {
        let p = self.producer();
        let mut futs = Vec::new();
        for it in items {
            let mut rec: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(INPUT).payload(&it.record.payload[..]);
            if let Some(k) = &it.record.key {
                rec = rec.key(&k[..]);
            }
            futs.push(p.send_result(rec).map_err(|(e, _)| e).expect("enqueued"));
        }
        let mut at = Vec::new();
        for f in futs {
            let d = f
                .await
                .expect("not cancelled")
                .map_err(|(e, _)| e)
                .expect("delivered");
            at.push((d.partition, d.offset));
        }
        at
    }

    /// Every record of `topic`, read from the beginning until `want` arrived or `timeout`.
    pub fn read_all(
        &self,
        topic: &str,
        partitions: i32,
        want: usize,
        timeout: Duration,
    ) -> Vec<Record> {
        self.read_until(topic, partitions, timeout, |r| r.len() >= want)
    }

    /// Reads `topic` until every id in `ids` arrived (duplicates allowed) or `timeout`.
    pub fn read_ids(
        &self,
        topic: &str,
        partitions: i32,
        ids: &HashSet<String>,
        timeout: Duration,
    ) -> Vec<Record> {
        let mut seen = HashSet::new();
        let mut checked = 0;
        self.read_until(topic, partitions, timeout, move |r| {
            for rec in &r[checked..] {
                seen.insert(rec.id());
            }
            checked = r.len();
            ids.iter().all(|i| seen.contains(i))
        })
    }

    /// Reads `topic` from the beginning until `done` holds and 0.5 s passed with no new record,
    /// or `timeout`.
    pub fn read_until(
        &self,
        topic: &str,
        partitions: i32,
        timeout: Duration,
        mut done: impl FnMut(&[Record]) -> bool,
    ) -> Vec<Record> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("reader-{}", rand_suffix()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    quiet_since = Instant::now();
                    let mut headers = HashMap::new();
                    if let Some(h) = m.headers() {
                        for x in h.iter() {
                            headers.insert(
                                x.key.to_string(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                            );
                        }
                    }
                    out.push(Record {
                        partition: m.partition(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        payload: m.payload().unwrap_or_default().to_vec(),
                        headers,
                    });
                }
                Some(Err(e)) => panic!("read error: {e}"),
                None => {
                    if quiet_since.elapsed() > Duration::from_millis(500) && done(&out) {
                        break;
                    }
                }
            }
        }
        out
    }

    /// The group's committed offset per partition of the input topic (-1 when none).
    pub fn committed(&self, group: &str, partitions: i32) -> Vec<i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(INPUT, p);
        }
        let got = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(|p| match got.find_partition(INPUT, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            })
            .collect()
    }

    /// High watermark per partition of the input topic.
    pub fn ends(&self, partitions: i32) -> Vec<i64> {
        self.watermarks(INPUT, partitions)
    }

    pub fn watermarks(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("consumer");
        (0..partitions)
            .map(|p| {
                c.fetch_watermarks(topic, p, Duration::from_secs(10))
                    .expect("watermarks")
                    .1
            })
            .collect()
    }

    /// Fails if the broker dropped old records of the input topic. librdkafka's mock broker keeps
    /// at most 5 MB per partition and deletes the oldest data beyond it (like retention): a test
    /// that overflows it would report the broker's deletions as pipeline loss.
    pub fn assert_input_untruncated(&self, partitions: i32) {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("consumer");
        for p in 0..partitions {
            let (low, _) = c
                .fetch_watermarks(INPUT, p, Duration::from_secs(10))
                .expect("watermarks");
            assert_eq!(
                low, 0,
                "the mock broker truncated partition {p} (5 MB cap): lower the test volume"
            );
        }
    }

    /// How many records a topic holds (its partitions' high watermarks added up).
    pub fn count(&self, topic: &str, partitions: i32) -> i64 {
        self.watermarks(topic, partitions).iter().sum()
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: HashMap<String, String>,
}

impl Record {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("output is JSON")
    }
    pub fn id(&self) -> String {
        self.json()["id"].as_str().expect("id").to_string()
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::process::id() as u64 * 1000 + N.fetch_add(1, Ordering::Relaxed)
}

/// Simulated traffic starting an hour ago (so timestamps are plausible), with malformed records.
pub fn traffic(minutes: u64, per_minute: f64, malformed_rate: f64, seed: u64) -> Vec<SimItem> {
    Simulator::new(SimConfig {
        seed,
        start_ms: chrono::Utc::now().timestamp_millis() - 3_600_000,
        minutes,
        per_minute,
        malformed_rate,
        // Flat volume: these tests count deliveries, and a seasonal curve anchored on the wall
        // clock would make the count depend on the hour the suite runs.
        seasonality: false,
        ..SimConfig::default()
    })
    .collect()
}

/// A fixed stretch of simulated time (its traffic is seasonal by hour and weekday, so every
/// run sees the same incident): a day and an hour of history from 2026-11-21T14:00Z, then a
/// French northwind login outage (×8 for 25 min), then `after_minutes` more. Returns the
/// simulator and the event time where the history ends.
pub fn outage_day(after_minutes: u64, malformed_rate: f64) -> (Simulator, i64) {
    let start_ms = chrono::DateTime::parse_from_rfc3339("2026-11-21T14:00:00Z")
        .unwrap()
        .timestamp_millis();
    let history = 1440 + 60;
    let spec = format!(
        "name=login,brand=northwind,lang=fr,product=app,start={},duration=25,factor=8",
        history + 20
    );
    let sim = Simulator::new(SimConfig {
        seed: 5,
        start_ms,
        minutes: history + after_minutes,
        per_minute: 20.0,
        malformed_rate,
        incidents: vec![tocsin::simulate::IncidentSpec::parse(&spec, 0).unwrap()],
        ..SimConfig::default()
    });
    (sim, start_ms + history as i64 * 60_000)
}

/// Every PromQL expression of one Grafana dashboard: (panel or annotation title, expression).
pub fn exprs_of(d: &serde_json::Value) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            v.push((
                p["title"].as_str().unwrap().to_string(),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        if let Some(e) = a["expr"].as_str() {
            v.push((a["name"].as_str().unwrap().to_string(), e.to_string()));
        }
    }
    v
}

/// Every PromQL expression of `dashboards/`: ("file: title", expression).
pub fn dashboard_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards")).unwrap() {
        let p = e.unwrap().path();
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        out.extend(
            exprs_of(&d)
                .into_iter()
                .map(|(title, e)| (format!("{name}: {title}"), e)),
        );
    }
    out
}

/// Grafana's variables replaced by what they expand to.
pub fn grafana_expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "5m")
        .replace("\"$instance\"", "\".*\"")
        .replace("\"$brand\"", "\".*\"")
}

/// A pipeline config for the mock cluster.
pub fn config_text(brokers: &str, group: &str) -> String {
    format!(
        r#"
[pipeline]
name = "test"
batch_size = 500
batch_timeout_ms = 20
channel_capacity = 2

[source]
type = "kafka"
brokers = "{brokers}"
topics = ["{INPUT}"]
group_id = "{group}"
commit_interval_ms = 200
[source.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "300"
"topic.metadata.refresh.interval.ms" = "1000"

[sink]
type = "kafka"
brokers = "{brokers}"
topic = "{OUTPUT}"

[dead_letter]
type = "kafka"
brokers = "{brokers}"
topic = "{DLQ}"

[metrics]
listen = ""
"#
    )
}

pub fn write_config(dir: &Path, brokers: &str, group: &str) -> std::path::PathBuf {
    let p = dir.join("pipeline.toml");
    std::fs::write(&p, config_text(brokers, group)).unwrap();
    p
}

/// Kills the child process when dropped, so a failing test leaves no orphan behind.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
