// SPDX-License-Identifier: GPL-2.0
// rustlock.rs - Rust std locks (futex-based since Rust 1.62, no pthread calls), built the way
// rustc builds by default: -O, no frame pointers, the code laid out by its own linker script.
//   rustlock SECONDS   three traders take the static ORDER_BOOK mutex in apply_trade(), each
//                      timing its own lock() calls; prints one JSON line of that truth.
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

static ORDER_BOOK: Mutex<u64> = Mutex::new(0);

fn spin(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

#[inline(never)]
fn apply_trade(px: u64) -> Duration {
    let t0 = Instant::now();
    let mut g = ORDER_BOOK.lock().unwrap();
    let waited = t0.elapsed();
    *g += px;
    spin(150);
    waited
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let traders: Vec<_> = (0..3u64)
        .map(|i| {
            thread::Builder::new()
                .name(format!("trader-{i}"))
                .spawn(move || {
                    let (mut waited, mut calls) = (Duration::ZERO, 0u64);
                    while Instant::now() < end {
                        waited += apply_trade(i);
                        calls += 1;
                        thread::sleep(Duration::from_micros(100));
                    }
                    (waited, calls)
                })
                .unwrap()
        })
        .collect();
    let (mut waited, mut calls) = (Duration::ZERO, 0u64);
    for t in traders {
        let (w, c) = t.join().unwrap();
        waited += w;
        calls += c;
    }
    println!("{{\"lock_calls\": {calls}, \"lock_wait_ns\": {}}}", waited.as_nanos());
}
