#!/usr/bin/env python3
"""The Python binding against the C API, in one run.

    bindings/python/bench.py --build build-rel [--quick] [--json FILE]

Measures the same things through the C API (tether-bench from the build
tree: tether_parent_process and on_output in C) and through `import
tether`, interleaved so a drifting shared machine hits both alike, and
reports the binding's figures as ratios to the C ones:

  C stream             `tether-bench --only profile --quick`: one 1 GiB
                       pipe-mode stream in 64 KiB writes, run once per
                       repetition between the Python runs; median
  C spawn              `tether-bench --only latency --quick`, before and
                       after: tether_spawn_exit_true p50, mean of the two

  stream_64KiB_run     child writes TOTAL bytes in 64 KiB writes (the
                       bench's --child-writer), Runner.run(stdout=sink):
                       bytes/s from the first byte to the last (as C)
  stream_64KiB_async   the same through create_subprocess_exec and
                       StreamReader.read(65536)
  spawn_exit_true      run(["/bin/true"]): spawn -> Exited p50 (µs)
  spawn_exit_true_async  create_subprocess_exec + wait() p50 (µs)

Speed is reported, never asserted (exit status 1 only if a measurement
went wrong). Use a Release build: a sanitized library measures ASan."""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def c_bench(bench, group, quick):
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as f:
        cmd = [bench, "--only", group, "--json", f.name] + (["--quick"] if quick else [])
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        return [json.loads(line) for line in f if line.strip()]


def c_stream(bench):
    rows = c_bench(bench, "profile", True)
    r = next(r for r in rows if r.get("name") == "tether_pipe_stdout_64KiB_profile")
    return r["bytes_per_s"], r["bytes"]


def c_spawn(bench):
    rows = c_bench(bench, "latency", True)
    return next(r for r in rows if r.get("name") == "tether_spawn_exit_true")["p50_us"]


class Meter:
    """A stdout sink that counts and times (first byte to last)."""

    def __init__(self):
        self.n = 0
        self.t0 = self.t1 = 0.0

    def write(self, data):
        t = time.perf_counter()
        if not self.n:
            self.t0 = t
        self.n += len(data)
        self.t1 = t


def py_stream_run(r, bench, total):
    m = Meter()
    res = r.run([bench, "--child-writer", "65536", str(total)], stdout=m)
    if res.returncode != 0 or m.n != total:
        raise SystemExit("stream: %d of %d bytes, returncode %s" % (m.n, total, res.returncode))
    return total / (m.t1 - m.t0)


def py_stream_async(r, bench, total):
    async def main():
        p = await r.create_subprocess_exec(bench, "--child-writer", "65536", str(total),
                                           stdin=subprocess.DEVNULL, stderr=None)
        n, t0 = 0, 0.0
        while True:
            b = await p.stdout.read(65536)
            if not b:
                break
            if not n:
                t0 = time.perf_counter()
            n += len(b)
            t1 = time.perf_counter()
        if await p.wait() != 0 or n != total:
            raise SystemExit("async stream: %d of %d bytes" % (n, total))
        return total / (t1 - t0)
    return asyncio.run(main())


def py_spawn(r, n):
    out = []
    for i in range(n + n // 10):
        t0 = time.perf_counter()
        r.run(["/bin/true"], check=True)
        if i >= n // 10:
            out.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(out)


def py_spawn_async(r, n):
    async def main():
        out = []
        for i in range(n + n // 10):
            t0 = time.perf_counter()
            p = await r.create_subprocess_exec("/bin/true", stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL)
            await p.wait()
            if i >= n // 10:
                out.append((time.perf_counter() - t0) * 1e6)
        return statistics.median(out)
    return asyncio.run(main())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="a (Release) build tree")
    ap.add_argument("--quick", action="store_true", help="3 reps, 300 spawns "
                    "(default 5 reps, 2000 spawns)")
    ap.add_argument("--json", help="also write the results here (JSON lines)")
    a = ap.parse_args()
    bindir = os.path.join(a.build, "bin")
    bench = os.path.join(bindir, "tether-bench")
    runner = os.path.join(bindir, "tether-runner")
    libdir = os.path.join(a.build, "lib")
    if "TETHER_LIBRARY" not in os.environ:
        os.environ["TETHER_LIBRARY"] = os.path.join(
            libdir, sorted(f for f in os.listdir(libdir)
                           if f.startswith("libtether_parent.so."))[-1])
    import tether

    reps = 3 if a.quick else 5
    spawns = 300 if a.quick else 2000

    sp_c1 = c_spawn(bench)
    c_runs, s_run, s_aio = [], [], []
    with tether.Runner(argv=[runner, "--fd", "3"]) as r:
        for _ in range(reps):  # interleaved: C, python run(), python asyncio
            bps, total = c_stream(bench)
            c_runs.append(bps)
            s_run.append(py_stream_run(r, bench, total))
            s_aio.append(py_stream_async(r, bench, total))
        sp_run = py_spawn(r, spawns)
        sp_aio = py_spawn_async(r, spawns)
    sp_c2 = c_spawn(bench)
    c_stream_bps = statistics.median(c_runs)
    c_spawn_us = (sp_c1 + sp_c2) / 2

    rows = [
        ("stream_64KiB_run", statistics.median(s_run), c_stream_bps, "bytes_per_s"),
        ("stream_64KiB_async", statistics.median(s_aio), c_stream_bps, "bytes_per_s"),
        ("spawn_exit_true", sp_run, c_spawn_us, "p50_us"),
        ("spawn_exit_true_async", sp_aio, c_spawn_us, "p50_us"),
    ]
    print("python binding vs C API (tether-bench), %d reps of %d MiB, %d spawns; "
          "C streams %s MB/s; C spawn p50 %.1f and %.1f us; python run() %s MB/s, "
          "asyncio %s MB/s" % (
              reps, total >> 20, spawns, "/".join("%.0f" % (b / 1e6) for b in c_runs),
              sp_c1, sp_c2, "/".join("%.0f" % (b / 1e6) for b in s_run),
              "/".join("%.0f" % (b / 1e6) for b in s_aio)))
    print("  %-24s %12s %12s %8s" % ("name", "python", "C", "ratio"))
    out = []
    for name, py, c, unit in rows:
        # Throughput: python/C (higher is better); latency: C/python
        # (so that for both, 1.0 is "as fast as C" and higher is better).
        ratio = py / c if unit == "bytes_per_s" else c / py
        scale = 1e6 if unit == "bytes_per_s" else 1
        print("  %-24s %12.1f %12.1f %8.3f  (%s)" % (
            name, py / scale, c / scale, ratio,
            "MB/s" if unit == "bytes_per_s" else "µs p50, ratio = C/python"))
        out.append({"kind": "python", "name": name, unit: py, "c_" + unit: c,
                    "ratio_to_c": round(ratio, 3)})
    if a.json:
        with open(a.json, "w") as f:
            for o in out:
                f.write(json.dumps(o) + "\n")


if __name__ == "__main__":
    main()
