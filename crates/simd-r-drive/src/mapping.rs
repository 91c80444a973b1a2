//! Read-only memory maps of the store file and the zero-copy [`Value`] handles into them.
//!
//! A mapping is reference-counted: every [`Value`] holds an `Arc` to the mapping it points
//! into, so a value stays readable after later writes, after compaction replaced the file
//! and after the store was closed. On Unix a mapping reserves address space beyond the end
//! of the file ("map ahead"): appends land inside it and become readable without a new
//! mapping. The engine never reads past the end of what it has verified, which is always
//! inside the file, so the reserved pages past the end of the file are never touched.

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use memmap2::{Mmap, MmapOptions};

use crate::window::PrivateMap;

/// The smallest reservation made for a writable store (address space, not memory).
const MIN_RESERVE: u64 = 64 << 20;

/// One read-only, shared mapping of a store file.
#[derive(Debug)]
pub struct Mapping {
    mmap: Option<Mmap>,
    /// Bytes of address space mapped (may exceed the file's length on Unix).
    reserved: u64,
    /// A private mapping of the same file and length, made on first use by bindings.
    private: OnceLock<Arc<PrivateMap>>,
}

impl Mapping {
    /// Maps `file` so that at least `needed` bytes are addressable. `needed` must not exceed
    /// the file's current length; on Unix the reservation is rounded up generously.
    pub(crate) fn new(file: &File, needed: u64, grow: bool) -> io::Result<Mapping> {
        let reserved = if cfg!(unix) && grow {
            needed
                .max(MIN_RESERVE)
                .next_power_of_two()
                .max(needed.saturating_mul(2))
        } else {
            needed
        };
        if reserved == 0 {
            return Ok(Mapping {
                mmap: None,
                reserved: 0,
                private: OnceLock::new(),
            });
        }
        let len = usize::try_from(reserved).map_err(|_| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "the store is larger than the address space",
            )
        })?;
        // SAFETY: the mapping is read-only and shared. The engine only reads bytes it has
        // verified and that lie below the file's length at the time they were verified; the
        // file never shrinks below a verified length while the store is open (the writer
        // truncates only at open, before anything is verified, and compaction replaces the
        // file by renaming, which leaves this inode intact). Other programs that truncate
        // the file behind the engine's back are outside what a memory-mapped store can
        // defend against, as with every mmap-based store.
        let mmap = unsafe { MmapOptions::new().len(len).map(file)? };
        #[cfg(unix)]
        {
            // Point reads are the common case: a fault must read the page it needs, not
            // the read-around window (up to the device's read-ahead, 8 MiB on some disks),
            // or a cold open's first read alone reads megabytes. Sequential readers (log
            // scans, compaction, the verifier) ask for what they will read next with
            // [`will_need`]. A file already in the page cache (just written, or read by
            // a recent process) keeps the default advice: there a fault reads nothing, and
            // the kernel maps the cached pages around it too ("fault-around", which random
            // advice turns off), so that reads of a warm store take one fault per 16
            // pages instead of one per page.
            if !sampled_resident(&mmap[..needed as usize]) {
                let _ = mmap.advise(memmap2::Advice::Random);
            }
        }
        Ok(Mapping {
            mmap: Some(mmap),
            reserved,
            private: OnceLock::new(),
        })
    }

    /// The private (copy-on-write) twin of this mapping, made on first use. `file` must be
    /// the file this mapping maps.
    pub(crate) fn private(&self, file: &File) -> io::Result<&Arc<PrivateMap>> {
        if let Some(p) = self.private.get() {
            return Ok(p);
        }
        let made = Arc::new(PrivateMap::new(file, self.reserved)?);
        // Two threads may race to make it; one wins and the other's is dropped.
        let _ = self.private.set(made);
        Ok(self.private.get().expect("set just above"))
    }

    /// Whether the private twin of this mapping ([`Mapping::private`]) has been made.
    pub(crate) fn has_private(&self) -> bool {
        self.private.get().is_some()
    }

    /// Bytes of address space this mapping covers.
    #[inline]
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved
    }

    /// The first `len` bytes of the mapping. `len` must be within the verified data.
    #[inline]
    pub(crate) fn bytes(&self, len: u64) -> &[u8] {
        match &self.mmap {
            Some(m) => &m[..len as usize],
            None => &[],
        }
    }

    /// Raw bytes `[start, start + len)`.
    #[inline]
    pub(crate) fn slice(&self, start: u64, len: usize) -> &[u8] {
        match &self.mmap {
            Some(m) => &m[start as usize..start as usize + len],
            None => &[],
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Some(m) = &self.mmap {
            // SAFETY: the mapping is dropped (memmap2 unmaps it right after this), so no
            // reference to its bytes is left: every `Value` and every borrow of `bytes` or
            // `slice` holds the mapping alive.
            unsafe { crate::window::release_in_pieces(m.as_ptr().cast_mut(), m.len()) };
        }
    }
}

/// How far ahead of where they are sequential readers ask for the file ([`will_need`]).
pub(crate) const READ_AHEAD: usize = 8 << 20;

