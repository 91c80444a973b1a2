//! Offline verification and salvage.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::files::{self, parent_dir};
use crate::format::{self, EntryKind, HEADER_LEN};
use crate::hash::KeyHash;
use crate::index::Index;
use crate::load;
use crate::lock;
use crate::mapping::Mapping;
use crate::progress::{Progress, STEP};
use crate::scan::{self, Mode};
use crate::store::{Store, StoreOptions};

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Entries that verified and were replayed.
    pub entries_kept: u64,
    /// Live keys in the repaired store.
    pub live_keys: u64,
    /// Damaged byte ranges `[start, end)` that were skipped.
    pub skipped: Vec<(u64, u64)>,
    /// Bytes of unfinished tail dropped.
    pub dropped_tail_bytes: u64,
    /// Where the damaged original was kept (a hard link), if anything was skipped.
    pub backup: Option<std::path::PathBuf>,
}

/// Rebuilds the store at `path` from every entry that still verifies, in file order,
/// skipping damaged ranges. The store must not be open anywhere (it takes the writer lock
/// and an exclusive lock on the file). When something was skipped, the damaged original
/// stays reachable as `<path>.damaged`. The header's magic must be intact: a file that
/// is not a store is never touched.
pub fn repair(path: impl AsRef<Path>, opts: &StoreOptions) -> Result<RepairReport> {
    repair_with(path, opts, &Progress::none())
}

/// What an aborted repair left as it was.
const REPAIR_ABORTED: &str =
    "repair stopped before it renamed anything; the store file is as it was (still damaged) \
     and the repair file was removed";

/// [`repair`], reporting `(bytes of the damaged file read, its length)` to `progress` and
/// stopping with [`Error::Aborted`] once its cancel flag is set, at any point before it
/// renames anything (the link to `<path>.damaged` and the rename over `path`): the store
/// file is then as it was and the repair file is removed. From the first rename on it
/// finishes whatever the flag says.
pub fn repair_with(
    path: impl AsRef<Path>,
    opts: &StoreOptions,
    progress: &Progress<'_>,
) -> Result<RepairReport> {
    progress.check(REPAIR_ABORTED)?;
    let path = &files::resolve(path.as_ref())?;
    // Refuse what is not a regular file without opening it, and a file that is not a store
    // (or is too new) before creating the lock file; take the writer's lock on the file
    // itself before that too.
    let meta = std::fs::metadata(path).map_err(|e| Error::io("opening", path, e))?;
    files::require_regular(&meta, path)?;
    let (file, old_meta) = files::open_regular(path, true)?;
    refuse_foreign(&file, path)?;
    lock::lock_file_itself(&file, path)?;
    let _writer = lock::acquire_writer(path, opts.mode)?;
    lock::acquire_exclusive(&file, path)?;
    // Again, now that nothing else can replace the file.
    refuse_foreign(&file, path)?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("opening", path, e))?
        .len();
    let map =
        Mapping::new(&file, len, false).map_err(|e| Error::io("mapping the file", path, e))?;
    let data = map.bytes(len);
    let mut index = Index::with_capacity(((len / 64) as usize).min(1 << 22));
    let hasher = KeyHash::random(opts.hasher);
    let mut next_report = 0;
    let outcome = scan::scan_until(data, HEADER_LEN.min(len), Mode::Salvage, |off, h| {
        load::apply_entry(&mut index, data, hasher, off, h);
        if off < next_report {
            return true;
        }
        next_report = off + STEP;
        progress.report(off, len);
        !progress.is_cancelled()
    })
    .map_err(|d| Error::corrupt(path, d.offset, d.reason))?;
    progress.check(REPAIR_ABORTED)?;

    let tmp = files::with_suffix(path, files::REPAIR_TEMP);
    let result = (|| -> Result<()> {
        let out = files::private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io("creating the repair file", &tmp, e))?;
        // The repaired file replaces the store: same permission bits, owner and group.
        files::keep_mode_and_owner(&old_meta, &out)
            .map_err(|e| Error::io("creating the repair file", &tmp, e))?;
        // Versions go on rising: the repaired file's start after every one the damaged
        // file gave out, and each copied entry keeps its own.
        let version_base = format::header_version_base(data).saturating_add(len);
        let mut buf = format::encode_header(format::new_generation(), version_base).to_vec();
        for off in index.offsets_sorted(data) {
            let h = format::read_header_trusted(&data[off as usize..]);
            let ks = (off + h.key_start()) as usize;
            let vs = (off + h.value_start()) as usize;
            format::encode_entry_extended(
                &mut buf,
                0,
                EntryKind::Put,
                true,
                Some(format::entry_version(data, off)),
                format::entry_expiry(data, off),
                &data[ks..ks + h.key_len],
                &data[vs..vs + h.value_len],
            );
        }
        opts.backend
            .write_at(&out, &buf, 0)
            .and_then(|()| opts.backend.sync_data(&out))
            .map_err(|e| Error::io("writing the repair file", &tmp, e))?;
        // The last point where stopping leaves nothing behind but a file to remove.
        progress.check(REPAIR_ABORTED)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let backup = if outcome.skipped.is_empty() {
        None
    } else {
        let b = files::with_suffix(path, files::DAMAGED);
        let _ = std::fs::remove_file(&b);
        std::fs::hard_link(path, &b)
            .map_err(|e| Error::io("keeping the damaged original", &b, e))?;
        Some(b)
    };
    opts.backend
        .rename(&tmp, path)
        .map_err(|e| Error::io("replacing the store with its repair", path, e))?;
    // The index and delta files of the replaced file no longer match (another generation:
    // they would only be ignored).
    let _ = std::fs::remove_file(files::with_suffix(path, files::CHECKPOINT));
    let _ = std::fs::remove_file(files::with_suffix(path, files::DELTA));
    opts.backend
        .sync_dir(&parent_dir(path))
        .map_err(|e| Error::io("syncing the directory", parent_dir(path), e))?;
    let _ = file.unlock();
    progress.report(len, len);
    Ok(RepairReport {
        entries_kept: outcome.entries,
        live_keys: index.len() as u64,
        dropped_tail_bytes: outcome.tail.map(|(at, _)| len - at).unwrap_or(0),
        skipped: outcome.skipped,
        backup,
    })
}

