"""The connection and its sessions: the C handles, the callbacks, and the
two ways of driving them (a blocking poll loop, or an asyncio loop's
add_reader/add_writer). No threads: callbacks run inside
tether_parent_process(), called from whichever of the two is in charge."""

from __future__ import annotations

import ctypes
import itertools
import os
import select
import signal as _signal
import weakref
from ctypes import c_void_p
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _lib
from ._errors import RunnerError, TetherError, spawn_failure

StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# drain() returns once no more than this is queued for a session's stdin.
STDIN_HIGH_WATER = 256 << 10

# A stream's sink receives each delivered chunk (bytes).
Sink = Callable[[bytes], Any]

# ------------------------------------------------------------- registries

# Session pointer -> its _Core. Strong: a core lives until release(), which
# the owning object (Process, run()) calls, also from its __del__.
_SESSIONS: Dict[int, "_Core"] = {}
# Runner key (the parent's userdata) -> weak reference to its Runner.
_RUNNERS: Dict[int, "weakref.ref[Any]"] = {}
_keys = itertools.count(1)
# Exceptions raised inside callbacks (ctypes would only print them).
_deferred: List[BaseException] = []


def _raise_deferred() -> None:
    if _deferred:
        e = _deferred.pop(0)
        del _deferred[:]
        raise e


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    def wrapper(*a: Any) -> None:
        try:
            fn(*a)
        except BaseException as e:  # noqa: B902 - never unwind through C
            _deferred.append(e)
    return wrapper


@_guard
def _cb_spawned(s: int, pid: int, ud: int) -> None:
    c = _SESSIONS.get(s)
    if c is not None:
        c.pid = pid
        c.notify()


@_guard
def _cb_spawn_failed(s: int, f: Any, ud: int) -> None:
    c = _SESSIONS.get(s)
    if c is None:
        return
    f = f.contents
    msg = ctypes.string_at(f.message, f.message_len).decode("utf-8", "replace") \
        if f.message else ""
    c.failure = spawn_failure(c.argv0, c.cwd, f.stage, f.error, f.os_error,
                              f.os_error_space, msg)
    c.finish()


_string_at = ctypes.string_at


def _cb_output(s: int, stream: int, data: int, n: int, ud: int) -> None:
    # The hot path (one call per Output frame): no wrapper layer.
    try:
        c = _SESSIONS.get(s)
        if c is not None:
            c.sinks[stream == 2](_string_at(data, n))  # 2: TETHER_STREAM_STDERR
    except BaseException as e:  # noqa: B902 - never unwind through C
        _deferred.append(e)


@_guard
def _cb_exit(s: int, st: Any, ud: int) -> None:
    c = _SESSIONS.get(s)
    if c is not None:
        c.status = ExitInfo(st.contents)
        c.finish()


@_guard
def _cb_error(p: int, s: Optional[int], code: int, msg: bytes, ud: int) -> None:
    text = msg.decode("utf-8", "replace") if msg else ""
    if not s:
        ref = _RUNNERS.get(ud or 0)
        r = ref() if ref else None
        if r is not None:
            r._connection_ended(code, text)
        return
    c = _SESSIONS.get(s)
    if c is None:
        return
    if code in (_lib.ECLOSED, -12):  # TETHER_ECLOSED, TETHER_EPROTOCOL: over
        c.error = RunnerError(text, code)
        c.finish()
    else:
        c.reports.append((code, text))


_CALLBACKS = _lib.Callbacks(
    _lib.ON_SPAWNED(_cb_spawned), _lib.ON_SPAWN_FAILED(_cb_spawn_failed),
    _lib.ON_OUTPUT(_cb_output), _lib.ON_EXIT(_cb_exit), _lib.ON_STATUS(),
    _lib.ON_ERROR(_cb_error))

# ------------------------------------------------------------------ status

# TETHER_SIG_* -> this OS's signal number, for negative returncodes.
_LOCAL_SIG = {num: getattr(_signal, name).value
              for name, num in _lib.SIGNALS.items() if hasattr(_signal, name)}


