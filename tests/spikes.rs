//! The spike stage against the simulator's truth: injected incidents are all found early and
//! resolve about an hour after they end, and a week of seasonal traffic with no incident opens
//! none.

use std::sync::Arc;

use tocsin::clock::{ManualClock, SharedClock};
use tocsin::mention::{decode, Mention};
use tocsin::metrics::Metrics;
use tocsin::pipeline::Stage;
use tocsin::simulate::{IncidentSpec, SimConfig, Simulator};
use tocsin::stages;

const START_MS: i64 = 1_795_000_000_000;

/// Runs decode → dedup → spikes over a simulated stream; returns the incident events.
fn run(days: u64, incidents: &[&str]) -> Vec<serde_json::Value> {
    run_with(days, incidents, None, &[], true)
}

fn flush(
    stages: &mut [Box<dyn Stage>],
    batch: &mut Vec<Mention>,
    events: &mut Vec<serde_json::Value>,
) {
    for s in stages.iter_mut() {
        s.process(batch);
        for o in s.drain_outputs() {
            events.push(serde_json::from_slice(&o.payload).unwrap());
        }
    }
    batch.clear();
}

/// [`run`], restarting the spike stage at each minute of `restarts`: a new one is built from
/// the same config, after the old one shut down (`graceful`) or was dropped as in a crash.
/// With `checkpoint` set, the stage saves its state there (every 5 min of event time and at
/// shutdown) and the new one restores it.
fn run_with(
    days: u64,
    incidents: &[&str],
    checkpoint: Option<&std::path::Path>,
    restarts: &[u64],
    graceful: bool,
) -> Vec<serde_json::Value> {
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
    let mut cfg = tocsin::demo::default_config().unwrap();
    cfg.stages.spikes.checkpoint_path = checkpoint.map(|p| p.display().to_string());
    let clock = ManualClock::new(START_MS);
    let shared: SharedClock = Arc::new(clock.clone());
    let metrics = Arc::new(Metrics::new("test"));
    let mut stages = stages::build(&cfg, shared.clone(), metrics.clone()).unwrap();
    let limits = cfg.limits.decode_limits();
    let mut events = Vec::new();
    let mut batch: Vec<Mention> = Vec::with_capacity(1000);
    let mut restarts = restarts
        .iter()
        .map(|m| START_MS + *m as i64 * 60_000)
        .peekable();
    for item in sim {
        let now = item.truth.created_at_ms + 1000;
        if restarts
            .next_if(|&r| item.truth.created_at_ms >= r)
            .is_some()
        {
            flush(&mut stages, &mut batch, &mut events);
            let spikes = stages.last_mut().unwrap();
            assert_eq!(spikes.name(), "spikes");
            if graceful {
                spikes.shutdown();
            }
            // The new stage lists the brands in another order: state follows the brand ids.
            let mut again = cfg.clone();
            again.brands.reverse();
            *spikes = stages::build(&again, shared.clone(), metrics.clone())
                .unwrap()
                .pop()
                .unwrap();
        }
        clock.set(now);
        if let Ok(m) = decode(item.record, &limits, now) {
            batch.push(m);
        }
        if batch.len() == 1000 {
            flush(&mut stages, &mut batch, &mut events);
        }
    }
    flush(&mut stages, &mut batch, &mut events);
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
    let mut resolve_after = Vec::new();
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
            .find(|r| r["event"] == "resolved" && r["incident_id"] == e["incident_id"])
            .unwrap_or_else(|| panic!("{brand} never resolved"));
        // After an hour of normal traffic on every key that joined the incident: not during
        // the surge, and not hours later (1 h 53 to 8 h 21 before the hour-of-day factors
        // learnt per day rather than per bucket and the longest scale decided resolution).
        let end = onset + (s.duration_min * 60_000.0) as i64;
        let after = (ms(&resolved["resolved_at"]) - end) / 60_000;
        assert!(
            (60..=150).contains(&after),
            "{brand} resolved {after} min after its surge ended"
        );
        resolve_after.push(after);
    }
    delays.sort();
    eprintln!("opening delays in buckets after onset: {delays:?}");
    eprintln!("resolved, minutes after the surge ended: {resolve_after:?}");
    resolve_after.sort();
    assert!(resolve_after[1] <= 75, "median of {resolve_after:?}");
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

