//! Upkeep of a shard: growing its tables, rebuilding its indexes from the entries, and letting
//! entries go (expiry by event time, eviction at the cap). None of it decides a status; it keeps
//! the tables [`Shard`]'s lookups read consistent with the entries.

use std::collections::VecDeque;

use super::{text_keys, Shard, BANDED, DUPLICATE, RUN, TEXT_KEYED};
use crate::clock::Millis;
use crate::prefetch::advise_huge_pages;
use crate::stages::dedup::index::{BandTable, IdTable};
use crate::stages::dedup::sketch::{bands_of, with_tag, BANDS};

/// Files `(key, seq)` pairs into an index being rebuilt, `run` at a time: a run's slots are
/// requested from memory together before its inserts, so in a big table the misses overlap
/// instead of queueing one after another.
fn insert_in_runs<T>(
    table: &mut T,
    pairs: impl Iterator<Item = (u64, u64)>,
    run: usize,
    prefetch: impl Fn(&T, u64),
    mut insert: impl FnMut(&mut T, u64, u64),
) {
    let mut batch: Vec<(u64, u64)> = Vec::with_capacity(run);
    let mut pairs = pairs.peekable();
    while pairs.peek().is_some() {
        batch.clear();
        batch.extend(pairs.by_ref().take(run));
        for &(key, _) in &batch {
            prefetch(table, key);
        }
        for &(key, seq) in &batch {
            insert(table, key, seq);
        }
    }
}

impl Shard {
    /// Doubling, exactly up to the cap: doubling past it would waste up to half the memory.
    pub(super) fn next_capacity(&self, cap: usize) -> usize {
        (cap * 2).max(1024).min(self.cfg.max_entries.max(2))
    }

    /// Grows the entry ring and rebuilds the id index for the new capacity. The ring moves to
    /// a fresh allocation advised huge before the entries are copied in (a reallocation in
    /// place would keep the small pages of what was already written).
    pub(super) fn grow(&mut self) {
        let target = self
            .next_capacity(self.entries.capacity())
            .max(self.entries.len() + 1);
        let mut ring = Vec::with_capacity(target);
        advise_huge_pages(ring.spare_capacity_mut());
        ring.extend(self.entries.drain(..));
        // O(1): the vector's buffer becomes the ring's.
        self.entries = VecDeque::from(ring);
        self.rebuild_ids();
    }

    /// Entries the band index takes before it grows: half of what it is sized for while the
    /// shard grows, all of it at the cap. A bucket of a table at full load overflows now and
    /// then and forgets its oldest slot, and a bigger table cannot restore it (its tag comes
    /// from hashes the entry does not keep): a growing index stays at most half full, so
    /// that it seldom forgets. On the real-tweet evaluation, growing at full load lost 0.36
    /// points of recall. It costs no memory beyond the cap's (the table never outgrows the
    /// size it has at the cap).
    pub(super) fn band_room(&self) -> usize {
        if self.band_cap >= self.cfg.max_entries.max(2) {
            self.band_cap
        } else {
            self.band_cap / 2
        }
    }

    /// Grows the band index: buckets from the entries' fingerprints, tags from the old index.
    pub(super) fn rebuild_bands(&mut self) {
        self.band_cap = self.next_capacity(self.band_cap).max(self.indexed + 1);
        let mut bands = BandTable::new(self.band_cap * BANDS, self.cfg.max_entries);
        let (front, len) = (self.front_seq, self.entries.len());
        let (old, entries) = (&self.bands, &self.entries);
        let pairs = self.entries.iter().enumerate().flat_map(|(i, e)| {
            let mut keys = [0u64; BANDS];
            let n = if e.flags & BANDED != 0 {
                keys = bands_of(e.fps());
                BANDS
            } else if e.flags & TEXT_KEYED != 0 {
                keys[..2].copy_from_slice(&text_keys(e.fps(), e.shingles));
                2
            } else {
                0
            };
            let seq = front + i as u64;
            keys.into_iter().take(n).map(move |k| (k, seq))
        });
        insert_in_runs(
            &mut bands,
            pairs,
            RUN * BANDS,
            |t, key| {
                t.prefetch(key);
                old.prefetch(key);
            },
            |t, key, seq| {
                // A band key's tag comes from hashes the entry does not keep: the old slot's.
                let key = if entries[(seq - front) as usize].flags & BANDED != 0 {
                    match old.tag_of(key, seq, front, len) {
                        Some(tag) => with_tag(key, tag),
                        None => return,
                    }
                } else {
                    key
                };
                t.insert(key, seq, front, len)
            },
        );
        self.bands = bands;
    }

    /// A fresh id table for the current capacity, without the slots of departed entries.
    pub(super) fn rebuild_ids(&mut self) {
        let mut ids = IdTable::new(self.entries.capacity());
        let (front, len) = (self.front_seq, self.entries.len());
        let pairs = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (self.arena.key(e.id(), e.platform), front + i as u64));
        insert_in_runs(&mut ids, pairs, RUN, IdTable::prefetch, |t, key, seq| {
            t.insert(key, seq, front, len)
        });
        self.ids = ids;
    }

    pub(super) fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.front_seq += 1;
            self.arena.release(e.id());
            if e.flags & (BANDED | TEXT_KEYED) != 0 {
                self.indexed -= 1;
            }
            if e.flags & DUPLICATE != 0 {
                self.duplicates_held -= 1;
            }
        }
    }

    pub(super) fn expire(&mut self) {
        let horizon = self.watermark.saturating_sub(self.cfg.window_ms);
        let before = self.front_seq;
        while self
            .entries
            .front()
            .is_some_and(|e| (e.time_s as Millis) * 1000 < horizon)
        {
            self.pop_front();
        }
        self.counts.expired += self.front_seq - before;
    }

    /// Event-time housekeeping without input (idle stream): only expiry, never new state.
    pub fn expire_until(&mut self, watermark: Millis) {
        if watermark > self.watermark && !self.entries.is_empty() {
            self.watermark = watermark;
            self.expire();
        }
    }
}
