#!/usr/bin/env python3
"""Root tests (root): the glibc lock workload run on Debian 12 (this host), and inside Debian 11
(bullseye, glibc 2.31: pthreads in libpthread), 13 (trixie, glibc 2.41) and unstable (sid, glibc
2.43) roots made by tools/mkroot, traced from the host with `-p PID` and with
`-- chroot ROOT prog`, with and without --holds.

Every figure is compared with the workload's own truth (tests/workloads/glibclocks.c): kinds,
one object per lock (glibc 2.41 moved the condvar's futex words), wait times within 10%,
lock counts with --holds exact, and the libc version the report names is the one the program
ran with. A suite whose root cannot be made (no debootstrap, no network to the mirror) is
skipped with the reason. TT_ROOTS (default /var/cache/threadtrace-roots) caches the roots;
TT_NO_ROOTS=1 skips the roots (not the host). Ends with 'N passed, N failed, N skipped'.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
PROG = os.path.join(ROOT, "build", "workloads", "glibclocks")
MKROOT = os.path.join(ROOT, "tools", "mkroot")
TMP = tempfile.mkdtemp(prefix="tt-roots-")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import (Fail, Skip, attach_when_traced, check, chroot_argv, near,  # noqa: E402
                     run)

# suite -> (glibc it must report, root dir or None for this host, why it cannot be made)
SUITES = {"bookworm": ["2.36", None, None], "bullseye": ["2.31", None, None],
          "trixie": ["2.41", None, None], "sid": [None, None, None]}  # sid: 2.41 or later (2.43 when written)
STARTED = {}
SUBDIR = f"tmp/threadtrace-test-{os.getpid()}"  # inside a root: ours alone, removed at the end


def make_roots():
    """Start tools/mkroot for each root at once (cached: instant; cold: 3-6 minutes)."""
    if os.environ.get("TT_NO_ROOTS"):
        for s in ("bullseye", "trixie", "sid"):
            SUITES[s][2] = "TT_NO_ROOTS is set"
        return
    for s in ("bullseye", "trixie", "sid"):
        # 2.31 is older than the host's glibc: the program is built inside, with the root's gcc
        opts = ["--dbg", "--cc"] if s == "bullseye" else ["--dbg"]
        STARTED[s] = subprocess.Popen([MKROOT] + opts + [s], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)


def root_of(suite):
    """The root dir of suite with our program in it, or Skip with why it cannot be made."""
    if suite == "bookworm":
        if not open("/etc/debian_version").read().startswith("12"):
            raise Skip("the host is not Debian 12")
        return None
    if suite in STARTED:
        p = STARTED.pop(suite)
        out, err = p.communicate()
        if p.returncode:
            SUITES[suite][2] = (err.strip().splitlines() or ["mkroot failed"])[-1]
        else:
            r = out.strip().splitlines()[-1]
            os.makedirs(os.path.join(r, SUBDIR), exist_ok=True)
            SUITES[suite][1] = r
            if suite == "bullseye":
                shutil.copy(os.path.join(ROOT, "tests", "workloads", "glibclocks.c"),
                            os.path.join(r, SUBDIR))
                p = subprocess.run(["chroot", r, "gcc", "-O2", "-g", "-pthread",
                                    f"/{SUBDIR}/glibclocks.c", "-o", f"/{SUBDIR}/glibclocks"],
                                   capture_output=True, text=True, timeout=120)
                if p.returncode:
                    SUITES[suite][2] = f"cannot build the program in {r}: {p.stderr[-300:]}"
            else:
                shutil.copy(PROG, os.path.join(r, SUBDIR, "glibclocks"))
    if SUITES[suite][2]:
        raise Skip(SUITES[suite][2])
    return SUITES[suite][1]


def in_root(root, args):
    """argv running args (a program under SUBDIR, cwd there) inside root (harness.chroot_argv)."""
    if root is None:
        return args
    return chroot_argv(root, "/" + SUBDIR, ["./glibclocks"] + args[1:])


def prog_dir(root):
    return os.path.join(root, SUBDIR) if root else TMP


def truth_of(text):
    lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
    check(lines, f"the workload printed no truth: {text[-300:]}")
    return lines[-1]


def lock(s, name):
    for lk in s["locks"]:
        if lk["name"] == name:
            return lk
    raise Fail(f"no lock named {name}: {[(l['kind'], l['name']) for l in s['locks']]}")


def check_locks(s, truth, suite):
    """Kinds, one object per lock and wait times against the workload's own clocks."""
    want = SUITES[suite][0]
    libc = s["target"]["libc"]
    check(libc and libc["version"] == truth["libc"], f"libc {libc} vs truth {truth['libc']}")
    ver = tuple(int(x) for x in truth["libc"].split(".")[:2])
    check(truth["libc"] == want if want else ver >= (2, 41), f"{suite} runs glibc {ver}")
    split = [lk["name"] for lk in s["locks"] if (lk["name"] or "").startswith("jobs_cond+")]
    check(not split, f"condvar split into words: {split}")
    m = lock(s, "acct_mutex")
    check(m["kind"] == "mutex", f"acct_mutex is a {m['kind']}")
    near(m["wait_ns"], truth["mutex_wait_ns"], 0.10, "acct_mutex wait")
    near(m["contentions"], truth["mutex_slow_calls"], 0.10, "acct_mutex contentions")
    c = lock(s, "jobs_cond")
    check(c["kind"] == "condvar", f"jobs_cond is a {c['kind']}")
    near(c["wait_ns"], truth["cond_wait_ns"], 0.10, "jobs_cond wait")
    near(c["contentions"], truth["cond_waits"], 0.05, "jobs_cond waits")
    rw = lock(s, "table_rw")
    check(rw["kind"] == "rwlock", f"table_rw is a {rw['kind']}")
    near(rw["wait_ns"], truth["rd_wait_ns"] + truth["wr_wait_ns"], 0.10, "table_rw wait")
    sem = lock(s, "ready_sem")
    check(sem["kind"] == "semaphore", f"ready_sem is a {sem['kind']}")
    near(sem["wait_ns"], truth["sem_wait_ns"], 0.10, "ready_sem wait")
    # a post that lands before the sem_wait leaves nothing to wait for: at most one per call
    check(0 < sem["contentions"] <= truth["sem_waits"], f"ready_sem waits {sem['contentions']}")
    pi = lock(s, "pi_mutex")
    check(pi["kind"] == "mutex" and pi["detail"] == "PI", f"pi_mutex: {pi['kind']} {pi['detail']}")
    near(pi["wait_ns"], truth["pi_wait_ns"], 0.10, "pi_mutex wait")


