//! `OnceLock`, as std's: a cell written once, by the first initialiser to run; the others park
//! until it is written. Built on [`Once`](super::Once), which provides the blocking and the
//! happens-before edge from the write to every reader.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::Once;

/// A thread-safe cell that can be written only once, as `std::sync::OnceLock`.
///
/// ```
/// use smarm::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// let hs: Vec<_> = (0..4)
///     .map(|i| smarm::thread::spawn(move || CONFIG.get_or_init(|| format!("set by {i}")).len()))
///     .collect();
/// let lens: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
/// assert!(lens.iter().all(|&n| n == CONFIG.get().unwrap().len()));
/// assert_eq!(CONFIG.set("again".into()), Err("again".into()));
/// ```
pub struct OnceLock<T> {
    once: Once,
    /// `Some` exactly when `once` has completed. An `Option` rather than std's `MaybeUninit`
    /// so that the drop glue drops the value and no `Drop` impl is needed: std's `Drop` is
    /// `#[may_dangle]` (unstable), which lets a `OnceLock<&'a T>` outlive the `T` it borrows;
    /// a plain `impl Drop` would reject that, drop glue accepts it exactly as std does.
    value: UnsafeCell<Option<T>>,
    /// The cell owns a `T` (for drop check), as std's.
    _marker: PhantomData<T>,
}

// SAFETY: as std's: a `&OnceLock` lets any thread read the `T` (so `T: Sync`) and lets the thread
// that initialises it move a `T` in, made elsewhere (so `T: Send`).
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: as std's: moving the cell moves the `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}
impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// A new empty cell.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(None),
            _marker: PhantomData,
        }
    }

    /// The value, if it has been written; never blocks.
    #[inline]
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: the `Once` completed, so the value was written, and it is never written
            // again through `&self`.
            Some(unsafe { self.get_unchecked() })
        } else {
            None
        }
    }

    /// The value, mutably, if it has been written.
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.once.is_completed() {
            self.value.get_mut().as_mut()
        } else {
            None
        }
    }

    /// Blocks until the value is written, then returns it.
    pub fn wait(&self) -> &T {
        self.once.wait_force();
        // SAFETY: the `Once` completed, so the value was written.
        unsafe { self.get_unchecked() }
    }

    /// Writes `value` if the cell is empty; otherwise hands it back in `Err`. Blocks while
    /// another thread is initialising the cell.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value, running `f` to write it if the cell is empty. Exactly one `f` runs, even when
    /// many threads race; if it panics, the panic propagates and the cell stays empty (the next
    /// caller tries again).
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        self.once.call_once_force(|_| {
            let v = f();
            // SAFETY: only the `Once`'s single runner writes, and nobody reads before it
            // completes. The cell holds `None` here (it is `Some` only once completed), so
            // nothing is dropped by the assignment.
            unsafe { *self.value.get() = Some(v) };
        });
        // SAFETY: `call_once_force` returned normally, so some initialiser completed.
        unsafe { self.get_unchecked() }
    }

    /// Consumes the cell and returns its value, if any.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if self.once.is_completed() {
            self.once = Once::new();
            self.value.get_mut().take()
        } else {
            None
        }
    }

    /// # Safety
    /// The value must have been written.
    unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: by the caller, the value is written, and never written again through `&self`.
        unsafe { (*self.value.get()).as_ref().unwrap_unchecked() }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        let cell = OnceLock::new();
        if let Some(v) = self.get() {
            let _ = cell.set(v.clone());
        }
        cell
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

// No `impl Drop`: the `Option`'s drop glue drops the value (see the `value` field).
