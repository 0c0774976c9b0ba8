//! Sketch side of dedup: what the near-duplicate tier remembers and compares about a text.
//!
//! Contract: [`Sketch::of`] keeps 16-bit fingerprints of (at most [`FP_LEN`]) shingles (words
//! and adjacent word pairs) for a Jaccard check, and [`BANDS`] MinHash band keys for candidate
//! lookup. A band key's high half (which bucket) is computed from those fingerprints alone
//! ([`bands_of`]), so that a shard can place its entries in a bigger index; its low half (the
//! tag a bucket slot keeps) also mixes in the full 64-bit hashes of the band's two shingles
//! ([`with_tag`]), which the entries do not keep: a rebuild carries tags over from the old
//! index. Texts that normalise alike ([`super::text`]) have the same sketch.
//!
//! Why MinHash LSH and not SimHash: on real tweets with 5–15 % of words changed a 64-bit
//! SimHash moves by 7 bits on average (often 10+), while unrelated tweets differ by about 29,
//! so a useful Hamming radius (≥ 10) needs dozens of permuted tables. MinHash bands over word sets
//! find the same variants with 8 lookups, and the exact Jaccard check on the stored
//! fingerprints keeps false merges near zero. `cargo run --release --example dedup_eval`
//! prints both distance distributions on real tweets.

use super::text::{for_each_token_hash, splitmix, stopwords};

/// Number of token fingerprints kept per text (a bottom-k sketch beyond that).
pub const FP_LEN: usize = 24;
/// MinHash bands (LSH tables), each keyed by the `ROWS` smallest values of one permutation.
pub const BANDS: usize = 8;
const ROWS: usize = 2;
// `bands_of` keeps the two smallest values of each band.
const _: () = assert!(ROWS == 2);
/// Low bits of a permuted value that carry the fingerprint's index instead (see
/// [`band_minimums`]); `IDX_MASK` itself (all ones) names no fingerprint.
const IDX_BITS: u32 = 5;
const IDX_MASK: u32 = (1 << IDX_BITS) - 1;
const _: () = assert!(FP_LEN < IDX_MASK as usize);

/// Odd multipliers and seeds of the MinHash permutations, one per band (fixed: sketches must
/// be stable across restarts and machines). 32-bit, so that [`bands_of`] keeps all eight
/// bands' minimums in two vector registers each rather than sixteen 64-bit registers spilled
/// to the stack; a text has at most [`FP_LEN`] values, far too few for 32 bits to tie.
const PERM_A: [u32; BANDS] = PERM.0;
const PERM_S: [u32; BANDS] = PERM.1;
const PERM: ([u32; BANDS], [u32; BANDS]) = {
    let (mut a, mut s) = ([0u32; BANDS], [0u32; BANDS]);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0;
    while i < BANDS {
        x = splitmix(x);
        a[i] = x as u32 | 1;
        x = splitmix(x);
        s[i] = x as u32;
        i += 1;
    }
    (a, s)
};

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
    /// MinHash band keys (band index mixed in), meaningful when `tokens > 0`: the high half
    /// from the fingerprints ([`bands_of`]), the low half from the full hashes too
    /// ([`with_tag`]).
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
        // pair hashes even, so the two sets never share a value.
        let mut words: Vec<u64> = Vec::with_capacity(32);
        let mut pairs: Vec<u64> = Vec::with_capacity(32);
        let mut prev = 0u64;
        for_each_token_hash(text, |h| {
            seq = splitmix(seq ^ h);
            words.push(h);
            if prev != 0 {
                pairs.push(splitmix(prev.rotate_left(17) ^ h) & !1);
            }
            prev = h;
        });
        // Words and pairs apart: the words' order gives the content terms, and a merge of the
        // two the smallest shingles (see `sort_hashes` for why not a comparison sort).
        sort_hashes(&mut words);
        words.dedup();
        sort_hashes(&mut pairs);
        pairs.dedup();
        // Content words decide whether a text says enough for the near tier ("to the" does
        // not) and are handed on as the mention's terms. Most words are turned away by the
        // fingerprint bitmap without a lookup in the stopword set.
        let stop = stopwords();
        let content: Vec<u64> = words
            .iter()
            .copied()
            .filter(|&h| !is_stop_fingerprint(fingerprint(h)) || !stop.contains(&h))
            .collect();
        // The `FP_LEN` smallest shingles, ascending: a merge of the two sorted sets.
        // Without branches: which side is smaller is a coin toss at every step.
        let mut low = [0u64; FP_LEN];
        let n = FP_LEN.min(words.len() + pairs.len());
        let (mut i, mut j) = (0, 0);
        for slot in &mut low[..n] {
            // An exhausted side reads as u64::MAX, which no pair hash (even) reaches.
            let w = words.get(i).copied().unwrap_or(u64::MAX);
            let p = pairs.get(j).copied().unwrap_or(u64::MAX);
            let take_word = (w < p) | (j == pairs.len());
            *slot = if take_word { w } else { p };
            i += take_word as usize;
            j += !take_word as usize;
        }
        let mut fps = Fps {
            len: n as u8,
            v: [0; FP_LEN],
        };
        for (slot, &h) in fps.v.iter_mut().zip(&low[..n]) {
            *slot = fingerprint(h);
        }
        let bands = tagged_bands(fps.as_slice(), &low[..n]);
        if n + 4 <= FP_LEN {
            // Spare slots carry the text's hash: a one-word text's single 16-bit fingerprint
            // is too weak an identity on its own ("eygpt" and "feliz" can share it).
            for (i, slot) in fps.v[FP_LEN - 4..].iter_mut().enumerate() {
                *slot = (seq >> (16 * i)) as u16;
            }
        }
        Sketch {
            norm_hash: seq,
            tokens: words.len() as u32,
            shingles: (words.len() + pairs.len()) as u32,
            content: content.len() as u32,
            content_hashes: content,
            fps,
            bands,
        }
    }
}