/// Fails if `file` is not a store or has a newer format version. A damaged header with
/// intact magic passes: repair rewrites it.
fn refuse_foreign(file: &File, path: &Path) -> Result<()> {
    let mut head = [0u8; HEADER_LEN as usize];
    let n = crate::io::read_at(file, &mut head, 0)
        .map_err(|e| Error::io("reading the header", path, e))?;
    match format::check_header(&head[..n]) {
        Err(format::HeaderProblem::NotAStore) => Err(Error::NotAStore {
            path: path.to_path_buf(),
        }),
        Err(format::HeaderProblem::Version(found)) => Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: format::FORMAT_VERSION,
        }),
        Ok(_) | Err(format::HeaderProblem::Corrupt(_)) => Ok(()),
    }
}

/// What [`Store::verify`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries whose checksums were checked.
    pub entries: u64,
    /// Bytes checked.
    pub bytes: u64,
}

impl Store {
    /// Re-reads every entry of the store file and checks its checksum. Fails with
    /// [`Error::Corrupt`] naming the first bad offset, also when a read-only open found
    /// damage in unsynced data that it left aside (a writable open would drop it).
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with(&Progress::none())
    }

    /// [`Store::verify`], reporting `(bytes checked, bytes to check)` to `progress` and
    /// stopping with [`Error::Aborted`] once its cancel flag is set (verification changes
    /// nothing, so it can stop anywhere).
    pub fn verify_with(&self, progress: &Progress<'_>) -> Result<VerifyReport> {
        const ABORTED: &str = "verification stopped; it changes nothing";
        self.check_open()?;
        progress.check(ABORTED)?;
        if let (true, Some(at)) = (self.read_only, self.recovery().unsynced_damage_at) {
            return Err(Error::corrupt(
                &self.path,
                at,
                "damage in data written after the last sync, with valid entries after it; \
                 the next writable open keeps the store as it was before the damaged batch \
                 and saves the rest to <store>.torn-N",
            ));
        }
        let (map, end, base) = {
            let s = self.state.read();
            (s.map.clone(), s.end, s.index.base().cloned())
        };
        if base.is_some_and(|b| !b.slots_intact()) {
            return Err(Error::corrupt(
                &self.path,
                HEADER_LEN,
                "the index file (<store>.srd-index) does not match its own checksum: delete it \
                 and reopen (the open then reads the whole log)",
            ));
        }
        let data = map.bytes(end);
        let mut rebuilt = Index::with_capacity(0);
        let mut next_report = 0;
        let outcome = load::index_log_until(
            data,
            HEADER_LEN,
            Mode::Follow,
            self.hasher,
            &mut rebuilt,
            |off| {
                if off < next_report {
                    return true;
                }
                next_report = off + STEP;
                progress.report(off, end);
                !progress.is_cancelled()
            },
        )
        .map_err(|d| Error::corrupt(&self.path, d.offset, d.reason))?;
        progress.check(ABORTED)?;
        if let Some((at, why)) = outcome.tail {
            return Err(Error::corrupt(&self.path, at, why));
        }
        // The index in memory must be the one the log gives (it may have come from an index
        // checkpoint). Compared only if nothing was written while the log was read.
        let pairs = |index: &Index| -> Vec<(u64, u64)> {
            index
                .entries(data)
                .map(|slot| (slot.offset, slot.hash))
                .collect()
        };
        let mut want = pairs(&rebuilt);
        let (rebuilt_len, rebuilt_live) = (rebuilt.len(), rebuilt.live_bytes());
        drop(rebuilt);
        want.sort_unstable();
        let counts = (rebuilt_len, rebuilt_live);
        let have = {
            let s = self.state.read();
            (s.end == end && Arc::ptr_eq(&s.map, &map))
                .then(|| (pairs(&s.index), (s.index.len(), s.index.live_bytes())))
        };
        if let Some((mut have, have_counts)) = have {
            have.sort_unstable();
            if have != want || have_counts != counts {
                let at = have
                    .iter()
                    .zip(&want)
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| a.0.min(b.0))
                    .or_else(|| have.get(want.len()).or(want.get(have.len())).map(|p| p.0))
                    .unwrap_or(HEADER_LEN);
                return Err(Error::corrupt(
                    &self.path,
                    at,
                    "the index in memory does not match the log; it was read from a stale or \
                     damaged index checkpoint (<store>.srd-index): delete that file and reopen",
                ));
            }
        }
        progress.report(end, end);
        Ok(VerifyReport {
            entries: outcome.entries,
            bytes: end,
        })
    }
}

