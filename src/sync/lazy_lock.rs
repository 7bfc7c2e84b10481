//! `LazyLock`, as std's: a value computed on first access by exactly one thread, the others
//! parking until it is ready. Built on [`Once`]. An initialiser that panics poisons
//! the lock: every later access panics, as std's does.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::once::Once;

enum Data<T, F> {
    Uninit(F),
    Init(T),
    /// The initialiser panicked (or is running: it is taken out before it runs).
    Poisoned,
}

/// A value which is initialised on the first access, as `std::sync::LazyLock`.
///
/// The first thread to access it runs the initialiser; the others that need the value meanwhile
/// park until it is ready (a green thread blocks, not its worker). If the initialiser panics,
/// the lock is poisoned and every later access panics, as std's. Typically a `static`.
///
/// # Examples
///
/// ```
/// use smarm::sync::LazyLock;
/// use std::collections::HashMap;
///
/// static SQUARES: LazyLock<HashMap<u32, u32>> =
///     LazyLock::new(|| (0..10).map(|i| (i, i * i)).collect());
/// let h = smarm::thread::spawn(|| SQUARES[&7]);
/// assert_eq!(h.join().unwrap(), 49);
/// assert_eq!(SQUARES.len(), 10);
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    once: Once,
    data: UnsafeCell<Data<T, F>>,
}

// SAFETY: as std's: any thread may read the `T` (`T: Sync`), and whichever thread comes first runs
// `F` and moves the `T` it made into the cell for all (`F: Send`, `T: Send`).
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}
impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}

fn poisoned() -> ! {
    panic!("LazyLock instance has previously been poisoned")
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// Creates a new lazy value with the given initialising function. A `const fn`, for use in a
    /// `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::LazyLock;
    ///
    /// let hello = "Hello, World!".to_string();
    /// let lazy = LazyLock::new(|| hello.to_uppercase());
    /// assert_eq!(&*lazy, "HELLO, WORLD!");
    /// ```
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            once: Once::new(),
            data: UnsafeCell::new(Data::Uninit(f)),
        }
    }

    /// Forces the evaluation of this lazy value and returns a reference to the result. This is
    /// equivalent to the `Deref` impl, but is explicit. Blocks while another thread computes the
    /// value.
    ///
    /// # Panics
    ///
    /// If the initialiser panicked, now or before.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::LazyLock;
    ///
    /// let lazy = LazyLock::new(|| 92);
    /// assert_eq!(LazyLock::force(&lazy), &92);
    /// assert_eq!(&*lazy, &92);
    /// ```
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.once.call_once_force(|_| {
            // SAFETY: only the `Once`'s single runner touches `data` before it completes.
            let data = unsafe { &mut *this.data.get() };
            if let Data::Uninit(f) = std::mem::replace(data, Data::Poisoned) {
                // If `f` panics, `data` stays `Poisoned`.
                *data = Data::Init(f());
            }
        });
        // SAFETY: the `Once` completed, so `data` is no longer written through `&self`.
        match unsafe { &*this.data.get() } {
            Data::Init(v) => v,
            _ => poisoned(),
        }
    }

    /// Forces the evaluation of this lazy value and returns a mutable reference to the result;
    /// no locking, as `&mut` is exclusive.
    ///
    /// # Panics
    ///
    /// If the initialiser panicked, now or before.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::LazyLock;
    ///
    /// let mut lazy = LazyLock::new(|| 92);
    /// let p = LazyLock::force_mut(&mut lazy);
    /// assert_eq!(*p, 92);
    /// *p = 44;
    /// assert_eq!(*lazy, 44);
    /// ```
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        let data = this.data.get_mut();
        if let Data::Uninit(_) = data {
            let Data::Uninit(f) = std::mem::replace(data, Data::Poisoned) else {
                unreachable!()
            };
            *data = Data::Init(f());
            // Published for `get` through `&self` later (no contention: `&mut` is exclusive).
            this.once.call_once(|| {});
        }
        match this.data.get_mut() {
            Data::Init(v) => v,
            _ => poisoned(),
        }
    }

    /// Returns a reference to the value if it has been computed, or `None` if not (or if it is
    /// being computed right now). Never blocks and never runs the initialiser.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::LazyLock;
    ///
    /// let lazy = LazyLock::new(|| 92);
    /// assert_eq!(LazyLock::get(&lazy), None);
    /// let _ = LazyLock::force(&lazy);
    /// assert_eq!(LazyLock::get(&lazy), Some(&92));
    /// ```
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        if !this.once.is_completed() {
            return None;
        }
        // SAFETY: the `Once` completed, so `data` is no longer written through `&self`.
        match unsafe { &*this.data.get() } {
            Data::Init(v) => Some(v),
            _ => None,
        }
    }

    /// Returns a mutable reference to the value if it has been computed, or `None` if not.
    /// Never runs the initialiser.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::LazyLock;
    ///
    /// let mut lazy = LazyLock::new(|| 92);
    /// assert_eq!(LazyLock::get_mut(&mut lazy), None);
    /// let _ = LazyLock::force(&lazy);
    /// *LazyLock::get_mut(&mut lazy).unwrap() = 44;
    /// assert_eq!(*lazy, 44);
    /// ```
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        match this.data.get_mut() {
            Data::Init(v) => Some(v),
            _ => None,
        }
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        let value = if self.once.is_completed() {
            // SAFETY: the `Once` completed, so `data` is no longer written through `&self`.
            match unsafe { &*self.data.get() } {
                Data::Init(v) => Some(v),
                _ => None,
            }
        } else {
            None
        };
        match value {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
