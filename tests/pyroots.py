"""The CPythons users run in 2026, in test roots made by the project's tools, and a runner that
starts a Python program inside one traced from the host: Debian 13's python3.13 (trixie),
unstable's 3.13, 3.14 and 3.15 (sid), each one's debug build (python3.Xd), from
`tools/mkroot --dbg --python SUITE`, and a free-threaded 3.13t built from Debian's source by
`tools/mkpyft`. A root or build that cannot be made raises Skip with the reason."""
import json
import os
import shutil
import subprocess
import time
from collections import namedtuple

from harness import Skip, attach_when_traced, chroot_argv, traced_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TT = os.path.join(ROOT, "threadtrace")
MKROOT = os.path.join(ROOT, "tools", "mkroot")
MKPYFT = os.path.join(ROOT, "tools", "mkpyft")
SUBDIR = f"tmp/threadtrace-test-{os.getpid()}"  # inside a root: ours alone, removed by cleanup()

# label, what makes it (a suite's Python root, or 'ft3.13' for tools/mkpyft 3.13), its path
# inside the root (or on the host when made by None)
Interp = namedtuple("Interp", "label maker path")
INTERPRETERS = [
    Interp("host-3.11", None, "/usr/bin/python3.11"),
    Interp("trixie-3.13", "trixie", "/usr/bin/python3.13"),
    Interp("trixie-3.13d", "trixie", "/usr/bin/python3.13d"),
    Interp("trixie-3.13t", "ft3.13", "/opt/py313t/bin/python3.13t"),
    Interp("sid-3.13", "sid", "/usr/bin/python3.13"),
    Interp("sid-3.13d", "sid", "/usr/bin/python3.13d"),
    Interp("sid-3.14", "sid", "/usr/bin/python3.14"),
    Interp("sid-3.14d", "sid", "/usr/bin/python3.14d"),
    Interp("sid-3.15", "sid", "/usr/bin/python3.15"),
    Interp("sid-3.15d", "sid", "/usr/bin/python3.15d"),
]

# maker -> Popen while it runs, then (root or None, reason it cannot be had or None)
_makers = {}
Run = namedtuple("Run", "proc summary stdout stderr truth")

# a module without a Py_mod_gil slot: importing it into a free-threaded build turns the GIL on
OLDEXT_C = """#include <Python.h>
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "oldext", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_oldext(void) { return PyModule_Create(&mod); }
"""


