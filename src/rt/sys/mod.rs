//! System primitives: the lowest layer. Nothing here imports anything above it; a primitive that
//! must call up takes the callee as a parameter (`context::init_stack(top, entry)`).
//!
//! - `stack`: mmap'd stacks with a guard page, and their pool;
//! - `context`: the naked-asm switch (registers, stack pointer and thread pointer), one file per
//!   CPU (`context.rs` for x86-64, `context_aarch64.rs`);
//! - `arch`: the CPU's other one-liners (thread pointer, cycle counter, prefetch, TLS variant);
//! - `tls`: each green thread's own TLS area and thread descriptor (glibc's layout);
//! - `futex`: how OS threads and idle workers sleep;
//! - `os_thread`: starting and ending smarm's own OS threads so that no `fork` sees one half way;
//! - `lock`: the runtime's own locks, which keep their holder from being preempted;
//! - `unwind`: a frame that lets an unwinder walk a suspended context's stack (the dump's stacks).

pub(crate) mod arch;
#[cfg(target_arch = "x86_64")]
pub(crate) mod context;
#[cfg(target_arch = "aarch64")]
#[path = "context_aarch64.rs"]
pub(crate) mod context;
pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod os_thread;
pub(crate) mod stack;
pub(crate) mod tls;
pub(crate) mod unwind;
