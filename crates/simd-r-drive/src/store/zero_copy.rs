//! What bindings need to read values without copying them: positions of values in a
//! private mapping of the file, and a snapshot of every live entry's ranges.

use std::fs::File;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format;
use crate::window::{stable_end, EntryRange, Located, PrivateMap, RangeSnapshot};

use super::Store;

impl Store {
    /// [`Store::locate_private`] for every key of `keys`: calls `f(i, located)` for
    /// `keys[i]`, in order, with lookups started in groups as [`Store::get_many_with`] does.
    /// `f` runs while a read lock is held (writers wait), so keep it short.
    pub fn locate_many_private<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<Located<'_>>),
    ) -> Result<()> {
        self.lookup_many(keys, |s, data, i, found| {
            let Some(off) = found else {
                f(i, None);
                return Ok(());
            };
            let h = format::read_header_trusted(&data[off as usize..]);
            let map = s
                .map
                .private(&s.file)
                .map_err(|e| Error::io("mapping the file privately", &self.path, e))?;
            f(
                i,
                Some(Located {
                    map,
                    offset: off + h.value_start(),
                    len: h.value_len,
                    stable_end: stable_end(s.end),
                }),
            );
            Ok(())
        })
    }

    /// Where `key`'s value lies in the current store file: `(generation, offset, length)`.
    /// Bindings use it to serve values from mappings of their own.
    pub fn locate(&self, key: &[u8]) -> Result<Option<(u64, u64, usize)>> {
        self.check_open()?;
        let hash = self.hash(key);
        let now = self.lazy_now();
        let s = self.state.read();
        Ok(s.value_of(&self.path, hash, key, &now)?
            .map(|(at, len)| (s.generation, at, len)))
    }

    /// Finds `key` and calls `f` with where its value lies in the private (copy-on-write)
    /// mapping of the current store file, or with `None` if the key has no value. For
    /// bindings that hand mapped memory to code that may write into it (see
    /// [`crate::PrivateMap`]); the call holds the store's read lock, so keep `f` short.
    pub fn locate_private<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<Located<'_>>) -> R,
    ) -> Result<R> {
        self.check_open()?;
        let hash = self.hash(key);
        let now = self.lazy_now();
        let s = self.state.read();
        let Some((offset, len)) = s.value_of(&self.path, hash, key, &now)? else {
            return Ok(f(None));
        };
        let map = s
            .map
            .private(&s.file)
            .map_err(|e| Error::io("mapping the file privately", &self.path, e))?;
        Ok(f(Some(Located {
            map,
            offset,
            len,
            stable_end: stable_end(s.end),
        })))
    }

    /// The private mapping of the current store file and the end of its stable pages.
    pub fn private_map(&self) -> Result<(Arc<PrivateMap>, u64)> {
        self.check_open()?;
        let s = self.state.read();
        let map = s
            .map
            .private(&s.file)
            .map_err(|e| Error::io("mapping the file privately", &self.path, e))?;
        Ok((map.clone(), stable_end(s.end)))
    }

    /// A point-in-time list of where every live entry's key and value lie in the private
    /// mapping of the current file, in file order. Writers go on meanwhile.
    pub fn snapshot_ranges(&self) -> Result<RangeSnapshot> {
        self.check_open()?;
        let (map, end, offsets, private) = {
            let s = self.state.read();
            let private = s
                .map
                .private(&s.file)
                .map_err(|e| Error::io("mapping the file privately", &self.path, e))?
                .clone();
            (s.map.clone(), s.end, s.index.snapshot(), private)
        };
        let mut offsets: Vec<u64> = offsets
            .live(map.bytes(end))
            .into_iter()
            .map(|x| x.offset)
            .collect();
        offsets.sort_unstable();
        let data = map.bytes(end);
        let now = self.now_ms();
        let entries = offsets
            .into_iter()
            .filter(|&off| format::entry_fits(data, off) && !format::expired(data, off, || now))
            .map(|off| {
                let h = format::read_header_trusted(&data[off as usize..]);
                EntryRange {
                    key: (off + h.key_start(), h.key_len),
                    value: (off + h.value_start(), h.value_len),
                }
            })
            .collect();
        Ok(RangeSnapshot {
            map: private,
            stable_end: stable_end(end),
            end,
            entries,
        })
    }

    /// The current store file, its generation and the end of its committed data.
    pub fn current_file(&self) -> Result<(Arc<File>, u64, u64)> {
        self.check_open()?;
        let s = self.state.read();
        Ok((s.file.clone(), s.generation, s.end))
    }
}
