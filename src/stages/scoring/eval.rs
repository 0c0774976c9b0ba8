//! Measuring the scoring stage: complaint detection (rules, and the learned option under
//! k-fold cross-validation), influence against realised engagement, and brand matching on a
//! generated set of misspellings and look-alikes. Used by `tocsin eval-scoring` and
//! `tocsin train-intent`; the figures are in the README ("Scoring").

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

use super::encoder::Encoder;
use super::intent::Intent;
use super::model::{self, Feats, Model, TrainOptions};
use super::{combine, Scorer, Scratch};
use crate::config::BrandConfig;
use crate::mention::{Author, Mention, Platform};
use rayon::prelude::*;
use std::sync::Arc;

/// A labelled text: the gold intent (`complaint`/`other` for 0/1 labels).
#[derive(Debug, Clone)]
pub struct Labelled {
    pub text: String,
    pub label: Intent,
}

/// Reads a TSV with a header: a `text` column and a label column (`intent`, `label` or
/// `is_complaint`; values are intent names, or 1/0 for complaint/other).
pub fn read_labelled(path: &Path) -> anyhow::Result<Vec<Labelled>> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .quoting(false)
        .flexible(true)
        .from_path(path)?;
    let head = r.headers()?.clone();
    let col = |names: &[&str]| head.iter().position(|h| names.contains(&h));
    let text =
        col(&["text"]).ok_or_else(|| anyhow::anyhow!("{}: no `text` column", path.display()))?;
    let label = col(&["intent", "label", "is_complaint"]).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no `intent`, `label` or `is_complaint` column",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (i, row) in r.records().enumerate() {
        let row = row?;
        let (Some(t), Some(l)) = (row.get(text), row.get(label)) else {
            continue;
        };
        let label = match l.trim() {
            "1" => Intent::Complaint,
            "0" => Intent::Other,
            x => Intent::parse(x).ok_or_else(|| {
                anyhow::anyhow!("{} line {}: unknown label {x:?}", path.display(), i + 2)
            })?,
        };
        out.push(Labelled {
            text: t.to_string(),
            label,
        });
    }
    Ok(out)
}

/// Precision, recall and F1 of "is a problem" (outage, safety, security or complaint).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prf {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
    pub tn: u32,
}

impl Prf {
    pub fn add(&mut self, gold: bool, pred: bool) {
        match (gold, pred) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

impl std::fmt::Display for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "precision {:.1} %  recall {:.1} %  F1 {:.1}  (tp {} fp {} fn {} tn {})",
            100.0 * self.precision(),
            100.0 * self.recall(),
            100.0 * self.f1(),
            self.tp,
            self.fp,
            self.fn_,
            self.tn
        )
    }
}

/// Complaint detection by `scorer` as configured (rules, plus its model if it has one).
pub fn eval_intent(scorer: &Scorer, rows: &[Labelled]) -> Prf {
    let mut s = Scratch::default();
    let mut prf = Prf::default();
    for r in rows {
        let (i, _, _) = scorer.intent_of(&r.text, None, &mut s);
        prf.add(r.label.is_urgent(), i.is_urgent());
    }
    prf
}

struct Prepared {
    feats: Feats,
    rule: Intent,
    praise: bool,
    question: bool,
    label: Intent,
}

impl Prepared {
    /// The final "is a problem" decision for a model probability at a threshold.
    fn decide(&self, problem: f32, threshold: f32) -> bool {
        combine(self.rule, problem >= threshold, self.praise, self.question).is_urgent()
    }
}

fn prepare(rules: &Scorer, rows: &[Labelled], encoder: Option<&Encoder>) -> Vec<Prepared> {
    let mut s = Scratch::default();
    let mut prep: Vec<Prepared> = rows
        .iter()
        .map(|r| {
            let (rule, e, _) = rules.intent_of(&r.text, None, &mut s);
            let mut feats = Feats::default();
            model::features(&s.tokens, &e, rule, &mut feats);
            Prepared {
                feats,
                rule,
                praise: e.praise() >= 1.0,
                question: s.tokens.question,
                label: r.label,
            }
        })
        .collect();
    if let Some(enc) = encoder {
        // The encoder is the slow part (milliseconds a post): all cores.
        prep.par_iter_mut()
            .zip(rows)
            .for_each(|(p, r)| enc.embed(&r.text, &mut p.feats.dense));
    }
    prep
}

