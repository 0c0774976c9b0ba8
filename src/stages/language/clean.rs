//! Social-text cleaning before language identification: what is not language goes, what is
//! left is lower-case words of letters separated by single spaces.
//!
//! Dropped: @handles, URLs (with or without a scheme, `pic.twitter.com/…`), the `RT` marker,
//! HTML entities, digits, punctuation, emoji and symbols. Hashtags lose their `#`, and are
//! dropped altogether when the post has at least two words of its own (tags like
//! `#MasterChefBR` or `#followforfollow` are rarely in the post's language). Letters repeated
//! three or more times are collapsed to one (`sooo` → `so`, `tothommm` → `tothom`).
//! The dominant script is counted on the way, for the detector's fast path.

/// Writing systems the detector tells apart before looking at n-grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    Latin,
    Cyrillic,
    Greek,
    Arabic,
    Hebrew,
    Devanagari,
    Bengali,
    Gurmukhi,
    Gujarati,
    Tamil,
    Telugu,
    Thai,
    Georgian,
    Armenian,
    Hangul,
    Kana,
    Han,
    Other,
}

const SCRIPTS: usize = 18;

const ALL: [Script; SCRIPTS] = [
    Script::Latin,
    Script::Cyrillic,
    Script::Greek,
    Script::Arabic,
    Script::Hebrew,
    Script::Devanagari,
    Script::Bengali,
    Script::Gurmukhi,
    Script::Gujarati,
    Script::Tamil,
    Script::Telugu,
    Script::Thai,
    Script::Georgian,
    Script::Armenian,
    Script::Hangul,
    Script::Kana,
    Script::Han,
    Script::Other,
];

impl Script {
    pub fn of(c: char) -> Script {
        match c as u32 {
            0x0041..=0x024F | 0x1E00..=0x1EFF => Script::Latin,
            0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
            0x0400..=0x052F => Script::Cyrillic,
            0x0530..=0x058F => Script::Armenian,
            0x0590..=0x05FF => Script::Hebrew,
            0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => Script::Arabic,
            0x0900..=0x097F => Script::Devanagari,
            0x0980..=0x09FF => Script::Bengali,
            0x0A00..=0x0A7F => Script::Gurmukhi,
            0x0A80..=0x0AFF => Script::Gujarati,
            0x0B80..=0x0BFF => Script::Tamil,
            0x0C00..=0x0C7F => Script::Telugu,
            0x0E00..=0x0E7F => Script::Thai,
            0x10A0..=0x10FF => Script::Georgian,
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
            0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Kana,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => Script::Han,
            _ => Script::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Kana and Han are one writing system for choosing words (Japanese mixes them).
    pub fn same_system(self, other: Script) -> bool {
        let g = |s: Script| if s == Script::Kana { Script::Han } else { s };
        g(self) == g(other)
    }
}

/// The cleaned text and what the cleaner saw.
#[derive(Debug, Default, Clone)]
pub struct Cleaned {
    /// Lower-case words separated by single spaces.
    pub text: String,
    /// Letters per script, indexed by `Script as usize`.
    pub letters: [u32; SCRIPTS],
}

impl Cleaned {
    pub fn letter_count(&self) -> u32 {
        self.letters.iter().sum()
    }

    /// The script with the most letters, if any letter was seen.
    pub fn dominant(&self) -> Option<Script> {
        let (i, n) = self
            .letters
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| **n)
            .expect("non-empty");
        (*n > 0).then_some(ALL[i])
    }

    /// The script the post is written in. Latin words (brand names, English loans, tags)
    /// are common inside posts in other scripts and the reverse is rare, so another script
    /// wins as soon as it holds a quarter of the letters; kana makes Han text Japanese.
    pub fn script(&self) -> Option<Script> {
        let total = self.letter_count();
        if total == 0 {
            return None;
        }
        if self.count(Script::Kana) > 0 {
            return Some(Script::Kana);
        }
        let (i, n) = self
            .letters
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != Script::Latin.index() && *i != Script::Other.index())
            .max_by_key(|(_, n)| **n)
            .expect("non-empty");
        if *n as f32 >= 0.25 * total as f32 {
            return Some(ALL[i]);
        }
        self.dominant()
    }

    /// Letters in `script`.
    pub fn count(&self, script: Script) -> u32 {
        self.letters[script.index()]
    }
}

fn is_url(tok: &str) -> bool {
    let t = tok.trim_start_matches(|c: char| !c.is_alphanumeric());
    t.contains("://")
        || t.starts_with("www.")
        || t.starts_with("http")
        || t.starts_with("pic.twitter.com")
        || (t.contains('/') && t.contains('.'))
        || [".com", ".org", ".net", ".ly/"]
            .iter()
            .any(|s| t.contains(s))
}

fn skip(tok: &str) -> bool {
    tok.starts_with('@')
        || tok.starts_with("&amp")
        || tok.starts_with("&gt")
        || tok.starts_with("&lt")
        || tok == "RT"
        || tok.eq_ignore_ascii_case("rt:")
        || is_url(tok)
}

