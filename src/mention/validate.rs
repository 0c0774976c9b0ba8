//! Validation of the input contract: raw bytes become a [`Mention`] or a [`DecodeError`] whose
//! [`DlqReason`] is one of a small fixed set (it is a metric label), with a detail that names
//! the field path ("`author.id`") so the producer can fix it. Never panics on any input (a
//! property test feeds it random bytes).

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Author, Engagement, Enrichment, Mention, Platform, RawRecord};
use crate::clock::Millis;

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::mention::Origin;

    pub const NOW: Millis = 1_795_000_000_000; // 2026-11-18

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

    pub const GOOD: &str = r#"{"id":"1462","platform":"twitter","created_at":"2026-11-17T10:15:00Z","text":"hi @acme","author":{"id":"u1","handle":"@ana","followers":1200,"verified":false},"lang":"fr","engagement":{"likes":3,"reposts":1,"replies":0},"repost_of":"1400","brand":"acme","custom":{"x":1}}"#;

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
