//! The on-disk format as FORMAT.md describes it, checked from outside the engine: files
//! the engine writes are decoded here with nothing but the document's rules and the
//! reference XXH3 in `xxhash-rust`, and hand-made files are fed back to it.

mod common;

use common::*;
use simd_r_drive::{Error, Op, Store, StoreOptions, MAX_KEY_LEN, MAX_VALUE_LEN};
use xxhash_rust::xxh3::xxh3_64_with_seed;

const SEED_MIX: u64 = 0x5352_4452_4956_4531;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// One entry decoded per FORMAT.md.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    offset: usize,
    kind: u8,
    commit: bool,
    key: Vec<u8>,
    value: Vec<u8>,
    /// A Put's version: the explicit one (flags bit 1), or the header's base plus the
    /// entry's offset.
    version: Option<u64>,
    /// A Put's expiry (flags bit 2), in ms since the epoch.
    expiry: Option<u64>,
    /// An eviction record's field (flags bit 3, Deletes only): the offset of the Put it
    /// evicted, or 0.
    evicted: Option<u64>,
}

/// Decodes a whole file, checking every rule the document states.
fn decode(b: &[u8]) -> Vec<Entry> {
    assert_eq!(&b[0..8], b"SIMDRDRV", "magic");
    let version = u16_at(b, 8);
    assert!((1..=3).contains(&version), "version");
    assert_eq!(u16_at(b, 10), 64, "header_len");
    assert_eq!(u32_at(b, 12), 0, "flags");
    assert_eq!(u32_at(b, 16), 8, "align");
    // Version 3 keeps the file's generation identifier in bytes 20..36 and the version
    // base in 36..44.
    let reserved = if version >= 3 { 44 } else { 20 };
    let version_base = u64_at(b, 36);
    assert!(
        b[reserved..56].iter().all(|&x| x == 0),
        "reserved bytes are zero"
    );
    assert_eq!(
        u64_at(b, 56),
        xxh3_64_with_seed(&b[..56], 0),
        "header checksum"
    );
    let mut out = Vec::new();
    let mut pos = 64;
    while pos < b.len() {
        assert_eq!(pos % 8, 0);
        let kind = b[pos + 8];
        let flags = b[pos + 9];
        let key_len = u16_at(b, pos + 10) as usize;
        let value_len = u32_at(b, pos + 12) as usize;
        let explicit = flags & 2 != 0;
        let expiring = flags & 4 != 0;
        let eviction = flags & 8 != 0;
        // Each extension bit adds 8 bytes after the fixed fields: version, then expiry
        // (Puts), or the evicted offset (Deletes).
        let ext = 8 * explicit as usize + 8 * expiring as usize + 8 * eviction as usize;
        let len = 16 + ext + align8(key_len) + align8(value_len);
        let end = pos + len;
        assert_eq!(
            u64_at(b, pos),
            xxh3_64_with_seed(&b[pos + 8..end], pos as u64 ^ SEED_MIX),
            "checksum of the entry at {pos}"
        );
        assert_eq!(
            flags & !0x1f,
            0,
            "only the commit, version, expiry, eviction and expiry-record flags are defined"
        );
        assert!(
            flags & 0x10 == 0 || kind == 2,
            "only a Delete is an expiry record"
        );
        assert!(
            flags & 0x18 != 0x18,
            "no tombstone is both an expiry record and an eviction"
        );
        assert!(!eviction || kind == 2, "only a Delete is an eviction");
        assert!(!explicit || kind == 1, "only a Put carries a version");
        assert!(!expiring || kind == 1, "only a Put carries an expiry");
        let key_start = pos + 16 + ext;
        let value_start = key_start + align8(key_len);
        assert_eq!(value_start % 8, 0);
        assert!(
            b[key_start + key_len..value_start].iter().all(|&x| x == 0),
            "key padding"
        );
        assert!(
            b[value_start + value_len..end].iter().all(|&x| x == 0),
            "value padding"
        );
        match kind {
            1 => assert!(key_len > 0),
            2 => assert!(key_len > 0 && value_len == 0),
            3 => assert!(key_len == 0 && value_len == 8 && flags == 0),
            4 => {
                assert!(
                    key_len == 0 && value_len == 8 && flags == 1,
                    "sync mark fields"
                );
                assert!(u64_at(b, value_start) as usize <= pos, "a mark looks back");
            }
            5 => assert!(
                key_len == 0 && value_len == 0 && flags == 1,
                "clear entry fields"
            ),
            k => panic!("unknown kind {k} at {pos}"),
        }
        out.push(Entry {
            offset: pos,
            kind,
            commit: flags & 1 != 0,
            key: b[key_start..key_start + key_len].to_vec(),
            value: b[value_start..value_start + value_len].to_vec(),
            version: (kind == 1).then(|| {
                if explicit {
                    u64_at(b, pos + 16)
                } else {
                    version_base + pos as u64
                }
            }),
            expiry: expiring.then(|| u64_at(b, pos + 16 + 8 * explicit as usize)),
            evicted: eviction.then(|| u64_at(b, pos + 16)),
        });
        pos = end;
    }
    assert_eq!(pos, b.len());
    out
}

