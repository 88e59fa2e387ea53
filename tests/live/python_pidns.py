#!/usr/bin/env python3
"""Live tests (root): Python in a PID namespace of its own (`unshare -pf --mount-proc`, as in a
container), whose thread ids are not the host's. tests/workloads/pyhang.py deadlocks two
threads and prints its truth with the namespace's tids; the test turns them into host tids
through NSpid (/proc/PID/task/TID/status) and checks, with -p attached after the hang and
before it: the deadlock, its holders, the Python frames at the blocking line, and threading's
thread names. On a pyenv 3.12 and Debian's /usr/bin/python3.11.
Ends with 'N passed, N failed, N skipped'."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fail, check, run  # noqa: E402
from run import pythons  # noqa: E402
from python_hangs import check_deadlock  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
PYHANG = os.path.join(ROOT, "tests", "workloads", "pyhang.py")
TMP = tempfile.mkdtemp(prefix="tt-pidns-")


def truths(text):
    """The TRUTH lines; two threads' prints may share a line (print writes the newline apart)."""
    return [json.loads(m) for m in re.findall(r"TRUTH (\{[^{}]*\})", text)]


def ns_pids(pid):
    """{namespace tid: host tid} of process pid's threads, from their NSpid lines."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            ns = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
        out[int(ns[-1])] = int(ns[0])
    return out


def python_child(unshare_pid):
    """The host pid of the Python that unshare -f started (its only child)."""
    end = time.time() + 10
    while time.time() < end:
        kids = subprocess.run(["pgrep", "-P", str(unshare_pid)], capture_output=True,
                              text=True).stdout.split()
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise Fail("unshare started no child")


def wait_lines(path, pred, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        text = open(path).read() if os.path.exists(path) else ""
        if pred(text):
            return text
        time.sleep(0.05)
    raise Fail(f"the workload did not get there: {text!r}")


def traced(py, before):
    """pyhang.py lock in a new PID namespace, traced with -p (attached once it hangs, or
    before: DELAY). (stderr, summary, truths with host tids, {host tid: ns tid}, main pid)."""
    tag = f"{os.path.basename(py)}-{'before' if before else 'after'}"
    out, js = os.path.join(TMP, tag + ".out"), os.path.join(TMP, tag + ".json")
    env = dict(os.environ, DELAY="1.5" if before else "0")
    w = subprocess.Popen(["unshare", "-pf", "--mount-proc", py, PYHANG, "lock"],
                         stdout=open(out, "w"), stderr=subprocess.STDOUT, env=env)
    try:
        pid = python_child(w.pid)
        if before:
            text = wait_lines(out, lambda t: t.startswith("pid "))
            check("TRUTH" not in text, "the workload hung before the attach")
        else:
            wait_lines(out, lambda t: len(truths(t)) >= 2)
            time.sleep(0.5)  # blocked in the acquire by now
        p = subprocess.run([TT, "--json", js, "-p", str(pid), "5" if before else "2"],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"threadtrace failed: {p.stderr}")
        t = truths(open(out).read())
        check(len(t) == 2, f"truths {t}")
        check(open(out).read().startswith("pid 1 "), "not in a PID namespace of its own")
        host = ns_pids(pid)
        check(any(ns != h for ns, h in host.items()), f"namespace tids are the host's: {host}")
        for x in t:
            x["ns_tid"], x["tid"] = x["tid"], host[x["tid"]]
        with open(js) as f:
            return p.stderr, json.load(f), t, pid
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(w.pid)])
        w.kill()
        w.wait()


def check_names(s, t, pid):
    """threading's names on the host tids: the deadlocked threads and MainThread."""
    blocked = {b["tid"]: b for b in s["blocked_threads"]}
    for x in t:
        check(blocked.get(x["tid"], {}).get("name") == x["name"],
              f"tid {x['tid']} (ns {x['ns_tid']}) named {blocked.get(x['tid'])} vs {x['name']}")
    threads = {th["tid"]: th for th in s["threads"]}
    check(threads.get(pid, {}).get("name") == "MainThread",
          f"main thread {pid}: {threads.get(pid)}")


def make_tests():
    tests = []
    for py in pythons():
        if not (py.startswith("/usr/bin/") or os.path.basename(py) == "python3.12"):
            continue
        name = os.path.basename(py) + ("-debian" if py.startswith("/usr/bin") else "")

        def t_after(py=py):
            stderr, s, t, pid = traced(py, False)
            check_deadlock(py, "lock", stderr, s, t)
            check_names(s, t, pid)

        def t_before(py=py):
            stderr, s, t, pid = traced(py, True)
            check_deadlock(py, "lock", stderr, s, t)
            check_names(s, t, pid)

        for suffix, fn in (("attach_after_hang", t_after), ("attach_before_hang", t_before)):
            fn.__name__ = f"test_{name}_{suffix}"
            tests.append(fn)
    return tests


if __name__ == "__main__":
    skip = None
    if os.geteuid() != 0:
        skip = "needs root"
    elif not os.path.exists(TT):
        skip = "threadtrace not built"
    elif not shutil.which("unshare"):
        skip = "no unshare"
    elif not pythons():
        skip = "no CPython found"
    tests = make_tests() or [lambda: None]
    sys.exit(run("python_pidns", tests, TMP, only=sys.argv[1:], skip_all=skip))
