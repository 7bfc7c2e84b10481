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
//! copy every module's TLS image into the static blocks. Then it fixes what must not be shared:
//! - `tcb` (`%fs:0`, the self pointer every TLS access adds its offset to) is the area's own `tp`;
//! - `dtv` (`%fs:8`) is the area's own (lazily allocated blocks of `dlopen`ed modules go there);
//! - the second-level pthread-key pointers are cleared (they would alias the creator's blocks);
//! - the robust-mutex list head points at itself (empty);
//! - the rseq area's `cpu_id` is -1, so `sched_getcpu` asks the kernel instead of reading a stale
//!   copy (the kernel updates only the carrier's registered area).
//!
//! ## What stays per carrier, and why
//! `header.self` (`%fs:16`, what `pthread_self()` and glibc's `THREAD_SELF` return) and `tid` are
//! set to the *carrier's* on every switch in ([`Block::enter`]). So `pthread_self`, the first 32
//! pthread keys (C libraries' per-thread data), cancellation state and C stdio's lock owner are the
//! OS thread's, as the kernel sees it: C code that keys per-thread resources on them gets one per
//! carrier (a handful) instead of one per green thread that nothing would ever destroy.
//!
//! ## glibc's own TLS: malloc, errno, the destructor list
//! libc's TLS block (errno, the malloc thread cache and arena, locale pointers, the list that
//! `__cxa_thread_atexit_impl` fills with std's thread-local destructors) is per green thread. The
//! destructor list runs when the green thread ends ([`run_destructors`], `__call_tls_dtors`), in
//! std's order and with std's rules, since std registered them. malloc's per-thread cache cannot be
//! shut down from outside (glibc 2.36 exports no `__libc_thread_freeres`), so it must not be lost:
//! an area is never unmapped, and when it is reused its libc block is *kept* while every other
//! module's block is re-initialised from its image. A green thread thus inherits the malloc cache
//! (and errno, and a `uselocale` setting) of the previous user of its area, like a pooled pthread
//! stack keeps its descriptor. Areas are pooled (see `Pool`), so their number is the peak number of
//! live green threads, as Go never frees a goroutine descriptor.
//!
//! ## Switching
//! The context switch writes FS base with `wrfsbase` when the kernel enabled FSGSBASE
//! (`AT_HWCAP2`), else with `arch_prctl(ARCH_SET_FS)` (a syscall per switch);
//! `SMARM_TLS_SWITCH=arch_prctl` forces the fallback (for tests), `wrfsbase` insists on the fast
//! path.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

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
    /// Bytes from the area start to `tp`.
    below_tp: usize,
    /// `sizeof(struct pthread)`.
    tcb_size: usize,
    /// Area size rounded to the TLS alignment.
    stride: usize,
    align: usize,
    /// Offset of `tid` in `struct pthread`.
    tid_off: usize,
    /// Offset and length of the `specific` (second-level pthread key) array.
    specific: (usize, usize),
    /// Offset of `robust_head` when the layout check confirmed it.
    robust_head: Option<usize>,
    /// Offset of the rseq area's `cpu_id` from `tp`, when rseq is registered.
    rseq_cpu_id: Option<usize>,
    /// libc's own static TLS block: bytes below `tp` where it starts, and its length.
    libc_block: Option<(usize, usize)>,
}

// SAFETY: plain function pointers and numbers.
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

/// The calling thread's thread pointer (`%fs:0` holds the TCB's own address, by the ABI).
#[inline(always)]
pub(crate) fn current_tp() -> usize {
    let tp: usize;
    // SAFETY: on x86-64 Linux `%fs:0` is always mapped: the first word of the TCB is its address.
    unsafe {
        core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    tp
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

/// Finds libc's static TLS block on this thread: the module whose block holds `errno`.
fn find_libc_block() -> Option<(usize, usize)> {
    struct Search {
        errno: usize,
        tp: usize,
        found: Option<(usize, usize)>,
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
                if (start..start + len).contains(&s.errno) && start < s.tp {
                    s.found = Some((s.tp - start, len));
                    return 1;
                }
            }
        }
        0
    }
    let mut s = Search {
        // SAFETY: __errno_location has no preconditions.
        errno: unsafe { libc::__errno_location() } as usize,
        tp: current_tp(),
        found: None,
    };
    // SAFETY: the callback only reads the records and writes `s`.
    unsafe { dl_iterate_phdr(visit, &mut s as *mut Search as *mut c_void) };
    s.found
}

