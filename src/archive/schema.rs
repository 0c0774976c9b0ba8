//! The archive's two tables as Arrow schemas, and the conversions into and out of them.
//!
//! Contract: [`mentions_schema`] and [`incidents_schema`] are the file schemas (the `date` and
//! `hour` partition columns come from the folder names, see [`super::writer`]); columns are only
//! ever added at the end, so old files stay readable. `docs/archive.md` documents each column.
//! Text is stored redacted when the mention carried personal data and `redact` is on.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, ListBuilder, RecordBatch,
    StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder, UInt32Builder,
    UInt64Builder, UInt8Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::alerting::event::IncidentEvent;
use crate::clock::Millis;
use crate::mention::Mention;
use crate::stages::brand_router::BrandRouter;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Columns of `mentions`, in file order.
pub fn mentions_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
        Arc::new(Schema::new(vec![
            f("id", DataType::Utf8, false),
            f("platform", DataType::Utf8, false),
            f("created_at", ts(), false),
            f("brand", DataType::Utf8, false),
            f("author_id", DataType::Utf8, false),
            f("author_handle", DataType::Utf8, true),
            f("author_followers", DataType::UInt64, true),
            f("author_verified", DataType::Boolean, false),
            f("text", DataType::Utf8, false),
            f("text_redacted", DataType::Boolean, false),
            f("lang", DataType::Utf8, true),
            f("lang_confidence", DataType::Float32, true),
            f("lang_hint", DataType::Utf8, true),
            f("likes", DataType::UInt64, false),
            f("reposts", DataType::UInt64, false),
            f("replies", DataType::UInt64, false),
            f("repost_of", DataType::Utf8, true),
            f("in_reply_to", DataType::Utf8, true),
            f("url", DataType::Utf8, true),
            f("dedup_status", DataType::Utf8, true),
            f("dedup_of", DataType::Utf8, true),
            f("cluster_size", DataType::UInt32, true),
            f("brands", list(), true),
            f("intent", DataType::Utf8, true),
            f("intent_cues", list(), true),
            f("urgency", DataType::UInt32, true),
            f("influence", DataType::UInt32, true),
            f("priority", DataType::UInt32, true),
            f("priority_reasons", list(), true),
            f("pii", list(), true),
            f("private_reply", DataType::Boolean, true),
            f("sla_due", ts(), true),
            f("incident_id", DataType::Utf8, true),
            f("processed_at", ts(), false),
        ]))
    })
    .clone()
}

/// Columns of `incidents` (one row per `opened`/`updated`/`resolved` event), in file order.
pub fn incidents_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
        Arc::new(Schema::new(vec![
            f("incident_id", DataType::Utf8, false),
            f("event", DataType::Utf8, false),
            f("at", ts(), false),
            f("opened_at", ts(), false),
            f("resolved_at", ts(), true),
            f("brand", DataType::Utf8, false),
            f("key", DataType::Utf8, false),
            f("fired", DataType::Utf8, false),
            f("severity", DataType::UInt8, false),
            f("summary", DataType::Utf8, false),
            f("observed", DataType::Float64, false),
            f("expected", DataType::Float64, false),
            f("ratio", DataType::Float64, false),
            f("z", DataType::Float64, false),
            f("probability", DataType::Float64, false),
            f("score", DataType::Float64, false),
            f("urgent_share", DataType::Float64, false),
            f("mentions", DataType::UInt64, false),
            f("unique_mentions", DataType::UInt64, false),
            f("unique_authors", DataType::UInt64, false),
            f("lang", DataType::Utf8, false),
            f("platform", DataType::Utf8, false),
            f("intent", DataType::Utf8, false),
            f("themes", list(), true),
            f("top_influencers", list(), true),
            f("broadcast", DataType::Boolean, false),
            f("mention_ids", list(), true),
            f("explanation", DataType::Utf8, false),
        ]))
    })
    .clone()
}

fn push_list<'a>(b: &mut ListBuilder<StringBuilder>, items: Option<impl Iterator<Item = &'a str>>) {
    match items {
        Some(it) => {
            for s in it {
                b.values().append_value(s);
            }
            b.append(true);
        }
        None => b.append(false),
    }
}

/// The text to store: redacted when the scoring stage found personal data (and `redact`).
fn stored_text(m: &Mention, redact: bool) -> (&str, bool) {
    match m
        .enrich
        .score
        .as_deref()
        .and_then(|s| s.text_redacted.as_deref())
    {
        Some(r) if redact => (r, true),
        _ => (&m.text, false),
    }
}

