"""Live tests of deadlocks and orphaned locks: an ABBA deadlock and a thread's deadlock with
itself said on stderr while tracing goes on, or found on attaching; locks left held by a
thread that exited, by a fork child's parent thread, by a dead process (process-shared, and
its waker in another process); a deadlock inside a PID namespace.

Imported by run.py, where these tests stood before they had a file of their own: TESTS keeps
the order of run.py's globals.
"""
import json
import os
import shutil
import signal
import subprocess
import time

from common import TMP, TT, WL, frames_of, lock_named, run_traced
from harness import Skip, check

# run.py imports the tests, not these globals
__all__ = ["test_deadlock_reported_live", "test_attach_to_deadlocked_process",
           "test_self_deadlock_reported_live", "test_fork_child_orphaned_lock",
           "test_thread_exited_holding_lock_orphaned", "test_pshared_owner_died_orphaned",
           "test_pshared_waker_in_other_process", "test_deadlock_in_pid_namespace"]


def test_deadlock_reported_live():
    """A real ABBA deadlock, said on stderr within a second, while tracing goes on."""
    import threading
    out = os.path.join(TMP, "deadlock.json")
    p = subprocess.Popen([TT, "-q", "--json", out, "--", WL, "deadlock"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines = []  # (monotonic ns, line) as threadtrace writes them

    def read_stderr():
        for line in p.stderr:
            lines.append((time.monotonic_ns(), line))
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        truth = json.loads(p.stdout.readline())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any("DEADLOCK" in l for _, l in lines):
            time.sleep(0.05)
        time.sleep(0.3)  # the rest of the message
        seen = [t for t, l in lines if "DEADLOCK" in l]
        check(seen, "no DEADLOCK line within 5 s")
        latency = (seen[0] - truth["at_ns"]) / 1e9
        check(latency < 1.0, f"deadlock reported {latency:.2f} s after it happened")
        text = "".join(l for _, l in lines)
        check("lock_a" in text and "lock_b" in text, f"locks named: {text!r}")
        check("abba_main" in text, f"stacks shown: {text!r}")
    finally:
        p.send_signal(signal.SIGTERM)  # passed on to the deadlocked command
        p.wait(timeout=20)
        reader.join(timeout=5)
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(d["kind"] == "actual" and sorted(d["locks"]) == ["lock_a", "lock_b"], str(d))
    check(sorted(d["threads"]) == sorted([truth["tid_a"], truth["tid_b"]]), str(d))
    check(sorted(d["held_by"]) == sorted(d["threads"]), "each holds what the other waits for")


def test_attach_to_deadlocked_process():
    """Attached after the fact: the waits in progress are adopted, the cycle found."""
    wl = subprocess.Popen([WL, "deadlock"], stdout=subprocess.PIPE, text=True)
    try:
        truth = json.loads(wl.stdout.readline())
        time.sleep(0.3)
        out = os.path.join(TMP, "attached-deadlock.json")
        p = subprocess.run([TT, "--json", out, "-p", str(wl.pid), "1.5"], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, p.stderr)
    finally:
        wl.kill()
        wl.wait()
    check("DEADLOCK" in p.stderr, p.stderr)
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(sorted(d["threads"]) == sorted([truth["tid_a"], truth["tid_b"]]), str(d))
    for st in d["stacks"]:
        check("abba_main" in frames_of(st["stack"]), f"stack unwound from /proc: {st}")
    for name in ("lock_a", "lock_b"):
        lk = lock_named(s, name)
        check(lk["wakers"][0]["cause"] == "still waiting at end", "never released")
        check(lk["wait_ns"] >= 1.4e9, f"{name} waited the whole trace: {lk['wait_ns']}")


class StderrWatch:
    """threadtrace -- COMMAND with its stderr read as it comes: (monotonic ns, line) pairs."""

    def __init__(self, args):
        import threading
        self.p = subprocess.Popen([TT] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.append((time.monotonic_ns(), line))

    def wait_for(self, marker, seconds=5):
        """When marker first showed on stderr (monotonic ns), or a failure."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not any(marker in l for _, l in self.lines):
            time.sleep(0.05)
        time.sleep(0.3)  # the rest of the message
        seen = [t for t, l in self.lines if marker in l]
        check(seen, f"no {marker} line within {seconds} s: {self.text()!r}")
        return seen[0]

    def text(self):
        return "".join(l for _, l in self.lines)

    def stop(self):
        """SIGTERM (passed on to the hung command), reaped."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=20)
        self.reader.join(timeout=5)


def test_self_deadlock_reported_live():
    """A thread locks a default mutex it holds (cases 17-live-deadlocks 'self'): a deadlock of
    one thread, said at once, in the JSON with that thread as waiter and holder."""
    out = os.path.join(TMP, "selflock.json")
    w = StderrWatch(["-q", "--json", out, "--", WL, "selflock"])
    try:
        truth = json.loads(w.p.stdout.readline())
        seen = w.wait_for("DEADLOCK")
        check((seen - truth["at_ns"]) / 1e9 < 1.0, "reported within a second")
        text = w.text()
        check("a lock it holds itself" in text and "self_lock" in text, text)
        check(f"tid {truth['tid']} (workload) waits for self_lock" in text, text)
        check(f"held by tid {truth['owner']}" in text, text)
        check("run_selflock" in text, f"stack shown: {text!r}")
    finally:
        w.stop()
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(d["kind"] == "actual" and d["locks"] == ["self_lock"], str(d))
    check(d["threads"] == [truth["tid"]] and d["held_by"] == [truth["owner"]], str(d))
    check("run_selflock" in frames_of(d["stacks"][0]["stack"]), str(d["stacks"]))


def test_fork_child_orphaned_lock():
    """fork() while a thread holds log_lock (case 12-fork-inherited-lock): the child's lock
    waits for a tid that is not in its process. Attached to the child: ORPHANED at once."""
    wl = subprocess.Popen([WL, "forkheld"], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        truth = json.loads(wl.stdout.readline())
        child = truth["child"]
        check(truth["owner"] == truth["logger_tid"], f"the workload's own truth: {truth}")
        time.sleep(0.2)
        out = os.path.join(TMP, "forkheld.json")
        p = subprocess.run([TT, "--json", out, "-p", str(child), "1.5"], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, p.stderr)
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
        wl.kill()
        wl.wait()
    line = [l for l in p.stderr.splitlines() if "ORPHANED LOCK" in l]
    check(len(line) == 1, p.stderr)
    check(f"tid {child} (workload) waits for log_lock" in line[0] and
          f"held by tid {truth['logger_tid']}, which is not a thread of this process" in
          line[0], line[0])
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(d["kind"] == "orphaned" and d["locks"] == ["log_lock"], str(d))
    check(d["threads"] == [child] and d["owner_tid"] == truth["logger_tid"], str(d))
    check(d["process_shared"] is False and d["owner_state"] == "other process", str(d))
    check("run_forkheld" in frames_of(d["stacks"][0]["stack"]), str(d["stacks"]))
    check("ORPHANED LOCK at" in p.stdout, "in the report")


def test_thread_exited_holding_lock_orphaned():
    """A thread exits holding exit_lock, then main locks it: its owner tid no longer exists."""
    out = os.path.join(TMP, "exitheld.json")
    w = StderrWatch(["-q", "--json", out, "--", WL, "exitheld"])
    try:
        truth = json.loads(w.p.stdout.readline())
        check(truth["owner"] == truth["gone_tid"], f"the workload's own truth: {truth}")
        seen = w.wait_for("ORPHANED LOCK")
        check((seen - truth["at_ns"]) / 1e9 < 1.0, "reported within a second")
        check(f"tid {truth['tid']} (workload) waits for exit_lock" in w.text() and
              f"held by tid {truth['gone_tid']}, which no longer exists: it exited" in w.text(),
              w.text())
    finally:
        w.stop()
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(d["kind"] == "orphaned" and d["locks"] == ["exit_lock"], str(d))
    check(d["threads"] == [truth["tid"]] and d["owner_tid"] == truth["gone_tid"], str(d))
    check(d["process_shared"] is False and d["owner_state"] == "gone", str(d))


def test_pshared_owner_died_orphaned():
    """A process dies holding a process-shared mutex (case 07-pshared-robust, non-robust):
    the parent's lock waits for a dead tid: ORPHANED at once, owner_tid the dead child."""
    out = os.path.join(TMP, "psharedies.json")
    w = StderrWatch(["-q", "--json", out, "--", WL, "psharedies"])
    truth = None
    try:
        truth = json.loads(w.p.stdout.readline())
        check(truth["owner"] == truth["child"], f"the workload's own truth: {truth}")
        seen = w.wait_for("ORPHANED LOCK")
        check((seen - truth["at_ns"]) / 1e9 < 1.0, "reported within a second")
        text = w.text()
        check(f"tid {truth['parent']} (workload) waits for" in text and
              f"held by tid {truth['child']}, which no longer exists: its process died" in text,
              text)
    finally:
        w.stop()
        if truth:
            for pid in (truth["parent"], truth["child"]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(d["kind"] == "orphaned" and d["threads"] == [truth["parent"]], str(d))
    check(d["owner_tid"] == truth["child"] and d["process_shared"] is True and
          d["owner_state"] == "gone", str(d))
    lk = [l for l in s["locks"] if int(l["addr"], 16) == truth["addr"]]
    check(lk and lk[0]["kind"] == "mutex", f"the shared mutex: {s['locks']}")


def test_pshared_waker_in_other_process():
    """Parent and child share ledger_mutex: every wake-up of the traced parent is the child's
    unlock, named with the child's pid and name, not 'other wake-up'."""
    p, s, truth = run_traced(["--", WL, "pshared", "2"], "pshared")
    check(p.returncode == 0, p.stderr)
    t = truth[0]
    lks = [l for l in s["locks"] if l["contentions"] >= 50]
    check(len(lks) == 1, f"one shared mutex contended: {s['locks']}")
    lk = lks[0]
    peer = [w for w in lk["wakers"] if w["cause"] == "thread"]
    check(peer and all(w["tid"] == t["child"] and w.get("pid") == t["child"] and
                       w["name"] == t["peer_name"] for w in peer), str(lk["wakers"]))
    by_peer = sum(w["count"] for w in peer)
    check(by_peer >= 0.95 * lk["contentions"],
          f"{by_peer} of {lk['contentions']} woken by the peer: {lk['wakers']}")
    check(f"tid {t['child']} peer (pid {t['child']}, another process)" in p.stdout, "report")


def test_deadlock_in_pid_namespace():
    """The ABBA deadlock inside its own PID namespace (case safety/pidns): glibc's owners are
    namespace tids; found all the same, named by host tids."""
    if not shutil.which("unshare"):
        raise Skip("no unshare (util-linux)")
    u = subprocess.Popen(["unshare", "-fp", "--mount-proc", WL, "deadlock"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    host = None
    try:
        truth = json.loads(u.stdout.readline())
        with open(f"/proc/{u.pid}/task/{u.pid}/children") as f:
            host = int(f.read().split()[0])
        ns_to_host = {}
        for tid in os.listdir(f"/proc/{host}/task"):
            with open(f"/proc/{host}/task/{tid}/status") as f:
                ns = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
            ns_to_host[int(ns[-1])] = int(ns[0])
        want = sorted(ns_to_host[truth[k]] for k in ("tid_a", "tid_b"))
        check(want != sorted([truth["tid_a"], truth["tid_b"]]), "namespace tids differ")
        time.sleep(0.2)
        out = os.path.join(TMP, "pidns.json")
        p = subprocess.run([TT, "--json", out, "-p", str(host), "1.5"], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, p.stderr)
    finally:
        if host:
            os.kill(host, signal.SIGKILL)
        u.kill()
        u.wait()
    check("DEADLOCK" in p.stderr, p.stderr)
    with open(out) as f:
        s = json.load(f)
    check(len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = s["deadlocks"][0]
    check(sorted(d["threads"]) == want and sorted(d["held_by"]) == want, f"{d} want {want}")
    check(sorted(d["locks"]) == ["lock_a", "lock_b"], str(d))
