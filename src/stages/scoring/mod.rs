//! Scoring stage: answers "who do I answer first, and how" for every mention.
//!
//! Adds `brands` (configured brands, products and competitors named, misspellings included),
//! `intent` with the `intent_cues` that fired, `urgency` (0–100) with its parts, `pii` kinds with
//! `private_reply` and `text_redacted`, `influence` (0–100) with its parts, `priority` (1–100)
//! with `priority_reasons`, and `sla_due` (RFC 3339). Stateless: runs batch-parallel with rayon.
//!
//! Rules come from editable lexicons ([`lexicon`]), chosen by the detected language (`lang`, else
//! the platform's hint, else every lexicon). An optional learned model ([`model`]) trained with
//! `tocsin train-intent` refines the complaint decision; the rules still name the intent. The
//! raw text is never logged.

pub mod brands;
pub mod command;
pub mod encoder;
pub mod eval;
pub mod intent;
pub mod lexicon;
pub mod logreg;
pub mod model;
pub mod pii;
pub mod rank;
pub mod text;

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::Millis;
use crate::config::BrandConfig;
use crate::mention::Mention;
use crate::metrics::Metrics;
use crate::pipeline::MapStage;
use brands::{BrandHit, BrandMatcher};
use intent::{Evidence, Intent, Urgency};
use lexicon::{Hit, Lexicons};
use model::Model;
use pii::{PiiPattern, PiiScanner};
use rank::{Influence, InfluenceConfig, Lists, SlaConfig};
use text::Tokens;

/// The system word list used to guard fuzzy brand matching when none is configured.
pub const SYSTEM_DICTIONARY: &str = "/usr/share/dict/words";

/// `[stages.scoring]` in a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    pub enabled: bool,
    /// Folder of lexicon files (`<lang>.toml`), relative to the pipeline file; default: the
    /// lexicons compiled into Tocsin (the same as `pipelines/lexicons/`).
    pub lexicons: Option<String>,
    /// Intent model from `tocsin train-intent`, relative to the pipeline file.
    pub model: Option<String>,
    /// Model probability of a problem (outage, safety, security, complaint) at or above which
    /// a mention counts as one. 0.4: the models' recall trails their precision at 0.5, and
    /// 0.4 scored as well or better in cross-validation with and without an encoder (README).
    pub model_threshold: f64,
    /// Word lists (one word per line) of ordinary words never taken for a misspelt brand.
    /// Default: `/usr/share/dict/words` when present (Debian: `wamerican`).
    pub dictionaries: Option<Vec<String>>,
    pub influence: InfluenceConfig,
    pub sla: SlaConfig,
    pub pii_patterns: Vec<PiiPattern>,
    /// Folder the relative paths above are resolved from (the pipeline file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            enabled: true,
            lexicons: None,
            model: None,
            model_threshold: 0.4,
            dictionaries: None,
            influence: InfluenceConfig::default(),
            sla: SlaConfig::default(),
            pii_patterns: Vec::new(),
            base_dir: PathBuf::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    #[error(transparent)]
    Lexicon(#[from] lexicon::LexiconError),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error("stages.scoring.pii_patterns: {0}; fix the regular expression")]
    Pattern(#[from] regex::Error),
    #[error("cannot read dictionary {file}: {source}; fix `stages.scoring.dictionaries`")]
    Dictionary {
        file: String,
        source: std::io::Error,
    },
}

impl ScoringConfig {
    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn validate(&self, bad: &mut impl FnMut(&str, &str)) {
        if !(0.0..=1.0).contains(&self.model_threshold) {
            bad("stages.scoring.model_threshold", "must be between 0 and 1");
        }
        self.sla.validate("stages.scoring.sla", bad);
        for (i, p) in self.pii_patterns.iter().enumerate() {
            if p.kind.is_empty() || !p.kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                bad(
                    &format!("stages.scoring.pii_patterns[{i}].kind"),
                    "use lowercase letters and `_` (it is a metric label)",
                );
            }
            if let Err(e) = regex::Regex::new(&p.pattern) {
                bad(
                    &format!("stages.scoring.pii_patterns[{i}].pattern"),
                    &e.to_string(),
                );
            }
        }
        if self.enabled {
            if let Some(d) = &self.lexicons {
                if let Err(e) = Lexicons::load_dir(&self.resolve(d)) {
                    bad("stages.scoring.lexicons", &e.to_string());
                }
            }
            if let Some(m) = &self.model {
                if let Err(e) = Model::load(&self.resolve(m)) {
                    bad("stages.scoring.model", &e.to_string());
                }
            }
            for (i, d) in self.dictionaries.iter().flatten().enumerate() {
                if !self.resolve(d).is_file() {
                    bad(
                        &format!("stages.scoring.dictionaries[{i}]"),
                        "no such file; install a word list (Debian: wamerican) or remove it",
                    );
                }
            }
        }
    }
}

