"""The test runners' shared harness: failures and skips, checks, and the run loop that prints
one line per test and ends with 'N passed, N failed, N skipped'."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def near(value, truth, tol, what):
    check(truth > 0 and abs(value - truth) <= tol * truth,
          f"{what}: threadtrace {value} vs truth {truth} (tolerance {tol:.0%})")


PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proto")


def decode_perfetto(path):
    p = subprocess.run(["protoc", "--decode=perfetto.protos.Trace", "-I", PROTO,
                        os.path.join(PROTO, "perfetto_subset.proto")],
                       stdin=open(path, "rb"), capture_output=True, timeout=60)
    check(p.returncode == 0, f"protoc: {p.stderr.decode()}")
    return p.stdout.decode()


def perfetto_packets(text):
    """protoc's text of a trace as packets: {field name: [values]} (nested fields flattened)."""
    packets, cur, depth = [], None, 0
    for line in text.splitlines():
        if line == "packet {":
            cur, depth = {}, 1
            continue
        depth += line.count("{") - line.count("}")
        key, _, val = line.strip().partition(": ")
        if depth >= 1 and val and cur is not None:
            cur.setdefault(key, []).append(val)
        if depth == 0 and cur is not None:
            packets.append(cur)
            cur = None
    return packets


def check_perfetto(path):
    """Decode a Perfetto trace with protoc and check it: only known fields, every event on a
    declared track, the monotonic clock, per track time order and flat slices, flows that
    end where they start. Returns the decoded text."""
    text = decode_perfetto(path)
    # no field outside the subset: every field decoded by name
    check(not any(l.strip()[:1].isdigit() for l in text.splitlines()), "unknown fields")
    packets = perfetto_packets(text)
    declared, clocks, flows_out, flows_in = set(), set(), set(), set()
    events = {}
    for pk in packets:
        if "uuid" in pk:
            declared.add(pk["uuid"][0])
        if "timestamp_clock_id" in pk:
            clocks.add(pk["timestamp_clock_id"][0])
        if "type" in pk:
            track = pk["track_uuid"][0]
            check(track in declared, f"event on undeclared track {track}")
            events.setdefault(track, []).append((int(pk["timestamp"][0]), pk["type"][0]))
            flows_out.update(pk.get("flow_ids", []))
            flows_in.update(pk.get("terminating_flow_ids", []))
    check(clocks == {"3"}, f"clocks {clocks}")
    check("primary_trace_clock: 3" in text, "trace clock declared")
    for track, evs in events.items():
        depth = 0
        last = 0
        for ts, typ in evs:
            if typ == "TYPE_INSTANT" or typ == "TYPE_COUNTER":
                continue
            check(ts >= last, f"track {track}: time goes back")
            last = ts
            depth += 1 if typ == "TYPE_SLICE_BEGIN" else -1
            check(0 <= depth <= 1, f"track {track}: slices do not nest")
        check(depth == 0, f"track {track}: unclosed slice")
    check(flows_in and flows_in <= flows_out, "flow arrows end where they start")
    return text


def run(suite, tests, tmp, only=(), skip_all=None):
    """Run tests (functions named test_*) of suite; skip_all: a reason to skip every one."""
    results = {"passed": 0, "failed": 0, "skipped": 0}
    for t in tests:
        name = t.__name__[5:]
        if only and name not in only:
            continue
        t0 = time.time()
        try:
            if skip_all:
                raise Skip(skip_all)
            t()
            print(f"ok   {suite}/{name} ({time.time() - t0:.1f} s)")
            results["passed"] += 1
        except Skip as e:
            print(f"skip {suite}/{name}: {e}")
            results["skipped"] += 1
        except Exception as e:  # a test's own fault fails that test, never the suite
            where = ""
            if not isinstance(e, Fail):
                tb = traceback.extract_tb(e.__traceback__)[-1]
                where = f" ({os.path.basename(tb.filename)}:{tb.lineno})"
            print(f"FAIL {suite}/{name}: {type(e).__name__}: {e}{where}")
            results["failed"] += 1
        sys.stdout.flush()
    print(f"{results['passed']} passed, {results['failed']} failed, "
          f"{results['skipped']} skipped")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if results["failed"] else 0


def chroot_argv(root, workdir, argv):
    """argv running argv inside root with chroot, from workdir (a path inside the root), in a
    mount namespace of its own where /proc, /sys and /dev are bound: no mount outlives it."""
    script = ('for m in proc sys dev; do mount --bind /$m "$1/$m" || exit 1; done; '
              'r=$1; d=$2; shift 2; exec chroot "$r" /bin/sh -c \'cd "$0" && exec "$@"\' '
              '"$d" "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", root,
            workdir] + list(argv)


def attach_when_traced(argv, err_path, stdout=subprocess.DEVNULL):
    """Start threadtrace argv (an attach, -p PID) with its stderr in err_path; return
    (process, the stderr file) once it says it traces the target, or has ended."""
    err = open(err_path, "w+")
    tt = subprocess.Popen(argv, stdout=stdout, stderr=err, text=True)
    for _ in range(300):
        err.seek(0)
        if "tracing pid" in err.read() or tt.poll() is not None:
            break
        time.sleep(0.1)
    return tt, err


def traced_json(tt, args, out, timeout):
    """tt --json OUT [args]: (proc, summary or None, the workload's JSON truth lines). In its
    own process group: a timeout kills the workload too, never leaving it running."""
    cmd = [tt, "--json", out] + args
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    p = subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr)
    summary = None
    if os.path.exists(out) and os.path.getsize(out):
        with open(out) as f:
            summary = json.load(f)
    truth = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p, summary, truth
