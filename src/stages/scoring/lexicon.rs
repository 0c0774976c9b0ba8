//! Cue lexicons: the words and phrases that signal an intent, negativity, time pressure or
//! repeated contact, one editable TOML file per language (`pipelines/lexicons/<lang>.toml`).
//!
//! Contract: a cue is one or more words; a word ending in `*` matches any ending (a stem:
//! `annul*` matches `annulé`, `annulation`); a lone `*` matches any one word (`in * hours`).
//! Matching ignores case, accents and repeated letters. A cue preceded (within three words of
//! the same clause) by one of the language's `negators` is negated: negated praise counts as
//! negative, negated negative words as positive ("not bad", "pas mal"), and other negated cues
//! are dropped. The project's lexicons are compiled in; a configured directory replaces them.

use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

use super::text::{collapse, Tokens};

/// What a cue signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cat {
    Outage,
    Safety,
    Security,
    Complaint,
    Question,
    Praise,
    Negative,
    Positive,
    Intensifier,
    Time,
    Repeat,
}

pub const CATS: usize = 11;

/// One language's file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexiconFile {
    /// ISO 639-1 code; must match the file name.
    pub language: String,
    #[serde(default)]
    pub negators: Vec<String>,
    /// Frequent function words: when a text's language is unknown, the lexicon whose
    /// function words it uses most is chosen (all lexicons when none match).
    #[serde(default)]
    pub function_words: Vec<String>,
    #[serde(default)]
    pub intents: IntentCues,
    #[serde(default)]
    pub signals: SignalCues,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentCues {
    #[serde(default)]
    pub outage: Vec<String>,
    #[serde(default)]
    pub safety: Vec<String>,
    #[serde(default)]
    pub security: Vec<String>,
    #[serde(default)]
    pub complaint: Vec<String>,
    #[serde(default)]
    pub question: Vec<String>,
    #[serde(default)]
    pub praise: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalCues {
    /// Negative feeling (adds urgency and complaint evidence).
    #[serde(default)]
    pub negative: Vec<String>,
    /// Positive feeling (praise evidence).
    #[serde(default)]
    pub positive: Vec<String>,
    /// Words that raise intensity ("very", "extremely", "sooo").
    #[serde(default)]
    pub intensifiers: Vec<String>,
    /// Time pressure ("now", "asap", "flight in * hours").
    #[serde(default)]
    pub time: Vec<String>,
    /// Repeated contact ("third time", "still waiting", "no reply").
    #[serde(default)]
    pub repeat: Vec<String>,
}

/// The lexicons shipped with Tocsin (the same files as `pipelines/lexicons/`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("en", include_str!("../../../pipelines/lexicons/en.toml")),
    ("fr", include_str!("../../../pipelines/lexicons/fr.toml")),
    ("de", include_str!("../../../pipelines/lexicons/de.toml")),
    ("es", include_str!("../../../pipelines/lexicons/es.toml")),
    ("pt", include_str!("../../../pipelines/lexicons/pt.toml")),
    ("it", include_str!("../../../pipelines/lexicons/it.toml")),
    ("nl", include_str!("../../../pipelines/lexicons/nl.toml")),
    ("ru", include_str!("../../../pipelines/lexicons/ru.toml")),
    ("is", include_str!("../../../pipelines/lexicons/is.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("cannot read lexicon {file}: {source}; check `stages.scoring.lexicons`")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("lexicon {file}: {message}; fix the file (see pipelines/lexicons/en.toml)")]
    Parse { file: String, message: String },
    #[error("no lexicon (*.toml) in {dir}; point `stages.scoring.lexicons` at a folder of them")]
    Empty { dir: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pat {
    Exact(String),
    Prefix(String),
    Any,
}

#[derive(Debug, Clone)]
struct Cue {
    cat: Cat,
    lang: u8,
    pats: Vec<Pat>,
    starts_with_negator: bool,
    text: Arc<str>,
    negated_text: Arc<str>,
}

/// A cue found in a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub cat: Cat,
    /// Index for [`Lexicons::cue_text`].
    pub cue: u32,
    pub negated: bool,
    pub token: u32,
}

/// All loaded languages, compiled for matching.
#[derive(Debug, Clone, Default)]
pub struct Lexicons {
    langs: Vec<String>,
    cues: Vec<Cue>,
    /// Every word that is a function word, a negator or the first word of a cue, and what it
    /// is: one lookup per token of a text answers all three.
    words: FxHashMap<String, u32>,
    vocab: Vec<Word>,
    by_short_prefix: FxHashMap<String, Vec<u32>>,
    /// Stems shorter than three bytes, and bit `n` of `short_lens` set when one has `n` bytes.
    short_lens: u64,
    /// Stems of 3+ bytes by their first three bytes, shortest first: one lookup per word
    /// instead of one per stem length, and the cues come out in the order of stem length.
    by_head: FxHashMap<[u8; 3], Vec<(String, Vec<u32>)>>,
    negators: FxHashMap<String, u64>,
}

/// What a word of the vocabulary is, in which languages (bit `i`: `langs[i]`).
#[derive(Debug, Clone, Default)]
struct Word {
    function: u64,
    negator: u64,
    /// Cues whose first word it is.
    cues: Vec<u32>,
}

/// The token is no word of the vocabulary.
const NOT_A_WORD: u32 = u32::MAX;

impl Lexicons {
    /// The lexicons compiled into the binary.
    pub fn builtin() -> Self {
        let files = BUILTIN
            .iter()
            .map(|(lang, text)| {
                toml::from_str::<LexiconFile>(text)
                    .unwrap_or_else(|e| panic!("built-in lexicon {lang} is invalid: {e}"))
            })
            .collect::<Vec<_>>();
        Self::compile(&files)
    }

    /// Every `*.toml` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, LexiconError> {
        let found = crate::language_files::read_dir(dir)
            .map_err(|(file, source)| LexiconError::Read { file, source })?;
        if found.is_empty() {
            return Err(LexiconError::Empty {
                dir: dir.display().to_string(),
            });
        }
        let mut files = Vec::new();
        for f in found {
            let lf: LexiconFile = toml::from_str(&f.text).map_err(|e| LexiconError::Parse {
                file: f.file.clone(),
                message: e.to_string().trim_end().to_string(),
            })?;
            if lf.language != f.stem {
                return Err(LexiconError::Parse {
                    file: f.file,
                    message: format!(
                        "`language = \"{}\"` does not match the file name ({}.toml)",
                        lf.language, f.stem
                    ),
                });
            }
            files.push(lf);
        }
        Ok(Self::compile(&files))
    }

    pub fn compile(files: &[LexiconFile]) -> Self {
        let mut lx = Lexicons::default();
        for (li, f) in files.iter().enumerate().take(64) {
            lx.langs.push(f.language.clone());
            for n in &f.negators {
                *lx.negators.entry(collapse(n)).or_default() |= 1 << li;
                lx.word_mut(&collapse(n)).negator |= 1 << li;
            }
            for n in &f.function_words {
                lx.word_mut(&collapse(n)).function |= 1 << li;
            }
            let i = &f.intents;
            let s = &f.signals;
            let groups: [(Cat, &Vec<String>); CATS] = [
                (Cat::Outage, &i.outage),
                (Cat::Safety, &i.safety),
                (Cat::Security, &i.security),
                (Cat::Complaint, &i.complaint),
                (Cat::Question, &i.question),
                (Cat::Praise, &i.praise),
                (Cat::Negative, &s.negative),
                (Cat::Positive, &s.positive),
                (Cat::Intensifier, &s.intensifiers),
                (Cat::Time, &s.time),
                (Cat::Repeat, &s.repeat),
            ];
            for (cat, list) in groups {
                for text in list {
                    lx.add(cat, li as u8, text);
                }
            }
        }
        lx
    }

    fn add(&mut self, cat: Cat, lang: u8, text: &str) {
        let pats: Vec<Pat> = text
            .split_whitespace()
            .map(|w| {
                if w == "*" {
                    Pat::Any
                } else if let Some(stem) = w.strip_suffix('*') {
                    Pat::Prefix(collapse(stem))
                } else {
                    Pat::Exact(collapse(w))
                }
            })
            .collect();
        let id = self.cues.len() as u32;
        match pats.first() {
            Some(Pat::Exact(w)) => self.word_mut(&w.clone()).cues.push(id),
            Some(Pat::Prefix(p)) if !p.is_empty() => {
                if let Some(h) = p.as_bytes().first_chunk::<3>() {
                    let stems = self.by_head.entry(*h).or_default();
                    match stems.iter_mut().find(|(s, _)| s == p) {
                        Some((_, ids)) => ids.push(id),
                        None => {
                            let at = stems.partition_point(|(s, _)| s.len() <= p.len());
                            stems.insert(at, (p.clone(), vec![id]));
                        }
                    }
                } else {
                    self.short_lens |= 1 << p.len();
                    self.by_short_prefix.entry(p.clone()).or_default().push(id);
                }
            }
            _ => return, // empty, or starting with `*`: nothing to anchor on
        }
        let starts_with_negator =
            matches!(&pats[0], Pat::Exact(w) if self.negators.contains_key(w));
        self.cues.push(Cue {
            cat,
            lang,
            pats,
            starts_with_negator,
            text: Arc::from(text),
            negated_text: Arc::from(format!("not {text}")),
        });
    }

    /// Languages loaded, in bit order of the masks.
    pub fn languages(&self) -> &[String] {
        &self.langs
    }

    fn all(&self) -> u64 {
        if self.langs.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.langs.len()) - 1
        }
    }

    /// Bit mask of the lexicons to use for a text in `lang` (all when unknown or not loaded).
    pub fn mask_for(&self, lang: Option<&str>) -> u64 {
        match lang.and_then(|l| self.langs.iter().position(|x| x == l)) {
            Some(i) => 1 << i,
            None => self.all(),
        }
    }

    fn word_mut(&mut self, w: &str) -> &mut Word {
        let next = self.vocab.len() as u32;
        let i = *self.words.entry(w.to_string()).or_insert(next);
        if i == next {
            self.vocab.push(Word::default());
        }
        &mut self.vocab[i as usize]
    }

    /// The vocabulary entry of each token of `t` (or [`NOT_A_WORD`]), into `out`.
    fn lookup(&self, t: &Tokens, out: &mut Vec<u32>) {
        out.clear();
        out.extend(t.toks.iter().map(|x| {
            let w = t.collapsed(x);
            self.words.get(w).copied().unwrap_or(NOT_A_WORD)
        }));
    }

    fn word(&self, i: u32) -> Option<&Word> {
        self.vocab.get(i as usize)
    }

    /// Every cue of `t` in the lexicons chosen for it (see [`Self::mask_for_words`]), in text
    /// order. `words` is scratch space, reused between texts.
    pub fn find_in_text(
        &self,
        lang: Option<&str>,
        t: &Tokens,
        words: &mut Vec<u32>,
        hits: &mut Vec<Hit>,
    ) {
        self.lookup(t, words);
        let mask = self.mask_for_words(lang, words);
        self.find_with(t, words, mask, hits);
    }

    /// The lexicons for a text of vocabulary entries `words`: those whose function words it
    /// uses most (ties kept), plus the language given (detected or the platform's hint, which
    /// may be wrong, so it only adds); the given language alone when no function word matches,
    /// every lexicon when neither.
    fn mask_for_words(&self, lang: Option<&str>, words: &[u32]) -> u64 {
        let given = self.mask_for(lang);
        let mut counts = [0u16; 64];
        for &w in words {
            let mut m = self.word(w).map_or(0, |w| w.function);
            while m != 0 {
                counts[m.trailing_zeros() as usize] += 1;
                m &= m - 1;
            }
        }
        let best = counts.iter().copied().max().unwrap_or(0);
        if best == 0 {
            return given;
        }
        let guessed = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == best)
            .fold(0u64, |m, (i, _)| m | 1 << i);
        if given == self.all() {
            guessed
        } else {
            guessed | given
        }
    }

    /// Every word that appears in a cue or a negator (stems without their `*`).
    pub fn cue_words(&self) -> Vec<String> {
        let mut w: Vec<String> = self.negators.keys().cloned().collect();
        for c in &self.cues {
            for p in &c.pats {
                match p {
                    Pat::Exact(x) if x.chars().count() >= 4 => w.push(x.clone()),
                    _ => {}
                }
            }
        }
        w.sort();
        w.dedup();
        w
    }

    /// The cue as written in its lexicon (`negated`: prefixed with "not ").
    pub fn cue_text(&self, cue: u32, negated: bool) -> &Arc<str> {
        let c = &self.cues[cue as usize];
        if negated {
            &c.negated_text
        } else {
            &c.text
        }
    }

    /// Every cue of the languages in `mask` found in `t`, in text order.
    pub fn find(&self, t: &Tokens, mask: u64, hits: &mut Vec<Hit>) {
        let mut words = Vec::new();
        self.lookup(t, &mut words);
        self.find_with(t, &words, mask, hits);
    }

    fn find_with(&self, t: &Tokens, words: &[u32], mask: u64, hits: &mut Vec<Hit>) {
        hits.clear();
        for (i, tok) in t.toks.iter().enumerate() {
            let w = t.collapsed(tok);
            if let Some(word) = self.word(words[i]) {
                self.try_cues(t, words, i, &word.cues, mask, hits);
            }
            let mut lens = self.short_lens;
            while lens != 0 {
                let n = lens.trailing_zeros() as usize;
                lens &= lens - 1;
                if n > w.len() {
                    break;
                }
                if !w.is_char_boundary(n) {
                    continue;
                }
                if let Some(ids) = self.by_short_prefix.get(&w[..n]) {
                    self.try_cues(t, words, i, ids, mask, hits);
                }
            }
            let head = w.as_bytes().first_chunk::<3>();
            for (stem, ids) in head.and_then(|h| self.by_head.get(h)).into_iter().flatten() {
                if w.starts_with(stem.as_str()) {
                    self.try_cues(t, words, i, ids, mask, hits);
                }
            }
        }
    }

    fn try_cues(
        &self,
        t: &Tokens,
        words: &[u32],
        i: usize,
        ids: &[u32],
        mask: u64,
        hits: &mut Vec<Hit>,
    ) {
        for &id in ids {
            let cue = &self.cues[id as usize];
            if mask & (1 << cue.lang) == 0 || !self.matches(t, i, &cue.pats) {
                continue;
            }
            // A cue that contains the same words as another found at the same place counts once.
            if hits.iter().any(|h| h.token == i as u32 && h.cat == cue.cat) {
                continue;
            }
            let negated = !cue.starts_with_negator && self.negated(t, words, i, 1 << cue.lang);
            hits.push(Hit {
                cat: cue.cat,
                cue: id,
                negated,
                token: i as u32,
            });
        }
    }

    fn matches(&self, t: &Tokens, i: usize, pats: &[Pat]) -> bool {
        if i + pats.len() > t.toks.len() {
            return false;
        }
        pats.iter().enumerate().all(|(k, p)| {
            let tok = &t.toks[i + k];
            if k > 0 && tok.clause_start {
                return false;
            }
            let w = t.collapsed(tok);
            match p {
                Pat::Exact(x) => w == x,
                Pat::Prefix(x) => w.starts_with(x.as_str()),
                Pat::Any => true,
            }
        })
    }

    /// A negator of a language in `mask` among the three words before token `i`, in the same
    /// clause.
    fn negated(&self, t: &Tokens, words: &[u32], i: usize, mask: u64) -> bool {
        let mut j = i;
        while j > 0 && i - j < 3 {
            if t.toks[j].clause_start {
                return false;
            }
            j -= 1;
            if self.word(words[j]).is_some_and(|w| w.negator & mask != 0) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex() -> Lexicons {
        let f: LexiconFile = toml::from_str(
            r#"
            language = "en"
            negators = ["not", "never", "don't"]
            [intents]
            outage = ["down", "not working", "can't log*"]
            praise = ["love*"]
            [signals]
            negative = ["bad", "slow"]
            time = ["in * hours"]
            "#,
        )
        .unwrap();
        Lexicons::compile(&[f])
    }

    fn cats(text: &str) -> Vec<(Cat, bool)> {
        let lx = lex();
        let mut t = Tokens::default();
        t.parse(text);
        let mut hits = Vec::new();
        lx.find(&t, lx.mask_for(None), &mut hits);
        hits.iter().map(|h| (h.cat, h.negated)).collect()
    }

    #[test]
    fn stems_phrases_wildcards_and_elongations() {
        assert_eq!(
            cats("App DOWN and sooo slowww"),
            [(Cat::Outage, false), (Cat::Negative, false)]
        );
        assert_eq!(cats("it is not working"), [(Cat::Outage, false)]);
        assert_eq!(cats("I can't login"), [(Cat::Outage, false)]);
        assert_eq!(cats("flight in 2 hours"), [(Cat::Time, false)]);
        assert_eq!(cats("LOVED it"), [(Cat::Praise, false)]);
    }

    #[test]
    fn negation_stays_in_its_clause() {
        assert_eq!(cats("not bad at all"), [(Cat::Negative, true)]);
        assert_eq!(cats("I don't really love it"), [(Cat::Praise, true)]);
        assert_eq!(cats("not me. bad"), [(Cat::Negative, false)]);
    }

    #[test]
    fn builtin_lexicons_parse_and_cover_the_required_languages() {
        let lx = Lexicons::builtin();
        for l in ["en", "fr", "de", "es", "pt", "it", "nl", "ru", "is"] {
            assert!(lx.languages().iter().any(|x| x == l), "{l} missing");
        }
        assert!(lx.cues.len() > 500, "only {} cues", lx.cues.len());
    }
}
