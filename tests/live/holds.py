"""Live tests of --holds: hold times and who pays for them, potential deadlocks, the exact lock
kinds, rwlock readers, attaching to a running process, an rwlock deadlock.

Imported by run.py.
"""
import json
import os
import signal
import subprocess
import time

from common import (KINDS, TMP, TT, WL, WL_NOFP, lock_named, no_programs_left, run_attached,
                    run_traced, stack_has)
from harness import Fail, check, near

# run.py imports the tests, not these globals
__all__ = ["test_holds_times_and_who_pays", "test_holds_potential_deadlock",
           "test_holds_exact_kinds", "test_holds_rwlock_readers_charged_once",
           "test_holds_attach_to_running_process", "test_holds_rwlock_deadlock"]


def holder_at(lk, tid):
    for h in lk["holders"]:
        if h["tid"] == tid:
            return h
    raise Fail(f"no holds by tid {tid}: {[(h['tid'], h['count']) for h in lk['holders']]}")


def test_holds_times_and_who_pays():
    """--holds on a -O2 no-frame-pointer build: hold time vs the holder's own timing, the
    waiting it caused vs the waiter's own timing, and DWARF-unwound acquire sites."""
    p, s, truth = run_traced(["-q", "--holds", "--", WL_NOFP, "lockpair", "20", "10"], "holds")
    check(p.returncode == 0, p.stderr)
    t = truth[0]
    lk = lock_named(s, "acc_lock")
    check(lk["kind"] == "mutex" and lk["kind_from_calls"], f"kind {lk['kind']}")
    check(lk["acquisitions"] == 2 * t["iterations"], f"acquisitions {lk['acquisitions']}")
    h = holder_at(lk, t["holder_tid"])
    check(h["count"] == t["iterations"], f"holder holds {h['count']}")
    near(h["hold_ns"], t["holder_hold_ns"], 0.10, "holder's hold time")
    near(h["caused_wait_ns"], t["waiter_wait_ns"], 0.10, "waiting caused by the holder")
    check(stack_has([h["stack"]], "holder_main"), f"holder site {h['stack']}")
    w = holder_at(lk, t["waiter_tid"])
    check(w["caused_wait_ns"] == 0, f"the waiter's short holds made nobody wait: {w}")
    check(stack_has([w["stack"]], "acc_acquire") and stack_has([w["stack"]], "waiter_main"),
          f"waiter site unwound through no-frame-pointer code: {w['stack']}")
    check(s["holds"]["lock_calls"] >= 4 * t["iterations"], str(s["holds"]))
    check(not s["deadlocks"], f"deadlocks {s['deadlocks']}")


def test_holds_potential_deadlock():
    """Lock order a->b in one thread and b->a in another, never at once: a potential deadlock."""
    p, s, truth = run_traced(["-q", "--holds", "--", WL, "abba", "5"], "abba")
    check(p.returncode == 0, p.stderr)
    t = truth[0]
    pots = [d for d in s["deadlocks"] if d["kind"] == "potential"]
    check(len(pots) == 1 and len(s["deadlocks"]) == 1, f"deadlocks {s['deadlocks']}")
    d = pots[0]
    check(sorted(d["locks"]) == ["lock_a", "lock_b"], f"locks {d['locks']}")
    check(sorted(d["threads"]) == sorted([t["tid_ab"], t["tid_ba"]]), f"threads {d['threads']}")
    check(all(stack_has([st["stack"]], "ordered_main") for st in d["stacks"] + d["held_stacks"]),
          f"stacks {d['stacks']}")
    # both orders at once, but each inside gate_lock: safe, and not reported
    p, s, truth = run_traced(["-q", "--holds", "--", WL, "abba", "20", "gated"], "abba-gated")
    check(p.returncode == 0 and not s["deadlocks"], f"gated: deadlocks {s['deadlocks']}")
    check(s["holds"]["gated_cycles"] == 1, f"gated cycle counted: {s['holds']}")
    # without --holds there is no lock order to see
    p, s, truth = run_traced(["-q", "--", WL, "abba", "2"], "abba-plain")
    check(p.returncode == 0 and not s["deadlocks"] and s["holds"] is None, str(s["deadlocks"]))


