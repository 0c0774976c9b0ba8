//! What an incident says about itself: volumes, languages, platforms, unique authors, top
//! influencers, sample posts, mention ids, and themes, computed from a bounded buffer of recent
//! mentions.
//!
//! Themes: terms that are frequent in the spike and rare in the brand's mentions just before it
//! (document-frequency lift), each grown with the term that most often co-occurs with it. They
//! say "login app" or "card declined", not a model's guess. Only the mentions the detector
//! counted (not exact duplicates or reposts) make themes, so a retweet storm does not pose as
//! a topic.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};

use crate::mention::Mention;

/// A slim copy of a mention, kept for explanations.
#[derive(Debug, Clone)]
pub struct Recent {
    pub bucket: i64,
    pub brand: u16,
    pub platform: &'static str,
    pub lang: String,
    /// Counted by the detector (not an exact duplicate or a repost).
    pub counted: bool,
    pub author_hash: u64,
    pub author: String,
    pub followers: u64,
    pub verified: bool,
    pub id: String,
    /// The text with personal data redacted when the scoring stage found any.
    pub text: String,
    pub engagement: u64,
    /// The scoring stage's intent (`other` when it did not run).
    pub intent: &'static str,
    pub urgent: bool,
}

const MAX_TEXT: usize = 280;

impl Recent {
    fn size(&self) -> usize {
        std::mem::size_of::<Recent>()
            + self.text.len()
            + self.id.len()
            + self.author.len()
            + self.lang.len()
    }

    pub fn of(
        m: &Mention,
        bucket: i64,
        brand: u16,
        lang: &str,
        counted: bool,
        author_hash: u64,
    ) -> Self {
        let score = m.enrich.score.as_deref();
        let mut text = score
            .and_then(|s| s.text_redacted.clone())
            .unwrap_or_else(|| m.text.clone());
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Recent {
            bucket,
            brand,
            platform: m.platform.as_str(),
            lang: lang.to_string(),
            counted,
            author_hash,
            author: m
                .author
                .handle
                .clone()
                .unwrap_or_else(|| m.author.id.clone()),
            followers: m.author.followers.unwrap_or(0),
            verified: m.author.verified,
            id: m.id.clone(),
            text,
            engagement: m.engagement.likes + m.engagement.reposts + m.engagement.replies,
            intent: score.map_or("other", |s| s.intent.as_str()),
            urgent: score.is_some_and(|s| s.intent.is_urgent()),
        }
    }
}

/// The last `cap` mentions, oldest first.
#[derive(Debug)]
pub struct RecentBuffer {
    buf: VecDeque<Recent>,
    cap: usize,
    bytes: usize,
}

