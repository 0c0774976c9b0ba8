//! Sinks: where enriched mentions and dead letters go.
//!
//! Contract: [`Sink::write`] returns only when every record is durable (Kafka: acknowledged by
//! the broker with `acks=all`; file: written, flushed and, when `fsync`, synced). Only then does
//! the runner acknowledge the batch to the source. A sink that cannot make records durable
//! returns an error and the pipeline stops without committing that batch.

pub mod dlq;
pub mod file;
pub mod kafka;

pub use dlq::DeadLetter;

use crate::metrics::Metrics;

/// One record to write: a Kafka message, or a line of a file (payload only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot write {path}: {source}; check the path, permissions and free space")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the Kafka producer for topic {topic}: {source}; check the brokers and options")]
    KafkaSetup {
        topic: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("Kafka delivery to {topic} failed permanently: {reason}")]
    KafkaDelivery { topic: String, reason: String },
    #[error("shut down while {pending} records to {target} were still unacknowledged; their offsets were not committed")]
    Interrupted { target: String, pending: usize },
}

pub enum Sink {
    Kafka(kafka::KafkaSink),
    File(file::FileSink),
}

impl Sink {
    pub fn label(&self) -> String {
        match self {
            Sink::Kafka(_) => "kafka".into(),
            Sink::File(_) => "file".into(),
        }
    }

    pub async fn write(
        &mut self,
        records: Vec<OutRecord>,
        m: &Metrics,
        label: &str,
    ) -> Result<(), SinkError> {
        let n = records.len() as u64;
        let r = match self {
            Sink::Kafka(s) => s.write(records, m, label).await,
            Sink::File(s) => s.write(&records).await,
        };
        match &r {
            Ok(()) => m.sink_sent_events.with_label_values(&[label]).inc_by(n),
            Err(_) => m.sink_errors.with_label_values(&[label]).inc(),
        }
        r
    }

    /// Dead letters in the form this sink stores them: Kafka keeps the original bytes as the
    /// value with the reason in headers; a file gets one JSON object per line.
    pub fn dead_letter_records(&self, dead: Vec<DeadLetter>) -> Vec<OutRecord> {
        match self {
            Sink::Kafka(_) => dead
                .into_iter()
                .map(DeadLetter::into_kafka_record)
                .collect(),
            Sink::File(_) => dead.into_iter().map(DeadLetter::into_json_record).collect(),
        }
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::Kafka(s) => s.flush().await,
            Sink::File(s) => s.flush().await,
        }
    }
}
