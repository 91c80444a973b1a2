//! Simulated power loss: a backend that records what a power cut would keep.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{read_at, Backend, IoOp, OsBackend};

/// Which directory entries a simulated power loss keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashNames {
    /// The directory as of its last `sync_dir`: later creations, renames and removals are
    /// lost (a renamed-over name still names the old file, with that file's contents).
    Synced,
    /// The directory as it is now: every creation, rename and removal reached the disk.
    Current,
}

/// Which of the bytes written since a file's last `sync_data` a simulated power loss keeps.
///
/// The bytes that may be lost are counted in pages, from the page holding the first byte
/// that differs from the synced contents up to the file's current length. A page that is
/// lost shows what it held at the last sync, or zeros past the synced length. A pending
/// truncation (the file is shorter than at its last sync) is kept only by
/// [`CrashData::All`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashData {
    /// Every unsynced write is lost: each file has exactly its synced contents.
    Synced,
    /// The first `pages` unsynced pages reached the disk. With `zero_fill`, the file keeps
    /// its current length and the later pages read as zeros (the size was committed before
    /// the data); without it, the file ends after the kept pages.
    Prefix {
        /// Unsynced pages kept, counted from the first.
        pages: u64,
        /// Whether the file keeps its current length.
        zero_fill: bool,
    },
    /// Only the last `pages` unsynced pages reached the disk (the end of a write, such as a
    /// commit marker, landed but its beginning did not); the file keeps its current length.
    Suffix {
        /// Unsynced pages kept, counted back from the last.
        pages: u64,
    },
    /// Unsynced page `i` reached the disk if bit `i % 64` of `mask` is set (writeback in
    /// any order); the file keeps its current length.
    Pages {
        /// Which pages are kept.
        mask: u64,
    },
    /// Every write reached the disk (a lucky crash).
    All,
}

/// One way a power loss can leave the directory: which names and which bytes survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Crash {
    /// Which directory entries survive.
    pub names: CrashNames,
    /// Which unsynced bytes survive.
    pub data: CrashData,
}

impl Crash {
    /// A representative set: every combination of names and of lost, torn (prefix, suffix,
    /// alternating pages, with and without the new size) and kept unsynced bytes.
    pub fn variants() -> Vec<Crash> {
        let data = [
            CrashData::Synced,
            CrashData::Prefix {
                pages: 1,
                zero_fill: false,
            },
            CrashData::Prefix {
                pages: 1,
                zero_fill: true,
            },
            CrashData::Prefix {
                pages: 2,
                zero_fill: false,
            },
            CrashData::Suffix { pages: 1 },
            CrashData::Pages {
                mask: 0x5555_5555_5555_5555,
            },
            CrashData::Pages {
                mask: 0xAAAA_AAAA_AAAA_AAAA,
            },
            CrashData::All,
        ];
        let mut out = Vec::new();
        for names in [CrashNames::Synced, CrashNames::Current] {
            for &data in &data {
                out.push(Crash { names, data });
            }
        }
        out
    }
}

/// Identity of a file: (device, inode).
type NodeId = (u64, u64);

fn node_id(meta: &std::fs::Metadata) -> NodeId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// A file's synced and current contents at a crash point.
#[derive(Debug, Clone)]
struct NodeImage {
    synced: Arc<Vec<u8>>,
    current: Arc<Vec<u8>>,
}

/// The state of a [`CrashBackend`]'s directory at one moment, from which the files a power
/// loss at that moment would leave can be made (see [`CrashPoint::image`]).
#[derive(Debug, Clone)]
pub struct CrashPoint {
    /// The sync call this point comes right before (1 for the first; the value of
    /// [`CrashBackend::syncs`] plus one for a point taken with [`CrashBackend::point`]).
    pub sync: u64,
    /// That call: [`IoOp::Sync`] or [`IoOp::SyncDir`] (`None` for [`CrashBackend::point`]).
    pub op: Option<IoOp>,
    nodes: HashMap<NodeId, NodeImage>,
    synced_names: BTreeMap<OsString, NodeId>,
    current_names: BTreeMap<OsString, NodeId>,
}

