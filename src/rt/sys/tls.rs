//! Green TLS: every green thread has its own thread pointer, so `std::thread_local!` (in the
//! program, in std, in every dependency) is per green thread exactly as it is per OS thread.
//!
//! ## Why
//! A green thread may resume on another carrier after any switch, and rustc reads the thread
//! pointer (FS base) once per function and keeps it across calls. With one thread pointer per
//! carrier, code resumed elsewhere would read and write the *previous* carrier's thread-locals while
//! that carrier runs other code: a data race reachable from safe code. With one per green thread,
//! whatever the code cached stays true wherever it resumes.
//!
//! ## What a TLS area is (glibc, x86-64: TLS variant II)
//! The thread pointer `tp` points at the thread's descriptor (`struct pthread`, whose first part
//! is `tcbhead_t`); the static TLS blocks of the executable and of the libraries loaded at start
//! sit just *below* it, at offsets the dynamic linker fixed, followed by a surplus that `dlopen`
//! uses for libraries with initial-exec TLS:
//!
//! ```text
//!   area start                                   tp                       tp + tcb_size
//!   | surplus (dlopen)  | libc's block | exe's block | struct pthread (tcbhead_t first) |
//!   <------------------ static_size (from _dl_get_tls_static_info) ------------------->
//! ```
//!
//! [`Block::new`] carves an area from a slab (lazily committed anonymous memory), copies the
//! creating thread's descriptor into it, and asks glibc's `_dl_allocate_tls(tp)` (what
//! `pthread_create` itself calls for a stack it placed the descriptor on) to allocate the DTV and
//! copy every module's TLS image into the static blocks. Then it makes the copy the green thread's
//! own descriptor, fixing what must not be shared with the creator:
//! - `tcb` and `self` (`%fs:0`, `%fs:16`: what every TLS access adds its offset to, and what
//!   `pthread_self()` and glibc's `THREAD_SELF` return) are the area's own `tp`;
//! - `dtv` (`%fs:8`) is the area's own (lazily allocated blocks of `dlopen`ed modules go there);
//! - pthread keys (`specific_1stblock`, `specific[]`, `specific_used`) start empty;
//! - the robust-mutex list is empty, the cleanup buffers are null;
//! - the rseq area's `cpu_id` is -1, so `sched_getcpu` asks the kernel instead of reading a stale
//!   copy (the kernel updates only the carrier's registered area);
//! - the resolver state pointer (`__resp`) points at the area's own `struct __res_state`, as
//!   `start_thread` points a new thread's at its descriptor's, so `getaddrinfo` in green threads
//!   on different carriers does not share the process's `_res`.
//!
//! ## aarch64 (TLS variant I)
//! The thread pointer is `TPIDR_EL0`, and glibc lays a thread out the other way round: the
//! descriptor sits *below* `tp` (`THREAD_SELF` is `tp - sizeof(struct pthread)`, computed, not
//! read), `tp` points at a 16-byte `tcbhead_t` (`dtv`, then a word glibc leaves unused on
//! aarch64), and the static blocks follow it upwards:
//!
//! ```text
//!   area start                tp                                        area end
//!   | struct pthread        | tcbhead_t | exe's block | libc's block | surplus (dlopen) |
//!   <----- tcb_size -------> <------------- static_size (from _dl_get_tls_static_info) -->
//! ```
//!
//! Everything below is written in offsets from `tp` (negative below it) and from the descriptor
//! (`tp - pre`, where `pre` is 0 on x86-64 and `tcb_size` on aarch64), so the same code serves
//! both; `sys::arch` says which layout applies. There is no self pointer to fix on aarch64, and
//! the switch writes `TPIDR_EL0` with one `msr` (no system call, nothing to probe).
//!
//! Why the green thread's own descriptor rather than the carrier's: on x86-64 glibc reads a
//! descriptor both through `%fs` (`THREAD_GETMEM`) and through `THREAD_SELF` (`%fs:16`); if the two
//! named different descriptors they would disagree (glibc's setxid handler spins forever when they
//! do). With its own descriptor a green thread is a thread to glibc: its pthread keys are its own
//! and their destructors run when it ends (std frees its `thread::current()` handle from one), C
//! stdio's recursive lock owner is the green thread, `pthread_self()` is unique per green thread.
//! Only `tid` is the carrier's, rewritten on every switch in ([`Block::enter`]): it names the
//! kernel thread (`pthread_kill(pthread_self())`, error-checking mutex owners).
//!
//! Signals glibc sends to *its* threads (SIGSETXID, for `setuid`/`setgid` in a multi-threaded
//! process) reach a carrier that may be running a green thread; the handler must act on the
//! carrier's descriptor, which glibc marked. [`install_signal_shims`] wraps glibc's handler to run
//! it with the carrier's thread pointer loaded. `pthread_cancel` and `pthread_exit` on a green
//! thread are not supported (they would unwind or end the carrier).
//!
//! ## What a green thread does not share, and what it keeps from its area
//! libc's TLS block (errno, the malloc thread cache and arena, locale pointers, the list that
//! `__cxa_thread_atexit_impl` fills with std's thread-local destructors, the resolver pointer) is
//! per green thread. At its end ([`exit_thread`]) a green thread runs the destructor list
//! (`__call_tls_dtors`, in std's order and with std's rules, since std registered them), then its
//! pthread keys' destructors (as glibc's `__nptl_deallocate_tsd`), and resets its locale to the
//! global one and errno to 0. malloc's per-thread cache cannot be shut down from outside (glibc
//! 2.36 exports no `__libc_thread_freeres`), so it must not be lost: an area is never unmapped, and
//! when it is reused its libc block is *kept* while every other module's block is re-initialised
//! from its image. Areas are pooled (see [`take`]), so their number is the peak number of live
//! green threads, as Go never frees a goroutine descriptor; each keeps its malloc cache (up to 7
//! freed chunks per size class) for its next user.
//!
//! `dlopen`: a library loaded later whose TLS is initial-exec gets a block in the static surplus;
//! glibc initialises it only in the threads it knows, so in areas that existed before the `dlopen`
//! it starts zeroed until the area is reused (a reuse after a `dlopen` with TLS re-initialises every
//! module through glibc). Global-dynamic TLS of such libraries is allocated per area as usual.
//!
//! ## Switching
//! On x86-64 the context switch writes FS base with `wrfsbase` when the kernel enabled FSGSBASE
//! (`AT_HWCAP2`), else with `arch_prctl(ARCH_SET_FS)` (a syscall per switch);
//! `SMARM_TLS_SWITCH=arch_prctl` forces the fallback (for tests), `wrfsbase` insists on the fast
//! path.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
#[cfg(target_arch = "x86_64")]
use std::sync::atomic::AtomicU8;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::arch;
use super::lock::Mutex;

/// glibc's `dtv_t`: the generation counter or a module's block (`val`) and what to free.
#[repr(C)]
#[derive(Clone, Copy)]
struct DtvEntry {
    val: usize,
    to_free: *mut c_void,
}

