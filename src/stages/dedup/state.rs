//! One dedup shard: the remembered mentions of one key (a brand), bounded in time and size.
//!
//! Contract: [`Shard::observe`] is called once per mention in stream order and decides its
//! dedup status from the mentions observed before it (never after). Memory is bounded:
//! an entry leaves when its event time falls `window_ms` behind the newest event time seen,
//! or when `max_entries` is reached (oldest first).
//!
//! Layout (why 10 million mentions fit in 1 GiB): an entry is 68 bytes (24 fingerprints, the
//! id as a number or an offset into the id arena, seconds, one link, counts and flags); the
//! id index adds 1.5 slots of 4 bytes and the band index 8 slots of 4 bytes per entry of
//! capacity ([`super::index`]). Indexes hold sequence numbers only and are rebuilt from the
//! entries when the capacity grows.
//!
//! This file decides statuses; [`upkeep`] grows, rebuilds and expires the tables, and the
//! tests (hand-made cases and properties) are in `state/tests.rs`.

use std::collections::VecDeque;

use super::index::{BandTable, IdArena, IdRepr, IdTable};
use super::sketch::{jaccard_at_least, text_key, FpSet, Sketch, BANDS, FP_LEN};
use super::text::strip_repost;
use crate::clock::Millis;
use crate::mention::{DedupInfo, DedupStatus, Platform};
use crate::prefetch::prefetch;

mod upkeep;

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
    /// Remembered texts compared with a new one (the band index's candidates).
    pub candidates: u64,
}

/// Entries whose index slots a rebuild requests from memory together.
const RUN: usize = 16;

/// An original named by reposts before it arrived.
const PLACEHOLDER: u8 = 1;
/// Counted as a duplicate in the shard's duplicate ratio.
const DUPLICATE: u8 = 2;
/// `link` is the distance back to the cluster's root (else it is the cluster's size).
const LINKED: u8 = 4;
/// Filed in the band index under its band keys ([`Sketch::bands`]).
const BANDED: u8 = 8;
/// Filed in the band index under [`text_key`] (a text too short for the near tier).
const TEXT_KEYED: u8 = 16;

#[repr(C)]
struct Entry {
    fps: [u16; FP_LEN],
    /// The id: see [`IdArena`]. Two halves keep the entry 4-byte aligned (68 bytes, not 72).
    id: [u32; 2],
    /// Event time, whole seconds since the Unix epoch.
    time_s: u32,
    /// Cluster size on a root; distance back to the root on a `LINKED` duplicate.
    link: u32,
    fps_len: u8,
    /// Distinct shingles, saturated at 255 (only "more than `FP_LEN`" matters).
    shingles: u8,
    flags: u8,
    platform: u8,
}

impl Entry {
    fn id(&self) -> u64 {
        (self.id[0] as u64) << 32 | self.id[1] as u64
    }

    fn fps(&self) -> &[u16] {
        &self.fps[..self.fps_len as usize]
    }
}

/// A short text has one key where a longer one has eight: it is filed twice (in two buckets),
/// so that one crowded bucket does not make the shard forget it.
fn text_keys(fps: &[u16], shingles: u8) -> [u64; 2] {
    let k = text_key(fps, shingles);
    [k, k.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15]
}

/// An entry's shingle count, saturated at 255 (only "more than `FP_LEN`" matters).
fn stored_shingles(sk: &Sketch) -> u8 {
    sk.shingles.min(255) as u8
}

fn seconds(ms: Millis) -> u32 {
    ms.div_euclid(1000).clamp(0, u32::MAX as Millis) as u32
}

pub struct Shard {
    cfg: ShardSettings,
    entries: VecDeque<Entry>,
    /// Sequence number of `entries[0]`.
    front_seq: u64,
    /// Newest event time observed.
    watermark: Millis,
    arena: IdArena,
    ids: IdTable,
    bands: BandTable,
    /// Entries the band table is sized for (8 slots each), and the live entries filed in it:
    /// reposts named by id are never filed, so they never make the table grow.
    band_cap: usize,
    indexed: usize,
    duplicates_held: usize,
    pub counts: ShardCounts,
}

enum Repost<'a> {
    No,
    ById(&'a str),
    ByText,
}

/// The text dedup compares (a repost's own text without its `RT @x:` prefix), and what kind
/// of repost the mention is.
fn body_of<'a>(m: &DedupInput<'a>) -> (&'a str, Repost<'a>) {
    match m.repost_of {
        Some(r) => (strip_repost(m.text).unwrap_or(m.text), Repost::ById(r)),
        None => match strip_repost(m.text) {
            Some(b) => (b, Repost::ByText),
            None => (m.text, Repost::No),
        },
    }
}

