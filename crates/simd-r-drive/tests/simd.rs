//! The checksum kernels against the reference XXH3-64 of `xxhash-rust`, with the portable
//! scalar path forced and with the kernel detected on this CPU. Kept in its own test
//! binary because `force_scalar` switches the whole process.

use simd_r_drive::simd::{self, Kernel};
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[test]
fn forced_scalar_and_detected_kernels_match_the_reference() {
    let data = {
        let mut x = 0x0123_4567_89ab_cdefu64;
        (0..2100)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    let seeds = [0u64, 64, 0x5352_4452_4956_4531, u64::MAX];
    for (forced, want_kernel) in [(true, Kernel::Scalar), (false, simd::detected())] {
        simd::force_scalar(forced);
        assert_eq!(simd::selected(), want_kernel);
        for len in 0..2000 {
            // Unaligned starts too: entries are 8-aligned in the file, but the hashed
            // region starts 8 bytes into the entry and values can sit anywhere in memory.
            for start in [0usize, 1, 8] {
                let input = &data[start..start + len];
                for seed in seeds {
                    assert_eq!(
                        simd::checksum(input, seed),
                        xxh3_64_with_seed(input, seed),
                        "len {len} start {start} seed {seed:#x} kernel {want_kernel:?}"
                    );
                }
            }
        }
    }
    simd::force_scalar(false);
    eprintln!(
        "checked scalar and {:?} for lengths 0..2000",
        simd::detected()
    );
}
