//! Walking a suspended context's stack: a frame that tells the unwinder "my caller is the
//! suspended context", so that a backtrace taken inside it continues into that context's frames.
//!
//! A switched-out context is a saved stack pointer with the callee-saved registers and the return
//! address of its `switch` call above it (`context.rs`'s diagram). [`with_suspended_caller`] calls
//! a closure through a small naked stub whose DWARF call-frame information (CFI) does not describe
//! the stub's real caller but the suspended one:
//!
//! ```text
//!   stub frame, while it calls the closure        the suspended stack (read, never written)
//!   +-----------------------+                     +--------------------+
//!   | return into the stub  |                     | return address     |  saved sp + 56 = CFA - 8
//!   | saved sp (pushed)     | --- CFA = [rsp]+64  | rbp                |  saved sp + 48 = CFA - 16
//!   +-----------------------+  <- rsp             | rbx                |  saved sp + 40 = CFA - 24
//!                                                 | r12 .. r15         |  CFA - 32 .. CFA - 56
//!                                                 | x87 CW | MXCSR     |  saved sp
//!                                                 +--------------------+
//! ```
//!
//! The CFA (the caller's stack pointer after the call returns) is a DWARF expression,
//! `DW_OP_breg7 rsp+0; DW_OP_deref; DW_OP_plus_uconst 64`: "the word at the stub's rsp, plus
//! 64", i.e. the suspended context's stack pointer just after `switch` would have returned. The
//! return address and the six callee-saved registers are described at their slots, exactly where
//! `switch` pushed them. So an unwinder (libgcc's `_Unwind_Backtrace`, through the `backtrace`
//! crate or `std::backtrace`) started inside the closure walks: its own frames, the closure, the
//! stub, then the frame that called `switch` in the suspended context, and on up that stack until
//! `context::trampoline_start`, whose `.cfi_undefined rip` ends the walk. An unwinder only reads
//! memory while it walks; nothing here ever resumes the context or writes its stack.
//!
//! The stub runs on the caller's own stack (it needs no stack of its own: only the unwinder's
//! *view* of its caller changes). The borrowed caller is in force only from the stub's `push` to
//! its `call` (two instructions, and the return address the unwinder looks up); before and after,
//! the stub's CFI describes its real caller, so it returns and unwinds like any function. A
//! profiler's sample inside that window walks the suspended stack too: harmless, it only reads.
//!
//! **aarch64.** The same stub, from `context_aarch64.rs`'s 176-byte frame: it pushes the saved sp
//! with its own return address (x30, which its call overwrites), and while it calls the closure
//! its CFA is `[sp] + 176` (`DW_OP_breg31 sp+0; DW_OP_deref; DW_OP_plus_uconst 176`), with x30
//! (the return address column), x29, x19-x28 and d8-d15 at their slots below that CFA.
//!
//! **Other architectures** would get `None` from [`with_suspended_caller`] without the closure
//! being called, and the dump would say that stacks are not available.

/// Bytes of the frame `switch` leaves at the saved stack pointer (up to and including the return
/// address): the suspended context's stack must hold at least this much above its saved sp.
#[cfg(target_arch = "x86_64")]
pub(crate) const SAVED_FRAME: usize = 64;
/// See the x86-64 definition: `context_aarch64.rs`'s frame.
#[cfg(target_arch = "aarch64")]
pub(crate) const SAVED_FRAME: usize = 176;

/// The stub's entry address, for telling its frame apart in a backtrace (the frames before it
/// belong to the walker, those after it to the suspended context).
pub(crate) fn stub_address() -> usize {
    suspended_caller_stub as *const () as usize
}

/// Calls `f` through a frame whose caller, to an unwinder, is the context suspended at
/// `saved_sp`; returns `f`'s result, or `None` (without calling `f`) where this architecture has
/// no stub.
///
/// # Safety
/// `saved_sp` must be a stack pointer written by `context::switch` for a context that is not
/// resumed until this returns, with its stack mapped for that long (the caller holds it
/// suspended: `park::hold_parked`).
pub(crate) unsafe fn with_suspended_caller<R>(saved_sp: usize, f: impl FnOnce() -> R) -> Option<R> {
    {
        struct Call<F, R> {
            f: Option<F>,
            result: Option<R>,
        }
        unsafe extern "C" fn call<F: FnOnce() -> R, R>(data: *mut u8) {
            // SAFETY: `data` is the `Call<F, R>` on `with_suspended_caller`'s frame, alive and
            // borrowed by nobody else for the duration of the stub's call.
            let call = unsafe { &mut *data.cast::<Call<F, R>>() };
            if let Some(f) = call.f.take() {
                // A panic must not unwind through the stub (its CFI describes another stack):
                // it is caught here and re-raised on the far side.
                call.result = Some(f());
            }
        }
        /// `call` for the closure type of `c`, which has no name to write.
        fn entry_of<F: FnOnce() -> R, R>(_: &Call<F, R>) -> unsafe extern "C" fn(*mut u8) {
            call::<F, R>
        }
        // The closure may panic: catch it on this side of the stub, resume it on the other.
        let mut data = Call {
            f: Some(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))),
            result: None,
        };
        // SAFETY: the stub pushes `saved_sp`, calls `call::<..>` with a pointer to `data` (a live
        // local of the right type) and returns normally; the callee catches every panic. The
        // caller's contract keeps the suspended stack readable for the unwinder the closure may
        // run, which is all the stub's CFI exposes it to.
        unsafe {
            suspended_caller_stub(
                saved_sp,
                entry_of(&data),
                (&mut data as *mut Call<_, _>).cast(),
            )
        };
        match data.result {
            Some(Ok(r)) => Some(r),
            Some(Err(payload)) => std::panic::resume_unwind(payload),
            None => unreachable!("the stub calls its callee exactly once"),
        }
    }
}

