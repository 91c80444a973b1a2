//! Open stores, shared by every JavaScript thread of the process.
//!
//! A JavaScript `Store` holds a small integer handle. Handles index a process-wide table,
//! so the hot read path passes only integers across the boundary. Opening a path that is
//! already open in this process (on the main thread or in any worker) shares the one
//! engine: a second engine would fail on the writer lock, and sharing lets every `Store`
//! see the others' writes at once. The engine closes when its last handle is released.

use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};
use simd_r_drive::{Store, StoreOptions};

use crate::errors::{closed, OrThrow};
use crate::pieces::Pieces;

/// One JavaScript `Store`'s view of an engine.
pub struct Handle {
    /// The shared engine.
    pub store: Arc<Engine>,
    /// Writes through this handle are refused.
    pub read_only: bool,
    /// Ticket of the next write to commit: JavaScript numbers its writes, and a write on
    /// the threadpool and one on the JavaScript thread commit in the order they were made.
    next_ticket: Mutex<u64>,
    turn: Condvar,
}

impl Handle {
    /// Like [`Handle::in_turn`], but `write` may decline (return `None`): the ticket then
    /// stays unused, for a later call with the same ticket.
    pub fn in_turn_if<T>(&self, ticket: u64, write: impl FnOnce() -> Option<T>) -> Option<T> {
        let mut next = self.next_ticket.lock();
        while *next < ticket {
            self.turn.wait(&mut next);
        }
        let out = write()?;
        *next = (*next).max(ticket + 1);
        self.turn.notify_all();
        Some(out)
    }

    /// Returns once every write with a ticket smaller than `ticket` has run (taking no
    /// ticket itself): what runs next sees all of them.
    pub fn after(&self, ticket: u64) {
        let mut next = self.next_ticket.lock();
        while *next < ticket {
            self.turn.wait(&mut next);
        }
    }

    /// Runs `write` once every write with a smaller ticket has run, then lets the next
    /// ticket go, whatever `write` returned.
    pub fn in_turn<T>(&self, ticket: u64, write: impl FnOnce() -> T) -> T {
        let mut next = self.next_ticket.lock();
        while *next < ticket {
            self.turn.wait(&mut next);
        }
        let out = write();
        *next = (*next).max(ticket + 1);
        self.turn.notify_all();
        out
    }
}

struct Table {
    slots: Vec<Option<Arc<Handle>>>,
    free: Vec<u32>,
}

static HANDLES: RwLock<Table> = RwLock::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
});

/// Zeros kept ahead of the data of writable stores (see `StoreOptions::preallocate`).
const PREALLOCATE: u64 = 1 << 20;

/// An open engine, known to the registry until it has closed: its drop closes the store
/// (releasing the file and its writer lock) and only then tells the registry, so that a
/// new open of the path never runs into the lock of an engine that is still closing.
pub struct Engine {
    store: ManuallyDrop<Store>,
    key: PathBuf,
    writer: bool,
    /// The directory of a temporary store (`Store.temp`), removed once this engine has
    /// closed (see [`mark_temporary`]).
    temp_dir: Mutex<Option<PathBuf>>,
    /// The gate between background work done in pieces and the release of handles.
    pub pieces: Arc<Pieces>,
}

impl std::ops::Deref for Engine {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: `store` is dropped here once, and never used after.
        unsafe { ManuallyDrop::drop(&mut self.store) };
        // The last handle of a temporary store has gone: its files go too (the file stays
        // readable through mappings that Buffers still hold, on Unix).
        if let Some(dir) = self.temp_dir.get_mut().take() {
            let _ = std::fs::remove_dir_all(&dir);
            TEMP_DIRS.lock().retain(|d| d != &dir);
        }
        let mut engines = ENGINES.lock();
        if let Some(slot) = engines.as_mut().and_then(|m| m.get_mut(&self.key)) {
            if self.writer {
                slot.writer_alive = false;
            }
        }
        tidy(&mut engines, &self.key);
        CHANGED.notify_all();
    }
}

/// What the registry knows of one path.
#[derive(Default)]
struct Slot {
    /// The writer engine, if open.
    writer: Weak<Engine>,
    /// The read-only engine, if open (only while no writer is).
    reader: Weak<Engine>,
    /// The writer engine exists: from its open until its drop has released the file. While
    /// `writer` no longer upgrades but this is still set, the engine is closing.
    writer_alive: bool,
    /// A writer open of this path runs (outside the registry lock); others wait for it.
    opening_writer: bool,
    /// A read-only open of this path runs; other read-only opens wait for it.
    opening_reader: bool,
}

/// Paths with an engine open, opening or closing.
type Engines = Option<HashMap<PathBuf, Slot>>;

/// The registry. Held only for lookups and updates, never across an open or a close,
/// so that one store's recovery does not hold up any other store.
static ENGINES: Mutex<Engines> = Mutex::new(None);

/// Notified whenever an open finishes or an engine has closed.
static CHANGED: Condvar = Condvar::new();

