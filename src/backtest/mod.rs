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

use std::sync::Arc;

use crate::alerting::event::IncidentEvent;
use crate::clock::{ManualClock, Millis, SharedClock};
use crate::config::PipelineConfig;
use crate::mention::Mention;
use crate::metrics::Metrics;
use crate::pipeline::Stage;

/// A mention reaches the pipeline this long after it was posted (collectors poll).
pub const ARRIVAL_DELAY_MS: Millis = 1_000;
/// The live pipeline ticks its stages about every second; across quiet gaps a replay ticks
/// every 5 s of event time, which closes buckets at the same bucket boundaries.
pub const TICK_STEP_MS: Millis = 5_000;

pub struct Replay {
    stages: Vec<Box<dyn Stage>>,
    clock: ManualClock,
    now: Millis,
    pub mentions: u64,
    pub first_ms: Option<Millis>,
    pub last_ms: Option<Millis>,
    /// Every incident event, as the pipeline would have written it (JSON).
    pub events: Vec<Vec<u8>>,
    /// Mentions older than the previous batch's newest (input not in order); still processed.
    pub out_of_order: u64,
}

impl Replay {
    pub fn new(cfg: &PipelineConfig) -> Result<Self, crate::stages::BuildError> {
        let clock = ManualClock::new(0);
        let shared: SharedClock = Arc::new(clock.clone());
        let metrics = Arc::new(Metrics::new("backtest"));
        Ok(Replay {
            stages: crate::stages::build(cfg, shared, metrics)?,
            clock,
            now: Millis::MIN,
            mentions: 0,
            first_ms: None,
            last_ms: None,
            events: Vec::new(),
            out_of_order: 0,
        })
    }

    fn drain(&mut self) {
        for s in self.stages.iter_mut() {
            self.events
                .extend(s.drain_outputs().into_iter().map(|r| r.payload));
        }
    }

    fn tick_until(&mut self, until: Millis) {
        if self.now == Millis::MIN {
            return;
        }
        while self.now + TICK_STEP_MS < until {
            self.now += TICK_STEP_MS;
            self.clock.set(self.now);
            for s in self.stages.iter_mut() {
                s.tick(self.now);
            }
            self.drain();
        }
    }

    /// Processes one batch (in event-time order, after the previous batch).
    pub fn feed(&mut self, batch: &mut [Mention]) {
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
        self.clock.set(self.now);
        for s in self.stages.iter_mut() {
            s.process(batch);
        }
        self.drain();
        self.mentions += batch.len() as u64;
        self.first_ms = Some(self.first_ms.map_or(oldest, |f| f.min(oldest)));
        self.last_ms = Some(self.last_ms.map_or(newest, |l| l.max(newest)));
    }

    /// Lets `after_ms` of quiet event time pass after the last mention (so incidents that the
    /// data ends in can resolve), and returns the events.
    pub fn finish(mut self, after_ms: Millis) -> Vec<Vec<u8>> {
        let end = self.now.saturating_add(after_ms);
        self.tick_until(end);
        self.events
    }

    /// The events parsed (skipping any that do not parse as incidents).
    pub fn parse(events: &[Vec<u8>]) -> Vec<IncidentEvent> {
        events
            .iter()
            .filter_map(|e| serde_json::from_slice(e).ok())
            .collect()
    }
}
