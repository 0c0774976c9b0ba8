//! Pipeline configuration: one TOML file per pipeline (see `pipelines/`).
//!
//! Contract: every table denies unknown fields; every error names the file and the field path
//! (`source.topics[0]`) and says what to do. [`PipelineConfig::load`] reads, parses, applies
//! environment overrides and validates; `tocsin validate FILE` calls exactly that.
//!
//! Environment overrides (applied after parsing, before validation):
//! - `TOCSIN_KAFKA_BROKERS` replaces `brokers` of every Kafka source/sink/dead-letter table.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::mention::DecodeLimits;

pub const BROKERS_ENV: &str = "TOCSIN_KAFKA_BROKERS";
/// Overrides the URL of every Alertmanager receiver (docker-compose sets it).
pub const ALERTMANAGER_ENV: &str = "TOCSIN_ALERTMANAGER_URL";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the file ({source}); check the path and permissions")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: at `{path}`: {message}")]
    Parse {
        file: PathBuf,
        path: String,
        message: String,
    },
    #[error("{file}: {}", .problems.iter().map(|(p, m)| format!("at `{p}`: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid {
        file: PathBuf,
        problems: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default)]
    pub pipeline: PipelineSection,
    pub source: SourceConfig,
    pub sink: SinkConfig,
    pub dead_letter: SinkConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub brands: Vec<BrandConfig>,
    #[serde(default)]
    pub stages: StagesConfig,
    /// Receivers, routing, outbox and the broadcast rule.
    #[serde(default)]
    pub alerting: crate::alerting::AlertingConfig,
    /// Parquet archive of enriched mentions and incident events; none when absent.
    #[serde(default)]
    pub archive: Option<crate::archive::ArchiveConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    pub name: String,
    /// Largest number of records in one micro-batch.
    pub batch_size: usize,
    /// How long a source waits to fill a batch before sending a partial one.
    pub batch_timeout_ms: u64,
    /// Batches that may wait between two tasks; the source blocks when full (backpressure).
    pub channel_capacity: usize,
}

impl Default for PipelineSection {
    fn default() -> Self {
        Self {
            name: "tocsin".into(),
            batch_size: 1000,
            batch_timeout_ms: 100,
            channel_capacity: 4,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    Kafka(KafkaSourceConfig),
    File(FileSourceConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    pub brokers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    /// Where a group with no committed offset starts: `earliest` or `latest`.
    #[serde(default = "default_start")]
    pub start_from: String,
    /// How often acknowledged offsets are committed (also on revoke and at shutdown).
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
    /// Extra librdkafka properties, passed as they are.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_commit_interval() -> u64 {
    1000
}

fn default_start() -> String {
    "earliest".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A JSON-lines file, or `-` for standard input.
    pub path: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    Kafka(KafkaSinkConfig),
    File(FileSinkConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    pub brokers: String,
    pub topic: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// A JSON-lines file (appended to), or `-` for standard output.
    pub path: String,
    /// fsync after every batch, so a committed offset never outlives its output on power loss.
    #[serde(default = "yes")]
    pub fsync: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_message_bytes: usize,
    /// Mentions dated further ahead than this are dead-lettered as `bad_timestamp`.
    pub max_future_seconds: i64,
    /// Mentions dated before this RFC 3339 instant are dead-lettered as `bad_timestamp`.
    pub min_timestamp: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_future_seconds: 24 * 3600,
            min_timestamp: "2000-01-01T00:00:00Z".into(),
        }
    }
}

impl LimitsConfig {
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_message_bytes: self.max_message_bytes,
            min_timestamp_ms: chrono::DateTime::parse_from_rfc3339(&self.min_timestamp)
                .map(|d| d.timestamp_millis())
                .unwrap_or(DecodeLimits::default().min_timestamp_ms),
            max_future_ms: self.max_future_seconds.saturating_mul(1000),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the HTTP server for `/metrics`, `/healthz`, `/readyz`; empty disables it.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandConfig {
    /// Short stable identifier, used as a metric label and a Kafka key.
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub handles: Vec<String>,
    #[serde(default)]
    pub hashtags: Vec<String>,
    #[serde(default)]
    pub competitor: bool,
    /// The name is an ordinary word ("Orange"): only the capitalised word, handles and
    /// hashtags match.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Maximum edits for misspellings (default 1 for names of 5+ letters, 2 for 9+; 0 turns
    /// fuzzy matching off for this brand; never more than the default).
    #[serde(default)]
    pub fuzzy_max_edits: Option<u8>,
    /// Ordinary words near the name that must never count as a misspelling of it.
    #[serde(default)]
    pub not_fuzzy: Vec<String>,
    /// The languages this brand's customers write in (ISO 639-1): its mentions are detected
    /// among these only. Empty: `stages.language.languages`.
    #[serde(default)]
    pub languages: Vec<String>,
}

/// Settings of the stages; each stage's table is optional and has defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagesConfig {
    #[serde(default)]
    pub dedup: crate::stages::dedup::DedupConfig,
    #[serde(default)]
    pub language: crate::stages::language::LanguageConfig,
    #[serde(default)]
    pub scoring: crate::stages::scoring::ScoringConfig,
    #[serde(default)]
    pub spikes: crate::stages::spikes::SpikesConfig,
}

impl PipelineConfig {
    /// Reads, parses, applies environment overrides and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        let mut cfg = Self::parse(&text, path)?;
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Parses TOML text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::new(text);
        let parsed: Result<Self, _> = serde_path_to_error::deserialize(de);
        parsed
            .map(|mut cfg| {
                let base = file
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_owned();
                cfg.stages.scoring.base_dir = base.clone();
                cfg.alerting.broadcast.base_dir = base;
                cfg
            })
            .map_err(|e| {
                let mut path = e.path().to_string();
                if path == "." {
                    path.clear();
                }
                let message = e.into_inner().to_string().trim_end().to_string();
                // serde reports an unknown or missing field at its parent; name the field itself.
                for marker in ["unknown field `", "missing field `"] {
                    if let Some(rest) = message.split(marker).nth(1) {
                        if let Some(field) = rest.split('`').next() {
                            let already = path == field || path.ends_with(&format!(".{field}"));
                            path = if already {
                                path
                            } else if path.is_empty() {
                                field.to_string()
                            } else {
                                format!("{path}.{field}")
                            };
                        }
                        break;
                    }
                }
                // toml's own message carries the line, the column and the offending snippet.
                ConfigError::Parse {
                    file: file.to_owned(),
                    path: if path.is_empty() {
                        "(top level)".into()
                    } else {
                        path
                    },
                    message,
                }
            })
    }

    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(brokers) = get(BROKERS_ENV).filter(|b| !b.is_empty()) {
            if let SourceConfig::Kafka(k) = &mut self.source {
                k.brokers = brokers.clone();
            }
            for sink in [
                &mut self.sink,
                &mut self.dead_letter,
                &mut self.stages.spikes.incidents,
            ] {
                if let SinkConfig::Kafka(k) = sink {
                    k.brokers = brokers.clone();
                }
            }
            for r in &mut self.alerting.receivers {
                if r.kind == crate::alerting::receivers::ReceiverType::Kafka {
                    r.brokers = brokers.clone();
                }
            }
        }
        if let Some(url) = get(ALERTMANAGER_ENV).filter(|u| !u.is_empty()) {
            for r in &mut self.alerting.receivers {
                if r.kind == crate::alerting::receivers::ReceiverType::Alertmanager {
                    r.url = url.clone();
                }
            }
        }
    }

