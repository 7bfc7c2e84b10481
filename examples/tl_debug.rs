use smarm::{thread, thread_local};
use std::cell::Cell;
fn both(f: fn()) {
    f();
    thread::spawn(f).join().unwrap();
}
fn main() {
    thread_local! {
        static INITS: Cell<u32> = const { Cell::new(0) };
        static LAZY: Cell<u32> = { INITS.set(INITS.get() + 1); Cell::new(5) };
    }
    both(|| {
        thread::spawn(|| {
            LAZY.set(8);
            assert_eq!(LAZY.get(), 8);
        })
        .join()
        .unwrap();
        thread::spawn(|| {
            println!("second sees LAZY={} INITS={}", LAZY.get(), INITS.get());
        })
        .join()
        .unwrap();
    });
}
