"""Live tests of CPython targets: the GIL on every Python here, Python frames in stacks,
threading's objects (Lock, RLock, Condition, Event, Queue, Semaphore), Python thread names,
the Debian roots' builds (debug offsets, free-threaded 3.13t).

Imported by run.py.
"""
import json
import os
import re
import shutil
import subprocess

from common import (PYGIL, ROOT, TMP, TT, frames_of, lock_named, no_programs_left, pythons,
                    run_attached, run_traced, stack_has)
from harness import Fail, Skip, check, check_perfetto, near, perfetto_packets

# run.py imports the tests, not these globals
__all__ = ["test_gil_every_python_version", "test_python_lock_frames",
           "test_short_python_command_frames_named", "test_gil_report_and_no_gil",
           "test_gil_attach_to_running_python", "test_python_frame_local0_is_self",
           "test_python_sync_objects", "test_python_sync_objects_parking_lot",
           "test_python_sync_objects_holds", "test_gil_from_debug_offsets_in_debian_root",
           "test_gil_free_threaded_313t", "test_python_thread_names_everywhere",
           "test_python_brief_threads_named"]


def marker_line(tag):
    """The line of pygil.py marked '# tt:TAG': the truth for Python frames' line numbers."""
    with open(PYGIL) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# tt:{tag}"):
                return n
    raise Fail(f"no tt:{tag} in {PYGIL}")


def py_frame_at(stack, func, tag):
    """Index of the Python frame 'func (pygil.py:LINE)' in a stack, LINE marked by tag."""
    want = f"{func} (pygil.py:{marker_line(tag)})"
    return stack.index(want) if want in stack else -1


def check_convoy_run(py):
    p, s, truth = run_traced(["--", py, PYGIL, "convoy", "1"], "gil", timeout=60)
    check(p.returncode == 0, p.stderr)
    g, t = s["gil"], truth[0]
    check(g is not None, f"{py}: no GIL traced: {p.stderr}")
    check(g["python"].startswith(t["python"]), f"{py}: version {g['python']} vs {t['python']}")
    # hand-offs counted from the probed takes against CPython's own switch_number
    check(g["switches"] == t["switches"],
          f"{py}: {g['switches']} switches vs switch_number {t['switches']}")
    check(g["forced_drops"] > 0, f"{py}: no forced drops behind a spinning thread")
    by_tid = {x["tid"]: x for x in g["threads"]}
    states = {x["tid"]: x for x in s["threads"]}
    for w in t["threads"]:
        th = by_tid.get(w["tid"])
        check(th is not None, f"{py}: thread {w['tid']} not in the GIL table")
        # THREADS: its futex waits on the GIL's words are the gil column, not lock or cond
        # (the GIL's condvar), at most its GIL wait; the six columns add up to its traced time
        st = states[w["tid"]]
        check(st["lock_wait_ns"] + st["cond_wait_ns"] <= 0.01 * st["traced_ns"] and
              0 < st["gil_blocked_ns"] <= th["wait_ns"] + 1e6,
              f"{py}: THREADS of {w['kind']} {w['tid']}: {st} vs GIL wait {th['wait_ns']}")
        check(sum(st[k] for k in ("on_cpu_ns", "runnable_ns", "lock_wait_ns", "cond_wait_ns",
                                  "other_wait_ns", "gil_blocked_ns")) == st["traced_ns"],
              f"{py}: THREADS of {w['tid']} do not add up: {st}")
        if w["kind"] == "spin":
            # it runs only holding the GIL: its hold time is its CPU time plus the time it was
            # preempted holding it, which is at most its runnable time (the kernel's schedstat
            # run_delay: large on a loaded machine)
            check(0.9 * w["cpu_ns"] <= th["hold_ns"] <=
                  1.15 * (w["cpu_ns"] + w.get("run_delay_ns", 0)) + 5e6,
                  f"{py}: spinner held {th['hold_ns']} vs its CPU time {w['cpu_ns']} + "
                  f"runnable {w.get('run_delay_ns')}")
            check(not th["convoy"], f"{py}: the spinner is not a convoy victim")
        else:
            # each wake-up past its 1 ms sleep is the GIL wait (plus timer slack), and the time
            # it waited for a CPU before it could ask for the GIL (its run_delay: large on a
            # loaded machine)
            over, rd = w["oversleep_ns"], w.get("run_delay_ns", 0)
            check(0.9 * over - rd <= th["wait_ns"] <= 1.1 * over,
                  f"{py}: sleeper waited {th['wait_ns']} vs its oversleep {over} "
                  f"(runnable {rd})")
            check(th["convoy"], f"{py}: the sleeper is flagged as a convoy victim")
        check(th["on_cpu_with_gil_ns"] <= th["hold_ns"] + 1e6, f"{py}: on-CPU with > held")
    # Python frames, merged: the sleeper waits under time.sleep at its own line
    sleeper = [x for x in t["threads"] if x["kind"] == "sleeper"][0]["tid"]
    waits = [w for w in g["waiters"] if w["tid"] == sleeper]
    at = [w for w in waits if py_frame_at(w["stack"], "sleeper", "sleep") > 0]
    check(sum(w["wait_ns"] for w in at) >= 0.9 * sum(w["wait_ns"] for w in waits),
          f"{py}: sleeper's waits at pygil.py:{marker_line('sleep')}: {waits[:1]}")
    return p, g