# the libc frames under a contended pthread_mutex_lock, each named with its file:line from
# libc6-dbg's debug file (__lll_lock_wait is in its .symtab only, futex_wait in its DWARF only)
LIBC_WAIT_FRAMES = [r"futex_wait \[inlined\] \(libc\.so\.6\) futex-internal\.h:\d+",
                    r"__lll_lock_wait\+0x[0-9a-f]+ \(libc\.so\.6\) lowlevellock\.c:\d+",
                    r"pthread_mutex_lock\+0x[0-9a-f]+ \(libc\.so\.6\) pthread_mutex_lock\.c:\d+"]


def check_libc_names(s, suite):
    """Every acct_mutex waiter names the libc functions it waits in, in order, from the root's
    libc6-dbg (sid's glibc 2.43 has SystemTap notes beside its build-id note)."""
    waiters = lock(s, "acct_mutex")["waiters"]
    check(waiters, f"{suite}: acct_mutex has no waiters")
    for w in waiters:
        st = w["stack"]
        at = [next((i for i, f in enumerate(st) if re.fullmatch(rx, f)), None)
              for rx in LIBC_WAIT_FRAMES]
        check(None not in at and at == sorted(at), f"{suite}: libc frames unnamed: {st}")
        check(not [f for f in st if f.startswith("libc.so.6+")], f"{suite}: {st}")


