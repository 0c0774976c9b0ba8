//! Text side of dedup: social-text normalisation, repost prefixes, and the hashes of words.
//!
//! Contract: two texts that differ only in @handles, URLs, hashtags, emoji, case, punctuation
//! or letter elongations ("sooo") produce the same token sequence, hence the same word hashes
//! and the same [`super::sketch::Sketch::norm_hash`]. The tokeniser and the word hashes are
//! shared with the spike stage's themes and the scoring model, so a term means the same
//! everywhere.

pub(super) const fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of bytes: FNV-1a over the bytes, finished with a strong mixer. Fast on short
/// tokens and stable (not randomised per process, unlike std's SipHash keys).
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for &b in bytes {
        h = fnv_step(h, b);
    }
    splitmix(h)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
}

/// Hash of a normalised word (always odd: pairs of words hash even).
pub fn word_hash(w: &str) -> u64 {
    hash_bytes(0, w.as_bytes()) | 1
}

/// If `text` is a repost by convention ("RT @user: …", "MT @user …", "“@user: …”"), the
/// reposted body.
pub fn strip_repost(text: &str) -> Option<&str> {
    let t = text.trim_start();
    let mut rest = t;
    let mut found = false;
    loop {
        let r = rest.trim_start();
        let after = ["RT ", "rt ", "MT ", "RT: "]
            .iter()
            .find_map(|p| r.strip_prefix(p))
            .map(str::trim_start)
            .filter(|s| s.starts_with('@'))
            .or_else(|| {
                ["\"@", "“@"]
                    .iter()
                    .find_map(|p| r.strip_prefix(p))
                    .map(|s| s.trim_start_matches('@'))
            });
        let Some(after) = after else { break };
        let after = after.trim_start_matches('@');
        let handle_end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let tail = &after[handle_end..];
        rest = tail.strip_prefix(':').unwrap_or(tail);
        found = true;
    }
    if !found {
        return None;
    }
    let body = rest.trim();
    let body = body
        .strip_suffix('”')
        .or_else(|| body.strip_suffix('"'))
        .unwrap_or(body);
    (!body.is_empty()).then_some(body)
}

/// Calls `f` with each normalised token of `text`, in order.
///
/// Skips URLs, @handles and #hashtags, splits on anything not alphanumeric (emoji and
/// punctuation vanish), lowercases, and collapses runs of a repeated letter to one.
pub fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    for_each_token_in(text, |t, _| f(t));
}

/// [`for_each_token`] that also hands over the span of `text` each token was made from
/// ("App" for "ap"): what a person should read when a token is shown (a theme's name).
pub fn for_each_token_in<'a>(text: &'a str, mut f: impl FnMut(&str, &'a str)) {
    let mut buf = String::with_capacity(32);
    for_each_word(text, |word| tokens_of_word(word, &mut buf, &mut f));
}

/// The [`word_hash`] of each token of `text`, in order: what
/// `for_each_token(text, |t| f(word_hash(t)))` hands over, but an ASCII word (most words of
/// most posts) is hashed as it is scanned, in one pass over its bytes, without building its
/// tokens: dedup's sketch, the costliest part of a mention's dedup, spent a fifth of its time
/// tokenising.
pub fn for_each_token_hash(text: &str, mut f: impl FnMut(u64)) {
    let b = text.as_bytes();
    let mut buf = String::new();
    let mut i = 0;
    // One pass finds each run between ASCII spaces and what it holds; an all-ASCII run (most
    // words of most posts) is one word, hashed as it is, without the general path's passes
    // for word ends, ASCII-ness and URL colons.
    while i < b.len() {
        if BYTE_CLASS[b[i] as usize] & SPACE != 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut seen = 0;
        while let Some(&c) = b.get(i) {
            let class = BYTE_CLASS[c as usize];
            if class & SPACE != 0 {
                break;
            }
            seen |= class;
            i += 1;
        }
        // `start` and `i` sit next to ASCII bytes (or the ends): character boundaries.
        let run = &text[start..i];
        if seen & HIGH == 0 {
            ascii_word_hashes(run.as_bytes(), seen & COLON != 0, &mut f);
        } else {
            // Other whitespace (no-break, ideographic spaces) may split the run.
            for_each_word(run, |word| {
                if word.is_ascii() {
                    ascii_word_hashes(word.as_bytes(), word.contains(':'), &mut f);
                } else {
                    tokens_of_word(word, &mut buf, &mut |t, _| f(word_hash(t)));
                }
            });
        }
    }
}

