//! Runs with `harness = false`, so `main` here is the process's real main thread: smarm must work
//! from it (lazily starting the global runtime), and `current()` must name it "main".

use smarm::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    assert_eq!(thread::current().name(), Some("main"));

    // Join green threads from main.
    let handles: Vec<_> = (0..1000u64).map(|i| thread::spawn(move || i * 3)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 3 * 999 * 1000 / 2);

    // A green thread unparks main; main parks on the OS path.
    let main_thread = thread::current();
    let flag = Arc::new(AtomicUsize::new(0));
    let f2 = flag.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        f2.store(1, Ordering::SeqCst);
        main_thread.unpark();
    });
    while flag.load(Ordering::SeqCst) == 0 {
        thread::park();
    }
    h.join().unwrap();

    // Main sleeps as an OS thread does, for at least the time asked.
    let t = Instant::now();
    thread::sleep(Duration::from_millis(10));
    assert!(t.elapsed() >= Duration::from_millis(10));

    // A green thread that parks forever does not keep the process alive: returning from main
    // exits, as with std threads.
    let _parked = thread::spawn(|| {
        loop {
            thread::park();
        }
    });
    // So does one that panics and is never joined.
    let _ = thread::Builder::new()
        .name("never-joined".into())
        .spawn(|| panic!("ignored"));
    thread::sleep(Duration::from_millis(10));
    println!("main_thread: ok");
}
