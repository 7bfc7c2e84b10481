//! # smarm — green threads that wear the clothes of `std`
//!
//! Swap `use std::thread` for `use smarm::thread` and every spawned thread becomes a green thread:
//! a stackful coroutine on a lazily committed, guard-paged stack, scheduled by a few worker OS
//! threads with work stealing. Blocking calls (`join`, `sleep`, `park`) park the green thread, not
//! the worker.
//!
//! ```
//! use smarm::thread;
//!
//! let handles: Vec<_> = (0..1000).map(|i| thread::spawn(move || i * 2)).collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 999 * 1000);
//! ```
//!
//! What is here:
//!
//! - The std mirror — the same names, signatures and behaviour as std's, on green threads:
//!   [`thread`] (`spawn`, `Builder`, `scope`, `park`, `sleep`, ...), [`sync`] (`Mutex`,
//!   `RwLock`, `Condvar`, `Barrier`, `Once`, `OnceLock`, `LazyLock`, [`sync::mpsc`], and std's
//!   `Arc`, `atomic` and poison types re-exported) and [`net`] (`TcpListener`, `TcpStream`,
//!   `UdpSocket` on an epoll reactor). A call that would block blocks the green thread, not the
//!   worker OS thread under it.
//! - Beside the mirror: [`rt`] (an explicit runtime with [`rt::run`] and [`rt::Config`],
//!   counters, a green-thread dump, [`rt::block_on_io`] for calls that block an OS thread) and
//!   [`actor`] (Pids, monitors, supervision).
//! - Preemption, opt-in: [`PreemptingAllocator`], [`check!`] and [`NoPreempt`] (or
//!   `--features preempt`).
//!
//! Everything works from a plain OS thread too (`main`, a `#[test]`): a global runtime starts
//! on first use, which is why the examples in these docs need no setup.
//!
//! Platforms: x86-64 and aarch64 Linux with glibc (the context switch is hand-written for the
//! SysV x86-64 ABI and for AAPCS64; each green thread's thread-locals live in a TLS area laid out
//! as glibc lays out a thread's, TLS variant II on x86-64 and variant I on aarch64).

#![warn(missing_docs)]

cfg_if::cfg_if! {
    if #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_os = "linux", target_env = "gnu"))] {
        pub mod net;
        pub mod actor;
        pub mod rt;
        pub mod sync;
        pub mod thread;

        pub use rt::preempt::{NoPreempt, PreemptingAllocator};

        /// std's `thread_local!`, re-exported: every green thread has its own thread pointer and
        /// TLS area, so std's macro already gives one value per green thread (and runs its
        /// destructor when the green thread ends). `use smarm::thread_local;` keeps compiling.
        pub use std::thread_local;

        /// The `preempt` feature installs the preempting allocator over `System`.
        #[cfg(feature = "preempt")]
        #[global_allocator]
        static SMARM_ALLOCATOR: PreemptingAllocator = PreemptingAllocator::new(std::alloc::System);
    } else {
        compile_error!("smarm supports x86-64 and aarch64 Linux with glibc only: its context switch is assembly for those two CPUs, green threads' TLS follows glibc's layout, and its reactor is epoll");
    }
}

#[cfg(not(panic = "unwind"))]
compile_error!(
    "smarm needs `panic = \"unwind\"`: a green thread's panic is caught at its trampoline and handed to `join`"
);
