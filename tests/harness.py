"""The test runners' shared harness: failures and skips, checks, and the run loop that prints
one line per test and ends with 'N passed, N failed, N skipped'."""
import shutil
import subprocess
import sys
import time
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
        except (Fail, subprocess.TimeoutExpired, KeyError, IndexError, ValueError,
                ET.ParseError, OSError) as e:
            print(f"FAIL {suite}/{name}: {type(e).__name__}: {e}")
            results["failed"] += 1
        sys.stdout.flush()
    print(f"{results['passed']} passed, {results['failed']} failed, "
          f"{results['skipped']} skipped")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if results["failed"] else 0
