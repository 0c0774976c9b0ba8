//! Every Prometheus metric Tocsin exposes, defined in this one place.
//!
//! Naming follows Prometheus conventions: `tocsin_` prefix, base units (`_seconds`, `_bytes`),
//! `_total` on counters. Labels are bounded: stage and sink names are fixed by the code, DLQ
//! reasons are a closed enum, Kafka partitions are bounded by the topic, brands come from config.
//! Never put a raw author, id or text in a label.
//!
//! The catalogue (names, types, labels, meaning) is `docs/metrics.md`; a test checks that every
//! name below is documented there.

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::mention::DlqReason;
use std::collections::HashMap;

pub mod names {
    pub const BUILD_INFO: &str = "tocsin_build_info";
    pub const SOURCE_RECEIVED_EVENTS: &str = "tocsin_source_received_events_total";
    pub const SOURCE_RECEIVED_BYTES: &str = "tocsin_source_received_bytes_total";
    pub const STAGE_RECEIVED_EVENTS: &str = "tocsin_stage_received_events_total";
    pub const STAGE_SENT_EVENTS: &str = "tocsin_stage_sent_events_total";
    pub const STAGE_BATCH_DURATION: &str = "tocsin_stage_batch_duration_seconds";
    pub const BATCH_SIZE: &str = "tocsin_batch_size_events";
    pub const SINK_SENT_EVENTS: &str = "tocsin_sink_sent_events_total";
    pub const SINK_ERRORS: &str = "tocsin_sink_errors_total";
    pub const DEAD_LETTER_EVENTS: &str = "tocsin_dead_letter_events_total";
    pub const END_TO_END_LATENCY: &str = "tocsin_end_to_end_latency_seconds";
    pub const PIPELINE_LATENCY: &str = "tocsin_pipeline_latency_seconds";
    pub const CONSUMER_LAG: &str = "tocsin_kafka_consumer_lag_messages";
    pub const OFFSET_COMMITS: &str = "tocsin_kafka_offset_commits_total";
    pub const REBALANCES: &str = "tocsin_kafka_rebalances_total";
    pub const CHANNEL_QUEUED_BATCHES: &str = "tocsin_channel_queued_batches";
    pub const LAST_EVENT_TIMESTAMP: &str = "tocsin_last_event_timestamp_seconds";
    pub const UP: &str = "tocsin_pipeline_up";
    pub const DEDUP_EVENTS: &str = "tocsin_dedup_events_total";
    pub const DEDUP_LATE_EVENTS: &str = "tocsin_dedup_late_events_total";
    pub const DEDUP_CANDIDATES: &str = "tocsin_dedup_candidates_total";
    pub const DEDUP_EVICTIONS: &str = "tocsin_dedup_evictions_total";
    pub const DEDUP_STATE_ENTRIES: &str = "tocsin_dedup_state_entries";
    pub const DEDUP_STATE_BYTES: &str = "tocsin_dedup_state_bytes";
    pub const DEDUP_RATIO: &str = "tocsin_dedup_ratio";
    pub const SPIKE_LATE_EVENTS: &str = "tocsin_spike_late_events_total";
    pub const SPIKE_DROPPED_EVENTS: &str = "tocsin_spike_dropped_events_total";
    pub const SPIKE_STATE_ENTRIES: &str = "tocsin_spike_state_entries";
    pub const SPIKE_STATE_BYTES: &str = "tocsin_spike_state_bytes";
    pub const SPIKE_THEME_ENTRIES: &str = "tocsin_spike_theme_entries";
    pub const SPIKE_CHECKPOINT_TIME: &str = "tocsin_spike_checkpoint_timestamp_seconds";
    pub const SPIKE_CHECKPOINT_ERRORS: &str = "tocsin_spike_checkpoint_errors_total";
    pub const SPIKE_OBSERVED: &str = "tocsin_spike_observed_events";
    pub const SPIKE_EXPECTED: &str = "tocsin_spike_expected_events";
    pub const SPIKE_SCORE: &str = "tocsin_spike_score_ratio";
    pub const SPIKE_KEY_OBSERVED: &str = "tocsin_spike_key_observed_events";
    pub const SPIKE_KEY_EXPECTED: &str = "tocsin_spike_key_expected_events";
    pub const SPIKE_KEY_SCORE: &str = "tocsin_spike_key_score_ratio";
    pub const INCIDENT_EVENTS: &str = "tocsin_incident_events_total";
    pub const INCIDENTS_OPEN: &str = "tocsin_incidents_open_entries";
    pub const SCORING_INTENT_EVENTS: &str = "tocsin_scoring_intent_events_total";
    pub const SCORING_BRAND_EVENTS: &str = "tocsin_scoring_brand_events_total";
    pub const SCORING_PII_EVENTS: &str = "tocsin_scoring_pii_events_total";
    pub const SCORING_PRIORITY: &str = "tocsin_scoring_priority_score";
    pub const SCORING_SLA_TARGET: &str = "tocsin_scoring_sla_target_seconds";
    pub const LANGUAGE_EVENTS: &str = "tocsin_language_events_total";
    pub const SLA_EVENTS: &str = "tocsin_sla_events_total";
    pub const NOTIFICATIONS: &str = "tocsin_notifications_total";
    pub const NOTIFICATIONS_QUEUED: &str = "tocsin_notifications_queued_entries";
    pub const NOTIFICATION_DURATION: &str = "tocsin_notification_duration_seconds";
    pub const BROADCASTS: &str = "tocsin_broadcasts_total";
    pub const BROADCAST_COVERED: &str = "tocsin_broadcast_covered_events_total";
    pub const ARCHIVE_FILES: &str = "tocsin_archive_files_total";
    pub const ARCHIVE_ROWS: &str = "tocsin_archive_rows_total";
    pub const ARCHIVE_BYTES: &str = "tocsin_archive_written_bytes_total";
    pub const ARCHIVE_EXPIRED: &str = "tocsin_archive_expired_partitions_total";
    pub const ARCHIVE_COMMIT_DURATION: &str = "tocsin_archive_commit_duration_seconds";

