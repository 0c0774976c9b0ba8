//! The learned intent option: multinomial logistic regression on hashed word, word-pair and
//! character n-grams plus the rule evidence, trained by `tocsin train-intent` on a brand's own
//! labelled posts and saved as one JSON file the config points to.
//!
//! Features come in three groups (words and word pairs; character 2–5-grams of each word; the
//! rules' evidence), each weighted by sublinear term frequency × inverse document frequency
//! and L2-normalised on its own, so the many character n-grams do not drown the words. A model
//! trained with a sentence encoder ([`super::encoder`]) has a fourth, dense group: the text's
//! embedding, which the caller puts in [`Feats::dense`]; the file names the encoder. The fit
//! is the exact L2-regularised optimum ([`super::logreg`]), not a few passes of SGD: on
//! 1,776 posts the converged fit scored +1.3 F1 over 12 epochs of AdaGrad (README, "Scoring").
//!
//! Contract: [`features`] is the only feature function and [`Model::vector`] the only
//! weighting (training and inference share both); training is deterministic for a given input
//! and seed; a model file names its format and version and is refused with a clear error
//! otherwise.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

use super::encoder::{Encoder, EncoderError};
use super::logreg;

use super::intent::{Evidence, Intent};
use super::lexicon::CATS;
use super::text::{Kind, Tokens};
use crate::stages::dedup::text::hash_bytes;

const FORMAT: &str = "tocsin-intent-model";
/// v3 may name a sentence encoder; v2 files (without one) are still read.
const VERSION: u32 = 3;
/// Feature space: 2^18 hashed buckets.
pub const BITS: u32 = 18;
const DIM: usize = 1 << BITS;
/// Feature groups: words and word pairs, character n-grams, rule evidence.
pub const GROUPS: usize = 3;
/// The rule-evidence group counts half as much as a text group: the rules already name the
/// intent, the model is there for what they miss.
const GROUP_WEIGHT: [f32; GROUPS] = [1.0, 1.0, 0.5];
/// The encoder's embedding, when the model has one, weighs as much as a text group (its two
/// halves, each of norm 1, scaled by this over √2).
const DENSE_WEIGHT: f32 = 1.0;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read intent model {file}: {source}; check `stages.scoring.model`")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file} is not a Tocsin intent model ({why}); train one with `tocsin train-intent`")]
    Format { file: String, why: String },
    #[error("the intent model {file} was trained with the encoder in {dir}: {source}; put the same encoder there (README, \"Scoring\") or train the model again")]
    Encoder {
        file: String,
        dir: String,
        source: EncoderError,
    },
    #[error("the intent model {file} was trained with another encoder than the one in {dir} (weights {found}, expected {want}); train the model again with this one")]
    EncoderMismatch {
        file: String,
        dir: String,
        found: String,
        want: String,
    },
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Inverse regularisation strength (as in liblinear/scikit-learn): the L2 penalty is
    /// `|w|² / (2C)` against the summed log-loss. Larger fits the examples more closely.
    pub c: f64,
    /// L-BFGS iterations at most (100 reach the optimum to the F1 figure's last digit).
    pub max_iters: u64,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            c: 30.0,
            max_iters: 100,
            seed: 7,
        }
    }
}

/// A post's features before weighting: hashed indices, repeats kept (they are the term
/// counts), group `g` in `idx[ends[g - 1]..ends[g]]`.
#[derive(Debug, Clone, Default)]
pub struct Feats {
    pub idx: Vec<u32>,
    pub ends: [usize; GROUPS],
    /// The encoder's embedding of the text ([`Encoder::embed`]); empty without an encoder.
    pub dense: Vec<f32>,
}

impl Feats {
    fn push(&mut self, seed: u64, s: &[u8]) {
        self.idx
            .push((hash_bytes(seed, s) & (DIM as u64 - 1)) as u32);
    }
}

/// A weighted sparse vector: (bucket, value), buckets unique.
pub type Vector = Vec<(u32, f32)>;

#[derive(Debug, Clone)]
pub struct Model {
    pub labels: Vec<Intent>,
    bias: Vec<f32>,
    /// `labels.len()` rows of `width` weights: `DIM` hashed buckets, then the dense features.
    weights: Vec<f32>,
    width: usize,
    encoder: Option<Arc<Encoder>>,
    /// Inverse document frequency per bucket; 0 for buckets no training post had (as a
    /// vocabulary would drop unseen terms, they must not dilute the normalisation).
    idf: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    bits: u32,
    labels: Vec<String>,
    bias: Vec<f32>,
    /// Little-endian f32, base64.
    weights: String,
    /// Little-endian f32, base64.
    idf: String,
    examples: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encoder: Option<EncoderRef>,
}

