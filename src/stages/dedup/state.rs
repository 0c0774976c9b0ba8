//! One dedup shard: the remembered mentions of one key (a brand), bounded in time and size.
//!
//! Contract: [`Shard::observe`] is called once per mention in stream order and decides its
//! dedup status from the mentions observed before it (never after). Memory is bounded:
//! an entry leaves when its event time falls `window_ms` behind the newest event time seen,
//! or when `max_entries` is reached (oldest first). Index maps do not store their entry's
//! keys (that would double the memory); stale index slots are recognised by their sequence
//! number and swept when a map grows past twice the live entries.

use compact_str::CompactString;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::text::{hash_bytes, jaccard, strip_repost, Fps, Sketch, BANDS};
use crate::clock::Millis;
use crate::mention::{DedupInfo, DedupStatus, Platform};

/// Settings of one shard.
#[derive(Debug, Clone, Copy)]
pub struct ShardSettings {
    pub window_ms: Millis,
    pub max_entries: usize,
    /// Minimum Jaccard similarity of the normalised word sets for a near-duplicate.
    pub near_threshold: f64,
    /// Texts with fewer distinct content words (not function words like "the", "you") only
    /// match when identical after normalisation.
    pub near_min_tokens: u32,
}

/// The fields of a mention dedup reads.
#[derive(Debug, Clone, Copy)]
pub struct DedupInput<'a> {
    pub id: &'a str,
    pub platform: Platform,
    pub created_at_ms: Millis,
    pub text: &'a str,
    pub repost_of: Option<&'a str>,
}

/// Counters a shard accumulates between two metric flushes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardCounts {
    pub expired: u64,
    pub evicted: u64,
    pub late: u64,
}

const PLACEHOLDER: u8 = 1;
const DUPLICATE: u8 = 2;

struct Entry {
    time_ms: Millis,
    id: CompactString,
    /// Sequence number of the cluster's root (itself when it is the root).
    root: u64,
    /// Posts in the cluster (meaningful on the root).
    cluster: u32,
    shingles: u16,
    flags: u8,
    fps: Fps,
    /// Per band: how many sequence numbers back the previous entry with the same band key is
    /// (0: none). Buckets are chains, newest first, so a popular band key does not forget.
    prev: [u32; BANDS],
}

/// Entries examined per band chain: bounds the cost of popular band keys.
const CHAIN_WALK: usize = 8;

/// Keys are already uniformly distributed 64-bit hashes: hashing them again is wasted work.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
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

type Index = HashMap<u64, u64, BuildHasherDefault<PassThrough>>;

pub struct Shard {
    cfg: ShardSettings,
    entries: VecDeque<Entry>,
    /// Sequence number of `entries[0]`.
    front_seq: u64,
    /// Newest event time observed.
    watermark: Millis,
    /// (platform, id) → entry.
    ids: Index,
    /// Normalised text → entry of its first occurrence.
    texts: Index,
    /// MinHash band key → newest entry with that band.
    bands: Index,
    duplicates_held: usize,
    heap_bytes: usize,
    pub counts: ShardCounts,
}

enum Repost<'a> {
    No,
    ById(&'a str),
    ByText,
}

impl Shard {
    pub fn new(cfg: ShardSettings) -> Self {
        Shard {
            cfg,
            entries: VecDeque::new(),
            front_seq: 0,
            watermark: Millis::MIN,
            ids: Index::default(),
            texts: Index::default(),
            bands: Index::default(),
            duplicates_held: 0,
            heap_bytes: 0,
            counts: ShardCounts::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Share of remembered mentions that are duplicates (repost or near) of another.
    pub fn duplicate_ratio(&self) -> f64 {
        self.duplicates_held as f64 / self.entries.len().max(1) as f64
    }

    /// Estimated heap bytes held: entry storage plus index tables (by capacity) plus ids too
    /// long to be stored inline. `benches/dedup.rs` checks it against a counting allocator.
    pub fn state_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, u64)>() + 1;
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + (self.ids.capacity() + self.texts.capacity() + self.bands.capacity()) * slot
            + self.heap_bytes
    }

    fn get(&self, seq: u64) -> Option<&Entry> {
        seq.checked_sub(self.front_seq)
            .and_then(|i| self.entries.get(i as usize))
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        seq.checked_sub(self.front_seq)
            .and_then(|i| self.entries.get_mut(i as usize))
    }

