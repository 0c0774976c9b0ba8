//! Kafka source: a consumer-group member (rdkafka `StreamConsumer`).
//!
//! Delivery contract:
//! - `enable.auto.offset.store=false`: an offset is stored only by [`KafkaAcker::ack`], which the
//!   runner calls after every output of the batch is acknowledged by its sink.
//! - `enable.auto.commit=true`: librdkafka commits *stored* offsets every
//!   `auto.commit.interval.ms`, and on partition revoke; we also commit synchronously on revoke
//!   (in the rebalance callback) and at shutdown ([`KafkaAcker::finish`]).
//! - After a revoke, acks for that partition's in-flight batches cannot be stored (we no longer
//!   own it); the new owner re-reads from the last commit: duplicates, never loss.
//!
//! Scale-out: instances with the same `group_id` split the partitions. Producers key mentions
//! by brand, so one brand's mentions land in one partition and its keyed state (dedup, spike
//! baselines) lives in the instance that owns that partition; after a rebalance the new owner
//! rebuilds that state from the stream.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Acker, Checkpoint, SourceBatch};
use crate::config::KafkaSourceConfig;
use crate::mention::{Origin, RawRecord};
use crate::metrics::Metrics;

/// Client context shared by Tocsin's consumers: metrics from statistics and rebalances.
pub struct TocsinConsumerContext {
    metrics: Arc<Metrics>,
}

impl ClientContext for TocsinConsumerContext {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || !p.desired {
                    continue;
                }
                // Lag behind what is durably processed (stored), else behind the fetch position.
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    p.consumer_lag
                };
                if lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[topic, &partition.to_string()])
                        .set(lag);
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
                tracing::info!(partitions = tpl.count(), "partitions revoked; committing stored offsets");
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) => {}
                    Err(e) if is_nothing_to_commit(&e) => {}
                    Err(e) => tracing::warn!(error = %e, "commit on revoke failed; the next owner will re-read from the previous commit"),
                }
                for elem in tpl.elements() {
                    let _ = self
                        .metrics
                        .consumer_lag
                        .remove_label_values(&[elem.topic(), &elem.partition().to_string()]);
                }
            }
            Rebalance::Assign(tpl) => {
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                tracing::info!(partitions = tpl.count(), "partitions assigned");
            }
            Rebalance::Error(e) => {
                self.metrics.rebalances.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, "rebalance error");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) => self.metrics.offset_commits.with_label_values(&["ok"]).inc(),
            Err(e) if is_nothing_to_commit(&e) => {}
            Err(e) => {
                self.metrics.offset_commits.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, "offset commit failed; it is retried at the next commit");
            }
        }
    }
}

fn is_nothing_to_commit(e: &rdkafka::error::KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::NoOffset)
    )
}

type Inner = StreamConsumer<TocsinConsumerContext>;

pub struct KafkaSource {
    consumer: Arc<Inner>,
    topics: HashMap<String, Arc<str>>,
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
        // Set last: these make the delivery contract and must not be overridden.
        cc.set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false");
        let consumer: Inner = cc.create_with_context(TocsinConsumerContext { metrics })?;
        let names: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            topics: cfg
                .topics
                .iter()
                .map(|t| (t.clone(), Arc::from(t.as_str())))
                .collect(),
        })
    }

    pub fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(KafkaAcker {
            consumer: self.consumer.clone(),
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

    pub async fn close(self) {
        // The acker holds the consumer until the final commit; dropping ours is enough.
    }
}

pub struct KafkaAcker {
    consumer: Arc<Inner>,
}

impl Acker for KafkaAcker {
    fn ack(&self, checkpoint: &Checkpoint) {
        for (topic, partition, offset) in &checkpoint.offsets {
            // rd_kafka_offset_store stores offset + 1: the next record to read.
            if let Err(e) = self.consumer.store_offset(topic, *partition, *offset) {
                tracing::debug!(%topic, partition, offset, error = %e, "offset not stored (partition revoked?); it will be re-read by its new owner");
            }
        }
    }

    fn finish(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            let c = self.consumer.clone();
            let r = tokio::task::spawn_blocking(move || c.commit_consumer_state(CommitMode::Sync)).await;
            match r {
                Ok(Ok(())) => tracing::info!("final offsets committed"),
                Ok(Err(e)) if is_nothing_to_commit(&e) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "final commit failed; uncommitted records will be re-read on restart"),
                Err(e) => tracing::warn!(error = %e, "final commit task failed"),
            }
        })
    }
}
