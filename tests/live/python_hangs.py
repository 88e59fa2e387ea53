#!/usr/bin/env python3
"""Live tests (root): Python programs that hang for good (tests/workloads/pyhang.py) on every
CPython here (pyenv's, Debian 12's python3.11, and the Python roots of tests/pyroots.py: Debian
13's 3.13.5, unstable's 3.13, 3.14 and 3.15, their debug builds, a free-threaded 3.13t), traced
with -p PID after the hang started and with -- CMD stopped by SIGINT: the DEADLOCK line on
stderr, JSON deadlocks with the right threads and their Python names, Python lock names, ids
and holders (with their evidence), the hung view's Python stacks at the blocking line and the
lock each blocked thread is charged to, a thread waiting for a Lock it holds itself as a
deadlock of one, and a lost Condition notify shown as a blocked Condition.wait, not as a
deadlock. TT_NO_ROOTS=1: no roots. Ends with 'N passed, N failed, N skipped'."""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import shutil
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fail, Skip, check, run  # noqa: E402
from run import pythons  # noqa: E402
import pyroots  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
PYHANG = os.path.join(ROOT, "tests", "workloads", "pyhang.py")
TMP = tempfile.mkdtemp(prefix="tt-pyhang-")
F_SETPIPE_SZ = 1031


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


