//! The docker-compose stack, checked without a Docker engine: the file parses as YAML, every
//! service names a real, pinned image and the ports users expect, the files it mounts exist, and
//! the services point at each other consistently (Prometheus → Tocsin and Alertmanager, Grafana
//! → Prometheus, topics created = topics the production pipeline uses). Compose's own parser
//! (Debian's `docker-compose`, which needs no engine for `config`) then validates it against
//! the Compose schema, and `promtool` the Prometheus config it mounts with the rules it loads.

use crate::common;
use serde_norway::Value;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A file of the project, by its path from the root.
fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_names_real_images_ports_and_existing_files() {
    let c = yaml("docker-compose.yml");
    for (name, image, port) in [
        ("kafka", "apache/kafka:", Some("9092:9092")),
        ("prometheus", "prom/prometheus:", Some("9090:9090")),
        ("alertmanager", "prom/alertmanager:", Some("9093:9093")),
        ("grafana", "grafana/grafana:", Some("3000:3000")),
        ("topics", "apache/kafka:", None),
    ] {
        let s = service(&c, name);
        let img = s["image"].as_str().unwrap_or_default();
        assert!(img.starts_with(image), "{name}: image {img}");
        let tag = img.rsplit(':').next().unwrap().trim_start_matches('v');
        assert!(
            tag.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{name}: pin a version, not {tag}"
        );
        if let Some(p) = port {
            assert!(
                strings(&s["ports"]).contains(&p.to_string()),
                "{name}: port {p}"
            );
        }
    }
    for name in ["tocsin", "simulator"] {
        assert_eq!(
            service(&c, name)["build"].as_str(),
            Some("."),
            "{name} builds the Dockerfile"
        );
    }
    assert!(strings(&service(&c, "tocsin")["ports"]).contains(&"9464:9464".to_string()));
    // Every host path mounted exists.
    for (name, s) in c["services"].as_mapping().unwrap() {
        for v in strings(&s["volumes"]) {
            let host = v.split(':').next().unwrap();
            if host.starts_with("./") {
                assert!(
                    Path::new(ROOT).join(host).exists(),
                    "{name:?} mounts {host}, which does not exist"
                );
            }
        }
    }
    // Tocsin runs the shipped production pipeline, which the image carries.
    let cmd = strings(&service(&c, "tocsin")["command"]);
    assert_eq!(cmd[0], "run");
    let inside = cmd[1]
        .strip_prefix("/etc/tocsin/")
        .expect("the Dockerfile copies pipelines/ to /etc/tocsin/pipelines");
    assert!(Path::new(ROOT).join(inside).exists(), "{inside}");
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("COPY pipelines /etc/tocsin/pipelines"));
}

#[test]
fn services_point_at_each_other() {
    let c = yaml("docker-compose.yml");
    let prom = yaml("deploy/prometheus.yml");
    let target = |job: usize| strings(&prom["scrape_configs"][job]["static_configs"][0]["targets"]);
    assert_eq!(
        target(0),
        ["tocsin:9464"],
        "Prometheus scrapes Tocsin's metrics port"
    );
    assert_eq!(
        strings(&prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]),
        ["alertmanager:9093"]
    );
    // Rules are mounted where prometheus.yml loads them from.
    let rule_file = strings(&prom["rule_files"])[0].clone();
    let mounts = strings(&service(&c, "prometheus")["volumes"]);
    assert!(
        mounts
            .iter()
            .any(|m| m == "./deploy/rules:/etc/prometheus/rules:ro")
            && rule_file == "/etc/prometheus/rules/tocsin.yml",
        "{mounts:?} {rule_file}"
    );
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        ds["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let env = &service(&c, "tocsin")["environment"];
    assert_eq!(env["TOCSIN_KAFKA_BROKERS"].as_str(), Some("kafka:9092"));
    assert_eq!(
        env["TOCSIN_ALERTMANAGER_URL"].as_str(),
        Some("http://alertmanager:9093")
    );
    // The topics the production pipeline uses are created.
    let created = strings(&service(&c, "topics")["command"]).join(" ");
    let cfg =
        tocsin::config::PipelineConfig::load(&Path::new(ROOT).join("pipelines/production.toml"))
            .unwrap();
    let mut used = Vec::new();
    if let tocsin::config::SourceConfig::Kafka(k) = &cfg.source {
        used.extend(k.topics.clone());
    }
    for s in [&cfg.sink, &cfg.dead_letter, &cfg.stages.spikes.incidents] {
        if let tocsin::config::SinkConfig::Kafka(k) = s {
            used.push(k.topic.clone());
        }
    }
    assert_eq!(used.len(), 4);
    for t in used {
        assert!(
            created.contains(&format!(" {t} ")) || created.contains(&format!(" {t};")),
            "topic {t} is not created: {created}"
        );
    }
}

/// `docker-compose config` resolves the file with Compose's own loader and schema: unknown keys,
/// wrong types and services that depend on missing ones are errors. A copy with a misspelt key
/// must be refused, so this check can fail.
#[test]
fn docker_compose_validates_the_file() {
    if !common::installed("docker-compose", "docker-compose") {
        return;
    }
    let config = |dir: &Path, file: &str| {
        Command::new("docker-compose")
            .args(["--ansi", "never", "-f", file, "config", "--services"])
            .current_dir(dir)
            .output()
            .expect("run docker-compose")
    };
    let out = config(Path::new(ROOT), "docker-compose.yml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "docker-compose config: {stderr}");
    let mut services: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    services.sort();
    assert_eq!(
        services,
        [
            "alertmanager",
            "grafana",
            "kafka",
            "prometheus",
            "simulator",
            "tocsin",
            "topics"
        ]
    );

    let text = read("docker-compose.yml");
    let typo = text.replacen("  prometheus:\n", "  prometheus:\n    imagee: typo\n", 1);
    assert_ne!(typo, text, "the prometheus service moved: update this test");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), typo).unwrap();
    let out = config(dir.path(), "docker-compose.yml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("imagee"),
        "a misspelt key must be refused: {stderr}"
    );
}

/// The Prometheus of the stack loads `deploy/prometheus.yml` and, through it, the rules: with
/// the rules' path inside the image pointed at `deploy/rules/`, `promtool check config` checks
/// both (unknown fields, scrape and alerting blocks, every rule).
#[test]
fn the_stacks_prometheus_config_passes_promtool() {
    if !common::installed("promtool", "prometheus") {
        return;
    }
    let text = read("deploy/prometheus.yml");
    let inside = "/etc/prometheus/rules/tocsin.yml";
    assert!(text.contains(inside), "rule_files moved: update this test");
    let here = Path::new(ROOT).join("deploy/rules/tocsin.yml");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, text.replace(inside, &here.display().to_string())).unwrap();
    let out = common::run_ok(
        Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(&cfg),
    );
    assert!(
        out.contains("SUCCESS") && out.contains("rules found"),
        "{out}"
    );
}
