//! Property tests: random operation sequences against a `HashMap` model, with reopens and
//! compactions in the middle, once with the real key hash and once with a hash that makes
//! almost every key collide; and against a FIFO model of a store with a size limit.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use simd_r_drive::{Condition, KeyHasher, Op, Store, StoreOptions};

#[derive(Debug, Clone)]
enum Action {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Compact,
    Reopen,
    /// Close (which saves an index checkpoint), then reopen (which reads it).
    CloseReopen,
    Checkpoint,
    Flush,
    PutIfAbsent(u8, Vec<u8>),
    /// Compare-and-set of the key's bytes: against its current value (`true`) or another.
    CompareBytes(u8, bool, Option<Vec<u8>>),
    /// Compare-and-set of the key's version: the current one (`true`) or a stale one.
    CompareVersion(u8, bool, Option<Vec<u8>>),
    Clear,
    /// Put with an expiry this many ms after the store's time now.
    PutExpiring(u8, Vec<u8>, u64),
    /// Moves the clock forward.
    Advance(u64),
    /// Moves the clock back (the store keeps the latest time it saw while open).
    Back(u64),
    /// `clear_expired`: a whole pass of the expiry sweep.
    ClearExpired,
    /// Steps of the expiry sweep of this many bytes of log each, until the sweep has
    /// wrapped twice (so that it has gone over the whole log once at least).
    SweepSteps(u64),
}

/// Expiry state beside the model of live values: when each live key with an expiry
/// expires, and the keys whose value expired but that the index still holds (counted by
/// `len` until a compaction drops them).
#[derive(Default)]
struct Expiry {
    at: HashMap<Vec<u8>, u64>,
    stale: HashSet<Vec<u8>>,
}

impl Expiry {
    /// `key` was written (put without expiry, or deleted).
    fn wrote(&mut self, key: &[u8]) {
        self.at.remove(key);
        self.stale.remove(key);
    }
}

fn key(k: u8) -> Vec<u8> {
    // Keys of varying length, some sharing prefixes.
    let mut v = format!("k{}", k % 16).into_bytes();
    v.extend(std::iter::repeat_n(b'x', (k / 16) as usize));
    v
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 200..700),
        1 => Just(vec![0u8]),
        1 => Just(vec![]),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u8..48, value()).prop_map(|(k, v)| Action::Put(k, v)),
        3 => (0u8..48).prop_map(Action::Delete),
        2 => proptest::collection::vec((0u8..48, proptest::option::of(value())), 1..6).prop_map(Action::Batch),
        1 => Just(Action::Compact),
        1 => Just(Action::Reopen),
        1 => Just(Action::CloseReopen),
        1 => Just(Action::Checkpoint),
        1 => Just(Action::Flush),
        2 => (0u8..48, value()).prop_map(|(k, v)| Action::PutIfAbsent(k, v)),
        2 => (0u8..48, any::<bool>(), proptest::option::of(value()))
            .prop_map(|(k, c, v)| Action::CompareBytes(k, c, v)),
        2 => (0u8..48, any::<bool>(), proptest::option::of(value()))
            .prop_map(|(k, c, v)| Action::CompareVersion(k, c, v)),
        1 => Just(Action::Clear),
        3 => (0u8..48, value(), 0u64..3000).prop_map(|(k, v, t)| Action::PutExpiring(k, v, t)),
        2 => (0u64..2500).prop_map(Action::Advance),
        1 => (0u64..1000).prop_map(Action::Back),
        1 => Just(Action::ClearExpired),
        1 => (1u64..2048).prop_map(Action::SweepSteps),
    ]
}

/// Every key's version as last read after a write of it: none may change but by a write.
type Versions = HashMap<Vec<u8>, u64>;

