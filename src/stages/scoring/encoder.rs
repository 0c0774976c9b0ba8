//! An optional sentence encoder for the learned intent option: a BERT-family transformer
//! (all-MiniLM-L6-v2 is the one measured) read from a folder in the Hugging Face layout
//! (`config.json`, `tokenizer.json`, `model.safetensors`), run on the CPU.
//!
//! Why: n-gram features only know the words a brand's few thousand labelled posts contain; a
//! pretrained encoder knows that "my parcel never came" and "still waiting for the delivery"
//! say the same thing. On the complaints set it adds about 4 F1 points to the linear model
//! (README, "Scoring"). The cost is real, about 20 ms of one core per tweet, so it is opt-in:
//! a model trained with `tocsin train-intent --encoder DIR` names its encoder and the stage
//! loads it; without one nothing here runs.
//!
//! Contract: [`Encoder::embed`] gives `2 × hidden` numbers: the mean of the last layer over
//! the tokens (as sentence-transformers pools), L2-normalised, then the mean of the input
//! token embeddings without `[CLS]`/`[SEP]`, L2-normalised. The tokenizer is BERT's uncased
//! WordPiece (clean, split CJK, strip accents, lowercase, split on whitespace and punctuation,
//! greedy longest match), written here rather than pulling the `tokenizers` crate and its C
//! dependencies in; its ids were checked against `tokenizers` (tests, and README).

use rustc_hash::FxHashMap;

use super::model::softmax;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("cannot read the encoder's {file}: {source}; point `--encoder` at a folder with config.json, tokenizer.json and model.safetensors (README, \"Scoring\")")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("the encoder's {file} is not usable ({why}); it must be a BERT-family model in the Hugging Face layout, e.g. all-MiniLM-L6-v2")]
    Format { file: String, why: String },
}

#[derive(Deserialize)]
struct Config {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f32,
    #[serde(default)]
    hidden_act: Option<String>,
}

fn default_eps() -> f32 {
    1e-12
}

struct Linear {
    /// `out × in`, row-major (as stored).
    w: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
}

struct Norm {
    g: Vec<f32>,
    b: Vec<f32>,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln1: Norm,
    up: Linear,
    down: Linear,
    ln2: Norm,
}

