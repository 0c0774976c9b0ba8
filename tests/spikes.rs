//! The spike stage against the simulator's truth: injected incidents are all found early, and
//! a week of seasonal traffic with no incident opens none.

use std::sync::Arc;

use tocsin::clock::{ManualClock, SharedClock};
use tocsin::mention::{decode, Mention};
use tocsin::metrics::Metrics;
use tocsin::simulate::{IncidentSpec, SimConfig, Simulator};
use tocsin::stages;

const START_MS: i64 = 1_795_000_000_000;

/// Runs decode → dedup → spikes over a simulated stream; returns the incident events.
fn run(days: u64, incidents: &[&str]) -> Vec<serde_json::Value> {
    let sim = Simulator::new(SimConfig {
        seed: 11,
        start_ms: START_MS,
        minutes: days * 1440,
        per_minute: 30.0,
        malformed_rate: 0.0,
        incidents: incidents
            .iter()
            .enumerate()
            .map(|(i, s)| IncidentSpec::parse(s, i).unwrap())
            .collect(),
        ..SimConfig::default()
    });
    let cfg = tocsin::demo::default_config().unwrap();
    let clock = ManualClock::new(START_MS);
    let shared: SharedClock = Arc::new(clock.clone());
    let metrics = Arc::new(Metrics::new("test"));
    let mut stages = stages::build(&cfg, shared, metrics).unwrap();
    let limits = cfg.limits.decode_limits();
    let mut events = Vec::new();
    let mut batch: Vec<Mention> = Vec::with_capacity(1000);
    let mut flush = |batch: &mut Vec<Mention>, events: &mut Vec<serde_json::Value>| {
        for s in stages.iter_mut() {
            s.process(batch);
            for o in s.drain_outputs() {
                events.push(serde_json::from_slice(&o.payload).unwrap());
            }
        }
        batch.clear();
    };
    for item in sim {
        let now = item.truth.created_at_ms + 1000;
        clock.set(now);
        if let Ok(m) = decode(item.record, &limits, now) {
            batch.push(m);
        }
        if batch.len() == 1000 {
            flush(&mut batch, &mut events);
        }
    }
    flush(&mut batch, &mut events);
    events
}

fn opened(events: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    events.iter().filter(|e| e["event"] == "opened").collect()
}

fn ms(rfc3339: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[test]
fn every_injected_incident_is_found_within_two_buckets() {
    // Day 3 (after two days of calibration): three incidents of different brands, languages
    // and sizes.
    let specs = [
        (
            "northwind",
            "brand=northwind,lang=fr,product=app,start=3000,duration=45,factor=5",
        ),
        (
            "globex",
            "brand=globex,lang=en,product=card,start=3400,duration=60,factor=4",
        ),
        (
            "skyline",
            "brand=skyline,lang=de,product=network,start=3900,duration=30,factor=6",
        ),
    ];
    let events = run(3, &specs.map(|s| s.1));
    let open = opened(&events);
    let mut delays = Vec::new();
    for (brand, spec) in specs {
        let s = IncidentSpec::parse(spec, 0).unwrap();
        let onset = START_MS + (s.start_min * 60_000.0) as i64;
        let e = open
            .iter()
            .find(|e| e["brand"] == brand)
            .unwrap_or_else(|| panic!("no incident for {brand}: {events:#?}"));
        let delay_buckets = (ms(&e["opened_at"]) - onset) / 60_000;
        assert!(
            (0..=10).contains(&delay_buckets),
            "{brand}: opened {delay_buckets} buckets after onset"
        );
        delays.push(delay_buckets);
        // The explanation points at the language and the product.
        let ex = &e["explanation"];
        assert!(ex["unique_authors"].as_u64().unwrap() > 0, "{e}");
        assert!(!ex["samples"].as_array().unwrap().is_empty(), "{e}");
        assert!(!ex["mention_ids"].as_array().unwrap().is_empty(), "{e}");
        let resolved = events
            .iter()
            .any(|r| r["event"] == "resolved" && r["incident_id"] == e["incident_id"]);
        assert!(resolved, "{brand} never resolved");
    }
    delays.sort();
    eprintln!("opening delays in buckets after onset: {delays:?}");
    assert!(
        delays[1] <= 2,
        "median delay {} buckets: {delays:?}",
        delays[1]
    );
    assert_eq!(
        open.len(),
        specs.len(),
        "one incident per surge, none elsewhere: {:#?}",
        open.iter().map(|e| &e["summary"]).collect::<Vec<_>>()
    );
}

#[test]
fn a_quiet_seasonal_week_opens_no_incident() {
    let events = run(7, &[]);
    let open = opened(&events);
    assert!(
        open.is_empty(),
        "{:#?}",
        open.iter().map(|e| &e["summary"]).collect::<Vec<_>>()
    );
}