fn check(
    store: &Store,
    model: &HashMap<Vec<u8>, Vec<u8>>,
    versions: &Versions,
    exp: &Expiry,
) -> Result<(), TestCaseError> {
    // `len` counts expired keys until a compaction drops them.
    prop_assert_eq!(store.len(), model.len() + exp.stale.len());
    for k in 0u8..48 {
        let key = key(k);
        prop_assert_eq!(store.expires_at(&key).unwrap(), exp.at.get(&key).copied());
    }
    for k in 0u8..48 {
        let key = key(k);
        prop_assert_eq!(store.version_of(&key).unwrap(), versions.get(&key).copied());
    }
    for k in 0u8..48 {
        let key = key(k);
        let got = store.get(&key).unwrap().map(|v| v.to_vec());
        prop_assert_eq!(
            got.as_ref(),
            model.get(&key),
            "key {:?}",
            String::from_utf8_lossy(&key)
        );
    }
    // The batched lookup agrees key by key, absent keys and duplicates included.
    let keys: Vec<Vec<u8>> = (0u8..48).chain(0u8..48).map(key).collect();
    let mut seen = 0;
    store
        .get_many_with(&keys, |i, v| {
            assert_eq!(i, seen);
            seen += 1;
            assert_eq!(v, model.get(&keys[i]).map(|v| &v[..]), "key {i}");
        })
        .unwrap();
    prop_assert_eq!(seen, keys.len());
    // And so does the batched location of values in the private mapping.
    let mut seen = 0;
    store
        .locate_many_private(&keys, |i, at| {
            assert_eq!(i, seen);
            seen += 1;
            let at = at.map(|a| (a.offset, a.len));
            let one = store
                .locate_private(&keys[i], |a| a.map(|a| (a.offset, a.len)))
                .unwrap();
            assert_eq!(at, one, "key {i}");
            assert_eq!(at.map(|a| a.1), model.get(&keys[i]).map(|v| v.len()));
        })
        .unwrap();
    prop_assert_eq!(seen, keys.len());
    let mut it: Vec<(Vec<u8>, Vec<u8>)> = store
        .iter()
        .unwrap()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    it.sort();
    let mut m: Vec<(Vec<u8>, Vec<u8>)> =
        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    m.sort();
    prop_assert_eq!(it, m);
    let st = store.stats();
    prop_assert_eq!(
        st.reclaimable_bytes,
        st.file_bytes
            .saturating_sub(64 + st.live_bytes + 8 * st.entries + 24)
    );
    Ok(())
}

/// Records the version of `key` after a write of it (the model says whether it lives): a
/// new one must be larger than every version handed out before (`top`).
fn wrote(
    store: &Store,
    model: &HashMap<Vec<u8>, Vec<u8>>,
    versions: &mut Versions,
    top: &mut u64,
    key: &[u8],
) -> Result<(), TestCaseError> {
    match store.version_of(key).unwrap() {
        Some(v) => {
            prop_assert!(model.contains_key(key));
            prop_assert!(v > *top, "version {} after {}", v, *top);
            *top = v;
            versions.insert(key.to_vec(), v);
        }
        None => {
            prop_assert!(!model.contains_key(key));
            versions.remove(key);
        }
    }
    Ok(())
}

