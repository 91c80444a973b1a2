//! Values written from a stream with `Store::put_from_reader`.

mod common;

use std::io::Read;

use common::*;
use simd_r_drive::{Error, Op, StoreOptions};

/// A reader that yields `data` in small, uneven pieces, then fails or ends early.
struct Pieces<'a> {
    data: &'a [u8],
    at: usize,
    fail_at: Option<usize>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(f) = self.fail_at {
            if self.at >= f {
                return Err(std::io::Error::other("the source broke"));
            }
        }
        let n = buf.len().min(self.data.len() - self.at).min(7919);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_streamed_value_reads_back_and_survives_reopen_and_compaction() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"before", b"1").unwrap();
    for len in [0usize, 1, 7, 8, 9, 240, 241, 4096, 3 << 20] {
        let value = bytes(len as u64, len);
        let key = format!("k{len}");
        let mut src = Pieces {
            data: &value,
            at: 0,
            fail_at: None,
        };
        let c = s
            .put_from_reader(key.as_bytes(), len as u64, &mut src)
            .unwrap();
        assert_eq!(c.existed, vec![false]);
        assert_eq!(&*s.get(key.as_bytes()).unwrap().unwrap(), &value[..]);
    }
    // Overwriting reports the old value; later ordinary writes go after it.
    let mut src = Pieces {
        data: b"again",
        at: 0,
        fail_at: None,
    };
    assert!(s.put_from_reader(b"k7", 5, &mut src).unwrap().existed[0]);
    s.write(&[Op::Put {
        key: b"after",
        value: b"2",
    }])
    .unwrap();
    let expected = dump(&s);
    s.verify().unwrap();
    drop(s);
    let r = open(&p);
    assert_eq!(dump(&r), expected);
    r.compact().unwrap();
    assert_eq!(dump(&r), expected);
}

#[test]
fn a_failing_or_short_source_leaves_the_store_as_it_was() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = StoreOptions::new().preallocate(1 << 16).open(&p).unwrap();
    s.put(b"a", b"1").unwrap();
    let value = bytes(1, 100_000);
    let mut broken = Pieces {
        data: &value,
        at: 0,
        fail_at: Some(50_000),
    };
    assert!(matches!(
        s.put_from_reader(b"big", 100_000, &mut broken),
        Err(Error::Io { .. })
    ));
    let mut short = Pieces {
        data: &value[..10],
        at: 0,
        fail_at: None,
    };
    assert!(matches!(
        s.put_from_reader(b"big", 100, &mut short),
        Err(Error::Io { .. })
    ));
    assert!(s.get(b"big").unwrap().is_none());
    // What the failed streams wrote past the end of the data was zeroed again.
    let end = s.stats().file_bytes as usize;
    let file = std::fs::read(&p).unwrap();
    assert!(file.len() > end + 50_000);
    assert!(file[end..].iter().all(|&b| b == 0));
    assert!(!s.is_busy());
    // Not poisoned: the failure was the source's, and later writes land where it began.
    s.put(b"b", b"2").unwrap();
    let expected = dump(&s);
    drop(s);
    let r = open(&p);
    assert_eq!(dump(&r), expected);
    assert!(r.get(b"big").unwrap().is_none());
}

#[test]
fn a_crash_in_the_middle_of_a_streamed_value_drops_only_it() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"a", b"1").unwrap();
    let value = bytes(3, 200_000);
    let mut src = Pieces {
        data: &value,
        at: 0,
        fail_at: None,
    };
    s.put_from_reader(b"big", 200_000, &mut src).unwrap();
    drop(s);
    let full = std::fs::read(&p).unwrap();
    // Every cut inside the streamed entry (and a zeroed checksum) is an unfinished tail.
    let copy = d.path("cut.srd");
    let big_start = full.len() - simd_r_drive::entry_size(3, 200_000) as usize;
    for cut in (big_start..full.len()).step_by(4999) {
        std::fs::write(&copy, &full[..cut]).unwrap();
        let c = open(&copy);
        assert!(c.get(b"big").unwrap().is_none(), "cut {cut}");
        assert_eq!(&*c.get(b"a").unwrap().unwrap(), b"1");
    }
    // Every byte written but the checksum, which goes last.
    let mut no_sum = full.clone();
    no_sum[big_start..big_start + 8].fill(0);
    std::fs::write(&copy, &no_sum).unwrap();
    let c = open(&copy);
    assert!(c.get(b"big").unwrap().is_none());
    assert_eq!(c.len(), 1);
}

#[test]
fn streamed_values_check_the_key_and_length_limits() {
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    let mut empty = std::io::empty();
    assert!(matches!(
        s.put_from_reader(b"", 0, &mut empty),
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(
        s.put_from_reader(b"k", u32::MAX as u64 + 1, &mut empty),
        Err(Error::ValueTooLarge { .. })
    ));
    let r = StoreOptions::new()
        .read_only(true)
        .open(d.path("s.srd"))
        .unwrap();
    assert!(matches!(
        r.put_from_reader(b"k", 0, &mut empty),
        Err(Error::ReadOnly)
    ));
}
