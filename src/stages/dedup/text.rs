//! Text side of dedup: social-text normalisation, repost prefixes, and the per-text sketch.
//!
//! Contract: two texts that differ only in @handles, URLs, hashtags, emoji, case, punctuation
//! or letter elongations ("sooo") produce the same token sequence, hence the same
//! [`Sketch::norm_hash`]. The sketch also carries what the near-duplicate tier needs:
//! 16-bit fingerprints of (at most [`FP_LEN`]) shingles for a Jaccard check, and [`BANDS`]
//! MinHash band keys for candidate lookup, computed from those fingerprints alone
//! ([`bands_of`]) so that a shard can rebuild its index from what its entries keep.
//!
//! Why MinHash LSH and not SimHash: on real tweets with 5–15 % of words changed a 64-bit
//! SimHash moves by 7 bits on average (often 10+), while unrelated tweets differ by about 29,
//! so a useful Hamming radius (≥ 10) needs dozens of permuted tables. MinHash bands over word sets
//! find the same variants with 8 lookups, and the exact Jaccard check on the stored
//! fingerprints keeps false merges near zero. `cargo run --release --example dedup_eval`
//! prints both distance distributions on real tweets.

/// Number of token fingerprints kept per text (a bottom-k sketch beyond that).
pub const FP_LEN: usize = 24;
/// MinHash bands (LSH tables), each keyed by the `ROWS` smallest values of one permutation.
pub const BANDS: usize = 8;
const ROWS: usize = 2;

/// Odd multipliers and seeds for the MinHash permutations, one per band (fixed: sketches
/// must be stable across restarts and machines).
const PERM: [(u64, u64); BANDS] = {
    let mut out = [(0u64, 0u64); BANDS];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0;
    while i < BANDS {
        x = splitmix(x);
        let a = x | 1;
        x = splitmix(x);
        out[i] = (a, x);
        i += 1;
    }
    out
};

const fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of bytes: FNV-1a over the bytes, finished with a strong mixer. Fast on short
/// tokens and stable (not randomised per process, unlike std's SipHash keys).
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(h)
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
    for_each_word(text, |word| {
        let w = word.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '#');
        if w.starts_with('@') || w.starts_with('#') || is_url(w) {
            return;
        }
        if w.is_ascii() {
            ascii_word_tokens(w, &mut buf, &mut f);
        } else {
            word_tokens(w, &mut buf, &mut f);
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
    let w = word.as_bytes();
    let mut last = 0u8;
    let mut start = 0;
    for (i, &c) in w.iter().enumerate() {
        if buf.is_empty() {
            start = i;
        }
        if c.is_ascii_alphanumeric() {
            let lc = c.to_ascii_lowercase();
            if lc == last && !lc.is_ascii_digit() {
                continue;
            }
            last = lc;
            buf.push(lc as char);
        } else if (c == b'.' || c == b',')
            && last.is_ascii_digit()
            && w.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            buf.push('.');
            last = b'.';
        } else if !buf.is_empty() {
            f(buf, &word[start..i]);
            buf.clear();
            last = 0;
        }
    }
    if !buf.is_empty() {
        f(buf, &word[start..]);
    }
}

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
            (matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c), 1)
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
    let b = w.as_bytes();
    // `http://` and `https://` contain `://`; the byte scan spares most words the substring
    // search.
    b.len() >= 4
        && ((b[..4].eq_ignore_ascii_case(b"www.")) || (b.contains(&b':') && w.contains("://")))
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

fn stopwords() -> &'static HashSet64 {
    static SET: std::sync::OnceLock<HashSet64> = std::sync::OnceLock::new();
    SET.get_or_init(|| word_hash_set(STOPWORDS))
}

/// Fingerprint of a shingle hash: its top 16 bits (so fingerprints sort like the hashes).
fn fingerprint(h: u64) -> u16 {
    (h >> 48) as u16
}

/// Which fingerprints are those of function words: a bit per possible fingerprint (8 KiB).
fn stop_fingerprints() -> &'static [u64; 1024] {
    static BITS: std::sync::OnceLock<Box<[u64; 1024]>> = std::sync::OnceLock::new();
    BITS.get_or_init(|| {
        let mut bits = Box::new([0u64; 1024]);
        for &h in stopwords() {
            let f = fingerprint(h) as usize;
            bits[f / 64] |= 1 << (f % 64);
        }
        bits
    })
}

