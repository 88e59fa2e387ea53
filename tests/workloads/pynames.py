"""Python thread names and Python-first stacks (tests/live/python.py): threads named by the
program contend on one threading.Lock held across a sleep; the main thread renames itself at
the end. Prints one JSON line: each name's threading.get_native_id(), the names at the end."""
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

lock = threading.Lock()


def hold(n):
    for _ in range(n):
        lock.acquire()  # tt:acquire
        try:
            time.sleep(0.002)
        finally:
            lock.release()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    time.sleep(float(os.environ.get("DELAY", "0")))
    ts = [threading.Thread(target=hold, args=(n,), name="transfer-worker"),
          threading.Thread(target=hold, args=(n,), name="audit-worker-with-a-long-name")]
    for t in ts:
        t.start()
    with ThreadPoolExecutor(max_workers=1) as ex:
        f = ex.submit(hold, n)
        time.sleep(0.05)
        names = {t.name: t.native_id for t in threading.enumerate()}
        f.result()
    for t in ts:
        t.join()
    threading.current_thread().name = "main-renamed"
    print(json.dumps({"names": names, "renamed": {"main-renamed": threading.get_native_id()},
                      "pid": os.getpid()}), flush=True)


main()
