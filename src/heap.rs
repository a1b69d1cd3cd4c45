//! Heap hygiene for a process that loads a large configuration, then serves for long: glibc
//! keeps what a program frees for reuse, and a configuration of 10,000 tenants is parsed
//! through about 64 MiB of transient tokens and trees for 14 MiB kept (issue 14).
//!
//! The crate denies unsafe code; this module's two glibc calls, which take no pointer, are
//! its only exceptions (a test in `config::tests` checks that no other appears).

/// Allocations of at least this size are mapped on their own and unmapped when freed.
const MAPPED_FROM: i32 = 1024 * 1024;

/// Has every allocation of 1 MiB or more mapped on its own, from the start.
///
/// glibc's default threshold moves up to the size of each large block freed (up to 32 MiB),
/// so after the first large vector of a parse is freed the next ones come from the heap,
/// where they stay counted in the peak: 79 MiB at start with 10,000 tenants, 65 MiB with a
/// fixed threshold. Serving makes few allocations this large (a decision log batch behind
/// a stalled consumer), and those are cheap to map. Called first thing in `main`.
#[allow(unsafe_code, reason = "glibc's mallopt has no safe wrapper")]
pub fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` sets an allocator parameter; it takes no pointer, and is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED_FROM);
    }
}

/// Hands the heap pages that were used and freed back to the system: every whole free page
/// of every arena. Called once a configuration is in place, and after each
/// [`on_a_heap_of_its_own`].
#[allow(unsafe_code, reason = "glibc's malloc_trim has no safe wrapper")]
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free heap pages to the kernel; it takes no pointer
    // and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `work` on a short-lived thread, then [`release_freed_memory`]: glibc gives a new
/// thread an arena of its own, so what `work` allocates and frees does not fragment the
/// caller's heap. What `work` returns is allocated in that arena too: copy what is kept
/// (as `config::load_to_serve` does). `Err` when no thread can be started; a panic in
/// `work` is resumed here.
pub fn on_a_heap_of_its_own<T: Send>(work: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    let value = std::thread::scope(|scope| {
        // main's stack size, as the file was read on main before
        let thread = std::thread::Builder::new().name("heap-of-its-own".into()).stack_size(8 << 20);
        let thread = thread.spawn_scoped(scope, work)?;
        Ok(thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    release_freed_memory();
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_another_thread_and_its_panic_reaches_the_caller() {
        let caller = std::thread::current().id();
        let (ran_on, value) =
            on_a_heap_of_its_own(|| (std::thread::current().id(), vec![1u8; 4 << 20].len())).expect("started");
        assert_ne!(ran_on, caller);
        assert_eq!(value, 4 << 20);
        let panicked = std::panic::catch_unwind(|| on_a_heap_of_its_own(|| panic!("bad file")));
        let message = panicked.expect_err("resumed").downcast::<&str>().map(|m| *m).unwrap_or_default();
        assert_eq!(message, "bad file");
    }
}
