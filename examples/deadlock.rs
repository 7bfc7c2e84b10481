//! A two-lock deadlock, reported the way Go reports one: when every green thread (and every OS
//! thread that uses smarm) waits for good, smarm prints `smarm: all green threads are asleep -
//! deadlock!` with the dump on stderr. By default it then keeps waiting, as std's threads would;
//! here the runtime is told to abort, as Go does:
//!
//! ```text
//! cargo run --example deadlock
//! smarm: all green threads are asleep - deadlock!
//! smarm: 3 live green threads
//!   ...
//!   <0.1.0> #3 'left': parked on lock
//!   <0.2.0> #4 'right': parked on lock
//! smarm: aborting (Config::on_deadlock / SMARM_DEADLOCK=abort)
//! ```

use smarm::rt::{self, Config, OnDeadlock};
use smarm::sync::{Arc, Barrier, Mutex};
use smarm::thread;

fn main() {
    let config = Config::new().on_deadlock(OnDeadlock::Abort);
    rt::run(config, || {
        let accounts = (Arc::new(Mutex::new(100)), Arc::new(Mutex::new(50)));
        let both = Arc::new(Barrier::new(2));
        // Two transfers that lock the two accounts in opposite orders.
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
