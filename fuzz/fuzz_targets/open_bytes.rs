//! The input is a whole store file: open it read-only and writable, recover, read, write,
//! compact, reopen and repair it (see `open_bytes` in the shared checks).
//!
//! Random bytes almost never carry a valid XXH3 checksum, so plain mutation would only
//! explore damaged files. The custom mutator below therefore re-seals most mutants: it
//! recomputes the header checksum and the checksum of every entry it can walk, sometimes
//! leaving one entry unsealed so that damage sits in front of valid data. The checks see
//! the result as an ordinary input, so the corpus replays without this mutator.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[path = "../../crates/simd-r-drive/tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::open_bytes(data));

/// Mixed into an entry's offset to seed its checksum (FORMAT.md, "Checksum").
const SEED_MIX: u64 = 0x5352_4452_4956_4531;

/// Recomputes the checksums of the header (if it has the magic) and of the entries from
/// offset 64 on, walking them by their length fields until one is impossible or runs
/// past the end. Entry number `skip` (if any) keeps its checksum.
fn reseal(data: &mut [u8], skip: Option<usize>) {
    if data.len() >= 64 && &data[..8] == b"SIMDRDRV" {
        let sum = xxh3_64_with_seed(&data[..56], 0);
        data[56..64].copy_from_slice(&sum.to_le_bytes());
    }
    let align = |n: usize| (n + 7) & !7;
    let mut pos = 64;
    let mut n = 0;
    while pos + 16 <= data.len() {
        let kind = data[pos + 8];
        let key_len = u16::from_le_bytes([data[pos + 10], data[pos + 11]]) as usize;
        let value_len = u32::from_le_bytes(data[pos + 12..pos + 16].try_into().unwrap()) as usize;
        let len = 16 + align(key_len) + align(value_len);
        if !(1..=3).contains(&kind) || len > data.len() - pos {
            break;
        }
        if skip != Some(n) {
            let sum = xxh3_64_with_seed(&data[pos + 8..pos + len], pos as u64 ^ SEED_MIX);
            data[pos..pos + 8].copy_from_slice(&sum.to_le_bytes());
        }
        pos += len;
        n += 1;
    }
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let size = fuzzer_mutate(data, size, max_size);
    match seed % 8 {
        // Left as mutated: damaged checksums everywhere.
        0 | 1 => {}
        2..=4 => reseal(&mut data[..size], None),
        _ => reseal(&mut data[..size], Some((seed >> 3) as usize % 8)),
    }
    size
});