/// What the stage adds to a mention (flattened into the output object).
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub brands: Vec<BrandHit>,
    pub intent: Intent,
    pub intent_cues: Vec<Arc<str>>,
    /// The model's probability that this is a problem, when a model is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent_model: Option<f32>,
    pub urgency: u32,
    pub urgency_parts: Urgency,
    pub pii: Vec<String>,
    pub private_reply: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_redacted: Option<String>,
    pub influence: u32,
    pub influence_parts: Influence,
    pub priority: u32,
    pub priority_reasons: Vec<Cow<'static, str>>,
    /// When a first response is due (ms since the epoch), written as RFC 3339; formatted only
    /// when the mention is written out.
    #[serde(serialize_with = "crate::clock::serialize_rfc3339")]
    pub sla_due: Millis,
    /// Seconds the SLA table allowed (`sla_due` − `created_at`), for the metrics.
    #[serde(skip)]
    pub sla_secs: u64,
}

/// Per-thread buffers, so scoring a mention allocates little.
#[derive(Default)]
pub struct Scratch {
    tokens: Tokens,
    hits: Vec<Hit>,
    /// Each token's entry in the lexicons' vocabulary.
    words: Vec<u32>,
    feats: model::Feats,
    sorted: Vec<u32>,
    vector: model::Vector,
}

/// The scoring logic, independent of the pipeline (used by the stage, `eval` and benches).
pub struct Scorer {
    cfg: ScoringConfig,
    lexicons: Lexicons,
    brands: BrandMatcher,
    pii: PiiScanner,
    lists: Lists,
    model: Option<Model>,
}

impl Scorer {
    pub fn new(cfg: &ScoringConfig, brands: &[BrandConfig]) -> Result<Self, ScoringError> {
        let lexicons = match &cfg.lexicons {
            Some(d) => Lexicons::load_dir(&cfg.resolve(d))?,
            None => Lexicons::builtin(),
        };
        let model = cfg
            .model
            .as_ref()
            .map(|m| Model::load(&cfg.resolve(m)))
            .transpose()?;
        let dicts: Vec<PathBuf> = match &cfg.dictionaries {
            Some(list) => list.iter().map(|d| cfg.resolve(d)).collect(),
            None => Some(PathBuf::from(SYSTEM_DICTIONARY))
                .filter(|p| p.is_file())
                .into_iter()
                .collect(),
        };
        if dicts.is_empty() && cfg.dictionaries.is_none() && !brands.is_empty() {
            tracing::warn!(
                "no word list at {SYSTEM_DICTIONARY}: fuzzy brand matching is guarded by the \
                 lexicons only; install one (Debian: wamerican) or set stages.scoring.dictionaries"
            );
        }
        let mut words = String::new();
        for d in &dicts {
            let text = std::fs::read(d).map_err(|source| ScoringError::Dictionary {
                file: d.display().to_string(),
                source,
            })?;
            words.push_str(&String::from_utf8_lossy(&text));
            words.push('\n');
        }
        // Cue words are ordinary words too: never a misspelt brand.
        let known = lexicons
            .cue_words()
            .into_iter()
            // Capitalised entries are proper nouns (often brands themselves), not ordinary words.
            .chain(
                words
                    .lines()
                    .map(str::trim)
                    .filter(|w| w.chars().next().is_some_and(char::is_lowercase))
                    .map(str::to_string),
            )
            .filter(|w| !w.is_empty() && !w.ends_with("'s"))
            .collect::<Vec<_>>();
        tracing::info!(
            dictionaries = dicts.len(),
            known_words = known.len(),
            languages = lexicons.languages().len(),
            model = model.is_some(),
            "scoring stage ready"
        );
        Ok(Scorer {
            brands: BrandMatcher::new(brands, known.iter().map(String::as_str)),
            pii: PiiScanner::new(&cfg.pii_patterns)?,
            lists: Lists::new(&cfg.influence),
            cfg: cfg.clone(),
            lexicons,
            model,
        })
    }