def test_gil_every_python_version():
    exes = pythons()
    if not exes:
        raise Skip("no CPython 3.8-3.13 here")
    for py in exes:
        p, g = check_convoy_run(py)
        if not py.startswith("/usr/bin/"):
            # symbol builds: the sleeper's waits are at time.sleep's re-take, and the Python
            # frame stands where the eval loop was, under time_sleep
            stacks = [w["stack"] for w in g["waiters"]]
            check(stack_has(stacks, "take_gil") and stack_has(stacks, "time_sleep"),
                  f"{py}: waiter stacks {stacks[:1]}")
            for st in stacks:
                i = py_frame_at(st, "sleeper", "sleep")
                if i > 0 and "time_sleep" in frames_of(st):
                    check(frames_of(st).index("time_sleep") < i and
                          "_PyEval_EvalFrameDefault" not in frames_of(st)[i - 3:i + 1],
                          f"{py}: mixed stack {st}")
        else:
            check("stripped" in g["method"], g["method"])


def test_python_lock_frames():
    """threading.Lock contention: the waiter's Python frame at its acquire() line, the
    releaser's at its release() line, the wait as long as the waiter measured it."""
    exes = pythons()
    if not exes:
        raise Skip("no CPython 3.8-3.13 here")
    for py in exes:
        p, s, truth = run_traced(["-q", "--", py, PYGIL, "lock", "30", "5"], "pylock",
                                 timeout=60)
        check(p.returncode == 0, p.stderr)
        t = truth[0]["threads"][0]
        # the lock waited on longest there (its GIL re-take is under acquire() too)
        at = [lk for lk in s["locks"] for w in lk["waiters"]
              if w["tid"] == t["tid"] and py_frame_at(w["stack"], "wait_lock", "acquire") > 0]
        check(at, f"{py}: no lock waited on at wait_lock's acquire()")
        found = max(at, key=lambda lk: lk["wait_ns"])
        # a threading.Lock's waits are the Lock's (its sem_t on Linux): lock contention
        check(found["kind"] == "python-lock", f"{py}: kind {found['kind']}")
        own = sum(w["wait_ns"] for w in found["waiters"] if w["tid"] == t["tid"])
        check(0.8 * t["waited_ns"] <= own <= 1.02 * t["waited_ns"],
              f"{py}: lock waited {own} vs the waiter's own {t['waited_ns']}")
        # (on a loaded machine the holder may find the lock still taken by the waiter too:
        # its waits, and the waiter's wake-ups of it, are at its own lines)
        for w in (w for w in found["waiters"] if w["tid"] == t["tid"]):
            i = py_frame_at(w["stack"], "wait_lock", "acquire")
            check(i > 0 and "sem_" in " ".join(w["stack"][:i]),
                  f"{py}: native sem_wait frames above the Python caller: {w['stack']}")
        check(all(py_frame_at(k["stack"], "hold_lock", "release") >= 0
                  for k in found["wakers"] if k["tid"] != t["tid"]),
              f"{py}: releaser frames {found['wakers']}")


SHORT_PY = """
import threading, time
lock = threading.Lock()
def worker(n):
    for i in range(50):
        with lock:
            time.sleep(0.001)
def launcher():
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
launcher()
"""


def test_short_python_command_frames_named():
    # a command that ends at once: its code objects are read while it is held in
    # Py_FinalizeEx, so its Python frames are named, not [python code 0x...]
    src = os.path.join(TMP, "short.py")
    with open(src, "w") as f:
        f.write(SHORT_PY)
    exes = pythons()
    if not exes:
        raise Skip("no CPython 3.8-3.13 here")
    checked = 0
    for py in exes:
        p, s, _ = run_traced(["-q", "--", py, src], "short-py")
        check(p.returncode == 0, f"{py}: {p.stderr}")
        if s["gil"] is None:
            # Debian's stripped build: its GIL is found by decoding, which this short a
            # command outruns (an open item); it says so, and its frames are not walked
            check("GIL not traced" in p.stderr, f"{py}: silent about the GIL: {p.stderr}")
            continue
        checked += 1
        frames = [fr for lk in s["locks"] for w in lk["waiters"] for fr in w["stack"]
                  if "python code" in fr or ".py:" in fr]
        named = [fr for fr in frames if ".py:" in fr]
        check(frames and len(named) >= 0.95 * len(frames),
              f"{py}: {len(named)} of {len(frames)} Python frames named")
        check(any(fr.startswith("worker (short.py:") for fr in named), f"{py}: {named[:3]}")
    check(checked, "no interpreter whose GIL was traced")
    no_programs_left()


