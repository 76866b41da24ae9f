#!/usr/bin/python3
"""A tether runner in Python, written from proto/tether/v1/tether.proto and
docs/PROTOCOL.md only (no code shared with the C runner or the kit).

    runner.py (--stdio | --fd R[,W]) [--max-sessions N] [--max-frame BYTES]
              [--handshake-timeout MS] [--name NAME] [--proto PATH] [-v]

The message classes are generated at start-up with `protoc --python_out`
into a temporary directory that is removed at exit; it needs protoc and
Debian's python3-protobuf (/usr/bin/python3). One process serves one
connection, single-threaded around poll(): pipe and pty sessions, env
OVERLAY/CLEAR, cwd, stdin, signals and terminate to the process group,
status, output caps, timeouts, limits, Goodbye. No flow control.
Resource limits (protocol version 3) with rlimits only: CPU time, open
files, file size, and memory as RLIMIT_AS; a process limit is refused.
"""

import argparse
import resource
import atexit
import errno
import fcntl
import os
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import time

PREFACE = b"\0TETHER\n"
VERSION_MIN, VERSION_MAX = 1, 3   # 3: Spawn.limits (rlimits here)
VERSION_LIMITS = 3
# ResourceLimits field: accepted range (include/tether/limits.h)
LIMIT_RANGES = {"memory_bytes": (1 << 20, 1 << 50), "processes": (1, 4194304),
                "cpu_ms": (1000, 1 << 40), "open_files": (4, 1048576), "file_size_bytes": (1, 1 << 60)}
FRAME_MAX_DEFAULT = 1 << 20
FRAME_MAX_MINIMUM = 64 << 10
FRAME_MAX_CEILING = 16 << 20
ARGV_MAX_COUNT = 4096
ARGV_MAX_BYTES = 256 << 10
ENV_MAX_COUNT = 4096
ENV_MAX_BYTES = 256 << 10
PATH_MAX_BYTES = 4096
PROFILE_MAX_PATHS = 64
NAME_MAX_BYTES = 64
MESSAGE_MAX_BYTES = 1024
SESSIONS_MAX_DEFAULT = 1024
SESSIONS_MAX_CEILING = 65536
HANDSHAKE_TIMEOUT_MS = 10000
TERMINATE_GRACE_MS = 2000

ENVELOPE = 64                 # room for the Frame around Output data
READ_CHUNK = 64 << 10         # most bytes read from a child at once
CHANNEL_HIGH_WATER = 4 << 20  # stop reading children while this much is queued
STDIN_QUEUE_MAX = 1 << 20     # per session; more gets Error{LIMIT}
SHUTDOWN_GRACE = 1.0          # seconds between TERM and KILL when the parent is gone

pb = None


