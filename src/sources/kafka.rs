//! Kafka source: a consumer-group member (rdkafka `StreamConsumer`).
//!
//! Delivery contract (at-least-once):
//! - Tocsin commits only offsets it was told are done: [`KafkaAcker::ack`] (called after every
//!   output of a batch is acknowledged by its sink) records the next offset per partition, and
//!   only those exact offsets are committed — every `commit_interval_ms`, synchronously for the
//!   revoked partitions when a rebalance takes them away, and at shutdown. librdkafka's own
//!   auto-commit and auto-store are off, so what is committed is exactly what was acknowledged,
//!   whatever librdkafka's store semantics or callback timing.
//! - Acks for a partition this member no longer owns are dropped; its new owner re-reads from the
//!   last commit: duplicates, never loss.
//!
//! Scale-out: instances with the same `group_id` split the partitions. Producers key mentions
//! by brand, so one brand's mentions land in one partition and its keyed state (dedup, spike
//! baselines) lives in the instance that owns that partition; after a rebalance the new owner
//! rebuilds that state from the stream.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientContext, Offset};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Acker, Checkpoint, SourceBatch};
use crate::config::KafkaSourceConfig;
use crate::mention::{Origin, RawRecord};
use crate::metrics::Metrics;

type Tp = (String, i32);

/// What this member owns and what of it is done.
#[derive(Default)]
struct Offsets {
    assigned: HashSet<Tp>,
    /// Next offset to read per owned partition, for outputs that are durable. Kept until the
    /// partition is revoked, so a failed commit is simply superseded by the next one.
    done: HashMap<Tp, i64>,
    /// Done offsets of partitions just revoked, whose commit may have failed mid-rebalance; if
    /// the next assignment gives them back (common with eager rebalancing) they are committed
    /// again, otherwise dropped (their new owner re-reads: duplicates, not loss).
    carried: HashMap<Tp, i64>,
}

impl Offsets {
    /// The done offsets of `only` (or of every owned partition) as a commit list.
    fn commit_list(&self, only: Option<&HashSet<Tp>>) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (k, o) in &self.done {
            if only.is_none_or(|set| set.contains(k)) {
                let _ = tpl.add_partition_offset(&k.0, k.1, Offset::Offset(*o));
            }
        }
        tpl
    }
}

/// Client context shared by Tocsin's consumers: metrics, rebalances and offset bookkeeping.
pub struct TocsinConsumerContext {
    metrics: Arc<Metrics>,
    client: String,
    offsets: Mutex<Offsets>,
}

impl TocsinConsumerContext {
    fn commit<C: Consumer<Self>>(&self, consumer: &C, tpl: &TopicPartitionList, mode: CommitMode) {
        if tpl.count() == 0 {
            return;
        }
        tracing::debug!(client = %self.client, offsets = ?tpl.elements().iter().map(|e| (e.partition(), e.offset())).collect::<Vec<_>>(), "committing");
        if let Err(e) = consumer.commit(tpl, mode) {
            self.metrics
                .offset_commits
                .with_label_values(&["error"])
                .inc();
            tracing::warn!(client = %self.client, error = %e, "offset commit failed; these records will be re-read (duplicates, not loss)");
        } else if matches!(mode, CommitMode::Sync) {
            self.metrics.offset_commits.with_label_values(&["ok"]).inc();
        }
    }
}

impl ClientContext for TocsinConsumerContext {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || !p.desired || p.hi_offset < 0 {
                    continue;
                }
                // Lag behind what is committed (durably processed), else behind the position.
                let base = if p.committed_offset >= 0 {
                    p.committed_offset
                } else {
                    p.app_offset
                };
                if base >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[topic, &partition.to_string()])
                        .set((p.hi_offset - base).max(0));
                }
            }
        }
    }
}

impl ConsumerContext for TocsinConsumerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.metrics.rebalances.with_label_values(&["revoke"]).inc();
                let revoked: HashSet<Tp> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                let to_commit = {
                    let mut o = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
                    let t = o.commit_list(Some(&revoked));
                    o.assigned.retain(|k| !revoked.contains(k));
                    let (gone, kept): (HashMap<Tp, i64>, HashMap<Tp, i64>) =
                        std::mem::take(&mut o.done)
                            .into_iter()
                            .partition(|(k, _)| revoked.contains(k));
                    o.done = kept;
                    o.carried = gone;
                    t
                };
                tracing::info!(client = %self.client, partitions = revoked.len(), committing = to_commit.count(), "partitions revoked");
                self.commit(consumer, &to_commit, CommitMode::Sync);
                for (topic, partition) in &revoked {
                    let _ = self
                        .metrics
                        .consumer_lag
                        .remove_label_values(&[topic, &partition.to_string()]);
                }
            }
            Rebalance::Assign(tpl) => {
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                let mut o = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
                let carried = std::mem::take(&mut o.carried);
                for e in tpl.elements() {
                    let k = (e.topic().to_string(), e.partition());
                    if let Some(off) = carried.get(&k) {
                        o.done.insert(k.clone(), *off);
                    }
                    o.assigned.insert(k);
                }
                tracing::info!(client = %self.client, partitions = tpl.count(), "partitions assigned");
            }
            Rebalance::Error(e) => {
                self.metrics.rebalances.with_label_values(&["error"]).inc();
                tracing::warn!(client = %self.client, error = %e, "rebalance error");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        // Async commits report here; sync ones are counted where they are made.
        match result {
            Ok(()) => self.metrics.offset_commits.with_label_values(&["ok"]).inc(),
            Err(e) => {
                self.metrics
                    .offset_commits
                    .with_label_values(&["error"])
                    .inc();
                tracing::warn!(client = %self.client, error = %e, "offset commit failed; retried with the next one");
            }
        }
    }
}