def start(py, mode, out, env=None, root=None):
    """pyhang.py MODE under py (inside root when given), its output to out."""
    if root is None:
        argv = [py, PYHANG, mode]
    else:
        shutil.copy(PYHANG, pyroots.workdir(root, TMP))
        argv = pyroots.command(root, py, PYHANG, [mode], [], TMP)
    return subprocess.Popen(argv, stdout=open(out, "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def label(py):
    """py's name in tags and test names: pyenv's python3.11 and Debian's are both python3.11 (a
    shared --json path let one test read the other's report)."""
    return os.path.basename(py) + ("-debian" if py.startswith("/usr/bin") else "")


def attach(py, mode, n, root=None):
    """-p PID, 4 s (the Python round needs 0.5 s of blocking and two looks 250 ms apart, after
    attach: room for a loaded machine), attached once the workload hangs: (stderr, summary,
    truths)."""
    tag = f"{label(py)}-{os.path.basename(root or 'host')}-{mode}-p"
    out, js = os.path.join(TMP, tag + ".out"), os.path.join(TMP, tag + ".json")
    w = start(py, mode, out, root=root)
    try:
        t = wait_truths(out, n)
        time.sleep(0.5)  # blocked in the acquire by now
        p = subprocess.run([TT, "--json", js, "-p", str(w.pid if root is None else
                                                         child_pid(out)), "4"],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"threadtrace failed: {p.stderr}")
        with open(js) as f:
            return p.stderr, json.load(f), t
    finally:
        os.killpg(w.pid, signal.SIGKILL)
        w.wait()


def child_pid(out):
    """The pid pyhang.py printed first (inside a root it is not Popen's: chroot execs, env)."""
    with open(out) as f:
        return int(f.readline().split()[1])


def command(py, mode, n, stdout_full=False):
    """-- CMD, SIGINT once it said DEADLOCK (within 30 s: no fixed sleep that a loaded machine
    outruns): the report must come while the child still runs; a second SIGINT once the JSON
    is there (the first was taken: two sent before threadtrace runs are one to the kernel)
    ends both. stdout_full: threadtrace's stdout is a one-page pipe the workload's truths fill
    and nobody reads until the end: the JSON must not wait for it, nor the exit."""
    tag = f"{label(py)}-{mode}-cmd" + ("-stdout-full" if stdout_full else "")
    js = os.path.join(TMP, tag + ".json")
    if os.path.exists(js):
        os.unlink(js)
    env = dict(os.environ, DELAY="2" if py.startswith("/usr/bin") else "0.5")
    p = subprocess.Popen([TT, "--json", js, "--", py, PYHANG, mode], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    if stdout_full:
        fcntl.fcntl(p.stdout.fileno(), F_SETPIPE_SZ, 4096)
    err, said = [], threading.Event()

    def read_stderr():
        for line in p.stderr:
            err.append(line)
            if "DEADLOCK" in line:
                said.set()
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    child = None
    try:
        said.wait(30)
        time.sleep(0.3)  # the rest of the DEADLOCK lines
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
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Fail("threadtrace still runs 20 s after a second SIGINT")
        left = os.path.exists(f"/proc/{child}/status") and \
            "zombie" not in open(f"/proc/{child}/status").read()
        if left:  # the child keeps our stdout pipe open: end it before reading
            os.kill(child, signal.SIGKILL)
        stdout = p.stdout.read()
        reader.join(5)
        check(not left, "child left running")
        with open(js) as f:
            return "".join(err), json.load(f), truths(stdout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


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
        # threads by their threading names (the OS's when not read yet: a name of 15 or less)
        check(f"tid {x['tid']} ({x['name']}) waits" in stderr or
              f"tid {x['tid']} ({x['name'][:15]}) waits" in stderr,
              f"stderr names tid {x['tid']} {x['name']}: {stderr}")
        # the lock's entry in LOCK CONTENTION is the object the DEADLOCK names, by its id()
        # (free-threaded builds too: attached to 3.13t it said id() + 16 until 2026-12-01)
        for lk in s["locks"]:
            if lk["name"] == x["waits"] and lk["kind"] == f"python-{kind}":
                check(lk["py_object"] and int(lk["py_object"], 16) == x["waits_id"],
                      f"{x['waits']}'s py_object {lk['py_object']} vs id() {x['waits_id']:#x}")
    dls = [d for d in s["deadlocks"] if d["kind"] == "actual"]
    check(len(dls) == 1, f"one actual deadlock: {s['deadlocks']}")
    d = dls[0]
    by_tid = {x["tid"]: x for x in t}
    check(sorted(d["threads"]) == sorted(by_tid), f"threads {d['threads']} vs {list(by_tid)}")
    check(d["thread_names"] == [by_tid[tid]["name"] for tid in d["threads"]],
          f"thread names {d['thread_names']} vs {t}")
    for i, tid in enumerate(d["threads"]):
        x, pw = by_tid[tid], d["python"][i]
        holder = [o for o in t if o["holds"] == x["waits"]][0]["tid"]
        check(pw["kind"] == kind and pw["name"] == x["waits"] and pw["id"] == x["waits_id"],
              f"tid {tid} waits for {pw} vs {x}")
        check(d["held_by"][i] == holder and pw["holder_tid"] == holder and
              pw["holder_evidence"] == evidence, f"tid {tid}'s holder {pw} vs {holder}")
        check(frame_at(d["stacks"][i]["stack"], x["func"], x["line"]),
              f"tid {tid}'s stack lacks {x['func']} (pyhang.py:{x['line']})")
    check_blocked(s, t, kind)


def check_blocked(s, t, kind):
    """Each hung thread blocked at its line, waiting for its lock by name and id, and charged
    to that Python lock (also a wait in progress at attach)."""
    blocked = {b["tid"]: b for b in s["blocked_threads"]}
    for x in t:
        b = blocked.get(x["tid"])
        check(b and b["python"] and b["python"]["name"] == x["waits"] and
              b["python"]["id"] == x["waits_id"], f"blocked {x}: {b}")
        check(b["lock"] == f"[python-{kind} {x['waits']}]", f"blocked {x['tid']} is charged "
              f"to {b['lock']}")
        check(frame_at(b["stack"], x["func"], x["line"]), f"blocked {x['tid']}: {b['stack']}")


def check_self(stderr, s, t):
    """A thread waiting for a Lock it holds (`with` in `with`): a deadlock of one thread."""
    x = t[0]
    check("threadtrace: DEADLOCK: a Python thread waits for a lock it holds itself" in stderr,
          f"no DEADLOCK line: {stderr}")
    check(f"waits for Python lock {x['waits']} " in stderr, f"stderr names {x['waits']}")
    dls = [d for d in s["deadlocks"] if d["kind"] == "actual"]
    check(len(dls) == 1, f"one actual deadlock: {s['deadlocks']}")
    d, pw = dls[0], dls[0]["python"][0]
    check(d["threads"] == [x["tid"]] and d["held_by"] == [x["tid"]] and
          d["thread_names"] == [x["name"]], f"{d['threads']} {d['held_by']} vs {x}")
    check(pw["kind"] == "lock" and pw["name"] == x["waits"] and pw["id"] == x["waits_id"] and
          pw["holder_tid"] == x["tid"] and pw["holder_evidence"] == "with-block", f"{pw} vs {x}")
    check(frame_at(d["stacks"][0]["stack"], x["func"], x["line"]), str(d["stacks"][0]))
    check_blocked(s, t, "lock")


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
        name = label(py)

        def t_p(py=py, mode="lock"):
            check_deadlock(py, mode, *attach(py, mode, 2))

        def t_pr(py=py):
            check_deadlock(py, "rlock", *attach(py, "rlock", 2))

        def t_cmd(py=py):
            stderr, s, t = command(py, "lock", 2)
            check(len(t) == 2, f"truths {t}")
            check_deadlock(py, "lock", stderr, s, t)

        def t_cmd_full(py=py):
            stderr, s, t = command(py, "lock", 2, stdout_full=True)
            check(len(t) == 2, f"truths {t}")
            check_deadlock(py, "lock", stderr, s, t)

        def t_cond(py=py):
            check_lost_notify(*attach(py, "cond", 1))

        def t_self(py=py, mode="self-same"):
            check_self(*attach(py, mode, 1))

        for suffix, fn in (("lock_attach", t_p), ("rlock_attach", t_pr),
                           ("lock_command_sigint", t_cmd),
                           ("lock_command_sigint_stdout_full", t_cmd_full),
                           ("cond_lost_notify", t_cond),
                           ("self_same", t_self),
                           ("self_call", lambda py=py: t_self(py, "self-call"))):
            fn.__name__ = f"test_{name}_{suffix}"
            tests.append(fn)
    for interp in pyroots.INTERPRETERS:
        if interp.maker is None:
            continue  # the host's python3.11: above

        def in_root(check_fn, mode, n, interp=interp):
            root, py = pyroots.interp_root(interp)
            check_fn(*attach(py, mode, n, root=root))

        for suffix, fn in (
                ("lock_attach", lambda i=interp: in_root(
                    lambda *a: check_deadlock(i.path, "lock", *a), "lock", 2, i)),
                ("rlock_attach", lambda i=interp: in_root(
                    lambda *a: check_deadlock(i.path, "rlock", *a), "rlock", 2, i)),
                ("cond_lost_notify", lambda i=interp: in_root(check_lost_notify, "cond", 1, i)),
                ("self_same", lambda i=interp: in_root(check_self, "self-same", 1, i)),
                ("self_call", lambda i=interp: in_root(check_self, "self-call", 1, i))):
            fn.__name__ = f"test_{interp.label}_{suffix}"
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
    if not skip:
        pyroots.start({i.maker for i in pyroots.INTERPRETERS
                       if not sys.argv[1:] or any(a.startswith(i.label + "_")
                                                  for a in sys.argv[1:])})
    try:
        rc = run("python_hangs", tests, TMP, only=sys.argv[1:], skip_all=skip)
    finally:
        pyroots.cleanup()
    sys.exit(rc)