fn load() -> io::Result<Glibc> {
    let missing = |what: &str| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "smarm: green threads need glibc's TLS entry points ({what} not found); \
                 smarm supports x86-64 Linux with glibc 2.35 or later"
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
        // SAFETY: `void __ctype_init(void)`.
        (!p.is_null())
            .then(|| unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn()>(p) })
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
    if static_size <= tcb_size || tcb_size < 64 * 8 {
        return Err(missing("a sane static TLS size"));
    }
    let tid_off = tid[2] as usize;
    // `struct pthread` (2.34+): `pid_t tid; pid_t pid_unused; void *robust_prev;
    // struct robust_list_head robust_head; ...`. Trust that layout only if this thread's own
    // (empty) robust list points at that very spot, as glibc initialises it.
    let tp = current_tp();
    let robust_head = {
        let off = tid_off + 16;
        // SAFETY: `tp + off` lies inside this thread's descriptor (`off < tcb_size`).
        let list = unsafe { ((tp + off) as *const usize).read() };
        (off + 8 < tcb_size && list == tp + off).then_some(off)
    };
    let rseq_cpu_id = {
        let off = sym(c"__rseq_offset") as *const isize;
        let size = sym(c"__rseq_size") as *const u32;
        // SAFETY: `const ptrdiff_t __rseq_offset` and `const unsigned int __rseq_size` (2.35+).
        match unsafe { (off.as_ref(), size.as_ref()) } {
            (Some(&off), Some(&size)) if size >= 8 && off > 0 && (off as usize) + 8 <= tcb_size => {
                Some(off as usize + 4)
            }
            _ => None,
        }
    };
    let below_tp = static_size - tcb_size;
    Ok(Glibc {
        allocate_tls,
        allocate_tls_init,
        call_tls_dtors,
        ctype_init,
        below_tp,
        tcb_size,
        stride: static_size.div_ceil(align) * align,
        align,
        tid_off,
        specific: (
            specific[2] as usize,
            (specific[0] / 8) as usize * specific[1] as usize,
        ),
        robust_head,
        rseq_cpu_id,
        libc_block: find_libc_block(),
    })
}

fn glibc() -> io::Result<&'static Glibc> {
    static G: OnceLock<Result<Glibc, (io::ErrorKind, String)>> = OnceLock::new();
    match G.get_or_init(|| load().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(g) => Ok(g),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

/// How the context switch writes FS base.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FsSwitch {
    /// The `wrfsbase` instruction (FSGSBASE, Linux 5.9+): a few cycles.
    Wrfsbase,
    /// The `arch_prctl(ARCH_SET_FS)` system call.
    ArchPrctl,
}

static FS_SWITCH: AtomicU8 = AtomicU8::new(0);
const HWCAP2_FSGSBASE: libc::c_ulong = 1 << 1;

/// The FS-base write the switch uses (decided once per process, from `AT_HWCAP2` and
/// `SMARM_TLS_SWITCH`).
#[inline]
pub(crate) fn fs_switch() -> FsSwitch {
    match FS_SWITCH.load(Relaxed) {
        1 => FsSwitch::Wrfsbase,
        2 => FsSwitch::ArchPrctl,
        _ => decide_fs_switch(),
    }
}

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

/// What a green thread's descriptor borrows from the carrier it runs on.
#[derive(Clone, Copy)]
pub(crate) struct Carrier {
    /// The carrier's own thread pointer (restored on every switch back to its scheduler).
    pub(crate) tp: usize,
    /// Its `struct pthread *` (what `pthread_self()` returns there).
    self_ptr: usize,
    tid: i32,
    /// Offset of `tid` in a descriptor (0: unknown, not written).
    tid_off: usize,
}

impl Carrier {
    /// The calling OS thread.
    pub(crate) fn current() -> Carrier {
        let tp = current_tp();
        Carrier {
            tp,
            // SAFETY: `%fs:16` is `tcbhead_t.self` of this thread's descriptor.
            self_ptr: unsafe { ((tp + 16) as *const usize).read() },
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::gettid() },
            tid_off: glibc().map_or(0, |g| g.tid_off),
        }
    }
}

/// One green thread's TLS area: static TLS blocks and descriptor. Owned by the pool while no green
/// thread uses it, by exactly one green thread's task while one does.
pub(crate) struct Block {
    tp: NonNull<u8>,
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
const AREAS_PER_SLAB: usize = 64;

fn carve(g: &Glibc) -> io::Result<usize> {
    let mut s = SLAB.lock().unwrap_or_else(|e| e.into_inner());
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
        let tp = area + g.below_tp;
        debug_assert_eq!(tp % g.align, 0);
        let src = current_tp();
        // SAFETY: `[tp, tp + tcb_size)` is inside our fresh area; `[src, src + tcb_size)` is the
        // calling thread's descriptor (glibc allocates exactly `tcb_size` bytes for it).
        unsafe { ptr::copy_nonoverlapping(src as *const u8, tp as *mut u8, g.tcb_size) };
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
        // SAFETY: every write below is inside the descriptor we own.
        unsafe {
            let w = |off: usize, v: usize| ((tp + off) as *mut usize).write(v);
            w(0, tp); // tcbhead_t.tcb: the self pointer TLS accesses add offsets to
            w(16, tp); // tcbhead_t.self until the first switch in sets the carrier's
            ptr::write_bytes((tp + g.specific.0) as *mut u8, 0, g.specific.1);
            if let Some(off) = g.robust_head {
                w(off, tp + off); // robust_head.list: empty, pointing at itself
                w(off - 8, tp + off); // robust_prev
            }
            if let Some(off) = g.rseq_cpu_id {
                ((tp + off) as *mut i32).write(-1); // RSEQ_CPU_ID_UNINITIALIZED
            }
        }
        Ok(Block {
            // SAFETY: inside a successful mapping, so not null.
            tp: unsafe { NonNull::new_unchecked(tp as *mut u8) },
        })
    }

