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
            // [`will_need`].
            let _ = mmap.advise(memmap2::Advice::Random);
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
