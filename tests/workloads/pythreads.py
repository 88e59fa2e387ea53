"""pythreads.py - 50 Python threads share one threading.Lock and sleep 0.5 ms between turns for
1.5 s: a busy mix of GIL hand-offs, lock waits and wake-ups (a stress load for the collector)."""
import threading, time
lock = threading.Lock()
def worker():
    end = time.time() + 1.5
    n = 0
    while time.time() < end:
        with lock:
            n += sum(range(200))
        time.sleep(0.0005)
ts = [threading.Thread(target=worker) for _ in range(50)]
[t.start() for t in ts]; [t.join() for t in ts]