    /// Checks what the types cannot: ranges, empty lists, clashes. Reports every problem found.
    pub fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut bad = |path: &str, msg: &str| p.push((path.to_string(), msg.to_string()));
        let ps = &self.pipeline;
        if ps.batch_size == 0 || ps.batch_size > 100_000 {
            bad("pipeline.batch_size", "must be between 1 and 100000");
        }
        if ps.channel_capacity == 0 || ps.channel_capacity > 1024 {
            bad("pipeline.channel_capacity", "must be between 1 and 1024");
        }
        if ps.batch_timeout_ms == 0 {
            bad("pipeline.batch_timeout_ms", "must be at least 1");
        }
        match &self.source {
            SourceConfig::Kafka(k) => {
                if k.brokers.trim().is_empty() {
                    bad(
                        "source.brokers",
                        &format!("is empty; set it or {BROKERS_ENV}"),
                    );
                }
                if k.topics.is_empty() {
                    bad("source.topics", "list at least one topic to consume");
                }
                for (i, t) in k.topics.iter().enumerate() {
                    if !valid_topic(t) {
                        bad(
                            &format!("source.topics[{i}]"),
                            "is not a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)",
                        );
                    }
                }
                if k.group_id.trim().is_empty() {
                    bad(
                        "source.group_id",
                        "is empty; instances that share work need one group id",
                    );
                }
                if k.commit_interval_ms == 0 || k.commit_interval_ms > 600_000 {
                    bad("source.commit_interval_ms", "must be between 1 and 600000");
                }
                if k.start_from != "earliest" && k.start_from != "latest" {
                    bad("source.start_from", "must be `earliest` or `latest`");
                }
                for key in k.options.keys() {
                    if MANAGED_CONSUMER_OPTIONS.contains(&key.as_str()) {
                        bad(
                            &format!("source.options.{key}"),
                            "is managed by Tocsin for at-least-once delivery; remove it",
                        );
                    }
                }
            }
            SourceConfig::File(f) => {
                if f.path.is_empty() {
                    bad(
                        "source.path",
                        "is empty; give a file or `-` for standard input",
                    );
                }
            }
        }
        for (name, sink) in [("sink", &self.sink), ("dead_letter", &self.dead_letter)] {
            match sink {
                SinkConfig::Kafka(k) => {
                    if k.brokers.trim().is_empty() {
                        bad(
                            &format!("{name}.brokers"),
                            &format!("is empty; set it or {BROKERS_ENV}"),
                        );
                    }
                    if !valid_topic(&k.topic) {
                        bad(
                            &format!("{name}.topic"),
                            "is not a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)",
                        );
                    }
                    if let SourceConfig::Kafka(src) = &self.source {
                        if src.topics.contains(&k.topic) {
                            bad(
                                &format!("{name}.topic"),
                                "is also a source topic: the pipeline would read its own output",
                            );
                        }
                    }
                }
                SinkConfig::File(f) => {
                    if f.path.is_empty() {
                        bad(&format!("{name}.path"), "is empty; give a file or `-`");
                    }
                }
            }
        }
        if let (SinkConfig::File(a), SinkConfig::File(b)) = (&self.sink, &self.dead_letter) {
            if a.path == b.path && a.path != "-" {
                bad(
                    "dead_letter.path",
                    "is the same file as sink.path; dead letters must stay apart",
                );
            }
        }
        let l = &self.limits;
        if l.max_message_bytes < 64 || l.max_message_bytes > 64 * 1024 * 1024 {
            bad(
                "limits.max_message_bytes",
                "must be between 64 and 67108864",
            );
        }
        if l.max_future_seconds < 0 {
            bad("limits.max_future_seconds", "must not be negative");
        }
        if chrono::DateTime::parse_from_rfc3339(&l.min_timestamp).is_err() {
            bad(
                "limits.min_timestamp",
                "must be an RFC 3339 instant like 2000-01-01T00:00:00Z",
            );
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            bad(
                "metrics.listen",
                "must be host:port like 0.0.0.0:9464 (or empty to disable)",
            );
        }
        self.stages.dedup.validate(&mut bad);
        self.stages.language.validate(&self.brands, &mut bad);
        self.stages.spikes.validate(&mut bad);
        self.stages.scoring.validate(&mut bad);
        self.alerting.validate(&mut bad);
        if let Some(a) = &self.archive {
            a.validate(&mut bad);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, b) in self.brands.iter().enumerate() {
            if b.id.is_empty()
                || !b
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bad(
                    &format!("brands[{i}].id"),
                    "must be non-empty [a-zA-Z0-9_-] (it is a metric label)",
                );
            }
            if !seen.insert(b.id.as_str()) {
                bad(
                    &format!("brands[{i}].id"),
                    &format!("`{}` is defined twice", b.id),
                );
            }
            if b.names.is_empty() && b.handles.is_empty() && b.hashtags.is_empty() {
                bad(
                    &format!("brands[{i}]"),
                    "needs at least one of names, handles, hashtags",
                );
            }
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems: p,
            })
        }
    }
}

