//! Spike detection and incidents.

pub mod detector;

use serde::Deserialize;

/// `[stages.spikes]` in a pipeline file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SpikesConfig {
    pub detector: detector::DetectorConfig,
}
