//! Which configured brands, products and competitors a text names.
//!
//! Contract: names (one or more words), `@handles` and `#hashtags` match case- and
//! diacritics-insensitively, a name also matches written as one handle or hashtag
//! (`#NorthwindAir`), and a possessive (`Northwind's`) matches its name. Misspellings match
//! within an edit distance (Damerau: a swap of two letters is one edit) of 1 for names of 5+
//! letters and 2 for 9+ (per brand: `fuzzy_max_edits`), but only when the word is not a known
//! ordinary word: the lexicons' words, the brand's own `not_fuzzy` list, and the dictionaries
//! configured in `stages.scoring.dictionaries` (by default `/usr/share/dict/words` when the
//! system has one). A brand whose name is an ordinary word (`Orange`) can ask for
//! `case_sensitive = true`: then only the capitalised word, handles and hashtags match.
//! A name of several words also matches with one of its words misspelt when the others are
//! exact ("Skylne Mobile"): the name around it is the evidence, so no dictionary guard applies.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::sync::Arc;

use super::text::{fold, Kind, Tokens};
use crate::config::BrandConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Name,
    Handle,
    Hashtag,
    Fuzzy,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Name => "name",
            MatchKind::Handle => "handle",
            MatchKind::Hashtag => "hashtag",
            MatchKind::Fuzzy => "fuzzy",
        }
    }
}

/// One brand found in a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrandHit {
    pub id: Arc<str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub competitor: bool,
    #[serde(rename = "match")]
    pub how: MatchKind,
    /// The word as written (folded) when the match is fuzzy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

#[derive(Debug, Clone)]
struct Name {
    brand: u16,
    rest: Vec<String>,
}

#[derive(Debug, Clone)]
struct FuzzyName {
    brand: u16,
    chars: Vec<char>,
    mask: u64,
    max_edits: usize,
}

#[derive(Debug, Clone, Default)]
pub struct BrandMatcher {
    ids: Vec<(Arc<str>, bool, bool)>,
    names: FxHashMap<String, Vec<Name>>,
    /// Handles, hashtags, and names written without spaces.
    tags: FxHashMap<String, u16>,
    fuzzy: Vec<FuzzyName>,
    fuzzy_lens: (usize, usize),
    known: FxHashSet<String>,
    /// Multi-word names as words (folded), for the one-misspelt-word match.
    multi: Vec<(u16, Vec<Vec<char>>)>,
    /// Bit `first byte % 64` of entry `min(length, 31)` set for every key of `names` and
    /// `tags`: almost every word of a text fails this test and costs no hash lookup.
    key_filter: [u64; 32],
    /// The same filter over the first two words of the multi-word names: the one-misspelt-word
    /// match needs one of them exact at the token or the next.
    multi_filter: [u64; 32],
}