fn labels_of(rows: &[Labelled]) -> Vec<Intent> {
    let mut l: Vec<Intent> = rows.iter().map(|r| r.label).collect();
    l.sort();
    l.dedup();
    l
}

/// Problem probabilities of `test` under `m`.
fn problems(m: &Model, test: &[&Prepared]) -> Vec<f32> {
    let (mut sorted, mut v) = (Vec::new(), Vec::new());
    test.iter()
        .map(|p| {
            m.vector(&p.feats, &mut sorted, &mut v);
            m.problem(&m.predict(&v))
        })
        .collect()
}

fn fit(
    prep: &[&Prepared],
    labels: &[Intent],
    o: TrainOptions,
    encoder: Option<&Arc<Encoder>>,
) -> Model {
    let ex: Vec<(&Feats, usize)> = prep
        .iter()
        .map(|p| {
            let y = labels.iter().position(|l| *l == p.label).unwrap_or(0);
            (&p.feats, y)
        })
        .collect();
    Model::train(labels.to_vec(), &ex, o, encoder.cloned())
}

/// Trains on every row (`rules` must be a scorer without a model), with the sentence
/// `encoder`'s embeddings as features if one is given.
pub fn train(
    rules: &Scorer,
    rows: &[Labelled],
    o: TrainOptions,
    encoder: Option<&Arc<Encoder>>,
) -> Model {
    let prep = prepare(rules, rows, encoder.map(|e| &**e));
    fit(
        &prep.iter().collect::<Vec<_>>(),
        &labels_of(rows),
        o,
        encoder,
    )
}

