//! Values written from a stream: an entry too large to build in memory is copied into the
//! log in chunks, and becomes valid only when its checksum is written last.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format;
use crate::mapping::Mapping;
use crate::store::{Commit, Store};

/// Bytes copied from the source per `write` call.
const CHUNK: usize = 1 << 20;

impl Store {
    /// Sets `key` to the `len` bytes read from `source`, without holding the value in
    /// memory. The entry is written at the end of the log in chunks, its checksum last, so
    /// it is valid only once every byte is there: a crash before that leaves an unfinished
    /// tail that recovery drops, and a source that fails or ends early leaves the store as
    /// it was. Other writers wait while it runs. Unlike [`Store::write`], this takes
    /// several `write` calls.
    pub fn put_from_reader(&self, key: &[u8], len: u64, source: &mut dyn Read) -> Result<Commit> {
        self.stream_put(key, len, source, None)
    }

    /// [`Store::put_from_reader`] of a value that expires at `expires_at` (ms since the
    /// Unix epoch), as [`Store::put_expiring`] writes one: from then on the key reads as
    /// missing (at once, when `expires_at` is already past).
    pub fn put_from_reader_expiring(
        &self,
        key: &[u8],
        len: u64,
        source: &mut dyn Read,
        expires_at: u64,
    ) -> Result<Commit> {
        self.stream_put(key, len, source, Some(expires_at))
    }

    fn stream_put(
        &self,
        key: &[u8],
        len: u64,
        source: &mut dyn Read,
        expiry: Option<u64>,
    ) -> Result<Commit> {
        Self::validate(key, None)?;
        if len > format::MAX_VALUE_LEN as u64 {
            return Err(Error::ValueTooLarge { len: len as usize });
        }
        let expiry_len = if expiry.is_some() { 8 } else { 0 };
        self.check_writable()?;
        self.check_fits(format::entry_len(key.len(), len as usize) + expiry_len)?;
        let hash = self.hash(key);
        let _busy = self.long_op();
        let _writer = self
            .writer_for_append(true)?
            .expect("a waiting write always gets the lock");
        self.check_writable()?;
        let (file, mut end, map, mark) = {
            let s = self.state.read();
            (s.file.clone(), s.end, s.map.clone(), s.pending_mark())
        };
        let data_end = end;
        // How far the writes of this value reached (the checksum, written last, lies before).
        let reached = std::cell::Cell::new(end);
        // A failed write leaves the end of the data at `data_end`: see `Appending::write`.
        let write = |bytes: &[u8], at: u64| {
            reached.set(reached.get().max(at + bytes.len() as u64));
            self.backend.write_at(&file, bytes, at).map_err(|e| {
                self.clear_after_failed_write(&file, data_end, reached.get());
                self.write_failed(Error::io("writing", &self.path, e))
            })?;
            self.allocated
                .fetch_max(at + bytes.len() as u64, Ordering::AcqRel);
            Ok::<(), Error>(())
        };
        if let Some(durable_end) = mark {
            // A sync mark first (see `Store::write`), as a batch of its own.
            let mut m = Vec::with_capacity(format::SYNC_MARK_LEN as usize);
            format::encode_sync_mark(&mut m, end, durable_end);
            write(&m, end)?;
            end += m.len() as u64;
        }
        // The entry's fixed fields and key, with a zero checksum for now.
        if expiry.is_some() {
            self.sweep.note_expiring_write();
        }
        let head = format::encode_stream_head(key, len, expiry);
        let mut sum = format::stream_checksum(end);
        sum.update(&head[8..]);
        write(&head, end)?;
        let mut at = end + head.len() as u64;
        let mut chunk = vec![0u8; CHUNK.min(len as usize).max(1)];
        let mut left = len;
        while left > 0 {
            let want = chunk.len().min(left as usize);
            let n = match source.read(&mut chunk[..want]) {
                Ok(0) => {
                    self.clear_after_failed_write(&file, data_end, at);
                    return Err(Error::io(
                        "reading the value",
                        &self.path,
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("the source ended {left} bytes short of the length given"),
                        ),
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.clear_after_failed_write(&file, data_end, at);
                    return Err(Error::io("reading the value", &self.path, e));
                }
            };
            sum.update(&chunk[..n]);
            write(&chunk[..n], at)?;
            at += n as u64;
            left -= n as u64;
        }
        let pad = (format::align_up(len) - len) as usize;
        if pad > 0 {
            let zeros = [0u8; 8];
            sum.update(&zeros[..pad]);
            write(&zeros[..pad], at)?;
            at += pad as u64;
        }
        // Last: the checksum, which makes the entry (a batch of one) valid.
        write(&sum.digest().to_le_bytes(), end)?;
        let new_end = at;
        debug_assert_eq!(
            new_end - end,
            format::entry_len(key.len(), len as usize) + expiry_len
        );
        let map = if new_end > map.reserved() {
            Arc::new(
                Mapping::new(&file, new_end, true)
                    .map_err(|e| self.poison_with(Error::io("mapping the file", &self.path, e)))?,
            )
        } else {
            map
        };
        let mut s = self.state.write();
        let st = &mut *s;
        st.map = map;
        let data = st.map.bytes(new_end);
        let prior = st.index.insert(data, hash, key, end);
        if let Some(durable_end) = mark {
            st.marked_end = durable_end;
        }
        st.end = new_end;
        st.seq += 1;
        let seq = st.seq;
        drop(s);
        self.watchers.notify();
        // The state records the value: other writers may go on while this one syncs.
        drop(_writer);
        // Its evictions (under a size limit) follow in a batch of their own.
        self.evict_to_fit()?;
        if self.sync_commits {
            self.wait_durable(seq)?;
        }
        Ok(Commit {
            existed: vec![prior.is_some()],
            seq,
        })
    }
}
