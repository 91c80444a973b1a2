//! Preallocated zeros ahead of the data (see [`super::StoreOptions::preallocate`]): written
//! by the committing writer right after its batch, or, with
//! [`super::StoreOptions::zeros_in_background`], by a thread of the caller's that
//! [`Store::claim_zeros`] asks for, so that a writer on an event loop never writes them.

use std::fs::File;
use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use super::Store;

/// Zeros written by a committing writer go out in pieces of this size: one write of
/// megabytes holds its CPU for a millisecond and more.
const ZERO_PIECE: u64 = 256 << 10;

/// Zeros written in the background go out in pieces of this size, each under the writer
/// lock, so that a writer waits for at most one of them.
const BACKGROUND_PIECE: u64 = 64 << 10;

/// Where the zeros ahead of data ending at `end` should reach: the next multiple of `step`
/// past it, and one step more.
fn zeros_target(end: u64, step: u64) -> u64 {
    end.div_ceil(step) * step + step
}

impl Store {
    /// Writes the preallocated zeros due past `end` (the end of the data of `file`): zeros
    /// up to the next multiple of the preallocation step, and one step more, written from
    /// `buf` (cleared first). Returns the length they reach, or `None` if they could not all
    /// be written (a full disk). Nothing is written without preallocation; `Some(end)` then.
    pub(crate) fn write_zeros_ahead(
        &self,
        file: &File,
        end: u64,
        buf: &mut Vec<u8>,
    ) -> Option<u64> {
        if self.preallocate == 0 {
            return Some(end);
        }
        let target = zeros_target(end, self.preallocate);
        buf.clear();
        buf.resize((target - end).min(ZERO_PIECE) as usize, 0);
        let mut at = end;
        while at < target {
            let n = (target - at).min(ZERO_PIECE) as usize;
            if self.backend.write_at(file, &buf[..n], at).is_err() {
                buf.clear();
                return None;
            }
            at += n as u64;
        }
        buf.clear();
        Some(target)
    }

    /// Whether the caller should now call [`Store::extend_zeros`], on a thread of its own:
    /// true when the store keeps its zeros in the background
    /// ([`super::StoreOptions::zeros_in_background`]), less than one preallocation step of
    /// them is left ahead of the data, and no other caller has claimed the work. After a
    /// failed write of zeros (a full disk), not before the data has grown by one more step.
    /// A `true` is a claim: the caller must call `extend_zeros` (which releases it).
    pub fn claim_zeros(&self) -> bool {
        if !self.zeros_in_background || self.preallocate == 0 {
            return false;
        }
        let end = self.state.read().end;
        let ahead = self.allocated.load(Ordering::Acquire).saturating_sub(end);
        ahead < self.preallocate
            && end >= self.zeros_retry_at.load(Ordering::Acquire)
            && !self.zeros_claimed.swap(true, Ordering::AcqRel)
    }

    /// Writes zeros ahead of the data until they reach one preallocation step past the
    /// next multiple of the step, a piece at a time ([`Store::extend_zeros_piece`]), and
    /// releases the claim of [`Store::claim_zeros`].
    pub fn extend_zeros(&self) {
        while self.extend_zeros_piece() {}
    }

    /// Writes the next 64 KiB piece of the zeros that [`Store::claim_zeros`] found due,
    /// under the writer lock (so that they never land where a batch is being written, and
    /// a writer waits for at most one piece). Returns whether more remain; on `false` the
    /// claim is released. A caller that holds the store only while a piece runs lets a
    /// close through between pieces. While the claim is held the store counts as busy
    /// ([`Store::is_busy`]): a writer on an event loop uses [`Store::try_write`] and hands a
    /// batch to another thread rather than wait for a piece. Stops when the store is
    /// closed, read-only or poisoned, or a write fails (a full disk: the data's own appends
    /// then extend the file, as without preallocation).
    pub fn extend_zeros_piece(&self) -> bool {
        self.zeros_piece_under(&self.writer.lock())
    }

    /// [`Store::extend_zeros_piece`] for a caller that must not wait for the writer lock
    /// (one that keeps a close waiting while a piece runs): `None`, with nothing written,
    /// when a writer holds it. The claim is still held then: call it again later.
    pub fn try_extend_zeros_piece(&self) -> Option<bool> {
        Some(self.zeros_piece_under(&self.writer.try_lock()?))
    }

    /// A piece written while `writer` holds the writer lock; the claim is released when
    /// no more remain.
    fn zeros_piece_under(&self, writer: &MutexGuard<'_, Vec<u8>>) -> bool {
        let more = self.write_zeros_piece(writer);
        if !more {
            self.zeros_claimed.store(false, Ordering::Release);
        }
        more
    }

    /// One piece of [`Store::extend_zeros_piece`], written while `_writer` holds the
    /// writer lock: whether more remain after it.
    fn write_zeros_piece(&self, _writer: &MutexGuard<'_, Vec<u8>>) -> bool {
        static ZEROS: [u8; BACKGROUND_PIECE as usize] = [0; BACKGROUND_PIECE as usize];
        if self.preallocate == 0
            || self.check_open().is_err()
            || self.read_only
            || self.is_poisoned()
        {
            return false;
        }
        let (file, end) = {
            let s = self.state.read();
            (s.file.clone(), s.end)
        };
        let at = self.allocated.load(Ordering::Acquire).max(end);
        let target = zeros_target(end, self.preallocate);
        if at >= target {
            return false;
        }
        let n = (target - at).min(BACKGROUND_PIECE);
        if self
            .backend
            .write_at(&file, &ZEROS[..n as usize], at)
            .is_err()
        {
            self.count_file_length(&file);
            self.zeros_retry_at
                .store(end + self.preallocate, Ordering::Release);
            return false;
        }
        self.allocated.fetch_max(at + n, Ordering::AcqRel);
        at + n < target
    }
}
