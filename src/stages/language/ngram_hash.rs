// The n-gram key hash, shared by build.rs (which writes the model) and the detector (which
// reads it): FNV-1a over the UTF-8 bytes, extended one character at a time so the detector
// hashes all orders at a position in one pass, then mixed so the low bits index the table.
// Changing it invalidates the model; build.rs reruns when this file changes.

pub const NGRAM_HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;

#[inline]
pub fn ngram_hash_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[inline]
pub fn ngram_hash_finish(h: u64) -> u64 {
    let h = (h ^ (h >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}
