//! The spike stage's side of the mass-incident broadcast: fixes an incident's alert labels at
//! opening, applies the broadcast rule to its events (in event time, so backtests reproduce
//! it), schedules reminders, and marks the brand's later mentions as covered by the public
//! update (`covered_by`, with the drafted reply in the mention's language).

use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::alerting::broadcast::{Drafter, Rule};
use crate::alerting::event::IncidentEvent;
use crate::config::BrandConfig;
use crate::mention::{CoveredBy, Mention};
use crate::metrics::Metrics;
use crate::stages::scoring::intent::Intent;

/// Why an event is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// A lifecycle event (opened, updated, resolved).
    Lifecycle,
    /// A reminder is due for a broadcasting incident.
    Reminder,
}

struct Cover {
    incident_id: String,
    last_bucket: i64,
    event: Box<IncidentEvent>,
    replies: HashMap<String, Arc<CoveredBy>>,
}

/// A broadcasting incident as the spike checkpoint saves it (drafted replies are redrafted).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SavedCover {
    brand: u16,
    incident_id: String,
    last_bucket: i64,
    event: IncidentEvent,
}

pub struct Broadcaster {
    drafter: Drafter,
    names: Vec<String>,
    reminder_buckets: i64,
    covers: HashMap<u16, Cover>,
    metrics: Arc<Metrics>,
}

/// The labels an incident keeps for its whole life (see `alerting::alert`).
pub fn opening_labels(ev: &IncidentEvent) -> Value {
    json!({
        "level": ev.severity.to_string(),
        "intent": ev.main("intent"),
        "lang": ev.main("lang"),
        "platform": ev.main("platform"),
    })
}

impl Broadcaster {
    pub fn new(
        drafter: Drafter,
        brands: &[BrandConfig],
        bucket_secs: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let every = drafter.config().reminder_every_secs;
        Broadcaster {
            reminder_buckets: if every == 0 {
                i64::MAX
            } else {
                (every / bucket_secs.max(1)).max(1) as i64
            },
            names: brands
                .iter()
                .map(|b| b.names.first().cloned().unwrap_or_else(|| b.id.clone()))
                .collect(),
            drafter,
            covers: HashMap::new(),
            metrics,
        }
    }

    pub fn is_broadcasting(&self, brand: u16) -> bool {
        self.covers.contains_key(&brand)
    }

    pub fn reminder_due(&self, brand: u16, bucket: i64) -> bool {
        self.covers
            .get(&brand)
            .is_some_and(|c| bucket - c.last_bucket >= self.reminder_buckets)
    }

    /// Whether the rule holds for a candidate event body.
    pub fn rule_holds(&self, body: &Value) -> bool {
        serde_json::from_value::<IncidentEvent>(body.clone())
            .is_ok_and(|ev| Rule(self.drafter.config()).evaluate(&ev).is_some())
    }

    /// Adds the `broadcast` field to an event body when one is due. Returns whether it did.
    /// `ev` is `body` read as an incident event.
    pub fn annotate(
        &mut self,
        ev: IncidentEvent,
        body: &mut Value,
        brand: u16,
        bucket: i64,
        moment: Moment,
    ) -> bool {
        let name = self
            .names
            .get(brand as usize)
            .cloned()
            .unwrap_or_else(|| ev.brand.clone());
        let (kind, reasons) = match (self.covers.get(&brand), ev.is_resolved(), moment) {
            (Some(_), true, _) => ("resolved", vec!["the incident resolved".to_string()]),
            (Some(_), false, Moment::Reminder) => ("reminder", vec!["reminder".to_string()]),
            (Some(_), false, Moment::Lifecycle) => return false,
            (None, true, _) => return false,
            (None, false, _) => match Rule(self.drafter.config()).evaluate(&ev) {
                Some(r) => ("initial", r),
                None => return false,
            },
        };
        let about = self.covers.get(&brand).map_or(&ev, |c| &*c.event);
        let b = self.drafter.draft(about, &ev, kind, reasons, &name);
        body["broadcast"] = serde_json::to_value(&b).unwrap_or_default();
        self.metrics.broadcasts.with_label_values(&[kind]).inc();
        if kind == "resolved" {
            self.covers.remove(&brand);
        } else {
            // The cover keeps the event it announced: reminders and replies stay about it.
            let c = self.covers.entry(brand).or_insert_with(|| Cover {
                incident_id: ev.incident_id.clone(),
                last_bucket: bucket,
                event: Box::new(ev),
                replies: HashMap::new(),
            });
            c.last_bucket = bucket;
        }
        true
    }

    /// The broadcasting incidents, for a checkpoint.
    pub fn saved(&self) -> Vec<SavedCover> {
        let mut v: Vec<SavedCover> = self
            .covers
            .iter()
            .map(|(&brand, c)| SavedCover {
                brand,
                incident_id: c.incident_id.clone(),
                last_bucket: c.last_bucket,
                event: (*c.event).clone(),
            })
            .collect();
        v.sort_by_key(|c| c.brand);
        v
    }

    /// Takes the broadcasting incidents of a checkpoint; `brand` maps its brand indexes to
    /// this pipeline's.
    pub fn restore(&mut self, saved: Vec<SavedCover>, brand: impl Fn(u16) -> Option<u16>) {
        self.covers.clear();
        for c in saved {
            if let Some(b) = brand(c.brand) {
                self.covers.insert(
                    b,
                    Cover {
                        incident_id: c.incident_id,
                        last_bucket: c.last_bucket,
                        event: Box::new(c.event),
                        replies: HashMap::new(),
                    },
                );
            }
        }
    }

    /// Forgets an incident that ended without a broadcast of its end.
    pub fn forget(&mut self, brand: u16) {
        self.covers.remove(&brand);
    }

    /// Marks a mention of `brand` as covered by its broadcasting incident (not praise).
    pub fn cover(&mut self, m: &mut Mention, brand: u16, lang: &str) {
        let Some(c) = self.covers.get_mut(&brand) else {
            return;
        };
        if m.enrich
            .score
            .as_ref()
            .is_some_and(|s| s.intent == Intent::Praise)
        {
            return;
        }
        let name = self.names.get(brand as usize).map_or("", String::as_str);
        let drafter = &self.drafter;
        let covered = c
            .replies
            .entry(lang.to_string())
            .or_insert_with(|| {
                Arc::new(CoveredBy {
                    incident_id: c.incident_id.clone(),
                    status_url: drafter.config().status_url.clone(),
                    reply: drafter.reply(lang, &c.event, name),
                })
            })
            .clone();
        if let Some(s) = m.enrich.score.as_mut() {
            s.priority_reasons.push(Cow::Owned(format!(
                "covered by incident {} (public status update): reply with its link",
                covered.incident_id
            )));
        }
        m.enrich.covered_by = Some(covered);
        self.metrics.broadcast_covered.inc();
    }
}