/// The glibc entry points and the layout facts this module needs, found once per process.
struct Glibc {
    allocate_tls: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    /// `_dl_allocate_tls_init(tp, init)`: 2.36 takes one argument, later versions a flag that must
    /// be true for a thread's first initialisation; passing both is right for either.
    allocate_tls_init: unsafe extern "C" fn(*mut c_void, bool) -> *mut c_void,
    call_tls_dtors: unsafe extern "C" fn(),
    ctype_init: Option<unsafe extern "C" fn()>,
    /// Bytes from the area start to `tp`: the reserved static blocks (`below_tp` bytes, surplus
    /// first) end at `tp`, placed so that what a thread touches (its modules' blocks and the
    /// descriptor) lies in one page; the area start is page aligned.
    tp_off: usize,
    /// `sizeof(struct pthread)`.
    tcb_size: usize,
    /// Bytes from the descriptor (`struct pthread`) up to `tp`: 0 in TLS variant II (x86-64),
    /// `tcb_size` in variant I (aarch64). Descriptor fields are at `tp - pre + offset`.
    pre: usize,
    /// Area size: whole pages, so an idle area can give its memory back (`make_cold`).
    stride: usize,
    align: usize,
    /// Offset of `tid` in `struct pthread`.
    tid_off: usize,
    /// Offset and length of the `specific` (second-level pthread key) array; the first-level
    /// block (`specific_1stblock`, 32 `{seq, data}` pairs) sits just before it, and the
    /// `specific_used` flag just after it (checked against this thread's descriptor).
    specific: (usize, usize),
    /// glibc's key table (`__pthread_keys`: `{seq, destr}` per key), for running key destructors.
    pthread_keys: Option<*const [usize; 2]>,
    /// Offset of `robust_head` when the layout check confirmed it; `cleanup` and `cleanup_jmp_buf`
    /// follow it (confirmed by `cancelhandling`'s offset).
    robust_head: Option<usize>,
    cleanup: Option<usize>,
    /// `__resp` (libc's resolver state pointer): its offset from `tp`.
    resp_at: Option<isize>,
    /// libc's per-thread locale pointer: its offset from `tp`, and its value while the thread uses
    /// the global locale (found at start by installing a locale and looking for it).
    locale: Option<(isize, usize)>,
    /// Offset of the rseq area's `cpu_id` from `tp`, when rseq is registered.
    rseq_cpu_id: Option<isize>,
    /// libc's own static TLS block: its offset from `tp`, and its length.
    libc_block: Option<(isize, usize)>,
    /// Every other module with static TLS at start: what [`Block::reset`]'s fast path re-copies.
    modules: Vec<Module>,
    /// malloc's thread cache pointer (`tcache`, a libc TLS variable): its offset from `tp`, and
    /// whether its lists are safe-linked; found and verified at start (see `find_tcache`).
    tcache: Option<(isize, bool)>,
    /// Where glibc records a module loaded after start: the `map` word of slot `max_modid + 1` of
    /// the first slotinfo list node (non-null once a `dlopen` brought a module with TLS).
    added_module_slot: Option<*const usize>,
}

/// A module's static TLS block: its offset from `tp`, and its initialisation image.
struct Module {
    at: isize,
    image: *const u8,
    filesz: usize,
    memsz: usize,
}

// SAFETY: plain function pointers, numbers, and pointers into loaded modules' read-only images.
unsafe impl Send for Glibc {}
// SAFETY: as above; immutable after construction.
unsafe impl Sync for Glibc {}

