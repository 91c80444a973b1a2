//! Conditional writes, versions and clear: conditions are decided by the writer against
//! the committed state and the batch's earlier operations; versions rise with every write
//! and survive compaction, reopening and repair; a clear empties the store in one entry,
//! also for the index file, a reopen and a compaction.

mod common;

use std::sync::Arc;

use common::*;
use simd_r_drive::{Condition, Op, StoreOptions};

#[test]
fn put_if_absent_writes_only_a_missing_key() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    assert!(s.put_if_absent(b"k", b"1").unwrap());
    assert!(!s.put_if_absent(b"k", b"2").unwrap());
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"1"[..]));
    s.delete(b"k").unwrap();
    assert!(s.put_if_absent(b"k", b"3").unwrap());
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"3"[..]));
}

#[test]
fn compare_and_set_compares_bytes_and_deletes() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    let end = s.stats().file_bytes;
    assert!(!s
        .compare_and_set(b"k", Condition::Value(b"x"), Some(b"y"))
        .unwrap());
    assert_eq!(
        s.stats().file_bytes,
        end,
        "a failed condition writes nothing"
    );
    assert!(s
        .compare_and_set(b"k", Condition::Absent, Some(b"a"))
        .unwrap());
    assert!(!s
        .compare_and_set(b"k", Condition::Value(b"b"), Some(b"c"))
        .unwrap());
    assert!(s
        .compare_and_set(b"k", Condition::Value(b"a"), Some(b"b"))
        .unwrap());
    assert!(!s.compare_and_set(b"k", Condition::Absent, None).unwrap());
    assert!(s
        .compare_and_set(b"k", Condition::Value(b"b"), None)
        .unwrap());
    assert!(s.get(b"k").unwrap().is_none());
    // An empty value is a value, not absence.
    assert!(s.put_if_absent(b"e", b"").unwrap());
    assert!(!s
        .compare_and_set(b"e", Condition::Absent, Some(b"x"))
        .unwrap());
    assert!(s
        .compare_and_set(b"e", Condition::Value(b""), Some(b"x"))
        .unwrap());
}

#[test]
fn conditions_see_the_earlier_operations_of_their_batch() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    s.put(b"v", b"0").unwrap();
    let v0 = s.version_of(b"v").unwrap().unwrap();
    let c = s
        .write_if(&[
            (
                Op::Put {
                    key: b"a",
                    value: b"1",
                },
                Some(Condition::Absent),
            ),
            (
                Op::Put {
                    key: b"a",
                    value: b"2",
                },
                Some(Condition::Absent),
            ),
            (
                Op::Put {
                    key: b"a",
                    value: b"3",
                },
                Some(Condition::Value(b"1")),
            ),
            (
                Op::Put {
                    key: b"plain",
                    value: b"p",
                },
                None,
            ),
            (
                Op::Put {
                    key: b"v",
                    value: b"1",
                },
                Some(Condition::Version(v0)),
            ),
            // The version of the put just before is new: nobody can hold it yet.
            (
                Op::Put {
                    key: b"v",
                    value: b"2",
                },
                Some(Condition::Version(v0)),
            ),
            (Op::Delete { key: b"a" }, Some(Condition::Value(b"3"))),
            (
                Op::Put {
                    key: b"a",
                    value: b"4",
                },
                Some(Condition::Absent),
            ),
        ])
        .unwrap();
    assert_eq!(c.wrote, [true, false, true, true, true, false, true, true]);
    assert_eq!(
        c.existed,
        [false, false, true, false, true, false, true, false]
    );
    assert_eq!(s.get(b"a").unwrap().as_deref(), Some(&b"4"[..]));
    assert_eq!(s.get(b"v").unwrap().as_deref(), Some(&b"1"[..]));
    // All failed: nothing is written.
    let end = s.stats().file_bytes;
    let c = s
        .write_if(&[(
            Op::Put {
                key: b"a",
                value: b"5",
            },
            Some(Condition::Absent),
        )])
        .unwrap();
    assert_eq!(c.wrote, [false]);
    assert_eq!(s.stats().file_bytes, end);
}

