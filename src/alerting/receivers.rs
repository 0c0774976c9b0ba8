//! Receivers: where notifications go. Alertmanager (v2 API), generic webhooks (JSON or
//! Slack-compatible text) and a Kafka topic.
//!
//! [`Receiver::deliver`] sends one notification and classifies a failure: network errors,
//! timeouts, 5xx, 408 and 429 are [`DeliveryError::Retry`] (the outbox keeps it and the worker
//! backs off); other 4xx are [`DeliveryError::Reject`] (retrying cannot help: the entry moves to
//! `failed.jsonl` and is counted).

use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use super::alert::{slack_text, Alert, Notification};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverType {
    Alertmanager,
    Webhook,
    Kafka,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"version", "receiver", "key", "status", "event", "alert", "incident"}`.
    #[default]
    Json,
    /// `{"text": "…"}` as Slack, Mattermost and Teams incoming webhooks take it.
    Slack,
}

/// `[[alerting.receivers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ReceiverType,
    /// Alertmanager: its base URL (`http://alertmanager:9093`); webhook: the URL to POST to.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Extra HTTP headers (an `Authorization` token, …).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Kafka: brokers, topic and extra librdkafka properties.
    #[serde(default)]
    pub brokers: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// At most this many notifications a minute (0 = no limit); more wait in the outbox.
    #[serde(default)]
    pub rate_limit_per_minute: u32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

impl ReceiverConfig {
    pub fn validate(&self, path: &str, bad: &mut dyn FnMut(&str, &str)) {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bad(
                &format!("{path}.name"),
                "must be non-empty [a-zA-Z0-9_-] (a metric label and a folder name)",
            );
        }
        match self.kind {
            ReceiverType::Alertmanager | ReceiverType::Webhook => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    bad(&format!("{path}.url"), "must be an http:// or https:// URL");
                }
            }
            ReceiverType::Kafka => {
                if self.brokers.is_empty() {
                    bad(
                        &format!("{path}.brokers"),
                        "is required for a kafka receiver",
                    );
                }
                if self.topic.is_empty() {
                    bad(&format!("{path}.topic"), "is required for a kafka receiver");
                }
            }
        }
        if self.timeout_secs == 0 {
            bad(&format!("{path}.timeout_secs"), "must be at least 1");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Reject(String),
}

pub enum Receiver {
    Alertmanager {
        url: String,
        http: reqwest::Client,
    },
    Webhook {
        name: String,
        url: String,
        format: WebhookFormat,
        http: reqwest::Client,
    },
    Kafka {
        topic: String,
        producer: FutureProducer,
    },
}

impl Receiver {
    pub fn new(cfg: &ReceiverConfig) -> Result<Self, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header {k}: {e}"))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|e| format!("header {k}: {e}"))?;
            headers.insert(name, value);
        }
        let http = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(cfg.timeout_secs))
                .default_headers(headers.clone())
                .user_agent(concat!("tocsin/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))
        };
        Ok(match cfg.kind {
            ReceiverType::Alertmanager => Receiver::Alertmanager {
                url: format!("{}/api/v2/alerts", cfg.url.trim_end_matches('/')),
                http: http()?,
            },
            ReceiverType::Webhook => Receiver::Webhook {
                name: cfg.name.clone(),
                url: cfg.url.clone(),
                format: cfg.format,
                http: http()?,
            },
            ReceiverType::Kafka => {
                let mut cc = ClientConfig::new();
                cc.set("bootstrap.servers", &cfg.brokers)
                    .set("message.timeout.ms", (cfg.timeout_secs * 1000).to_string());
                for (k, v) in &cfg.options {
                    cc.set(k, v);
                }
                cc.set("acks", "all").set("enable.idempotence", "true");
                Receiver::Kafka {
                    topic: cfg.topic.clone(),
                    producer: cc.create().map_err(|e| format!("Kafka producer: {e}"))?,
                }
            }
        })
    }

    pub fn is_alertmanager(&self) -> bool {
        matches!(self, Receiver::Alertmanager { .. })
    }

    /// Posts alerts to Alertmanager; firing ones get `endsAt = now + ttl` so Alertmanager
    /// resolves them by itself if Tocsin stops refreshing.
    pub async fn post_alerts(&self, alerts: &[Alert], ttl: Duration) -> Result<(), DeliveryError> {
        let Receiver::Alertmanager { url, http } = self else {
            return Ok(());
        };
        let until = chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
        let until = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body: Vec<Alert> = alerts
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if a.ends_at.is_none() {
                    a.ends_at = Some(until.clone());
                }
                a
            })
            .collect();
        let r = http.post(url).json(&body).send().await;
        check(r).await
    }

    pub async fn deliver(&self, n: &Notification, ttl: Duration) -> Result<(), DeliveryError> {
        match self {
            Receiver::Alertmanager { .. } => {
                self.post_alerts(std::slice::from_ref(&n.alert), ttl).await
            }
            Receiver::Webhook {
                name,
                url,
                format,
                http,
            } => {
                let body = match format {
                    WebhookFormat::Json => serde_json::json!({
                        "version": "1",
                        "receiver": name,
                        "key": n.key,
                        "status": n.status,
                        "event": n.event,
                        "alert": n.alert,
                        "incident": n.incident,
                    }),
                    WebhookFormat::Slack => serde_json::json!({ "text": slack_text(n) }),
                };
                let r = http
                    .post(url)
                    .header("Idempotency-Key", &n.key)
                    .json(&body)
                    .send()
                    .await;
                check(r).await
            }
            Receiver::Kafka { topic, producer } => {
                let payload = serde_json::to_vec(n).unwrap_or_default();
                let rec = FutureRecord::to(topic)
                    .key(n.key.as_bytes())
                    .payload(&payload)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: "status",
                        value: Some(n.status.as_bytes()),
                    }));
                producer
                    .send(rec, Duration::from_secs(5))
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| DeliveryError::Retry(format!("Kafka delivery: {e}")))
            }
        }
    }
}

async fn check(r: reqwest::Result<reqwest::Response>) -> Result<(), DeliveryError> {
    let resp = r.map_err(|e| DeliveryError::Retry(format!("HTTP request failed: {e}")))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let msg = format!("HTTP {status}: {body}");
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(DeliveryError::Retry(msg))
    } else {
        Err(DeliveryError::Reject(msg))
    }
}