fn sym(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_DEFAULT (null on glibc) and a NUL-terminated name has no other
    // preconditions.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

/// glibc's libthread_db descriptors of a field: `[bits, count, offset]`.
fn db_field(name: &CStr) -> Option<[u32; 3]> {
    let p = sym(name) as *const [u32; 3];
    // SAFETY: a non-null `_thread_db_*` symbol is a `const uint32_t[3]` in libc's rodata.
    (!p.is_null()).then(|| unsafe { p.read() })
}

/// The calling thread's thread pointer.
#[inline(always)]
pub(crate) fn current_tp() -> usize {
    arch::thread_pointer()
}

/// What `pthread_self()` returns in the thread whose thread pointer is `tp`: its descriptor
/// (`tp` itself on x86-64, `tp - sizeof(struct pthread)` on aarch64).
pub(crate) fn pthread_self_of(tp: usize) -> usize {
    tp - glibc().map_or(0, |g| g.pre)
}

/// `tp + off`: a thread-local's address from its offset (negative below `tp`).
#[inline(always)]
fn at(tp: usize, off: isize) -> usize {
    tp.wrapping_add_signed(off)
}

#[repr(C)]
struct PhdrInfo {
    addr: usize,
    name: *const c_char,
    phdr: *const libc::Elf64_Phdr,
    phnum: u16,
    adds: u64,
    subs: u64,
    tls_modid: usize,
    tls_data: *mut c_void,
}

unsafe extern "C" {
    fn dl_iterate_phdr(
        cb: unsafe extern "C" fn(*mut PhdrInfo, usize, *mut c_void) -> c_int,
        data: *mut c_void,
    ) -> c_int;
}

/// The static TLS modules of this thread, those whose block lies in `static_range` (addresses):
/// `(modid, offset from tp, image, filesz, memsz)`, and which of them is libc's (the one whose
/// block holds `errno`).
#[allow(clippy::type_complexity)]
fn static_modules(
    static_range: std::ops::Range<usize>,
) -> (Vec<(usize, isize, *const u8, usize, usize)>, Option<usize>) {
    struct Search {
        errno: usize,
        tp: usize,
        range: std::ops::Range<usize>,
        found: Vec<(usize, isize, *const u8, usize, usize)>,
        libc: Option<usize>,
    }
    unsafe extern "C" fn visit(info: *mut PhdrInfo, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info record and our `data` pointer.
        let (info, s) = unsafe { (&*info, &mut *(data as *mut Search)) };
        if info.tls_data.is_null() {
            return 0;
        }
        for i in 0..info.phnum as usize {
            // SAFETY: `phdr` has `phnum` entries.
            let ph = unsafe { &*info.phdr.add(i) };
            if ph.p_type == libc::PT_TLS {
                let start = info.tls_data as usize;
                let len = ph.p_memsz as usize;
                if !s.range.contains(&start) {
                    continue; // not a static block
                }
                if (start..start + len).contains(&s.errno) {
                    s.libc = Some(s.found.len());
                }
                s.found.push((
                    info.tls_modid,
                    start.wrapping_sub(s.tp) as isize,
                    (info.addr + ph.p_vaddr as usize) as *const u8,
                    ph.p_filesz as usize,
                    len,
                ));
            }
        }
        0
    }
    let mut s = Search {
        // SAFETY: __errno_location has no preconditions.
        errno: unsafe { libc::__errno_location() } as usize,
        tp: current_tp(),
        range: static_range,
        found: Vec::new(),
        libc: None,
    };
    // SAFETY: the callback only reads the records and writes `s`.
    unsafe { dl_iterate_phdr(visit, &mut s as *mut Search as *mut c_void) };
    (s.found, s.libc)
}

fn load() -> io::Result<Glibc> {
    let missing = |what: &str| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "smarm: green threads need glibc's TLS entry points ({what} not found); \
                 smarm supports x86-64 and aarch64 Linux with glibc 2.35 or later"
            ),
        )
    };
    macro_rules! func {
        ($name:literal as $t:ty) => {{
            let p = sym($name);
            if p.is_null() {
                return Err(missing(stringify!($name)));
            }
            // SAFETY: the symbol is the glibc function of that name, whose C signature the
            // target type spells.
            unsafe { std::mem::transmute::<*mut c_void, $t>(p) }
        }};
    }
    let allocate_tls =
        func!(c"_dl_allocate_tls" as unsafe extern "C" fn(*mut c_void) -> *mut c_void);
    let allocate_tls_init =
        func!(c"_dl_allocate_tls_init" as unsafe extern "C" fn(*mut c_void, bool) -> *mut c_void);
    let call_tls_dtors = func!(c"__call_tls_dtors" as unsafe extern "C" fn());
    let static_info =
        func!(c"_dl_get_tls_static_info" as unsafe extern "C" fn(*mut usize, *mut usize));
    let ctype_init = {
        let p = sym(c"__ctype_init");
        (!p.is_null()).then(|| {
            // SAFETY: a non-null `__ctype_init` is glibc's `void __ctype_init(void)`.
            unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn()>(p) }
        })
    };
    let size_p = sym(c"_thread_db_sizeof_pthread") as *const u32;
    if size_p.is_null() {
        return Err(missing("_thread_db_sizeof_pthread"));
    }
    // SAFETY: a `const uint32_t` in libc's rodata.
    let tcb_size = unsafe { size_p.read() } as usize;
    let tid =
        db_field(c"_thread_db_pthread_tid").ok_or_else(|| missing("_thread_db_pthread_tid"))?;
    let specific = db_field(c"_thread_db_pthread_specific")
        .ok_or_else(|| missing("_thread_db_pthread_specific"))?;
    let (mut static_size, mut align) = (0usize, 0usize);
    // SAFETY: writes the two out-parameters.
    unsafe { static_info(&mut static_size, &mut align) };
    let align = align.max(64);
    // Variant II's static size includes the descriptor; variant I's includes the 16-byte TCB at
    // `tp` but not the descriptor below it.
    let sane = if arch::DESCRIPTOR_BELOW_TP {
        static_size >= 16
    } else {
        static_size > tcb_size
    };
    if !sane || tcb_size < 64 * 8 {
        return Err(missing("a sane static TLS size"));
    }
    let pre = if arch::DESCRIPTOR_BELOW_TP {
        tcb_size
    } else {
        0
    };
    let tid_off = tid[2] as usize;
    // `struct pthread` (2.34+): `pid_t tid; pid_t pid_unused; void *robust_prev;
    // struct robust_list_head robust_head; ...`. Trust that layout only if this thread's own
    // (empty) robust list points at that very spot, as glibc initialises it.
    let tp = current_tp();
    let pd = tp - pre;
    let robust_head = {
        let off = tid_off + 16;
        // SAFETY: `pd + off` lies inside this thread's descriptor (`off < tcb_size`).
        let list = unsafe { ((pd + off) as *const usize).read() };
        (off + 8 < tcb_size && list == pd + off).then_some(off)
    };
    let rseq_cpu_id = {
        let off = sym(c"__rseq_offset") as *const isize;
        let size = sym(c"__rseq_size") as *const u32;
        // The area must lie inside the descriptor: `[-pre, tcb_size - pre)` from `tp`.
        let inside = |off: isize| off >= -(pre as isize) && off + 8 <= (tcb_size - pre) as isize;
        // SAFETY: `const ptrdiff_t __rseq_offset` and `const unsigned int __rseq_size` (2.35+).
        match unsafe { (off.as_ref(), size.as_ref()) } {
            (Some(&off), Some(&size)) if size >= 8 && off != 0 && inside(off) => Some(off + 4),
            _ => None,
        }
    };
    // Where this thread's static TLS blocks lie.
    let static_range = if arch::DESCRIPTOR_BELOW_TP {
        tp + 16..tp + static_size
    } else {
        tp - (static_size - tcb_size)..tp
    };
    let page = super::stack::page_size();
    let (mods, libc_at) = static_modules(static_range);
    let libc = libc_at.map(|i| mods[i]);
    let max_modid = mods.iter().map(|m| m.0).max().unwrap_or(0);
    // `specific_1stblock` (32 x {seq, data}) just before `specific`, whose entry 0 points at it in
    // every thread glibc made; `specific_used` just after it.
    let first_block = specific[2] as usize - 32 * 16;
    // SAFETY: inside this thread's descriptor (`specific` is a field of it).
    let specific_0 = unsafe { ((pd + specific[2] as usize) as *const usize).read() };
    if specific_0 != pd + first_block {
        return Err(missing("the pthread key layout glibc 2.34+ uses"));
    }
    let cancel = db_field(c"_thread_db_pthread_cancelhandling").map(|f| f[2] as usize);
    let cleanup = robust_head
        .filter(|&r| cancel == Some(r + 40))
        .map(|r| r + 24);
    let keys_p = sym(c"__pthread_keys") as *const [usize; 2];
    let key_size = sym(c"_thread_db_sizeof_pthread_key_struct") as *const u32;
    let key_size = (!key_size.is_null()).then(|| {
        // SAFETY: a non-null `_thread_db_sizeof_pthread_key_struct` is a `const uint32_t` in
        // libc's rodata.
        unsafe { key_size.read() }
    });
    let pthread_keys = (!keys_p.is_null() && key_size == Some(16)).then_some(keys_p);
    let resp = sym(c"__resp") as usize; // the calling thread's `__resp` (dlsym resolves TLS)
    let libc_range = libc.map(|m| at(tp, m.1)..at(tp, m.1) + m.4);
    let resp_at = libc_range
        .as_ref()
        .filter(|r| r.contains(&resp))
        .map(|_| resp.wrapping_sub(tp) as isize);
    let added_module_slot = slotinfo_slot(max_modid + 1);
    let locale = libc.and_then(|m| find_locale_slot(tp, m.1, m.4));
    let tcache = libc.and_then(|m| find_tcache(tp, m.1, m.4));
    let modules = mods
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != libc_at)
        .map(|(_, m)| Module {
            at: m.1,
            image: m.2,
            filesz: m.3,
            memsz: m.4,
        })
        .collect();
    let (tp_off, stride) = if arch::DESCRIPTOR_BELOW_TP {
        // Descriptor, then `tp`, then the TCB and the blocks: `tp` aligned, the area page aligned.
        let tp_off = tcb_size.div_ceil(align) * align;
        (tp_off, (tp_off + static_size).div_ceil(page) * page)
    } else {
        // The start's module blocks end at `tp`; put them and the descriptor in one page if they
        // fit.
        let below_tp = static_size - tcb_size;
        let touched_below = mods.iter().map(|m| m.1.unsigned_abs()).max().unwrap_or(0);
        let touched_below = touched_below.min(below_tp).div_ceil(align) * align;
        let tp_off = (below_tp - touched_below).div_ceil(page) * page + touched_below;
        (tp_off, (tp_off + tcb_size).div_ceil(page) * page)
    };
    Ok(Glibc {
        tp_off,
        allocate_tls,
        allocate_tls_init,
        call_tls_dtors,
        ctype_init,
        tcb_size,
        pre,
        stride,
        align,
        tid_off,
        specific: (
            specific[2] as usize,
            (specific[0] / 8) as usize * specific[1] as usize,
        ),
        robust_head,
        rseq_cpu_id,
        libc_block: libc.map(|m| (m.1, m.4)),
        modules,
        pthread_keys,
        cleanup,
        resp_at,
        added_module_slot,
        tcache,
        locale,
    })
}

/// Finds libc's per-thread locale pointer in its TLS block (at `off` from `tp`, `len` bytes): the
/// word that takes the value of a locale this thread installs (its offset from `tp`), and its
/// value before (the global locale's). `None` if the calling thread does not use the global
/// locale, or no single word matches.
fn find_locale_slot(tp: usize, off: isize, len: usize) -> Option<(isize, usize)> {
    let base = at(tp, off);
    let words = || {
        (0..len / 8).map(move |i| {
            // SAFETY: inside this thread's libc TLS block.
            unsafe { ((base + i * 8) as *const usize).read() }
        })
    };
    // SAFETY: a C locale made and installed for this thread, then the previous one reinstalled
    // and the new one freed; nothing else observes them.
    unsafe {
        let global = -1isize as libc::locale_t;
        if libc::uselocale(ptr::null_mut()) != global {
            return None;
        }
        let before: Vec<usize> = words().collect();
        let loc = libc::newlocale(libc::LC_ALL_MASK, c"C".as_ptr(), ptr::null_mut());
        if loc.is_null() {
            return None;
        }
        libc::uselocale(loc);
        let hits: Vec<usize> = words()
            .enumerate()
            .filter(|&(_, w)| w == loc as usize)
            .map(|(i, _)| i)
            .collect();
        libc::uselocale(global);
        libc::freelocale(loc);
        match hits[..] {
            [i] if words().nth(i) == Some(before[i]) => Some((off + i as isize * 8, before[i])),
            _ => None,
        }
    }
}