/// Whether a fingerprint is that of a function word (or aliases one).
fn is_stop_fingerprint(f: u16) -> bool {
    stop_fingerprints()[f as usize / 64] & (1 << (f % 64)) != 0
}

/// Whether a normalised token is a frequent function word (en, fr, de, es, pt, it, nl).
pub fn is_stopword(token: &str) -> bool {
    is_stopword_hash(word_hash(token))
}

/// [`is_stopword`] for a token already hashed with [`word_hash`].
pub fn is_stopword_hash(h: u64) -> bool {
    stopwords().contains(&h)
}

/// What dedup remembers and compares about one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    /// Hash of the normalised token sequence (order matters): equal means "same text".
    pub norm_hash: u64,
    /// Distinct tokens in the text.
    pub tokens: u32,
    /// Distinct words and adjacent word pairs: the set the similarity is computed on.
    pub shingles: u32,
    /// Distinct tokens that are not frequent function words.
    pub content: u32,
    /// Their hashes, ascending (handed on in [`crate::mention::DedupInfo::terms`]).
    pub content_hashes: Vec<u64>,
    /// Fingerprints (top 16 bits of the hash) of the `FP_LEN` smallest shingle hashes,
    /// ascending; all of them when the text has at most `FP_LEN` distinct shingles.
    pub fps: Fps,
    /// MinHash band keys (band index mixed in), meaningful when `tokens > 0`.
    pub bands: [u64; BANDS],
}

/// Sorted token fingerprints, stored inline (no allocation per remembered text). When at most
/// `FP_LEN - 4` are used, the last four slots hold the normalised text's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fps {
    pub len: u8,
    pub v: [u16; FP_LEN],
}

impl Fps {
    pub fn as_slice(&self) -> &[u16] {
        &self.v[..self.len as usize]
    }
}

impl Sketch {
    /// The sketch of a text with no words.
    pub fn empty() -> Self {
        Sketch {
            norm_hash: 0,
            tokens: 0,
            shingles: 0,
            content: 0,
            content_hashes: Vec::new(),
            fps: Fps {
                len: 0,
                v: [0; FP_LEN],
            },
            bands: [0; BANDS],
        }
    }

    pub fn of(text: &str) -> Self {
        let mut seq = 0xa076_1d64_78bd_642fu64;
        // Words and word pairs: pairs make the similarity see word order, so "tried that list
        // already" and "already tried all that" are not near-duplicates. Word hashes are odd,
        // pair hashes even, so one sorted set holds both.
        let mut shingles: Vec<u64> = Vec::with_capacity(64);
        let mut prev = 0u64;
        for_each_token(text, |t| {
            let h = word_hash(t);
            seq = splitmix(seq ^ h);
            shingles.push(h);
            if prev != 0 {
                shingles.push(splitmix(prev.rotate_left(17) ^ h) & !1);
            }
            prev = h;
        });
        shingles.sort_unstable();
        shingles.dedup();
        // Content words decide whether a text says enough for the near tier ("to the" does
        // not) and are handed on as the mention's terms.
        let stop = stopwords();
        let mut tokens = 0u32;
        let mut content: Vec<u64> = Vec::with_capacity(32);
        for &h in shingles.iter().filter(|h| *h & 1 == 1) {
            tokens += 1;
            if !stop.contains(&h) {
                content.push(h);
            }
        }
        let mut fps = Fps {
            len: 0,
            v: [0; FP_LEN],
        };
        for (slot, &h) in fps.v.iter_mut().zip(shingles.iter()) {
            *slot = fingerprint(h);
            fps.len += 1;
        }
        let bands = bands_of(fps.as_slice());
        if fps.len as usize + 4 <= FP_LEN {
            // Spare slots carry the text's hash: a one-word text's single 16-bit fingerprint
            // is too weak an identity on its own ("eygpt" and "feliz" can share it).
            for (i, slot) in fps.v[FP_LEN - 4..].iter_mut().enumerate() {
                *slot = (seq >> (16 * i)) as u16;
            }
        }
        Sketch {
            norm_hash: seq,
            tokens,
            shingles: shingles.len() as u32,
            content: content.len() as u32,
            content_hashes: content,
            fps,
            bands,
        }
    }
}

