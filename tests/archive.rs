//! The archive end to end, through the `tocsin` binary: enrich into Parquet and query it back
//! (round trip), SQL errors, a pipeline killed mid-write (only complete files visible, the
//! next run recovers), and backtests (deterministic, find the injected incident, from a
//! JSON-lines file and from the archive).

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn tocsin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tocsin"))
}

fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A day and an hour of history, a French northwind login outage, then `after` minutes.
fn write_history(dir: &Path, after: u64) -> (PathBuf, i64) {
    let (sim, history_end) = common::outage_day(after, 0.01);
    let path = dir.join("history.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for item in sim {
        f.write_all(&item.record.payload).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    (path, history_end)
}

/// The demo pipeline, calibrated after one day of history (the simulated history is a day).
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let text =
        tocsin::demo::DEMO_CONFIG.replace("min_calibration_days = 2", "min_calibration_days = 1");
    assert_ne!(
        text,
        tocsin::demo::DEMO_CONFIG,
        "demo.toml changed: update the test"
    );
    let p = dir.join("pipeline.toml");
    std::fs::write(&p, format!("{text}\n{extra}")).unwrap();
    p
}

fn query(archive: &Path, sql: &str) -> Vec<Value> {
    let out = ok(tocsin()
        .args(["query", "--format", "json", "--archive"])
        .arg(archive)
        .arg(sql));
    json_lines(&out.stdout)
}

fn opened_northwind_fr_within(events: &[Value], from_ms: i64, minutes: i64) -> bool {
    events.iter().any(|e| {
        let at = chrono::DateTime::parse_from_rfc3339(e["opened_at"].as_str().unwrap_or(""))
            .map(|d| d.timestamp_millis())
            .unwrap_or(0);
        e["event"] == "opened"
            && e["brand"] == "northwind"
            && at >= from_ms
            && at <= from_ms + minutes * 60_000
    })
}

#[test]
fn enrich_archive_query_round_trip_and_backtests() {
    let dir = tempfile::tempdir().unwrap();
    let (history, history_end) = write_history(dir.path(), 60);
    let cfg = write_config(dir.path(), "");
    let archive = dir.path().join("archive");
    let out = dir.path().join("enriched.jsonl");
    ok(tocsin()
        .args(["enrich", "--input"])
        .arg(&history)
        .arg("--output")
        .arg(&out)
        .arg("--config")
        .arg(&cfg)
        .arg("--archive")
        .arg(&archive));

    // Every enriched mention is in the archive with the same enrichment.
    let enriched = json_lines(&std::fs::read(&out).unwrap());
    assert!(enriched.len() > 25_000, "{}", enriched.len());
    let mut want: Vec<(String, String, String, u64, String, String)> = enriched
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["lang"].as_str().unwrap_or("").to_string(),
                m["intent"].as_str().unwrap().to_string(),
                m["priority"].as_u64().unwrap(),
                m["dedup"]["status"].as_str().unwrap().to_string(),
                m["text_redacted"]
                    .as_str()
                    .or(m["text"].as_str())
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let rows = query(
        &archive,
        "SELECT id, lang, intent, priority, dedup_status, text FROM mentions",
    );
    let mut got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["lang"].as_str().unwrap_or("").to_string(),
                r["intent"].as_str().unwrap().to_string(),
                r["priority"].as_u64().unwrap(),
                r["dedup_status"].as_str().unwrap().to_string(),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "archived rows differ from the enriched output");

    // Personal data is stored redacted: no Luhn-valid card number survives in the archive.
    let redacted = query(
        &archive,
        "SELECT count(*) AS n FROM mentions WHERE text_redacted AND array_has(pii, 'card')",
    );
    assert!(redacted[0]["n"].as_u64().unwrap() > 0);
    let leaked = query(
        &archive,
        "SELECT count(*) AS n FROM mentions WHERE array_has(pii, 'card') AND NOT text_redacted",
    );
    assert_eq!(leaked[0]["n"], 0);

    // Incidents: the same opened events as the incidents file, with partitions from `at`.
    let incidents =
        json_lines(&std::fs::read(dir.path().join("enriched.incidents.jsonl")).unwrap());
    let opened = incidents.iter().filter(|e| e["event"] == "opened").count();
    assert!(opened >= 1);
    let rows = query(
        &archive,
        "SELECT count(*) AS n, min(date) AS d FROM incidents WHERE event = 'opened'",
    );
    assert_eq!(rows[0]["n"].as_u64().unwrap() as usize, opened);
    assert_eq!(rows[0]["d"], "2026-11-22");

    // An hourly count by language with the partition columns.
    let hourly = query(
        &archive,
        "SELECT date, hour, lang, count(*) AS n FROM mentions WHERE brand = 'northwind' \
         GROUP BY 1, 2, 3 ORDER BY n DESC LIMIT 1",
    );
    assert_eq!(hourly[0]["lang"], "fr", "{hourly:?}");

    // Table and CSV output.
    let table = ok(tocsin()
        .args(["query", "--archive"])
        .arg(&archive)
        .arg("SELECT platform, count(*) AS n FROM mentions GROUP BY platform ORDER BY platform"));
    assert!(String::from_utf8_lossy(&table.stdout).contains("| platform"));
    let csv = ok(tocsin()
        .args(["query", "--format", "csv", "--archive"])
        .arg(&archive)
        .arg("SELECT count(*) AS n FROM mentions"));
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        format!("n\n{}\n", want.len())
    );

    // Bad SQL: a clear error, a failing exit code.
    for sql in [
        "SELEC 1",
        "SELECT nope FROM mentions",
        "SELECT * FROM tweets",
    ] {
        let out = tocsin()
            .args(["query", "--archive"])
            .arg(&archive)
            .arg(sql)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql}");
        assert!(
            err.contains("query failed") && err.contains("Tables: mentions"),
            "{err}"
        );
    }
    let out = tocsin()
        .args(["query", "--archive"])
        .arg(dir.path())
        .arg("SELECT 1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an archive folder"));

    // Backtests: deterministic, and they find the injected outage within minutes.
    let mut runs = Vec::new();
    // The archive replays once with its archived languages and once detecting them again.
    for (n, (flag, source, extra)) in [
        ("--input", &history, None),
        ("--input", &history, None),
        ("--archive", &archive, None),
        ("--archive", &archive, Some("--detect-lang")),
    ]
    .into_iter()
    .enumerate()
    {
        let events = dir.path().join(format!("events{n}.jsonl"));
        let out = ok(tocsin()
            .args(["backtest", "--json", "--config"])
            .arg(&cfg)
            .arg(flag)
            .arg(source)
            .args(extra)
            .arg("--events")
            .arg(&events));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let events = json_lines(&std::fs::read(&events).unwrap());
        assert!(
            opened_northwind_fr_within(&events, history_end + 20 * 60_000, 10),
            "backtest {n} missed the outage: {report:#}"
        );
        assert!(!report["incidents"].as_array().unwrap().is_empty());
        runs.push((events, report));
    }
    assert_eq!(
        runs[0].0, runs[1].0,
        "same input and config, different incidents"
    );
    assert_eq!(runs[0].1["incidents"], runs[1].1["incidents"]);
    assert_eq!(runs[0].1["mentions"], runs[1].1["mentions"]);
    assert_eq!(runs[2].1["mentions"].as_u64().unwrap() as usize, want.len());
    let langs: Vec<&str> = runs
        .iter()
        .map(|r| r.1["languages"].as_str().unwrap())
        .collect();
    assert_eq!(langs, ["detected", "detected", "archived", "detected"]);

    // A less sensitive threshold cannot open more incidents.
    let out = ok(tocsin()
        .args(["backtest", "--json", "--threshold", "3", "--config"])
        .arg(&cfg)
        .arg("--input")
        .arg(&history));
    let strict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        strict["incidents"].as_array().unwrap().len()
            <= runs[0].1["incidents"].as_array().unwrap().len()
    );
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

