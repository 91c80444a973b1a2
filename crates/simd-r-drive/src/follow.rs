//! Read-only followers: seeing what a writer in another process appended or compacted.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::files::file_id;
use crate::load;
use crate::lock;
use crate::mapping::Mapping;
use crate::scan::{self, Mode};
use crate::store::{State, Store};

/// What [`Store::refresh`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing new.
    Unchanged,
    /// New batches were read: this many entries.
    Appended(u64),
    /// The writer had compacted: the store file was replaced and read from scratch.
    Replaced,
}

impl Store {
    /// Catches a read-only store up with its writer: reads the batches appended since the
    /// last refresh, or, if the writer compacted and replaced the file, switches to the new
    /// file. A batch still being written is left for the next refresh. On a writable store
    /// this does nothing.
    pub fn refresh(&self) -> Result<Refresh> {
        self.check_open()?;
        if !self.read_only {
            return Ok(Refresh::Unchanged);
        }
        let _serial = self.writer.lock();
        let (file, end, map, id) = {
            let s = self.state.read();
            (s.file.clone(), s.end, s.map.clone(), s.file_id)
        };
        let on_disk =
            std::fs::metadata(&self.path).map_err(|e| Error::io("checking", &self.path, e))?;
        if file_id(&on_disk) != id {
            return self.follow_replacement();
        }
        let len = file
            .metadata()
            .map_err(|e| Error::io("checking", &self.path, e))?
            .len();
        if len <= end {
            return Ok(Refresh::Unchanged);
        }
        let map = if len > map.reserved() {
            Arc::new(
                Mapping::new(&file, len, true)
                    .map_err(|e| Error::io("mapping the file", &self.path, e))?,
            )
        } else {
            map
        };
        let data = map.bytes(len);
        let mut found = Vec::new();
        let outcome = scan::scan(data, end, Mode::Follow, |off, h| found.push((off, *h)))
            .map_err(|d| Error::corrupt(&self.path, d.offset, d.reason))?;
        if outcome.committed_end == end {
            return Ok(Refresh::Unchanged);
        }
        let mut s = self.state.write();
        let st = &mut *s;
        st.map = map;
        let data = st.map.bytes(outcome.committed_end);
        for (off, h) in &found {
            load::apply_entry(&mut st.index, data, self.hasher, *off, h);
        }
        st.end = outcome.committed_end;
        if outcome.entries == 0 {
            // Only sync marks were appended (a flush or close): no key changed.
            return Ok(Refresh::Unchanged);
        }
        st.seq += 1;
        drop(s);
        self.watchers.notify();
        Ok(Refresh::Appended(outcome.entries))
    }

    fn follow_replacement(&self) -> Result<Refresh> {
        // Opened without blocking, and refused unless it is a regular file (a FIFO put
        // at the path must not hang the follower).
        let (file, _) = crate::files::open_regular(&self.path, false)?;
        // The writer may be a newer build that wrote a newer format: refuse it as an open
        // would, instead of misreading it.
        let version = load::check_header_of(&file, &self.path)?;
        lock::acquire_shared(&file, &self.path)?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io("opening", &self.path, e))?;
        let id = file_id(&meta);
        let load::Loaded {
            index,
            map,
            outcome,
            ..
        } = load::load(
            &file,
            &self.path,
            self.hasher.custom,
            Some(self.hasher.seed),
            load::strict(version, true),
            true,
            self.use_index,
        )?;
        let file_generation = load::generation_of(&file);
        let mut s = self.state.write();
        let old = std::mem::replace(
            &mut *s,
            State {
                index,
                map,
                file: Arc::new(file),
                end: outcome.committed_end,
                seq: 0,
                generation: 0,
                file_id: id,
                durable_end: 0,
                marked_end: crate::format::HEADER_LEN,
                sync_marks: version >= crate::format::SYNC_MARKS_SINCE,
                format_version: version,
                file_generation,
                evict_cursor: crate::format::HEADER_LEN,
            },
        );
        s.seq = old.seq + 1;
        s.generation = old.generation + 1;
        drop(s);
        // Unlocked first: freeing a replaced file's mapping can take a while (see compact).
        let _ = old.file.unlock();
        drop(old);
        self.watchers.notify();
        Ok(Refresh::Replaced)
    }
}