def start(makers):
    """Start making the roots and builds named (cached: instant; cold: 1-10 minutes each, at
    once). TT_NO_ROOTS=1 skips them."""
    for m in makers:
        if m is None or m in _makers:
            continue
        if os.environ.get("TT_NO_ROOTS"):
            _makers[m] = (None, "TT_NO_ROOTS is set")
        elif m.startswith("ft"):
            _makers[m] = subprocess.Popen([MKPYFT, m[2:]], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
        else:
            _makers[m] = subprocess.Popen([MKROOT, "--dbg", "--python", m],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True)


def root_of(maker):
    """The root of a maker with SUBDIR made in it, None for the host; Skip when it cannot be."""
    if maker is None:
        return None
    start([maker])
    got = _makers[maker]
    if isinstance(got, subprocess.Popen):
        out, err = got.communicate()
        lines = out.strip().splitlines()
        if got.returncode or not lines:
            got = (None, (err.strip().splitlines() or [f"{maker}: failed"])[-1])
        else:
            path = lines[-1]
            if maker.startswith("ft"):  # ROOT/opt/pyXYt/bin/pythonX.Yt
                path = path[:path.index("/opt/")]
            got = (path, None)
        _makers[maker] = got
    if got[1]:
        raise Skip(got[1])
    os.makedirs(os.path.join(got[0], SUBDIR), exist_ok=True)
    return got[0]


def interp_root(interp):
    """(root, argv0): where interp runs; Skip when its root cannot be made or it is absent."""
    root = root_of(interp.maker)
    if not os.path.exists((root or "") + interp.path):
        raise Skip(f"no {interp.path} in {root or 'this host'}")
    return root, interp.path


def workdir(root, tmp):
    """Where a program is copied: SUBDIR in a root, tmp on the host."""
    return os.path.join(root, SUBDIR) if root else tmp


def build_oldext(root, interp):
    """Build oldext (no Py_mod_gil) for a free-threaded interp inside its root: the directory
    (inside the root) holding it, or None when the root has no compiler or headers."""
    d = os.path.join(root, SUBDIR)
    inc = os.path.dirname(os.path.dirname(interp.path)) + "/include"
    heads = [h for h in os.listdir(root + inc)] if os.path.isdir(root + inc) else []
    if not os.path.exists(os.path.join(root, "usr/bin/gcc")) or not heads:
        return None
    with open(os.path.join(d, "oldext.c"), "w") as f:
        f.write(OLDEXT_C)
    suffix = subprocess.run(["chroot", root, interp.path, "-c", "import sysconfig; print("
                             "sysconfig.get_config_var('EXT_SUFFIX'))"], capture_output=True,
                            text=True, timeout=60).stdout.strip()
    p = subprocess.run(["chroot", root, "gcc", "-shared", "-fPIC", f"-I{inc}/{heads[0]}",
                        f"/{SUBDIR}/oldext.c", "-o", f"/{SUBDIR}/oldext{suffix}"],
                       capture_output=True, text=True, timeout=120)
    return "/" + SUBDIR if p.returncode == 0 else None


def command(root, py, prog, args, env, tmp):
    """argv starting `py -B prog args` (prog copied into the work dir) with env (K=V strings):
    inside root through chroot, or on the host."""
    if root:
        inner = ["env"] + list(env) + [py, "-B", os.path.basename(prog)] + list(args)
        return chroot_argv(root, "/" + SUBDIR, inner)
    return ["env"] + list(env) + [py, "-B", os.path.join(tmp, os.path.basename(prog))] + \
        list(args)


def run_python(root, py, prog, args, out, tmp, tt_opts=(), env=(), attach=False, timeout=90):
    """Run `py -B prog args` (in root, or on the host when root is None) traced by
    `threadtrace --json OUT`: started by it (`-- COMMAND`), or with attach attached to with
    `-p PID` (prog must print 'pid N' and wait for a file 'go', as tests/workloads/pytruth.py
    --go does). Returns Run(proc, summary or None, stdout, stderr, last truth line or None)."""
    d = workdir(root, tmp)
    shutil.copy(prog, d)
    if not attach:
        argv = command(root, py, prog, args, env, tmp)
        p, summary, truth = traced_json(TT, list(tt_opts) + ["--"] + argv, out, timeout)
        return Run(p, summary, p.stdout, p.stderr, truth[-1] if truth else None)
    go = os.path.join(d, "go")
    if os.path.exists(go):
        os.unlink(go)
    wl = subprocess.Popen(command(root, py, prog, list(args) + ["--go"], env, tmp), cwd=d,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
    tt = None
    try:
        pid = int(wl.stdout.readline().split()[1])
        tt, err = attach_when_traced([TT, "--json", out] + list(tt_opts) + ["-p", str(pid)],
                                     out + ".err", stdout=subprocess.PIPE)
        open(go, "w").close()
        stdout, _ = wl.communicate(timeout=timeout)
        tt.wait(timeout=30)
        err.seek(0)
        summary = None
        if os.path.exists(out) and os.path.getsize(out):
            with open(out) as f:
                summary = json.load(f)
        truth = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return Run(tt, summary, stdout, err.read(), truth[-1] if truth else None)
    finally:
        if wl.poll() is None:
            os.killpg(wl.pid, 9)
            wl.wait()
        if tt and tt.poll() is None:
            tt.kill()
            tt.wait()
        if os.path.exists(go):
            os.unlink(go)


def cleanup():
    """Stop makers still running and remove our work dirs from the roots."""
    for m, got in list(_makers.items()):
        if isinstance(got, subprocess.Popen):
            got.kill()
            got.wait()
        elif got[0]:
            shutil.rmtree(os.path.join(got[0], SUBDIR), ignore_errors=True)