    pub fn lexicons(&self) -> &Lexicons {
        &self.lexicons
    }

    /// Intent evidence of a text in `lang`: the rule intent, the cues, and the model's view.
    pub fn intent_of(
        &self,
        text: &str,
        lang: Option<&str>,
        s: &mut Scratch,
    ) -> (Intent, Evidence, Option<f32>) {
        s.tokens.parse(text);
        self.lexicons
            .find_in_text(lang, &s.tokens, &mut s.words, &mut s.hits);
        let e = Evidence::gather(&s.hits, &s.tokens);
        let rule = e.intent(s.tokens.question);
        let Some(m) = &self.model else {
            return (rule, e, None);
        };
        model::features(&s.tokens, &e, rule, &mut s.feats);
        if let Some(enc) = m.encoder() {
            enc.embed(text, &mut s.feats.dense);
        }
        m.vector(&s.feats, &mut s.sorted, &mut s.vector);
        let problem = m.problem(&m.predict(&s.vector));
        let intent = combine(
            rule,
            f64::from(problem) >= self.cfg.model_threshold,
            e.praise() >= 1.0,
            s.tokens.question,
        );
        (intent, e, Some(problem))
    }

    pub fn score(&self, m: &Mention, s: &mut Scratch) -> Score {
        let lang = m.language();
        let (intent, evidence, model_p) = self.intent_of(&m.text, lang, s);
        let mut brands = Vec::new();
        self.brands.find(&s.tokens, &mut brands);
        let found = self.pii.scan(&m.text);
        let urgency = intent::urgency(intent, &evidence, &s.tokens, found.private_reply);
        let influence = rank::influence(m, &self.cfg.influence, &self.lists);
        let priority = rank::priority(urgency.score, influence.score);
        let due_secs = self.cfg.sla.due_in_secs(m.platform, priority);
        let due = m.created_at_ms + due_secs as i64 * 1000;
        let mut cues: Vec<Arc<str>> = Vec::new();
        for h in &s.hits {
            let c = self.lexicons.cue_text(h.cue, h.negated);
            if !cues.contains(c) && cues.len() < 8 {
                cues.push(c.clone());
            }
        }
        if model_p.is_some_and(|p| f64::from(p) >= self.cfg.model_threshold) && cues.is_empty() {
            cues.push(Arc::from("model"));
        }
        Score {
            priority_reasons: reasons(m, intent, &urgency, &influence, &found.kinds),
            brands,
            intent,
            intent_cues: cues,
            intent_model: model_p,
            urgency: urgency.score,
            urgency_parts: urgency,
            pii: found.kinds,
            private_reply: found.private_reply,
            text_redacted: found.redacted,
            influence: influence.score,
            influence_parts: influence,
            priority,
            sla_due: due,
            sla_secs: due_secs,
        }
    }
}

