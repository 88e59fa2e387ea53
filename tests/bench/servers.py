"""The real servers make bench measures under threadtrace: each started on loopback in a temp
dir, put under a load for a given time (the load's throughput is the figure), and stopped.
Every process here runs in its own process group, killed whole when the server stops."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMLOAD = os.path.join(ROOT, "build", "memload")
PY = "/usr/bin/python3.11"  # Debian's stripped build, as in the Python workload rows


class ServerFailed(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_group(p, grace=10):
    """SIGTERM to p's process group, SIGKILL to what is left after `grace` seconds."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # its children too, even when the leader is gone
    except ProcessLookupError:
        pass
    if p.poll() is None:
        p.wait(timeout=10)


class Server:
    short = ""      # what the server is
    name = ""       # the row's name: the server and its load
    unit = ""       # what the throughput counts
    binaries = ()   # what must be installed
    python = False  # a CPython target: its GIL is traced

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, type(self).__name__.lower())
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = None
        self.loads = []

    def missing(self):
        return [b for b in self.binaries if not shutil.which(b) and not os.path.exists(b)]

    def spawn(self, argv, log):
        out = open(os.path.join(self.dir, log), "w")
        try:
            return subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()

    def log_text(self, log):
        try:
            with open(os.path.join(self.dir, log), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, log):
        return self.log_text(log)[-400:].strip()

    def run_load(self, argv, log, timeout):
        """Runs a load to its end in its own process group; returns its output."""
        p = self.spawn(argv, log)
        self.loads.append(p)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ServerFailed(f"{self.name}: {argv[0]} still running after {timeout} s")
        finally:
            kill_group(p, grace=2)
            self.loads.remove(p)
        if p.returncode:
            raise ServerFailed(f"{self.name}: {argv[0]} exit {p.returncode}: "
                               f"{self.log_tail(log)}")
        return self.log_text(log)

    def wait_port(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"{self.name}: exited {self.proc.returncode} at start: "
                                   f"{self.log_tail('server.log')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ServerFailed(f"{self.name}: port {self.port} not open after {timeout} s")

    def start(self):
        self.proc = self.spawn(self.server_argv(), "server.log")
        self.wait_port()
        self.prepare()

    def prepare(self):
        pass

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        for p in list(self.loads):
            kill_group(p, grace=2)
        if self.proc:
            kill_group(self.proc)
            self.proc = None


class Memcached(Server):
    short = "memcached"
    name = "memcached -t 4, memload: 8 connections, 9 gets to 1 set of 100 bytes"
    unit = "requests/s"
    binaries = ("memcached", MEMLOAD)

    def server_argv(self):
        user = ["-u", "root"] if os.geteuid() == 0 else []
        return ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-t", "4",
                "-m", "64"] + user

    def load(self, seconds):
        out = self.run_load([MEMLOAD, str(self.port), "8", str(seconds)], "load.log",
                            seconds + 60)
        r = json.loads(out.strip().splitlines()[-1])
        return r["ops"] / (r["elapsed_ns"] / 1e9)


class Redis(Server):
    short = "redis"
    name = "redis-server, redis-benchmark: 50 connections, SET and GET of 100 bytes"
    unit = "requests/s"
    binaries = ("redis-server", "redis-benchmark")

    def __init__(self, tmp):
        super().__init__(tmp)
        self.rate = None  # the last load's requests/s

    def server_argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"]

    def load(self, seconds):
        """redis-benchmark runs a count, not a time: the count is sized from the rate of the
        load before so that a run lasts about `seconds` (the figure is a rate either way)."""
        requests = max(10000, int(self.rate * seconds / 2)) if self.rate else 100000
        out = self.run_load(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port), "-c",
                             "50", "-n", str(requests), "-r", "100000", "-d", "100", "-t",
                             "set,get", "--csv"], "load.log", seconds * 10 + 60)
        rates = [float(m) for m in re.findall(r'^"(?:SET|GET)","([0-9.]+)"', out, re.M)]
        if len(rates) != 2:
            raise ServerFailed(f"{self.name}: no SET and GET rates in: {out[-300:]}")
        rate = 2 / sum(1 / r for r in rates)  # both tests' requests over both tests' time
        self.rate = rate
        return rate


class MariaDB(Server):
    short = "mariadb"
    name = "mariadbd, sysbench oltp_read_write: 4 threads, 4 tables x 10k rows"
    unit = "transactions/s"
    binaries = ("mariadb-install-db", "mariadbd", "sysbench")
    SYSBENCH = ["oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1",
                "--mysql-user=root", "--mysql-db=sbtest", "--tables=4", "--table-size=10000"]

    def server_argv(self):
        d = self.dir
        user = ["--user=root"] if os.geteuid() == 0 else []
        # commits flushed once a second, not fsynced each: the server's CPU, not this VM's
        # disk, is what tracing could slow down
        return ["mariadbd", "--no-defaults", f"--datadir={d}/data", f"--socket={d}/sock",
                f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={d}/pid",
                f"--log-error={d}/error.log", "--skip-log-bin", "--innodb-buffer-pool-size=256M",
                "--innodb-flush-log-at-trx-commit=2", "--max-connections=64"] + user

    def start(self):
        d = self.dir
        user = ["--user=root"] if os.geteuid() == 0 else []
        self.run_load(["mariadb-install-db", "--no-defaults", f"--datadir={d}/data",
                       "--auth-root-authentication-method=normal", "--skip-test-db"] + user,
                      "install-db.log", 120)
        try:
            super().start()
        except ServerFailed as e:
            raise ServerFailed(f"{e}: {self.log_tail('error.log')}")

    def prepare(self):
        self.run_load(["mariadb", f"--socket={self.dir}/sock", "-uroot", "-e",
                       "CREATE DATABASE sbtest"], "create.log", 60)
        self.run_load(["sysbench"] + self.SYSBENCH + [f"--mysql-port={self.port}", "prepare"],
                      "prepare.log", 300)

    def load(self, seconds):
        out = self.run_load(["sysbench"] + self.SYSBENCH +
                            [f"--mysql-port={self.port}", "--threads=4", f"--time={seconds}",
                             "run"], "load.log", seconds + 120)
        m = re.search(r"transactions:\s+\d+\s+\(([0-9.]+) per sec", out)
        if not m:
            raise ServerFailed(f"{self.name}: no transaction rate in: {out[-300:]}")
        return float(m.group(1))


class PythonHTTP(Server):
    short = "python3.11 http.server"
    name = ("python3.11 -m http.server (ThreadingHTTPServer, a thread per connection), wrk: "
            "8 connections, a 1.4 KB file")
    unit = "requests/s"
    binaries = (PY, "wrk")
    python = True

    def server_argv(self):
        www = os.path.join(self.dir, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<!doctype html><title>bench</title>\n" + "threadtrace bench\n" * 78)
        return [PY, "-m", "http.server", "--bind", "127.0.0.1", "--directory", www,
                str(self.port)]

    def load(self, seconds):
        out = self.run_load(["wrk", "-t1", "-c8", f"-d{seconds}s",
                             f"http://127.0.0.1:{self.port}/index.html"], "load.log",
                            seconds + 60)
        m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
        if not m:
            raise ServerFailed(f"{self.name}: no request rate in: {out[-300:]}")
        if "Non-2xx" in out:
            raise ServerFailed(f"{self.name}: wrk saw error responses: {out[-300:]}")
        return float(m.group(1))


ALL = [Memcached, Redis, MariaDB, PythonHTTP]