#[test]
fn the_worked_example_in_format_md_is_byte_exact() {
    let d = Dir::new();
    let p = d.path("a.srd");
    let s = open(&p);
    s.put(b"a", b"hi").unwrap();
    s.write(&[
        Op::Put {
            key: b"b",
            value: b"",
        },
        Op::Delete { key: b"a" },
    ])
    .unwrap();
    drop(s);
    let b = std::fs::read(&p).unwrap();
    let hex = |r: std::ops::Range<usize>| {
        b[r].iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(b.len(), 168);
    assert_eq!(hex(0..8), "53 49 4d 44 52 44 52 56");
    assert_eq!(hex(8..20), "03 00 40 00 00 00 00 00 08 00 00 00");
    // Bytes 20..36: the file's random generation identifier; the checksum covers it.
    assert!(b[20..36].iter().any(|&x| x != 0), "a generation identifier");
    assert_eq!(u64_at(&b, 56), xxh3_64_with_seed(&b[..56], 0));
    // put "a" = "hi", a batch of one: commit flag set.
    assert_eq!(hex(64..72), "d6 0d 3f eb 0a 04 ed 85");
    assert_eq!(
        hex(72..96),
        "01 01 01 00 02 00 00 00 61 00 00 00 00 00 00 00 68 69 00 00 00 00 00 00"
    );
    // put "b" = "" and delete "a": flags 0, then a commit record naming offset 96.
    assert_eq!(
        hex(104..120),
        "01 00 01 00 00 00 00 00 62 00 00 00 00 00 00 00"
    );
    assert_eq!(
        hex(128..144),
        "02 00 01 00 00 00 00 00 61 00 00 00 00 00 00 00"
    );
    assert_eq!(
        hex(152..168),
        "03 00 00 00 08 00 00 00 60 00 00 00 00 00 00 00"
    );
    let e = decode(&b);
    let shape: Vec<(usize, u8, bool)> = e.iter().map(|e| (e.offset, e.kind, e.commit)).collect();
    assert_eq!(
        shape,
        vec![
            (64, 1, true),
            (96, 1, false),
            (120, 2, false),
            (144, 3, false)
        ]
    );
}

#[test]
fn a_mixed_store_decodes_by_the_document_alone() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"empty", b"").unwrap();
    s.put(b"zero", &[0]).unwrap();
    s.put(b"long-key-of-13", &bytes(1, 300)).unwrap();
    s.delete(b"zero").unwrap();
    s.write(&[
        Op::Put {
            key: b"x",
            value: b"1",
        },
        Op::Put {
            key: b"y",
            value: &bytes(2, 1000),
        },
        Op::Delete { key: b"empty" },
    ])
    .unwrap();
    let file_bytes = s.stats().file_bytes;
    drop(s);
    let b = std::fs::read(&p).unwrap();
    assert_eq!(b.len() as u64, file_bytes);
    let e = decode(&b);
    let kinds: Vec<(u8, bool, &[u8])> = e.iter().map(|e| (e.kind, e.commit, &e.key[..])).collect();
    assert_eq!(
        kinds,
        vec![
            (1, true, &b"empty"[..]),
            (1, true, b"zero"),
            (1, true, b"long-key-of-13"),
            (2, true, b"zero"),
            (1, false, b"x"),
            (1, false, b"y"),
            (2, false, b"empty"),
            (3, false, b""),
        ]
    );
    // The empty value and the one-byte value [0] are both ordinary puts.
    assert_eq!(e[0].value, b"");
    assert_eq!(e[1].value, [0]);
    // The commit record's value is the offset of its batch's first entry.
    assert_eq!(
        u64::from_le_bytes(e[7].value[..].try_into().unwrap()),
        e[4].offset as u64
    );
    // 16-byte key and 100-byte value: 136 bytes on disk.
    assert_eq!(simd_r_drive::entry_size(16, 100), 136);
}

