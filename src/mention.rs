//! The input contract (a social-media mention as JSON), its validation, and the enriched output.
//!
//! Contract:
//! - [`decode`] turns raw bytes into a [`Mention`] or a [`DecodeError`] whose [`DlqReason`] is one
//!   of a small fixed set (it is a metric label). It never panics on any input.
//! - The original JSON object is kept in [`Mention::raw`]; unknown fields pass through untouched.
//! - [`Mention::encode`] writes the original object plus the fields the stages added. If the input
//!   carried a platform language hint in `lang`, the output moves it to `lang_hint` because `lang`
//!   is the detected language.

use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::clock::Millis;

/// Where a record came from: enough to find it again (and to put in a dead letter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    Kafka {
        topic: Arc<str>,
        partition: i32,
        offset: i64,
    },
    File {
        path: Arc<str>,
        line: u64,
    },
    Generated {
        seq: u64,
    },
}

/// One message as read from a source, before decoding.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub payload: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Twitter,
    Facebook,
    Instagram,
    Tiktok,
    Youtube,
    Reddit,
    Whatsapp,
    Messenger,
    Email,
    Forum,
    Review,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 12] = [
        Platform::Twitter,
        Platform::Facebook,
        Platform::Instagram,
        Platform::Tiktok,
        Platform::Youtube,
        Platform::Reddit,
        Platform::Whatsapp,
        Platform::Messenger,
        Platform::Email,
        Platform::Forum,
        Platform::Review,
        Platform::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Twitter => "twitter",
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
            Platform::Tiktok => "tiktok",
            Platform::Youtube => "youtube",
            Platform::Reddit => "reddit",
            Platform::Whatsapp => "whatsapp",
            Platform::Messenger => "messenger",
            Platform::Email => "email",
            Platform::Forum => "forum",
            Platform::Review => "review",
            Platform::Other => "other",
        }
    }

    /// Accepts the documented names, case-insensitively, and `x` as an alias of `twitter`.
    pub fn parse(s: &str) -> Option<Platform> {
        let lower = s.to_ascii_lowercase();
        if lower == "x" {
            return Some(Platform::Twitter);
        }
        Platform::ALL.into_iter().find(|p| p.as_str() == lower)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Author {
    pub id: String,
    pub handle: Option<String>,
    pub followers: Option<u64>,
    pub verified: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Engagement {
    pub likes: u64,
    pub reposts: u64,
    pub replies: u64,
}

/// A validated mention: typed view of the contract fields, the original object, and what the
/// stages added.
#[derive(Debug, Clone)]
pub struct Mention {
    pub id: String,
    pub platform: Platform,
    pub created_at_ms: Millis,
    pub text: String,
    pub author: Author,
    pub lang_hint: Option<String>,
    pub engagement: Engagement,
    pub repost_of: Option<String>,
    pub in_reply_to: Option<String>,
    pub url: Option<String>,
    pub brand: Option<String>,
    /// The object exactly as received (unknown fields included).
    pub raw: Map<String, Value>,
    pub key: Option<Vec<u8>>,
    pub origin: Origin,
    pub enrich: Enrichment,
}

/// Fields added by the stages. Each stage fills its own; `None` fields are not written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Enrichment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup: Option<DedupInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang_confidence: Option<f32>,
    /// The scoring stage's fields (brands, intent, urgency, pii, influence, priority, SLA).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub score: Option<Box<crate::stages::scoring::Score>>,
    /// Set by the spike stage while the mention's brand has an incident with a public status
    /// update: answer with the drafted reply and the status link instead of one by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<std::sync::Arc<CoveredBy>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoveredBy {
    pub incident_id: String,
    pub status_url: String,
    /// The drafted customer reply, in the mention's language when a template exists.
    pub reply: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DedupInfo {
    pub status: DedupStatus,
    /// Id of the first-seen original (the mention's own id when unique).
    pub of: String,
    pub cluster_size: u32,
    /// Hashes (`dedup::text::word_hash`) of the text's distinct content words, ascending,
    /// when dedup tokenised the text (unique and near mentions): the spike stage's themes
    /// read them instead of tokenising the text again. Not part of the output.
    #[serde(skip)]
    pub terms: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupStatus {
    Unique,
    Exact,
    Repost,
    Near,
}

impl DedupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DedupStatus::Unique => "unique",
            DedupStatus::Exact => "exact",
            DedupStatus::Repost => "repost",
            DedupStatus::Near => "near",
        }
    }
}

/// Why a record went to the dead-letter output. A closed set: it is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DlqReason {
    Oversized,
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    MissingField,
    WrongType,
    InvalidValue,
    BadTimestamp,
}