impl BrandMatcher {
    /// `known_words`: ordinary words never taken for a misspelt brand (folded or not).
    pub fn new<'a>(brands: &[BrandConfig], known_words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut m = BrandMatcher {
            fuzzy_lens: (usize::MAX, 0),
            ..Default::default()
        };
        for w in known_words {
            m.known.insert(fold(w));
        }
        for (bi, b) in brands.iter().enumerate() {
            let bi = bi as u16;
            m.ids
                .push((Arc::from(b.id.as_str()), b.competitor, b.case_sensitive));
            for n in &b.not_fuzzy {
                m.known.insert(fold(n));
            }
            for name in &b.names {
                let words = name_words(name);
                let Some(first) = words.first() else { continue };
                m.names.entry(first.clone()).or_default().push(Name {
                    brand: bi,
                    rest: words[1..].to_vec(),
                });
                m.tags.entry(words.concat()).or_insert(bi);
                if words.len() > 1 {
                    let chars = words.iter().map(|w| w.chars().collect()).collect();
                    m.multi.push((bi, chars));
                }
            }
            for t in b.handles.iter().chain(&b.hashtags) {
                let t = fold(t.trim_start_matches(['@', '#']));
                if !t.is_empty() {
                    m.tags.entry(t).or_insert(bi);
                }
            }
        }
        for k in m.names.keys().chain(m.tags.keys()) {
            add_to_filter(&mut m.key_filter, k);
        }
        for (_, words) in &m.multi {
            for w in &words[..2] {
                add_to_filter(&mut m.multi_filter, &w.iter().collect::<String>());
            }
        }
        // Fuzzy targets: each name written as one word, and each 5+ letter word of a
        // multi-word name that is not an ordinary word ("Northwind" of "Northwind Air").
        for (bi, b) in brands.iter().enumerate() {
            let mut targets: Vec<String> = Vec::new();
            for name in &b.names {
                let words = name_words(name);
                targets.push(words.concat());
                if words.len() > 1 {
                    targets.extend(words.into_iter().filter(|w| !m.known.contains(w)));
                }
            }
            targets.sort();
            targets.dedup();
            for t in targets {
                let chars: Vec<char> = t.chars().collect();
                let default = default_max_edits(chars.len());
                let max_edits = b
                    .fuzzy_max_edits
                    .map_or(default, |x| (x as usize).min(default));
                if max_edits == 0 {
                    continue;
                }
                m.fuzzy_lens.0 = m.fuzzy_lens.0.min(chars.len() - max_edits);
                m.fuzzy_lens.1 = m.fuzzy_lens.1.max(chars.len() + max_edits);
                m.fuzzy.push(FuzzyName {
                    brand: bi as u16,
                    mask: letter_mask(&chars),
                    chars,
                    max_edits,
                });
            }
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// False when `w` is certainly not a key of `names` or `tags`.
    fn may_be_key(&self, w: &str) -> bool {
        in_filter(&self.key_filter, w)
    }

    /// Brands named in `t`, each once, in order of first appearance.
    pub fn find(&self, t: &Tokens, out: &mut Vec<BrandHit>) {
        out.clear();
        if self.ids.is_empty() {
            return;
        }
        let mut seen: u64 = 0;
        let mut push = |out: &mut Vec<BrandHit>, b: u16, how, term: Option<&str>| {
            let bit = 1u64 << (b as u64 % 64);
            if seen & bit != 0
                && out
                    .iter()
                    .any(|h| Arc::ptr_eq(&h.id, &self.ids[b as usize].0))
            {
                return;
            }
            seen |= bit;
            let (id, competitor, _) = &self.ids[b as usize];
            out.push(BrandHit {
                id: id.clone(),
                competitor: *competitor,
                how,
                term: term.map(str::to_string),
            });
        };
        let mut chars: Vec<char> = Vec::new();
        for (i, tok) in t.toks.iter().enumerate() {
            let w = t.folded(tok);
            let stem = w
                .strip_suffix("'s")
                .or_else(|| w.strip_suffix('\''))
                .unwrap_or(w);
            match tok.kind {
                Kind::Handle | Kind::Hashtag => {
                    if let Some(&b) = self.may_be_key(w).then(|| self.tags.get(w)).flatten() {
                        let how = if tok.kind == Kind::Handle {
                            MatchKind::Handle
                        } else {
                            MatchKind::Hashtag
                        };
                        push(out, b, how, None);
                        continue;
                    }
                }
                Kind::Number => continue,
                Kind::Word => {
                    let get = |k: &str| self.may_be_key(k).then(|| self.names.get(k)).flatten();
                    let names =
                        get(stem).or_else(|| (stem.len() != w.len()).then(|| get(w)).flatten());
                    if let Some(names) = names {
                        let hit = names.iter().find(|n| {
                            (!self.ids[n.brand as usize].2 || tok.capitalised)
                                && n.rest.iter().enumerate().all(|(k, r)| {
                                    t.toks
                                        .get(i + 1 + k)
                                        .is_some_and(|x| t.folded(x).trim_end_matches("'s") == r)
                                })
                        });
                        if let Some(n) = hit {
                            push(out, n.brand, MatchKind::Name, None);
                            continue;
                        }
                    }
                    let near_multi = in_filter(&self.multi_filter, w)
                        || t.toks
                            .get(i + 1)
                            .is_some_and(|x| in_filter(&self.multi_filter, t.folded(x)));
                    if let Some((b, term)) =
                        near_multi.then(|| self.multi_word_fuzzy(t, i)).flatten()
                    {
                        push(out, b, MatchKind::Fuzzy, Some(&term));
                        continue;
                    }
                    if let Some(&b) = self.may_be_key(stem).then(|| self.tags.get(stem)).flatten() {
                        if !self.ids[b as usize].2 || tok.capitalised {
                            push(out, b, MatchKind::Name, None);
                            continue;
                        }
                    }
                }
            }
            let n = stem.chars().count();
            if self.fuzzy.is_empty() || n < self.fuzzy_lens.0 || n > self.fuzzy_lens.1 {
                continue;
            }
            chars.clear();
            chars.extend(stem.chars());
            let mask = letter_mask(&chars);
            // The dictionary lookup (a cache miss) only for a word that passes the filters.
            for f in &self.fuzzy {
                if chars.len().abs_diff(f.chars.len()) > f.max_edits
                    || (mask ^ f.mask).count_ones() as usize > 2 * f.max_edits
                    || (self.ids[f.brand as usize].2 && !tok.capitalised && tok.kind == Kind::Word)
                    || osa_distance(&chars, &f.chars, f.max_edits) > f.max_edits
                {
                    continue;
                }
                if !(self.known.contains(stem) || self.known.contains(w)) {
                    push(out, f.brand, MatchKind::Fuzzy, Some(stem));
                }
                break;
            }
        }
    }
}

