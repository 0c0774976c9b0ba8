//! Intent and urgency from the cues a text contains.
//!
//! Contract: the intent is the most severe one with evidence: `safety`, then `security`, then
//! `outage` (one cue each is enough), then `complaint` when the complaint evidence (complaint
//! cues, negative words, negated praise, repeated contact, angry emoji) reaches
//! [`COMPLAINT_MIN`] and is not outweighed by praise, then `question`, `praise`, `other`.
//! Urgency (0–100) adds to the intent's base: negativity and intensity, time pressure, repeated
//! contact and exposed personal data, each capped, with the parts reported.

use serde::Serialize;

use super::lexicon::{Cat, Hit, CATS};
use super::text::Tokens;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Outage,
    Safety,
    Security,
    Complaint,
    Question,
    Praise,
    Other,
}

impl Intent {
    pub const ALL: [Intent; 7] = [
        Intent::Outage,
        Intent::Safety,
        Intent::Security,
        Intent::Complaint,
        Intent::Question,
        Intent::Praise,
        Intent::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Outage => "outage",
            Intent::Safety => "safety",
            Intent::Security => "security",
            Intent::Complaint => "complaint",
            Intent::Question => "question",
            Intent::Praise => "praise",
            Intent::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// Outage, safety, security and complaint: someone has a problem.
    pub fn is_urgent(self) -> bool {
        matches!(
            self,
            Intent::Outage | Intent::Safety | Intent::Security | Intent::Complaint
        )
    }

    /// The urgency an intent starts from.
    pub fn base_urgency(self) -> u32 {
        match self {
            Intent::Safety => 60,
            Intent::Security => 55,
            Intent::Outage => 45,
            Intent::Complaint => 25,
            Intent::Question => 12,
            Intent::Other => 5,
            Intent::Praise => 2,
        }
    }
}

/// Complaint evidence needed to call a text a complaint.
pub const COMPLAINT_MIN: f32 = 1.0;

const ANGRY_EMOJI: &[char] = &[
    '😡', '🤬', '😠', '😤', '😞', '😩', '😫', '😢', '😭', '👎', '💩', '🙄', '😒', '😑', '🤦', '😖',
    '😣', '😓', '💔',
];
const HAPPY_EMOJI: &[char] = &[
    '😍', '🥰', '❤', '♥', '💕', '💖', '😊', '😀', '😃', '😄', '😁', '🙂', '👍', '👏', '🙌', '🎉',
    '💯', '🤩', '😘',
];
const SAFETY_EMOJI: &[char] = &['🚑', '🤢', '🤮', '🩸'];

/// Evidence gathered from one text.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Non-negated cues per category.
    pub n: [f32; CATS],
    pub negated_praise: f32,
    pub negated_negative: f32,
    pub angry_emoji: f32,
    pub happy_emoji: f32,
    pub safety_emoji: f32,
}

impl Evidence {
    pub fn gather(hits: &[Hit], t: &Tokens) -> Self {
        let mut e = Evidence::default();
        for h in hits {
            // A word that is both praise and positive ("great") counts once, as praise.
            let praised = |h: &Hit| {
                hits.iter()
                    .any(|o| o.token == h.token && o.cat == Cat::Praise && o.negated == h.negated)
            };
            if h.cat == Cat::Positive && praised(h) {
                continue;
            }
            match (h.cat, h.negated) {
                (Cat::Praise | Cat::Positive, true) => e.negated_praise += 1.0,
                (Cat::Negative, true) => e.negated_negative += 1.0,
                (_, true) => {}
                (c, false) => e.n[c as usize] += 1.0,
            }
        }
        for c in &t.emoji {
            if ANGRY_EMOJI.contains(c) {
                e.angry_emoji += 1.0;
            } else if HAPPY_EMOJI.contains(c) {
                e.happy_emoji += 1.0;
            } else if SAFETY_EMOJI.contains(c) {
                e.safety_emoji += 1.0;
            }
        }
        e
    }

    fn get(&self, c: Cat) -> f32 {
        self.n[c as usize]
    }

    pub fn complaint(&self) -> f32 {
        self.get(Cat::Complaint)
            + 0.75 * self.get(Cat::Negative)
            + 0.75 * self.negated_praise
            + 0.5 * self.get(Cat::Repeat)
            + 0.75 * self.angry_emoji.min(2.0)
    }

    pub fn praise(&self) -> f32 {
        self.get(Cat::Praise)
            + 0.5 * self.get(Cat::Positive)
            + self.negated_negative
            + 0.5 * self.happy_emoji.min(2.0)
    }

