"""Live tests of targets on other runtimes than glibc's C: musl (static), Go, a JVM.

Imported by run.py. Each workload times itself (tests/workloads/muslpool.c, go/golock.go,
java/JLock.java); a test is skipped with a message when its compiler (musl-gcc, go, javac)
is absent.
"""
import json
import os
import shutil
import subprocess
import tempfile

from harness import Fail, Skip, check, near, traced_json

__all__ = ["test_musl_lock_kinds", "test_musl_holds_refused", "test_go_runtime_parking",
           "test_jvm_monitors_and_parking"]  # run.py imports the tests, not these globals

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
WLD = os.path.join(ROOT, "tests", "workloads")
TMP = tempfile.mkdtemp(prefix="tt-live-rt-")


def traced(args, name, timeout=120):
    """threadtrace --json [args]: (proc, summary, the workload's JSON truth lines)."""
    return traced_json(TT, args, os.path.join(TMP, name + ".json"), timeout)


def build(cmd, what):
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=TMP,
                       env=dict(os.environ, GOCACHE=os.path.join(TMP, "gocache")))
    if p.returncode:
        raise Fail(f"building {what}: {p.stderr[-500:]}")


def runtime_entry(summary, name):
    for r in summary["runtimes"]:
        if r["name"] == name:
            return r
    raise Fail(f"no runtime {name} in {summary['runtimes']}")


def musl_pool():
    if not shutil.which("musl-gcc"):
        raise Skip("no musl-gcc (Debian: musl-tools)")
    exe = os.path.join(TMP, "muslpool")
    if not os.path.exists(exe):
        build(["musl-gcc", "-O2", "-g", "-static", "-o", exe,
               os.path.join(WLD, "muslpool.c")], "muslpool")
    return exe


def test_musl_lock_kinds():
    # musl: the mutex word is +4 in pthread_mutex_t, a private condvar's waiters wait on a node
    # on their own stack (value 2, as a glibc mutex would), a joiner on the thread's descriptor
    exe = musl_pool()
    p, s, truth = traced(["-q", "--", exe, "1.5"], "muslpool")
    check(p.returncode == 0 and len(truth) == 5, p.stderr)
    check(runtime_entry(s, "musl")["static"], s["runtimes"])
    workers, main = truth[:4], truth[4]
    by_name = {l["name"]: l for l in s["locks"] if l["name"]}
    pool = by_name.get("pool_lock")
    check(pool is not None and pool["kind"] == "mutex",
          f"pool_lock: {[(l['kind'], l['name']) for l in s['locks']]}")
    lock_ns = sum(w["lock_ns"] for w in workers)
    near(pool["wait_ns"], lock_ns, 0.10, "pool_lock wait vs the workers' time in lock")
    conds = [l for l in s["locks"] if l["kind"] == "condvar"]
    cwaits = sum(l["contentions"] for l in conds)
    cns = sum(l["wait_ns"] for l in conds)
    check(cwaits == main["cond_waits"], f"condvar waits {cwaits}, truth {main['cond_waits']}")
    near(cns, main["cond_ns"], 0.10, "condvar wait vs the consumer's time in cond_wait")
    joins = [l for l in s["locks"] if l["kind"] == "join"]
    jns = sum(l["wait_ns"] for l in joins)
    check(joins and jns <= main["join_ns"] * 1.02,
          f"joins {[(l['detail'], l['wait_ns']) for l in joins]}, truth {main['join_ns']}")
    tids = {w["worker"] for w in workers} | {main["consumer"]}
    for j in joins:
        check(j["detail"] and int(j["detail"].split()[-1]) in tids, f"join detail {j}")
    # nothing else is a mutex: no condvar or join filed as one
    mutexes = [l for l in s["locks"] if l["kind"] == "mutex"]
    check({l["name"] for l in mutexes} <= {"pool_lock", "q_lock"},
          f"mutexes: {[(l['name'], l['location']) for l in mutexes]}")


def test_musl_holds_refused():
    exe = musl_pool()
    p = subprocess.run([TT, "--holds", "--", exe, "0.2"], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 1 and "--holds does not support musl" in p.stderr and
          "without --holds" in p.stderr, f"rc {p.returncode}: {p.stderr}")


def test_go_runtime_parking():
    # goroutines block in Go's scheduler; only idle Ms sleep in futexes: waiting, not contention
    if not shutil.which("go"):
        raise Skip("no go (Debian: golang-go)")
    exe = os.path.join(TMP, "golock")
    build(["go", "build", "-o", exe, os.path.join(WLD, "go", "golock.go")], "golock")
    p, s, truth = traced(["--", exe, "1.5"], "golock")
    check(p.returncode == 0 and truth, p.stderr)
    go = runtime_entry(s, "go")
    check(go["version"] == truth[0]["go"], f"{go} vs {truth[0]}")
    check("mutex profile" in go["note"] and "mutex profile" in p.stdout, go)
    check(truth[0]["mutex_wait_ns"] > 1e9, f"no sync.Mutex contention to hide: {truth}")
    park = [l for l in s["locks"] if l["kind"] == "park"]
    contention = sum(l["wait_ns"] for l in s["locks"] if l["kind"] in ("mutex", "futex",
                                                                         "rwlock"))
    parked = sum(l["wait_ns"] for l in park)
    check(park and all(l["detail"].startswith("Go ") for l in park), park[:2])
    check(contention < 0.05 * parked,
          f"lock contention {contention} ns against {parked} ns of parking")
    # an M's parking is its thread's cond time, not lock time
    lock_ns = sum(t["lock_wait_ns"] for t in s["threads"])
    cond_ns = sum(t["cond_wait_ns"] for t in s["threads"])
    check(lock_ns < 0.05 * cond_ns, f"threads: lock {lock_ns} ns, cond {cond_ns} ns")


def test_jvm_monitors_and_parking():
    # HotSpot's symbols name what a park event is used for: synchronized entry
    # (ObjectMonitor::EnterI) is monitor contention, LockSupport.park is parking
    if not shutil.which("javac") or not shutil.which("java"):
        raise Skip("no java/javac (Debian: default-jdk-headless)")
    src = os.path.join(TMP, "JLock.java")
    shutil.copy(os.path.join(WLD, "java", "JLock.java"), src)
    build(["javac", "-d", TMP, src], "JLock")
    p, s, truth = traced(["--", "java", "-XX:+UseSerialGC", "-cp", TMP, "JLock", "2"], "jlock")
    check(p.returncode == 0 and truth, p.stderr[-2000:])
    check(runtime_entry(s, "jvm")["path"].endswith("libjvm.so"), s["runtimes"])
    mon = [l for l in s["locks"] if l["detail"] == "Java monitor (synchronized)"]
    parked = [l for l in s["locks"] if l["detail"] == "Java LockSupport.park"]
    mon_ns = sum(l["wait_ns"] for l in mon)
    park_ns = sum(l["wait_ns"] for l in parked)
    near(mon_ns, truth[0]["monitor_wait_ns"], 0.10, "Java monitor waits vs synchronized entry")
    near(park_ns, truth[0]["reentrant_wait_ns"], 0.10, "LockSupport.park vs ReentrantLock.lock")
    check(all(l["kind"] == "park" for l in parked), [l["kind"] for l in parked])
    check("JVM: monitor and park waits" in p.stdout, p.stdout[:600])
