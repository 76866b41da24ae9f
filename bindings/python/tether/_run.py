"""The subprocess-shaped blocking API: Runner.run()."""

from __future__ import annotations

import os
import subprocess
import time
from ctypes import c_void_p
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _lib
from ._core import FdSink, RunnerBase, Sink, _Core, _discard
from ._errors import CalledProcessError, TetherError, TimeoutExpired
from ._sandbox import SandboxArg

PIPE = subprocess.PIPE
STDOUT = subprocess.STDOUT
DEVNULL = subprocess.DEVNULL

# After a timeout's SIGKILL, how long to wait for the runner's Exited
# before the session is released (which terminates what is left).
_KILL_WAIT = 10.0


class CompletedProcess(subprocess.CompletedProcess):
    """What run() returns: subprocess.CompletedProcess (args, returncode,
    stdout, stderr, check_returncode()) plus tether's extras:

    pid            the command's process id (in the runner's OS)
    signal         the signal that killed it, else None (returncode is -signal)
    core_dumped    it dumped core
    timed_out      the runner ended it at runner_timeout
    user_time, system_time (seconds), max_rss_kib: resource use, or None
    stdout_dropped, stderr_dropped: bytes dropped past stdout_cap/stderr_cap
    """

    pid: Optional[int] = None
    signal: Optional[int] = None
    core_dumped = False
    timed_out = False
    user_time: Optional[float] = None
    system_time: Optional[float] = None
    max_rss_kib: Optional[int] = None
    stdout_dropped = 0
    stderr_dropped = 0

    def check_returncode(self) -> None:
        if self.returncode:
            e = CalledProcessError(self.returncode, self.args, self.stdout, self.stderr)
            e.result = self
            raise e


