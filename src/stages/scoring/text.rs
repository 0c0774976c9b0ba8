//! Social text as the scoring stage sees it: tokens folded for matching, emoji, and marks.
//!
//! Contract: [`fold`] lowercases, strips accents (`é` → `e`, `ß` → `ss`, `ø` → `o`) and unifies
//! apostrophes, so cues and brand names match case- and diacritics-insensitively. Each token
//! has a folded form (for edit distance) and a collapsed form in which runs of a repeated
//! letter become one (`sooo slowww` = `so slow`): lexicon cues are compared collapsed on both
//! sides. URLs are skipped; `@handles` and `#hashtags` are their own token kinds (hashtags also
//! count as words for cues). French/Italian elisions (`l'appli`, `qu'il`) drop the article.

use std::ops::Range;

use crate::stages::dedup::text::is_url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    Number,
    Handle,
    Hashtag,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub kind: Kind,
    /// Range of the folded form in [`Tokens::folded`].
    pub folded: Range<u32>,
    /// Range of the collapsed form in [`Tokens::collapsed`].
    pub collapsed: Range<u32>,
    /// The first letter was upper case in the original text.
    pub capitalised: bool,
    /// Punctuation (`. , ; : ! ?`) or a line break comes between this token and the previous.
    pub clause_start: bool,
}

/// The tokens of one text. Reused between texts to avoid allocation (see [`Tokens::parse`]).
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    pub folded: String,
    pub collapsed: String,
    pub toks: Vec<Token>,
    /// Emoji and pictographs, in order.
    pub emoji: Vec<char>,
    pub exclamations: u32,
    pub question: bool,
    /// Letters in words written entirely in capitals (3+ letters), for shouting.
    pub caps_letters: u32,
    pub letters: u32,
}

impl Tokens {
    pub fn folded(&self, t: &Token) -> &str {
        &self.folded[t.folded.start as usize..t.folded.end as usize]
    }
    pub fn collapsed(&self, t: &Token) -> &str {
        &self.collapsed[t.collapsed.start as usize..t.collapsed.end as usize]
    }

    /// Tokenises `text`, replacing what `self` held.
    pub fn parse(&mut self, text: &str) {
        self.folded.clear();
        self.collapsed.clear();
        self.toks.clear();
        self.emoji.clear();
        self.exclamations = 0;
        self.question = false;
        self.caps_letters = 0;
        self.letters = 0;
        let mut clause = true;
        for word in text.split_whitespace() {
            if is_url(word) {
                continue;
            }
            let (kind, body) = if let Some(h) = word.strip_prefix('@') {
                (Kind::Handle, h)
            } else if let Some(h) = word.strip_prefix('#') {
                (Kind::Hashtag, h)
            } else {
                (Kind::Word, word)
            };
            if kind != Kind::Word {
                let end = body
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(body.len());
                if end > 0 {
                    self.push_token(kind, &body[..end], clause);
                    clause = false;
                }
                self.scan_marks(&body[end..], &mut clause);
                continue;
            }
            if body.is_ascii() {
                self.split_ascii_word(body, &mut clause);
            } else {
                self.split_word(body, &mut clause);
            }
        }
    }

