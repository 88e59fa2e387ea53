#!/usr/bin/env python3
"""Live tests (root): Python programs that hang for good (tests/workloads/pyhang.py) on every
CPython here, traced with -p PID after the hang started and with -- CMD stopped by SIGINT:
the DEADLOCK line on stderr, JSON deadlocks with the right threads, Python lock names and
holders (with their evidence), the hung view's Python stacks at the blocking line, and a lost
Condition notify shown as a blocked Condition.wait, not as a deadlock.
Ends with 'N passed, N failed, N skipped'."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fail, Skip, check, run  # noqa: E402
from run import pythons  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
PYHANG = os.path.join(ROOT, "tests", "workloads", "pyhang.py")
TMP = tempfile.mkdtemp(prefix="tt-pyhang-")


def truths(text):
    return [json.loads(l[6:]) for l in text.splitlines() if l.startswith("TRUTH ")]


def wait_truths(path, n, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            with open(path) as f:
                t = truths(f.read())
            if len(t) >= n:
                return t
        time.sleep(0.1)
    raise Fail(f"the workload printed fewer than {n} truths")


def attach(py, mode, n):
    """-p PID, 2 s, attached once the workload hangs: (stderr, summary, truths)."""
    tag = f"{os.path.basename(py)}-{mode}-p"
    out, js = os.path.join(TMP, tag + ".out"), os.path.join(TMP, tag + ".json")
    w = subprocess.Popen([py, PYHANG, mode], stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        t = wait_truths(out, n)
        time.sleep(0.5)  # blocked in the acquire by now
        p = subprocess.run([TT, "--json", js, "-p", str(w.pid), "2"], capture_output=True,
                           text=True, timeout=120)
        check(p.returncode == 0, f"threadtrace failed: {p.stderr}")
        with open(js) as f:
            return p.stderr, json.load(f), t
    finally:
        w.kill()
        w.wait()


def command(py, mode, n):
    """-- CMD, SIGINT once it hangs: the report must come while the child still runs."""
    tag = f"{os.path.basename(py)}-{mode}-cmd"
    js = os.path.join(TMP, tag + ".json")
    env = dict(os.environ, DELAY="2" if py.startswith("/usr/bin") else "0.5")
    p = subprocess.Popen([TT, "--json", js, "--", py, PYHANG, mode], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    child = None
    try:
        time.sleep(7 if py.startswith("/usr/bin") else 3.5)
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
        child = int(kids.stdout.split()[0]) if kids.stdout.split() else None
        p.send_signal(signal.SIGINT)
        end = time.time() + 20
        while time.time() < end and not (os.path.exists(js) and os.path.getsize(js)):
            time.sleep(0.1)
        check(os.path.exists(js) and os.path.getsize(js), "no report after SIGINT")
        # the hung child is still there: the report did not wait for it
        check(child and os.path.exists(f"/proc/{child}"), "the report came only after the "
              "child was gone")
        p.send_signal(signal.SIGINT)  # the second one ends it: nothing is left running
        stdout, stderr = p.communicate(timeout=20)
        check(not os.path.exists(f"/proc/{child}/status") or
              "zombie" in open(f"/proc/{child}/status").read(), "child left running")
        with open(js) as f:
            return stderr, json.load(f), truths(stdout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()


def frame_at(stack, func, line):
    """A Python frame `func (pyhang.py:line)` (3.11+ names it with its qualname)."""
    return any(f.startswith(func) or f".{func} " in f for f in stack
               if f.endswith(f"(pyhang.py:{line})"))


def check_deadlock(py, mode, stderr, s, t):
    kind = "lock" if mode == "lock" else "rlock"
    evidence = "with-block" if mode == "lock" else "rlock-owner"
    check("threadtrace: DEADLOCK: 2 Python threads" in stderr, f"no DEADLOCK line: {stderr}")
    for x in t:
        check(f"waits for Python {kind} {x['waits']} " in stderr, f"stderr names {x['waits']}")
    dls = [d for d in s["deadlocks"] if d["kind"] == "actual"]
    check(len(dls) == 1, f"one actual deadlock: {s['deadlocks']}")
    d = dls[0]
    by_tid = {x["tid"]: x for x in t}
    check(sorted(d["threads"]) == sorted(by_tid), f"threads {d['threads']} vs {list(by_tid)}")
    for i, tid in enumerate(d["threads"]):
        x, pw = by_tid[tid], d["python"][i]
        holder = [o for o in t if o["holds"] == x["waits"]][0]["tid"]
        check(pw["kind"] == kind and pw["name"] == x["waits"] and pw["id"] == x["waits_id"],
              f"tid {tid} waits for {pw} vs {x}")
        check(d["held_by"][i] == holder and pw["holder_tid"] == holder and
              pw["holder_evidence"] == evidence, f"tid {tid}'s holder {pw} vs {holder}")
        check(frame_at(d["stacks"][i]["stack"], x["func"], x["line"]),
              f"tid {tid}'s stack lacks {x['func']} (pyhang.py:{x['line']})")
    blocked = {b["tid"]: b for b in s["blocked_threads"]}
    for x in t:
        b = blocked.get(x["tid"])
        check(b and b["python"] and b["python"]["name"] == x["waits"], f"blocked {x}: {b}")
        check(frame_at(b["stack"], x["func"], x["line"]), f"blocked {x['tid']}: {b['stack']}")


def check_lost_notify(stderr, s, t):
    check("DEADLOCK" not in stderr, f"a lost notify is no deadlock: {stderr}")
    check(not [d for d in s["deadlocks"] if d["kind"] == "actual"], str(s["deadlocks"]))
    x = t[0]
    b = [b for b in s["blocked_threads"] if b["tid"] == x["tid"]]
    check(b, f"consumer {x['tid']} not among the blocked: {s['blocked_threads']}")
    b = b[0]
    check(b["python"] and b["python"]["kind"] == "condition" and
          b["python"]["name"] == "ready" and b["python"]["id"] == x["waits_id"] and
          b["python"]["holder_tid"] is None, f"consumer waits for {b['python']}")
    check(any(f.startswith("Condition.wait (threading.py:") or
              f.startswith("wait (threading.py:") for f in b["stack"]), str(b["stack"]))
    check(frame_at(b["stack"], x["func"], x["line"]), str(b["stack"]))


def make_tests():
    tests = []
    for py in pythons():
        name = os.path.basename(py) + ("-debian" if py.startswith("/usr/bin") else "")

        def t_p(py=py, mode="lock"):
            check_deadlock(py, mode, *attach(py, mode, 2))

        def t_pr(py=py):
            check_deadlock(py, "rlock", *attach(py, "rlock", 2))

        def t_cmd(py=py):
            stderr, s, t = command(py, "lock", 2)
            check(len(t) == 2, f"truths {t}")
            check_deadlock(py, "lock", stderr, s, t)

        def t_cond(py=py):
            check_lost_notify(*attach(py, "cond", 1))

        for suffix, fn in (("lock_attach", t_p), ("rlock_attach", t_pr),
                           ("lock_command_sigint", t_cmd), ("cond_lost_notify", t_cond)):
            fn.__name__ = f"test_{name}_{suffix}"
            tests.append(fn)
    return tests


if __name__ == "__main__":
    skip = None
    if os.geteuid() != 0:
        skip = "needs root"
    elif not os.path.exists(TT):
        skip = "threadtrace not built"
    elif not pythons():
        skip = "no CPython found"
    tests = make_tests() or [lambda: None]
    sys.exit(run("python_hangs", tests, TMP, only=sys.argv[1:], skip_all=skip))