/// One record batch of `mentions` rows (in the order given), processed at `processed_ms`.
pub fn mentions_batch(
    ms: &[&Mention],
    router: &BrandRouter,
    redact: bool,
    processed_ms: Millis,
) -> RecordBatch {
    let n = ms.len();
    let str_b = || StringBuilder::with_capacity(n, n * 16);
    let list_b = || ListBuilder::with_capacity(StringBuilder::new(), n);
    let (mut id, mut platform, mut brand, mut author_id, mut handle) =
        (str_b(), str_b(), str_b(), str_b(), str_b());
    let mut text = StringBuilder::with_capacity(n, n * 120);
    let (mut lang, mut hint, mut repost_of, mut reply_to, mut url) =
        (str_b(), str_b(), str_b(), str_b(), str_b());
    let (mut dstatus, mut dof, mut intent, mut incident) = (str_b(), str_b(), str_b(), str_b());
    let mut created = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut sla = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut followers, mut likes, mut reposts, mut replies) = (
        UInt64Builder::with_capacity(n),
        UInt64Builder::with_capacity(n),
        UInt64Builder::with_capacity(n),
        UInt64Builder::with_capacity(n),
    );
    let (mut verified, mut redacted, mut private) = (
        BooleanBuilder::with_capacity(n),
        BooleanBuilder::with_capacity(n),
        BooleanBuilder::with_capacity(n),
    );
    let mut conf = Float32Builder::with_capacity(n);
    let (mut csize, mut urgency, mut influence, mut priority) = (
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
    );
    let (mut brands, mut cues, mut reasons, mut pii) = (list_b(), list_b(), list_b(), list_b());
    for m in ms {
        let score = m.enrich.score.as_deref();
        id.append_value(&m.id);
        platform.append_value(m.platform.as_str());
        created.append_value(m.created_at_ms);
        brand.append_value(router.route(m));
        author_id.append_value(&m.author.id);
        handle.append_option(m.author.handle.as_deref());
        followers.append_option(m.author.followers);
        verified.append_value(m.author.verified);
        let (t, was_redacted) = stored_text(m, redact);
        text.append_value(t);
        redacted.append_value(was_redacted);
        lang.append_option(m.enrich.lang.as_deref());
        conf.append_option(m.enrich.lang_confidence);
        hint.append_option(m.lang_hint.as_deref());
        likes.append_value(m.engagement.likes);
        reposts.append_value(m.engagement.reposts);
        replies.append_value(m.engagement.replies);
        repost_of.append_option(m.repost_of.as_deref());
        reply_to.append_option(m.in_reply_to.as_deref());
        url.append_option(m.url.as_deref());
        let d = m.enrich.dedup.as_ref();
        dstatus.append_option(d.map(|d| d.status.as_str()));
        dof.append_option(d.map(|d| d.of.as_str()));
        csize.append_option(d.map(|d| d.cluster_size));
        push_list(&mut brands, score.map(|s| s.brands.iter().map(|b| &*b.id)));
        intent.append_option(score.map(|s| s.intent.as_str()));
        push_list(&mut cues, score.map(|s| s.intent_cues.iter().map(|c| &**c)));
        urgency.append_option(score.map(|s| s.urgency));
        influence.append_option(score.map(|s| s.influence));
        priority.append_option(score.map(|s| s.priority));
        push_list(
            &mut reasons,
            score.map(|s| s.priority_reasons.iter().map(|r| &**r)),
        );
        push_list(&mut pii, score.map(|s| s.pii.iter().map(String::as_str)));
        private.append_option(score.map(|s| s.private_reply));
        sla.append_option(
            score
                .filter(|s| s.sla_secs > 0)
                .map(|s| m.created_at_ms + s.sla_secs as i64 * 1000),
        );
        incident.append_option(m.enrich.covered_by.as_ref().map(|c| c.incident_id.as_str()));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(platform.finish()),
        Arc::new(created.finish()),
        Arc::new(brand.finish()),
        Arc::new(author_id.finish()),
        Arc::new(handle.finish()),
        Arc::new(followers.finish()),
        Arc::new(verified.finish()),
        Arc::new(text.finish()),
        Arc::new(redacted.finish()),
        Arc::new(lang.finish()),
        Arc::new(conf.finish()),
        Arc::new(hint.finish()),
        Arc::new(likes.finish()),
        Arc::new(reposts.finish()),
        Arc::new(replies.finish()),
        Arc::new(repost_of.finish()),
        Arc::new(reply_to.finish()),
        Arc::new(url.finish()),
        Arc::new(dstatus.finish()),
        Arc::new(dof.finish()),
        Arc::new(csize.finish()),
        Arc::new(brands.finish()),
        Arc::new(intent.finish()),
        Arc::new(cues.finish()),
        Arc::new(urgency.finish()),
        Arc::new(influence.finish()),
        Arc::new(priority.finish()),
        Arc::new(reasons.finish()),
        Arc::new(pii.finish()),
        Arc::new(private.finish()),
        Arc::new(sla.finish()),
        Arc::new(incident.finish()),
        Arc::new(TimestampMillisecondArray::from(vec![processed_ms; n]).with_timezone("UTC")),
    ];
    // The builders follow the schema column for column; a mismatch is a bug caught by tests.
    RecordBatch::try_new(mentions_schema(), cols).expect("mentions columns match the schema")
}

