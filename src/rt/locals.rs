//! Per-green-thread storage behind `smarm::thread_local!` (the front is `thread::local`).
//!
//! A green thread's values sit in a small vector keyed by the key's identity (the `TypeId` of a
//! private type each key declares), searched linearly: programs touch few keys per thread, and a
//! short scan beats hashing there. Each value is boxed, so a reference handed out stays put while
//! other keys are initialised. Only the green thread itself touches its `Locals`.

use std::any::{Any, TypeId};

use crate::rt::task::Task;

#[derive(Default)]
pub(crate) struct Locals {
    values: Vec<(TypeId, Box<dyn Any>)>,
    destroyed: bool,
}

/// The green thread has ended its thread-local storage: the value is gone.
pub(crate) struct Destroyed;

impl Locals {
    /// The value stored under `key`, or `Ok(None)` if absent.
    pub(crate) fn find(&self, key: TypeId) -> Result<Option<&dyn Any>, Destroyed> {
        if self.destroyed {
            return Err(Destroyed);
        }
        Ok(self
            .values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &**v))
    }

    pub(crate) fn insert(&mut self, key: TypeId, value: Box<dyn Any>) {
        self.values.push((key, value));
    }
}

/// The running green thread's `Locals`. Only the green thread that owns `task` may dereference
/// it, and never keep the reference across code that may reach its `Locals` again (an
/// initialiser, a destructor, user code).
pub(crate) fn of(task: &Task) -> *mut Locals {
    task.green
        .as_ref()
        .expect("thread locals of an OS thread's task")
        .locals
        .get()
}

/// Runs the destructors of a finishing green thread's values, on that green thread, newest first.
/// Keys used by a destructor after destruction began report `AccessError`, as std's do; a
/// destructor that panics aborts the process, as std's does.
pub(crate) fn destroy(task: &Task) {
    // SAFETY: called by the trampoline on the finishing green thread; the vector is moved out
    // before any destructor runs.
    let values = unsafe {
        let l = &mut *of(task);
        l.destroyed = true;
        std::mem::take(&mut l.values)
    };
    if values.is_empty() {
        return;
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut values = values;
        while let Some((_, v)) = values.pop() {
            drop(v);
        }
    }));
    if r.is_err() {
        eprintln!("fatal runtime error: thread local panicked on drop, aborting");
        std::process::abort();
    }
}