    /// The thread pointer to load when switching to the green thread that owns this block.
    pub(crate) fn tp(&self) -> usize {
        self.tp.as_ptr() as usize
    }

    /// Re-initialises a block a finished green thread used: every module's TLS from its image,
    /// except libc's block, which is kept (see the module docs); blocks that `__tls_get_addr`
    /// allocated for `dlopen`ed modules are freed, as glibc does for a cached pthread stack.
    ///
    /// # Safety
    /// No green thread runs on this block (it finished, and ran its TLS destructors).
    pub(crate) unsafe fn reset(&mut self) {
        let Ok(g) = glibc() else { return };
        let tp = self.tp();
        let mut saved = [0u8; 1024];
        let libc_block = g.libc_block.filter(|&(_, len)| len <= saved.len());
        // SAFETY: the block is ours alone (caller's promise). The DTV at `tp + 8` was installed by
        // `_dl_allocate_tls` (`dtv[-1].counter` holds its length); entries' `to_free` are glibc
        // malloc allocations or null. libc's block lies inside our area's static part.
        unsafe {
            let dtv = ((tp + 8) as *const *mut DtvEntry).read();
            let len = dtv.sub(1).read().val;
            for i in 1..=len {
                libc::free(dtv.add(i).read().to_free);
            }
            ptr::write_bytes(dtv, 0, len + 1);
            if let Some((below, len)) = libc_block {
                ptr::copy_nonoverlapping((tp - below) as *const u8, saved.as_mut_ptr(), len);
            }
            (g.allocate_tls_init)(tp as *mut c_void, true);
            if let Some((below, len)) = libc_block {
                ptr::copy_nonoverlapping(saved.as_ptr(), (tp - below) as *mut u8, len);
            }
        }
    }

    /// Before a switch into the green thread owning this block on `carrier`: what the descriptor
    /// borrows from the carrier (see the module docs).
    ///
    /// # Safety
    /// The green thread owning the block is not running (we are about to switch to it).
    #[inline]
    pub(crate) unsafe fn enter(tp: usize, carrier: &Carrier) {
        // SAFETY: `tp + 16` and `tp + tid_off` are fields of the descriptor we own while the green
        // thread is switched out.
        unsafe {
            ((tp + 16) as *mut usize).write(carrier.self_ptr);
            if carrier.tid_off != 0 {
                ((tp + carrier.tid_off) as *mut i32).write(carrier.tid);
            }
        }
    }
}

/// Runs the calling green thread's TLS destructors (std registered them with glibc's
/// `__cxa_thread_atexit_impl`), as thread exit does for an OS thread. Call on the green thread
/// itself, at its end.
pub(crate) fn run_destructors() {
    if let Ok(g) = glibc() {
        // SAFETY: runs and clears this thread's (the green thread's) destructor list.
        unsafe { (g.call_tls_dtors)() };
    }
}

/// Sets libc's per-thread locale pointers for the calling (new) green thread.
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

/// Free areas: a process-wide list, with a cache per worker in front of it.
static POOL: Mutex<Vec<Block>> = Mutex::new(Vec::new());
/// Areas a worker keeps before half of them go to the process-wide list.
pub(crate) const LOCAL_POOL: usize = 64;

/// A block for a new green thread: from `local` (a worker's cache), the shared pool, or new.
pub(crate) fn take(local: Option<&mut Vec<Block>>) -> io::Result<Block> {
    if let Some(local) = local {
        if let Some(b) = local.pop() {
            return Ok(b);
        }
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let n = pool.len().min(LOCAL_POOL / 2);
        let at = pool.len() - n;
        local.extend(pool.drain(at..));
        drop(pool);
        if let Some(b) = local.pop() {
            return Ok(b);
        }
    } else if let Some(b) = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return Ok(b);
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
        POOL.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(local.drain(at..));
    }
}

/// Hands a worker's cached blocks back to the process-wide list (the worker is stopping).
pub(crate) fn return_local(local: &mut Vec<Block>) {
    if !local.is_empty() {
        POOL.lock().unwrap_or_else(|e| e.into_inner()).append(local);
    }
}
