//! The spike stage's per-key state: tracked series and open incidents.

use std::collections::HashSet;

use super::detector::{Detector, Step};
use super::Dimension;
use serde::{Deserialize, Serialize};

/// One tracked series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct SeriesKey {
    pub(super) brand: u16,
    pub(super) dim: Option<Dimension>,
    pub(super) value: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Series {
    pub(super) key: SeriesKey,
    pub(super) det: Detector,
    /// The last closed bucket's decision (for severities); not checkpointed.
    #[serde(skip)]
    pub(super) last: Option<Step>,
}

/// Counts of one key in one open bucket.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct Agg {
    pub(super) authors: rustc_hash::FxHashSet<u64>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Incident {
    pub(super) id: String,
    /// Series indexes that fired while this incident was open, the trigger first.
    pub(super) members: Vec<usize>,
    pub(super) open_members: HashSet<usize>,
    pub(super) opened_bucket: i64,
    pub(super) last_update_bucket: i64,
    pub(super) last_severity: u8,
    pub(super) peak_severity: u8,
    /// Alert labels fixed at opening (see `alerting::alert`).
    pub(super) labels: serde_json::Value,
    /// A dimension joined since the last event: it shows in the next `updated` one.
    pub(super) joined: bool,
    /// Opened in this bucket: the `opened` event waits for the bucket's other keys.
    pub(super) fresh: bool,
}