impl Shard {
    pub fn new(cfg: ShardSettings) -> Self {
        Shard {
            cfg,
            entries: VecDeque::new(),
            front_seq: 0,
            watermark: Millis::MIN,
            arena: IdArena::default(),
            ids: IdTable::new(0),
            bands: BandTable::new(0, cfg.max_entries),
            band_cap: 0,
            indexed: 0,
            duplicates_held: 0,
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

    /// Heap bytes held: entries and index tables by capacity, plus the bytes of non-numeric
    /// ids. `benches/dedup.rs` checks it against a counting allocator.
    pub fn state_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.ids.bytes()
            + self.bands.bytes()
            + self.arena.bytes()
    }

    fn get(&self, seq: u64) -> Option<&Entry> {
        seq.checked_sub(self.front_seq)
            .and_then(|i| self.entries.get(i as usize))
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        seq.checked_sub(self.front_seq)
            .and_then(|i| self.entries.get_mut(i as usize))
    }

    fn find_id(&self, platform: u8, id: IdRepr<'_>) -> Option<u64> {
        let (front, len) = (self.front_seq, self.entries.len());
        self.ids.find(id.key(platform), front, len, |s| {
            let e = &self.entries[(s - front) as usize];
            e.platform == platform && self.arena.matches(e.id(), id)
        })
    }

    /// The live root of `seq`'s cluster; an entry whose root expired is its own root.
    fn root_of(&self, seq: u64) -> u64 {
        match self.get(seq) {
            Some(e) if e.flags & LINKED != 0 => {
                let root = seq - e.link as u64;
                if root >= self.front_seq {
                    root
                } else {
                    seq
                }
            }
            _ => seq,
        }
    }

    fn next_seq(&self) -> u64 {
        self.front_seq + self.entries.len() as u64
    }

    /// Decides the status of one mention and remembers it.
    pub fn observe(&mut self, m: DedupInput<'_>) -> DedupInfo {
        self.observe_sketched(m, None)
    }

    /// [`Self::observe`] for a run of mentions, in order, with the same results. A software
    /// pipeline two mentions deep, which matters once the shard is far bigger than the CPU
    /// caches: while mention `i` is decided, mention `i + 2` is sketched and its id slot and
    /// band buckets requested, and the candidate entries those buckets (requested one step
    /// earlier) name for mention `i + 1` are requested too. Each level of misses thus has a
    /// whole mention's work to arrive in. Everything ahead is a hint: decisions read the
    /// tables as they are when their turn comes.
    pub fn observe_all(&mut self, inputs: &[DedupInput<'_>]) -> Vec<DedupInfo> {
        const DEPTH: usize = 2;
        let mut out = Vec::with_capacity(inputs.len());
        let mut ahead: VecDeque<Option<Sketch>> = inputs
            .iter()
            .take(DEPTH)
            .map(|m| self.look_ahead(m))
            .collect();
        for (i, &m) in inputs.iter().enumerate() {
            if let Some(n) = inputs.get(i + DEPTH) {
                ahead.push_back(self.look_ahead(n));
            }
            if let Some(Some(next)) = ahead.get(1) {
                self.request_candidates(next);
            }
            let sk = ahead.pop_front().flatten();
            out.push(self.observe_sketched(m, sk));
        }
        out
    }

    /// Requests the entries the band buckets of `sk` name as candidates (a hint).
    fn request_candidates(&self, sk: &Sketch) {
        if sk.tokens == 0 || sk.content < self.cfg.near_min_tokens.max(1) {
            return;
        }
        let (front, len) = (self.front_seq, self.entries.len());
        for &key in &sk.bands {
            self.bands.candidates(key, front, len, |s| {
                prefetch(&self.entries[(s - front) as usize])
            });
        }
    }

    /// Requests `m`'s id slot and, for a text that will need it, its band buckets; returns
    /// the sketch so it is not computed twice. Reposts naming their original by id skip the
    /// sketch: most of them never need it.
    fn look_ahead(&self, m: &DedupInput<'_>) -> Option<Sketch> {
        self.ids.prefetch(IdRepr::of(m.id).key(m.platform as u8));
        if m.repost_of.is_some() {
            return None;
        }
        let sk = Sketch::of(body_of(m).0);
        for &key in &sk.bands {
            self.bands.prefetch(key);
        }
        Some(sk)
    }

    fn observe_sketched(&mut self, m: DedupInput<'_>, sketch: Option<Sketch>) -> DedupInfo {
        if m.created_at_ms < self.watermark.saturating_sub(self.cfg.window_ms) {
            self.counts.late += 1;
            return DedupInfo {
                status: DedupStatus::Unique,
                of: m.id.to_owned(),
                cluster_size: 1,
                terms: Vec::new(),
            };
        }
        self.watermark = self.watermark.max(m.created_at_ms);
        self.expire();
        // Room for this mention and a placeholder for its original.
        while self.entries.len() + 2 > self.cfg.max_entries.max(2) {
            self.pop_front();
            self.counts.evicted += 1;
        }

        let platform = m.platform as u8;
        let id = IdRepr::of(m.id);
        if let Some(seq) = self.find_id(platform, id) {
            let root = self.root_of(seq);
            let e = self.get_mut(seq).expect("live entry");
            if e.flags & PLACEHOLDER != 0 {
                // The original arrives after reposts that named it.
                e.flags &= !PLACEHOLDER;
                e.time_s = e.time_s.max(seconds(m.created_at_ms));
                return DedupInfo {
                    status: DedupStatus::Unique,
                    of: m.id.to_owned(),
                    cluster_size: self.cluster_size(seq),
                    terms: Vec::new(),
                };
            }
            return self.info(DedupStatus::Exact, root);
        }

        // Fast path: a repost naming an original we remember needs no text work at all.
        if let Some(orig) = m.repost_of {
            if let Some(s) = self.find_id(platform, IdRepr::of(orig)) {
                let root = self.root_of(s);
                return self.record(
                    m,
                    id,
                    DedupStatus::Repost,
                    Some(root),
                    &Sketch::empty(),
                    false,
                );
            }
        }
        let (body, repost) = body_of(&m);
        let sk = sketch.unwrap_or_else(|| Sketch::of(body));
        let found = self.find_text(&sk);
        // A text already filed needs no second filing: its copies are found through it.
        let mut index_this = !found.is_some_and(|(_, same)| same);
        let found = found.map(|(s, _)| s);
        let (status, root) = match repost {
            Repost::ById(orig) => {
                let root = match found {
                    Some(s) => self.root_of(s),
                    None => {
                        // Remember the unseen original under its id so later reposts (and the
                        // original itself, if it arrives late) join this cluster.
                        let s = self.push(IdRepr::of(orig), platform, m.created_at_ms, None, &sk);
                        self.flag(s, PLACEHOLDER);
                        self.index(s, &sk);
                        index_this = false;
                        s
                    }
                };
                (DedupStatus::Repost, Some(root))
            }
            Repost::ByText => (DedupStatus::Repost, found.map(|s| self.root_of(s))),
            Repost::No => match found {
                Some(s) => (DedupStatus::Near, Some(self.root_of(s))),
                None => (DedupStatus::Unique, None),
            },
        };
        let mut info = self.record(m, id, status, root, &sk, index_this);
        info.terms = sk.content_hashes;
        info
    }

    fn flag(&mut self, seq: u64, flag: u8) {
        if let Some(e) = self.get_mut(seq) {
            e.flags |= flag;
        }
    }

    fn cluster_size(&self, root: u64) -> u32 {
        match self.get(root) {
            Some(e) if e.flags & LINKED == 0 => e.link,
            _ => 1,
        }
    }

    fn info(&self, status: DedupStatus, root: u64) -> DedupInfo {
        let e = self.get(root).expect("live root");
        DedupInfo {
            status,
            of: self.arena.to_string(e.id()),
            cluster_size: self.cluster_size(root),
            terms: Vec::new(),
        }
    }

    /// Remembers a new post, grows its cluster and says what it is.
    fn record(
        &mut self,
        m: DedupInput<'_>,
        id: IdRepr<'_>,
        status: DedupStatus,
        root: Option<u64>,
        sk: &Sketch,
        index_this: bool,
    ) -> DedupInfo {
        if let Some(r) = root {
            if let Some(e) = self.get_mut(r) {
                if e.flags & LINKED != 0 {
                    // Its own root expired: it starts a cluster of its own.
                    e.flags &= !LINKED;
                    e.link = 1;
                }
                e.link = e.link.saturating_add(1);
            }
        }
        let seq = self.push(id, m.platform as u8, m.created_at_ms, root, sk);
        if index_this {
            self.index(seq, sk);
        }
        self.info(status, root.unwrap_or(seq))
    }

    /// An entry with the same text (`true`), else the best near-duplicate at or above the
    /// threshold (`false`).
    fn find_text(&mut self, sk: &Sketch) -> Option<(u64, bool)> {
        if sk.tokens == 0 {
            return None;
        }
        let (front, len) = (self.front_seq, self.entries.len());
        let fps = sk.fps.as_slice();
        let shingles = stored_shingles(sk);
        let same =
            |e: &Entry| e.shingles == shingles && e.fps_len == sk.fps.len && e.fps == sk.fps.v;
        if sk.content < self.cfg.near_min_tokens.max(1) {
            let (mut found, mut n) = (None, 0);
            for key in text_keys(fps, shingles) {
                self.bands.candidates(key, front, len, |s| {
                    n += 1;
                    let e = &self.entries[(s - front) as usize];
                    if e.flags & TEXT_KEYED != 0 && same(e) && found.is_none_or(|f| s < f) {
                        found = Some(s);
                    }
                });
            }
            self.counts.candidates += n;
            return found.map(|s| (s, true));
        }
        // With a large window every bucket and every candidate entry is a miss to main
        // memory, and unrelated texts share a band key now and then (a common word and a
        // fingerprint alias): all buckets are requested at once, then all candidates, so the
        // misses overlap instead of queueing.
        for &key in &sk.bands {
            self.bands.prefetch(key);
        }
        let mut cands = [0u64; BANDS * super::index::WAYS];
        let mut n = 0;
        for key in sk.bands {
            self.bands.candidates(key, front, len, |s| {
                if !cands[..n].contains(&s) {
                    cands[n] = s;
                    n += 1;
                }
            });
        }
        for &s in &cands[..n] {
            prefetch(&self.entries[(s - front) as usize]);
        }
        let mut best: Option<(f64, bool, u64)> = None;
        let filter = FpSet::new(fps, sk.shingles);
        for &s in &cands[..n] {
            let e = &self.entries[(s - front) as usize];
            if e.flags & BANDED == 0
                || !filter.could_reach(e.fps(), e.shingles as u32, self.cfg.near_threshold)
            {
                continue;
            }
            let Some(j) = jaccard_at_least(
                e.fps(),
                e.shingles as u32,
                fps,
                sk.shingles,
                self.cfg.near_threshold,
            ) else {
                continue;
            };
            let is_same = j >= 1.0 && same(e);
            if best.is_none_or(|(bj, bsame, bs)| {
                (j, is_same) > (bj, bsame) || ((j, is_same) == (bj, bsame) && s < bs)
            }) {
                best = Some((j, is_same, s));
            }
        }
        self.counts.candidates += n as u64;
        best.map(|(_, same, s)| (s, same))
    }

    fn index(&mut self, seq: u64, sk: &Sketch) {
        if sk.tokens == 0 {
            return;
        }
        if self.indexed >= self.band_room() {
            self.rebuild_bands();
        }
        self.indexed += 1;
        let (front, len) = (self.front_seq, self.entries.len());
        if sk.content >= self.cfg.near_min_tokens.max(1) {
            for key in sk.bands {
                self.bands.insert(key, seq, front, len);
            }
            self.flag(seq, BANDED);
        } else {
            for key in text_keys(sk.fps.as_slice(), stored_shingles(sk)) {
                self.bands.insert(key, seq, front, len);
            }
            self.flag(seq, TEXT_KEYED);
        }
    }

    fn push(
        &mut self,
        id: IdRepr<'_>,
        platform: u8,
        time_ms: Millis,
        root: Option<u64>,
        sk: &Sketch,
    ) -> u64 {
        if self.entries.len() == self.entries.capacity() {
            self.grow();
        } else if self.ids.needs_rebuild() {
            self.rebuild_ids();
        }
        let seq = self.next_seq();
        let word = self.arena.store(id);
        let (flags, link) = match root {
            Some(r) => {
                self.duplicates_held += 1;
                (DUPLICATE | LINKED, (seq - r).min(u32::MAX as u64) as u32)
            }
            None => (0, 1),
        };
        self.entries.push_back(Entry {
            fps: sk.fps.v,
            id: [(word >> 32) as u32, word as u32],
            time_s: seconds(time_ms),
            link,
            fps_len: sk.fps.len,
            shingles: stored_shingles(sk),
            flags,
            platform,
        });
        let key = id.key(platform);
        self.ids
            .insert(key, seq, self.front_seq, self.entries.len());
        seq
    }
}

#[cfg(test)]
mod tests;
