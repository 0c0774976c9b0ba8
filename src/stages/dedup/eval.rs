//! Quality evaluation of dedup on real posts (the `../shared/data` sets), used by
//! `cargo run --release --example dedup_eval` and by `tests/dedup_quality.rs`.
//!
//! Three measures:
//! 1. recall on copy-paste variants of real tweets (twcs): each tweet is re-posted with
//!    realistic edits — another @handle, a URL, hashtags, emoji, case, punctuation,
//!    elongations — plus 0–2 words replaced, inserted or deleted; recall is reported by the
//!    share of words changed;
//! 2. false merges among distinct real tweets (twcs, distinct after normalisation): a tweet
//!    marked `near` of another tweet is a false merge;
//! 3. false merges on paraphrase pairs that 0 or 1 of 6 annotators called the same.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use super::sketch::Sketch;
use super::state::{DedupInput, Shard};
use super::text::{for_each_token, hash_bytes};
use super::DedupConfig;
use crate::mention::{DedupStatus, Platform};

/// Recall on variants whose share of changed words falls in one bucket.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    pub label: &'static str,
    pub variants: usize,
    pub detected: usize,
    /// Detected and attributed to the tweet they were made from.
    pub right_original: usize,
}

#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    pub buckets: Vec<Bucket>,
    pub distinct: usize,
    pub distinct_merged: usize,
    pub merged_examples: Vec<(String, String)>,
    pub outbound_distinct: usize,
    pub outbound_merged: usize,
    pub paraphrase_pairs: usize,
    pub paraphrase_merged: usize,
    pub paraphrase_examples: Vec<(String, String)>,
    /// Mean SimHash Hamming distance: variants with 5–15 % of words changed vs. distinct tweets.
    pub simhash_variant_mean: f64,
    pub simhash_distinct_mean: f64,
}

const BUCKETS: [(&str, f64); 5] = [
    ("0 % (noise only)", 0.0),
    ("(0, 10 %]", 0.10),
    ("(10, 15 %]", 0.15),
    ("(15, 25 %]", 0.25),
    ("> 25 %", f64::INFINITY),
];

impl EvalReport {
    /// Recall over every variant with at most 15 % of its words changed.
    pub fn recall_up_to_15(&self) -> f64 {
        let (n, d) = self.buckets[..3]
            .iter()
            .fold((0, 0), |(n, d), b| (n + b.variants, d + b.detected));
        d as f64 / n.max(1) as f64
    }
    pub fn false_merge_rate(&self) -> f64 {
        self.distinct_merged as f64 / self.distinct.max(1) as f64
    }
    pub fn paraphrase_false_merge_rate(&self) -> f64 {
        self.paraphrase_merged as f64 / self.paraphrase_pairs.max(1) as f64
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "copy-paste variants of real tweets (twcs), recall by words changed:"
        )?;
        for b in &self.buckets {
            writeln!(
                f,
                "  {:<18} {:>6} variants  detected {:>6.2} %  attributed to their original {:>6.2} %",
                b.label,
                b.variants,
                100.0 * b.detected as f64 / b.variants.max(1) as f64,
                100.0 * b.right_original as f64 / b.variants.max(1) as f64
            )?;
        }
        writeln!(
            f,
            "  recall with <= 15 % of words changed: {:.2} %",
            100.0 * self.recall_up_to_15()
        )?;
        writeln!(
            f,
            "distinct customer tweets (twcs inbound): {} , wrongly merged {} ({:.3} %)",
            self.distinct,
            self.distinct_merged,
            100.0 * self.false_merge_rate()
        )?;
        for (a, b) in &self.merged_examples {
            writeln!(f, "    {a:?}\n      ~ {b:?}")?;
        }
        writeln!(
            f,
            "distinct brand replies (twcs outbound, templated by design): {} , merged {} ({:.2} %)",
            self.outbound_distinct,
            self.outbound_merged,
            100.0 * self.outbound_merged as f64 / self.outbound_distinct.max(1) as f64
        )?;
        writeln!(
            f,
            "paraphrase pairs voted 0-1 of 6 (different texts): {} , merged {} ({:.3} %)",
            self.paraphrase_pairs,
            self.paraphrase_merged,
            100.0 * self.paraphrase_false_merge_rate()
        )?;
        for (a, b) in &self.paraphrase_examples {
            writeln!(f, "    {a:?}\n      ~ {b:?}")?;
        }
        writeln!(
            f,
            "SimHash (64-bit, word features) mean Hamming distance: variants 5-15 % changed {:.1} bits, distinct tweets {:.1} bits",
            self.simhash_variant_mean, self.simhash_distinct_mean
        )
    }
}

