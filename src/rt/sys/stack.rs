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

use std::io;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes at the top of a pooled stack that are never trimmed: what a typical green thread touches.
pub(crate) const KEEP: usize = 32 * 1024;
/// The smallest stack we hand out: the trampoline, `catch_unwind` and panic reporting need room.
pub(crate) const MIN_STACK: usize = 32 * 1024;
/// std's default reservation for a spawned thread.
pub(crate) const STD_DEFAULT_STACK: usize = 2 * 1024 * 1024;
/// Stacks kept per worker before half of them spill to the shared pool.
pub(crate) const LOCAL_POOL: usize = 64;
/// Stacks kept in the shared pool; beyond this a released stack is unmapped.
const SHARED_POOL: usize = 1024;

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
pub(crate) fn round_size(size: usize) -> usize {
    let page = page_size();
    size.max(MIN_STACK).div_ceil(page) * page
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
        let total = size + page;
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
            return Err(map_error("mmap", io::Error::last_os_error()));
        }
        // SAFETY: `base` is the start of the mapping we just made, which is at least one page long.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping exactly the region mmap gave us; nothing references it yet.
            unsafe { libc::munmap(base, total) };
            return Err(map_error("mprotect", err));
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

fn map_error(call: &str, err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ENOMEM) {
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "smarm: cannot map a green-thread stack ({call}: {err}); each green thread \
                 needs 2 memory mappings and vm.max_map_count is {limit}: raise it with \
                 `sysctl -w vm.max_map_count=<n>` or use fewer live green threads"
            ),
        )
    } else {
        io::Error::new(
            err.kind(),
            format!("smarm: cannot map a green-thread stack ({call}: {err})"),
        )
    }
}

/// The runtime-wide pool of default-size stacks; workers keep a small cache in front of it.
pub(crate) struct StackPool {
    size: usize,
    shared: Mutex<Vec<Stack>>,
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool {
            size,
            shared: Mutex::new(Vec::new()),
        }
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
            let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let n = shared.len().min(LOCAL_POOL / 2);
            let at = shared.len() - n;
            local.extend(shared.drain(at..));
            drop(shared);
            if let Some(s) = local.pop() {
                return Ok(s);
            }
        } else if let Some(s) = self.shared.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(s);
        }
        Stack::new(size)
    }

    /// Returns a finished green thread's stack, trimmed if it ran deep.
    pub(crate) fn give(&self, local: &mut Vec<Stack>, stack: Stack, low_water: usize) {
        if stack.size() != self.size {
            return; // odd sizes are unmapped at once
        }
        stack.trim(low_water);
        local.push(stack);
        if local.len() > LOCAL_POOL {
            let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let spill = local.len() / 2;
            let room = SHARED_POOL.saturating_sub(shared.len()).min(spill);
            let at = local.len() - spill;
            let mut moving = local.drain(at..);
            shared.extend(moving.by_ref().take(room));
            drop(shared);
            drop(moving); // beyond the shared cap: unmapped
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
}
