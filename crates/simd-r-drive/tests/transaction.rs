//! Transactions: reads see the store plus the transaction's writes, the writes commit as
//! one batch, an error writes nothing, and no other writer gets in between.

mod common;

use std::sync::Arc;

use common::*;
use simd_r_drive::Error;

#[test]
fn a_transaction_reads_its_own_writes_and_commits_them_as_one_batch() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    s.put(b"a", b"1").unwrap();
    let end = s.stats().file_bytes;
    let (r, c) = s
        .transaction(|tx| {
            assert_eq!(tx.get(b"a")?.as_deref(), Some(&b"1"[..]));
            tx.put(b"a", b"2")?;
            assert_eq!(tx.get(b"a")?.as_deref(), Some(&b"2"[..]));
            // The store itself does not see it yet.
            assert_eq!(s.get(b"a")?.as_deref(), Some(&b"1"[..]));
            tx.put(b"b", b"x")?;
            assert!(tx.delete(b"b")?);
            assert!(!tx.contains(b"b")?);
            assert!(!tx.delete(b"missing")?);
            Ok::<_, Error>(42)
        })
        .unwrap()
        .unwrap();
    assert_eq!(r, 42);
    assert_eq!(c.existed, [true, false, true]);
    assert_eq!(s.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    assert!(s.get(b"b").unwrap().is_none());
    // Three entries and one commit record: one batch.
    assert_eq!(
        s.stats().file_bytes,
        end + 2 * simd_r_drive::entry_size(1, 1) + simd_r_drive::entry_size(1, 0) + 24
    );
}

#[test]
fn an_error_writes_nothing_and_comes_out_unchanged() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    let end = s.stats().file_bytes;
    let out = s
        .transaction(|tx| {
            tx.put(b"a", b"1").unwrap();
            Err::<(), _>("no")
        })
        .unwrap();
    assert_eq!(out, Err("no"));
    assert_eq!(s.stats().file_bytes, end);
    assert!(s.get(b"a").unwrap().is_none());
    // The store is writable again afterwards.
    s.put(b"a", b"1").unwrap();
}

#[test]
fn writes_to_the_store_from_inside_are_refused_not_deadlocked() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    let out = s
        .transaction(|tx| {
            tx.put(b"k", b"v")?;
            let e = s.put(b"x", b"1").unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_STATE");
            assert_eq!(s.flush().unwrap_err().code(), "ERR_INVALID_STATE");
            assert_eq!(s.clear().unwrap_err().code(), "ERR_INVALID_STATE");
            assert_eq!(s.compact().unwrap_err().code(), "ERR_INVALID_STATE");
            let nested = s.transaction(|_| Ok::<_, Error>(())).unwrap_err();
            assert_eq!(nested.code(), "ERR_INVALID_STATE");
            Ok::<_, Error>(())
        })
        .unwrap();
    assert!(out.is_ok());
    assert!(s.get(b"x").unwrap().is_none());
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn concurrent_increments_lose_no_update() {
    let d = Dir::new();
    let s = Arc::new(open(&d.path("s.srd")));
    s.put(b"n", b"0").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..250 {
                    s.transaction(|tx| {
                        let n: u64 = String::from_utf8(tx.get(b"n")?.unwrap())
                            .unwrap()
                            .parse()
                            .unwrap();
                        tx.put(b"n", (n + 1).to_string().as_bytes())?;
                        Ok::<_, Error>(())
                    })
                    .unwrap()
                    .unwrap();
                }
            })
        })
        .collect();
    // Plain writes of other keys meanwhile wait their turn.
    for i in 0..100u32 {
        s.put(&i.to_le_bytes(), b"x").unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.get(b"n").unwrap().as_deref(), Some(&b"1000"[..]));
}