impl DlqReason {
    pub const ALL: [DlqReason; 8] = [
        DlqReason::Oversized,
        DlqReason::InvalidUtf8,
        DlqReason::InvalidJson,
        DlqReason::NotAnObject,
        DlqReason::MissingField,
        DlqReason::WrongType,
        DlqReason::InvalidValue,
        DlqReason::BadTimestamp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DlqReason::Oversized => "oversized",
            DlqReason::InvalidUtf8 => "invalid_utf8",
            DlqReason::InvalidJson => "invalid_json",
            DlqReason::NotAnObject => "not_an_object",
            DlqReason::MissingField => "missing_field",
            DlqReason::WrongType => "wrong_type",
            DlqReason::InvalidValue => "invalid_value",
            DlqReason::BadTimestamp => "bad_timestamp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason:?}: {detail}")]
pub struct DecodeError {
    pub reason: DlqReason,
    pub detail: String,
}

fn err(reason: DlqReason, detail: impl Into<String>) -> DecodeError {
    DecodeError {
        reason,
        detail: detail.into(),
    }
}

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_message_bytes: usize,
    /// Timestamps before this are absurd (default: 2000-01-01).
    pub min_timestamp_ms: Millis,
    /// Timestamps further than this ahead of the decoder's clock are absurd.
    pub max_future_ms: Millis,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            min_timestamp_ms: 946_684_800_000,
            max_future_ms: 24 * 3600 * 1000,
        }
    }
}

/// Validates one raw record against the contract. `now_ms` bounds future timestamps.
pub fn decode(
    raw: RawRecord,
    limits: &DecodeLimits,
    now_ms: Millis,
) -> Result<Mention, DecodeError> {
    if raw.payload.len() > limits.max_message_bytes {
        return Err(err(
            DlqReason::Oversized,
            format!(
                "message is {} bytes, over the configured limit of {} (limits.max_message_bytes)",
                raw.payload.len(),
                limits.max_message_bytes
            ),
        ));
    }
    let text = std::str::from_utf8(&raw.payload).map_err(|e| {
        err(
            DlqReason::InvalidUtf8,
            format!("payload is not valid UTF-8 ({e})"),
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| err(DlqReason::InvalidJson, format!("payload is not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(err(
            DlqReason::NotAnObject,
            format!("expected a JSON object, got {}", type_name(&value)),
        ));
    };

    let id = id_field(&obj, "id")?.ok_or_else(|| missing("id"))?;
    if id.is_empty() {
        return Err(err(DlqReason::InvalidValue, "field `id` is empty"));
    }
    let platform_s = str_field(&obj, "platform")?.ok_or_else(|| missing("platform"))?;
    let platform = Platform::parse(platform_s).ok_or_else(|| {
        err(
            DlqReason::InvalidValue,
            format!("field `platform` has unknown value {platform_s:?}"),
        )
    })?;
    let created_at_ms = timestamp(&obj, limits, now_ms)?;
    let text = str_field(&obj, "text")?
        .ok_or_else(|| missing("text"))?
        .to_owned();
    let author = author(&obj)?;
    let lang_hint = str_field(&obj, "lang")?.map(str::to_owned);
    let engagement = engagement(&obj)?;
    let repost_of = id_field(&obj, "repost_of")?;
    let in_reply_to = id_field(&obj, "in_reply_to")?;
    let url = str_field(&obj, "url")?.map(str::to_owned);
    let brand = str_field(&obj, "brand")?.map(str::to_owned);

    Ok(Mention {
        id,
        platform,
        created_at_ms,
        text,
        author,
        lang_hint,
        engagement,
        repost_of,
        in_reply_to,
        url,
        brand,
        raw: obj,
        key: raw.key,
        origin: raw.origin,
        enrich: Enrichment::default(),
    })
}

fn missing(field: &str) -> DecodeError {
    err(
        DlqReason::MissingField,
        format!("required field `{field}` is missing"),
    )
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> DecodeError {
    err(
        DlqReason::WrongType,
        format!("field `{field}` must be {expected}, got {}", type_name(got)),
    )
}

/// A string field; absent or `null` is `None`.
fn str_field<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, DecodeError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

/// An identifier: a string, or a non-negative integer (numeric ids are common in exports) kept
/// as its decimal string.
fn id_field(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, DecodeError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(field, "a string id", other)),
    }
}

fn count_field(
    obj: &Map<String, Value>,
    path: &str,
    field: &str,
) -> Result<Option<u64>, DecodeError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            err(
                DlqReason::WrongType,
                format!("field `{path}` must be a non-negative integer, got {n}"),
            )
        }),
        Some(other) => Err(wrong_type(path, "a non-negative integer", other)),
    }
}