#[test]
fn compaction_writes_one_committed_put_per_live_key() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..20u32 {
        s.put(&i.to_le_bytes(), &bytes(i as u64, 50)).unwrap();
    }
    s.write(&[
        Op::Delete {
            key: &3u32.to_le_bytes(),
        },
        Op::Put {
            key: &4u32.to_le_bytes(),
            value: b"new",
        },
    ])
    .unwrap();
    s.compact().unwrap();
    drop(s);
    let mut e = decode(&std::fs::read(&p).unwrap());
    assert_eq!(e.len(), 20);
    // The compacted file ends with a sync mark recording that all of it is durable.
    let mark = e.pop().unwrap();
    assert_eq!((mark.kind, mark.commit), (4, true));
    assert_eq!(mark.value, (mark.offset as u64).to_le_bytes());
    assert!(e.iter().all(|e| e.kind == 1 && e.commit));
    assert!(e
        .iter()
        .any(|e| e.key == 4u32.to_le_bytes() && e.value == b"new"));
    assert!(!e.iter().any(|e| e.key == 3u32.to_le_bytes()));
}

#[test]
fn versions_are_offsets_until_compaction_copies_them_explicitly() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    for i in 0..5u32 {
        s.put(&i.to_le_bytes(), &bytes(i as u64, 30)).unwrap();
    }
    s.put(&1u32.to_le_bytes(), b"again").unwrap();
    let want: Vec<u64> = (0..5u32)
        .map(|i| s.version_of(&i.to_le_bytes()).unwrap().unwrap())
        .collect();
    let e = decode(&std::fs::read(&p).unwrap());
    // A new file's base is 0: a version is the entry's offset.
    for (i, v) in want.iter().enumerate() {
        let last = e
            .iter()
            .rev()
            .find(|e| e.key == (i as u32).to_le_bytes())
            .unwrap();
        assert_eq!(last.version, Some(last.offset as u64));
        assert_eq!(*v, last.offset as u64);
    }
    let old_end = std::fs::metadata(&p).unwrap().len();
    s.compact().unwrap();
    let b = std::fs::read(&p).unwrap();
    assert_eq!(
        u64_at(&b, 36),
        old_end,
        "the new base is the old end of data"
    );
    let e = decode(&b);
    for (i, v) in want.iter().enumerate() {
        let copy = e
            .iter()
            .find(|e| e.key == (i as u32).to_le_bytes())
            .unwrap();
        assert_eq!(b[copy.offset + 9], 3, "commit and version flags");
        assert_eq!(copy.version, Some(*v), "the copy keeps its version");
    }
    // A put after compaction: base + offset, above every earlier version.
    s.put(b"new", b"1").unwrap();
    let e = decode(&std::fs::read(&p).unwrap());
    let new = e.iter().find(|e| e.key == b"new").unwrap();
    assert_eq!(new.version, Some(old_end + new.offset as u64));
    assert_eq!(s.version_of(b"new").unwrap(), new.version);
    // A clear is one 16-byte entry of its own: kind 5, commit flag, no key, no value.
    let before = std::fs::metadata(&p).unwrap().len() as usize;
    s.clear().unwrap();
    let b = std::fs::read(&p).unwrap();
    assert_eq!(b.len(), before + 16);
    let last = decode(&b).pop().unwrap();
    assert_eq!((last.offset, last.kind, last.commit), (before, 5, true));
    assert!(last.key.is_empty() && last.value.is_empty());
}

