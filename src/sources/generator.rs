//! A source fed by an in-process iterator of raw records (the simulator, for `demo`), with
//! optional wall-clock pacing.

use std::time::{Duration, Instant};

use super::{Checkpoint, SourceBatch};
use crate::mention::RawRecord;

pub struct GeneratorSource {
    iter: Box<dyn Iterator<Item = RawRecord> + Send>,
    /// Records per wall-clock second; 0 means as fast as possible.
    rate: f64,
    started: Instant,
    emitted: u64,
}

impl GeneratorSource {
    pub fn new(iter: Box<dyn Iterator<Item = RawRecord> + Send>, rate: f64) -> Self {
        Self {
            iter,
            rate,
            started: Instant::now(),
            emitted: 0,
        }
    }

    pub async fn next_batch(&mut self, max: usize) -> Option<SourceBatch> {
        let mut n = max;
        if self.rate > 0.0 {
            // Emit what is due now (at most `max`), sleeping until at least one is due.
            loop {
                let due = (self.started.elapsed().as_secs_f64() * self.rate) as u64;
                if due > self.emitted {
                    n = n.min((due - self.emitted) as usize);
                    break;
                }
                let wait =
                    (self.emitted + 1) as f64 / self.rate - self.started.elapsed().as_secs_f64();
                tokio::time::sleep(Duration::from_secs_f64(wait.clamp(0.001, 0.25))).await;
            }
        }
        let read_at = Instant::now();
        let records: Vec<RawRecord> = self.iter.by_ref().take(n).collect();
        if records.is_empty() {
            return None;
        }
        self.emitted += records.len() as u64;
        Some(SourceBatch {
            records,
            checkpoint: Checkpoint::default(),
            read_at,
        })
    }
}
