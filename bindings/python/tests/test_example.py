"""examples/sandbox_fanout.py runs and does what it says."""

import os
import re
import subprocess
import sys
import tempfile

from conftest import runner_path

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                       "sandbox_fanout.py")


def test_sandbox_fanout():
    # A directory of our own, so that a write the sandbox let through shows.
    work = tempfile.mkdtemp(prefix="tether-fanout-", dir=os.getcwd())
    try:
        out = subprocess.run([sys.executable, EXAMPLE, "--jobs", "20", "--parallel", "5",
                              "--runner", runner_path(), "--workdir", work],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        lines = out.stdout.splitlines()
        assert lines[-1] == "20 jobs, 0 failed, 0 files written past the sandbox"
        for i in range(20):
            mine = [l for l in lines if l.startswith("[%02d] " % i)]
            assert "[%02d] write: refused" % i in mine
            assert "[%02d] err: looked at 3 files" % i in mine
            assert any(re.match(r"\[%02d\] \S+: \d+ lines$" % i, l) for l in mine)
        assert os.listdir(work) == []
    finally:
        subprocess.run(["rm", "-rf", work])
