//! The mention-stream simulator: realistic traffic with ground truth, for the demo, tests and
//! benchmarks (never real people's posts).
//!
//! Event time advances minute by minute from `start_ms`. Each minute's volume is Poisson around
//! `per_minute` × a daily curve (trough 03:00, peak 15:00) × a weekly factor (weekends 0.8).
//! Mentions mix brands, platforms, languages and intents; some are reposts, re-deliveries of the
//! same post (exact duplicates) or copy-paste variants (near duplicates); some carry personal
//! data; a chosen share are malformed. Incidents add a surge of one brand's outage complaints in
//! one language. Every record comes with a [`Truth`] saying what it really is.

pub mod corpus;
mod duplicates;
mod incident;
mod malformed;
pub mod output;
mod templates;
mod text;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

use crate::clock::Millis;
use crate::mention::{Origin, RawRecord};
use corpus::{BRANDS, INTENTS, INTENT_WEIGHTS, LANGS};
pub use incident::IncidentSpec;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub start_ms: Millis,
    /// Event-time span to generate, in minutes.
    pub minutes: u64,
    /// Average mentions per minute (before seasonality).
    pub per_minute: f64,
    pub seasonality: bool,
    pub malformed_rate: f64,
    pub repost_rate: f64,
    pub exact_dup_rate: f64,
    pub near_dup_rate: f64,
    pub pii_rate: f64,
    pub incidents: Vec<IncidentSpec>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            start_ms: 1_795_000_000_000,
            minutes: 60,
            per_minute: 200.0,
            seasonality: true,
            malformed_rate: 0.01,
            repost_rate: 0.08,
            exact_dup_rate: 0.02,
            near_dup_rate: 0.04,
            pii_rate: 0.03,
            incidents: Vec::new(),
        }
    }
}

/// What a generated record really is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Truth {
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The dead-letter reason this record must get, when malformed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<&'static str>,
    pub brand: &'static str,
    pub platform: &'static str,
    pub lang: &'static str,
    pub intent: &'static str,
    pub created_at_ms: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup: Option<DupTruth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pii: Vec<&'static str>,
    pub influencer: bool,
    pub misspelled_brand: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DupTruth {
    /// `exact` (same post delivered again), `repost` or `near` (copy-paste variant).
    pub kind: &'static str,
    /// Id of the original.
    pub of: String,
}

pub struct SimItem {
    pub record: RawRecord,
    pub truth: Truth,
}

struct Original {
    id: String,
    text: String,
    handle: String,
    brand: usize,
    lang: &'static str,
    intent: &'static str,
    payload: Vec<u8>,
    truth: Truth,
}

pub struct Simulator {
    cfg: SimConfig,
    rng: SmallRng,
    minute: u64,
    seq: u64,
    queue: VecDeque<SimItem>,
    recent: VecDeque<Original>,
}

const PLATFORMS: &[(&str, f64)] = &[
    ("twitter", 0.48),
    ("facebook", 0.15),
    ("instagram", 0.12),
    ("tiktok", 0.05),
    ("youtube", 0.04),
    ("reddit", 0.05),
    ("review", 0.04),
    ("email", 0.04),
    ("forum", 0.03),
];

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// Poisson sample: Knuth for small means, a rounded normal for large ones.
/// A Poisson draw (Knuth below 30, normal approximation above).
pub fn poisson(rng: &mut SmallRng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let l = (-mean).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= rng.gen::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    let u1: f64 = rng.gen::<f64>().max(1e-12);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mean + z * mean.sqrt()).round().max(0.0) as u64
}

