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
            release_in_pieces(self.ptr, self.len);
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

/// Mappings give their pages back in pieces of this size before they are unmapped.
const RELEASE_PIECE: usize = 32 << 20;

/// Gives the pages of the mapping `[ptr, ptr + len)`, which is about to be unmapped, back
/// to the kernel a piece of [`RELEASE_PIECE`] at a time (Linux `MADV_DONTNEED`), so that
/// the unmap itself has no pages left to take down. An unmap holds the process's mmap lock
/// exclusively for as long as it takes down pages (milliseconds per hundred megabytes),
/// and every other thread that maps memory meanwhile (an event loop whose JavaScript heap
/// grows, say) waits for it; a piece holds that lock shared, and only briefly.
///
/// # Safety
///
/// `[ptr, ptr + len)` must be exactly one mapping (or whole pages of one) that nothing
/// reads or writes any more: its private pages are discarded.
pub(crate) unsafe fn release_in_pieces(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract.
    unsafe { release_in_pieces_of(ptr, len, RELEASE_PIECE) }
}

/// [`release_in_pieces`] with pieces of `piece` bytes (a multiple of the page size).
///
/// # Safety
///
/// As [`release_in_pieces`].
pub(crate) unsafe fn release_in_pieces_of(ptr: *mut u8, len: usize, piece: usize) {
    #[cfg(target_os = "linux")]
    {
        let mut at = 0;
        while at < len {
            let n = piece.min(len - at);
            // SAFETY: the range is whole pages of the caller's mapping (`ptr` is page
            // aligned, as every mapping's start, and so is every piece's start), which
            // nothing uses any more (the caller's contract); `MADV_DONTNEED` only drops
            // page-table entries and private copies of pages.
            unsafe {
                libc::madvise(ptr.add(at).cast(), n, libc::MADV_DONTNEED);
            }
            at += n;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len, piece);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn releasing_a_private_mapping_in_pieces_drops_every_page_written() {
        let page = crate::page_size() as usize;
        let path = std::env::temp_dir().join(format!("srd-release-{}.bin", std::process::id()));
        std::fs::write(&path, vec![1u8; 5 * page]).unwrap();
        let file = File::open(&path).unwrap();
        let map = PrivateMap::new(&file, 5 * page as u64).unwrap();
        // SAFETY: the five pages are inside the mapping and the file; writes into a private
        // mapping stay private copies.
        let bytes = unsafe { std::slice::from_raw_parts_mut(map.as_ptr(), 5 * page) };
        bytes.fill(9);
        // SAFETY: nothing below uses the copies released (it reads the file's bytes
        // through the mapping again, which a released page shows).
        unsafe { release_in_pieces_of(map.as_ptr(), map.len(), 2 * page) };
        // SAFETY: as above; `bytes` is not used again.
        let again = unsafe { std::slice::from_raw_parts(map.as_ptr(), 5 * page) };
        // Each piece, the last short one too, was released: the file's bytes show again.
        assert!(again.iter().all(|&b| b == 1));
        drop(map);
        let _ = std::fs::remove_file(&path);
    }
}
