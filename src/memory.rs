//! Handing the heap memory the server freed back to the system.
//!
//! glibc's allocator keeps what a thread freed in that thread's arena (there
//! is one per allocating thread, up to eight per core) and gives memory back
//! to the system only from the top of each heap, so after a burst of requests
//! the freed buffers stay resident. `malloc_trim(0)` returns every whole free
//! page of every arena (it walks the free lists, not the live blocks). The
//! server calls it every [`TRIM_EVERY`], so the freed buffers of a burst do not
//! stay resident after it (docs/operations.md, "Memory"; measured at start-up,
//! it took the anonymous RSS from 6.3 to 4.5 MiB). Other allocators (musl,
//! other systems) return memory on their own; there it does nothing.

use std::time::Duration;

/// How often the free heap pages are handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Returns the allocator's free pages to the system; whether any went back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // The one exception to the workspace's `unsafe_code = "deny"`.
pub fn release_free_memory() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and touches only glibc's own free
    // lists, under the lock of each arena it walks.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Returns the allocator's free pages to the system; whether any went back.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Resident anonymous memory of this process, in kB.
    fn anonymous_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("RssAnon:"))
            .and_then(|kb| kb.trim().trim_end_matches(" kB").parse().ok())
            .expect("RssAnon")
    }

    #[test]
    fn freed_heap_pages_go_back_to_the_system() {
        // Many small blocks (below the mmap threshold, so in the heap), then
        // all but the last freed: the last pins the top of the heap, so glibc
        // keeps the pages below it until they are trimmed.
        let mut blocks: Vec<Vec<u8>> =
            (0..4_000).map(|i| vec![(i % 251) as u8; 16 * 1024]).collect();
        let pin = blocks.pop();
        drop(blocks);
        let before = anonymous_kb();

        assert!(release_free_memory(), "something was handed back");
        let after = anonymous_kb();

        assert!(after + 32 * 1024 < before, "{before} kB → {after} kB");
        drop(pin);
    }
}