/// Rules name the intent; the model decides whether there is a problem at all.
fn combine(rule: Intent, model_problem: bool, praise: bool, question: bool) -> Intent {
    match (model_problem, rule.is_urgent()) {
        (true, false) => Intent::Complaint,
        (false, true) if rule == Intent::Complaint => {
            if question {
                Intent::Question
            } else if praise {
                Intent::Praise
            } else {
                Intent::Other
            }
        }
        _ => rule,
    }
}

/// Short reasons for the priority, most important first.
fn reasons(
    m: &Mention,
    intent: Intent,
    u: &Urgency,
    inf: &Influence,
    pii: &[String],
) -> Vec<Cow<'static, str>> {
    let mut r: Vec<Cow<'static, str>> = Vec::with_capacity(4);
    r.push(Cow::Borrowed(match intent {
        Intent::Outage => "intent outage",
        Intent::Safety => "intent safety",
        Intent::Security => "intent security",
        Intent::Complaint => "intent complaint",
        Intent::Question => "intent question",
        Intent::Praise => "intent praise",
        Intent::Other => "intent other",
    }));
    if !pii.is_empty() {
        r.push(format!("personal data posted ({}): reply privately", pii.join(", ")).into());
    }
    if u.time > 0 {
        r.push("time pressure".into());
    }
    if u.repeat > 0 {
        r.push("repeated contact".into());
    }
    if u.negativity >= 10 {
        r.push("angry or intense tone".into());
    }
    if let Some(list) = inf.list_name {
        r.push(format!("author on the {list} list").into());
    }
    if let Some(f) = m.author.followers.filter(|f| *f >= 10_000) {
        r.push(format!("reach: {} followers", human(f)).into());
    }
    if m.author.verified {
        r.push("verified author".into());
    }
    if inf.engagement >= 10 {
        r.push("post already drawing engagement".into());
    }
    r
}

fn human(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.0}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// The pipeline stage around a [`Scorer`].
pub struct ScoringStage {
    scorer: Arc<Scorer>,
    metrics: Arc<Metrics>,
    /// Counters and histograms resolved once (label lookups cost more than scoring a word).
    intents: Vec<prometheus::IntCounter>,
    priority: Vec<prometheus::Histogram>,
    sla: Vec<prometheus::Histogram>,
}

impl ScoringStage {
    pub fn new(scorer: Scorer, metrics: Arc<Metrics>) -> Self {
        let platforms = crate::mention::Platform::ALL;
        ScoringStage {
            intents: Intent::ALL
                .iter()
                .map(|i| {
                    metrics
                        .scoring_intent_events
                        .with_label_values(&[i.as_str()])
                })
                .collect(),
            priority: platforms
                .iter()
                .map(|p| metrics.scoring_priority.with_label_values(&[p.as_str()]))
                .collect(),
            sla: platforms
                .iter()
                .map(|p| metrics.scoring_sla_target.with_label_values(&[p.as_str()]))
                .collect(),
            scorer: Arc::new(scorer),
            metrics,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl MapStage for ScoringStage {
    fn name(&self) -> &'static str {
        "scoring"
    }

    fn apply(&self, m: &mut Mention) {
        let score = SCRATCH.with(|s| self.scorer.score(m, &mut s.borrow_mut()));
        let mt = &self.metrics;
        self.intents[score.intent as usize].inc();
        for b in &score.brands {
            mt.scoring_brand_events
                .with_label_values(&[&b.id, b.how.as_str()])
                .inc();
        }
        for k in &score.pii {
            mt.scoring_pii_events.with_label_values(&[k.as_str()]).inc();
        }
        let p = m.platform as usize;
        self.priority[p].observe(score.priority as f64);
        self.sla[p].observe(score.sla_secs as f64);
        m.enrich.score = Some(Box::new(score));
    }
}
