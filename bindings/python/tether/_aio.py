"""The asyncio API: Runner.create_subprocess_exec() and Process.

The runner's descriptor is watched with loop.add_reader (and add_writer
while the library has frames queued); no threads. Output goes into
asyncio.StreamReader objects whose transport is the session's stream: when
a reader's buffer passes twice its limit, StreamReader pauses it and the
binding holds the stream's credit back (tether_session_pause_output), so
at most one flow-control window more arrives and then the command blocks
on its own write; reading resumes it."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _lib
from ._core import STDIN_HIGH_WATER, Sink, _Core, _discard, tether_signal
from ._errors import RunnerError, TetherError
from ._run import DEVNULL, PIPE, STDOUT, RunMixin, out_sink
from ._sandbox import SandboxArg

_LIMIT = 2 ** 16  # asyncio's own default StreamReader limit


class _StreamTransport(asyncio.ReadTransport):
    """What a StreamReader sees as its transport: one output stream of a
    session. pause_reading/resume_reading hold back / give back credit."""

    def __init__(self, core: _Core, stream: int) -> None:
        super().__init__()
        self._core = core
        self._stream = stream
        self._paused = False

    def pause_reading(self) -> None:
        if self._paused or self._core.done or self._core.s is None:
            return
        self._paused = True
        try:
            self._core.call("tether_session_pause_output", self._stream)
        except (TetherError, RunnerError, ValueError):
            pass  # the session is over: nothing more will arrive

    def resume_reading(self) -> None:
        if not self._paused:
            return
        self._paused = False
        if self._core.done or self._core.s is None:
            return
        try:
            self._core.call("tether_session_resume_output", self._stream)
        except (TetherError, RunnerError, ValueError):
            return
        self._core.runner._sync_writer()

    def is_reading(self) -> bool:
        return not self._paused

    def is_closing(self) -> bool:
        return self._core.done

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class StdinWriter:
    """A session's stdin, shaped like asyncio.StreamWriter: write() queues
    (never blocks), drain() waits until the queue is short, write_eof()
    ends the input after what was written. Writing after the command ended
    raises BrokenPipeError (from drain() or write())."""

    def __init__(self, core: _Core, loop: asyncio.AbstractEventLoop) -> None:
        self._core = core
        self._loop = loop
        self._waiter: Optional[asyncio.Future] = None
        core.stdin_listeners.append(weakref.WeakMethod(self._wake))

    def _wake(self) -> None:
        w, self._waiter = self._waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    def _check(self) -> None:
        c = self._core
        if c.error is not None:
            raise c.error
        if c.done:
            raise BrokenPipeError(32, "the command's stdin is closed: it has ended")
        if c.eof_requested:
            raise ValueError("write after write_eof()")

    def write(self, data: bytes) -> None:
        """Queues `data` for the command's stdin."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like, not %s" % type(data).__name__)
        self._check()
        if not data:
            return
        self._core.pending.append(bytes(data))
        self._core.runner._stdin_watch.add(self._core)
        self._core.pump_stdin()
        self._core.runner._sync_writer()

    def writelines(self, data: Sequence[bytes]) -> None:
        for d in data:
            self.write(d)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Ends the command's input once everything written was sent."""
        c = self._core
        if c.eof_requested or c.done:
            return
        c.eof_requested = 1
        c.runner._stdin_watch.add(c)
        c.pump_stdin()
        c.runner._sync_writer()

    def close(self) -> None:
        """Same as write_eof() (the session's stdin has no other close)."""
        self.write_eof()

    def is_closing(self) -> bool:
        return bool(self._core.eof_requested) or self._core.done

    async def wait_closed(self) -> None:
        await self.drain()

    async def drain(self) -> None:
        """Waits until at most 256 KiB are queued for the command."""
        c = self._core
        while True:
            if c.error is not None:
                raise c.error
            if c.done:
                if c.pending or c.stdin_queued():
                    raise BrokenPipeError(32, "the command ended before reading "
                                              "all of its input")
                return
            if not c.pending and c.stdin_queued() <= STDIN_HIGH_WATER:
                return
            c.runner._stdin_watch.add(c)
            self._waiter = self._loop.create_future()
            await self._waiter

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Process:
    """A command started by Runner.create_subprocess_exec(), shaped like
    asyncio.subprocess.Process. Dropping the last reference releases the
    session (a running command is terminated)."""

    stdin: Optional[StdinWriter]
    stdout: Optional[asyncio.StreamReader]
    stderr: Optional[asyncio.StreamReader]

    def __init__(self, core: _Core, args: Any, loop: asyncio.AbstractEventLoop,
                 readers: List[Optional[asyncio.StreamReader]],
                 stdin: bool) -> None:
        self._core = core
        self._loop = loop
        self.args = args
        self.stdout, self.stderr = readers
        self.stdin = StdinWriter(core, loop) if stdin else None
        self._waiters: List[asyncio.Future] = []
        core.listeners.append(weakref.WeakMethod(self._on_event))
        if core.done:
            self._on_event()

    def _on_event(self) -> None:
        c = self._core
        if not c.done:
            self._wake()
            return
        for r in (self.stdout, self.stderr):
            if r is None:
                continue
            if c.error is not None:
                r.set_exception(c.error)
            elif not r.at_eof():
                r.feed_eof()
        c.notify_stdin()
        self._wake()

    def _wake(self) -> None:
        ws, self._waiters = self._waiters, []
        for w in ws:
            if not w.done():
                w.set_result(None)

    async def _until(self, cond: Any) -> None:
        while not cond():
            w = self._loop.create_future()
            self._waiters.append(w)
            await w

    @property
    def pid(self) -> Optional[int]:
        """The command's process id (in the runner's OS)."""
        return self._core.pid

    @property
    def returncode(self) -> Optional[int]:
        """None while it runs; the exit code, or -signal if it was killed."""
        st = self._core.status
        return st.returncode if st is not None else None

    @property
    def exit_info(self) -> Any:
        """tether's extras once it ended (signal, core_dumped, timed_out,
        resource use, dropped bytes), else None."""
        return self._core.status

    async def wait(self) -> int:
        """Waits for the command to end; returns returncode. Raises
        RunnerError if the runner went away first."""
        await self._until(lambda: self._core.done)
        if self._core.error is not None:
            raise self._core.error
        st = self._core.status
        assert st is not None
        return st.returncode

    async def communicate(self, input: Optional[bytes] = None
                          ) -> Tuple[Optional[bytes], Optional[bytes]]:
        """Sends `input` (then EOF), reads stdout and stderr to the end and
        waits for the command, as asyncio's communicate()."""
        async def feed() -> None:
            if self.stdin is None:
                return
            try:
                if input:
                    self.stdin.write(input)
                    await self.stdin.drain()
                self.stdin.write_eof()
            except (BrokenPipeError, ConnectionResetError):
                pass

        async def read(r: Optional[asyncio.StreamReader]) -> Optional[bytes]:
            return await r.read() if r is not None else None

        _, out, err = await asyncio.gather(feed(), read(self.stdout), read(self.stderr))
        await self.wait()
        return out, err

    def send_signal(self, sig: int) -> None:
        """Sends signal `sig` (this OS's number, e.g. signal.SIGINT) to the
        command. ProcessLookupError once it has ended, as asyncio."""
        if self._core.done:
            raise ProcessLookupError("the command has ended")
        self._core.call("tether_session_signal", tether_signal(sig), 0)
        self._core.runner._sync_writer()

    def terminate(self) -> None:
        """SIGTERM, as asyncio's terminate()."""
        import signal
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as asyncio's kill()."""
        import signal
        self.send_signal(signal.SIGKILL)

    def terminate_group(self, grace: float = 0) -> None:
        """tether's polite stop: SIGTERM to the whole process group, SIGKILL
        after `grace` seconds (0: the runner's default)."""
        if self._core.done:
            return
        self._core.call("tether_session_terminate", int(grace * 1000))
        self._core.runner._sync_writer()

    def resize(self, cols: int, rows: int) -> None:
        """Sets a pty session's terminal size (the command gets SIGWINCH)."""
        if not self._core.pty:
            raise ValueError("resize() needs a pty session (pty=True)")
        self._core.call("tether_session_resize", rows, cols)
        self._core.runner._sync_writer()

    def release(self) -> None:
        """Frees the session now (a running command is terminated)."""
        self._core.release()

    def __del__(self) -> None:
        try:
            self._core.release()
        except Exception:
            pass

    def __repr__(self) -> str:
        return "<tether.Process %s pid=%s returncode=%s>" % (
            self._core.argv0, self.pid, self.returncode)