/// Asks the kernel to start reading the pages under `bytes` (a part of a mapping) into the
/// page cache, without waiting for them: what a sequential reader of a mapping advised
/// random calls for the part it reads next. Only a hint.
pub(crate) fn will_need(bytes: &[u8]) {
    #[cfg(unix)]
    {
        if bytes.is_empty() {
            return;
        }
        let page = crate::page_size() as usize;
        let start = bytes.as_ptr() as usize & !(page - 1);
        let end = bytes.as_ptr() as usize + bytes.len();
        // SAFETY: `MADV_WILLNEED` neither reads nor changes memory, and the page-aligned
        // range covers only pages of the mapping `bytes` lies in.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_WILLNEED);
        }
    }
    #[cfg(not(unix))]
    let _ = bytes;
}

/// Calls [`will_need`] for the next [`READ_AHEAD`] bytes of `data` each time `pos` enters
/// a new stretch of that size: the read-ahead of a sequential walk over `data`.
#[inline]
pub(crate) fn read_ahead(data: &[u8], pos: u64, asked: &mut u64) {
    if pos >= *asked {
        let from = (pos as usize).min(data.len());
        let to = (from + READ_AHEAD).min(data.len());
        will_need(&data[from..to]);
        *asked = pos + (READ_AHEAD / 2) as u64;
    }
}

/// Asks the CPU to start loading the cache line at `p` (an address inside memory the
/// caller may read) without waiting for it, so that several lookups wait for memory
/// together. Only a hint: it changes nothing and cannot fault.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has. A prefetch reads
        // nothing the program can observe and never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Mappings at least this large are worth huge pages: below it, the processor's TLB
/// already reaches every 4 KiB page of them.
const HUGE_MAPPING: usize = 4 << 20;
/// Pages [`advise_huge_pages`] samples to tell whether a file is in the page cache.
const RESIDENCY_SAMPLES: usize = 32;

/// Asks for huge pages (Linux `MADV_HUGEPAGE`) on a large read-only file mapping read at
/// random (the index table) whose pages are in the page cache (`resident`: see
/// [`seems_resident`]). A lookup then costs no TLB miss, as in the anonymous huge pages of
/// an in-memory table; the kernel maps the file's large page-cache folios whole (where the
/// file system makes them) and changes nothing for small ones. A cold file is left alone:
/// under huge-page advice each fault that misses the page cache reads 2 MiB, where a
/// lookup needs 4 KiB. Only a hint.
pub(crate) fn advise_huge_pages(map: &Mmap, resident: bool) {
    #[cfg(target_os = "linux")]
    {
        if map.len() >= HUGE_MAPPING && resident {
            let _ = map.advise(memmap2::Advice::HugePage);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (map, resident);
}

/// Whether the pages of `map` seem to be in the page cache ([`sampled_resident`]); `false`
/// where that cannot be asked.
pub(crate) fn seems_resident(map: &Mmap) -> bool {
    #[cfg(unix)]
    {
        sampled_resident(map)
    }
    #[cfg(not(unix))]
    {
        let _ = map;
        false
    }
}

/// Whether `bytes` (a page-aligned part of a mapping) seem to be in the page cache: each of
/// [`RESIDENCY_SAMPLES`] pages spread evenly over them is (`mincore`, a constant cost
/// whatever their size). `false` where that cannot be asked, and for an empty range.
#[cfg(unix)]
fn sampled_resident(bytes: &[u8]) -> bool {
    let page = crate::page_size() as usize;
    let pages = bytes.len() / page;
    let start = bytes.as_ptr() as usize;
    if pages == 0 || !start.is_multiple_of(page) {
        return false;
    }
    let samples = RESIDENCY_SAMPLES.min(pages);
    (0..samples).all(|i| {
        let at = start + i * pages / samples * page;
        let mut state = 0u8;
        // SAFETY: `at` is page-aligned (checked above for `start`, and a whole number of
        // pages after it) and its page lies inside `bytes`, which is mapped; `mincore`
        // writes one byte for that one page into `state` and reads nothing.
        let rc = unsafe { libc::mincore(at as *mut libc::c_void, page, &mut state) };
        rc == 0 && state & 1 == 1
    })
}

/// A zero-copy view of bytes stored in the file: a key or a value.
///
/// Cloning is cheap (a reference count). The bytes stay valid for as long as the handle
/// lives, whatever happens to the store meanwhile.
#[derive(Clone)]
pub struct Value {
    map: Arc<Mapping>,
    start: u64,
    len: usize,
}

impl Value {
    pub(crate) fn new(map: Arc<Mapping>, start: u64, len: usize) -> Value {
        debug_assert!(start + len as u64 <= map.reserved());
        Value { map, start, len }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.map.slice(self.start, self.len)
    }

    /// Where the bytes start in the file they were read from (a multiple of 8 for values).
    pub fn file_offset(&self) -> u64 {
        self.start
    }
}

impl Deref for Value {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("file_offset", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}
