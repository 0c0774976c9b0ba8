//! A cache hint for the stages whose tables live in main memory (dedup's 10-million-entry
//! index, the language model): asking for several random lines at once lets their misses
//! overlap instead of queueing one after another.

/// Asks the CPU to start loading the cache lines of `*p` (a hint; a no-op off x86-64).
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let first = p as *const T as *const i8;
        let last = first.wrapping_add(std::mem::size_of::<T>().max(1) - 1);
        // SAFETY: a prefetch never faults and never changes memory; SSE is part of the
        // x86-64 baseline.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
}
