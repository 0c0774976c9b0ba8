//! Writes record batches into the archive as Parquet files, atomically.
//!
//! Layout: `ROOT/<table>/date=YYYY-MM-DD/hour=HH/part-<stamp>-<token>-<seq>.parquet`, partitioned
//! by event time (UTC). A file is written under `ROOT/_staging/` and only renamed into its
//! partition once it is complete (footer written, file and folder synced), so readers never
//! see a partial file and a crash leaves at most staging leftovers, which [`ArchiveWriter::open`]
//! deletes. Names carry a random token, so several Tocsin instances (one consumer group) can
//! share one archive.
//!
//! Contract: rows passed to [`ArchiveWriter::write`] are durable once [`ArchiveWriter::commit`]
//! returns; the pipeline acknowledges source offsets only after that. Files roll on row count,
//! size and age ([`ArchiveWriter::due`]); partitions older than the retention are deleted.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use super::schema::event_times;
use super::{ArchiveConfig, ArchiveError, Codec, Table};
use crate::clock::Millis;
use crate::metrics::Metrics;

pub const STAGING: &str = "_staging";

/// `(date, hour)` of an event time, as in the folder names.
type Partition = (String, u8);

fn partition_of(ms: Millis) -> Partition {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    (
        t.format("%Y-%m-%d").to_string(),
        t.format("%H").to_string().parse().unwrap_or(0),
    )
}

struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    rows: usize,
}

pub struct ArchiveWriter {
    root: PathBuf,
    cfg: ArchiveConfig,
    props: WriterProperties,
    open: BTreeMap<(Table, Partition), OpenFile>,
    /// When the oldest uncommitted row arrived.
    dirty_since: Option<Instant>,
    token: String,
    seq: u64,
    metrics: Option<Arc<Metrics>>,
    last_sweep: Option<Instant>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

impl ArchiveWriter {
    /// Creates the folders, deletes what a crash left in staging and applies the retention.
    pub fn open(cfg: &ArchiveConfig, metrics: Option<Arc<Metrics>>) -> Result<Self, ArchiveError> {
        let root = PathBuf::from(&cfg.path);
        let staging = root.join(STAGING);
        for d in [
            root.join(Table::Mentions.dir()),
            root.join(Table::Incidents.dir()),
            staging.clone(),
        ] {
            fs::create_dir_all(&d).map_err(io(&d))?;
        }
        let mut leftovers = 0;
        for e in fs::read_dir(&staging).map_err(io(&staging))?.flatten() {
            if fs::remove_file(e.path()).is_ok() {
                leftovers += 1;
            }
        }
        if leftovers > 0 {
            tracing::warn!(
                leftovers,
                dir = %staging.display(),
                "deleted incomplete archive files of an earlier run; their rows were never \
                 acknowledged and will be read again from the source"
            );
        }
        let compression = match cfg.compression {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        };
        let props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(cfg.row_group_rows))
            .build();
        let mut w = ArchiveWriter {
            root,
            cfg: cfg.clone(),
            props,
            open: BTreeMap::new(),
            dirty_since: None,
            token: format!("{:08x}", rand::random::<u32>()),
            seq: 0,
            metrics,
            last_sweep: None,
        };
        w.sweep(chrono::Utc::now().timestamp_millis())?;
        Ok(w)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Appends rows (split by the hour of their event time). Not durable before `commit`.
    pub fn write(&mut self, table: Table, batch: &RecordBatch) -> Result<(), ArchiveError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Some(times) = event_times(batch) else {
            return Err(ArchiveError::Schema(format!(
                "{} rows need a non-null event time in column 3",
                table.dir()
            )));
        };
        let first = partition_of(times[0]);
        let hour_ms = 3_600_000;
        let same = times
            .iter()
            .all(|t| t.div_euclid(hour_ms) == times[0].div_euclid(hour_ms));
        if same {
            self.append(table, first, batch)?;
        } else {
            let mut hours: Vec<i64> = times.iter().map(|t| t.div_euclid(hour_ms)).collect();
            hours.sort_unstable();
            hours.dedup();
            for h in hours {
                let mask: BooleanArray = times
                    .iter()
                    .map(|t| Some(t.div_euclid(hour_ms) == h))
                    .collect();
                let part = filter_record_batch(batch, &mask)
                    .map_err(|e| ArchiveError::Schema(e.to_string()))?;
                self.append(table, partition_of(h * hour_ms), &part)?;
            }
        }
        self.dirty_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    fn append(
        &mut self,
        table: Table,
        part: Partition,
        batch: &RecordBatch,
    ) -> Result<(), ArchiveError> {
        let key = (table, part);
        if !self.open.contains_key(&key) {
            let f = self.create(table, &key.1, batch)?;
            self.open.insert(key.clone(), f);
        }
        let f = self.open.get_mut(&key).expect("inserted above");
        f.writer
            .write(batch)
            .map_err(|e| ArchiveError::Parquet(f.tmp.clone(), e.to_string()))?;
        f.rows += batch.num_rows();
        let size = (f.writer.bytes_written() + f.writer.in_progress_size()) as u64;
        if f.rows >= self.cfg.max_file_rows || size >= self.cfg.max_file_bytes {
            let f = self.open.remove(&key).expect("present");
            self.finish(table, f)?;
        }
        Ok(())
    }