/// A tweet from twcs.
struct Tweet {
    id: String,
    inbound: bool,
    text: String,
}

fn read_twcs(path: &Path) -> Result<Vec<Tweet>, String> {
    let mut rd = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for row in rd.records() {
        let row = row.map_err(|e| format!("{}: {e}", path.display()))?;
        let (Some(id), Some(inbound), Some(text)) = (row.get(0), row.get(2), row.get(4)) else {
            continue;
        };
        out.push(Tweet {
            id: id.to_owned(),
            inbound: inbound == "True",
            text: text.to_owned(),
        });
    }
    Ok(out)
}

fn word_count(text: &str) -> usize {
    let mut n = 0;
    for_each_token(text, |_| n += 1);
    n
}

const NOISE_EMOJI: &[&str] = &["😡", "🙄", "😭", "🔥", "👎", "😤", "🤬", "🙏", "💔", "😂"];
const NOISE_TAGS: &[&str] = &[
    "#fail",
    "#customerservice",
    "#help",
    "#annoyed",
    "#outage",
    "#fixit",
];

/// One realistic copy-paste variant of `text` with `word_edits` words replaced, inserted or
/// deleted; returns the variant.
fn variant(rng: &mut SmallRng, text: &str, word_edits: usize, vocab: &[String]) -> String {
    let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    // Content words (not handles, URLs, hashtags) are what edits change.
    for _ in 0..word_edits {
        let content: Vec<usize> = (0..words.len())
            .filter(|&i| word_count(&words[i]) > 0)
            .collect();
        let new_word = vocab[rng.gen_range(0..vocab.len())].clone();
        match (rng.gen_range(0..3), content.is_empty()) {
            (0, false) => {
                let i = content[rng.gen_range(0..content.len())];
                words[i] = new_word;
            }
            (1, false) if content.len() > 1 => {
                let i = content[rng.gen_range(0..content.len())];
                words.remove(i);
            }
            _ => {
                let i = rng.gen_range(0..=words.len());
                words.insert(i, new_word);
            }
        }
    }
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..8) {
            0 => {
                // Address someone else: drop leading handles, add another.
                while words.first().is_some_and(|w| w.starts_with('@')) {
                    words.remove(0);
                }
                words.insert(0, format!("@user{}", rng.gen_range(1..99_999)));
            }
            1 => words.push(format!(
                "https://t.co/{:010x}",
                rng.gen::<u64>() & 0xff_ffff_ffff
            )),
            2 => words.push(NOISE_TAGS[rng.gen_range(0..NOISE_TAGS.len())].to_owned()),
            3 => words.push(NOISE_EMOJI[rng.gen_range(0..NOISE_EMOJI.len())].to_owned()),
            4 => words.iter_mut().for_each(|w| *w = w.to_uppercase()),
            5 => words.iter_mut().for_each(|w| *w = w.to_lowercase()),
            6 => {
                if let Some(w) = words.last_mut() {
                    w.push_str(["!!", "!!!", "??", "...", " ."][rng.gen_range(0..5)]);
                }
            }
            _ => {
                // Elongate a word: "so" -> "sooo".
                if let Some(w) = words
                    .iter_mut()
                    .find(|w| w.len() >= 2 && w.chars().all(char::is_alphabetic))
                {
                    let c = w.chars().last().unwrap_or('o');
                    w.extend(std::iter::repeat_n(c, 3));
                }
            }
        }
    }
    words.join(" ")
}

fn simhash(text: &str) -> u64 {
    let mut acc = [0i32; 64];
    for_each_token(text, |t| {
        let h = hash_bytes(7, t.as_bytes());
        for (b, a) in acc.iter_mut().enumerate() {
            *a += if h >> b & 1 == 1 { 1 } else { -1 };
        }
    });
    acc.iter()
        .enumerate()
        .fold(0u64, |s, (b, &a)| if a > 0 { s | 1 << b } else { s })
}

fn observe(shard: &mut Shard, id: &str, t: i64, text: &str) -> super::DedupInfo {
    shard.observe(DedupInput {
        id,
        platform: Platform::Twitter,
        created_at_ms: t,
        text,
        repost_of: None,
    })
}

