//! Per-thread storage: `smarm::thread_local!` and `LocalKey`, as std's — per *green* thread.
//!
//! A program written for `std::thread` expects a `thread_local!` value per thread it spawned. On a
//! green thread that is per green thread: the values live in the green thread's task (not in the
//! worker OS thread's TLS), travel with it when it resumes on another worker, and are destroyed
//! when it ends, on the green thread itself. On a plain OS thread a key is exactly std's
//! `thread_local!` (the macro declares one alongside).
//!
//! Storage lives in `rt::locals`.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::fmt;

use crate::rt::locals;
use crate::rt::sched;
use crate::rt::task::Task;

/// Declares thread-local statics, as `std::thread_local!`: one value per thread (per green thread
/// on a smarm runtime). Accepts everything std's accepts: attributes, visibility, several
/// declarations, `const { … }` initialisers.
///
/// std's macro comes from the prelude, so a migration is `use smarm::{thread, thread_local};`.
///
/// ```
/// use smarm::{thread, thread_local};
/// use std::cell::Cell;
///
/// thread_local! {
///     static COUNTER: Cell<u32> = const { Cell::new(0) };
///     pub static NAME: String = String::from("unset");
/// }
///
/// let h = thread::spawn(|| {
///     COUNTER.set(COUNTER.get() + 5);
///     COUNTER.get()
/// });
/// assert_eq!(h.join().unwrap(), 5);
/// assert_eq!(COUNTER.get(), 0); // this thread's own value
/// NAME.with(|n| assert_eq!(n, "unset"));
/// ```
#[macro_export]
macro_rules! thread_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const $init:block; $($rest:tt)*) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, const $init);
        $crate::thread_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const $init:block) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, const $init);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, $init);
        $crate::thread_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, $init);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __thread_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty, const $init:block) => {
        $(#[$attr])* $vis const $name: $crate::thread::LocalKey<$t> = {
            ::std::thread_local!(
                #[allow(clippy::missing_const_for_thread_local)]
                static __SMARM_OS: $t = const $init
            );
            struct __SmarmKey;
            fn __smarm_id() -> ::std::any::TypeId {
                ::std::any::TypeId::of::<__SmarmKey>()
            }
            fn __smarm_init() -> $t {
                $init
            }
            // SAFETY: `__SmarmKey` is a type private to this key, so its `TypeId` is unique.
            unsafe { $crate::thread::LocalKey::new(__SMARM_OS, __smarm_init, __smarm_id) }
        };
    };
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty, $init:expr) => {
        $(#[$attr])* $vis const $name: $crate::thread::LocalKey<$t> = {
            ::std::thread_local!(
                #[allow(clippy::missing_const_for_thread_local)]
                static __SMARM_OS: $t = $init
            );
            struct __SmarmKey;
            fn __smarm_id() -> ::std::any::TypeId {
                ::std::any::TypeId::of::<__SmarmKey>()
            }
            fn __smarm_init() -> $t {
                $init
            }
            // SAFETY: `__SmarmKey` is a type private to this key, so its `TypeId` is unique.
            unsafe { $crate::thread::LocalKey::new(__SMARM_OS, __smarm_init, __smarm_id) }
        };
    };
}

/// A thread-local storage key, as `std::thread::LocalKey`; declared with [`thread_local!`].
///
/// [`thread_local!`]: crate::thread_local
pub struct LocalKey<T: 'static> {
    os: std::thread::LocalKey<T>,
    init: fn() -> T,
    /// The `TypeId` of a type private to this key: its identity in a green thread's storage.
    /// (Not the address of a static: distinct immutable statics may share an address.)
    id: fn() -> TypeId,
}