    fn split_word(&mut self, word: &str, clause: &mut bool) {
        let mut start: Option<usize> = None;
        let mut iter = word.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            if c.is_alphanumeric() {
                start.get_or_insert(i);
                continue;
            }
            if is_apostrophe(c)
                && start.is_some()
                && iter.peek().is_some_and(|(_, n)| n.is_alphanumeric())
            {
                let s = start.unwrap_or(i);
                let before = &word[s..i];
                if is_elision(before) {
                    start = None;
                }
                continue;
            }
            if let Some(s) = start.take() {
                self.push_token(kind_of(&word[s..i]), &word[s..i], *clause);
                *clause = false;
            }
            self.mark(c, clause);
        }
        if let Some(s) = start {
            self.push_token(kind_of(&word[s..]), &word[s..], *clause);
            *clause = false;
        }
        // A word boundary is not a clause boundary, but a line break inside `word` cannot
        // happen (split_whitespace), so nothing else to do here.
    }

    /// [`Self::split_word`] for the common case of an ASCII word, byte by byte: the same
    /// tokens, without decoding UTF-8 or consulting Unicode tables.
    fn split_ascii_word(&mut self, word: &str, clause: &mut bool) {
        let b = word.as_bytes();
        let mut start: Option<usize> = None;
        for (i, &c) in b.iter().enumerate() {
            if c.is_ascii_alphanumeric() {
                start.get_or_insert(i);
                continue;
            }
            if matches!(c, b'\'' | b'`') && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
                if let Some(s) = start {
                    if is_elision(&word[s..i]) {
                        start = None;
                    }
                    continue;
                }
            }
            if let Some(s) = start.take() {
                self.push_ascii_token(kind_of(&word[s..i]), &word[s..i], *clause);
                *clause = false;
            }
            self.mark(c as char, clause);
        }
        if let Some(s) = start {
            self.push_ascii_token(kind_of(&word[s..]), &word[s..], *clause);
            *clause = false;
        }
    }

    fn scan_marks(&mut self, rest: &str, clause: &mut bool) {
        for c in rest.chars() {
            self.mark(c, clause);
        }
    }

    fn mark(&mut self, c: char, clause: &mut bool) {
        match c {
            '!' | '¡' => {
                self.exclamations += 1;
                *clause = true;
            }
            '?' | '¿' | '？' => {
                self.question = true;
                *clause = true;
            }
            '.' | ',' | ';' | ':' | '…' | '。' | '،' => *clause = true,
            c if is_emoji(c) => self.emoji.push(c),
            _ => {}
        }
    }

    /// [`Self::push_token`] for ASCII `raw`: folding is lower-casing, every letter is alphabetic.
    fn push_ascii_token(&mut self, kind: Kind, raw: &str, clause_start: bool) {
        let f0 = self.folded.len() as u32;
        let c0 = self.collapsed.len() as u32;
        let (mut caps, mut letters) = (0u32, 0u32);
        let mut last = 0u8;
        for &c in raw.as_bytes() {
            if c.is_ascii_alphabetic() {
                letters += 1;
                caps += c.is_ascii_uppercase() as u32;
            }
            let l = c.to_ascii_lowercase();
            self.folded.push(l as char);
            if !(l == last && l.is_ascii_alphabetic()) {
                self.collapsed.push(l as char);
            }
            last = l;
        }
        self.finish_token(kind, raw, clause_start, (f0, c0), (caps, letters));
    }

    fn push_token(&mut self, kind: Kind, raw: &str, clause_start: bool) {
        if raw.is_ascii() {
            self.push_ascii_token(kind, raw, clause_start);
        } else {
            self.push_unicode_token(kind, raw, clause_start);
        }
    }

    fn push_unicode_token(&mut self, kind: Kind, raw: &str, clause_start: bool) {
        let f0 = self.folded.len() as u32;
        let mut caps = 0u32;
        let mut letters = 0u32;
        for c in raw.chars() {
            if c.is_alphabetic() {
                letters += 1;
                if c.is_uppercase() {
                    caps += 1;
                }
            }
            fold_char(c, &mut self.folded);
        }
        let f1 = self.folded.len() as u32;
        let c0 = self.collapsed.len() as u32;
        let mut last = '\0';
        for c in self.folded[f0 as usize..f1 as usize].chars() {
            if c == last && c.is_alphabetic() {
                continue;
            }
            last = c;
            self.collapsed.push(c);
        }
        self.finish_token(kind, raw, clause_start, (f0, c0), (caps, letters));
    }

    /// Records the token whose folded and collapsed forms start at `f0` and `c0` and run to
    /// the current ends of those buffers.
    fn finish_token(
        &mut self,
        kind: Kind,
        raw: &str,
        clause_start: bool,
        (f0, c0): (u32, u32),
        (caps, letters): (u32, u32),
    ) {
        let (f1, c1) = (self.folded.len() as u32, self.collapsed.len() as u32);
        self.letters += letters;
        if letters >= 3 && caps == letters {
            self.caps_letters += letters;
        }
        self.toks.push(Token {
            kind,
            folded: f0..f1,
            collapsed: c0..c1,
            capitalised: raw.chars().next().is_some_and(char::is_uppercase),
            clause_start,
        });
    }
}

fn kind_of(s: &str) -> Kind {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        Kind::Number
    } else {
        Kind::Word
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '`' | '´')
}

/// French and Italian elided articles and pronouns (`l'`, `d'`, `qu'`, `dell'`): the stem
/// after them is the word that carries meaning.
fn is_elision(before: &str) -> bool {
    let n = before.chars().count();
    n == 1
        || matches!(
            before.to_lowercase().as_str(),
            "qu" | "un" | "dell" | "nell" | "sull" | "all" | "dall" | "quell" | "jusqu" | "lorsqu"
        )
}

