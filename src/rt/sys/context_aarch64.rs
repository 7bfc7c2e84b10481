//! The context switch on aarch64 (AAPCS64): the only place where one stack becomes another.
//!
//! As on x86-64 (`context.rs`), a suspended context is nothing but a saved stack pointer; what
//! AAPCS64 asks a callee to preserve is stored on the stack being left, in one 176-byte frame:
//!
//! ```text
//!   higher addresses
//!   +------------------------+  <- sp of the caller of `switch` (16-byte aligned)
//!   | 8 bytes padding        |  sp + 168
//!   | FPCR                   |  sp + 160
//!   | d14, d15               |  sp + 144
//!   | d12, d13               |  sp + 128
//!   | d10, d11               |  sp + 112
//!   | d8, d9                 |  sp + 96   (the low 64 bits of v8-v15: all AAPCS64 preserves)
//!   | x29 (fp), x30 (lr)     |  sp + 80   (x30: where `switch` returns to)
//!   | x27, x28               |  sp + 64
//!   | x25, x26               |  sp + 48
//!   | x23, x24               |  sp + 32
//!   | x21, x22               |  sp + 16
//!   | x19, x20               |  sp + 0
//!   +------------------------+  <- saved sp, written to `*save`
//!   lower addresses
//! ```
//!
//! Resuming loads the target's saved sp, its FPCR if it differs (an `msr fpcr` may synchronise the
//! pipeline; the rounding mode and flush-to-zero bits are preserved across calls), the registers,
//! then its thread pointer into `TPIDR_EL0`, and returns through its x30 with `arg` in x0: the
//! resumed side sees it as the return value of its own call to `switch`. Writing `TPIDR_EL0` is
//! an ordinary register write at EL0 (no system call, no `FSGSBASE`-like feature to probe).
//!
//! A new stack is prepared by [`init_stack`] so that the first switch into it "returns" into
//! `trampoline_start`, which calls the entry kept in the frame's x19 slot with the argument
//! already in x0 (the task pointer).

use core::arch::naked_asm;

/// How a new context starts: called on the new stack with the argument of the switch that
/// started it; never returns.
pub(crate) type Entry = unsafe extern "C" fn(usize) -> !;

/// Bytes of the saved frame.
const FRAME: usize = 176;

/// Saves the callee-saved state of the current stack, stores its stack pointer in `*save`, loads
/// `new_sp`, sets `TPIDR_EL0` to `new_tp` and resumes the context saved there. Returns, when
/// someone later switches back to the saved context, the `arg` *they* passed.
///
/// # Safety
/// `save` must be valid for a write. `new_sp` must be a stack pointer previously written by
/// `switch` (for a context that has not been resumed since) or prepared by [`init_stack`], on a
/// stack that stays mapped for as long as that context may run. Exactly one OS thread may resume a
/// given saved context. `new_tp` must be the thread pointer that context runs with: a live TLS
/// area laid out as glibc lays out a thread's (TLS variant I).
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut usize, new_sp: usize, arg: usize, new_tp: usize) -> usize {
    // SAFETY: forwarded.
    unsafe { switch_tpidr(save, new_sp, arg, new_tp) }
}

/// [`switch`] itself: x0 = save, x1 = new_sp, x2 = arg, x3 = new_tp.
///
/// # Safety
/// As [`switch`].
#[unsafe(naked)]
unsafe extern "C" fn switch_tpidr(
    save: *mut usize,
    new_sp: usize,
    arg: usize,
    new_tp: usize,
) -> usize {
    naked_asm!(
        "sub sp, sp, #176",
        "stp x19, x20, [sp, #0]",
        "stp x21, x22, [sp, #16]",
        "stp x23, x24, [sp, #32]",
        "stp x25, x26, [sp, #48]",
        "stp x27, x28, [sp, #64]",
        "stp x29, x30, [sp, #80]",
        "stp d8, d9, [sp, #96]",
        "stp d10, d11, [sp, #112]",
        "stp d12, d13, [sp, #128]",
        "stp d14, d15, [sp, #144]",
        "mrs x9, fpcr",
        "str x9, [sp, #160]",
        // Publish where this context can be resumed.
        "mov x10, sp",
        "str x10, [x0]",
        // Become the other context.
        "mov sp, x1",
        "ldr x10, [sp, #160]",
        "cmp x9, x10",
        "b.eq 2f",
        "msr fpcr, x10",
        "2:",
        "ldp x19, x20, [sp, #0]",
        "ldp x21, x22, [sp, #16]",
        "ldp x23, x24, [sp, #32]",
        "ldp x25, x26, [sp, #48]",
        "ldp x27, x28, [sp, #64]",
        "ldp x29, x30, [sp, #80]",
        "ldp d8, d9, [sp, #96]",
        "ldp d10, d11, [sp, #112]",
        "ldp d12, d13, [sp, #128]",
        "ldp d14, d15, [sp, #144]",
        "add sp, sp, #176",
        // Its thread pointer.
        "msr tpidr_el0, x3",
        // Hand the argument to the resumed side as the return value of its `switch` call.
        "mov x0, x2",
        "ret",
    )
}

/// Where a brand-new context starts: x0 holds the argument of the switch that started it (the
/// task pointer), x19 the entry [`init_stack`] was given; sp is 16-byte aligned. The entry never
/// returns; `brk` makes sure that would be loud.
#[unsafe(naked)]
unsafe extern "C" fn trampoline_start() {
    naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined x30", // no caller above this frame: unwinders and backtraces stop here
        "blr x19",
        "brk #1",
        ".cfi_endproc",
    )
}

/// Writes the initial frame of a new context just below `top` and returns the stack pointer to pass
/// to [`switch`]. The first switch into it calls `entry` with that switch's argument.
///
/// # Safety
/// `top` must be 16-byte aligned and the 192 bytes below it writable and owned by the caller.
pub(crate) unsafe fn init_stack(top: *mut u8, entry: Entry) -> usize {
    debug_assert_eq!(top as usize % 16, 0);
    // 16 bytes of zeros above the frame: sp is `top - 16` when the entry is called.
    let frame = top as usize - 16 - FRAME;
    let words = frame as *mut u64;
    // SAFETY: the caller gives us the 192 bytes below `top`; every write stays inside them.
    unsafe {
        for i in 0..(FRAME + 16) / 8 {
            words.add(i).write(0); // x20..x28, x29 (fp) = 0, d8..d15, FPCR = 0 (Linux's default)
        }
        words.write(entry as *const () as u64); // x19
        words.add(11).write(trampoline_start as *const () as u64); // x30
    }
    frame
}
