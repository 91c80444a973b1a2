//! XXH3-64 for inputs longer than 240 bytes, with one stripe kernel per instruction set.
//!
//! `xxhash-rust` picks its SIMD kernel when the crate is compiled, so a portable build
//! (the one shipped to npm) always runs its SSE2 kernel. This module computes the same
//! function but chooses AVX2 or NEON when the CPU has them at run time. Shorter inputs
//! never reach this code: XXH3 hashes them without the stripe loop.
//!
//! Why not `twox-hash` 2 (2.1.5), which also dispatches AVX2/SSE2/NEON at run time: it
//! gives the same outputs and was as fast or faster in an A/B against these kernels
//! (x86_64 AVX2, seeded, per CPU second, median of 21 interleaved pairs: 256 B +24%,
//! 4 KiB +3..6%, 1 MiB within ±3%), but its dispatch is private: nothing says which
//! kernel it runs, and only a compile-time `--cfg` forces scalar. [`crate::simd::selected`] (the
//! `kernel()` users see) and `SIMD_R_DRIVE_FORCE_SCALAR` / `SIMD_R_DRIVE_KERNEL`, which
//! the tests use to run every kernel on one machine, could then no longer be true.

use super::Kernel;

/// Inputs up to this length use XXH3's short paths (delegated to `xxhash-rust`).
pub(crate) const MIDSIZE_MAX: usize = 240;

const STRIPE_LEN: usize = 64;
const SECRET_LEN: usize = 192;
const SECRET_CONSUME_RATE: usize = 8;
const STRIPES_PER_BLOCK: usize = (SECRET_LEN - STRIPE_LEN) / SECRET_CONSUME_RATE;
const BLOCK_LEN: usize = STRIPE_LEN * STRIPES_PER_BLOCK;
const SECRET_LASTACC_START: usize = 7;
const SECRET_MERGEACCS_START: usize = 11;

const PRIME32_1: u64 = 0x9E37_79B1;
const PRIME32_2: u64 = 0x85EB_CA77;
const PRIME32_3: u64 = 0xC2B2_AE3D;
const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const PRIME64_5: u64 = 0x27D4_EB2F_1656_67C5;

/// The XXH3 specification's default secret (kSecret).
const DEFAULT_SECRET: [u8; SECRET_LEN] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
];

#[inline(always)]
fn read64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn mul128_fold64(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(0x1656_6791_9E37_79F9);
    h ^ (h >> 32)
}

fn secret_for_seed(seed: u64) -> [u8; SECRET_LEN] {
    let mut s = [0u8; SECRET_LEN];
    for i in 0..SECRET_LEN / 16 {
        let lo = read64(&DEFAULT_SECRET, 16 * i).wrapping_add(seed);
        let hi = read64(&DEFAULT_SECRET, 16 * i + 8).wrapping_sub(seed);
        s[16 * i..16 * i + 8].copy_from_slice(&lo.to_le_bytes());
        s[16 * i + 8..16 * i + 16].copy_from_slice(&hi.to_le_bytes());
    }
    s
}