def load_schema(proto_path):
    global pb
    proto_path = os.path.abspath(proto_path)
    root = os.path.dirname(os.path.dirname(os.path.dirname(proto_path)))  # proto/
    out = tempfile.mkdtemp(prefix="tether-pyrunner-pb-")
    atexit.register(shutil.rmtree, out, True)
    r = subprocess.run([os.environ.get("PROTOC", "protoc"), "--python_out=" + out, "-I", root,
                        os.path.relpath(proto_path, root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit("runner.py: protoc failed: " + r.stdout.decode(errors="replace"))
    sys.path.insert(0, out)
    from tether.v1 import tether_pb2
    pb = tether_pb2


def clip(text, limit=MESSAGE_MAX_BYTES):
    """Truncate text to `limit` UTF-8 bytes at a character boundary."""
    b = text.encode("utf-8", "replace")
    if len(b) <= limit:
        return text
    return b[:limit].decode("utf-8", "ignore")


def top_level_fields(payload):
    """Field numbers of a Frame payload's top-level fields, in order, or None
    if the wire syntax is broken (the parser then says why)."""
    fields, i, n = [], 0, len(payload)

    def varint():
        nonlocal i
        v = shift = 0
        while i < n and shift < 64:
            b = payload[i]
            i += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
        raise ValueError

    try:
        while i < n:
            key = varint()
            fields.append(key >> 3)
            wt = key & 7
            if wt == 0:
                varint()
            elif wt == 1:
                i += 8
            elif wt == 5:
                i += 4
            elif wt == 2:
                length = varint()  # (not `i += varint()`: that reads i first)
                i += length
            else:
                return None
        return fields if i == n else None
    except ValueError:
        return None


class Fatal(Exception):
    """A protocol error: Error{code, fatal} on session 0, then close."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# Portable signal numbers (SignalNumber) <-> this platform's.
SIGNAL_NAMES = ["HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
                "PIPE", "ALRM", "TERM", "CONT", "STOP", "TSTP", "WINCH"]


def signal_maps():
    to_os, from_os = {}, {}
    for name in SIGNAL_NAMES:
        portable = pb.SignalNumber.Value("SIGNAL_" + name)
        native = getattr(signal, "SIG" + name, None)
        if native is not None:
            to_os[portable] = int(native)
            from_os[int(native)] = portable
    return to_os, from_os


def spawn_error_of(err):
    return {
        errno.ENOENT: pb.SPAWN_ERROR_NOT_FOUND,
        errno.EACCES: pb.SPAWN_ERROR_PERMISSION_DENIED,
        errno.EPERM: pb.SPAWN_ERROR_PERMISSION_DENIED,
        errno.ENOEXEC: pb.SPAWN_ERROR_NOT_EXECUTABLE,
        errno.ENOTDIR: pb.SPAWN_ERROR_NOT_A_DIRECTORY,
        errno.ENOMEM: pb.SPAWN_ERROR_NO_RESOURCES,
        errno.EAGAIN: pb.SPAWN_ERROR_NO_RESOURCES,
        errno.EMFILE: pb.SPAWN_ERROR_NO_RESOURCES,
        errno.ENFILE: pb.SPAWN_ERROR_NO_RESOURCES,
    }.get(err, pb.SPAWN_ERROR_OTHER)


class SpawnRefused(Exception):
    def __init__(self, stage, error, message, os_error=0):
        super().__init__(message)
        self.stage, self.error, self.os_error = stage, error, os_error


class Stream:
    def __init__(self, fd, kind, cap):
        self.fd = fd
        self.kind = kind      # pb.STREAM_*
        self.cap = cap        # None: no cap
        self.sent = 0         # bytes sent = next offset
        self.dropped = 0
        self.eof = False


class Session:
    def __init__(self, sid, spawn):
        self.sid = sid
        self.spawn = spawn
        self.pty = spawn.io_mode == pb.IO_MODE_PTY
        self.proc = None
        self.pid = 0
        self.streams = []
        self.stdin_fd = None          # pipe write end, or the pty master
        self.stdin_open = spawn.stdin_mode != pb.STDIN_MODE_NULL
        self.stdin_queue = bytearray()
        self.stdin_offset = 0
        self.stdin_closed_by_parent = False
        self.stdin_gone = False       # the child closed its input
        self.last_in = b"\n"
        self.status = None            # wait status once reaped
        self.rusage = None
        self.timed_out = False
        self.timeout_at = None
        self.kill_at = None

    @property
    def reaped(self):
        return self.status is not None

    def done(self):
        return self.reaped and all(s.eof for s in self.streams)


class Runner:
    name = "tether-python-runner"
    version = "0.1.0"

    def __init__(self, rfd, wfd, opts):
        self.rfd, self.wfd = rfd, wfd
        self.opts = opts
        self.max_frame = opts.max_frame
        self.max_sessions = opts.max_sessions
        self.verbose = opts.verbose
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.preface_ok = False
        self.peer = None              # the parent's Hello
        self.peer_max_frame = FRAME_MAX_MINIMUM
        self.sessions = {}
        self.closing = None           # None, "goodbye", "eof", "fatal"
        self.exit_code = 0
        self.deadline_handshake = time.monotonic() + opts.handshake_timeout / 1000.0
        self.shutdown_kill_at = None
        self.sig_to_os, self.sig_from_os = signal_maps()
        self.caps = [pb.CAPABILITY_PIPES, pb.CAPABILITY_PTY, pb.CAPABILITY_SIGNALS,
                     pb.CAPABILITY_PROCESS_GROUPS, pb.CAPABILITY_RESOURCE_USAGE,
                     pb.CAPABILITY_RESOURCE_LIMITS]
        self.agreed = 1
        for fd in (rfd, wfd):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        # SIGCHLD wakes poll() through this pipe.
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *a: None)

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("runner.py: %s\n" % msg)
            sys.stderr.flush()

    # ------------------------------------------------------------ sending

    def send(self, frame):
        if self.closing == "eof":
            return                    # nobody reads any more
        payload = frame.SerializeToString()
        limit = self.peer_max_frame if self.peer is not None else FRAME_MAX_MINIMUM
        assert len(payload) <= limit, "frame larger than the parent accepts"
        self.outbuf += struct.pack("<I", len(payload)) + payload

    def frame(self, sid, body, **fields):
        f = pb.Frame(session=sid)
        m = getattr(f, body)
        m.SetInParent()
        for k, v in fields.items():
            setattr(m, k, v)
        self.send(f)
        return f

    def error(self, sid, code, message, fatal=False):
        self.frame(sid, "error", code=code, message=clip(message), fatal=fatal)

    def spawn_failed(self, sid, stage, error, message, os_error=0):
        self.frame(sid, "spawn_failed", stage=stage, error=error, os_error=os_error,
                   os_error_space=pb.OS_ERROR_SPACE_POSIX if os_error else pb.OS_ERROR_SPACE_UNSPECIFIED,
                   message=clip(message))

    def flush(self):
        while self.outbuf:
            try:
                n = os.write(self.wfd, self.outbuf[:1 << 20])
            except BlockingIOError:
                return
            except OSError:               # the parent is gone
                self.outbuf.clear()
                if self.closing is None:
                    self.closing = "eof"
                    self.terminate_all(SHUTDOWN_GRACE)
                return
            del self.outbuf[:n]

    def flush_blocking(self, timeout):
        deadline = time.monotonic() + timeout
        while self.outbuf and time.monotonic() < deadline:
            select.select([], [self.wfd], [], max(0, deadline - time.monotonic()))
            self.flush()

    # ----------------------------------------------------------- receiving

    def on_input(self):
        try:
            chunk = os.read(self.rfd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.on_eof()
            return
        self.inbuf += chunk
        while self.closing not in ("eof", "fatal"):
            f = self.next_frame()
            if f is None:
                break
            self.dispatch(f)

    def next_frame(self):
        if not self.preface_ok:
            n = min(len(self.inbuf), len(PREFACE))
            if bytes(self.inbuf[:n]) != PREFACE[:n]:
                # not a tether peer: no Error frame, just close (section 2)
                self.log("not a tether peer: %r" % bytes(self.inbuf[:16]))
                self.exit_code = 1
                self.closing = "eof"
                self.terminate_all(0)
                return None
            if n < len(PREFACE):
                return None
            del self.inbuf[:len(PREFACE)]
            self.preface_ok = True
        if len(self.inbuf) < 4:
            return None
        (n,) = struct.unpack_from("<I", self.inbuf)
        if n == 0:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "zero-length frame")
        if n > self.max_frame:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "frame of %d bytes exceeds max_frame_size %d" % (n, self.max_frame))
        if len(self.inbuf) < 4 + n:
            return None
        payload = bytes(self.inbuf[4:4 + n])
        del self.inbuf[:4 + n]
        fields = top_level_fields(payload) or []
        is_error = 17 in fields
        f = pb.Frame()
        try:
            f.ParseFromString(payload)
        except Exception as e:
            if is_error:
                self.closing = "eof"  # an Error is never answered with an Error (section 5.10)
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "frame does not decode: %s" % e)
        # Two bodies in one frame: protobuf keeps the last and drops the
        # others unseen; refused as undecodable (section 8).
        if sum(1 for k in fields if 2 <= k <= 18) > 1:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "two bodies in one frame")
        text = (f.error.message if is_error else f.goodbye.reason if f.HasField("goodbye") else "")
        if len(text.encode()) > MESSAGE_MAX_BYTES:
            if is_error:
                self.closing = "eof"
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "text of %d bytes, over %d" % (len(text.encode()), MESSAGE_MAX_BYTES))
        return f

    def on_eof(self):
        if self.inbuf:
            self.log("channel ended inside a frame")
            self.exit_code = 1
        if self.closing in (None, "goodbye"):
            self.closing = "eof"
            self.terminate_all(SHUTDOWN_GRACE)
        self.rfd_eof = True

    # ------------------------------------------------------------ dispatch

    def handshake(self, f):
        body = f.WhichOneof("body")
        if body == "error":
            self.closing = "eof"  # it ends the handshake; never answered (section 4)
        if body != "hello" or f.session != 0:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "the first frame must be Hello on session 0, got %s on %d"
                        % (body, f.session))
        h = f.hello
        if h.role != pb.ROLE_PARENT:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "peer Hello role is %d, a runner needs ROLE_PARENT" % h.role)
        if not (1 <= h.version_min <= h.version_max):
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "bad version range %d..%d" % (h.version_min, h.version_max))
        if not (FRAME_MAX_MINIMUM <= h.max_frame_size <= FRAME_MAX_CEILING):
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "max_frame_size %d outside [%d, %d]"
                        % (h.max_frame_size, FRAME_MAX_MINIMUM, FRAME_MAX_CEILING))
        if len(h.implementation.encode()) > NAME_MAX_BYTES or len(h.implementation_version.encode()) > NAME_MAX_BYTES:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "implementation name longer than %d bytes" % NAME_MAX_BYTES)
        agreed = min(VERSION_MAX, h.version_max)
        if agreed < max(VERSION_MIN, h.version_min):
            raise Fatal(pb.ERROR_CODE_VERSION_UNSUPPORTED, "no common protocol version: ours %d..%d, peer %d..%d"
                        % (VERSION_MIN, VERSION_MAX, h.version_min, h.version_max))
        self.peer = h
        self.agreed = agreed
        self.peer_max_frame = h.max_frame_size
        self.log("parent %s %s, version %d" % (h.implementation, h.implementation_version, agreed))

    PARENT_BODIES = {"spawn", "stdin_data", "stdin_close", "resize", "signal", "terminate", "credit",
                     "status_request"}
    RUNNER_BODIES = {"spawned", "spawn_failed", "output", "output_truncated", "status_reply", "exited"}

    def dispatch(self, f):
        if self.peer is None:
            self.handshake(f)
            return
        body = f.WhichOneof("body")
        sid = f.session
        if self.closing == "goodbye":
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "%s after the parent's Goodbye" % body)
        if body is None:
            self.on_unknown_body(f)
            return
        if body == "hello":
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "second Hello")
        if body in self.RUNNER_BODIES:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "%s is sent by runners, not parents" % body)
        if body == "error":
            if f.error.fatal or f.error.code in (pb.ERROR_CODE_PROTOCOL, pb.ERROR_CODE_VERSION_UNSUPPORTED,
                                                 pb.ERROR_CODE_TIMEOUT):
                self.log("the parent sent a fatal error: %s" % f.error.message)
                self.exit_code = 1
                self.closing = "eof"
                self.terminate_all(SHUTDOWN_GRACE)
            return                    # never answer an Error
        if body == "goodbye":
            if sid != 0:
                raise Fatal(pb.ERROR_CODE_PROTOCOL, "Goodbye on session %d" % sid)
            self.closing = "goodbye"
            self.terminate_all(TERMINATE_GRACE_MS / 1000.0)
            return
        if sid == 0:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "%s on session 0" % body)
        if body == "credit":
            return                    # no FLOW_CONTROL: Credit is ignored
        if body == "spawn":
            if sid in self.sessions:
                self.error(sid, pb.ERROR_CODE_SESSION_EXISTS, "session %d is live" % sid)
            else:
                self.start(sid, f.spawn)
            return
        s = self.sessions.get(sid)
        if s is None:
            self.error(sid, pb.ERROR_CODE_UNKNOWN_SESSION, "session %d is not live" % sid)
            return
        getattr(self, "on_" + body)(s, getattr(f, body))

    def on_unknown_body(self, f):
        self.error(f.session, pb.ERROR_CODE_UNSUPPORTED, "frame with no body or an unknown body type")

    # --------------------------------------------------------------- spawn

    def validate(self, sp):
        L, R = pb.SPAWN_STAGE_LIMITS, pb.SPAWN_STAGE_REQUEST
        if len(sp.argv) > ARGV_MAX_COUNT:
            raise SpawnRefused(L, pb.SPAWN_ERROR_LIMIT, "%d argv entries, limit %d" % (len(sp.argv), ARGV_MAX_COUNT))
        if sum(len(a) for a in sp.argv) > ARGV_MAX_BYTES:
            raise SpawnRefused(L, pb.SPAWN_ERROR_LIMIT, "argv larger than %d bytes" % ARGV_MAX_BYTES)
        if len(sp.env) > ENV_MAX_COUNT:
            raise SpawnRefused(L, pb.SPAWN_ERROR_LIMIT, "%d env entries, limit %d" % (len(sp.env), ENV_MAX_COUNT))
        if sum(len(e) for e in sp.env) > ENV_MAX_BYTES:
            raise SpawnRefused(L, pb.SPAWN_ERROR_LIMIT, "env larger than %d bytes" % ENV_MAX_BYTES)
        for what, p in (("cwd", sp.cwd), ("permission_profile_cwd", sp.permission_profile_cwd)):
            if len(p) > PATH_MAX_BYTES:
                raise SpawnRefused(L, pb.SPAWN_ERROR_LIMIT, "%s longer than %d bytes" % (what, PATH_MAX_BYTES))
        prof = sp.permission_profile
        for what, lst in (("writable_roots", prof.writable_roots), ("read_only_subpaths", prof.read_only_subpaths)):
            if len(lst) > PROFILE_MAX_PATHS or any(len(p) > PATH_MAX_BYTES for p in lst):
                raise SpawnRefused(L, pb.SPAWN_ERROR_LIMIT, "%s over %d entries or %d bytes"
                                   % (what, PROFILE_MAX_PATHS, PATH_MAX_BYTES))
        if not sp.argv:
            raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "argv is empty")
        if not sp.argv[0]:
            raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "argv[0] is empty")
        if any(b"\0" in a for a in sp.argv):
            raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "NUL byte in argv")
        for e in sp.env:
            if b"\0" in e or e.split(b"=", 1)[0] == b"":
                raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "env entry %r is invalid" % e[:40])
        if b"\0" in sp.cwd or b"\0" in sp.permission_profile_cwd:
            raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "NUL byte in a path")
        for what, v, hi in (("env_mode", sp.env_mode, 2), ("io_mode", sp.io_mode, 2), ("stdin_mode", sp.stdin_mode, 2),
                            ("filesystem", prof.filesystem, 3), ("network", prof.network, 2)):
            if v > hi:
                raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "unknown %s %d" % (what, v))
        if sp.pty_rows > 0xFFFF or sp.pty_cols > 0xFFFF:
            raise SpawnRefused(R, pb.SPAWN_ERROR_INVALID, "pty size out of range")
        lim = sp.limits
        asked = [f for f in LIMIT_RANGES if getattr(lim, f)]
        if asked and self.agreed < VERSION_LIMITS:
            raise SpawnRefused(L, pb.SPAWN_ERROR_UNSUPPORTED, "resource limits need protocol version %d; "
                               "this connection agreed on %d" % (VERSION_LIMITS, self.agreed))
        for f in asked:
            lo, hi = LIMIT_RANGES[f]
            v = getattr(lim, f)
            if not lo <= v <= hi:
                raise SpawnRefused(L, pb.SPAWN_ERROR_INVALID, "limits.%s = %d is outside %d..%d" % (f, v, lo, hi))
        if lim.processes:
            raise SpawnRefused(L, pb.SPAWN_ERROR_UNSUPPORTED,
                               "limits.processes cannot be enforced: this runner has no cgroup")
        if prof.filesystem in (pb.FILESYSTEM_MODE_READ_ONLY, pb.FILESYSTEM_MODE_WORKSPACE_WRITE) or \
                prof.network == pb.NETWORK_MODE_DENIED:
            raise SpawnRefused(pb.SPAWN_STAGE_PERMISSIONS, pb.SPAWN_ERROR_UNSUPPORTED,
                               "permission profiles are not enforced by this runner")

    @staticmethod
    def rlimits(lim):
        out = []
        if lim.cpu_ms:  # whole seconds: SIGXCPU at the limit, SIGKILL a second later
            s = (lim.cpu_ms + 999) // 1000
            out.append((resource.RLIMIT_CPU, (s, s + 1)))
        if lim.open_files:
            out.append((resource.RLIMIT_NOFILE, (lim.open_files, lim.open_files)))
        if lim.file_size_bytes:
            out.append((resource.RLIMIT_FSIZE, (lim.file_size_bytes, lim.file_size_bytes)))
        if lim.memory_bytes:  # per process: no cgroup here
            out.append((resource.RLIMIT_AS, (lim.memory_bytes, lim.memory_bytes)))
        return out

    def check_cwd(self, cwd):
        try:
            st = os.stat(cwd)
        except OSError as e:
            raise SpawnRefused(pb.SPAWN_STAGE_CWD, spawn_error_of(e.errno),
                               "chdir %r: %s" % (cwd.decode(errors="replace"), e.strerror), e.errno)
        if not stat.S_ISDIR(st.st_mode):
            raise SpawnRefused(pb.SPAWN_STAGE_CWD, pb.SPAWN_ERROR_NOT_A_DIRECTORY,
                               "chdir %r: Not a directory" % cwd.decode(errors="replace"), errno.ENOTDIR)
        if not os.access(cwd, os.X_OK):
            raise SpawnRefused(pb.SPAWN_STAGE_CWD, pb.SPAWN_ERROR_PERMISSION_DENIED,
                               "chdir %r: Permission denied" % cwd.decode(errors="replace"), errno.EACCES)

    def build_env(self, sp):
        env = {} if sp.env_mode == pb.ENV_MODE_CLEAR else dict(os.environb)
        for e in sp.env:
            name, eq, value = e.partition(b"=")
            if eq:
                env[name] = value
            else:
                env.pop(name, None)
        return env

    def start(self, sid, sp):
        if len(self.sessions) >= self.max_sessions:
            self.spawn_failed(sid, pb.SPAWN_STAGE_LIMITS, pb.SPAWN_ERROR_LIMIT,
                              "too many concurrent sessions (limit %d)" % self.max_sessions)
            return
        try:
            self.validate(sp)
            if sp.cwd:
                self.check_cwd(sp.cwd)
            s = Session(sid, sp)
            self.launch(s, sp)
        except SpawnRefused as r:
            self.spawn_failed(sid, r.stage, r.error, str(r), r.os_error)
            return
        self.sessions[sid] = s
        self.frame(sid, "spawned", pid=s.pid)
        if sp.timeout_ms:
            s.timeout_at = time.monotonic() + sp.timeout_ms / 1000.0
        self.log("session %d: pid %d %r" % (sid, s.pid, list(sp.argv)[:4]))

    def launch(self, s, sp):
        argv = list(sp.argv)
        env = self.build_env(sp)
        out_cap = sp.stdout_cap.bytes if sp.HasField("stdout_cap") else None
        err_cap = sp.stderr_cap.bytes if sp.HasField("stderr_cap") else None
        master = slave = None
        if s.pty:
            try:
                master, slave = os.openpty()
                rows, cols = sp.pty_rows or 24, sp.pty_cols or 80
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            except OSError as e:
                for fd in (master, slave):
                    if fd is not None:
                        os.close(fd)
                raise SpawnRefused(pb.SPAWN_STAGE_PTY, spawn_error_of(e.errno), "openpty: %s" % e.strerror, e.errno)
            stdin = stdout = stderr = slave

            def preexec():  # after setsid: the pty becomes the controlling terminal
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        else:
            stdin = subprocess.DEVNULL if sp.stdin_mode == pb.STDIN_MODE_NULL else subprocess.PIPE
            stdout = subprocess.PIPE
            stderr = subprocess.STDOUT if sp.merge_stderr else subprocess.PIPE
            preexec = None
        rlimits = self.rlimits(sp.limits)
        if rlimits:
            tty_setup = preexec

            def preexec():  # in the child, before exec
                if tty_setup:
                    tty_setup()
                for which, value in rlimits:
                    resource.setrlimit(which, value)
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                    cwd=sp.cwd or None, close_fds=True, start_new_session=True,
                                    restore_signals=True, preexec_fn=preexec, bufsize=0)
        except OSError as e:
            if master is not None:
                os.close(master)
                os.close(slave)
            if e.filename is None:   # before the child existed: pipes, fork
                raise SpawnRefused(pb.SPAWN_STAGE_SETUP, spawn_error_of(e.errno),
                                   "process setup: %s" % e.strerror, e.errno)
            stage = pb.SPAWN_STAGE_EXEC
            if sp.cwd and os.fsencode(e.filename) == sp.cwd and sp.cwd != argv[0]:
                stage = pb.SPAWN_STAGE_CWD   # the cwd changed under us since check_cwd
            raise SpawnRefused(stage, spawn_error_of(e.errno),
                               'exec "%s": %s' % (argv[0].decode(errors="replace"), e.strerror), e.errno)
        s.proc = proc
        s.pid = proc.pid
        if s.pty:
            os.close(slave)
            os.set_blocking(master, False)
            s.streams = [Stream(master, pb.STREAM_PTY, out_cap)]
            s.stdin_fd = master if s.stdin_open else None
        else:
            s.streams = [Stream(proc.stdout.fileno(), pb.STREAM_STDOUT, out_cap)]
            if proc.stderr is not None:
                s.streams.append(Stream(proc.stderr.fileno(), pb.STREAM_STDERR, err_cap))
            if proc.stdin is not None:
                s.stdin_fd = proc.stdin.fileno()
                os.set_blocking(s.stdin_fd, False)
            for st in s.streams:
                os.set_blocking(st.fd, False)

    # ------------------------------------------------------ session frames

    def on_stdin_data(self, s, m):
        if not s.stdin_open and not s.stdin_closed_by_parent:
            self.error(s.sid, pb.ERROR_CODE_INVALID, "session %d has stdin_mode NULL" % s.sid)
            return
        if s.stdin_closed_by_parent:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "Stdin after StdinClose on session %d" % s.sid)
        if not m.data:
            self.error(s.sid, pb.ERROR_CODE_INVALID, "Stdin with empty data")
            return
        if m.offset != s.stdin_offset:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "session %d: Stdin offset %d, expected %d"
                        % (s.sid, m.offset, s.stdin_offset))
        s.stdin_offset += len(m.data)
        if s.stdin_gone or s.stdin_fd is None:
            return                    # the child does not read any more: dropped silently
        if len(s.stdin_queue) + len(m.data) > STDIN_QUEUE_MAX:
            self.error(s.sid, pb.ERROR_CODE_LIMIT, "stdin queue of session %d is full (limit %d)"
                       % (s.sid, STDIN_QUEUE_MAX))
            return
        s.stdin_queue += m.data
        s.last_in = m.data[-1:]
        self.write_stdin(s)

    def on_stdin_close(self, s, m):
        if s.stdin_closed_by_parent:
            raise Fatal(pb.ERROR_CODE_PROTOCOL, "second StdinClose on session %d" % s.sid)
        if not s.stdin_open:
            self.error(s.sid, pb.ERROR_CODE_INVALID, "session %d has stdin_mode NULL" % s.sid)
            return
        s.stdin_closed_by_parent = True
        if s.pty and s.stdin_fd is not None and not s.stdin_gone:
            # end of input on a terminal: VEOF at the start of a line
            s.stdin_queue += (b"" if s.last_in in (b"\n", b"\r") else b"\x04") + b"\x04"
        self.write_stdin(s)

    def write_stdin(self, s):
        if s.stdin_fd is None:
            return
        while s.stdin_queue:
            try:
                n = os.write(s.stdin_fd, s.stdin_queue[:65536])
            except BlockingIOError:
                return
            except OSError:           # EPIPE / EIO: the child closed its input
                s.stdin_queue.clear()
                s.stdin_gone = True
                break
            del s.stdin_queue[:n]
        if s.stdin_closed_by_parent and not s.pty:
            s.proc.stdin.close()
            s.stdin_fd = None
        elif s.stdin_gone and not s.pty:
            s.proc.stdin.close()
            s.stdin_fd = None

    def on_resize(self, s, m):
        if not s.pty:
            self.error(s.sid, pb.ERROR_CODE_INVALID, "Resize on a pipes session")
        elif m.rows < 1 or m.cols < 1 or m.rows > 0xFFFF or m.cols > 0xFFFF:
            self.error(s.sid, pb.ERROR_CODE_INVALID, "Resize to %dx%d" % (m.rows, m.cols))
        elif not s.streams[0].eof:
            fcntl.ioctl(s.streams[0].fd, termios.TIOCSWINSZ, struct.pack("HHHH", m.rows, m.cols, 0, 0))

    def on_signal(self, s, m):
        sig = self.sig_to_os.get(m.signal)
        if m.signal == pb.SIGNAL_UNSPECIFIED or m.signal not in pb.SignalNumber.values():
            self.error(s.sid, pb.ERROR_CODE_INVALID, "unknown signal %d" % m.signal)
        elif sig is None:
            self.error(s.sid, pb.ERROR_CODE_UNSUPPORTED, "signal %d has no equivalent here" % m.signal)
        elif m.group:
            self.killpg(s, sig)
        elif not s.reaped:
            try:
                os.kill(s.pid, sig)
            except OSError:
                pass

    def on_terminate(self, s, m):
        self.terminate(s, (m.grace_ms or TERMINATE_GRACE_MS) / 1000.0)

    def on_status_request(self, s, m):
        self.frame(s.sid, "status_reply", running=not s.reaped, pid=s.pid)

    def killpg(self, s, sig):
        try:
            os.killpg(s.pid, sig)     # setsid made the child its group leader
        except OSError:
            pass

    def terminate(self, s, grace):
        self.killpg(s, signal.SIGTERM)
        at = time.monotonic() + grace
        if s.kill_at is None or at < s.kill_at:
            s.kill_at = at

    def terminate_all(self, grace):
        for s in self.sessions.values():
            self.terminate(s, grace)

    # ------------------------------------------------------------- output

    def chunk_size(self):
        return min(READ_CHUNK, self.peer_max_frame - ENVELOPE)

    def on_child_output(self, s, st):
        try:
            data = os.read(st.fd, self.chunk_size())
        except BlockingIOError:
            return
        except OSError:               # EIO: the pty's last slave closed
            data = b""
        if not data:
            self.end_stream(s, st)
            return
        if st.cap is not None:
            room = max(0, st.cap - st.sent)
            st.dropped += max(0, len(data) - room)
            data = data[:room]
        if data:
            self.send_output(s, st, data)

    def send_output(self, s, st, data):
        self.frame(s.sid, "output", stream=st.kind, data=data, offset=self.output_offset(s, st))
        st.sent += len(data)

    def output_offset(self, s, st):
        return st.sent

    def end_stream(self, s, st):
        st.eof = True
        if st.dropped:
            self.frame(s.sid, "output_truncated", stream=st.kind, dropped=st.dropped)
        if s.pty:
            s.stdin_fd = None
            os.close(st.fd)
        else:
            (s.proc.stdout if st.kind == pb.STREAM_STDOUT else s.proc.stderr).close()

    def reap(self):
        for s in self.sessions.values():
            if s.reaped:
                continue
            try:
                pid, status, ru = os.wait4(s.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status, ru = s.pid, 0, None
            if pid == 0:
                continue
            s.status, s.rusage = status, ru
            s.proc.returncode = os.waitstatus_to_exitcode(status)

    def finish(self):
        for sid in [sid for sid, s in self.sessions.items() if s.done()]:
            s = self.sessions.pop(sid)
            if s.proc.stdin is not None and s.stdin_fd is not None:
                try:
                    s.proc.stdin.close()
                except OSError:
                    pass
            self.send_exited(s)

    def exited_frame(self, s):
        f = pb.Frame(session=s.sid)
        e = f.exited
        st = s.status
        if os.WIFSIGNALED(st):
            raw = os.WTERMSIG(st)
            e.signal = self.sig_from_os.get(raw, pb.SIGNAL_UNSPECIFIED)
            e.raw_signal = raw
            e.core_dumped = os.WCOREDUMP(st)
        else:
            e.code = os.WEXITSTATUS(st) if os.WIFEXITED(st) else 0
        e.timed_out = s.timed_out
        if self.agreed >= VERSION_LIMITS:
            lim = s.spawn.limits
            raw = os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0
            if s.timed_out:
                e.limit = pb.EXIT_LIMIT_WALL_TIMEOUT
            elif raw == signal.SIGXCPU and lim.cpu_ms:
                e.limit = pb.EXIT_LIMIT_CPU
            elif raw == signal.SIGXFSZ and lim.file_size_bytes:
                e.limit = pb.EXIT_LIMIT_FILE_SIZE
        if s.rusage is not None:
            e.usage.user_time_us = int(s.rusage.ru_utime * 1e6)
            e.usage.system_time_us = int(s.rusage.ru_stime * 1e6)
            e.usage.max_rss_kib = s.rusage.ru_maxrss
        return f

    def send_exited(self, s):
        self.send(self.exited_frame(s))

    # --------------------------------------------------------------- loop

    def timers(self, now):
        if self.peer is None and self.closing is None and now >= self.deadline_handshake:
            raise Fatal(pb.ERROR_CODE_TIMEOUT, "no Hello from the parent within %d ms" % self.opts.handshake_timeout)
        for s in self.sessions.values():
            if s.timeout_at is not None and now >= s.timeout_at:
                s.timeout_at = None
                s.timed_out = True
                self.terminate(s, TERMINATE_GRACE_MS / 1000.0)
            if s.kill_at is not None and now >= s.kill_at:
                s.kill_at = None
                self.killpg(s, signal.SIGKILL)

    def next_timeout(self, now):
        ts = []
        if self.peer is None:
            ts.append(self.deadline_handshake)
        for s in self.sessions.values():
            ts += [t for t in (s.timeout_at, s.kill_at) if t is not None]
        if not ts:
            return None
        return max(0, min(ts) - now)

    def serve(self):
        self.outbuf += PREFACE
        hello = pb.Frame(session=0)
        h = hello.hello
        h.version_min, h.version_max = VERSION_MIN, VERSION_MAX
        h.role = pb.ROLE_RUNNER
        h.implementation = clip(self.opts.name, NAME_MAX_BYTES)
        h.implementation_version = self.version
        h.capabilities.extend(self.caps)
        h.max_frame_size = self.max_frame
        h.max_sessions = self.max_sessions
        self.send(hello)
        self.rfd_eof = False
        try:
            self.loop()
        except Fatal as e:
            self.log("fatal: %s" % e)
            if self.closing != "eof":
                self.error(0, e.code, str(e), fatal=True)
            self.closing = "fatal"
            self.exit_code = 1
            self.terminate_all(SHUTDOWN_GRACE)
            self.flush_blocking(2.0)
            self.shutdown_children()
        if self.closing == "goodbye":
            self.frame(0, "goodbye", reason="parent said goodbye")
        self.flush_blocking(5.0)
        return self.exit_code

    def shutdown_children(self):
        """After a fatal error: nothing more is sent; kill and reap."""
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self.sessions:
            self.reap()
            for s in list(self.sessions.values()):
                if s.reaped:
                    del self.sessions[s.sid]
            if time.monotonic() > deadline:
                for s in self.sessions.values():
                    self.killpg(s, signal.SIGKILL)
            time.sleep(0.02)

    def loop(self):
        while True:
            now = time.monotonic()
            self.timers(now)
            self.reap()
            self.finish()
            if self.closing is not None and not self.sessions:
                return
            want = {}   # fd -> (mask, [handlers])

            def add(fd, mask, handler):
                m, hs = want.get(fd, (0, []))
                want[fd] = (m | mask, hs + [(mask, handler)])
            if not self.rfd_eof and self.closing != "eof":
                add(self.rfd, select.POLLIN, ("chan", None, None))
            if self.outbuf:
                add(self.wfd, select.POLLOUT, ("chanw", None, None))
            add(self.wake_r, select.POLLIN, ("wake", None, None))
            reading = len(self.outbuf) < CHANNEL_HIGH_WATER
            for s in self.sessions.values():
                if reading:
                    for st in s.streams:
                        if not st.eof:
                            add(st.fd, select.POLLIN, ("out", s, st))
                if s.stdin_queue and s.stdin_fd is not None:
                    add(s.stdin_fd, select.POLLOUT, ("in", s, None))
            poll = select.poll()
            for fd, (mask, _) in want.items():
                poll.register(fd, mask)
            timeout = self.next_timeout(now)
            try:
                events = poll.poll(None if timeout is None else int(timeout * 1000) + 1)
            except InterruptedError:
                continue
            for fd, ev in events:
                for mask, (kind, s, st) in want[fd][1]:
                    # errors and hang-ups wake readers and writers alike
                    if not ev & (mask | select.POLLHUP | select.POLLERR | select.POLLNVAL):
                        continue
                    if kind == "chan":
                        self.on_input()
                    elif kind == "chanw":
                        self.flush()
                    elif kind == "wake":
                        try:
                            while os.read(self.wake_r, 4096):
                                pass
                        except BlockingIOError:
                            pass
                    elif kind == "out":
                        if s.sid in self.sessions and not st.eof:
                            self.on_child_output(s, st)
                    elif kind == "in":
                        if s.sid in self.sessions and s.stdin_fd is not None:
                            self.write_stdin(s)
            if self.outbuf:
                self.flush()


def main(runner_class=Runner, argv=None):
    ap = argparse.ArgumentParser(prog="runner.py", description="tether runner in Python")
    ap.add_argument("--stdio", action="store_true", help="the channel is stdin/stdout")
    ap.add_argument("--fd", help="inherited descriptors R[,W]")
    ap.add_argument("--max-sessions", type=int, default=SESSIONS_MAX_DEFAULT)
    ap.add_argument("--max-frame", type=int, default=FRAME_MAX_DEFAULT)
    ap.add_argument("--handshake-timeout", type=int, default=HANDSHAKE_TIMEOUT_MS)
    ap.add_argument("--name", default=runner_class.name)
    ap.add_argument("--proto", default=os.environ.get("TETHER_PROTO", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto", "tether", "v1", "tether.proto")))
    ap.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    opts, rest = ap.parse_known_args(argv)
    opts.rest = rest
    if bool(opts.stdio) == bool(opts.fd):
        ap.error("give exactly one of --stdio and --fd")
    if not (FRAME_MAX_MINIMUM <= opts.max_frame <= FRAME_MAX_CEILING):
        ap.error("--max-frame must be in [%d, %d]" % (FRAME_MAX_MINIMUM, FRAME_MAX_CEILING))
    if not (1 <= opts.max_sessions <= SESSIONS_MAX_CEILING):
        ap.error("--max-sessions must be in [1, %d]" % SESSIONS_MAX_CEILING)
    load_schema(opts.proto)
    if opts.stdio:
        # Move the channel off fd 0/1 so neither we nor a child can write
        # stray text into it (os.dup makes non-inheritable descriptors).
        rfd, wfd = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        sys.stdout = sys.stderr
    else:
        parts = opts.fd.split(",")
        rfd = int(parts[0])
        wfd = int(parts[1]) if len(parts) > 1 else rfd
        for fd in {rfd, wfd}:
            os.set_inheritable(fd, False)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    r = runner_class(rfd, wfd, opts)
    return r.serve()


if __name__ == "__main__":
    sys.exit(main())