    fn lookup(&self, index: &Index, key: u64) -> Option<u64> {
        index.get(&key).copied().filter(|&s| s >= self.front_seq)
    }

    /// The live root of `seq`'s cluster; an entry whose root expired is its own root.
    fn root_of(&self, seq: u64) -> u64 {
        match self.get(seq) {
            Some(e) if self.get(e.root).is_some() => e.root,
            _ => seq,
        }
    }

    fn next_seq(&self) -> u64 {
        self.front_seq + self.entries.len() as u64
    }

    fn id_key(platform: Platform, id: &str) -> u64 {
        hash_bytes(platform as u64 + 1, id.as_bytes())
    }

    /// Decides the status of one mention and remembers it.
    pub fn observe(&mut self, m: DedupInput<'_>) -> DedupInfo {
        let unique = |id: &str| DedupInfo {
            status: DedupStatus::Unique,
            of: id.to_owned(),
            cluster_size: 1,
            terms: Vec::new(),
        };
        if m.created_at_ms < self.watermark.saturating_sub(self.cfg.window_ms) {
            self.counts.late += 1;
            return unique(m.id);
        }
        self.watermark = self.watermark.max(m.created_at_ms);
        self.expire();
        // Room for this mention and a placeholder for its original.
        while self.entries.len() + 2 > self.cfg.max_entries.max(2) {
            self.pop_front();
            self.counts.evicted += 1;
        }

        let id_key = Self::id_key(m.platform, m.id);
        if let Some(seq) = self.lookup(&self.ids, id_key) {
            let root = self.root_of(seq);
            let e = self.get_mut(seq).expect("live entry");
            if e.flags & PLACEHOLDER != 0 {
                // The original arrives after reposts that named it.
                e.flags &= !PLACEHOLDER;
                e.time_ms = e.time_ms.max(m.created_at_ms);
                let cluster = e.cluster;
                return DedupInfo {
                    status: DedupStatus::Unique,
                    of: m.id.to_owned(),
                    cluster_size: cluster,
                    terms: Vec::new(),
                };
            }
            let r = self.get(root).expect("live root");
            return DedupInfo {
                status: DedupStatus::Exact,
                of: r.id.to_string(),
                cluster_size: r.cluster,
                terms: Vec::new(),
            };
        }

        // Fast path: a repost naming an original we remember needs no text work at all.
        if let Some(orig) = m.repost_of {
            if let Some(s) = self.lookup(&self.ids, Self::id_key(m.platform, orig)) {
                let root = self.root_of(s);
                return self.record(
                    m,
                    id_key,
                    DedupStatus::Repost,
                    Some(root),
                    &Sketch::empty(),
                    false,
                );
            }
        }
        let (body, repost) = match m.repost_of {
            Some(r) => (strip_repost(m.text).unwrap_or(m.text), Repost::ById(r)),
            None => match strip_repost(m.text) {
                Some(b) => (b, Repost::ByText),
                None => (m.text, Repost::No),
            },
        };
        let sk = Sketch::of(body);
        let same_text = if sk.tokens > 0 {
            self.lookup(&self.texts, sk.norm_hash)
        } else {
            None
        };
        let mut index_this = same_text.is_none();
        let (status, root) = match repost {
            Repost::ById(orig) => {
                let orig_key = Self::id_key(m.platform, orig);
                let known = same_text.or_else(|| self.near(&sk));
                let root = match known {
                    Some(s) => self.root_of(s),
                    None => {
                        // Remember the unseen original under its id so later reposts (and the
                        // original itself, if it arrives late) join this cluster.
                        let s = self.push(orig, m.created_at_ms, None, &sk, PLACEHOLDER);
                        self.ids.insert(orig_key, s);
                        self.index(s, &sk);
                        index_this = false;
                        s
                    }
                };
                (DedupStatus::Repost, Some(root))
            }
            Repost::ByText => {
                let found = same_text.or_else(|| self.near(&sk));
                (DedupStatus::Repost, found.map(|s| self.root_of(s)))
            }
            Repost::No => match same_text.or_else(|| self.near(&sk)) {
                Some(s) => (DedupStatus::Near, Some(self.root_of(s))),
                None => (DedupStatus::Unique, None),
            },
        };
        let mut info = self.record(m, id_key, status, root, &sk, index_this);
        info.terms = sk.content_hashes;
        info
    }