/// Reads a word that may not be mapped, without faulting: `process_vm_readv` on ourselves, or,
/// where that call is missing (`ENOSYS`: seccomp filters, qemu's user-mode emulation), by
/// writing the word into a pipe (the kernel copies it or fails with `EFAULT`) and reading it back.
fn probe_read(addr: usize) -> Option<usize> {
    let mut v = 0usize;
    let local = libc::iovec {
        iov_base: &mut v as *mut usize as *mut c_void,
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: 8,
    };
    // SAFETY: the kernel copies 8 bytes into `v` or fails with EFAULT; nothing else is touched.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == 8 {
        return Some(v);
    }
    if io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
        return None;
    }
    let mut fds = [0; 2];
    // SAFETY: a new pipe, closed below; `write` reads 8 bytes at `addr` or fails with EFAULT
    // without touching anything (a pipe's buffer holds them: PIPE_BUF is at least 512); `read`
    // fills `v`.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return None;
        }
        let ok = libc::write(fds[1], addr as *const c_void, 8) == 8
            && libc::read(fds[0], &mut v as *mut usize as *mut c_void, 8) == 8;
        libc::close(fds[0]);
        libc::close(fds[1]);
        ok.then_some(v)
    }
}

/// Finds malloc's thread cache pointer in libc's TLS block (`len` bytes at `off` from `tp`):
/// glibc exports no handle on it, and a green thread's cache must be emptied when its area goes
/// idle (`flush_malloc_cache`). The layout it relies on (glibc 2.30+: `uint16_t counts[64]`
/// then `tcache_entry *entries[64]`; entries safe-linked since 2.32) is verified, not assumed:
/// two 24-byte chunks are freed on this thread, and the word accepted is the one pointing at a
/// structure whose bin-0 head is the chunk freed last and whose link leads to the one before.
/// Anything else, and no cache is ever flushed.
fn find_tcache(tp: usize, off: isize, len: usize) -> Option<(isize, bool)> {
    // SAFETY: plain malloc/free of our own chunks; they stay in this thread's cache.
    // `black_box`: the compiler knows malloc and free and may drop a pair it sees unused.
    let (p, q) = unsafe {
        let p = std::hint::black_box(libc::malloc(24)) as usize;
        let q = std::hint::black_box(libc::malloc(24)) as usize;
        libc::free(std::hint::black_box(p as *mut c_void));
        libc::free(std::hint::black_box(q as *mut c_void));
        (p, q)
    };
    if p == 0 || q == 0 {
        return None;
    }
    let base = at(tp, off);
    for i in (0..len / 8 * 8).step_by(8) {
        // SAFETY: inside this thread's libc TLS block.
        let w = unsafe { ((base + i) as *const usize).read() };
        if w < 4096 || w % 16 != 0 || probe_read(w + 128) != Some(q) {
            continue;
        }
        let link = probe_read(q)?;
        let safe = if link == (q >> 12) ^ p {
            true
        } else if link == p {
            false
        } else {
            return None;
        };
        return Some((off + i as isize, safe));
    }
    None
}

/// The address of the `map` word of TLS module `modid`'s slot in glibc's first slotinfo list node,
/// found through the descriptors glibc exports for debuggers (libthread_db).
fn slotinfo_slot(modid: usize) -> Option<*const usize> {
    let rtld = sym(c"_rtld_global") as usize;
    let list = db_field(c"_thread_db_rtld_global__dl_tls_dtv_slotinfo_list")?[2] as usize;
    let len = db_field(c"_thread_db_dtv_slotinfo_list_len")?[2] as usize;
    let slots = db_field(c"_thread_db_dtv_slotinfo_list_slotinfo")?[2] as usize;
    let map = db_field(c"_thread_db_dtv_slotinfo_map")?[2] as usize;
    let size_p = sym(c"_thread_db_sizeof_dtv_slotinfo") as *const u32;
    if rtld == 0 || size_p.is_null() {
        return None;
    }
    // SAFETY: `_rtld_global` is ld.so's global state; the offsets come from glibc itself; the list
    // head and its first node live as long as the process.
    unsafe {
        let size = size_p.read() as usize;
        let node = ((rtld + list) as *const usize).read();
        if node == 0 || ((node + len) as *const usize).read() <= modid {
            return None;
        }
        Some((node + slots + modid * size + map) as *const usize)
    }
}

fn glibc() -> io::Result<&'static Glibc> {
    static G: OnceLock<Result<Glibc, (io::ErrorKind, String)>> = OnceLock::new();
    match G.get_or_init(|| load().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(g) => Ok(g),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

impl Glibc {
    /// Whether a module with TLS was loaded since start (and is still loaded): then the fast
    /// re-initialisation, which knows only the modules of the start, must not be used.
    fn modules_added(&self) -> bool {
        match self.added_module_slot {
            // SAFETY: the slot lies in glibc's slotinfo list node, which is never freed; glibc
            // writes it under its load lock, and a stale read only sends us down the slow path
            // (or keeps us on the fast one for a module whose `dlopen` has not returned yet, which
            // no code can use yet).
            Some(p) => unsafe { p.read_volatile() != 0 },
            None => true,
        }
    }
}

/// How the context switch writes the thread pointer (FS base on x86-64).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FsSwitch {
    /// The `wrfsbase` instruction (FSGSBASE, Linux 5.9+): a few cycles.
    Wrfsbase,
    /// The `arch_prctl(ARCH_SET_FS)` system call.
    ArchPrctl,
}

#[cfg(target_arch = "x86_64")]
static FS_SWITCH: AtomicU8 = AtomicU8::new(0);
#[cfg(target_arch = "x86_64")]
const HWCAP2_FSGSBASE: libc::c_ulong = 1 << 1;

/// The FS-base write the switch uses (decided once per process, from `AT_HWCAP2` and
/// `SMARM_TLS_SWITCH`).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn fs_switch() -> FsSwitch {
    match FS_SWITCH.load(Relaxed) {
        1 => FsSwitch::Wrfsbase,
        2 => FsSwitch::ArchPrctl,
        _ => decide_fs_switch(),
    }
}

#[cfg(target_arch = "x86_64")]
#[cold]
fn decide_fs_switch() -> FsSwitch {
    // SAFETY: getauxval has no preconditions.
    let hw = unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_FSGSBASE != 0;
    let want = std::env::var("SMARM_TLS_SWITCH").unwrap_or_default();
    let mode = match want.as_str() {
        "arch_prctl" => FsSwitch::ArchPrctl,
        "wrfsbase" if !hw => {
            eprintln!(
                "smarm: SMARM_TLS_SWITCH=wrfsbase but the CPU or kernel does not enable FSGSBASE; \
                 using arch_prctl"
            );
            FsSwitch::ArchPrctl
        }
        "" | "wrfsbase" | "auto" => {
            if hw {
                FsSwitch::Wrfsbase
            } else {
                FsSwitch::ArchPrctl
            }
        }
        other => {
            eprintln!(
                "smarm: SMARM_TLS_SWITCH={other:?} is not one of auto, wrfsbase, arch_prctl; \
                 using auto"
            );
            if hw {
                FsSwitch::Wrfsbase
            } else {
                FsSwitch::ArchPrctl
            }
        }
    };
    let code = if mode == FsSwitch::Wrfsbase { 1 } else { 2 };
    match FS_SWITCH.compare_exchange(0, code, Relaxed, Relaxed) {
        Ok(_) => mode,
        Err(1) => FsSwitch::Wrfsbase,
        Err(_) => FsSwitch::ArchPrctl,
    }
}

/// How the context switch writes the thread pointer: on aarch64 always `msr tpidr_el0`, an
/// ordinary register write at EL0 (`SMARM_TLS_SWITCH` is an x86-64 setting and is ignored).
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FsSwitch {
    /// `msr tpidr_el0`.
    Tpidr,
}

