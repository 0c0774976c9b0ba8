//! Turns a [`PipelineConfig`] into a runnable [`Pipeline`] and its [`Source`]: opens Kafka
//! clients and files, builds the stages. Shared by `run`, `enrich` and `demo`.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::config::{PipelineConfig, SinkConfig, SourceConfig};
use crate::metrics::Metrics;
use crate::pipeline::{Health, Pipeline, Stage};
use crate::sinks::{file::FileSink, kafka::KafkaSink, Sink, SinkError};
use crate::sources::{file::FileSource, kafka::KafkaSource, Source};

#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("cannot open input {path}: {source}; check the path")]
    Input {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the Kafka consumer: {0}; check source.brokers, source.options and that the topics exist")]
    Consumer(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Alerting(#[from] crate::alerting::AlertingError),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

pub async fn open_source(
    cfg: &PipelineConfig,
    metrics: Arc<Metrics>,
) -> Result<Source, AssembleError> {
    Ok(match &cfg.source {
        SourceConfig::Kafka(k) => Source::Kafka(KafkaSource::new(k, metrics)?),
        SourceConfig::File(f) => Source::File(
            FileSource::open(&f.path, cfg.limits.max_message_bytes)
                .await
                .map_err(|source| AssembleError::Input {
                    path: f.path.clone(),
                    source,
                })?,
        ),
    })
}

pub async fn open_sink(cfg: &SinkConfig, stop: watch::Receiver<bool>) -> Result<Sink, SinkError> {
    Ok(match cfg {
        SinkConfig::Kafka(k) => Sink::Kafka(KafkaSink::new(k, stop)?),
        SinkConfig::File(f) => Sink::File(FileSink::open(&f.path, f.fsync).await?),
    })
}

/// A pipeline for `cfg` with the given stages (see [`crate::stages::build`]).
pub async fn pipeline(
    cfg: &PipelineConfig,
    stages: Vec<Box<dyn Stage>>,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: watch::Receiver<bool>,
) -> Result<Pipeline, AssembleError> {
    Ok(Pipeline {
        stages,
        sink: open_sink(&cfg.sink, stop.clone()).await?,
        dead_letter: open_sink(&cfg.dead_letter, stop.clone()).await?,
        incidents: if cfg.stages.spikes.enabled {
            Some(open_sink(&cfg.stages.spikes.incidents, stop).await?)
        } else {
            None
        },
        alerter: if cfg.stages.spikes.enabled {
            crate::alerting::Alerter::start(&cfg.alerting, &cfg.pipeline.name, metrics.clone())?
        } else {
            None
        },
        archive: match &cfg.archive {
            Some(a) => Some((
                crate::archive::sink::ArchiveRows::new(a, &cfg.brands),
                crate::archive::sink::ArchiveSink::open(a, metrics.clone())?,
            )),
            None => None,
        },
        limits: cfg.limits.decode_limits(),
        clock,
        metrics,
        health,
        batch_size: cfg.pipeline.batch_size,
        batch_timeout: Duration::from_millis(cfg.pipeline.batch_timeout_ms),
        channel_capacity: cfg.pipeline.channel_capacity,
        tick_interval: Duration::from_secs(1),
    })
}
