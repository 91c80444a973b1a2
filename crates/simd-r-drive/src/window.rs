//! Private (copy-on-write) mappings, for bindings that hand mapped memory to callers who
//! may write into it.
//!
//! The engine reads through a read-only shared mapping ([`crate::Value`]). A binding such
//! as the Node addon cannot hand out views of that mapping: JavaScript may write into a
//! returned `Buffer`, and a write into a read-only page kills the process. A
//! [`PrivateMap`] maps the same file privately and writably: pages nobody wrote show the
//! file's bytes (they share the page cache), and a write makes a private copy of that one
//! page, which neither the file nor any other process ever sees.
//!
//! A private page that was written is frozen: later appends to the file do not show in
//! it. The engine therefore only hands out ranges below [`Located::stable_end`], the end of
//! the last page that is completely written. The log is append-only, so bytes below that
//! point never change for the life of the file, and freezing such a page hides nothing.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A private, writable, copy-on-write mapping of a store file. Writes into it never reach
/// the file.
#[derive(Debug)]
pub struct PrivateMap {
    ptr: *mut u8,
    len: usize,
    id: u64,
    #[cfg(not(unix))]
    _map: memmap2::MmapMut,
}

// SAFETY: the mapping is plain memory owned by this value until `Drop`; the engine never
// writes through it and only hands out raw pointers, so sharing it between threads is as
// safe as sharing a `Vec<u8>` that nobody mutates through Rust references.
unsafe impl Send for PrivateMap {}
// SAFETY: see `Send`; `&PrivateMap` only exposes the pointer, length and id.
unsafe impl Sync for PrivateMap {}

impl PrivateMap {
    /// Maps `len` bytes of `file` privately. On Unix `len` may exceed the file's length
    /// (address space is reserved, not memory); the pages past the end must never be
    /// touched.
    pub(crate) fn new(file: &File, len: u64) -> io::Result<PrivateMap> {
        let len = usize::try_from(len.max(1)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "the store is larger than the address space",
            )
        })?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: a fresh mapping chosen by the kernel (no address hint), of a file
            // descriptor that is valid for the duration of the call. MAP_PRIVATE keeps
            // every write in this process; MAP_NORESERVE keeps the reservation past the end
            // of the file from being charged as memory. The mapping holds its own reference
            // to the file, so it outlives `file`.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_NORESERVE,
                    file.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(PrivateMap {
                ptr: ptr.cast(),
                len,
                id,
            })
        }
        #[cfg(not(unix))]
        {
            // SAFETY: a copy-on-write mapping of the whole requested range, which on these
            // platforms never exceeds the file's length (no map-ahead there).
            let mut map = unsafe { memmap2::MmapOptions::new().len(len).map_copy(file)? };
            Ok(PrivateMap {
                ptr: map.as_mut_ptr(),
                len,
                id,
                _map: map,
            })
        }
    }

    /// A process-unique identity of this mapping (never reused).
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes of address space mapped. Only ranges that the engine reported (below a
    /// [`Located::stable_end`]) may be touched.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: at least one byte is mapped).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The start of the mapping. Writes through it stay in this process.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for PrivateMap {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned, and no view of the mapping
        // can outlive `self`: every holder keeps an `Arc<PrivateMap>`. Its pages go back in
        // pieces first, so that the unmap holds the mmap lock only briefly.
        unsafe {
            crate::mapping::release_in_pieces(self.ptr, self.len);
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// The size of a memory page on this system.
pub fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            return n as u64;
        }
        4096
    }
    #[cfg(not(unix))]
    {
        // The allocation granularity of Windows: the unit in which views are mapped.
        65536
    }
}

/// Where a value lies in a private mapping, from [`crate::Store::locate_private`].
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// The private mapping of the current store file.
    pub map: &'a Arc<PrivateMap>,
    /// Byte offset of the value in the file (and the mapping); a multiple of 8.
    pub offset: u64,
    /// Length of the value.
    pub len: usize,
    /// End of the last completely written page of the file. Ranges below it never
    /// change; a value ending past it must be copied out instead of viewed in place.
    pub stable_end: u64,
}

/// The position of one live entry's key and value, from [`crate::Store::snapshot_ranges`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRange {
    /// Offset and length of the key in the file.
    pub key: (u64, usize),
    /// Offset and length of the value in the file.
    pub value: (u64, usize),
}

/// A point-in-time list of live entries in a private mapping, from
/// [`crate::Store::snapshot_ranges`].
#[derive(Debug)]
pub struct RangeSnapshot {
    /// The private mapping the ranges point into.
    pub map: Arc<PrivateMap>,
    /// End of the last completely written page when the snapshot was taken.
    pub stable_end: u64,
    /// End of the committed data when the snapshot was taken: the file is at least this
    /// long, so ranges below it may be read (those past `stable_end` only by copying).
    pub end: u64,
    /// Every live entry, in file order.
    pub entries: Vec<EntryRange>,
}

/// End of the last completely written page below `end`: bytes below it never change (see
/// the module docs), so bindings may view them in place.
pub(crate) fn stable_end(end: u64) -> u64 {
    let page = page_size();
    end / page * page
}