/// k-fold cross-validation of rules + model at a problem-probability `threshold`; returns the
/// pooled and per-fold figures.
pub fn cross_validate(
    rules: &Scorer,
    rows: &[Labelled],
    folds: usize,
    threshold: f64,
    o: TrainOptions,
    encoder: Option<&Arc<Encoder>>,
) -> (Prf, Vec<Prf>) {
    let prep = prepare(rules, rows, encoder.map(|e| &**e));
    let labels = labels_of(rows);
    // A fixed shuffle so folds do not follow the file's order (it is grouped by domain).
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = SmallRng::seed_from_u64(o.seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    let mut pooled = Prf::default();
    let mut per = Vec::new();
    for k in 0..folds {
        let test: Vec<&Prepared> = order
            .iter()
            .skip(k)
            .step_by(folds)
            .map(|&i| &prep[i])
            .collect();
        let train: Vec<&Prepared> = order
            .iter()
            .enumerate()
            .filter(|(j, _)| j % folds != k)
            .map(|(_, &i)| &prep[i])
            .collect();
        let m = fit(&train, &labels, o, encoder);
        let mut prf = Prf::default();
        for (p, q) in test.iter().zip(problems(&m, &test)) {
            let d = p.decide(q, threshold as f32);
            prf.add(p.label.is_urgent(), d);
            pooled.add(p.label.is_urgent(), d);
        }
        per.push(prf);
    }
    (pooled, per)
}

/// Spearman rank correlation (ties get their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Influence against realised engagement on a tweets CSV with `user_followers`,
/// `user_verified`, `text`, `retweets` and `favorites` columns. Engagement is not given to
/// the score (it is what is predicted). Returns (Spearman of influence, of followers, rows).
pub fn eval_influence(scorer: &Scorer, path: &Path) -> anyhow::Result<(f64, f64, usize)> {
    let mut r = csv::Reader::from_path(path)?;
    let head = r.headers()?.clone();
    let col = |n: &str| {
        head.iter()
            .position(|h| h == n)
            .ok_or_else(|| anyhow::anyhow!("{}: no `{n}` column", path.display()))
    };
    let (fc, vc, tc, rc, lc) = (
        col("user_followers")?,
        col("user_verified")?,
        col("text")?,
        col("retweets")?,
        col("favorites")?,
    );
    let (mut inf, mut fol, mut eng) = (Vec::new(), Vec::new(), Vec::new());
    let mut s = Scratch::default();
    for row in r.records() {
        let row = row?;
        let num = |c: usize| row.get(c).and_then(|x| x.trim().parse::<f64>().ok());
        let (Some(f), Some(rt), Some(fav)) = (num(fc), num(rc), num(lc)) else {
            continue;
        };
        let mut m = Mention::plain("x", Platform::Twitter, 0, row.get(tc).unwrap_or(""));
        m.author = Author {
            id: "a".into(),
            handle: None,
            followers: Some(f as u64),
            verified: row.get(vc).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        };
        inf.push(scorer.score(&m, &mut s).influence as f64);
        fol.push(f);
        eng.push(rt + fav);
    }
    Ok((spearman(&inf, &eng), spearman(&fol, &eng), inf.len()))
}

/// Brands of the generated matching set: real-world-like names of several shapes and lengths.
pub const EVAL_BRANDS: &[&str] = &[
    "Vodafone",
    "Lufthansa",
    "Ryanair",
    "Netflix",
    "Spotify",
    "Comcast",
    "Verizon",
    "Telstra",
    "Deutsche Bahn",
    "Northwind Air",
    "Globex Bank",
    "Skyline Mobile",
    "Fjord Energy",
    "Iberdrola",
    "Carrefour",
    "Decathlon",
    "Zalando",
    "Heineken",
    "Samsung",
    "Mercadona",
    "Aeroflot",
    "Icelandair",
    "Booking",
    "Airbnb",
    "Revolut",
    "Monzo",
    "Barclays",
    "Santander",
    "Orange",
    "Delta",
    "Apple",
    "Shell",
];

/// Sentences of the generated set; `{}` is where the brand (or look-alike) goes.
const FRAMES: &[&str] = &[
    "my {} app is down again",
    "why is {} charging me twice?",
    "just switched to {} and love it",
    "anyone else having problems with {} today",
    "{} customer service is a joke",
    "thanks {} for the quick refund",
];

/// Brand-matching precision and recall on a generated set: every single-edit misspelling
/// (drop, swap, double, neighbouring key) of each brand word of 5+ letters, every two-edit
/// one for 9+, in sentence frames, plus look-alike negatives: ordinary words within the edit
/// limit of a brand (from `dictionary` words) and the frames with ordinary text.
/// Returns (precision, recall, positives, negatives, false hits as examples).
pub fn eval_brands(
    scorer_for: impl Fn(&[BrandConfig]) -> Scorer,
    dictionary: &[String],
) -> (f64, f64, usize, usize, Vec<String>) {
    let brands: Vec<BrandConfig> = EVAL_BRANDS
        .iter()
        .map(|n| BrandConfig {
            id: n.to_lowercase().replace(' ', "_"),
            names: vec![n.to_string()],
            // Names that are ordinary words: operators mark them so.
            case_sensitive: ["Orange", "Delta", "Apple", "Shell", "Booking"].contains(n),
            ..Default::default()
        })
        .collect();
    let scorer = scorer_for(&brands);
    let mut s = Scratch::default();
    let (mut tp, mut fp, mut pos, mut neg) = (0usize, 0usize, 0usize, 0usize);
    let mut found_pos = 0usize;
    let mut false_hits = Vec::new();
    let mut check = |text: &str, want: Option<&str>, s: &mut Scratch| {
        let m = Mention::plain("x", Platform::Twitter, 0, text);
        let got = scorer.score(&m, s).brands;
        let ok = got.iter().any(|b| Some(&*b.id) == want);
        for b in &got {
            if Some(&*b.id) == want {
                tp += 1;
            } else {
                fp += 1;
                if false_hits.len() < 20 {
                    false_hits.push(format!("{text:?} -> {}", b.id));
                }
            }
        }
        (ok, got.is_empty())
    };
    for (bi, b) in brands.iter().enumerate() {
        let name = &b.names[0];
        let frame = FRAMES[bi % FRAMES.len()];
        for variant in misspellings(name) {
            pos += 1;
            let text = frame.replace("{}", &variant);
            if check(&text, Some(&b.id), &mut s).0 {
                found_pos += 1;
            }
        }
        // The exact name in lower case counts unless the brand asked for case.
        if !b.case_sensitive {
            pos += 1;
            if check(
                &frame.replace("{}", &name.to_lowercase()),
                Some(&b.id),
                &mut s,
            )
            .0
            {
                found_pos += 1;
            }
        }
    }
    for w in look_alikes(&brands, dictionary) {
        for frame in FRAMES.iter().take(2) {
            neg += 1;
            check(&frame.replace("{}", &w), None, &mut s);
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    (
        precision,
        found_pos as f64 / pos.max(1) as f64,
        pos,
        neg,
        false_hits,
    )
}

const KEYBOARD: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];

fn neighbour(c: char) -> Option<char> {
    for row in KEYBOARD {
        if let Some(i) = row.find(c.to_ascii_lowercase()) {
            let b = row.as_bytes();
            return Some(if i + 1 < b.len() { b[i + 1] } else { b[i - 1] } as char);
        }
    }
    None
}

/// Misspellings of the longest word of `name` (names keep their other words).
pub fn misspellings(name: &str) -> Vec<String> {
    let words: Vec<&str> = name.split(' ').collect();
    let (wi, w) = words
        .iter()
        .enumerate()
        .max_by_key(|(_, w)| w.chars().count())
        .map(|(i, w)| (i, *w))
        .unwrap_or((0, name));
    let chars: Vec<char> = w.chars().collect();
    let n = chars.len();
    let mut out: Vec<Vec<char>> = Vec::new();
    if n < 5 {
        return Vec::new();
    }
    for i in 1..n {
        let mut drop = chars.clone();
        drop.remove(i);
        out.push(drop);
        if i + 1 < n {
            let mut swap = chars.clone();
            swap.swap(i, i + 1);
            out.push(swap);
        }
        let mut dbl = chars.clone();
        dbl.insert(i, chars[i]);
        out.push(dbl);
        if let Some(k) = neighbour(chars[i]) {
            let mut sub = chars.clone();
            sub[i] = k;
            out.push(sub);
        }
    }
    if n >= 9 {
        for i in 1..n - 3 {
            let mut two = chars.clone();
            two.remove(i);
            two.swap(i + 1, i + 2);
            out.push(two);
        }
    }
    let mut v: Vec<String> = out
        .into_iter()
        .map(|c| {
            let mut ws: Vec<String> = words.iter().map(|x| x.to_string()).collect();
            ws[wi] = c.into_iter().collect();
            ws.join(" ")
        })
        .filter(|v| v != name)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Ordinary words within two edits of a brand word (the hardest negatives).
fn look_alikes(brands: &[BrandConfig], dictionary: &[String]) -> Vec<String> {
    let targets: Vec<Vec<char>> = brands
        .iter()
        .flat_map(|b| {
            b.names[0]
                .split(' ')
                .map(|w| w.to_lowercase().chars().collect())
        })
        .collect();
    let mut out: Vec<String> = dictionary
        .iter()
        .filter(|w| w.chars().all(|c| c.is_lowercase()) && w.chars().count() >= 4)
        .filter(|w| {
            let c: Vec<char> = w.chars().collect();
            targets
                .iter()
                .any(|t| t != &c && super::brands::osa_distance(&c, t, 2) <= 2)
        })
        .cloned()
        .collect();
    out.extend(
        [
            "the weather is lovely today",
            "my phone battery died",
            "see you at the station",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    out
}
