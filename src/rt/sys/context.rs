//! The context switch: the only place where one stack becomes another.
//!
//! A green thread's execution state, while it is not running, is nothing but a saved stack pointer.
//! Everything else the SysV x86-64 ABI asks a callee to preserve is pushed onto the stack that is
//! being left, just below the return address of the call to [`switch`]:
//!
//! ```text
//!   higher addresses
//!   +--------------------+
//!   | return address     |  <- pushed by `call switch` in the code being suspended
//!   | rbp                |
//!   | rbx                |
//!   | r12                |
//!   | r13                |
//!   | r14                |
//!   | r15                |
//!   | x87 CW | MXCSR     |  <- 8 bytes: MXCSR at [rsp], x87 control word at [rsp+4]
//!   +--------------------+  <- saved rsp (16-byte aligned), written to `*save`
//!   lower addresses
//! ```
//!
//! Resuming is the mirror image: load the target's saved rsp, restore the control words and the six
//! registers, load the target's thread pointer into FS base, and `ret` into whatever return address
//! sits above them. The third argument of `switch` travels across in `rax`: the side that resumes
//! sees it as the return value of *its own* earlier call to `switch`. The scheduler uses it to learn
//! why a green thread switched away (yield, park, exit), and a brand-new green thread receives its
//! `Task` pointer through it.
//!
//! **The thread pointer switches with the stack** (DESIGN.md rule 1): the fourth argument is the
//! FS base of the context being resumed (a green thread's own TLS area going in, the carrier's own
//! going out; see `sys::tls`). It is written after the registers are restored and before the
//! `ret`, so no code ever runs on one side's stack with the other side's thread-locals. Two
//! variants differ only in how: `wrfsbase` (FSGSBASE) or the `arch_prctl(ARCH_SET_FS)` syscall,
//! which clobbers only rax, rcx and r11 — all caller-saved, and the argument in rdx survives.
//!
//! MXCSR's control bits and the x87 control word are callee-saved in the SysV ABI (the status bits
//! are not, but saving the whole register is the cheap way to keep the control bits), so a green
//! thread that changes rounding mode cannot leak it to another one. They are loaded only when they
//! differ from the side being left (almost never): on this machine `ldmxcsr` costs about 3 ns and
//! `wrfsbase` 12.5 ns, so the switch pays for its FS write mostly with the loads it skips.
//!
//! A new stack is prepared by [`init_stack`] so that the first switch into it "returns" into
//! `trampoline_start`, which moves the value in `rax` (the task pointer) to `rdi` and calls the
//! entry function the caller of `init_stack` chose, kept in the initial frame's rbx slot (as
//! corosensei's `init_stack` takes its entry: this primitive names nothing above it).
//!
//! ```text
//!   stack top (16-byte aligned)
//!   +--------------------+  top
//!   | 0 (padding)        |  top - 8
//!   | 0 (padding)        |  top - 16   <- rsp after `ret` (16-byte aligned, as `call` expects)
//!   | trampoline_start   |  top - 24   <- the return address `ret` pops
//!   | rbp = 0            |  top - 32   (a zero frame pointer ends frame-pointer walks)
//!   | rbx = entry        |  top - 40
//!   | r12..r15 = 0       |  top - 72 .. top - 48
//!   | CW 0x037F|MX 0x1F80|  top - 80   <- initial saved rsp
//!   +--------------------+
//! ```

use core::arch::naked_asm;

/// Default MXCSR (all exceptions masked, round to nearest) and x87 control word (extended
/// precision, all exceptions masked): the values a fresh process starts with.
const MXCSR_DEFAULT: u64 = 0x1F80;
const FCW_DEFAULT: u64 = 0x037F;

/// How a new context starts: called on the new stack with the argument of the switch that
/// started it; never returns.
pub(crate) type Entry = unsafe extern "C" fn(usize) -> !;

/// Saves the callee-saved state of the current stack, stores its stack pointer in `*save`, loads
/// `new_rsp`, sets FS base to `new_fs` and resumes the context saved there. Returns, when someone
/// later switches back to the saved context, the `arg` *they* passed.
///
/// # Safety
/// `save` must be valid for a write. `new_rsp` must be a stack pointer previously written by
/// `switch` (for a context that has not been resumed since) or prepared by [`init_stack`], on a
/// stack that stays mapped for as long as that context may run. Exactly one OS thread may resume a
/// given saved context. `new_fs` must be the thread pointer that context runs with: a live TLS area
/// whose first word is its own address.
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut usize, new_rsp: usize, arg: usize, new_fs: usize) -> usize {
    // SAFETY: forwarded; both variants do the same but for the FS-base write.
    unsafe {
        match super::tls::fs_switch() {
            super::tls::FsSwitch::Wrfsbase => switch_wrfsbase(save, new_rsp, arg, new_fs),
            super::tls::FsSwitch::ArchPrctl => switch_arch_prctl(save, new_rsp, arg, new_fs),
        }
    }
}

