//! Dead letters: a record that failed decoding, with its original bytes, the reason, and where
//! it came from, so it can be inspected, fixed and replayed.

use base64::Engine;
use serde_json::json;

use super::OutRecord;
use crate::clock::Millis;
use crate::mention::{DlqReason, Origin};

#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub payload: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub origin: Origin,
    pub reason: DlqReason,
    pub error: String,
    pub at_ms: Millis,
}

pub const HEADER_REASON: &str = "tocsin.dlq.reason";
pub const HEADER_ERROR: &str = "tocsin.dlq.error";
pub const HEADER_ORIGIN: &str = "tocsin.dlq.origin";

impl DeadLetter {
    /// Kafka form: the original key and bytes, untouched; context in headers.
    pub fn into_kafka_record(self) -> OutRecord {
        let origin = serde_json::to_vec(&self.origin).unwrap_or_default();
        OutRecord {
            key: self.key,
            payload: self.payload,
            headers: vec![
                (
                    HEADER_REASON.into(),
                    self.reason.as_str().as_bytes().to_vec(),
                ),
                (HEADER_ERROR.into(), self.error.into_bytes()),
                (HEADER_ORIGIN.into(), origin),
            ],
        }
    }

    /// File form: one JSON object. `payload` holds the text when it is valid UTF-8;
    /// `payload_base64` always holds the exact bytes.
    pub fn into_json_record(self) -> OutRecord {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.payload);
        let text = String::from_utf8(self.payload).ok();
        let at = chrono::DateTime::from_timestamp_millis(self.at_ms)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let v = json!({
            "reason": self.reason.as_str(),
            "error": self.error,
            "origin": self.origin,
            "dead_lettered_at": at,
            "payload": text,
            "payload_base64": b64,
        });
        OutRecord {
            key: None,
            payload: serde_json::to_vec(&v).unwrap_or_default(),
            headers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dl(payload: &[u8]) -> DeadLetter {
        DeadLetter {
            payload: payload.to_vec(),
            key: Some(b"acme".to_vec()),
            origin: Origin::Kafka {
                topic: "mentions".into(),
                partition: 2,
                offset: 41,
            },
            reason: DlqReason::InvalidUtf8,
            error: "payload is not valid UTF-8".into(),
            at_ms: 0,
        }
    }

    #[test]
    fn json_form_keeps_exact_bytes() {
        let r = dl(b"\xff\x00x").into_json_record();
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(v["reason"], "invalid_utf8");
        assert!(v["payload"].is_null());
        let back = base64::engine::general_purpose::STANDARD
            .decode(v["payload_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(back, b"\xff\x00x");
        assert_eq!(v["origin"]["partition"], 2);
    }

    #[test]
    fn kafka_form_keeps_key_and_value() {
        let r = dl(b"{bad").into_kafka_record();
        assert_eq!(r.payload, b"{bad");
        assert_eq!(r.key.as_deref(), Some(&b"acme"[..]));
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == HEADER_REASON && v == b"invalid_utf8"));
    }
}
