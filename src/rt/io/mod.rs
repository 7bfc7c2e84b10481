//! Waiting on the outside world without holding a worker: the reactor (`epoll`, polled by sleeping
//! workers; sockets and any pollable fd park their green thread until ready) and the blocking
//! pool (OS threads for calls that cannot be made non-blocking: name lookup, `block_on_io`).
//! Both sit above the scheduler: they wake green threads (DESIGN.md, "Layers").

pub(crate) mod blocking;
pub(crate) mod reactor;