    fn create(
        &mut self,
        table: Table,
        (date, hour): &Partition,
        batch: &RecordBatch,
    ) -> Result<OpenFile, ArchiveError> {
        self.seq += 1;
        let name = format!(
            "part-{}-{}-{:06}.parquet",
            chrono::Utc::now().format("%Y%m%dT%H%M%S"),
            self.token,
            self.seq
        );
        let tmp = self.root.join(STAGING).join(format!("{name}.tmp"));
        let dest = self
            .root
            .join(table.dir())
            .join(format!("date={date}"))
            .join(format!("hour={hour:02}"))
            .join(name);
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            batch.schema(),
            Some(self.props.clone()),
        )
        .map_err(|e| ArchiveError::Parquet(tmp.clone(), e.to_string()))?;
        Ok(OpenFile {
            writer,
            tmp,
            dest,
            rows: 0,
        })
    }

    /// Footer, fsync, rename into the partition, fsync the partition folder.
    fn finish(&mut self, table: Table, f: OpenFile) -> Result<(), ArchiveError> {
        let OpenFile {
            writer,
            tmp,
            dest,
            rows,
        } = f;
        writer
            .close()
            .map_err(|e| ArchiveError::Parquet(tmp.clone(), e.to_string()))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        let bytes = fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
        let dir = dest.parent().expect("partition folder");
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::rename(&tmp, &dest).map_err(io(&dest))?;
        sync_dir(dir)?;
        if let Some(m) = &self.metrics {
            let l = [table.dir()];
            m.archive_files.with_label_values(&l).inc();
            m.archive_rows.with_label_values(&l).inc_by(rows as u64);
            m.archive_bytes.with_label_values(&l).inc_by(bytes);
        }
        Ok(())
    }

    /// Whether open files should be committed now: the oldest uncommitted row is older than
    /// `roll_secs`, or too many partitions are open.
    pub fn due(&self) -> bool {
        self.dirty_since
            .is_some_and(|t| t.elapsed().as_secs() >= self.cfg.roll_secs)
            || self.open.len() > self.cfg.max_open_files
    }

    /// Whether rows are waiting for a commit.
    pub fn dirty(&self) -> bool {
        self.dirty_since.is_some()
    }

    /// Makes every row written so far durable and visible. Returns the files committed.
    pub fn commit(&mut self) -> Result<usize, ArchiveError> {
        let started = Instant::now();
        let open = std::mem::take(&mut self.open);
        let n = open.len();
        for ((table, _), f) in open {
            self.finish(table, f)?;
        }
        self.dirty_since = None;
        if let Some(m) = &self.metrics {
            m.archive_commit_duration
                .observe(started.elapsed().as_secs_f64());
        }
        if self
            .last_sweep
            .is_none_or(|t| t.elapsed().as_secs() >= 3600)
        {
            self.sweep(chrono::Utc::now().timestamp_millis())?;
        }
        Ok(n)
    }

