//! Online backup: a copy of the store as of one moment, made while reads and writes go on.
//!
//! 1. Under the state's read lock (a moment: no I/O), note the end of the committed data
//!    and keep the file's mapping (and, for a large store, a snapshot of the index). The
//!    log before that end never changes, and the mapping keeps reading the same file even
//!    if a compaction renames a new one over the path meanwhile.
//! 2. With no lock held, copy those bytes into a temporary file beside the destination,
//!    with a header of its own (a fresh generation identifier: it is a new file) and a
//!    sync mark at the end; `fdatasync` it.
//! 3. Put it at the destination without ever replacing a file there (`renameat2` with
//!    `RENAME_NOREPLACE`, or a hard link where the file system lacks it), sync the
//!    directory, and write its index file beside it when the store is large enough to
//!    have one, so that the copy opens in constant time too.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::files::{self, parent_dir};
use crate::format::{self, HEADER_LEN};
use crate::index::{base, Snapshot};
use crate::mapping::{self, Mapping};
use crate::progress::Progress;
use crate::store::Store;

/// What an aborted backup left as it was.
const BACKUP_ABORTED: &str =
    "backup stopped; its temporary copy was removed and nothing was written at its path";

/// Bytes copied per write.
const CHUNK: usize = 4 << 20;

/// Tells apart the temporary files of backups made at the same time by one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy's path (absolute).
    pub path: PathBuf,
    /// Bytes of the copy: the source's committed log at the moment of the call, with its
    /// own header, and a sync mark.
    pub bytes: u64,
    /// Live keys in the copy.
    pub keys: u64,
    /// Sequence number of the last commit the copy holds.
    pub seq: u64,
    /// Whether an index file was written beside the copy (`<copy>.srd-index`), so that it
    /// opens in constant time.
    pub index_file: bool,
    /// Total time taken.
    pub duration: Duration,
}

/// What the backup needs from the store's state, taken under its read lock.
struct Source {
    map: std::sync::Arc<Mapping>,
    file: std::sync::Arc<File>,
    end: u64,
    seq: u64,
    keys: u64,
    live_bytes: u64,
    sync_marks: bool,
    /// Whether the file's header has a generation identifier (format version 3).
    has_generation: bool,
    /// The index as of `end`, when the copy gets an index file.
    index: Option<Snapshot>,
    verified_through: Option<u64>,
}

