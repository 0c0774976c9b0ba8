//! The archive as a pipeline output.
//!
//! [`ArchiveRows`] turns a processed batch into a `mentions` record batch on the processing
//! thread; [`ArchiveSink`] writes it (and the batch's incident events) on a blocking thread and
//! holds the batch's source checkpoint until the archive commits. Contract: a checkpoint comes
//! back from [`ArchiveSink::write`], [`ArchiveSink::tick`] or [`ArchiveSink::close`] only once
//! every row of its batch is in a committed file, so offsets are never committed ahead of the
//! archive. The price is that offsets lag by up to `archive.roll_secs`, and a crash replays
//! (and archives again) what was read since the last commit: the archive is at-least-once, like
//! every Kafka output.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;

use super::schema::{incidents_batch, mentions_batch};
use super::{ArchiveConfig, ArchiveError, ArchiveWriter, Table};
use crate::alerting::event::IncidentEvent;
use crate::config::BrandConfig;
use crate::mention::Mention;
use crate::metrics::Metrics;
use crate::sinks::OutRecord;
use crate::sources::Checkpoint;
use crate::stages::brand_router::BrandRouter;

/// Builds `mentions` rows (cheap to share with the processing thread).
pub struct ArchiveRows {
    router: BrandRouter,
    redact: bool,
}

impl ArchiveRows {
    pub fn new(cfg: &ArchiveConfig, brands: &[BrandConfig]) -> Self {
        ArchiveRows {
            router: BrandRouter::new(brands),
            redact: cfg.redact,
        }
    }

    pub fn batch(&self, mentions: &[Mention]) -> RecordBatch {
        let refs: Vec<&Mention> = mentions.iter().collect();
        let now = chrono::Utc::now().timestamp_millis();
        mentions_batch(&refs, &self.router, self.redact, now)
    }
}

pub struct ArchiveSink {
    /// `None` only while a blocking task holds it.
    writer: Option<ArchiveWriter>,
    incidents: bool,
    pending: Vec<Checkpoint>,
}

impl ArchiveSink {
    pub fn open(cfg: &ArchiveConfig, metrics: Arc<Metrics>) -> Result<Self, ArchiveError> {
        Ok(ArchiveSink {
            writer: Some(ArchiveWriter::open(cfg, Some(metrics))?),
            incidents: cfg.incidents,
            pending: Vec::new(),
        })
    }

    /// Runs `f` on the writer off the async threads (Parquet encoding and fsync block).
    async fn with_writer<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut ArchiveWriter) -> Result<T, ArchiveError> + Send + 'static,
    ) -> Result<T, ArchiveError> {
        let mut w = self
            .writer
            .take()
            .ok_or_else(|| ArchiveError::Schema("archive writer used after a failure".into()))?;
        let (w, r) = tokio::task::spawn_blocking(move || {
            let r = f(&mut w);
            (w, r)
        })
        .await
        .map_err(|e| ArchiveError::Schema(format!("archive writer task failed: {e}")))?;
        self.writer = Some(w);
        r
    }

    /// Appends a batch's rows; returns the checkpoints that are now safe to acknowledge.
    pub async fn write(
        &mut self,
        mentions: Option<RecordBatch>,
        incidents: &[OutRecord],
        checkpoint: Checkpoint,
    ) -> Result<Vec<Checkpoint>, ArchiveError> {
        let events: Vec<IncidentEvent> = if self.incidents {
            incidents
                .iter()
                .filter_map(|r| match serde_json::from_slice(&r.payload) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "incident event not archived: not an incident");
                        None
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let due = self
            .with_writer(move |w| {
                if let Some(b) = mentions {
                    w.write(Table::Mentions, &b)?;
                }
                if !events.is_empty() {
                    let (b, skipped) = incidents_batch(&events);
                    if skipped > 0 {
                        tracing::warn!(skipped, "incident events without a valid `at`");
                    }
                    w.write(Table::Incidents, &b)?;
                }
                Ok(w.due())
            })
            .await?;
        self.pending.push(checkpoint);
        if due {
            self.commit().await
        } else {
            Ok(Vec::new())
        }
    }

    /// Commits when the oldest uncommitted row has waited `roll_secs` (call it on a timer).
    pub async fn tick(&mut self) -> Result<Vec<Checkpoint>, ArchiveError> {
        if self.writer.as_ref().is_some_and(|w| w.due()) || self.pending_without_rows() {
            self.commit().await
        } else {
            Ok(Vec::new())
        }
    }

    /// Batches whose rows were all dead letters hold nothing: release them at once.
    fn pending_without_rows(&self) -> bool {
        !self.pending.is_empty() && self.writer.as_ref().is_some_and(|w| !w.dirty())
    }

    /// Commits everything (at shutdown).
    pub async fn close(&mut self) -> Result<Vec<Checkpoint>, ArchiveError> {
        self.commit().await
    }

    async fn commit(&mut self) -> Result<Vec<Checkpoint>, ArchiveError> {
        self.with_writer(|w| w.commit()).await?;
        Ok(std::mem::take(&mut self.pending))
    }
}