fn run(actions: Vec<Action>, hasher: Option<KeyHasher>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.srd");
    let opts = || {
        // Every close saves an index checkpoint, so that reopens read one.
        let o = StoreOptions::new().checkpoint_min_keys(0);
        match hasher {
            Some(h) => o.key_hasher(h),
            None => o,
        }
    };
    // The store's clock, and the latest time it gave since the store was opened.
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let mut now = 1_000_000u64;
    let c = clock.clone();
    let read_clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(move || c.load(Ordering::SeqCst));
    let opts = || opts().clock(read_clock.clone());
    let mut exp = Expiry::default();
    let mut store = opts().open(&path).unwrap();
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut versions = Versions::new();
    // The largest version handed out so far: every write must give a larger one.
    let mut top = 0u64;
    for a in actions {
        match a {
            Action::Put(k, v) => {
                store.put(&key(k), &v).unwrap();
                exp.wrote(&key(k));
                model.insert(key(k), v);
                wrote(&store, &model, &mut versions, &mut top, &key(k))?;
            }
            Action::Delete(k) => {
                let existed = store.delete(&key(k)).unwrap();
                prop_assert_eq!(existed, model.remove(&key(k)).is_some());
                versions.remove(&key(k));
                // Deleting an expired key writes nothing: the index keeps it until a
                // compaction.
                exp.at.remove(&key(k));
            }
            Action::PutIfAbsent(k, v) => {
                let absent = !model.contains_key(&key(k));
                prop_assert_eq!(store.put_if_absent(&key(k), &v).unwrap(), absent);
                if absent {
                    exp.wrote(&key(k));
                    model.insert(key(k), v);
                    wrote(&store, &model, &mut versions, &mut top, &key(k))?;
                }
            }
            Action::CompareBytes(k, current, v) => {
                let key = key(k);
                let have = model.get(&key).cloned();
                let expected = if current {
                    have.clone()
                } else {
                    Some(b"other".to_vec())
                };
                let cond = match &expected {
                    Some(e) => Condition::Value(e),
                    None => Condition::Absent,
                };
                let holds = expected == have;
                prop_assert_eq!(
                    store.compare_and_set(&key, cond, v.as_deref()).unwrap(),
                    holds
                );
                if holds {
                    exp.wrote(&key);
                    match v {
                        Some(v) => model.insert(key.clone(), v),
                        None => model.remove(&key),
                    };
                    wrote(&store, &model, &mut versions, &mut top, &key)?;
                }
            }
            Action::CompareVersion(k, current, v) => {
                let key = key(k);
                let have = versions.get(&key).copied();
                let given = if current {
                    have.unwrap_or(1)
                } else {
                    have.unwrap_or(1) - 1
                };
                let holds = current && have.is_some();
                let got = store
                    .compare_and_set(&key, Condition::Version(given), v.as_deref())
                    .unwrap();
                prop_assert_eq!(got, holds);
                if holds {
                    exp.wrote(&key);
                    match v {
                        Some(v) => model.insert(key.clone(), v),
                        None => model.remove(&key),
                    };
                    wrote(&store, &model, &mut versions, &mut top, &key)?;
                }
            }
            Action::Clear => {
                store.clear().unwrap();
                model.clear();
                versions.clear();
                exp = Expiry::default();
            }
            Action::PutExpiring(k, v, ttl) => {
                let key = key(k);
                store.put_expiring(&key, &v, now + ttl).unwrap();
                exp.wrote(&key);
                if ttl == 0 {
                    // Expired at once: no value, but the index holds it.
                    model.remove(&key);
                    versions.remove(&key);
                    exp.stale.insert(key.clone());
                } else {
                    model.insert(key.clone(), v);
                    exp.at.insert(key.clone(), now + ttl);
                    wrote(&store, &model, &mut versions, &mut top, &key)?;
                }
            }
            Action::Advance(ms) | Action::Back(ms) => {
                let t = if matches!(a, Action::Advance(_)) {
                    clock.load(Ordering::SeqCst) + ms
                } else {
                    clock.load(Ordering::SeqCst).saturating_sub(ms)
                };
                clock.store(t, Ordering::SeqCst);
                now = now.max(t);
                let due: Vec<Vec<u8>> = exp
                    .at
                    .iter()
                    .filter(|(_, &at)| at <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in due {
                    exp.at.remove(&k);
                    model.remove(&k);
                    versions.remove(&k);
                    exp.stale.insert(k);
                }
            }
            Action::Batch(items) => {
                let keys: Vec<Vec<u8>> = items.iter().map(|(k, _)| key(*k)).collect();
                let ops: Vec<Op<'_>> = items
                    .iter()
                    .zip(&keys)
                    .map(|((_, v), k)| common::op(k, v.as_deref()))
                    .collect();
                let c = store.write(&ops).unwrap();
                for k in &keys {
                    exp.wrote(k);
                }
                for (i, ((_, v), k)) in items.iter().zip(&keys).enumerate() {
                    let before = match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                    prop_assert_eq!(c.existed[i], before.is_some());
                }
                for k in &keys {
                    if !model.contains_key(k) {
                        versions.remove(k);
                    }
                }
                // Every key the batch put: one new version each (the batch's last put).
                let mut put: Vec<&Vec<u8>> =
                    keys.iter().filter(|k| model.contains_key(*k)).collect();
                put.sort();
                put.dedup();
                let before = top;
                let mut newest = top;
                for k in put {
                    let v = store.version_of(k).unwrap().unwrap();
                    prop_assert!(v > before);
                    newest = newest.max(v);
                    versions.insert(k.clone(), v);
                }
                top = newest;
            }
            Action::Compact => {
                let before = store.stats();
                let r = store.compact().unwrap();
                // Exact but for keys that carry a version already (8 bytes each), and for
                // the expired keys it drops (which `reclaimable_bytes` counts as live).
                prop_assert!(r.reclaimed_bytes >= before.reclaimable_bytes);
                if exp.stale.is_empty() {
                    prop_assert!(
                        r.reclaimed_bytes <= before.reclaimable_bytes + 8 * before.entries
                    );
                }
                prop_assert_eq!(r.entries, model.len() as u64);
                exp.stale.clear();
            }
            Action::Reopen => {
                drop(store);
                clock.store(now, Ordering::SeqCst);
                store = opts().open(&path).unwrap();
                prop_assert_eq!(store.recovery().dropped_tail_bytes, 0);
                // The index, from a checkpoint and the log after it or from the whole log,
                // is the one the whole log gives.
                store.verify().unwrap();
            }
            Action::CloseReopen => {
                store.close().unwrap();
                drop(store);
                clock.store(now, Ordering::SeqCst);
                store = opts().open(&path).unwrap();
                prop_assert_eq!(store.recovery().dropped_tail_bytes, 0);
                // Only a store that was never written to has no sync mark to anchor one.
                if store.stats().file_bytes > 64 {
                    prop_assert_eq!(
                        store.recovery().checkpoint_keys,
                        Some((model.len() + exp.stale.len()) as u64)
                    );
                }
                prop_assert_eq!(store.recovery().entries, 0);
                store.verify().unwrap();
            }
            Action::Checkpoint => {
                store.checkpoint().unwrap();
            }
            Action::ClearExpired => {
                let before = store.stats();
                let removed = store.clear_expired().unwrap();
                prop_assert_eq!(removed, exp.stale.len() as u64);
                let after = store.stats();
                prop_assert_eq!(after.expired_entries, before.expired_entries + removed);
                if removed > 0 {
                    // (`reclaimable_bytes` errs low, 8 bytes a key and a sync mark, so on a
                    // small store it may stay 0.)
                    prop_assert!(after.live_bytes < before.live_bytes);
                    prop_assert!(after.reclaimable_bytes >= before.reclaimable_bytes);
                }
                exp.stale.clear();
            }
            Action::SweepSteps(budget) => {
                let (mut removed, mut wraps) = (0, 0);
                while wraps < 2 {
                    let step = store.sweep_expired(budget).unwrap();
                    removed += step.removed;
                    wraps += step.wrapped as u32;
                }
                prop_assert_eq!(removed, exp.stale.len() as u64);
                exp.stale.clear();
            }
            Action::Flush => store.flush().unwrap(),
        }
        check(&store, &model, &versions, &exp)?;
    }
    drop(store);
    // A reopen starts from the clock (not the latest time seen): set it there, so that
    // nothing expired comes back (tests/expiry.rs covers what a reopen with an earlier
    // clock does).
    clock.store(now, Ordering::SeqCst);
    let store = opts().open(&path).unwrap();
    check(&store, &model, &versions, &exp)
}

/// The size limit of the FIFO model: a few entries of the sizes `value()` gives.
const LIMIT: u64 = 1024;

#[derive(Debug, Clone)]
enum LimitAction {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    PutIfAbsent(u8, Vec<u8>),
    Compact,
    Reopen,
    CloseReopen,
}

fn limit_action() -> impl Strategy<Value = LimitAction> {
    prop_oneof![
        8 => (0u8..24, value()).prop_map(|(k, v)| LimitAction::Put(k, v)),
        2 => (0u8..24).prop_map(LimitAction::Delete),
        3 => proptest::collection::vec((0u8..24, proptest::option::of(value())), 1..6)
            .prop_map(LimitAction::Batch),
        2 => (0u8..24, value()).prop_map(|(k, v)| LimitAction::PutIfAbsent(k, v)),
        1 => Just(LimitAction::Compact),
        1 => Just(LimitAction::Reopen),
        1 => Just(LimitAction::CloseReopen),
    ]
}

/// The store under a size limit, modelled: the live entries in the order they were last
/// written (the log order), each with its value and whether it carries a version
/// (compaction's copies do: 8 bytes more).
#[derive(Default)]
struct Fifo {
    queue: Vec<(Vec<u8>, Vec<u8>, bool)>,
}

impl Fifo {
    fn len_of(key: &[u8], value: &[u8], versioned: bool) -> u64 {
        let a = |n: usize| (n as u64).div_ceil(8) * 8;
        16 + a(key.len()) + a(value.len()) + if versioned { 8 } else { 0 }
    }
    fn live(&self) -> u64 {
        self.queue
            .iter()
            .map(|(k, v, b)| Self::len_of(k, v, *b))
            .sum()
    }
    fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.queue.iter().find(|e| e.0 == key).map(|e| &e.1)
    }
    /// Applies one batch: puts move their key to the end, deletes remove it; then the
    /// oldest entries written before the batch go until the live data fits.
    fn write(&mut self, ops: &[(Vec<u8>, Option<Vec<u8>>)]) {
        for (k, v) in ops {
            self.queue.retain(|e| &e.0 != k);
            if let Some(v) = v {
                self.queue.push((k.clone(), v.clone(), false));
            }
        }
        while self.live() > LIMIT {
            self.queue.remove(0);
        }
    }
    fn compacted(&mut self) {
        for e in &mut self.queue {
            e.2 = true;
        }
    }
}

