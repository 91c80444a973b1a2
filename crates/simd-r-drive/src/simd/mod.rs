//! Kernels with run-time CPU dispatch.
//!
//! The checksum is XXH3-64. Inputs of up to 240 bytes take XXH3's short paths, which are
//! scalar by design. Longer inputs run XXH3's stripe loop, which has an AVX2 kernel
//! (x86_64) and a NEON kernel (aarch64) chosen at run time, with SSE2 (x86_64 baseline)
//! and portable scalar fallbacks. Every kernel computes the same function; tests compare
//! each one with the reference implementation in `xxhash-rust`.
//!
//! Set `SIMD_R_DRIVE_FORCE_SCALAR=1` in the environment, or call [`force_scalar`], to
//! make every kernel take the portable scalar path; `SIMD_R_DRIVE_KERNEL=sse2` (or `scalar`,
//! `avx2`, `neon`) picks a kernel the CPU has, so that one machine can test several.

use std::sync::atomic::{AtomicU8, Ordering};

mod xxh3;

/// Which implementation the dispatched kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable scalar code.
    Scalar,
    /// SSE2 (every x86_64 CPU).
    Sse2,
    /// AVX2, detected at run time.
    Avx2,
    /// NEON (aarch64).
    Neon,
}

const UNSET: u8 = 0;
static SELECTED: AtomicU8 = AtomicU8::new(UNSET);

fn encode(k: Kernel) -> u8 {
    match k {
        Kernel::Scalar => 1,
        Kernel::Sse2 => 2,
        Kernel::Avx2 => 3,
        Kernel::Neon => 4,
    }
}

fn decode(v: u8) -> Kernel {
    match v {
        2 => Kernel::Sse2,
        3 => Kernel::Avx2,
        4 => Kernel::Neon,
        _ => Kernel::Scalar,
    }
}

/// The best kernel this CPU supports, ignoring any forcing.
pub fn detected() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            return Kernel::Avx2;
        }
        Kernel::Sse2
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return Kernel::Neon;
        }
        Kernel::Scalar
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Kernel::Scalar
    }
}

/// The kernel in use: the detected one, unless scalar was forced.
#[inline]
pub fn selected() -> Kernel {
    let v = SELECTED.load(Ordering::Relaxed);
    if v != UNSET {
        return decode(v);
    }
    let k = forced().unwrap_or_else(detected);
    SELECTED.store(encode(k), Ordering::Relaxed);
    k
}

/// The kernel the environment asks for, if this CPU has it: `SIMD_R_DRIVE_FORCE_SCALAR=1`,
/// or `SIMD_R_DRIVE_KERNEL=scalar|sse2|avx2|neon` (so that tests can run every kernel on one
/// machine). A kernel the CPU lacks, or an unknown name, is ignored: the detected kernel is
/// used then, so a wrong setting can slow the store down but never break it.
fn forced() -> Option<Kernel> {
    let set = |name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty() && v != "0")
    };
    if set("SIMD_R_DRIVE_FORCE_SCALAR").is_some() {
        return Some(Kernel::Scalar);
    }
    let best = detected();
    match set("SIMD_R_DRIVE_KERNEL")?.to_ascii_lowercase().as_str() {
        "scalar" => Some(Kernel::Scalar),
        "sse2" if matches!(best, Kernel::Sse2 | Kernel::Avx2) => Some(Kernel::Sse2),
        "avx2" if best == Kernel::Avx2 => Some(Kernel::Avx2),
        "neon" if best == Kernel::Neon => Some(Kernel::Neon),
        _ => None,
    }
}

/// Forces the portable scalar kernels (`true`) or returns to the detected ones (`false`).
/// Affects the whole process; meant for tests and for comparing speeds.
pub fn force_scalar(on: bool) {
    let k = if on { Kernel::Scalar } else { detected() };
    SELECTED.store(encode(k), Ordering::Relaxed);
}

/// XXH3-64 of `data` with `seed`, using the selected kernel.
#[inline]
pub fn checksum(data: &[u8], seed: u64) -> u64 {
    if data.len() <= xxh3::MIDSIZE_MAX {
        return xxhash_rust::xxh3::xxh3_64_with_seed(data, seed);
    }
    xxh3::hash_long(data, seed, selected())
}
