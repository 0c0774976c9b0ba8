//! `tocsin detect-spikes`: the spike detector alone on a volume series, for backtests on
//! exports and for scoring on the Numenta Anomaly Benchmark.
//!
//! Input: CSV `timestamp,value` (NAB form; `YYYY-MM-DD HH:MM:SS[.fff]` or RFC 3339). Output:
//! CSV `timestamp,alert,score,expected`, one row per input row, where `alert` is 1 on the row
//! where an incident opens (the detector's causal decision at that row) and `score` is the
//! calibrated score (alert at the configured threshold). A directory input is processed
//! recursively, mirroring its layout under the output directory.
//!
//! The bucket length is the median spacing of the first rows. Counts (every value a
//! non-negative integer) are tested on the square-root scale; other series as real values
//! (`--values` overrides the choice). Nothing else is fitted to the file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use crate::stages::spikes::detector::{Detector, DetectorConfig, Params, Transition, Values};

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("cannot read {path}: {source}; check the path")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}; check the directory exists and is writable")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}; expected `timestamp,value` rows after a header")]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{path}: needs at least two rows with increasing timestamps")]
    TooShort { path: PathBuf },
}

/// How to treat values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValueKind {
    /// Counts when every value is a non-negative integer, else real values.
    Auto,
    Counts,
    Real,
}

/// Per-file result, for the summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub rows: usize,
    pub alerts: usize,
    pub bucket_secs: u64,
    pub values: Values,
}

/// One parsed series.
#[derive(Debug)]
pub struct Series {
    pub stamps: Vec<String>,
    pub secs: Vec<i64>,
    pub values: Vec<f64>,
}

pub fn read_series(path: &Path) -> Result<Series, BacktestError> {
    let text = fs::read_to_string(path).map_err(|source| BacktestError::Read {
        path: path.into(),
        source,
    })?;
    let mut s = Series {
        stamps: Vec::new(),
        secs: Vec::new(),
        values: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.to_ascii_lowercase().starts_with("timestamp")) {
            continue;
        }
        let bad = |msg: String| BacktestError::Parse {
            path: path.into(),
            line: i + 1,
            msg,
        };
        let (ts, v) = line.split_once(',').ok_or_else(|| bad("no comma".into()))?;
        let v = v.split(',').next().unwrap_or("").trim();
        let value: f64 = v
            .parse()
            .map_err(|_| bad(format!("value `{v}` is not a number")))?;
        if !value.is_finite() {
            return Err(bad(format!("value `{v}` is not finite")));
        }
        let secs = parse_time(ts.trim()).ok_or_else(|| bad(format!("bad timestamp `{ts}`")))?;
        s.stamps.push(ts.trim().to_string());
        s.secs.push(secs);
        s.values.push(value);
    }
    if s.secs.len() < 2 {
        return Err(BacktestError::TooShort { path: path.into() });
    }
    Ok(s)
}

