//! `Store::write_each`: a batch handed over one operation at a time is the same batch as
//! `Store::write` makes, and a feed that fails leaves the store and its file as they were.

mod common;

use common::*;
use simd_r_drive::{Error, Op, Store, StoreOptions};

/// Operations of about `n` × 4 KiB (several write pieces when `n` is large), with deletes
/// and a key written twice.
fn workload(n: u32) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut v: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..n)
        .map(|i| {
            (
                format!("key-{i}").into_bytes(),
                Some(bytes(i as u64, 1 + (i as usize * 37) % 8000)),
            )
        })
        .collect();
    v.push((b"key-1".to_vec(), Some(b"again".to_vec())));
    v.push((b"key-2".to_vec(), None));
    v.push((b"never-there".to_vec(), None));
    v
}

fn opts() -> StoreOptions {
    StoreOptions::new().preallocate(1 << 20)
}

fn feed_all(s: &Store, ops: &[Op<'_>]) -> Result<simd_r_drive::Commit, Error> {
    s.write_each(ops.len(), |b| ops.iter().try_for_each(|op| b.push(*op)))
}

#[test]
fn a_fed_batch_is_byte_for_byte_the_batch_write_makes() {
    for n in [1u32, 2, 5000] {
        let d = Dir::new();
        let (a, b) = (d.path("a.srd"), d.path("b.srd"));
        let w = if n == 1 {
            vec![(b"only".to_vec(), Some(b"one".to_vec()))]
        } else {
            workload(n)
        };
        let ops = as_ops(&w);
        let sa = opts().open(&a).unwrap();
        let sb = opts().open(&b).unwrap();
        // A sync mark is pending ahead of the second batch in both.
        for s in [&sa, &sb] {
            s.put(b"first", b"x").unwrap();
            s.flush().unwrap();
        }
        let ca = sa.write(&ops).unwrap();
        let cb = feed_all(&sb, &ops).unwrap();
        assert_eq!(ca.existed, cb.existed, "n = {n}");
        assert_eq!(dump(&sa), dump(&sb));
        assert_eq!(sa.stats().file_bytes, sb.stats().file_bytes);
        sa.close().unwrap();
        sb.close().unwrap();
        // Byte for byte but the generation identifier (bytes 20..36, random per file)
        // and the header checksum that covers it.
        let (fa, fb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(
            fa[..20] == fb[..20] && fa[36..56] == fb[36..56] && fa[64..] == fb[64..],
            "the files differ for n = {n}"
        );
        let r = open(&b);
        assert_eq!(r.recovery().dropped_tail_bytes, 0);
        assert_eq!(dump(&r).len(), dump(&open(&a)).len());
    }
}

#[test]
fn a_failed_or_short_feed_commits_nothing_and_zeroes_what_it_wrote() {
    let w = workload(3000); // about 12 MB: pieces are written before the feed fails
    let ops = as_ops(&w);
    for case in ["fails", "short", "too many"] {
        let d = Dir::new();
        let p = d.path("s.srd");
        let s = opts().open(&p).unwrap();
        s.put(b"before", b"1").unwrap();
        let end = s.stats().file_bytes;
        let before = dump(&s);
        let seq = s.stats().seq;
        let r = s.write_each(ops.len(), |b| {
            for (i, op) in ops.iter().enumerate() {
                if case == "fails" && i == ops.len() - 10 {
                    return Err(Error::InvalidKey { len: 12345 });
                }
                if case == "short" && i == ops.len() - 1 {
                    return Ok(());
                }
                b.push(*op)?;
            }
            if case == "too many" {
                b.push(Op::Put {
                    key: b"extra",
                    value: b"1",
                })?;
            }
            Ok(())
        });
        let e = r.expect_err(case);
        match case {
            "fails" => assert!(matches!(e, Error::InvalidKey { .. }), "{e}"),
            _ => assert!(e.to_string().contains("operations"), "{e}"),
        }
        assert_eq!(dump(&s), before, "{case}");
        assert_eq!(s.stats().file_bytes, end);
        assert_eq!(s.stats().seq, seq);
        let file = std::fs::read(&p).unwrap();
        assert!(
            file[end as usize..].iter().all(|&b| b == 0),
            "{case}: bytes past the end of the data are not all zero"
        );
        // The store still writes, and what it wrote survives a reopen.
        feed_all(&s, &ops[..100]).unwrap();
        let expect = dump(&s);
        drop(s); // no close: the reopen recovers from the file as a crash leaves it
        let r = opts().open(&p).unwrap();
        assert_eq!(dump(&r), expect, "{case}");
    }
}

#[test]
fn a_feed_is_checked_like_a_write() {
    let d = Dir::new();
    let s = opts().open(d.path("s.srd")).unwrap();
    let long = vec![b'k'; simd_r_drive::MAX_KEY_LEN + 1];
    let e = s
        .write_each(2, |b| {
            b.push(Op::Put {
                key: b"fine",
                value: b"1",
            })?;
            b.push(Op::Put {
                key: &long,
                value: b"1",
            })
        })
        .unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
    assert_eq!(s.len(), 0);
    assert_eq!(
        s.write_each(0, |_| unreachable!()).unwrap().existed.len(),
        0
    );
    let ro = StoreOptions::new()
        .read_only(true)
        .open(d.path("s.srd"))
        .unwrap();
    assert!(matches!(ro.write_each(1, |_| Ok(())), Err(Error::ReadOnly)));
}
