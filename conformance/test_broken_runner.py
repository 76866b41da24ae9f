#!/usr/bin/python3
"""Proves that tether-conformance fails exactly the checks a broken runner
breaks: for each mode of broken_runner.py, runs the whole suite and compares
the set of failed checks with the expected one. Exit 0 iff all match.

    test_broken_runner.py [MODE...]
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.environ.get("TETHER_PYTHON", "/usr/bin/python3")
KIT = [PY, os.path.join(HERE, "tether_conformance.py")]
BROKEN = [PY, os.path.join(HERE, "broken_runner.py")]

EXPECTED = {
    "stderr-offset": {"output-offsets", "exit-after-drain", "many-sessions"},
    "no-unsupported": {"unknown-frame-type"},
    "exit-before-drain": {"exit-after-drain"},
    "no-goodbye": {"goodbye"},
}


def main():
    modes = sys.argv[1:] or sorted(EXPECTED)
    procs = {}
    for m in modes:
        procs[m] = subprocess.Popen(KIT + ["--", *BROKEN, "--break", m, "--stdio"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    bad = 0
    for m in modes:
        out, _ = procs[m].communicate(timeout=900)
        text = out.decode(errors="replace")
        failed = set(re.findall(r"^FAIL \d+ ([\w-]+):", text, re.M))
        want = EXPECTED[m]
        summary = text.strip().splitlines()[-1] if text.strip() else "(no output)"
        if failed == want and procs[m].returncode == 1:
            print("ok   %s: the kit failed exactly %s (%s)" % (m, ", ".join(sorted(want)), summary))
            for line in text.splitlines():
                if line.startswith("FAIL"):
                    print("       " + line)
        else:
            bad += 1
            print("FAIL %s: expected failures %s, got %s (exit %d)" % (
                m, sorted(want), sorted(failed), procs[m].returncode))
            print(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