/// Decode → dedup → scoring → spikes with the mentions spread over two Kafka partitions. With
/// `lead_minutes`, partition 0 is read that far ahead of partition 1 (a backlog read unevenly).
/// Processing time advances 1 ms per mention. Returns (opened incident ids, late events).
fn run_partitioned(lead_minutes: i64) -> (Vec<String>, u64) {
    let spec = "brand=globex,lang=en,product=card,start=1600,duration=40,factor=6";
    let sim = Simulator::new(SimConfig {
        seed: 21,
        start_ms: START_MS,
        minutes: 1440 + 300,
        per_minute: 30.0,
        malformed_rate: 0.0,
        incidents: vec![IncidentSpec::parse(spec, 0).unwrap()],
        ..SimConfig::default()
    });
    let mut cfg = tocsin::demo::default_config().unwrap();
    cfg.stages.spikes.detector.min_calibration_days = 1;
    let clock = ManualClock::new(0);
    let shared: SharedClock = Arc::new(clock.clone());
    let metrics = Arc::new(Metrics::new("test"));
    let mut stages = stages::build(&cfg, shared, metrics.clone()).unwrap();
    let limits = cfg.limits.decode_limits();
    let topic: Arc<str> = Arc::from("mentions");
    let mut parts: [Vec<Mention>; 2] = [Vec::new(), Vec::new()];
    let mut in_order = Vec::new();
    for (i, item) in sim.enumerate() {
        let mut rec = item.record;
        rec.origin = tocsin::mention::Origin::Kafka {
            topic: topic.clone(),
            partition: (i % 2) as i32,
            offset: i as i64,
        };
        if let Ok(m) = decode(rec, &limits, START_MS + 10 * 86_400_000) {
            in_order.push(m.clone());
            parts[i % 2].push(m);
        }
    }
    // Reading order: chunks of `lead_minutes` of event time, partition 0's chunk first.
    let mut order: Vec<Mention> = Vec::new();
    if lead_minutes == 0 {
        order = in_order; // as generated: the partitions in step
    } else {
        let chunk = |m: &Mention| (m.created_at_ms - START_MS) / (lead_minutes * 60_000);
        let [p0, p1] = parts;
        let (mut a, mut b) = (p0.into_iter().peekable(), p1.into_iter().peekable());
        let mut c = 0;
        while a.peek().is_some() || b.peek().is_some() {
            while a.peek().is_some_and(|m| chunk(m) <= c) {
                order.push(a.next().unwrap());
            }
            while b.peek().is_some_and(|m| chunk(m) <= c) {
                order.push(b.next().unwrap());
            }
            c += 1;
        }
    }
    let mut opened = Vec::new();
    let mut now = 1_000;
    for batch in order.chunks(500) {
        let mut batch = batch.to_vec();
        now += batch.len() as i64;
        clock.set(now);
        for s in stages.iter_mut() {
            s.process(&mut batch);
            for o in s.drain_outputs() {
                let e: serde_json::Value = serde_json::from_slice(&o.payload).unwrap();
                if e["event"] == "opened" {
                    opened.push(e["incident_id"].as_str().unwrap().to_string());
                }
            }
        }
    }
    (opened, metrics.spike_late_events.get())
}

#[test]
fn partitions_read_unevenly_change_nothing() {
    let (even, late_even) = run_partitioned(0);
    let (skewed, late_skewed) = run_partitioned(45);
    assert_eq!(even.len(), 1, "the injected incident: {even:?}");
    assert_eq!(
        skewed, even,
        "same incidents when one partition runs 45 min ahead"
    );
    assert!(
        late_skewed <= late_even,
        "extra late mentions: {late_skewed} read unevenly vs {late_even} in step"
    );
}

