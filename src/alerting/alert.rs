//! Incident events → alerts in Alertmanager's model (labels, annotations, `startsAt`,
//! `endsAt`, `generatorURL`) → one [`Notification`] per receiver.
//!
//! Labels identify an alert, so they are fixed when the incident opens (`alertname`, `brand`,
//! `incident_id`, `key`, `severity`, `level`, `intent`, `lang`, `platform`, plus the operator's
//! `extra_labels`): Alertmanager sees one alert per incident that it can group, inhibit and
//! silence, and an escalation shows in the annotations of an `updated` notification.
//! Every incident gives a `tocsin_incident` alert; when the broadcast rule holds it also gives a
//! `broadcast_update_needed` alert carrying the drafts. Both resolve with the incident.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::event::IncidentEvent;

pub const INCIDENT_ALERT: &str = "tocsin_incident";
pub const BROADCAST_ALERT: &str = "broadcast_update_needed";

/// One alert as Alertmanager's v2 API takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    /// Set for resolutions; firing alerts get `now + alert_ttl` when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
}

impl Alert {
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// Identity of the alert (its label set), as Alertmanager fingerprints it.
    pub fn fingerprint(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What the outbox holds and a receiver delivers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notification {
    /// Idempotency key: incident, alert, event and its time. Sent as `Idempotency-Key`.
    pub key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// The incident event that caused it: `opened`, `updated`, `resolved`.
    pub event: String,
    pub incident_id: String,
    pub alert: Alert,
    /// The whole incident event, for webhook and Kafka receivers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<Box<IncidentEvent>>,
}

/// Settings that shape alerts (from `[alerting]`).
#[derive(Debug, Clone, Default)]
pub struct AlertMeta {
    pub pipeline: String,
    pub dashboard_url: String,
    pub extra_labels: BTreeMap<String, String>,
}

/// Alertmanager's conventional severity for a 1–10 level.
pub fn severity_name(level: u8) -> &'static str {
    match level {
        8.. => "critical",
        5..=7 => "warning",
        _ => "info",
    }
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

fn shares(list: &[crate::stages::spikes::explain::Share]) -> String {
    list.iter()
        .take(4)
        .map(|s| format!("{} {}", s.value, pct(s.share)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn description(ev: &IncidentEvent) -> String {
    let x = &ev.explanation;
    let mut d = format!(
        "{} unique authors ({} mentions) in {} min vs {:.1} expected ({:.1}×). Level {} now.\n\
         Languages: {}. Platforms: {}. Intents: {}; urgent {}.",
        ev.stats.observed,
        x.mentions,
        ev.stats.window_secs / 60,
        ev.stats.expected,
        ev.stats.ratio,
        ev.severity,
        shares(&x.languages),
        shares(&x.platforms),
        shares(&x.intents),
        pct(ev.urgent_share),
    );
    if let Some(t) = x.themes.first() {
        d += &format!(
            "\nTheme: \"{}\" ({} of mentions, {} {}).",
            t.label,
            pct(t.share),
            pct(t.lang_share),
            t.lang
        );
    }
    if !x.top_influencers.is_empty() {
        let inf: Vec<_> = x
            .top_influencers
            .iter()
            .take(3)
            .map(|i| format!("@{} ({})", i.author, i.followers))
            .collect();
        d += &format!("\nTop influencers: {}.", inf.join(", "));
    }
    for s in x.samples.iter().take(3) {
        let text: String = s.text.chars().take(160).collect();
        d += &format!("\n- [{} {}] {}", s.platform, s.lang, text);
    }
    d
}

/// The labels of an incident's alerts (see the module docs).
fn labels(ev: &IncidentEvent, meta: &AlertMeta, alertname: &str) -> BTreeMap<String, String> {
    let mut l = meta.extra_labels.clone();
    let fixed = |k: &str| ev.labels.get(k).cloned().unwrap_or_else(|| ev.main(k));
    let level = ev
        .labels
        .get("level")
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(ev.severity);
    for (k, v) in [
        ("alertname", alertname.to_string()),
        ("brand", ev.brand.clone()),
        ("incident_id", ev.incident_id.clone()),
        ("key", ev.key.label()),
        ("level", level.to_string()),
        ("severity", severity_name(level).to_string()),
        ("intent", fixed("intent")),
        ("lang", fixed("lang")),
        ("platform", fixed("platform")),
        ("pipeline", meta.pipeline.clone()),
    ] {
        l.insert(k.to_string(), v);
    }
    l
}

fn dashboard_link(ev: &IncidentEvent, meta: &AlertMeta) -> String {
    if meta.dashboard_url.is_empty() {
        return String::new();
    }
    let from = (IncidentEvent::secs(&ev.opened_at) - 3600) * 1000;
    let to = ev.resolved_at.as_deref().map_or_else(
        || "now".to_string(),
        |t| ((IncidentEvent::secs(t) + 1800) * 1000).to_string(),
    );
    let sep = if meta.dashboard_url.contains('?') {
        '&'
    } else {
        '?'
    };
    format!(
        "{}{sep}var-brand={}&from={from}&to={to}",
        meta.dashboard_url, ev.brand
    )
}

/// The alerts an incident event gives (one or two).
pub fn alerts_for(ev: &IncidentEvent, meta: &AlertMeta) -> Vec<Alert> {
    let link = dashboard_link(ev, meta);
    let ends_at = ev.resolved_at.clone().filter(|_| ev.is_resolved());
    let mut ann = BTreeMap::new();
    ann.insert("summary".to_string(), ev.summary.clone());
    ann.insert("description".to_string(), description(ev));
    ann.insert("event".to_string(), ev.event.clone());
    ann.insert("level_now".to_string(), ev.severity.to_string());
    let explanation = serde_json::json!({
        "stats": ev.stats,
        "languages": ev.explanation.languages,
        "platforms": ev.explanation.platforms,
        "intents": ev.explanation.intents,
        "themes": ev.explanation.themes,
        "unique_authors": ev.explanation.unique_authors,
        "dimensions": ev.dimensions,
    });
    ann.insert("explanation".to_string(), explanation.to_string());
    let ids: Vec<&str> = ev
        .explanation
        .mention_ids
        .iter()
        .take(50)
        .map(String::as_str)
        .collect();
    ann.insert("mention_ids".to_string(), ids.join(","));
    if !link.is_empty() {
        ann.insert("dashboard".to_string(), link.clone());
    }
    let mut out = vec![Alert {
        labels: labels(ev, meta, INCIDENT_ALERT),
        annotations: ann,
        starts_at: ev.opened_at.clone(),
        ends_at: ends_at.clone(),
        generator_url: link.clone(),
    }];
    if let Some(b) = &ev.broadcast {
        let mut ann = BTreeMap::new();
        let first = b.drafts.first();
        ann.insert(
            "summary".to_string(),
            format!(
                "Post a public status update for {} ({} affected authors): {}",
                ev.brand, b.affected_authors, ev.summary
            ),
        );
        ann.insert("broadcast_kind".to_string(), b.kind.clone());
        ann.insert("reasons".to_string(), b.reasons.join("; "));
        ann.insert("status_url".to_string(), b.status_url.clone());
        if let Some(d) = first {
            ann.insert("status_update".to_string(), d.status_update.clone());
            ann.insert("customer_reply".to_string(), d.customer_reply.clone());
        }
        for d in &b.drafts {
            ann.insert(format!("status_update_{}", d.lang), d.status_update.clone());
            ann.insert(
                format!("customer_reply_{}", d.lang),
                d.customer_reply.clone(),
            );
        }
        ann.insert(
            "languages".to_string(),
            b.drafts
                .iter()
                .map(|d| d.lang.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        ann.insert(
            "affected_mention_ids".to_string(),
            b.affected_mention_ids.join(","),
        );
        ann.insert(
            "affected_authors".to_string(),
            b.affected_authors.to_string(),
        );
        if !link.is_empty() {
            ann.insert("dashboard".to_string(), link.clone());
        }
        out.push(Alert {
            labels: labels(ev, meta, BROADCAST_ALERT),
            annotations: ann,
            starts_at: ev.opened_at.clone(),
            ends_at,
            generator_url: link,
        });
    }
    out
}

/// The notification of one alert of `ev`.
pub fn notification(ev: &IncidentEvent, alert: Alert) -> Notification {
    let kind = ev.broadcast.as_ref().map_or("", |b| b.kind.as_str());
    Notification {
        key: format!(
            "{}/{}/{}/{}{}",
            ev.incident_id,
            alert.name(),
            ev.event,
            ev.at,
            if alert.name() == BROADCAST_ALERT {
                format!("/{kind}")
            } else {
                String::new()
            }
        ),
        status: if ev.is_resolved() {
            "resolved"
        } else {
            "firing"
        }
        .to_string(),
        event: ev.event.clone(),
        incident_id: ev.incident_id.clone(),
        alert,
        incident: Some(Box::new(ev.clone())),
    }
}

/// A Slack-compatible one-message text.
pub fn slack_text(n: &Notification) -> String {
    let a = &n.alert;
    let get = |k: &str| a.annotations.get(k).map_or("", String::as_str);
    let icon = match (n.status.as_str(), a.name()) {
        ("resolved", _) => ":white_check_mark:",
        (_, BROADCAST_ALERT) => ":loudspeaker:",
        _ => ":rotating_light:",
    };
    let level = a.labels.get("severity").map_or("", String::as_str);
    let mut t = format!(
        "{icon} *[{}{}] {}* ({})\n{}",
        n.status.to_uppercase(),
        if n.status == "firing" {
            format!(" {level}")
        } else {
            String::new()
        },
        get("summary"),
        n.event,
        get("description")
    );
    if a.name() == BROADCAST_ALERT {
        t += &format!(
            "\n*Draft status update:* {}\n*Draft reply:* {}",
            get("status_update"),
            get("customer_reply")
        );
    }
    let dash = get("dashboard");
    if !dash.is_empty() {
        t += &format!("\n<{dash}|Dashboard>");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::broadcast::{Broadcast, Draft};

    fn ev(event: &str) -> IncidentEvent {
        let mut ev = IncidentEvent {
            event: event.into(),
            incident_id: "northwind-20261123T100000Z".into(),
            brand: "northwind".into(),
            opened_at: "2026-11-23T10:00:00Z".into(),
            at: "2026-11-23T10:05:00Z".into(),
            severity: 9,
            summary: "northwind: 120 unique authors".into(),
            ..Default::default()
        };
        ev.labels.insert("level".into(), "6".into());
        ev.labels.insert("lang".into(), "fr".into());
        if event == "resolved" {
            ev.resolved_at = Some("2026-11-23T11:00:00Z".into());
        }
        ev
    }

    fn meta() -> AlertMeta {
        AlertMeta {
            pipeline: "demo".into(),
            dashboard_url: "http://grafana/d/tocsin-brands".into(),
            extra_labels: [("team".to_string(), "care".to_string())].into(),
        }
    }

    #[test]
    fn labels_are_fixed_at_opening_and_resolution_sets_ends_at() {
        let open = alerts_for(&ev("opened"), &meta());
        assert_eq!(open.len(), 1);
        let l = &open[0].labels;
        assert_eq!(l["alertname"], INCIDENT_ALERT);
        assert_eq!(
            l["severity"], "warning",
            "from the opening level 6, not the current 9"
        );
        assert_eq!(l["lang"], "fr");
        assert_eq!(l["team"], "care");
        assert_eq!(l["key"], "brand");
        assert!(open[0].ends_at.is_none());
        assert!(open[0].generator_url.contains("var-brand=northwind"));
        let resolved = alerts_for(&ev("resolved"), &meta());
        assert_eq!(
            resolved[0].fingerprint(),
            open[0].fingerprint(),
            "same alert"
        );
        assert_eq!(resolved[0].ends_at.as_deref(), Some("2026-11-23T11:00:00Z"));
        let n = notification(&ev("resolved"), resolved[0].clone());
        assert_eq!(n.status, "resolved");
        assert_ne!(n.key, notification(&ev("opened"), open[0].clone()).key);
    }

    #[test]
    fn a_broadcast_adds_its_own_alert_with_drafts() {
        let mut e = ev("opened");
        e.broadcast = Some(Broadcast {
            kind: "initial".into(),
            reasons: vec!["120 unique authors ≥ 25".into()],
            drafts: vec![Draft {
                lang: "fr".into(),
                status_update: "Nous savons…".into(),
                customer_reply: "Désolés…".into(),
            }],
            affected_mention_ids: vec!["m1".into(), "m2".into()],
            affected_authors: 120,
            status_url: "https://status".into(),
        });
        let alerts = alerts_for(&e, &meta());
        assert_eq!(alerts.len(), 2);
        let b = &alerts[1];
        assert_eq!(b.name(), BROADCAST_ALERT);
        assert_eq!(b.annotations["status_update_fr"], "Nous savons…");
        assert_eq!(b.annotations["affected_mention_ids"], "m1,m2");
        let text = slack_text(&notification(&e, b.clone()));
        assert!(
            text.contains(":loudspeaker:") && text.contains("Nous savons"),
            "{text}"
        );
    }
}