    /// Remembers a new post, grows its cluster and says what it is.
    fn record(
        &mut self,
        m: DedupInput<'_>,
        id_key: u64,
        status: DedupStatus,
        root: Option<u64>,
        sk: &Sketch,
        index_this: bool,
    ) -> DedupInfo {
        let flags = if root.is_some() { DUPLICATE } else { 0 };
        if let Some(r) = root {
            if let Some(e) = self.get_mut(r) {
                e.cluster = e.cluster.saturating_add(1);
            }
        }
        let seq = self.push(m.id, m.created_at_ms, root, sk, flags);
        self.ids.insert(id_key, seq);
        if index_this {
            self.index(seq, sk);
        }
        let r = self.get(root.unwrap_or(seq)).expect("live root");
        DedupInfo {
            status,
            of: r.id.to_string(),
            cluster_size: r.cluster,
            terms: Vec::new(),
        }
    }

    /// The best near-duplicate candidate at or above the threshold.
    fn near(&self, sk: &Sketch) -> Option<u64> {
        if sk.content < self.cfg.near_min_tokens.max(1) {
            return None;
        }
        let mut best: Option<(f64, u64)> = None;
        let mut seen = [u64::MAX; BANDS * CHAIN_WALK];
        let mut n_seen = 0;
        for (b, key) in sk.bands.iter().enumerate() {
            let mut next = self.lookup(&self.bands, *key);
            for _ in 0..CHAIN_WALK {
                let Some(s) = next else { break };
                let Some(e) = self.get(s) else { break };
                next = match e.prev[b] {
                    0 => None,
                    d => s.checked_sub(d as u64),
                };
                if seen[..n_seen].contains(&s) {
                    continue;
                }
                seen[n_seen] = s;
                n_seen += 1;
                let j = jaccard(&e.fps, e.shingles as u32, &sk.fps, sk.shingles);
                if j >= self.cfg.near_threshold && best.is_none_or(|(bj, _)| j > bj) {
                    best = Some((j, s));
                }
            }
        }
        best.map(|(_, s)| s)
    }

    fn index(&mut self, seq: u64, sk: &Sketch) {
        if sk.tokens == 0 {
            return;
        }
        self.texts.insert(sk.norm_hash, seq);
        if sk.content >= self.cfg.near_min_tokens.max(1) {
            let front = self.front_seq;
            let mut prev = [0u32; BANDS];
            for (p, key) in prev.iter_mut().zip(sk.bands) {
                if let Some(old) = self
                    .bands
                    .insert(key, seq)
                    .filter(|&o| o >= front && o < seq)
                {
                    *p = (seq - old).min(u32::MAX as u64) as u32;
                }
            }
            if let Some(e) = self.get_mut(seq) {
                e.prev = prev;
            }
        }
    }

