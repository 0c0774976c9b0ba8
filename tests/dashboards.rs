//! The Grafana dashboards (`dashboards/`): they parse, have the structure Grafana's provisioning
//! needs (uid, title, schema version, a datasource variable every panel uses), every PromQL
//! expression parses with the real Prometheus parser (`promtool check rules` on the expressions
//! turned into recording rules), and they use only metrics Tocsin exposes or records.

use crate::common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards");

fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(DIR).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((p.file_name().unwrap().to_string_lossy().to_string(), v));
        }
    }
    assert!(out.len() >= 2, "pipeline health and brand dashboards");
    out
}

#[test]
fn dashboards_have_what_grafana_provisioning_needs() {
    let mut uids = Vec::new();
    for (name, d) in dashboards() {
        assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "{name}");
        assert!(
            d["title"].as_str().is_some_and(|t| t.starts_with("Tocsin")),
            "{name}"
        );
        assert!(d["schemaVersion"].as_u64().unwrap() >= 36, "{name}");
        uids.push(d["uid"].as_str().unwrap().to_string());
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["type"] == "datasource" && v["name"] == "datasource"),
            "{name}: datasource templating"
        );
        let mut ids = Vec::new();
        for p in d["panels"].as_array().unwrap() {
            ids.push(p["id"].as_u64().unwrap());
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}: {}",
                p["title"]
            );
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"], "${datasource}");
            }
            let g = &p["gridPos"];
            assert!(
                g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
                "{name}"
            );
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{name}: panel ids are unique");
    }
    // The link in every alert (`alerting.dashboard_url` in pipelines/production.toml).
    assert!(uids.contains(&"tocsin-brands".to_string()));
    let prod = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pipelines/production.toml"
    ))
    .unwrap();
    assert!(prod.contains("/d/tocsin-brands/"));
}

#[test]
fn dashboards_use_only_metrics_tocsin_exposes() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/rules/tocsin.yml"
    ))
    .unwrap();
    let process = ["process_cpu_seconds_total", "process_resident_memory_bytes"];
    for (name, d) in dashboards() {
        for (_, e) in common::exprs_of(&d) {
            let mut found = 0;
            for (i, _) in e.match_indices("tocsin") {
                let token: String = e[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                found += 1;
                if token.contains(':') {
                    assert!(
                        rules.contains(&format!("record: {token}")),
                        "{name}: {token} is not a recording rule in deploy/rules/tocsin.yml"
                    );
                    continue;
                }
                assert!(
                    tocsin::metrics::names::exposed(&token),
                    "{name}: {token} is not a Tocsin metric"
                );
            }
            assert!(
                found > 0 || process.iter().any(|p| e.contains(p)),
                "{name}: {e} uses no known metric"
            );
        }
    }
}

#[test]
fn every_expression_parses_with_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut n = 0;
    for (_, d) in dashboards() {
        for (_, e) in common::exprs_of(&d) {
            n += 1;
            yaml += &format!(
                "      - record: dashboard:expr{n}\n        expr: {}\n",
                serde_json::to_string(&common::grafana_expand(&e)).unwrap()
            );
        }
    }
    let file = dir.path().join("exprs.yml");
    std::fs::write(&file, yaml).unwrap();
    if !common::installed("promtool", "prometheus") {
        return;
    }
    let text = common::run_ok(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(Path::new(&file)),
    );
    assert!(
        text.contains(&format!("SUCCESS: {n} rules found")),
        "{text}"
    );
}
