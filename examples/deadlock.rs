//! Deadlocks, reported the way Go reports one. Two transfers lock two accounts in opposite
//! orders.
//!
//! `cargo run --example deadlock`: nothing else runs, so every green thread (and every OS thread
//! that uses smarm) waits for good; smarm reports the lock cycle (`smarm: deadlock cycle among
//! green threads:`, one line per thread) or, whichever check looks first, `smarm: all green
//! threads are asleep - deadlock!` with the dump. By default it would then keep waiting, as
//! std's threads would; here the runtime is told to abort, as Go does:
//!
//! ```text
//! smarm: deadlock cycle among green threads:
//!   thread 'left' (<0.1.0>) waits on Mutex 0x7f0c54001a70 held by 'right' (<0.2.0>)
//!   thread 'right' (<0.2.0>) waits on Mutex 0x7f0c54001a40 held by 'left' (<0.1.0>)
//! smarm: aborting (Config::on_deadlock / SMARM_DEADLOCK=abort)
//! ```
//!
//! `cargo run --example deadlock -- partial`: the same two transfers deadlock while a ticker keeps
//! running, so the program as a whole is not asleep; the cycle report still names both threads,
//! both accounts and who holds what.

use smarm::rt::{self, Config, OnDeadlock};
use smarm::sync::{Arc, Barrier, Mutex};
use smarm::thread;
use std::time::Duration;

fn main() {
    let partial = std::env::args().nth(1).as_deref() == Some("partial");
    let config = Config::new().on_deadlock(OnDeadlock::Abort);
    rt::run(config, move || {
        if partial {
            // Keeps running: the total check cannot fire, the cycle check still does.
            thread::Builder::new()
                .name("ticker".into())
                .spawn(|| {
                    loop {
                        thread::sleep(Duration::from_millis(10));
                    }
                })
                .unwrap();
        }
        let accounts = (Arc::new(Mutex::new(100)), Arc::new(Mutex::new(50)));
        println!("accounts at {:p} and {:p}", &*accounts.0, &*accounts.1);
        let both = Arc::new(Barrier::new(2));
        let transfer = |name: &str, from: Arc<Mutex<i32>>, to: Arc<Mutex<i32>>| {
            let both = both.clone();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let mut from = from.lock().unwrap();
                    both.wait(); // both hold their first lock now
                    let mut to = to.lock().unwrap();
                    *from -= 10;
                    *to += 10;
                })
                .unwrap()
        };
        let a = transfer("left", accounts.0.clone(), accounts.1.clone());
        let b = transfer("right", accounts.1.clone(), accounts.0.clone());
        a.join().unwrap();
        b.join().unwrap();
        println!("unreachable: the transfers deadlock");
    });
}
