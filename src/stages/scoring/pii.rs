//! Personal data in a public post: what kinds, where, and the text with them redacted.
//!
//! Contract: card numbers are 13–19 digits (spaces or dashes allowed between groups) that pass
//! the Luhn check; IBANs are a country code, two check digits and 11–30 letters or digits
//! (grouped by spaces or not) that pass the ISO 7064 mod-97 check; e-mail addresses have a
//! local part, `@` and a dotted domain; phone numbers are 9–15 digits written as a phone
//! number (leading `+` or `0`, or grouped like `555-123-4567`) that are not a card. Operators
//! add account or order numbers as regular expressions (`[[stages.scoring.pii_patterns]]`).
//! Any kind marked private (cards, IBANs, e-mail, phones, and patterns unless told otherwise)
//! sets `private_reply`: the answer must move to a private channel.

use regex::Regex;
use serde::Deserialize;

/// `[[stages.scoring.pii_patterns]]`: an operator's pattern for account or order numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiPattern {
    /// The kind reported and used in the redaction (`[order_number]`); lowercase letters and `_`.
    pub kind: String,
    /// A regular expression (Rust `regex` syntax); the whole match is redacted.
    pub pattern: String,
    /// Whether this kind requires a private reply.
    #[serde(default = "yes")]
    pub private: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct PiiScanner {
    patterns: Vec<(String, Regex, bool)>,
}

/// What was found in one text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PiiFound {
    /// Kinds found, each once, in a stable order.
    pub kinds: Vec<String>,
    pub private_reply: bool,
    /// `None` when nothing was found (the text is unchanged).
    pub redacted: Option<String>,
}

impl PiiScanner {
    pub fn new(patterns: &[PiiPattern]) -> Result<Self, regex::Error> {
        let patterns = patterns
            .iter()
            .map(|p| Ok((p.kind.clone(), Regex::new(&p.pattern)?, p.private)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(PiiScanner { patterns })
    }

    pub fn scan(&self, text: &str) -> PiiFound {
        let mut spans: Vec<(usize, usize, &str, bool)> = Vec::new();
        let bytes = text.as_bytes();
        let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
        if digits >= 9 {
            find_numbers(text, &mut spans);
            find_ibans(text, &mut spans);
        }
        if bytes.contains(&b'@') {
            find_emails(text, &mut spans);
        }
        for (kind, re, private) in &self.patterns {
            for m in re.find_iter(text) {
                if !m.is_empty() {
                    spans.push((m.start(), m.end(), kind.as_str(), *private));
                }
            }
        }
        if spans.is_empty() {
            return PiiFound::default();
        }
        spans.sort_by_key(|s| (s.0, std::cmp::Reverse(s.1)));
        let mut out = String::with_capacity(text.len());
        let mut kinds: Vec<String> = Vec::new();
        let mut private = false;
        let mut at = 0;
        for (s, e, kind, p) in spans {
            if s < at {
                continue; // overlaps a longer span already redacted
            }
            out.push_str(&text[at..s]);
            out.push('[');
            out.push_str(kind);
            out.push(']');
            at = e;
            private |= p;
            if !kinds.iter().any(|k| k == kind) {
                kinds.push(kind.to_string());
            }
        }
        out.push_str(&text[at..]);
        kinds.sort();
        PiiFound {
            kinds,
            private_reply: private,
            redacted: Some(out),
        }
    }
}

/// Digit runs with single spaces, dashes or dots between groups: cards and phone numbers.
fn find_numbers<'a>(text: &'a str, spans: &mut Vec<(usize, usize, &'a str, bool)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts_plus = b[i] == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        let starts_paren = b[i] == b'(' && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(b[i].is_ascii_digit() || starts_plus || starts_paren)
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric()))
        {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        let mut ds: Vec<u8> = Vec::with_capacity(20);
        let mut groups: Vec<usize> = Vec::new();
        let mut j = i + usize::from(starts_plus || starts_paren);
        while j < b.len() {
            if b[j].is_ascii_digit() {
                if ds.is_empty() || !b[j - 1].is_ascii_digit() {
                    groups.push(0);
                }
                if let Some(g) = groups.last_mut() {
                    *g += 1;
                }
                ds.push(b[j] - b'0');
                j += 1;
                end = j;
            } else if matches!(b[j], b' ' | b'-' | b'.' | b')' | b'(')
                && b.get(j + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b' ')
                && !ds.is_empty()
            {
                j += 1;
            } else {
                break;
            }
            if ds.len() > 19 {
                break;
            }
        }
        let followed_by_alnum = b.get(end).is_some_and(u8::is_ascii_alphanumeric);
        let n = ds.len();
        let kind = if followed_by_alnum {
            None
        } else if (13..=19).contains(&n) && luhn(&ds) {
            Some("card")
        } else if (9..=15).contains(&n)
            && (starts_plus || starts_paren || ds[0] == 0 || groups == [3, 3, 4])
        {
            Some("phone")
        } else {
            None
        };
        match kind {
            Some(k) => {
                spans.push((start, end, k, true));
                i = end.max(i + 1);
            }
            // Not a number we know: a card or phone may start at a later group of this run
            // ("ref 1 4111 1111 1111 1111").
            None => i += 1,
        }
    }
}

pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10) && !digits.iter().all(|&d| d == digits[0])
}