def test_gil_report_and_no_gil():
    py = (pythons() or [None])[-1]
    if not py:
        raise Skip("no CPython here")
    pf, js = os.path.join(TMP, "gil.pftrace"), os.path.join(TMP, "gil-report.json")
    p = subprocess.run([TT, "--perfetto", pf, "--json", js, "--", py, PYGIL, "convoy", "0.6"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, p.stderr)
    check("GIL (Python 3." in p.stdout and "CONVOY: tid" in p.stdout, p.stdout[-3000:])
    # every store is probed at the emulated instruction after it (~1 us a hit, not ~16)
    check("GIL traced at" in p.stderr and ", 0 single-stepped)" in p.stderr, p.stderr)
    with open(js) as f:
        g = json.load(f)["gil"]
    if shutil.which("protoc"):
        # the GIL holder track's slices add up to the hold time; each thread has its own
        text = check_perfetto(pf)
        check('name: "GIL holder"' in text and 'name: "holds the GIL"' in text and
              'name: "waits for the GIL"' in text, "GIL tracks in the Perfetto trace")
        packets = perfetto_packets(text)
        track = [pk["uuid"][0] for pk in packets if pk.get("name") == ['"GIL holder"']]
        check(len(track) == 1, "one GIL holder track")
        held, begin = 0, None
        for pk in packets:
            if pk.get("track_uuid") == track:
                ts = int(pk["timestamp"][0])
                if pk["type"][0] == "TYPE_SLICE_BEGIN":
                    begin = ts
                else:
                    held += ts - begin
        near(held, g["hold_ns"], 0.01, "GIL holder slices vs the JSON's hold_ns")
    p, s, _ = run_traced(["-q", "--no-gil", "--", py, PYGIL, "burn", "2", "0.3"], "nogil")
    check(p.returncode == 0 and s["gil"] is None, "--no-gil still traced the GIL")


def test_gil_attach_to_running_python():
    py = (pythons() or [None])[-1]
    if not py:
        raise Skip("no CPython here")
    _, s, truth = run_attached([py, PYGIL, "burn", "2", "3"], [], "gil-attach", 1.0)
    g = s["gil"]
    check(g is not None, "no GIL traced on attach")
    # two spinners for 1 s of the 3: about 200 switches a second, a third of the truth; the
    # GIL is traced once its stores are decoded, within DURATION: figures are of that part
    traced = g["traced_ns"] / 1e9
    check(0.3 <= traced <= 1.1, f"the GIL traced for {traced:.3f} s of a 1 s session")
    check(0.2 * traced * truth["switches"] <= g["switches"] <= 0.5 * traced * truth["switches"],
          f"{g['switches']} switches in {traced:.3f} s of {truth['switches']} in 3 s")
    check(g["switch_number_last"] - g["switch_number_first"] in
          range(g["switches"] - 1, g["switches"] + 2), "switch_number moved with the takes")
    spin = [t for t in g["threads"] if t["takes"] > 10]
    check(len(spin) == 2 and all(0.3 * g["traced_ns"] <= t["hold_ns"] <= 0.7 * g["traced_ns"]
                                 for t in spin),
          f"two spinners sharing {traced:.3f} s: {spin}")
    no_programs_left()



def record_pystacks(path):
    """The Python stacks of a record file, each a list of (frame name, local0), leaf first."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    frames, chunks, off = {}, [], 16
    while off + 16 <= len(data):
        typ, _, ln = struct.unpack_from("<IIQ", data, off)
        body = data[off + 16:off + 16 + ln]
        off += 16 + (ln + 7) // 8 * 8
        if typ in (2, 8):  # RECORDS, RCHUNK
            chunks.append(body)
        elif typ == 3:  # FRAMES: {u64 ip, u16 name_len, u16 func_len, name, func}
            at = 0
            while at < len(body):
                ip, nl, fl = struct.unpack_from("<QHH", body, at)
                frames[ip] = body[at + 12:at + 12 + nl].decode(errors="replace")
                at += 12 + nl + fl
    stacks = []
    for body in chunks:
        at = 0
        while at + 24 <= len(body):
            size, kind = struct.unpack_from("<HH", body, at)
            if kind == 12 and size >= 32:  # TT_REC_PYSTACK
                nr = struct.unpack_from("<H", body, at + 26)[0]
                stride = (size - 32) // nr if nr else 24
                st = []
                for i in range(nr):
                    code, instr, _ = struct.unpack_from("<QII", body, at + 32 + i * stride)
                    local0 = struct.unpack_from("<Q", body, at + 48 + i * stride)[0] \
                        if stride == 24 else 0
                    h = ((code ^ (instr << 40 | instr)) * 0x9e3779b97f4a7c15) & (2**64 - 1)
                    st.append((frames.get((h >> 2) | (1 << 62), "?"), local0))
                stacks.append(st)
            at += max(size, 24)
    return stacks


COND_PY = """
import json, threading, time
cond = threading.Condition()
print(json.dumps({"cond": id(cond)}), flush=True)
ready = []
def consumer():
    for i in range(30):
        with cond:
            while not ready:
                cond.wait(1.0)
            ready.pop()
t = threading.Thread(target=consumer)
t.start()
for i in range(30):
    time.sleep(0.003)
    with cond:
        ready.append(i)
        cond.notify()
t.join()
"""


def test_python_frame_local0_is_self():
    """A frame's first local is read with it: Condition.wait's is the Condition (id())."""
    src, rec = os.path.join(TMP, "cond.py"), os.path.join(TMP, "cond.rec")
    with open(src, "w") as f:
        f.write(COND_PY)
    exes = pythons()
    if not exes:
        raise Skip("no CPython here")
    for py in exes:
        p, s, truth = run_traced(["-q", "-o", rec, "--", py, src], "local0")
        check(p.returncode == 0, f"{py}: {p.stderr}")
        if s["gil"] is None:
            continue  # frames are walked once the GIL is found (stripped: can be outrun)
        want = truth[0]["cond"]
        # the consumer's (thread start waits in an Event's own Condition)
        waits = [st for st in record_pystacks(rec)
                 if len(st) > 1 and re.match(r"(Condition\.)?wait \(threading\.py:", st[0][0])
                 and st[1][0].startswith("consumer (cond.py:")]
        check(waits, f"{py}: no Python stack in Condition.wait: {record_pystacks(rec)[:3]}")
        bad = [st[0] for st in waits if st[0][1] != want]
        check(not bad, f"{py}: local0 of Condition.wait {bad[:3]} vs id(cond) {want:#x}")

PYSYNC = os.path.join(ROOT, "tests", "workloads", "pysync.py")
# the kind each of pysync.py's objects must have; RLock acquires are told from Lock ones by
# rlock_acquire, which stripped builds do not name: there an RLock is a python-lock
PYSYNC_WAITING = ("python-condition", "python-event", "python-queue", "python-semaphore",
                  "python-barrier", "python-join")


def check_pysync(py, s, truth, stripped, parked, holds=False):
    """pysync.py's objects against its own truth: one object per Python object, named by the
    waiting line's expression, its blocked calls and their time, its id() (of locks: those
    named in parked), THREADS columns."""
    t = truth[0]["pysync"]
    check(set(t) >= ({"ledger_lock", "ready", "jobs", "go", "pool_sem", "gate", "w"}
                     if len(t) > 5 else {"ledger_lock"}), f"{py}: truth {sorted(t)}")
    threads = {x["tid"]: x for x in s["threads"]}
    for expr, o in t.items():
        # (Thread.start's Event is named by the thread too: w.start() and w.join())
        objs = [lk for lk in s["locks"] if lk["name"] == expr and
                (lk["kind"] == o["kind"] or o["kind"] != "python-join")]
        check(len(objs) == 1, f"{py}: {expr}: {len(objs)} objects named so: "
              f"{[(lk['kind'], lk['name'], lk['location']) for lk in s['locks']][:12]}")
        lk = objs[0]
        kinds = {o["kind"]} | ({"python-lock"} if stripped and o["kind"] == "python-rlock"
                               else set())
        check(lk["kind"] in kinds, f"{py}: {expr} is {lk['kind']}, not {o['kind']}")
        check(re.match(r"pysync\.py:\d+$", lk["location"]), f"{py}: {expr} at {lk['location']}")
        # the semaphore's and barrier's own Condition lock may block a call more than once
        # (also a try with blocking=False): those waits count too
        slack = 0.1 if o["kind"] in ("python-semaphore", "python-barrier") else 0.05
        check(abs(lk["contentions"] - o["blocked"]) <= max(2, slack * o["blocked"]),
              f"{py}: {expr}: {lk['contentions']} contentions vs {o['blocked']} blocked calls")
        # with --holds every lock call traps into a uprobe, inside the time the program
        # measures around its blocking calls but outside the futex waits: 15% there
        near(lk["wait_ns"], o["wait_s"] * 1e9, 0.15 if holds else 0.1, f"{py}: {expr} waited")
        # a SimpleQueue is C: its lock's id() is not known
        if (o["kind"] in PYSYNC_WAITING and expr != "inbox") or expr in parked:
            check(lk["py_object"] == o["id"], f"{py}: {expr} py_object {lk['py_object']} "
                  f"vs id() {o['id']}")
        # each thread's waits on it in the THREADS column of its kind, and about what the
        # thread measured (its own time has the GIL's re-take after the acquire too)
        col = "lock_wait_ns" if o["kind"] in ("python-lock", "python-rlock") else "cond_wait_ns"
        for tid, (n, secs) in o["threads"].items():
            th = threads.get(int(tid))
            waited = sum(w["wait_ns"] for w in lk["waiters"] if w["tid"] == int(tid))
            check(th is not None, f"{py}: thread {tid} of {expr} not traced")
            check(0.75 * secs * 1e9 - 2e6 <= waited <= 1.05 * secs * 1e9 + 1e6,
                  f"{py}: {expr}: thread {tid} waited {waited} vs its own {secs:.4f} s")
            # (a wait ends when the thread runs again: its last part is runnable time)
            check(th[col] + th["runnable_ns"] >= 0.97 * waited,
                  f"{py}: {expr}: thread {tid} {col} {th[col]} vs its waits {waited}")
    # the GIL's mutex and condvars are GIL waiting, and CPython's per-waiter semaphores are
    # their objects': nothing but Python objects is left (with --holds: locks only held),
    # save the dynamic loader's own lock (_rtld_global's dl_load_lock: threads starting and
    # ending at once, imports, take it; seen contended once on 3.8)
    other = [(lk["kind"], lk["name"], lk["location"]) for lk in s["locks"]
             if not lk["kind"].startswith("python-") and lk["contentions"] and
             not (lk["name"] or "").startswith("_rtld_global")]
    check(not other, f"{py}: locks that are no Python object: {other}")
    check_pysync_names(py, s, truth)


def check_pysync_names(py, s, truth):
    """Names in the user's terms: Thread.start's Event by the thread expression, each Future
    by the user's result() call (one object per Future), the pool's idle workers waiting for
    work in their SimpleQueue, the import lock by its name."""
    pool = truth[0].get("pool")
    with open(PYSYNC) as f:
        result_line = next(n for n, line in enumerate(f, 1) if "# tt:result" in line)
    # a code object first seen in the process's last milliseconds may be gone before the
    # collector reads it (README, limits): its frame, so its object, is unnamed - at most two
    # (the pool's last futures and thread joins end together; two seen on sid's 3.15 once, on
    # a quiet machine: the reads wait behind the name poll on the collector's thread, issue 15)
    unread = [lk for lk in s["locks"] if lk["kind"].startswith("python-") and
              lk["location"] == "[python]"]
    check(len(unread) <= 2, f"{py}: {len(unread)} Python objects at unread code: "
          f"{[(lk['kind'], lk['name']) for lk in unread]}")
    for lk in s["locks"]:
        check(lk["name"] or not lk["kind"].startswith("python-") or lk in unread,
              f"{py}: a Python object without a name at {lk['location']}")
        check(lk["kind"] != "python-event" or ".start()" not in (lk["name"] or ""),
              f"{py}: Thread.start named {lk['name']}")
        check(not re.search(r"_base\.py|importlib", lk["location"] or "") or
              lk["name"] == "import lock", f"{py}: {lk['name']} at {lk['location']}")
    if pool:
        futs = [lk for lk in s["locks"] if lk["name"] == "f.result()"]
        check(futs and len(futs) <= pool["futures"] and
              all(lk["location"] == f"pysync.py:{result_line}" for lk in futs),
              f"{py}: futures {[(lk['name'], lk['location']) for lk in futs]}")
        idle = [lk for lk in s["locks"] if lk["name"] == "work_queue"]
        check(len(idle) == 1 and idle[0]["kind"] == "python-queue",
              f"{py}: the pool's workers waiting for work: {[(lk['kind']) for lk in idle]}")


def test_python_sync_objects():
    """Lock, RLock, Condition, Event, Queue, Semaphore, Barrier and Thread.join on 3.8-3.13.0
    (one sem_t per lock) and Debian's stripped 3.11: each one object with its true count."""
    exes = pythons()
    if not exes:
        raise Skip("no CPython 3.8-3.13 here")
    rec, js = os.path.join(TMP, "pysync.rec"), os.path.join(TMP, "pysync-replay.json")
    for py in exes:
        p, s, truth = run_traced(["-q", "-o", rec, "--", py, PYSYNC], "pysync", timeout=90)
        check(p.returncode == 0 and s and truth, f"{py}: {p.stderr}")
        check_pysync(py, s, truth, py.startswith("/usr/bin/"), ())
        # the names come from the record's source lines: its replay says the same
        subprocess.run([TT, "report", "-q", "--json", js, rec], check=True, timeout=60)
        with open(js) as f, open(os.path.join(TMP, "pysync.json")) as g:
            check(f.read() == g.read(), f"{py}: the replay's JSON differs from the live one")