/// The thread-pointer write the switch uses.
#[cfg(target_arch = "aarch64")]
#[inline]
pub(crate) fn fs_switch() -> FsSwitch {
    FsSwitch::Tpidr
}

/// What a green thread's descriptor borrows from the carrier it runs on.
pub(crate) struct Carrier {
    /// The carrier's own thread pointer (restored on every switch back to its scheduler).
    pub(crate) tp: usize,
    /// The carrier's kernel thread id (a new one in a child of `fork`: [`fork_resume_green`]).
    tid: std::cell::Cell<i32>,
    /// Offset of the descriptor's `tid` from `tp` (0: unknown, not written).
    tid_at: isize,
}

impl Carrier {
    /// The calling OS thread.
    pub(crate) fn current() -> Carrier {
        let tp = current_tp();
        Carrier {
            tp,
            // SAFETY: gettid has no preconditions.
            tid: std::cell::Cell::new(unsafe { libc::gettid() }),
            tid_at: glibc().map_or(0, |g| g.tid_off as isize - g.pre as isize),
        }
    }
}

/// `fork` called from a green thread, before the fork (the last `pthread_atfork` prepare handler
/// to touch thread-locals): FS goes back to the carrier's thread pointer until
/// [`fork_resume_green`]. glibc's fork takes the thread FS names for the thread being copied; in
/// the child it puts every *other* thread's stack in its cache for reuse, so with a green
/// thread's descriptor at FS the carrier's own stack — on which this green thread's scheduler
/// loop runs — would be handed to the child's next `pthread_create` while still in use.
///
/// # Safety
/// Called on a green thread running on `carrier`; no thread-local may be touched until
/// [`fork_resume_green`] (they would be the carrier's).
pub(crate) unsafe fn fork_enter_carrier(carrier: &Carrier) {
    set_fs(carrier.tp);
}

/// After the fork (the first parent or child handler), on the carrier's thread pointer: back to
/// the green thread's `tp`, with the carrier's thread id refreshed in the child.
///
/// # Safety
/// `tp` is the thread pointer [`fork_enter_carrier`]'s caller ran with, on this carrier.
pub(crate) unsafe fn fork_resume_green(tp: usize, carrier: &Carrier, child: bool) {
    if child {
        // SAFETY: gettid has no preconditions.
        carrier.tid.set(unsafe { libc::gettid() });
    }
    // SAFETY: the green thread is this one, not running anywhere else; its descriptor is ours.
    unsafe { Block::enter(tp, carrier) };
    set_fs(tp);
}

/// One green thread's TLS area: static TLS blocks and descriptor. Owned by the pool while no green
/// thread uses it, by exactly one green thread's task while one does.
pub(crate) struct Block {
    tp: NonNull<u8>,
    /// Set while the area's memory is given back (an idle block in the process-wide pool).
    cold: Option<Cold>,
    /// The shed epoch when the block entered the process-wide pool (see [`shed_idle`]).
    pooled: u64,
    /// Never run on: libc's block still needs its per-thread locale pointers (`__ctype_init`).
    pub(crate) fresh: bool,
}

/// What survives of a cold block: libc's TLS block and the DTV pointer.
struct Cold {
    libc: Box<[u8]>,
    dtv: usize,
}

/// Copies the calling thread's descriptor to `tp`'s (the creator's values: stack guard, pointer
/// guard, `multiple_threads`, ...; `fix_descriptor` then makes it the green thread's own).
///
/// # Safety
/// `[tp - pre, tp - pre + tcb_size)` is ours to write.
unsafe fn copy_descriptor(g: &Glibc, tp: usize) {
    // SAFETY: `[src, src + tcb_size)` is the calling thread's descriptor (glibc allocates
    // exactly `tcb_size` bytes for it); the destination is the caller's.
    unsafe {
        ptr::copy_nonoverlapping(
            (current_tp() - g.pre) as *const u8,
            (tp - g.pre) as *mut u8,
            g.tcb_size,
        )
    };
}

/// Makes a copied descriptor the green thread's own (see the module docs); the DTV pointer is
/// left as it is.
///
/// # Safety
/// The descriptor at `tp` is ours to write.
unsafe fn fix_descriptor(g: &Glibc, tp: usize) {
    // SAFETY: every write is inside the descriptor (offsets checked by `load`).
    unsafe {
        let pd = tp - g.pre;
        let w = |off: usize, v: usize| ((pd + off) as *mut usize).write(v);
        if !arch::DESCRIPTOR_BELOW_TP {
            // Variant II: the descriptor starts with `tcbhead_t`.
            w(0, tp); // tcbhead_t.tcb: the self pointer TLS accesses add offsets to
            w(16, tp); // tcbhead_t.self: THREAD_SELF, pthread_self()
        }
        // pthread keys: an empty first block, the second-level pointers null, not used.
        let first = g.specific.0 - 32 * 16;
        ptr::write_bytes((pd + first) as *mut u8, 0, 32 * 16 + g.specific.1 + 1);
        w(g.specific.0, pd + first);
        if let Some(off) = g.robust_head {
            w(off, pd + off); // robust_head.list: empty, pointing at itself
            w(off - 8, pd + off); // robust_prev
        }
        if let Some(off) = g.cleanup {
            w(off, 0); // cleanup
            w(off + 8, 0); // cleanup_jmp_buf
        }
        if let Some(off) = g.rseq_cpu_id {
            (at(tp, off) as *mut i32).write(-1); // RSEQ_CPU_ID_UNINITIALIZED
        }
    }
}

// SAFETY: a Block is owned memory; whoever owns it is the only one touching it (see above).
unsafe impl Send for Block {}

/// Slabs of areas: mapped a few at a time, never unmapped (see the module docs).
static SLAB: Mutex<(usize, usize)> = Mutex::new((0, 0));
static AREAS: AtomicU64 = AtomicU64::new(0);

/// TLS areas made so far (they are never freed).
pub(crate) fn areas_made() -> u64 {
    AREAS.load(Relaxed)
}
/// Areas mapped per `mmap`: 64, so a burst of spawns makes one mapping (and one entry against
/// `vm.max_map_count`, which stacks already use two of per thread) per 64 new areas, while a small
/// program maps only one slab (an area is the static TLS size plus glibc's descriptor, a few KiB).
const AREAS_PER_SLAB: usize = 64;

fn carve(g: &Glibc) -> io::Result<usize> {
    let mut s = SLAB.lock();
    if s.0 + g.stride > s.1 {
        let len = g.stride * AREAS_PER_SLAB;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing aliases
        // nothing; we check the result.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("smarm: cannot map green-thread TLS areas: {e}"),
            ));
        }
        // Page aligned, and `stride` is a multiple of the TLS alignment: every area is aligned.
        *s = (p as usize, p as usize + len);
    }
    let at = s.0;
    s.0 += g.stride;
    AREAS.fetch_add(1, Relaxed);
    Ok(at)
}