/// A fresh store's header, to edit.
fn header() -> Vec<u8> {
    let d = Dir::new();
    let p = d.path("h.srd");
    drop(open(&p));
    std::fs::read(&p).unwrap()
}

fn reseal(h: &mut [u8]) {
    let sum = xxh3_64_with_seed(&h[..56], 0);
    h[56..64].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn headers_are_checked_field_by_field() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let try_open = |bytes: &[u8]| {
        std::fs::write(&p, bytes).unwrap();
        let r = Store::open(&p);
        // Whatever the verdict, a refused file is left as it was.
        if r.is_err() {
            assert_eq!(std::fs::read(&p).unwrap(), bytes);
        }
        r
    };
    let h = header();
    assert_eq!(h.len(), 64);
    assert!(try_open(&h).is_ok());

    // A newer version is refused as such, whatever its checksum says (later versions may
    // lay out the rest of the header differently).
    let mut v = h.clone();
    v[8] = 4;
    assert!(matches!(
        try_open(&v),
        Err(Error::UnsupportedVersion {
            found: 4,
            supported: 3,
            ..
        })
    ));
    reseal(&mut v);
    assert!(matches!(
        try_open(&v),
        Err(Error::UnsupportedVersion { found: 4, .. })
    ));

    // Version 0, unknown flags, another alignment or header length: corrupt, even when
    // the checksum is right.
    for (at, val) in [(8usize, 0u8), (12, 1), (16, 16), (10, 128)] {
        let mut x = h.clone();
        x[at] = val;
        reseal(&mut x);
        assert!(
            matches!(try_open(&x), Err(Error::Corrupt { offset: 0, .. })),
            "byte {at}"
        );
    }
    // The reserved bytes are covered by the checksum.
    let mut x = h.clone();
    x[30] = 1;
    assert!(matches!(
        try_open(&x),
        Err(Error::Corrupt { offset: 0, .. })
    ));
    // No magic: not a store, even with a valid-looking rest.
    let mut x = h.clone();
    x[0] = b's';
    reseal(&mut x);
    assert!(matches!(try_open(&x), Err(Error::NotAStore { .. })));
}

#[test]
fn entries_verify_only_at_their_own_offset_and_zeros_never_verify() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let s = open(&p);
    s.put(b"k1", b"value one").unwrap();
    drop(s);
    let b = std::fs::read(&p).unwrap();
    let entry = b[64..].to_vec();
    // The same entry written again 8 bytes later (after a zeroed slot) does not verify
    // there, so it is not data: a torn tail that recovery drops.
    let mut moved = b.clone();
    moved.extend_from_slice(&[0u8; 8]);
    moved.extend_from_slice(&entry);
    std::fs::write(&p, &moved).unwrap();
    let s = open(&p);
    assert_eq!(s.len(), 1);
    assert_eq!(s.recovery().dropped_tail_bytes, 8 + entry.len() as u64);
    drop(s);
    assert_eq!(without_open_mark(std::fs::read(&p).unwrap(), b.len()), b);
    // A zero-filled region: kind 0 is no kind, so it is rejected before any hashing.
    let mut z = b.clone();
    z.resize(b.len() + (1 << 16), 0);
    std::fs::write(&p, &z).unwrap();
    let s = open(&p);
    assert_eq!(s.recovery().tail_reason, Some("an unknown entry kind"));
    assert_eq!(&*s.get(b"k1").unwrap().unwrap(), b"value one");
}