def test_python_sync_objects_parking_lot():
    """3.13.1+ (Debian 13's 3.13.5, unstable's 3.14 and 3.15): a Lock's waiters park on
    semaphores of their own; the waits are the Lock's (its PyMutex), one object per Lock."""
    roots = os.environ.get("TT_ROOTS", "/var/cache/threadtrace-roots")
    cases = [(os.path.join(roots, r), exe) for r, exe in
             (("trixie-dbg-py", "python3.13"), ("sid-dbg-py", "python3.14"),
              ("sid-dbg-py", "python3.15"))
             if os.path.exists(os.path.join(roots, r, "usr", "bin", exe))]
    if os.environ.get("TT_NO_ROOTS") or not cases:
        raise Skip(f"no Python root in {roots} (tools/mkroot --python trixie / sid)")
    for root, exe in cases:
        shutil.copy(PYSYNC, os.path.join(root, "tmp", "pysync.py"))
        cmd = f"mount -t proc proc {root}/proc && exec chroot {root} {exe} /tmp/pysync.py"
        p, s, truth = run_traced(["-q", "--", "unshare", "-m", "sh", "-c", cmd], "pysync-root",
                                 timeout=90)
        check(p.returncode == 0 and s and truth, f"{exe}: {p.stderr}")
        # a PyMutex names its lock object (id() + 16): Lock from 3.13.1, RLock from 3.14
        check_pysync(f"{root} {exe}", s, truth, True,
                     ("ledger_lock",) if exe == "python3.13" else ("ledger_lock", "audit_rlock"))