/// Pictographs, dingbats and emoticon blocks (not letters, digits or ordinary punctuation).
pub fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x2190..=0x21FF | 0x2300..=0x23FF | 0x2600..=0x27BF | 0x2B00..=0x2BFF
        | 0x1F000..=0x1FAFF | 0x3030 | 0x303D)
}

/// Appends the matching form of `c`: lower case, accents stripped, apostrophes unified.
pub fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let special = match c {
        'ß' | 'ẞ' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ø' | 'Ø' => "o",
        'þ' | 'Þ' => "th",
        'ð' | 'Ð' => "d",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ı' => "i",
        '’' | 'ʼ' | '`' | '´' => "'",
        _ => "",
    };
    if !special.is_empty() {
        out.push_str(special);
        return;
    }
    for lc in c.to_lowercase() {
        unicode_normalization::char::decompose_canonical(lc, |d| {
            if !unicode_normalization::char::is_combining_mark(d) {
                out.push(d);
            }
        });
    }
}

/// `s` folded (see [`fold_char`]).
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// `s` folded with runs of a repeated letter collapsed to one.
pub fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = '\0';
    for c in fold(s).chars() {
        if c == last && c.is_alphabetic() {
            continue;
        }
        last = c;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut t = Tokens::default();
        t.parse(text);
        t.toks.iter().map(|x| t.collapsed(x).to_string()).collect()
    }

    #[test]
    fn folds_case_accents_and_elongations() {
        assert_eq!(
            words("Sooo SLOWWW, l'appli ne marche pas! Überweisung Þór"),
            [
                "so",
                "slow",
                "apli",
                "ne",
                "marche",
                "pas",
                "uberweisung",
                "thor"
            ]
        );
        assert_eq!(fold("Crème Brûlée"), "creme brulee");
        assert_eq!(collapse("Cooool"), "col");
    }

    #[test]
    fn kinds_urls_emoji_and_marks() {
        let mut t = Tokens::default();
        t.parse("@NorthwindAir app down again?? 😡😡 #fail https://t.co/x can't login");
        let kinds: Vec<Kind> = t.toks.iter().map(|x| x.kind).collect();
        assert_eq!(kinds[0], Kind::Handle);
        assert_eq!(t.folded(&t.toks[0]), "northwindair");
        assert!(kinds.contains(&Kind::Hashtag));
        assert_eq!(t.emoji, ['😡', '😡']);
        assert!(t.question);
        assert!(t.toks.iter().any(|x| t.folded(x) == "can't"));
        assert!(!t.toks.iter().any(|x| t.folded(x).contains("t.co")));
        // "#fail" starts a clause because "??" came before it.
        let fail = t.toks.iter().find(|x| t.folded(x) == "fail").unwrap();
        assert!(fail.clause_start);
    }

    fn parsed(t: &Tokens) -> Vec<(Kind, String, String, bool, bool)> {
        t.toks
            .iter()
            .map(|x| {
                let (f, c) = (t.folded(x).to_string(), t.collapsed(x).to_string());
                (x.kind, f, c, x.capitalised, x.clause_start)
            })
            .collect()
    }

    proptest::proptest! {
        /// The ASCII fast paths give exactly the tokens of the general ones.
        #[test]
        fn ascii_fast_path_matches_general_path(word in "[a-zA-Z0-9'`.,!?:;_-]{0,24}") {
            let (mut fast, mut general) = (Tokens::default(), Tokens::default());
            let (mut c1, mut c2) = (true, true);
            fast.split_ascii_word(&word, &mut c1);
            general.split_word(&word, &mut c2);
            proptest::prop_assert_eq!(parsed(&fast), parsed(&general));
            proptest::prop_assert_eq!(c1, c2);
            let (mut a, mut u) = (Tokens::default(), Tokens::default());
            a.push_ascii_token(Kind::Word, &word, false);
            u.push_unicode_token(Kind::Word, &word, false);
            proptest::prop_assert_eq!(parsed(&a), parsed(&u));
            proptest::prop_assert_eq!((a.letters, a.caps_letters), (u.letters, u.caps_letters));
            proptest::prop_assert_eq!((fast.exclamations, fast.question), (general.exclamations, general.question));
        }
    }

    #[test]
    fn shouting_is_counted() {
        let mut t = Tokens::default();
        t.parse("WHERE IS MY REFUND");
        assert_eq!(t.caps_letters, 11); // "IS" and "MY" are too short to count
        assert_eq!(t.letters, 15);
    }
}
