//! Runtime counters: `smarm::rt::stats()`.
//!
//! Every counter is written by one worker only (its own `sched::WorkerCounters`, on a cache line of its
//! own), with a plain load + store rather than a locked read-modify-write, so counting costs the
//! hot paths (spawn, switch, park, steal) one uncontended store each and never bounces a line
//! between cores. Readers sum the workers' counters with relaxed loads: a snapshot taken while the
//! runtime runs is approximate (each counter is exact, their sum is not taken at one instant),
//! which is what a monitoring counter needs.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

pub use crate::rt::sched::carriers::HandOff;
use crate::rt::sched::shared::Shared;

/// A snapshot of a runtime's counters, from [`stats`](crate::rt::stats()).
///
/// # Examples
///
/// ```
/// let before = smarm::rt::stats();
/// smarm::thread::spawn(|| smarm::thread::yield_now()).join().unwrap();
/// let after = smarm::rt::stats();
/// assert!(after.spawned > before.spawned);
/// assert!(after.switches >= before.switches + 2); // it ran, yielded, ran again
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Green threads spawned and not yet finished.
    pub live: u64,
    /// Green threads spawned since the runtime started.
    pub spawned: u64,
    /// Switches into a green thread (each run of a green thread is one).
    pub switches: u64,
    /// Parks completed (a green thread blocked and its worker moved on).
    pub parks: u64,
    /// Green threads switched out at the end of their timeslice (the preempting allocator or
    /// `check!()` noticed it), to the back of the run queue.
    pub preemptions: u64,
    /// Successful steals (a worker took half of another's queue).
    pub steals: u64,
    /// Times the monitor found a carrier stuck in foreign code (a blocking call, or a loop it
    /// cannot preempt) and gave its worker to another carrier.
    pub handoffs: u64,
    /// Workers (scheduling slots): at most this many carriers run green code at once.
    pub worker_count: u64,
    /// Carriers (OS threads that run green threads) alive now: one per worker, plus those stuck
    /// in foreign code and spares waiting for a worker.
    pub carriers: u64,
    /// The most carriers alive at once so far.
    pub carriers_peak: u64,
    /// Of `carriers`, spares: carriers that gave up their worker and wait (they retire after 2 s).
    pub carriers_spare: u64,
    /// Green threads spawned from outside the workers (a plain OS thread such as `main`).
    pub spawned_outside: u64,
    /// Sockets registered with the reactor now (process-wide: one reactor serves every runtime).
    pub io_registrations: u64,
    /// Green-thread TLS areas made so far (process-wide). Areas are pooled and never freed, so
    /// this is the peak number of green threads alive at once, at most (see `rt::sys::tls`).
    pub tls_areas: u64,
    /// Of those, idle ones whose memory has been given back (about 1.6 KB each stays: see
    /// `rt::sys::tls`); an area idle in the pool for a second or more, beyond the newest 256.
    pub tls_areas_cold: u64,
    /// How a switch loads a green thread's thread pointer: on x86-64 `"wrfsbase"` or
    /// `"arch_prctl"` (decided once per process from `AT_HWCAP2`; `SMARM_TLS_SWITCH=arch_prctl`
    /// forces the syscall), on aarch64 `"tpidr_el0"`.
    pub tls_switch: &'static str,
    /// Deadlock cycles among green threads reported so far (process-wide): lock and `join`
    /// cycles found while other threads run (see [`Config::on_deadlock`]).
    ///
    /// [`Config::on_deadlock`]: crate::rt::Config::on_deadlock
    pub deadlock_cycles: u64,
    /// The last hand-offs (at most 16, oldest first): which green thread held a carrier in
    /// foreign code when the monitor gave that carrier's worker to another carrier.
    pub recent_handoffs: Vec<HandOff>,
    /// The same counters per carrier slot, by index: the first `worker_count` carriers first,
    /// then the slots of carriers the monitor has started (see `Config::max_extra_workers`).
    pub workers: Vec<WorkerStats>,
}

