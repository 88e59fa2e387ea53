# pysync.py [PHASES] - Python synchronisation objects that time themselves (tests/live/python.py).
# Each phase makes its threads block on one object and measures every blocked call: an
# acquire is first tried with blocking=False, and only a failed try is timed as a blocking
# acquire (a "blocked acquisition"); wait()/get()/join() calls are all timed. At the end it
# prints one JSON line {"pysync": {...}}: per object its expression (as the waiting line names it),
# kind, id(), blocked calls and their seconds, per thread ident (native id).
# PHASES: comma-separated of lock,rlock,condition,event,queue,semaphore,barrier,join,starve,
# simplequeue,pool (all). pool's truth is apart ({"pool": ...}): one object per Future.
# START: sleep this many seconds first (a tracer attaching, the GIL probes decoding).
# SCALE: a factor on every phase's number of rounds (a small record file: SCALE=0.1).
import json, os, sys, threading, time, queue
from concurrent.futures import ThreadPoolExecutor

phases = (sys.argv[1] if len(sys.argv) > 1 else "all").split(",")
if phases == ["all"]:
    phases = ["lock", "rlock", "condition", "event", "queue", "semaphore", "barrier", "join",
              "starve", "simplequeue", "pool"]
print("pid", os.getpid(), sys.version.split()[0], flush=True)
time.sleep(float(os.environ.get("START", "0.5")))
truth = {}
note_lock = threading.Lock()


def note(expr, kind, obj, secs):
    with note_lock:
        t = truth.setdefault(expr, {"kind": kind, "id": hex(id(obj)), "blocked": 0,
                                    "wait_s": 0.0, "threads": {}})
        t["blocked"] += 1
        t["wait_s"] += secs
        th = t["threads"].setdefault(str(threading.get_native_id()), [0, 0.0])
        th[0] += 1
        th[1] += secs


keep = []  # every Thread stays alive: no later object takes a joined thread's address


def run(threads):
    keep.extend(threads)
    for t in threads:
        t.start()
    for t in threads:
        t.join()


ledger_lock = threading.Lock()
audit_rlock = threading.RLock()


def lock_worker(n):
    for _ in range(n):
        if not ledger_lock.acquire(blocking=False):
            t0 = time.perf_counter()
            ledger_lock.acquire()
            note("ledger_lock", "python-lock", ledger_lock, time.perf_counter() - t0)
        time.sleep(0.002)
        ledger_lock.release()
        time.sleep(0.001)


def rlock_worker(n):
    for _ in range(n):
        if not audit_rlock.acquire(blocking=False):
            t0 = time.perf_counter()
            audit_rlock.acquire()
            note("audit_rlock", "python-rlock", audit_rlock, time.perf_counter() - t0)
        time.sleep(0.002)
        audit_rlock.release()
        time.sleep(0.001)


ready = threading.Condition(threading.Lock())
items = []


def cond_consumer(n):
    for _ in range(n):
        with ready:
            while not items:
                t0 = time.perf_counter()
                ready.wait()
                note("ready", "python-condition", ready, time.perf_counter() - t0)
            items.pop()


def cond_producer(n):
    for i in range(n):
        time.sleep(0.005)
        with ready:
            items.append(i)
            ready.notify()


go = threading.Event()


def event_waiter(n):
    for _ in range(n):
        blocks = not go.is_set()
        t0 = time.perf_counter()
        go.wait()
        if blocks:
            note("go", "python-event", go, time.perf_counter() - t0)
        time.sleep(0.006)


def event_setter(n):
    for _ in range(n):
        time.sleep(0.010)
        go.set()
        time.sleep(0.003)
        go.clear()


jobs = queue.Queue()


def queue_consumer(n):
    for _ in range(n):
        blocks = jobs.empty()
        t0 = time.perf_counter()
        jobs.get()
        if blocks:
            note("jobs", "python-queue", jobs, time.perf_counter() - t0)


def queue_producer(n):
    for i in range(n):
        time.sleep(0.005)
        jobs.put(i)


pool_sem = threading.Semaphore(1)


