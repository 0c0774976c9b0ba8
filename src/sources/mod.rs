//! Sources: where raw records come from, and how their progress is acknowledged.
//!
//! Delivery contract (at-least-once): a source hands out [`SourceBatch`]es with a
//! [`Checkpoint`]; the runner calls [`Acker::ack`] with that checkpoint only after every output
//! produced from the batch is durable, in batch order. Only acknowledged progress is committed
//! (Kafka: offsets stored after the ack, committed periodically, on partition revoke and on
//! shutdown). A crash therefore replays from the last commit: records may be seen twice, never
//! lost.

pub mod file;
pub mod generator;
pub mod kafka;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::mention::RawRecord;

/// Highest offset seen per (topic, partition) in one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub offsets: Vec<(Arc<str>, i32, i64)>,
}

impl Checkpoint {
    pub fn observe(&mut self, topic: &Arc<str>, partition: i32, offset: i64) {
        match self
            .offsets
            .iter_mut()
            .find(|(t, p, _)| *p == partition && t == topic)
        {
            Some(entry) => entry.2 = entry.2.max(offset),
            None => self.offsets.push((topic.clone(), partition, offset)),
        }
    }
}

pub struct SourceBatch {
    pub records: Vec<RawRecord>,
    pub checkpoint: Checkpoint,
    pub read_at: Instant,
}

/// Told, in order, which batches are fully delivered.
pub trait Acker: Send + Sync {
    fn ack(&self, checkpoint: &Checkpoint);
    /// Called about every 250 ms, with or without data: lets an idle source retry commits.
    fn tick(&self) {}
    /// Called once after the last ack: commit synchronously what was acknowledged.
    fn finish(&self) -> futures::future::BoxFuture<'_, ()>;
}

/// An acker for sources whose progress needs no commit (files, generators).
pub struct NoCommit;

impl Acker for NoCommit {
    fn ack(&self, _: &Checkpoint) {}
    fn finish(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

pub enum Source {
    Kafka(kafka::KafkaSource),
    File(file::FileSource),
    Generator(generator::GeneratorSource),
}

impl Source {
    /// Up to `max` records, waiting at most `timeout` once the first one arrived.
    /// `None` when the input is exhausted (never for Kafka).
    pub async fn next_batch(&mut self, max: usize, timeout: Duration) -> Option<SourceBatch> {
        match self {
            Source::Kafka(s) => s.next_batch(max, timeout).await,
            Source::File(s) => s.next_batch(max).await,
            Source::Generator(s) => s.next_batch(max).await,
        }
    }

    pub fn acker(&self) -> Arc<dyn Acker> {
        match self {
            Source::Kafka(s) => s.acker(),
            Source::File(_) | Source::Generator(_) => Arc::new(NoCommit),
        }
    }

    /// A bounded metric label.
    pub fn label(&self) -> String {
        match self {
            Source::Kafka(_) => "kafka".into(),
            Source::File(_) => "file".into(),
            Source::Generator(_) => "generator".into(),
        }
    }
}