impl CrashPoint {
    /// The files (name and contents) a power loss of kind `crash` at this point leaves.
    pub fn image(&self, crash: Crash) -> BTreeMap<OsString, Vec<u8>> {
        let names = match crash.names {
            CrashNames::Synced => &self.synced_names,
            CrashNames::Current => &self.current_names,
        };
        names
            .iter()
            .map(|(name, id)| {
                let n = &self.nodes[id];
                (
                    name.clone(),
                    crashed_bytes(&n.synced, &n.current, crash.data),
                )
            })
            .collect()
    }

    /// Writes [`CrashPoint::image`] into the directory `out` (created if missing).
    pub fn write_image(&self, crash: Crash, out: &Path) -> io::Result<()> {
        std::fs::create_dir_all(out)?;
        for (name, bytes) in self.image(crash) {
            std::fs::write(out.join(name), bytes)?;
        }
        Ok(())
    }

    /// Names whose file differs between the synced and the current directory (a rename,
    /// creation or removal not yet made durable by `sync_dir`).
    pub fn pending_names(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = self
            .current_names
            .iter()
            .filter(|(name, id)| self.synced_names.get(*name) != Some(id))
            .map(|(name, _)| name.clone())
            .collect();
        for name in self.synced_names.keys() {
            if !self.current_names.contains_key(name) {
                out.push(name.clone());
            }
        }
        out.sort();
        out
    }

    /// Whether some file has bytes written since its last `sync_data`.
    pub fn has_unsynced_data(&self) -> bool {
        self.nodes.values().any(|n| n.synced != n.current)
    }
}

/// The bytes a file holds after a power loss of kind `data`, given its contents as of its
/// last sync and now.
fn crashed_bytes(synced: &[u8], current: &[u8], data: CrashData) -> Vec<u8> {
    let page = crate::page_size() as usize;
    let common = synced.len().min(current.len());
    let first = synced[..common]
        .iter()
        .zip(&current[..common])
        .position(|(a, b)| a != b)
        .unwrap_or(common);
    let start = first / page * page;
    let pages = current.len().saturating_sub(start).div_ceil(page) as u64;
    let (keep, zero_fill): (Box<dyn Fn(u64) -> bool>, bool) = match data {
        CrashData::Synced => return synced.to_vec(),
        CrashData::All => return current.to_vec(),
        CrashData::Prefix {
            pages: n,
            zero_fill,
        } => (Box::new(move |i| i < n), zero_fill),
        CrashData::Suffix { pages: n } => (Box::new(move |i| i + n >= pages), true),
        CrashData::Pages { mask } => (Box::new(move |i| mask >> (i % 64) & 1 == 1), true),
    };
    let mut out = synced.to_vec();
    for i in 0..pages {
        if !keep(i) {
            continue;
        }
        let from = start + i as usize * page;
        let to = (from + page).min(current.len());
        if out.len() < to {
            out.resize(to, 0);
        }
        out[from..to].copy_from_slice(&current[from..to]);
    }
    if zero_fill && out.len() < current.len() {
        out.resize(current.len(), 0);
    }
    out
}

/// A file the crash model knows: a handle that keeps its inode (and so its identity) alive,
/// and its contents as of its last `sync_data`.
#[derive(Debug)]
struct Node {
    handle: File,
    synced: Arc<Vec<u8>>,
}

#[derive(Debug, Default)]
struct CrashState {
    nodes: HashMap<NodeId, Node>,
    /// The directory as of its last sync.
    synced_names: BTreeMap<OsString, NodeId>,
    syncs: u64,
    record: bool,
    points: Vec<CrashPoint>,
}

/// Something to run once after a given sync call.
type SyncHook = Box<dyn FnOnce() + Send>;

