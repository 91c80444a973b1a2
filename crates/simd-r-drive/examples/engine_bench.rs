//! Single-threaded engine speed check.
//!
//! ```text
//! cargo run --release --example engine_bench [-- ENTRIES]
//! ```
//!
//! Measures, on one thread: bulk insert through `Store::write` in batches, random point
//! lookups, reopening the store with a warm page cache (through the index file and from
//! the whole log), close after 1,000 puts, index memory and index file per key, file size
//! against the raw key and value bytes, the checksum kernel (forced scalar against the
//! detected one), and the machine's memory latency (a random pointer chase), which bounds
//! lookups made one after another. Timed figures are the median of three runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use simd_r_drive::{simd, Op, Store, StoreOptions};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const BATCH: usize = 1000;
const RUNS: usize = 3;

/// splitmix64: a small, fast, well-mixed generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.next().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Keys: 8 random bytes then the entry number, so every key is distinct.
fn make_keys(n: usize) -> Vec<[u8; KEY_LEN]> {
    let mut rng = Rng(1);
    (0..n as u64)
        .map(|i| {
            let mut k = [0u8; KEY_LEN];
            k[..8].copy_from_slice(&rng.next().to_le_bytes());
            k[8..].copy_from_slice(&i.to_le_bytes());
            k
        })
        .collect()
}

fn bulk_insert(store: &Store, keys: &[[u8; KEY_LEN]], values: &[u8]) -> Duration {
    let mut ops: Vec<Op<'_>> = Vec::with_capacity(BATCH);
    let started = Instant::now();
    for (b, chunk) in keys.chunks(BATCH).enumerate() {
        ops.clear();
        for (j, key) in chunk.iter().enumerate() {
            let i = b * BATCH + j;
            ops.push(Op::Put {
                key,
                value: &values[i * VALUE_LEN..(i + 1) * VALUE_LEN],
            });
        }
        store.write(&ops).expect("write");
    }
    started.elapsed()
}

/// One `get_with` per key; the callback reads the value's first and last bytes.
fn lookups(store: &Store, keys: &[[u8; KEY_LEN]]) -> (Duration, u64) {
    let started = Instant::now();
    let mut sum = 0u64;
    for key in keys {
        let got = store.get_with(key, |v| v[0] as u64 + v[VALUE_LEN - 1] as u64);
        sum += got.expect("get").expect("present");
    }
    (started.elapsed(), black_box(sum))
}

/// The same lookups through `get_many_with`, `BATCH` keys per call.
fn batched_lookups(store: &Store, keys: &[[u8; KEY_LEN]]) -> (Duration, u64) {
    let started = Instant::now();
    let mut sum = 0u64;
    for chunk in keys.chunks(BATCH) {
        store
            .get_many_with(chunk, |_, v| {
                let v = v.expect("present");
                sum += v[0] as u64 + v[VALUE_LEN - 1] as u64;
            })
            .expect("get_many_with");
    }
    (started.elapsed(), black_box(sum))
}

/// Nanoseconds per load when each load's address depends on the one before, over a
/// random cycle through `bytes` of memory (one load per 64-byte line): the machine's memory
/// latency, which bounds how fast lookups can go when each waits for the one before.
fn memory_latency_ns(bytes: usize) -> f64 {
    const LINE: usize = 8; // u64s per cache line
    let lines = bytes / 64;
    let mut next = vec![0u64; lines * LINE];
    // Sattolo's algorithm: a random permutation that is one cycle through every line.
    let mut order: Vec<usize> = (0..lines).collect();
    let mut rng = Rng(5);
    for i in (1..lines).rev() {
        let j = (rng.next() % i as u64) as usize;
        order.swap(i, j);
    }
    for (i, &line) in order.iter().enumerate() {
        next[line * LINE] = (order[(i + 1) % lines] * LINE) as u64;
    }
    let steps = 2_000_000;
    let mut at = 0usize;
    let started = Instant::now();
    for _ in 0..steps {
        at = next[at] as usize;
    }
    black_box(at);
    secs(started.elapsed()) * 1e9 / steps as f64
}

