//! The Prometheus rules for Tocsin itself (`deploy/rules/`): `promtool check rules` and
//! `promtool test rules` pass (Debian `prometheus` package), and every metric they use is one
//! Tocsin exposes. Without promtool this says SKIPPED, unless `TOCSIN_REQUIRE_EXTERNAL=1`
//! (set by `.ci/run`).

use crate::common;

use std::process::Command;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rules");

fn promtool(args: &[&str]) -> Option<String> {
    if !common::installed("promtool", "prometheus") {
        return None;
    }
    Some(common::run_ok(
        Command::new("promtool").current_dir(RULES).args(args),
    ))
}

#[test]
fn rules_pass_promtool_check_and_unit_tests() {
    if let Some(out) = promtool(&["check", "rules", "tocsin.yml"]) {
        assert!(out.contains("SUCCESS"), "{out}");
        let out = promtool(&["test", "rules", "tocsin.test.yml"]).unwrap();
        assert!(out.contains("SUCCESS"), "{out}");
    }
}

#[test]
fn rules_use_only_metrics_tocsin_exposes() {
    let text = std::fs::read_to_string(format!("{RULES}/tocsin.yml")).unwrap();
    let mut used = Vec::new();
    for (i, _) in text.match_indices("tocsin_") {
        // Recording rules are `tocsin:…`; metric names start with `tocsin_`.
        if i > 0 && text.as_bytes()[i - 1] == b':' {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        used.push(name);
    }
    assert!(used.len() > 5, "{used:?}");
    for name in used {
        assert!(
            tocsin::metrics::names::exposed(&name),
            "deploy/rules/tocsin.yml uses {name}, which Tocsin does not expose"
        );
    }
}