    /// Whether `series` is one Tocsin exposes: a name above, or a histogram's `_bucket`,
    /// `_count` or `_sum` series.
    pub fn exposed(series: &str) -> bool {
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| series.strip_suffix(s))
            .unwrap_or(series);
        ALL.contains(&base) || ALL.contains(&series)
    }

    /// Every name above, for the catalogue test.
    pub const ALL: &[&str] = &[
        BUILD_INFO,
        SOURCE_RECEIVED_EVENTS,
        SOURCE_RECEIVED_BYTES,
        STAGE_RECEIVED_EVENTS,
        STAGE_SENT_EVENTS,
        STAGE_BATCH_DURATION,
        BATCH_SIZE,
        SINK_SENT_EVENTS,
        SINK_ERRORS,
        DEAD_LETTER_EVENTS,
        END_TO_END_LATENCY,
        PIPELINE_LATENCY,
        CONSUMER_LAG,
        OFFSET_COMMITS,
        REBALANCES,
        CHANNEL_QUEUED_BATCHES,
        LAST_EVENT_TIMESTAMP,
        UP,
        DEDUP_EVENTS,
        DEDUP_LATE_EVENTS,
        DEDUP_CANDIDATES,
        DEDUP_EVICTIONS,
        DEDUP_STATE_ENTRIES,
        DEDUP_STATE_BYTES,
        DEDUP_RATIO,
        SPIKE_LATE_EVENTS,
        SPIKE_DROPPED_EVENTS,
        SPIKE_STATE_ENTRIES,
        SPIKE_STATE_BYTES,
        SPIKE_THEME_ENTRIES,
        SPIKE_CHECKPOINT_TIME,
        SPIKE_CHECKPOINT_ERRORS,
        SPIKE_OBSERVED,
        SPIKE_EXPECTED,
        SPIKE_SCORE,
        SPIKE_KEY_OBSERVED,
        SPIKE_KEY_EXPECTED,
        SPIKE_KEY_SCORE,
        INCIDENT_EVENTS,
        INCIDENTS_OPEN,
        SCORING_INTENT_EVENTS,
        SCORING_BRAND_EVENTS,
        SCORING_PII_EVENTS,
        SCORING_PRIORITY,
        SCORING_SLA_TARGET,
        LANGUAGE_EVENTS,
        SLA_EVENTS,
        NOTIFICATIONS,
        NOTIFICATIONS_QUEUED,
        NOTIFICATION_DURATION,
        BROADCASTS,
        BROADCAST_COVERED,
        ARCHIVE_FILES,
        ARCHIVE_ROWS,
        ARCHIVE_BYTES,
        ARCHIVE_EXPIRED,
        ARCHIVE_COMMIT_DURATION,
    ];
}

