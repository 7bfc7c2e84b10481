use smarm::thread;
fn main() {
    let hs: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || {
                thread::yield_now();
                i * 2
            })
        })
        .collect();
    let s: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    println!("sum {s}");
    let h = thread::Builder::new()
        .name("sleepy".into())
        .spawn(|| {
            let t = std::time::Instant::now();
            thread::sleep(std::time::Duration::from_millis(20));
            t.elapsed()
        })
        .unwrap();
    println!("slept {:?}", h.join().unwrap());
    let h = thread::Builder::new()
        .name("boom".into())
        .spawn(|| panic!("oh no"))
        .unwrap();
    println!("join err: {}", h.join().is_err());
    let r = smarm::rt::run(smarm::rt::Config::new().workers(2), || {
        let h = thread::spawn(|| 5);
        h.join().unwrap() + 1
    });
    println!("run {r}");
}
