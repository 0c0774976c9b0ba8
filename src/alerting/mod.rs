//! Alert routing: incident events → alerts → receivers, through a durable outbox.
//!
//! Flow: the spike stage writes an incident event (durably, to the incidents sink); the pipeline
//! then hands it to [`Alerter::enqueue`], which turns it into alerts ([`alert`]), picks receivers
//! with the routing tree ([`route`]) and appends one notification per receiver to that
//! receiver's outbox ([`outbox`], fsynced) — all before the batch's offsets are committed.
//! One worker per receiver ([`delivery`]) delivers with retries, backoff and a rate limit.
//! The mass-incident broadcast rule and drafts are in [`broadcast`].

pub mod alert;
pub mod broadcast;
pub mod delivery;
pub mod event;
pub mod history;
pub mod outbox;
pub mod receivers;
pub mod route;
pub mod templates;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::sinks::OutRecord;
use alert::{alerts_for, notification, AlertMeta};
use event::IncidentEvent;
use outbox::Outbox;
use receivers::{Receiver, ReceiverConfig};
use route::{Route, RouteConfig};

/// `[alerting]` in a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Folder of the durable outbox (one sub-folder per receiver).
    pub outbox: String,
    /// Grafana dashboard linked from every alert (`var-brand` and the time range are added).
    pub dashboard_url: String,
    /// Labels added to every alert (`team = "care"`).
    pub extra_labels: BTreeMap<String, String>,
    pub receivers: Vec<ReceiverConfig>,
    /// The routing tree; without it every receiver gets every alert.
    pub route: Option<RouteConfig>,
    pub initial_backoff_ms: u64,
    pub max_backoff_secs: u64,
    /// Firing alerts are re-posted to Alertmanager this often (they expire after 4×).
    pub alertmanager_resend_secs: u64,
    /// A firing alert no incident event confirmed for this long is no longer re-posted.
    pub stale_after_secs: u64,
    /// At shutdown, wait this long for queued notifications (the rest stays in the outbox).
    pub shutdown_grace_secs: u64,
    pub broadcast: broadcast::BroadcastConfig,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            outbox: "tocsin-outbox".into(),
            dashboard_url: String::new(),
            extra_labels: BTreeMap::new(),
            receivers: Vec::new(),
            route: None,
            initial_backoff_ms: 500,
            max_backoff_secs: 300,
            alertmanager_resend_secs: 60,
            stale_after_secs: 24 * 3600,
            shutdown_grace_secs: 10,
            broadcast: broadcast::BroadcastConfig::default(),
        }
    }
}

impl AlertingConfig {
    pub fn validate(&self, bad: &mut dyn FnMut(&str, &str)) {
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let path = format!("alerting.receivers[{i}]");
            r.validate(&path, bad);
            if !names.insert(r.name.as_str()) {
                bad(
                    &format!("{path}.name"),
                    &format!("`{}` is defined twice", r.name),
                );
            }
        }
        if let Err((path, msg)) = self.compile_route() {
            bad(&path, &msg);
        }
        for k in self.extra_labels.keys() {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bad(
                    &format!("alerting.extra_labels.{k}"),
                    "label names are [a-zA-Z0-9_]",
                );
            }
        }
        if self.alertmanager_resend_secs == 0 {
            bad("alerting.alertmanager_resend_secs", "must be at least 1");
        }
        if self.initial_backoff_ms == 0 || self.max_backoff_secs == 0 {
            bad(
                "alerting.initial_backoff_ms",
                "backoff times must be at least 1",
            );
        }
        self.broadcast.validate(bad);
    }

    fn compile_route(&self) -> Result<Option<Route>, (String, String)> {
        let names: Vec<&str> = self.receivers.iter().map(|r| r.name.as_str()).collect();
        match &self.route {
            None => Ok(None),
            Some(r) => Route::compile(r, None, "alerting.route", &names).map(Some),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("cannot open the outbox of receiver {receiver}: {source}; check `alerting.outbox` (a writable folder)")]
    Outbox {
        receiver: String,
        source: std::io::Error,
    },
    #[error("receiver {receiver}: {message}; check its settings in [[alerting.receivers]]")]
    Receiver { receiver: String, message: String },
    #[error("{path}: {message}")]
    Route { path: String, message: String },
    #[error("cannot queue notifications: {0}; the batch's offsets are not committed and it will be retried")]
    Queue(std::io::Error),
}

/// The running alerter: routing, outboxes and their delivery workers.
pub struct Alerter {
    route: Option<Route>,
    meta: AlertMeta,
    outboxes: BTreeMap<String, Arc<Outbox>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    grace: Duration,
    metrics: Arc<Metrics>,
}