fn find_ibans<'a>(text: &'a str, spans: &mut Vec<(usize, usize, &'a str, bool)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 4 < b.len() {
        let head = b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !head {
            i += 1;
            continue;
        }
        let mut chars: Vec<u8> = Vec::with_capacity(34);
        let mut j = i;
        let mut end = i;
        while j < b.len() && chars.len() < 34 {
            if b[j].is_ascii_alphanumeric() {
                chars.push(b[j].to_ascii_uppercase());
                j += 1;
                end = j;
            } else if b[j] == b' ' && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
                // Groups of four: stop at a space after a short group (the IBAN ended).
                let group = chars.len() % 4;
                if group != 0 {
                    break;
                }
                j += 1;
            } else {
                break;
            }
        }
        if (15..=34).contains(&chars.len()) && iban_valid(&chars) {
            spans.push((i, end, "iban", true));
            i = end;
        } else {
            i += 1;
        }
    }
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1.
pub fn iban_valid(chars: &[u8]) -> bool {
    if chars.len() < 15 || !chars[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + (c - b'0') as u32) % 97;
        } else if c.is_ascii_uppercase() {
            let v = (c - b'A') as u32 + 10;
            rem = (rem * 100 + v) % 97;
        } else {
            return false;
        }
    }
    rem == 1
}

fn find_emails<'a>(text: &'a str, spans: &mut Vec<(usize, usize, &'a str, bool)>) {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && b[e - 1] == b'.' {
            e -= 1;
        }
        let dom = &text[at + 1..e];
        let tld_ok = dom.rsplit_once('.').is_some_and(|(h, t)| {
            !h.is_empty() && t.len() >= 2 && t.bytes().all(|c| c.is_ascii_alphabetic())
        });
        if s < at && tld_ok {
            spans.push((s, e, "email", true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> PiiFound {
        PiiScanner::new(&[PiiPattern {
            kind: "order_number".into(),
            pattern: r"(?i)\border\s*#?\s*[A-Z]{2}\d{6}\b".into(),
            private: false,
        }])
        .unwrap()
        .scan(text)
    }

    #[test]
    fn cards_need_luhn() {
        let f = scan("my card 4111 1111 1111 1111 was charged twice");
        assert_eq!(f.kinds, ["card"]);
        assert!(f.private_reply);
        assert_eq!(
            f.redacted.as_deref(),
            Some("my card [card] was charged twice")
        );
        assert!(scan("tracking 4111 1111 1111 1112 today").kinds.is_empty());
        assert!(scan("4111-1111-1111-1111").kinds == ["card"]);
        assert_eq!(
            scan("ref 000000000 -1 4111 1111 1111 1111").kinds,
            ["card", "phone"]
        );
    }

    #[test]
    fn ibans_need_mod_97() {
        let f = scan("refund to GB82 WEST 1234 5698 7654 32 please");
        assert_eq!(f.kinds, ["iban"]);
        assert_eq!(f.redacted.as_deref(), Some("refund to [iban] please"));
        assert_eq!(scan("DE89370400440532013000").kinds, ["iban"]);
        assert!(scan("GB82 WEST 1234 5698 7654 33").kinds.is_empty());
    }

    #[test]
    fn emails_phones_and_patterns() {
        let f = scan("mail me at jane.doe@example.co.uk or call +44 20 7946 0958");
        assert_eq!(f.kinds, ["email", "phone"]);
        assert_eq!(
            f.redacted.as_deref(),
            Some("mail me at [email] or call [phone]")
        );
        assert!(scan("@NorthwindAir hello").kinds.is_empty());
        assert_eq!(scan("call 555-123-4567 now").kinds, ["phone"]);
        let o = scan("Order # AB123456 never came");
        assert_eq!(o.kinds, ["order_number"]);
        assert!(!o.private_reply);
        assert!(scan("flight NW1234 delayed 3 hours, 2024 was better")
            .kinds
            .is_empty());
    }
}
