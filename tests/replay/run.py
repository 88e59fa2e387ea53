#!/usr/bin/env python3
"""Replay and export tests (no root): record files kept in tests/data replay to the golden
outputs in tests/golden, damaged files fail cleanly, and each export is read by the program
its users open it with: go tool pprof, protoc, an XML parser and headless Chromium.

Ends with 'N passed, N failed, N skipped'. `tests/replay/run.py --update` rewrites the goldens.
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TT = os.path.join(ROOT, "threadtrace")
DATA = os.path.join(ROOT, "tests", "data")
GOLDEN = os.path.join(ROOT, "tests", "golden")
TMP = tempfile.mkdtemp(prefix="tt-replay-")
OUTPUTS = [("txt", None), ("json", "--json"), ("folded", "--folded"), ("svg", "--svg"),
           ("wakers.svg", "--svg-wakers"), ("pb.gz", "--pprof"), ("pftrace", "--perfetto")]

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Fail, Skip, check, check_perfetto, near, run  # noqa: E402


def report_all(rec, outdir):
    """Every output of `threadtrace report REC` into outdir; returns {ext: path}."""
    os.makedirs(outdir, exist_ok=True)
    base = os.path.join(outdir, os.path.basename(rec)[:-4])
    paths = {ext: f"{base}.{ext}" for ext, _ in OUTPUTS}
    args = [TT, "report"]
    for ext, opt in OUTPUTS:
        if opt:
            args += [opt, paths[ext]]
    with open(paths["txt"], "w") as out:
        p = subprocess.run(args + [rec], stdout=out, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    check(p.returncode == 0, f"report {rec}: exit {p.returncode}: {p.stderr}")
    return paths


def recs():
    return sorted(glob.glob(os.path.join(DATA, "*.rec")))


def test_golden_outputs():
    for rec in recs():
        paths = report_all(rec, os.path.join(TMP, "golden"))
        for ext, path in paths.items():
            want = os.path.join(GOLDEN, os.path.basename(path))
            check(os.path.exists(want), f"no golden file {want} (run with --update)")
            with open(path, "rb") as a, open(want, "rb") as b:
                check(a.read() == b.read(), f"{os.path.basename(path)} differs from golden")


def test_glibc241_condvar_is_one_object():
    """A condvar traced in a Debian 13 root (glibc 2.41 moved its futex words to +32/+36):
    one object at its symbol, its 6 waits (the workload posted 6 items), the glibc named."""
    out = os.path.join(TMP, "glibc241.json")
    p = subprocess.run([TT, "report", "-q", "--json", out,
                        os.path.join(DATA, "condvar-glibc241.rec")],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, p.stderr)
    with open(out) as f:
        s = json.load(f)
    check(s["target"]["libc"]["version"] == "2.41", f"libc {s['target']['libc']}")
    conds = [lk for lk in s["locks"] if (lk["name"] or "").startswith("queue_cond")]
    check(len(conds) == 1 and conds[0]["name"] == "queue_cond",
          f"{[lk['name'] for lk in conds]}")
    check(conds[0]["kind"] == "condvar" and conds[0]["contentions"] == 6,
          f"{conds[0]['kind']} {conds[0]['contentions']}")


def test_damaged_files_fail_cleanly():
    rec = recs()[0]
    with open(rec, "rb") as f:
        data = f.read()
    cases = {"truncated": data[: len(data) // 2], "empty": b"",
             "flipped": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
             "foreign": b"\x7fELF" + data[4:],
             "newer": data[:8] + struct.pack("<I", 99) + data[12:]}
    for name, content in cases.items():
        path = os.path.join(TMP, name + ".rec")
        with open(path, "wb") as f:
            f.write(content)
        p = subprocess.run([TT, "report", "--json", path + ".json", path], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 1, f"{name}: exit {p.returncode} (a crash is negative)")
        lines = p.stderr.strip().splitlines()
        check(len(lines) == 1 and lines[0].startswith("threadtrace: cannot read record file"),
              f"{name}: stderr {p.stderr!r}")
        check(not p.stdout and not os.path.exists(path + ".json"), f"{name}: partial output")
    p = subprocess.run([TT, "report", os.path.join(TMP, "missing.rec")], capture_output=True,
                       text=True)
    check(p.returncode == 1 and "cannot open" in p.stderr, p.stderr)


def test_fuzz_crashers_replay_safely():
    """Inputs the fuzzer once crashed on: a report or one clean error, never a crash."""
    crashers = sorted(glob.glob(os.path.join(ROOT, "tests", "fuzz", "crashers", "*")))
    check(crashers, "no crashers kept")
    for c in crashers:
        p = subprocess.run([TT, "report", "--json", os.devnull, "--folded", os.devnull,
                            "--svg", os.devnull, "--pprof", os.devnull, "--perfetto",
                            os.devnull, c], capture_output=True, text=True, timeout=30)
        name = os.path.basename(c)
        check(p.returncode in (0, 1), f"{name}: exit {p.returncode}")
        if p.returncode == 1:
            check(p.stderr.startswith("threadtrace: cannot read record file") and
                  len(p.stderr.strip().splitlines()) == 1, f"{name}: {p.stderr!r}")


def test_pprof_totals_match_json():
    if not shutil.which("go"):
        raise Skip("go (golang-go) not installed: make deps")
    for rec in recs():
        paths = report_all(rec, os.path.join(TMP, "pprof"))
        with open(paths["json"]) as f:
            s = json.load(f)
        delay = sum(l["wait_ns"] for l in s["locks"])
        count = sum(l["contentions"] for l in s["locks"])
        env = dict(os.environ, HOME=TMP, GOCACHE=os.path.join(TMP, "gocache"),
                   GOFLAGS="-mod=mod")
        for index, want in (("delay", delay), ("contentions", count)):
            p = subprocess.run(["go", "tool", "pprof", "-raw", f"-sample_index={index}",
                                paths["pb.gz"]], capture_output=True, text=True, env=env,
                               timeout=120)
            check(p.returncode == 0, f"go tool pprof: {p.stderr}")
            # -raw lists samples as "  count delay: loc loc ..." under "Samples:"
            lines = p.stdout.split("Samples:")[1].split("Locations")[0].splitlines()
            total = [0, 0]
            for line in lines[2:]:
                parts = line.split(":")[0].split()
                if len(parts) == 2 and all(x.isdigit() for x in parts):
                    total[0] += int(parts[0])
                    total[1] += int(parts[1])
            check(total == [count, delay],
                  f"{os.path.basename(rec)}: pprof totals {total} vs JSON {[count, delay]}")
            p = subprocess.run(["go", "tool", "pprof", "-top", f"-sample_index={index}",
                                paths["pb.gz"]], capture_output=True, text=True, env=env,
                               timeout=120)
            check(p.returncode == 0 and "Showing nodes" in p.stdout, p.stderr)


def test_perfetto_decodes_and_nests():
    if not shutil.which("protoc"):
        raise Skip("protoc (protobuf-compiler) not installed: make deps")
    for rec in recs():
        paths = report_all(rec, os.path.join(TMP, "perfetto"))
        text = check_perfetto(paths["pftrace"])
        check("lock wait [" in text or "waiting [" in text, "wait slices named by lock")


def png_colors(path):
    """Distinct colours in a PNG (8-bit RGB/RGBA, non-interlaced), decoded by hand."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            check(depth == 8 and ctype in (2, 6), "unexpected PNG format")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 4):
            colours.add(bytes(line[x:x + 3]))
        prev = line
    return colours


