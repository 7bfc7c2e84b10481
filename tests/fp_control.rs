//! The floating-point control state is per green thread, as it is per OS thread: the rounding
//! mode one green thread sets (x86-64: MXCSR and the x87 control word; aarch64: FPCR) travels
//! with it across switches and workers, and never leaks into the green threads that run between.

use smarm::rt::{Config, run};
use smarm::thread;
use std::hint::black_box;
use std::os::raw::c_int;

unsafe extern "C" {
    fn fesetround(mode: c_int) -> c_int;
    fn fegetround() -> c_int;
}

#[cfg(target_arch = "x86_64")]
const FE_TONEAREST: c_int = 0;
#[cfg(target_arch = "x86_64")]
const FE_TOWARDZERO: c_int = 0xc00;
#[cfg(target_arch = "aarch64")]
const FE_TONEAREST: c_int = 0;
#[cfg(target_arch = "aarch64")]
const FE_TOWARDZERO: c_int = 0xc0_0000;

/// 1/10 rounded to nearest ends in ...9A; truncated, in ...99.
const TENTH_NEAREST: u64 = 0x3FB9_9999_9999_999A;
const TENTH_TRUNCATED: u64 = 0x3FB9_9999_9999_9999;

fn tenth() -> u64 {
    (black_box(1.0f64) / black_box(10.0f64)).to_bits()
}

fn mode() -> c_int {
    // SAFETY: fegetround has no preconditions.
    unsafe { fegetround() }
}

#[test]
fn the_rounding_mode_is_per_green_thread() {
    for workers in [1, 2] {
        run(Config::new().workers(workers), || {
            let truncating: Vec<_> = (0..4)
                .map(|_| {
                    thread::spawn(|| {
                        // SAFETY: sets this thread's rounding mode; it is ours to set.
                        assert_eq!(unsafe { fesetround(FE_TOWARDZERO) }, 0);
                        let mut seen = Vec::new();
                        for _ in 0..50 {
                            thread::yield_now();
                            seen.push((mode(), tenth()));
                        }
                        seen
                    })
                })
                .collect();
            let nearest: Vec<_> = (0..4)
                .map(|_| {
                    thread::spawn(|| {
                        let mut seen = Vec::new();
                        for _ in 0..50 {
                            thread::yield_now();
                            seen.push((mode(), tenth()));
                        }
                        seen
                    })
                })
                .collect();
            for h in truncating {
                for s in h.join().unwrap() {
                    assert_eq!(s, (FE_TOWARDZERO, TENTH_TRUNCATED), "{workers} workers");
                }
            }
            for h in nearest {
                for s in h.join().unwrap() {
                    assert_eq!(s, (FE_TONEAREST, TENTH_NEAREST), "{workers} workers");
                }
            }
            assert_eq!((mode(), tenth()), (FE_TONEAREST, TENTH_NEAREST));
        });
    }
    // The calling OS thread was never touched either.
    assert_eq!((mode(), tenth()), (FE_TONEAREST, TENTH_NEAREST));
}