    fn push(
        &mut self,
        id: &str,
        time_ms: Millis,
        root: Option<u64>,
        sk: &Sketch,
        flags: u8,
    ) -> u64 {
        let seq = self.next_seq();
        let id = CompactString::new(id);
        if id.is_heap_allocated() {
            self.heap_bytes += id.capacity();
        }
        if flags & DUPLICATE != 0 {
            self.duplicates_held += 1;
        }
        if self.entries.len() == self.entries.capacity() {
            // Grow exactly up to the cap: doubling past it would waste up to half the memory.
            let target = (self.entries.capacity() * 2)
                .max(1024)
                .min(self.cfg.max_entries.max(2));
            self.entries
                .reserve_exact(target.saturating_sub(self.entries.len()).max(1));
        }
        self.entries.push_back(Entry {
            time_ms,
            id,
            root: root.unwrap_or(seq),
            cluster: 1,
            shingles: sk.shingles.min(u16::MAX as u32) as u16,
            flags,
            fps: sk.fps,
            prev: [0; BANDS],
        });
        seq
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.front_seq += 1;
            if e.id.is_heap_allocated() {
                self.heap_bytes -= e.id.capacity();
            }
            if e.flags & DUPLICATE != 0 {
                self.duplicates_held -= 1;
            }
        }
    }

    fn expire(&mut self) {
        let horizon = self.watermark.saturating_sub(self.cfg.window_ms);
        let before = self.front_seq;
        while self.entries.front().is_some_and(|e| e.time_ms < horizon) {
            self.pop_front();
        }
        self.counts.expired += self.front_seq - before;
        self.sweep();
    }

    /// Drops index slots that point at evicted entries once they outnumber the live ones.
    fn sweep(&mut self) {
        let live = self.entries.len();
        let front = self.front_seq;
        for (map, per_entry) in [
            (&mut self.ids, 1),
            (&mut self.texts, 1),
            (&mut self.bands, super::text::BANDS),
        ] {
            if map.len() > 2 * live * per_entry + 1024 {
                map.retain(|_, s| *s >= front);
                map.shrink_to_fit();
            }
        }
    }

    /// Event-time housekeeping without input (idle stream): only expiry, never new state.
    pub fn expire_until(&mut self, watermark: Millis) {
        if watermark > self.watermark && !self.entries.is_empty() {
            self.watermark = watermark;
            self.expire();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ShardSettings {
        ShardSettings {
            window_ms: 60_000,
            max_entries: 1000,
            near_threshold: 0.6,
            near_min_tokens: 4,
        }
    }

    pub(super) fn input<'a>(id: &'a str, t: Millis, text: &'a str) -> DedupInput<'a> {
        DedupInput {
            id,
            platform: Platform::Twitter,
            created_at_ms: t,
            text,
            repost_of: None,
        }
    }

    fn status(i: &DedupInfo) -> (&'static str, &str, u32) {
        (i.status.as_str(), i.of.as_str(), i.cluster_size)
    }

    #[test]
    fn tiers() {
        let mut s = Shard::new(settings());
        let t = "my northwind app will not let me log in since this morning";
        assert_eq!(status(&s.observe(input("1", 0, t))), ("unique", "1", 1));
        assert_eq!(status(&s.observe(input("1", 1, t))), ("exact", "1", 1));
        let rt = format!("RT @ana: {t}");
        assert_eq!(status(&s.observe(input("2", 2, &rt))), ("repost", "1", 2));
        let edited =
            "@northwind MY APP will not let me log in since this morning!! 😡 https://t.co/x";
        assert_eq!(status(&s.observe(input("3", 3, edited))), ("near", "1", 3));
        let variant = "my northwind app will not let me sign in since this morning";
        assert_eq!(status(&s.observe(input("4", 4, variant))), ("near", "1", 4));
        let other = "flight 212 was cancelled and nobody at the gate can tell us why";
        assert_eq!(status(&s.observe(input("5", 5, other))), ("unique", "5", 1));
        // Re-delivery of a duplicate names the cluster's root.
        assert_eq!(status(&s.observe(input("3", 6, edited))), ("exact", "1", 4));
    }

    #[test]
    fn repost_of_an_unseen_original_then_the_original() {
        let mut s = Shard::new(settings());
        let mut r = input("10", 0, "RT @ana: the app is down for everyone here");
        r.repost_of = Some("7");
        assert_eq!(status(&s.observe(r)), ("repost", "7", 2));
        let mut r2 = input("11", 1, "the app is down for everyone here");
        r2.repost_of = Some("7");
        assert_eq!(status(&s.observe(r2)), ("repost", "7", 3));
        // The original arrives late: it is the unique root, not a duplicate of itself.
        let o = input("7", 2, "the app is down for everyone here");
        assert_eq!(status(&s.observe(o)), ("unique", "7", 3));
        assert_eq!(status(&s.observe(o)), ("exact", "7", 3));
    }

    #[test]
    fn short_texts_only_match_when_identical() {
        let mut s = Shard::new(settings());
        let cases = [
            ("1", "app down", DedupStatus::Unique),
            ("2", "App DOWN!!", DedupStatus::Near),
            ("3", "app up", DedupStatus::Unique),
            // Texts with no words (emoji, handles) are never merged by text.
            ("4", "😡 @x", DedupStatus::Unique),
            ("5", "😡 @y", DedupStatus::Unique),
        ];
        for (id, text, want) in cases {
            assert_eq!(s.observe(input(id, 0, text)).status, want, "{text}");
        }
    }

    #[test]
    fn window_and_capacity_bound_the_state() {
        let mut s = Shard::new(ShardSettings {
            max_entries: 50,
            ..settings()
        });
        for i in 0..200 {
            let id = i.to_string();
            s.observe(input(
                &id,
                i * 1000,
                &format!("distinct text number {i} words here"),
            ));
            assert!(s.len() <= 50);
        }
        assert!(s.counts.evicted > 0);
        // 60 s window at one mention per second: about 60 remembered, capped at 50.
        let mut s = Shard::new(settings());
        for i in 0..200 {
            let id = i.to_string();
            s.observe(input(
                &id,
                i * 1000,
                &format!("distinct text number {i} words here"),
            ));
        }
        assert!((60..=62).contains(&s.len()), "{}", s.len());
        assert!(s.counts.expired > 100);
        // Late mentions are unique and not remembered.
        let n = s.len();
        assert_eq!(
            s.observe(input("late", 0, "distinct text number 5 words here"))
                .status,
            DedupStatus::Unique
        );
        assert_eq!(s.len(), n);
        assert_eq!(s.counts.late, 1);
        // An idle stream still expires.
        s.expire_until(10_000_000);
        assert_eq!(s.len(), 0);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn settings(max_entries: usize) -> ShardSettings {
        ShardSettings {
            window_ms: 3_600_000,
            max_entries,
            near_threshold: 0.66,
            near_min_tokens: 3,
        }
    }

    fn observe(s: &mut Shard, id: &str, t: Millis, text: &str) -> DedupInfo {
        s.observe(super::tests::input(id, t, text))
    }

    /// Words and adjacent pairs, as the sketch sees them (without fingerprinting).
    fn shingles(text: &str) -> HashSet<String> {
        let mut words = Vec::new();
        super::super::text::for_each_token(text, |w| words.push(w.to_owned()));
        let mut set: HashSet<String> = words.iter().cloned().collect();
        for p in words.windows(2) {
            set.insert(format!("{} {}", p[0], p[1]));
        }
        set
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z]{3,9}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn a_text_is_a_duplicate_of_itself(words in prop::collection::vec(word(), 1..30), noise in 0u8..4) {
            let text = words.join(" ");
            let again = match noise {
                0 => text.clone(),
                1 => text.to_uppercase(),
                2 => format!("@someone {text} https://t.co/x 🙂"),
                _ => format!("{text}!!! #fail"),
            };
            let mut s = Shard::new(settings(1000));
            observe(&mut s, "a", 0, &text);
            let info = observe(&mut s, "b", 1, &again);
            prop_assert_ne!(info.status, DedupStatus::Unique);
            prop_assert_eq!(info.of, "a");
        }

        #[test]
        fn unrelated_texts_are_never_merged(texts in prop::collection::vec(prop::collection::vec(word(), 1..25), 2..40)) {
            // Texts built from disjoint vocabularies: tag every word with its text's index.
            let mut s = Shard::new(settings(1000));
            for (i, words) in texts.iter().enumerate() {
                let text: Vec<String> = words.iter().map(|w| format!("{w}x{i}")).collect();
                let info = observe(&mut s, &i.to_string(), i as Millis, &text.join(" "));
                prop_assert_eq!(info.status, DedupStatus::Unique);
            }
        }

        #[test]
        fn texts_clearly_under_the_threshold_are_never_merged(
            common in prop::collection::vec(word(), 0..12),
            a_only in prop::collection::vec(word(), 1..12),
            b_only in prop::collection::vec(word(), 1..12),
        ) {
            let a = [common.clone(), a_only].concat().join(" ");
            let b = [b_only, common].concat().join(" ");
            let (sa, sb) = (shingles(&a), shingles(&b));
            let j = sa.intersection(&sb).count() as f64 / sa.union(&sb).count().max(1) as f64;
            let mut s = Shard::new(settings(1000));
            observe(&mut s, "a", 0, &a);
            let info = observe(&mut s, "b", 1, &b);
            if sa != sb && j <= 0.65 - 0.15 {
                prop_assert_eq!(info.status, DedupStatus::Unique, "j = {}", j);
            }
        }

        #[test]
        fn state_never_exceeds_the_cap(cap in 2usize..64, steps in prop::collection::vec((0u32..50, 0i64..5_000_000), 1..300)) {
            let mut s = Shard::new(settings(cap));
            let mut t = 0;
            for (i, (text, dt)) in steps.iter().enumerate() {
                t += dt;
                let mut input = DedupInput {
                    id: &i.to_string(),
                    platform: Platform::Twitter,
                    created_at_ms: t,
                    text: &format!("message {text} about the broken app"),
                    repost_of: None,
                };
                let r = format!("orig{}", text % 7);
                if text % 5 == 0 {
                    input.repost_of = Some(&r);
                }
                s.observe(input);
                prop_assert!(s.len() <= cap, "{} > {}", s.len(), cap);
                prop_assert!(s.ids.len() <= 2 * s.len() + 1024 + 2);
            }
        }
    }
}
