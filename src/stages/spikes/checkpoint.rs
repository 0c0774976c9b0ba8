//! Checkpoints of the spike stage: the detectors' baselines survive a restart or an upgrade.
//!
//! Without them every restart is days of blindness: a series alerts only after
//! `min_calibration_days` of history. A checkpoint holds what took days to learn and what is
//! in flight: every series with its detector, the brands' theme summaries, the open buckets,
//! the open incidents with their public-update state (so a restart neither broadcasts again
//! nor shifts the reminders) and where bucket closing stands. It does not hold the
//! explanation buffer (recent mentions, for samples and shares: it refills within minutes).
//!
//! Contract:
//! - Written as CBOR to a temporary file, fsynced and renamed over the previous one, so a crash
//!   leaves the old checkpoint or the new one, never half of one.
//! - Taken every `checkpoint_every_secs` of event time, after the buckets are closed (so the
//!   state is that of a batch boundary), and at shutdown.
//! - Restored at start when the file exists. Brands are matched by id, so adding, removing or
//!   reordering brands keeps the others' state; series of a dimension no longer configured are
//!   dropped. A checkpoint taken with another bucket length or other detector scales cannot be
//!   used (its state means something else): the stage starts fresh and says so.
//! - Mentions replayed after a restart (Kafka redelivers what was not committed) may fall in
//!   a restored open bucket: buckets count unique authors, so a recount changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::broadcasting::SavedCover;
use super::state::{Agg, Incident, Series};
use super::themes::ThemeSketch;
use super::SpikeStage;
use crate::clock::Millis;

/// Bumped when the saved form changes incompatibly.
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write the spike checkpoint {path}: {source}; check that its folder exists and is writable")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the spike checkpoint {path}: {detail}; delete it to start fresh (the detectors recalibrate)")]
    Read { path: PathBuf, detail: String },
    #[error("the spike checkpoint {path} was taken with {saved}, this pipeline has {now}; starting fresh (the detectors recalibrate)")]
    Layout {
        path: PathBuf,
        saved: String,
        now: String,
    },
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    format: u32,
    layout: String,
    brands: Vec<&'a str>,
    series: &'a [Series],
    themes: &'a [ThemeSketch],
    open: &'a BTreeMap<i64, FxHashMap<usize, Agg>>,
    incidents: &'a HashMap<u16, Incident>,
    covers: Vec<SavedCover>,
    next_close: Option<i64>,
    closed_any: bool,
    max_event_ms: Millis,
}

#[derive(Deserialize)]
struct Snapshot {
    format: u32,
    layout: String,
    brands: Vec<String>,
    series: Vec<Series>,
    themes: Vec<ThemeSketch>,
    open: BTreeMap<i64, FxHashMap<usize, Agg>>,
    incidents: HashMap<u16, Incident>,
    covers: Vec<SavedCover>,
    next_close: Option<i64>,
    closed_any: bool,
    max_event_ms: Millis,
}

/// What a restore brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub series: usize,
    pub incidents: usize,
    /// Series left behind (their brand or dimension is no longer configured, or `max_keys`).
    pub dropped: usize,
}

impl SpikeStage {
    /// The settings the saved state depends on: a checkpoint is only restored into a stage
    /// with the same ones.
    fn layout(&self) -> String {
        format!(
            "bucket_secs = {}, detector.scales = {:?}",
            self.cfg.bucket_secs, self.cfg.detector.scales
        )
    }

