//! `tocsin backtest`: history replayed through the stages in event time, to see what Tocsin
//! would have alerted on with a given config.
//!
//! Contract: [`Replay`] takes mentions in event-time order and runs the configured stages
//! (dedup, language, scoring, spikes with the broadcast rule) exactly as the pipeline does,
//! with a manual clock that follows the data: each batch is processed at its newest event time
//! plus [`ARRIVAL_DELAY_MS`], and quiet gaps are ticked through in [`TICK_STEP_MS`] steps as
//! the live pipeline's timer would. Nothing reads the wall clock, so the same input and config
//! give the same incident events, byte for byte. [`report::Report`] summarises them.

pub mod command;
pub mod report;

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;

use crate::alerting::event::IncidentEvent;
use crate::archive::read::{self, Selection};
use crate::archive::ArchiveError;
use crate::chain::{Chain, Group, Unit};
use crate::clock::{ManualClock, Millis, SharedClock};
use crate::config::PipelineConfig;
use crate::mention::Mention;
use crate::metrics::Metrics;

/// A mention reaches the pipeline this long after it was posted (collectors poll).
pub const ARRIVAL_DELAY_MS: Millis = 1_000;
/// The live pipeline ticks its stages about every second; across quiet gaps a replay ticks
/// every 5 s of event time, which closes buckets at the same bucket boundaries.
pub const TICK_STEP_MS: Millis = 5_000;

pub struct Replay {
    /// The stages, one thread each (see [`crate::chain`]): dedup of batch k+1 overlaps
    /// scoring and spike detection of batch k. Only the last stage (spikes) reads the clock,
    /// and its thread sets it from each unit, so the overlap does not change any result.
    chain: Chain,
    now: Millis,
    pub mentions: u64,
    pub first_ms: Option<Millis>,
    pub last_ms: Option<Millis>,
    /// Every incident event, as the pipeline would have written it (JSON).
    pub events: Vec<Vec<u8>>,
    /// Mentions older than the previous batch's newest (input not in order); still processed.
    pub out_of_order: u64,
}

/// Keeps the incident events of a unit that came out of the stages.
fn keep_events(events: &mut Vec<Vec<u8>>, done: Unit) {
    events.extend(done.outputs.into_iter().map(|r| r.payload));
}

/// Units in flight between two stage threads.
const CHAIN_CAPACITY: usize = 4;

