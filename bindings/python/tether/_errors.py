"""Exceptions: subprocess-compatible ones and tether's own."""

from __future__ import annotations

import errno as _errno
import subprocess
from typing import Optional

from . import _lib


class TetherError(OSError):
    """A libtether_parent call failed. `code` is the negative TETHER_E*
    value, `name` its name (e.g. "TETHER_EINVAL")."""

    def __init__(self, code: int, what: str, detail: str = "") -> None:
        lib = _lib.load()
        self.code = code
        self.name = lib.tether_err_name(code).decode()
        msg = "%s: %s (%s)" % (what, lib.tether_strerror(code).decode(), self.name)
        if detail:
            msg += ": " + detail
        super().__init__(msg)


class RunnerError(ConnectionError):
    """The runner went away (it exited, was killed, broke the protocol)
    while a session needed it. The message is the parent library's
    description, e.g. "runner exited (killed by signal 9)"."""

    def __init__(self, message: str, code: int = _lib.ECLOSED) -> None:
        super().__init__(message)
        self.code = code


class SpawnError(OSError):
    """The runner could not start the command and gave no OS error that
    maps to a more specific OSError subclass. `stage` names the step that
    failed ("exec", "cwd", "permissions", ...)."""


class CalledProcessError(subprocess.CalledProcessError):
    """run(check=True) saw a non-zero returncode. A subclass of
    subprocess.CalledProcessError, with tether's extras in `result`."""

    result = None  # type: Optional[object]


class TimeoutExpired(subprocess.TimeoutExpired):
    """run(timeout=...) passed: the command was killed. A subclass of
    subprocess.TimeoutExpired."""


_SPAWN_ERRNO = {1: _errno.ENOENT, 2: _errno.EACCES, 3: _errno.ENOEXEC,
                4: _errno.ENOTDIR, 5: _errno.EAGAIN, 6: _errno.EINVAL,
                7: _errno.E2BIG, 8: _errno.ENOSYS}


def spawn_failure(argv0: str, cwd: Optional[str], stage: int, error: int,
                  os_error: int, os_space: int, message: str) -> OSError:
    """The OSError subprocess would raise for this failure: errno from the
    runner's raw OS error (POSIX) or its portable code, so OSError picks
    FileNotFoundError, PermissionError, NotADirectoryError, ..."""
    stage_name = _lib.STAGES.get(stage, "unknown")
    num = os_error if (os_space == _lib.OS_ERR_POSIX and os_error > 0) else \
        _SPAWN_ERRNO.get(error, 0)
    filename = cwd if stage == 4 else argv0
    text = "runner could not start the command (stage %s): %s" % (stage_name, message)
    if num:
        exc: OSError = OSError(num, text, filename)
    else:
        exc = SpawnError(_errno.EIO, text, filename)
    exc.stage = stage_name  # type: ignore[attr-defined]
    exc.spawn_error = _lib.SPAWN_ERRORS.get(error, "unknown")  # type: ignore[attr-defined]
    exc.os_error = os_error  # type: ignore[attr-defined]
    return exc