pub struct Encoder {
    dir: PathBuf,
    fingerprint: String,
    vocab: FxHashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
    max_len: usize,
    hidden: usize,
    heads: usize,
    eps: f32,
    word: Vec<f32>,
    pos: Vec<f32>,
    typ: Vec<f32>,
    ln: Norm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("hidden", &self.hidden)
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl Encoder {
    pub fn load(dir: &Path) -> Result<Encoder, EncoderError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| EncoderError::Read {
                file: p.display().to_string(),
                source,
            })
        };
        let bad = |name: &str, why: String| EncoderError::Format {
            file: dir.join(name).display().to_string(),
            why,
        };
        let cfg: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| bad("config.json", e.to_string()))?;
        if cfg.hidden_act.as_deref().is_some_and(|a| a != "gelu") {
            return Err(bad(
                "config.json",
                "only the gelu activation is supported".into(),
            ));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(bad(
                "config.json",
                "heads do not divide the hidden size".into(),
            ));
        }
        let max_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("max_seq_length")?.as_u64())
            .unwrap_or(128) as usize;

        #[derive(Deserialize)]
        struct Tok {
            model: WordPiece,
        }
        #[derive(Deserialize)]
        struct WordPiece {
            vocab: FxHashMap<String, u32>,
        }
        let tok: Tok = serde_json::from_slice(&read("tokenizer.json")?)
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let vocab = tok.model.vocab;
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| bad("tokenizer.json", format!("no {t} token")))
        };
        let (unk, cls, sep) = (id("[UNK]")?, id("[CLS]")?, id("[SEP]")?);

        let bytes = read("model.safetensors")?;
        let fingerprint = format!(
            "{:016x}-{}",
            crate::stages::dedup::text::hash_bytes(0x5eed, &bytes),
            bytes.len()
        );
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| bad("model.safetensors", e.to_string()))?;
        // Some exports prefix every name with `bert.`.
        let prefix = if st.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let tensor = |name: &str, len: usize| -> Result<Vec<f32>, EncoderError> {
            let t = st
                .tensor(&format!("{prefix}{name}"))
                .map_err(|e| bad("model.safetensors", format!("{name}: {e}")))?;
            if t.dtype() != safetensors::Dtype::F32 {
                return Err(bad("model.safetensors", format!("{name} is not f32")));
            }
            let v: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if v.len() != len {
                return Err(bad(
                    "model.safetensors",
                    format!("{name} has {} values, expected {len}", v.len()),
                ));
            }
            Ok(v)
        };
        let h = cfg.hidden_size;
        let linear = |name: &str, inp: usize, out: usize| -> Result<Linear, EncoderError> {
            Ok(Linear {
                w: tensor(&format!("{name}.weight"), inp * out)?,
                b: tensor(&format!("{name}.bias"), out)?,
                inp,
                out,
            })
        };
        let norm = |name: &str| -> Result<Norm, EncoderError> {
            Ok(Norm {
                g: tensor(&format!("{name}.weight"), h)?,
                b: tensor(&format!("{name}.bias"), h)?,
            })
        };
        let positions = st
            .tensor(&format!("{prefix}embeddings.position_embeddings.weight"))
            .map(|t| t.shape().first().copied().unwrap_or(0))
            .unwrap_or(0);
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            layers.push(Layer {
                q: linear(&format!("{p}attention.self.query"), h, h)?,
                k: linear(&format!("{p}attention.self.key"), h, h)?,
                v: linear(&format!("{p}attention.self.value"), h, h)?,
                o: linear(&format!("{p}attention.output.dense"), h, h)?,
                ln1: norm(&format!("{p}attention.output.LayerNorm"))?,
                up: linear(&format!("{p}intermediate.dense"), h, cfg.intermediate_size)?,
                down: linear(&format!("{p}output.dense"), cfg.intermediate_size, h)?,
                ln2: norm(&format!("{p}output.LayerNorm"))?,
            });
        }
        Ok(Encoder {
            dir: dir.to_path_buf(),
            fingerprint,
            unk,
            cls,
            sep,
            max_len: max_len.min(positions).max(2),
            hidden: h,
            heads: cfg.num_attention_heads,
            eps: cfg.layer_norm_eps,
            word: tensor("embeddings.word_embeddings.weight", vocab.len() * h)?,
            pos: tensor("embeddings.position_embeddings.weight", positions * h)?,
            typ: tensor("embeddings.token_type_embeddings.weight", h).or_else(|_| {
                // Two token types is the usual shape; only type 0 is used.
                tensor("embeddings.token_type_embeddings.weight", 2 * h).map(|t| t[..h].to_vec())
            })?,
            ln: norm("embeddings.LayerNorm")?,
            layers,
            vocab,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hash and size of the weights: a model trained with one encoder refuses another.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Length of [`Encoder::embed`]'s output.
    pub fn dim(&self) -> usize {
        2 * self.hidden
    }

    /// Token ids of `text` with `[CLS]` and `[SEP]`, truncated to the model's length.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        for word in basic_tokens(text) {
            wordpiece(&word, &self.vocab, self.unk, &mut ids);
            if ids.len() >= self.max_len - 1 {
                ids.truncate(self.max_len - 1);
                break;
            }
        }
        ids.push(self.sep);
        ids
    }

    /// The text's embedding (see the module contract), into `out`.
    pub fn embed(&self, text: &str, out: &mut Vec<f32>) {
        let ids = self.tokenize(text);
        let (n, h) = (ids.len(), self.hidden);
        let mut x = vec![0f32; n * h];
        for (i, &t) in ids.iter().enumerate() {
            let row = &mut x[i * h..(i + 1) * h];
            let (w, p) = (
                &self.word[t as usize * h..][..h],
                &self.pos[i * h..(i + 1) * h],
            );
            for d in 0..h {
                row[d] = w[d] + p[d] + self.typ[d];
            }
        }
        layer_norm(&mut x, &self.ln, self.eps);
        let ffn = self.layers.first().map_or(0, |l| l.up.out);
        let (mut q, mut k, mut v, mut ctx, mut tmp) = (
            vec![0f32; n * h],
            vec![0f32; n * h],
            vec![0f32; n * h],
            vec![0f32; n * h],
            vec![0f32; n * h],
        );
        let mut up = vec![0f32; n * ffn];
        let mut scores = vec![0f32; n];
        let dh = h / self.heads;
        let scale = 1.0 / (dh as f32).sqrt();
        for l in &self.layers {
            l.q.apply(&x, n, &mut q);
            l.k.apply(&x, n, &mut k);
            l.v.apply(&x, n, &mut v);
            for head in 0..self.heads {
                let off = head * dh;
                for i in 0..n {
                    let qi = &q[i * h + off..][..dh];
                    for (j, s) in scores.iter_mut().enumerate() {
                        let kj = &k[j * h + off..][..dh];
                        *s = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
                    }
                    softmax(&mut scores);
                    let c = &mut ctx[i * h + off..][..dh];
                    c.fill(0.0);
                    for (j, &a) in scores.iter().enumerate() {
                        let vj = &v[j * h + off..][..dh];
                        c.iter_mut().zip(vj).for_each(|(c, v)| *c += a * v);
                    }
                }
            }
            l.o.apply(&ctx, n, &mut tmp);
            x.iter_mut().zip(&tmp).for_each(|(x, t)| *x += t);
            layer_norm(&mut x, &l.ln1, self.eps);
            l.up.apply(&x, n, &mut up);
            up.iter_mut().for_each(|u| *u = gelu(*u));
            l.down.apply(&up, n, &mut tmp);
            x.iter_mut().zip(&tmp).for_each(|(x, t)| *x += t);
            layer_norm(&mut x, &l.ln2, self.eps);
        }
        out.clear();
        out.resize(2 * h, 0.0);
        for row in x.chunks_exact(h) {
            out[..h].iter_mut().zip(row).for_each(|(o, r)| *o += r);
        }
        for &t in &ids[1..n - 1] {
            let w = &self.word[t as usize * h..][..h];
            out[h..].iter_mut().zip(w).for_each(|(o, r)| *o += r);
        }
        normalise(&mut out[..h]);
        normalise(&mut out[h..]);
    }
}