#[test]
fn key_and_value_limits() {
    assert_eq!(MAX_KEY_LEN, 65_535);
    assert_eq!(MAX_VALUE_LEN as u64, (4u64 << 30) - 1);
    assert!(Store::validate(&vec![1; MAX_KEY_LEN], Some(b"")).is_ok());
    assert!(matches!(
        Store::validate(&vec![1; MAX_KEY_LEN + 1], None),
        Err(Error::InvalidKey { len: 65_536 })
    ));
    assert!(matches!(
        Store::validate(b"", None),
        Err(Error::InvalidKey { len: 0 })
    ));
    // A 4 GiB value, mapped but never touched: one byte over the limit.
    let big = memmap2::MmapOptions::new()
        .len(MAX_VALUE_LEN + 1)
        .map_anon()
        .expect("4 GiB of address space");
    assert!(matches!(
        Store::validate(b"k", Some(&big[..])),
        Err(Error::ValueTooLarge { len }) if len == MAX_VALUE_LEN + 1
    ));
    assert!(Store::validate(b"k", Some(&big[..MAX_VALUE_LEN])).is_ok());
    let d = Dir::new();
    let s = open(&d.path("s.srd"));
    let e = s.put(b"k", &big).unwrap_err();
    assert_eq!(e.code(), "ERR_VALUE_TOO_LARGE");
    assert_eq!(s.stats().file_bytes, 64);
}

#[test]
fn side_files() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let side = |suffix: &str| d.path(&format!("s.srd{suffix}"));
    let s = open(&p);
    // The writer's lock file exists while it is open; creation left no temporary file.
    assert!(side(".lock").exists());
    assert!(!side(".init").exists());
    s.put(b"k", b"v").unwrap();
    s.compact().unwrap();
    assert!(!side(".compact").exists());
    drop(s);
    // Leftovers of a crash: a read-only open leaves them, a writable open removes them.
    for suffix in [".init", ".compact", ".repair"] {
        std::fs::write(side(suffix), b"leftover").unwrap();
    }
    let r = StoreOptions::new().read_only(true).open(&p).unwrap();
    assert!(side(".compact").exists());
    drop(r);
    let s = open(&p);
    for suffix in [".init", ".compact", ".repair"] {
        assert!(!side(suffix).exists(), "{suffix}");
    }
    assert_eq!(&*s.get(b"k").unwrap().unwrap(), b"v");
    // Nothing else is ever created beside the store (repair's .damaged aside).
    let mut names: Vec<String> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["s.srd", "s.srd.lock"]);
}

/// FORMAT.md, "Sync marks": `flush` appends a mark recording how far the file is durable;
/// after the sync a writable open makes, the first append starts with one; appends
/// without a sync in between write none.
#[test]
fn a_sync_mark_precedes_the_first_append_after_each_sync() {
    let d = Dir::new();
    let p = d.path("m.srd");
    let s = open(&p);
    s.put(b"a", b"1").unwrap(); // a new store: the header is durable, nothing to mark
    s.flush().unwrap(); // mark(96)
    s.put(b"b", b"2").unwrap();
    s.put(b"c", b"3").unwrap(); // no sync since: no mark
    drop(s);
    let s = open(&p); // the open syncs what is there
    s.write(&[
        Op::Put {
            key: b"d",
            value: b"4",
        },
        Op::Delete { key: b"a" },
    ])
    .unwrap();
    drop(s);
    let b = std::fs::read(&p).unwrap();
    let e = decode(&b);
    let kinds: Vec<u8> = e.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [1, 4, 1, 1, 4, 1, 2, 3]);
    assert_eq!(e[1].offset, 96);
    assert_eq!(
        e[1].value,
        96u64.to_le_bytes(),
        "durable up to the end of a"
    );
    assert!(e[1].commit);
    assert_eq!(e[4].value, (e[4].offset as u64).to_le_bytes());
    // The batch's commit record names its first entry, after the mark.
    assert_eq!(e[7].value, (e[5].offset as u64).to_le_bytes());
    let s = open(&p);
    assert_eq!(s.len(), 3);
    assert!(s.get(b"a").unwrap().is_none());
}