macro_rules! switch_body {
    ($($set_fs:literal),*) => {
        naked_asm!(
            // Save the callee-saved integer registers on the current stack.
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            // Save MXCSR and the x87 control word in one 8-byte slot; rsp is now 16-byte aligned.
            "sub rsp, 8",
            "stmxcsr [rsp]",
            "fnstcw [rsp + 4]",
            // Publish where this context can be resumed.
            "mov [rdi], rsp",
            "mov r8d, [rsp]",
            "movzx r9d, word ptr [rsp + 4]",
            // Become the other context.
            "mov rsp, rsi",
            // Load its control words only where they differ from ours: `ldmxcsr` and `fldcw`
            // cost more than the compare (MXCSR: the control bits 6-15 only; the status flags
            // 0-5 are not callee-saved).
            "xor r8d, [rsp]",
            "test r8d, 0xFFC0",
            "jz 2f",
            "ldmxcsr [rsp]",
            "2:",
            "cmp r9w, word ptr [rsp + 4]",
            "je 3f",
            "fldcw [rsp + 4]",
            "3:",
            "add rsp, 8",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            // Its thread pointer (rcx).
            $($set_fs,)*
            // Hand the argument to the resumed side as the return value of its `switch` call.
            "mov rax, rdx",
            "ret",
        )
    };
}

/// [`switch`] with `wrfsbase`.
///
/// # Safety
/// As [`switch`], and the kernel has enabled FSGSBASE (`AT_HWCAP2`).
#[unsafe(naked)]
unsafe extern "sysv64" fn switch_wrfsbase(
    save: *mut usize,
    new_rsp: usize,
    arg: usize,
    new_fs: usize,
) -> usize {
    switch_body!("wrfsbase rcx")
}

/// [`switch`] with `arch_prctl(ARCH_SET_FS, new_fs)`: rax = SYS_arch_prctl (158), rdi =
/// ARCH_SET_FS (0x1002), rsi = the base. `save` and `new_rsp` are dead by then.
///
/// # Safety
/// As [`switch`].
#[unsafe(naked)]
unsafe extern "sysv64" fn switch_arch_prctl(
    save: *mut usize,
    new_rsp: usize,
    arg: usize,
    new_fs: usize,
) -> usize {
    switch_body!("mov rsi, rcx", "mov edi, 0x1002", "mov eax, 158", "syscall")
}

/// Where a brand-new context starts: `rax` holds the argument of the switch that started it (the
/// task pointer), `rbx` the entry [`init_stack`] was given. rsp is 16-byte aligned here, so the
/// `call` leaves the callee with the alignment the ABI promises. The entry never returns; `ud2`
/// makes sure that would be loud.
#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline_start() {
    naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined rip", // no caller above this frame: unwinders and backtraces stop here
        "mov rdi, rax",
        "call rbx",
        "ud2",
        ".cfi_endproc",
    )
}

/// Writes the initial frame of a new context just below `top` and returns the stack pointer to pass
/// to [`switch`]. The first switch into it calls `entry` with that switch's argument.
///
/// # Safety
/// `top` must be 16-byte aligned and the 80 bytes below it writable and owned by the caller.
pub(crate) unsafe fn init_stack(top: *mut u8, entry: Entry) -> usize {
    debug_assert_eq!(top as usize % 16, 0);
    let words = top as *mut u64;
    // SAFETY: the caller gives us the 80 bytes below `top`; every write below stays inside them.
    unsafe {
        words.sub(1).write(0);
        words.sub(2).write(0);
        words.sub(3).write(trampoline_start as *const () as u64);
        words.sub(4).write(0); // rbp
        words.sub(5).write(entry as *const () as u64); // rbx
        for i in 6..=9 {
            words.sub(i).write(0); // r12, r13, r14, r15
        }
        words.sub(10).write(MXCSR_DEFAULT | (FCW_DEFAULT << 32));
        words.sub(10) as usize
    }
}
