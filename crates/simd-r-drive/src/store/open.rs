//! Opening a store: creating the file, locking, recovery (and the `.torn-N` copy of a
//! dropped tail), the index from its checkpoint or the log.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::files::{self, file_id, parent_dir};
use crate::format::{self, HEADER_LEN};
use crate::io::{self as sio, Backend};
use crate::load::{self, check_header_of, strict, Loaded};
use crate::lock;
use crate::mapping::Mapping;

use super::{RecoveryReport, State, Store, StoreOptions};

/// Saves the tail of `bytes_of_store` (the store file's bytes) from offset `start`, which
/// recovery is about to drop, as a store image `<store>.torn-N` (with the store file's
/// mode, owner and group, as `like` gives them): the store's header, a hole up to `start`,
/// then the bytes at their own
/// offsets, where their checksums verify. `repair` on that file (or the CLI's `repair`)
/// turns it into a store of the entries that still verify. An identical image left by an
/// earlier attempt (a crash between the copy and the cut) is reused. Returns its path.
fn save_tail(
    path: &Path,
    like: &std::fs::Metadata,
    bytes_of_store: &[u8],
    start: u64,
) -> std::io::Result<PathBuf> {
    let bytes = &bytes_of_store[start as usize..];
    for n in 1..=1000u32 {
        let copy = files::with_suffix(path, &files::torn(n));
        match files::private_options()
            .write(true)
            .create_new(true)
            .open(&copy)
        {
            Ok(f) => {
                // It holds the store's data: readable by exactly those who may read that.
                files::keep_mode_and_owner(like, &f)?;
                sio::write_all_at(&f, &bytes_of_store[..HEADER_LEN as usize], 0)?;
                sio::write_all_at(&f, bytes, start)?;
                f.sync_all()?;
                if let Ok(dir) = File::open(parent_dir(path)) {
                    let _ = dir.sync_all();
                }
                return Ok(copy);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if same_image(&copy, start, bytes) {
                    return Ok(copy);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "1000 .torn-N copies exist beside the store: move them away",
    ))
}

/// Whether `copy` is already the image [`save_tail`] would write.
fn same_image(copy: &Path, start: u64, bytes: &[u8]) -> bool {
    let Ok(f) = File::open(copy) else {
        return false;
    };
    if f.metadata().map(|m| m.len()).ok() != Some(start + bytes.len() as u64) {
        return false;
    }
    let mut back = vec![0u8; bytes.len()];
    sio::read_at(&f, &mut back, start).is_ok_and(|n| n == bytes.len()) && back == bytes
}

/// Creates a new, empty store file at `path` atomically: the header is written to a
/// temporary file, synced, and renamed into place, so a crash never leaves a half-written
/// header at `path`.
fn create_new(path: &Path, backend: &dyn Backend, mode: u32) -> Result<()> {
    let tmp = files::with_suffix(path, files::INIT_TEMP);
    let header = format::encode_header(format::new_generation(), 0);
    files::replace_atomically(backend, &tmp, path, &mut files::create_options(mode), |f| {
        backend.write_at(f, &header, 0)
    })
    .map_err(|(step, e)| match step {
        "creating" => Error::io("creating the store file", &tmp, e),
        "writing" => Error::io("writing the header", &tmp, e),
        "syncing" => Error::io("syncing the header", &tmp, e),
        "renaming" => Error::io("moving the new store file into place", path, e),
        _ => Error::io("syncing the directory", parent_dir(path), e),
    })?;
    Ok(())
}

impl Store {
    /// Opens (or creates) a writable store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        StoreOptions::new().open(path)
    }

    pub(super) fn open_with(path: &Path, opts: StoreOptions) -> Result<Store> {
        // Absolute from here on (a later `chdir` changes nothing), symbolic link followed.
        let path = files::resolve(path)?;
        let writable = !opts.read_only;
        // What is at the path decides what may be done there. Something that is not a
        // regular file (a device, a FIFO, a directory) is refused without being opened;
        // what is opened is opened without blocking and checked again, and a file that is
        // not a store is refused before a lock file is created or anything beside it is
        // removed.
        let mut file = match std::fs::metadata(&path) {
            Ok(m) => {
                files::require_regular(&m, &path)?;
                let (f, meta) = files::open_regular(&path, writable)?;
                if meta.len() > 0 {
                    check_header_of(&f, &path)?;
                } else if opts.read_only {
                    return Err(files::empty_file(&path));
                }
                Some(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && writable && opts.create => None,
            Err(e) => return Err(Error::io("opening", &path, e)),
        };
        // A writer takes every lock before it touches any file beside the store: first the
        // record lock on the store file itself, which a script that deletes `<store>.lock`
        // cannot defeat, then the lock file (which also covers a store not created yet).
        if let (true, Some(f)) = (writable, &file) {
            lock::lock_file_itself(f, &path)?;
        }
        let lock_file = if writable {
            Some(lock::acquire_writer(&path, opts.mode)?)
        } else {
            None
        };
        if writable {
            let at_path = std::fs::metadata(&path).ok().map(|m| file_id(&m));
            let opened = file.as_ref().and_then(|f| f.metadata().ok());
            if at_path != opened.map(|m| file_id(&m)) {
                // Another writer created or compacted the store between the look above and
                // the locks, and has closed it since: open what is there now, with the
                // checks above, rather than the file it replaced.
                drop(lock_file);
                return Store::open_with(&path, opts);
            }
        }
        let mut created = false;
        if writable {
            // Leftovers of a crash: safe to remove now that no other writer can run.
            for s in files::TEMP_SUFFIXES {
                let _ = std::fs::remove_file(files::with_suffix(&path, s));
            }
            files::remove_uploads(&path);
            match &file {
                None => {
                    create_new(&path, opts.backend.as_ref(), opts.mode)?;
                    let (f, _) = files::open_regular(&path, true)?;
                    lock::lock_file_itself(&f, &path)?;
                    file = Some(f);
                    created = true;
                }
                Some(f) => {
                    let len = f
                        .metadata()
                        .map_err(|e| Error::io("opening", &path, e))?
                        .len();
                    if len == 0 {
                        // An empty file becomes a store in place: same inode, mode, owner
                        // and hard links.
                        let header = format::encode_header(format::new_generation(), 0);
                        opts.backend
                            .write_at(f, &header, 0)
                            .map_err(|e| Error::io("writing the header", &path, e))?;
                        opts.backend
                            .sync_data(f)
                            .map_err(|e| Error::io("syncing the header", &path, e))?;
                        created = true;
                    }
                }
            }
        }
        let file = file.expect("opened or created above");
        let version = check_header_of(&file, &path)?;
        if opts.read_only {
            lock::acquire_shared(&file, &path)?;
        }
        let meta = file
            .metadata()
            .map_err(|e| Error::io("opening", &path, e))?;
        let id = file_id(&meta);
        let dir = parent_dir(&path);
        let dir_id = std::fs::metadata(&dir)
            .map(|m| file_id(&m))
            .map_err(|e| Error::io("opening", &dir, e))?;
        // Read-only opens check as strictly as writers: damage followed by valid data is
        // reported, never silently hidden. A batch a live writer is still writing is a torn
        // last batch, which strict mode leaves aside without an error.
        let Loaded {
            hasher,
            index,
            mut map,
            len,
            outcome,
            checkpoint,
        } = load::load(
            &file,
            &path,
            opts.hasher,
            None,
            strict(version, opts.read_only),
            true,
            !opts.verify_full,
        )?;
        let end = outcome.committed_end;
        let mut allocated = end;
        let mut saved_tail = None;
        if !opts.read_only && outcome.unsynced_damage.is_some() {
            // Valid entries follow the damage, in data written after the last sync: keep
            // a copy of everything about to be dropped, so nothing is silently destroyed.
            let copy = save_tail(&path, &meta, map.bytes(len), end)
                .map_err(|e| Error::io("saving the dropped tail", &path, e))?;
            saved_tail = Some(copy);
        }
        let synced_at_open = !opts.read_only && end < len;
        if !opts.read_only && end < len {
            if lock::try_exclusive(&file) {
                // No reader has the file open: drop the unfinished tail, and make the cut
                // durable before anything is appended after it.
                let cut = opts
                    .backend
                    .set_len(&file, end)
                    .and_then(|()| opts.backend.sync_data(&file));
                let _ = file.unlock();
                cut.map_err(|e| Error::io("truncating the unfinished tail", &path, e))?;
                // The old mapping may cover the cut bytes; a fresh one does not need to.
                map = Arc::new(
                    Mapping::new(&file, end, true)
                        .map_err(|e| Error::io("mapping the file", &path, e))?,
                );
            } else {
                // Readers have the file mapped, and shrinking it under them would kill them
                // with SIGBUS: overwrite the tail with zeros instead, which recovery and
                // followers treat as not yet written, and which appends overwrite.
                files::zero_fill(opts.backend.as_ref(), &file, end, len)
                    .and_then(|()| opts.backend.sync_data(&file))
                    .map_err(|e| Error::io("clearing the unfinished tail", &path, e))?;
                allocated = len;
            }
        }
        // A store closed cleanly ends with a mark that records everything before it: no new
        // mark is due until more is written and synced.
        let closed_cleanly = matches!(outcome.last_mark,
            Some((at, durable_end)) if durable_end == at && at + format::SYNC_MARK_LEN == end);
        if !opts.read_only && !synced_at_open && !created && !closed_cleanly {
            // What earlier sessions wrote may still be only in the page cache. Make it
            // durable now, so that the sync mark the first append writes is true. (After a
            // clean close only that closing mark can be: everything before it was synced
            // before it was written, and losing it loses nothing. The next sync of this
            // session covers it, before any later mark can claim it durable.)
            opts.backend
                .sync_data(&file)
                .map_err(|e| Error::io("fdatasync", &path, e))?;
        }
        let marked_end = if closed_cleanly { end } else { HEADER_LEN };
        // Where the writer's eviction walk starts: what the index files and the log read
        // after them say (a walk of only what this open replayed).
        let evict_cursor = if opts.read_only {
            HEADER_LEN
        } else {
            super::evict::recover_cursor(
                map.bytes(end),
                index.evict_hint(),
                checkpoint.map_or(HEADER_LEN, |c| c.0),
                end,
            )
        };
        let recovery = RecoveryReport {
            created,
            entries: outcome.entries,
            dropped_tail_bytes: len - end,
            tail_reason: outcome.tail.map(|t| t.1),
            saved_tail,
            unsynced_damage_at: outcome.unsynced_damage,
            checkpoint_keys: checkpoint.map(|c| c.1),
        };
        let file_generation = load::generation_of(&file);
        let delta_saved = match (file_generation, index.loaded_delta_end()) {
            (Some(g), Some(delta_end)) => Some((g, index.base_end(), delta_end)),
            _ => None,
        };
        let store = Store {
            path,
            dir_id,
            read_only: opts.read_only,
            sync_commits: opts.sync,
            backend: opts.backend,
            hasher,
            state: RwLock::new(State {
                index,
                map,
                file: Arc::new(file),
                end,
                seq: 0,
                generation: 0,
                file_id: id,
                durable_end: if opts.read_only { 0 } else { end },
                marked_end,
                sync_marks: version >= format::SYNC_MARKS_SINCE,
                format_version: version,
                file_generation,
                evict_cursor,
            }),
            writer: Mutex::new(Vec::new()),
            durability: Mutex::new(()),
            durable_seq: AtomicU64::new(0),
            preallocate: if opts.read_only { 0 } else { opts.preallocate },
            zeros_in_background: opts.zeros_in_background,
            zeros_claimed: AtomicBool::new(false),
            zeros_retry_at: AtomicU64::new(0),
            checkpoint_min_keys: opts.checkpoint_min_keys,
            use_index: !opts.verify_full,
            allocated: AtomicU64::new(allocated),
            compaction: Mutex::new(()),
            auto: crate::auto_policy::AutoCompact::new(opts.auto_compact),
            checkpointing: Mutex::new(()),
            verified_to: AtomicU64::new(0),
            delta_saved: Mutex::new(delta_saved),
            merge_claimed: AtomicBool::new(false),
            long_ops: AtomicU64::new(0),
            tx_thread: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            poison: OnceLock::new(),
            durability_lost: AtomicBool::new(false),
            lock_file: Mutex::new(lock_file),
            recovery,
            watchers: Default::default(),
            clock: super::expiry::Clock::new(opts.clock.clone()),
            sweep: super::sweep::SweepState::new(!opts.read_only, end),
            max_bytes: AtomicU64::new(match opts.max_bytes {
                Some(max) if !opts.read_only => max,
                _ => 0,
            }),
            evicted: Default::default(),
        };
        if !store.read_only {
            // The sync above made what earlier sessions wrote durable: say so in the log
            // now, not at the first append, which a session that writes nothing (or dies
            // first) never makes. Without the mark, later damage in those bytes would be
            // taken for a power loss's unsynced tail instead of being reported.
            let _writer = store.writer.lock();
            store.append_mark();
        }
        Ok(store)
    }
}