/// A version 1 file (no sync marks) still opens and takes writes, which add no mark, so
/// that older builds can still read it; compaction rewrites it as version 2.
#[test]
fn a_version_2_file_is_cleared_by_tombstones_an_old_build_can_read() {
    let d = Dir::new();
    let p = d.path("v2.srd");
    drop(open(&p));
    let mut b = std::fs::read(&p).unwrap();
    b[8] = 2;
    b[20..36].fill(0);
    reseal(&mut b);
    std::fs::write(&p, &b).unwrap();
    let s = open(&p);
    s.put(b"a", b"1").unwrap();
    s.put(b"b", b"2").unwrap();
    s.clear().unwrap();
    assert_eq!(s.len(), 0);
    drop(s);
    let e = decode(&std::fs::read(&p).unwrap());
    // No kind 5: the two keys' tombstones and a commit record, one batch.
    let kinds: Vec<u8> = e.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [1, 1, 2, 2, 3]);
    assert_eq!(open(&p).len(), 0);
}

#[test]
fn version_1_files_get_no_marks_until_compaction() {
    let d = Dir::new();
    let p = d.path("v1.srd");
    drop(open(&p));
    let mut b = std::fs::read(&p).unwrap();
    b[8] = 1;
    // Version 1 and 2 headers have no generation identifier: those bytes are reserved.
    b[20..36].fill(0);
    reseal(&mut b);
    std::fs::write(&p, &b).unwrap();
    let s = open(&p);
    s.put(b"a", b"1").unwrap();
    s.flush().unwrap();
    s.put(b"b", b"2").unwrap();
    drop(s);
    let b = std::fs::read(&p).unwrap();
    assert_eq!(u16_at(&b, 8), 1);
    let mut v2 = b.clone();
    v2[8] = 2;
    reseal(&mut v2);
    assert_eq!(
        decode(&v2).iter().map(|x| x.kind).collect::<Vec<_>>(),
        [1, 1]
    );
    let s = open(&p);
    assert_eq!(
        s.stats().format_version,
        1,
        "stats() tells the file's version"
    );
    s.compact().unwrap();
    assert_eq!(s.stats().format_version, simd_r_drive::FORMAT_VERSION);
    s.flush().unwrap();
    drop(s);
    let b = std::fs::read(&p).unwrap();
    assert_eq!(u16_at(&b, 8), 3);
    // Version 3 now: the flush after the compaction is recorded in a sync mark.
    assert_eq!(
        decode(&b).iter().map(|x| x.kind).collect::<Vec<_>>(),
        [1, 1, 4]
    );
}

#[test]
fn an_expiry_follows_the_version_and_both_move_the_key() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let now = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1_000));
    let clock = now.clone();
    let s = StoreOptions::new()
        .clock(std::sync::Arc::new(move || {
            clock.load(std::sync::atomic::Ordering::SeqCst)
        }))
        .open(&p)
        .unwrap();
    s.put_expiring(b"e", b"soon", 5_000).unwrap();
    s.put(b"p", b"plain").unwrap();
    let e = decode(&std::fs::read(&p).unwrap());
    let put = e.iter().find(|e| e.key == b"e").unwrap();
    let b = std::fs::read(&p).unwrap();
    assert_eq!(b[put.offset + 9], 1 | 4, "commit and expiry flags");
    assert_eq!(put.expiry, Some(5_000));
    assert_eq!(put.value, b"soon");
    assert_eq!(e.iter().find(|e| e.key == b"p").unwrap().expiry, None);
    s.compact().unwrap();
    let b = std::fs::read(&p).unwrap();
    let e = decode(&b);
    let copy = e.iter().find(|e| e.key == b"e").unwrap();
    assert_eq!(
        b[copy.offset + 9],
        1 | 2 | 4,
        "commit, version and expiry flags"
    );
    assert_eq!(
        copy.expiry,
        Some(5_000),
        "the copy keeps its expiry after its version"
    );
    assert_eq!(copy.version, s.version_of(b"e").unwrap());
    assert_eq!(copy.value, b"soon");
}