/// Minute-aligned, so the surge starts with a bucket.
const THEME_START: i64 = START_MS + 20_000;

/// A busy brand where one theme surges: 48 mentions a minute about everything, 2 % of them
/// about logging in; on day 3, eight customers a minute cannot log in for 40 minutes. The
/// brand's volume rises 17 % (inside its noise), its "login" series sevenfold.
fn run_theme_surge(surge: bool) -> Vec<serde_json::Value> {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    let mut cfg = tocsin::demo::default_config().unwrap();
    cfg.stages.spikes.dimensions = vec![stages::spikes::Dimension::Theme];
    let clock = ManualClock::new(THEME_START);
    let shared: SharedClock = Arc::new(clock.clone());
    let metrics = Arc::new(Metrics::new("test"));
    let mut stage = stages::spikes::SpikeStage::new(
        &cfg.stages.spikes,
        &cfg.brands,
        None,
        shared,
        metrics.clone(),
    );
    let mut rng = SmallRng::seed_from_u64(5);
    let words: Vec<String> = (0..3000)
        .map(|i| {
            let c = |k: usize| (b'a' + ((i / k) % 26) as u8) as char;
            format!("{}{}{}{}ing", c(1), c(26), c(676), c(1))
        })
        .collect();
    let onset_min = 2 * 1440 + 600;
    let limits = tocsin::mention::DecodeLimits::default();
    let mut events = Vec::new();
    let mut seq = 0u64;
    for minute in 0..(2 * 1440 + 720) {
        let mut batch = Vec::new();
        let mut texts: Vec<String> = (0..48)
            .map(|_| {
                let mut t = String::from("globex");
                let n = if rng.gen_bool(0.02) { 7 } else { 8 };
                for _ in 0..n {
                    t.push(' ');
                    t.push_str(&words[rng.gen_range(0..words.len())]);
                }
                if n == 7 {
                    t.push_str(" login");
                }
                t
            })
            .collect();
        if surge && (onset_min..onset_min + 40).contains(&minute) {
            texts.extend((0..8).map(|i| format!("globex cannot login since this morning {i}")));
        }
        for text in texts {
            seq += 1;
            let at = THEME_START + minute * 60_000 + rng.gen_range(0..60_000);
            let payload = serde_json::json!({
                "id": seq.to_string(), "platform": "twitter",
                "created_at": chrono::DateTime::from_timestamp_millis(at).unwrap().to_rfc3339(),
                "text": text, "author": {"id": format!("u{seq}")}, "brand": "globex",
            });
            let raw = tocsin::mention::RawRecord {
                payload: serde_json::to_vec(&payload).unwrap(),
                key: None,
                origin: tocsin::mention::Origin::Generated { seq },
            };
            batch.push(decode(raw, &limits, at).unwrap());
        }
        clock.set(THEME_START + (minute + 1) * 60_000);
        stage.process(&mut batch);
        events.extend(
            stage
                .drain_outputs()
                .into_iter()
                .map(|o| serde_json::from_slice::<serde_json::Value>(&o.payload).unwrap()),
        );
    }
    assert!(metrics.spike_theme_entries.get() > 0, "themes learned");
    events
}

#[test]
fn a_theme_surge_inside_a_busy_brand_opens_an_incident_on_the_theme() {
    let quiet = run_theme_surge(false);
    assert!(
        opened(&quiet).is_empty(),
        "no surge, no incident: {:#?}",
        opened(&quiet)
            .iter()
            .map(|e| &e["summary"])
            .collect::<Vec<_>>()
    );
    let events = run_theme_surge(true);
    let open = opened(&events);
    assert_eq!(
        open.len(),
        1,
        "{:#?}",
        open.iter().map(|e| &e["summary"]).collect::<Vec<_>>()
    );
    let e = open[0];
    assert_eq!(e["key"]["dimension"], "theme", "{e}");
    assert_eq!(e["key"]["value"], "login", "{e}");
    let onset = THEME_START + (2 * 1440 + 600) * 60_000;
    let delay = (ms(&e["opened_at"]) - onset) / 60_000;
    assert!(
        (0..=2).contains(&delay),
        "opened {delay} buckets after onset"
    );
    // The explanation is about the theme's mentions.
    let samples = e["explanation"]["samples"].as_array().unwrap();
    assert!(
        samples
            .iter()
            .all(|s| s["text"].as_str().unwrap().contains("login")),
        "{e}"
    );
}

