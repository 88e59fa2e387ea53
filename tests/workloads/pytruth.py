"""pytruth.py - Python thread workloads that measure themselves, for any CPython 3.8-3.15,
with or without the GIL (stdlib only). The last stdout line is the truth, one JSON object.

  pytruth.py lock       4 threads contend on one threading.Lock (account_lock), each holding it
                        ~1 ms (asleep) 60 times; a thread times an acquire() only when a
                        non-blocking try failed first (a blocked acquire)
  pytruth.py cpu        3 threads spin in pure Python for 1 s: each one's time.thread_time()
  pytruth.py ftgil      on a free-threaded build, turn the GIL on at run time (import the C
                        extension oldext, built without Py_mod_gil, from $TT_OLDEXT_DIR, or
                        PYTHON_GIL=1 in the environment), then the cpu phase
  pytruth.py deadlock   threads 'poster' and 'auditor' take ledger_lock and audit_lock in
                        opposite orders: the truth (who holds what) is printed before they
                        hang; the process ends itself after $TT_HANG seconds (default 3)
  pytruth.py condition|queue|event|semaphore|join
                        consumer threads wait for work a producer hands over at known
                        intervals: each times its own waits

With `--go` the program prints 'pid N' first and waits for a file 'go' in its working
directory (to be attached to with -p). Each thread is named; the truth gives its native id.
"""
import gc
import json
import os
import queue
import sys
import sysconfig
import threading
import time

ITERS = 60
HOLD = 0.001
results = []  # one dict per thread, appended by the thread itself
ledger_lock = threading.Lock()
audit_lock = threading.Lock()
account_lock = threading.Lock()


def me(**kw):
    d = {"name": threading.current_thread().name, "tid": threading.get_native_id()}
    d.update(kw)
    return d


def gil_enabled():
    f = getattr(sys, "_is_gil_enabled", None)
    return f() if f else True


def lock_worker():
    blocked, blocked_s, acquires = 0, 0.0, 0
    for _ in range(ITERS):
        if not account_lock.acquire(False):
            t0 = time.perf_counter()
            account_lock.acquire()  # tt:acquire
            blocked_s += time.perf_counter() - t0
            blocked += 1
        acquires += 1
        time.sleep(HOLD)
        account_lock.release()
        sum(range(300))  # a little work outside the lock
    results.append(me(acquires=acquires, blocked_acquires=blocked,
                      blocked_ns=int(blocked_s * 1e9)))


def spinner(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    results.append(me(cpu_ns=int(time.thread_time() * 1e9), loops=n))


def consumer(wait_once, count):
    """Times count calls of wait_once(), the waits for work of one mode."""
    waited = 0.0
    for _ in range(count):
        t0 = time.perf_counter()
        wait_once()
        waited += time.perf_counter() - t0
    results.append(me(waits=count, wait_ns=int(waited * 1e9)))


def waits_mode(mode):
    """(threads, extra truth): consumers that wait for a producer's hand-overs."""
    gap, count = 0.02, 15
    if mode == "condition":
        cond = threading.Condition()
        ready = []

        def wait_once():
            with cond:
                while not ready:
                    cond.wait()  # tt:cond
                ready.pop()

        def produce():
            for _ in range(count):
                time.sleep(gap)
                with cond:
                    ready.append(1)
                    cond.notify()
        return [threading.Thread(target=consumer, args=(wait_once, count), name="cond-waiter"),
                threading.Thread(target=produce, name="producer")]
    if mode == "queue":
        q = queue.Queue()

        def produce():
            for i in range(count):
                time.sleep(gap)
                q.put(i)
        return [threading.Thread(target=consumer, args=(q.get, count), name="queue-getter"),
                threading.Thread(target=produce, name="producer")]
    if mode == "semaphore":
        sem = threading.Semaphore(0)

        def produce():
            for _ in range(count):
                time.sleep(gap)
                sem.release()
        return [threading.Thread(target=consumer, args=(sem.acquire, count), name="sem-waiter"),
                threading.Thread(target=produce, name="producer")]
    if mode == "event":
        ev = threading.Event()

        def produce():
            time.sleep(0.3)
            ev.set()
        return ([threading.Thread(target=consumer, args=(ev.wait, 1), name=f"ev-waiter-{i}")
                 for i in range(3)] + [threading.Thread(target=produce, name="setter")])
    if mode == "join":
        worker = threading.Thread(target=time.sleep, args=(0.4,), name="sleeper")
        worker.start()
        return [threading.Thread(target=consumer, args=(worker.join, 1), name=f"joiner-{i}")
                for i in range(3)]
    return None


def turn_gil_on():
    """Free-threaded builds: the GIL comes on when a module without Py_mod_gil is imported
    (or with PYTHON_GIL=1). Returns how, for the truth."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "always (not a free-threaded build)"
    if os.environ.get("PYTHON_GIL") == "1":
        return "PYTHON_GIL=1"
    ext = os.environ.get("TT_OLDEXT_DIR")
    if ext:
        sys.path.insert(0, ext)
        import oldext  # noqa: F401  (no Py_mod_gil slot: CPython turns the GIL on)
        return "import oldext"
    return "not turned on"


def deadlock():
    truth = {}
    both = threading.Barrier(2)

    def take(first, second, names):
        with first:
            truth[threading.current_thread().name] = me(holds=names[0], waits_for=names[1],
                                                         waits_id=id(second))
            both.wait()
            if threading.current_thread().name == "auditor":
                out(sorted(truth.values(), key=lambda t: t["name"]))
            with second:  # tt:deadlock
                pass
    threads = [threading.Thread(target=take, args=(ledger_lock, audit_lock,
                                                   ("ledger_lock", "audit_lock")), name="poster",
                                daemon=True),
               threading.Thread(target=take, args=(audit_lock, ledger_lock,
                                                   ("audit_lock", "ledger_lock")), name="auditor",
                                daemon=True)]
    for t in threads:
        t.start()
    time.sleep(float(os.environ.get("TT_HANG", "3")))
    sys.stdout.flush()
    os._exit(0)


def out(threads_truth):
    print(json.dumps({
        "mode": MODE, "python": "%d.%d.%d" % sys.version_info[:3], "version": sys.version,
        "executable": sys.executable, "pid": os.getpid(),
        "ft_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "debug_build": hasattr(sys, "gettotalrefcount"),
        "gil_enabled": gil_enabled(), "gil_on_by": GIL_BY,
        "threads": threads_truth}), flush=True)


MODE = sys.argv[1] if len(sys.argv) > 1 else ""
GIL_BY = None


def main():
    global GIL_BY
    if "--go" in sys.argv:
        print("pid", os.getpid(), flush=True)
        while not os.path.exists("go"):
            time.sleep(0.01)
    if MODE == "deadlock":
        deadlock()
    if MODE == "ftgil":
        GIL_BY = turn_gil_on()
    threads = waits_mode(MODE)
    if MODE == "lock":
        threads = [threading.Thread(target=lock_worker, name=f"teller-{i}") for i in range(4)]
    elif MODE in ("cpu", "ftgil"):
        # a spinner's CPU after it read thread_time (a collection run by its last allocations
        # took 20-30 ms of a debug build at load 5-10) is its CPU too, but not in its truth
        gc.disable()
        threads = [threading.Thread(target=spinner, args=(1.0,), name=f"spinner-{i}")
                   for i in range(3)]
    if threads is None:
        sys.exit("usage: pytruth.py lock|cpu|ftgil|deadlock|condition|queue|event|semaphore|"
                 "join [--go]")
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out(results)


main()
