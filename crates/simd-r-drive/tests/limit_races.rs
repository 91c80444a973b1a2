//! The size limit under concurrency: one writer issuing the kill -9 loop's kinds of
//! operation groups (single puts and deletes, small and large batches, some entries with an
//! expiry already past or far ahead), compactions started beside it, automatic compaction
//! on its own thread, and every commit tried first without waiting (as the event loop
//! does). The store must always be the writer's model in last-write order less a prefix
//! of its oldest entries, during the run and after a reopen.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use simd_r_drive::{Op, Store, StoreOptions};

const MAX: u64 = 64 * 1024;
const PAST: u64 = 1;
const FUTURE: u64 = 1 << 50;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        (self.next() * n as f64) as u64
    }
}

/// The model: key -> value, in last-write order (a write moves its key to the end).
#[derive(Default, Clone)]
struct Fifo {
    order: Vec<Vec<u8>>,
    values: HashMap<Vec<u8>, Vec<u8>>,
}

impl Fifo {
    fn remove(&mut self, k: &[u8]) {
        if self.values.remove(k).is_some() {
            self.order.retain(|x| x != k);
        }
    }
    fn set(&mut self, k: &[u8], v: &[u8]) {
        self.remove(k);
        self.order.push(k.to_vec());
        self.values.insert(k.to_vec(), v.to_vec());
    }
    /// How many of the oldest keys the store lacks, if it is this model less that prefix.
    fn evicted_prefix(&self, s: &Store) -> Result<usize, String> {
        let first = self
            .order
            .iter()
            .position(|k| s.contains(k).unwrap())
            .unwrap_or(self.order.len());
        for (i, k) in self.order.iter().enumerate().skip(first) {
            match s.get(k).unwrap() {
                Some(v) if v[..] == self.values[k][..] => {}
                Some(v) => {
                    return Err(format!(
                        "key {} (position {i} of {}, first present {first}) has {} other bytes",
                        String::from_utf8_lossy(k),
                        self.order.len(),
                        v.len()
                    ))
                }
                None => {
                    return Err(format!(
                        "key {} (position {i} of {}, first present {first}) missing",
                        String::from_utf8_lossy(k),
                        self.order.len()
                    ))
                }
            }
        }
        let extra = s
            .iter()
            .unwrap()
            .filter(|(k, _)| !self.values.contains_key(&k[..]))
            .count();
        if extra > 0 {
            return Err(format!("{extra} keys not in the model"));
        }
        Ok(first)
    }
    fn drop_prefix(&mut self, n: usize) {
        for k in self.order.drain(..n) {
            self.values.remove(&k);
        }
    }
}

/// One operation of a group: key, value (`None`: a delete) and expiry.
type Entry = (Vec<u8>, Option<Vec<u8>>, Option<u64>);

fn value(g: u64, i: u64, len: u64) -> Vec<u8> {
    let mut x = (g * 10007 + i * 101 + 7) as u32;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            (x >> 24) as u8
        })
        .collect()
}

fn run(seed: u64, groups: u64) {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = || StoreOptions::new().max_bytes(MAX);
    let s = Arc::new(opts().open(&p).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let compact_now = Arc::new(AtomicBool::new(false));
    let auto = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if s.auto_compaction_due() {
                    if let Some(claim) = s.claim_auto_compaction() {
                        s.run_auto_compaction(&claim).unwrap();
                    }
                }
                std::thread::yield_now();
            }
        })
    };
    let manual = {
        let (s, stop, now) = (s.clone(), stop.clone(), compact_now.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if now.swap(false, Ordering::AcqRel) {
                    s.compact().unwrap();
                }
                std::thread::yield_now();
            }
        })
    };
    let mut rnd = Rng(seed | 1);
    let mut model = Fifo::default();
    for g in 0..groups {
        let r = rnd.next();
        let key = |rnd: &mut Rng| format!("key-{}", rnd.below(300)).into_bytes();
        let len = |rnd: &mut Rng| {
            if rnd.next() < 0.1 {
                rnd.below(4000)
            } else {
                rnd.below(300)
            }
        };
        let expiry = |rnd: &mut Rng| {
            let e = rnd.next();
            if e < 0.1 {
                Some(PAST)
            } else if e < 0.2 {
                Some(FUTURE)
            } else {
                None
            }
        };
        let mut entries: Vec<Entry> = Vec::new();
        if r < 0.45 {
            let k = key(&mut rnd);
            let l = len(&mut rnd);
            entries.push((k, Some(value(g, 0, l)), expiry(&mut rnd)));
        } else if r < 0.6 {
            entries.push((key(&mut rnd), None, None));
        } else if r < 0.75 {
            let n = 2 + rnd.below(8);
            for i in 0..n {
                let k = key(&mut rnd);
                let l = len(&mut rnd);
                entries.push((k, Some(value(g, i, l)), None));
            }
        } else if r < 0.95 {
            let n = 1 + rnd.below(100);
            for i in 0..n {
                let k = key(&mut rnd);
                let l = if rnd.next() < 0.01 {
                    4000
                } else {
                    rnd.below(200)
                };
                entries.push((k, Some(value(g, i, l)), expiry(&mut rnd)));
            }
        } else {
            compact_now.store(true, Ordering::Release);
            continue;
        }
        let ops: Vec<Op<'_>> = entries
            .iter()
            .map(|(k, v, e)| match (v, e) {
                (None, _) => Op::Delete { key: k },
                (Some(v), None) => Op::Put { key: k, value: v },
                (Some(v), Some(at)) => Op::PutExpiring {
                    key: k,
                    value: v,
                    expires_at: *at,
                },
            })
            .collect();
        if s.try_write(&ops).unwrap().is_none() {
            s.write(&ops).unwrap();
        }
        for (k, v, e) in &entries {
            match (v, e) {
                (Some(v), e) if e.is_none_or(|at| at > PAST) => model.set(k, v),
                _ => model.remove(k),
            }
        }
        match model.evicted_prefix(&s) {
            Ok(n) => model.drop_prefix(n),
            Err(why) => panic!("seed {seed}, group {g}: {why}; stats {:?}", s.stats()),
        }
    }
    stop.store(true, Ordering::Release);
    auto.join().unwrap();
    manual.join().unwrap();
    let s = Arc::into_inner(s).unwrap();
    drop(s);
    let s = opts().open(&p).unwrap();
    if let Err(why) = model.evicted_prefix(&s) {
        panic!("seed {seed}, after the reopen: {why}");
    }
}

#[test]
fn a_writer_beside_compactions_under_the_size_limit_keeps_fifo_order() {
    let seeds: u64 = std::env::var("LIMIT_RACE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let base: u64 = std::env::var("LIMIT_RACE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    for i in 0..seeds {
        run(base + i, 3000);
    }
}