impl Block {
    /// A new area, initialised from the program's TLS images, its descriptor copied from the
    /// calling thread's.
    pub(crate) fn new() -> io::Result<Block> {
        let g = glibc()?;
        let area = carve(g)?;
        let tp = area + g.tp_off;
        debug_assert_eq!(tp % g.align, 0);
        // SAFETY: `tp` heads a descriptor-sized region inside our fresh area.
        unsafe { copy_descriptor(g, tp) };
        // SAFETY: `tp` heads a descriptor-sized region followed by nothing and preceded by
        // `below_tp` bytes of ours: the layout `_dl_allocate_tls` expects for caller-placed TLS.
        // It allocates the DTV, stores it at `tp + 8`, and copies every module's image below `tp`.
        let r = unsafe { (g.allocate_tls)(tp as *mut c_void) };
        if r.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "smarm: cannot allocate a green thread's TLS (DTV allocation failed)",
            ));
        }
        // SAFETY: the descriptor and libc's block are ours.
        unsafe {
            fix_descriptor(g, tp);
            if let Some(off) = g.resp_at {
                let res = libc::calloc(1, RES_STATE_SIZE);
                if res.is_null() {
                    return Err(io::ErrorKind::OutOfMemory.into());
                }
                (at(tp, off) as *mut *mut c_void).write(res);
            }
        }
        Ok(Block {
            // SAFETY: inside a successful mapping, so not null.
            tp: unsafe { NonNull::new_unchecked(tp as *mut u8) },
            fresh: true,
            cold: None,
            pooled: 0,
        })
    }

    /// Gives an idle area's memory back to the kernel, keeping what must survive: libc's TLS
    /// block (malloc's emptied cache, the resolver state pointer, locale pointers) is saved aside;
    /// the DTV lives outside the area. [`Block::warm`] rebuilds the rest.
    ///
    /// # Safety
    /// No thread runs on this block; it was [`reset`](Block::reset).
    unsafe fn make_cold(&mut self, g: &Glibc) {
        let tp = self.tp();
        let saved = g.libc_block.map(|(off, len)| {
            // SAFETY: libc's block lies inside our area.
            unsafe { std::slice::from_raw_parts(at(tp, off) as *const u8, len) }.into()
        });
        // SAFETY (the madvise below): the area `[tp - tp_off, + stride)` is ours, page aligned,
        // and unused; after MADV_DONTNEED it reads as zeros.
        // SAFETY: `tp + DTV_AT` is the TCB's DTV pointer, read before the area is dropped.
        let dtv = unsafe { ((tp + arch::DTV_AT) as *const usize).read() };
        COLD.fetch_add(1, Relaxed);
        self.cold = Some(Cold {
            libc: saved.unwrap_or_default(),
            dtv,
        });
        // SAFETY: as above.
        unsafe {
            libc::madvise(
                (tp - g.tp_off) as *mut c_void,
                g.stride,
                libc::MADV_DONTNEED,
            )
        };
    }

    /// Makes a cold block usable again: the descriptor copied and fixed as in [`Block::new`] (the
    /// DTV pointer kept), every module's image copied in, libc's block restored.
    ///
    /// # Safety
    /// No thread runs on this block.
    unsafe fn warm(&mut self, g: &Glibc) {
        let Some(cold) = self.cold.take() else { return };
        COLD.fetch_sub(1, Relaxed);
        let saved = cold.libc;
        let tp = self.tp();
        // SAFETY: the area is ours; the DTV pointer (`tp + DTV_AT`) and libc's block are put back as
        // they were before `make_cold`, the rest is rebuilt as `new` built it.
        unsafe {
            copy_descriptor(g, tp);
            ((tp + arch::DTV_AT) as *mut usize).write(cold.dtv);
            fix_descriptor(g, tp);
            for m in &g.modules {
                // The bss part reads as zeros after MADV_DONTNEED.
                ptr::copy_nonoverlapping(m.image, at(tp, m.at) as *mut u8, m.filesz);
            }
            if let Some((off, len)) = g.libc_block
                && saved.len() == len
            {
                ptr::copy_nonoverlapping(saved.as_ptr(), at(tp, off) as *mut u8, len);
            }
            // Modules `dlopen`ed since start had their blocks in the area, zeroed with it: let
            // glibc initialise every module (`reset`'s slow path keeps libc's block).
            if g.modules_added() {
                self.reset();
            }
        }
    }

    /// The thread pointer to load when switching to the green thread that owns this block.
    pub(crate) fn tp(&self) -> usize {
        self.tp.as_ptr() as usize
    }

    /// Re-initialises a block a finished green thread used: every module's TLS from its image,
    /// except libc's block, which is kept (see the module docs).
    ///
    /// Fast path (no module with TLS loaded since start, no dynamically allocated TLS in the DTV):
    /// copy the start's static modules' images ourselves (about 15 ns against glibc's 160).
    /// Otherwise what glibc does for a cached pthread stack: free the dynamically allocated blocks, clear the DTV, and
    /// let `_dl_allocate_tls_init` set up every module, the ones loaded since included.
    ///
    /// # Safety
    /// No green thread runs on this block (it finished, and ran its TLS destructors).
    pub(crate) unsafe fn reset(&mut self) {
        let Ok(g) = glibc() else { return };
        let tp = self.tp();
        // SAFETY: the block is ours alone (caller's promise). The DTV at `tp + DTV_AT` was installed by
        // `_dl_allocate_tls` (`dtv[-1].counter` holds its length); entries' `to_free` are glibc
        // malloc allocations or null. Every module block lies inside our area's static part.
        unsafe {
            let dtv = ((tp + arch::DTV_AT) as *const *mut DtvEntry).read();
            let len = dtv.sub(1).read().val;
            let dynamic = (1..=len).any(|i| !dtv.add(i).read().to_free.is_null());
            if !dynamic && !g.modules_added() {
                for m in &g.modules {
                    let block = at(tp, m.at) as *mut u8;
                    ptr::copy_nonoverlapping(m.image, block, m.filesz);
                    ptr::write_bytes(block.add(m.filesz), 0, m.memsz - m.filesz);
                }
                return;
            }
            for i in 1..=len {
                libc::free(dtv.add(i).read().to_free);
            }
            ptr::write_bytes(dtv, 0, len + 1);
            let mut saved = [0u8; 1024];
            let libc_block = g.libc_block.filter(|&(_, len)| len <= saved.len());
            if let Some((off, len)) = libc_block {
                ptr::copy_nonoverlapping(at(tp, off) as *const u8, saved.as_mut_ptr(), len);
            }
            (g.allocate_tls_init)(tp as *mut c_void, true);
            if let Some((off, len)) = libc_block {
                ptr::copy_nonoverlapping(saved.as_ptr(), at(tp, off) as *mut u8, len);
            }
        }
    }

    /// Before a switch into the green thread owning this block on `carrier`: the descriptor's `tid`
    /// names the carrier's kernel thread (see the module docs).
    ///
    /// # Safety
    /// The green thread owning the block is not running (we are about to switch to it).
    #[inline]
    pub(crate) unsafe fn enter(tp: usize, carrier: &Carrier) {
        if carrier.tid_at != 0 {
            // SAFETY: `tp + tid_at` is a field of the descriptor we own while the green thread is
            // switched out.
            unsafe { (at(tp, carrier.tid_at) as *mut i32).write(carrier.tid.get()) };
        }
    }
}

/// What an OS thread's exit does for its thread-locals, for the calling green thread at its end:
/// std's (and C++'s) destructors registered with `__cxa_thread_atexit_impl`, then pthread keys'
/// destructors, in glibc's order; then the locale and errno go back to a new thread's.
pub(crate) fn exit_thread() {
    let Ok(g) = glibc() else { return };
    // SAFETY: runs and clears this thread's (the green thread's) destructor list.
    unsafe { (g.call_tls_dtors)() };
    run_key_destructors(g);
    // The global locale again, as a new thread has (a locale this one installed may be freed once
    // it ends); checked first, since `uselocale` is a call into libc.
    let tp = current_tp();
    let global = match g.locale {
        // SAFETY: this thread's own locale pointer.
        Some((off, value)) => (unsafe { (at(tp, off) as *const usize).read() }) == value,
        None => false,
    };
    if !global {
        // SAFETY: LC_GLOBAL_LOCALE makes this thread use the global locale.
        unsafe { libc::uselocale(-1isize as libc::locale_t) };
    }
    set_errno(0);
}

/// Offset from the thread pointer of libc's `errno` (the same in every thread: it is in libc's
/// static TLS block). Every park saves and restores errno: the fast path is inlined.
#[inline(always)]
fn errno_at() -> isize {
    match ERRNO_AT.load(Relaxed) {
        0 => find_errno_at(),
        off => off as isize,
    }
}