def sem_worker(n):
    for _ in range(n):
        if not pool_sem.acquire(blocking=False):
            t0 = time.perf_counter()
            pool_sem.acquire()
            note("pool_sem", "python-semaphore", pool_sem, time.perf_counter() - t0)
        time.sleep(0.002)
        pool_sem.release()
        time.sleep(0.001)


gate = threading.Barrier(3)


def barrier_worker(n, i):
    for _ in range(n):
        time.sleep(0.002 + 0.004 * i)
        t0 = time.perf_counter()
        if gate.wait() != gate.parties - 1:  # the last to arrive does not wait
            note("gate", "python-barrier", gate, time.perf_counter() - t0)


def join_phase():
    w = threading.Thread(target=time.sleep, args=(0.3,), name="sleepy")
    keep.append(w)
    w.start()
    t0 = time.perf_counter()
    w.join()
    note("w", "python-join", w, time.perf_counter() - t0)


# two threads keep a BoundedSemaphore(2) busy, re-taking it at once: the two others'
# acquire() each waits many times in its Condition (one blocked call each)
pool_slots = threading.BoundedSemaphore(2)


def slot_hog(n):
    for _ in range(n):
        pool_slots.acquire()
        time.sleep(0.004)
        pool_slots.release()


def slot_starved():
    time.sleep(0.02)
    if not pool_slots.acquire(blocking=False):
        t0 = time.perf_counter()
        pool_slots.acquire()
        note("pool_slots", "python-semaphore", pool_slots, time.perf_counter() - t0)
    pool_slots.release()


inbox = queue.SimpleQueue()  # C: no Python frame of its own


def simple_consumer(n):
    for _ in range(n):
        t0 = time.perf_counter()
        inbox.get()
        note("inbox", "python-queue", inbox, time.perf_counter() - t0)


def simple_producer(n):
    for i in range(n):
        time.sleep(0.005)
        inbox.put(i)


def pool_job(i):
    time.sleep(0.004 * (i % 4 + 1))
    return i


pool_truth = {}


def pool_phase(n):
    with ThreadPoolExecutor(max_workers=2) as ex:
        futs = [ex.submit(pool_job, i) for i in range(n)]
        for f in futs:
            f.result()  # tt:result
        time.sleep(0.1)  # its workers idle in work_queue.get()
    pool_truth.update(futures=n, workers=2)


T = threading.Thread


def N(n):
    return max(1, int(n * float(os.environ.get("SCALE", "1"))))


for ph in phases:
    if ph == "lock":
        run([T(target=lock_worker, args=(N(30),), name="lock-%d" % i) for i in range(3)])
    elif ph == "rlock":
        run([T(target=rlock_worker, args=(N(30),), name="rlock-%d" % i) for i in range(3)])
    elif ph == "condition":
        run([T(target=cond_consumer, args=(N(40),), name="cond-cons"),
             T(target=cond_producer, args=(N(40),), name="cond-prod")])
    elif ph == "event":
        run([T(target=event_waiter, args=(N(10),), name="ev-%d" % i) for i in range(2)] +
            [T(target=event_setter, args=(N(10),), name="ev-set")])
    elif ph == "queue":
        run([T(target=queue_consumer, args=(N(40),), name="q-cons"),
             T(target=queue_producer, args=(N(40),), name="q-prod")])
    elif ph == "semaphore":
        run([T(target=sem_worker, args=(N(30),), name="sem-%d" % i) for i in range(3)])
    elif ph == "barrier":
        run([T(target=barrier_worker, args=(N(15), i), name="bar-%d" % i) for i in range(3)])
    elif ph == "join":
        join_phase()
    elif ph == "starve":
        run([T(target=slot_hog, args=(N(40),), name="hog-%d" % i) for i in range(2)] +
            [T(target=slot_starved, name="starved-%d" % i) for i in range(2)])
    elif ph == "simplequeue":
        run([T(target=simple_consumer, args=(N(30),), name="sq-cons"),
             T(target=simple_producer, args=(N(30),), name="sq-prod")])
    elif ph == "pool":
        pool_phase(N(12))
print(json.dumps({"pysync": truth, "pool": pool_truth}), flush=True)