    pub fn intent(&self, question_mark: bool) -> Intent {
        if self.get(Cat::Safety) > 0.0 || self.safety_emoji > 0.0 {
            return Intent::Safety;
        }
        if self.get(Cat::Security) > 0.0 {
            return Intent::Security;
        }
        if self.get(Cat::Outage) > 0.0 {
            return Intent::Outage;
        }
        let (c, p) = (self.complaint(), self.praise());
        if c >= COMPLAINT_MIN && c >= p {
            return Intent::Complaint;
        }
        if question_mark || self.get(Cat::Question) > 0.0 {
            return Intent::Question;
        }
        if p >= 1.0 {
            return Intent::Praise;
        }
        Intent::Other
    }
}

/// Urgency and its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Urgency {
    /// The total (written as the mention's `urgency`).
    #[serde(skip)]
    pub score: u32,
    pub intent: u32,
    pub negativity: u32,
    pub time: u32,
    pub repeat: u32,
    pub pii: u32,
}

pub fn urgency(intent: Intent, e: &Evidence, t: &Tokens, pii: bool) -> Urgency {
    let shouting = t.letters >= 10 && t.caps_letters * 2 > t.letters;
    let neg = 6.0 * (e.get(Cat::Negative) + e.negated_praise)
        + 4.0 * e.get(Cat::Intensifier).min(3.0)
        + 3.0 * (t.exclamations.min(3) as f32)
        + 4.0 * e.angry_emoji.min(3.0)
        + if shouting { 8.0 } else { 0.0 };
    let negativity = if intent == Intent::Praise {
        0
    } else {
        (neg as u32).min(20)
    };
    let time = match e.get(Cat::Time) as u32 {
        0 => 0,
        n => (10 + 5 * n).min(20),
    };
    let repeat = match e.get(Cat::Repeat) as u32 {
        0 => 0,
        n => (10 + 5 * n).min(20),
    };
    let pii = if pii { 10 } else { 0 };
    let base = intent.base_urgency();
    Urgency {
        score: (base + negativity + time + repeat + pii).min(100),
        intent: base,
        negativity,
        time,
        repeat,
        pii,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexicon::Lexicons;
    use super::*;

    fn classify(text: &str, lang: Option<&str>) -> (Intent, Urgency) {
        let lx = Lexicons::builtin();
        let mut t = Tokens::default();
        t.parse(text);
        let mut hits = Vec::new();
        lx.find(&t, lx.mask_for(lang), &mut hits);
        let e = Evidence::gather(&hits, &t);
        let i = e.intent(t.question);
        (i, urgency(i, &e, &t, false))
    }

    #[test]
    fn intents_in_several_languages() {
        let cases = [
            (
                "@NorthwindAir the app is down again, can't log in",
                "en",
                Intent::Outage,
            ),
            (
                "my charger caught fire and burned my hand",
                "en",
                Intent::Safety,
            ),
            (
                "someone hacked my account and took money",
                "en",
                Intent::Security,
            ),
            (
                "worst service ever, still waiting for my refund",
                "en",
                Intent::Complaint,
            ),
            ("how do I change my seat?", "en", Intent::Question),
            ("thank you so much, great crew!", "en", Intent::Praise),
            ("not bad at all, really", "en", Intent::Praise),
            (
                "l'appli ne marche plus depuis ce matin",
                "fr",
                Intent::Outage,
            ),
            ("pas mal du tout", "fr", Intent::Praise),
            ("Die App funktioniert nicht mehr", "de", Intent::Outage),
            ("no funciona la app desde ayer", "es", Intent::Outage),
            ("não consigo acessar minha conta", "pt", Intent::Outage),
            ("non funziona niente, vergogna", "it", Intent::Outage),
            ("de app werkt niet", "nl", Intent::Outage),
            ("приложение не работает", "ru", Intent::Outage),
            ("appið virkar ekki", "is", Intent::Outage),
            ("just landed", "en", Intent::Other),
        ];
        for (text, lang, want) in cases {
            assert_eq!(classify(text, Some(lang)).0, want, "{text}");
        }
        // Unknown language: every lexicon.
        assert_eq!(classify("приложение не работает", None).0, Intent::Outage);
    }

    #[test]
    fn urgency_rises_with_time_pressure_repeats_and_anger() {
        let calm = classify("my bag is missing", Some("en")).1;
        let hot = classify(
            "THIRD TIME I ASK!!! my bag is missing and my flight is in 2 hours 😡",
            Some("en"),
        )
        .1;
        assert!(hot.score >= calm.score + 30, "{calm:?} {hot:?}");
        assert!(hot.time > 0 && hot.repeat > 0 && hot.negativity > 0);
        assert!(
            classify("sooo slowww, really terrible", Some("en"))
                .1
                .negativity
                > 0
        );
    }
}
