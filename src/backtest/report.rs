//! What a backtest found: incidents (when, why, how big), broadcast triggers, alerts per day
//! and the incidents' timing relative to each other. Printed as text or JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::alerting::event::IncidentEvent;
use crate::clock::{rfc3339, Millis};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentRow {
    pub incident_id: String,
    pub brand: String,
    /// The key that opened it (`brand`, `lang=fr`, …).
    pub key: String,
    pub opened_at: String,
    /// `None`: still open when the history ends.
    pub resolved_at: Option<String>,
    pub duration_secs: Option<i64>,
    pub max_severity: u8,
    pub peak_observed: f64,
    pub peak_expected: f64,
    pub max_unique_authors: u64,
    pub summary: String,
    /// When the broadcast rule first held, and why.
    pub broadcast_at: Option<String>,
    pub broadcast_reasons: Vec<String>,
    /// Seconds since the previous incident (any brand) opened.
    pub since_previous_secs: Option<i64>,
    /// Other incidents open when this one opened.
    pub concurrent: usize,
    pub events: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Day {
    pub opened: usize,
    pub broadcasts: usize,
    /// Every incident event (opened, updated, resolved): what receivers would get.
    pub notifications: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub mentions: u64,
    pub dead_letters: u64,
    pub out_of_order: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub wall_secs: f64,
    pub mentions_per_sec: f64,
    /// `archived` (the languages the live pipeline detected) or `detected` (by this replay).
    pub languages: &'static str,
    pub incidents: Vec<IncidentRow>,
    pub per_day: BTreeMap<String, Day>,
    pub median_gap_secs: Option<i64>,
    pub max_concurrent: usize,
}

fn ms(s: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Everything the replay measured, for [`summarise`].
pub struct Inputs<'a> {
    pub events: &'a [IncidentEvent],
    pub mentions: u64,
    pub dead_letters: u64,
    pub out_of_order: u64,
    pub first_ms: Option<Millis>,
    pub last_ms: Option<Millis>,
    pub wall_secs: f64,
    pub languages: &'static str,
}

pub fn summarise(i: Inputs) -> Report {
    let mut by_id: BTreeMap<&str, Vec<&IncidentEvent>> = BTreeMap::new();
    let mut per_day: BTreeMap<String, Day> = BTreeMap::new();
    for e in i.events {
        by_id.entry(&e.incident_id).or_default().push(e);
        let day = per_day
            .entry(e.at.get(..10).unwrap_or("?").to_string())
            .or_default();
        day.notifications += 1;
        if e.event == "opened" {
            day.opened += 1;
        }
        if e.broadcast.as_ref().is_some_and(|b| b.kind == "initial") {
            day.broadcasts += 1;
        }
    }
    let mut rows: Vec<IncidentRow> = by_id
        .into_values()
        .map(|evs| {
            let first = evs[0];
            let resolved = evs.iter().find(|e| e.is_resolved());
            let broadcast = evs.iter().find_map(|e| {
                e.broadcast
                    .as_ref()
                    .filter(|b| b.kind == "initial")
                    .map(|b| (e.at.clone(), b.reasons.clone()))
            });
            let opened_ms = ms(&first.opened_at);
            let resolved_at = resolved.and_then(|r| r.resolved_at.clone().or(Some(r.at.clone())));
            let duration_secs = match (opened_ms, resolved_at.as_deref().and_then(ms)) {
                (Some(o), Some(r)) => Some((r - o) / 1000),
                _ => None,
            };
            let fmax = |f: fn(&IncidentEvent) -> f64| evs.iter().map(|e| f(e)).fold(0.0, f64::max);
            IncidentRow {
                incident_id: first.incident_id.clone(),
                brand: first.brand.clone(),
                key: first.key.label(),
                opened_at: first.opened_at.clone(),
                resolved_at,
                duration_secs,
                max_severity: evs.iter().map(|e| e.severity).max().unwrap_or(0),
                peak_observed: fmax(|e| e.stats.observed),
                peak_expected: fmax(|e| e.stats.expected),
                max_unique_authors: evs
                    .iter()
                    .map(|e| e.explanation.unique_authors)
                    .max()
                    .unwrap_or(0),
                summary: first.summary.clone(),
                broadcast_at: broadcast.as_ref().map(|b| b.0.clone()),
                broadcast_reasons: broadcast.map(|b| b.1).unwrap_or_default(),
                since_previous_secs: None,
                concurrent: 0,
                events: evs.len(),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.opened_at, &a.incident_id).cmp(&(&b.opened_at, &b.incident_id)));
    let spans: Vec<(Millis, Millis)> = rows
        .iter()
        .map(|r| {
            let o = ms(&r.opened_at).unwrap_or(0);
            let end = r.resolved_at.as_deref().and_then(ms).unwrap_or(Millis::MAX);
            (o, end)
        })
        .collect();
    let mut gaps = Vec::new();
    for k in 0..rows.len() {
        if k > 0 {
            let g = (spans[k].0 - spans[k - 1].0) / 1000;
            rows[k].since_previous_secs = Some(g);
            gaps.push(g);
        }
        let o = spans[k].0;
        rows[k].concurrent = (0..rows.len())
            .filter(|&j| j != k && spans[j].0 <= o && o < spans[j].1)
            .count();
    }
    gaps.sort_unstable();
    Report {
        mentions: i.mentions,
        dead_letters: i.dead_letters,
        out_of_order: i.out_of_order,
        first: i.first_ms.map(rfc3339),
        last: i.last_ms.map(rfc3339),
        wall_secs: i.wall_secs,
        languages: i.languages,
        mentions_per_sec: if i.wall_secs > 0.0 {
            i.mentions as f64 / i.wall_secs
        } else {
            0.0
        },
        max_concurrent: rows.iter().map(|r| r.concurrent + 1).max().unwrap_or(0),
        median_gap_secs: gaps.get(gaps.len() / 2).copied(),
        incidents: rows,
        per_day,
    }
}

fn dur(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{:.1}h", s as f64 / 3600.0),
        s => format!("{:.1}d", s as f64 / 86400.0),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replayed {} mention(s) from {} to {} in {:.1} s ({:.0} mentions/s); {} dead letter(s), {} out of order; languages {}",
            self.mentions,
            self.first.as_deref().unwrap_or("-"),
            self.last.as_deref().unwrap_or("-"),
            self.wall_secs,
            self.mentions_per_sec,
            self.dead_letters,
            self.out_of_order,
            self.languages,
        )?;
        let broadcasts = self
            .incidents
            .iter()
            .filter(|r| r.broadcast_at.is_some())
            .count();
        writeln!(
            f,
            "{} incident(s), {} broadcast trigger(s), at most {} open at once, median gap between openings {}",
            self.incidents.len(),
            broadcasts,
            self.max_concurrent,
            self.median_gap_secs.map_or("-".into(), dur)
        )?;
        if !self.incidents.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<20} {:<12} {:<18} {:>8} {:>3} {:>7} {:>7} {:>7} {:>9} {:>7}  summary",
                "opened",
                "brand",
                "key",
                "lasted",
                "sev",
                "peak",
                "expect",
                "authors",
                "broadcast",
                "gap"
            )?;
            for r in &self.incidents {
                let broadcast = match (&r.broadcast_at, ms(&r.opened_at)) {
                    (Some(b), Some(o)) => format!("+{}", dur((ms(b).unwrap_or(o) - o) / 1000)),
                    _ => "-".into(),
                };
                writeln!(
                    f,
                    "{:<20} {:<12} {:<18} {:>8} {:>3} {:>7.0} {:>7.1} {:>7} {:>9} {:>7}  {}",
                    r.opened_at.get(..19).unwrap_or(&r.opened_at),
                    r.brand,
                    r.key,
                    r.duration_secs.map_or("open".into(), dur),
                    r.max_severity,
                    r.peak_observed,
                    r.peak_expected,
                    r.max_unique_authors,
                    broadcast,
                    r.since_previous_secs.map_or("-".into(), dur),
                    r.summary
                )?;
                for reason in &r.broadcast_reasons {
                    writeln!(f, "{:>24} broadcast because {reason}", "")?;
                }
            }
        }
        if !self.per_day.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<10} {:>6} {:>10} {:>13}",
                "day", "opened", "broadcasts", "notifications"
            )?;
            for (d, c) in &self.per_day {
                writeln!(
                    f,
                    "{d:<10} {:>6} {:>10} {:>13}",
                    c.opened, c.broadcasts, c.notifications
                )?;
            }
        }
        Ok(())
    }
}