/// librdkafka consumer properties Tocsin sets itself; overriding them would break delivery.
pub const MANAGED_CONSUMER_OPTIONS: &[&str] = &[
    "enable.auto.offset.store",
    "enable.auto.commit",
    "group.id",
    "bootstrap.servers",
];

fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[source]
type = "kafka"
brokers = "localhost:9092"
topics = ["mentions"]
group_id = "tocsin"

[sink]
type = "kafka"
brokers = "localhost:9092"
topic = "mentions.enriched"

[dead_letter]
type = "file"
path = "dlq.jsonl"
"#;

    #[test]
    fn minimal_file_parses_with_defaults() {
        let c = PipelineConfig::parse(MINIMAL, Path::new("x.toml")).unwrap();
        c.validate(Path::new("x.toml")).unwrap();
        assert_eq!(c.pipeline.batch_size, 1000);
        assert!(matches!(c.dead_letter, SinkConfig::File(ref f) if f.fsync));
    }

    #[test]
    fn unknown_field_names_its_path() {
        let text = MINIMAL.replace(
            "group_id = \"tocsin\"",
            "group_id = \"tocsin\"\ngroupid = 1",
        );
        let e = PipelineConfig::parse(&text, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml: at `source"), "{e}");
        assert!(e.contains("groupid"), "{e}");
    }

    #[test]
    fn env_overrides_every_broker_list() {
        let mut c = PipelineConfig::parse(MINIMAL, Path::new("x.toml")).unwrap();
        c.apply_env(|k| (k == BROKERS_ENV).then(|| "k1:9092,k2:9092".to_string()));
        let SourceConfig::Kafka(k) = &c.source else {
            panic!()
        };
        assert_eq!(k.brokers, "k1:9092,k2:9092");
        let SinkConfig::Kafka(s) = &c.sink else {
            panic!()
        };
        assert_eq!(s.brokers, "k1:9092,k2:9092");
    }

    #[test]
    fn validation_reports_all_problems() {
        let text = MINIMAL.replace("topic = \"mentions.enriched\"", "topic = \"mentions\"")
            + "\n[pipeline]\nbatch_size = 0\n";
        let c = PipelineConfig::parse(&text, Path::new("x.toml")).unwrap();
        let e = c.validate(Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.contains("pipeline.batch_size"), "{e}");
        assert!(e.contains("sink.topic"), "{e}");
    }
}