fn timestamp(
    obj: &Map<String, Value>,
    limits: &DecodeLimits,
    now_ms: Millis,
) -> Result<Millis, DecodeError> {
    let ms = match obj.get("created_at") {
        None | Some(Value::Null) => return Err(missing("created_at")),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                err(
                    DlqReason::BadTimestamp,
                    format!("field `created_at` is not RFC 3339 ({e}): {s:?}"),
                )
            })?
            .timestamp_millis(),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            err(
                DlqReason::BadTimestamp,
                format!("field `created_at` must be integer epoch milliseconds, got {n}"),
            )
        })?,
        Some(other) => {
            return Err(wrong_type(
                "created_at",
                "an RFC 3339 string or epoch milliseconds",
                other,
            ))
        }
    };
    if ms < limits.min_timestamp_ms || ms > now_ms.saturating_add(limits.max_future_ms) {
        let shown = chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| format!("{ms} ms"));
        return Err(err(
            DlqReason::BadTimestamp,
            format!(
                "field `created_at` is {shown}, outside the plausible range (epoch seconds instead of milliseconds?)"
            ),
        ));
    }
    Ok(ms)
}

fn author(obj: &Map<String, Value>) -> Result<Author, DecodeError> {
    let a = match obj.get("author") {
        None | Some(Value::Null) => return Err(missing("author")),
        Some(Value::Object(a)) => a,
        Some(other) => return Err(wrong_type("author", "an object", other)),
    };
    let id = id_field(a, "id")
        .map_err(|e| rename(e, "id", "author.id"))?
        .ok_or_else(|| missing("author.id"))?;
    let handle = str_field(a, "handle")
        .map_err(|e| rename(e, "handle", "author.handle"))?
        .map(str::to_owned);
    let followers = count_field(a, "author.followers", "followers")?;
    let verified = match a.get("verified") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong_type("author.verified", "a boolean", other)),
    };
    Ok(Author {
        id,
        handle,
        followers,
        verified,
    })
}

fn rename(mut e: DecodeError, from: &str, to: &str) -> DecodeError {
    e.detail = e
        .detail
        .replacen(&format!("`{from}`"), &format!("`{to}`"), 1);
    e
}

fn engagement(obj: &Map<String, Value>) -> Result<Engagement, DecodeError> {
    let e = match obj.get("engagement") {
        None | Some(Value::Null) => return Ok(Engagement::default()),
        Some(Value::Object(e)) => e,
        Some(other) => return Err(wrong_type("engagement", "an object", other)),
    };
    Ok(Engagement {
        likes: count_field(e, "engagement.likes", "likes")?.unwrap_or(0),
        reposts: count_field(e, "engagement.reposts", "reposts")?.unwrap_or(0),
        replies: count_field(e, "engagement.replies", "replies")?.unwrap_or(0),
    })
}

impl Mention {
    /// The language to act on: the detected one, else the platform's hint (`None` when
    /// neither knows).
    pub fn language(&self) -> Option<&str> {
        self.enrich
            .lang
            .as_deref()
            .filter(|l| *l != "und")
            .or(self.lang_hint.as_deref())
    }

    /// A mention with only the contract's required fields (evaluation tools and tests).
    pub fn plain(id: &str, platform: Platform, created_at_ms: Millis, text: &str) -> Mention {
        Mention {
            id: id.to_string(),
            platform,
            created_at_ms,
            text: text.to_string(),
            author: Author::default(),
            lang_hint: None,
            engagement: Engagement::default(),
            repost_of: None,
            in_reply_to: None,
            url: None,
            brand: None,
            raw: Map::new(),
            key: None,
            origin: Origin::Generated { seq: 0 },
            enrich: Enrichment::default(),
        }
    }

    /// The key to partition by downstream: the input key, else the brand.
    pub fn output_key(&self) -> Option<Vec<u8>> {
        self.key
            .clone()
            .or_else(|| self.brand.as_ref().map(|b| b.as_bytes().to_vec()))
    }

    /// The output object: the original fields plus the enrichment.
    pub fn to_output(&self) -> Map<String, Value> {
        let mut out = self.raw.clone();
        if let Some(hint) = out.shift_remove("lang") {
            out.insert("lang_hint".into(), hint);
        }
        if let Ok(Value::Object(fields)) = serde_json::to_value(&self.enrich) {
            for (k, v) in fields {
                out.insert(k, v);
            }
        }
        out
    }

