//! Green-thread stacks: one `mmap` each, a `PROT_NONE` guard page at the bottom, and a pool so that
//! a spawn in the steady state makes no syscall.
//!
//! A stack reserves as much address space as std reserves for an OS thread (2 MiB, or
//! `RUST_MIN_STACK`, or `SMARM_STACK_SIZE`, or what `Config` / `Builder::stack_size` ask for), so code
//! written for std threads recurses as deep as it did. The mapping is `MAP_NORESERVE`: the kernel
//! commits a page only when it is first touched, so a parked green thread costs the few pages its
//! frames occupy (plus its share of page tables), not its reservation.
//!
//! Every stack costs two kernel mappings (the guard and the usable part have different
//! protections). With `vm.max_map_count` at its common default of 65530 that caps live green
//! threads near 32k; when `mmap` or `mprotect` fails with `ENOMEM` we say so, naming the sysctl.
//!
//! ## Trimming
//! A pooled stack that once ran deep would keep its touched pages forever. Before a stack goes back
//! to the pool we look for evidence that it was used below its top [`KEEP`] bytes, and if so
//! `madvise(MADV_DONTNEED)` everything below that line. The evidence is gathered without a syscall:
//! - the lowest stack pointer seen at any switch out of the green thread (`low_water`), and
//! - a *canary word* just below the kept region: when the stack is created we read it once, which maps
//!   the shared zero page there (no memory is committed), so a later read costs nothing; a non-zero
//!   value at release means a frame was written there. The canary is only used when it lies in the
//!   same 2 MiB page-table region as the top, so reading it never costs a page-table page.
//!
//! A recursion that went deep and came back between two switches without leaving a non-zero word
//! at the canary escapes both tests; its pages are then released when the pool sheds the stack.
//!
//! ## The pool: never unmap on the spawn/exit path
//! A new stack costs `mmap` + `mprotect` + two page faults (about 7 µs here), a freed one `munmap`
//! (6 µs, 29 µs while another thread of the process runs: the TLB shootdown). So a finished green
//! thread's stack always goes back to the pool — a per-worker cache of [`LOCAL_POOL`] in front of
//! a shared pool without a cap — and is unmapped only by [`StackPool::shed`], which the monitor
//! thread calls every [`SHED_INTERVAL`]:
//!
//! - the shared pool tracks its *low-water mark*, the fewest stacks it held since the last shed;
//!   that many stacks sat unused for a whole interval;
//! - `shed` unmaps half of that surplus (rounded up) beyond [`POOL_FLOOR`], the oldest first
//!   (the pool is a stack: the bottom entries are the coldest).
//!
//! So a burst keeps its stacks for as long as bursts recur within an interval or two, and a
//! burst that does not recur drains geometrically: 100k pooled stacks are down to the floor in
//! about seven intervals. **Bound:** the pool never holds more stacks than the most green
//! threads alive at once, nor, once the load has been lower for `k` intervals, more than
//! `POOL_FLOOR + surplus / 2^k`; each pooled stack holds at most [`KEEP`] bytes of touched pages
//! when its use was seen (trimming above) plus its page tables (about 4 KiB for a 2 MiB stack),
//! and two entries of `vm.max_map_count`. The floor alone is at most 1024 × 36 KiB ≈ 36 MiB, as
//! before this pool existed (it was then a hard cap past which stacks were unmapped on exit).

