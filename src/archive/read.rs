//! Mentions back out of the archive, in event-time order, as the pipeline's input type.
//!
//! Contract: [`mentions`] yields every archived mention of the selection once, ordered by
//! `created_at` then `id` (a total order, so a replay is deterministic). Of the stages' own
//! fields only the detected language (`lang`, `lang_confidence`) is read back, so a replay can
//! skip language detection (the costliest stage, and rarely what a backtest tunes); dedup,
//! scores and incidents are computed anew with the replay's config. Texts are what the archive
//! holds (redacted where personal data was found).

use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float32Type, TimestampMillisecondType, UInt64Type};
use datafusion::execution::SendableRecordBatchStream;
use serde_json::Map;

use super::ArchiveError;
use crate::clock::Millis;
use crate::mention::{Author, Engagement, Enrichment, Mention, Origin, Platform};
use crate::stages::brand_router::OTHER;

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub from_ms: Option<Millis>,
    pub to_ms: Option<Millis>,
    pub brand: Option<String>,
}

const COLUMNS: &str = "id, platform, created_at, brand, author_id, author_handle, \
    author_followers, author_verified, text, lang_hint, likes, reposts, replies, repost_of, \
    in_reply_to, url, lang, lang_confidence";

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL that selects mentions for a replay, in replay order.
pub fn statement(sel: &Selection) -> String {
    format!(
        "SELECT {COLUMNS} FROM mentions{} ORDER BY created_at, id",
        filter(sel)
    )
}

/// The SQL that counts them (for the progress bar).
pub fn count_statement(sel: &Selection) -> String {
    format!("SELECT count(*) AS n FROM mentions{}", filter(sel))
}

fn filter(sel: &Selection) -> String {
    let mut wheres = Vec::new();
    let day = |ms: Millis| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string()
    };
    // Partition bounds first (prunes folders), then the exact times.
    if let Some(f) = sel.from_ms {
        wheres.push(format!("date >= {}", quote(&day(f))));
        wheres.push(format!("created_at >= to_timestamp_millis({f})"));
    }
    if let Some(t) = sel.to_ms {
        wheres.push(format!("date <= {}", quote(&day(t))));
        wheres.push(format!("created_at < to_timestamp_millis({t})"));
    }
    if let Some(b) = &sel.brand {
        wheres.push(format!("brand = {}", quote(b)));
    }
    if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    }
}

/// A stream of record batches with the columns of [`statement`], in replay order.
pub async fn mentions(
    root: &Path,
    sel: &Selection,
) -> Result<SendableRecordBatchStream, ArchiveError> {
    let ctx = super::query::context(root).await?;
    let df = ctx
        .sql(&statement(sel))
        .await
        .map_err(|e| ArchiveError::Query(e.to_string()))?;
    df.execute_stream()
        .await
        .map_err(|e| ArchiveError::Query(e.to_string()))
}

fn opt_str(a: &datafusion::arrow::array::StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

/// Rows of a batch from [`mentions`] as mentions.
pub fn to_mentions(b: &RecordBatch) -> Result<Vec<Mention>, ArchiveError> {
    let bad = |c: &str| ArchiveError::Query(format!("archive column `{c}` has an unexpected type"));
    let s = |c: &str| {
        b.column_by_name(c)
            .and_then(|a| a.as_string_opt::<i32>())
            .ok_or_else(|| bad(c))
    };
    let u = |c: &str| {
        b.column_by_name(c)
            .and_then(|a| a.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| bad(c))
    };
    let (id, platform, brand, author_id, handle, text, hint) = (
        s("id")?,
        s("platform")?,
        s("brand")?,
        s("author_id")?,
        s("author_handle")?,
        s("text")?,
        s("lang_hint")?,
    );
    let (repost_of, reply_to, url) = (s("repost_of")?, s("in_reply_to")?, s("url")?);
    let lang = s("lang")?;
    let lang_conf = b
        .column_by_name("lang_confidence")
        .and_then(|a| a.as_primitive_opt::<Float32Type>())
        .ok_or_else(|| bad("lang_confidence"))?;
    let (followers, likes, reposts, replies) = (
        u("author_followers")?,
        u("likes")?,
        u("reposts")?,
        u("replies")?,
    );
    let created = b
        .column_by_name("created_at")
        .and_then(|a| a.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| bad("created_at"))?;
    let verified = b
        .column_by_name("author_verified")
        .and_then(|a| a.as_boolean_opt())
        .ok_or_else(|| bad("author_verified"))?;
    Ok((0..b.num_rows())
        .map(|i| Mention {
            id: id.value(i).to_string(),
            platform: Platform::parse(platform.value(i)).unwrap_or(Platform::Other),
            created_at_ms: created.value(i),
            text: text.value(i).to_string(),
            author: Author {
                id: author_id.value(i).to_string(),
                handle: opt_str(handle, i),
                followers: followers.is_valid(i).then(|| followers.value(i)),
                verified: verified.value(i),
            },
            lang_hint: opt_str(hint, i),
            engagement: Engagement {
                likes: likes.value(i),
                reposts: reposts.value(i),
                replies: replies.value(i),
            },
            repost_of: opt_str(repost_of, i),
            in_reply_to: opt_str(reply_to, i),
            url: opt_str(url, i),
            brand: Some(brand.value(i))
                .filter(|b| *b != OTHER)
                .map(str::to_string),
            raw: Map::new(),
            key: None,
            origin: Origin::Generated { seq: 0 },
            enrich: Enrichment {
                lang: opt_str(lang, i),
                lang_confidence: lang_conf.is_valid(i).then(|| lang_conf.value(i)),
                ..Enrichment::default()
            },
        })
        .collect())
}
