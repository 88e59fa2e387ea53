"""pyft.py - free-threaded CPython (3.13t, GIL off) workloads that measure themselves (stdlib
only). The last stdout line is the truth, one JSON object.

  pyft.py shared   4 threads append to one shared list (shared_list) and update one shared
                   dict (shared_dict) in a tight loop, each also to a list of its own: the
                   objects' critical sections (ob_mutex) contend. The truth: id() and type of
                   the shared objects and of one private list, each thread's wall time
  pyft.py gc       2 threads spin allocating while the main thread calls gc.collect() N times,
                   timing each call (each stop-the-world pause lies inside one)
"""
import gc
import json
import sys
import threading
import time

RUN_S = 0.6
shared_list = []
shared_dict = {}
results = []


def me(**kw):
    d = {"name": threading.current_thread().name, "tid": threading.get_native_id()}
    d.update(kw)
    return d


def appender(i, own):
    t0 = time.perf_counter()
    end = t0 + RUN_S
    n = 0
    while time.perf_counter() < end:
        for _ in range(200):
            shared_list.append(n)  # tt:append
            shared_dict[n & 63] = n  # tt:dict
            own.append(n)
            n += 1
        if len(shared_list) > 100000:
            shared_list.clear()
    results.append(me(loops=n, wall_ns=int((time.perf_counter() - t0) * 1e9)))


def spinner(stop):
    t0 = time.perf_counter()
    junk = []
    while not stop.is_set():
        junk.append([object() for _ in range(20)])
        if len(junk) > 2000:
            junk = []
    results.append(me(wall_ns=int((time.perf_counter() - t0) * 1e9)))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "shared"
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    truth = {"mode": mode, "python": sys.version.split()[0], "gil_enabled": gil}
    t0 = time.perf_counter()
    if mode == "shared":
        owns = [[] for _ in range(4)]
        threads = [threading.Thread(target=appender, args=(i, owns[i]), name=f"appender-{i}")
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        truth.update(shared_list={"id": hex(id(shared_list)), "type": type(shared_list).__name__},
                     shared_dict={"id": hex(id(shared_dict)), "type": type(shared_dict).__name__},
                     own_list={"id": hex(id(owns[0])), "type": "list"})
    elif mode == "gc":
        stop = threading.Event()
        threads = [threading.Thread(target=spinner, args=(stop,), name=f"spinner-{i}")
                   for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        calls = []
        for _ in range(20):
            c0 = time.perf_counter()
            gc.collect()  # tt:collect
            calls.append(int((time.perf_counter() - c0) * 1e9))
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join()
        truth.update(collects=len(calls), collect_ns=calls, main_tid=threading.get_native_id())
    truth["wall_ns"] = int((time.perf_counter() - t0) * 1e9)
    truth["threads"] = results
    print(json.dumps(truth), flush=True)


if __name__ == "__main__":
    main()
