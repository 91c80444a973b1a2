//! What the engine needs from the file system beyond reads and writes: telling a regular
//! file from anything else without blocking, creating files with the store's mode, and
//! giving a replacement file the mode and owner of the file it replaces.

use std::fs::{File, Metadata, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, EMPTY_FILE};
use crate::io::Backend;

/// Mode of new store files (and their side files) unless [`crate::StoreOptions::mode`]
/// says otherwise: `0o666`, less the process's umask, as for any new file.
pub(crate) const DEFAULT_MODE: u32 = 0o666;

/// Mode a temporary file is created with before it gets the mode of the file it replaces:
/// nobody else can read what is written into it meanwhile.
const PRIVATE_MODE: u32 = 0o600;

// Side files: what the engine puts beside a store file, named by a suffix appended to the
// store file's name (`data.srd.lock`). Every such name is spelled here and nowhere else.

/// The writer's lock file.
pub(crate) const LOCK: &str = ".lock";
/// The index checkpoint.
pub(crate) const CHECKPOINT: &str = ".srd-index";
/// The temporary file an index checkpoint is written to before it is renamed.
pub(crate) const CHECKPOINT_TEMP: &str = ".srd-index.tmp";
/// The keys changed since the index file, saved by `close`.
pub(crate) const DELTA: &str = ".srd-delta";
/// The temporary file a delta file is written to before it is renamed.
pub(crate) const DELTA_TEMP: &str = ".srd-delta.tmp";
/// The temporary file a new store's header is written to before it is renamed.
pub(crate) const INIT_TEMP: &str = ".init";
/// The temporary file compaction writes the new store file to.
pub(crate) const COMPACT_TEMP: &str = ".compact";
/// The temporary file repair writes the repaired store file to.
pub(crate) const REPAIR_TEMP: &str = ".repair";
/// The damaged original that repair keeps (a hard link) when it had to skip entries.
pub(crate) const DAMAGED: &str = ".damaged";
/// Prefix of the temporary file a backup is written to, beside its destination
/// (`<dest>.backup-<pid>-<n>`), before it is renamed to the destination.
pub(crate) const BACKUP_PREFIX: &str = ".backup-";
/// Prefix of the files where bindings stage streamed values (`.upload-<anything>`).
pub(crate) const UPLOAD_PREFIX: &str = ".upload-";

/// Names of the temporary files the engine may leave behind after a crash.
pub(crate) const TEMP_SUFFIXES: [&str; 5] = [
    INIT_TEMP,
    COMPACT_TEMP,
    REPAIR_TEMP,
    CHECKPOINT_TEMP,
    DELTA_TEMP,
];

/// The suffix of the `n`-th copy of a tail that recovery dropped (`.torn-1`, `.torn-2`, ...).
pub(crate) fn torn(n: u32) -> String {
    format!(".torn-{n}")
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `path` made absolute against the current directory, once, at open: a later
/// `chdir` must not move the store's lock, temporary files or compaction elsewhere. A
/// symbolic link at `path` is followed, so that the lock file and compaction's rename act
/// on the real file instead of replacing the link.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("opening", path, e))?
            .join(path)
    };
    Ok(match std::fs::symlink_metadata(&abs) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(&abs).unwrap_or(abs),
        _ => abs,
    })
}

/// What `meta` describes when it is not a regular file (`None` for a regular file).
pub(crate) fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Fails with [`Error::NotAStoreFile`] unless `meta` is a regular file.
pub(crate) fn require_regular(meta: &Metadata, path: &Path) -> Result<()> {
    match not_regular(meta) {
        None => Ok(()),
        Some(what) => Err(Error::NotAStoreFile {
            path: path.to_path_buf(),
            what,
        }),
    }
}

/// The error a read-only open of an empty file gets.
pub(crate) fn empty_file(path: &Path) -> Error {
    Error::NotAStoreFile {
        path: path.to_path_buf(),
        what: EMPTY_FILE,
    }
}

