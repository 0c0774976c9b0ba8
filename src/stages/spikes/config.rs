//! `[stages.spikes]`: the spike stage's settings and the dimensions that split a brand's series.

use serde::{Deserialize, Serialize};

use super::detector::DetectorConfig;
use crate::config::{FileSinkConfig, SinkConfig};

/// A dimension that splits a brand's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Platform,
    Lang,
    /// The scoring stage's intent (outage, complaint, …).
    Intent,
    /// Terms the brand's customers keep writing about, learned from the stream ([`super::themes`]).
    Theme,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Platform => "platform",
            Dimension::Lang => "lang",
            Dimension::Intent => "intent",
            Dimension::Theme => "theme",
        }
    }
}

/// `[stages.spikes]` in a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikesConfig {
    pub enabled: bool,
    /// Event-time bucket length.
    pub bucket_secs: u64,
    /// How late (behind the watermark) a mention may arrive and still be counted.
    pub allowed_lateness_secs: u64,
    /// A Kafka partition that delivered nothing for this long stops holding back the
    /// watermark (the slowest active partition's newest event time).
    pub partition_idle_secs: u64,
    /// Brand × these dimensions are detected besides the brand itself.
    pub dimensions: Vec<Dimension>,
    /// A brand has one series but dozens of brand × dimension series, each a chance of a
    /// false alarm: theirs must pass `detector.threshold` × this and `detector.min_z` + 1.
    pub dimension_threshold_factor: f64,
    /// Cap on tracked keys (≈ 0.5 KiB each).
    pub max_keys: usize,
    /// With the `theme` dimension: themes tracked per brand (its most frequent terms).
    pub theme_keys: usize,
    /// A term becomes a theme once about this many mentions a day carry it.
    pub theme_min_mentions: u32,
    /// At most one `updated` event per incident in this time, unless a dimension joins.
    pub update_every_secs: u64,
    /// Recent mentions kept to explain incidents (samples, themes, languages, influencers).
    pub explain_buffer: usize,
    pub samples: usize,
    pub top_influencers: usize,
    /// Mention ids listed in an event.
    pub mention_ids: usize,
    /// Where incident events go: a JSON-lines file or a Kafka topic (same form as `[sink]`).
    pub incidents: SinkConfig,
    /// A file where the detectors' state (baselines, themes, open buckets and incidents) is
    /// saved every `checkpoint_every_secs` of event time and at shutdown, and restored from at
    /// start, so a restart or upgrade does not recalibrate for days. Unset: not saved.
    pub checkpoint_path: Option<String>,
    pub checkpoint_every_secs: u64,
    pub detector: DetectorConfig,
}

impl Default for SpikesConfig {
    fn default() -> Self {
        SpikesConfig {
            enabled: true,
            bucket_secs: 60,
            allowed_lateness_secs: 120,
            partition_idle_secs: 30,
            dimensions: vec![
                Dimension::Platform,
                Dimension::Lang,
                Dimension::Intent,
                Dimension::Theme,
            ],
            dimension_threshold_factor: 1.25,
            max_keys: 100_000,
            theme_keys: 40,
            theme_min_mentions: 30,
            update_every_secs: 600,
            explain_buffer: 50_000,
            samples: 5,
            top_influencers: 5,
            mention_ids: 200,
            incidents: SinkConfig::File(FileSinkConfig {
                path: "tocsin-incidents.jsonl".into(),
                fsync: true,
            }),
            detector: DetectorConfig::default(),
            checkpoint_path: None,
            checkpoint_every_secs: 300,
        }
    }
}

impl SpikesConfig {
    pub fn validate(&self, bad: &mut dyn FnMut(&str, &str)) {
        if !(self.dimension_threshold_factor >= 1.0 && self.dimension_threshold_factor.is_finite())
        {
            bad(
                "stages.spikes.dimension_threshold_factor",
                "must be a finite number ≥ 1",
            );
        }
        if self.bucket_secs == 0 || 86_400 % self.bucket_secs != 0 {
            bad(
                "stages.spikes.bucket_secs",
                "must divide a day (60 = one minute is the usual choice)",
            );
        }
        if self.theme_keys > 1_000 {
            bad(
                "stages.spikes.theme_keys",
                "at most 1000 themes per brand (each is a series and a chance of a false alarm)",
            );
        }
        if self.checkpoint_every_secs < self.bucket_secs.max(1) {
            bad(
                "stages.spikes.checkpoint_every_secs",
                "must be at least one bucket (bucket_secs); 300 is the default",
            );
        }
        if self.checkpoint_path.as_deref() == Some("") {
            bad(
                "stages.spikes.checkpoint_path",
                "is empty: name a file (e.g. \"state/spikes.checkpoint\") or leave it out",
            );
        }
        if self.max_keys == 0 {
            bad("stages.spikes.max_keys", "must be at least 1");
        }
        self.detector.validate("stages.spikes.detector", bad);
    }
}