/// Runs the three measures on `data_dir` (the folder holding `twcs/` and `paraphrase/`).
pub fn run(data_dir: &Path, cfg: &DedupConfig, seed: u64) -> Result<EvalReport, String> {
    let tweets = read_twcs(&data_dir.join("twcs/tweets.csv"))?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut report = EvalReport {
        buckets: BUCKETS
            .iter()
            .map(|(label, _)| Bucket {
                label,
                ..Bucket::default()
            })
            .collect(),
        ..EvalReport::default()
    };
    let settings = super::state::ShardSettings {
        max_entries: 10_000_000,
        ..cfg.shard_settings()
    };

    // Distinct texts: one tweet per normalised text, never empty.
    let mut seen = HashSet::new();
    let distinct: Vec<&Tweet> = tweets
        .iter()
        .filter(|t| {
            let sk = Sketch::of(&t.text);
            sk.tokens > 0 && seen.insert(sk.norm_hash)
        })
        .collect();

    // 2. False merges among distinct tweets, customers and brands apart.
    for inbound in [true, false] {
        let mut shard = Shard::new(settings);
        for (i, t) in distinct.iter().filter(|t| t.inbound == inbound).enumerate() {
            let info = observe(&mut shard, &t.id, i as i64, &t.text);
            let merged = info.status != DedupStatus::Unique;
            if inbound {
                report.distinct += 1;
                if merged {
                    report.distinct_merged += 1;
                    if report.merged_examples.len() < 10 {
                        let of = distinct
                            .iter()
                            .find(|o| o.id == info.of)
                            .map(|o| o.text.clone());
                        report
                            .merged_examples
                            .push((t.text.clone(), of.unwrap_or_default()));
                    }
                }
            } else {
                report.outbound_distinct += 1;
                report.outbound_merged += merged as usize;
            }
        }
    }

    // 1. Variants: originals first, then one variant of each, in a fresh shard.
    let originals: Vec<&Tweet> = distinct.iter().copied().filter(|t| t.inbound).collect();
    let vocab: Vec<String> = {
        let mut v = Vec::new();
        for t in originals.iter().take(3000) {
            for_each_token(&t.text, |w| {
                if w.len() > 2 {
                    v.push(w.to_owned())
                }
            });
        }
        v
    };
    let mut shard = Shard::new(settings);
    for (i, t) in originals.iter().enumerate() {
        observe(&mut shard, &t.id, i as i64, &t.text);
    }
    let (mut sv, mut nv, mut sd, mut nd) = (0u64, 0u64, 0u64, 0u64);
    for (i, t) in originals.iter().enumerate() {
        let words = word_count(&t.text);
        let edits = rng.gen_range(0..3usize);
        let v = variant(&mut rng, &t.text, edits, &vocab);
        let changed = edits as f64 / words.max(1) as f64;
        let b = BUCKETS
            .iter()
            .position(|(_, hi)| {
                if *hi == 0.0 {
                    edits == 0
                } else {
                    changed <= *hi && edits > 0
                }
            })
            .unwrap_or(BUCKETS.len() - 1);
        let vid = format!("v{i}");
        let info = observe(&mut shard, &vid, (originals.len() + i) as i64, &v);
        let bucket = &mut report.buckets[b];
        bucket.variants += 1;
        if info.status != DedupStatus::Unique {
            bucket.detected += 1;
            bucket.right_original += (info.of == t.id) as usize;
        }
        if changed > 0.05 && changed <= 0.15 {
            sv += (simhash(&t.text) ^ simhash(&v)).count_ones() as u64;
            nv += 1;
        }
        if i > 0 {
            sd += (simhash(&t.text) ^ simhash(&originals[i - 1].text)).count_ones() as u64;
            nd += 1;
        }
    }
    report.simhash_variant_mean = sv as f64 / nv.max(1) as f64;
    report.simhash_distinct_mean = sd as f64 / nd.max(1) as f64;

    // 3. Paraphrase pairs that annotators called different.
    let pairs_path = data_dir.join("paraphrase/pairs.tsv");
    let pairs = std::fs::read_to_string(&pairs_path)
        .map_err(|e| format!("{}: {e}", pairs_path.display()))?;
    for line in pairs.lines().skip(1) {
        let mut f = line.split('\t');
        let (Some(votes), Some(a), Some(b)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !matches!(votes.trim(), "0" | "1") {
            continue;
        }
        let mut shard = Shard::new(settings);
        observe(&mut shard, "a", 0, a);
        let info = observe(&mut shard, "b", 1, b);
        report.paraphrase_pairs += 1;
        if info.status != DedupStatus::Unique {
            report.paraphrase_merged += 1;
            if report.paraphrase_examples.len() < 5 {
                report
                    .paraphrase_examples
                    .push((a.to_owned(), b.to_owned()));
            }
        }
    }
    Ok(report)
}