fn check_fifo(store: &Store, fifo: &Fifo) -> Result<(), TestCaseError> {
    let mut got: Vec<(Vec<u8>, Vec<u8>)> = store
        .iter()
        .unwrap()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    got.sort();
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = fifo
        .queue
        .iter()
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect();
    want.sort();
    prop_assert_eq!(got, want);
    prop_assert_eq!(store.stats().live_bytes, fifo.live());
    for k in 0u8..24 {
        let key = key(k);
        let v = store.get(&key).unwrap().map(|v| v.to_vec());
        prop_assert_eq!(v.as_ref(), fifo.get(&key));
    }
    Ok(())
}

/// Runs `actions` against a store with a size limit and the FIFO model. A write whose
/// puts take more than the limit is refused and changes nothing; a write that finds the
/// file past the size at which writes compact compacts first (its puts then carry no
/// version, the entries before them do).
fn run_limited(actions: Vec<LimitAction>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limited.srd");
    let opts = || {
        StoreOptions::new()
            .max_bytes(LIMIT)
            .auto_compact(None)
            .checkpoint_min_keys(0)
    };
    let mut store = opts().open(&path).unwrap();
    let mut fifo = Fifo::default();
    for a in actions {
        let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = match &a {
            LimitAction::Put(k, v) => vec![(key(*k), Some(v.clone()))],
            LimitAction::Delete(k) => vec![(key(*k), None)],
            LimitAction::Batch(items) => items.iter().map(|(k, v)| (key(*k), v.clone())).collect(),
            LimitAction::PutIfAbsent(k, v) => vec![(key(*k), Some(v.clone()))],
            LimitAction::Compact => {
                store.compact().unwrap();
                fifo.compacted();
                check_fifo(&store, &fifo)?;
                continue;
            }
            LimitAction::Reopen | LimitAction::CloseReopen => {
                if matches!(a, LimitAction::CloseReopen) {
                    store.close().unwrap();
                }
                drop(store);
                store = opts().open(&path).unwrap();
                store.verify().unwrap();
                check_fifo(&store, &fifo)?;
                continue;
            }
        };
        let puts: u64 = ops
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| Fifo::len_of(k, v, false)))
            .sum();
        let (generation, seq) = (store.stats().generation, store.stats().seq);
        let result = match &a {
            LimitAction::Put(k, v) => store.put(&key(*k), v).map(|_| true),
            LimitAction::Delete(k) => store.delete(&key(*k)).map(|_| true),
            LimitAction::PutIfAbsent(k, v) => store.put_if_absent(&key(*k), v),
            LimitAction::Batch(_) => {
                let list: Vec<Op<'_>> = ops
                    .iter()
                    .map(|(k, v)| common::op(k, v.as_deref()))
                    .collect();
                store.write(&list).map(|_| true)
            }
            _ => unreachable!(),
        };
        if puts > LIMIT {
            prop_assert!(
                matches!(result, Err(simd_r_drive::Error::OverMaxBytes { .. })),
                "{:?}",
                result
            );
        } else {
            let wrote = result.unwrap();
            if store.stats().generation != generation {
                // The write compacted before it appended.
                fifo.compacted();
            }
            let absent = matches!(a, LimitAction::PutIfAbsent(..)) && fifo.get(&ops[0].0).is_none();
            if matches!(a, LimitAction::PutIfAbsent(..)) {
                prop_assert_eq!(wrote, absent);
                if absent {
                    fifo.write(&ops);
                }
            } else if !(matches!(a, LimitAction::Delete(_)) && fifo.get(&ops[0].0).is_none()) {
                // (Deleting a missing key writes nothing.)
                fifo.write(&ops);
            }
        }
        // The live data fits once anything was written (a compaction's versions can take
        // it past the limit until the next write, which evicts them back under it).
        if store.stats().seq != seq {
            prop_assert!(store.stats().live_bytes <= LIMIT);
        }
        prop_assert!(store.stats().file_bytes <= 2 * LIMIT + 88 + 6 * 800);
        check_fifo(&store, &fifo)?;
    }
    drop(store);
    let store = opts().open(&path).unwrap();
    check_fifo(&store, &fifo)
}

