//! Pids: `(index, generation)` names for green threads, valid only while the thread lives. The
//! type is here, below the task (which carries its own); the table that maps Pids to live tasks is
//! [`table`], above it.
//!
//! The slot table is process-wide and grows in chunks that are never freed, so a slot's address is
//! stable. A slot holds a strong reference to its live task; when the task finishes the slot is
//! emptied and its generation bumped, so a stale `Pid` fails lookup instead of naming whoever
//! reuses the index. Indices are recycled through per-worker free lists (no shared cache line on
//! the spawn path) that spill to and refill from a shared list in batches.

pub(crate) mod table;

/// A green thread's process identifier: a slot index plus the slot's generation.
///
/// A `Pid` names one green thread for as long as it lives. When the thread ends its slot's
/// generation moves on, so an old `Pid` never names whichever thread reuses the slot: it simply
/// stops resolving ([`smarm::actor::is_alive`](crate::actor::is_alive) turns `false`). `Debug`
/// and `Display` print Erlang's shape, `<0.index.generation>`.
///
/// # Examples
///
/// ```
/// let (pid, h) = smarm::actor::spawn(|| smarm::actor::self_pid());
/// assert_eq!(h.join().unwrap(), Some(pid));
/// assert_eq!(format!("{pid}"), format!("<0.{}.{}>", pid.index(), pid.generation()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    index: u32,
    generation: u32,
}

impl Pid {
    /// `index << 32 | generation`: a Pid in one word (a stale one fails [`table::lookup`]).
    pub(crate) fn to_bits(self) -> u64 {
        (u64::from(self.index) << 32) | u64::from(self.generation)
    }

    /// The slot index (reused by later green threads once this one has ended).
    ///
    /// # Examples
    ///
    /// ```
    /// let (pid, h) = smarm::actor::spawn(|| ());
    /// h.join().unwrap();
    /// // Once it has ended, another green thread may take the same index, never the same Pid.
    /// let (next, h) = smarm::actor::spawn(|| ());
    /// h.join().unwrap();
    /// assert_ne!(next, pid);
    /// if next.index() == pid.index() {
    ///     assert_ne!(next.generation(), pid.generation());
    /// }
    /// ```
    pub fn index(&self) -> u32 {
        self.index
    }
    /// The slot's generation when this green thread took it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (pid, h) = smarm::actor::spawn(|| ());
    /// let shown = format!("{pid}");
    /// assert_eq!(shown, format!("<0.{}.{}>", pid.index(), pid.generation()));
    /// h.join().unwrap();
    /// ```
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

impl std::fmt::Debug for Pid {
    /// Erlang's shape: `<0.index.generation>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<0.{}.{}>", self.index, self.generation)
    }
}

impl std::fmt::Display for Pid {
    /// Erlang's shape: `<0.index.generation>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}