fn st_file_bytes(store: &Store) -> usize {
    store.stats().file_bytes as usize
}

fn checksum_rate(data: &[u8], scalar: bool) -> f64 {
    simd::force_scalar(scalar);
    let target = 256usize << 20; // bytes hashed per run
    let reps = (target / data.len()).max(1);
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut acc = 0u64;
        for r in 0..reps {
            acc ^= simd::checksum(black_box(data), r as u64);
        }
        black_box(acc);
        rates.push((reps * data.len()) as f64 / secs(started.elapsed()) / 1e9);
    }
    simd::force_scalar(false);
    median(rates)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("ENTRIES must be a number"))
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    println!(
        "engine_bench: {n} entries, {KEY_LEN}-byte keys, {VALUE_LEN}-byte random values, \
         batches of {BATCH}, 1 thread, median of {RUNS} runs"
    );
    println!("dir: {}", dir.path().display());

    let keys = make_keys(n);
    let mut values = vec![0u8; n * VALUE_LEN];
    Rng(2).fill(&mut values);

    // Bulk insert: a fresh store per run; the last one is kept.
    let mut rates = Vec::new();
    let mut path = dir.path().join("bench.srd");
    for run in 0..RUNS {
        path = dir.path().join(format!("bench-{run}.srd"));
        let store = Store::open(&path).expect("open");
        let t = bulk_insert(&store, &keys, &values);
        store.close().expect("close");
        rates.push(n as f64 / secs(t));
        if run + 1 < RUNS {
            drop(store);
            std::fs::remove_file(&path).expect("remove");
        }
    }
    let bulk = median(rates);
    println!("bulk insert:      {:>12.0} entries/s", bulk);

    // Open + first read with a warm page cache: through the index file that close() saved
    // (constant time), and the strict whole-log open (`verify_full`), interleaved.
    let probe = keys[n / 2];
    let (mut open_ms, mut scan_ms) = (Vec::new(), Vec::new());
    let mut store = None;
    for _ in 0..RUNS {
        for full in [true, false] {
            drop(store.take());
            let started = Instant::now();
            let s = StoreOptions::new()
                .verify_full(full)
                .open(&path)
                .expect("reopen");
            assert!(s.get_with(&probe, |v| v.len()).expect("get").is_some());
            let ms = secs(started.elapsed()) * 1e3;
            assert_eq!(s.len(), n);
            assert_eq!(s.recovery().checkpoint_keys.is_none(), full);
            if full { &mut scan_ms } else { &mut open_ms }.push(ms);
            store = Some(s);
        }
    }
    let open = median(open_ms);
    println!("open + get (warm, whole log): {:>8.2} ms", median(scan_ms));
    println!("open + get (warm, index):     {:>8.3} ms", open);
    // 1,000 puts, then close (a delta file), then the open after it.
    let (mut close_ms, mut reopen_ms) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let s = store.take().expect("opened");
        for i in 0..1000u64 {
            let k = keys[((run as u64 * 1000 + i) * 7919 % n as u64) as usize];
            s.put(&k, &values[..VALUE_LEN]).expect("put");
        }
        let started = Instant::now();
        s.close().expect("close");
        close_ms.push(secs(started.elapsed()) * 1e3);
        drop(s);
        let started = Instant::now();
        let s = Store::open(&path).expect("reopen");
        assert!(s.get_with(&probe, |v| v.len()).expect("get").is_some());
        reopen_ms.push(secs(started.elapsed()) * 1e3);
        assert_eq!(s.recovery().entries, 0, "a clean close replays nothing");
        store = Some(s);
    }
    println!("close after 1,000 puts:       {:>8.2} ms", median(close_ms));
    println!(
        "open + get after that:        {:>8.3} ms",
        median(reopen_ms)
    );
    let store = store.expect("opened");

    // Random point lookups: every key once, in a shuffled order.
    let mut shuffled = keys.clone();
    let mut rng = Rng(3);
    for i in (1..shuffled.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        shuffled.swap(i, j);
    }
    // The same lookups on the same file opened by reading the whole log (the whole index
    // in memory), interleaved, to compare the index file's lookups with the in-memory ones.
    let in_memory = StoreOptions::new()
        .verify_full(true)
        .read_only(true)
        .open(&path)
        .expect("whole-log open");
    let mut rates = Vec::new();
    let mut batched = Vec::new();
    let (mut mem_rates, mut mem_batched) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (t, a) = lookups(&store, &shuffled);
        rates.push(n as f64 / secs(t));
        let (t, b) = batched_lookups(&store, &shuffled);
        batched.push(n as f64 / secs(t));
        assert_eq!(a, b, "both lookup paths read the same values");
        let (t, c) = lookups(&in_memory, &shuffled);
        mem_rates.push(n as f64 / secs(t));
        let (t, d) = batched_lookups(&in_memory, &shuffled);
        mem_batched.push(n as f64 / secs(t));
        assert_eq!((a, b), (c, d), "both indexes find the same values");
    }
    drop(in_memory);
    let lookup = median(rates);
    let lookup_batched = median(batched);
    println!(
        "random lookups:   {:>12.0} lookups/s (get_with, one key per call)",
        lookup
    );
    println!(
        "                  {:>12.0} lookups/s (get_many_with, {BATCH} keys per call)",
        lookup_batched
    );
    println!(
        "  whole-log open: {:>12.0} lookups/s (get_with), {:.0} (get_many_with): index in memory",
        median(mem_rates),
        median(mem_batched)
    );

    let latency = memory_latency_ns(st_file_bytes(&store));
    println!(
        "memory latency:   {:>12.0} ns per dependent load over a region the size of the file \
         (a lookup waits for two: table line, then entry; 10 M/s allows 100 ns per call)",
        latency
    );

    let st = store.stats();
    let index_per_key = st.index_bytes as f64 / st.entries as f64;
    println!(
        "index file:       {:>12.1} bytes/key on disk (page cache, shared)",
        st.index_file_bytes as f64 / st.entries as f64
    );
    let raw = (n * (KEY_LEN + VALUE_LEN)) as f64;
    let ratio = st.file_bytes as f64 / raw;
    println!(
        "index heap:       {:>12.1} bytes/key ({} bytes for {} keys)",
        index_per_key, st.index_bytes, st.entries
    );
    println!(
        "file / raw:       {:>12.3}x ({} bytes file, {} bytes of keys and values)",
        ratio, st.file_bytes, raw as u64
    );
    drop(store);

    println!("checksum kernels (detected: {:?}):", simd::detected());
    let mut data = vec![0u8; 1 << 20];
    Rng(4).fill(&mut data);
    for (label, len) in [("4 KiB", 4usize << 10), ("1 MiB", 1 << 20)] {
        let scalar = checksum_rate(&data[..len], true);
        let detected = checksum_rate(&data[..len], false);
        println!(
            "  {label}: scalar {scalar:6.2} GB/s, {:?} {detected:6.2} GB/s ({:.2}x)",
            simd::detected(),
            detected / scalar
        );
    }

    let checks = [
        ("bulk insert >= 3M entries/s", bulk >= 3e6),
        ("lookups >= 10M/s (get_with)", lookup >= 10e6),
        ("lookups >= 10M/s (get_many_with)", lookup_batched >= 10e6),
        ("open + get <= 2 ms (warm)", open <= 2.0),
        ("index <= 40 B/key", index_per_key <= 40.0),
        ("file <= 1.35x raw", ratio <= 1.35),
    ];
    for (what, ok) in checks {
        println!("target {what}: {}", if ok { "met" } else { "MISSED" });
    }
}
