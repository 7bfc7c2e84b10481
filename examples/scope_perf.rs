use std::hint::black_box;
fn main() {
    let data: Vec<u64> = (0..1000).collect();
    let d = &data;
    let t = smarm::rt::run(smarm::rt::Config::new().workers(2), move || {
        let start = std::time::Instant::now();
        for _ in 0..2000 {
            smarm::thread::scope(|s| {
                for i in 0..1000 {
                    s.spawn(move || black_box(d[i]));
                }
            });
        }
        start.elapsed()
    });
    println!("{:?} per scope", t / 2000);
}
