//! Kafka sink: an idempotent producer (`acks=all`, `enable.idempotence=true`).
//!
//! A write returns once the broker acknowledged every record. Records whose delivery failed
//! with a transient error are re-sent with exponential backoff until they are acknowledged or
//! the pipeline is asked to stop (then the batch is reported unacknowledged and its offsets are
//! not committed). Errors that retrying cannot fix (message too large, not authorised, unknown
//! topic) fail the pipeline with a message saying what to change. Re-sent records may land after
//! later ones of the same batch: ordering is kept except across a failed delivery.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use tokio::sync::watch;

use super::{OutRecord, SinkError};
use crate::config::KafkaSinkConfig;
use crate::metrics::Metrics;

pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    stop: watch::Receiver<bool>,
}

impl KafkaSink {
    pub fn new(cfg: &KafkaSinkConfig, stop: watch::Receiver<bool>) -> Result<Self, SinkError> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &cfg.brokers)
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "60000");
        for (k, v) in &cfg.options {
            cc.set(k, v);
        }
        cc.set("acks", "all").set("enable.idempotence", "true");
        let producer = cc.create().map_err(|source| SinkError::KafkaSetup {
            topic: cfg.topic.clone(),
            source,
        })?;
        Ok(Self {
            producer,
            topic: cfg.topic.clone(),
            stop,
        })
    }

    pub async fn write(
        &mut self,
        records: Vec<OutRecord>,
        m: &Metrics,
        label: &str,
    ) -> Result<(), SinkError> {
        let mut pending: Vec<OutRecord> = records;
        let mut backoff = Duration::from_millis(100);
        loop {
            let failed = self.send_all(&pending).await?;
            if failed.is_empty() {
                return Ok(());
            }
            m.sink_errors.with_label_values(&[label]).inc();
            let (idx, reasons): (Vec<usize>, Vec<String>) = failed.into_iter().unzip();
            tracing::warn!(topic = %self.topic, failed = idx.len(), first_error = %reasons[0], retry_in_ms = backoff.as_millis() as u64, "kafka delivery failed; retrying");
            let mut keep = vec![false; pending.len()];
            for i in idx {
                keep[i] = true;
            }
            let mut it = keep.into_iter();
            pending.retain(|_| it.next().unwrap_or(false));
            if *self.stop.borrow() {
                return Err(SinkError::Interrupted {
                    target: self.topic.clone(),
                    pending: pending.len(),
                });
            }
            let jitter = rand::random::<f64>() * 0.3 + 0.85;
            let _ = tokio::time::timeout(backoff.mul_f64(jitter), self.stop.changed()).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Sends every record and waits for all acks. Returns the (index, error) of failures that
    /// are worth retrying; fails on errors that retrying cannot fix.
    async fn send_all(&self, records: &[OutRecord]) -> Result<Vec<(usize, String)>, SinkError> {
        let mut futures = Vec::with_capacity(records.len());
        let mut failed = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let mut headers = None;
            if !r.headers.is_empty() {
                let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
                for (k, v) in &r.headers {
                    h = h.insert(Header {
                        key: k,
                        value: Some(v.as_slice()),
                    });
                }
                headers = Some(h);
            }
            loop {
                let mut rec: FutureRecord<'_, [u8], [u8]> =
                    FutureRecord::to(&self.topic).payload(&r.payload[..]);
                if let Some(k) = &r.key {
                    rec = rec.key(&k[..]);
                }
                if let Some(h) = &headers {
                    rec = rec.headers(h.clone());
                }
                match self.producer.send_result(rec) {
                    Ok(f) => {
                        futures.push((i, f));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // The local queue is full: let deliveries drain, then try again.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        self.check_permanent(&e)?;
                        failed.push((i, e.to_string()));
                        break;
                    }
                }
            }
        }
        for (i, f) in futures {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    self.check_permanent(&e)?;
                    failed.push((i, e.to_string()));
                }
                Err(_) => failed.push((i, "delivery future cancelled".into())),
            }
        }
        Ok(failed)
    }

    fn check_permanent(&self, e: &KafkaError) -> Result<(), SinkError> {
        use RDKafkaErrorCode as C;
        let hint = match e.rdkafka_error_code() {
            Some(C::MessageSizeTooLarge) => {
                "a record is larger than the topic or producer allows; raise message.max.bytes (sink options) or lower limits.max_message_bytes"
            }
            Some(C::TopicAuthorizationFailed) | Some(C::ClusterAuthorizationFailed) => {
                "the producer is not authorised to write this topic; fix the ACLs or credentials"
            }
            Some(C::UnknownTopic) | Some(C::InvalidTopic) => {
                "the topic does not exist; create it (see docker-compose.yml) or enable auto-creation"
            }
            _ => return Ok(()),
        };
        Err(SinkError::KafkaDelivery {
            topic: self.topic.clone(),
            reason: format!("{e}; {hint}"),
        })
    }

    pub async fn flush(&mut self) -> Result<(), SinkError> {
        let p = self.producer.clone();
        let r = tokio::task::spawn_blocking(move || p.flush(Duration::from_secs(30))).await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SinkError::KafkaDelivery {
                topic: self.topic.clone(),
                reason: format!("flush at shutdown: {e}"),
            }),
            Err(e) => Err(SinkError::KafkaDelivery {
                topic: self.topic.clone(),
                reason: format!("flush task: {e}"),
            }),
        }
    }
}