/// Seasonal multiplier at an instant: daily curve × weekly factor.
pub fn seasonal_factor(ms: Millis) -> f64 {
    let secs = ms.div_euclid(1000);
    let hour = (secs.rem_euclid(86_400)) as f64 / 3600.0;
    let daily = 1.0 + 0.65 * (2.0 * std::f64::consts::PI * (hour - 15.0) / 24.0).cos();
    // 1970-01-01 was a Thursday: day 2 and 3 of the week (from Thursday) are Sat and Sun.
    let dow = (secs.div_euclid(86_400) + 4).rem_euclid(7); // 0 = Sunday
    let weekly = if dow == 0 || dow == 6 { 0.8 } else { 1.0 };
    daily * weekly
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        let rng = SmallRng::seed_from_u64(cfg.seed);
        Self {
            cfg,
            rng,
            minute: 0,
            seq: 0,
            queue: VecDeque::new(),
            recent: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    fn fill_minute(&mut self) {
        let m = self.minute;
        self.minute += 1;
        let t0 = self.cfg.start_ms + (m as i64) * 60_000;
        let season = if self.cfg.seasonality {
            seasonal_factor(t0)
        } else {
            1.0
        };
        let mut plan: Vec<(Millis, Option<usize>)> = Vec::new();
        let n = poisson(&mut self.rng, self.cfg.per_minute * season);
        for _ in 0..n {
            plan.push((t0 + self.rng.gen_range(0..60_000), None));
        }
        for (i, inc) in self.cfg.incidents.iter().enumerate() {
            let k = inc.intensity(m as f64 + 0.5);
            if k > 0.0 {
                let brand_w = BRANDS
                    .iter()
                    .find(|b| b.id == inc.brand)
                    .map_or(0.1, |b| b.weight);
                let extra = poisson(
                    &mut self.rng,
                    self.cfg.per_minute * season * brand_w * inc.factor * k,
                );
                for _ in 0..extra {
                    plan.push((t0 + self.rng.gen_range(0..60_000), Some(i)));
                }
            }
        }
        plan.sort_unstable_by_key(|(t, _)| *t);
        for (t, incident) in plan {
            let item = self.make(t, incident);
            self.queue.push_back(item);
        }
    }

    fn make(&mut self, t: Millis, incident: Option<usize>) -> SimItem {
        let seq = self.seq;
        self.seq += 1;
        if self.rng.gen::<f64>() < self.cfg.malformed_rate {
            return self.malformed(seq, t);
        }
        let roll: f64 = self.rng.gen();
        if incident.is_none() && !self.recent.is_empty() {
            let c = &self.cfg;
            if roll < c.exact_dup_rate {
                return self.exact_dup(seq);
            } else if roll < c.exact_dup_rate + c.repost_rate {
                return self.repost(seq, t);
            } else if roll < c.exact_dup_rate + c.repost_rate + c.near_dup_rate {
                return self.near_dup(seq, t);
            }
        }
        self.original(seq, t, incident)
    }

    fn brand_index(&mut self) -> usize {
        let weights: Vec<(usize, f64)> = BRANDS
            .iter()
            .enumerate()
            .map(|(i, b)| (i, b.weight))
            .collect();
        *pick(&mut self.rng, &weights)
    }

    fn original(&mut self, seq: u64, t: Millis, incident: Option<usize>) -> SimItem {
        let (brand, lang, intent, product, incident_name) = match incident {
            Some(i) => {
                let inc = self.cfg.incidents[i].clone();
                let b = BRANDS.iter().position(|b| b.id == inc.brand).unwrap_or(0);
                let intent = if self.rng.gen::<f64>() < 0.75 {
                    "outage"
                } else {
                    "complaint"
                };
                let lang = LANGS
                    .iter()
                    .find(|(l, _)| *l == inc.lang)
                    .map_or("en", |(l, _)| *l);
                (b, lang, intent, inc.product.clone(), Some(inc.name))
            }
            None => {
                let b = self.brand_index();
                let lang = *pick(&mut self.rng, LANGS);
                let iw: Vec<(&'static str, f64)> = INTENTS
                    .iter()
                    .copied()
                    .zip(INTENT_WEIGHTS.iter().copied())
                    .collect();
                let intent = *pick(&mut self.rng, &iw);
                let products = BRANDS[b].products;
                let product = products[self.rng.gen_range(0..products.len())].to_string();
                (b, lang, intent, product, None)
            }
        };
        let author = text::author(&mut self.rng);
        let composed = text::compose(
            &mut self.rng,
            &BRANDS[brand],
            lang,
            intent,
            &product,
            self.cfg.pii_rate,
        );
        let platform = *pick(&mut self.rng, PLATFORMS);
        let id = format!("{}", 1_000_000 + seq);
        let truth = Truth {
            seq,
            id: Some(id.clone()),
            malformed: None,
            brand: BRANDS[brand].id,
            platform,
            lang,
            intent,
            created_at_ms: t,
            dup: None,
            incident: incident_name,
            pii: composed.pii.clone(),
            influencer: author.followers >= 100_000,
            misspelled_brand: composed.misspelled,
        };
        let mut obj = self.base_object(&id, platform, t, &composed.text, &author, lang, brand);
        if self.rng.gen::<f64>() < 0.15 {
            obj.insert(
                "in_reply_to".into(),
                json!(format!("{}", 900_000 + self.rng.gen_range(0..100_000))),
            );
        }
        let payload = serde_json::to_vec(&obj).unwrap_or_default();
        self.remember(Original {
            id,
            text: composed.text,
            handle: author.handle,
            brand,
            lang,
            intent,
            payload: payload.clone(),
            truth: truth.clone(),
        });
        self.item(seq, payload, brand, truth)
    }

    #[allow(clippy::too_many_arguments)]
    fn base_object(
        &mut self,
        id: &str,
        platform: &str,
        t: Millis,
        body: &str,
        author: &text::SimAuthor,
        lang: &str,
        brand: usize,
    ) -> Map<String, Value> {
        let mut obj = Map::new();
        obj.insert("id".into(), json!(id));
        obj.insert("platform".into(), json!(platform));
        let created = if self.rng.gen::<f64>() < 0.1 {
            json!(t)
        } else {
            json!(chrono::DateTime::from_timestamp_millis(t)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default())
        };
        obj.insert("created_at".into(), created);
        obj.insert("text".into(), json!(body));
        obj.insert(
            "author".into(),
            json!({"id": author.id, "handle": author.handle, "followers": author.followers, "verified": author.verified}),
        );
        if platform == "twitter" && self.rng.gen::<f64>() < 0.6 {
            let hint = if self.rng.gen::<f64>() < 0.85 {
                lang
            } else {
                "und"
            };
            obj.insert("lang".into(), json!(hint));
        }
        let scale = (author.followers as f64).sqrt().max(1.0);
        obj.insert(
            "engagement".into(),
            json!({
                "likes": (self.rng.gen::<f64>().powi(3) * scale * 2.0) as u64,
                "reposts": (self.rng.gen::<f64>().powi(4) * scale * 0.5) as u64,
                "replies": (self.rng.gen::<f64>().powi(4) * scale * 0.2) as u64,
            }),
        );
        if self.rng.gen::<f64>() < 0.7 {
            obj.insert("brand".into(), json!(BRANDS[brand].id));
        }
        obj
    }

    fn item(&self, seq: u64, payload: Vec<u8>, brand: usize, truth: Truth) -> SimItem {
        SimItem {
            record: RawRecord {
                payload,
                key: Some(BRANDS[brand].id.as_bytes().to_vec()),
                origin: Origin::Generated { seq },
            },
            truth,
        }
    }

    fn malformed(&mut self, seq: u64, t: Millis) -> SimItem {
        let brand = self.brand_index();
        let author = text::author(&mut self.rng);
        let id = format!("{}", 1_000_000 + seq);
        let obj = self.base_object(&id, "twitter", t, "malformed sample", &author, "en", brand);
        let (payload, reason) = malformed::corrupt(&mut self.rng, obj);
        let truth = Truth {
            seq,
            id: None,
            malformed: Some(reason),
            brand: BRANDS[brand].id,
            platform: "twitter",
            lang: "en",
            intent: "other",
            created_at_ms: t,
            dup: None,
            incident: None,
            pii: Vec::new(),
            influencer: false,
            misspelled_brand: false,
        };
        self.item(seq, payload, brand, truth)
    }
}

impl Iterator for Simulator {
    type Item = SimItem;

    fn next(&mut self) -> Option<SimItem> {
        while self.queue.is_empty() {
            if self.minute >= self.cfg.minutes {
                return None;
            }
            self.fill_minute();
        }
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mention::{decode, DecodeLimits};

    fn sim(minutes: u64) -> Vec<SimItem> {
        Simulator::new(SimConfig {
            minutes,
            ..SimConfig::default()
        })
        .collect()
    }

    #[test]
    fn is_deterministic_for_a_seed() {
        let a: Vec<_> = sim(3).into_iter().map(|i| i.record.payload).collect();
        let b: Vec<_> = sim(3).into_iter().map(|i| i.record.payload).collect();
        assert_eq!(a, b);
        assert!(a.len() > 300);
    }

    #[test]
    fn truth_matches_what_the_decoder_sees() {
        let now = SimConfig::default().start_ms + 86_400_000;
        let mut malformed = 0;
        for item in sim(20) {
            let want = item.truth.malformed;
            match decode(item.record, &DecodeLimits::default(), now) {
                Ok(m) => {
                    assert_eq!(want, None, "decoded a record meant to be malformed");
                    assert_eq!(Some(m.id), item.truth.id);
                }
                Err(e) => {
                    assert_eq!(Some(e.reason.as_str()), want, "{}", e.detail);
                    malformed += 1;
                }
            }
        }
        assert!(malformed > 0);
    }

    #[test]
    fn incidents_surge_in_their_window() {
        let spec =
            IncidentSpec::parse("brand=globex,lang=is,start=10,duration=10,factor=6", 0).unwrap();
        let items: Vec<_> = Simulator::new(SimConfig {
            minutes: 30,
            incidents: vec![spec],
            ..SimConfig::default()
        })
        .collect();
        let start = SimConfig::default().start_ms;
        let in_window = |t: Millis| (start + 600_000..start + 1_200_000).contains(&t);
        let inc: Vec<_> = items
            .iter()
            .filter(|i| i.truth.incident.is_some())
            .collect();
        assert!(inc.len() > 500, "{}", inc.len());
        assert!(inc.iter().all(|i| in_window(i.truth.created_at_ms)
            && i.truth.lang == "is"
            && i.truth.brand == "globex"));
    }

    #[test]
    fn seasonality_has_a_night_trough() {
        let day = 1_795_046_400_000; // a Wednesday 00:00 UTC
        assert!(seasonal_factor(day + 3 * 3_600_000) < 0.5);
        assert!(seasonal_factor(day + 15 * 3_600_000) > 1.5);
    }
}
