//! Alert routing against the real Prometheus Alertmanager (Debian `prometheus-alertmanager`,
//! started on loopback with a temporary config) and local HTTP receivers:
//!
//! - a simulated incident run through the whole pipeline reaches Alertmanager with the right
//!   labels and annotations, grouped, then resolves; the broadcast alert carries drafts in the
//!   incident's language and later mentions are marked as covered;
//! - Alertmanager stopped during an incident: notifications queue in the outbox and arrive
//!   after the restart, none lost, none duplicated, and the other receivers are not held up;
//! - a silence created with `amtool` mutes the incident's alert;
//! - a receiver that rejects a notification (HTTP 400) does not block the queue.
//!
//! Without the Alertmanager binaries these tests say so and pass, unless
//! `TOCSIN_REQUIRE_EXTERNAL=1` (set by `.ci/run`) makes that a failure.

use crate::common;

use common::alertmanager::{am_notices, have_alertmanager, hits_on, wait_for, webhook, Am};

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tocsin::alerting::event::IncidentEvent;
use tocsin::alerting::{Alerter, AlertingConfig};
use tocsin::metrics::Metrics;
use tocsin::pipeline::{Health, Shutdown};
use tocsin::sources::{generator::GeneratorSource, Source};

fn alerting_config(toml_text: &str, outbox: &std::path::Path) -> AlertingConfig {
    let mut c: AlertingConfig = toml::from_str(toml_text).unwrap();
    c.outbox = outbox.display().to_string();
    let mut problems = Vec::new();
    c.validate(&mut |p, m| problems.push(format!("{p}: {m}")));
    assert!(problems.is_empty(), "{problems:?}");
    c
}

/// A running alerter for `cfg`, with its metrics.
fn start(cfg: &AlertingConfig) -> (Alerter, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new("test"));
    let alerter = Alerter::start(cfg, "test", metrics.clone())
        .unwrap()
        .unwrap();
    (alerter, metrics)
}