#[test]
fn every_write_gives_a_new_larger_version_and_a_to_b_to_a_is_told_apart() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    assert_eq!(s.version_of(b"k").unwrap(), None);
    s.put(b"k", b"A").unwrap();
    let v1 = s.version_of(b"k").unwrap().unwrap();
    s.put(b"other", b"x").unwrap();
    assert_eq!(
        s.version_of(b"k").unwrap(),
        Some(v1),
        "others' writes keep it"
    );
    s.put(b"k", b"A").unwrap();
    let v2 = s.version_of(b"k").unwrap().unwrap();
    assert!(v2 > v1, "the same bytes again are a new version");
    s.put(b"k", b"B").unwrap();
    s.put(b"k", b"A").unwrap();
    let v3 = s.version_of(b"k").unwrap().unwrap();
    assert!(v3 > v2);
    assert!(!s
        .compare_and_set(b"k", Condition::Version(v1), Some(b"C"))
        .unwrap());
    assert!(s
        .compare_and_set(b"k", Condition::Version(v3), Some(b"C"))
        .unwrap());
    s.delete(b"k").unwrap();
    assert_eq!(s.version_of(b"k").unwrap(), None);
    assert!(!s
        .compare_and_set(b"k", Condition::Version(v3), Some(b"D"))
        .unwrap());
}

#[test]
fn versions_survive_compaction_reopen_and_repair_and_keep_rising() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let keys: Vec<Vec<u8>> = (0..50).map(|i| format!("k{i}").into_bytes()).collect();
    let versions = |s: &simd_r_drive::Store| -> Vec<Option<u64>> {
        keys.iter().map(|k| s.version_of(k).unwrap()).collect()
    };
    let before;
    let mut highest;
    {
        let s = open(&p);
        for round in 0..3u64 {
            for (i, k) in keys.iter().enumerate() {
                s.put(k, &bytes(round * 100 + i as u64, 20)).unwrap();
            }
        }
        s.delete(&keys[7]).unwrap();
        before = versions(&s);
        highest = before.iter().flatten().copied().max().unwrap();
        s.compact().unwrap();
        assert_eq!(versions(&s), before, "compaction keeps every version");
        assert_eq!(dump(&s).len(), 49);
        s.put(&keys[0], b"new").unwrap();
        let v = s.version_of(&keys[0]).unwrap().unwrap();
        assert!(
            v > highest,
            "a write after compaction gets a larger version"
        );
        highest = v;
        s.compact().unwrap();
        s.compact().unwrap();
        assert_eq!(s.version_of(&keys[0]).unwrap(), Some(v));
        s.close().unwrap();
    }
    let s = open(&p);
    let mut want = before.clone();
    want[0] = Some(highest);
    assert_eq!(versions(&s), want, "reopening keeps every version");
    s.put(&keys[1], b"again").unwrap();
    let v = s.version_of(&keys[1]).unwrap().unwrap();
    assert!(v > highest);
    want[1] = Some(v);
    s.close().unwrap();
    drop(s);
    simd_r_drive::repair(&p, &StoreOptions::new()).unwrap();
    let s = open(&p);
    assert_eq!(versions(&s), want, "repair keeps every version");
    s.put(&keys[2], b"after repair").unwrap();
    assert!(s.version_of(&keys[2]).unwrap().unwrap() > v);
}

#[test]
fn versions_survive_a_compaction_with_writes_copied_from_its_tail() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = Arc::new(open(&p));
    for i in 0..20_000u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 64)).unwrap();
    }
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for i in 0..2_000u64 {
                let k = format!("t{i}");
                s.put(k.as_bytes(), b"tail").unwrap();
                seen.push((
                    k,
                    s.version_of(format!("t{i}").as_bytes()).unwrap().unwrap(),
                ));
            }
            seen
        })
    };
    s.compact().unwrap();
    let seen = writer.join().unwrap();
    for (k, v) in &seen {
        assert_eq!(s.version_of(k.as_bytes()).unwrap(), Some(*v), "{k}");
    }
    let top = seen.iter().map(|x| x.1).max().unwrap();
    s.put(b"t0", b"later").unwrap();
    assert!(s.version_of(b"t0").unwrap().unwrap() > top);
}

#[test]
fn racing_threads_never_both_win_a_key() {
    let d = Dir::new();
    let s = Arc::new(open(&d.path("s.srd")));
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut won = Vec::new();
                for i in 0..300u32 {
                    if s.put_if_absent(format!("claim{i}").as_bytes(), &[t])
                        .unwrap()
                    {
                        won.push(i);
                    }
                }
                won
            })
        })
        .collect();
    let mut winners = [0u32; 300];
    for (t, h) in threads.into_iter().enumerate() {
        for i in h.join().unwrap() {
            winners[i as usize] += 1;
            assert_eq!(
                s.get(format!("claim{i}").as_bytes()).unwrap().as_deref(),
                Some(&[t as u8][..]),
                "the winner's value is the one stored"
            );
        }
    }
    assert!(winners.iter().all(|&w| w == 1), "{winners:?}");
    // Counters incremented by compare-and-set retries: no increment is lost.
    s.put(b"n", b"0").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    loop {
                        let v = s.version_of(b"n").unwrap().unwrap();
                        let n: u64 = std::str::from_utf8(&s.get(b"n").unwrap().unwrap())
                            .unwrap()
                            .parse()
                            .unwrap();
                        let next = (n + 1).to_string();
                        if s.compare_and_set(b"n", Condition::Version(v), Some(next.as_bytes()))
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.get(b"n").unwrap().as_deref(), Some(&b"800"[..]));
}