/// Runs `f` with the calling thread's I/O priority lowered to idle (Linux `ioprio_set`:
/// its reads wait for every other process's), restoring the old priority afterwards.
/// Elsewhere it just runs `f`.
fn at_idle_io<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_os = "linux")]
    {
        const WHO_PROCESS: libc::c_long = 1; // IOPRIO_WHO_PROCESS: a thread id, 0 = this one
        const CLASS_IDLE: libc::c_long = 3 << 13;
        // SAFETY: `ioprio_get`/`ioprio_set` take plain integers and change only the calling
        // thread's I/O scheduling class; a kernel without them returns an error, ignored.
        let old = unsafe { libc::syscall(libc::SYS_ioprio_get, WHO_PROCESS, 0) };
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_ioprio_set, WHO_PROCESS, 0, CLASS_IDLE) };
        let r = f();
        if old >= 0 {
            // SAFETY: as above; restores what `ioprio_get` returned.
            unsafe { libc::syscall(libc::SYS_ioprio_set, WHO_PROCESS, 0, old) };
        }
        r
    }
    #[cfg(not(target_os = "linux"))]
    f()
}

impl Store {
    /// Verifies, by their checksums, up to about `budget` bytes of the entries that the
    /// index file covers and that were not verified in this generation of the store file
    /// yet (an open through the index file does not read them; see
    /// [`crate::StoreOptions::verify_full`]), at idle I/O priority. Progress is kept in
    /// memory and recorded in the next index file a merge writes, so each byte is verified
    /// once per generation, not at every open. Returns whether more remains. Fails with
    /// [`Error::Corrupt`] naming the first entry that does not verify. Bindings call it a
    /// piece at a time from a thread of their own after a writable open.
    pub fn verify_in_background(&self, budget: u64) -> Result<bool> {
        self.check_open()?;
        let (map, base) = {
            let s = self.state.read();
            match s.index.base() {
                Some(b) => (s.map.clone(), b.clone()),
                None => return Ok(false),
            }
        };
        let from = base
            .verified_through
            .max(self.verified_to.load(std::sync::atomic::Ordering::Acquire));
        if from >= base.end {
            return Ok(false);
        }
        let data = map.bytes(base.end);
        let (reached, bad) = at_idle_io(|| {
            let mut off = from;
            let mut asked = 0;
            while off < base.end && off - from < budget {
                crate::mapping::read_ahead(data, off, &mut asked);
                match format::verify_entry(data, off) {
                    Ok(h) => off += h.len(),
                    Err(b) => return (off, Some(b)),
                }
            }
            (off, None)
        });
        if let Some(b) = bad {
            return Err(Error::corrupt(&self.path, reached, b.describe()));
        }
        self.verified_to
            .fetch_max(reached, std::sync::atomic::Ordering::AcqRel);
        Ok(reached < base.end)
    }
}