/// Where the encoder a model was trained with lives, and which weights it had.
#[derive(Serialize, Deserialize)]
struct EncoderRef {
    dir: String,
    fingerprint: String,
    dim: usize,
}

/// Hashed feature indices of one text, by group.
pub fn features(t: &Tokens, e: &Evidence, rule_intent: Intent, out: &mut Feats) {
    out.idx.clear();
    let mut prev: &str = "<s>";
    let mut gram = String::with_capacity(16);
    for tok in &t.toks {
        let w = match tok.kind {
            Kind::Handle => "<handle>",
            Kind::Number => "<num>",
            Kind::Word | Kind::Hashtag => t.collapsed(tok),
        };
        out.push(1, w.as_bytes());
        gram.clear();
        gram.push_str(prev);
        gram.push(' ');
        gram.push_str(w);
        out.push(2, gram.as_bytes());
        prev = w;
    }
    out.ends[0] = out.idx.len();
    let mut chars: Vec<char> = Vec::with_capacity(24);
    for tok in &t.toks {
        if !matches!(tok.kind, Kind::Word | Kind::Hashtag) {
            continue;
        }
        chars.clear();
        chars.push(' ');
        chars.extend(t.collapsed(tok).chars());
        chars.push(' ');
        for n in 2..=5 {
            for win in chars.windows(n) {
                gram.clear();
                gram.extend(win);
                out.push(3, gram.as_bytes());
            }
        }
    }
    out.ends[1] = out.idx.len();
    out.push(4, rule_intent.as_str().as_bytes());
    // The rules' weighed evidence, binned: lets the model learn how far to trust them.
    let bin = |x: f32| (x * 2.0).round().min(8.0) as u8;
    out.push(7, &[0, bin(e.complaint())]);
    out.push(7, &[1, bin(e.praise())]);
    for c in 0..CATS {
        let n = e.n[c].min(3.0) as u8;
        if n > 0 {
            out.push(5, &[c as u8, n]);
        }
    }
    for (name, v) in [
        ("negpraise", e.negated_praise),
        ("negneg", e.negated_negative),
        ("angry", e.angry_emoji),
        ("happy", e.happy_emoji),
        ("q", f32::from(u8::from(t.question))),
        ("excl", t.exclamations.min(1) as f32),
    ] {
        if v > 0.0 {
            out.push(6, name.as_bytes());
        }
    }
    out.ends[2] = out.idx.len();
}

/// Sublinear tf × idf, each group L2-normalised and weighted; `sorted` is scratch.
fn weigh(f: &Feats, idf: &[f32], sorted: &mut Vec<u32>, out: &mut Vector) {
    out.clear();
    let mut start = 0;
    for (&end, &weight) in f.ends.iter().zip(&GROUP_WEIGHT) {
        sorted.clear();
        sorted.extend_from_slice(&f.idx[start..end]);
        start = end;
        sorted.sort_unstable();
        let first = out.len();
        let mut i = 0;
        while i < sorted.len() {
            let b = sorted[i];
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == b {
                j += 1;
            }
            let v = (1.0 + ((j - i) as f32).ln()) * idf[b as usize];
            if v > 0.0 {
                out.push((b, v));
            }
            i = j;
        }
        let norm = out[first..].iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            let k = weight / norm;
            out[first..].iter_mut().for_each(|(_, v)| *v *= k);
        }
    }
    let k = DENSE_WEIGHT * std::f32::consts::FRAC_1_SQRT_2;
    out.extend(
        f.dense
            .iter()
            .enumerate()
            .map(|(i, &v)| ((DIM + i) as u32, v * k)),
    );
}

/// Smoothed inverse document frequency of every bucket over `docs` (0 where unseen).
fn idf_of<'a>(docs: impl Iterator<Item = &'a Feats>) -> Vec<f32> {
    let mut df = vec![0u32; DIM];
    let mut n = 0u32;
    let mut seen: Vec<u32> = Vec::new();
    for f in docs {
        n += 1;
        seen.clear();
        seen.extend_from_slice(&f.idx);
        seen.sort_unstable();
        seen.dedup();
        for &b in &seen {
            df[b as usize] += 1;
        }
    }
    let n = n as f32;
    df.iter()
        .map(|&d| {
            if d == 0 {
                0.0
            } else {
                ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0
            }
        })
        .collect()
}

impl Model {
    /// The weighted vector of a post's features (`sorted` is scratch).
    pub fn vector(&self, f: &Feats, sorted: &mut Vec<u32>, out: &mut Vector) {
        weigh(f, &self.idf, sorted, out);
    }

