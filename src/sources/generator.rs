//! A source fed by an in-process iterator of raw records (the simulator, for `demo`), with
//! optional wall-clock pacing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Checkpoint, SourceBatch};
use crate::mention::RawRecord;

pub struct GeneratorSource {
    iter: Box<dyn Iterator<Item = RawRecord> + Send>,
    /// Records per wall-clock second; 0 means as fast as possible.
    rate: f64,
    started: Option<Instant>,
    emitted: u64,
    /// While this is false, records go out unpaced (a demo's history).
    paced: Option<Arc<AtomicBool>>,
}

impl GeneratorSource {
    pub fn new(iter: Box<dyn Iterator<Item = RawRecord> + Send>, rate: f64) -> Self {
        Self {
            iter,
            rate,
            started: None,
            emitted: 0,
            paced: None,
        }
    }

    /// Simulated mentions: the history (event time before `live_from_ms`) as fast as possible,
    /// then `rate` records per second.
    pub fn simulated(
        items: impl Iterator<Item = crate::simulate::SimItem> + Send + 'static,
        live_from_ms: crate::clock::Millis,
        rate: f64,
    ) -> Self {
        let live = Arc::new(AtomicBool::new(false));
        let flag = live.clone();
        let records = items.map(move |i| {
            if i.truth.created_at_ms >= live_from_ms {
                flag.store(true, Ordering::Relaxed);
            }
            i.record
        });
        let mut s = Self::new(Box::new(records), rate);
        s.paced = Some(live);
        s
    }

    pub async fn next_batch(&mut self, max: usize) -> Option<SourceBatch> {
        let mut n = max;
        let pacing = self
            .paced
            .as_ref()
            .is_none_or(|f| f.load(Ordering::Relaxed));
        if pacing && self.rate > 0.0 {
            let started = *self.started.get_or_insert_with(Instant::now);
            let paced = self.emitted;
            // Emit what is due now (at most `max`), sleeping until at least one is due.
            loop {
                let due = (started.elapsed().as_secs_f64() * self.rate) as u64;
                if due > paced {
                    n = n.min((due - paced) as usize);
                    break;
                }
                let wait = (paced + 1) as f64 / self.rate - started.elapsed().as_secs_f64();
                tokio::time::sleep(Duration::from_secs_f64(wait.clamp(0.001, 0.25))).await;
            }
        }
        let read_at = Instant::now();
        let records: Vec<RawRecord> = self.iter.by_ref().take(n).collect();
        if records.is_empty() {
            return None;
        }
        if pacing {
            self.emitted += records.len() as u64;
        }
        Some(SourceBatch {
            records,
            checkpoint: Checkpoint::default(),
            read_at,
        })
    }
}
