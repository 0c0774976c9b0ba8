//! The spike stage's incident events: the JSON of `opened` / `updated` / `resolved` for a
//! brand's open incident, with its explanation, and their emission as outputs.

use serde_json::json;

use super::broadcasting::{opening_labels, Moment};
use super::explain::{self, KeyFilter, Limits};
use super::state::SeriesKey;
use super::{Dimension, SpikeStage};
use crate::alerting::event::IncidentEvent;
use crate::sinks::OutRecord;

impl SpikeStage {
    pub(super) fn emit(
        &mut self,
        event: &str,
        brand: u16,
        bucket: i64,
        fired: Option<usize>,
        moment: Moment,
    ) {
        let Some(mut body) = self.build_event(event, brand, bucket, fired) else {
            return;
        };
        let Some(inc) = self.incidents.get_mut(&brand) else {
            return;
        };
        // The typed view of the event, read once for the labels and the broadcast rule.
        let ev: IncidentEvent = serde_json::from_value(body.clone()).unwrap_or_default();
        if inc.labels.is_null() {
            inc.labels = opening_labels(&ev);
        }
        body["labels"] = inc.labels.clone();
        if let Some(b) = self.broadcaster.as_mut() {
            b.annotate(ev, &mut body, brand, bucket, moment);
        }
        let id = inc.id.clone();
        let severity = body["severity"].as_u64().unwrap_or(0);
        let summary = body["summary"].as_str().unwrap_or_default().to_string();
        self.metrics
            .incident_events
            .with_label_values(&[event])
            .inc();
        tracing::info!(incident = %id, event, severity, broadcast = body.get("broadcast").is_some(), "{summary}");
        self.outputs.push(OutRecord {
            key: Some(id.into_bytes()),
            payload: serde_json::to_vec(&body).unwrap_or_default(),
            headers: vec![("event".into(), event.as_bytes().to_vec())],
        });
    }

    /// The JSON event of `event` for the brand's open incident.
    pub(super) fn build_event(
        &self,
        event: &str,
        brand: u16,
        bucket: i64,
        fired: Option<usize>,
    ) -> Option<serde_json::Value> {
        let inc = self.incidents.get(&brand)?;
        let bs = self.cfg.bucket_secs as i64;
        let thr = self.cfg.detector.threshold;
        let trigger = inc.members[0];
        let focus = fired.unwrap_or(trigger);
        let s = &self.series[focus];
        // Every series has a step once a bucket has closed, and events follow closes.
        let step = s.last?;
        // Opened/updated explain the buckets that fired; resolved sums up the whole incident.
        let from = if event == "resolved" {
            inc.opened_bucket
        } else {
            bucket - step.scale as i64 + 1
        };
        let tk = &self.series[trigger].key;
        let filter = KeyFilter {
            brand,
            platform: (tk.dim == Some(Dimension::Platform)).then_some(tk.value.as_str()),
            lang: (tk.dim == Some(Dimension::Lang)).then_some(tk.value.as_str()),
            intent: (tk.dim == Some(Dimension::Intent)).then_some(tk.value.as_str()),
            theme: (tk.dim == Some(Dimension::Theme)).then_some(tk.value.as_str()),
        };
        let lim = Limits {
            samples: self.cfg.samples,
            influencers: self.cfg.top_influencers,
            mention_ids: self.cfg.mention_ids,
        };
        let ex = explain::explain(&self.recent, &filter, from, bucket, lim);
        let key_json = |k: &SeriesKey| {
            json!({
                "brand": self.router.id(k.brand as usize),
                "dimension": k.dim.map(Dimension::as_str),
                "value": k.dim.map(|_| k.value.clone()),
            })
        };
        let dims: Vec<_> = inc
            .members
            .iter()
            .map(|&i| {
                let mut v = key_json(&self.series[i].key);
                v["open"] = json!(inc.open_members.contains(&i));
                v
            })
            .collect();
        let time = |b: i64| {
            chrono::DateTime::from_timestamp(b * bs, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        let severity = if event == "resolved" {
            inc.peak_severity
        } else {
            step.severity(thr)
        };
        let ratio = step.observed / step.expected.max(0.1);
        let theme = ex
            .themes
            .first()
            .map(|t| {
                format!(
                    "; theme \"{}\" ({:.0} % {})",
                    t.label,
                    t.lang_share * 100.0,
                    t.lang
                )
            })
            .unwrap_or_default();
        let summary = format!(
            "{}{}: {:.0} unique authors in {} min vs {:.1} expected ({:.1}×, p≈{:.1e}){}",
            self.router.id(brand as usize),
            s.key
                .dim
                .map(|d| format!(" {}={}", d.as_str(), s.key.value))
                .unwrap_or_default(),
            step.observed,
            step.scale as i64 * bs / 60,
            step.expected,
            ratio,
            step.probability,
            theme
        );
        let body = json!({
            "event": event,
            "incident_id": inc.id,
            "brand": self.router.id(brand as usize),
            "key": key_json(&self.series[trigger].key),
            "fired": key_json(&s.key),
            "dimensions": dims,
            "at": time(bucket + 1),
            "opened_at": time(inc.opened_bucket),
            "resolved_at": if event == "resolved" { time(bucket + 1) } else { None },
            "severity": severity,
            "summary": summary,
            "stats": {
                "observed": step.observed,
                "expected": (step.expected * 100.0).round() / 100.0,
                "ratio": (ratio * 100.0).round() / 100.0,
                "window_secs": step.scale as i64 * bs,
                "z": (step.z * 100.0).round() / 100.0,
                "probability": step.probability,
                "score": (step.score * 1000.0).round() / 1000.0,
                "threshold": thr,
            },
            "urgent_share": ex.urgent_share,
            "explanation": ex,
        });
        Some(body)
    }
}