/// Language labels: ISO 639-1 codes of the languages Tocsin is built to tell apart, so a
/// free-form hint never becomes a label of its own.
pub const LANGUAGES: &[&str] = &[
    "af", "am", "ar", "az", "be", "bg", "bn", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "eo",
    "es", "et", "eu", "fa", "fi", "fr", "ga", "gl", "gu", "he", "hi", "hr", "hu", "hy", "id", "is",
    "it", "ja", "ka", "kk", "ko", "la", "lg", "lt", "lv", "mi", "mk", "mn", "mr", "ms", "mt", "nb",
    "nl", "nn", "no", "pa", "pl", "pt", "ro", "ru", "sk", "sl", "sn", "so", "sq", "sr", "st", "sv",
    "sw", "ta", "te", "th", "tl", "tn", "tr", "ts", "uk", "ur", "uz", "vi", "xh", "yo", "zh", "zu",
];

/// The `lang` label for a language code: itself when known, `und` when absent, else `other`.
pub fn language_label(lang: Option<&str>) -> &'static str {
    match lang {
        None | Some("") | Some("und") => "und",
        Some(l) => {
            // Per mention on the output path: a binary search of the sorted list, no allocation.
            let l = l.split(['-', '_']).next().unwrap_or(l).as_bytes();
            if l.len() != 2 {
                return "other";
            }
            let code = [l[0].to_ascii_lowercase(), l[1].to_ascii_lowercase()];
            LANGUAGES
                .binary_search_by(|k| k.as_bytes().cmp(&code[..]))
                .map_or("other", |i| LANGUAGES[i])
        }
    }
}

/// What the sink task counts of each output once it is acknowledged.
pub struct OutputFacts {
    pub created: crate::clock::Millis,
    pub platform: crate::mention::Platform,
    /// A bounded language label (see [`language_label`]).
    pub lang: &'static str,
    /// First-response time the SLA allows; 0 when the scoring stage did not run.
    pub sla_secs: u64,
}

/// Handles to every metric of one pipeline instance, registered in its own registry.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub source_received_events: IntCounterVec,
    pub source_received_bytes: IntCounterVec,
    pub stage_received_events: IntCounterVec,
    pub stage_sent_events: IntCounterVec,
    pub stage_batch_duration: HistogramVec,
    pub batch_size: HistogramVec,
    pub sink_sent_events: IntCounterVec,
    pub sink_errors: IntCounterVec,
    pub dead_letter_events: IntCounterVec,
    pub end_to_end_latency: HistogramVec,
    pub pipeline_latency: HistogramVec,
    pub consumer_lag: IntGaugeVec,
    pub offset_commits: IntCounterVec,
    pub rebalances: IntCounterVec,
    pub channel_queued_batches: IntGaugeVec,
    pub last_event_timestamp: Gauge,
    pub up: IntGauge,
    pub dedup_events: IntCounterVec,
    pub dedup_late_events: IntCounter,
    pub dedup_candidates: IntCounter,
    pub dedup_evictions: IntCounterVec,
    pub dedup_state_entries: IntGaugeVec,
    pub dedup_state_bytes: IntGaugeVec,
    pub dedup_ratio: GaugeVec,
    pub spike_late_events: IntCounter,
    pub spike_dropped_events: IntCounterVec,
    pub spike_state_entries: IntGauge,
    pub spike_state_bytes: IntGauge,
    pub spike_theme_entries: IntGauge,
    pub spike_checkpoint_time: IntGauge,
    pub spike_checkpoint_errors: IntCounter,
    pub spike_observed: GaugeVec,
    pub spike_expected: GaugeVec,
    pub spike_score: GaugeVec,
    pub spike_key_observed: GaugeVec,
    pub spike_key_expected: GaugeVec,
    pub spike_key_score: GaugeVec,
    pub incident_events: IntCounterVec,
    pub incidents_open: IntGauge,
    pub scoring_intent_events: IntCounterVec,
    pub scoring_brand_events: IntCounterVec,
    pub scoring_pii_events: IntCounterVec,
    pub scoring_priority: HistogramVec,
    pub scoring_sla_target: HistogramVec,
    pub language_events: IntCounterVec,
    pub sla_events: IntCounterVec,
    pub notifications: IntCounterVec,
    pub notifications_queued: IntGaugeVec,
    pub notification_duration: HistogramVec,
    pub broadcasts: IntCounterVec,
    pub broadcast_covered: IntCounter,
    pub archive_files: IntCounterVec,
    pub archive_rows: IntCounterVec,
    pub archive_bytes: IntCounterVec,
    pub archive_expired: IntCounterVec,
    pub archive_commit_duration: prometheus::Histogram,
}

