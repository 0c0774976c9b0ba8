//! Writes simulated records to a JSON-lines file/stdout or produces them to Kafka, paced at a
//! wall-clock rate, with the ground truth in a separate JSON-lines file.

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::SimItem;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Kafka: {0}; check --kafka-brokers and that the topic exists")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// How fast records go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many records per wall-clock second (0 = as fast as possible).
    Rate(f64),
    /// Records dated in the past at once, later ones when their event time comes: a history,
    /// then a live feed.
    RealTime,
}

/// Returns how many records were written.
pub async fn write(
    items: impl Iterator<Item = SimItem>,
    output: &str,
    labels: Option<&Path>,
    brokers: Option<&str>,
    topic: &str,
    pace: Pace,
) -> Result<u64, OutputError> {
    let io = |path: &str| {
        let path = path.to_owned();
        move |source| OutputError::Io { path, source }
    };
    let mut labels_out = match labels {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(io(&p.display().to_string()))?,
        )),
        None => None,
    };
    let producer: Option<FutureProducer> = match brokers {
        Some(b) => Some(
            ClientConfig::new()
                .set("bootstrap.servers", b)
                .set("linger.ms", "5")
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .create()?,
        ),
        None => None,
    };
    let mut file_out: Option<Box<dyn Write>> = if producer.is_none() {
        Some(if output == "-" {
            Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(output).map_err(io(output))?,
            ))
        })
    } else {
        None
    };
    let started = Instant::now();
    let mut n = 0u64;
    let mut pending = Vec::new();
    for item in items {
        match pace {
            Pace::Rate(rate) if rate > 0.0 => {
                let due = Duration::from_secs_f64(n as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            Pace::Rate(_) => {}
            Pace::RealTime => {
                let ahead = item.truth.created_at_ms - chrono::Utc::now().timestamp_millis();
                if ahead > 0 {
                    tokio::time::sleep(Duration::from_millis(ahead as u64)).await;
                }
            }
        }
        if let Some(l) = labels_out.as_mut() {
            serde_json::to_writer(&mut *l, &item.truth).map_err(|e| OutputError::Io {
                path: "labels".into(),
                source: e.into(),
            })?;
            l.write_all(b"\n").map_err(io("labels"))?;
        }
        match (&producer, file_out.as_mut()) {
            (Some(p), _) => {
                let mut rec: FutureRecord<'_, [u8], [u8]> =
                    FutureRecord::to(topic).payload(&item.record.payload[..]);
                if let Some(k) = &item.record.key {
                    rec = rec.key(&k[..]);
                }
                let mut rec = rec;
                let f = loop {
                    match p.send_result(rec) {
                        Ok(f) => break f,
                        Err((
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull,
                            ),
                            r,
                        )) => {
                            rec = r;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err((e, _)) => return Err(e.into()),
                    }
                };
                pending.push(f);
                if pending.len() >= 1000 {
                    for f in pending.drain(..) {
                        delivered(f.await)?;
                    }
                }
            }
            (None, Some(w)) => {
                w.write_all(&item.record.payload).map_err(io(output))?;
                w.write_all(b"\n").map_err(io(output))?;
            }
            (None, None) => {}
        }
        n += 1;
    }
    for f in pending.drain(..) {
        delivered(f.await)?;
    }
    if let Some(w) = file_out.as_mut() {
        w.flush().map_err(io(output))?;
    }
    if let Some(l) = labels_out.as_mut() {
        l.flush().map_err(io("labels"))?;
    }
    Ok(n)
}

fn delivered(
    r: Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
) -> Result<(), OutputError> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e.into()),
        Err(_) => Err(rdkafka::error::KafkaError::Canceled.into()),
    }
}
