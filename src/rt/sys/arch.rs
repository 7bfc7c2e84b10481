//! The CPU-specific one-liners outside the context switch: reading and writing the thread
//! pointer, a cheap cycle counter, a prefetch hint, and which of glibc's two TLS layouts applies.
//!
//! | | x86-64 | aarch64 |
//! |---|---|---|
//! | thread pointer | FS base (read as `%fs:0`; written in `tls::set_fs`) | `TPIDR_EL0` (`mrs`/`msr`, from user space) |
//! | glibc TLS layout | variant II: blocks below `tp`, descriptor at `tp` | variant I: descriptor below `tp`, 16-byte TCB at `tp`, blocks above |
//! | cycle counter | `rdtsc` (the TSC) | `mrs cntvct_el0` (the generic timer's virtual count) |

/// Whether glibc's descriptor (`struct pthread`) sits *below* the thread pointer (TLS variant I:
/// `THREAD_SELF` is `tp - sizeof(struct pthread)` and the static blocks follow a 16-byte
/// `tcbhead_t` at `tp`) rather than *at* it (variant II: `THREAD_SELF` is `tp`, the blocks are
/// below it).
pub(crate) const DESCRIPTOR_BELOW_TP: bool = cfg!(target_arch = "aarch64");

/// Where the DTV pointer lives, in bytes from `tp`: `tcbhead_t.dtv` (variant II: after the
/// self pointer `tcb`; variant I: the first word of the TCB).
pub(crate) const DTV_AT: usize = if DESCRIPTOR_BELOW_TP { 0 } else { 8 };

/// The calling thread's thread pointer.
#[inline(always)]
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    cfg_if::cfg_if! {
        if #[cfg(target_arch = "x86_64")] {
            // SAFETY: on x86-64 Linux `%fs:0` is always mapped: the first word of the TCB is its
            // own address (the ABI's `tcbhead_t.tcb`).
            unsafe {
                core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                    options(nostack, readonly, preserves_flags))
            };
        } else {
            // SAFETY: reading TPIDR_EL0 has no preconditions.
            unsafe {
                core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp,
                    options(nomem, nostack, preserves_flags))
            };
        }
    }
    tp
}

/// The caller's stack pointer (an address inside the stack it runs on).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    cfg_if::cfg_if! {
        if #[cfg(target_arch = "x86_64")] {
            // SAFETY: reads the stack pointer into a register; touches no memory, no flags.
            unsafe {
                core::arch::asm!("mov {}, rsp", out(reg) sp,
                    options(nomem, nostack, preserves_flags))
            };
        } else {
            // SAFETY: as above.
            unsafe {
                core::arch::asm!("mov {}, sp", out(reg) sp,
                    options(nomem, nostack, preserves_flags))
            };
        }
    }
    sp
}

/// A cheap, monotonic-enough tick count for timeslices and trace timestamps (converted to time
/// by measuring it against the monotonic clock).
#[inline(always)]
pub(crate) fn cycles() -> u64 {
    cfg_if::cfg_if! {
        if #[cfg(target_arch = "x86_64")] {
            // SAFETY: RDTSC has no preconditions on x86-64.
            unsafe { core::arch::x86_64::_rdtsc() }
        } else {
            let t: u64;
            // SAFETY: Linux enables EL0 reads of CNTVCT_EL0 (CNTKCTL_EL1.EL0VCTEN), as the vDSO's
            // clock_gettime relies on.
            unsafe {
                core::arch::asm!("mrs {}, cntvct_el0", out(reg) t,
                    options(nomem, nostack, preserves_flags))
            };
            t
        }
    }
}

/// Starts fetching the cache line at `addr` into L1. Never faults, whatever `addr` is.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    cfg_if::cfg_if! {
        if #[cfg(target_arch = "x86_64")] {
            // SAFETY: a prefetch is a hint; it never faults, even on an unmapped address.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    addr as *const i8,
                )
            };
        } else {
            // SAFETY: as above: PRFM never faults.
            unsafe {
                core::arch::asm!("prfm pldl1keep, [{}]", in(reg) addr,
                    options(nostack, readonly, preserves_flags))
            };
        }
    }
}
