//! Open stores, shared by every JavaScript thread of the process.
//!
//! A JavaScript `Store` holds a small integer handle. Handles index a process-wide table,
//! so the hot read path passes only integers across the boundary. Opening a path that is
//! already open in this process (on the main thread or in any worker) shares the one
//! engine: a second engine would fail on the writer lock, and sharing lets every `Store`
//! see the others' writes at once. The engine closes when its last handle is released.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};
use simd_r_drive::{Store, StoreOptions};

use crate::errors::{closed, OrThrow};

/// One JavaScript `Store`'s view of an engine.
pub struct Handle {
    /// The shared engine.
    pub store: Arc<Store>,
    /// Writes through this handle are refused.
    pub read_only: bool,
    /// Ticket of the next write to commit: JavaScript numbers its writes, and a write on
    /// the threadpool and one on the JavaScript thread commit in the order they were made.
    next_ticket: Mutex<u64>,
    turn: Condvar,
}

impl Handle {
    /// Runs `write` once every write with a smaller ticket has run, then lets the next
    /// ticket go, whatever `write` returned.
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

/// The engines open for one path: the writer and the read-only follower, if open.
type Engines = (Weak<Store>, Weak<Store>);

/// Engines by canonical path.
static ENGINES: Mutex<Option<HashMap<PathBuf, Engines>>> = Mutex::new(None);

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

/// Opens the store at `path` (or shares the engine already open for it) and returns a
/// new handle. `mode` is the permission bits of the files a writable open creates (see
/// `StoreOptions::mode`); it changes nothing when the engine is already open.
pub fn open(
    path: &str,
    read_only: bool,
    create: bool,
    fault: Option<&str>,
    mode: Option<u32>,
) -> napi::Result<u32> {
    let key = canonical(Path::new(path));
    let store = {
        let mut engines = ENGINES.lock();
        let map = engines.get_or_insert_with(HashMap::new);
        let entry = map.entry(key).or_insert_with(|| (Weak::new(), Weak::new()));
        if let Some(writer) = entry.0.upgrade() {
            writer
        } else if read_only {
            match entry.1.upgrade() {
                Some(reader) => reader,
                None => {
                    let s = Arc::new(StoreOptions::new().read_only(true).open(path).or_throw()?);
                    entry.1 = Arc::downgrade(&s);
                    s
                }
            }
        } else {
            // Space ahead of the data makes durable commits cheaper (no size change to
            // journal on each fdatasync); close() trims it.
            let mut opts = StoreOptions::new().create(create).preallocate(PREALLOCATE);
            if let Some(mode) = mode {
                opts = opts.mode(mode);
            }
            if let Some(backend) = crate::faults::from_spec(fault)? {
                opts = opts.backend(backend);
            }
            let s = Arc::new(opts.open(path).or_throw()?);
            entry.0 = Arc::downgrade(&s);
            s
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
    // Dropped outside the table lock: closing an engine waits for its writers.
    drop(gone);
    let mut engines = ENGINES.lock();
    if let Some(map) = engines.as_mut() {
        map.retain(|_, (w, r)| w.strong_count() > 0 || r.strong_count() > 0);
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
