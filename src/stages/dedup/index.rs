//! Compact indexes of one dedup shard: where the bytes of the 10-million-entry window go.
//!
//! Contract: every table stores 4-byte sequence numbers and nothing else, so a table slot
//! costs 4 bytes, not the 17+ of a hash map holding 64-bit keys. Keys are never stored:
//! - [`IdTable`] (exact tier) is lossless: a slot is verified against the id its entry keeps,
//!   and the table is rebuilt from the entries when it grows or fills with expired slots.
//! - [`BandTable`] (near tier) is lossy: 4-way buckets with a short tag of the band key beside
//!   the sequence number; a full bucket forgets its oldest member. A slot can only propose a
//!   candidate, which the caller verifies against the entry's fingerprints, so a stale or
//!   aliased slot costs a comparison, never a wrong merge. A band key's bucket is a function
//!   of the stored fingerprints ([`super::sketch::bands_of`]) but its tag is not (it comes
//!   from the full shingle hashes, [`super::sketch::with_tag`]): a bigger table is filled from
//!   the entries with the tags of the old one ([`BandTable::tag_of`]).
//!
//! Sequence numbers wrap; a slot names the live entry whose sequence number matches it
//! modulo the slot's width, found from the shard's live range `[front, front + len)`.

use std::collections::VecDeque;

use crate::prefetch::{huge_table, prefetch};

/// Slots per band bucket: a bucket is one 64-byte cache line, so a lookup costs one read.
/// Wide buckets rarely overflow (a text too short for bands has a single key to lose).
pub const WAYS: usize = 16;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket([u32; WAYS]);

/// Slots of a bucket one key may hold.
const PER_KEY: usize = 8;

// `BandTable::insert` keeps a slot's index in the low 4 bits of its 32-bit rank and the age
// (at most 28 bits, `BandTable::new`'s widest sequence number) above them; the oldest
// possible age is counted as the next-oldest so that age + 1 fits.
const _: () = assert!(WAYS <= 16);
const MAX_AGE: u32 = (1 << 28) - 2;

/// `x * n / 2^32`: maps a 32-bit hash onto `0..n` without a division (Lemire's fast range),
/// so tables can be sized exactly rather than to a power of two.
fn fast_range(x: u32, n: usize) -> usize {
    ((x as u64 * n as u64) >> 32) as usize
}

/// Candidate index of the near-duplicate tier (MinHash band keys → entries).
pub struct BandTable {
    buckets: Vec<Bucket>,
    /// Low bits of a slot that hold the sequence number; the rest hold the key's tag.
    seq_bits: u32,
}

impl BandTable {
    /// A table with `slots` slots (rounded up to whole buckets) for a shard holding at most
    /// `max_entries`: sequence numbers take just enough bits to tell the live entries apart.
    pub fn new(slots: usize, max_entries: usize) -> Self {
        let need = usize::BITS - max_entries.max(2).saturating_sub(1).leading_zeros();
        BandTable {
            buckets: huge_table(slots.div_ceil(WAYS).max(1), Bucket([0; WAYS])),
            seq_bits: need.clamp(16, 28),
        }
    }

    pub fn bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    fn mask(&self) -> u32 {
        (1u32 << self.seq_bits) - 1
    }

    fn place(&self, key: u64) -> (usize, u32) {
        let bucket = fast_range((key >> 32) as u32, self.buckets.len());
        (bucket, (key as u32) & !self.mask())
    }

    /// Offset of a slot's entry from `front` (modulo the sequence width). A slot holds the
    /// sequence number plus one, so that 0 is an empty slot.
    fn offset(&self, slot: u32, front: u64) -> u32 {
        slot.wrapping_sub(1).wrapping_sub(front as u32) & self.mask()
    }

    /// The offset of a slot's entry, if it names a live entry.
    fn live(&self, slot: u32, front: u64, len: usize) -> Option<u64> {
        let off = self.offset(slot, front);
        (slot != 0 && (off as usize) < len).then_some(off as u64)
    }

    /// Starts loading the bucket of `key` into the cache, so that the misses of a lookup or
    /// of a run of inserts overlap instead of queueing one after another.
    pub fn prefetch(&self, key: u64) {
        prefetch(&self.buckets[self.place(key).0]);
    }

    /// Calls `f` with the sequence number of every live entry filed under `key` (and, rarely,
    /// of an unrelated one whose tag collides: callers verify).
    pub fn candidates(&self, key: u64, front: u64, len: usize, mut f: impl FnMut(u64)) {
        let (b, tag) = self.place(key);
        let mask = self.mask();
        let bucket = &self.buckets[b].0;
        let mut hits = 0u32;
        for (i, &slot) in bucket.iter().enumerate() {
            hits |= ((((slot & !mask) == tag) & (slot != 0)) as u32) << i;
        }
        while hits != 0 {
            let i = hits.trailing_zeros() as usize;
            hits &= hits - 1;
            if let Some(off) = self.live(bucket[i], front, len) {
                f(front + off);
            }
        }
    }