/// What [`for_each_token_hash`] needs to know of a byte, in one lookup; [`for_each_word`]
/// reads its ASCII whitespace (`str::split_whitespace`'s) from it too.
const SPACE: u8 = 1;
const HIGH: u8 = 2;
const COLON: u8 = 4;
const BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => SPACE,
            b':' => COLON,
            0x80.. => HIGH,
            _ => 0,
        };
        c += 1;
    }
    t
};

/// The tokens of one whitespace-separated word (none for a handle, hashtag or URL).
fn tokens_of_word<'a>(word: &'a str, buf: &mut String, f: &mut impl FnMut(&str, &'a str)) {
    let w = word.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '#');
    if w.starts_with('@') || w.starts_with('#') || is_url(w) {
        return;
    }
    if w.is_ascii() {
        ascii_word_tokens(w, buf, f);
    } else {
        word_tokens(w, buf, f);
    }
}

/// [`word_hash`]es of the tokens of an ASCII word: [`tokens_of_word`] then [`word_hash`],
/// fused (the bytes of [`ascii_token_bytes`] feed the hash instead of a buffer).
fn ascii_word_hashes(word: &[u8], has_colon: bool, f: &mut impl FnMut(u64)) {
    let start = word
        .iter()
        .position(|&c| c.is_ascii_alphanumeric() || c == b'@' || c == b'#')
        .unwrap_or(word.len());
    let w = &word[start..];
    if matches!(w.first(), Some(b'@' | b'#')) || is_url_prefiltered(w, has_colon) {
        return;
    }
    let mut h = FNV_OFFSET;
    ascii_token_bytes(w, |_, b| match b {
        // A select, not a branch: a repeated letter is too rare for the CPU to predict it and
        // too common (one byte in thirty) to leave to a misprediction.
        Some((b, keep)) => {
            let next = fnv_step(h, b);
            h = if keep { next } else { h };
        }
        None => {
            f(splitmix(h) | 1);
            h = FNV_OFFSET;
        }
    });
}

/// The tokens of one word and their spans (see [`for_each_token_in`]).
fn word_tokens<'a>(w: &'a str, buf: &mut String, f: &mut impl FnMut(&str, &'a str)) {
    buf.clear();
    let mut last = '\0';
    let mut start = 0;
    let mut chars = w.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if buf.is_empty() {
            start = at;
        }
        if c.is_ascii_alphanumeric() {
            let lc = c.to_ascii_lowercase();
            if lc == last && !lc.is_ascii_digit() {
                continue;
            }
            last = lc;
            buf.push(lc);
        } else if c.is_alphanumeric() {
            for lc in c.to_lowercase() {
                // Repeated letters collapse to one, so "sooo", "soo" and "so" agree;
                // digits never do ("100" is not "10").
                if lc == last && !lc.is_numeric() {
                    continue;
                }
                last = lc;
                buf.push(lc);
            }
        } else if (c == '.' || c == ',')
            && last.is_numeric()
            && chars.peek().is_some_and(|&(_, n)| n.is_numeric())
        {
            // "11.0.3" and "1,299" stay one token: version and price strings would
            // otherwise look alike through their shared digits.
            buf.push('.');
            last = '.';
        } else if !buf.is_empty() {
            f(buf, &w[start..at]);
            buf.clear();
            last = '\0';
        }
    }
    if !buf.is_empty() {
        f(buf, &w[start..]);
    }
}

/// [`word_tokens`] for a word of ASCII bytes (most words of most posts): the same tokens
/// without decoding characters or Unicode tables.
fn ascii_word_tokens<'a>(word: &'a str, buf: &mut String, f: &mut impl FnMut(&str, &'a str)) {
    buf.clear();
    let mut start = None;
    ascii_token_bytes(word.as_bytes(), |i, b| match b {
        Some((b, true)) => {
            start.get_or_insert(i);
            buf.push(b as char);
        }
        Some((_, false)) => {}
        None => {
            f(buf, &word[start.take().unwrap_or(i)..i]);
            buf.clear();
        }
    });
}