use super::lock::{Mutex, MutexGuard};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes at the top of a pooled stack that are never trimmed: what a typical green thread touches.
pub(crate) const KEEP: usize = 32 * 1024;
/// The smallest stack we hand out: the trampoline, `catch_unwind` and panic reporting need room.
pub(crate) const MIN_STACK: usize = 32 * 1024;
/// std's default reservation for a spawned thread.
pub(crate) const STD_DEFAULT_STACK: usize = 2 * 1024 * 1024;
/// Stacks kept per worker before half of them spill to the shared pool.
pub(crate) const LOCAL_POOL: usize = 64;
/// Stacks the shared pool keeps however long they sit unused: what a modest program's churn
/// needs, so that it never maps again after start-up (the old hard cap, kept as the floor).
pub(crate) const POOL_FLOOR: usize = 1024;
/// How often the monitor sheds pooled stacks that were not needed. Long enough that a program
/// with periodic bursts (a request wave a second) keeps its stacks; short enough that memory
/// from a one-off burst returns within seconds.
pub(crate) const SHED_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// Rounds a requested usable size up to whole pages, no smaller than [`MIN_STACK`].
///
/// Callers check sizes first (`rt::config::check_stack_size`); the arithmetic saturates anyway, so
/// an absurd size becomes a mapping the kernel refuses, never an overflow.
pub(crate) fn round_size(size: usize) -> usize {
    let page = page_size();
    size.max(MIN_STACK)
        .checked_next_multiple_of(page)
        .unwrap_or(usize::MAX - page + 1 - page)
}

/// One mmap'd stack: `[base, base + page)` is the guard, `[base + page, base + page + size)` usable.
pub(crate) struct Stack {
    base: NonNull<u8>,
    /// Usable bytes (excluding the guard page).
    size: usize,
}

// SAFETY: a Stack is an owned region of memory; nothing in it is tied to the thread that mapped it.
unsafe impl Send for Stack {}

impl Stack {
    /// Maps a new stack with `size` usable bytes (already rounded by [`round_size`]).
    pub(crate) fn new(size: usize) -> io::Result<Stack> {
        let page = page_size();
        let total = size.checked_add(page).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("smarm: a green-thread stack of {size} bytes does not fit in memory"),
            )
        })?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing aliases
        // nothing; we check the result before using it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(map_error("mmap", io::Error::last_os_error(), size));
        }
        // SAFETY: `base` is the start of the mapping we just made, which is at least one page long.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping exactly the region mmap gave us; nothing references it yet.
            unsafe { libc::munmap(base, total) };
            return Err(map_error("mprotect", err, size));
        }
        let stack = Stack {
            // SAFETY: mmap succeeded, so `base` is not null.
            base: unsafe { NonNull::new_unchecked(base as *mut u8) },
            size,
        };
        if let Some(canary) = stack.canary() {
            // SAFETY: the canary lies inside the usable part of the mapping. This read maps the
            // shared zero page there, so later reads of it are free and commit no memory.
            unsafe { std::ptr::read_volatile(canary) };
        }
        Ok(stack)
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// One past the highest usable byte (page aligned).
    pub(crate) fn top(&self) -> *mut u8 {
        // SAFETY: base + page + size is one past the end of our mapping.
        unsafe { self.base.as_ptr().add(page_size() + self.size) }
    }

    /// The lowest usable byte, just above the guard page.
    pub(crate) fn limit(&self) -> *mut u8 {
        // SAFETY: within the mapping.
        unsafe { self.base.as_ptr().add(page_size()) }
    }

    /// The guard page's address range, for the overflow handler.
    pub(crate) fn guard(&self) -> (usize, usize) {
        let b = self.base.as_ptr() as usize;
        (b, b + page_size())
    }

    fn canary(&self) -> Option<*const usize> {
        if self.size <= KEEP + 64 {
            return None;
        }
        let top = self.top() as usize;
        let canary = top - KEEP - std::mem::size_of::<usize>();
        const REGION: usize = 2 * 1024 * 1024;
        ((top - 1) / REGION == canary / REGION).then_some(canary as *const usize)
    }

    /// Gives back the pages below the kept top if there is evidence they were used.
    /// `low_water` is the lowest stack pointer observed while the stack was in use.
    pub(crate) fn trim(&self, low_water: usize) {
        let top = self.top() as usize;
        let keep_line = top - KEEP.min(self.size);
        let canary_dirty = match self.canary() {
            // SAFETY: the canary is inside our usable region; it is only ever read, never
            // referenced across a write by another thread (the stack is not running).
            Some(c) => (unsafe { std::ptr::read_volatile(c) }) != 0,
            None => false,
        };
        if canary_dirty || (low_water != 0 && low_water < keep_line) {
            let start = self.limit() as usize;
            // SAFETY: the range [limit, keep_line) is inside our mapping and holds no live frames
            // (the green thread that used this stack has finished).
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    keep_line - start,
                    libc::MADV_DONTNEED,
                );
            }
            if let Some(c) = self.canary() {
                // SAFETY: as in `new`: re-maps the zero page under the canary.
                unsafe { std::ptr::read_volatile(c) };
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: we own the whole mapping and no context runs on it any more.
        unsafe {
            libc::munmap(
                self.base.as_ptr() as *mut libc::c_void,
                self.size + page_size(),
            );
        }
    }
}

