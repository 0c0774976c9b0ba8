//! The compiled-in character n-gram model that build.rs derives (see its doc comment for the
//! data and licences). It is read in place from the binary: start-up parses a 250-byte header,
//! and memory is the pages lookups touch (the whole table is ~91 MB).
//!
//! Layout (little-endian): `b"TLID"`, version u32 (2), n_langs u32, language codes (2 ASCII
//! bytes each), the longest n-gram order kept per language (1 byte each), slots_log2 u32,
//! `2^slots_log2` slots of (fingerprint u32, offset u32) with linear probing
//! (fingerprint 0 = empty), entries_len u32, then entries: at each offset a count
//! byte and `count` pairs of (language id, q) where `ln P = -q / 16`.

use std::sync::OnceLock;

use crate::prefetch::prefetch;

include!("ngram_hash.rs");

static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/language.model"));

/// Log-probability units per stored step.
pub const QUANT: f32 = 16.0;

pub struct Model {
    codes: Vec<&'static str>,
    max_orders: &'static [u8],
    slots: &'static [u8],
    mask: usize,
    entries: &'static [u8],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Model {
    /// The model compiled into this binary.
    pub fn get() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::parse(BYTES))
    }

    fn parse(b: &'static [u8]) -> Model {
        assert!(
            &b[..4] == b"TLID" && u32_at(b, 4) == 2,
            "language model: bad header"
        );
        let n = u32_at(b, 8) as usize;
        let mut at = 12;
        let codes = (0..n)
            .map(|i| std::str::from_utf8(&b[at + 2 * i..at + 2 * i + 2]).expect("ASCII code"))
            .collect();
        at += 2 * n;
        let max_orders = &b[at..at + n];
        at += n;
        let slots_log2 = u32_at(b, at);
        at += 4;
        let n_slots = 1usize << slots_log2;
        let slots = &b[at..at + 8 * n_slots];
        at += 8 * n_slots;
        let len = u32_at(b, at) as usize;
        let entries = &b[at + 4..at + 4 + len];
        Model {
            codes,
            max_orders,
            slots,
            mask: n_slots - 1,
            entries,
        }
    }

    /// Language codes, indexed by language id.
    pub fn codes(&self) -> &[&'static str] {
        &self.codes
    }

    /// The longest n-gram order the model holds for each language id.
    pub fn max_orders(&self) -> &[u8] {
        self.max_orders
    }

    pub fn id_of(&self, code: &str) -> Option<u8> {
        self.codes.iter().position(|c| *c == code).map(|i| i as u8)
    }

    /// Size of the table in bytes (what a process maps for it).
    pub fn size_bytes(&self) -> usize {
        BYTES.len()
    }

    /// The (language id, q) pairs of the n-gram whose finished hash is `h`, if any language
    /// has it.
    #[inline]
    pub fn lookup(&self, h: u64) -> Option<&'static [u8]> {
        self.locate(h).map(|off| self.entry(off))
    }

    /// Starts loading the slot where the probe for `h` begins. The table is far larger than
    /// the caches: a caller that requests the slots of many n-grams before reading them has
    /// their misses overlap.
    #[inline]
    pub fn prefetch_slot(&self, h: u64) {
        let at = (h as usize & self.mask) * 8;
        if let Ok(slot) = <&[u8; 8]>::try_from(&self.slots[at..at + 8]) {
            prefetch(slot);
        }
    }

    /// Where the entry of the n-gram whose finished hash is `h` starts, if any language has
    /// it (for [`Model::prefetch_entry`] and [`Model::entry`]).
    #[inline]
    pub fn locate(&self, h: u64) -> Option<usize> {
        let fp = ((h >> 32) as u32) | 1;
        let mut i = h as usize & self.mask;
        loop {
            let at = i * 8;
            let f = u32_at(self.slots, at);
            if f == 0 {
                return None;
            }
            if f == fp {
                return Some(u32_at(self.slots, at + 4) as usize);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Starts loading the first two cache lines of the entry at `off` (most lists fit).
    #[inline]
    pub fn prefetch_entry(&self, off: usize) {
        prefetch(&self.entries[off]);
        prefetch(&self.entries[(off + 64).min(self.entries.len() - 1)]);
    }

    /// The (language id, q) pairs of the entry at `off`.
    #[inline]
    pub fn entry(&self, off: usize) -> &'static [u8] {
        let n = self.entries[off] as usize;
        &self.entries[off + 1..off + 1 + 2 * n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(m: &Model, ngram: &str, lang: &str) -> Option<f32> {
        let h = ngram_hash_finish(ngram_hash_extend(NGRAM_HASH_SEED, ngram.as_bytes()));
        let id = m.id_of(lang)?;
        let list = m.lookup(h)?;
        list.chunks(2)
            .find(|p| p[0] == id)
            .map(|p| -(p[1] as f32) / QUANT)
    }

    #[test]
    fn the_model_holds_the_languages_and_their_ngrams() {
        let m = Model::get();
        assert!(m.codes().len() >= 77, "{}", m.codes().len());
        for c in [
            "en", "gl", "mt", "eu", "is", "nb", "uk", "he", "hi", "zh", "ja", "ko", "th",
        ] {
            assert!(m.id_of(c).is_some(), "{c}");
        }
        // "the" is frequent in English and absent from Finnish's trigram list.
        let en = probe(m, "the", "en").expect("en has 'the'");
        assert!(en > -2.0, "{en}");
        let mt = probe(m, "ħ", "mt").expect("mt has ħ");
        assert!(mt > probe(m, "ħ", "en").unwrap_or(-20.0) + 5.0);
        // The most frequent 5-grams are kept for lingua's languages; the project's own
        // texts are too small for them.
        assert!(
            probe(m, "there", "en").is_some(),
            "en keeps frequent 5-grams"
        );
        assert!(probe(m, "xente", "gl").is_none(), "gl stops at 4-grams");
        assert_eq!(m.max_orders()[m.id_of("en").unwrap() as usize], 5);
        assert_eq!(m.max_orders()[m.id_of("gl").unwrap() as usize], 4);
    }
}
