//! Influence, priority and the first-response deadline (SLA clock).
//!
//! Contract: influence (0–100) is the author's reach on a log scale (10 followers ≈ 9,
//! 1 M ≈ 51, 10 M ≈ 60), plus a verified bonus, the post's own engagement when the collector
//! reports it (log scale), and the operator's VIP, press and partner lists, minus a penalty
//! for replies (seen by few). Measured on real tweets it ranks realised engagement better than
//! followers alone (README, "Scoring"). Priority (1–100) weighs urgency 0.7 and influence 0.3.
//! The SLA deadline is the platform's first-response time from config, shortened for high
//! priorities by the tiers in `[stages.scoring.sla]`.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

use crate::mention::{Mention, Platform};

/// `[stages.scoring.influence]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluenceConfig {
    /// Author handles (`@name`) or ids of VIPs (celebrities, key accounts).
    pub vip: Vec<String>,
    /// Journalists and media accounts.
    pub press: Vec<String>,
    /// Partners and resellers.
    pub partner: Vec<String>,
    pub vip_bonus: u32,
    pub press_bonus: u32,
    pub partner_bonus: u32,
    pub verified_bonus: u32,
    /// Subtracted when the mention is a reply in a thread.
    pub reply_penalty: u32,
}

impl Default for InfluenceConfig {
    fn default() -> Self {
        InfluenceConfig {
            vip: Vec::new(),
            press: Vec::new(),
            partner: Vec::new(),
            vip_bonus: 40,
            press_bonus: 30,
            partner_bonus: 20,
            verified_bonus: 12,
            reply_penalty: 7,
        }
    }
}

/// `[stages.scoring.sla]`: first-response times per platform, shortened for urgent priorities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// Seconds per platform (`twitter`, `facebook`, …) and `default` for the rest.
    pub first_response_secs: BTreeMap<String, u64>,
    /// Tiers, highest `min_priority` first applies: the deadline is multiplied by `factor`.
    pub tiers: Vec<SlaTier>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTier {
    pub min_priority: u32,
    pub factor: f64,
}

impl Default for SlaConfig {
    fn default() -> Self {
        let h = 3600;
        let first_response_secs = [
            ("twitter", h),
            ("facebook", 6 * h),
            ("instagram", 6 * h),
            ("messenger", 6 * h),
            ("whatsapp", 6 * h),
            ("tiktok", 6 * h),
            ("youtube", 12 * h),
            ("reddit", 12 * h),
            ("email", 24 * h),
            ("forum", 24 * h),
            ("review", 24 * h),
            ("default", 6 * h),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        SlaConfig {
            first_response_secs,
            tiers: vec![
                SlaTier {
                    min_priority: 80,
                    factor: 0.25,
                },
                SlaTier {
                    min_priority: 60,
                    factor: 0.5,
                },
            ],
        }
    }
}

impl SlaConfig {
    pub fn validate(&self, path: &str, bad: &mut impl FnMut(&str, &str)) {
        for k in self.first_response_secs.keys() {
            if k != "default" && Platform::parse(k).is_none() {
                bad(
                    &format!("{path}.first_response_secs.{k}"),
                    "unknown platform; use twitter, facebook, instagram, … or default",
                );
            }
        }
        if !self.first_response_secs.contains_key("default") {
            bad(
                &format!("{path}.first_response_secs"),
                "needs a `default` entry for the other platforms",
            );
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if !(t.factor > 0.0 && t.factor <= 10.0) || t.min_priority > 100 {
                bad(
                    &format!("{path}.tiers[{i}]"),
                    "factor must be in (0, 10] and min_priority at most 100",
                );
            }
        }
    }

    /// Seconds allowed for the first response.
    pub fn due_in_secs(&self, platform: Platform, priority: u32) -> u64 {
        let base = self
            .first_response_secs
            .get(platform.as_str())
            .or_else(|| self.first_response_secs.get("default"))
            .copied()
            .unwrap_or(6 * 3600);
        let factor = self
            .tiers
            .iter()
            .filter(|t| priority >= t.min_priority)
            .max_by_key(|t| t.min_priority)
            .map_or(1.0, |t| t.factor);
        (base as f64 * factor).round() as u64
    }
}

/// Influence and its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Influence {
    /// The total (written as the mention's `influence`).
    #[serde(skip)]
    pub score: u32,
    pub followers: u32,
    pub verified: u32,
    pub engagement: u32,
    pub list: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_name: Option<&'static str>,
    pub reply: i32,
}