    /// The tag of the slot in `key`'s bucket that names the live entry `seq`, if the bucket
    /// still holds one (a full bucket forgets its oldest). When two bands of one entry share a
    /// bucket (28 pairs of bands in 5 million buckets: about one entry in 180,000 at 10
    /// million) both get the first one's tag, and
    /// the other band is lost for that entry, as if its bucket had been full.
    pub fn tag_of(&self, key: u64, seq: u64, front: u64, len: usize) -> Option<u32> {
        let (b, _) = self.place(key);
        let want = seq.checked_sub(front)?;
        self.buckets[b]
            .0
            .iter()
            .find(|&&slot| self.live(slot, front, len) == Some(want))
            .map(|&slot| slot & !self.mask())
    }

    /// Files `seq` under `key`: in an empty or expired slot, else in place of the oldest
    /// member. A key already holding [`PER_KEY`] slots of the bucket replaces its own oldest,
    /// so a popular key (a band of common words) cannot crowd other keys out.
    pub fn insert(&mut self, key: u64, seq: u64, front: u64, len: usize) {
        let (b, tag) = self.place(key);
        let mask = self.mask();
        // One pass without branches (which slot loses is unpredictable): a slot's rank is
        // its age, 0 when free, with its index in the low bits, so the least rank is the first
        // free slot, else the oldest member. Ranks are 32-bit (an age takes at most 28 bits)
        // so that the pass runs four slots per vector instruction, not two.
        let (mut any, mut own_oldest, mut own) = (u32::MAX, u32::MAX, 0u32);
        for (i, &slot) in self.buckets[b].0.iter().enumerate() {
            let off = self.offset(slot, front);
            let live = (slot != 0) & ((off as usize) < len);
            let rank = ((if live { off.min(MAX_AGE) + 1 } else { 0 }) << 4) | i as u32;
            any = any.min(rank);
            let mine = live & ((slot & !mask) == tag);
            own += mine as u32;
            own_oldest = own_oldest.min(if mine { rank } else { u32::MAX });
        }
        let victim = (if own as usize >= PER_KEY {
            own_oldest
        } else {
            any
        } & 15) as usize;
        self.buckets[b].0[victim] = tag | ((seq as u32).wrapping_add(1) & mask);
    }
}

/// How a mention id is kept: a canonical decimal number below 2^63 (every X/Twitter,
/// Instagram or YouTube comment id) inline, anything else as bytes in the shard's id arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRepr<'a> {
    Number(u64),
    Text(&'a str),
}

impl<'a> IdRepr<'a> {
    pub fn of(id: &'a str) -> Self {
        let b = id.as_bytes();
        let canonical = (1..=19).contains(&b.len())
            && b.iter().all(u8::is_ascii_digit)
            && (b.len() == 1 || b[0] != b'0');
        match id.parse::<u64>() {
            Ok(n) if canonical && n < 1 << 63 => IdRepr::Number(n),
            _ => IdRepr::Text(id),
        }
    }

    /// Hash of the id on its platform (platform mixed in: ids are only unique per platform).
    pub fn key(&self, platform: u8) -> u64 {
        match self {
            IdRepr::Number(n) => super::text::hash_bytes(platform as u64 + 1, &n.to_le_bytes()),
            IdRepr::Text(s) => text_id_key(platform, &s.as_bytes()[..s.len().min(MAX_ID_BYTES)]),
        }
    }
}

fn text_id_key(platform: u8, bytes: &[u8]) -> u64 {
    super::text::hash_bytes(!(platform as u64), bytes)
}

/// The bytes of non-numeric ids, oldest first, freed as their entries leave.
#[derive(Default)]
pub struct IdArena {
    bytes: VecDeque<u8>,
    /// Logical offset of `bytes[0]` (counts every byte ever stored).
    front: u64,
}

/// An id as an entry holds it in 8 bytes: the number (top bit clear), or the top bit set and
/// the arena offset (47 bits) and length (16 bits) of its bytes.
pub const TEXT_ID: u64 = 1 << 63;
/// Longer ids keep their first `MAX_ID_BYTES` bytes (ids are far shorter in practice).
pub const MAX_ID_BYTES: usize = u16::MAX as usize;