    /// The sentence encoder whose embedding [`Feats::dense`] must carry, if the model has one.
    pub fn encoder(&self) -> Option<&Arc<Encoder>> {
        self.encoder.as_ref()
    }

    /// Class probabilities for a vector, in the order of [`Model::labels`].
    pub fn predict(&self, v: &Vector) -> Vec<f32> {
        let mut z: Vec<f32> = (0..self.bias.len())
            .map(|k| {
                let row = &self.weights[k * self.width..(k + 1) * self.width];
                self.bias[k]
                    + v.iter()
                        .map(|&(j, x)| row.get(j as usize).map_or(0.0, |w| x * w))
                        .sum::<f32>()
            })
            .collect();
        softmax(&mut z);
        z
    }

    /// The probability that a post reports a problem (outage, safety, security, complaint).
    pub fn problem(&self, probs: &[f32]) -> f32 {
        self.labels
            .iter()
            .zip(probs)
            .filter(|(l, _)| l.is_urgent())
            .map(|(_, p)| p)
            .sum()
    }

    /// Fits a model to `examples` (features, label index into `labels`); with an `encoder`,
    /// every example's [`Feats::dense`] must hold its embedding.
    pub fn train(
        labels: Vec<Intent>,
        examples: &[(&Feats, usize)],
        o: TrainOptions,
        encoder: Option<Arc<Encoder>>,
    ) -> Model {
        let idf = idf_of(examples.iter().map(|(f, _)| *f));
        let width = DIM + encoder.as_ref().map_or(0, |e| e.dim());
        // Only buckets some training post has can get a weight (the others' gradient is the
        // penalty alone): fit over those, a few percent of the space for a brand's posts.
        let mut used: Vec<u32> = Vec::new();
        let mut compact = vec![u32::MAX; width];
        let seen = idf
            .iter()
            .enumerate()
            .filter(|(_, &w)| w > 0.0)
            .map(|(b, _)| b);
        for b in seen.chain(DIM..width) {
            compact[b] = used.len() as u32;
            used.push(b as u32);
        }
        let n = used.len();
        let mut sorted = Vec::new();
        let x: Vec<Vector> = examples
            .iter()
            .map(|(f, _)| {
                let mut v = Vector::new();
                weigh(f, &idf, &mut sorted, &mut v);
                v.iter_mut().for_each(|(b, _)| *b = compact[*b as usize]);
                v
            })
            .collect();
        let y: Vec<usize> = examples.iter().map(|(_, y)| *y).collect();
        let k = labels.len();
        // A failed line search leaves the zero model: every class equally likely, which the
        // cross-validation figures would show at once.
        let p =
            logreg::fit(&x, &y, k, n, o.c, o.max_iters).unwrap_or_else(|| vec![0f64; k * n + k]);
        let mut weights = vec![0f32; k * width];
        for c in 0..k {
            for (i, &b) in used.iter().enumerate() {
                weights[c * width + b as usize] = p[c * n + i] as f32;
            }
        }
        Model {
            labels,
            bias: p[k * n..].iter().map(|&b| b as f32).collect(),
            weights,
            width,
            encoder,
            idf,
        }
    }

