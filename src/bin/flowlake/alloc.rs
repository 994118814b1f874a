//! The process's allocator, and the page size it gets memory in.
//!
//! Why: queries and ingest allocate and free large Arrow and Parquet buffers all the time.
//! mimalloc keeps freed memory for reuse where the system allocator hands it back to the
//! kernel and pays page faults to get it again. mimalloc also asks for transparent huge
//! pages, and then every page it takes back from the kernel after a purge is a 2 MiB page the
//! kernel zeroes first: that zeroing was a third of a report query's time and doubled its
//! peak memory (`flowlake sql` grouping a month of the report bench lake's rollup by address
//! pair: 4.7 s and 460 MB, against 3.2 s and 190 MB with 4 KiB pages), so
//! flowlake runs with ordinary pages.

/// mimalloc for every allocation of the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux; elsewhere nothing to do).
/// Called first thing in `main`: the kernel checks the flag at each page fault, so memory
/// mimalloc reserved before `main` is covered too.
pub fn small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag of the calling process.
    // A kernel without it returns an error, and the process keeps its huge pages.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