impl IdArena {
    pub fn bytes(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn store(&mut self, id: IdRepr<'_>) -> u64 {
        match id {
            IdRepr::Number(n) => n,
            IdRepr::Text(s) => {
                let b = &s.as_bytes()[..s.len().min(MAX_ID_BYTES)];
                let at = self.front + self.bytes.len() as u64;
                self.bytes.extend(b);
                TEXT_ID | ((at & ((1 << 47) - 1)) << 16) | b.len() as u64
            }
        }
    }

    fn range(&self, word: u64) -> std::ops::Range<usize> {
        let at = (word >> 16) & ((1 << 47) - 1);
        let start = (at.wrapping_sub(self.front) & ((1 << 47) - 1)) as usize;
        start..start + (word & 0xffff) as usize
    }

    /// Frees the bytes of the oldest stored id (entries leave in the order they came).
    pub fn release(&mut self, word: u64) {
        if word & TEXT_ID != 0 {
            let n = (word & 0xffff) as usize;
            self.bytes.drain(..n.min(self.bytes.len()));
            self.front += n as u64;
        }
    }

    pub fn matches(&self, word: u64, id: IdRepr<'_>) -> bool {
        match id {
            IdRepr::Number(n) => word == n,
            IdRepr::Text(s) => {
                let b = &s.as_bytes()[..s.len().min(MAX_ID_BYTES)];
                word & TEXT_ID != 0
                    && (word & 0xffff) as usize == b.len()
                    && self.bytes.range(self.range(word)).eq(b.iter())
            }
        }
    }

    pub fn key(&self, word: u64, platform: u8) -> u64 {
        if word & TEXT_ID == 0 {
            return IdRepr::Number(word).key(platform);
        }
        let bytes: Vec<u8> = self.bytes.range(self.range(word)).copied().collect();
        text_id_key(platform, &bytes)
    }

    pub fn to_string(&self, word: u64) -> String {
        if word & TEXT_ID == 0 {
            return word.to_string();
        }
        let bytes: Vec<u8> = self.bytes.range(self.range(word)).copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Exact-tier index: id key → entry, open addressing with linear probing. A slot holds
/// `seq mod (2^b - 1) + 1` in its low `b` bits (0 is empty) and a tag of the key in the
/// others, where `2^b` is at least twice the capacity. Slots of expired entries stay as
/// tombstones until the next rebuild.
///
/// Why the tag: a new id probes about five occupied slots before an empty one at the table's
/// load, and without a tag each of them means reading its entry to compare ids: in a
/// 10-million-entry shard, five misses to main memory per mention. With 7 tag bits (at 10 M)
/// or more (smaller shards), an entry is read for one slot in 128 or fewer.
pub struct IdTable {
    slots: Vec<u32>,
    used: usize,
    /// Low bits of a slot that hold the sequence number.
    seq_bits: u32,
}

impl IdTable {
    /// Slots per entry of capacity, and the share of used slots that triggers a rebuild.
    pub const SLOTS_PER_ENTRY: f64 = 1.5;
    const MAX_USED: f64 = 0.85;

    pub fn new(capacity: usize) -> Self {
        // Twice the capacity: a tombstone must be a whole window old before its sequence
        // number aliases a live entry's (which then costs one verification, never a wrong
        // answer).
        let need = u64::BITS - (2 * capacity.max(2) as u64).leading_zeros();
        IdTable {
            slots: huge_table(
                ((capacity as f64 * Self::SLOTS_PER_ENTRY) as usize).max(8),
                0,
            ),
            used: 0,
            seq_bits: need.clamp(8, 32),
        }
    }

    fn mask(&self) -> u32 {
        (((1u64 << self.seq_bits) - 1) & u32::MAX as u64) as u32
    }

    /// The key's tag, in the bits above the sequence number (none when those take all 32).
    fn tag(&self, key: u64) -> u32 {
        (key as u32) & !self.mask()
    }

    pub fn bytes(&self) -> usize {
        self.slots.capacity() * 4
    }

    pub fn needs_rebuild(&self) -> bool {
        self.used as f64 > self.slots.len() as f64 * Self::MAX_USED
    }

    fn resolve(&self, slot: u32, front: u64, len: usize) -> Option<u64> {
        let modulus = self.mask() as u64;
        let off = (((slot & self.mask()) as u64 - 1) + modulus - front % modulus) % modulus;
        ((off as usize) < len).then_some(front + off)
    }

    /// Starts loading the first slot `key` probes into the cache.
    pub fn prefetch(&self, key: u64) {
        prefetch(&self.slots[fast_range((key >> 32) as u32, self.slots.len())]);
    }

    /// The live entry filed under `key` for which `is_it` holds.
    pub fn find(
        &self,
        key: u64,
        front: u64,
        len: usize,
        mut is_it: impl FnMut(u64) -> bool,
    ) -> Option<u64> {
        let n = self.slots.len();
        let (mask, tag) = (self.mask(), self.tag(key));
        let mut i = fast_range((key >> 32) as u32, n);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot & !mask == tag {
                if let Some(seq) = self.resolve(slot, front, len) {
                    if is_it(seq) {
                        return Some(seq);
                    }
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
    }

    /// Files `seq` under `key` (the caller checked it is not there), reusing a tombstone.
    pub fn insert(&mut self, key: u64, seq: u64, front: u64, len: usize) {
        let n = self.slots.len();
        let mut i = fast_range((key >> 32) as u32, n);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                self.used += 1;
                break;
            }
            if self.resolve(slot, front, len).is_none() {
                break;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        let modulus = self.mask() as u64;
        self.slots[i] = self.tag(key) | ((seq % modulus) as u32 + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_as_numbers_when_they_are_canonical() {
        assert_eq!(IdRepr::of("1234"), IdRepr::Number(1234));
        assert_eq!(IdRepr::of("0"), IdRepr::Number(0));
        for s in ["0123", "", "12a", "+1", "9223372036854775808", "tw-1", "é"] {
            assert_eq!(IdRepr::of(s), IdRepr::Text(s), "{s}");
        }
        let mut a = IdArena::default();
        let w1 = a.store(IdRepr::of("t3_abc"));
        let w2 = a.store(IdRepr::of("42"));
        let w3 = a.store(IdRepr::of("fb_1_2"));
        assert!(a.matches(w1, IdRepr::of("t3_abc")) && !a.matches(w1, IdRepr::of("t3_abd")));
        assert!(a.matches(w2, IdRepr::of("42")) && !a.matches(w2, IdRepr::of("t3_abc")));
        assert_eq!(a.to_string(w3), "fb_1_2");
        assert_eq!(a.key(w3, 1), IdRepr::of("fb_1_2").key(1));
        assert_eq!(a.key(w2, 1), IdRepr::of("42").key(1));
        a.release(w1);
        a.release(w2);
        assert_eq!(a.to_string(w3), "fb_1_2");
        assert_eq!(a.bytes.len(), 6);
    }

    #[test]
    fn id_table_finds_live_entries_and_reuses_tombstones() {
        let mut t = IdTable::new(8);
        let keys: Vec<u64> = (0..10u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for (seq, &k) in keys.iter().enumerate() {
            t.insert(k, seq as u64, 0, seq);
        }
        for (seq, &k) in keys.iter().enumerate() {
            assert_eq!(t.find(k, 0, 10, |s| s == seq as u64), Some(seq as u64));
        }
        // Entries 0..5 expired: their slots are skipped, then reused.
        assert_eq!(t.find(keys[2], 5, 5, |s| s == 2), None);
        let used = t.used;
        t.insert(keys[2], 10, 5, 5);
        assert_eq!(t.used, used);
        assert_eq!(t.find(keys[2], 5, 6, |s| s == 10), Some(10));
    }

    #[test]
    fn id_table_tags_spare_entry_reads_and_survive_sequence_wraps() {
        let cap = 1000;
        let mut t = IdTable::new(cap);
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7);
        // A sliding window of `cap` live ids over many times the sequence width (2^11 here).
        let (mut front, mut reads) = (0u64, 0usize);
        for seq in 0..50_000u64 {
            if seq >= front + cap as u64 {
                front += 1;
            }
            let len = (seq - front) as usize;
            // A new id: its probe meets occupied slots, but tags rule out nearly all of them.
            assert_eq!(
                t.find(key(seq), front, len, |_| {
                    reads += 1;
                    false
                }),
                None
            );
            t.insert(key(seq), seq, front, len);
            if t.needs_rebuild() {
                let mut fresh = IdTable::new(cap);
                for s in front..=seq {
                    fresh.insert(key(s), s, front, (s - front) as usize);
                }
                t = fresh;
            }
            let back = seq - (seq - front) / 2;
            assert_eq!(
                t.find(key(back), front, len + 1, |s| s == back),
                Some(back),
                "seq {seq}"
            );
        }
        // 11 sequence bits leave 21 tag bits: a foreign entry is practically never read.
        assert!(reads < 50, "{reads} entry reads for 50,000 new ids");
    }

    #[test]
    fn band_buckets_forget_their_oldest_member() {
        let mut t = BandTable::new(WAYS, 1000);
        let key = 0xdead_beef_0000_0001;
        for seq in 0..10u64 {
            t.insert(key, seq, 0, seq as usize);
        }
        let mut got = Vec::new();
        t.candidates(key, 0, 10, |s| got.push(s));
        got.sort();
        // One key keeps its PER_KEY newest members and leaves room to the others.
        assert_eq!(got, (10 - PER_KEY as u64..10).collect::<Vec<_>>());
        let other = 0xdead_beef_1111_0001;
        for seq in 10..20u64 {
            t.insert(other, seq, 0, seq as usize);
        }
        got.clear();
        t.candidates(key, 0, 20, |s| got.push(s));
        assert_eq!(got.len(), PER_KEY);
        // Expired members are not proposed.
        got.clear();
        t.candidates(key, 8, 12, |s| got.push(s));
        got.sort();
        assert_eq!(got, [8, 9]);
    }
}