impl RecentBuffer {
    pub fn new(cap: usize) -> Self {
        RecentBuffer {
            buf: VecDeque::with_capacity(cap.min(1 << 16)),
            cap,
            bytes: 0,
        }
    }
    pub fn push(&mut self, r: Recent) {
        if self.cap == 0 {
            return;
        }
        if self.buf.len() == self.cap {
            if let Some(old) = self.buf.pop_front() {
                self.bytes -= old.size();
            }
        }
        self.bytes += r.size();
        self.buf.push_back(r);
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    fn iter(&self) -> impl Iterator<Item = &Recent> {
        self.buf.iter()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Share {
    pub value: String,
    pub share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Influencer {
    pub author: String,
    pub followers: u64,
    pub verified: bool,
    pub mention_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Sample {
    pub id: String,
    pub author: String,
    pub platform: String,
    pub lang: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Theme {
    /// A few terms, most telling first: "login app".
    pub label: String,
    pub terms: Vec<String>,
    /// Share of the counted spike mentions that carry the theme's first term.
    pub share: f64,
    /// The theme's main language and its share within the theme.
    pub lang: String,
    pub lang_share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Explanation {
    /// Every mention of the key in the window, duplicates included.
    pub mentions: u64,
    /// Mentions the detector counted (not exact duplicates or reposts).
    pub unique_mentions: u64,
    pub unique_authors: u64,
    pub languages: Vec<Share>,
    pub platforms: Vec<Share>,
    pub intents: Vec<Share>,
    /// Share of counted mentions whose intent is outage, safety, security or complaint.
    pub urgent_share: f64,
    pub top_influencers: Vec<Influencer>,
    pub samples: Vec<Sample>,
    pub themes: Vec<Theme>,
    pub mention_ids: Vec<String>,
}

/// Which mentions belong to a series key.
pub struct KeyFilter<'a> {
    pub brand: u16,
    pub platform: Option<&'a str>,
    pub lang: Option<&'a str>,
    pub intent: Option<&'a str>,
    /// A theme key: the mentions whose text carries the term.
    pub theme: Option<&'a str>,
}

impl KeyFilter<'_> {
    fn matches(&self, r: &Recent) -> bool {
        r.brand == self.brand
            && self.platform.is_none_or(|p| p == r.platform)
            && self.lang.is_none_or(|l| l == r.lang)
            && self.intent.is_none_or(|i| i == r.intent)
            && self
                .theme
                .is_none_or(|t| super::themes::has_term(&r.text, t))
    }
}

/// Limits of what an explanation lists.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub samples: usize,
    pub influencers: usize,
    pub mention_ids: usize,
}

/// Explains the buckets `from..=to` of the key, against the key's earlier mentions.
pub fn explain(
    buf: &RecentBuffer,
    key: &KeyFilter,
    from: i64,
    to: i64,
    lim: Limits,
) -> Explanation {
    let mut spike: Vec<&Recent> = Vec::new();
    let mut background: Vec<&Recent> = Vec::new();
    for r in buf.iter().filter(|r| key.matches(r)) {
        if r.bucket >= from && r.bucket <= to {
            spike.push(r);
        } else if r.bucket < from && r.counted {
            background.push(r);
        }
    }
    let counted: Vec<&Recent> = spike.iter().copied().filter(|r| r.counted).collect();
    let authors: HashSet<u64> = counted.iter().map(|r| r.author_hash).collect();
    let shares = |f: &dyn Fn(&Recent) -> &str| -> Vec<Share> {
        let mut c: HashMap<&str, u64> = HashMap::new();
        for r in &counted {
            *c.entry(f(r)).or_default() += 1;
        }
        let n = counted.len().max(1) as f64;
        let mut v: Vec<Share> = c
            .into_iter()
            .map(|(k, n_k)| Share {
                value: k.to_string(),
                share: round3(n_k as f64 / n),
            })
            .collect();
        v.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.value.cmp(&b.value)));
        v.truncate(8);
        v
    };
    let mut by_reach: Vec<&Recent> = counted.clone();
    by_reach.sort_by(|a, b| b.followers.cmp(&a.followers).then(a.id.cmp(&b.id)));
    let mut seen = HashSet::new();
    let top_influencers = by_reach
        .iter()
        .filter(|r| r.followers > 0 && seen.insert(r.author_hash))
        .take(lim.influencers)
        .map(|r| Influencer {
            author: r.author.clone(),
            followers: r.followers,
            verified: r.verified,
            mention_id: r.id.clone(),
        })
        .collect();
    // Samples: the most engaged counted posts, one per author.
    let mut by_engagement = counted.clone();
    by_engagement.sort_by(|a, b| b.engagement.cmp(&a.engagement).then(a.id.cmp(&b.id)));
    let mut seen = HashSet::new();
    let samples = by_engagement
        .iter()
        .filter(|r| seen.insert(r.author_hash))
        .take(lim.samples)
        .map(|r| Sample {
            id: r.id.clone(),
            author: r.author.clone(),
            platform: r.platform.to_string(),
            lang: r.lang.clone(),
            text: r.text.clone(),
        })
        .collect();
    Explanation {
        mentions: spike.len() as u64,
        unique_mentions: counted.len() as u64,
        unique_authors: authors.len() as u64,
        languages: shares(&|r| r.lang.as_str()),
        platforms: shares(&|r| r.platform),
        intents: shares(&|r| r.intent),
        urgent_share: round3(
            counted.iter().filter(|r| r.urgent).count() as f64 / counted.len().max(1) as f64,
        ),
        top_influencers,
        samples,
        themes: themes(&counted, &background),
        mention_ids: spike
            .iter()
            .take(lim.mention_ids)
            .map(|r| r.id.clone())
            .collect(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Distinct content terms of a text (see [`super::themes::for_each_term`]).
fn terms(text: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    super::themes::for_each_term(text, |_, t| v.push(t.to_string()));
    v
}

/// Up to three themes of the spike mentions.
pub fn themes(spike: &[&Recent], background: &[&Recent]) -> Vec<Theme> {
    if spike.len() < 3 {
        return Vec::new();
    }
    let spike_terms: Vec<Vec<String>> = spike.iter().map(|r| terms(&r.text)).collect();
    let mut bg_df: HashMap<&str, u32> = HashMap::new();
    let bg_terms: Vec<Vec<String>> = background.iter().map(|r| terms(&r.text)).collect();
    for ts in &bg_terms {
        for t in ts {
            *bg_df.entry(t.as_str()).or_default() += 1;
        }
    }
    let n_bg = background.len() as f64;
    let mut remaining: Vec<usize> = (0..spike.len()).collect();
    let mut out = Vec::new();
    let n = spike.len() as f64;
    while out.len() < 3 && remaining.len() >= 3 {
        let mut df: HashMap<&str, u32> = HashMap::new();
        for &i in &remaining {
            for t in &spike_terms[i] {
                *df.entry(t.as_str()).or_default() += 1;
            }
        }
        // Weight: how many spike mentions carry the term × how much rarer it was before.
        let best = df
            .iter()
            .filter(|(_, &c)| c as f64 >= (0.1 * n).max(2.0))
            .map(|(t, &c)| {
                let p_spike = c as f64 / remaining.len() as f64;
                let p_bg = (bg_df.get(t).copied().unwrap_or(0) as f64 + 1.0) / (n_bg + 2.0);
                let lift = (p_spike / p_bg).max(1.0);
                (c as f64 * lift.ln().max(0.1), *t)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(a.1)));
        let Some((_, head)) = best else { break };
        let head = head.to_string();
        let members: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| spike_terms[i].contains(&head))
            .collect();
        // Grow the label with terms most members share.
        let mut co: HashMap<&str, u32> = HashMap::new();
        for &i in &members {
            for t in &spike_terms[i] {
                if *t != head {
                    *co.entry(t.as_str()).or_default() += 1;
                }
            }
        }
        let lift = |t: &str, c: u32| {
            let p_bg = (bg_df.get(t).copied().unwrap_or(0) as f64 + 1.0) / (n_bg + 2.0);
            c as f64 / members.len().max(1) as f64 / p_bg
        };
        // Co-terms must be telling too: the brand's own name is in every mention.
        let mut co: Vec<(&str, u32)> = co
            .into_iter()
            .filter(|(t, c)| *c as f64 >= 0.5 * members.len() as f64 && lift(t, *c) >= 2.0)
            .collect();
        co.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut terms_v = vec![head.clone()];
        terms_v.extend(co.iter().take(2).map(|(t, _)| t.to_string()));
        let mut langs: HashMap<&str, u32> = HashMap::new();
        for &i in &members {
            *langs.entry(spike[i].lang.as_str()).or_default() += 1;
        }
        let (lang, lc) = langs
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .unwrap_or(("und", 0));
        out.push(Theme {
            label: terms_v.join(" "),
            terms: terms_v,
            share: round3(members.len() as f64 / n),
            lang: lang.to_string(),
            lang_share: round3(lc as f64 / members.len().max(1) as f64),
        });
        remaining.retain(|i| !members.contains(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(i: usize, bucket: i64, lang: &str, text: &str) -> Recent {
        Recent {
            bucket,
            brand: 0,
            platform: "x",
            lang: lang.into(),
            counted: true,
            author_hash: i as u64,
            author: format!("@u{i}"),
            followers: i as u64 * 10,
            verified: false,
            id: format!("m{i}"),
            text: text.into(),
            engagement: (i % 5) as u64,
            intent: if i.is_multiple_of(2) {
                "outage"
            } else {
                "question"
            },
            urgent: i.is_multiple_of(2),
        }
    }

    #[test]
    fn themes_find_what_the_spike_is_about() {
        let mut buf = RecentBuffer::new(1000);
        for i in 0..100 {
            buf.push(recent(
                i,
                1,
                "en",
                "love the new menu at northwind today great service",
            ));
        }
        for i in 100..160 {
            let t = if i % 3 == 0 {
                "impossible de se connecter à l'appli northwind depuis ce matin"
            } else {
                "appli northwind: impossible de se connecter, encore"
            };
            buf.push(recent(i, 10, "fr", t));
        }
        for i in 160..170 {
            buf.push(recent(i, 10, "en", "northwind flight delayed again"));
        }
        let key = KeyFilter {
            brand: 0,
            platform: None,
            lang: None,
            intent: None,
            theme: None,
        };
        let lim = Limits {
            samples: 3,
            influencers: 2,
            mention_ids: 5,
        };
        let e = explain(&buf, &key, 10, 10, lim);
        assert_eq!(
            (e.mentions, e.unique_mentions, e.unique_authors),
            (70, 70, 70)
        );
        let t = &e.themes[0];
        // Named as written (the tokens are "imposible" and "conecter"); "depuis", "encore"
        // and "matin" are fillers, never themes.
        let has = |w: &str| t.terms.iter().any(|x| x == w);
        assert!(has("impossible") && has("connecter"), "{t:?}");
        assert!(!has("depuis") && !has("encore") && !has("matin"), "{t:?}");
        assert!(
            t.share > 0.8 && t.lang == "fr" && t.lang_share == 1.0,
            "{t:?}"
        );
        assert!(
            !t.terms.contains(&"northwind".to_string()),
            "the brand name is background: {t:?}"
        );
        assert_eq!(e.languages[0].value, "fr");
        assert_eq!(e.samples.len(), 3);
        assert_eq!(e.top_influencers[0].followers, 1690);
        assert_eq!(e.mention_ids.len(), 5);
    }

    #[test]
    fn buffer_is_bounded() {
        let mut buf = RecentBuffer::new(10);
        for i in 0..100 {
            buf.push(recent(i, 1, "en", "x"));
        }
        assert_eq!(buf.len(), 10);
    }
}
