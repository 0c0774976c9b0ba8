//! Language stage: adds `lang` (ISO 639-1, `und` when it cannot tell) and `lang_confidence`
//! to every mention.
//!
//! Detection is pure and runs batch-parallel; the stage's only state is each author's recent
//! languages (bounded: two generations of at most `author_capacity / 2` authors each, keyed
//! by a hash of platform and author id), used as a prior for that author's next posts.

pub mod clean;
pub mod command;
pub mod detector;
pub mod eval;
pub mod mix;
pub mod model;

use rayon::prelude::*;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use crate::config::BrandConfig;
use crate::mention::Mention;
use crate::pipeline::Stage;
use crate::stages::brand_router::BrandRouter;
use detector::{canonical, Context, Detection, Detector, Weights};
use mix::LanguageMix;
use model::Model;

/// `[stages.language]` in a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    pub enabled: bool,
    /// Candidate languages (ISO 639-1; `no` means Bokmål). Empty: all 77 the model knows.
    /// A brand's own `languages` list replaces this for its mentions.
    pub languages: Vec<String>,
    /// Overrides of the static prior: people writing the language online, in millions
    /// (`detector::ONLINE_MILLIONS` has the defaults).
    pub online_millions: BTreeMap<String, f32>,
    /// Weight of the static prior (1 = Bayes; 0 = none).
    pub prior_weight: f32,
    /// Nats added to the platform's language hint: tips close calls, never outweighs a clear
    /// text (a 6-word post differs between languages by tens of nats).
    pub hint_weight: f32,
    /// Nats spread over the author's recent languages.
    pub author_weight: f32,
    /// How many recent detections are remembered per author.
    pub author_history: usize,
    /// Authors remembered (bounded memory: about 40 bytes each).
    pub author_capacity: usize,
    /// Learn each brand's language mix from its stream and use it as the prior.
    pub learn_mix: bool,
    /// Half-life of the learned mix, in confidently detected posts.
    pub mix_half_life: f32,
    /// Below this confidence the language is `und`.
    pub min_confidence: f32,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            enabled: true,
            languages: Vec::new(),
            online_millions: BTreeMap::new(),
            prior_weight: 1.0,
            hint_weight: 2.0,
            author_weight: 2.0,
            author_history: 4,
            author_capacity: 1_000_000,
            learn_mix: true,
            mix_half_life: 20_000.0,
            min_confidence: 0.0,
        }
    }
}

/// Whether the model knows `code` (aliases such as `no` included).
pub fn known(code: &str) -> bool {
    Model::get().id_of(canonical(code)).is_some()
}

fn check_codes(field: &str, codes: &[String], bad: &mut dyn FnMut(&str, &str)) {
    for (i, c) in codes.iter().enumerate() {
        if !known(c) {
            bad(
                &format!("{field}[{i}]"),
                &format!(
                    "unknown language {c:?}; use ISO 639-1 codes of: {}",
                    Model::get().codes().join(" ")
                ),
            );
        }
    }
}

impl LanguageConfig {
    pub fn validate(&self, brands: &[BrandConfig], bad: &mut dyn FnMut(&str, &str)) {
        check_codes("stages.language.languages", &self.languages, bad);
        for (i, b) in brands.iter().enumerate() {
            check_codes(&format!("brands[{i}].languages"), &b.languages, bad);
        }
        for (c, v) in &self.online_millions {
            if !known(c) {
                bad(
                    &format!("stages.language.online_millions.{c}"),
                    "unknown language; use an ISO 639-1 code the model knows",
                );
            } else if !(*v > 0.0 && v.is_finite()) {
                bad(
                    &format!("stages.language.online_millions.{c}"),
                    "must be a positive number of millions",
                );
            }
        }
        for (name, v) in [
            ("prior_weight", self.prior_weight),
            ("hint_weight", self.hint_weight),
            ("author_weight", self.author_weight),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                bad(
                    &format!("stages.language.{name}"),
                    "must be a finite number ≥ 0",
                );
            }
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            bad("stages.language.min_confidence", "must be in [0, 1]");
        }
        if !(1..=16).contains(&self.author_history) {
            bad("stages.language.author_history", "must be 1–16");
        }
        if self.author_capacity < 2 {
            bad("stages.language.author_capacity", "must be at least 2");
        }
        if self.mix_half_life.is_nan() || self.mix_half_life < 1.0 {
            bad("stages.language.mix_half_life", "must be at least 1 post");
        }
    }

    /// A detector for `candidates` (empty: this config's `languages`).
    pub fn detector(&self, candidates: &[String]) -> Detector {
        let cands = if candidates.is_empty() {
            &self.languages
        } else {
            candidates
        };
        let millions: Vec<(String, f32)> = self
            .online_millions
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        Detector::new(
            cands,
            &millions,
            Weights {
                prior: self.prior_weight,
                hint: self.hint_weight,
                author: self.author_weight,
                min_confidence: self.min_confidence,
            },
        )
    }
}

