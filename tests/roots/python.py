#!/usr/bin/env python3
"""Python root tests (root): tests/workloads/pytruth.py run by the CPythons users run in 2026 —
Debian 12's python3.11 on this host, Debian 13's 3.13 and unstable's 3.13, 3.14 and 3.15 with
their debug builds (tools/mkroot --dbg --python), a free-threaded 3.13t built from Debian's
source (tools/mkpyft) — traced from the host, and every figure compared with the workload's own
truth: lock waits per object and thread, Python frames at the acquire() line, thread names,
CPU and GIL hold times, the GIL turned on in a free-threaded build, an ABBA deadlock between
two threading.Locks (names, ids, holders), and condition, queue, event, semaphore and join waits.

Not in `make test` yet: 3.13.1+ (PyMutex and the parking lot), 3.14/3.15 and free-threaded
builds are what threadtrace does not read right yet. A test named (fnmatch patterns) in
EXPECTED_FAIL that fails is counted as skipped with its reason; one that passes fails, saying to
take it off the list. `tests/roots/python.py NAME...` runs some; TT_NO_ROOTS=1 runs only the
host's python3.11. Ends with 'N passed, N failed, N skipped'.
"""
import fnmatch
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pyroots  # noqa: E402
from harness import Fail, Skip, check, run  # noqa: E402

TMP = tempfile.mkdtemp(prefix="tt-pyroots-")
PROG = os.path.join(pyroots.ROOT, "tests", "workloads", "pytruth.py")

# What threadtrace gets wrong today (2026-11-30, after pyoff/gilfix/pysync/pynames), to be
# taken off as fixes land.
EXPECTED_FAIL = [
    # attached to Debian 13's 3.13.5 and 3.13t, the lock's waits fall short of the tellers'
    # own time (about half, seen 2026-11-30); the other roots pass
    "trixie-3.13_lock_attach", "trixie-3.13t_lock_attach",
]

_runs = {}  # (label, mode, attach) -> pyroots.Run: each workload runs once per interpreter


def marker_line(tag):
    with open(PROG) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# tt:{tag}"):
                return n
    raise Fail(f"no tt:{tag} in {PROG}")


def traced(interp, mode, attach=False):
    key = (interp.label, mode, attach)
    if key not in _runs:
        try:
            _runs[key] = run_workload(interp, mode, attach)
        except (Skip, Fail) as e:
            _runs[key] = e  # not run again for the next check of the same run
            raise
    got = _runs[key]
    if isinstance(got, Skip):
        raise Skip(str(got))
    if isinstance(got, Fail):
        raise Fail(f"its run failed: {got}")
    return got


def run_workload(interp, mode, attach):
    root, py = pyroots.interp_root(interp)
    env = []
    if mode == "ftgil":
        ext = pyroots.build_oldext(root, interp) if root else None
        env = [f"TT_OLDEXT_DIR={ext}"] if ext else ["PYTHON_GIL=1"]
    out = os.path.join(TMP, f"{interp.label}-{mode}{'-p' if attach else ''}.json")
    r = pyroots.run_python(root, py, PROG, [mode], out, TMP, env=env, attach=attach)
    check(r.proc.returncode == 0, f"threadtrace rc {r.proc.returncode}: {r.stderr[-600:]}")
    check(r.summary, f"no JSON: {r.stderr[-600:]}")
    check(r.truth, f"the workload printed no truth: {r.stdout[-400:]} {r.stderr[-400:]}")
    return r


def thread_of(s, tid):
    for t in s["threads"]:
        if t["tid"] == tid:
            return t
    raise Fail(f"thread {tid} not traced: {[t['tid'] for t in s['threads']]}")


def waiters_lock(s, tids):
    """The lock object most of tids' lock waits are on."""
    def waited(lk):
        return sum(w["wait_ns"] for w in lk["waiters"] if w["tid"] in tids)
    locks = [lk for lk in s["locks"] if waited(lk)]
    check(locks, f"no waits of threads {sorted(tids)} on any lock")
    return max(locks, key=waited), locks


# --- checks: each takes an interpreter ---