fn parse_time(ts: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) {
        return Some(t.timestamp());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(ts, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

/// Median spacing of the first 1,000 rows, in seconds (at least 1).
pub fn bucket_secs(secs: &[i64]) -> u64 {
    let mut d: Vec<i64> = secs
        .windows(2)
        .take(1000)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > 0)
        .collect();
    if d.is_empty() {
        return 1;
    }
    d.sort_unstable();
    d[d.len() / 2].max(1) as u64
}

/// Runs the detector over a series: per row, (alert, score, expected).
pub fn detect(
    cfg: &DetectorConfig,
    kind: ValueKind,
    s: &Series,
) -> (Vec<(bool, f64, f64)>, u64, Values) {
    let values = match kind {
        ValueKind::Counts => Values::Counts,
        ValueKind::Real => Values::Real,
        ValueKind::Auto => {
            if s.values.iter().all(|&v| v >= 0.0 && v.fract() == 0.0) {
                Values::Counts
            } else {
                Values::Real
            }
        }
    };
    let bsecs = bucket_secs(&s.secs);
    let p = Params::new(cfg, bsecs, values);
    let mut d = Detector::new(&p);
    let out = s
        .secs
        .iter()
        .zip(&s.values)
        .map(|(&t, &v)| {
            let step = d.observe(&p, t, v);
            (
                step.transition == Some(Transition::Opened),
                step.score,
                step.expected_bucket,
            )
        })
        .collect();
    (out, bsecs, values)
}

/// Detects one file into `output` (a file path).
pub fn run_file(
    cfg: &DetectorConfig,
    kind: ValueKind,
    input: &Path,
    output: &Path,
) -> Result<FileReport, BacktestError> {
    let s = read_series(input)?;
    let (rows, bucket_secs, values) = detect(cfg, kind, &s);
    let werr = |source| BacktestError::Write {
        path: output.into(),
        source,
    };
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(werr)?;
    }
    let mut w = std::io::BufWriter::new(fs::File::create(output).map_err(werr)?);
    writeln!(w, "timestamp,alert,score,expected").map_err(werr)?;
    for (ts, (alert, score, expected)) in s.stamps.iter().zip(&rows) {
        writeln!(w, "{ts},{},{score:.4},{expected:.3}", *alert as u8).map_err(werr)?;
    }
    w.flush().map_err(werr)?;
    Ok(FileReport {
        input: input.into(),
        output: output.into(),
        rows: rows.len(),
        alerts: rows.iter().filter(|r| r.0).count(),
        bucket_secs,
        values,
    })
}

/// A file, or every `.csv` under a directory (mirrored under `output`).
pub fn run_path(
    cfg: &DetectorConfig,
    kind: ValueKind,
    input: &Path,
    output: &Path,
) -> Result<Vec<FileReport>, BacktestError> {
    if !input.is_dir() {
        return Ok(vec![run_file(cfg, kind, input, output)?]);
    }
    let mut files = Vec::new();
    collect_csv(input, &mut files)?;
    files.sort();
    files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(input).unwrap_or(f);
            run_file(cfg, kind, f, &output.join(rel))
        })
        .collect()
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BacktestError> {
    let rerr = |source| BacktestError::Read {
        path: dir.into(),
        source,
    };
    for e in fs::read_dir(dir).map_err(rerr)? {
        let p = e.map_err(rerr)?.path();
        if p.is_dir() {
            collect_csv(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "csv") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nab_and_rfc3339_and_reports_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        fs::write(
            &p,
            "timestamp,value\n2015-02-26 21:42:53,57\n2015-02-26T21:47:53Z,43\n2015-02-26 21:52:53.000000,4\n",
        )
        .unwrap();
        let s = read_series(&p).unwrap();
        assert_eq!(s.values, vec![57.0, 43.0, 4.0]);
        assert_eq!(bucket_secs(&s.secs), 300);
        fs::write(&p, "timestamp,value\n2015-02-26 21:42:53,x\n").unwrap();
        let e = read_series(&p).unwrap_err().to_string();
        assert!(e.contains("a.csv:2") && e.contains("`x`"), "{e}");
    }

    #[test]
    fn writes_one_row_per_input_row() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        fs::create_dir_all(input.join("cat")).unwrap();
        let mut text = String::from("timestamp,value\n");
        for i in 0..3000 {
            let t = chrono::DateTime::from_timestamp(1_420_070_400 + i * 300, 0).unwrap();
            let v = if i == 2900 { 400 } else { 10 + (i % 7) };
            text.push_str(&format!("{},{v}\n", t.format("%Y-%m-%d %H:%M:%S")));
        }
        fs::write(input.join("cat/s.csv"), text).unwrap();
        let out = dir.path().join("out");
        let r = run_path(&DetectorConfig::default(), ValueKind::Auto, &input, &out).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].rows, r[0].bucket_secs, r[0].values),
            (3000, 300, Values::Counts)
        );
        let written = fs::read_to_string(out.join("cat/s.csv")).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 3001);
        assert!(lines[2901].contains(",1,"), "{}", lines[2901]);
        assert_eq!(r[0].alerts, 1);
    }
}