#[test]
fn an_expiry_record_is_a_tombstone_with_bit_4() {
    let d = Dir::new();
    let p = d.path("s.srd");
    let now = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1_000));
    let clock = now.clone();
    let s = StoreOptions::new()
        .clock(std::sync::Arc::new(move || {
            clock.load(std::sync::atomic::Ordering::SeqCst)
        }))
        .open(&p)
        .unwrap();
    s.put_expiring(b"e", b"soon", 5_000).unwrap();
    s.put_expiring(b"f", b"also", 5_000).unwrap();
    s.put(b"d", b"x").unwrap();
    s.delete(b"d").unwrap();
    now.store(5_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s.clear_expired().unwrap(), 2);
    let b = std::fs::read(&p).unwrap();
    let e = decode(&b);
    let records: Vec<&Entry> = e.iter().filter(|e| b[e.offset + 9] & 0x10 != 0).collect();
    assert_eq!(records.len(), 2);
    // One batch of two: the first record has flags 0x10, the second 0x10 and no commit
    // flag either, then a commit record closes the batch.
    for (r, key) in records.iter().zip([&b"e"[..], b"f"]) {
        assert_eq!(r.kind, 2, "kind Delete");
        assert_eq!(
            b[r.offset + 9],
            0x10,
            "flags: expiry record, not the commit"
        );
        assert_eq!(r.key, key);
        assert!(r.value.is_empty());
        assert_eq!(
            r.offset + 16 + 8,
            e[e.iter().position(|x| x.offset == r.offset).unwrap() + 1].offset
        );
    }
    let last = e
        .iter()
        .position(|x| x.offset == records[1].offset)
        .unwrap();
    assert_eq!(e[last + 1].kind, 3, "a commit record closes the batch");
    // The plain delete has no such bit.
    let del = e.iter().find(|e| e.key == b"d" && e.kind == 2).unwrap();
    assert_eq!(b[del.offset + 9], 1);
}

#[test]
fn an_eviction_record_is_a_tombstone_naming_the_evicted_put() {
    let d = Dir::new();
    let p = d.path("s.srd");
    // Room for one of these entries (16 + 8 + 8 = 32 bytes).
    let s = StoreOptions::new()
        .max_bytes(32)
        .auto_compact(None)
        .open(&p)
        .unwrap();
    s.put(b"a", b"1").unwrap();
    s.put(b"b", b"2").unwrap();
    let b = std::fs::read(&p).unwrap();
    let e = decode(&b);
    let a = e.iter().find(|e| e.kind == 1 && e.key == b"a").unwrap();
    let rec = e.iter().find(|e| e.kind == 2).unwrap();
    // The put of "b", then the record, then the batch's commit record.
    let bput = e.iter().find(|e| e.kind == 1 && e.key == b"b").unwrap();
    assert!(!bput.commit);
    assert_eq!(rec.offset, bput.offset + 32);
    assert_eq!(b[rec.offset + 9], 8, "eviction flag, not the commit");
    assert_eq!(rec.key, b"a");
    assert!(rec.value.is_empty());
    assert_eq!(rec.evicted, Some(a.offset as u64));
    // 16 fixed bytes, the 8-byte offset, the key padded to 8.
    let next = e.iter().find(|e| e.offset > rec.offset).unwrap();
    assert_eq!(next.offset, rec.offset + 32);
    assert_eq!(next.kind, 3);
    assert_eq!(u64_at(&b, next.offset + 16), bput.offset as u64);
    drop(s);
    let s = StoreOptions::new().open(&p).unwrap();
    assert!(s.get(b"a").unwrap().is_none());
    // Compaction drops the record with the evicted entry.
    s.compact().unwrap();
    let e = decode(&std::fs::read(&p).unwrap());
    assert!(e.iter().all(|e| e.kind != 2));
}
