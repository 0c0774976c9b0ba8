//! The sketch's unit and property tests: the sketch is its plain definition, bands and the
//! bounded Jaccard agree with theirs, band tags come from the full hashes, and the Jaccard
//! estimate is exact on short texts and close on long ones.

use super::*;

/// Up to `FP_LEN` fingerprints from few distinct values (so pairs overlap often), spread
/// so that some share a bit of [`FpSet`]; repeats allowed, as aliases make them.
fn some_fps() -> impl proptest::strategy::Strategy<Value = Vec<u16>> {
    use proptest::strategy::Strategy;
    proptest::collection::vec((0u16..48).prop_map(|x| x * 701), 0..=FP_LEN)
}

proptest::proptest! {
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
        let want: Vec<u64> = (0..BANDS)
            .map(|b| {
                let (a, s) = (PERM_A[b], PERM_S[b]);
                let mut v: Vec<u32> = set
                    .iter()
                    .map(|&f| (splitmix(f as u64) as u32 ^ s).wrapping_mul(a) >> IDX_BITS)
                    .collect();
                v.sort_unstable();
                v.resize(ROWS.max(v.len()), u32::MAX >> IDX_BITS);
                v[..ROWS].iter().fold(splitmix(b as u64 + 1), |k, &x| splitmix(k ^ x as u64))
            })
            .collect();
        proptest::prop_assert_eq!(bands_of(&fps).to_vec(), want);
    }

    /// The sketch is the one its definition gives: words and pairs as one sorted set, its
    /// `FP_LEN` smallest fingerprinted, content words without the stopwords. Texts with
    /// repeated words and pairs, stopwords, more shingles than `FP_LEN` and none.
    #[test]
    fn sketch_is_its_definition(
        t in "((the|to|and|app|down|login|card|é|Ça|[a-z]{1,7}|11.0|@x|#y|https://t.co/z|😡)[ ,.!\t]){0,40}"
    ) {
        proptest::prop_assert_eq!(Sketch::of(&t), reference_sketch(&t));
    }

    /// The bucketed sort sorts, below and above the size where it hands over.
    #[test]
    fn hashes_sort(v in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..130), top in 0u64..4) {
        // Some runs crowd one bucket: hashes that share their top bits.
        let mut v: Vec<u64> = v.into_iter().map(|h| if top == 0 { h >> 8 } else { h }).collect();
        let mut want = v.clone();
        want.sort_unstable();
        sort_hashes(&mut v);
        proptest::prop_assert_eq!(v, want);
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

/// The sketch as first written (one sorted set of words and pairs): the definition
/// [`Sketch::of`] must keep.
fn reference_sketch(text: &str) -> Sketch {
    let mut seq = 0xa076_1d64_78bd_642fu64;
    // Words and word pairs: pairs make the similarity see word order, so "tried that list
    // already" and "already tried all that" are not near-duplicates. Word hashes are odd,
    // pair hashes even, so one sorted set holds both.
    let mut shingles: Vec<u64> = Vec::with_capacity(64);
    let mut prev = 0u64;
    for_each_token_hash(text, |h| {
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
    let bands = tagged_bands(fps.as_slice(), &shingles);
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
fn band_tags_come_from_the_full_hashes() {
    let s = Sketch::of("the delivery van never came and nobody answers the phone all day");
    let fps = s.fps.as_slice();
    let high = |keys: [u64; BANDS]| keys.map(|k| k >> 32);
    // A bigger index places an entry from its fingerprints alone.
    assert_eq!(high(s.bands), high(bands_of(fps)));
    // Other shingles behind the same 16-bit fingerprints (aliases): same buckets, other
    // tags, so an unrelated text that only shares fingerprints is not a candidate.
    let aliases: Vec<u64> = (0..fps.len())
        .map(|i| (fps[i] as u64) << 48 | 0xABCD_0000 | i as u64)
        .collect();
    let other = tagged_bands(fps, &aliases);
    assert_eq!(high(other), high(s.bands));
    for (a, b) in other.iter().zip(&s.bands) {
        assert_ne!(*a as u32, *b as u32);
    }
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