/// MinHash band keys of a text from its stored fingerprints. Computed from what an entry keeps
/// (not from the full word set), so a shard can rebuild its band index from its entries; on
/// the real-tweet evaluation this finds as many variants as bands over the content words did.
///
/// A band is keyed by the [`ROWS`] smallest values of one permutation (bottom-k), not by the
/// minimums of `ROWS` permutations. Both match two texts with the same probability, about
/// Jaccard², but the minimums of two permutations can both fall on one shared element: two
/// unrelated tweets that share a single word (or a 16-bit fingerprint alias) then share a
/// band. The two smallest of one permutation are two distinct elements, so a band needs two
/// shared words or pairs (or fingerprint aliases): in a full 10-million-entry shard a new
/// text meets 14.4 unrelated candidates instead of 16.8, each a read from main memory
/// (`benches/dedup.rs`), with the same recall on real tweets.
pub fn bands_of(fps: &[u16]) -> [u64; BANDS] {
    // Without the function words: a band keyed by "the" and "to" would be shared by many
    // texts and crowd others out of its bucket. Word pairs stay: they are rarely common.
    let kept = fps.iter().filter(|&&f| !is_stop_fingerprint(f)).count();
    let mut mins = [[u64::MAX; ROWS]; BANDS];
    // Fingerprints are ascending, so a repeated one (two shingles can share it) follows
    // itself: skipped, each value counts once.
    let mut prev = None;
    for &f in fps {
        if (kept >= 2 && is_stop_fingerprint(f)) || prev == Some(f) {
            continue;
        }
        prev = Some(f);
        let h = splitmix(f as u64);
        for (m, &(a, s)) in mins.iter_mut().zip(PERM.iter()) {
            // The band's two smallest, without branches: whether a new value displaces one
            // of them is a coin toss the branch predictor loses dozens of times per text.
            let v = (h ^ s).wrapping_mul(a);
            let [m0, m1] = *m;
            *m = [v.min(m0), m1.min(v.max(m0))];
        }
    }
    let mut bands = [0u64; BANDS];
    for (b, (key, m)) in bands.iter_mut().zip(&mins).enumerate() {
        *key = m
            .iter()
            .fold(splitmix(b as u64 + 1), |k, &v| splitmix(k ^ v));
    }
    bands
}

/// Index key of a text too short for the near tier: texts with this key and the same
/// fingerprints are the same text (every shingle is fingerprinted when a text has at most
/// `FP_LEN`; beyond that, two texts would have to agree on their `FP_LEN` smallest).
pub fn text_key(fps: &[u16], shingles: u8) -> u64 {
    let mut h = 0x51_7cc1_b727_220a ^ shingles as u64;
    for &f in fps {
        h = splitmix(h ^ f as u64);
    }
    h
}

/// Jaccard similarity of two token sets from their fingerprints: exact (up to 16-bit
/// fingerprint collisions) when both texts have at most `FP_LEN` distinct tokens, otherwise the
/// bottom-k estimate over the union's `FP_LEN` smallest fingerprints.
pub fn jaccard(a: &[u16], a_tokens: u32, b: &[u16], b_tokens: u32) -> f64 {
    jaccard_at_least(a, a_tokens, b, b_tokens, 0.0).unwrap_or(0.0)
}

/// A text's fingerprints as a 1,024-bit set, to reject unrelated candidates before the merge
/// of [`jaccard_at_least`]: in a 10-million-entry shard a text meets about 14 of them (band
/// keys from 16-bit fingerprints collide), and each step of the merge is a branch the CPU
/// cannot predict. Counting the candidate's fingerprints found in the set has no branches and
/// never counts fewer than the merge would match (bits shared by two values only add), so it
/// bounds the similarity from above: a property test checks that it never turns away a pair
/// the merge accepts.
pub struct FpSet {
    bits: [u64; 16],
    len: usize,
    shingles: u32,
}

impl FpSet {
    pub fn new(fps: &[u16], shingles: u32) -> Self {
        let mut bits = [0u64; 16];
        for &f in fps {
            bits[(f as usize >> 6) & 15] |= 1 << (f & 63);
        }
        FpSet {
            bits,
            len: fps.len(),
            shingles,
        }
    }

