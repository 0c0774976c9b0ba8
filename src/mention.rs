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

mod validate;
pub use validate::{decode, DecodeError, DecodeLimits, DlqReason};

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

    #[test]
    fn output_keeps_unknown_fields_and_moves_the_hint() {
        let raw = RawRecord {
            payload: validate::tests::GOOD.as_bytes().to_vec(),
            key: None,
            origin: Origin::Generated { seq: 0 },
        };
        let mut m = decode(raw, &DecodeLimits::default(), validate::tests::NOW).unwrap();
        m.enrich.lang = Some("fr".into());
        let out: Value = serde_json::from_slice(&m.encode()).unwrap();
        assert_eq!(out["custom"]["x"], 1);
        assert_eq!(out["lang_hint"], "fr");
        assert_eq!(out["lang"], "fr");
        assert_eq!(out["text"], "hi @acme");
    }
}
