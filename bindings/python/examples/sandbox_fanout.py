#!/usr/bin/env python3
"""Runs 50 commands in a read-only sandbox, at most 8 at a time, on one
tether runner from one asyncio loop, printing every line of output as it
arrives with the command's number as a prefix.

    python3 sandbox_fanout.py [--jobs 50] [--parallel 8] [--runner PATH]

Each job counts the lines of a few files under /usr/share and then tries
to write a file next to it, which the sandbox refuses: the last line of
every job says so, and the summary counts the refusals."""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tether  # noqa: E402

JOB = r'''
n=0
for f in $(ls /usr/share/common-licenses 2>/dev/null | head -3); do
  echo "$f: $(wc -l < /usr/share/common-licenses/$f) lines"
  n=$((n + 1))
done
echo "looked at $n files" >&2
if (echo x > "$0/job-$1") 2>/dev/null; then echo "write: allowed"; else echo "write: refused"; fi
'''


async def pump(prefix, stream, out):
    """Copies `stream` line by line to `out`, prefixed, as lines arrive."""
    while True:
        line = await stream.readline()
        if not line:
            return
        out.write("%s %s" % (prefix, line.decode("utf-8", "replace")))
        out.flush()


async def job(runner, limit, i, workdir):
    async with limit:
        p = await runner.create_subprocess_exec(
            "sh", "-c", JOB, workdir, str(i), stdin=tether.DEVNULL,
            sandbox="read-only", network=False)
        prefix = "[%02d]" % i
        await asyncio.gather(pump(prefix, p.stdout, sys.stdout),
                             pump(prefix + " err:", p.stderr, sys.stdout))
        rc = await p.wait()
        if rc != 0:
            print("%s exited with %d" % (prefix, rc))
        return rc


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--runner", default=os.environ.get("TETHER_RUNNER", "tether-runner"))
    ap.add_argument("--workdir", default=os.getcwd(),
                    help="where the jobs try (and fail) to write")
    a = ap.parse_args()
    limit = asyncio.Semaphore(a.parallel)
    async with tether.Runner(argv=[a.runner, "--fd", "3"]) as runner:
        codes = await asyncio.gather(*(job(runner, limit, i, a.workdir)
                                       for i in range(a.jobs)))
    failed = sum(1 for c in codes if c != 0)
    leaked = [f for f in os.listdir(a.workdir) if f.startswith("job-")]
    print("%d jobs, %d failed, %d files written past the sandbox"
          % (len(codes), failed, len(leaked)))
    return 1 if failed or leaked else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
