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

/// Runs this test binary again with `env` set, and returns the kernel the child selected
/// (printed by `print_selected_kernel`, which does nothing unless asked).
fn kernel_with_env(env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--exact",
        "print_selected_kernel",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("SIMD_R_DRIVE_FORCE_SCALAR")
    .env_remove("SIMD_R_DRIVE_KERNEL")
    .env("SIMD_R_DRIVE_PRINT_KERNEL", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the test binary");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split_once("selected kernel: ").map(|(_, k)| k.trim()))
        .unwrap_or_else(|| panic!("no kernel printed: {text}"))
        .to_string()
}

#[test]
fn print_selected_kernel() {
    if std::env::var_os("SIMD_R_DRIVE_PRINT_KERNEL").is_some() {
        println!("selected kernel: {:?}", simd::selected());
    }
}

#[test]
fn the_environment_picks_a_kernel_the_cpu_has_and_ignores_the_rest() {
    let detected = format!("{:?}", simd::detected());
    assert_eq!(kernel_with_env(&[]), detected);
    assert_eq!(
        kernel_with_env(&[("SIMD_R_DRIVE_FORCE_SCALAR", "1")]),
        "Scalar"
    );
    assert_eq!(
        kernel_with_env(&[("SIMD_R_DRIVE_KERNEL", "scalar")]),
        "Scalar"
    );
    assert_eq!(
        kernel_with_env(&[("SIMD_R_DRIVE_KERNEL", "bogus")]),
        detected
    );
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(kernel_with_env(&[("SIMD_R_DRIVE_KERNEL", "SSE2")]), "Sse2");
        // NEON does not exist here: the detected kernel stays.
        assert_eq!(
            kernel_with_env(&[("SIMD_R_DRIVE_KERNEL", "neon")]),
            detected
        );
    }
    #[cfg(target_arch = "aarch64")]
    assert_eq!(
        kernel_with_env(&[("SIMD_R_DRIVE_KERNEL", "sse2")]),
        detected
    );
}