/// The operator's lists, lowercased for lookup.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    vip: HashSet<String>,
    press: HashSet<String>,
    partner: HashSet<String>,
}

impl Lists {
    pub fn new(c: &InfluenceConfig) -> Self {
        let set = |v: &[String]| {
            v.iter()
                .map(|s| s.trim_start_matches('@').to_lowercase())
                .collect()
        };
        Lists {
            vip: set(&c.vip),
            press: set(&c.press),
            partner: set(&c.partner),
        }
    }

    /// The first list (`vip`, `press`, `partner`) naming the author by id or handle.
    fn naming(&self, id: &str, handle: Option<&str>) -> Option<&'static str> {
        let lists = [
            ("vip", &self.vip),
            ("press", &self.press),
            ("partner", &self.partner),
        ];
        if lists.iter().all(|(_, s)| s.is_empty()) {
            return None; // the common case: no lists, nothing to lowercase
        }
        let id = lowercase(id);
        let handle = handle.map(|h| lowercase(h.trim_start_matches('@')));
        let on = |s: &HashSet<String>| {
            s.contains(id.as_ref()) || handle.as_ref().is_some_and(|h| s.contains(h.as_ref()))
        };
        lists.iter().find(|(_, s)| on(s)).map(|(name, _)| *name)
    }
}

fn lowercase(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_uppercase) {
        s.to_lowercase().into()
    } else {
        s.into()
    }
}

pub fn influence(m: &Mention, c: &InfluenceConfig, lists: &Lists) -> Influence {
    let followers = m.author.followers.unwrap_or(0) as f64;
    let reach = (8.6 * (1.0 + followers).log10()).min(60.0) as u32;
    let verified = if m.author.verified {
        c.verified_bonus
    } else {
        0
    };
    let e = &m.engagement;
    let interactions = (e.likes + 2 * e.reposts + 2 * e.replies) as f64;
    let engagement = (5.0 * (1.0 + interactions).log10()).min(20.0) as u32;
    let list_name = lists.naming(&m.author.id, m.author.handle.as_deref());
    let list = match list_name {
        Some("vip") => c.vip_bonus,
        Some("press") => c.press_bonus,
        Some(_) => c.partner_bonus,
        None => 0,
    };
    let is_reply = m.in_reply_to.is_some() || m.text.trim_start().starts_with('@');
    let reply = if is_reply {
        -(c.reply_penalty as i32)
    } else {
        0
    };
    let total = reach as i32 + verified as i32 + engagement as i32 + list as i32 + reply;
    Influence {
        score: total.clamp(0, 100) as u32,
        followers: reach,
        verified,
        engagement,
        list,
        list_name,
        reply,
    }
}

/// Priority 1–100 from urgency and influence.
pub fn priority(urgency: u32, influence: u32) -> u32 {
    ((0.7 * urgency as f64 + 0.3 * influence as f64).round() as u32).clamp(1, 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mention::Author;

    fn mention(followers: u64, verified: bool) -> Mention {
        let mut m = Mention::plain("1", Platform::Twitter, 0, "hello");
        m.author = Author {
            id: "u1".into(),
            handle: Some("@Jane".into()),
            followers: Some(followers),
            verified,
        };
        m.in_reply_to = None;
        m.text = "hello".into();
        m
    }

    #[test]
    fn influence_grows_with_reach_and_lists() {
        let c = InfluenceConfig {
            press: vec!["@jane".into()],
            ..Default::default()
        };
        let none = Lists::default();
        let small = influence(&mention(10, false), &c, &none).score;
        let big = influence(&mention(1_000_000, false), &c, &none).score;
        let verified = influence(&mention(1_000_000, true), &c, &none).score;
        assert!(
            small < 15 && (45..60).contains(&big) && verified > big,
            "{small} {big} {verified}"
        );
        let press = influence(&mention(10, false), &c, &Lists::new(&c));
        assert_eq!(press.list_name, Some("press"));
        assert!(press.score >= small + 30);
    }

    #[test]
    fn sla_is_shorter_for_urgent_priorities() {
        let s = SlaConfig::default();
        assert_eq!(s.due_in_secs(Platform::Twitter, 30), 3600);
        assert_eq!(s.due_in_secs(Platform::Twitter, 85), 900);
        assert_eq!(s.due_in_secs(Platform::Facebook, 65), 3 * 3600);
        assert_eq!(s.due_in_secs(Platform::Email, 10), 24 * 3600);
        assert_eq!(priority(0, 0), 1);
        assert_eq!(priority(100, 100), 100);
    }
}