    /// Deletes `date=` folders entirely older than the retention (none when it is 0).
    pub fn sweep(&mut self, now_ms: Millis) -> Result<usize, ArchiveError> {
        self.last_sweep = Some(Instant::now());
        if self.cfg.retention_days == 0 {
            return Ok(0);
        }
        let cutoff = partition_of(now_ms - self.cfg.retention_days as i64 * 86_400_000).0;
        let mut deleted = 0;
        for table in [Table::Mentions, Table::Incidents] {
            let dir = self.root.join(table.dir());
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(date) = name.strip_prefix("date=") else {
                    continue;
                };
                // ISO dates compare as strings.
                if date.len() == 10 && date < cutoff.as_str() {
                    fs::remove_dir_all(e.path()).map_err(io(&e.path()))?;
                    deleted += 1;
                    if let Some(m) = &self.metrics {
                        m.archive_expired.with_label_values(&[table.dir()]).inc();
                    }
                }
            }
        }
        if deleted > 0 {
            tracing::info!(
                deleted,
                cutoff,
                "archive retention: deleted old date partitions"
            );
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mention::{Mention, Platform};
    use crate::stages::brand_router::BrandRouter;

    fn batch(times: &[Millis]) -> RecordBatch {
        let ms: Vec<Mention> = times
            .iter()
            .enumerate()
            .map(|(i, t)| Mention::plain(&i.to_string(), Platform::Twitter, *t, "hi"))
            .collect();
        let refs: Vec<&Mention> = ms.iter().collect();
        super::super::schema::mentions_batch(&refs, &BrandRouter::new(&[]), true, 0)
    }

    fn visible(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.join("mentions"), root.join("incidents")];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn rows_are_invisible_until_commit_and_split_by_hour() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ArchiveConfig::at(dir.path().display().to_string());
        let mut w = ArchiveWriter::open(&cfg, None).unwrap();
        let t = 1_795_046_399_000; // 23:59:59 on 2026-11-18
        w.write(Table::Mentions, &batch(&[t, t + 1000, t + 2000]))
            .unwrap();
        assert!(w.dirty() && visible(dir.path()).is_empty());
        assert_eq!(w.commit().unwrap(), 2);
        let files = visible(dir.path());
        let rel: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .unwrap()
                    .parent()
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            rel,
            [
                "mentions/date=2026-11-18/hour=23",
                "mentions/date=2026-11-19/hour=00"
            ]
        );
        assert!(fs::read_dir(dir.path().join(STAGING))
            .unwrap()
            .next()
            .is_none());
    }

    #[test]
    fn a_crash_leaves_staging_only_and_reopening_cleans_it() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ArchiveConfig::at(dir.path().display().to_string());
        let mut w = ArchiveWriter::open(&cfg, None).unwrap();
        w.write(Table::Mentions, &batch(&[1_795_000_000_000]))
            .unwrap();
        std::mem::forget(w); // a crash: no commit, no destructor
        assert!(visible(dir.path()).is_empty());
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 1);
        let _w = ArchiveWriter::open(&cfg, None).unwrap();
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 0);
    }

    #[test]
    fn files_roll_by_rows_and_retention_deletes_old_dates() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ArchiveConfig::at(dir.path().display().to_string());
        cfg.max_file_rows = 2;
        cfg.retention_days = 3;
        let mut w = ArchiveWriter::open(&cfg, None).unwrap();
        let day = 86_400_000;
        let now = 1_795_000_000_000;
        w.write(Table::Mentions, &batch(&[now, now])).unwrap();
        // Rolled at two rows: committed without waiting for `commit`.
        assert_eq!(visible(dir.path()).len(), 1);
        w.write(Table::Mentions, &batch(&[now - 5 * day])).unwrap();
        w.commit().unwrap();
        assert_eq!(visible(dir.path()).len(), 2);
        assert_eq!(w.sweep(now).unwrap(), 1);
        assert_eq!(visible(dir.path()).len(), 1);
    }

    #[test]
    fn partitions_are_utc_date_and_hour() {
        // 2026-11-18T23:59:59.999Z and the next millisecond.
        let ms = 1_795_046_399_999;
        assert_eq!(partition_of(ms), ("2026-11-18".to_string(), 23));
        assert_eq!(partition_of(ms + 1), ("2026-11-19".to_string(), 0));
    }
}