/// Recent languages per author, in two generations so memory stays bounded without an LRU
/// list: when the current generation is full it becomes the previous one.
struct AuthorHistory {
    current: HashMap<u64, Vec<u8>>,
    previous: HashMap<u64, Vec<u8>>,
    per_generation: usize,
    keep: usize,
}

impl AuthorHistory {
    fn get(&self, k: u64) -> &[u8] {
        self.current
            .get(&k)
            .or_else(|| self.previous.get(&k))
            .map_or(&[], |v| v.as_slice())
    }

    fn push(&mut self, k: u64, lang: u8) {
        if !self.current.contains_key(&k) {
            if self.current.len() >= self.per_generation {
                self.previous = std::mem::take(&mut self.current);
            }
            let old = self.previous.remove(&k).unwrap_or_default();
            self.current.insert(k, old);
        }
        let v = self.current.get_mut(&k).expect("inserted above");
        if v.len() >= self.keep {
            v.remove(0);
        }
        v.push(lang);
    }
}

fn author_key(m: &Mention) -> Option<u64> {
    if m.author.id.is_empty() {
        return None;
    }
    let mut h = rustc_hash::FxHasher::default();
    m.platform.as_str().hash(&mut h);
    m.author.id.hash(&mut h);
    Some(h.finish())
}

/// The stage: one detector and one learned mix per configured brand, plus one for the rest.
pub struct LanguageStage {
    router: BrandRouter,
    /// Index `brands.len()` is for mentions of no configured brand.
    detectors: Vec<Detector>,
    mixes: Option<Vec<LanguageMix>>,
    authors: AuthorHistory,
}

impl LanguageStage {
    pub fn new(cfg: &LanguageConfig, brands: &[BrandConfig]) -> LanguageStage {
        // Brand names and handles are not evidence of the language around them.
        let names: Vec<String> = brands
            .iter()
            .flat_map(|b| b.names.iter().chain(&b.handles).chain(&b.hashtags))
            .map(|n| n.trim_start_matches(['@', '#']).to_string())
            .collect();
        let detectors: Vec<Detector> = brands
            .iter()
            .map(|b| cfg.detector(&b.languages).ignoring(&names))
            .chain(std::iter::once(cfg.detector(&[]).ignoring(&names)))
            .collect();
        let mixes = cfg.learn_mix.then(|| {
            detectors
                .iter()
                .map(|d| LanguageMix::new(d, cfg.mix_half_life))
                .collect()
        });
        LanguageStage {
            router: BrandRouter::new(brands),
            detectors,
            mixes,
            authors: AuthorHistory {
                current: HashMap::new(),
                previous: HashMap::new(),
                per_generation: (cfg.author_capacity / 2).max(1),
                keep: cfg.author_history,
            },
        }
    }
}

impl Stage for LanguageStage {
    fn name(&self) -> &'static str {
        "language"
    }

    fn process(&mut self, batch: &mut [Mention]) {
        let other = self.detectors.len() - 1;
        let slots: Vec<usize> = batch
            .iter()
            .map(|m| self.router.route_index(m).unwrap_or(other))
            .collect();
        let keys: Vec<Option<u64>> = batch.iter().map(author_key).collect();
        let (detectors, mixes, authors) = (&self.detectors, &self.mixes, &self.authors);
        let found: Vec<Detection> = batch
            .par_iter()
            .zip(&slots)
            .zip(&keys)
            .with_min_len(32)
            .map(|((m, &slot), key)| {
                let ctx = Context {
                    hint: m.lang_hint.as_deref(),
                    recent: key.map_or(&[], |k| authors.get(k)),
                    prior: mixes.as_ref().map(|v| v[slot].log_prior()),
                };
                detectors[slot].detect(&m.text, ctx)
            })
            .collect();
        for (((m, d), slot), key) in batch.iter_mut().zip(found).zip(slots).zip(keys) {
            if let Some(mixes) = self.mixes.as_mut() {
                mixes[slot].observe(d.id, d.confidence);
            }
            if let (Some(k), Some(id), true) = (key, d.id, d.confidence >= mix::COUNT_ABOVE) {
                self.authors.push(k, id);
            }
            m.enrich.lang = Some(d.lang.to_string());
            m.enrich.lang_confidence = Some((d.confidence * 1000.0).round() / 1000.0);
        }
    }
}
