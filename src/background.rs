//! Threads for long engine work that shares the CPU with the event loop: compaction, index
//! merges and the release of old mappings run at a lower CPU priority, so that on a
//! machine with few cores the event loop's thread is not made to wait for them.

use std::sync::Mutex;

/// The nice value of such threads: they still get about a tenth of a core that the event
/// loop (at 0) also wants, and all of one it leaves idle.
const BACKGROUND_NICE: i32 = 10;

/// Lowers the CPU priority of the calling thread (Linux only; elsewhere, and when the
/// system refuses, nothing changes). Irreversible for an unprivileged process: call it only
/// on threads made for the work.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain integers; on Linux `PRIO_PROCESS` with 0 names the calling thread
    // alone. A failure leaves the priority as it was, which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE);
    }
}

/// Runs `f` on a thread of its own (`name`), at the lower priority of [`lower_priority`],
/// and returns what it returned: for work on a threadpool thread, whose own priority must
/// not change. Runs `f` on the calling thread if no thread can be had; a panic in `f` is
/// resumed here.
pub(crate) fn run_lowered<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> R {
    let slot = Mutex::new(Some(f));
    let take = || slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    let done = std::thread::scope(|s| {
        let t = std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(s, || {
                lower_priority();
                take().map(|f| f())
            })
            .ok()?;
        Some(t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    match done.flatten() {
        Some(r) => r,
        None => (take().expect("`f` runs once"))(),
    }
}