    /// Whether [`jaccard_at_least`]`(other, other_shingles, these fps, these shingles, floor)`
    /// could be `Some`: `false` only when it is certainly `None`.
    pub fn could_reach(&self, other: &[u16], other_shingles: u32, floor: f64) -> bool {
        if floor <= 0.0 {
            return true;
        }
        let found: usize = other
            .iter()
            .map(|&f| ((self.bits[(f as usize >> 6) & 15] >> (f & 63)) & 1) as usize)
            .sum();
        let inter = found.min(other.len()).min(self.len);
        let (o_cut, s_cut) = (
            other_shingles as usize > FP_LEN,
            self.shingles as usize > FP_LEN,
        );
        // The least union the merge can end with: the whole union when neither side is
        // truncated; otherwise it stops at `FP_LEN`, or when a truncated side runs out having
        // counted all of that side.
        let union = if o_cut || s_cut {
            let mut u = FP_LEN;
            if o_cut {
                u = u.min(other.len());
            }
            if s_cut {
                u = u.min(self.len);
            }
            u
        } else {
            other.len() + self.len - inter
        };
        // The same division as the merge's result, so equal counts give an equal bound.
        let best = inter.min(union) as f64 / union.max(1) as f64;
        best >= floor
    }
}

/// [`jaccard`] when it is at least `floor`, else `None`, decided as soon as the rest of the
/// merge could not lift it to `floor`. In a 10-million-entry shard a text meets about 14
/// unrelated candidates (band keys come from a text's smallest 16-bit fingerprints, a small
/// space at that size; `benches/dedup.rs` counts them); [`FpSet`] turns most of them away
/// first, and this rejects the rest after about nine steps of the merge instead of all.
pub fn jaccard_at_least(
    a: &[u16],
    a_tokens: u32,
    b: &[u16],
    b_tokens: u32,
    floor: f64,
) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return (floor <= 0.0).then_some(0.0);
    }
    let (a_cut, b_cut) = (a_tokens as usize > FP_LEN, b_tokens as usize > FP_LEN);
    let cut = a_cut || b_cut;
    let (mut i, mut j, mut inter, mut union) = (0, 0, 0usize, 0usize);
    loop {
        // A truncated sketch only sees hashes up to its last fingerprint: stop there, or the
        // other side's larger hashes would count as misses.
        if (a_cut && i == a.len()) || (b_cut && j == b.len()) || (cut && union == FP_LEN) {
            break;
        }
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                inter += 1;
                i += 1;
                j += 1;
                union += 1;
                continue;
            }
            (Some(x), Some(y)) if x < y => i += 1,
            (Some(_), Some(_)) => j += 1,
            (Some(_), None) => i += 1,
            (None, Some(_)) => j += 1,
            (None, None) => break,
        }
        union += 1;
        // A miss: the best the rest can do is match all it still can. Untruncated, the
        // merge then runs on through the longer side's leftovers; truncated, it may stop
        // as soon as `union` reaches `FP_LEN`.
        let (ra, rb) = (a.len() - i, b.len() - j);
        let best = if cut {
            let m = ra.min(rb).min(FP_LEN - union);
            (inter + m) as f64 / (union + m) as f64
        } else {
            (inter + ra.min(rb)) as f64 / (union + ra.max(rb)) as f64
        };
        if best < floor {
            return None;
        }
    }
    let sim = inter as f64 / union.max(1) as f64;
    (sim >= floor).then_some(sim)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Up to `FP_LEN` fingerprints from few distinct values (so pairs overlap often), spread
    /// so that some share a bit of [`FpSet`]; repeats allowed, as aliases make them.
    fn some_fps() -> impl proptest::strategy::Strategy<Value = Vec<u16>> {
        use proptest::strategy::Strategy;
        proptest::collection::vec((0u16..48).prop_map(|x| x * 701), 0..=FP_LEN)
    }

    proptest::proptest! {
        #[test]
        fn ascii_words_tokenise_as_any_word(w in "[a-zA-Z0-9.,'!?_-]{0,24}") {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            ascii_word_tokens(&w, &mut String::new(), &mut |t: &str, r: &str| a.push((t.to_owned(), r.to_owned())));
            word_tokens(&w, &mut String::new(), &mut |t: &str, r: &str| b.push((t.to_owned(), r.to_owned())));
            proptest::prop_assert_eq!(a, b);
        }

        #[test]
        fn words_are_those_of_split_whitespace(t in "[ a-zé\t\n\u{a0}\u{3000}\u{2009}\u{85}😡:/.]{0,40}") {
            let mut got = Vec::new();
            for_each_word(&t, |w| got.push(w));
            proptest::prop_assert_eq!(got, t.split_whitespace().collect::<Vec<_>>());
        }

        /// The early exit never changes a decision: the bounded merge gives the full merge's
        /// similarity whenever that reaches the floor, and `None` exactly when it does not.
        #[test]
        fn bounded_jaccard_agrees_with_the_full_merge(
            a in proptest::collection::btree_set(0u16..48, 1..=FP_LEN),
            b in proptest::collection::btree_set(0u16..48, 1..=FP_LEN),
            a_tokens in 1u32..60,
            b_tokens in 1u32..60,
            floor in 0.0f64..1.0,
        ) {
            let (a, b): (Vec<u16>, Vec<u16>) = (a.into_iter().collect(), b.into_iter().collect());
            let full = jaccard(&a, a_tokens, &b, b_tokens);
            let bounded = jaccard_at_least(&a, a_tokens, &b, b_tokens, floor);
            proptest::prop_assert_eq!(bounded, (full >= floor).then_some(full));
        }

        /// Each band is keyed by the two smallest distinct values of its permutation over the
        /// fingerprints that are not function words (over all of them when fewer than two
        /// are not): the branch-free minimums agree with sorting.
        #[test]
        fn bands_are_the_two_smallest_of_each_permutation(
            fps in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..=FP_LEN),
            repeat in 0usize..FP_LEN,
        ) {
            let mut fps = fps;
            if let Some(&f) = fps.get(repeat) {
                fps.push(f);
            }
            fps.sort_unstable();
            let content: Vec<u16> =
                fps.iter().copied().filter(|&f| !is_stop_fingerprint(f)).collect();
            let mut set = if content.len() >= 2 { content } else { fps.clone() };
            set.dedup();
            let want: Vec<u64> = PERM
                .iter()
                .enumerate()
                .map(|(b, &(a, s))| {
                    let mut v: Vec<u64> =
                        set.iter().map(|&f| (splitmix(f as u64) ^ s).wrapping_mul(a)).collect();
                    v.sort_unstable();
                    v.resize(ROWS.max(v.len()), u64::MAX);
                    v[..ROWS].iter().fold(splitmix(b as u64 + 1), |k, &x| splitmix(k ^ x))
                })
                .collect();
            proptest::prop_assert_eq!(bands_of(&fps).to_vec(), want);
        }

        /// The fingerprint-set filter only rejects pairs the merge rejects too.
        #[test]
        fn fp_set_never_rejects_a_pair_that_reaches_the_floor(
            a in some_fps(),
            b in some_fps(),
            a_extra in 0u32..30,
            b_extra in 0u32..30,
            floor in 0.0f64..1.0,
        ) {
            let (mut a, mut b) = (a, b);
            a.sort_unstable();
            b.sort_unstable();
            // As sketches hold them: `min(shingles, FP_LEN)` fingerprints, ascending.
            let a_tokens = a.len() as u32 + if a.len() == FP_LEN { a_extra } else { 0 };
            let b_tokens = b.len() as u32 + if b.len() == FP_LEN { b_extra } else { 0 };
            let reaches = jaccard_at_least(&a, a_tokens, &b, b_tokens, floor).is_some();
            let passes = FpSet::new(&b, b_tokens).could_reach(&a, a_tokens, floor);
            proptest::prop_assert!(passes || !reaches, "rejected a pair that reaches {floor}");
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

    #[test]
    fn jaccard_is_exact_on_short_texts() {
        let a = Sketch::of("one two three four five six seven eight");
        let b = Sketch::of("one two three four five six seven nine");
        let j = jaccard(a.fps.as_slice(), a.tokens, b.fps.as_slice(), b.tokens);
        // 8 words + 7 pairs each; 7 words and 6 pairs shared: 13 / 17.
        assert!((j - 13.0 / 17.0).abs() < 1e-9, "{j}");
        assert_eq!(
            jaccard(a.fps.as_slice(), a.tokens, a.fps.as_slice(), a.tokens),
            1.0
        );
        let c = Sketch::of("");
        assert_eq!(
            jaccard(a.fps.as_slice(), a.tokens, c.fps.as_slice(), c.tokens),
            0.0
        );
    }

    #[test]
    fn jaccard_estimates_long_texts() {
        let words: Vec<String> = (0..80).map(|i| format!("w{i}")).collect();
        let a = Sketch::of(&words[..60].join(" "));
        let b = Sketch::of(&words[20..80].join(" "));
        // True Jaccard 40/80 = 0.5.
        let j = jaccard(a.fps.as_slice(), a.tokens, b.fps.as_slice(), b.tokens);
        assert!((0.25..0.75).contains(&j), "{j}");
    }
}