/// Sorts uniformly distributed hashes. A post has a few dozen, and a comparison sort of so few
/// is an insertion sort whose every step is a branch the CPU cannot predict (it was a fifth of
/// a sketch): they are first placed by their top bits, one pass each way without branches,
/// which leaves them nearly sorted, and the insertion sort then finishes with few moves.
fn sort_hashes(v: &mut [u64]) {
    const BITS: u32 = 6;
    // Longer texts are rare: the buffer below stays small (it is cleared on every call).
    if v.len() > 1 << BITS {
        return v.sort_unstable();
    }
    let mut at = [0u16; (1 << BITS) + 1];
    for &h in v.iter() {
        at[(h >> (64 - BITS)) as usize + 1] += 1;
    }
    for i in 1..at.len() {
        at[i] += at[i - 1];
    }
    let mut placed = [0u64; 1 << BITS];
    for &h in v.iter() {
        let b = &mut at[(h >> (64 - BITS)) as usize];
        placed[*b as usize] = h;
        *b += 1;
    }
    v.copy_from_slice(&placed[..v.len()]);
    for i in 1..v.len() {
        let h = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > h {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = h;
    }
}

/// MinHash band keys of a text from its stored fingerprints: the high half of each is the
/// key's bucket in the band index ([`super::index::BandTable`]). Computed from what an entry
/// keeps (not from the full word set), so that a shard can place its entries in a bigger
/// index; on the real-tweet evaluation this finds as many variants as bands over the content
/// words did. The low halves are not those of [`Sketch::bands`]: see [`with_tag`].
///
/// A band is keyed by the [`ROWS`] smallest values of one permutation (bottom-k), not by the
/// minimums of `ROWS` permutations. Both match two texts with the same probability, about
/// Jaccard², but the minimums of two permutations can both fall on one shared element: two
/// unrelated tweets that share a single word (or a 16-bit fingerprint alias) then share a
/// band. The two smallest of one permutation are two distinct elements, so a band needs two
/// shared words or pairs (or fingerprint aliases).
pub fn bands_of(fps: &[u16]) -> [u64; BANDS] {
    let (first, second) = band_minimums(fps);
    std::array::from_fn(|b| band_key(b, first[b], second[b]))
}

/// [`bands_of`] with each key's low half replaced by [`with_tag`] of the full hashes of the
/// band's two shingles (`hashes[i]` is the shingle whose fingerprint is `fps[i]`).
///
/// Why: a band key made of two 16-bit fingerprints, each the smallest of about twenty under a
/// permutation, carries only about 23 bits, so in a 10-million-entry shard unrelated texts
/// share band keys by the handful (14.7 candidates per new text in `benches/dedup.rs`, each
/// a read from main memory). The slot tag from the full hashes turns nearly all of them away
/// before their entries are read (4.5 per text remain, texts that really share the band's two
/// words), while two texts whose band picks the same two shingles still agree on it.
fn tagged_bands(fps: &[u16], hashes: &[u64]) -> [u64; BANDS] {
    let (first, second) = band_minimums(fps);
    let full = |v: u32| hashes.get((v & IDX_MASK) as usize).copied().unwrap_or(0);
    std::array::from_fn(|b| {
        let key = band_key(b, first[b], second[b]);
        let tag = splitmix(key ^ full(first[b]) ^ full(second[b]).rotate_left(32));
        with_tag(key, tag as u32)
    })
}

/// A band key (whose high half places it) with `tag` as its low half: what the band index's
/// slots keep to tell keys apart, and what a rebuild carries over from the old index.
pub fn with_tag(key: u64, tag: u32) -> u64 {
    (key & !0xFFFF_FFFF) | tag as u64
}

fn band_key(b: usize, first: u32, second: u32) -> u64 {
    [first, second]
        .iter()
        .fold(splitmix(b as u64 + 1), |k, &v| {
            splitmix(k ^ (v >> IDX_BITS) as u64)
        })
}

/// Each band's smallest and second smallest permuted value over the fingerprints that are not
/// function words, with the fingerprint's index in `fps` in the low [`IDX_BITS`] (so the
/// shingle behind it can be found; two of a text's values tie on the rest about once in
/// 2^27 / 24² texts). `u32::MAX` where a band has fewer than two values.
fn band_minimums(fps: &[u16]) -> ([u32; BANDS], [u32; BANDS]) {
    // The eight bands' minimums are eight 32-bit lanes: one AVX2 register where the CPU has
    // it (x86-64's baseline, SSE2, has no 32-bit multiply or minimum on vectors, and the
    // loop ran one lane at a time: a seventh of a sketch). Same code, same results.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has just been found to support AVX2.
        return unsafe { band_minimums_avx2(fps) };
    }
    band_minimums_portable(fps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn band_minimums_avx2(fps: &[u16]) -> ([u32; BANDS], [u32; BANDS]) {
    band_minimums_portable(fps)
}

/// [`band_minimums`] for any CPU: what the AVX2 build compiles too.
#[inline(always)]
fn band_minimums_portable(fps: &[u16]) -> ([u32; BANDS], [u32; BANDS]) {
    // Without the function words: a band keyed by "the" and "to" would be shared by many
    // texts and crowd others out of its bucket. Word pairs stay: they are rarely common.
    let kept = fps.iter().filter(|&&f| !is_stop_fingerprint(f)).count();
    let (mut first, mut second) = ([u32::MAX; BANDS], [u32::MAX; BANDS]);
    // Fingerprints are ascending, so a repeated one (two shingles can share it) follows
    // itself: skipped, each value counts once.
    let mut prev = None;
    for (i, &f) in fps.iter().enumerate() {
        if (kept >= 2 && is_stop_fingerprint(f)) || prev == Some(f) {
            continue;
        }
        prev = Some(f);
        let h = splitmix(f as u64) as u32;
        let lanes = first
            .iter_mut()
            .zip(&mut second)
            .zip(PERM_A.iter().zip(&PERM_S));
        for ((m0, m1), (&a, &s)) in lanes {
            // Without branches: whether a new value displaces one of the two is a coin toss
            // the branch predictor loses dozens of times per text.
            let v = ((h ^ s).wrapping_mul(a) & !IDX_MASK) | i as u32;
            let low = *m0;
            *m0 = v.min(low);
            *m1 = (*m1).min(v.max(low));
        }
    }
    (first, second)
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
mod tests;