/// The error `LocalKey::try_with` returns once the value has been destroyed, as std's.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessError;

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError").finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt("already destroyed", f)
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// The running green thread's task, if any.
fn green() -> Option<&'static Task> {
    // SAFETY: the running task stays alive while it runs; callers use the reference only on
    // this green thread, which is the only one that touches its `locals`.
    sched::current_task().map(|t| unsafe { &*t })
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    /// # Safety
    /// `id` must return the `TypeId` of a type that belongs to this key alone.
    pub const unsafe fn new(
        os: std::thread::LocalKey<T>,
        init: fn() -> T,
        id: fn() -> TypeId,
    ) -> Self {
        LocalKey { os, init, id }
    }

    fn key(&self) -> TypeId {
        (self.id)()
    }

    /// This green thread's value, initialised with `init` (or `first`, when given) if absent.
    fn green_value(&'static self, task: &Task, first: Option<T>) -> Result<*const T, AccessError> {
        let key = self.key();
        let find = || {
            // SAFETY: we are the green thread `task` runs; the borrow ends in this closure.
            let found = unsafe { &*locals::of(task) }
                .find(key)
                .map_err(|_| AccessError)?;
            Ok(found.map(|v| {
                v.downcast_ref::<T>()
                    .expect("thread_local key type mismatch") as *const T
            }))
        };
        if let Some(p) = find()? {
            return Ok(p);
        }
        // The initialiser may use other keys (or block): no borrow of the vector across it.
        let value = match first {
            Some(v) => v,
            None => (self.init)(),
        };
        if let Some(p) = find()? {
            return Ok(p); // initialised meanwhile (recursively): keep that one, as std does
        }
        let boxed: Box<dyn Any> = Box::new(value);
        let p = boxed.downcast_ref::<T>().expect("just boxed") as *const T;
        // SAFETY: as in `find`.
        unsafe { &mut *locals::of(task) }.insert(key, boxed);
        Ok(p)
    }

    /// Calls `f` with this thread's value, initialising it first if needed.
    ///
    /// # Panics
    /// If the value has been destroyed (the thread is ending), as std's.
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!(
                "cannot access a Thread Local Storage value during or after destruction: AccessError"
            ),
        }
    }

    /// Like [`with`](Self::with), returning `Err(AccessError)` instead of panicking once the value
    /// has been destroyed.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        match green() {
            None => self.os.try_with(f).map_err(|_| AccessError),
            Some(task) => {
                let p = self.green_value(task, None)?;
                // SAFETY: the value is boxed in this green thread's `locals`, which are dropped
                // only when the thread ends, after `f` returns.
                Ok(f(unsafe { &*p }))
            }
        }
    }

    /// Initialises the value with `value` (without running the initialiser) if it is absent, then
    /// calls `f` with it and `Some(value)` back if it was present.
    fn initialize_with<F, R>(&'static self, value: T, f: F) -> R
    where
        F: FnOnce(Option<T>, &T) -> R,
    {
        let task = green().expect("green thread");
        let key = self.key();
        // SAFETY: as in `green_value`.
        let present = matches!(unsafe { &*locals::of(task) }.find(key), Ok(Some(_)));
        let (rest, p) = if present {
            (Some(value), self.green_value(task, None))
        } else {
            (None, self.green_value(task, Some(value)))
        };
        match p {
            // SAFETY: as in `try_with`.
            Ok(p) => f(rest, unsafe { &*p }),
            Err(_) => panic!(
                "cannot access a Thread Local Storage value during or after destruction: AccessError"
            ),
        }
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets the value, without running the initialiser if it was not initialised yet.
    pub fn set(&'static self, value: T) {
        if green().is_none() {
            return self.os.set(value);
        }
        self.initialize_with(Cell::new(value), |value, cell| {
            if let Some(value) = value {
                cell.set(value.into_inner());
            }
        });
    }

    /// A copy of the value.
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Takes the value, leaving `Default::default()`.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }

    /// Replaces the value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Calls `f` with a shared borrow of the value.
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Calls `f` with a mutable borrow of the value.
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets the value, without running the initialiser if it was not initialised yet.
    pub fn set(&'static self, value: T) {
        if green().is_none() {
            return self.os.set(value);
        }
        self.initialize_with(RefCell::new(value), |value, cell| {
            if let Some(value) = value {
                let _ = cell.replace(value.into_inner());
            }
        });
    }

    /// Takes the value, leaving `Default::default()`.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces the value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}