def test_python_sync_objects_holds():
    """--holds beside Python objects (3.8-3.13.0, Debian's 3.11): a Lock on a sem_t stays a
    python-lock, the GIL's mutex is no lock of LOCK HOLDS, counts as without --holds."""
    exes = pythons()
    if not exes:
        raise Skip("no CPython 3.8-3.13 here")
    for py in exes:
        p, s, truth = run_traced(["-q", "--holds", "--", py, PYSYNC,
                                  "lock,semaphore,starve,simplequeue,pool"], "pysync-holds",
                                 timeout=90)
        check(p.returncode == 0 and s and truth, f"{py}: {p.stderr}")
        check_pysync(py, s, truth, py.startswith("/usr/bin/"), (), holds=True)
        gil = [lk["name"] for lk in s["locks"] if (lk["name"] or "").startswith("_PyRuntime")]
        check(not gil, f"{py}: the GIL's words as locks: {gil}")
        held = lock_named(s, "ledger_lock")
        check(held["kind"] == "python-lock" and "semaphore" not in
              [lk["kind"] for lk in s["locks"] if lk["contentions"]],
              f"{py}: {[(lk['kind'], lk['name']) for lk in s['locks'] if lk['contentions']]}")
        th = [t for t in s["threads"] if (t["name"] or "").startswith("lock-")]
        check(th and all(t["lock_wait_ns"] > 0 for t in th),
              f"{py}: THREADS lock column of ledger_lock's waiters")