/// Appends the letters of `tok` to `out` as words, collapsing runs of 3+ equal letters.
fn push_words(tok: &str, out: &mut Cleaned) {
    let mut prev = '\0';
    let mut run = 0;
    let mut in_word = !out.text.is_empty() && !out.text.ends_with(' ');
    for c in tok.chars() {
        if !c.is_alphabetic() {
            if run >= 2 {
                out.text.pop();
            }
            run = 0;
            if in_word {
                out.text.push(' ');
                in_word = false;
            }
            prev = '\0';
            continue;
        }
        for lc in c.to_lowercase() {
            if lc == prev {
                run += 1;
            } else {
                // Collapse "ooo" to "o" but keep legitimate doubles ("ll", "ss", "ee").
                if run >= 2 {
                    let last = out.text.pop();
                    debug_assert_eq!(last, Some(prev));
                }
                prev = lc;
                run = 0;
            }
            if run < 2 {
                out.text.push(lc);
                out.letters[Script::of(lc).index()] += 1;
            }
            in_word = true;
        }
    }
    if run >= 2 {
        out.text.pop();
    }
    if in_word {
        out.text.push(' ');
    }
}

/// Cleans one post. Allocation: one string about the size of the input.
pub fn clean(text: &str) -> Cleaned {
    let mut out = Cleaned {
        text: String::with_capacity(text.len()),
        ..Default::default()
    };
    let mut tags: Vec<&str> = Vec::new();
    for tok in text.split_whitespace() {
        if skip(tok) {
            continue;
        }
        if let Some(tag) = tok.strip_prefix('#') {
            tags.push(tag);
            continue;
        }
        push_words(tok, &mut out);
    }
    let own_words = out.text.split(' ').filter(|w| !w.is_empty()).count();
    if own_words < 2 {
        for t in tags {
            push_words(t, &mut out);
        }
    }
    while out.text.ends_with(' ') {
        out.text.pop();
    }
    out
}

/// Removes whole-word occurrences of `phrases` (already cleaned: lower-case words separated
/// by single spaces) from cleaned text. Brand and product names say nothing about the
/// language around them ("Skyline Mobile" in a Portuguese post).
pub fn remove_phrases(text: &mut String, phrases: &[String]) {
    for p in phrases.iter().filter(|p| !p.is_empty()) {
        while let Some(at) = find_word_seq(text, p) {
            let end = (at + p.len() + 1).min(text.len());
            text.replace_range(at..end, "");
        }
    }
    while text.ends_with(' ') {
        text.pop();
    }
}

fn find_word_seq(text: &str, p: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(p) {
        let at = from + i;
        let end = at + p.len();
        let starts = at == 0 || text.as_bytes()[at - 1] == b' ';
        let ends = end == text.len() || text.as_bytes()[end] == b' ';
        if starts && ends {
            return Some(at);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn social_noise_goes_and_words_stay() {
        let c = clean("RT @ana_b: Sooo slowww!!! 😡 the app is down again http://t.co/x pic.twitter.com/abc #fail");
        assert_eq!(c.text, "so slow the app is down again");
        assert_eq!(c.dominant(), Some(Script::Latin));
        assert_eq!(clean("@user @user 😦").text, "");
        assert_eq!(clean("#MasterChefBR vai começar").text, "vai começar");
        assert_eq!(
            clean("#MasterChefBR incrível").text,
            "incrível masterchefbr"
        );
        assert_eq!(
            clean("Bon diumenge a tothommm!!!!").text,
            "bon diumenge a tothom"
        );
        assert_eq!(clean("carry on, all well").text, "carry on all well");
        assert_eq!(clean("l'ONG 3x fois").text, "l ong x fois");
    }

    #[test]
    fn brand_names_are_removed_as_whole_words() {
        let mut t = clean("o app da Skyline Mobile funciona? skylines mobile").text;
        remove_phrases(&mut t, &["skyline mobile".into(), "app".into()]);
        assert_eq!(t, "o da funciona skylines mobile");
        let mut t = "skyline mobile".to_string();
        remove_phrases(&mut t, &["skyline mobile".into()]);
        assert_eq!(t, "");
    }

    #[test]
    fn scripts_are_counted() {
        let c = clean("Привет, как дела? ok");
        assert_eq!(c.dominant(), Some(Script::Cyrillic));
        assert_eq!(c.count(Script::Latin), 2);
        assert_eq!(clean("こんにちは世界").dominant(), Some(Script::Kana));
        assert_eq!(clean("안녕하세요").dominant(), Some(Script::Hangul));
        assert_eq!(clean("1234 !!!").dominant(), None);
        // A brand name in Latin letters does not make a Russian post Latin.
        let c = clean("Northwind Air где мой возврат");
        assert_eq!(c.dominant(), Some(Script::Cyrillic));
        let c = clean("Northwind Airlines где мой");
        assert_eq!(c.dominant(), Some(Script::Latin));
        assert_eq!(c.script(), Some(Script::Cyrillic));
        assert_eq!(clean("東京 hello").script(), Some(Script::Han));
    }
}
