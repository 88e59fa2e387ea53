"""Python programs that hang for good, printing their truth as JSON lines ("TRUTH {...}"):
  lock | rlock  two threads take two threading.Lock / RLock in opposite orders (deadlock):
                each says its tid, name, the lock it holds and the one it waits for (name
                and id()), and the line of the `with` that blocks
  self-same | self-call
                one thread nests `with config_lock:` in `with config_lock:` (a Lock): it waits
                for itself, in the same function (self-same) or in a function it calls (self-call)
  cond          Condition.notify() before the consumer waits (a lost wake-up, no deadlock)
DELAY=S sleeps S seconds first (a traced COMMAND's probes are in place by then)."""
import json, os, sys, threading, time

MODE = sys.argv[1] if len(sys.argv) > 1 else "lock"


def truth(**kw):
    # one write: two threads' print()s interleave their text and newlines
    sys.stdout.flush()
    os.write(1, ("TRUTH " + json.dumps(kw) + "\n").encode())


def line_of(tag):
    with open(__file__) as f:
        for n, text in enumerate(f, 1):
            if text.rstrip().endswith("# " + tag):
                return n
    return 0


def deadlock():
    make = threading.Lock if MODE == "lock" else threading.RLock
    accounts_lock, audit_lock = make(), make()
    both = threading.Barrier(2)

    def transfer():
        with accounts_lock:
            truth(tid=threading.get_native_id(), name="transfer-worker", func="transfer",
                  holds="accounts_lock", holds_id=id(accounts_lock), waits="audit_lock",
                  waits_id=id(audit_lock), line=line_of("transfer-blocks"))
            both.wait()
            with audit_lock:  # transfer-blocks
                pass

    def audit():
        with audit_lock:
            truth(tid=threading.get_native_id(), name="audit-worker", func="audit",
                  holds="audit_lock", holds_id=id(audit_lock), waits="accounts_lock",
                  waits_id=id(accounts_lock), line=line_of("audit-blocks"))
            both.wait()
            with accounts_lock:  # audit-blocks
                pass

    ts = [threading.Thread(target=transfer, name="transfer-worker"),
          threading.Thread(target=audit, name="audit-worker")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def self_deadlock():
    config_lock = threading.Lock()

    def apply_config():
        with config_lock:  # self-call-blocks
            pass

    def reload():
        with config_lock:
            line = line_of("self-same-blocks" if MODE == "self-same" else "self-call-blocks")
            truth(tid=threading.get_native_id(), name="reloader", func="reload" if
                  MODE == "self-same" else "apply_config", holds="config_lock",
                  holds_id=id(config_lock), waits="config_lock", waits_id=id(config_lock),
                  line=line)
            if MODE == "self-same":
                with config_lock:  # self-same-blocks
                    pass
            else:
                apply_config()

    t = threading.Thread(target=reload, name="reloader")
    t.start()
    t.join()


def lost_notify():
    ready = threading.Condition()

    def consumer():
        time.sleep(0.3)
        with ready:
            truth(tid=threading.get_native_id(), name="consumer", func="consumer",
                  waits="ready", waits_id=id(ready), line=line_of("consumer-blocks"))
            ready.wait()  # consumer-blocks

    def producer():
        with ready:
            ready.notify()

    c = threading.Thread(target=consumer, name="consumer")
    p = threading.Thread(target=producer, name="producer")
    c.start()
    p.start()
    p.join()
    c.join()


if __name__ == "__main__":
    print("pid", os.getpid(), sys.version.split()[0], MODE, flush=True)
    if os.environ.get("DELAY"):
        time.sleep(float(os.environ["DELAY"]))
    if MODE in ("lock", "rlock"):
        deadlock()
    elif MODE.startswith("self"):
        self_deadlock()
    else:
        lost_notify()