/// A backend that performs every call on the real file system ([`OsBackend`]) and models
/// what a power loss would leave of one directory, for crash tests.
///
/// The model: a file's durable contents are its bytes as of its last `sync_data`; bytes
/// written (or a length set) after that are volatile. The directory's durable entries are
/// those it had at its last `sync_dir`; creations, renames and removals after that are
/// volatile, so a rename not yet followed by a directory sync reverts on a crash and the
/// old name keeps the old file's durable contents. Files are told apart by (device, inode);
/// the model holds a handle to every file it has seen so that inode numbers are not reused
/// under it. Whatever is in the directory when the backend is made counts as durable.
///
/// Only the directory given to [`CrashBackend::new`] is modelled (the engine keeps a store
/// and its side files together); `sync_dir` of another directory is passed through and
/// counted. Creations and removals the engine makes without the backend (`open` with
/// `create`, `remove_file`) are seen when the directory is next read, which happens at every
/// sync call and crash point.
///
/// Crash points: [`CrashBackend::record`] makes every `sync_data` and `sync_dir` call save a
/// [`CrashPoint`] just before it takes effect; [`CrashBackend::point`] takes one now.
pub struct CrashBackend {
    inner: OsBackend,
    dir: PathBuf,
    state: parking_lot::Mutex<CrashState>,
    hooks: parking_lot::Mutex<Vec<(u64, SyncHook)>>,
}

impl std::fmt::Debug for CrashBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashBackend")
            .field("dir", &self.dir)
            .field("syncs", &self.syncs())
            .finish()
    }
}

/// Reads the whole file behind `file`.
fn read_all(file: &File) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    let n = read_at(file, &mut buf, 0)?;
    buf.truncate(n);
    Ok(buf)
}

impl CrashBackend {
    /// Models the directory `dir`, whose current files count as durable.
    pub fn new(dir: &Path) -> io::Result<CrashBackend> {
        let b = CrashBackend {
            inner: OsBackend,
            dir: dir.canonicalize()?,
            state: parking_lot::Mutex::new(CrashState::default()),
            hooks: parking_lot::Mutex::new(Vec::new()),
        };
        {
            let mut st = b.state.lock();
            let names = b.scan(&mut st)?;
            for id in names.values() {
                let n = st.nodes.get_mut(id).expect("scanned");
                n.synced = Arc::new(read_all(&n.handle)?);
            }
            st.synced_names = names;
        }
        Ok(b)
    }

    /// How many `sync_data` and `sync_dir` calls were made (failed ones included).
    pub fn syncs(&self) -> u64 {
        self.state.lock().syncs
    }

    /// Starts (or stops) saving a [`CrashPoint`] right before every sync call.
    pub fn record(&self, on: bool) {
        self.state.lock().record = on;
    }

    /// The crash points saved so far, oldest first; the backend forgets them.
    pub fn take_points(&self) -> Vec<CrashPoint> {
        std::mem::take(&mut self.state.lock().points)
    }

    /// A crash point for this moment.
    pub fn point(&self) -> io::Result<CrashPoint> {
        let mut st = self.state.lock();
        let next = st.syncs + 1;
        let mut p = self.capture(&mut st, next)?;
        p.op = None;
        Ok(p)
    }

    /// Writes the files a power loss of kind `crash` right now would leave into `out`.
    pub fn crash_image(&self, crash: Crash, out: &Path) -> io::Result<()> {
        self.point()?.write_image(crash, out)
    }

    /// Runs `f` once, right after sync call number `n` (counted from 1) has taken effect,
    /// on the thread that made it and with no lock of the backend held: a test can make
    /// the engine do something at that exact moment (such as writing while a compaction
    /// runs). `f` may call into the store, and so into this backend, again.
    pub fn after_sync(&self, n: u64, f: impl FnOnce() + Send + 'static) {
        self.hooks.lock().push((n, Box::new(f)));
    }

    /// Whether hooks added with [`CrashBackend::after_sync`] are still waiting to run.
    pub fn hooks_pending(&self) -> usize {
        self.hooks.lock().len()
    }