    /// Writes the state to `path` atomically (temporary file, fsync, rename).
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), CheckpointError> {
        let snap = SnapshotRef {
            format: FORMAT,
            layout: self.layout(),
            brands: (0..self.router.len()).map(|i| self.router.id(i)).collect(),
            series: &self.series,
            themes: &self.themes,
            open: &self.open,
            incidents: &self.incidents,
            covers: self
                .broadcaster
                .as_ref()
                .map(|b| b.saved())
                .unwrap_or_default(),
            next_close: self.next_close,
            closed_any: self.closed_any,
            max_event_ms: self.max_event_ms,
        };
        let err = |source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(err)?;
        let mut w = std::io::BufWriter::new(f);
        ciborium::into_writer(&snap, &mut w)
            .map_err(|e| err(std::io::Error::other(e.to_string())))?;
        w.flush().map_err(err)?;
        w.get_ref().sync_all().map_err(err)?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(err)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the folder is synced (best effort: not every
            // filesystem lets a folder be opened).
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Replaces the stage's state with the checkpoint at `path`. `Ok(None)` when there is no
    /// file (first start). On an error the stage is unchanged.
    pub fn restore_checkpoint(&mut self, path: &Path) -> Result<Option<Restored>, CheckpointError> {
        let read_err = |detail: String| CheckpointError::Read {
            path: path.to_path_buf(),
            detail,
        };
        let f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_err(e.to_string())),
        };
        let snap: Snapshot = ciborium::from_reader(std::io::BufReader::new(f))
            .map_err(|e| read_err(format!("not a readable checkpoint ({e})")))?;
        if snap.format != FORMAT {
            return Err(read_err(format!(
                "format {} (this version reads {FORMAT})",
                snap.format
            )));
        }
        if snap.layout != self.layout() {
            return Err(CheckpointError::Layout {
                path: path.to_path_buf(),
                saved: snap.layout,
                now: self.layout(),
            });
        }
        Ok(Some(self.adopt(snap)))
    }

    /// Takes a snapshot's state, matching brands by id.
    fn adopt(&mut self, snap: Snapshot) -> Restored {
        let brand_map: Vec<Option<u16>> = snap
            .brands
            .iter()
            .map(|id| self.router.index_of(id).map(|i| i as u16))
            .collect();
        let new_brand = |b: u16| brand_map.get(b as usize).copied().flatten();
        let saved = snap.series.len();
        let mut series_map: Vec<Option<usize>> = vec![None; saved];
        self.series.clear();
        self.index.clear();
        for (old, mut s) in snap.series.into_iter().enumerate() {
            let Some(b) = new_brand(s.key.brand) else {
                continue;
            };
            let configured = s.key.dim.is_none_or(|d| self.cfg.dimensions.contains(&d));
            if !configured || self.series.len() >= self.cfg.max_keys {
                continue;
            }
            s.key.brand = b;
            s.last = None;
            let i = self.series.len();
            if !matches!(s.key.dim, Some(super::Dimension::Theme)) {
                self.index_series(b, s.key.dim, &s.key.value, i);
            }
            series_map[old] = Some(i);
            self.series.push(s);
        }
        let remap = |i: usize| series_map.get(i).copied().flatten();

        self.themes.clear();
        if self.cfg.dimensions.contains(&super::Dimension::Theme) {
            let cap = self.theme_capacity();
            for (old, mut sketch) in snap.themes.into_iter().enumerate() {
                let Some(b) = new_brand(old as u16) else {
                    continue;
                };
                sketch.tracked = sketch
                    .tracked
                    .into_iter()
                    .filter_map(|(h, i)| remap(i).map(|n| (h, n)))
                    .collect();
                if self.themes.len() <= b as usize {
                    self.themes
                        .resize_with(b as usize + 1, || ThemeSketch::new(cap));
                }
                self.themes[b as usize] = sketch;
            }
        }

        self.open = snap
            .open
            .into_iter()
            .map(|(bucket, aggs)| {
                let aggs = aggs
                    .into_iter()
                    .filter_map(|(i, a)| remap(i).map(|n| (n, a)))
                    .collect();
                (bucket, aggs)
            })
            .collect();

        self.incidents.clear();
        for (brand, mut inc) in snap.incidents {
            let Some(b) = new_brand(brand) else {
                continue;
            };
            inc.members = inc.members.into_iter().filter_map(remap).collect();
            inc.open_members = inc
                .open_members
                .into_iter()
                .filter_map(remap)
                .collect::<HashSet<usize>>();
            if !inc.open_members.is_empty() {
                self.incidents.insert(b, inc);
            }
        }
        if let Some(b) = self.broadcaster.as_mut() {
            b.restore(snap.covers, new_brand);
        }
        self.next_close = snap.next_close;
        self.closed_any = snap.closed_any;
        self.max_event_ms = snap.max_event_ms;
        self.last_checkpoint_bucket = snap.next_close;
        let n: usize = self.themes.iter().map(|t| t.tracked.len()).sum();
        self.metrics.spike_theme_entries.set(n as i64);
        self.metrics
            .spike_state_entries
            .set(self.series.len() as i64);
        self.metrics.incidents_open.set(self.incidents.len() as i64);
        Restored {
            series: self.series.len(),
            incidents: self.incidents.len(),
            dropped: saved - self.series.len(),
        }
    }

    /// Saves to the configured path when `checkpoint_every_secs` of event time have closed
    /// since the last checkpoint; failures are logged and counted, never fatal (alerting goes
    /// on; only a restart would recalibrate).
    pub(super) fn maybe_checkpoint(&mut self, force: bool) {
        let (Some(path), Some(next)) = (self.cfg.checkpoint_path.as_deref(), self.next_close)
        else {
            return;
        };
        let every = (self.cfg.checkpoint_every_secs / self.cfg.bucket_secs.max(1)).max(1) as i64;
        let due = self
            .last_checkpoint_bucket
            .is_none_or(|last| next - last >= every);
        if !(due || force) {
            return;
        }
        let written = self.save_checkpoint(Path::new(path));
        self.last_checkpoint_bucket = Some(next);
        match written {
            Ok(()) => self
                .metrics
                .spike_checkpoint_time
                .set(chrono::Utc::now().timestamp()),
            Err(e) => {
                self.metrics.spike_checkpoint_errors.inc();
                tracing::warn!(error = %e, "spike checkpoint not written");
            }
        }
    }

    /// Restores from the configured path, if any; a checkpoint that cannot be used is logged
    /// and counted, and the stage starts fresh (an unreadable file must not stop alerting).
    pub fn restore_configured(&mut self) {
        let Some(path) = self.cfg.checkpoint_path.clone() else {
            return;
        };
        match self.restore_checkpoint(Path::new(&path)) {
            Ok(Some(r)) => {
                self.metrics
                    .spike_checkpoint_time
                    .set(chrono::Utc::now().timestamp());
                tracing::info!(
                    path = %path,
                    series = r.series,
                    incidents = r.incidents,
                    dropped = r.dropped,
                    "spike detector state restored from its checkpoint"
                );
            }
            Ok(None) => tracing::info!(
                path = %path,
                "no spike checkpoint yet: the detectors calibrate from the stream"
            ),
            Err(e) => {
                self.metrics.spike_checkpoint_errors.inc();
                tracing::warn!(error = %e, "spike checkpoint not restored");
            }
        }
    }
}