def test_svg_is_xml_and_renders():
    chromium = shutil.which("chromium")
    rec = os.path.join(DATA, "lockpair.rec")
    paths = report_all(rec, os.path.join(TMP, "svg"))
    for key in ("svg", "wakers.svg"):
        root = ET.parse(paths[key]).getroot()
        check(root.tag.endswith("svg"), "root element")
        titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
        check(any(t and t.startswith("[mutex acc_lock]") for t in titles), "lock frame")
        check(any(t and t.startswith("waiter_main") for t in titles), "waiter frame")
    check(any(t and t.startswith("__lll_lock_wake") for t in titles), "waker frame in chains")
    if not chromium:
        raise Skip("chromium not installed: make deps")
    png = os.path.join(TMP, "svg.png")
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={os.path.join(TMP, 'chrome')}",
                        "--window-size=1200,400", f"--screenshot={png}",
                        "file://" + paths["wakers.svg"]], capture_output=True, text=True,
                       timeout=120)
    check(p.returncode == 0 and os.path.exists(png), f"chromium: {p.stderr[-500:]}")
    colours = png_colors(png)
    check(len(colours) >= 8, f"screenshot looks blank ({len(colours)} colours)")


def chromium_run(args, name):
    chromium = shutil.which("chromium")
    if not chromium:
        raise Skip("chromium not installed: make deps")
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-quic",
                           "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync",
                           "--enable-unsafe-swiftshader",
                           f"--user-data-dir={os.path.join(TMP, 'chrome-' + name)}"] + args,
                          capture_output=True, text=True, timeout=120)


def test_speedscope_opens_folded():
    index = os.path.join(ROOT, "build", "node", "node_modules", "speedscope", "dist", "release",
                         "index.html")
    if not os.path.exists(index):
        raise Skip("speedscope not installed: make deps")
    import base64
    rec = os.path.join(DATA, "lockpair.rec")
    paths = report_all(rec, os.path.join(TMP, "speedscope"))
    # what speedscope's own command line does: a script that hands it the file
    js = os.path.join(TMP, "profile.js")
    with open(paths["folded"], "rb") as f, open(js, "w") as out:
        out.write("speedscope.loadFileFromBase64(%s, %s)" % (
            json.dumps("lockpair.folded"), json.dumps(base64.b64encode(f.read()).decode())))
    url = f"file://{index}#localProfilePath={js}"
    p = chromium_run(["--virtual-time-budget=5000", "--dump-dom", url], "speedscope-dom")
    check(p.returncode == 0, f"chromium: {p.stderr[-300:]}")
    check("<title>lockpair.folded - speedscope</title>" in p.stdout,
          "speedscope did not load the folded file")
    png = os.path.join(TMP, "speedscope.png")
    p = chromium_run(["--virtual-time-budget=5000", "--window-size=1200,400",
                      f"--screenshot={png}", url], "speedscope-png")
    check(p.returncode == 0 and os.path.exists(png), f"chromium: {p.stderr[-300:]}")
    check(len(png_colors(png)) >= 8, "speedscope screenshot looks blank")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def update():
    for rec in recs():
        paths = report_all(rec, GOLDEN)
        print("wrote", ", ".join(os.path.basename(p) for p in paths.values()))


def main():
    if "--update" in sys.argv:
        update()
        return 0
    return run("replay", TESTS, TMP, only=sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
