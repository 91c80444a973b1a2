//! Replays the fuzz corpus (`fuzz/corpus/<target>/` at the repository root) through the
//! same checks the fuzz targets run (`tests/fuzz_checks/mod.rs`), on stable Rust and
//! without libFuzzer, so every `cargo test` keeps the inputs the fuzzer found interesting
//! passing. To grow the corpus, see `fuzz/README.md`.

mod fuzz_checks;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

/// Corpus files that reproduce engine bugs not fixed yet: `(target, file name, what)`.
/// `replay_*` skips them; `known_engine_bugs` (ignored) runs them.
const KNOWN_BUGS: &[(&str, &str, &str)] = &[];

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn name(p: &std::path::Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs `check` on every corpus file of `target` (but the known bugs) and reports every
/// file that fails, not only the first.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "the {target} corpus is empty");
    let mut failed = Vec::new();
    for path in &files {
        let file = name(path);
        if KNOWN_BUGS.iter().any(|b| b.0 == target && b.1 == file) {
            continue;
        }
        let data = fs::read(path).expect("reading a corpus file");
        if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(file);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {target} corpus files fail (reproduce one with `cargo +nightly fuzz run \
         {target} fuzz/corpus/{target}/<file>`): {failed:?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn replay_open_bytes() {
    replay("open_bytes", fuzz_checks::open_bytes);
}

#[test]
fn replay_checkpoint_bytes() {
    replay("checkpoint_bytes", fuzz_checks::checkpoint_bytes);
}

/// The first seed of the `checkpoint_bytes` corpus is the checkpoint of its store as this
/// build writes it: if the store or the format changes, regenerate the corpus.
#[test]
fn the_checkpoint_bytes_seed_is_current() {
    let seed = corpus("checkpoint_bytes")
        .into_iter()
        .find(|p| name(p) == "valid")
        .expect("corpus/checkpoint_bytes/valid");
    let seed = fs::read(&seed).unwrap();
    assert!(
        seed == fuzz_checks::checkpoint_seed(),
        "regenerate fuzz/corpus/checkpoint_bytes (see fuzz/README.md)"
    );
    assert!(
        fuzz_checks::checkpoint_bytes_used(&seed),
        "the valid seed is used"
    );
}

#[test]
fn replay_ops_model() {
    replay("ops_model", fuzz_checks::ops_model);
}

#[test]
#[ignore = "reproducers of engine bugs that are not fixed yet"]
fn known_engine_bugs() {
    for (target, file, what) in KNOWN_BUGS {
        let data = fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fuzz/corpus")
                .join(target)
                .join(file),
        )
        .expect("reading a reproducer");
        eprintln!("{target}/{file}: {what}");
        match *target {
            "open_bytes" => fuzz_checks::open_bytes(&data),
            "ops_model" => fuzz_checks::ops_model(&data),
            "checkpoint_bytes" => fuzz_checks::checkpoint_bytes(&data),
            _ => panic!("unknown target {target}"),
        }
    }
}

#[test]
#[ignore = "run by hand to regenerate fuzz/corpus/checkpoint_bytes/valid"]
fn regenerate_the_checkpoint_bytes_seed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/checkpoint_bytes");
    fs::write(dir.join("valid"), fuzz_checks::checkpoint_seed()).unwrap();
}
