//! The incident event as the spike stage writes it (one JSON object per `opened`, `updated`,
//! `resolved`), read back by the alerter, the `incidents` command and backtests.
//!
//! Fields are lenient (`default`) so events written by older versions still parse.

use serde::{Deserialize, Serialize};

use crate::stages::spikes::explain::Explanation;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct IncidentEvent {
    /// `opened`, `updated` or `resolved`.
    pub event: String,
    pub incident_id: String,
    pub brand: String,
    /// The key that opened the incident.
    pub key: SeriesKeyJson,
    /// The key whose detector fired for this event.
    pub fired: SeriesKeyJson,
    pub dimensions: Vec<DimensionJson>,
    /// End of the bucket that produced the event (RFC 3339).
    pub at: String,
    pub opened_at: String,
    pub resolved_at: Option<String>,
    pub severity: u8,
    /// Alert labels fixed when the incident opened (`level`, `intent`, `lang`, `platform`).
    pub labels: std::collections::BTreeMap<String, String>,
    pub summary: String,
    pub stats: Stats,
    pub urgent_share: f64,
    pub explanation: Explanation,
    /// Set when the broadcast rule holds: drafts for the public status update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<super::broadcast::Broadcast>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct SeriesKeyJson {
    pub brand: String,
    pub dimension: Option<String>,
    pub value: Option<String>,
}

impl SeriesKeyJson {
    /// `brand`, or `lang=fr`.
    pub fn label(&self) -> String {
        match (&self.dimension, &self.value) {
            (Some(d), Some(v)) => format!("{d}={v}"),
            _ => "brand".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct DimensionJson {
    pub brand: String,
    pub dimension: Option<String>,
    pub value: Option<String>,
    pub open: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Stats {
    pub observed: f64,
    pub expected: f64,
    pub ratio: f64,
    pub window_secs: i64,
    pub z: f64,
    pub probability: f64,
    pub score: f64,
    pub threshold: f64,
}

impl IncidentEvent {
    pub fn is_resolved(&self) -> bool {
        self.event == "resolved"
    }

    /// The value of a dimension: the firing key's own value when it is that dimension,
    /// else the explanation's most common one (`und`/`other` when none).
    pub fn main(&self, dimension: &str) -> String {
        for k in [&self.key, &self.fired] {
            if k.dimension.as_deref() == Some(dimension) {
                if let Some(v) = &k.value {
                    return v.clone();
                }
            }
        }
        let list = match dimension {
            "lang" => &self.explanation.languages,
            "platform" => &self.explanation.platforms,
            "intent" => &self.explanation.intents,
            _ => return String::new(),
        };
        list.first().map_or_else(
            || {
                if dimension == "intent" {
                    "other"
                } else {
                    "und"
                }
                .to_string()
            },
            |s| s.value.clone(),
        )
    }

    /// Share of outage, safety and security intents among the counted mentions.
    pub fn critical_share(&self) -> f64 {
        self.explanation
            .intents
            .iter()
            .filter(|s| matches!(s.value.as_str(), "outage" | "safety" | "security"))
            .map(|s| s.share)
            .sum()
    }

    /// Seconds since the Unix epoch of an RFC 3339 field; 0 when absent or malformed.
    pub fn secs(t: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(t).map_or(0, |d| d.timestamp())
    }
}