    pub fn save(&self, path: &Path, examples: usize) -> std::io::Result<()> {
        let file = ModelFile {
            format: FORMAT.into(),
            version: VERSION,
            bits: BITS,
            labels: self.labels.iter().map(|l| l.as_str().to_string()).collect(),
            bias: self.bias.clone(),
            weights: encode(&self.weights),
            idf: encode(&self.idf),
            examples,
            encoder: self.encoder.as_ref().map(|e| EncoderRef {
                dir: std::path::absolute(e.dir())
                    .unwrap_or_else(|_| e.dir().to_path_buf())
                    .display()
                    .to_string(),
                fingerprint: e.fingerprint().to_string(),
                dim: e.dim(),
            }),
        };
        let json = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, path)
    }

    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let file = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ModelError::Read {
            file: file.clone(),
            source,
        })?;
        let bad = |why: String| ModelError::Format {
            file: file.clone(),
            why,
        };
        #[derive(Deserialize)]
        struct Head {
            format: String,
            version: u32,
            bits: u32,
        }
        let h: Head = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if h.format != FORMAT || !(2..=VERSION).contains(&h.version) || h.bits != BITS {
            return Err(bad(format!(
                "format {} v{} with {} bits; this Tocsin reads {FORMAT} v{VERSION} with {BITS}",
                h.format, h.version, h.bits
            )));
        }
        let m: ModelFile = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let labels = m
            .labels
            .iter()
            .map(|l| Intent::parse(l).ok_or_else(|| bad(format!("unknown label {l:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let weights = decode(&m.weights).map_err(&bad)?;
        let idf = decode(&m.idf).map_err(&bad)?;
        let width = DIM + m.encoder.as_ref().map_or(0, |e| e.dim);
        if weights.len() != labels.len() * width || idf.len() != DIM || m.bias.len() != labels.len()
        {
            return Err(bad("weights do not match the labels".into()));
        }
        let encoder = match &m.encoder {
            None => None,
            Some(r) => {
                let enc =
                    Encoder::load(Path::new(&r.dir)).map_err(|source| ModelError::Encoder {
                        file: file.clone(),
                        dir: r.dir.clone(),
                        source,
                    })?;
                if enc.fingerprint() != r.fingerprint || enc.dim() != r.dim {
                    return Err(ModelError::EncoderMismatch {
                        file,
                        dir: r.dir.clone(),
                        found: enc.fingerprint().to_string(),
                        want: r.fingerprint.clone(),
                    });
                }
                Some(Arc::new(enc))
            }
        };
        Ok(Model {
            labels,
            bias: m.bias,
            weights,
            width,
            encoder,
            idf,
        })
    }
}

fn encode(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(s: &str) -> Result<Vec<f32>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| e.to_string())?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// In place, over `z`'s values (shared with the encoder's attention).
pub(super) fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in z.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in z.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str) -> Feats {
        let mut t = Tokens::default();
        t.parse(text);
        let mut f = Feats::default();
        features(&t, &Evidence::default(), Intent::Other, &mut f);
        f
    }

    fn prob(m: &Model, text: &str) -> f32 {
        let mut v = Vector::new();
        m.vector(&ex(text), &mut Vec::new(), &mut v);
        m.problem(&m.predict(&v))
    }

    #[test]
    fn each_group_is_normalised_to_its_weight_and_unseen_buckets_are_dropped() {
        let f = ex("the parcel the parcel is lost");
        let mut idf = idf_of([&f, &ex("lovely day")].into_iter());
        let mut v = Vector::new();
        weigh(&f, &idf, &mut Vec::new(), &mut v);
        let group_of = |b: u32| {
            (0..GROUPS)
                .find(|&g| {
                    let start = if g == 0 { 0 } else { f.ends[g - 1] };
                    f.idx[start..f.ends[g]].contains(&b)
                })
                .unwrap()
        };
        let groups = |v: &Vector| {
            let mut norms = [0f32; GROUPS];
            for &(b, x) in v {
                norms[group_of(b)] += x * x;
            }
            norms.map(f32::sqrt)
        };
        for (n, w) in groups(&v).iter().zip(GROUP_WEIGHT) {
            assert!((n - w).abs() < 1e-4, "{n} vs {w}");
        }
        // Repeats count sublinearly: "the" twice weighs less than twice "is" once (same idf).
        let bucket = |s: &str| (hash_bytes(1, s.as_bytes()) & (DIM as u64 - 1)) as u32;
        let val = |b: u32| v.iter().find(|(x, _)| *x == b).unwrap().1;
        assert!(val(bucket("the")) < 2.0 * val(bucket("is")));
        assert!(val(bucket("the")) > val(bucket("is")));
        // A bucket no training post had is left out, not given the largest idf.
        idf[bucket("lost") as usize] = 0.0;
        weigh(&f, &idf, &mut Vec::new(), &mut v);
        assert!(v.iter().all(|(b, _)| *b != bucket("lost")));
    }

    #[test]
    fn learns_a_separable_toy_set_and_round_trips() {
        let rows = [
            ("my parcel is lost again", 1),
            ("parcel never came, lost", 1),
            ("lost parcel, where is it", 1),
            ("lovely flight today", 0),
            ("lovely crew and flight", 0),
            ("what a lovely day", 0),
        ];
        let feats: Vec<_> = rows.iter().map(|(t, _)| ex(t)).collect();
        let examples: Vec<_> = feats.iter().zip(&rows).map(|(f, (_, y))| (f, *y)).collect();
        let m = Model::train(
            vec![Intent::Other, Intent::Complaint],
            &examples,
            TrainOptions::default(),
            None,
        );
        assert!(prob(&m, "lost my parcel") > 0.7);
        assert!(prob(&m, "lovely") < 0.3);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        m.save(&p, rows.len()).unwrap();
        let back = Model::load(&p).unwrap();
        assert_eq!(prob(&back, "lost my parcel"), prob(&m, "lost my parcel"));
        std::fs::write(&p, "{}").unwrap();
        assert!(Model::load(&p)
            .unwrap_err()
            .to_string()
            .contains("train-intent"));
    }
}