fn rows_in(file: &Path) -> usize {
    let f = std::fs::File::open(file).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .build()
        .unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

#[test]
fn a_pipeline_killed_mid_write_leaves_only_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let (history, _) = write_history(dir.path(), 1440);
    let archive = dir.path().join("archive");
    let extra = format!(
        "[archive]\npath = \"{}\"\nroll_secs = 1\nmax_file_rows = 3000\nrow_group_rows = 1024\n",
        archive.display()
    );
    let cfg_text = std::fs::read_to_string(write_config(dir.path(), &extra))
        .unwrap()
        .replacen(
            "path = \"-\"",
            &format!("path = \"{}\"", history.display()),
            1,
        )
        .replacen(
            "path = \"-\"",
            &format!("path = \"{}\"", dir.path().join("out.jsonl").display()),
            1,
        )
        .replace("listen = \"127.0.0.1:9464\"", "listen = \"\"");
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, cfg_text).unwrap();
    ok(tocsin().arg("validate").arg(&cfg));

    let child = tocsin()
        .current_dir(dir.path())
        .arg("run")
        .arg(&cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = common::ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while parquet_files(&archive.join("mentions")).len() < 4 {
        assert!(Instant::now() < deadline, "no archive files after 120 s");
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the run ended before it could be killed; make the input longer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.0.kill().unwrap(); // SIGKILL: no shutdown, no final commit
    child.0.wait().unwrap();

    // Every visible file is complete; partial ones are only in staging.
    let files = parquet_files(&archive);
    let total: usize = files.iter().map(|f| rows_in(f)).sum();
    assert!(total > 0);
    assert!(files
        .iter()
        .all(|f| !f.starts_with(archive.join("_staging"))));
    let n = query(&archive, "SELECT count(*) AS n FROM mentions");
    let incidents: usize = parquet_files(&archive.join("incidents"))
        .iter()
        .map(|f| rows_in(f))
        .sum();
    assert_eq!(n[0]["n"].as_u64().unwrap() as usize, total - incidents);

    // The next run deletes the leftovers and archives everything (again: at least once).
    let lines = std::fs::read(&history)
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    ok(tocsin().current_dir(dir.path()).arg("run").arg(&cfg));
    let staging: Vec<_> = std::fs::read_dir(archive.join("_staging"))
        .unwrap()
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
    let ids = query(
        &archive,
        "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM mentions",
    );
    let dead = std::fs::read_to_string(dir.path().join("tocsin-dead-letters.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    assert!(ids[0]["n"].as_u64().unwrap() as usize >= lines - dead);
    let mut per_date: BTreeMap<String, u64> = BTreeMap::new();
    for r in query(
        &archive,
        "SELECT date, count(*) AS n FROM mentions GROUP BY date",
    ) {
        per_date.insert(r["date"].as_str().unwrap().into(), r["n"].as_u64().unwrap());
    }
    assert_eq!(per_date.len(), 3, "{per_date:?}");
}
