//! `tocsin incidents`: folds incident events (from the incidents file or Kafka topic) into each
//! incident's current state, and lists open and recent ones.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use super::event::IncidentEvent;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentState {
    pub incident_id: String,
    pub brand: String,
    /// `open` or `resolved`.
    pub state: String,
    pub opened_at: String,
    pub last_event_at: String,
    pub resolved_at: Option<String>,
    pub severity: u8,
    pub peak_severity: u8,
    pub events: usize,
    /// Kind of the last broadcast draft (initial, reminder, resolved), if any.
    pub broadcast: Option<String>,
    pub unique_authors: u64,
    pub key: String,
    pub summary: String,
}

/// Latest state of every incident: open ones first, then the most recently opened.
pub fn fold(events: impl IntoIterator<Item = IncidentEvent>) -> Vec<IncidentState> {
    let mut by_id: HashMap<String, IncidentState> = HashMap::new();
    for ev in events {
        let s = by_id
            .entry(ev.incident_id.clone())
            .or_insert_with(|| IncidentState {
                incident_id: ev.incident_id.clone(),
                brand: ev.brand.clone(),
                state: "open".into(),
                opened_at: ev.opened_at.clone(),
                last_event_at: String::new(),
                resolved_at: None,
                severity: 0,
                peak_severity: 0,
                events: 0,
                broadcast: None,
                unique_authors: 0,
                key: ev.key.label(),
                summary: String::new(),
            });
        s.events += 1;
        s.last_event_at = ev.at.clone();
        s.severity = ev.severity;
        s.peak_severity = s.peak_severity.max(ev.severity);
        s.unique_authors = s.unique_authors.max(ev.explanation.unique_authors);
        if let Some(b) = &ev.broadcast {
            s.broadcast = Some(b.kind.clone());
        }
        if ev.is_resolved() {
            s.state = "resolved".into();
            s.resolved_at = ev.resolved_at.clone();
        } else {
            s.summary = ev.summary.clone();
        }
    }
    let mut v: Vec<IncidentState> = by_id.into_values().collect();
    v.sort_by(|a, b| {
        (
            a.state != "open",
            std::cmp::Reverse(&a.opened_at),
            &a.incident_id,
        )
            .cmp(&(
                b.state != "open",
                std::cmp::Reverse(&b.opened_at),
                &b.incident_id,
            ))
    });
    v
}

/// Events of a JSON-lines file; lines that do not parse are counted, not fatal.
pub fn read_file(path: &str) -> std::io::Result<(Vec<IncidentEvent>, usize)> {
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    let mut bad = 0;
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<IncidentEvent>(&line) {
            Ok(e) if !e.incident_id.is_empty() => out.push(e),
            _ => bad += 1,
        }
    }
    Ok((out, bad))
}

/// Every event of a Kafka topic, read from the start to the current end (no group, no commit).
pub fn read_kafka(
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<(Vec<IncidentEvent>, usize), rdkafka::error::KafkaError> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "tocsin-incidents-cli")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let md = c.fetch_metadata(Some(topic), timeout)?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for &p in &parts {
        let (lo, hi) = c.fetch_watermarks(topic, p, timeout)?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            ends.insert(p, hi);
        }
    }
    let mut out = Vec::new();
    let mut bad = 0;
    if ends.is_empty() {
        return Ok((out, bad));
    }
    c.assign(&tpl)?;
    let deadline = Instant::now() + timeout * 4;
    while !ends.is_empty() && Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                match m
                    .payload()
                    .and_then(|p| serde_json::from_slice::<IncidentEvent>(p).ok())
                {
                    Some(e) => out.push(e),
                    None => bad += 1,
                }
                if ends
                    .get(&m.partition())
                    .is_some_and(|&hi| m.offset() + 1 >= hi)
                {
                    ends.remove(&m.partition());
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                ends.remove(&p);
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok((out, bad))
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read incidents from {path}: {source}; give --input FILE or --config PIPELINE")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read topic {topic} from {brokers}: {reason}; check the brokers")]
    Kafka {
        topic: String,
        brokers: String,
        reason: String,
    },
}

/// What `tocsin incidents` prints (`text`) and says on standard error (`notes`).
pub struct Report {
    pub text: String,
    pub notes: Vec<String>,
}