static ERRNO_AT: AtomicU64 = AtomicU64::new(0);

#[cold]
fn find_errno_at() -> isize {
    // SAFETY: no preconditions.
    let off = (unsafe { libc::__errno_location() } as usize).wrapping_sub(current_tp());
    ERRNO_AT.store(off as u64, Relaxed);
    off as isize
}

/// The calling thread's errno, without a call into libc.
#[inline]
pub(crate) fn errno() -> i32 {
    // SAFETY: errno lives at `errno_at` from every thread's pointer (libc's static block).
    unsafe { (at(current_tp(), errno_at()) as *const i32).read() }
}

/// Sets the calling thread's errno.
#[inline]
pub(crate) fn set_errno(v: i32) {
    // SAFETY: as in `errno`.
    unsafe { (at(current_tp(), errno_at()) as *mut i32).write(v) }
}

/// glibc's `__nptl_deallocate_tsd` for the calling green thread's own descriptor: up to
/// `PTHREAD_DESTRUCTOR_ITERATIONS` (4) rounds of calling each set key's destructor, then the
/// second-level blocks are freed and the first one cleared.
fn run_key_destructors(g: &Glibc) {
    const ROUNDS: usize = 4;
    let pd = current_tp() - g.pre;
    let (spec, spec_len) = g.specific;
    let used = (pd + spec + spec_len) as *mut bool;
    let first = (pd + spec - 32 * 16) as *mut [usize; 2];
    // SAFETY: all addresses are fields of the calling thread's own descriptor; `__pthread_keys`
    // has 1024 entries; level-2 blocks (32 entries each) were calloc'd by pthread_setspecific.
    unsafe {
        if !used.read() {
            return;
        }
        if let Some(keys) = g.pthread_keys {
            for _ in 0..ROUNDS {
                used.write(false);
                for l1 in 0..spec_len / 8 {
                    let level2 = ((pd + spec + l1 * 8) as *const *mut [usize; 2]).read();
                    if level2.is_null() {
                        continue;
                    }
                    for l2 in 0..32 {
                        let slot = level2.add(l2);
                        let [seq, data] = slot.read();
                        if data == 0 {
                            continue;
                        }
                        (*slot)[1] = 0;
                        let [kseq, destr] = keys.add(l1 * 32 + l2).read();
                        if seq == kseq && destr != 0 {
                            let f: unsafe extern "C" fn(*mut c_void) = std::mem::transmute(destr);
                            f(data as *mut c_void);
                        }
                    }
                }
                if !used.read() {
                    break;
                }
            }
        }
        ptr::write_bytes(first as *mut u8, 0, 32 * 16);
        for l1 in 1..spec_len / 8 {
            let p = (pd + spec + l1 * 8) as *mut *mut c_void;
            libc::free(p.read());
            p.write(ptr::null_mut());
        }
        used.write(false);
    }
}

/// Sets libc's per-thread locale pointers for the calling green thread, the first to run on its
/// area (libc's block is kept when an area is reused, so this is needed once per area).
pub(crate) fn init_thread() {
    if let Ok(Glibc {
        ctype_init: Some(f),
        ..
    }) = glibc()
    {
        // SAFETY: `__ctype_init` fills this thread's ctype table pointers from its locale.
        unsafe { f() };
    }
}

/// Empties the malloc thread cache of an area no green thread runs on: its cached chunks are
/// freed from the calling thread (they go to its cache or their arena), so memory a green thread
/// freed does not stay pinned to an idle area. The cache structure itself (640 bytes) stays for
/// the area's next user.
///
/// # Safety
/// No thread runs on `tp`'s area, and the caller runs on its own thread pointer.
unsafe fn flush_malloc_cache(g: &Glibc, tp: usize) {
    const BINS: usize = 64;
    let Some((off, safe)) = g.tcache else {
        return;
    };
    // SAFETY: `tp - below` is the area's `tcache` variable; the structure it points to has the
    // layout `find_tcache` verified; each listed entry is a free chunk owned by this cache, whose
    // first word is its (possibly safe-linked) next pointer and second word its double-free key.
    unsafe {
        let t = (at(tp, off) as *const *mut u8).read();
        if t.is_null() {
            return;
        }
        let counts = t as *mut u16;
        let entries = t.add(BINS * 2) as *mut *mut u8;
        for i in 0..BINS {
            let mut e = entries.add(i).read();
            let mut left = counts.add(i).read();
            while !e.is_null() && left > 0 {
                let raw = (e as *const usize).read();
                let next = if safe { (e as usize >> 12) ^ raw } else { raw };
                (e.add(8) as *mut usize).write(0);
                libc::free(e as *mut c_void);
                e = next as *mut u8;
                left -= 1;
            }
            entries.add(i).write(ptr::null_mut());
            counts.add(i).write(0);
        }
    }
}

/// `sizeof(struct __res_state)` on x86-64 glibc.
const RES_STATE_SIZE: usize = 568;

/// Writes the thread pointer (in a signal handler: async-signal-safe).
fn set_fs(tp: usize) {
    match fs_switch() {
        // SAFETY: `tp` is a live thread pointer (the caller's or its carrier's).
        #[cfg(target_arch = "aarch64")]
        FsSwitch::Tpidr => unsafe {
            core::arch::asm!("msr tpidr_el0, {}", in(reg) tp, options(nostack, preserves_flags))
        },
        // SAFETY: `tp` is a live thread pointer (the caller's or its carrier's).
        #[cfg(target_arch = "x86_64")]
        FsSwitch::Wrfsbase => unsafe {
            core::arch::asm!("wrfsbase {}", in(reg) tp, options(nostack, preserves_flags))
        },
        // SAFETY: as above; arch_prctl(ARCH_SET_FS) only sets the calling thread's FS base.
        #[cfg(target_arch = "x86_64")]
        FsSwitch::ArchPrctl => unsafe {
            libc::syscall(libc::SYS_arch_prctl, 0x1002, tp);
        },
    }
}

/// The kernel's `struct sigaction` (what `rt_sigaction` takes).
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// glibc's internal signal for `setuid`/`setgid` in a multi-threaded process.
const SIGSETXID: i32 = 33;
static mut SETXID_PREV: KernelSigaction = KernelSigaction {
    handler: 0,
    flags: 0,
    restorer: 0,
    mask: 0,
};
static mut CARRIER_TP: fn() -> usize = || 0;

/// Wraps glibc's SIGSETXID handler so that it runs on the carrier's descriptor (the one glibc
/// marked and waits on) when the signal interrupts a green thread. `carrier_tp` returns the
/// thread pointer of the carrier running the calling green thread, or 0 off green threads; it must
/// be async-signal-safe. Call once, after the process's first `pthread_create` (which installs
/// glibc's handler). glibc's `sigaction` refuses its internal signals, hence `rt_sigaction`.
pub(crate) fn install_signal_shims(carrier_tp: fn() -> usize) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut old = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: reads the current action into `old`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                SIGSETXID,
                ptr::null::<u8>(),
                &mut old,
                8,
            )
        };
        if r != 0 || old.handler <= 1 || old.flags & libc::SA_SIGINFO as u64 == 0 {
            return; // glibc has not installed it (no thread created yet): nothing to wrap
        }
        // SAFETY: written once, here, before the shim that reads them is installed.
        unsafe {
            SETXID_PREV = old;
            CARRIER_TP = carrier_tp;
        }
        let new = KernelSigaction {
            handler: setxid_shim as *const () as usize,
            ..old
        };
        // SAFETY: installs our handler with glibc's flags, mask and restorer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                SIGSETXID,
                &new,
                ptr::null_mut::<u8>(),
                8,
            )
        };
    });
}