fn map_error(call: &str, err: io::Error, size: usize) -> io::Error {
    if err.raw_os_error() == Some(libc::ENOMEM) {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "smarm: cannot map a green-thread stack of {size} bytes ({call}: {err}); {}",
                enomem_cause(size)
            ),
        )
    } else {
        io::Error::new(
            err.kind(),
            format!("smarm: cannot map a green-thread stack ({call}: {err})"),
        )
    }
}

/// Why a stack mapping failed with ENOMEM, in the order the causes are likely (read from /proc on
/// the failure path only; a cause that cannot be read is skipped).
fn enomem_cause(size: usize) -> String {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let maps = read("/proc/self/maps").map(|m| m.lines().count());
    let limit = read("/proc/sys/vm/max_map_count").and_then(|s| s.trim().parse::<usize>().ok());
    if let (Some(maps), Some(limit)) = (maps, limit)
        && maps + 16 >= limit
    {
        return format!(
            "the process has {maps} memory mappings and vm.max_map_count is {limit} (each green \
             thread needs 2): raise it with `sysctl -w vm.max_map_count=<n>` or use fewer live \
             green threads"
        );
    }
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes `rl`.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) } == 0
        && rl.rlim_cur != libc::RLIM_INFINITY
    {
        return format!(
            "the address-space limit (`ulimit -v`, RLIMIT_AS) is {} bytes",
            rl.rlim_cur
        );
    }
    if size >= 1 << 46 {
        return "the size does not fit in the address space".into();
    }
    if read("/proc/sys/vm/overcommit_memory").is_some_and(|s| s.trim() == "2") {
        return "the kernel's commit limit was reached (vm.overcommit_memory is 2, so \
                MAP_NORESERVE does not help)"
            .into();
    }
    "the system is out of memory".into()
}

/// The runtime-wide pool of default-size stacks; workers keep a small cache in front of it.
/// See the module docs for the policy and its bound.
pub(crate) struct StackPool {
    size: usize,
    shared: Mutex<Pooled>,
}