impl Alerter {
    /// Opens the outboxes and starts one worker per receiver (needs a Tokio runtime).
    /// `None` when no receiver is configured.
    pub fn start(
        cfg: &AlertingConfig,
        pipeline: &str,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Self>, AlertingError> {
        if cfg.receivers.is_empty() {
            return Ok(None);
        }
        let route = cfg
            .compile_route()
            .map_err(|(path, message)| AlertingError::Route { path, message })?;
        let (stop, stop_rx) = watch::channel(false);
        let mut outboxes = BTreeMap::new();
        let mut tasks = Vec::new();
        for r in &cfg.receivers {
            let dir = PathBuf::from(&cfg.outbox).join(&r.name);
            let outbox = Arc::new(Outbox::open(&dir).map_err(|source| AlertingError::Outbox {
                receiver: r.name.clone(),
                source,
            })?);
            let receiver = Receiver::new(r).map_err(|message| AlertingError::Receiver {
                receiver: r.name.clone(),
                message,
            })?;
            for outcome in ["sent", "retried", "failed", "duplicate"] {
                metrics
                    .notifications
                    .with_label_values(&[r.name.as_str(), outcome]);
            }
            let wc = delivery::WorkerConfig {
                name: r.name.clone(),
                rate_limit_per_minute: r.rate_limit_per_minute,
                initial_backoff: Duration::from_millis(cfg.initial_backoff_ms),
                max_backoff: Duration::from_secs(cfg.max_backoff_secs),
                resend_every: Duration::from_secs(cfg.alertmanager_resend_secs),
                stale_after: Duration::from_secs(cfg.stale_after_secs),
            };
            if !outbox.is_empty() {
                tracing::info!(receiver = %r.name, queued = outbox.len(), "outbox holds notifications from a previous run; delivering them");
            }
            tasks.push(tokio::spawn(delivery::run(
                wc,
                receiver,
                outbox.clone(),
                metrics.clone(),
                stop_rx.clone(),
            )));
            outboxes.insert(r.name.clone(), outbox);
        }
        Ok(Some(Alerter {
            route,
            meta: AlertMeta {
                pipeline: pipeline.to_string(),
                dashboard_url: cfg.dashboard_url.clone(),
                extra_labels: cfg.extra_labels.clone(),
            },
            outboxes,
            stop,
            tasks,
            grace: Duration::from_secs(cfg.shutdown_grace_secs),
            metrics,
        }))
    }

    /// Queues the notifications of incident event records (as the spike stage wrote them).
    /// Returns when they are on disk.
    pub fn enqueue(&self, records: &[OutRecord]) -> Result<usize, AlertingError> {
        let mut n = 0;
        for r in records {
            match serde_json::from_slice::<IncidentEvent>(&r.payload) {
                Ok(ev) => n += self.enqueue_event(&ev)?,
                Err(e) => {
                    tracing::error!(error = %e, "an incident event did not parse; it is in the incidents sink but was not alerted (a bug: please report it)")
                }
            }
        }
        Ok(n)
    }

    pub fn enqueue_event(&self, ev: &IncidentEvent) -> Result<usize, AlertingError> {
        let mut per: BTreeMap<&str, Vec<alert::Notification>> = BTreeMap::new();
        for a in alerts_for(ev, &self.meta) {
            let receivers: Vec<String> = match &self.route {
                Some(r) => r.receivers(&a.labels),
                None => self.outboxes.keys().cloned().collect(),
            };
            for name in receivers {
                if let Some((k, _)) = self.outboxes.get_key_value(name.as_str()) {
                    per.entry(k.as_str())
                        .or_default()
                        .push(notification(ev, a.clone()));
                }
            }
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut total = 0;
        for (name, notes) in per {
            let want = notes.len();
            let added = self.outboxes[name]
                .push(notes, now)
                .map_err(AlertingError::Queue)?;
            total += added;
            self.metrics
                .notifications
                .with_label_values(&[name, "duplicate"])
                .inc_by((want - added) as u64);
            self.metrics
                .notifications_queued
                .with_label_values(&[name])
                .set(self.outboxes[name].len() as i64);
        }
        Ok(total)
    }

    /// Notifications waiting, by receiver.
    pub fn queued(&self) -> BTreeMap<String, usize> {
        self.outboxes
            .iter()
            .map(|(k, o)| (k.clone(), o.len()))
            .collect()
    }

    /// Waits up to the grace time (or `grace`) for the outboxes to drain, then stops the
    /// workers. What is left stays on disk for the next start.
    pub async fn shutdown(self, grace: Option<Duration>) -> BTreeMap<String, usize> {
        let until = Instant::now() + grace.unwrap_or(self.grace);
        while Instant::now() < until && self.outboxes.values().any(|o| !o.is_empty()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let left: BTreeMap<String, usize> = self
            .outboxes
            .iter()
            .map(|(k, o)| (k.clone(), o.len()))
            .filter(|(_, n)| *n > 0)
            .collect();
        if !left.is_empty() {
            tracing::warn!(
                ?left,
                "notifications still queued at shutdown; they are delivered at the next start"
            );
        }
        left
    }
}