PY_ROOT = "/var/cache/threadtrace-roots/sid-dbg-py"  # tools/mkroot --dbg --python sid
PY_ROOT_TRIXIE = "/var/cache/threadtrace-roots/trixie-dbg-py"  # ... trixie, + tools/mkpyft 3.13
PY313T = "/opt/py313t/bin/python3.13t"


def in_root(root, argv, env=()):
    """argv run inside root (chroot) with its own /proc, from /tmp, with env (K=V strings)."""
    return ["unshare", "-m", "sh", "-c", f"mount -t proc proc {root}/proc; "
            f"cd {root}/tmp && exec chroot {root} env {' '.join(env)} {' '.join(argv)}"]


def check_spinner_held(py, g, t):
    """The spinner runs only holding the GIL: held for its CPU time plus the time it was
    preempted holding it (at most its runnable time: large on a loaded machine)."""
    spin = [x for x in t["threads"] if x["kind"] == "spin"][0]
    th = [x for x in g["threads"] if x["tid"] == spin["tid"]]
    check(th, f"{py}: spinner {spin['tid']} not in the GIL table")
    check(0.9 * spin["cpu_ns"] <= th[0]["hold_ns"] <=
          1.15 * (spin["cpu_ns"] + spin.get("run_delay_ns", 0)) + 5e6,
          f"{py}: spinner held {th[0]['hold_ns']} vs CPU {spin['cpu_ns']} + runnable "
          f"{spin.get('run_delay_ns')}")
    # ... and ran with it: what it ran without is its start and end (and none before the
    # GIL was traced)
    check(th[0]["on_cpu_without_gil_ns"] <= 0.1 * spin["cpu_ns"] + 5e6,
          f"{py}: spinner on CPU without the GIL {th[0]['on_cpu_without_gil_ns']} of "
          f"{spin['cpu_ns']}")


def test_gil_from_debug_offsets_in_debian_root():
    """Debian unstable's stripped 3.14 and 3.15, known only by their _Py_DebugOffsets, and the
    debug builds 3.13d-3.15d (their drop_gil_impl out of line, decoded as take_gil/drop_gil's
    helper): the switches equal switch_number, the spinner holds the GIL for its CPU time
    (plus preemption), the sleeper waits at its own line."""
    builds = [(PY_ROOT, py) for py in ("python3.14", "python3.15", "python3.13d", "python3.14d",
                                        "python3.15d")] + [(PY_ROOT_TRIXIE, "python3.13d")]
    builds = [(r, py) for r, py in builds if os.path.exists(os.path.join(r, "usr/bin", py))]
    if not builds:
        raise Skip(f"no {PY_ROOT}: tools/mkroot --dbg --python sid")
    for root, py in builds:
        shutil.copy(PYGIL, os.path.join(root, "tmp", "tt-pygil.py"))
        cmd = in_root(root, [py, "/tmp/tt-pygil.py", "convoy", "1"])
        label = f"{os.path.basename(root)}-{py}"
        p, s, truth = run_traced(["-q", "--"] + cmd, "root-" + label, timeout=120)
        check(p.returncode == 0, f"{label}: {p.stderr}")
        t = truth[0]
        sleeper = [x for x in t["threads"] if x["kind"] == "sleeper"][0]["tid"]
        g = s["gil"]
        check(g is not None and g["switches"] == t["switches"],
              f"{label}: {g and g['switches']} switches vs switch_number {t['switches']}: "
              f"{p.stderr}")
        check(g["forced_drops"] > 0, f"{label}: no forced drops")
        check_spinner_held(label, g, t)
        stacks = [w["stack"] for lk in s["locks"] for w in lk["waiters"] if w["tid"] == sleeper]
        stacks += [w["stack"] for w in g["waiters"] if w["tid"] == sleeper]
        want = f"sleeper (tt-pygil.py:{marker_line('sleep')})"
        check(any(want in st for st in stacks), f"{label}: no {want} in {stacks[:2]}")


OLDEXT_C = """#include <Python.h>
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "oldext", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_oldext(void) { return PyModule_Create(&mod); }
"""


def build_oldext(root, py):
    """oldext (no Py_mod_gil) built for py inside root, in /tmp/tt-oldext; None without gcc."""
    d = os.path.join(root, "tmp", "tt-oldext")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "oldext.c"), "w") as f:
        f.write(OLDEXT_C)
    q = subprocess.run(["chroot", root, py, "-c", "import sysconfig as s; print(s.get_path("
                        "'include'), s.get_config_var('EXT_SUFFIX'))"],
                       capture_output=True, text=True, timeout=60)
    if q.returncode or not os.path.exists(os.path.join(root, "usr/bin/gcc")):
        return None
    inc, suffix = q.stdout.split()
    b = subprocess.run(["chroot", root, "gcc", "-shared", "-fPIC", f"-I{inc}",
                        "/tmp/tt-oldext/oldext.c", "-o", f"/tmp/tt-oldext/oldext{suffix}"],
                       capture_output=True, text=True, timeout=120)
    return "/tmp/tt-oldext" if b.returncode == 0 else None