fn incident(brand: &str, event: &str, minutes_ago: i64) -> IncidentEvent {
    let now = chrono::Utc::now();
    let t = |m: i64| {
        (now - chrono::Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut ev = IncidentEvent {
        event: event.into(),
        incident_id: format!("{brand}-test"),
        brand: brand.into(),
        opened_at: t(30),
        at: t(minutes_ago),
        resolved_at: (event == "resolved").then(|| t(minutes_ago)),
        severity: 6,
        summary: format!("{brand}: 80 unique authors in 5 min vs 4.0 expected"),
        ..Default::default()
    };
    ev.explanation.unique_authors = 80;
    ev.labels.insert("level".into(), "6".into());
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_down_during_an_incident_loses_and_duplicates_nothing() {
    if !have_alertmanager() {
        return;
    }
    let (hook, hits) = webhook().await;
    let mut am = Am::start(&hook);
    let outbox = tempfile::tempdir().unwrap();
    let cfg = alerting_config(
        &format!(
            r#"
initial_backoff_ms = 100
max_backoff_secs = 1
alertmanager_resend_secs = 2
[[receivers]]
name = "am"
type = "alertmanager"
url = "{}"
[[receivers]]
name = "care"
type = "webhook"
url = "{hook}/care"
[[receivers]]
name = "broken"
type = "webhook"
url = "{hook}/reject"
"#,
            am.url()
        ),
        outbox.path(),
    );
    let (alerter, metrics) = start(&cfg);
    let id = "northwind-test";

    alerter
        .enqueue_event(&incident("northwind", "opened", 25))
        .unwrap();
    wait_for("the firing notification from Alertmanager", 20, || {
        am_notices(&hits, id).contains(&("firing".into(), "tocsin_incident".into()))
    })
    .await;

    am.stop();
    alerter
        .enqueue_event(&incident("northwind", "updated", 15))
        .unwrap();
    alerter
        .enqueue_event(&incident("northwind", "resolved", 5))
        .unwrap();
    // The webhook receiver is not held up by Alertmanager being down.
    wait_for("the care webhook to get all three events", 10, || {
        hits_on(&hits, "/care").len() == 3
    })
    .await;
    wait_for("retries against the stopped Alertmanager", 10, || {
        metrics
            .notifications
            .with_label_values(&["am", "retried"])
            .get()
            >= 2
    })
    .await;
    assert_eq!(
        alerter.queued()["am"],
        2,
        "updated and resolved wait in the outbox"
    );

    am.spawn();
    wait_for("the resolved notification after the restart", 30, || {
        am_notices(&hits, id).contains(&("resolved".into(), "tocsin_incident".into()))
    })
    .await;
    // Give Alertmanager time to send anything extra it would.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        am_notices(&hits, id),
        [
            ("firing".to_string(), "tocsin_incident".to_string()),
            ("resolved".to_string(), "tocsin_incident".to_string())
        ],
        "one firing and one resolved notification, nothing lost or repeated"
    );
    let care = hits_on(&hits, "/care");
    let mut keys: Vec<_> = care.iter().map(|(k, _)| k.clone().unwrap()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "three distinct idempotency keys");
    let events: Vec<_> = care
        .iter()
        .map(|(_, v)| v["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["opened", "updated", "resolved"], "in order");
    assert_eq!(care[2].1["status"], "resolved");
    assert_eq!(care[0].1["alert"]["labels"]["brand"], "northwind");

    // The rejecting receiver: every notification tried once, kept aside, none blocking.
    wait_for("the broken receiver's failures", 10, || {
        metrics
            .notifications
            .with_label_values(&["broken", "failed"])
            .get()
            == 3
    })
    .await;
    let failed = std::fs::read_to_string(outbox.path().join("broken/failed.jsonl")).unwrap();
    assert_eq!(failed.lines().count(), 3);
    assert!(failed.contains("HTTP 400"), "{failed}");

    let left = alerter.shutdown(Some(Duration::from_secs(5))).await;
    assert!(left.is_empty(), "outboxes drained: {left:?}");
    assert_eq!(
        metrics
            .notifications
            .with_label_values(&["am", "sent"])
            .get(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amtool_silence_mutes_the_incident() {
    if !have_alertmanager() {
        return;
    }
    let (hook, hits) = webhook().await;
    let am = Am::start(&hook);
    am.amtool(&[
        "silence",
        "add",
        "brand=globex",
        "--comment=planned maintenance",
        "--author=test",
        "--duration=1h",
    ]);
    let outbox = tempfile::tempdir().unwrap();
    let cfg = alerting_config(
        &format!(
            "[[receivers]]\nname = \"am\"\ntype = \"alertmanager\"\nurl = \"{}\"\n",
            am.url()
        ),
        outbox.path(),
    );
    let (alerter, _metrics) = start(&cfg);
    alerter
        .enqueue_event(&incident("globex", "opened", 20))
        .unwrap();
    alerter
        .enqueue_event(&incident("skyline", "opened", 20))
        .unwrap();
    wait_for("the unsilenced brand's notification", 20, || {
        !am_notices(&hits, "skyline-test").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        am_notices(&hits, "globex-test").is_empty(),
        "the silenced alert was not sent"
    );
    let silenced = am.amtool(&["alert", "query", "--silenced", "brand=globex", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&silenced).unwrap();
    let alerts = v.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{silenced}");
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["labels"]["alertname"], "tocsin_incident");
    alerter.shutdown(Some(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_incident_flows_from_mentions_to_alertmanager_and_back() {
    if !have_alertmanager() {
        return;
    }
    let (hook, hits) = webhook().await;
    let am = Am::start(&hook);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tocsin::demo::default_config().unwrap();
    cfg.stages.spikes.detector.min_calibration_days = 1;
    cfg.stages.spikes.detector.resolve_after_secs = 600;
    common::file_outputs(&mut cfg, dir.path());
    let alerting = format!(
        r#"
dashboard_url = "http://grafana.local/d/tocsin-brands"
extra_labels = {{ team = "care" }}
alertmanager_resend_secs = 2
[broadcast]
min_unique_authors = 10
min_growth = 3.0
status_url = "https://status.northwind.example"
[[receivers]]
name = "am"
type = "alertmanager"
url = "{}"
[[receivers]]
name = "comms"
type = "webhook"
url = "{hook}/comms"
format = "slack"
[route]
receiver = "am"
[[route.routes]]
matchers = ['alertname="broadcast_update_needed"']
receiver = "comms"
continue = true
[[route.routes]]
matchers = ['brand=~".+"']
receiver = "am"
"#,
        am.url()
    );
    cfg.alerting = alerting_config(&alerting, &dir.path().join("outbox"));
    cfg.validate(std::path::Path::new("test")).unwrap();

    // One day of history (calibration), then a French login outage, then calm.
    // A fixed stretch of time; Alertmanager takes alerts from the past.
    let (sim, live_from) = common::outage_day(100, 0.0);
    // History at full speed; the last 100 simulated minutes over ~8 s of wall time, so that
    // Alertmanager sees the alert firing before it resolves.
    let source = Source::Generator(GeneratorSource::simulated(sim, live_from, 250.0));
    let metrics = Arc::new(Metrics::new("test"));
    let clock = tocsin::clock::system();
    let stages = tocsin::stages::build(&cfg, clock.clone(), metrics.clone()).unwrap();
    let (_shutdown, stop) = Shutdown::new();
    let pipeline = tocsin::assemble::pipeline(
        &cfg,
        stages,
        clock,
        metrics.clone(),
        Arc::new(Health::default()),
        stop.clone(),
    )
    .await
    .unwrap();
    pipeline.run(source, stop).await.unwrap();

    let (events, _) = tocsin::alerting::history::read_file(
        &dir.path().join("incidents.jsonl").display().to_string(),
    )
    .unwrap();
    for e in &events {
        eprintln!(
            "{} {} {} sev {} {}",
            e.event,
            e.at,
            e.broadcast.as_ref().map_or("-", |b| b.kind.as_str()),
            e.severity,
            e.summary
        );
    }
    let states = tocsin::alerting::history::fold(events.clone());
    assert_eq!(states.len(), 1, "one incident: {states:#?}");
    let inc = &states[0];
    assert_eq!(
        (inc.brand.as_str(), inc.state.as_str()),
        ("northwind", "resolved")
    );
    assert_eq!(
        inc.broadcast.as_deref(),
        Some("resolved"),
        "broadcast, then its resolution"
    );

    wait_for("Alertmanager's resolved notifications", 30, || {
        am_notices(&hits, &inc.incident_id)
            .iter()
            .filter(|(s, _)| s == "resolved")
            .count()
            == 2
    })
    .await;
    let all_am = hits_on(&hits, "/am");
    let firing = all_am
        .iter()
        .map(|(_, v)| v)
        .find(|v| v["status"] == "firing" && v["groupLabels"]["alertname"] == "tocsin_incident")
        .expect("the incident alert fired in Alertmanager");
    let alert = &firing["alerts"][0];
    let labels = &alert["labels"];
    for (k, want) in [
        ("brand", "northwind"),
        ("team", "care"),
        ("pipeline", "demo"),
    ] {
        assert_eq!(labels[k], want, "{k}: {labels}");
    }
    for k in ["lang", "intent", "platform", "level", "key"] {
        assert!(
            labels[k].as_str().is_some_and(|v| !v.is_empty()),
            "{k}: {labels}"
        );
    }
    assert!(["info", "warning", "critical"].contains(&labels["severity"].as_str().unwrap()));
    assert_eq!(
        firing["groupLabels"]["incident_id"],
        inc.incident_id.as_str(),
        "grouped per incident"
    );
    let ann = &alert["annotations"];
    assert!(
        ann["summary"].as_str().unwrap().starts_with("northwind"),
        "{ann}"
    );
    assert!(
        ann["description"]
            .as_str()
            .unwrap()
            .contains("unique authors"),
        "{ann}"
    );
    assert!(
        ann["dashboard"]
            .as_str()
            .unwrap()
            .contains("var-brand=northwind"),
        "{ann}"
    );
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("http://grafana.local"));

    let broadcast = all_am
        .iter()
        .map(|(_, v)| v)
        .find(|v| v["groupLabels"]["alertname"] == "broadcast_update_needed")
        .expect("the broadcast alert reached Alertmanager");
    let b = &broadcast["alerts"][0]["annotations"];
    // Drafts in the incident's main languages (English when they have no template).
    let langs = b["languages"].as_str().unwrap();
    let first = langs.split(',').next().unwrap();
    let draft = b[format!("status_update_{first}")]
        .as_str()
        .expect("a draft");
    assert!(
        draft.contains("Northwind Air") && draft.contains("https://status.northwind.example"),
        "{draft}"
    );
    assert!(!b["affected_mention_ids"].as_str().unwrap().is_empty());
    // The Slack-style receiver only gets broadcast notifications (routing with `continue`).
    let comms = hits_on(&hits, "/comms");
    assert!(!comms.is_empty());
    for (_, v) in &comms {
        let text = v["text"].as_str().unwrap();
        assert!(
            text.contains("Draft status update") || text.contains("RESOLVED"),
            "{text}"
        );
    }
    // Mentions after the broadcast point agents to the public update.
    let enriched = std::fs::read_to_string(dir.path().join("enriched.jsonl")).unwrap();
    let covered: Vec<serde_json::Value> = enriched
        .lines()
        .filter(|l| l.contains("\"covered_by\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!covered.is_empty(), "no mention was marked as covered");
    let c = &covered[0];
    assert_eq!(c["covered_by"]["incident_id"], inc.incident_id.as_str());
    assert!(c["covered_by"]["reply"]
        .as_str()
        .unwrap()
        .contains("https://status.northwind.example"));
    assert_eq!(
        metrics
            .notifications
            .with_label_values(&["am", "failed"])
            .get(),
        0
    );
}

#[test]
fn the_shipped_alertmanager_config_is_valid() {
    if !have_alertmanager() {
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/alertmanager.yml");
    let out = Command::new("amtool")
        .args(["check-config", path])
        .output()
        .expect("run amtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Kafka receiver, and `tocsin incidents` reading a topic, against librdkafka's mock
/// cluster (the real protocol on loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_receiver_and_incident_topic() {
    let kafka = common::Kafka::start(3);
    for t in ["alerts", "incidents"] {
        kafka.cluster.create_topic(t, 3, 1).unwrap();
    }
    let outbox = tempfile::tempdir().unwrap();
    let cfg = alerting_config(
        &format!(
            "[[receivers]]\nname = \"bus\"\ntype = \"kafka\"\nbrokers = \"{}\"\ntopic = \"alerts\"\n",
            kafka.brokers
        ),
        outbox.path(),
    );
    let (alerter, metrics) = start(&cfg);
    let events = [
        incident("lumo", "opened", 20),
        incident("lumo", "resolved", 2),
    ];
    for e in &events {
        alerter.enqueue_event(e).unwrap();
        // A replayed event (after a crash) is not a second message.
        alerter.enqueue_event(e).unwrap();
    }
    let left = alerter.shutdown(Some(Duration::from_secs(20))).await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        metrics
            .notifications
            .with_label_values(&["bus", "duplicate"])
            .get(),
        2
    );
    let got = kafka.read_all("alerts", 3, 2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    let mut statuses: Vec<_> = got
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["firing", "resolved"]);
    assert!(got.iter().all(|r| r
        .key
        .as_deref()
        .is_some_and(|k| k.starts_with("lumo-test/tocsin_incident/"))));

    let p = kafka.producer();
    for e in &events {
        let body = serde_json::to_vec(e).unwrap();
        p.send(
            rdkafka::producer::FutureRecord::to("incidents")
                .key(&e.incident_id)
                .payload(&body),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    let brokers = kafka.brokers.clone();
    let (read, bad) = tokio::task::spawn_blocking(move || {
        tocsin::alerting::history::read_kafka(&brokers, "incidents", Duration::from_secs(5))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((read.len(), bad), (2, 0));
    let states = tocsin::alerting::history::fold(read);
    assert_eq!(states[0].state, "resolved");
}
