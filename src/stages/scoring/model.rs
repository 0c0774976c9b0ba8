//! The learned intent option: multinomial logistic regression on hashed word, word-pair and
//! character n-grams plus the rule evidence, trained by `tocsin train-intent` on a brand's own
//! labelled posts and saved as one JSON file the config points to.
//!
//! Contract: [`features`] is the only feature function (training and inference share it);
//! training is deterministic for a given input and seed; a model file names its format and
//! version and is refused with a clear error otherwise.

use base64::Engine;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::intent::{Evidence, Intent};
use super::lexicon::CATS;
use super::text::{Kind, Tokens};
use crate::stages::dedup::text::hash_bytes;

const FORMAT: &str = "tocsin-intent-model";
const VERSION: u32 = 1;
/// Feature space: 2^18 hashed buckets.
pub const BITS: u32 = 18;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read intent model {file}: {source}; check `stages.scoring.model`")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file} is not a Tocsin intent model ({why}); train one with `tocsin train-intent`")]
    Format { file: String, why: String },
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 12,
            learning_rate: 0.4,
            l2: 1e-6,
            seed: 7,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub labels: Vec<Intent>,
    bias: Vec<f32>,
    /// `labels.len()` rows of `1 << BITS` weights.
    weights: Vec<f32>,
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
    examples: usize,
}

/// Hashed feature indices of one text (binary features, L2-normalised at use).
pub fn features(t: &Tokens, e: &Evidence, rule_intent: Intent, out: &mut Vec<u32>) {
    out.clear();
    let mask = (1u64 << BITS) - 1;
    let mut push = |seed: u64, s: &[u8]| out.push((hash_bytes(seed, s) & mask) as u32);
    let mut prev: &str = "<s>";
    let mut gram = String::with_capacity(16);
    for tok in &t.toks {
        let w = match tok.kind {
            Kind::Handle => "<handle>",
            Kind::Number => "<num>",
            Kind::Word | Kind::Hashtag => t.collapsed(tok),
        };
        push(1, w.as_bytes());
        gram.clear();
        gram.push_str(prev);
        gram.push(' ');
        gram.push_str(w);
        push(2, gram.as_bytes());
        prev = w;
        if matches!(tok.kind, Kind::Word | Kind::Hashtag) {
            let chars: Vec<char> = std::iter::once(' ')
                .chain(w.chars())
                .chain(std::iter::once(' '))
                .collect();
            for n in 3..=5 {
                for win in chars.windows(n) {
                    gram.clear();
                    gram.extend(win);
                    push(3, gram.as_bytes());
                }
            }
        }
    }
    push(4, rule_intent.as_str().as_bytes());
    // The rules' weighed evidence, binned: lets the model learn how far to trust them.
    let bin = |x: f32| (x * 2.0).round().min(8.0) as u8;
    push(7, &[0, bin(e.complaint())]);
    push(7, &[1, bin(e.praise())]);
    for c in 0..CATS {
        let n = e.n[c].min(3.0) as u8;
        if n > 0 {
            push(5, &[c as u8, n]);
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
            push(6, name.as_bytes());
        }
    }
}

impl Model {
    /// Class probabilities for a feature set, in the order of [`Model::labels`].
    pub fn predict(&self, feats: &[u32]) -> Vec<f32> {
        probabilities(&self.bias, &self.weights, feats)
    }

    /// Fits a model; `examples` are (features, label index into `labels`).
    pub fn train(labels: Vec<Intent>, examples: &[(Vec<u32>, usize)], o: TrainOptions) -> Model {
        let k = labels.len();
        let d = 1usize << BITS;
        let mut w = vec![0f32; k * d];
        let mut g2 = vec![1e-8f32; k * d];
        let mut b = vec![0f32; k];
        let mut bg2 = vec![1e-8f32; k];
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
        for _ in 0..o.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (feats, y) = &examples[i];
                let p = probabilities(&b, &w, feats);
                let norm = 1.0 / (feats.len().max(1) as f32).sqrt();
                for c in 0..k {
                    let err = p[c] - f32::from(u8::from(c == *y));
                    bg2[c] += err * err;
                    b[c] -= o.learning_rate * err / bg2[c].sqrt();
                    for &f in feats {
                        let j = c * d + f as usize;
                        let g = err * norm + o.l2 * w[j];
                        g2[j] += g * g;
                        w[j] -= o.learning_rate * g / g2[j].sqrt();
                    }
                }
            }
        }
        Model {
            labels,
            bias: b,
            weights: w,
        }
    }

    pub fn save(&self, path: &Path, examples: usize) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(self.weights.len() * 4);
        for x in &self.weights {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let file = ModelFile {
            format: FORMAT.into(),
            version: VERSION,
            bits: BITS,
            labels: self.labels.iter().map(|l| l.as_str().to_string()).collect(),
            bias: self.bias.clone(),
            weights: base64::engine::general_purpose::STANDARD.encode(bytes),
            examples,
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
        let m: ModelFile = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if m.format != FORMAT || m.version != VERSION || m.bits != BITS {
            return Err(bad(format!(
                "format {} v{} with {} bits; this Tocsin reads {FORMAT} v{VERSION} with {BITS}",
                m.format, m.version, m.bits
            )));
        }
        let labels = m
            .labels
            .iter()
            .map(|l| Intent::parse(l).ok_or_else(|| bad(format!("unknown label {l:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(m.weights)
            .map_err(|e| bad(e.to_string()))?;
        let d = 1usize << BITS;
        if bytes.len() != labels.len() * d * 4 || m.bias.len() != labels.len() {
            return Err(bad("weights do not match the labels".into()));
        }
        let weights = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Model {
            labels,
            bias: m.bias,
            weights,
        })
    }
}

/// Softmax over the classes' linear scores (features L2-normalised).
fn probabilities(bias: &[f32], weights: &[f32], feats: &[u32]) -> Vec<f32> {
    let d = 1usize << BITS;
    let norm = 1.0 / (feats.len().max(1) as f32).sqrt();
    let mut z: Vec<f32> = (0..bias.len())
        .map(|k| {
            let row = &weights[k * d..(k + 1) * d];
            bias[k] + norm * feats.iter().map(|&f| row[f as usize]).sum::<f32>()
        })
        .collect();
    softmax(&mut z);
    z
}

fn softmax(z: &mut [f32]) {
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

    fn ex(text: &str) -> Vec<u32> {
        let mut t = Tokens::default();
        t.parse(text);
        let mut f = Vec::new();
        features(&t, &Evidence::default(), Intent::Other, &mut f);
        f
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
        let examples: Vec<_> = rows.iter().map(|(t, y)| (ex(t), *y)).collect();
        let m = Model::train(
            vec![Intent::Other, Intent::Complaint],
            &examples,
            TrainOptions::default(),
        );
        assert!(m.predict(&ex("lost my parcel"))[1] > 0.7);
        assert!(m.predict(&ex("lovely"))[1] < 0.3);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        m.save(&p, rows.len()).unwrap();
        let back = Model::load(&p).unwrap();
        assert_eq!(
            back.predict(&ex("lost my parcel")),
            m.predict(&ex("lost my parcel"))
        );
        std::fs::write(&p, "{}").unwrap();
        assert!(Model::load(&p)
            .unwrap_err()
            .to_string()
            .contains("train-intent"));
    }
}
