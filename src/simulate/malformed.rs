//! Malformed records, one kind per dead-letter reason, so tests can check each reason.

use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::{json, Map, Value};

/// Corrupts a valid object; returns the bytes and the dead-letter reason they must get.
pub fn corrupt(rng: &mut SmallRng, mut obj: Map<String, Value>) -> (Vec<u8>, &'static str) {
    let kind = rng.gen_range(0..8);
    let bytes = |o: &Map<String, Value>| serde_json::to_vec(o).unwrap_or_default();
    match kind {
        0 => {
            let b = bytes(&obj);
            let cut = b.len() / 2;
            (b[..cut].to_vec(), "invalid_json")
        }
        1 => {
            let mut b = bytes(&obj);
            let at = b.len() / 3;
            b.insert(at, 0xff);
            (b, "invalid_utf8")
        }
        2 => {
            let field = ["id", "author", "platform", "created_at", "text"][rng.gen_range(0..5)];
            obj.shift_remove(field);
            (bytes(&obj), "missing_field")
        }
        3 => {
            obj.insert("text".into(), json!(12345));
            (bytes(&obj), "wrong_type")
        }
        4 => {
            // Epoch seconds where milliseconds are expected: lands in January 1970.
            let secs = obj
                .get("created_at")
                .and_then(Value::as_str)
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.timestamp())
                .unwrap_or(1_795_000_000);
            obj.insert("created_at".into(), json!(secs));
            (bytes(&obj), "bad_timestamp")
        }
        5 => {
            obj.insert("text".into(), json!("x".repeat(70 * 1024)));
            (bytes(&obj), "oversized")
        }
        6 => (
            format!("[{}]", String::from_utf8_lossy(&bytes(&obj))).into_bytes(),
            "not_an_object",
        ),
        _ => {
            obj.insert("platform".into(), json!("myspace"));
            (bytes(&obj), "invalid_value")
        }
    }
}