struct Pooled {
    /// Used as a stack: taken from and given back at the end, so the front is the coldest.
    stacks: Vec<Stack>,
    /// The fewest stacks held since the last shed.
    low: usize,
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool {
            size,
            shared: Mutex::new(Pooled {
                stacks: Vec::new(),
                low: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pooled> {
        self.shared.lock()
    }

    /// Holds the pool's lock across a `fork` (see `sched::before_fork`).
    pub(crate) fn hold_for_fork(&self) -> Box<dyn std::any::Any + '_> {
        Box::new(self.lock())
    }

    /// Stacks in the shared pool now (not counting the workers' caches).
    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.lock().stacks.len()
    }

    /// Unmaps half of the stacks that sat in the shared pool unused since the last call, beyond
    /// [`POOL_FLOOR`]; returns how many. Called by the monitor every [`SHED_INTERVAL`] (module
    /// docs), never on the spawn/exit path.
    pub(crate) fn shed(&self) -> usize {
        let mut pool = self.lock();
        let surplus = pool.low.min(pool.stacks.len()).saturating_sub(POOL_FLOOR);
        let n = surplus.div_ceil(2);
        let cold: Vec<Stack> = pool.stacks.drain(..n).collect();
        pool.low = pool.stacks.len();
        drop(pool);
        drop(cold); // unmapped outside the lock
        n
    }

    /// The pooled (default) usable size.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// A stack of `size` usable bytes: from `local` (a worker's cache), the shared pool, or mmap.
    pub(crate) fn take(&self, local: Option<&mut Vec<Stack>>, size: usize) -> io::Result<Stack> {
        if size != self.size {
            return Stack::new(size);
        }
        if let Some(local) = local {
            if let Some(s) = local.pop() {
                return Ok(s);
            }
            let mut pool = self.lock();
            let n = pool.stacks.len().min(LOCAL_POOL / 2);
            let at = pool.stacks.len() - n;
            local.extend(pool.stacks.drain(at..));
            pool.low = pool.low.min(at);
            drop(pool);
            if let Some(s) = local.pop() {
                return Ok(s);
            }
        } else {
            let mut pool = self.lock();
            if let Some(s) = pool.stacks.pop() {
                pool.low = pool.low.min(pool.stacks.len());
                return Ok(s);
            }
        }
        Stack::new(size)
    }

    /// Moves a carrier's cache into the shared pool (the carrier stops running green threads).
    pub(crate) fn return_local(&self, local: &mut Vec<Stack>) {
        if !local.is_empty() {
            self.lock().stacks.append(local);
        }
    }

    /// Returns a finished green thread's stack, trimmed if it ran deep.
    pub(crate) fn give(&self, local: &mut Vec<Stack>, stack: Stack, low_water: usize) {
        if stack.size() != self.size {
            return; // odd sizes are unmapped at once
        }
        stack.trim(low_water);
        local.push(stack);
        if local.len() > LOCAL_POOL {
            // Never unmapped here (module docs): the monitor sheds what stays unused.
            let at = local.len() - local.len() / 2;
            self.lock().stacks.extend(local.drain(at..));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of the stack with a page-table entry, by `mincore`, not counting the canary's page
    /// (mapped to the shared zero page on purpose, which costs no memory but shows as resident).
    fn committed(s: &Stack) -> usize {
        let (lo, top) = (s.limit() as usize, s.top() as usize);
        let canary_page = s.canary().map_or(0, |c| {
            resident(
                c as usize & !(page_size() - 1),
                (c as usize & !(page_size() - 1)) + page_size(),
            )
        });
        resident(lo, top) - canary_page
    }

    /// Resident pages of `[start, end)`, by `mincore`.
    fn resident(start: usize, end: usize) -> usize {
        let page = page_size();
        let mut vec = vec![0u8; (end - start) / page];
        // SAFETY: the range is page aligned and mapped (a stack we own); `vec` has one byte per page.
        let r = unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
        assert_eq!(r, 0);
        vec.iter().filter(|b| **b & 1 == 1).count()
    }

    #[test]
    fn fresh_stack_commits_nothing_and_has_a_guard() {
        let s = Stack::new(round_size(STD_DEFAULT_STACK)).unwrap();
        assert_eq!(s.size(), STD_DEFAULT_STACK);
        assert_eq!(committed(&s), 0);
        let (g0, g1) = s.guard();
        assert_eq!(g1, s.limit() as usize);
        assert_eq!(g1 - g0, page_size());
        assert_eq!(s.top() as usize % page_size(), 0);
    }

    #[test]
    fn deep_use_is_trimmed_shallow_use_is_kept() {
        let s = Stack::new(round_size(STD_DEFAULT_STACK)).unwrap();
        let top = s.top() as usize;
        // Touch the top page and a page 1 MiB down, as a deep recursion would.
        // SAFETY: both addresses are inside the stack's usable part, which we own.
        unsafe {
            ((top - 64) as *mut u64).write_volatile(1);
            ((top - (1 << 20)) as *mut u64).write_volatile(1);
        }
        assert_eq!(committed(&s), 2);
        s.trim(top - (1 << 20)); // the low-water mark shows the deep use
        assert_eq!(
            committed(&s),
            1,
            "the deep page is given back, the top page kept"
        );

        // Shallow use (within KEEP) with a low-water mark inside KEEP: nothing to trim.
        // SAFETY: inside the usable part.
        unsafe { ((top - KEEP / 2) as *mut u64).write_volatile(1) };
        s.trim(top - KEEP / 2);
        assert_eq!(committed(&s), 2);
    }

    #[test]
    fn canary_catches_deep_use_between_switches() {
        let s = Stack::new(round_size(STD_DEFAULT_STACK)).unwrap();
        let Some(canary) = s.canary() else { return }; // top too close to a 2 MiB boundary
        let top = s.top() as usize;
        // SAFETY: inside the usable part.
        unsafe {
            ((top - 64) as *mut u64).write_volatile(1);
            (canary as *mut usize).write_volatile(7);
            ((top - (1 << 20)) as *mut u64).write_volatile(1);
        }
        s.trim(usize::MAX); // no low-water evidence: only the canary tells
        assert_eq!(committed(&s), 1);
        // SAFETY: the canary is inside the stack; after the trim it reads as zero again.
        assert_eq!(unsafe { std::ptr::read_volatile(canary) }, 0);
    }

    #[test]
    fn pool_reuses_stacks() {
        let pool = StackPool::new(round_size(64 * 1024));
        let mut local = Vec::new();
        let a = pool.take(Some(&mut local), pool.size()).unwrap();
        let top = a.top();
        pool.give(&mut local, a, usize::MAX);
        let b = pool.take(Some(&mut local), pool.size()).unwrap();
        assert_eq!(b.top(), top, "a released stack is handed out again");
        // Another size is never pooled.
        let c = pool.take(Some(&mut local), round_size(128 * 1024)).unwrap();
        pool.give(&mut local, c, usize::MAX);
        assert!(local.is_empty());
    }

    #[test]
    fn a_burst_is_kept_then_shed_in_the_background() {
        let pool = StackPool::new(round_size(64 * 1024));
        let burst = POOL_FLOOR + 2 * LOCAL_POOL + 400;
        let mut local = Vec::new();
        let stacks: Vec<_> = (0..burst)
            .map(|_| pool.take(Some(&mut local), pool.size()).unwrap())
            .collect();
        for s in stacks {
            pool.give(&mut local, s, usize::MAX);
        }
        // Nothing was unmapped on the exit path: every stack is pooled.
        assert_eq!(local.len() + pool.pooled(), burst);
        let in_shared = pool.pooled();
        // The first shed only starts the interval (everything was taken meanwhile).
        assert_eq!(pool.shed(), 0);
        // Unused for a whole interval: half the surplus over the floor goes, then half again.
        let surplus = in_shared - POOL_FLOOR;
        assert_eq!(pool.shed(), surplus.div_ceil(2));
        assert_eq!(pool.shed(), (surplus / 2).div_ceil(2));
        // A take during the interval lowers the low-water mark: only what stayed unused goes.
        let left = pool.pooled();
        let mut busy = Vec::new();
        let taken: Vec<_> = (0..10)
            .map(|_| pool.take(Some(&mut busy), pool.size()).unwrap())
            .collect();
        let low = pool.pooled();
        for s in taken {
            pool.give(&mut busy, s, usize::MAX);
        }
        assert!(low < left);
        assert_eq!(pool.shed(), (low - POOL_FLOOR).div_ceil(2));
        // Never below the floor.
        while pool.shed() > 0 {}
        assert_eq!(pool.pooled(), POOL_FLOOR);
    }
}
