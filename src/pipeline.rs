//! Micro-batches, the [`Stage`] trait, and the runner that wires source → stages → sinks.
//!
//! Three tasks joined by bounded channels (capacity `pipeline.channel_capacity` batches; a full
//! channel blocks the task upstream, so backpressure reaches the source and nothing queues
//! without bound):
//!
//! 1. the source task reads micro-batches;
//! 2. the processing thread decodes (bad records become dead letters), runs the stages in
//!    order (stateless ones are rayon-parallel inside the batch) and encodes the outputs;
//! 3. the sink task writes enriched records and dead letters, waits until both are
//!    acknowledged (broker ack or flushed file), and only then acknowledges the batch to the
//!    source, which stores its offsets.
//!
//! Batches flow strictly in order through each task, so a partition's offsets only move forward
//! and outputs keep input order within a partition. On shutdown the source stops reading, the
//! batches in flight drain through the stages and sinks, and the source commits what was
//! acknowledged.

use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

use crate::archive::sink::{ArchiveRows, ArchiveSink};
use crate::clock::{Millis, SharedClock};
use crate::mention::{decode, DecodeLimits, Mention, Origin, RawRecord};
use crate::metrics::Metrics;
use crate::metrics::OutputFacts;
use crate::sinks::{DeadLetter, OutRecord, Sink, SinkError};
use crate::sources::{Acker, Source, SourceBatch};

/// A processing step over a micro-batch of valid mentions.
///
/// Stages must keep the batch's order and length: one output per input. Stateful stages own
/// their state (keyed, so it can be sharded) and read time only from the clock they were given.
pub trait Stage: Send {
    fn name(&self) -> &'static str;
    fn process(&mut self, batch: &mut [Mention]);
    /// Called at least every `tick_interval` even when no data flows, with the stage clock's
    /// time, so stateful stages can close buckets and expire state.
    fn tick(&mut self, _now_ms: Millis) {}
    /// Records the stage produced besides the mentions (incident events), taken after each
    /// batch and tick. They are made durable before the batch's offsets are committed.
    fn drain_outputs(&mut self) -> Vec<OutRecord> {
        Vec::new()
    }
    /// Called once when the pipeline stops after its last batch (e.g. to save state).
    fn shutdown(&mut self) {}
}

/// A stateless per-mention step. Wrap it in [`Parallel`] to run it batch-parallel with rayon.
pub trait MapStage: Send + Sync {
    fn name(&self) -> &'static str;
    fn apply(&self, mention: &mut Mention);
}

/// Runs a [`MapStage`] over a batch with rayon.
pub struct Parallel<S>(pub S);

impl<S: MapStage> Stage for Parallel<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn process(&mut self, batch: &mut [Mention]) {
        let s = &self.0;
        batch
            .par_iter_mut()
            .with_min_len(64)
            .for_each(|m| s.apply(m));
    }
}

/// Liveness and readiness, shared with the HTTP server.
#[derive(Debug, Default)]
pub struct Health {
    pub ready: AtomicBool,
    pub failed: AtomicBool,
}

impl Health {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.failed.load(Ordering::Relaxed)
    }
    pub fn is_live(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
    }
}

/// Everything the runner needs besides the source.
pub struct Pipeline {
    pub stages: Vec<Box<dyn Stage>>,
    pub sink: Sink,
    pub dead_letter: Sink,
    /// Where stage outputs (incident events) go; `None` when no stage produces any.
    pub incidents: Option<Sink>,
    /// Routes incident events to receivers through the durable outbox; `None` without
    /// receivers. Stopped (after its grace time) when the run ends.
    pub alerter: Option<crate::alerting::Alerter>,
    /// The Parquet archive: rows built on the processing thread, written by the sink task,
    /// which holds source offsets until the archive commits.
    pub archive: Option<(ArchiveRows, ArchiveSink)>,
    pub limits: DecodeLimits,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub channel_capacity: usize,
    pub tick_interval: Duration,
}

