//! A batching worker that waits on three things at once with `smarm::sync::mpsc::Select`: a job
//! channel, a control channel and an idle timeout. It collects jobs into batches and hands a
//! batch on when it is full, when no job has come for 20 ms, or when told to flush; `Stop` (or
//! every controller gone) ends it.
//!
//! Run it with `cargo run --example select`.

use std::time::Duration;

use smarm::sync::mpsc::{self, Select};
use smarm::thread;

const BATCH: usize = 8;
const IDLE: Duration = Duration::from_millis(20);

enum Control {
    Flush,
    Stop,
}

fn worker(
    jobs: mpsc::Receiver<u32>,
    control: mpsc::Receiver<Control>,
    out: mpsc::SyncSender<(&'static str, Vec<u32>)>,
) {
    let mut batch = Vec::new();
    let mut jobs_open = true;
    let hand_on = |why, batch: &mut Vec<u32>| {
        if !batch.is_empty() {
            out.send((why, std::mem::take(batch))).unwrap();
        }
    };
    loop {
        let mut sel = Select::new();
        // Once the job channel has hung up it would always be ready: leave it out.
        let job = jobs_open.then(|| sel.recv(&jobs));
        let ctl = sel.recv(&control);
        match sel.select_timeout(IDLE) {
            Err(_) => hand_on("idle", &mut batch),
            Ok(op) if Some(op.index()) == job => match op.recv(&jobs) {
                Ok(j) => {
                    batch.push(j);
                    if batch.len() == BATCH {
                        hand_on("full", &mut batch);
                    }
                }
                Err(_) => jobs_open = false,
            },
            Ok(op) => {
                assert_eq!(op.index(), ctl);
                match op.recv(&control) {
                    Ok(Control::Flush) => hand_on("flush", &mut batch),
                    Ok(Control::Stop) | Err(_) => {
                        hand_on("stop", &mut batch);
                        return;
                    }
                }
            }
        }
    }
}

fn main() {
    let (job_tx, jobs) = mpsc::channel();
    let (control_tx, control) = mpsc::channel();
    let (out_tx, out) = mpsc::sync_channel(4);
    let w = thread::spawn(move || worker(jobs, control, out_tx));

    // A burst of 11 jobs (one full batch, the rest goes out when the line is idle), a quiet
    // spell, 3 more and an explicit flush, then 2 more and `Stop`. The two channels are not
    // ordered with each other: a control message may overtake jobs still queued, so the flush
    // takes whatever has been received when it is selected.
    thread::spawn(move || {
        (0..11).for_each(|j| job_tx.send(j).unwrap());
        thread::sleep(IDLE * 3);
        (11..14).for_each(|j| job_tx.send(j).unwrap());
        control_tx.send(Control::Flush).unwrap();
        (14..16).for_each(|j| job_tx.send(j).unwrap());
        thread::sleep(Duration::from_millis(1));
        control_tx.send(Control::Stop).unwrap();
    });

    let mut total = 0;
    for (why, batch) in out {
        println!("{why:>5}: {batch:?}");
        total += batch.len();
    }
    w.join().unwrap();
    assert_eq!(total, 16, "every job in exactly one batch");
}
