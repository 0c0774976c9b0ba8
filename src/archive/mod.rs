//! The archive: every enriched mention and incident event as Parquet, for SQL and backtests.
//!
//! - [`schema`]: the `mentions` and `incidents` tables (Arrow schemas and conversions);
//! - [`writer`]: atomic, partitioned Parquet files with rolling and retention;
//! - [`query`]: DataFusion SQL over an archive folder (`tocsin query`);
//! - [`read`]: mentions back out of the archive, in event time (`tocsin backtest`);
//! - [`sink`]: the archive as a pipeline output, holding source offsets until it commits.
//!
//! Configured by the optional `[archive]` table of a pipeline file. The layout and every column
//! are documented in `docs/archive.md`.

pub mod query;
pub mod read;
pub mod schema;
pub mod sink;
pub mod writer;

use serde::Deserialize;
use std::path::PathBuf;

pub use writer::ArchiveWriter;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive: cannot use {path}: {source}; check the path, permissions and free space")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archive: cannot write Parquet file {0}: {1}")]
    Parquet(PathBuf, String),
    #[error("archive: {0}; this is a bug, please report it")]
    Schema(String),
    #[error("{0}")]
    Query(String),
    #[error("archive: {0} is not an archive folder (no `mentions/` or `incidents/` inside); pass the folder set as `archive.path`")]
    NotAnArchive(PathBuf),
}

/// The two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Mentions,
    Incidents,
}

impl Table {
    /// The table's folder under the archive root (also its SQL name and metric label).
    pub fn dir(self) -> &'static str {
        match self {
            Table::Mentions => "mentions",
            Table::Incidents => "incidents",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    #[default]
    Zstd,
    Snappy,
    None,
}

/// `[archive]`: where and how enriched mentions and incident events are archived.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// The archive folder (relative paths are relative to the working directory).
    pub path: String,
    /// Commit open files (and so acknowledge the source) at least this often.
    #[serde(default = "d_roll_secs")]
    pub roll_secs: u64,
    /// Roll a file once it holds this many rows…
    #[serde(default = "d_max_file_rows")]
    pub max_file_rows: usize,
    /// …or this many bytes.
    #[serde(default = "d_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Rows per Parquet row group (bounds the writer's memory per open file).
    #[serde(default = "d_row_group_rows")]
    pub row_group_rows: usize,
    /// More open hour partitions than this (late data) commits at once.
    #[serde(default = "d_max_open_files")]
    pub max_open_files: usize,
    /// Delete date partitions older than this many days; 0 keeps everything.
    #[serde(default)]
    pub retention_days: u32,
    /// Store `text_redacted` instead of the text when the scoring stage found personal data.
    #[serde(default = "yes")]
    pub redact: bool,
    #[serde(default)]
    pub compression: Codec,
    /// Archive incident events too (table `incidents`).
    #[serde(default = "yes")]
    pub incidents: bool,
}

fn d_roll_secs() -> u64 {
    60
}
fn d_max_file_rows() -> usize {
    2_000_000
}
fn d_max_file_bytes() -> u64 {
    256 << 20
}
fn d_row_group_rows() -> usize {
    128 * 1024
}
fn d_max_open_files() -> usize {
    32
}
fn yes() -> bool {
    true
}

impl ArchiveConfig {
    /// Defaults with `path` (tests, demo, benchmarks).
    pub fn at(path: impl Into<String>) -> Self {
        ArchiveConfig {
            path: path.into(),
            roll_secs: d_roll_secs(),
            max_file_rows: d_max_file_rows(),
            max_file_bytes: d_max_file_bytes(),
            row_group_rows: d_row_group_rows(),
            max_open_files: d_max_open_files(),
            retention_days: 0,
            redact: true,
            compression: Codec::Zstd,
            incidents: true,
        }
    }

    pub fn validate(&self, bad: &mut dyn FnMut(&str, &str)) {
        if self.path.trim().is_empty() {
            bad("archive.path", "is empty; set the archive folder");
        }
        if self.roll_secs == 0 || self.roll_secs > 3600 {
            bad(
                "archive.roll_secs",
                "must be between 1 and 3600 (source offsets wait for a commit)",
            );
        }
        if self.max_file_rows == 0 {
            bad("archive.max_file_rows", "must be at least 1");
        }
        if self.max_file_bytes < 1 << 20 {
            bad("archive.max_file_bytes", "must be at least 1048576 (1 MiB)");
        }
        if self.row_group_rows < 1024 || self.row_group_rows > 1 << 20 {
            bad("archive.row_group_rows", "must be between 1024 and 1048576");
        }
        if self.max_open_files == 0 {
            bad("archive.max_open_files", "must be at least 1");
        }
    }
}
