"""The C ABI of libtether_parent, in one place: library lookup, struct
layouts and function prototypes (include/tether/parent.h, error.h,
wire.h). Everything else in the package goes through this module, so an
ABI change of the header is adapted here only."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int64,
                    c_size_t, c_uint32, c_uint64, c_void_p)
from typing import Optional

# The soname changes with every 0.x minor release (libtether_parent.so.0.2);
# this module mirrors that release's header.
ABI_VERSION = (0, 2)
SONAME = "libtether_parent.so.%d.%d" % ABI_VERSION

# ------------------------------------------------------------- constants

# tether/wire.h
STREAM_STDOUT, STREAM_STDERR, STREAM_PTY, STREAM_STDIN = 1, 2, 3, 4
STDIN_MODE_PIPE, STDIN_MODE_NULL = 0, 1
IO_MODE_PIPES, IO_MODE_PTY = 0, 1
RUNNER_CHANNEL_FDS, RUNNER_CHANNEL_STDIO = 0, 1
FS_READ_ONLY, FS_WORKSPACE_WRITE, FS_FULL_ACCESS = 1, 2, 3
NET_ALLOWED, NET_DENIED = 1, 2
OS_ERR_POSIX, OS_ERR_WIN32 = 1, 2
OUTPUT_UNCAPPED = 2**64 - 1  # TETHER_OUTPUT_UNCAPPED

STAGES = {1: "request", 2: "limits", 3: "setup", 4: "cwd", 5: "exec",
          6: "pty", 7: "permissions"}
SPAWN_ERRORS = {1: "not_found", 2: "permission_denied", 3: "not_executable",
                4: "not_a_directory", 5: "no_resources", 6: "invalid",
                7: "limit", 8: "unsupported", 9: "other"}
# TETHER_SIG_* by name (the numbers are tether's, portable).
SIGNALS = {"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
           "SIGABRT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9,
           "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
           "SIGALRM": 14, "SIGTERM": 15, "SIGCONT": 18, "SIGSTOP": 19,
           "SIGTSTP": 20, "SIGWINCH": 28}

# tether/error.h (the numbers are stable; names come from tether_err_name)
EAGAIN, ENOMEM, EINVAL, ECLOSED = -1, -2, -3, -4
ETIMEDOUT, ESTATE, ESPAWN = -6, -27, -28

# ---------------------------------------------------------------- structs


class SpawnFailure(Structure):
    _fields_ = [("stage", c_int), ("error", c_int), ("os_error", c_int64),
                ("os_error_space", c_int), ("message", c_void_p),
                ("message_len", c_size_t)]


# Every caller-allocated struct starts with size_t struct_size (parent.h,
# "ABI"); the *_init_sized / *_sized calls below pass ctypes.sizeof of the
# layout mirrored here, so a library with longer structs (fields appended
# later) writes and reads only this prefix.

class ExitStatus(Structure):
    _fields_ = [("struct_size", c_size_t), ("exited", c_int), ("signaled", c_int), ("code", c_uint32),
                ("signal", c_int), ("raw_signal", c_int),
                ("core_dumped", c_int), ("timed_out", c_int),
                ("has_usage", c_int), ("user_time_us", c_uint64),
                ("system_time_us", c_uint64), ("max_rss_kib", c_uint64),
                ("stdout_bytes", c_uint64), ("stderr_bytes", c_uint64),
                ("stdout_dropped", c_uint64), ("stderr_dropped", c_uint64)]


ON_SPAWNED = CFUNCTYPE(None, c_void_p, c_uint64, c_void_p)
ON_SPAWN_FAILED = CFUNCTYPE(None, c_void_p, POINTER(SpawnFailure), c_void_p)
ON_OUTPUT = CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_size_t, c_void_p)
ON_EXIT = CFUNCTYPE(None, c_void_p, POINTER(ExitStatus), c_void_p)
ON_STATUS = CFUNCTYPE(None, c_void_p, c_int, c_uint64, c_void_p)
ON_ERROR = CFUNCTYPE(None, c_void_p, c_void_p, c_int, c_char_p, c_void_p)


class Callbacks(Structure):
    _fields_ = [("on_spawned", ON_SPAWNED), ("on_spawn_failed", ON_SPAWN_FAILED),
                ("on_output", ON_OUTPUT), ("on_exit", ON_EXIT),
                ("on_status", ON_STATUS), ("on_error", ON_ERROR)]


class ParentOptions(Structure):
    _fields_ = [("struct_size", c_size_t),
                ("runner_argv", POINTER(c_char_p)), ("runner_channel", c_int),
                ("runner_fds", c_int * 2), ("runner_new_group", c_int),
                ("callbacks", Callbacks), ("userdata", c_void_p),
                ("max_frame_size", c_uint32), ("window", c_uint32),
                ("handshake_timeout_ms", c_uint32), ("write_timeout_ms", c_uint32),
                ("shutdown_timeout_ms", c_uint32), ("stdin_queue_max", c_size_t),
                ("error_buf", c_void_p), ("error_buf_len", c_size_t)]


class RunnerInfo(Structure):
    _fields_ = [("struct_size", c_size_t), ("implementation", c_char_p),
                ("implementation_version", c_char_p), ("version", c_uint32),
                ("capabilities", c_uint32), ("max_sessions", c_uint32),
                ("max_frame_size", c_uint32), ("pid", c_int64)]


class PermissionProfile(Structure):
    _fields_ = [("filesystem", c_int), ("writable_roots", POINTER(c_char_p)),
                ("read_only_subpaths", POINTER(c_char_p)), ("network", c_int),
                ("cwd", c_char_p)]


class SpawnOptions(Structure):
    _fields_ = [("struct_size", c_size_t),
                ("argv", POINTER(c_char_p)), ("env", POINTER(c_char_p)),
                ("clear_env", c_int), ("cwd", c_char_p),
                ("merge_stderr", c_int), ("stdin_mode", c_int),
                ("stdout_cap", c_uint64), ("stderr_cap", c_uint64),
                ("timeout_ms", c_uint32), ("userdata", c_void_p),
                ("permission_profile", POINTER(PermissionProfile)),
                ("io_mode", c_int), ("pty_rows", c_uint32),
                ("pty_cols", c_uint32)]


def parent_options_init(lib: ctypes.CDLL, o: ParentOptions) -> None:
    lib.tether_parent_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))


def spawn_options_init(lib: ctypes.CDLL, o: SpawnOptions) -> None:
    lib.tether_spawn_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))


def runner_info(lib: ctypes.CDLL, p: int) -> RunnerInfo:
    info = RunnerInfo()
    rc = lib.tether_parent_runner_info_sized(c_void_p(p), ctypes.byref(info),
                                             ctypes.sizeof(info))
    if rc < 0:
        raise OSError("tether_parent_runner_info_sized failed (%d)" % rc)
    return info


# ------------------------------------------------------------- prototypes

_PROTOTYPES = {
    "tether_strerror": (c_char_p, [c_int]),
    "tether_err_name": (c_char_p, [c_int]),
    "tether_version": (ctypes.c_uint, []),
    "tether_version_string": (c_char_p, []),
    "tether_parent_options_init_sized": (None, [POINTER(ParentOptions), c_size_t]),
    "tether_parent_start": (c_int, [POINTER(ParentOptions), POINTER(c_void_p)]),
    "tether_parent_attach_fds": (c_int, [POINTER(ParentOptions), c_int, c_int,
                                         POINTER(c_void_p)]),
    "tether_parent_connect_unix": (c_int, [POINTER(ParentOptions), c_char_p,
                                           POINTER(c_void_p)]),
    "tether_parent_free": (c_int, [c_void_p]),
    "tether_parent_runner_info_sized": (c_int, [c_void_p, POINTER(RunnerInfo),
                                                c_size_t]),
    "tether_parent_fd": (c_int, [c_void_p]),
    "tether_parent_wants_write": (c_int, [c_void_p]),
    "tether_parent_write_fd": (c_int, [c_void_p]),
    "tether_parent_process": (c_int, [c_void_p]),
    "tether_spawn_options_init_sized": (None, [POINTER(SpawnOptions), c_size_t]),
    "tether_session_spawn": (c_int, [c_void_p, POINTER(SpawnOptions),
                                     POINTER(c_void_p)]),
    "tether_session_write": (c_int, [c_void_p, c_char_p, c_size_t]),
    "tether_session_stdin_queued": (c_size_t, [c_void_p]),
    "tether_session_close_stdin": (c_int, [c_void_p]),
    "tether_session_signal": (c_int, [c_void_p, c_int, c_int]),
    "tether_session_terminate": (c_int, [c_void_p, c_uint32]),
    "tether_session_resize": (c_int, [c_void_p, c_uint32, c_uint32]),
    "tether_session_pause_output": (c_int, [c_void_p, c_int]),
    "tether_session_resume_output": (c_int, [c_void_p, c_int]),
    "tether_session_free": (None, [c_void_p]),
}


def _candidates() -> list:
    here = os.path.dirname(os.path.abspath(__file__))
    names = [SONAME, "libtether_parent.so"]
    out = [os.path.join(here, n) for n in names]
    env = os.environ.get("TETHER_LIBRARY")
    if env:
        return [env]  # explicit: nothing else is tried
    found = ctypes.util.find_library("tether_parent")
    out += [found] if found else []
    out += names  # the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig)
    return out


_lib: Optional[ctypes.CDLL] = None


def load() -> ctypes.CDLL:
    """The loaded library: next to this package, else $TETHER_LIBRARY,
    else the loader's search. Raises OSError naming every place tried."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for cand in _candidates():
        if os.sep in cand and not os.path.exists(cand):
            tried.append("%s (no such file)" % cand)
            continue
        try:
            lib = ctypes.CDLL(cand)
        except OSError as e:
            tried.append("%s (%s)" % (cand, e))
            continue
        for name, (res, args) in _PROTOTYPES.items():
            try:
                fn = getattr(lib, name)
            except AttributeError:
                raise OSError("%s lacks %s: it is older than this binding"
                              % (cand, name)) from None
            fn.restype = res
            fn.argtypes = args
        v = lib.tether_version()
        if (v >> 16, (v >> 8) & 0xFF) != ABI_VERSION:
            raise OSError("%s is tether %s; this binding needs %d.%d.x"
                          % (cand, lib.tether_version_string().decode(), *ABI_VERSION))
        _lib = lib
        return lib
    raise OSError("libtether_parent not found; set TETHER_LIBRARY to its path. "
                  "Tried: " + "; ".join(tried))


def cstr_array(items) -> "ctypes.Array[c_char_p]":
    """A NULL-terminated char* array of bytes items (kept alive by the caller)."""
    arr = (c_char_p * (len(items) + 1))()
    for i, it in enumerate(items):
        arr[i] = it
    arr[len(items)] = None
    return arr
