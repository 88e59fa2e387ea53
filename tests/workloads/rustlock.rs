// SPDX-License-Identifier: GPL-2.0
// rustlock.rs - Rust std locks (futex-based since Rust 1.62, no pthread calls), built the way
// rustc builds by default: -O, no frame pointers, the code laid out by its own linker script.
//   rustlock SECONDS   three traders take the static ORDER_BOOK mutex in apply_trade(), each
//                      timing its own lock() calls; prints one JSON line of that truth.
//   rustlock condvar N a consumer waits on a std Condvar for N items a producer hands over one
//                      every 5 ms, counting its own wait() calls; prints that truth.
use std::sync::{Arc, Condvar, Mutex};
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

extern "C" {
    fn gettid() -> i32;
}

fn condvar(items: u32) {
    let q = Arc::new((Mutex::new(0u32), Condvar::new()));
    let q2 = q.clone();
    let consumer = thread::Builder::new()
        .name("consumer".into())
        .spawn(move || {
            let (m, cv) = &*q2;
            let (mut got, mut waits) = (0, 0u32);
            while got < items {
                let mut g = m.lock().unwrap();
                while *g == 0 {
                    g = cv.wait(g).unwrap();
                    waits += 1;
                }
                *g -= 1;
                got += 1;
            }
            (waits, unsafe { gettid() })
        })
        .unwrap();
    for _ in 0..items {
        thread::sleep(Duration::from_millis(5));
        let (m, cv) = &*q;
        *m.lock().unwrap() += 1;
        cv.notify_one();
    }
    let (waits, tid) = consumer.join().unwrap();
    println!("{{\"items\": {items}, \"cond_waits\": {waits}, \"consumer_tid\": {tid}}}");
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("condvar") {
        condvar(std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(100));
        return;
    }
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
