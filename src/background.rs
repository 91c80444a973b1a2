//! Threads for engine work that shares the CPU with the event loop: index merges and the
//! release of old mappings run at a lower CPU priority, so that on a machine with few cores
//! the event loop's thread is not made to wait for them. (Compaction lowers the priority of
//! its copying thread itself, in the engine.)

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
