"""Threads that live a few milliseconds each, started and joined one after another (a thread
per task): each has ended before threadtrace's next read of threading._active. Prints, as its
truth, each thread's native id and threading name as the thread itself saw them, as one JSON
line, after the last has ended (the Thread objects stay referred to by `threads`)."""
import json
import sys
import threading
import time

truth = []
lock = threading.Lock()


def task(i):
    with lock:
        truth.append({"tid": threading.get_native_id(), "name": threading.current_thread().name})
    time.sleep(0.002)


n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
threads = [threading.Thread(target=task, args=(i,), name=f"brief-task-{i}") for i in range(n)]
for t in threads:
    t.start()
    t.join()
time.sleep(0.3)
print(json.dumps({"python": sys.version.split()[0], "threads": truth}), flush=True)