/// One carrier slot's counters, part of [`Stats`].
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, Config};
///
/// rt::run(Config::new().workers(2), || {
///     let hs: Vec<_> = (0..10).map(|_| smarm::thread::spawn(|| ())).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///
///     let s = rt::stats();
///     assert!(s.workers.len() >= 2); // the first carriers, then those the monitor started
///     // Every green thread was spawned on some worker or from outside the workers.
///     let per_worker: u64 = s.workers.iter().map(|w| w.spawned).sum();
///     assert_eq!(per_worker + s.spawned_outside, s.spawned);
///     assert!(s.spawned >= 11); // `run`'s own main green thread and the ten
/// });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Green threads spawned by code running on this worker.
    pub spawned: u64,
    /// Green threads that finished on this worker.
    pub finished: u64,
    /// Switches into a green thread.
    pub switches: u64,
    /// Parks completed.
    pub parks: u64,
    /// Timeslice preemptions.
    pub preemptions: u64,
    /// Successful steals by this worker.
    pub steals: u64,
    /// Times the monitor found this carrier stuck and gave its worker to another carrier.
    pub handoffs: u64,
}

/// `rt::stats` without starting the global runtime: `None` from a plain OS thread before it starts.
pub(crate) fn current_if_started() -> Option<Stats> {
    crate::rt::sched::worker::with_current_rt_if_started(snapshot)
}

pub(crate) fn snapshot(rt: &Shared) -> Stats {
    let workers: Vec<WorkerStats> = rt
        .workers
        .iter(rt.workers_hw.load(std::sync::atomic::Ordering::Acquire))
        .map(|w| WorkerStats {
            spawned: w.spawned.load(Relaxed),
            finished: w.finished.load(Relaxed),
            // `runs` counts each run twice (odd while it lasts): no counter of its own needed.
            switches: w.runs.load(Relaxed).div_ceil(2),
            parks: w.counters.parks.load(Relaxed),
            preemptions: w.counters.preemptions.load(Relaxed),
            steals: w.counters.steals.load(Relaxed),
            handoffs: w.handoffs.load(Relaxed),
        })
        .collect();
    let spawned_outside = rt.external_spawned.load(Relaxed);
    let sum = |f: fn(&WorkerStats) -> u64| workers.iter().map(f).sum::<u64>();
    let spawned = sum(|w| w.spawned) + spawned_outside;
    let finished = sum(|w| w.finished);
    let carriers = rt.monitor.counts();
    Stats {
        worker_count: rt.base_workers as u64,
        carriers: carriers.live as u64,
        carriers_peak: carriers.peak as u64,
        carriers_spare: carriers.spare as u64,
        recent_handoffs: rt.monitor.recent_handoffs(),
        live: spawned.saturating_sub(finished),
        spawned,
        switches: sum(|w| w.switches),
        parks: sum(|w| w.parks),
        preemptions: sum(|w| w.preemptions),
        steals: sum(|w| w.steals),
        handoffs: sum(|w| w.handoffs),
        io_registrations: crate::rt::io::reactor::registrations(),
        tls_areas: crate::rt::sys::tls::areas_made(),
        tls_areas_cold: crate::rt::sys::tls::areas_cold(),
        tls_switch: match crate::rt::sys::tls::fs_switch() {
            #[cfg(target_arch = "x86_64")]
            crate::rt::sys::tls::FsSwitch::Wrfsbase => "wrfsbase",
            #[cfg(target_arch = "x86_64")]
            crate::rt::sys::tls::FsSwitch::ArchPrctl => "arch_prctl",
            #[cfg(target_arch = "aarch64")]
            crate::rt::sys::tls::FsSwitch::Tpidr => "tpidr_el0",
        },
        deadlock_cycles: crate::rt::cycles::reported(),
        spawned_outside,
        workers,
    }
}

impl fmt::Display for Stats {
    /// One line for the runtime, one per worker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "live {} spawned {} switches {} parks {} preemptions {} steals {} handoffs {} \
             workers {} carriers {} (peak {}, spare {})",
            self.live,
            self.spawned,
            self.switches,
            self.parks,
            self.preemptions,
            self.steals,
            self.handoffs,
            self.worker_count,
            self.carriers,
            self.carriers_peak,
            self.carriers_spare
        )?;
        for (i, w) in self.workers.iter().enumerate() {
            writeln!(
                f,
                "  carrier {i}: spawned {} finished {} switches {} parks {} preemptions {} steals {} \
                 handoffs {}",
                w.spawned, w.finished, w.switches, w.parks, w.preemptions, w.steals, w.handoffs
            )?;
        }
        Ok(())
    }
}