/// Forgets the slot of `key` once nothing is open, opening or closing there.
fn tidy(engines: &mut Engines, key: &Path) {
    if let Some(map) = engines.as_mut() {
        let idle = map.get(key).is_some_and(|s| {
            s.writer.strong_count() == 0
                && s.reader.strong_count() == 0
                && !s.writer_alive
                && !s.opening_writer
                && !s.opening_reader
        });
        if idle {
            map.remove(key);
        }
    }
}

/// The canonical form of a store path that may not exist yet.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// What [`open`] found in the registry for a path.
enum Found {
    /// An engine to share.
    Open(Arc<Engine>),
    /// None: this call opens one (its slot is marked as opening).
    Opening,
}

/// Opens the store at `path` (or shares the engine already open for it) and returns a
/// new handle.
///
/// Another open of the same path that is in progress is waited for and shared; a writer
/// engine that is closing is waited for, so that its writer lock is released before a new
/// one is taken. Opens of other paths never wait.
/// `mode` is the permission bits of the files a writable open creates (see
/// `StoreOptions::mode`); it changes nothing when the engine is already open.
pub fn open(
    path: &str,
    read_only: bool,
    create: bool,
    fault: Option<&str>,
    mode: Option<u32>,
    verify: Verify,
    lock_timeout: Option<u32>,
) -> napi::Result<u32> {
    let key = canonical(Path::new(path));
    let found = {
        let mut engines = ENGINES.lock();
        loop {
            let slot = engines
                .get_or_insert_with(HashMap::new)
                .entry(key.clone())
                .or_default();
            if let Some(writer) = slot.writer.upgrade() {
                break Found::Open(writer);
            }
            if read_only {
                if let Some(reader) = slot.reader.upgrade() {
                    break Found::Open(reader);
                }
                // A writer being opened is shared once it is open.
                if !slot.opening_writer && !slot.opening_reader {
                    slot.opening_reader = true;
                    break Found::Opening;
                }
            } else if !slot.opening_writer && !slot.writer_alive {
                slot.opening_writer = true;
                break Found::Opening;
            }
            CHANGED.wait(&mut engines);
        }
    };
    let store = match found {
        Found::Open(store) => store,
        Found::Opening => {
            crate::faults::gate(fault);
            let made = open_engine(
                path,
                &key,
                read_only,
                create,
                fault,
                mode,
                (verify, lock_timeout),
            );
            let mut engines = ENGINES.lock();
            if let Some(slot) = engines.as_mut().and_then(|m| m.get_mut(&key)) {
                if read_only {
                    slot.opening_reader = false;
                } else {
                    slot.opening_writer = false;
                }
                if let Ok(store) = &made {
                    if read_only {
                        slot.reader = Arc::downgrade(store);
                    } else {
                        slot.writer = Arc::downgrade(store);
                        slot.writer_alive = true;
                    }
                }
            }
            tidy(&mut engines, &key);
            CHANGED.notify_all();
            drop(engines);
            made?
        }
    };
    let handle = Arc::new(Handle {
        store,
        read_only,
        next_ticket: Mutex::new(0),
        turn: Condvar::new(),
    });
    let mut t = HANDLES.write();
    let id = match t.free.pop() {
        Some(id) => {
            t.slots[id as usize] = Some(handle);
            id
        }
        None => {
            t.slots.push(Some(handle));
            (t.slots.len() - 1) as u32
        }
    };
    Ok(id)
}

/// Opens a new engine for `path` (registered under `key`), outside the registry lock.
fn open_engine(
    path: &str,
    key: &Path,
    read_only: bool,
    create: bool,
    fault: Option<&str>,
    mode: Option<u32>,
    (verify, lock_timeout): (Verify, Option<u32>),
) -> napi::Result<Arc<Engine>> {
    let opts = if read_only {
        StoreOptions::new().read_only(true)
    } else {
        // Space ahead of the data makes durable commits cheaper (no size change to
        // journal on each fdatasync); close() trims it.
        let mut opts = StoreOptions::new()
            .create(create)
            .preallocate(PREALLOCATE)
            .zeros_in_background(true);
        if let Some(mode) = mode {
            opts = opts.mode(mode);
        }
        if let Some(backend) = crate::faults::from_spec(fault)? {
            opts = opts.backend(backend);
        }
        opts
    }
    .verify_full(verify == Verify::Full);
    let opts = match lock_timeout {
        Some(ms) => opts.lock_timeout(std::time::Duration::from_millis(ms.into())),
        None => opts,
    };
    let opts = match crate::expiry::test_clock() {
        Some(clock) => opts.clock(clock),
        None => opts,
    };
    let engine = Arc::new(Engine {
        store: ManuallyDrop::new(opts.open(path).or_throw()?),
        key: key.to_path_buf(),
        writer: !read_only,
        temp_dir: Mutex::new(None),
        pieces: Arc::default(),
    });
    if verify == Verify::Background || (verify == Verify::Default && !read_only) {
        verify_in_background(&engine);
    }
    Ok(engine)
}

