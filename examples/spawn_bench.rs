use smarm::rt::{self, Config};
use std::hint::black_box;
use std::time::Instant;
fn main() {
    let workers: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let iters: u64 = 5_000_000;
    let d = rt::run(Config::new().workers(workers), move || {
        let start = Instant::now();
        let mut left = iters;
        let mut hs = Vec::with_capacity(1000);
        while left > 0 {
            let n = left.min(1000);
            hs.extend((0..n).map(|i| smarm::thread::spawn(move || black_box(i))));
            for h in hs.drain(..) {
                black_box(h.join().unwrap());
            }
            left -= n;
        }
        start.elapsed()
    });
    println!(
        "{:.1} ns per spawn+join",
        d.as_nanos() as f64 / iters as f64
    );
}