def test_holds_exact_kinds():
    """Condvar, its mutex and an rwlock named by the calls made on them."""
    p, s, truth = run_traced(["-q", "--holds", "--", WL, "condvar", "20", "5"], "holds-cv")
    check(p.returncode == 0, p.stderr)
    cv, mx = lock_named(s, "queue_cond"), lock_named(s, "queue_lock")
    check(cv["kind"] == "condvar" and cv["kind_from_calls"], f"queue_cond {cv['kind']}")
    check(mx["kind"] == "mutex" and mx["kind_from_calls"], f"queue_lock {mx['kind']}")
    # consumer: one hold per wake-up plus its first; producer: one per item
    check(mx["acquisitions"] >= 20 + 20, f"queue_lock holds {mx['acquisitions']}")
    # the consumer sleeps in the condvar ~5 ms per item: counted as a hold, the mutex would be
    # held about as long as it was waited for; a preempted holder may hold it a few ms
    check(mx["hold_ns"] < 0.3 * cv["wait_ns"],
          f"queue_lock is released while waiting: held {mx['hold_ns']} vs cond wait "
          f"{cv['wait_ns']}")
    p, s, truth = run_traced(["-q", "--holds", "--", WL, "rwlock", "20", "5"], "holds-rw")
    check(p.returncode == 0, p.stderr)
    rw = lock_named(s, "table_lock")
    check(rw["kind"] == "rwlock" and rw["kind_from_calls"], f"table_lock {rw['kind']}")
    check(rw["acquisitions"] == 2 * 5, f"table_lock holds {rw['acquisitions']}")
    near(rw["caused_wait_ns"], truth[0]["reader_wait_ns"], 0.10, "reader's wait caused by writer")


def test_holds_rwlock_readers_charged_once():
    """Three readers hold an rwlock at once while the writer waits: the writer's wait is
    charged once per instant, not once per overlapping read hold (was 2x the wait)."""
    p, s, truth = run_traced(["-q", "--holds", "--", KINDS, "rwreaders", "10", "40"],
                             "holds-rwreaders")
    check(p.returncode == 0, p.stderr)
    t = truth[0]
    rw = lock_named(s, "pool_lock")
    check(rw["kind"] == "rwlock", f"kind {rw['kind']}")
    near(rw["caused_wait_ns"], t["writer_wait_ns"], 0.10, "waiting caused by the readers")
    check(rw["caused_wait_ns"] <= rw["wait_ns"], f"charged {rw['caused_wait_ns']} > waited "
          f"{rw['wait_ns']}")
    readers = [h for h in rw["holders"] if h["tid"] != t["writer_tid"]]
    check(sum(h["count"] for h in readers) == 30, f"read holds {readers}")


def test_holds_attach_to_running_process():
    """--holds on a running process: holds taken before attach are not counted as holds."""
    _, s, truth = run_attached([WL, "lockpair", "50", "40"], ["--holds"], "holds-attach", 0.3)
    h = holder_at(lock_named(s, "acc_lock"), truth["holder_tid"])
    dur = s["duration_ns"] / 1e9
    check(15 <= h["count"] <= dur / 0.050 + 1, f"holds of 50 ms in {dur:.2f} s: {h['count']}")
    mean = h["hold_ns"] / h["count"]
    check(50e6 <= mean <= 50e6 * 1.10, f"mean hold {mean / 1e6:.1f} ms for 50 ms holds")
    no_programs_left()


def test_holds_rwlock_deadlock():
    """An rwlock held by a reader (its memory names no reader) or a writer, and a mutex, taken
    in opposite orders: with --holds the cycle is said live through the rwlock's holders."""
    for how in ("rd", "wr"):
        out = os.path.join(TMP, f"rwdeadlock-{how}.json")
        p = subprocess.Popen([TT, "-q", "--holds", "--json", out, "--", WL, "rwdeadlock", how],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            truth = json.loads(p.stdout.readline())
            time.sleep(1.5)  # reported after 0.3 s of waiting, checked every 0.1 s
        finally:
            p.send_signal(signal.SIGTERM)
            err = p.communicate(timeout=20)[1]
        check("DEADLOCK" in err and "table_lock" in err and "rw_abba_main" in err,
              f"{how}: said live with the rwlock and stacks: {err!r}")
        with open(out) as f:
            s = json.load(f)
        check(len(s["deadlocks"]) == 1, f"{how}: deadlocks {s['deadlocks']}")
        d = s["deadlocks"][0]
        check(d["kind"] == "actual" and sorted(d["locks"]) == ["lock_a", "table_lock"], str(d))
        check(sorted(d["threads"]) == sorted([truth["tid_a"], truth["tid_b"]]), str(d))
        check(sorted(d["held_by"]) == sorted(d["threads"]), str(d))
