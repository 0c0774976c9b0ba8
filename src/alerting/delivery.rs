//! One delivery worker per receiver: takes the outbox's oldest entry, sends it, acknowledges it
//! on success. Failures back off exponentially with jitter and never block other receivers or
//! the pipeline (they only append to the outbox). A rate limit per receiver delays, never drops.
//!
//! Alertmanager forgets a firing alert once its `endsAt` passes, so for those receivers the
//! worker also keeps the set of firing alerts (`active.json`, kept across restarts) and re-posts
//! them every `alertmanager_resend_secs`, as Prometheus does with its own alerts.

use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use super::alert::Alert;
use super::outbox::{write_atomic, Outbox};
use super::receivers::{DeliveryError, Receiver};
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    pub rate_limit_per_minute: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub resend_every: Duration,
    pub stale_after: Duration,
}

impl WorkerConfig {
    /// How long Alertmanager keeps a firing alert without a refresh.
    fn ttl(&self) -> Duration {
        self.resend_every * 4
    }
}

/// `equal jitter`: half the exponential delay, plus a random part of the other half.
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let half = exp / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

/// A token bucket of `per_minute` tokens.
struct Limiter {
    per_sec: f64,
    cap: f64,
    tokens: f64,
    at: Instant,
}

impl Limiter {
    fn new(per_minute: u32) -> Self {
        let cap = f64::from(per_minute);
        Limiter {
            per_sec: cap / 60.0,
            cap,
            tokens: cap,
            at: Instant::now(),
        }
    }

    /// How long to wait before one token is there (zero: taken).
    fn take(&mut self) -> Duration {
        if self.cap == 0.0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec).min(self.cap);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        }
    }
}

/// Firing alerts of an Alertmanager receiver, by fingerprint, with when they were last
/// confirmed by an incident event (Unix ms).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Active(BTreeMap<String, (Alert, i64)>);

impl Active {
    fn load(outbox: &Outbox) -> Self {
        std::fs::read(outbox.dir().join("active.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, outbox: &Outbox) {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        if let Err(e) = write_atomic(&outbox.dir().join("active.json"), &bytes) {
            tracing::warn!(error = %e, "cannot save firing alerts; after a restart they are re-sent only with the next incident event");
        }
    }
}

async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) {
    let _ = tokio::time::timeout(d, stop.changed()).await;
}

pub async fn run(
    cfg: WorkerConfig,
    receiver: Receiver,
    outbox: Arc<Outbox>,
    m: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let label = [cfg.name.as_str()];
    let count = |outcome: &str| {
        m.notifications
            .with_label_values(&[cfg.name.as_str(), outcome])
            .inc()
    };
    let queued = m.notifications_queued.with_label_values(&label);
    let duration = m.notification_duration.with_label_values(&label);
    let am = receiver.is_alertmanager();
    let mut active = if am {
        Active::load(&outbox)
    } else {
        Active::default()
    };
    let mut last_refresh = Instant::now();
    let mut limiter = Limiter::new(cfg.rate_limit_per_minute);
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        queued.set(outbox.len() as i64);
        if am && last_refresh.elapsed() >= cfg.resend_every {
            last_refresh = Instant::now();
            refresh(&cfg, &receiver, &mut active, &outbox).await;
        }
        let Some(entry) = outbox.peek() else {
            let wait = if am {
                cfg.resend_every
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                _ = outbox.wait() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        };
        let wait = limiter.take();
        if !wait.is_zero() {
            sleep_or_stop(wait, &mut stop).await;
            continue;
        }
        let t = Instant::now();
        let r = receiver.deliver(&entry.notification, cfg.ttl()).await;
        duration.observe(t.elapsed().as_secs_f64());
        match r {
            Ok(()) => {
                count("sent");
                attempt = 0;
                if am {
                    let a = &entry.notification.alert;
                    if entry.notification.status == "resolved" {
                        active.0.remove(&a.fingerprint());
                    } else {
                        let now = chrono::Utc::now().timestamp_millis();
                        active.0.insert(a.fingerprint(), (a.clone(), now));
                    }
                    active.save(&outbox);
                }
                if let Err(e) = outbox.ack(entry.seq) {
                    tracing::error!(receiver = %cfg.name, error = %e, "cannot record a delivery in the outbox; it may be sent again after a restart (receivers drop it by its Idempotency-Key)");
                    sleep_or_stop(Duration::from_secs(1), &mut stop).await;
                }
            }
            Err(DeliveryError::Retry(e)) => {
                count("retried");
                let d = backoff(attempt, cfg.initial_backoff, cfg.max_backoff);
                attempt = attempt.saturating_add(1);
                tracing::warn!(receiver = %cfg.name, key = %entry.notification.key, attempt, retry_in_ms = d.as_millis() as u64, error = %e, "notification not delivered; it stays in the outbox");
                sleep_or_stop(d, &mut stop).await;
            }
            Err(DeliveryError::Reject(e)) => {
                count("failed");
                attempt = 0;
                tracing::error!(receiver = %cfg.name, key = %entry.notification.key, error = %e, "the receiver rejected a notification; kept in failed.jsonl of its outbox folder, fix the receiver or the labels");
                if let Err(e) = outbox.fail(&entry, &e.to_string()) {
                    tracing::error!(receiver = %cfg.name, error = %e, "cannot move a rejected notification aside");
                    sleep_or_stop(Duration::from_secs(1), &mut stop).await;
                }
            }
        }
    }
    queued.set(outbox.len() as i64);
}

/// Re-posts the firing alerts so Alertmanager keeps them; drops those no incident event has
/// confirmed for `stale_after` (the incident's owner stopped without resolving it).
async fn refresh(cfg: &WorkerConfig, receiver: &Receiver, active: &mut Active, outbox: &Outbox) {
    let now = chrono::Utc::now().timestamp_millis();
    let before = active.0.len();
    active
        .0
        .retain(|_, (_, seen)| now - *seen < cfg.stale_after.as_millis() as i64);
    if active.0.len() != before {
        active.save(outbox);
    }
    if active.0.is_empty() {
        return;
    }
    let alerts: Vec<Alert> = active.0.values().map(|(a, _)| a.clone()).collect();
    if let Err(e) = receiver.post_alerts(&alerts, cfg.ttl()).await {
        tracing::debug!(receiver = %cfg.name, error = %e, "refreshing firing alerts failed; next try in one interval");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let (i, max) = (Duration::from_millis(100), Duration::from_secs(10));
        for attempt in 0..30 {
            let d = backoff(attempt, i, max);
            let exp = (i * (1u32 << attempt.min(20))).min(max);
            assert!(d >= exp / 2 && d <= exp, "{attempt}: {d:?} vs {exp:?}");
        }
    }

    #[test]
    fn the_rate_limit_delays_past_the_burst() {
        let mut l = Limiter::new(6);
        for _ in 0..6 {
            assert!(l.take().is_zero());
        }
        let w = l.take();
        assert!(
            w > Duration::from_secs(9) && w <= Duration::from_secs(10),
            "{w:?}"
        );
        assert!(Limiter::new(0).take().is_zero(), "0 = no limit");
    }
}