class _Collect:
    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: List[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.chunks.append(data)

    def value(self) -> bytes:
        return b"".join(self.chunks)


def out_sink(spec: Any, what: str) -> Tuple[Sink, Optional[int], Optional[_Collect]]:
    """(sink, cap, collector) for a stdout=/stderr= argument."""
    if spec is None:
        return FdSink(1 if what == "stdout" else 2), None, None
    if spec == PIPE:
        c = _Collect()
        return c, None, c
    if spec == DEVNULL:
        return _discard, 0, None
    if isinstance(spec, int) and spec >= 0:
        return FdSink(spec), None, None
    if hasattr(spec, "fileno"):
        try:
            spec.flush()
        except Exception:
            pass
        return FdSink(spec.fileno()), None, None
    if hasattr(spec, "write"):
        return spec.write, None, None
    raise ValueError("%s must be None, PIPE, DEVNULL%s, a descriptor or a "
                     "file object, not %r" % (what, ", STDOUT" if what == "stderr"
                                              else "", spec))


def _decode(data: Optional[bytes], text: bool, encoding: Optional[str],
            errors: Optional[str]) -> Any:
    if data is None or not text:
        return data
    return data.decode(encoding or "utf-8", errors or "strict").replace("\r\n", "\n")


class RunMixin(RunnerBase):

    def run(self, args: Union[Sequence[Any], str, bytes, "os.PathLike[Any]"], *,
            stdin: Any = None, input: Union[bytes, str, None] = None,
            stdout: Any = None, stderr: Any = None,
            capture_output: bool = False, cwd: Any = None,
            env: Optional[Dict[Any, Any]] = None,
            extra_env: Optional[Dict[Any, Any]] = None,
            timeout: Optional[float] = None, check: bool = False,
            text: Optional[bool] = None, encoding: Optional[str] = None,
            errors: Optional[str] = None, universal_newlines: Optional[bool] = None,
            pty: bool = False, pty_size: Optional[Tuple[int, int]] = None,
            sandbox: SandboxArg = None, network: bool = True,
            stdout_cap: Optional[int] = None, stderr_cap: Optional[int] = None,
            runner_timeout: Optional[float] = None) -> CompletedProcess:
        """Runs a command on the runner and waits for it, like
        subprocess.run(). Differences: stdin=None gives the command the
        null device (a runner has no terminal of ours to inherit);
        stdout=None/stderr=None copy the output to this process's fd 1/2.

        Extras: extra_env (set/unset on top of the runner's environment;
        env= replaces it as in subprocess), pty (a terminal: one output
        stream, in stdout), pty_size (cols, rows), sandbox ("read-only",
        "workspace-write" or a tether.Sandbox), network=False,
        stdout_cap/stderr_cap (bytes kept; the rest is dropped and
        counted), runner_timeout (the runner terminates the command and
        reports timed_out, without raising).

        Raises FileNotFoundError/PermissionError/... (with .stage) when the
        runner cannot start the command, TimeoutExpired, CalledProcessError
        (check=True), RunnerError when the runner goes away."""
        if capture_output:
            if stdout is not None or stderr is not None:
                raise ValueError("stdout and stderr arguments may not be used "
                                 "with capture_output.")
            stdout = stderr = PIPE
        text = bool(text or universal_newlines or encoding or errors)
        if input is not None:
            if stdin is not None:
                raise ValueError("stdin and input arguments may not both be used.")
            if isinstance(input, str):
                input = input.encode(encoding or "utf-8", errors or "strict")
            feed: Optional[Any] = memoryview(bytes(input))
        elif pty:
            # A terminal's input stays the terminal: no input is an
            # immediate end of input (^D), as `cmd </dev/null` would be.
            feed = memoryview(b"")
        elif stdin is None or stdin == DEVNULL:
            feed = None
        elif isinstance(stdin, int) and stdin >= 0:
            feed = stdin
        elif hasattr(stdin, "fileno"):
            feed = stdin.fileno()
        else:
            raise ValueError("stdin must be None, DEVNULL, a descriptor or a file "
                             "object (use input= for data), not %r" % (stdin,))
        sink0, cap0, col0 = out_sink(stdout, "stdout")
        merge = stderr == STDOUT
        if merge:
            sink1, cap1, col1 = _discard, None, None
        else:
            sink1, cap1, col1 = out_sink(stderr, "stderr")
        caps = [stdout_cap if stdout_cap is not None else cap0,
                stderr_cap if stderr_cap is not None else cap1]
        core = self._spawn(args, sinks=[sink0, sink1], stdin_null=feed is None,
                           merge_stderr=merge, caps=caps, cwd=cwd, env=env,
                           extra_env=extra_env, pty=pty, pty_size=pty_size,
                           sandbox=sandbox, network=network,
                           runner_timeout=runner_timeout)
        try:
            timed_out = self._drive(core, feed, timeout)
        finally:
            core.release()
        if core.failure is not None:
            raise core.failure
        if core.error is not None:
            raise core.error
        out = _decode(col0.value() if col0 else None, text, encoding, errors)
        err = _decode(col1.value() if col1 else None, text, encoding, errors)
        if timed_out:
            raise TimeoutExpired(args, timeout, output=out, stderr=err)
        st = core.status
        assert st is not None
        res = CompletedProcess(args, st.returncode, out, err)
        res.pid = core.pid
        for k in ("signal", "core_dumped", "timed_out", "user_time", "system_time",
                  "max_rss_kib", "stdout_dropped", "stderr_dropped"):
            setattr(res, k, getattr(st, k))
        if check:
            res.check_returncode()
        return res

    def _drive(self, core: _Core, feed: Any, timeout: Optional[float]) -> bool:
        """Processes until `core` is over, feeding stdin. True if `timeout`
        passed (the command was killed)."""
        assert core.s is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        s = c_void_p(core.s)
        lib = self._lib
        closed = feed is None
        killed_at: Optional[float] = None
        held = b""  # a chunk the C queue refused (EAGAIN): offered again
        while not core.done:
            while not closed and not core.done and \
                    lib.tether_session_stdin_queued(s) < (256 << 10):
                if held:
                    chunk, held = held, b""
                elif isinstance(feed, memoryview):
                    chunk = bytes(feed[:1 << 20])
                    feed = feed[len(chunk):]
                else:
                    chunk = os.read(feed, 1 << 16)
                if not chunk:
                    closed = True
                    core.call("tether_session_close_stdin")
                    break
                rc = lib.tether_session_write(s, chunk, len(chunk))
                if rc < 0:
                    if rc == _lib.ECLOSED:
                        raise self._closed_error()
                    if rc == _lib.ESTATE:  # over: the rest cannot be delivered
                        closed = True
                        break
                    if rc == _lib.EAGAIN:  # stdin_queue_max is below our high water
                        held = chunk
                        break
                    raise TetherError(rc, "writing to the command's stdin")
            now = time.monotonic()
            wait = None
            if killed_at is not None:
                if now - killed_at > _KILL_WAIT:
                    break
                wait = killed_at + _KILL_WAIT - now
            elif deadline is not None:
                if now >= deadline:
                    killed_at = now
                    try:
                        core.call("tether_session_signal", _lib.SIGNALS["SIGKILL"], 1)
                    except TetherError:
                        pass  # it ended meanwhile
                    continue
                wait = deadline - now
            try:
                self._wait_io(wait)
            except Exception:
                if core.done:  # the runner's end was reported to the session
                    break
                raise
        return killed_at is not None