    /// One JSON document, no trailing newline.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising a Map of Values cannot fail.
        serde_json::to_vec(&self.to_output()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_000_000_000; // 2026-11-18

    fn rec(s: &[u8]) -> RawRecord {
        RawRecord {
            payload: s.to_vec(),
            key: None,
            origin: Origin::Generated { seq: 0 },
        }
    }

    fn dec(s: &str) -> Result<Mention, DecodeError> {
        decode(rec(s.as_bytes()), &DecodeLimits::default(), NOW)
    }

    const GOOD: &str = r#"{"id":"1462","platform":"twitter","created_at":"2026-11-17T10:15:00Z","text":"hi @acme","author":{"id":"u1","handle":"@ana","followers":1200,"verified":false},"lang":"fr","engagement":{"likes":3,"reposts":1,"replies":0},"repost_of":"1400","brand":"acme","custom":{"x":1}}"#;

    #[test]
    fn decodes_the_documented_example() {
        let m = dec(GOOD).unwrap();
        assert_eq!(m.id, "1462");
        assert_eq!(m.platform, Platform::Twitter);
        assert_eq!(m.author.followers, Some(1200));
        assert_eq!(m.engagement.reposts, 1);
        assert_eq!(m.repost_of.as_deref(), Some("1400"));
        assert_eq!(m.lang_hint.as_deref(), Some("fr"));
    }

    #[test]
    fn output_keeps_unknown_fields_and_moves_the_hint() {
        let mut m = dec(GOOD).unwrap();
        m.enrich.lang = Some("fr".into());
        let out: Value = serde_json::from_slice(&m.encode()).unwrap();
        assert_eq!(out["custom"]["x"], 1);
        assert_eq!(out["lang_hint"], "fr");
        assert_eq!(out["lang"], "fr");
        assert_eq!(out["text"], "hi @acme");
    }

    #[test]
    fn epoch_millis_and_numeric_ids_are_accepted() {
        let m = dec(
            r#"{"id":17,"platform":"X","created_at":1794900000000,"text":"","author":{"id":5}}"#,
        )
        .unwrap();
        assert_eq!(m.id, "17");
        assert_eq!(m.author.id, "5");
        assert_eq!(m.platform, Platform::Twitter);
        assert_eq!(m.created_at_ms, 1_794_900_000_000);
    }

    #[test]
    fn every_kind_of_bad_input_gets_its_reason() {
        let cases: &[(&[u8], DlqReason)] = &[
            (b"\xff\xfe{}", DlqReason::InvalidUtf8),
            (b"{\"id\":", DlqReason::InvalidJson),
            (b"[1,2]", DlqReason::NotAnObject),
            (br#"{"platform":"twitter","created_at":1794900000000,"text":"","author":{"id":"u"}}"#, DlqReason::MissingField),
            (br#"{"id":"1","platform":"twitter","created_at":1794900000000,"text":"","author":{}}"#, DlqReason::MissingField),
            (br#"{"id":"1","platform":"twitter","created_at":1794900000000,"author":{"id":"u"}}"#, DlqReason::MissingField),
            (br#"{"id":"1","platform":"twitter","created_at":1794900000000,"text":5,"author":{"id":"u"}}"#, DlqReason::WrongType),
            (br#"{"id":true,"platform":"twitter","created_at":1794900000000,"text":"","author":{"id":"u"}}"#, DlqReason::WrongType),
            (br#"{"id":"1","platform":"twitter","created_at":1794900000000,"text":"","author":{"id":"u","followers":-3}}"#, DlqReason::WrongType),
            (br#"{"id":"1","platform":"myspace","created_at":1794900000000,"text":"","author":{"id":"u"}}"#, DlqReason::InvalidValue),
            (br#"{"id":"1","platform":"twitter","created_at":1794900000,"text":"","author":{"id":"u"}}"#, DlqReason::BadTimestamp),
            (br#"{"id":"1","platform":"twitter","created_at":"yesterday","text":"","author":{"id":"u"}}"#, DlqReason::BadTimestamp),
            (br#"{"id":"1","platform":"twitter","created_at":"2099-01-01T00:00:00Z","text":"","author":{"id":"u"}}"#, DlqReason::BadTimestamp),
        ];
        for (input, want) in cases {
            let got = decode(rec(input), &DecodeLimits::default(), NOW).unwrap_err();
            assert_eq!(
                got.reason,
                *want,
                "{}: {}",
                String::from_utf8_lossy(input),
                got.detail
            );
        }
    }

    #[test]
    fn nested_field_errors_name_the_full_path() {
        let e = dec(r#"{"id":"1","platform":"twitter","created_at":1794900000000,"text":"","author":{"id":[1]}}"#)
            .unwrap_err();
        assert!(e.detail.contains("`author.id`"), "{}", e.detail);
    }

    #[test]
    fn oversized_is_rejected_before_parsing() {
        let limits = DecodeLimits {
            max_message_bytes: 10,
            ..Default::default()
        };
        let e = decode(rec(GOOD.as_bytes()), &limits, NOW).unwrap_err();
        assert_eq!(e.reason, DlqReason::Oversized);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode(rec(&bytes), &DecodeLimits::default(), NOW);
        }
    }
}