def check_lock_one_object(interp, attach=False):
    """account_lock: one object, waited on by every teller that blocked, as long as they
    measured (their blocked acquire() calls)."""
    r = traced(interp, "lock", attach)
    t = r.truth["threads"]
    blocked = {w["tid"]: w["blocked_ns"] for w in t if w["blocked_ns"] > 20e6}
    check(len(blocked) >= 2, f"the workload did not contend: {t}")
    lk, all_locks = waiters_lock(r.summary, set(blocked))
    got = {w["tid"] for w in lk["waiters"]}
    others = [(x["name"] or x["addr"], x["kind"]) for x in all_locks if x is not lk][:6]
    check(set(blocked) <= got, f"account_lock split: {lk['name'] or lk['addr']} has "
          f"{sorted(got)} of {sorted(blocked)}; others {others}")
    want = sum(w["blocked_ns"] for w in t)
    check(abs(lk["wait_ns"] - want) <= 0.15 * want,
          f"account_lock waited {lk['wait_ns']} vs the tellers' own {want}")


def check_lock_attach(interp):
    check_lock_one_object(interp, attach=True)


def check_lock_pyframes(interp):
    """The tellers' waits stand at lock_worker's acquire() line."""
    r = traced(interp, "lock")
    want = f"lock_worker (pytruth.py:{marker_line('acquire')})"
    tids = {w["tid"] for w in r.truth["threads"] if w["blocked_ns"] > 20e6}
    lk, _ = waiters_lock(r.summary, tids)
    stacks = [w["stack"] for w in lk["waiters"] if w["tid"] in tids]
    good = [st for st in stacks if want in st]
    check(stacks and len(good) == len(stacks),
          f"{len(good)} of {len(stacks)} waiter stacks have {want}: {stacks[:1]}")


def check_thread_names(interp):
    """Threads are named as Python names them, in full (threading's objects, read by pylive),
    with the OS name beside where it differs (3.14+ copies the first 15 bytes into comm)."""
    r = traced(interp, "lock")
    for w in r.truth["threads"]:
        t = thread_of(r.summary, w["tid"])
        check(t["name"] == w["name"], f"thread {w['tid']} is {t['name']!r}, Python's "
              f"{w['name']!r} ({r.stderr[-300:]})")
        check(t.get("os_name") != w["name"], f"thread {w['tid']}: os_name {t.get('os_name')!r}")


def check_spinners(r):
    """Each spinner's CPU time as it measured it; with a GIL, its hold time about that."""
    s, truth = r.summary, r.truth
    for w in truth["threads"]:
        th = thread_of(s, w["tid"])
        check(abs(th["on_cpu_ns"] - w["cpu_ns"]) <= 0.1 * w["cpu_ns"] + 5e6,
              f"{w['name']} on CPU {th['on_cpu_ns']} vs thread_time {w['cpu_ns']}")
    g = s["gil"]
    if not truth["gil_enabled"]:
        check(g is None, f"a GIL traced in a build running without one: {g and g['method']}")
        return
    check(g is not None, f"no GIL traced (Python {truth['python']}, GIL on by "
          f"{truth['gil_on_by'] or 'default'}): {r.stderr[-400:]}")
    check(g["python"].startswith(truth["python"].rsplit(".", 1)[0]),
          f"GIL of Python {g['python']} vs {truth['python']}")
    by_tid = {x["tid"]: x for x in g["threads"]}
    for w in truth["threads"]:
        th, t = by_tid.get(w["tid"]), thread_of(s, w["tid"])
        check(th, f"{w['name']} not in the GIL table")
        # it runs only holding the GIL; preempted holding it, it holds it runnable
        check(0.9 * w["cpu_ns"] <= th["hold_ns"] <=
              1.15 * (w["cpu_ns"] + t["runnable_ns"]) + 5e6,
              f"{w['name']} held the GIL {th['hold_ns']} vs CPU {w['cpu_ns']} + runnable "
              f"{t['runnable_ns']}")


def check_cpu(interp):
    check_spinners(traced(interp, "cpu"))


def check_ftgil(interp):
    """A free-threaded build whose GIL was turned on at run time: the GIL is traced."""
    r = traced(interp, "ftgil")
    check(r.truth["gil_enabled"], f"the workload could not turn the GIL on: {r.truth}")
    check_spinners(r)