def test_gil_free_threaded_313t():
    """A free-threaded 3.13t: with the GIL off the report says so (and sys._is_gil_enabled()
    agrees); with PYTHON_GIL=1, and switched on at run time by importing an extension without
    Py_mod_gil, the switches equal switch_number and the spinner holds the GIL for its CPU time
    (the GIL traced from the take that switched it on; the report says when)."""
    if not os.path.exists(PY_ROOT_TRIXIE + PY313T):
        raise Skip(f"no {PY_ROOT_TRIXIE}{PY313T}: tools/mkroot --dbg --python trixie; "
                   "tools/mkpyft 3.13")
    shutil.copy(PYGIL, os.path.join(PY_ROOT_TRIXIE, "tmp", "tt-pygil.py"))
    oldext = build_oldext(PY_ROOT_TRIXIE, PY313T)
    runs = [("off", []), ("PYTHON_GIL=1", ["PYTHON_GIL=1"])]
    runs += [("import oldext", [f"TT_PYGIL_IMPORT={oldext}"])] if oldext else []
    for how, env in runs:
        cmd = in_root(PY_ROOT_TRIXIE, [PY313T, "/tmp/tt-pygil.py", "convoy", "1"], env)
        p, s, truth = run_traced(["--"] + cmd, "ft-" + how.split()[-1], timeout=120)
        check(p.returncode == 0 and truth, f"3.13t {how}: {p.stderr}")
        t, g = truth[0], s["gil"]
        check(t["gil_enabled"] == (how != "off"), f"3.13t {how}: _is_gil_enabled() {t}")
        if how == "off":
            check(g is None and "the GIL was disabled for the whole trace" in p.stdout,
                  f"3.13t GIL off: {g}, report {p.stdout[-600:]}")
            continue
        check(g is not None and g["free_threaded"], f"3.13t {how}: {g}; {p.stderr}")
        check(g["switches"] == t["switches"],
              f"3.13t {how}: {g['switches']} switches vs switch_number {t['switches']}")
        check_spinner_held(f"3.13t {how}", g, t)
        late = how == "import oldext"
        check((g["enabled_at_ns"] is not None) == late and
              ("enabled at run time" in p.stdout) == late,
              f"3.13t {how}: enabled_at_ns {g['enabled_at_ns']}, report {p.stdout[-900:]}")
        if late:  # switched on after the 0.5 s the workload sleeps first
            check(0.4e9 <= g["enabled_at_ns"] <= s["duration_ns"] - 0.9e9,
                  f"3.13t: enabled at {g['enabled_at_ns']} of {s['duration_ns']}")
    if not oldext:
        raise Skip("3.13t: GIL off and PYTHON_GIL=1 passed; no gcc in the root for oldext")

PYNAMES = os.path.join(ROOT, "tests", "workloads", "pynames.py")
INTERP = re.compile(r"\((libpython3\.\d+\.so[.\d]*|python3\.\d+)\)")  # its module's frames


def pynames_line(tag):
    with open(PYNAMES) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# tt:{tag}"):
                return n
    raise Fail(f"no tt:{tag} in {PYNAMES}")


PYBRIEF = os.path.join(ROOT, "tests", "workloads", "pybrief.py")


def test_python_brief_threads_named():
    """A thread that starts and ends between two reads of threading._active (a thread per
    task, joined at once) keeps its threading name: it is read from threading._dangling
    while the program holds its Thread object. Truth: each thread's own get_native_id() and
    current_thread().name. Every CPython here and in the Debian 13/unstable roots (3.13.5,
    3.14, 3.15, 3.13t)."""
    roots = os.environ.get("TT_ROOTS", "/var/cache/threadtrace-roots")
    runs = [(py, [py, PYBRIEF]) for py in pythons()]
    for r, exe in (("trixie-dbg-py", "/usr/bin/python3.13"), ("trixie-dbg-py",
                   "/opt/py313t/bin/python3.13t"), ("sid-dbg-py", "/usr/bin/python3.14"),
                   ("sid-dbg-py", "/usr/bin/python3.15")):
        root = os.path.join(roots, r)
        if not os.environ.get("TT_NO_ROOTS") and os.path.exists(root + exe):
            shutil.copy(PYBRIEF, os.path.join(root, "tmp", "pybrief.py"))
            runs.append((f"{r} {exe}", ["unshare", "-m", "sh", "-c", f"mount -t proc proc "
                                        f"{root}/proc && exec chroot {root} {exe} "
                                        "/tmp/pybrief.py"]))
    if not runs:
        raise Skip("no CPython here")
    for label, argv in runs:
        out = os.path.join(TMP, "pybrief.json")
        p = subprocess.run([TT, "-q", "--json", out, "--"] + argv, capture_output=True,
                           text=True, timeout=90)
        check(p.returncode == 0, f"{label}: {p.stderr}")
        truth = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")][-1]
        with open(out) as f:
            by_tid = {t["tid"]: t["name"] for t in json.load(f)["threads"]}
        check(len(truth["threads"]) == 20, f"{label}: {truth}")
        wrong = [(w["name"], by_tid.get(w["tid"])) for w in truth["threads"]
                 if by_tid.get(w["tid"]) != w["name"]]
        check(not wrong, f"{label}: {len(wrong)} of 20 brief threads misnamed: {wrong[:4]}")