/// `push rdi` (the saved sp) so that rsp is 16-byte aligned for the call, then call `f(data)`.
/// The CFI rows in force at the call's return address describe the suspended context as the
/// caller (see the module doc); `.cfi_restore_state` right after the call puts the truth back.
///
/// DWARF bytes of the `.cfi_escape`: `0x0f` DW_CFA_def_cfa_expression, `0x05` length, `0x77 0x00`
/// DW_OP_breg7 (rsp) + 0, `0x06` DW_OP_deref, `0x23 0x40` DW_OP_plus_uconst 64 (`SAVED_FRAME`).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
unsafe extern "C" fn suspended_caller_stub(
    saved_sp: usize,
    f: unsafe extern "C" fn(*mut u8),
    data: *mut u8,
) {
    core::arch::naked_asm!(
        ".cfi_startproc",
        "push rdi",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_remember_state",
        // CFA = [rsp] + 64: the suspended context's rsp after its `switch` call returns.
        ".cfi_escape 0x0f, 0x05, 0x77, 0x00, 0x06, 0x23, 0x40",
        ".cfi_offset rip, -8",
        ".cfi_offset rbp, -16",
        ".cfi_offset rbx, -24",
        ".cfi_offset r12, -32",
        ".cfi_offset r13, -40",
        ".cfi_offset r14, -48",
        ".cfi_offset r15, -56",
        "mov rdi, rdx",
        "call rsi",
        ".cfi_restore_state",
        "pop rdi",
        ".cfi_adjust_cfa_offset -8",
        "ret",
        ".cfi_endproc",
    )
}

/// aarch64: push the saved sp (x0) and the return address (x30, which the call below overwrites),
/// then call `f(data)`. While the call is in progress the CFI describes the suspended context as
/// the caller (see the module doc); `.cfi_restore_state` after it puts the truth back.
///
/// DWARF bytes of the `.cfi_escape`: `0x0f` DW_CFA_def_cfa_expression, `0x06` length, `0x8f
/// 0x00` DW_OP_breg31 (sp) + 0, `0x06` DW_OP_deref, `0x23 0xb0 0x01` DW_OP_plus_uconst 176
/// (`SAVED_FRAME`, ULEB128). Register offsets are from that CFA: the frame starts at `CFA - 176`
/// with x19 (`context_aarch64.rs`'s diagram).
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
unsafe extern "C" fn suspended_caller_stub(
    saved_sp: usize,
    f: unsafe extern "C" fn(*mut u8),
    data: *mut u8,
) {
    core::arch::naked_asm!(
        ".cfi_startproc",
        "stp x0, x30, [sp, #-16]!",
        ".cfi_adjust_cfa_offset 16",
        ".cfi_offset x30, -8",
        ".cfi_remember_state",
        // CFA = [sp] + 176: the suspended context's sp after its `switch` call returns.
        ".cfi_escape 0x0f, 0x06, 0x8f, 0x00, 0x06, 0x23, 0xb0, 0x01",
        ".cfi_offset x19, -176",
        ".cfi_offset x20, -168",
        ".cfi_offset x21, -160",
        ".cfi_offset x22, -152",
        ".cfi_offset x23, -144",
        ".cfi_offset x24, -136",
        ".cfi_offset x25, -128",
        ".cfi_offset x26, -120",
        ".cfi_offset x27, -112",
        ".cfi_offset x28, -104",
        ".cfi_offset x29, -96",
        ".cfi_offset x30, -88",
        ".cfi_offset d8, -80",
        ".cfi_offset d9, -72",
        ".cfi_offset d10, -64",
        ".cfi_offset d11, -56",
        ".cfi_offset d12, -48",
        ".cfi_offset d13, -40",
        ".cfi_offset d14, -32",
        ".cfi_offset d15, -24",
        "mov x0, x2",
        "blr x1",
        ".cfi_restore_state",
        "ldp x0, x30, [sp], #16",
        ".cfi_adjust_cfa_offset -16",
        ".cfi_restore x30",
        "ret",
        ".cfi_endproc",
    )
}