def tether_signal(sig: int) -> int:
    """This OS's signal number `sig` as a portable TETHER_SIG_* number."""
    name = _signal.Signals(sig).name
    if name not in _lib.SIGNALS:
        raise ValueError("signal %s has no portable tether number" % name)
    return _lib.SIGNALS[name]


class ExitInfo:
    """How a session ended (a copy of tether_exit_status)."""

    __slots__ = ("returncode", "signal", "core_dumped", "timed_out",
                 "user_time", "system_time", "max_rss_kib", "stdout_bytes",
                 "stderr_bytes", "stdout_dropped", "stderr_dropped")

    def __init__(self, st: Any) -> None:
        self.signal: Optional[int] = None
        if st.signaled:
            self.signal = _LOCAL_SIG.get(st.signal, st.raw_signal or st.signal)
            self.returncode = -self.signal
        else:
            self.returncode = st.code
        self.core_dumped = bool(st.core_dumped)
        self.timed_out = bool(st.timed_out)
        self.user_time = st.user_time_us / 1e6 if st.has_usage else None
        self.system_time = st.system_time_us / 1e6 if st.has_usage else None
        self.max_rss_kib = st.max_rss_kib if st.has_usage else None
        self.stdout_bytes = st.stdout_bytes
        self.stderr_bytes = st.stderr_bytes
        self.stdout_dropped = st.stdout_dropped
        self.stderr_dropped = st.stderr_dropped


# ------------------------------------------------------------------ sinks

def _discard(_data: bytes) -> None:
    pass