impl Replay {
    pub fn new(cfg: &PipelineConfig) -> Result<Self, crate::stages::BuildError> {
        let clock = ManualClock::new(0);
        let shared: SharedClock = Arc::new(clock.clone());
        let metrics = Arc::new(Metrics::new("backtest"));
        // A replay must neither start from nor overwrite the live pipeline's spike state.
        let mut cfg = cfg.clone();
        cfg.stages.spikes.checkpoint_path = None;
        let stages = crate::stages::build(&cfg, shared, metrics)?;
        let n = stages.len();
        let groups = stages
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut g = Group::new(vec![s]);
                if i + 1 == n {
                    let c = clock.clone();
                    g.on_time = Some(Box::new(move |t| c.set(t)));
                }
                g
            })
            .collect();
        Ok(Replay {
            chain: Chain::spawn(groups, CHAIN_CAPACITY, false),
            now: Millis::MIN,
            mentions: 0,
            first_ms: None,
            last_ms: None,
            events: Vec::new(),
            out_of_order: 0,
        })
    }

    fn send(&mut self, unit: Unit) {
        let events = &mut self.events;
        self.chain.send(unit, |d| keep_events(events, d));
    }

    fn tick_until(&mut self, until: Millis) {
        if self.now == Millis::MIN {
            return;
        }
        while self.now + TICK_STEP_MS < until {
            self.now += TICK_STEP_MS;
            self.send(Unit::tick(self.now));
        }
    }

    /// Processes one batch (in event-time order, after the previous batch).
    pub fn feed(&mut self, batch: Vec<Mention>) {
        let Some(newest) = batch.iter().map(|m| m.created_at_ms).max() else {
            return;
        };
        let oldest = batch
            .iter()
            .map(|m| m.created_at_ms)
            .min()
            .unwrap_or(newest);
        if let Some(last) = self.last_ms {
            self.out_of_order += batch.iter().filter(|m| m.created_at_ms < last).count() as u64;
        }
        self.tick_until(oldest + ARRIVAL_DELAY_MS);
        self.now = self.now.max(newest + ARRIVAL_DELAY_MS);
        self.mentions += batch.len() as u64;
        self.first_ms = Some(self.first_ms.map_or(oldest, |f| f.min(oldest)));
        self.last_ms = Some(self.last_ms.map_or(newest, |l| l.max(newest)));
        self.send(Unit::batch(self.now, batch));
    }

    /// Feeds `mentions` (in event-time order) in batches of `batch_size`.
    pub fn feed_all(
        &mut self,
        mentions: Vec<Mention>,
        batch_size: usize,
        mut progress: impl FnMut(u64),
    ) {
        let mut it = mentions.into_iter();
        loop {
            let batch: Vec<Mention> = it.by_ref().take(batch_size.max(1)).collect();
            if batch.is_empty() {
                break;
            }
            let n = batch.len() as u64;
            self.feed(batch);
            progress(n);
        }
    }

    /// Feeds the archived mentions of `sel` (see [`crate::archive::read`]) in batches of
    /// `batch_size`, calling `progress` after each batch with its size. With `reuse_lang` the
    /// archived languages stay on the mentions (build the replay without the language stage);
    /// otherwise they are cleared so the language stage detects them again.
    pub async fn feed_archive(
        &mut self,
        root: &Path,
        sel: &Selection,
        batch_size: usize,
        reuse_lang: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<(), ArchiveError> {
        let batch_size = batch_size.max(1);
        let mut stream = read::mentions(root, sel).await?;
        // Reading (Parquet decoding, the merge into event-time order, building mentions) runs
        // in its own task, a few batches ahead of the stages: the two overlap on two cores.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Mention>, ArchiveError>>(4);
        let reader = tokio::spawn(async move {
            let mut pending: Vec<Mention> = Vec::with_capacity(batch_size);
            while let Some(b) = stream.next().await {
                let ms = b
                    .map_err(|e| ArchiveError::Query(e.to_string()))
                    .and_then(|b| read::to_mentions(&b));
                let ms = match ms {
                    Ok(ms) => ms,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                for mut m in ms {
                    if !reuse_lang {
                        m.enrich.lang = None;
                        m.enrich.lang_confidence = None;
                    }
                    pending.push(m);
                    if pending.len() == batch_size {
                        let full = std::mem::replace(&mut pending, Vec::with_capacity(batch_size));
                        if tx.send(Ok(full)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            if !pending.is_empty() {
                let _ = tx.send(Ok(pending)).await;
            }
        });
        while let Some(batch) = rx.recv().await {
            let batch = batch?;
            let n = batch.len() as u64;
            // Sending blocks while the stage threads are busy: on a multi-threaded runtime,
            // let the reader's worker go on meanwhile (a current-thread runtime reads between
            // batches).
            if tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread
            {
                tokio::task::block_in_place(|| self.feed(batch));
            } else {
                self.feed(batch);
            }
            progress(n);
        }
        reader
            .await
            .map_err(|e| ArchiveError::Query(format!("the archive reader failed: {e}")))
    }

    /// Lets `after_ms` of quiet event time pass after the last mention (so incidents that the
    /// data ends in can resolve), and returns the events.
    pub fn finish(mut self, after_ms: Millis) -> Vec<Vec<u8>> {
        let end = self.now.saturating_add(after_ms);
        self.tick_until(end);
        let mut events = self.events;
        self.chain.finish(|d| keep_events(&mut events, d));
        events
    }

    /// The events parsed (skipping any that do not parse as incidents).
    pub fn parse(events: &[Vec<u8>]) -> Vec<IncidentEvent> {
        events
            .iter()
            .filter_map(|e| serde_json::from_slice(e).ok())
            .collect()
    }
}
