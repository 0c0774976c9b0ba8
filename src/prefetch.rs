//! Memory hints for the tables that live in main memory (dedup's 10-million-entry index, the
//! language model):
//! - [`prefetch`]: asking for several random lines at once lets their misses overlap instead
//!   of queueing one after another;
//! - [`huge_table`] / [`advise_huge_pages`]: a table of hundreds of MiB read at random misses
//!   the TLB on nearly every read with 4 KiB pages, and under a hypervisor each page walk is
//!   itself several reads of memory. Backed by 2 MiB transparent huge pages, the translations
//!   of a whole 1 GiB shard fit the TLB.
//!
//! Both are hints: without them (another OS, THP set to `never`) results are the same, only
//! slower.

use std::mem::MaybeUninit;

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

/// One huge page: a smaller table holds no aligned 2 MiB run, so advice could not change it.
const HUGE_PAGE: usize = 2 << 20;

/// Asks Linux to back the not-yet-touched memory `region` with transparent huge pages when it
/// is first written (`madvise(MADV_HUGEPAGE)`; honoured when
/// `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`, Debian's default
/// being `madvise`). The advice must precede the first write: pages already faulted in stay
/// small. Elsewhere, or if the kernel refuses, nothing happens.
pub fn advise_huge_pages<T>(region: &mut [MaybeUninit<T>]) {
    #[cfg(target_os = "linux")]
    {
        let bytes = std::mem::size_of_val(region);
        if bytes < HUGE_PAGE {
            return;
        }
        const PAGE: usize = 4096;
        let start = region.as_mut_ptr() as usize;
        let first = start.next_multiple_of(PAGE);
        let end = (start + bytes) & !(PAGE - 1);
        if end > first {
            // SAFETY: the range lies inside an allocation we own; MADV_HUGEPAGE changes only
            // how the kernel backs it, never its contents or its validity. The result is
            // ignored on purpose: a refusal leaves ordinary pages, which are correct.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = region;
}

/// `n` copies of `value` in a vector whose pages are advised huge before they are written
/// (see [`advise_huge_pages`]).
pub fn huge_table<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(v.spare_capacity_mut());
    v.resize(n, value);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_tables_hold_what_they_are_given() {
        for n in [0, 1, 1000, 3 << 20] {
            let v = huge_table(n, 7u32);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 7));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_big_table_is_advised_huge() {
        // /proc/self/smaps marks advised mappings with the `hg` flag, whatever THP's mode.
        let v = huge_table(8 << 20, 0u64);
        // The middle: madvise splits the mapping at page boundaries, and the allocation's
        // first page also holds the allocator's header, so it is not advised.
        let at = v.as_ptr() as usize + std::mem::size_of_val(v.as_slice()) / 2;
        // A mapping's header line starts with its range, `start-end` in hex; its `VmFlags:`
        // line follows.
        let range = |line: &str| {
            let (a, b) = line.split(' ').next()?.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        };
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            if let Some((a, b)) = range(line) {
                inside = a <= at && at < b;
            } else if let Some(f) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                flags = Some(f.to_string());
            }
        }
        let flags = flags.expect("the table's mapping is in /proc/self/smaps");
        assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
    }
}