/// What an open verifies (the JavaScript `StoreOptions.verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Not given: `Background` for writable stores, `OnRead` for read-only ones.
    Default,
    /// The whole log at open (the engine's `StoreOptions::verify_full`).
    Full,
    /// Entries on their first read; the rest by `verify()`.
    OnRead,
    /// As `OnRead`, plus the background verifier.
    Background,
}

impl Verify {
    /// The option's value from JavaScript.
    pub fn parse(v: Option<&str>) -> napi::Result<Verify> {
        match v {
            None => Ok(Verify::Default),
            Some("full") => Ok(Verify::Full),
            Some("onRead") => Ok(Verify::OnRead),
            Some("background") => Ok(Verify::Background),
            Some(other) => Err(crate::errors::coded(
                "ERR_INVALID_ARG_VALUE",
                &format!("options.verify must be 'full', 'onRead' or 'background', got {other:?}"),
            )),
        }
    }
}

/// Bytes the background verifier checks between pauses.
const VERIFY_STEP: u64 = 16 << 20;

/// Verifies what the index file covers and this generation has not verified yet (the
/// engine's `Store::verify_in_background`), on a thread of its own at idle I/O priority, a
/// piece at a time, holding the engine only while a piece runs: a close is never kept
/// waiting for it. Damage it finds is reported by `verify()`, which checks every entry.
/// The thread starts after this pause and at the lowest CPU priority, so that an open (and
/// the first reads after it, or a short-lived process such as the CLI) never shares the
/// CPU with it.
const VERIFY_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

fn verify_in_background(engine: &Arc<Engine>) {
    let weak = Arc::downgrade(engine);
    let _ = std::thread::Builder::new()
        .name("srd-verify".into())
        .spawn(move || {
            #[cfg(target_os = "linux")]
            // SAFETY: plain integers; on Linux `PRIO_PROCESS` with 0 names the calling
            // thread alone. A failure leaves the priority as it was, which is harmless.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            }
            std::thread::sleep(VERIFY_DELAY);
            loop {
                let Some(engine) = weak.upgrade() else { return };
                if !matches!(engine.verify_in_background(VERIFY_STEP), Ok(true)) {
                    return;
                }
                drop(engine);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
}

/// The directories of this process's temporary stores whose engines are still open.
static TEMP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Makes the engine of handle `id` a temporary store's: `dir` (which holds its file and
/// nothing of anyone else's) is removed once the engine has closed, that is when the
/// last handle of the path in this process (in any thread) is released, or by
/// [`remove_temporaries`] at exit.
pub fn mark_temporary(id: u32, dir: PathBuf) -> napi::Result<()> {
    let handle = get(id)?;
    TEMP_DIRS.lock().push(dir.clone());
    *handle.store.temp_dir.lock() = Some(dir);
    Ok(())
}

/// Removes the directory of every temporary store of this process, open or not (the process
/// is exiting). Returns how many it removed.
pub fn remove_temporaries() -> u32 {
    let dirs = std::mem::take(&mut *TEMP_DIRS.lock());
    let mut n = 0;
    for d in dirs {
        if std::fs::remove_dir_all(&d).is_ok() {
            n += 1;
        }
    }
    n
}

/// Releases a handle. The engine closes when no handle and no task holds it any more.
/// Releasing twice is harmless.
pub fn release(id: u32) {
    let gone = {
        let mut t = HANDLES.write();
        let gone = t.slots.get_mut(id as usize).and_then(Option::take);
        if gone.is_some() {
            t.free.push(id);
        }
        gone
    };
    // Dropped outside the table lock: closing an engine waits for its writers. (The
    // engine leaves the registry by itself once it has closed.) Not while a piece of
    // background work holds the engine: the last handle's release closes it here.
    if let Some(handle) = gone {
        let pieces = handle.store.pieces.clone();
        Pieces::around_release(&pieces, || drop(handle));
    }
}

/// A read guard on the handle table, for calls that finish quickly.
pub struct Borrowed(RwLockReadGuard<'static, Table>, u32);

impl std::ops::Deref for Borrowed {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        self.0.slots[self.1 as usize]
            .as_deref()
            .expect("checked in borrow()")
    }
}

/// Borrows handle `id` for a short call (no cloning of the engine's `Arc`).
#[inline]
pub fn borrow(id: u32) -> napi::Result<Borrowed> {
    let t = HANDLES.read();
    match t.slots.get(id as usize) {
        Some(Some(_)) => Ok(Borrowed(t, id)),
        _ => Err(closed()),
    }
}

/// Takes a reference to handle `id` for work that outlives the call (tasks on the libuv
/// threadpool).
pub fn get(id: u32) -> napi::Result<Arc<Handle>> {
    HANDLES
        .read()
        .slots
        .get(id as usize)
        .and_then(Clone::clone)
        .ok_or_else(closed)
}