/// What decides an incident's life, without the explanation (the recent-mention buffer that
/// feeds samples and shares is not checkpointed).
fn lifecycle(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} sev {} key {} stats {}",
                e["event"], e["incident_id"], e["at"], e["severity"], e["key"], e["stats"]
            )
        })
        .collect()
}

#[test]
fn a_restart_with_a_checkpoint_changes_no_decision() {
    // A surge on day 3 (minute 3000 to 3045); restarts before it and in the middle of it.
    let spec = ["brand=northwind,lang=fr,product=app,start=3000,duration=45,factor=5"];
    let restarts = [2 * 1440 + 100, 3020];
    let straight = run(3, &spec);
    assert!(
        straight.iter().any(|e| e["event"] == "opened"),
        "the surge opens an incident"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spikes.checkpoint");
    let restarted = run_with(3, &spec, Some(&path), &restarts, true);
    assert!(path.exists());
    assert_eq!(lifecycle(&restarted), lifecycle(&straight));
    // The incident open across the second restart resolves under its own id.
    let resolved: Vec<_> = restarted
        .iter()
        .filter(|e| e["event"] == "resolved")
        .collect();
    assert!(!resolved.is_empty(), "{:#?}", lifecycle(&restarted));

    // Without a checkpoint the restarted detectors calibrate again and miss the surge.
    let amnesiac = run_with(3, &spec, None, &restarts, true);
    assert!(opened(&amnesiac).is_empty(), "{:#?}", lifecycle(&amnesiac));

    // A crash loses what came after the last periodic checkpoint (up to 5 minutes here, which
    // Kafka would redeliver): the surge is still found, early, and resolves under its id.
    std::fs::remove_file(&path).unwrap();
    let crashed = run_with(3, &spec, Some(&path), &restarts, false);
    let open = opened(&crashed);
    assert_eq!(open.len(), 1, "{:#?}", lifecycle(&crashed));
    assert_eq!(open[0]["incident_id"], opened(&straight)[0]["incident_id"]);
    assert!(crashed
        .iter()
        .any(|e| e["event"] == "resolved" && e["incident_id"] == open[0]["incident_id"]));

    // A checkpoint from another bucket length is not used: the stage starts fresh.
    let mut cfg = tocsin::demo::default_config().unwrap();
    cfg.stages.spikes.bucket_secs = 300;
    cfg.stages.spikes.checkpoint_path = Some(path.display().to_string());
    let metrics = Arc::new(Metrics::new("test"));
    let shared: SharedClock = Arc::new(ManualClock::new(START_MS));
    let mut s = stages::spikes::SpikeStage::new(
        &cfg.stages.spikes,
        &cfg.brands,
        None,
        shared,
        metrics.clone(),
    );
    let err = s.restore_checkpoint(&path).unwrap_err().to_string();
    assert!(err.contains("bucket_secs = 60"), "{err}");
    s.restore_configured();
    assert_eq!(metrics.spike_checkpoint_errors.get(), 1);
    // A torn or foreign file is refused the same way.
    std::fs::write(&path, b"not cbor").unwrap();
    cfg.stages.spikes.bucket_secs = 60;
    let mut s = stages::spikes::SpikeStage::new(
        &cfg.stages.spikes,
        &cfg.brands,
        None,
        Arc::new(ManualClock::new(START_MS)),
        metrics,
    );
    let err = s.restore_checkpoint(&path).unwrap_err().to_string();
    assert!(err.contains("delete it to start fresh"), "{err}");
}