impl Store {
    /// Writes a copy of the store as of this call to `dest`, a path where no file may
    /// exist: the committed batches up to the end of the data at the moment of the call
    /// (a complete prefix of the log), while reads and writes go on (writers are never
    /// held up: the end is read under the state's read lock, and the copy is made from
    /// the file's mapping, which a compaction meanwhile does not change). The copy is
    /// synced, renamed into place without replacing anything (an existing `dest` fails the
    /// call with [`Error::Exists`] and is left untouched), and its directory synced before
    /// this returns. The copy is a store: it gets a header with a fresh generation
    /// identifier (version 3 files; older versions keep their header, which has none), ends
    /// with a sync mark, and, when the store has at least
    /// [`crate::StoreOptions::checkpoint_min_keys`] keys, gets its own index file, so that
    /// it opens in constant time. Bytes are copied as they are: [`Store::verify`] of the
    /// copy checks them.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<BackupReport> {
        self.backup_with(dest, &Progress::none())
    }

    /// [`Store::backup`], reporting `(bytes copied, bytes to copy)` to `progress` and
    /// stopping with [`Error::Aborted`] once its cancel flag is set, at any point before the
    /// copy is put at `dest`: the temporary copy is then removed and `dest` never appears.
    pub fn backup_with(
        &self,
        dest: impl AsRef<Path>,
        progress: &Progress<'_>,
    ) -> Result<BackupReport> {
        self.check_open()?;
        let started = Instant::now();
        let dest = absolute(dest.as_ref())?;
        // Refused early, before anything is written; the rename below is what guarantees
        // that nothing is replaced.
        if std::fs::symlink_metadata(&dest).is_ok() {
            return Err(Error::Exists { path: dest });
        }
        let src = {
            let s = self.state.read();
            let index = (s.file_generation.is_some()
                && s.sync_marks
                && s.index.len() >= self.checkpoint_min_keys)
                .then(|| s.index.snapshot());
            let verified_through = s.index.base().map(|b| {
                let v = b
                    .verified_through
                    .max(self.verified_to.load(Ordering::Acquire));
                if v >= b.end {
                    u64::MAX
                } else {
                    v
                }
            });
            Source {
                map: s.map.clone(),
                file: s.file.clone(),
                end: s.end,
                seq: s.seq,
                keys: s.index.len() as u64,
                live_bytes: s.index.live_bytes(),
                sync_marks: s.sync_marks,
                has_generation: s.file_generation.is_some(),
                index,
                verified_through,
            }
        };
        let like = src
            .file
            .metadata()
            .map_err(|e| Error::io("reading the file size", &self.path, e))?;
        let tmp = files::with_suffix(
            &dest,
            &format!(
                "{}{}-{}",
                files::BACKUP_PREFIX,
                std::process::id(),
                NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
            ),
        );
        let written = self.write_copy(&src, &tmp, &like, progress);
        let (file, bytes, generation) = match written.and_then(|w| {
            progress.check(BACKUP_ABORTED)?;
            Ok(w)
        }) {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = place_new(&tmp, &dest) {
            let _ = std::fs::remove_file(&tmp);
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists { path: dest }
            } else {
                Error::io("renaming the backup into place", &dest, e)
            });
        }
        let dir = parent_dir(&dest);
        self.backend
            .sync_dir(&dir)
            .map_err(|e| Error::io("syncing the directory", dir, e))?;
        let mut src = src;
        let index_file = match (src.index.take(), generation) {
            (Some(snapshot), Some(generation)) => {
                self.write_copy_index(&src, snapshot, &file, bytes, generation, &dest, &like)
            }
            _ => false,
        };
        progress.report(src.end, src.end);
        Ok(BackupReport {
            path: dest,
            bytes,
            keys: src.keys,
            seq: src.seq,
            index_file,
            duration: started.elapsed(),
        })
    }

    /// Writes the copy of `src` to `tmp` (created here: never an existing file) and syncs
    /// it. Returns the file, its length and its generation identifier (`None` before format
    /// version 3).
    fn write_copy(
        &self,
        src: &Source,
        tmp: &Path,
        like: &std::fs::Metadata,
        progress: &Progress<'_>,
    ) -> Result<(File, u64, Option<[u8; 16]>)> {
        let io_err = |op: &'static str| move |e| Error::io(op, tmp, e);
        let file = files::private_options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(io_err("creating the backup file"))?;
        // The copy holds what the store holds: readable by exactly those who may read it.
        files::keep_mode_and_owner(like, &file).map_err(io_err("creating the backup file"))?;
        let data = src.map.bytes(src.end);
        let h = HEADER_LEN as usize;
        // A new file gets a generation of its own, so that no index file of the source (or
        // of a file that was at `dest` before) is ever taken for the copy's. It keeps the
        // source's version base: its entries lie at the same offsets, so every key has the
        // version in the copy that it had in the store.
        let generation = src.has_generation.then(format::new_generation);
        let header = match generation {
            Some(g) => format::encode_header(g, format::header_version_base(data)).to_vec(),
            None => data[..h].to_vec(),
        };
        let write = |buf: &[u8], at: u64| {
            self.backend
                .write_at(&file, buf, at)
                .map_err(io_err("writing the backup file"))
        };
        write(&header, 0)?;
        let mut at = HEADER_LEN;
        let mut asked = 0;
        while at < src.end {
            progress.report(at, src.end);
            progress.check(BACKUP_ABORTED)?;
            let n = (src.end - at).min(CHUNK as u64) as usize;
            mapping::read_ahead(data, at, &mut asked);
            write(&data[at as usize..at as usize + n], at)?;
            at += n as u64;
        }
        let mut end = src.end;
        if src.sync_marks {
            // Everything before it is durable whenever the copy is at `dest`: the sync
            // below precedes the rename.
            let mut mark = Vec::with_capacity(24);
            format::encode_sync_mark(&mut mark, end, end);
            write(&mark, end)?;
            end += mark.len() as u64;
        }
        self.backend
            .sync_data(&file)
            .map_err(io_err("syncing the backup file"))?;
        Ok((file, end, generation))
    }

    /// Writes the index file of the copy (`file`, `end` bytes, now at `dest`) from the
    /// snapshot of the source's index. Returns whether it did; failing to is not an error
    /// (the copy then reads its whole log when opened).
    #[allow(clippy::too_many_arguments)] // each is one thing the file needs
    fn write_copy_index(
        &self,
        src: &Source,
        snapshot: Snapshot,
        file: &File,
        end: u64,
        generation: [u8; 16],
        dest: &Path,
        like: &std::fs::Metadata,
    ) -> bool {
        let Ok(copy) = Mapping::new(file, end, false) else {
            return false;
        };
        // Offsets are the same in the copy: its header has the same length, and the log
        // was copied byte for byte.
        let slots = snapshot.live(src.map.bytes(src.end));
        let head = base::Header {
            generation,
            end,
            live_bytes: src.live_bytes,
            verified_through: match src.verified_through {
                // Everything the source verified (at open, or as this process wrote it).
                None | Some(u64::MAX) => end,
                Some(v) => v,
            },
            hash: self.hasher,
            // Not carried: the copy's writer walks from the header at its first eviction.
            evict_cursor: 0,
        };
        base::write(
            &files::with_suffix(dest, files::CHECKPOINT_TEMP),
            &files::with_suffix(dest, files::CHECKPOINT),
            like,
            self.backend.as_ref(),
            copy.bytes(end),
            &head,
            slots.len() as u64,
            slots.into_iter(),
        )
        .is_ok()
    }
}

/// `path` made absolute against the current directory (a symbolic link is not followed:
/// one at `path` is a file that exists).
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .map_err(|e| Error::io("opening", path, e))?
        .join(path))
}

/// Gives the file at `tmp` the name `dest` if nothing has that name, atomically: fails
/// with `AlreadyExists` (and leaves both names alone) otherwise. Linux: `renameat2` with
/// `RENAME_NOREPLACE`; where the file system does not support that, and elsewhere, a hard
/// link (which never replaces a file either), then `tmp` is unlinked.
fn place_new(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
        };
        let (from, to) = (c(tmp)?, c(dest)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call, and
        // `AT_FDCWD` is a valid directory descriptor for them (they are absolute anyway).
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    std::fs::hard_link(tmp, dest)?;
    let _ = std::fs::remove_file(tmp);
    Ok(())
}