    fn run_hooks(&self, n: u64) {
        let due: Vec<SyncHook> = {
            let mut hooks = self.hooks.lock();
            let mut due = Vec::new();
            let mut i = 0;
            while i < hooks.len() {
                if hooks[i].0 == n {
                    due.push(hooks.remove(i).1);
                } else {
                    i += 1;
                }
            }
            due
        };
        for f in due {
            f();
        }
    }

    /// Reads the directory: name to file for every regular file, learning new files (whose
    /// durable contents are empty: they were made after the backend).
    fn scan(&self, st: &mut CrashState) -> io::Result<BTreeMap<OsString, NodeId>> {
        let mut names = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            let handle = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let meta = handle.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let id = node_id(&meta);
            st.nodes.entry(id).or_insert_with(|| Node {
                handle,
                synced: Arc::new(Vec::new()),
            });
            names.insert(entry.file_name(), id);
        }
        Ok(names)
    }

    /// The model's record of `file`, made (with empty durable contents) on first sight.
    fn node<'a>(&self, st: &'a mut CrashState, file: &File) -> io::Result<&'a mut Node> {
        let id = node_id(&file.metadata()?);
        match st.nodes.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => Ok(e.insert(Node {
                handle: file.try_clone()?,
                synced: Arc::new(Vec::new()),
            })),
        }
    }

    fn capture(&self, st: &mut CrashState, sync: u64) -> io::Result<CrashPoint> {
        let current_names = self.scan(st)?;
        let mut nodes = HashMap::new();
        for id in current_names.values().chain(st.synced_names.values()) {
            if nodes.contains_key(id) {
                continue;
            }
            let n = &st.nodes[id];
            nodes.insert(
                *id,
                NodeImage {
                    synced: n.synced.clone(),
                    current: Arc::new(read_all(&n.handle)?),
                },
            );
        }
        Ok(CrashPoint {
            sync,
            op: None,
            nodes,
            synced_names: st.synced_names.clone(),
            current_names,
        })
    }

    /// Counts a sync call and, when recording, saves the crash point right before it.
    fn before_sync(&self, op: IoOp) -> io::Result<u64> {
        let mut st = self.state.lock();
        st.syncs += 1;
        let n = st.syncs;
        if st.record {
            let mut p = self.capture(&mut st, n)?;
            p.op = Some(op);
            st.points.push(p);
        }
        Ok(n)
    }

    fn is_modelled_dir(&self, dir: &Path) -> bool {
        dir.canonicalize().is_ok_and(|d| d == self.dir)
    }
}

impl Backend for CrashBackend {
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        // Learn the file before it changes: a file first seen here is new, and nothing of
        // it is durable yet.
        self.node(&mut self.state.lock(), file)?;
        self.inner.write_at(file, buf, offset)
    }

    fn sync_data(&self, file: &File) -> io::Result<()> {
        self.node(&mut self.state.lock(), file)?;
        let n = self.before_sync(IoOp::Sync)?;
        // What the call is sure to make durable: the bytes as it starts. Bytes written
        // by other threads while it runs stay volatile.
        let synced = Arc::new(read_all(file)?);
        self.inner.sync_data(file)?;
        self.node(&mut self.state.lock(), file)?.synced = synced;
        self.run_hooks(n);
        Ok(())
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        self.node(&mut self.state.lock(), file)?;
        self.inner.set_len(file, len)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        // Volatile until the directory is synced: nothing to record.
        self.inner.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let n = self.before_sync(IoOp::SyncDir)?;
        // As for files: the entries as the call starts.
        let names = if self.is_modelled_dir(dir) {
            Some(self.scan(&mut self.state.lock())?)
        } else {
            None
        };
        self.inner.sync_dir(dir)?;
        if let Some(names) = names {
            self.state.lock().synced_names = names;
        }
        self.run_hooks(n);
        Ok(())
    }
}