#[test]
fn clear_empties_the_store_in_one_entry_and_reopen_and_compaction_agree() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..100u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 100)).unwrap();
    }
    let end = s.stats().file_bytes;
    s.clear().unwrap();
    assert_eq!(s.stats().file_bytes, end + 16, "one 16-byte entry");
    assert_eq!(s.len(), 0);
    assert!(s.get(b"k1").unwrap().is_none());
    assert_eq!(s.iter().unwrap().count(), 0);
    s.put(b"after", b"1").unwrap();
    s.close().unwrap();
    drop(s);
    let s = open(&p);
    assert_eq!(dump(&s), vec![(b"after".to_vec(), b"1".to_vec())]);
    let r = s.compact().unwrap();
    assert_eq!(r.entries, 1);
    assert!(
        r.bytes_after < 200,
        "the cleared keys' space came back: {r:?}"
    );
    assert_eq!(dump(&s), vec![(b"after".to_vec(), b"1".to_vec())]);
    // A clear of an empty store writes nothing.
    s.delete(b"after").unwrap();
    let end = s.stats().file_bytes;
    s.clear().unwrap();
    assert_eq!(s.stats().file_bytes, end);
}

#[test]
fn clear_over_an_index_file_hides_its_keys_across_reopen_and_merge() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let opts = StoreOptions::new().checkpoint_min_keys(10);
    {
        let s = opts.open(&p).unwrap();
        for i in 0..200u64 {
            s.put(format!("k{i}").as_bytes(), b"v").unwrap();
        }
        s.close().unwrap();
    }
    assert!(p.with_extension("srd.srd-index").exists());
    {
        let s = opts.open(&p).unwrap();
        assert_eq!(s.recovery().checkpoint_keys, Some(200));
        s.put(b"k0", b"changed").unwrap();
        s.clear().unwrap();
        assert_eq!(s.len(), 0);
        assert!(s.get(b"k5").unwrap().is_none());
        assert!(s.get(b"k0").unwrap().is_none());
        assert_eq!(s.iter().unwrap().count(), 0);
        s.put(b"k1", b"new").unwrap();
        s.close().unwrap();
    }
    {
        let s = opts.open(&p).unwrap();
        // The close after the clear replaced the index file (one key, under the threshold
        // of 10): this open replays nothing.
        assert_eq!(s.recovery().checkpoint_keys, Some(1));
        assert_eq!(s.recovery().entries, 0);
        assert_eq!(dump(&s), vec![(b"k1".to_vec(), b"new".to_vec())]);
        for i in 0..20u64 {
            s.put(format!("n{i}").as_bytes(), b"w").unwrap();
        }
        assert!(s.checkpoint().unwrap(), "a merge of the cleared index");
        s.close().unwrap();
    }
    let s = opts.open(&p).unwrap();
    assert_eq!(s.recovery().checkpoint_keys, Some(21));
    assert_eq!(s.len(), 21);
    assert!(s.get(b"k5").unwrap().is_none());
    s.verify().unwrap();
}

#[test]
fn a_clear_written_while_a_compaction_runs_is_kept() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = Arc::new(open(&p));
    for i in 0..30_000u64 {
        s.put(format!("k{i}").as_bytes(), &bytes(i, 64)).unwrap();
    }
    let clearer = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.clear().unwrap();
            s.put(b"after", b"1").unwrap();
        })
    };
    s.compact().unwrap();
    clearer.join().unwrap();
    assert_eq!(dump(&s), vec![(b"after".to_vec(), b"1".to_vec())]);
    s.close().unwrap();
    drop(s);
    let s = open(&p);
    assert_eq!(dump(&s), vec![(b"after".to_vec(), b"1".to_vec())]);
}

#[test]
fn a_follower_sees_a_clear_after_refresh() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let w = open(&p);
    w.put(b"a", b"1").unwrap();
    w.put(b"b", b"2").unwrap();
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert_eq!(r.len(), 2);
    w.clear().unwrap();
    w.put(b"c", b"3").unwrap();
    r.refresh().unwrap();
    assert_eq!(dump(&r), vec![(b"c".to_vec(), b"3".to_vec())]);
}
