//! `OnceLock`, as std's: a cell written once, by the first initialiser to run; the others park
//! until it is written. Built on [`Once`], which provides the blocking and the
//! happens-before edge from the write to every reader.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::once::Once;

/// A synchronization primitive which can nominally be written to only once, as
/// `std::sync::OnceLock`: a thread-safe cell for a value computed once.
///
/// Exactly one initialiser runs; threads that need the value meanwhile park until it is written
/// (a green thread blocks, not its worker). Reading a written value never blocks.
///
/// # Examples
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
    /// Creates a new uninitialised cell. A `const fn`, for use in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    ///
    /// static CELL: OnceLock<u32> = OnceLock::new();
    /// assert!(CELL.get().is_none());
    /// ```
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(None),
            _marker: PhantomData,
        }
    }

    /// Gets the reference to the underlying value, or `None` if the cell is uninitialised or
    /// being initialised. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    ///
    /// let cell = OnceLock::new();
    /// assert_eq!(cell.get(), None);
    /// cell.set(92).unwrap();
    /// assert_eq!(cell.get(), Some(&92));
    /// ```
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

    /// Gets the mutable reference to the underlying value, or `None` if the cell is
    /// uninitialised. No synchronisation: `&mut self` is exclusive.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    ///
    /// let mut cell = OnceLock::from(String::from("hello"));
    /// cell.get_mut().unwrap().push_str(", world");
    /// assert_eq!(cell.get().unwrap(), "hello, world");
    ///
    /// let mut empty: OnceLock<String> = OnceLock::new();
    /// assert!(empty.get_mut().is_none());
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.once.is_completed() {
            self.value.get_mut().as_mut()
        } else {
            None
        }
    }

    /// Blocks the current thread until the cell is initialised, then returns the value, as
    /// `std::sync::OnceLock::wait`. A green thread parks (its worker runs others, the writer
    /// perhaps).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    /// use smarm::thread;
    ///
    /// static RESULT: OnceLock<usize> = OnceLock::new();
    ///
    /// let reader = thread::spawn(|| *RESULT.wait() * 2);
    /// RESULT.set(21).unwrap();
    /// assert_eq!(reader.join().unwrap(), 42);
    /// ```
    pub fn wait(&self) -> &T {
        self.once.wait_force();
        // SAFETY: the `Once` completed, so the value was written.
        unsafe { self.get_unchecked() }
    }

    /// Initialises the contents of the cell to `value` if it is empty; otherwise hands `value`
    /// back in `Err`. Blocks while another thread is initialising the cell.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    /// use smarm::thread;
    ///
    /// static CELL: OnceLock<i32> = OnceLock::new();
    ///
    /// assert!(CELL.get().is_none());
    /// thread::spawn(|| {
    ///     assert_eq!(CELL.set(92), Ok(()));
    /// })
    /// .join()
    /// .unwrap();
    ///
    /// assert_eq!(CELL.set(62), Err(62));
    /// assert_eq!(CELL.get(), Some(&92));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// Gets the contents of the cell, initialising it to `f()` if the cell was uninitialised.
    ///
    /// Exactly one `f` runs, even when many threads race; the others park until its value is
    /// written. If `f` panics, the panic propagates and the cell stays empty (the next caller
    /// tries again). Calling `get_or_init` on the same cell from inside `f` deadlocks, as std's
    /// may.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    ///
    /// let cell = OnceLock::new();
    /// let value = cell.get_or_init(|| 92);
    /// assert_eq!(value, &92);
    /// let value = cell.get_or_init(|| unreachable!());
    /// assert_eq!(value, &92);
    /// ```
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

    /// Consumes the `OnceLock`, returning the wrapped value, or `None` if the cell was
    /// uninitialised.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    ///
    /// let cell: OnceLock<String> = OnceLock::new();
    /// assert_eq!(cell.into_inner(), None);
    ///
    /// let cell = OnceLock::new();
    /// cell.set("hello".to_string()).unwrap();
    /// assert_eq!(cell.into_inner(), Some("hello".to_string()));
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out of this `OnceLock`, moving it back to an uninitialised state. Has no
    /// effect and returns `None` if the cell was uninitialised.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::OnceLock;
    ///
    /// let mut cell: OnceLock<String> = OnceLock::new();
    /// assert_eq!(cell.take(), None);
    ///
    /// let mut cell = OnceLock::new();
    /// cell.set("hello".to_string()).unwrap();
    /// assert_eq!(cell.take(), Some("hello".to_string()));
    /// assert_eq!(cell.get(), None);
    /// ```
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
