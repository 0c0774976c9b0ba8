//! SQL over an archive folder with DataFusion: `tocsin query --archive DIR "SQL"`.
//!
//! Tables `mentions` and `incidents` are DataFusion listing tables over the Parquet files of
//! each table's folder, with the hive partition columns `date` (`YYYY-MM-DD`) and `hour`
//! (`HH`) added, so `WHERE date >= '2026-11-01'` reads only those folders. Only complete files
//! are visible: the writer renames a file into its partition once it is synced.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::schema::{incidents_schema, mentions_schema};
use super::{ArchiveError, Table};

/// How `tocsin query` prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row (JSON lines).
    Json,
}

fn err(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Query(e.to_string())
}

/// A session with `mentions` and `incidents` registered over the archive at `root`.
pub async fn context(root: &Path) -> Result<SessionContext, ArchiveError> {
    let tables = [
        (Table::Mentions, mentions_schema()),
        (Table::Incidents, incidents_schema()),
    ];
    if !tables.iter().any(|(t, _)| root.join(t.dir()).is_dir()) {
        return Err(ArchiveError::NotAnArchive(root.to_owned()));
    }
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    for (table, schema) in tables {
        let dir = root.join(table.dir());
        let provider: Arc<dyn datafusion::catalog::TableProvider> = if dir.is_dir() {
            listing(&dir, schema)?
        } else {
            // A table that was never written (incidents off): empty, with its columns.
            let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
            for p in ["date", "hour"] {
                fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
                    p,
                    DataType::Utf8,
                    false,
                )));
            }
            let s = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
            Arc::new(MemTable::try_new(s, vec![vec![]]).map_err(err)?)
        };
        ctx.register_table(table.dir(), provider).map_err(err)?;
    }
    Ok(ctx)
}

fn listing(
    dir: &Path,
    schema: SchemaRef,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>, ArchiveError> {
    let abs = std::fs::canonicalize(dir).map_err(|source| ArchiveError::Io {
        path: dir.to_owned(),
        source,
    })?;
    // A trailing slash: the URL names a folder to list, not one file.
    let url = ListingTableUrl::parse(format!("{}/", abs.display())).map_err(err)?;
    let opts = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("date".to_string(), DataType::Utf8),
            ("hour".to_string(), DataType::Utf8),
        ]);
    let cfg = ListingTableConfig::new(url)
        .with_listing_options(opts)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(cfg).map_err(err)?))
}

/// Runs one SQL statement and collects its result.
pub async fn sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, ArchiveError> {
    let hint = |e: datafusion::error::DataFusionError| {
        ArchiveError::Query(format!(
            "query failed: {e}\nTables: mentions, incidents (columns: `DESCRIBE mentions`, or \
             docs/archive.md); partition columns `date` ('YYYY-MM-DD') and `hour` ('HH')."
        ))
    };
    let df = ctx.sql(sql).await.map_err(hint)?;
    df.collect().await.map_err(hint)
}

/// The result as text in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String, ArchiveError> {
    match format {
        Format::Table => datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .map(|t| format!("{t}\n"))
            .map_err(err),
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                for b in batches {
                    w.write(b).map_err(err)?;
                }
            }
            String::from_utf8(buf).map_err(err)
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                for b in batches {
                    w.write(b).map_err(err)?;
                }
                w.finish().map_err(err)?;
            }
            String::from_utf8(buf).map_err(err)
        }
    }
}

/// `tocsin query`: one statement over the archive, printed in `format`.
pub async fn run(root: &Path, statement: &str, format: Format) -> Result<String, ArchiveError> {
    let ctx = context(root).await?;
    let batches = sql(&ctx, statement).await?;
    render(&batches, format)
}

/// `tocsin query --archive DIR "SQL"`.
#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// The archive folder (a pipeline's `archive.path`).
    #[arg(long)]
    archive: std::path::PathBuf,
    /// One SQL statement over `mentions` and `incidents` (DataFusion SQL).
    sql: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn command(a: QueryArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let out = run(&a.archive, &a.sql, a.format).await?;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}