type Inner = StreamConsumer<TocsinConsumerContext>;

pub struct KafkaSource {
    consumer: Arc<Inner>,
    topics: HashMap<String, Arc<str>>,
    commit_interval: Duration,
}

impl KafkaSource {
    pub fn new(cfg: &KafkaSourceConfig, metrics: Arc<Metrics>) -> KafkaResult<Self> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &cfg.brokers)
            .set("group.id", &cfg.group_id)
            .set("auto.offset.reset", &cfg.start_from)
            .set("statistics.interval.ms", "5000")
            .set("session.timeout.ms", "10000")
            .set("partition.assignment.strategy", "range,roundrobin");
        for (k, v) in &cfg.options {
            cc.set(k, v);
        }
        let client = cfg.options.get("client.id").cloned().unwrap_or_else(|| {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("tocsin-{}-{n}", std::process::id())
        });
        // Set last: these make the delivery contract and must not be overridden.
        cc.set("client.id", &client)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: Inner = cc.create_with_context(TocsinConsumerContext {
            metrics,
            client,
            offsets: Mutex::new(Offsets::default()),
        })?;
        let names: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            topics: cfg
                .topics
                .iter()
                .map(|t| (t.clone(), Arc::from(t.as_str())))
                .collect(),
            commit_interval: Duration::from_millis(cfg.commit_interval_ms),
        })
    }

    pub fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(KafkaAcker {
            consumer: self.consumer.clone(),
            interval: self.commit_interval,
            last_commit: Mutex::new(Instant::now()),
        })
    }

    pub async fn next_batch(&mut self, max: usize, timeout: Duration) -> Option<SourceBatch> {
        let mut records = Vec::with_capacity(max.min(4096));
        let mut checkpoint = Checkpoint::default();
        let mut deadline = None;
        let mut read_at = Instant::now();
        while records.len() < max {
            let msg = match deadline {
                None => self.consumer.recv().await,
                Some(d) => match tokio::time::timeout_at(d, self.consumer.recv()).await {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consumer error; continuing");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if deadline.is_some() {
                        break;
                    }
                    continue;
                }
            };
            if deadline.is_none() {
                read_at = Instant::now();
                deadline = Some(tokio::time::Instant::now() + timeout);
            }
            let topic = match self.topics.get(msg.topic()) {
                Some(t) => t.clone(),
                None => {
                    let t: Arc<str> = Arc::from(msg.topic());
                    self.topics.insert(msg.topic().to_owned(), t.clone());
                    t
                }
            };
            checkpoint.observe(&topic, msg.partition(), msg.offset());
            records.push(RawRecord {
                payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                key: msg.key().map(<[u8]>::to_vec),
                origin: Origin::Kafka {
                    topic,
                    partition: msg.partition(),
                    offset: msg.offset(),
                },
            });
        }
        Some(SourceBatch {
            records,
            checkpoint,
            read_at,
        })
    }
}

pub struct KafkaAcker {
    consumer: Arc<Inner>,
    interval: Duration,
    last_commit: Mutex<Instant>,
}

/// Commits every done offset of the partitions `consumer` owns.
fn commit_done(consumer: &Inner, mode: CommitMode) {
    let ctx = consumer.context();
    let tpl = ctx
        .offsets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .commit_list(None);
    ctx.commit(consumer, &tpl, mode);
}

impl Acker for KafkaAcker {
    fn ack(&self, checkpoint: &Checkpoint) {
        let ctx = self.consumer.context();
        {
            let mut o = ctx.offsets.lock().unwrap_or_else(|p| p.into_inner());
            for (topic, partition, offset) in &checkpoint.offsets {
                let k = (topic.to_string(), *partition);
                if o.assigned.contains(&k) {
                    // Next record to read. Only grows: after a partition comes back, re-read
                    // batches ack lower offsets than the ones already done.
                    let next = o.done.get(&k).map_or(offset + 1, |d| (*d).max(offset + 1));
                    o.done.insert(k, next);
                } else {
                    tracing::debug!(%topic, partition, offset, "ack for a partition no longer owned; its new owner re-reads it");
                }
            }
        }
        self.tick();
    }

    fn tick(&self) {
        let mut last = self.last_commit.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= self.interval {
            *last = Instant::now();
            drop(last);
            // Re-sends unchanged offsets too: cheap, and it heals a commit that failed.
            commit_done(&self.consumer, CommitMode::Async);
        }
    }

    fn finish(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let c = self.consumer.clone();
            if let Err(e) =
                tokio::task::spawn_blocking(move || commit_done(&c, CommitMode::Sync)).await
            {
                tracing::warn!(error = %e, "final commit task failed; uncommitted records will be re-read on restart");
            }
        })
    }
}
