//! The `tocsin` binary as users run it: validate, simulate → enrich (checked against the
//! simulator's ground truth), standard input/output, and the demo.

use std::collections::HashMap;
use std::process::{Command, Stdio};

fn tocsin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    c.env("RUST_LOG", "warn");
    c
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn validate_accepts_good_files_and_explains_bad_ones() {
    let ok = tocsin()
        .args([
            "validate",
            "pipelines/production.toml",
            "pipelines/demo.toml",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = tocsin()
        .args(["validate", "tests/bad_configs/unknown_field.toml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("unknown_field.toml: at `source.group`"),
        "{out}"
    );
}

#[test]
fn simulate_then_enrich_matches_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let labels = dir.path().join("labels.jsonl");
    let output = dir.path().join("out.jsonl");
    let dlq = dir.path().join("dlq.jsonl");
    let st = tocsin()
        .args([
            "simulate",
            "--minutes",
            "10",
            "--per-minute",
            "300",
            "--malformed-rate",
            "0.05",
            // Flat volume: the counts checked below must not depend on the hour the suite runs.
            "--no-seasonality",
            "--incident",
            "brand=globex,lang=is,start=2,duration=5",
        ])
        .arg("--output")
        .arg(&input)
        .arg("--labels")
        .arg(&labels)
        .status()
        .unwrap();
    assert!(st.success());
    let truth = lines(&labels);
    let st = tocsin()
        .arg("enrich")
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--dlq")
        .arg(&dlq)
        .status()
        .unwrap();
    assert!(st.success());
    let out = lines(&output);
    let dead = lines(&dlq);
    let want_valid: Vec<&str> = truth
        .iter()
        .filter(|t| t.get("malformed").is_none())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let got: Vec<&str> = out.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        got, want_valid,
        "one output per valid input, in input order"
    );
    let mut want_reasons: HashMap<&str, usize> = HashMap::new();
    for t in &truth {
        if let Some(r) = t.get("malformed").and_then(|r| r.as_str()) {
            *want_reasons.entry(r).or_default() += 1;
        }
    }
    let mut got_reasons: HashMap<&str, usize> = HashMap::new();
    for d in &dead {
        *got_reasons
            .entry(d["reason"].as_str().unwrap())
            .or_default() += 1;
        assert!(d["payload_base64"].is_string() && d["origin"]["line"].is_u64());
    }
    assert_eq!(got_reasons, want_reasons);
    assert_eq!(want_reasons.len(), 8, "every dead-letter reason exercised");

    // Dedup against the simulator's truth: every exact re-delivery, repost and copy-paste
    // variant is found and points at its original (or at the cluster the original joined).
    let by_id: HashMap<&str, &serde_json::Value> =
        out.iter().map(|o| (o["id"].as_str().unwrap(), o)).collect();
    let of = |id: &str| by_id[id]["dedup"]["of"].as_str().unwrap().to_owned();
    let mut checked: HashMap<&str, usize> = HashMap::new();
    for t in truth.iter().filter(|t| t["dup"].is_object()) {
        let id = t["id"].as_str().unwrap();
        let kind = t["dup"]["kind"].as_str().unwrap();
        let orig = t["dup"]["of"].as_str().unwrap();
        let d = &by_id[id]["dedup"];
        assert_eq!(d["status"], kind, "{id}: {d}");
        let got = d["of"].as_str().unwrap();
        assert!(
            got == orig || got == of(orig),
            "{id} ({kind}) should point at {orig} or its root {}, got {got}",
            of(orig)
        );
        // A re-delivery is the same post: it does not grow the cluster.
        let min_size = if kind == "exact" { 1 } else { 2 };
        assert!(d["cluster_size"].as_u64().unwrap() >= min_size, "{id}: {d}");
        *checked.entry(kind).or_default() += 1;
    }
    for kind in ["exact", "repost", "near"] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 20,
            "{kind}: {checked:?}"
        );
    }
}

#[test]
fn enrich_streams_stdin_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tocsin()
        .current_dir(dir.path())
        .args(["enrich", "--input", "-", "--output", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, r#"{{"id":"a1","platform":"twitter","created_at":"2026-01-01T00:00:00Z","text":"hello","author":{{"id":"u"}},"lang":"en","x":{{"kept":true}}}}"#).unwrap();
        writeln!(stdin, "not json").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["id"], "a1");
    assert_eq!(v["x"]["kept"], true);
    assert_eq!(v["lang_hint"], "en");
    let dead = lines(&dir.path().join("tocsin-dead-letters.jsonl"));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["reason"], "invalid_json");
}

#[test]
fn demo_runs_with_no_setup() {
    let dir = tempfile::tempdir().unwrap();
    let out = tocsin()
        .args([
            "demo",
            "--hours",
            "0.5",
            "--rate",
            "0",
            "--every",
            "1",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Final summary"), "{text}");
    assert!(!lines(&dir.path().join("enriched.jsonl")).is_empty());
    assert!(!lines(&dir.path().join("dead_letters.jsonl")).is_empty());

    // `tocsin incidents` lists the demo's incident with its state.
    let incidents = dir.path().join("incidents.jsonl");
    let events = lines(&incidents);
    assert!(!events.is_empty(), "the demo's incident was not detected");
    let out = tocsin()
        .args(["incidents", "--json", "--input"])
        .arg(&incidents)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["incident_id"], events[0]["incident_id"]);
    assert_eq!(listed[0]["brand"], "northwind");
    assert_eq!(listed[0]["events"], events.len());
    let table = tocsin()
        .args(["incidents", "--input"])
        .arg(&incidents)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.starts_with("INCIDENT") && text.contains("northwind-"),
        "{text}"
    );
}