/// Registers `m` once and returns it (a metric is a cheap handle to shared state).
fn register<M: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: M) -> M {
    r.register(Box::new(m.clone()))
        .expect("metric registered once");
    m
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn int_counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    register(r, IntCounter::new(name, help).expect("valid metric"))
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    register(r, IntGauge::new(name, help).expect("valid metric"))
}

fn float_gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(
        r,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets);
    register(r, HistogramVec::new(opts, labels).expect("valid metric"))
}

/// Latency buckets from 1 ms to ~1 h: pipelines care about sub-second, backlogs about minutes.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 900.0, 3600.0,
    ]
}

impl Metrics {
    pub fn new(pipeline: &str) -> Self {
        let registry = Registry::new_custom(None, None).expect("valid registry");
        use names::*;
        let build = IntGaugeVec::new(
            Opts::new(
                BUILD_INFO,
                "Always 1; labels carry the build version and pipeline name.",
            ),
            &["version", "pipeline"],
        )
        .expect("valid metric");
        let build = register(&registry, build);
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), pipeline])
            .set(1);
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = registry.register(Box::new(pc));
        }
        let up = int_gauge(
            &registry,
            UP,
            "1 while the pipeline runs and is healthy, 0 after it failed or stopped.",
        );
        let last = register(
            &registry,
            Gauge::new(
                LAST_EVENT_TIMESTAMP,
                "Event time (created_at, Unix seconds) of the newest mention written to the sink.",
            )
            .expect("valid metric"),
        );

        let m = Metrics {
            source_received_events: counter(&registry, SOURCE_RECEIVED_EVENTS, "Records read from the source, valid or not.", &["source"]),
            source_received_bytes: counter(&registry, SOURCE_RECEIVED_BYTES, "Payload bytes read from the source.", &["source"]),
            stage_received_events: counter(&registry, STAGE_RECEIVED_EVENTS, "Events that entered a stage.", &["stage"]),
            stage_sent_events: counter(&registry, STAGE_SENT_EVENTS, "Events a stage passed on.", &["stage"]),
            stage_batch_duration: histogram(&registry, STAGE_BATCH_DURATION, "Time a stage spent on one micro-batch.", &["stage"], latency_buckets()),
            batch_size: histogram(&registry, BATCH_SIZE, "Records per micro-batch read from the source.", &["source"], vec![1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0]),
            sink_sent_events: counter(&registry, SINK_SENT_EVENTS, "Records acknowledged by a sink (broker ack or flushed file).", &["sink"]),
            sink_errors: counter(&registry, SINK_ERRORS, "Failed sink writes; the batch is retried, offsets wait.", &["sink"]),
            dead_letter_events: counter(&registry, DEAD_LETTER_EVENTS, "Records sent to the dead-letter output, by reason.", &["reason"]),
            end_to_end_latency: histogram(&registry, END_TO_END_LATENCY, "From a mention's created_at to its enriched output being acknowledged.", &["platform"], latency_buckets()),
            pipeline_latency: histogram(&registry, PIPELINE_LATENCY, "From a batch being read to its outputs being acknowledged.", &["source"], latency_buckets()),
            consumer_lag: gauge_vec(&registry, CONSUMER_LAG, "Messages between the partition's high watermark and the consumer's position (librdkafka statistics).", &["topic", "partition"]),
            offset_commits: counter(&registry, OFFSET_COMMITS, "Kafka offset commits, by result.", &["result"]),
            rebalances: counter(&registry, REBALANCES, "Consumer group rebalances seen, by kind (assign, revoke, error).", &["kind"]),
            channel_queued_batches: gauge_vec(&registry, CHANNEL_QUEUED_BATCHES, "Batches waiting in a bounded channel between two tasks.", &["channel"]),
            dedup_events: counter(&registry, DEDUP_EVENTS, "Mentions by dedup status (unique, exact, repost, near).", &["status"]),
            dedup_late_events: int_counter(&registry, DEDUP_LATE_EVENTS, "Mentions older than the dedup window behind the newest one: passed as unique, not remembered."),
            dedup_candidates: int_counter(&registry, DEDUP_CANDIDATES, "Remembered texts the text tiers compared a mention with (band-index candidates); per dedup event, the lookup cost."),
            dedup_evictions: counter(&registry, DEDUP_EVICTIONS, "Remembered mentions dropped from dedup state, by reason (expired, capacity).", &["reason"]),
            dedup_state_entries: gauge_vec(&registry, DEDUP_STATE_ENTRIES, "Mentions remembered by a dedup shard.", &["shard"]),
            dedup_state_bytes: gauge_vec(&registry, DEDUP_STATE_BYTES, "Estimated heap bytes held by a dedup shard.", &["shard"]),
            dedup_ratio: float_gauge_vec(&registry, DEDUP_RATIO, "Share of the mentions remembered by a shard that duplicate another (repost or near).", &["shard"]),
            spike_late_events: int_counter(&registry, SPIKE_LATE_EVENTS, "Mentions later than the spike stage's allowed lateness: not counted in any bucket."),
            spike_dropped_events: counter(&registry, SPIKE_DROPPED_EVENTS, "Mention updates the spike stage could not count, by reason (max_keys).", &["reason"]),
            spike_state_entries: int_gauge(&registry, SPIKE_STATE_ENTRIES, "Series (brand and brand × dimension keys) the spike detector tracks."),
            spike_state_bytes: int_gauge(&registry, SPIKE_STATE_BYTES, "Estimated bytes held by spike detector state."),
            spike_theme_entries: int_gauge(&registry, SPIKE_THEME_ENTRIES, "Brand × theme series tracked: the brands' most frequent terms, learned from the stream."),
            spike_checkpoint_time: int_gauge(&registry, SPIKE_CHECKPOINT_TIME, "When the spike detector state was last saved or restored (Unix seconds, wall clock; 0: never)."),
            spike_checkpoint_errors: int_counter(&registry, SPIKE_CHECKPOINT_ERRORS, "Spike checkpoints that could not be written or read (see the log for why)."),
            spike_observed: float_gauge_vec(&registry, SPIKE_OBSERVED, "Unique authors of non-duplicate mentions of a brand in the last closed bucket.", &["brand"]),
            spike_expected: float_gauge_vec(&registry, SPIKE_EXPECTED, "What the detector expected for that bucket (seasonal baseline).", &["brand"]),
            spike_score: float_gauge_vec(&registry, SPIKE_SCORE, "The brand's calibrated spike score in the last closed bucket; an incident opens at the configured threshold (1.7).", &["brand"]),
            spike_key_observed: float_gauge_vec(&registry, SPIKE_KEY_OBSERVED, "Like tocsin_spike_observed_events, for each brand × dimension key (platform, lang, intent).", &["brand", "dimension", "value"]),
            spike_key_expected: float_gauge_vec(&registry, SPIKE_KEY_EXPECTED, "The detector's expectation for each brand × dimension key's last closed bucket.", &["brand", "dimension", "value"]),
            spike_key_score: float_gauge_vec(&registry, SPIKE_KEY_SCORE, "The calibrated spike score of each brand × dimension key.", &["brand", "dimension", "value"]),
            incident_events: counter(&registry, INCIDENT_EVENTS, "Incident lifecycle events emitted, by event (opened, updated, resolved).", &["event"]),
            incidents_open: int_gauge(&registry, INCIDENTS_OPEN, "Incidents open now."),
            scoring_intent_events: counter(&registry, SCORING_INTENT_EVENTS, "Mentions scored, by intent (outage, safety, security, complaint, question, praise, other).", &["intent"]),
            scoring_brand_events: counter(&registry, SCORING_BRAND_EVENTS, "Brand matches in mention texts, by configured brand and how it matched (name, handle, hashtag, fuzzy).", &["brand", "match"]),
            scoring_pii_events: counter(&registry, SCORING_PII_EVENTS, "Mentions exposing personal data, by kind (card, iban, email, phone, configured patterns).", &["kind"]),
            scoring_priority: histogram(&registry, SCORING_PRIORITY, "Priority (1-100) of scored mentions, by platform.", &["platform"], (1..=10).map(|i| f64::from(i) * 10.0).collect()),
            scoring_sla_target: histogram(&registry, SCORING_SLA_TARGET, "First-response time allowed by the SLA table, by platform.", &["platform"], vec![300.0, 900.0, 1800.0, 3600.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0]),
            language_events: counter(&registry, LANGUAGE_EVENTS, "Mentions written, by language (the detected one, else the platform's hint; ISO 639-1 codes Tocsin knows, `und`, `other`).", &["lang"]),
            sla_events: counter(&registry, SLA_EVENTS, "Mentions written, by how much of their first-response SLA the pipeline used: on_time (< 75 %), at_risk (75-100 %), breached (already past due when delivered).", &["platform", "state"]),
            notifications: counter(&registry, NOTIFICATIONS, "Notification delivery attempts by receiver and outcome (sent, retried, failed = rejected for good, duplicate = not queued twice).", &["receiver", "outcome"]),
            notifications_queued: gauge_vec(&registry, NOTIFICATIONS_QUEUED, "Notifications waiting in a receiver's durable outbox.", &["receiver"]),
            notification_duration: histogram(&registry, NOTIFICATION_DURATION, "Time of one delivery attempt to a receiver.", &["receiver"], latency_buckets()),
            broadcasts: counter(&registry, BROADCASTS, "Mass-incident broadcast drafts emitted, by kind (initial, reminder, resolved).", &["kind"]),
            broadcast_covered: int_counter(&registry, BROADCAST_COVERED, "Mentions marked as covered by an incident's public status update."),
            archive_files: counter(&registry, ARCHIVE_FILES, "Parquet files committed to the archive (complete, synced, renamed into their partition), by table.", &["table"]),
            archive_rows: counter(&registry, ARCHIVE_ROWS, "Rows in committed archive files, by table.", &["table"]),
            archive_bytes: counter(&registry, ARCHIVE_BYTES, "Bytes of committed archive files, by table.", &["table"]),
            archive_expired: counter(&registry, ARCHIVE_EXPIRED, "Archive date partitions deleted by the retention setting, by table.", &["table"]),
            archive_commit_duration: register(&registry, prometheus::Histogram::with_opts(HistogramOpts::new(ARCHIVE_COMMIT_DURATION, "Time to commit the archive's open files (close, fsync, rename); source offsets wait for it.").buckets(latency_buckets())).expect("valid metric")),
            last_event_timestamp: last,
            up,
            registry,
        };
        // Pre-create bounded label sets so dashboards see zeros instead of missing series.
        for r in DlqReason::ALL {
            m.dead_letter_events.with_label_values(&[r.as_str()]);
        }
        for k in ["assign", "revoke", "error"] {
            m.rebalances.with_label_values(&[k]);
        }
        for r in ["ok", "error"] {
            m.offset_commits.with_label_values(&[r]);
        }
        for s in ["unique", "exact", "repost", "near"] {
            m.dedup_events.with_label_values(&[s]);
        }
        for r in ["expired", "capacity"] {
            m.dedup_evictions.with_label_values(&[r]);
        }
        for e in ["opened", "updated", "resolved"] {
            m.incident_events.with_label_values(&[e]);
        }
        m.spike_dropped_events.with_label_values(&["max_keys"]);
        for k in ["initial", "reminder", "resolved"] {
            m.broadcasts.with_label_values(&[k]);
        }
        m.language_events.with_label_values(&["und"]);
        for t in ["mentions", "incidents"] {
            m.archive_files.with_label_values(&[t]);
            m.archive_rows.with_label_values(&[t]);
            m.archive_bytes.with_label_values(&[t]);
            m.archive_expired.with_label_values(&[t]);
        }
        for i in crate::stages::scoring::intent::Intent::ALL {
            m.scoring_intent_events.with_label_values(&[i.as_str()]);
        }
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Counts acknowledged outputs: end-to-end latency, languages, SLA state, newest event.
    pub fn observe_outputs(&self, facts: &[OutputFacts], now: crate::clock::Millis) {
        let mut newest = 0;
        // Counted per batch, then one counter update per label set.
        let mut langs: HashMap<&'static str, u64> = HashMap::new();
        let mut sla: HashMap<(&'static str, &'static str), u64> = HashMap::new();
        for f in facts {
            newest = newest.max(f.created);
            let age_ms = (now - f.created).max(0);
            self.end_to_end_latency
                .with_label_values(&[f.platform.as_str()])
                .observe(age_ms as f64 / 1000.0);
            *langs.entry(f.lang).or_default() += 1;
            if f.sla_secs > 0 {
                let allowed = f.sla_secs as i64 * 1000;
                let state = if age_ms >= allowed {
                    "breached"
                } else if age_ms * 4 >= allowed * 3 {
                    "at_risk"
                } else {
                    "on_time"
                };
                *sla.entry((f.platform.as_str(), state)).or_default() += 1;
            }
        }
        for (lang, n) in langs {
            self.language_events.with_label_values(&[lang]).inc_by(n);
        }
        for ((platform, state), n) in sla {
            self.sla_events
                .with_label_values(&[platform, state])
                .inc_by(n);
        }
        if newest > 0 {
            self.last_event_timestamp.set(newest as f64 / 1000.0);
        }
    }

    pub fn dead_letter(&self, reason: DlqReason) -> IntCounter {
        self.dead_letter_events
            .with_label_values(&[reason.as_str()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_labels_are_bounded() {
        assert_eq!(language_label(Some("fr")), "fr");
        assert_eq!(language_label(Some("PT-br")), "pt");
        assert_eq!(language_label(None), "und");
        assert_eq!(language_label(Some("klingon")), "other");
        assert_eq!(language_label(Some("xx")), "other");
    }

    #[test]
    fn names_follow_conventions() {
        for n in names::ALL {
            assert!(n.starts_with("tocsin_"), "{n}");
            let ok_suffix = [
                "_total",
                "_seconds",
                "_bytes",
                "_messages",
                "_batches",
                "_events",
                "_info",
                "_up",
                "_entries",
                "_ratio",
                "_score",
            ]
            .iter()
            .any(|s| n.ends_with(s));
            assert!(ok_suffix, "{n} lacks a unit suffix");
        }
    }

    #[test]
    fn render_exposes_registered_metrics() {
        let m = Metrics::new("t");
        m.dead_letter(DlqReason::InvalidJson).inc();
        let text = m.render();
        assert!(text.contains("tocsin_dead_letter_events_total{reason=\"invalid_json\"} 1"));
        assert!(text.contains("tocsin_build_info"));
    }

    #[test]
    fn every_metric_is_in_the_catalogue() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
            .expect("docs/metrics.md exists");
        for n in names::ALL {
            assert!(
                doc.contains(&format!("`{n}`")),
                "{n} missing from docs/metrics.md"
            );
        }
    }
}