/// The normalisation of an ASCII word's tokens, byte by byte: `out(i, Some((b, true)))` for
/// each byte `b` a token keeps (made from `w[i]`), `out(i, Some((b, false)))` for a repeated
/// letter it drops, `out(i, None)` when a token ends before `w[i]` (or at `w.len()`).
/// Lowercases and collapses letter runs; digits never collapse ("100" is not "10"), and
/// "11.0.3" and "1,299" stay one token. Shared by [`ascii_word_tokens`] and
/// [`ascii_word_hashes`], so that the token strings and the fused hashes cannot disagree.
fn ascii_token_bytes(w: &[u8], mut out: impl FnMut(usize, Option<(u8, bool)>)) {
    let (mut open, mut last) = (false, 0u8);
    for (i, &c) in w.iter().enumerate() {
        let lc = ASCII_FOLD[c as usize];
        let (b, keep) = if lc != 0 {
            // Letters sort above digits: only letters collapse.
            (lc, lc != last || lc <= b'9')
        } else if (c == b'.' || c == b',')
            && last.is_ascii_digit()
            && w.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            (b'.', true)
        } else {
            if open {
                out(i, None);
                (open, last) = (false, 0);
            }
            continue;
        };
        out(i, Some((b, keep)));
        (open, last) = (true, b);
    }
    if open {
        out(w.len(), None);
    }
}

/// An ASCII letter or digit lowercased, 0 for any other byte: one lookup per byte.
const ASCII_FOLD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        if (c as u8).is_ascii_alphanumeric() {
            t[c] = (c as u8).to_ascii_lowercase();
        }
        c += 1;
    }
    t
};