/// Opens the existing regular file at `path` (for writing too if `write`), without ever
/// blocking: the open does not wait for a FIFO's other end (`O_NONBLOCK`, which changes
/// nothing for a regular file) and takes no controlling terminal, and the opened file is
/// checked to be a regular file before anything reads it. Returns it with its metadata.
pub(crate) fn open_regular(path: &Path, write: bool) -> Result<(File, Metadata)> {
    let mut o = OpenOptions::new();
    o.read(true).write(write);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let op = if write {
        "opening for writing"
    } else {
        "opening"
    };
    let f = o.open(path).map_err(|e| Error::io(op, path, e))?;
    let meta = f.metadata().map_err(|e| Error::io("opening", path, e))?;
    require_regular(&meta, path)?;
    Ok((f, meta))
}

/// Options that create a file with `mode` (less the umask) where the platform has modes.
pub(crate) fn create_options(mode: u32) -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    o
}

/// Options that create a temporary file only its owner can read, for a file that then
/// gets the mode of the one it replaces ([`keep_mode_and_owner`]).
pub(crate) fn private_options() -> OpenOptions {
    create_options(PRIVATE_MODE)
}

/// Gives `file` (a new file about to replace the one `like` describes) that file's owner,
/// group and permission bits. The owner and group are set where permitted (always as
/// root); when the system refuses (`EPERM`: a user who does not own the old file, or is
/// not in its group), the new file keeps this process's user (and group) and the store
/// goes on. The permission bits are then set, so they are the old file's in every case.
pub(crate) fn keep_mode_and_owner(like: &Metadata, file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let ours = file.metadata()?;
        if (ours.uid(), ours.gid()) != (like.uid(), like.gid())
            && std::os::unix::fs::fchown(file, Some(like.uid()), Some(like.gid())).is_err()
        {
            // Not permitted to give it away: at least the group, if we are in it.
            let _ = std::os::unix::fs::fchown(file, None, Some(like.gid()));
        }
        file.set_permissions(std::fs::Permissions::from_mode(like.mode() & 0o7777))
    }
    #[cfg(not(unix))]
    {
        file.set_permissions(like.permissions())
    }
}

/// Identity of a file on disk.
pub(crate) type FileId = (u64, u64);

pub(crate) fn file_id(meta: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Overwrites `[from, to)` of `file` with zeros, a megabyte at a time.
pub(crate) fn zero_fill(
    backend: &dyn Backend,
    file: &File,
    from: u64,
    to: u64,
) -> std::io::Result<()> {
    let zeros = vec![0u8; (to - from).min(1 << 20) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        backend.write_at(file, &zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Removes `<store>.upload-*` files, where bindings stage streamed values before
/// [`crate::Store::put_from_reader`]; any left when a writer opens belong to a crashed writer.
pub(crate) fn remove_uploads(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = name.to_os_string();
    prefix.push(UPLOAD_PREFIX);
    let prefix = prefix.to_string_lossy().into_owned();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The step of [`replace_atomically`] that failed, and how.
pub(crate) type ReplaceError = (&'static str, std::io::Error);

/// Puts a new file at `dest` so that a crash leaves either the old file (or none) or the
/// whole new one, never a part of it: creates `tmp` (truncating a leftover) with `options`,
/// lets `write` fill it, `fdatasync`s it, renames it to `dest` and syncs the directory, all
/// through `backend`. If a step before the rename fails, `tmp` is removed. Returns the new
/// file, open for reading and writing, or the step that failed ("creating", "writing",
/// "syncing", "renaming", "syncing the directory") with its error.
pub(crate) fn replace_atomically(
    backend: &dyn Backend,
    tmp: &Path,
    dest: &Path,
    options: &mut OpenOptions,
    write: impl FnOnce(&File) -> std::io::Result<()>,
) -> std::result::Result<File, ReplaceError> {
    let file = options
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| ("creating", e))?;
    let before_rename = write(&file)
        .map_err(|e| ("writing", e))
        .and_then(|()| backend.sync_data(&file).map_err(|e| ("syncing", e)))
        .and_then(|()| backend.rename(tmp, dest).map_err(|e| ("renaming", e)));
    if let Err(e) = before_rename {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    backend
        .sync_dir(&parent_dir(dest))
        .map_err(|e| ("syncing the directory", e))?;
    Ok(file)
}