impl BrandMatcher {
    /// A multi-word name starting at token `i` with exactly one word misspelt (within the
    /// default edit limit for its length), the others exact.
    fn multi_word_fuzzy(&self, t: &Tokens, i: usize) -> Option<(u16, String)> {
        let mut buf: Vec<char> = Vec::new();
        'names: for (b, words) in &self.multi {
            if i + words.len() > t.toks.len() {
                continue;
            }
            let mut misspelt: Option<String> = None;
            for (k, w) in words.iter().enumerate() {
                let tok = &t.toks[i + k];
                let got = t.folded(tok);
                // Cheap rejections first: most words are nowhere near the name's, and with
                // one word misspelt, the first or the second word is exact.
                let same = |tok: Option<&super::text::Token>, w: &[char]| {
                    tok.is_some_and(|x| t.folded(x).chars().eq(w.iter().copied()))
                };
                if got.len().abs_diff(w.len()) > 2
                    || (k == 0 && !same(Some(tok), w) && !same(t.toks.get(i + 1), &words[1]))
                {
                    continue 'names;
                }
                buf.clear();
                buf.extend(got.chars());
                if buf == *w {
                    continue;
                }
                let limit = default_max_edits(w.len());
                if misspelt.is_some()
                    || tok.kind != Kind::Word
                    || limit == 0
                    || osa_distance(&buf, w, limit) > limit
                {
                    continue 'names;
                }
                misspelt = Some(got.to_string());
            }
            if let Some(term) = misspelt {
                return Some((*b, term));
            }
        }
        None
    }
}

/// The folded words of a configured name ("Northwind Air" → `northwind`, `air`).
fn name_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect()
}

/// A filter of word keys by length and first byte (see `BrandMatcher::key_filter`).
fn add_to_filter(filter: &mut [u64; 32], w: &str) {
    filter[w.len().min(31)] |= 1 << w.as_bytes().first().map_or(0, |b| b % 64);
}

fn in_filter(filter: &[u64; 32], w: &str) -> bool {
    filter[w.len().min(31)] & (1 << w.as_bytes().first().map_or(0, |b| b % 64)) != 0
}

/// Misspellings allowed in a word of `letters` letters: none under 5, 1 up to 8, then 2.
fn default_max_edits(letters: usize) -> usize {
    match letters {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

fn letter_mask(chars: &[char]) -> u64 {
    chars.iter().fold(0u64, |m, &c| {
        m | 1 << ((c as u32).wrapping_mul(0x9E37_79B9) >> 26)
    })
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent swaps), giving up once it must
/// exceed `max`.
pub fn osa_distance(a: &[char], b: &[char], max: usize) -> usize {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > max {
        return max + 1;
    }
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(id: &str, names: &[&str]) -> BrandConfig {
        BrandConfig {
            id: id.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn ids(m: &BrandMatcher, text: &str) -> Vec<(String, MatchKind)> {
        let mut t = Tokens::default();
        t.parse(text);
        let mut out = Vec::new();
        m.find(&t, &mut out);
        out.into_iter().map(|h| (h.id.to_string(), h.how)).collect()
    }

    #[test]
    fn names_handles_hashtags_and_misspellings() {
        let mut nw = brand("northwind", &["Northwind Air", "Northwind"]);
        nw.handles = vec!["@NorthwindAir".into()];
        let mut lumo = brand("lumo", &["Lumo Foods"]);
        lumo.competitor = true;
        let m = BrandMatcher::new(&[nw, lumo, brand("vodafone", &["Vodafone"])], ["foods"]);
        assert_eq!(
            ids(&m, "Flying NORTHWIND AIR today"),
            [("northwind".into(), MatchKind::Name)]
        );
        assert_eq!(
            ids(&m, "@northwindair help"),
            [("northwind".into(), MatchKind::Handle)]
        );
        assert_eq!(
            ids(&m, "#NorthwindAir fail"),
            [("northwind".into(), MatchKind::Hashtag)]
        );
        assert_eq!(
            ids(&m, "Northwind's app"),
            [("northwind".into(), MatchKind::Name)]
        );
        assert_eq!(
            ids(&m, "nortwind again"),
            [("northwind".into(), MatchKind::Fuzzy)]
        );
        assert_eq!(
            ids(&m, "vodafnoe down"),
            [("vodafone".into(), MatchKind::Fuzzy)]
        );
        assert_eq!(ids(&m, "Vödafone"), [("vodafone".into(), MatchKind::Name)]);
        assert_eq!(
            ids(&m, "lumo foods is better"),
            [("lumo".into(), MatchKind::Name)]
        );
        assert!(ids(&m, "the weather is nice").is_empty());
    }

    #[test]
    fn ordinary_words_are_not_misspelt_brands() {
        let mut apple = brand("apple", &["Apple"]);
        apple.case_sensitive = true;
        let m = BrandMatcher::new(&[apple, brand("delta", &["Delta"])], ["apply", "ample"]);
        assert!(ids(&m, "please apply the ample discount").is_empty());
        assert!(ids(&m, "an apple a day").is_empty());
        assert_eq!(
            ids(&m, "My Apple watch"),
            [("apple".into(), MatchKind::Name)]
        );
        assert_eq!(
            ids(&m, "@apple fix it"),
            [("apple".into(), MatchKind::Handle)]
        );
    }

    #[test]
    fn distance_counts_swaps_once_and_gives_up_early() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(osa_distance(&c("netflix"), &c("netflxi"), 2), 1);
        assert_eq!(osa_distance(&c("netflix"), &c("netfix"), 2), 1);
        assert_eq!(osa_distance(&c("lufthansa"), &c("luftansaa"), 2), 2);
        assert_eq!(osa_distance(&c("abcdef"), &c("uvwxyz"), 1), 2);
    }
}