fn parse_ms(s: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// One record batch of `incidents` rows. Events whose `at` does not parse are skipped and
/// counted in the second value (the spike stage always writes RFC 3339).
pub fn incidents_batch(events: &[IncidentEvent]) -> (RecordBatch, usize) {
    let n = events.len();
    let mut s: Vec<StringBuilder> = (0..10).map(|_| StringBuilder::new()).collect();
    let mut at = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut opened = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut resolved = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut sev = UInt8Builder::with_capacity(n);
    let mut f: Vec<Float64Builder> = (0..7).map(|_| Float64Builder::with_capacity(n)).collect();
    let mut u: Vec<UInt64Builder> = (0..3).map(|_| UInt64Builder::with_capacity(n)).collect();
    let mut lists: Vec<ListBuilder<StringBuilder>> = (0..3)
        .map(|_| ListBuilder::new(StringBuilder::new()))
        .collect();
    let mut broadcast = BooleanBuilder::with_capacity(n);
    let mut skipped = 0;
    for e in events {
        let Some(at_ms) = parse_ms(&e.at) else {
            skipped += 1;
            continue;
        };
        at.append_value(at_ms);
        opened.append_value(parse_ms(&e.opened_at).unwrap_or(at_ms));
        resolved.append_option(e.resolved_at.as_deref().and_then(parse_ms));
        let ex = &e.explanation;
        let explanation = serde_json::to_string(ex).unwrap_or_default();
        for (b, v) in s.iter_mut().zip([
            e.incident_id.as_str(),
            e.event.as_str(),
            e.brand.as_str(),
            &e.key.label(),
            &e.fired.label(),
            e.summary.as_str(),
            &e.main("lang"),
            &e.main("platform"),
            &e.main("intent"),
            explanation.as_str(),
        ]) {
            b.append_value(v);
        }
        sev.append_value(e.severity);
        let st = &e.stats;
        for (b, v) in f.iter_mut().zip([
            st.observed,
            st.expected,
            st.ratio,
            st.z,
            st.probability,
            st.score,
            e.urgent_share,
        ]) {
            b.append_value(v);
        }
        for (b, v) in u
            .iter_mut()
            .zip([ex.mentions, ex.unique_mentions, ex.unique_authors])
        {
            b.append_value(v);
        }
        push_list(
            &mut lists[0],
            Some(ex.themes.iter().map(|t| t.label.as_str())),
        );
        push_list(
            &mut lists[1],
            Some(ex.top_influencers.iter().map(|i| i.author.as_str())),
        );
        push_list(
            &mut lists[2],
            Some(ex.mention_ids.iter().map(String::as_str)),
        );
        broadcast.append_value(e.broadcast.is_some());
    }
    let mut s = s.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut f = f.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut u = u.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut l = lists
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let next = |it: &mut dyn Iterator<Item = ArrayRef>| it.next().expect("column");
    let (id, event, brand, key, fired, summary, lang, platform, intent, explanation) = (
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
        next(&mut s),
    );
    let cols: Vec<ArrayRef> = vec![
        id,
        event,
        Arc::new(at.finish()),
        Arc::new(opened.finish()),
        Arc::new(resolved.finish()),
        brand,
        key,
        fired,
        Arc::new(sev.finish()),
        summary,
        next(&mut f),
        next(&mut f),
        next(&mut f),
        next(&mut f),
        next(&mut f),
        next(&mut f),
        next(&mut f),
        next(&mut u),
        next(&mut u),
        next(&mut u),
        lang,
        platform,
        intent,
        next(&mut l),
        next(&mut l),
        Arc::new(broadcast.finish()),
        next(&mut l),
        explanation,
    ];
    let batch =
        RecordBatch::try_new(incidents_schema(), cols).expect("incident columns match the schema");
    (batch, skipped)
}

/// Event time of each row (`created_at` of mentions, `at` of incidents): column 2.
pub fn event_times(batch: &RecordBatch) -> Option<&[i64]> {
    let col = batch.column(2);
    col.as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .filter(|a| a.null_count() == 0)
        .map(|a| a.values().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mention::Platform;

    #[test]
    fn batches_match_their_schemas() {
        let mut m = Mention::plain("1", Platform::Twitter, 1_795_000_000_000, "hi");
        m.brand = Some("acme".into());
        let router = BrandRouter::new(&[]);
        let b = mentions_batch(&[&m], &router, true, 1_795_000_001_000);
        assert_eq!(b.num_rows(), 1);
        assert_eq!(event_times(&b), Some(&[1_795_000_000_000][..]));
        let e = IncidentEvent {
            event: "opened".into(),
            incident_id: "i1".into(),
            at: "2026-11-18T10:00:00Z".into(),
            ..Default::default()
        };
        let bad = IncidentEvent {
            at: "yesterday".into(),
            ..e.clone()
        };
        let (b, skipped) = incidents_batch(&[e, bad]);
        assert_eq!((b.num_rows(), skipped), (1, 1));
    }
}