def check_deadlock(interp):
    """poster and auditor wait for each other's lock: one cycle, those threads by their Python
    names, each waiting for the Lock the truth names (name, id()) and held by the other, seen
    in a `with` block; the DEADLOCK line on stderr while it hangs."""
    r = traced(interp, "deadlock")
    t = {w["name"]: w["tid"] for w in r.truth["threads"]}
    by_tid = {w["tid"]: w for w in r.truth["threads"]}
    found = [d for d in r.summary["deadlocks"] if d["kind"] == "actual"]
    check(len(found) == 1, f"{len(found)} deadlocks: {found}; stderr {r.stderr[-300:]}")
    d = found[0]
    check(sorted(d["threads"]) == sorted(t.values()), f"threads {d['threads']} vs {t}")
    check(sorted(d["held_by"]) == sorted(t.values()), f"held by {d['held_by']} vs {t}")
    check("threadtrace: DEADLOCK: 2 Python threads" in r.stderr, f"stderr: {r.stderr[-300:]}")
    line = f"(pytruth.py:{marker_line('deadlock')})"
    for i, tid in enumerate(d["threads"]):
        w, pw = by_tid[tid], d["python"][i]
        other = [x["tid"] for x in r.truth["threads"] if x["tid"] != tid][0]
        check(d["thread_names"][i] == w["name"], f"{d['thread_names']} vs {w}")
        check(pw["kind"] == "lock" and pw["name"] == w["waits_for"] and
              pw["id"] == w["waits_id"], f"{w['name']} waits for {pw} vs {w}")
        check(d["held_by"][i] == other and pw["holder_tid"] == other and
              pw["holder_evidence"] == "with-block", f"{w['name']}'s holder {pw}")
        check(any(f.endswith(line) for f in d["stacks"][i]["stack"]),
              f"{w['name']} not at {line}: {d['stacks'][i]['stack'][:8]}")


def check_waits(interp, mode):
    """The waiting threads' blocked time (lock + cond states) as long as they measured it; a
    woken waiter left runnable on a busy machine measured that too (the runq state)."""
    r = traced(interp, mode)
    for w in r.truth["threads"]:
        th = thread_of(r.summary, w["tid"])
        got = th["lock_wait_ns"] + th["cond_wait_ns"]
        check(got <= 1.1 * w["wait_ns"] + 5e6 and
              got + th["runnable_ns"] >= 0.9 * w["wait_ns"] - 5e6,
              f"{w['name']} blocked {got} (lock {th['lock_wait_ns']}, cond "
              f"{th['cond_wait_ns']}, runnable {th['runnable_ns']}) vs its own {w['wait_ns']} "
              f"over {w['waits']} waits")


CHECKS = [("lock_one_object", check_lock_one_object), ("lock_attach", check_lock_attach),
          ("lock_pyframes", check_lock_pyframes), ("thread_names", check_thread_names),
          ("cpu", check_cpu), ("ftgil", check_ftgil), ("deadlock", check_deadlock)] + \
    [(m + "_waits", lambda i, m=m: check_waits(i, m))
     for m in ("condition", "queue", "event", "semaphore", "join")]


def make_test(interp, name, fn):
    full = f"{interp.label}_{name}"
    expected = next((p for p in EXPECTED_FAIL if fnmatch.fnmatchcase(full, p)), None)

    def test():
        if name == "ftgil" and not interp.label.endswith("t"):
            raise Skip("not a free-threaded build")
        try:
            fn(interp)
        except Fail as e:
            if expected:
                raise Skip(f"expected to fail ({expected}): {e}")
            raise
        if expected:
            raise Fail(f"passes now: take {expected!r} off EXPECTED_FAIL")
    test.__name__ = "test_" + full
    return test


TESTS = [make_test(i, n, f) for i in pyroots.INTERPRETERS for n, f in CHECKS]


def main():
    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not os.path.exists("/sys/kernel/btf/vmlinux"):
        reason = "kernel without BTF"
    elif not os.path.exists(pyroots.TT):
        reason = f"{pyroots.TT} not built (make)"
    else:
        wanted = [i for i in pyroots.INTERPRETERS
                  if not sys.argv[1:] or any(t.startswith(i.label + "_") for t in sys.argv[1:])]
        pyroots.start(i.maker for i in wanted)
    try:
        return run("python-roots", TESTS, TMP, only=sys.argv[1:], skip_all=reason)
    finally:
        pyroots.cleanup()


if __name__ == "__main__":
    sys.exit(main())