/// What a finished run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub read: u64,
    pub enriched: u64,
    pub dead_letters: u64,
    pub batches: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("sink failed, offsets of the failed batch were not committed: {0}")]
    Sink(#[from] SinkError),
    #[error("the processing thread stopped unexpectedly ({0}); this is a bug, please report it")]
    Processing(String),
    #[error(transparent)]
    Alerting(#[from] crate::alerting::AlertingError),
    #[error("archive failed, offsets of uncommitted batches were not committed: {0}")]
    Archive(#[from] crate::archive::ArchiveError),
}

struct Processed {
    outputs: Vec<OutRecord>,
    dead: Vec<DeadLetter>,
    incidents: Vec<OutRecord>,
    /// The batch's `mentions` rows when the archive is on.
    archive: Option<datafusion::arrow::array::RecordBatch>,
    /// (created_at, platform) of each output, for latency metrics after the ack.
    event_times: Vec<OutputFacts>,
    checkpoint: crate::sources::Checkpoint,
    read_at: Instant,
}

/// A handle that asks a running pipeline to stop (drain, commit, return).
#[derive(Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Shutdown {
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Self(Arc::new(tx)), rx)
    }
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Pipeline {
    /// Runs until the source is exhausted or `stop` turns true, then drains and commits.
    pub async fn run(
        self,
        mut source: Source,
        mut stop: watch::Receiver<bool>,
    ) -> Result<RunReport, PipelineError> {
        let Pipeline {
            stages,
            sink,
            dead_letter,
            incidents,
            alerter,
            archive,
            limits,
            clock,
            metrics,
            health,
            batch_size,
            batch_timeout,
            channel_capacity,
            tick_interval,
        } = self;
        let (tx_raw, rx_raw) = mpsc::channel::<SourceBatch>(channel_capacity);
        let (tx_out, rx_out) = mpsc::channel::<Processed>(channel_capacity);
        let acker = source.acker();
        let source_label = source.label();
        health.ready.store(true, Ordering::Relaxed);
        metrics.up.set(1);

        // 1. Source task.
        let m = metrics.clone();
        let src_label = source_label.clone();
        let source_task = tokio::spawn(async move {
            let q = m
                .channel_queued_batches
                .with_label_values(&["source_to_stages"]);
            loop {
                if *stop.borrow() {
                    break;
                }
                let batch = tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    b = source.next_batch(batch_size, batch_timeout) => b,
                };
                let Some(batch) = batch else { break };
                if batch.records.is_empty() {
                    continue;
                }
                if tracing::enabled!(tracing::Level::TRACE) {
                    let mut r: std::collections::BTreeMap<i32, (i64, i64, usize)> =
                        Default::default();
                    for rec in &batch.records {
                        if let Origin::Kafka {
                            partition, offset, ..
                        } = rec.origin
                        {
                            let e = r.entry(partition).or_insert((i64::MAX, i64::MIN, 0));
                            e.0 = e.0.min(offset);
                            e.1 = e.1.max(offset);
                            e.2 += 1;
                        }
                    }
                    tracing::trace!(ranges = ?r, "batch read (partition: first, last, count)");
                }
                m.batch_size
                    .with_label_values(&[&src_label])
                    .observe(batch.records.len() as f64);
                m.source_received_events
                    .with_label_values(&[&src_label])
                    .inc_by(batch.records.len() as u64);
                let bytes: usize = batch.records.iter().map(|r| r.payload.len()).sum();
                m.source_received_bytes
                    .with_label_values(&[&src_label])
                    .inc_by(bytes as u64);
                if tx_raw.send(batch).await.is_err() {
                    break;
                }
                q.set((channel_capacity - tx_raw.capacity()) as i64);
            }
        });

        // 2. Processing thread.
        let m = metrics.clone();
        let rt = tokio::runtime::Handle::current();
        let (rows, archive) = archive.unzip();
        let processing = tokio::task::spawn_blocking(move || {
            let ctx = ProcessContext {
                limits,
                clock,
                m,
                tick_interval,
                rows,
            };
            process_loop(rt, rx_raw, tx_out, stages, ctx)
        });

        // 3. Sink task (here).
        let report = sink_loop(
            rx_out,
            sink,
            dead_letter,
            incidents,
            alerter.as_ref(),
            archive,
            acker.as_ref(),
            &metrics,
            &source_label,
        )
        .await;
        if let Some(a) = alerter {
            a.shutdown(None).await;
        }
        // Whatever happened, stop reading and wait for the other tasks.
        drop(source_task.await);
        let processed = processing.await;
        acker.finish().await;
        metrics.up.set(0);
        health.ready.store(false, Ordering::Relaxed);
        let mut report = match report {
            Ok(r) => r,
            Err(e) => {
                health.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        match processed {
            Ok(read) => report.read = read,
            Err(e) => {
                health.failed.store(true, Ordering::Relaxed);
                return Err(PipelineError::Processing(e.to_string()));
            }
        }
        Ok(report)
    }
}

/// What the processing thread needs besides its channels and stages.
struct ProcessContext {
    limits: DecodeLimits,
    clock: SharedClock,
    m: Arc<Metrics>,
    tick_interval: Duration,
    rows: Option<ArchiveRows>,
}

fn process_loop(
    rt: tokio::runtime::Handle,
    mut rx: mpsc::Receiver<SourceBatch>,
    tx: mpsc::Sender<Processed>,
    mut stages: Vec<Box<dyn Stage>>,
    ctx: ProcessContext,
) -> u64 {
    let ProcessContext {
        limits,
        clock,
        m,
        tick_interval,
        rows,
    } = ctx;
    let decode_label = ["decode"];
    let mut read = 0u64;
    let mut last_tick = Instant::now();
    let q = m
        .channel_queued_batches
        .with_label_values(&["stages_to_sinks"]);
    loop {
        let next = rt.block_on(async { tokio::time::timeout(tick_interval, rx.recv()).await });
        if last_tick.elapsed() >= tick_interval {
            let now = clock.now_ms();
            let mut produced = Vec::new();
            for s in stages.iter_mut() {
                s.tick(now);
                produced.extend(s.drain_outputs());
            }
            last_tick = Instant::now();
            if !produced.is_empty() {
                let p = Processed {
                    outputs: Vec::new(),
                    dead: Vec::new(),
                    incidents: produced,
                    archive: None,
                    event_times: Vec::new(),
                    checkpoint: crate::sources::Checkpoint::default(),
                    read_at: Instant::now(),
                };
                if tx.blocking_send(p).is_err() {
                    break;
                }
            }
        }
        let batch = match next {
            Err(_) => continue, // tick timeout
            Ok(None) => break,
            Ok(Some(b)) => b,
        };
        read += batch.records.len() as u64;
        let started = Instant::now();
        let now = clock.now_ms();
        m.stage_received_events
            .with_label_values(&decode_label)
            .inc_by(batch.records.len() as u64);
        let decoded: Vec<Result<Mention, DeadLetter>> = batch
            .records
            .into_par_iter()
            .with_min_len(64)
            .map(|r: RawRecord| {
                let keep = (r.payload.clone(), r.key.clone(), r.origin.clone());
                decode(r, &limits, now).map_err(|e| DeadLetter {
                    payload: keep.0,
                    key: keep.1,
                    origin: keep.2,
                    reason: e.reason,
                    error: e.detail,
                    at_ms: now,
                })
            })
            .collect();
        let mut mentions = Vec::with_capacity(decoded.len());
        let mut dead = Vec::new();
        for d in decoded {
            match d {
                Ok(mn) => mentions.push(mn),
                Err(dl) => dead.push(dl),
            }
        }
        m.stage_sent_events
            .with_label_values(&decode_label)
            .inc_by(mentions.len() as u64);
        m.stage_batch_duration
            .with_label_values(&decode_label)
            .observe(started.elapsed().as_secs_f64());

        for s in stages.iter_mut() {
            let t = Instant::now();
            let n = mentions.len() as u64;
            m.stage_received_events
                .with_label_values(&[s.name()])
                .inc_by(n);
            s.process(&mut mentions);
            debug_assert_eq!(
                mentions.len() as u64,
                n,
                "stage {} changed the batch length",
                s.name()
            );
            m.stage_sent_events
                .with_label_values(&[s.name()])
                .inc_by(mentions.len() as u64);
            m.stage_batch_duration
                .with_label_values(&[s.name()])
                .observe(t.elapsed().as_secs_f64());
        }

        let incidents: Vec<OutRecord> = stages.iter_mut().flat_map(|s| s.drain_outputs()).collect();
        let t = Instant::now();
        let outputs: Vec<OutRecord> = mentions
            .par_iter()
            .with_min_len(64)
            .map(|mn| OutRecord {
                key: mn.output_key(),
                payload: mn.encode(),
                headers: Vec::new(),
            })
            .collect();
        let event_times = mentions
            .iter()
            .map(|mn| OutputFacts {
                created: mn.created_at_ms,
                platform: mn.platform,
                lang: crate::metrics::language_label(mn.language()),
                sla_secs: mn.enrich.score.as_ref().map_or(0, |s| s.sla_secs),
            })
            .collect();
        m.stage_batch_duration
            .with_label_values(&["encode"])
            .observe(t.elapsed().as_secs_f64());
        let archive = rows
            .as_ref()
            .filter(|_| !mentions.is_empty())
            .map(|r| r.batch(&mentions));
        let p = Processed {
            outputs,
            dead,
            incidents,
            archive,
            event_times,
            checkpoint: batch.checkpoint,
            read_at: batch.read_at,
        };
        if tx.blocking_send(p).is_err() {
            break; // the sink failed; it reports why
        }
        q.set((tx.max_capacity() - tx.capacity()) as i64);
    }
    for s in stages.iter_mut() {
        s.shutdown();
    }
    read
}

#[allow(clippy::too_many_arguments)]
async fn sink_loop(
    mut rx: mpsc::Receiver<Processed>,
    mut sink: Sink,
    mut dead_letter: Sink,
    mut incidents: Option<Sink>,
    alerter: Option<&crate::alerting::Alerter>,
    mut archive: Option<ArchiveSink>,
    acker: &dyn Acker,
    m: &Metrics,
    source_label: &str,
) -> Result<RunReport, PipelineError> {
    let mut report = RunReport::default();
    let sink_label = sink.label();
    let dlq_label = format!("dead_letter_{}", dead_letter.label());
    // Zeros from the start, so dashboards and rules see the series before the first error.
    let incidents_label = incidents
        .as_ref()
        .map(|s| format!("incidents_{}", s.label()));
    for l in [
        Some(&sink_label),
        Some(&dlq_label),
        incidents_label.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        m.sink_errors.with_label_values(&[l.as_str()]);
        m.sink_sent_events.with_label_values(&[l.as_str()]);
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let p = tokio::select! {
            p = rx.recv() => match p {
                Some(p) => p,
                None => break,
            },
            _ = ticker.tick() => {
                acker.tick();
                if let Some(a) = archive.as_mut() {
                    for c in a.tick().await? {
                        acker.ack(&c);
                    }
                }
                continue;
            }
        };
        let n_out = p.outputs.len() as u64;
        let n_dead = p.dead.len() as u64;
        if n_out > 0 {
            sink.write(p.outputs, m, &sink_label).await?;
        }
        if n_dead > 0 {
            let reasons: Vec<_> = p.dead.iter().map(|d| d.reason).collect();
            let records = dead_letter.dead_letter_records(p.dead);
            dead_letter.write(records, m, &dlq_label).await?;
            for r in reasons {
                m.dead_letter(r).inc();
            }
        }
        // Every output is durable (the archive's rows once it commits): now the source may
        // move its offsets.
        tracing::trace!(checkpoint = ?p.checkpoint.offsets, outputs = n_out, dead = n_dead, "batch written");
        let done = match archive.as_mut() {
            Some(a) => a.write(p.archive, &p.incidents, p.checkpoint).await?,
            None => vec![p.checkpoint],
        };
        if !p.incidents.is_empty() {
            // Queued notifications and incident events are both durable before the ack.
            if let Some(a) = alerter {
                a.enqueue(&p.incidents)?;
            }
            match incidents.as_mut() {
                Some(s) => {
                    let label = format!("incidents_{}", s.label());
                    s.write(p.incidents, m, &label).await?
                }
                None => tracing::warn!(
                    n = p.incidents.len(),
                    "incident events with no incident sink configured"
                ),
            }
        }
        for c in &done {
            acker.ack(c);
        }
        m.observe_outputs(&p.event_times, chrono::Utc::now().timestamp_millis());
        m.pipeline_latency
            .with_label_values(&[source_label])
            .observe(p.read_at.elapsed().as_secs_f64());
        report.enriched += n_out;
        report.dead_letters += n_dead;
        report.batches += 1;
    }
    sink.close().await?;
    dead_letter.close().await?;
    if let Some(a) = archive.as_mut() {
        for c in a.close().await? {
            acker.ack(&c);
        }
    }
    if let Some(s) = incidents.as_mut() {
        s.close().await?;
    }
    Ok(report)
}
