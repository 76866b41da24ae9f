"""Fixtures for the binding's tests. Environment (set by ctest,
tests/python.cmake): TETHER_LIBRARY = the build's libtether_parent.so,
TETHER_RUNNER = the build's tether-runner (else `tether-runner` in PATH)."""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tether  # noqa: E402


def runner_path() -> str:
    path = os.environ.get("TETHER_RUNNER") or shutil.which("tether-runner")
    if not path:
        pytest.fail("set TETHER_RUNNER to the tether-runner executable")
    return path


@pytest.fixture
def runner_exe() -> str:
    return runner_path()


@pytest.fixture
def runner():
    with tether.Runner(argv=[runner_path(), "--fd", "3"]) as r:
        yield r


def pid_gone(pid: int) -> bool:
    """No such process, or only a zombie left (not ours to reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def vm_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