/// The incidents of `input` (else of the pipeline's incidents sink, else
/// `tocsin-incidents.jsonl`): open ones and the 20 most recent (`all`: every one), as a table or
/// JSON lines; notes count records that were not incident events and queued notifications.
pub fn report(
    cfg: Option<&crate::config::PipelineConfig>,
    input: Option<&str>,
    all: bool,
    json: bool,
) -> Result<Report, HistoryError> {
    use crate::config::{FileSinkConfig, SinkConfig};
    let file = |path: &str| {
        read_file(path).map_err(|source| HistoryError::File {
            path: path.to_string(),
            source,
        })
    };
    let (events, bad) = match (input, cfg.map(|c| &c.stages.spikes.incidents)) {
        (Some(path), _) => file(path)?,
        (None, Some(SinkConfig::File(FileSinkConfig { path, .. }))) => file(path)?,
        (None, Some(SinkConfig::Kafka(k))) => {
            read_kafka(&k.brokers, &k.topic, Duration::from_secs(10)).map_err(|source| {
                HistoryError::Kafka {
                    topic: k.topic.clone(),
                    brokers: k.brokers.clone(),
                    reason: source.to_string(),
                }
            })?
        }
        (None, None) => file("tocsin-incidents.jsonl")?,
    };
    let mut states = fold(events);
    let open = states.iter().filter(|s| s.state == "open").count();
    if !all {
        states.truncate(open + 20);
    }
    let mut out = String::new();
    if json {
        for s in &states {
            out += &serde_json::to_string(s).unwrap_or_default();
            out.push('\n');
        }
    } else {
        out += &table(&states);
        out += &format!("{open} open, {} listed\n", states.len());
    }
    let mut notes = Vec::new();
    if bad > 0 {
        notes.push(format!("warning: {bad} record(s) were not incident events"));
    }
    if let Some(cfg) = cfg {
        for r in &cfg.alerting.receivers {
            let dir = std::path::Path::new(&cfg.alerting.outbox).join(&r.name);
            if dir.exists() {
                let n = super::outbox::Outbox::pending(&dir).unwrap_or(0);
                notes.push(format!("receiver {}: {n} notification(s) queued", r.name));
            }
        }
    }
    Ok(Report { text: out, notes })
}

/// A fixed-width table for a terminal.
pub fn table(states: &[IncidentState]) -> String {
    let mut out = format!(
        "{:<34} {:<9} {:>3} {:>4} {:<20} {:<20} {:<9} {}\n",
        "INCIDENT", "STATE", "SEV", "PEAK", "OPENED", "LAST EVENT", "BROADCAST", "SUMMARY"
    );
    for s in states {
        let summary: String = s.summary.chars().take(90).collect();
        out += &format!(
            "{:<34} {:<9} {:>3} {:>4} {:<20} {:<20} {:<9} {}\n",
            s.incident_id,
            s.state,
            s.severity,
            s.peak_severity,
            s.opened_at,
            s.last_event_at,
            s.broadcast.as_deref().unwrap_or("-"),
            summary
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, event: &str, at: &str, sev: u8) -> IncidentEvent {
        IncidentEvent {
            event: event.into(),
            incident_id: id.into(),
            brand: id.split('-').next().unwrap().into(),
            opened_at: format!("2026-11-23T{}:00:00Z", &id[id.len() - 2..]),
            at: at.into(),
            severity: sev,
            resolved_at: (event == "resolved").then(|| at.to_string()),
            summary: format!("{id} {event}"),
            ..Default::default()
        }
    }

    #[test]
    fn folds_events_into_states_open_first() {
        let s = fold(vec![
            ev("a-10", "opened", "10:01", 4),
            ev("b-11", "opened", "11:01", 3),
            ev("a-10", "updated", "10:11", 8),
            ev("a-10", "resolved", "10:40", 8),
            ev("c-09", "opened", "09:01", 5),
        ]);
        let ids: Vec<_> = s.iter().map(|s| s.incident_id.as_str()).collect();
        assert_eq!(ids, ["b-11", "c-09", "a-10"]);
        let a = &s[2];
        assert_eq!(
            (a.state.as_str(), a.events, a.peak_severity),
            ("resolved", 3, 8)
        );
        assert_eq!(
            a.summary, "a-10 updated",
            "the last summary of the open incident"
        );
        assert!(table(&s).lines().nth(1).unwrap().starts_with("b-11"));
    }
}