class FdSink:
    """Writes every chunk to a descriptor (blocking), as an inherited
    stdout would have received it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __call__(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                select.select([], [self.fd], [])
                continue
            view = view[n:]


# ------------------------------------------------------------------ sessions

class _Core:
    """One tether_session and what arrived for it."""

    def __init__(self, runner: "RunnerBase", argv0: str, cwd: Optional[str],
                 pty: bool, sinks: List[Sink]) -> None:
        self.runner = runner
        self.s: Optional[int] = None
        self.argv0 = argv0
        self.cwd = cwd
        self.pty = pty
        self.sinks = sinks
        self.pid: Optional[int] = None
        self.failure: Optional[OSError] = None
        self.status: Optional[ExitInfo] = None
        self.error: Optional[RunnerError] = None
        self.reports: List[Any] = []
        self.done = False
        # Weak (weakref.WeakMethod): the objects listening (Process,
        # StdinWriter) must stay collectable while the session is registered.
        self.listeners: List[Any] = []
        # stdin not yet accepted by the C queue (asyncio writers)
        self.pending: List[bytes] = []
        self.eof_requested = 0  # 1: after pending, 2: sent
        self.stdin_listeners: List[Any] = []

    def notify(self) -> None:
        for ref in list(self.listeners):
            fn = ref()
            if fn is not None:
                fn()

    def finish(self) -> None:
        self.done = True
        self.notify()

    @property
    def lib(self) -> ctypes.CDLL:
        return self.runner._lib

    def call(self, fn: str, *args: Any) -> int:
        """A session call; raises RunnerError / TetherError on failure."""
        if self.s is None:
            raise ValueError("the session was released")
        self.runner._check_open()
        rc = getattr(self.lib, fn)(c_void_p(self.s), *args)
        if rc < 0 and rc != _lib.EAGAIN:
            if rc == _lib.ECLOSED:
                raise self.runner._closed_error()
            raise TetherError(rc, fn)
        return rc

    def stdin_queued(self) -> int:
        if self.s is None or self.runner._h.p is None:
            return 0
        return self.lib.tether_session_stdin_queued(c_void_p(self.s))

    def pump_stdin(self) -> None:
        """Hands Python-side pending stdin to the C queue as it takes it,
        sends a requested EOF after it, and wakes drain() waiters."""
        s = self.s
        if s is not None and self.runner._h.p is not None and not self.done:
            write = self.lib.tether_session_write
            while self.pending:
                chunk = self.pending[0]
                rc = write(c_void_p(s), chunk, len(chunk))
                if rc == _lib.EAGAIN:
                    break
                self.pending.pop(0)
                if rc < 0:
                    del self.pending[:]
                    break
            if not self.pending and self.eof_requested == 1:
                self.eof_requested = 2
                self.lib.tether_session_close_stdin(c_void_p(s))
        else:
            del self.pending[:]
        if not self.pending:
            if self.stdin_queued() <= STDIN_HIGH_WATER or self.done:
                self.runner._stdin_watch.discard(self)
                self.notify_stdin()

    def notify_stdin(self) -> None:
        for ref in list(self.stdin_listeners):
            fn = ref()
            if fn is not None:
                fn()

    def release(self) -> None:
        """tether_session_free: terminates the command if it still runs."""
        s, self.s = self.s, None
        if s is None:
            return
        _SESSIONS.pop(s, None)
        if self.runner._h.p is not None:
            self.lib.tether_session_free(c_void_p(s))
            self.runner._sync_writer()


# ------------------------------------------------------------------ runner

class _Handle:
    """The tether_parent pointer, shared with the finalizer so that it is
    freed exactly once: by close(), by garbage collection, or at exit."""

    __slots__ = ("p", "lib", "key")

    def __init__(self, lib: ctypes.CDLL, key: int) -> None:
        self.p: Optional[int] = None
        self.lib = lib
        self.key = key

    def free(self) -> None:
        p, self.p = self.p, None
        _RUNNERS.pop(self.key, None)
        if p is not None:
            for s, c in list(_SESSIONS.items()):
                if c.runner._h is self:
                    c.s = None
                    del _SESSIONS[s]
            self.lib.tether_parent_free(c_void_p(p))


def _bytes_path(p: StrOrBytesPath) -> bytes:
    return os.fsencode(p)


def _argv_bytes(args: Any) -> List[bytes]:
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    out = [os.fsencode(a) for a in args]
    if not out:
        raise ValueError("args must name a program")
    for a in out:
        if b"\0" in a:
            raise ValueError("embedded NUL byte in argument %r" % a)
    return out


class RunnerBase:
    """A connection to one tether runner (see tether.Runner)."""

    _lib: ctypes.CDLL

    def __init__(self, argv: Optional[Sequence[StrOrBytesPath]] = None, *,
                 stdio: bool = False, window: Optional[int] = None,
                 max_frame_size: Optional[int] = None,
                 handshake_timeout: Optional[float] = None,
                 shutdown_timeout: Optional[float] = None,
                 stdin_queue_max: Optional[int] = None,
                 new_process_group: bool = True,
                 _connect: Optional[StrOrBytesPath] = None,
                 _fds: Optional[Sequence[int]] = None) -> None:
        self._lib = _lib.load()
        self._key = next(_keys)
        self._h = _Handle(self._lib, self._key)
        self._dead: Optional[RunnerError] = None
        self._loop: Any = None
        self._reader_fd = -1
        self._writer_fd = -1
        self._stdin_watch: "set[_Core]" = set()
        self._poller: Any = None
        self._poll_key: Any = None
        o = _lib.ParentOptions()
        _lib.parent_options_init(self._lib, o)
        o.callbacks = _CALLBACKS
        o.userdata = self._key
        keep: List[Any] = []
        if argv is not None:
            arr = _lib.cstr_array(_argv_bytes(argv))
            keep.append(arr)
            o.runner_argv = arr
        o.runner_channel = _lib.RUNNER_CHANNEL_STDIO if stdio else _lib.RUNNER_CHANNEL_FDS
        o.runner_new_group = 1 if new_process_group else 0
        if window is not None:
            o.window = window
        if max_frame_size is not None:
            o.max_frame_size = max_frame_size
        if handshake_timeout is not None:
            o.handshake_timeout_ms = max(1, int(handshake_timeout * 1000))
        if shutdown_timeout is not None:
            o.shutdown_timeout_ms = max(0, int(shutdown_timeout * 1000))
        if stdin_queue_max is not None:
            o.stdin_queue_max = stdin_queue_max
        err = ctypes.create_string_buffer(1024)
        o.error_buf = ctypes.cast(err, c_void_p)
        o.error_buf_len = len(err)
        out = c_void_p()
        _RUNNERS[self._key] = weakref.ref(self)
        if _connect is not None:
            rc = self._lib.tether_parent_connect_unix(
                ctypes.byref(o), _bytes_path(_connect), ctypes.byref(out))
            what = "connecting to the runner at %s" % os.fsdecode(_connect)
        elif _fds is not None:
            rc = self._lib.tether_parent_attach_fds(
                ctypes.byref(o), _fds[0], _fds[1], ctypes.byref(out))
            what = "attaching to the runner on fds %d,%d" % (_fds[0], _fds[1])
        else:
            rc = self._lib.tether_parent_start(ctypes.byref(o), ctypes.byref(out))
            what = "starting the runner %s" % (
                " ".join(os.fsdecode(a) for a in argv) if argv else "tether-runner")
        if rc < 0:
            _RUNNERS.pop(self._key, None)
            detail = err.value.decode("utf-8", "replace")
            raise TetherError(rc, what, detail)
        self._h.p = out.value
        self._finalizer = weakref.finalize(self, self._h.free)

    # ---- lifetime

    def close(self) -> None:
        """Ends the connection: running commands are terminated and a
        runner this object started is reaped. Idempotent."""
        self._detach_loop()
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._h.p is None

    def __enter__(self) -> "RunnerBase":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "RunnerBase":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._h.p is None:
            raise ValueError("the runner was closed")
        if self._dead is not None:
            raise self._dead

    def _closed_error(self) -> RunnerError:
        return self._dead or RunnerError("the connection to the runner is closed")

    def _connection_ended(self, code: int, text: str) -> None:
        self._dead = RunnerError(text or "the runner went away", code)
        # The descriptor is closed right after this callback returns.
        self._detach_loop()

    # ---- facts

    @property
    def info(self) -> Dict[str, Any]:
        """The runner's Hello: implementation, version, protocol version,
        capabilities bits, max_sessions, max_frame_size, pid (-1 if attached)."""
        self._check_open()
        i = _lib.runner_info(self._lib, self._h.p)
        return {"implementation": (i.implementation or b"").decode(),
                "implementation_version": (i.implementation_version or b"").decode(),
                "protocol_version": i.version, "capabilities": i.capabilities,
                "max_sessions": i.max_sessions, "max_frame_size": i.max_frame_size,
                "pid": i.pid}

    @property
    def pid(self) -> Optional[int]:
        """Process id of the runner this object started (None if attached)."""
        pid = self.info["pid"]
        return pid if pid >= 0 else None

    def fileno(self) -> int:
        """The descriptor to wait on for readability (tether_parent_fd)."""
        self._check_open()
        return self._lib.tether_parent_fd(c_void_p(self._h.p))

    # ---- driving

    def _process(self) -> int:
        p = self._h.p
        if p is None:
            return _lib.ECLOSED
        rc = self._lib.tether_parent_process(p)
        if self._stdin_watch:
            for c in list(self._stdin_watch):
                c.pump_stdin()
        if self._loop is not None:
            self._sync_writer()
        if _deferred:
            _raise_deferred()
        return rc

    def _wait_io(self, timeout: Optional[float]) -> None:
        """Blocks until the channel is ready or `timeout` seconds passed,
        then processes. Raises RunnerError once the connection ended."""
        p = self._h.p
        if p is None:
            raise ValueError("the runner was closed")
        lib = self._lib
        fd = lib.tether_parent_fd(p)
        if fd < 0:
            raise self._closed_error()
        wfd = lib.tether_parent_write_fd(p) if lib.tether_parent_wants_write(p) else -1
        key = (fd, wfd)
        if self._poll_key != key:  # (re)register only when the set changes
            poller = self._poller = select.poll()
            self._poll_key = key
            if wfd == fd:
                poller.register(fd, select.POLLIN | select.POLLOUT)
            else:
                poller.register(fd, select.POLLIN)
                if wfd >= 0:
                    poller.register(wfd, select.POLLOUT)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        try:
            self._poller.poll(ms)
        except InterruptedError:
            pass
        self._process()

    # ---- asyncio (see _aio.py)

    def _sync_writer(self) -> None:
        """Keeps the loop's writer registration in step with wants_write."""
        loop = self._loop
        p = self._h.p
        if loop is None or p is None or loop.is_closed():
            return
        want = bool(self._lib.tether_parent_wants_write(c_void_p(p)))
        if want and self._writer_fd < 0:
            self._writer_fd = self._lib.tether_parent_write_fd(c_void_p(p))
            loop.add_writer(self._writer_fd, self._on_ready)
        elif not want and self._writer_fd >= 0:
            loop.remove_writer(self._writer_fd)
            self._writer_fd = -1

    def _attach_loop(self, loop: Any) -> None:
        if self._loop is loop:
            return
        if self._loop is not None:
            if not self._loop.is_closed():
                raise RuntimeError("this Runner is in use by another event loop")
            self._loop = None
            self._reader_fd = self._writer_fd = -1
        self._check_open()
        self._loop = loop
        self._reader_fd = self._lib.tether_parent_fd(c_void_p(self._h.p))
        loop.add_reader(self._reader_fd, self._on_ready)
        self._sync_writer()

    def _detach_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        if self._reader_fd >= 0:
            loop.remove_reader(self._reader_fd)
        if self._writer_fd >= 0:
            loop.remove_writer(self._writer_fd)
        self._reader_fd = self._writer_fd = -1

    def _on_ready(self) -> None:
        try:
            self._process()
        except BaseException as e:
            loop = self._loop
            if loop is None or isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            loop.call_exception_handler(
                {"message": "exception in a tether callback", "exception": e})

    # ---- spawning

    def _spawn(self, args: Any, *, sinks: List[Sink], stdin_null: bool,
               merge_stderr: bool, caps: Sequence[Optional[int]],
               cwd: Optional[StrOrBytesPath], env: Optional[Dict[Any, Any]],
               extra_env: Optional[Dict[Any, Any]], pty: bool,
               pty_size: Optional[Sequence[int]], sandbox: Any, network: bool,
               runner_timeout: Optional[float]) -> _Core:
        self._check_open()
        argv = _argv_bytes(args)
        keep: List[Any] = []
        o = _lib.SpawnOptions()
        _lib.spawn_options_init(self._lib, o)
        arr = _lib.cstr_array(argv)
        keep.append(arr)
        o.argv = arr
        entries: List[bytes] = []
        if env is not None:
            o.clear_env = 1
            entries += [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
        if extra_env:
            for k, v in extra_env.items():
                entries.append(os.fsencode(k) if v is None
                               else os.fsencode(k) + b"=" + os.fsencode(v))
        if entries:
            earr = _lib.cstr_array(entries)
            keep.append(earr)
            o.env = earr
        cwd_b = _bytes_path(cwd) if cwd is not None else None
        o.cwd = cwd_b
        o.merge_stderr = 1 if merge_stderr else 0
        o.stdin_mode = _lib.STDIN_MODE_NULL if stdin_null else _lib.STDIN_MODE_PIPE
        o.stdout_cap = _lib.OUTPUT_UNCAPPED if caps[0] is None else caps[0]
        o.stderr_cap = _lib.OUTPUT_UNCAPPED if caps[1] is None else caps[1]
        if runner_timeout is not None:
            o.timeout_ms = max(1, int(runner_timeout * 1000))
        if pty:
            o.io_mode = _lib.IO_MODE_PTY
            if pty_size is not None:
                o.pty_cols, o.pty_rows = pty_size
        from ._sandbox import profile_struct
        prof = profile_struct(sandbox, network, keep)
        if prof is not None:
            o.permission_profile = ctypes.pointer(prof)
        core = _Core(self, os.fsdecode(argv[0]),
                     os.fsdecode(cwd_b) if cwd_b is not None else None, pty, sinks)
        out = c_void_p()
        rc = self._lib.tether_session_spawn(c_void_p(self._h.p), ctypes.byref(o),
                                            ctypes.byref(out))
        if rc < 0:
            if rc == _lib.ECLOSED:
                raise self._closed_error()
            raise TetherError(rc, "spawning %s" % core.argv0)
        core.s = out.value
        _SESSIONS[core.s] = core
        self._sync_writer()
        return core