class AioMixin(RunMixin):

    async def create_subprocess_exec(
            self, program: Any, *args: Any, stdin: Any = PIPE, stdout: Any = PIPE,
            stderr: Any = PIPE, limit: int = _LIMIT, cwd: Any = None,
            env: Optional[Dict[Any, Any]] = None,
            extra_env: Optional[Dict[Any, Any]] = None, pty: bool = False,
            pty_size: Optional[Tuple[int, int]] = None, sandbox: SandboxArg = None,
            network: bool = True, stdout_cap: Optional[int] = None,
            stderr_cap: Optional[int] = None,
            runner_timeout: Optional[float] = None) -> Process:
        """Starts a command, like asyncio.create_subprocess_exec(), and
        returns once the runner reported it started (a Process) or could not
        (FileNotFoundError/PermissionError/... with .stage, as asyncio).

        stdin/stdout/stderr: PIPE (the default here), DEVNULL, STDOUT
        (stderr only), None (stdin: the null device; stdout/stderr: copied
        to this process's fd 1/2), or a descriptor/file. With pty=True the
        terminal's output is `stdout` and `stderr` is None. Other keywords
        as Runner.run()."""
        loop = asyncio.get_running_loop()
        self._attach_loop(loop)
        readers: List[Optional[asyncio.StreamReader]] = [None, None]
        sinks: List[Sink] = [_discard, _discard]
        caps: List[Optional[int]] = [None, None]
        merge = stderr == STDOUT
        specs = [stdout, None if (merge or pty) else stderr]
        for i, spec in enumerate(specs):
            if spec == PIPE:
                readers[i] = asyncio.StreamReader(limit=limit, loop=loop)
                sinks[i] = readers[i].feed_data  # type: ignore[union-attr]
            elif not (i == 1 and (merge or pty)):
                sinks[i], caps[i], _ = out_sink(spec, ("stdout", "stderr")[i])
        if stdin not in (PIPE, None, DEVNULL):
            raise ValueError("stdin must be PIPE, DEVNULL or None")
        core = self._spawn((program,) + args, sinks=sinks,
                           stdin_null=stdin != PIPE, merge_stderr=merge,
                           caps=[stdout_cap if stdout_cap is not None else caps[0],
                                 stderr_cap if stderr_cap is not None else caps[1]],
                           cwd=cwd, env=env, extra_env=extra_env, pty=pty,
                           pty_size=pty_size, sandbox=sandbox, network=network,
                           runner_timeout=runner_timeout)
        streams = [_lib.STREAM_PTY if pty else _lib.STREAM_STDOUT, _lib.STREAM_STDERR]
        for r, stream in zip(readers, streams):
            if r is not None:
                r.set_transport(_StreamTransport(core, stream))
        proc = Process(core, (program,) + args, loop, readers, stdin == PIPE)
        try:
            await proc._until(lambda: core.pid is not None or core.done)
        except BaseException:
            core.release()
            raise
        if core.failure is not None:
            core.release()
            raise core.failure
        if core.error is not None and core.pid is None:
            core.release()
            raise core.error
        return proc