impl Linear {
    /// `y = x Wᵀ + b` for `n` rows of `x`.
    fn apply(&self, x: &[f32], n: usize, y: &mut Vec<f32>) {
        y.resize(n * self.out, 0.0);
        for row in y.chunks_exact_mut(self.out) {
            row.copy_from_slice(&self.b);
        }
        // SAFETY: the slices hold n × inp, out × inp and n × out values (checked at load and
        // by the resize above), and the strides below stay inside them.
        unsafe {
            matrixmultiply::sgemm(
                n,
                self.inp,
                self.out,
                1.0,
                x.as_ptr(),
                self.inp as isize,
                1,
                self.w.as_ptr(),
                1,
                self.inp as isize,
                1.0,
                y.as_mut_ptr(),
                self.out as isize,
                1,
            );
        }
    }
}

fn layer_norm(x: &mut [f32], n: &Norm, eps: f32) {
    let h = n.g.len();
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&n.g).zip(&n.b) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// BERT's exact GELU, `x Φ(x)`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7, below f32's own rounding here).
fn erf(x: f32) -> f32 {
    let s = x.signum();
    let x = f64::from(x.abs());
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    s * y as f32
}

/// BERT's basic tokenizer, uncased: words and punctuation marks, lowercased, accents stripped.
fn basic_tokens(text: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let mut words = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, words: &mut Vec<String>| {
        if !cur.is_empty() {
            words.push(std::mem::take(cur));
        }
    };
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) || is_format(c) {
            continue;
        }
        if c.is_whitespace() {
            flush(&mut cur, &mut words);
        } else if is_cjk(c) || is_punctuation(c) {
            flush(&mut cur, &mut words);
            // Stripping accents and lowercasing can only change letters, not these.
            words.push(c.to_string());
        } else {
            for d in c.to_lowercase().nfd().filter(|d| !is_nonspacing_mark(*d)) {
                cur.push(d);
            }
        }
    }
    flush(&mut cur, &mut words);
    words
}

/// Category Mn: accents are stripped, spacing marks (Mc, as in Devanagari) are kept.
fn is_nonspacing_mark(c: char) -> bool {
    if !unicode_normalization::char::is_combining_mark(c) {
        return false;
    }
    static MN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = MN.get_or_init(|| regex::Regex::new(r"\A\p{Mn}\z").expect("valid regex"));
    let mut buf = [0u8; 4];
    re.is_match(c.encode_utf8(&mut buf))
}

fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    static P: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = P.get_or_init(|| regex::Regex::new(r"\A\p{P}\z").expect("valid regex"));
    let mut buf = [0u8; 4];
    re.is_match(c.encode_utf8(&mut buf))
}

/// Unicode format and private-use characters (categories Cf and Co: zero-width joiners in
/// emoji, bidi marks, soft hyphens, tag characters in flags), which BERT's cleaning drops as
/// control characters.
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0x110BD | 0xE0001 | 0xE0020..=0xE007F
        // Private use (Co), such as Apple's logo, which BERT's cleaning drops too.
        | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// Greedy longest-match WordPiece; a word with a piece the vocabulary lacks is one `[UNK]`.
fn wordpiece(word: &str, vocab: &FxHashMap<String, u32>, unk: u32, out: &mut Vec<u32>) {
    if word.chars().count() > 100 {
        out.push(unk);
        return;
    }
    let first = out.len();
    let mut start = 0;
    let mut piece = String::with_capacity(word.len() + 2);
    while start < word.len() {
        let mut end = word.len();
        let mut found = None;
        while end > start {
            if word.is_char_boundary(end) {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
            }
            end -= 1;
        }
        match found {
            Some(id) => {
                out.push(id);
                start = end;
            }
            None => {
                out.truncate(first);
                out.push(unk);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_tokens_split_punctuation_and_strip_accents() {
        assert_eq!(
            basic_tokens("Café DOWN!! “really”…\tnow\u{0}"),
            ["cafe", "down", "!", "!", "“", "really", "”", "…", "now"]
        );
        assert_eq!(basic_tokens("東京ok"), ["東", "京", "ok"]);
    }

    #[test]
    fn wordpiece_takes_the_longest_pieces_and_unk_for_unknown_words() {
        let vocab: FxHashMap<String, u32> = [("un", 1), ("##aff", 2), ("##able", 3), ("a", 4)]
            .into_iter()
            .map(|(s, i)| (s.to_string(), i))
            .collect();
        let mut out = Vec::new();
        wordpiece("unaffable", &vocab, 0, &mut out);
        assert_eq!(out, [1, 2, 3]);
        out.clear();
        wordpiece("unaffz", &vocab, 0, &mut out);
        assert_eq!(out, [0]);
    }

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
        ] {
            assert!((erf(x) - want).abs() < 1e-6, "erf({x}) = {}", erf(x));
        }
    }
}