def check_holds(s, truth):
    """--holds saw every lock call of the program, in the libc it really ran with."""
    check(s["holds"], "no holds section")
    got = {n: lock(s, n).get("acquisitions") for n in ("acct_mutex", "pi_mutex", "table_rw")}
    want = {"acct_mutex": truth["mutex_locks"], "pi_mutex": truth["pi_locks"],
            "table_rw": truth["rd_calls"] + truth["wr_locks"]}
    check(got == want, f"acquisitions {got}, the program made {want}")
    for n in ("acct_mutex", "jobs_cond", "table_rw", "ready_sem"):
        check(lock(s, n)["kind_from_calls"], f"{n}: kind not from the lock calls")


def run_command(suite, name, opts):
    root = root_of(suite)
    out = os.path.join(TMP, name + ".json")
    argv = [TT, "--json", out] + opts + ["--"] + in_root(root, [PROG, "0"])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=TMP)
    check(p.returncode == 0, f"rc {p.returncode}: {p.stderr[-600:]}")
    with open(out) as f:
        return json.load(f), truth_of(p.stdout), p.stderr, root


def run_attached(suite, name, opts):
    """Start the program (waiting for "go"), attach with -p, then let it run to its end."""
    root = root_of(suite)
    d = prog_dir(root)
    go = os.path.join(d, "go")
    if os.path.exists(go):
        os.unlink(go)
    wl = subprocess.Popen(in_root(root, [PROG]), stdout=subprocess.PIPE, text=True, cwd=d)
    tt = None
    try:
        pid = int(wl.stdout.readline().split()[1])
        out = os.path.join(TMP, name + ".json")
        tt, err = attach_when_traced([TT, "--json", out] + opts + ["-p", str(pid)],
                                     os.path.join(TMP, name + ".err"))
        open(go, "w").close()
        truth = truth_of(wl.communicate(timeout=60)[0])
        check(tt.wait(timeout=30) == 0, "threadtrace failed")
        err.seek(0)
        with open(out) as f:
            return json.load(f), truth, err.read(), root
    finally:
        wl.kill()
        wl.wait()
        if tt and tt.poll() is None:
            tt.kill()
            tt.wait()
        if os.path.exists(go):
            os.unlink(go)


def make_tests(suite):
    def command():
        s, truth, _, _ = run_command(suite, suite + "-command", [])
        check_locks(s, truth, suite)
        if suite in ("trixie", "sid"):  # roots made with libc6-dbg, glibc >= 2.34
            check_libc_names(s, suite)

    def attach_holds():
        s, truth, _, _ = run_attached(suite, suite + "-attach", ["--holds"])
        check_locks(s, truth, suite)
        check_holds(s, truth)

    def command_holds():
        s, truth, err, root = run_command(suite, suite + "-holds", ["--holds"])
        check_locks(s, truth, suite)
        check_holds(s, truth)
        # started with our libc; chroot's exec brings the root's, and the probes follow
        check(root is None or "uprobes moved to it" in err, f"probes not moved: {err}")
        # before 2.34 the pthread functions are libpthread's (libc's forward to them)
        check(suite != "bullseye" or "libpthread-2.31.so: 24 uprobes" in err, err)

    tests = []
    for f in (command, attach_holds, command_holds):
        f.__name__ = f"test_{suite}_{f.__name__}"
        tests.append(f)
    return tests


TESTS = [t for s in SUITES for t in make_tests(s)]


def main():
    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not os.path.exists("/sys/kernel/btf/vmlinux"):
        reason = "kernel without BTF"
    elif not os.path.exists(PROG):
        reason = f"{PROG} not built (make test builds it)"
    else:
        make_roots()
    try:
        return run("roots", TESTS, TMP, only=sys.argv[1:], skip_all=reason)
    finally:
        for s in STARTED.values():
            s.kill()
        for _, r, _ in SUITES.values():
            if r:
                shutil.rmtree(os.path.join(r, SUBDIR), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
