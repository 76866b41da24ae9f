"""tether for Python: run commands through a tether runner (a sandbox, a
container, another machine) with the habits of `subprocess` and `asyncio`.

    import tether
    with tether.Runner() as r:
        res = r.run(["ls", "-l"], capture_output=True, sandbox="read-only")

    async with tether.Runner() as r:
        p = await r.create_subprocess_exec("cat", stdin=tether.PIPE)

A thin layer over libtether_parent (ctypes, no build step); see
bindings/python/README.md."""

from __future__ import annotations

from typing import Any

from ._aio import AioMixin, Process, StdinWriter
from ._core import ExitInfo, StrOrBytesPath
from ._errors import (CalledProcessError, RunnerError, SpawnError, TetherError,
                      TimeoutExpired)
from ._run import DEVNULL, PIPE, STDOUT, CompletedProcess
from ._sandbox import Sandbox

__all__ = ["Runner", "Process", "StdinWriter", "CompletedProcess", "ExitInfo",
           "Sandbox", "PIPE", "STDOUT", "DEVNULL", "CalledProcessError",
           "TimeoutExpired", "RunnerError", "SpawnError", "TetherError"]

__version__ = "0.1.0"


class Runner(AioMixin):
    """A connection to a tether runner, which runs commands for us.

    Runner()                         starts `tether-runner` (from PATH) with
                                     an inherited socket, like the C default
    Runner(argv=[...])               starts that runner: its argv must make
                                     it serve fd 3 (e.g. [path, "--fd", "3"])
    Runner(argv=[...], stdio=True)   ... or serve its stdin/stdout, e.g.
                                     ["ssh", "host", "tether-runner", "--stdio"]
    Runner.connect(path)             a runner listening on a Unix socket

    Keywords: window (output flow-control window per stream, bytes),
    max_frame_size, handshake_timeout, shutdown_timeout (seconds),
    stdin_queue_max, new_process_group.

    Use it as a context manager (also `async with`) or call close(), which
    ends every session and reaps a runner it started; garbage collection
    and interpreter exit do the same for a Runner left open. One Runner
    belongs to one thread and at most one asyncio loop at a time."""

    @classmethod
    def connect(cls, path: StrOrBytesPath, **kw: Any) -> "Runner":
        """Connects to `tether-runner --listen PATH`."""
        return cls(_connect=path, **kw)

    @classmethod
    def attach(cls, read_fd: int, write_fd: int = -1, **kw: Any) -> "Runner":
        """Takes over a connected channel (a socket, or two pipe ends)."""
        return cls(_fds=(read_fd, read_fd if write_fd < 0 else write_fd), **kw)

    def __repr__(self) -> str:
        if self.closed:
            return "<tether.Runner closed>"
        return "<tether.Runner pid=%s>" % (self.pid,)