fn colliding(key: &[u8]) -> u64 {
    // Three buckets for every key in the test.
    key.len() as u64 % 3
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_a_hashmap(actions in proptest::collection::vec(action(), 1..60)) {
        run(actions, None)?;
    }

    #[test]
    fn a_store_with_a_size_limit_matches_a_fifo_model(actions in proptest::collection::vec(limit_action(), 1..80)) {
        run_limited(actions)?;
    }

    #[test]
    fn store_matches_a_hashmap_when_hashes_collide(actions in proptest::collection::vec(action(), 1..60)) {
        run(actions, Some(colliding))?;
    }
}

#[test]
fn colliding_keys_each_read_their_own_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.srd");
    let all_same: KeyHasher = |_| 42;
    let s = StoreOptions::new()
        .key_hasher(all_same)
        .open(&path)
        .unwrap();
    for i in 0..200u32 {
        s.put(format!("key-{i}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    for i in (0..200u32).step_by(3) {
        assert!(s.delete(format!("key-{i}").as_bytes()).unwrap());
    }
    s.compact().unwrap();
    drop(s);
    let s = StoreOptions::new()
        .key_hasher(all_same)
        .open(&path)
        .unwrap();
    for i in 0..200u32 {
        let got = s.get(format!("key-{i}").as_bytes()).unwrap();
        if i % 3 == 0 {
            assert!(got.is_none());
        } else {
            assert_eq!(&*got.unwrap(), &i.to_le_bytes());
        }
    }
    assert!(s.get(b"key-200").unwrap().is_none());
    // Every key has the same hash: the batched lookup must compare keys, not hashes.
    let keys: Vec<String> = (0..210u32).map(|i| format!("key-{i}")).collect();
    let mut found = 0;
    s.get_many_with(&keys, |i, v| {
        let want = (i < 200 && i % 3 != 0).then(|| (i as u32).to_le_bytes());
        assert_eq!(v, want.as_ref().map(|w| &w[..]), "{}", keys[i]);
        found += v.is_some() as usize;
    })
    .unwrap();
    assert_eq!(found, 200 - 67);
}
