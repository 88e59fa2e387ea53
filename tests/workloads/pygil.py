"""pygil.py - GIL workloads with their own truth, printed as one JSON line on stdout.

  pygil.py burn N SECONDS   N threads spin in Python for SECONDS: they only run holding the
                            GIL, so each one's thread CPU time is its hold time (near enough)
  pygil.py convoy SECONDS   one thread spins, another wakes every 1 ms (time.sleep): each
                            wake-up waits for the spinner to drop the GIL (~a switch interval)
  pygil.py work N ITERS     N threads each count to ITERS in Python (fixed work, for make bench)
  pygil.py yield N CALLS    N threads each call time.sleep(0) CALLS times: a GIL drop and take
                            per call (the worst case for GIL tracing, for make bench)
  pygil.py io N CALLS       N threads each read 64 bytes of /dev/zero CALLS times: the GIL is
                            dropped and taken again around each read (an I/O loop, for make bench)
  pygil.py lock ITERS MS    one thread holds a threading.Lock MS ms at a time, another takes it
                            ITERS times; the waiter times its blocked acquire() calls

With TT_PYGIL_IMPORT=DIR in the environment the C extension oldext is imported from DIR before
the threads start: built without Py_mod_gil, it switches a free-threaded build's GIL on.

Truth: CPython's own switch_number (read through ctypes, offsets of
doc/cpython-layouts.md) before the threads start and after they end, each thread's
native id, time.thread_time(), and for the sleeper its oversleep (time past each 1 ms sleep).
"""
import ctypes, json, os, sys, threading, time

V = sys.version_info[:2]
RT = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))


def ptr(addr):
    return ctypes.c_uint64.from_address(addr).value


def gil():
    static = {(3, 8): 1152, (3, 9): 352, (3, 10): 352, (3, 11): 360}
    if V in static:
        return RT + static[V]
    if V == (3, 12):
        return ptr(ptr(RT + 40) + 384)
    # 3.13+: _Py_DebugOffsets at RT: interpreters_head, ceval_gil, gil_runtime_state and its
    # locked, at these places of the block (a free-threaded GIL starts with `enabled`: the
    # GIL from its interval on, as threadtrace reports it)
    head, ceval_gil, state, locked = {13: (40, 112, 120, 136)}.get(V[1], (40, 120, 128, 144))
    g = ptr(ptr(RT + ptr(RT + head)) + ptr(RT + ceval_gil))
    return g + ptr(RT + locked) - ptr(RT + state) - 16


def switch_number():
    return ptr(gil() + 24)


results = []
done = threading.Event()


def run_delay_ns():
    """The kernel's count of this thread's time runnable but not running (schedstat)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def spin(seconds):
    end = time.monotonic() + seconds
    x = 0
    delay0 = run_delay_ns()
    while time.monotonic() < end:
        x += 1
    results.append({"tid": threading.get_native_id(), "cpu_ns": int(time.thread_time() * 1e9),
                    "run_delay_ns": run_delay_ns() - delay0, "kind": "spin"})


def sleeper(seconds):
    end = time.monotonic() + seconds
    wakes, over = 0, 0.0
    delay0 = run_delay_ns()
    while time.monotonic() < end:
        t0 = time.monotonic()
        time.sleep(0.001)  # tt:sleep
        over += time.monotonic() - t0 - 0.001
        wakes += 1
    results.append({"tid": threading.get_native_id(), "cpu_ns": int(time.thread_time() * 1e9),
                    "kind": "sleeper", "wakes": wakes, "oversleep_ns": int(over * 1e9),
                    "run_delay_ns": run_delay_ns() - delay0})


def count(iters):
    x = 0
    for _ in range(iters):
        x += 1
    results.append({"tid": threading.get_native_id(), "cpu_ns": int(time.thread_time() * 1e9),
                    "kind": "work"})


def yielder(calls):
    for _ in range(calls):
        time.sleep(0)
    results.append({"tid": threading.get_native_id(), "cpu_ns": int(time.thread_time() * 1e9),
                    "kind": "yield"})


def reader(calls):
    fd = os.open("/dev/zero", os.O_RDONLY)
    for _ in range(calls):
        os.read(fd, 64)
    os.close(fd)
    results.append({"tid": threading.get_native_id(), "cpu_ns": int(time.thread_time() * 1e9),
                    "kind": "io"})


def hold_lock(lock, iters, hold, taken):
    for _ in range(iters):
        lock.acquire()
        taken.release()  # a semaphore: a hand-over the waiter is late for is not lost
        time.sleep(hold)
        lock.release()  # tt:release
        time.sleep(hold)  # the waiter takes it meanwhile


def wait_lock(lock, iters, taken):
    waited = 0.0
    for _ in range(iters):
        taken.acquire()
        t0 = time.monotonic()
        lock.acquire()  # tt:acquire
        waited += time.monotonic() - t0
        lock.release()
    results.append({"tid": threading.get_native_id(), "kind": "lock_waiter",
                    "waited_ns": int(waited * 1e9)})


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "work":
        threads = [threading.Thread(target=count, args=(int(args[1]),))
                   for _ in range(int(args[0]))]
    elif mode == "yield":
        threads = [threading.Thread(target=yielder, args=(int(args[1]),))
                   for _ in range(int(args[0]))]
    elif mode == "io":
        threads = [threading.Thread(target=reader, args=(int(args[1]),))
                   for _ in range(int(args[0]))]
    elif mode == "burn":
        n, seconds = int(args[0]), float(args[1])
        threads = [threading.Thread(target=spin, args=(seconds,)) for _ in range(n)]
    elif mode == "convoy":
        seconds = float(args[0])
        threads = [threading.Thread(target=spin, args=(seconds,)),
                   threading.Thread(target=sleeper, args=(seconds,))]
    elif mode == "lock":
        iters, hold = int(args[0]), float(args[1]) / 1000
        lock, taken = threading.Lock(), threading.Semaphore(0)
        threads = [threading.Thread(target=hold_lock, args=(lock, iters, hold, taken)),
                   threading.Thread(target=wait_lock, args=(lock, iters, taken))]
    else:
        sys.exit("usage: pygil.py burn N SECONDS | convoy SECONDS | work N ITERS | "
                 "yield N CALLS | io N CALLS | lock ITERS MS")
    time.sleep(0.5)  # the tracer finds the interpreter (decoding a stripped one: ~0.2 s)
    if os.environ.get("TT_PYGIL_IMPORT"):
        sys.path.insert(0, os.environ["TT_PYGIL_IMPORT"])
        import oldext  # noqa: F401  (no Py_mod_gil: a free-threaded build's GIL comes on)
    s0 = switch_number()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    s1 = switch_number()
    enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(json.dumps({"python": "%d.%d" % V, "switches": s1 - s0, "elapsed_ns": int(elapsed * 1e9),
                      "gil_enabled": enabled, "threads": results}), flush=True)


main()
