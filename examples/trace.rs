//! Writes a scheduler trace you can open in Perfetto (<https://ui.perfetto.dev>, "Open trace
//! file") or `chrome://tracing`: one track per worker, a slice per green-thread run, and instant
//! events for spawns, parks (with what they wait on), wakes and steals.
//!
//! `cargo run --example trace [path]` (default `smarm-trace.json`). The same trace comes from any
//! smarm program run with `SMARM_TRACE=path.json`.

use smarm::rt::{self, Config};
use smarm::sync::{Arc, Mutex, mpsc};
use smarm::thread;
use std::time::Duration;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "smarm-trace.json".into());
    rt::run(Config::new().workers(2).trace(&path), || {
        // A producer and two consumers over a bounded channel.
        let (tx, rx) = mpsc::sync_channel::<u64>(4);
        let rx = Arc::new(Mutex::new(rx));
        let total = Arc::new(Mutex::new(0u64));
        let consumers: Vec<_> = (0..2)
            .map(|i| {
                let (rx, total) = (rx.clone(), total.clone());
                thread::Builder::new()
                    .name(format!("consumer-{i}"))
                    .spawn(move || {
                        loop {
                            let msg = rx.lock().unwrap().recv();
                            let Ok(v) = msg else { return };
                            *total.lock().unwrap() += v;
                            thread::sleep(Duration::from_micros(50));
                        }
                    })
                    .unwrap()
            })
            .collect();
        let producer = thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                for v in 0..200 {
                    tx.send(v).unwrap();
                }
            })
            .unwrap();
        // A burst of short-lived threads, for spawns and steals.
        let burst: Vec<_> = (0..100)
            .map(|i| thread::spawn(move || (0..1000u64).map(|x| x ^ i).sum::<u64>()))
            .collect();
        for h in burst {
            std::hint::black_box(h.join().unwrap());
        }
        producer.join().unwrap();
        for c in consumers {
            c.join().unwrap();
        }
        println!("total {}", *total.lock().unwrap());
        println!("{}", rt::stats());
    });
    println!("trace written to {path}: open it in https://ui.perfetto.dev or chrome://tracing");
}
