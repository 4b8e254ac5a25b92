//! The `article-etl` command: flags → library calls → exit codes (README, "Commands" and
//! "Exit codes"). Everything that does work lives in the library; `cli` is the thin layer over
//! it.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    tune_malloc();
    cli::main()
}

/// glibc's defaults suit short-lived buffers badly here: the load stage's megabyte-sized write
/// commands went to `mmap` and back to the kernel after every send, and freed heap was trimmed
/// and faulted in again (a tenth of a run's CPU time in page faults), while one arena per
/// thread kept memory the other threads could not reuse. Larger thresholds keep those pages;
/// two arenas bound the memory held for the worker threads.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters, and runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
