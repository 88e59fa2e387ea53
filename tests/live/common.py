"""What the live tests share: run.py's and those of the modules it imports (deadlocks.py,
holds.py, python.py). The paths of threadtrace and of the workloads, the scratch directory,
threadtrace --json on a command or attached to a running one, a lock or thread of a summary,
the CPythons here, and the check that no BPF program of ours outlives threadtrace.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
WL = os.path.join(ROOT, "build", "workloads", "workload")
WL_NOFP = os.path.join(ROOT, "build", "workloads", "workload-nofp")
KINDS = os.path.join(ROOT, "build", "workloads", "kinds")
STORM_NOFP = os.path.join(ROOT, "build", "workloads", "storm-nofp")
CXX = os.path.join(ROOT, "build", "workloads", "cxxmutex")
TMP = tempfile.mkdtemp(prefix="tt-live-")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Fail, check, traced_json  # noqa: E402


def run_traced(args, name, timeout=60):
    """threadtrace [args] with --json; returns (proc, summary, workload truth lines)."""
    return traced_json(TT, args, os.path.join(TMP, name + ".json"), timeout)


def lock_named(summary, name):
    for lk in summary["locks"]:
        if lk["name"] == name:
            return lk
    raise Fail(f"no lock named {name} in {[l['name'] for l in summary['locks']]}")


def thread(summary, tid):
    for t in summary["threads"]:
        if t["tid"] == tid:
            return t
    raise Fail(f"no thread {tid}")


def stack_has(stacks, func):
    return any(any(fr.startswith(func + "+") for fr in s) for s in stacks)


TT_PROGS = ("tt_sched_switch", "tt_enter_futex", "tt_lock_call", "tt_gil_store", "tt_entry_stop",
            "tt_exec_stop")


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def prog_holders():
    """BPF program id -> pids holding it (a program or link fd), from /proc/*/fdinfo."""
    held = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            held.setdefault(int(line.split()[1]), set()).add(int(pid))
        except OSError:
            continue
    return held


def our_programs():
    """threadtrace's BPF programs held by a process this test run started, or by none at all
    (a leak); another threadtrace on the machine is not ours."""
    p = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    check(p.returncode == 0, "bpftool prog show failed")
    progs = [x for x in json.loads(p.stdout or "[]") if x.get("name") in TT_PROGS]
    held = prog_holders() if progs else {}
    return [x["name"] for x in progs
            if not held.get(x["id"]) or any(parent_of(o) == os.getpid()
                                            for o in held[x["id"]])]


def no_programs_left():
    """Nothing of ours stays loaded after threadtrace exits (the kernel frees it in ~1 s)."""
    for _ in range(30):
        if not our_programs():
            return
        time.sleep(0.1)
    raise Fail("threadtrace BPF programs still loaded 3 s after it exited")


def frames_of(stack):
    """Function names of a JSON stack, inlined frames included."""
    return [fr.split("+")[0].split(" ")[0] for fr in stack]


def run_attached(cmd, opts, name, warmup):
    """Start cmd, attach with -p for 1 s after warmup seconds, let it finish: (threadtrace's
    result, the JSON summary, the workload's own first JSON line)."""
    wl = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(warmup)
        out = os.path.join(TMP, name + ".json")
        p = subprocess.run([TT, "-q", "--json", out] + opts + ["-p", str(wl.pid), "1"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, p.stderr)
        truth = json.loads(wl.communicate(timeout=30)[0].splitlines()[0])
    finally:
        wl.kill()
    with open(out) as f:
        return p, json.load(f), truth


PYGIL = os.path.join(ROOT, "tests", "workloads", "pygil.py")


def pythons():
    """The CPythons here: pyenv builds with symbols, and Debian's stripped one."""
    found = []
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else os.environ.get("PYENV_ROOT",
                                                     os.path.expanduser("~/.pyenv"))
    for minor in range(8, 14):
        vers = os.path.join(root, "versions") if root else ""
        for v in sorted(os.listdir(vers)) if vers and os.path.isdir(vers) else []:
            exe = os.path.join(vers, v, "bin", f"python3.{minor}")
            if v.startswith(f"3.{minor}.") and os.path.exists(exe):
                found.append(exe)
                break
    if os.path.exists("/usr/bin/python3.11"):
        found.append("/usr/bin/python3.11")
    return found
