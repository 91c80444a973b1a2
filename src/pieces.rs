//! Background work done in short pieces, each holding the engine only while it runs (the
//! zeros kept ahead of the data): a release of a handle waits for the piece in flight and
//! lets none start until the handle is gone, so that when it was the engine's last, the
//! engine closes on the releasing thread (its file lock released, a temporary store's
//! files removed) before `close()` resolves, not at the end of a piece on another thread.

use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex};

use crate::registry::Engine;

/// The gate between an engine's pieces and the release of its handles.
#[derive(Default)]
pub struct Pieces {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Pieces holding the engine (two threads of pieces may overlap: one that is ending
    /// and one that a commit started meanwhile).
    running: u32,
    /// A release is under way: no piece starts.
    held: u32,
}

impl Pieces {
    /// Runs `piece` on the engine, once no release is under way; returns what it returned,
    /// or `None` when the engine has closed meanwhile. A piece must not wait for anything
    /// that a thread releasing a handle could be kept from (the writer lock: see
    /// `Store::try_extend_zeros_piece`): the release waits for it.
    pub fn run<T>(&self, engine: &Weak<Engine>, piece: impl FnOnce(&Engine) -> T) -> Option<T> {
        let _running = Running::enter(self);
        // (The engine's `Arc` is dropped before `_running`, so before the gate opens: a
        // release waiting for the piece then drops the last one itself.)
        engine.upgrade().map(|e| piece(&e))
    }

    /// Runs `release` (which drops a handle, perhaps the engine's last) once no piece holds
    /// the engine, with no piece starting meanwhile.
    pub fn around_release<T>(this: &Arc<Self>, release: impl FnOnce() -> T) -> T {
        let _held = Held::enter(this);
        release()
    }
}

/// A piece counted as running; uncounted when dropped, so that a piece that panics does
/// not leave every later release waiting for it.
struct Running<'a>(&'a Pieces);

impl<'a> Running<'a> {
    fn enter(p: &'a Pieces) -> Self {
        let mut s = p.state.lock();
        while s.held > 0 {
            p.changed.wait(&mut s);
        }
        s.running += 1;
        Running(p)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state.lock().running -= 1;
        self.0.changed.notify_all();
    }
}

/// A release under way, once no piece runs; ended when dropped (a release that panics
/// does not keep the pieces from starting again).
struct Held<'a>(&'a Pieces);

impl<'a> Held<'a> {
    fn enter(p: &'a Pieces) -> Self {
        let mut s = p.state.lock();
        s.held += 1;
        while s.running > 0 {
            p.changed.wait(&mut s);
        }
        Held(p)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.state.lock().held -= 1;
        self.0.changed.notify_all();
    }
}