extern "C" fn setxid_shim(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: written before this handler was installed, never after.
    let (prev, carrier) = unsafe { (SETXID_PREV.handler, CARRIER_TP()) };
    let here = current_tp();
    let switch = carrier != 0 && carrier != here;
    if switch {
        set_fs(carrier);
    }
    // SAFETY: glibc installed `prev` with SA_SIGINFO, so this is its signature.
    unsafe {
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = std::mem::transmute(prev);
        f(sig, info, ctx);
    }
    if switch {
        set_fs(here); // the kernel does not restore FS base on sigreturn
    }
}

/// Free areas: a process-wide list, with a cache per worker in front of it. Blocks that idle in
/// the list through a whole shed interval, beyond the newest [`WARM_POOL`], are made cold (their
/// memory given back) by [`shed_idle`], which the monitor calls about once a second; so after a
/// burst of green threads the pool holds about 1.6 KB per block of its peak (libc's block saved
/// aside, the DTV, the emptied malloc cache, the resolver state) instead of the whole area, and
/// steady spawning never pays for it.
static POOL: Mutex<Vec<Block>> = Mutex::new(Vec::new());
/// Blocks of the process-wide list kept warm (the rest are cold).
const WARM_POOL: usize = 256;

/// A block from a pool, usable (warmed up if it was cold).
fn warmed(mut b: Block) -> Block {
    if b.cold.is_some()
        && let Ok(g) = glibc()
    {
        // SAFETY: a pooled block has no thread on it.
        unsafe { b.warm(g) };
    }
    b
}
/// Areas a worker keeps before half of them go to the process-wide list.
pub(crate) const LOCAL_POOL: usize = 64;

/// Holds the slab's and the pool's locks across a `fork` (see `sched::before_fork`); the pool's
/// is never taken while the slab's is held, nor the other way round.
pub(crate) fn hold_for_fork() -> Vec<Box<dyn std::any::Any>> {
    vec![Box::new(SLAB.lock()), Box::new(POOL.lock())]
}

/// A block for a new green thread: from `local` (a worker's cache), the shared pool, or new.
pub(crate) fn take(local: Option<&mut Vec<Block>>) -> io::Result<Block> {
    if let Some(local) = local {
        if let Some(b) = local.pop() {
            return Ok(warmed(b));
        }
        let mut pool = POOL.lock();
        let n = pool.len().min(LOCAL_POOL / 2);
        let at = pool.len() - n;
        local.extend(pool.drain(at..));
        drop(pool);
        if let Some(b) = local.pop() {
            return Ok(warmed(b));
        }
    } else {
        let pooled = POOL.lock().pop();
        if let Some(b) = pooled {
            return Ok(warmed(b)); // outside the pool's lock
        }
    }
    Block::new()
}

/// Returns a finished green thread's block, re-initialised for its next user.
///
/// # Safety
/// As [`Block::reset`].
pub(crate) unsafe fn give(local: &mut Vec<Block>, mut block: Block) {
    // SAFETY: forwarded.
    unsafe { block.reset() };
    local.push(block);
    if local.len() > LOCAL_POOL {
        let spill = local.len() / 2;
        let at = local.len() - spill;
        spill_to_pool(local.drain(at..));
    }
}

/// Hands a worker's cached blocks back to the process-wide list (the worker is stopping).
pub(crate) fn return_local(local: &mut Vec<Block>) {
    spill_to_pool(local.drain(..));
}

/// Moves blocks to the process-wide list, their malloc caches emptied first: a worker's own cache
/// of blocks stays warm, the rest of the peak does not pin freed memory.
fn spill_to_pool(blocks: impl Iterator<Item = Block>) {
    let blocks: Vec<Block> = blocks.collect();
    if blocks.is_empty() {
        return;
    }
    if let Ok(g) = glibc() {
        for b in &blocks {
            // SAFETY: pooled blocks have no thread on them; we run on our own thread pointer
            // (a worker's scheduler code, or a thread outside the runtime).
            unsafe { flush_malloc_cache(g, b.tp()) };
        }
    }
    let epoch = SHED_EPOCH.load(Relaxed);
    let mut pool = POOL.lock();
    pool.extend(blocks.into_iter().map(|mut b| {
        b.pooled = epoch;
        b
    }));
}

static SHED_EPOCH: AtomicU64 = AtomicU64::new(0);
static COLD: AtomicU64 = AtomicU64::new(0);

/// Areas whose memory is given back now (idle in the pool).
pub(crate) fn areas_cold() -> u64 {
    COLD.load(Relaxed)
}
/// Blocks made cold per [`shed_idle`] call at most (each costs an `madvise`, under the pool's
/// lock): about 4 ms.
const SHED_MAX: usize = 4096;

/// Gives back the memory of blocks that have idled in the process-wide pool since the previous
/// call, keeping the newest [`WARM_POOL`] warm. Called periodically by the monitor.
pub(crate) fn shed_idle() {
    let Ok(g) = glibc() else { return };
    let epoch = SHED_EPOCH.fetch_add(1, Relaxed);
    let mut pool = POOL.lock();
    let keep_from = pool.len().saturating_sub(WARM_POOL);
    let mut shed = 0;
    for b in pool[..keep_from].iter_mut() {
        if shed == SHED_MAX {
            break;
        }
        if b.cold.is_none() && b.pooled < epoch {
            // SAFETY: pooled, reset blocks with no thread on them.
            unsafe { b.make_cold(g) };
            shed += 1;
        }
    }
    drop(pool);
    if shed >= TRIM_AFTER {
        // The areas' malloc caches were emptied into glibc's arenas when they left their workers,
        // but glibc keeps freed heap pages mapped; after a burst has gone idle, give them back.
        // SAFETY: malloc_trim has no preconditions.
        unsafe { libc::malloc_trim(0) };
    }
}

/// Areas made cold in one [`shed_idle`] call after which the heap is trimmed too.
const TRIM_AFTER: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "timing probe: cargo test --release --lib tls::tests::reset_cost -- --ignored --nocapture"]
    fn reset_cost() {
        let mut b = Block::new().unwrap();
        let n = 200_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            // SAFETY: nothing runs on `b`.
            unsafe { b.reset() };
        }
        eprintln!("reset: {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
    }
}

#[cfg(test)]
mod malloc_cache_tests {
    use super::*;

    /// The thread-cache fingerprint holds on the glibc we run on (else idle areas would pin the
    /// memory their last users freed), and flushing empties a cache.
    #[test]
    fn the_malloc_cache_is_found_and_flushed() {
        let g = glibc().unwrap();
        let (off, _) = g
            .tcache
            .expect("malloc's thread cache not found in libc's TLS block");
        let tp = current_tp();
        // SAFETY: our own thread's `tcache` variable.
        let t = unsafe { (at(tp, off) as *const *const u16).read() };
        assert!(!t.is_null());
        // SAFETY: plain malloc/free; `t` is this thread's cache, laid out as `find_tcache`
        // verified (bin 11 holds 208-byte chunks: the head is the chunk freed last).
        unsafe {
            // A bin holds at most 7 chunks, and this thread may have filled it already (a free
            // into a full bin bypasses the cache): empty it first by taking 8 chunks.
            let mut ps = [ptr::null_mut::<c_void>(); 8];
            // `black_box` and a volatile read: the compiler knows malloc and free, and may drop an
            // unused pair or read the bin before the free.
            for q in &mut ps {
                *q = std::hint::black_box(libc::malloc(200));
            }
            let p = ps[7];
            libc::free(std::hint::black_box(p));
            let head = (t as *const u8).add(128 + 11 * 8) as *const *mut c_void;
            assert_eq!(head.read_volatile(), p, "a freed chunk heads its cache bin");
            for q in &ps[..7] {
                libc::free(std::hint::black_box(*q));
            }
            let b = Block::new().unwrap();
            // A fresh area has no cache yet: flushing it is a no-op.
            flush_malloc_cache(g, b.tp());
            let p = libc::malloc(200);
            assert!(!p.is_null());
            libc::free(p);
        }
    }
}