def test_python_thread_names_everywhere():
    """threading's names (set by the program, one renamed at the end) per tid in the text
    report, JSON (with the OS name beside), folded, pprof and Perfetto; Python-first stacks:
    a waiter's first Python frame is its own acquire() line, no eval loop in the default view,
    the whole mixed stack with --native."""
    exes = pythons()
    if not exes:
        raise Skip("no CPython 3.8-3.13 here")
    acquire = f"hold (pynames.py:{pynames_line('acquire')})"
    for py in exes:
        out = {k: os.path.join(TMP, "pyn." + k) for k in ("json", "folded", "pb.gz", "pftrace",
                                                          "rec")}
        p = subprocess.run([TT, "--json", out["json"], "--folded", out["folded"], "--pprof",
                            out["pb.gz"], "--perfetto", out["pftrace"], "-o", out["rec"], "--",
                            py, PYNAMES, "60"], capture_output=True, text=True, timeout=90)
        check(p.returncode == 0, f"{py}: {p.stderr}")
        truth = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")][0]
        with open(out["json"]) as f:
            s = json.load(f)
        want = dict(truth["names"])
        del want["MainThread"]  # renamed at the end: the latest name counts
        want.update(truth["renamed"])
        by_tid = {t["tid"]: t for t in s["threads"]}
        for name, tid in want.items():
            t = by_tid.get(tid)
            check(t is not None and t["name"] == name,
                  f"{py}: tid {tid} named {t and t['name']!r} in JSON, not {name!r}")
            check(t.get("os_name", t["name"]) != name or len(name) <= 15,
                  f"{py}: os_name of {name}: {t}")
            # the text report's THREADS table
            check(re.search(rf"^  {tid}\s+{re.escape(name)}\s", p.stdout, re.M),
                  f"{py}: no THREADS row '{tid} {name}' in the text report")
        tids = {v: k for k, v in want.items()}
        # folded: waiter roots and waker leaves are threading names
        with open(out["folded"]) as f:
            roots = {l.split(";", 1)[0] for l in f}
        for name in ("transfer-worker", "audit-worker-with-a-long-name",
                     "ThreadPoolExecutor-0_0"):
            check(name in roots, f"{py}: {name} not a folded root: {sorted(roots)}")
        # pprof's thread labels
        r = subprocess.run(["go", "tool", "pprof", "-tags", out["pb.gz"]], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0 and "transfer-worker" in r.stdout and
              "ThreadPoolExecutor-0_0" in r.stdout, f"{py}: pprof tags {r.stdout}{r.stderr}")
        # Perfetto's thread tracks
        if shutil.which("protoc"):
            named = {pk["tid"][0]: pk["thread_name"][0].strip('"')
                     for pk in perfetto_packets(check_perfetto(out["pftrace"]))
                     if "tid" in pk and "thread_name" in pk}
            for name, tid in want.items():
                check(named.get(str(tid)) == name, f"{py}: Perfetto names {tid} "
                      f"{named.get(str(tid))!r}, not {name!r}")
        # Python-first: the lock's waiters start (in Python) at their own acquire() line
        workers = {want[n] for n in ("transfer-worker", "audit-worker-with-a-long-name",
                                     "ThreadPoolExecutor-0_0")}
        lk = [lk for lk in s["locks"] for w in lk["waiters"]
              if w["tid"] in workers and acquire in w.get("python_stack", [])]
        check(lk, f"{py}: no wait of a worker at {acquire}")
        ws = [w for w in max(lk, key=lambda x: x["wait_ns"])["waiters"] if w["tid"] in workers]
        at = [w for w in ws if [f for f in w.get("python_stack", []) if ".py:" in f][:1] ==
              [acquire]]
        check(sum(w["wait_ns"] for w in at) >= 0.9 * sum(w["wait_ns"] for w in ws),
              f"{py}: workers' waits whose first Python frame is {acquire}: {at[:1]} of {ws}")
        for w in at:
            ps = w["python_stack"]
            check(not any(INTERP.search(f) for f in ps) and
                  any(INTERP.search(f) for f in w["stack"]),
                  f"{py}: interpreter frames in the Python-first view {ps}")
        # the text report shows the same (the libc wait right above the Python caller),
        # --native the interpreter's frames between them
        below = r"[^\n]*\n\s+" + re.escape(acquire)
        check(re.search(r"\(libc\.so\.6\)" + below, p.stdout), f"{py}: text report stacks")
        r = subprocess.run([TT, "report", "--native", out["rec"]], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0 and re.search(INTERP.pattern + below, r.stdout) and
              not re.search(r"\(libc\.so\.6\)" + below, r.stdout),
              f"{py}: --native report {r.stderr}")
        r = subprocess.run([TT, "report", out["rec"]], capture_output=True, text=True,
                           timeout=60)
        live = "".join(l for l in p.stdout.splitlines(True) if not l.startswith("{"))
        check(r.stdout == live, f"{py}: replayed report differs from the live one")