/// XXH3-64 of `input` (longer than [`MIDSIZE_MAX`]) with `seed`, using `kernel`.
pub(crate) fn hash_long(input: &[u8], seed: u64, kernel: Kernel) -> u64 {
    debug_assert!(input.len() > MIDSIZE_MAX);
    let secret = if seed == 0 {
        DEFAULT_SECRET
    } else {
        secret_for_seed(seed)
    };
    let mut acc = [
        PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1,
    ];
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::Avx2` is only selected after `is_x86_feature_detected!("avx2")`.
        Kernel::Avx2 => unsafe { x86::stripes_avx2(&mut acc, input, &secret) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of the x86_64 baseline; every x86_64 CPU has it.
        Kernel::Sse2 => unsafe { x86::stripes_sse2(&mut acc, input, &secret) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `Kernel::Neon` is only selected after `is_aarch64_feature_detected!("neon")`.
        Kernel::Neon => unsafe { arm::stripes_neon(&mut acc, input, &secret) },
        _ => scalar::stripes(&mut acc, input, &secret),
    }
    let mut result = (input.len() as u64).wrapping_mul(PRIME64_1);
    for i in 0..4 {
        let s = SECRET_MERGEACCS_START + 16 * i;
        result = result.wrapping_add(mul128_fold64(
            acc[2 * i] ^ read64(&secret, s),
            acc[2 * i + 1] ^ read64(&secret, s + 8),
        ));
    }
    avalanche(result)
}

/// Runs XXH3's block/stripe schedule with the given accumulate and scramble steps.
/// Expanded once per kernel so that each copy is compiled with its own target features.
macro_rules! stripe_schedule {
    ($acc:ident, $input:ident, $secret:ident, $accumulate:path, $scramble:path) => {{
        let len = $input.len();
        let ip = $input.as_ptr();
        let sp = $secret.as_ptr();
        let nb_blocks = (len - 1) / BLOCK_LEN;
        for b in 0..nb_blocks {
            for s in 0..STRIPES_PER_BLOCK {
                $accumulate(
                    &mut $acc,
                    ip.add(b * BLOCK_LEN + s * STRIPE_LEN),
                    sp.add(s * SECRET_CONSUME_RATE),
                );
            }
            $scramble(&mut $acc, sp.add(SECRET_LEN - STRIPE_LEN));
        }
        let nb_stripes = ((len - 1) - BLOCK_LEN * nb_blocks) / STRIPE_LEN;
        for s in 0..nb_stripes {
            $accumulate(
                &mut $acc,
                ip.add(nb_blocks * BLOCK_LEN + s * STRIPE_LEN),
                sp.add(s * SECRET_CONSUME_RATE),
            );
        }
        $accumulate(
            &mut $acc,
            ip.add(len - STRIPE_LEN),
            sp.add(SECRET_LEN - STRIPE_LEN - SECRET_LASTACC_START),
        );
    }};
}

mod scalar {
    use super::*;

    /// Folds one 64-byte stripe into the accumulators (portable code).
    ///
    /// # Safety
    ///
    /// `input` and `secret` must each point at 64 readable bytes.
    #[inline(always)]
    unsafe fn accumulate(acc: &mut [u64; 8], input: *const u8, secret: *const u8) {
        for i in 0..8 {
            // SAFETY (caller): `input` and `secret` point at 64 readable bytes.
            let data = u64::from_le(unsafe { input.add(8 * i).cast::<u64>().read_unaligned() });
            let key =
                data ^ u64::from_le(unsafe { secret.add(8 * i).cast::<u64>().read_unaligned() });
            acc[i ^ 1] = acc[i ^ 1].wrapping_add(data);
            acc[i] = acc[i].wrapping_add((key & 0xFFFF_FFFF).wrapping_mul(key >> 32));
        }
    }

    /// Scrambles the accumulators at the end of a block (portable code).
    ///
    /// # Safety
    ///
    /// `secret` must point at 64 readable bytes.
    #[inline(always)]
    unsafe fn scramble(acc: &mut [u64; 8], secret: *const u8) {
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY (caller): `secret` points at 64 readable bytes.
            let key = u64::from_le(unsafe { secret.add(8 * i).cast::<u64>().read_unaligned() });
            let mut x = *a;
            x ^= x >> 47;
            x ^= key;
            *a = x.wrapping_mul(PRIME32_1);
        }
    }

    pub(super) fn stripes(acc: &mut [u64; 8], input: &[u8], secret: &[u8; SECRET_LEN]) {
        let mut a = *acc;
        // SAFETY: the schedule only forms pointers to whole stripes inside `input`
        // (`input.len() > 240`) and to 64-byte windows inside the 192-byte secret.
        unsafe { stripe_schedule!(a, input, secret, accumulate, scramble) };
        *acc = a;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// Folds one 64-byte stripe into the accumulators with AVX2.
    ///
    /// # Safety
    ///
    /// `input` and `secret` must each point at 64 readable bytes, and the CPU must
    /// support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn acc_avx2(acc: &mut [u64; 8], input: *const u8, secret: *const u8) {
        let a = acc.as_mut_ptr().cast::<__m256i>();
        for i in 0..2 {
            // SAFETY (caller): 64 readable bytes at `input` and `secret`; `acc` holds 64 bytes.
            unsafe {
                let data = _mm256_loadu_si256(input.cast::<__m256i>().add(i));
                let key = _mm256_loadu_si256(secret.cast::<__m256i>().add(i));
                let dk = _mm256_xor_si256(data, key);
                let dk_hi = _mm256_shuffle_epi32::<0x31>(dk);
                let product = _mm256_mul_epu32(dk, dk_hi);
                let swapped = _mm256_shuffle_epi32::<0x4E>(data);
                let sum = _mm256_add_epi64(_mm256_loadu_si256(a.add(i)), swapped);
                _mm256_storeu_si256(a.add(i), _mm256_add_epi64(product, sum));
            }
        }
    }

    /// Scrambles the accumulators at the end of a block with AVX2.
    ///
    /// # Safety
    ///
    /// `secret` must point at 64 readable bytes, and the CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn scramble_avx2(acc: &mut [u64; 8], secret: *const u8) {
        let a = acc.as_mut_ptr().cast::<__m256i>();
        let prime = _mm256_set1_epi32(PRIME32_1 as i32);
        for i in 0..2 {
            // SAFETY (caller): 64 readable bytes at `secret`; `acc` holds 64 bytes.
            unsafe {
                let v = _mm256_loadu_si256(a.add(i));
                let v = _mm256_xor_si256(v, _mm256_srli_epi64::<47>(v));
                let key = _mm256_loadu_si256(secret.cast::<__m256i>().add(i));
                let dk = _mm256_xor_si256(v, key);
                let dk_hi = _mm256_shuffle_epi32::<0x31>(dk);
                let lo = _mm256_mul_epu32(dk, prime);
                let hi = _mm256_mul_epu32(dk_hi, prime);
                _mm256_storeu_si256(a.add(i), _mm256_add_epi64(lo, _mm256_slli_epi64::<32>(hi)));
            }
        }
    }

    /// Runs the whole stripe schedule with AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn stripes_avx2(acc: &mut [u64; 8], input: &[u8], secret: &[u8; SECRET_LEN]) {
        let mut a = *acc;
        // SAFETY: whole stripes inside `input` and 64-byte windows inside the secret only.
        unsafe { stripe_schedule!(a, input, secret, acc_avx2, scramble_avx2) };
        *acc = a;
    }

    /// Folds one 64-byte stripe into the accumulators with SSE2.
    ///
    /// # Safety
    ///
    /// `input` and `secret` must each point at 64 readable bytes.
    #[inline(always)]
    unsafe fn acc_sse2(acc: &mut [u64; 8], input: *const u8, secret: *const u8) {
        let a = acc.as_mut_ptr().cast::<__m128i>();
        for i in 0..4 {
            // SAFETY (caller): 64 readable bytes at `input` and `secret`; `acc` holds 64 bytes.
            unsafe {
                let data = _mm_loadu_si128(input.cast::<__m128i>().add(i));
                let key = _mm_loadu_si128(secret.cast::<__m128i>().add(i));
                let dk = _mm_xor_si128(data, key);
                let dk_hi = _mm_shuffle_epi32::<0x31>(dk);
                let product = _mm_mul_epu32(dk, dk_hi);
                let swapped = _mm_shuffle_epi32::<0x4E>(data);
                let sum = _mm_add_epi64(_mm_loadu_si128(a.add(i)), swapped);
                _mm_storeu_si128(a.add(i), _mm_add_epi64(product, sum));
            }
        }
    }

    /// Scrambles the accumulators at the end of a block with SSE2.
    ///
    /// # Safety
    ///
    /// `secret` must point at 64 readable bytes.
    #[inline(always)]
    unsafe fn scramble_sse2(acc: &mut [u64; 8], secret: *const u8) {
        let a = acc.as_mut_ptr().cast::<__m128i>();
        for i in 0..4 {
            // SAFETY (caller): 64 readable bytes at `secret`; `acc` holds 64 bytes.
            unsafe {
                let prime = _mm_set1_epi32(PRIME32_1 as i32);
                let v = _mm_loadu_si128(a.add(i));
                let v = _mm_xor_si128(v, _mm_srli_epi64::<47>(v));
                let key = _mm_loadu_si128(secret.cast::<__m128i>().add(i));
                let dk = _mm_xor_si128(v, key);
                let dk_hi = _mm_shuffle_epi32::<0x31>(dk);
                let lo = _mm_mul_epu32(dk, prime);
                let hi = _mm_mul_epu32(dk_hi, prime);
                _mm_storeu_si128(a.add(i), _mm_add_epi64(lo, _mm_slli_epi64::<32>(hi)));
            }
        }
    }

    /// Runs the whole stripe schedule with SSE2.
    ///
    /// # Safety
    ///
    /// The CPU must support SSE2.
    pub(super) unsafe fn stripes_sse2(acc: &mut [u64; 8], input: &[u8], secret: &[u8; SECRET_LEN]) {
        let mut a = *acc;
        // SAFETY: whole stripes inside `input` and 64-byte windows inside the secret only.
        unsafe { stripe_schedule!(a, input, secret, acc_sse2, scramble_sse2) };
        *acc = a;
    }
}

// aarch64 cannot be built on the development machine; this module is compiled and tested
// by the release workflow's aarch64 jobs.
#[cfg(target_arch = "aarch64")]
mod arm {
    use super::*;
    use std::arch::aarch64::*;

    /// Folds one 64-byte stripe into the accumulators with NEON.
    ///
    /// # Safety
    ///
    /// `input` and `secret` must each point at 64 readable bytes, and the CPU must
    /// support NEON.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn acc_neon(acc: &mut [u64; 8], input: *const u8, secret: *const u8) {
        let a = acc.as_mut_ptr();
        for i in 0..4 {
            // SAFETY (caller): 64 readable bytes at `input` and `secret`; `acc` holds 8 lanes.
            unsafe {
                let data = vreinterpretq_u64_u8(vld1q_u8(input.add(16 * i)));
                let key = vreinterpretq_u64_u8(vld1q_u8(secret.add(16 * i)));
                let dk = veorq_u64(data, key);
                let product = vmull_u32(vmovn_u64(dk), vshrn_n_u64::<32>(dk));
                let swapped = vextq_u64::<1>(data, data);
                let cur = vld1q_u64(a.add(2 * i));
                vst1q_u64(a.add(2 * i), vaddq_u64(vaddq_u64(cur, swapped), product));
            }
        }
    }

    /// Scrambles the accumulators at the end of a block with NEON.
    ///
    /// # Safety
    ///
    /// `secret` must point at 64 readable bytes, and the CPU must support NEON.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn scramble_neon(acc: &mut [u64; 8], secret: *const u8) {
        let a = acc.as_mut_ptr();
        for i in 0..4 {
            // SAFETY (caller): 64 readable bytes at `secret`; `acc` holds 8 lanes.
            unsafe {
                let prime = vdup_n_u32(PRIME32_1 as u32);
                let v = vld1q_u64(a.add(2 * i));
                let v = veorq_u64(v, vshrq_n_u64::<47>(v));
                let key = vreinterpretq_u64_u8(vld1q_u8(secret.add(16 * i)));
                let dk = veorq_u64(v, key);
                let lo = vmull_u32(vmovn_u64(dk), prime);
                let hi = vmull_u32(vshrn_n_u64::<32>(dk), prime);
                vst1q_u64(a.add(2 * i), vaddq_u64(lo, vshlq_n_u64::<32>(hi)));
            }
        }
    }

    /// Runs the whole stripe schedule with NEON.
    ///
    /// # Safety
    ///
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn stripes_neon(acc: &mut [u64; 8], input: &[u8], secret: &[u8; SECRET_LEN]) {
        let mut a = *acc;
        // SAFETY: whole stripes inside `input` and 64-byte windows inside the secret only.
        unsafe { stripe_schedule!(a, input, secret, acc_neon, scramble_neon) };
        *acc = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64_with_seed;

    fn kernels() -> Vec<Kernel> {
        let mut k = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            k.push(Kernel::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") {
                k.push(Kernel::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            k.push(Kernel::Neon);
        }
        k
    }

    #[test]
    fn every_kernel_matches_the_reference() {
        let mut data = vec![0u8; 5000];
        let mut x = 0x1234_5678_9abc_def0u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let lens = (241..=1100).chain([1024, 1025, 2047, 2048, 4096, 4999, 5000]);
        for len in lens {
            for seed in [0u64, 1, 0xdead_beef, u64::MAX] {
                let want = xxh3_64_with_seed(&data[..len], seed);
                for k in kernels() {
                    assert_eq!(
                        hash_long(&data[..len], seed, k),
                        want,
                        "len {len} seed {seed} {k:?}"
                    );
                }
            }
        }
    }
}