/// Calls `f` with each whitespace-separated word of `text`: the words of
/// `str::split_whitespace`, found without decoding ASCII bytes (most social text), which
/// makes tokenising about a third faster.
pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let b = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (space, len) = if c < 0x80 {
            (BYTE_CLASS[c as usize] & SPACE != 0, 1)
        } else {
            // `i` is always at a character boundary: it only moves by whole characters.
            let ch = text[i..].chars().next().unwrap_or(' ');
            (ch.is_whitespace(), ch.len_utf8())
        };
        if space {
            if let Some(s) = start.take() {
                f(&text[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += len;
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// Whether a whitespace-separated word is a URL (`http://`, `https://`, `www.`, `x://`).
pub fn is_url(w: &str) -> bool {
    is_url_prefiltered(w.as_bytes(), w.contains(':'))
}

/// [`is_url`] for a caller that knows whether the word may hold a colon (`false` only when
/// it holds none): `http://` and `https://` contain `://`, and most words no colon at all.
fn is_url_prefiltered(b: &[u8], has_colon: bool) -> bool {
    b.len() >= 4
        && ((b[..4].eq_ignore_ascii_case(b"www."))
            || (has_colon && b.windows(3).any(|x| x == b"://")))
}

/// Frequent function words of the languages Tocsin serves most, normalised like tokens.
/// Not "down": in "site down" it is the news (a term of the mention, a spike's theme).
const STOPWORDS: &str = "a an the and or but if of to in on at by for with from as is are was were be been \
    being am do does did done have has had having i me my mine you your yours he him his she her it its \
    we us our they them their this that these those there here what which who whom when where why how \
    not no yes so too very can could will would should shall may might must just also only than then \
    now all any some more most much many such own same other into out up over about again still \
    im dont cant its ive youre thats please thanks thank hi hey ok okay get got one s t \
    le la les un une des du de et ou mais est sont je tu il elle nous vous ils elles ce cet cette ces \
    mon ton son ma ta sa mes tes ses pas ne que qui quoi dans sur pour par avec sans au aux en y \
    der die das den dem des ein eine einen einem und oder aber ist sind ich du er sie es wir ihr \
    mein dein sein nicht kein mit von zu im am auf für bei aus nach wie was \
    el los las uno una unos unas y o pero es son yo tú él ella nosotros ellos mi tu su no que en con \
    por para del al lo se le me te muy más \
    o os um uma e mas é são eu ele ela nós eles meu minha seu sua não em com por para do da dos das \
    il lo gli i una e ma è sono io lui lei noi loro mio mia suo sua non che di in con per del della \
    het een en maar is zijn ik jij hij zij wij mijn niet geen met van voor op aan dat";

/// Keys are already uniformly distributed 64-bit hashes: hashing them again is wasted work.
#[derive(Default)]
pub struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub type HashSet64 = std::collections::HashSet<u64, std::hash::BuildHasherDefault<PassThrough>>;

/// The [`word_hash`]es of the tokens of a whitespace-separated word list.
pub fn word_hash_set(words: &str) -> HashSet64 {
    let mut set = HashSet64::default();
    for_each_token(words, |t| {
        set.insert(word_hash(t));
    });
    set
}

pub(super) fn stopwords() -> &'static HashSet64 {
    static SET: std::sync::OnceLock<HashSet64> = std::sync::OnceLock::new();
    SET.get_or_init(|| word_hash_set(STOPWORDS))
}

/// Whether a normalised token is a frequent function word (en, fr, de, es, pt, it, nl).
pub fn is_stopword(token: &str) -> bool {
    is_stopword_hash(word_hash(token))
}

/// [`is_stopword`] for a token already hashed with [`word_hash`].
pub fn is_stopword_hash(h: u64) -> bool {
    stopwords().contains(&h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::dedup::sketch::Sketch;

    fn toks(t: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_token(t, |s| v.push(s.to_owned()));
        v
    }

    #[test]
    fn normalisation_drops_social_noise() {
        assert_eq!(
            toks("@Northwind my APP is sooooo slow!!! https://t.co/x #fail 😡"),
            ["my", "ap", "is", "so", "slow"]
        );
        assert_eq!(toks("don't, stop.now"), ["don", "t", "stop", "now"]);
        assert_eq!(toks("Ça NE MARCHE PAS"), ["ça", "ne", "marche", "pas"]);
        assert_eq!(
            toks("iOS 11.0.3, v1.2 at 100 €1,299."),
            ["ios", "11.0.3", "v1.2", "at", "100", "1.299"]
        );
        let mut spans = Vec::new();
        for_each_token_in("@x My APP, sooo slow! l'Équipe… 1,299€", |t, r| {
            spans.push((t.to_owned(), r))
        });
        let want = [
            ("my", "My"),
            ("ap", "APP"),
            ("so", "sooo"),
            ("slow", "slow"),
            ("l", "l"),
            ("équipe", "Équipe"),
            ("1.299", "1,299"),
        ];
        assert_eq!(spans, want.map(|(t, r)| (t.to_owned(), r)));
        let a = Sketch::of("@a My app is down https://x.co/1 #outage");
        let b = Sketch::of("my APP is down!! 🙄 @b");
        assert_eq!(a.norm_hash, b.norm_hash);
        assert_ne!(a.norm_hash, Sketch::of("app my is down").norm_hash);
    }

    proptest::proptest! {
        #[test]
        fn ascii_words_tokenise_as_any_word(w in "[a-zA-Z0-9.,'!?_-]{0,24}") {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            ascii_word_tokens(&w, &mut String::new(), &mut |t: &str, r: &str| a.push((t.to_owned(), r.to_owned())));
            word_tokens(&w, &mut String::new(), &mut |t: &str, r: &str| b.push((t.to_owned(), r.to_owned())));
            proptest::prop_assert_eq!(a, b);
        }

        /// The fused hashing gives the hashes of the tokens, whatever the mix of ASCII and
        /// other words, handles, hashtags, URLs, numbers and punctuation.
        #[test]
        fn token_hashes_are_the_hashes_of_the_tokens(
            t in "((a|A|b|11|1|ée|É|[.,:/@#'!_😡-]|www[.]|https://){0,7}[ \t\u{a0}]){0,8}"
        ) {
            let (mut want, mut got) = (Vec::new(), Vec::new());
            for_each_token(&t, |w| want.push(word_hash(w)));
            for_each_token_hash(&t, |h| got.push(h));
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn words_are_those_of_split_whitespace(t in "[ a-zé\t\n\u{a0}\u{3000}\u{2009}\u{85}😡:/.]{0,40}") {
            let mut got = Vec::new();
            for_each_word(&t, |w| got.push(w));
            proptest::prop_assert_eq!(got, t.split_whitespace().collect::<Vec<_>>());
        }

    }

    #[test]
    fn urls() {
        for u in [
            "https://t.co/x",
            "HTTP://a.b",
            "www.acme.com",
            "WWW.x",
            "ftp://x",
        ] {
            assert!(is_url(u), "{u}");
        }
        for w in ["www", "time:", "a:b", "wwwx.com", "http"] {
            assert!(!is_url(w), "{w}");
        }
    }

    #[test]
    fn repost_prefixes() {
        assert_eq!(
            strip_repost("RT @ana_b: app down again"),
            Some("app down again")
        );
        assert_eq!(strip_repost("RT @x: RT @y: hello"), Some("hello"));
        assert_eq!(
            strip_repost("“@ana: app down again”"),
            Some("app down again")
        );
        assert_eq!(strip_repost("MT @ana app down"), Some("app down"));
        assert_eq!(strip_repost("RT is a word"), None);
        assert_eq!(strip_repost("hello RT @x: y"), None);
        assert_eq!(strip_repost("RT @x:"), None);
    }
}
