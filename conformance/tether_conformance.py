#!/usr/bin/python3
"""tether-conformance: checks a tether runner (or a parent) against the wire
protocol, docs/PROTOCOL.md + proto/tether/v1/tether.proto.

The kit is itself an independent implementation of the parent side, written
in Python from the schema (classes generated with `protoc --python_out` at
start-up into a temporary directory) and Debian's python3-protobuf.

  tether-conformance [--only N,NAME,..] [-v] [--platform posix|windows]
                     [--child PATH] -- RUNNER ARGS...
      Starts RUNNER ARGS once per check with the channel on its stdin/stdout
      (e.g. `tether-runner --stdio`) and runs the numbered suite. The
      children are standard POSIX commands, or with --child the portable
      tether-conf-child (conformance/child/); --platform windows expects
      the Windows values of docs/PROTOCOL.md 6.6 (class Target).
  tether-conformance --parent [--only ..] [-v] -- PARENT ARGS...
      Checks a parent program: the kit plays scripted runners (itself, in
      --as-runner mode) that PARENT starts as a shell command. PARENT ARGS
      may contain the token {runner} (replaced by that command) and
      {program} (replaced by the program argv, as separate words); without
      {runner} the kit appends `--runner CMD -- PROGRAM...`, the convention
      of tether-run.
  tether-conformance --list [--parent]
  tether-conformance --as-runner SCENARIO   (internal: a scripted runner on stdio)

Output: one line per check (`ok 3 spawn-success`, `FAIL 7 output-offsets:
why`, `skip 36 pty-session: skipped (runner does not advertise PTY)`), then
`N passed, N failed[, N skipped]`. Exit status 1 if any check failed, 2 on
usage errors.
"""

import argparse
import atexit
import errno
import fcntl
import os
import re
import select
import shlex
import shutil
import stat
import signal
import struct
import subprocess
import sys
import tempfile
import time

PREFACE = b"\0TETHER\n"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO = os.path.join(HERE, "..", "proto", "tether", "v1", "tether.proto")

# Values from include/tether/limits.h (the kit checks against the spec, so
# it carries its own copy rather than parsing the header).
FRAME_MAX_DEFAULT = 1 << 20
FRAME_MAX_MINIMUM = 64 << 10
FRAME_MAX_CEILING = 16 << 20
ARGV_MAX_COUNT = 4096
NAME_MAX_BYTES = 64
MESSAGE_MAX_BYTES = 1024
SESSIONS_MAX_CEILING = 65536

pb = None  # the generated module, set by load_schema()


def load_schema(proto_path):
    """protoc --python_out into a temporary directory, then import."""
    global pb
    proto_path = os.path.abspath(proto_path)
    # proto/tether/v1/tether.proto -> include root proto/
    root = os.path.dirname(os.path.dirname(os.path.dirname(proto_path)))
    rel = os.path.relpath(proto_path, root)
    out = tempfile.mkdtemp(prefix="tether-conformance-pb-")
    atexit.register(shutil.rmtree, out, True)
    protoc = os.environ.get("PROTOC", "protoc")
    r = subprocess.run([protoc, "--python_out=" + out, "-I", root, rel],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit("tether-conformance: protoc failed on %s:\n%s" % (proto_path, r.stdout.decode(errors="replace")))
    sys.path.insert(0, out)
    from tether.v1 import tether_pb2  # noqa: E402
    pb = tether_pb2


def enum_name(enum, value):
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


# ------------------------------------------------------------------ errors

class CheckFailed(Exception):
    pass


class Violation(CheckFailed):
    """The runner broke the protocol (seen by the kit's own parent checks)."""


class Skipped(Exception):
    pass


class CheckTimeout(BaseException):
    pass


def fail(msg, *a):
    raise CheckFailed(msg % a if a else msg)


def expect(cond, msg, *a):
    if not cond:
        fail(msg, *a)


# --------------------------------------------------------------- sessions

class Sess:
    """What the kit knows about one session, as the runner reports it."""

    def __init__(self, sid, spawn):
        self.sid = sid
        self.spawn = spawn
        self.state = "starting"  # -> running -> done
        self.pid = None
        self.failed = None       # SpawnFailed
        self.exited = None       # Exited
        self.out = {}            # stream -> bytearray
        self.nout = {}           # stream -> number of Output frames
        self.trunc = {}          # stream -> dropped
        self.errors = []         # Error messages on this session
        self.status = []         # StatusReply messages
        self.pending_status = 0
        self.t_done = None

    def data(self, stream):
        return bytes(self.out.get(stream, b""))

    def streams(self):
        if self.spawn.io_mode == pb.IO_MODE_PTY:
            return {pb.STREAM_PTY}
        if self.spawn.merge_stderr:
            return {pb.STREAM_STDOUT}
        return {pb.STREAM_STDOUT, pb.STREAM_STDERR}

    def capped(self, stream):
        if stream == pb.STREAM_STDERR:
            return self.spawn.HasField("stderr_cap")
        return self.spawn.HasField("stdout_cap")

    def describe_end(self):
        if self.failed is not None:
            f = self.failed
            return "SpawnFailed{%s, %s, os_error %d: %s}" % (
                enum_name(pb.SpawnStage, f.stage), enum_name(pb.SpawnError, f.error), f.os_error, f.message)
        if self.exited is not None:
            return "Exited{%s}" % exit_text(self.exited)
        return self.state


def exit_text(e):
    which = e.WhichOneof("status")
    if which == "code":
        return "code %d" % e.code
    if which == "signal":
        return "signal %s" % enum_name(pb.SignalNumber, e.signal)
    return "no status"


# ------------------------------------------------------------- connection

class Conn:
    """One runner process and the kit's end of its channel."""

    def __init__(self, kit, versions=(1, 1), role=None, max_frame=FRAME_MAX_DEFAULT,
                 caps=(), initial_window=0, max_window=0, send_preface=True,
                 send_hello=True, env_extra=None):
        self.kit = kit
        self.max_frame = max_frame
        self.buf = bytearray()
        self.preface_ok = False
        self.eof = False
        self.write_closed = False
        self.hello = None
        self.goodbye = None
        self.fatal = None        # first fatal Error frame received
        self.errors = []         # (session, Error)
        self.sessions = {}
        self.nframes = 0
        self.log = []            # short descriptions of received frames
        env = dict(os.environ)
        env["TETHER_CONF_KEEP"] = "kept"
        if env_extra:
            env.update(env_extra)
        self.errfile = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(kit.runner, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errfile, start_new_session=True, env=env)
        self.rfd = self.proc.stdout.fileno()
        self.wfd = self.proc.stdin.fileno()
        for fd in (self.rfd, self.wfd):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        kit.live.append(self)
        if send_preface:
            self.send_raw(PREFACE)
        if send_hello:
            self.send_hello(versions, role, max_frame, caps, initial_window, max_window)

    # -- sending

    def send_hello(self, versions=(1, 1), role=None, max_frame=FRAME_MAX_DEFAULT, caps=(),
                   initial_window=0, max_window=0):
        f = pb.Frame(session=0)
        h = f.hello
        h.version_min, h.version_max = versions
        h.role = pb.ROLE_PARENT if role is None else role
        h.implementation = "tether-conformance"
        h.implementation_version = "0.1.0"
        h.capabilities.extend(caps)
        h.max_frame_size = max_frame
        h.initial_window = initial_window
        h.max_window = max_window
        self.send(f)

    def send(self, frame):
        self.send_payload(frame.SerializeToString())

    def send_payload(self, payload):
        self.send_raw(struct.pack("<I", len(payload)) + payload)

    def send_raw(self, data, timeout=10.0):
        """Writes everything, reading meanwhile so neither side deadlocks.
        A closed channel is not an error here (checks look at what comes)."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view and not self.write_closed:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("timed out writing %d bytes to the runner", len(view))
            r, w, _ = select.select([] if self.eof else [self.rfd], [self.wfd], [], left)
            if r:
                self._fill()
            if w:
                try:
                    n = os.write(self.wfd, view[:65536])
                    view = view[n:]
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    self.write_closed = True

    def close_write(self):
        if not self.write_closed:
            self.write_closed = True
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def spawn(self, sid, argv, env=None, **kw):
        f = pb.Frame(session=sid)
        sp = f.spawn
        sp.argv.extend(a if isinstance(a, bytes) else a.encode() for a in argv)
        if env:
            sp.env.extend(e if isinstance(e, bytes) else e.encode() for e in env)
        for k, v in kw.items():
            if k in ("stdout_cap", "stderr_cap"):
                getattr(sp, k).bytes = v
                getattr(sp, k).SetInParent()
            elif k in ("cwd", "permission_profile_cwd") and isinstance(v, str):
                setattr(sp, k, v.encode())
            elif k == "permission_profile":
                sp.permission_profile.CopyFrom(v)
            elif k == "limits":
                sp.limits.CopyFrom(v)
            else:
                setattr(sp, k, v)
        s = self.sessions.get(sid)
        if s is None or s.state == "done":
            self.sessions[sid] = Sess(sid, sp)
        self.send(f)
        return self.sessions.get(sid)

    def simple(self, sid, body, **fields):
        f = pb.Frame(session=sid)
        m = getattr(f, body)
        m.SetInParent()
        for k, v in fields.items():
            setattr(m, k, v)
        if body == "status_request" and sid in self.sessions:
            self.sessions[sid].pending_status += 1
        self.send(f)

    def stdin(self, sid, data, offset):
        self.simple(sid, "stdin_data", data=data, offset=offset)

    # -- receiving

    def _fill(self):
        try:
            chunk = os.read(self.rfd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
        else:
            self.buf += chunk

    def _next_frame(self):
        if not self.preface_ok:
            n = min(len(self.buf), len(PREFACE))
            if bytes(self.buf[:n]) != PREFACE[:n]:
                raise Violation("not a tether peer: the runner's first bytes are %r" % bytes(self.buf[:16]))
            if n < len(PREFACE):
                return None
            del self.buf[:len(PREFACE)]
            self.preface_ok = True
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack_from("<I", self.buf)
        if n == 0:
            raise Violation("the runner sent a zero-length frame")
        if n > self.max_frame:
            raise Violation("the runner sent a %d-byte frame, above the kit's max_frame_size %d" % (n, self.max_frame))
        if len(self.buf) < 4 + n:
            return None
        payload = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        f = pb.Frame()
        try:
            f.ParseFromString(payload)
        except Exception as e:  # DecodeError
            raise Violation("the runner sent a frame that does not decode (%s): %s" % (e, payload[:32].hex()))
        self.nframes += 1
        self._track(f)
        return f

    def recv(self, deadline, what="a frame"):
        """Next frame, or None at end of stream. CheckFailed on timeout."""
        while True:
            f = self._next_frame()
            if f is not None:
                return f
            if self.eof:
                if self.buf:
                    raise Violation("the channel ended inside a frame (%d bytes left)" % len(self.buf))
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                fail("timed out waiting for %s", what)
            r, _, _ = select.select([self.rfd], [], [], left)
            if r:
                self._fill()

    def _track(self, f):
        """The kit's parent-side checks on every frame the runner sends."""
        body = f.WhichOneof("body")
        sid = f.session
        self.log.append("%s@%d" % (body, sid))
        if self.kit.verbose > 1:
            self.kit.note("  <- session %d %s" % (sid, body))
        if self.hello is None:
            if body == "hello" and sid == 0:
                h = f.hello
                if h.role != pb.ROLE_RUNNER:
                    raise Violation("Hello.role is %s, not ROLE_RUNNER" % enum_name(pb.Role, h.role))
                self.hello = h
                return
            if body == "error" and sid == 0:
                self.errors.append((sid, f.error))
                self.fatal = self.fatal or f.error
                return
            raise Violation("the runner's first frame is %s on session %d, not Hello" % (body, sid))
        if self.goodbye is not None:
            raise Violation("the runner sent %s after its Goodbye" % body)
        if body is None:
            raise Violation("the runner sent a frame with no body it may send in v1 (session %d)" % sid)
        if body == "hello":
            raise Violation("the runner sent a second Hello")
        if body in ("spawn", "stdin_data", "stdin_close", "resize", "signal", "terminate", "status_request"):
            raise Violation("the runner sent %s, which only a parent sends" % body)
        if body == "error":
            e = f.error
            if e.code == pb.ERROR_CODE_UNSPECIFIED:
                raise Violation("the runner sent Error{ERROR_CODE_UNSPECIFIED}")
            self.errors.append((sid, e))
            if sid in self.sessions:
                self.sessions[sid].errors.append(e)
            if e.fatal or e.code in (pb.ERROR_CODE_PROTOCOL, pb.ERROR_CODE_VERSION_UNSUPPORTED,
                                     pb.ERROR_CODE_TIMEOUT):
                if sid != 0:
                    raise Violation("fatal Error %s sent on session %d, not 0" % (enum_name(pb.ErrorCode, e.code), sid))
                self.fatal = self.fatal or e
            return
        if body == "goodbye":
            if sid != 0:
                raise Violation("Goodbye on session %d" % sid)
            self.goodbye = f.goodbye
            return
        if sid == 0:
            raise Violation("the runner sent %s on session 0" % body)
        s = self.sessions.get(sid)
        if s is None or s.state == "done":
            raise Violation("the runner sent %s for session %d, which is not live" % (body, sid))
        if s.state == "starting":
            if body == "spawned":
                s.state = "running"
                s.pid = f.spawned.pid
            elif body == "spawn_failed":
                s.state = "done"
                s.failed = f.spawn_failed
                s.t_done = time.monotonic()
            else:
                raise Violation("session %d: %s before Spawned/SpawnFailed" % (sid, body))
            return
        if body == "output":
            o = f.output
            st = o.stream
            if st not in s.streams():
                raise Violation("session %d: Output on stream %s, not valid for this session"
                                % (sid, enum_name(pb.Stream, st)))
            if not o.data:
                raise Violation("session %d: Output with empty data" % sid)
            if st in s.trunc:
                raise Violation("session %d: Output after OutputTruncated on %s" % (sid, enum_name(pb.Stream, st)))
            have = len(s.out.get(st, b""))
            if o.offset != have:
                raise Violation("session %d: %s offset gap: Output at offset %d, %d bytes received so far"
                                % (sid, enum_name(pb.Stream, st), o.offset, have))
            s.out.setdefault(st, bytearray()).extend(o.data)
            s.nout[st] = s.nout.get(st, 0) + 1
        elif body == "output_truncated":
            t = f.output_truncated
            if t.stream not in s.streams() or not s.capped(t.stream):
                raise Violation("session %d: OutputTruncated on uncapped stream %s" % (sid, enum_name(pb.Stream, t.stream)))
            if t.stream in s.trunc:
                raise Violation("session %d: second OutputTruncated on %s" % (sid, enum_name(pb.Stream, t.stream)))
            if t.dropped == 0:
                raise Violation("session %d: OutputTruncated with dropped 0" % sid)
            s.trunc[t.stream] = t.dropped
        elif body == "status_reply":
            if s.pending_status <= 0:
                raise Violation("session %d: StatusReply nobody asked for" % sid)
            s.pending_status -= 1
            s.status.append(f.status_reply)
        elif body == "credit":
            if f.credit.stream != pb.STREAM_STDIN:
                raise Violation("session %d: runner sent Credit for stream %s" % (sid, enum_name(pb.Stream, f.credit.stream)))
        elif body == "exited":
            if f.exited.WhichOneof("status") is None:
                raise Violation("session %d: Exited with neither code nor signal" % sid)
            s.state = "done"
            s.exited = f.exited
            s.t_done = time.monotonic()
        else:
            raise Violation("session %d: unexpected %s while running" % (sid, body))

    # -- waiting

    def until(self, pred, timeout=10.0, what="something", allow_fatal=False, allow_eof=False):
        deadline = time.monotonic() + timeout * self.kit.scale
        while not pred():
            if self.fatal is not None and not allow_fatal:
                fail("the runner sent a fatal Error{%s}: %s while the kit waited for %s",
                     enum_name(pb.ErrorCode, self.fatal.code), self.fatal.message, what)
            f = self.recv(deadline, what)
            if f is None:
                if pred():
                    return
                if allow_eof:
                    return
                fail("the runner closed the channel while the kit waited for %s%s", what, self.stderr_hint())
        return

    def open(self, timeout=10.0):
        self.until(lambda: self.hello is not None, timeout, "the runner's Hello")
        return self.hello

    def wait_spawned(self, sid, timeout=10.0):
        s = self.sessions[sid]
        self.until(lambda: s.state != "starting", timeout, "Spawned on session %d" % sid)
        if s.failed is not None:
            fail("session %d: %s, expected Spawned", sid, s.describe_end())
        return s

    def wait_done(self, sid, timeout=10.0):
        s = self.sessions[sid]
        self.until(lambda: s.state == "done", timeout, "the end (Exited/SpawnFailed) of session %d" % sid)
        return s

    def wait_exited(self, sid, timeout=10.0):
        s = self.wait_done(sid, timeout)
        if s.exited is None:
            fail("session %d: %s, expected Spawned then Exited", sid, s.describe_end())
        return s

    def wait_error(self, sid, timeout=10.0, after=0):
        """The first Error on session `sid` with index >= after in self.errors."""
        found = []

        def pred():
            for i, (es, e) in enumerate(self.errors):
                if i >= after and es == sid:
                    found.append(e)
                    return True
            return False
        self.until(pred, timeout, "an Error on session %d" % sid, allow_fatal=True)
        return found[0]

    def expect_fatal(self, code, timeout=10.0):
        """Error{code, fatal} on session 0, then the channel closes and the
        process exits."""
        n = len(self.errors)
        self.until(lambda: self.fatal is not None or self.eof or len(self.errors) > n, timeout,
                   "Error{%s, fatal}" % enum_name(pb.ErrorCode, code), allow_fatal=True, allow_eof=True)
        if self.fatal is None and len(self.errors) > n:
            sid, e = self.errors[n]
            fail("expected Error{%s, fatal} on session 0, got non-fatal Error{%s} on session %d: %s",
                 enum_name(pb.ErrorCode, code), enum_name(pb.ErrorCode, e.code), sid, e.message)
        if self.fatal is None:
            fail("the runner closed the channel without Error{%s, fatal}", enum_name(pb.ErrorCode, code))
        e = self.fatal
        expect(e.code == code, "expected Error{%s, fatal}, got Error{%s}: %s", enum_name(pb.ErrorCode, code),
               enum_name(pb.ErrorCode, e.code), e.message)
        expect(e.fatal, "Error{%s} is not marked fatal", enum_name(pb.ErrorCode, code))
        self.expect_close(timeout)
        return e

    def expect_close(self, timeout=10.0):
        """The runner closes the channel (EOF) and its process exits."""
        deadline = time.monotonic() + timeout * self.kit.scale
        while not self.eof:
            try:
                if self.recv(deadline, "the runner to close the channel") is None:
                    break
            except Violation:
                # garbage after a fatal error is still garbage, but what we
                # test here is that it closes
                raise
        rc = self.wait_process(max(0.1, deadline - time.monotonic()))
        return rc

    def wait_process(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("the runner process did not exit within %.1fs after closing", timeout)

    def stderr_hint(self):
        try:
            self.errfile.seek(0)
            txt = self.errfile.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        if not txt:
            return ""
        last = txt.splitlines()[-1]
        return " (runner stderr: %s)" % last[:200]

    def stderr_text(self):
        try:
            self.errfile.seek(0)
            return self.errfile.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""

    # -- teardown

    def goodbye_and_close(self, timeout=10.0):
        """Orderly end, as every non-fatal check finishes: Goodbye, end of
        stream, process exit. (Whether the runner answers with its own
        Goodbye is the `goodbye` check's business, not every check's.)"""
        self.simple(0, "goodbye", reason="done")
        self.until(lambda: self.goodbye is not None, timeout, "the runner to end after Goodbye", allow_eof=True)
        self.expect_close(timeout)

    def kill(self):
        """Ends the runner: first by closing the channel (so it ends its own
        sessions), then by force; then kills any session group left over."""
        if self.proc.poll() is None:
            self.close_write()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for s in self.sessions.values() if self.kit.target.host_pids else ():
            try:
                if s.pid and pid_alive(s.pid) and os.getpgid(s.pid) == s.pid:
                    os.killpg(s.pid, signal.SIGKILL)
            except OSError:
                pass
        for p in (self.proc.stdin, self.proc.stdout):
            try:
                p.close()
            except OSError:
                pass
        self.errfile.close()


def pid_alive(pid):
    """True if `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            st = fh.read()
        return st[st.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def wait_pids_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(pid_alive(p) for p in pids)


# ----------------------------------------------------------------- targets

class PidProbe:
    """Proof of life by process id (POSIX: Spawned.pid is a process here)."""

    def wait_alive(self, sess, timeout):
        return pid_alive(sess.pid)

    def gone(self, sess, timeout):
        return wait_pids_gone([sess.pid], timeout)


class BeatProbe:
    """Proof of life without a process id: the child rewrites a file every
    20 ms (tether-conf-child's op `beat`); it has gone when the file stops
    changing."""

    def __init__(self, path, quiet):
        self.path = path
        self.quiet = quiet

    def _read(self):
        try:
            with open(self.path, "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def wait_alive(self, sess, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._read():
                return True
            time.sleep(0.02)
        return False

    def gone(self, sess, timeout):
        deadline = time.monotonic() + timeout
        last, since = self._read(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            v = self._read()
            if v != last:
                last, since = v, time.monotonic()
            elif time.monotonic() - since >= self.quiet:
                return True
        return False


class Target:
    """What the checks need to know about the runner's platform.

    Programs: every check describes its child as a list of ops, those of
    tether-conf-child (conformance/child/conf_child.c). With --child the
    kit spawns that program; otherwise (POSIX only) each list becomes a
    standard command or an `sh -c` script, so any POSIX runner can be
    checked with nothing but the kit.

    Values: on Windows a few are platform-shaped (docs/PROTOCOL.md 6.6):
    Win32 error numbers, exit code 1 for a killed process, polite signals
    that reach only a child sharing the runner's console, paths on Wine's
    Z: drive. Every check is the same on both platforms otherwise."""

    def __init__(self, platform, child, scale):
        self.windows = platform == "windows"
        self.scale = scale
        self.child = self.path(os.path.abspath(child)) if child else None
        if self.windows and not self.child:
            sys.exit("tether-conformance: --platform windows needs --child PATH (tether-conf-child.exe)")
        self.host_pids = not self.windows  # Spawned.pid names a process on this machine
        self.polite_signals = not self.windows
        if self.windows:
            self.os_error_space = pb.OS_ERROR_SPACE_WIN32
            self.missing_program = "C:\\nonexistent\\tether-conformance"
            self.missing_dir = "C:\\nonexistent\\tether-conformance-dir"
            self.err_not_found, self.err_no_dir, self.err_not_dir = 2, 3, 267
            # a file that is not a program: the loader refuses it
            self.not_runnable = (pb.SPAWN_ERROR_NOT_EXECUTABLE, 193)
        else:
            self.os_error_space = pb.OS_ERROR_SPACE_POSIX
            self.missing_program = "/nonexistent/tether-conformance"
            self.missing_dir = "/nonexistent/tether-conformance-dir"
            self.err_not_found, self.err_no_dir, self.err_not_dir = errno.ENOENT, errno.ENOENT, errno.ENOTDIR
            # a file without execute permission
            self.not_runnable = (pb.SPAWN_ERROR_PERMISSION_DENIED, errno.EACCES)

    def path(self, p):
        """A path of this machine as the runner names it (Wine: Z: is /)."""
        return "Z:" + p.replace("/", "\\") if self.windows else p

    def same_path(self, a, b):
        return a.lower() == b.lower() if self.windows else a == b

    def os_error_name(self, n):
        return "Win32 error %d" % n if self.windows else errno.errorcode.get(n, str(n))

    # -- programs

    def argv(self, *ops):
        """The argv running `ops` in order, e.g. argv(("out", "hi"), ("exit", 3))."""
        if self.child:
            return [self.child] + [str(w) for op in ops for w in op]
        if not ops:
            return ["true"]
        if len(ops) == 1:
            direct = self._direct(*ops[0])
            if direct:
                return direct
        return ["/bin/sh", "-c", "; ".join(self._sh(*op) for op in ops)]

    @staticmethod
    def _direct(op, *a):
        if op == "out":
            return ["echo", a[0]]
        if op == "sleep":
            return ["sleep", "%g" % (a[0] / 1000.0)]
        if op == "cat":
            return ["cat"]
        if op == "count":
            return ["wc", "-c"]
        if op == "zeros":
            return ["head", "-c", str(a[0]), "/dev/zero"]
        if op == "cwd":
            return ["pwd", "-P"]
        if op == "fill":  # write a[1] bytes to file a[0], in 64 KiB blocks
            return ["dd", "if=/dev/zero", "of=" + a[0], "bs=65536", "count=%d" % (a[1] // 65536)]
        return None

    @staticmethod
    def _sh(op, *a):
        q = shlex.quote
        if op in ("out", "err"):
            return "printf '%%s\\n' %s%s" % (q(a[0]), " >&2" if op == "err" else "")
        if op == "outn":
            return "printf %%s %s" % q(a[0])
        if op == "lines":
            return ("i=1; while [ $i -le %d ]; do echo out$i; echo err$i >&2; i=$((i+1)); done" % a[0])
        if op in ("seq", "seqerr"):
            return "seq 1 %d%s" % (a[0], " >&2" if op == "seqerr" else "")
        if op == "env":
            return 'echo "%s"' % ":".join("${%s-unset}" % n for n in a[0].split(","))
        if op == "ignore-term":
            return "trap '' TERM"
        if op == "exit":
            return "exit %d" % a[0]
        if op == "write":
            return "echo x > %s" % q(a[0])
        if op == "chmod":
            return "chmod 777 %s" % q(a[0])
        if op == "tiocsti":
            return ("python3 -c 'import fcntl, termios; fcntl.ioctl(0, termios.TIOCSTI, b\"#\")' "
                    "2>/dev/null")
        if op == "spin":  # burn CPU until killed
            return "while :; do :; done"
        direct = Target._direct(op, *a)
        if direct:
            return " ".join(q(w) for w in direct)
        raise ValueError("op %r has no sh form (use --child)" % op)

    def long_child(self, k, name, ignore_term=False, ready=False):
        """A child that lives until it is killed, and a probe that tells
        when it has gone (by pid, or by its heartbeat file with --child)."""
        ops = [("ignore-term",)] if ignore_term else []
        if ready:
            ops.append(("out", "ready"))
        if self.child:
            beat = os.path.join(k.tmpdir, name + ".beat")
            ops.append(("beat", self.path(beat), 1000000))
            return self.argv(*ops), BeatProbe(beat, max(1.0, 0.5 * self.scale))
        ops.append(("sleep", 1000000))
        return self.argv(*ops), PidProbe()

    # -- how a session ended

    def killed(self, e):
        """Ended by KILL, Terminate's kill, or the timeout."""
        if self.windows:
            return e.WhichOneof("status") == "code" and e.code == 1
        return e.WhichOneof("status") == "signal" and e.signal == pb.SIGNAL_KILL

    def terminated(self, e):
        """Ended by Terminate (the polite stop, or the kill after the grace
        where the polite stop does not reach: CTRL_BREAK without a shared
        console ends the child with 0xC000013A, the kill with 1)."""
        if self.windows:
            return e.WhichOneof("status") == "code" and e.code in (1, 0xC000013A)
        return e.WhichOneof("status") == "signal" and e.signal == pb.SIGNAL_TERM

    def timed_out(self, e):
        if self.windows:
            return e.timed_out and e.WhichOneof("status") == "code"
        return e.timed_out and e.WhichOneof("status") == "signal"


# ------------------------------------------------------------------- suite

CHECKS = []


def check(name, timeout=30, needs=None, parent=False):
    def deco(fn):
        (PARENT_CHECKS if parent else CHECKS).append((name, fn, timeout, needs))
        return fn
    return deco


PARENT_CHECKS = []


def need_cap(c, cap):
    if cap not in c.hello.capabilities:
        raise Skipped("skipped (runner does not advertise %s)" % enum_name(pb.Capability, cap)[len("CAPABILITY_"):])


@check("handshake")
def t_handshake(k):
    c = k.conn()
    h = c.open()
    expect(h.version_min >= 1, "Hello.version_min is %d, must be >= 1", h.version_min)
    expect(h.version_min <= h.version_max, "Hello version range %d..%d is empty", h.version_min, h.version_max)
    expect(h.version_min <= 1 <= h.version_max, "version range %d..%d does not contain 1", h.version_min, h.version_max)
    expect(h.role == pb.ROLE_RUNNER, "role is not RUNNER")
    impl = h.implementation.encode()
    expect(0 < len(impl) <= NAME_MAX_BYTES, "implementation name %r is empty or longer than 64 bytes", h.implementation)
    expect(len(h.implementation_version.encode()) <= NAME_MAX_BYTES, "implementation_version longer than 64 bytes")
    expect(FRAME_MAX_MINIMUM <= h.max_frame_size <= FRAME_MAX_CEILING,
           "max_frame_size %d outside [65536, 16777216]", h.max_frame_size)
    expect(1 <= h.max_sessions <= SESSIONS_MAX_CEILING, "max_sessions %d outside [1, 65536]", h.max_sessions)
    expect(pb.CAPABILITY_PIPES in h.capabilities, "the runner does not list CAPABILITY_PIPES")
    caps = [enum_name(pb.Capability, x)[len("CAPABILITY_"):] for x in h.capabilities]
    k.info("runner %s %s, versions %d..%d, capabilities %s, max frame %d, max sessions %d" % (
        h.implementation, h.implementation_version, h.version_min, h.version_max, ",".join(caps),
        h.max_frame_size, h.max_sessions))
    c.goodbye_and_close()


@check("version-negotiation")
def t_version_negotiation(k):
    c = k.conn(versions=(1, 5))
    h = c.open()
    agreed = min(5, h.version_max)
    expect(agreed >= max(1, h.version_min), "no common version with 1..5 (runner %d..%d)", h.version_min, h.version_max)
    k.info("offered 1..5, runner speaks %d..%d: agreed version %d" % (h.version_min, h.version_max, agreed))
    c.spawn(1, k.target.argv())
    s = c.wait_exited(1)
    expect(s.exited.code == 0 and s.exited.WhichOneof("status") == "code", "true: %s", s.describe_end())
    expect(not c.errors, "unexpected Error after offering 1..5: %s", c.errors and c.errors[0][1].message)
    c.goodbye_and_close()


@check("version-unsupported")
def t_version_unsupported(k):
    lo, hi = 7, 9
    c = k.conn(versions=(lo, hi))
    e = c.expect_fatal(pb.ERROR_CODE_VERSION_UNSUPPORTED)
    nums = set(int(x) for x in re.findall(r"\d+", e.message))
    want = {lo, hi}
    if c.hello is not None:
        want |= {c.hello.version_min, c.hello.version_max}
    expect(want <= nums, "the message %r does not name both ranges (%s)", e.message,
           ", ".join(str(x) for x in sorted(want)))


@check("bad-preface")
def t_bad_preface(k):
    c = k.conn(send_preface=False, send_hello=False)
    c.send_raw(b"hello there, runner!\n")
    deadline = time.monotonic() + 10 * k.scale
    while True:
        try:
            f = c.recv(deadline, "the runner to close the channel")
        except Violation:
            raise
        if f is None:
            break
        b = f.WhichOneof("body")
        expect(b in ("hello", "error"), "the runner sent %s after a bad preface", b)
    c.wait_process(10 * k.scale)


@check("first-frame-not-hello")
def t_first_not_hello(k):
    c = k.conn(send_hello=False)
    f = pb.Frame(session=1)
    f.status_request.SetInParent()
    c.send(f)
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("bad-hello")
def t_bad_hello(k):
    c = k.conn(role=pb.ROLE_RUNNER)  # a parent claiming to be a runner
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)
    c2 = k.conn(max_frame=1000)      # below TETHER_FRAME_MAX_MINIMUM
    c2.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("spawn-success")
def t_spawn_success(k):
    c = k.conn()
    c.open()
    t = k.target
    c.spawn(1, t.argv(("out", "hello")))
    s = c.wait_exited(1)
    expect(s.pid, "Spawned.pid is 0")
    expect(s.data(pb.STREAM_STDOUT) == b"hello\n", "stdout %r, expected 'hello\\n'", s.data(pb.STREAM_STDOUT))
    expect(s.exited.WhichOneof("status") == "code" and s.exited.code == 0, "echo: %s", s.describe_end())
    c.spawn(2, t.argv(("exit", 7)))
    s = c.wait_exited(2)
    expect(s.exited.WhichOneof("status") == "code" and s.exited.code == 7, "exit 7: %s", s.describe_end())
    expect(not c.errors, "unexpected Error: %s", c.errors and c.errors[0][1].message)
    c.goodbye_and_close()


@check("spawn-env-cwd")
def t_env_cwd(k):
    c = k.conn()
    c.open()
    t = k.target
    show = t.argv(("env", "FOO,TETHER_CONF_KEEP,HOME"))
    c.spawn(1, show, env=["FOO=bar"], env_mode=pb.ENV_MODE_CLEAR)
    s = c.wait_exited(1)
    expect(s.data(pb.STREAM_STDOUT) == b"bar:unset:unset\n", "CLEAR env: %r", s.data(pb.STREAM_STDOUT))
    c.spawn(2, show, env=["FOO=baz", "HOME", "FOO=qux"])
    s = c.wait_exited(2)
    expect(s.data(pb.STREAM_STDOUT) == b"qux:kept:unset\n", "OVERLAY env (FOO=baz, HOME removed, FOO=qux): %r",
           s.data(pb.STREAM_STDOUT))
    d = t.path(os.path.realpath(k.tmpdir))
    c.spawn(3, t.argv(("cwd",)), cwd=d)
    s = c.wait_exited(3)
    got = s.data(pb.STREAM_STDOUT).decode(errors="replace")
    expect(got.endswith("\n") and t.same_path(got[:-1], d), "cwd %s: the child printed %r", d, got)
    c.goodbye_and_close()


def expect_spawn_failed(c, sid, stage, error, os_err=None):
    t = c.kit.target
    s = c.wait_done(sid)
    expect(s.failed is not None, "session %d: %s, expected SpawnFailed{%s, %s}", sid, s.describe_end(),
           enum_name(pb.SpawnStage, stage), enum_name(pb.SpawnError, error))
    f = s.failed
    expect(f.stage == stage and f.error == error, "session %d: %s, expected SpawnFailed{%s, %s}", sid,
           s.describe_end(), enum_name(pb.SpawnStage, stage), enum_name(pb.SpawnError, error))
    if os_err is not None:
        expect(f.os_error == os_err and f.os_error_space == t.os_error_space,
               "session %d: os_error %d (space %s), expected %d (%s, %s)", sid, f.os_error,
               enum_name(pb.OsErrorSpace, f.os_error_space), os_err, t.os_error_name(os_err),
               enum_name(pb.OsErrorSpace, t.os_error_space))
    else:
        expect(f.os_error == 0 and f.os_error_space == pb.OS_ERROR_SPACE_UNSPECIFIED,
               "session %d: os_error %d space %s, expected none for a %s failure", sid, f.os_error,
               enum_name(pb.OsErrorSpace, f.os_error_space), enum_name(pb.SpawnStage, stage))
    expect(f.message, "session %d: SpawnFailed.message is empty", sid)
    return f


@check("spawn-fail-not-found")
def t_not_found(k):
    c = k.conn()
    c.open()
    t = k.target
    c.spawn(1, [t.missing_program])
    expect_spawn_failed(c, 1, pb.SPAWN_STAGE_EXEC, pb.SPAWN_ERROR_NOT_FOUND, t.err_not_found)
    c.spawn(2, ["tether-conformance-no-such-program"])
    expect_spawn_failed(c, 2, pb.SPAWN_STAGE_EXEC, pb.SPAWN_ERROR_NOT_FOUND, t.err_not_found)
    c.spawn(1, t.argv())  # the failed id is free again
    s = c.wait_exited(1)
    expect(s.exited.code == 0, "reused id 1: %s", s.describe_end())
    c.goodbye_and_close()


@check("spawn-fail-permission")
def t_permission(k):
    path = os.path.join(k.tmpdir, "not-executable")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\necho hi\n")
    os.chmod(path, 0o644)
    c = k.conn()
    c.open()
    t = k.target
    c.spawn(1, [t.path(path)])
    error, os_err = t.not_runnable
    expect_spawn_failed(c, 1, pb.SPAWN_STAGE_EXEC, error, os_err)
    c.goodbye_and_close()


@check("spawn-fail-cwd")
def t_bad_cwd(k):
    c = k.conn()
    c.open()
    t = k.target
    c.spawn(1, t.argv(), cwd=t.missing_dir)
    expect_spawn_failed(c, 1, pb.SPAWN_STAGE_CWD, pb.SPAWN_ERROR_NOT_FOUND, t.err_no_dir)
    f = os.path.join(k.tmpdir, "a-file")
    open(f, "w").close()
    c.spawn(2, t.argv(), cwd=t.path(f))
    expect_spawn_failed(c, 2, pb.SPAWN_STAGE_CWD, pb.SPAWN_ERROR_NOT_A_DIRECTORY, t.err_not_dir)
    # the cwd is checked before the program: a bad cwd with a missing program is a CWD failure
    c.spawn(3, [t.missing_program], cwd=t.missing_dir)
    expect_spawn_failed(c, 3, pb.SPAWN_STAGE_CWD, pb.SPAWN_ERROR_NOT_FOUND, t.err_no_dir)
    c.goodbye_and_close()


@check("spawn-fail-request")
def t_bad_request(k):
    c = k.conn()
    c.open()
    c.spawn(1, [])
    expect_spawn_failed(c, 1, pb.SPAWN_STAGE_REQUEST, pb.SPAWN_ERROR_INVALID)
    c.spawn(2, ["echo", b"a\0b"])
    expect_spawn_failed(c, 2, pb.SPAWN_STAGE_REQUEST, pb.SPAWN_ERROR_INVALID)
    c.spawn(3, [b""])
    expect_spawn_failed(c, 3, pb.SPAWN_STAGE_REQUEST, pb.SPAWN_ERROR_INVALID)
    c.spawn(4, k.target.argv(), env=["=x"])
    expect_spawn_failed(c, 4, pb.SPAWN_STAGE_REQUEST, pb.SPAWN_ERROR_INVALID)
    c.spawn(5, k.target.argv(), stdin_mode=77)
    expect_spawn_failed(c, 5, pb.SPAWN_STAGE_REQUEST, pb.SPAWN_ERROR_INVALID)
    expect(not c.errors, "a bad Spawn drew an Error frame (%s), not only SpawnFailed",
           c.errors and c.errors[0][1].message)
    c.goodbye_and_close()


@check("output-offsets")
def t_output_offsets(k):
    c = k.conn()
    c.open()
    n = 300
    c.spawn(1, k.target.argv(("lines", n), ("outn", "tail")))
    s = c.wait_exited(1, 30)
    want_out = b"".join(b"out%d\n" % i for i in range(1, n + 1)) + b"tail"
    want_err = b"".join(b"err%d\n" % i for i in range(1, n + 1))
    expect(s.data(pb.STREAM_STDOUT) == want_out, "stdout differs (%d bytes, expected %d)",
           len(s.data(pb.STREAM_STDOUT)), len(want_out))
    expect(s.data(pb.STREAM_STDERR) == want_err, "stderr differs (%d bytes, expected %d)",
           len(s.data(pb.STREAM_STDERR)), len(want_err))
    expect(s.exited.code == 0, "%s", s.describe_end())
    k.info("%d stdout and %d stderr Output frames" % (s.nout.get(1, 0), s.nout.get(2, 0)))
    c.goodbye_and_close()


@check("output-cap-merge")
def t_output_cap(k):
    c = k.conn()
    c.open()
    t = k.target
    c.spawn(1, t.argv(("out", "hello world"), ("err", "oops")), stdout_cap=5, stderr_cap=0)
    s = c.wait_exited(1)
    expect(s.data(pb.STREAM_STDOUT) == b"hello", "capped stdout %r, expected 'hello'", s.data(pb.STREAM_STDOUT))
    expect(s.trunc.get(pb.STREAM_STDOUT) == 7, "OutputTruncated(stdout) dropped %s, expected 7",
           s.trunc.get(pb.STREAM_STDOUT))
    expect(s.data(pb.STREAM_STDERR) == b"", "stderr cap 0 let bytes through")
    expect(s.trunc.get(pb.STREAM_STDERR) == 5, "OutputTruncated(stderr) dropped %s, expected 5",
           s.trunc.get(pb.STREAM_STDERR))
    c.spawn(2, t.argv(("out", "a"), ("err", "b"), ("cat",), ("out", "c")), merge_stderr=True,
            stdin_mode=pb.STDIN_MODE_NULL)
    s = c.wait_exited(2)
    expect(s.data(pb.STREAM_STDOUT) == b"a\nb\nc\n", "merge_stderr + stdin NULL: stdout %r", s.data(pb.STREAM_STDOUT))
    c.goodbye_and_close()


@check("stdin-cat")
def t_stdin(k):
    c = k.conn()
    c.open()
    c.spawn(1, k.target.argv(("cat",)))
    c.stdin(1, b"hello ", 0)  # right after Spawn, without waiting for Spawned
    c.wait_spawned(1)
    c.stdin(1, b"world", 6)
    c.simple(1, "stdin_close")
    s = c.wait_exited(1)
    expect(s.data(pb.STREAM_STDOUT) == b"hello world", "cat echoed %r", s.data(pb.STREAM_STDOUT))
    expect(s.exited.code == 0, "%s", s.describe_end())
    expect(not s.errors, "Error on the session: %s", s.errors and s.errors[0].message)
    # a lot more than a pipe buffer
    c.spawn(2, k.target.argv(("count",)))
    chunk = b"x" * 32768
    for i in range(16):
        c.stdin(2, chunk, i * len(chunk))
    c.simple(2, "stdin_close")
    s = c.wait_exited(2, 30)
    expect(s.data(pb.STREAM_STDOUT).strip() == b"524288", "the child counted %r bytes, expected 524288",
           s.data(pb.STREAM_STDOUT))
    c.goodbye_and_close()


@check("stdin-offset-gap")
def t_stdin_gap(k):
    c = k.conn()
    c.open()
    c.spawn(1, k.target.argv(("cat",)))
    c.wait_spawned(1)
    c.stdin(1, b"abc", 0)
    c.stdin(1, b"def", 5)  # gap: expected 3
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("signal-term", needs="SIGNALS")
def t_signal(k):
    c = k.conn()
    c.open()
    need_cap(c, pb.CAPABILITY_SIGNALS)
    t = k.target
    c.spawn(1, t.argv(("sleep", 100000)))
    s = c.wait_spawned(1)
    c.simple(1, "signal", signal=pb.SIGNAL_TERM)
    if t.polite_signals:
        s = c.wait_exited(1)
        expect(s.exited.WhichOneof("status") == "signal" and s.exited.signal == pb.SIGNAL_TERM,
               "after Signal{TERM}: %s", s.describe_end())
        expect(s.exited.raw_signal == signal.SIGTERM, "raw_signal %d, expected %d", s.exited.raw_signal,
               signal.SIGTERM)
    else:
        # Windows: TERM is CTRL_BREAK, which reaches the child only if it
        # shares the runner's console (PROTOCOL.md 6.6); then KILL ends it.
        try:
            c.until(lambda: s.state == "done", 1, "the child to take CTRL_BREAK")
        except CheckFailed:
            pass
        expect(not s.errors, "Signal{TERM}: Error{%s}", s.errors and enum_name(pb.ErrorCode, s.errors[0].code))
        if s.state != "done":
            c.simple(1, "signal", signal=pb.SIGNAL_KILL)
        s = c.wait_exited(1)
        expect(t.terminated(s.exited), "after Signal{TERM} (then KILL): %s", s.describe_end())
    if pb.CAPABILITY_PROCESS_GROUPS in c.hello.capabilities:
        c.spawn(2, t.argv(("sleep", 100000), ("exit", 3)))
        c.wait_spawned(2)
        c.simple(2, "signal", signal=pb.SIGNAL_KILL, group=True)  # the child and what it started
        s = c.wait_exited(2)
        expect(t.killed(s.exited), "after Signal{KILL, group}: %s", s.describe_end())
    c.goodbye_and_close()


@check("signal-invalid", needs="SIGNALS")
def t_signal_invalid(k):
    c = k.conn()
    c.open()
    need_cap(c, pb.CAPABILITY_SIGNALS)
    c.spawn(1, k.target.argv(("sleep", 100000)))
    s = c.wait_spawned(1)
    for value in (0, 99):
        n = len(c.errors)
        c.simple(1, "signal", signal=value)
        e = c.wait_error(1, after=n)
        expect(e.code == pb.ERROR_CODE_INVALID and not e.fatal,
               "Signal{%d}: Error{%s, fatal=%s}, expected non-fatal INVALID (PROTOCOL.md 5.6)", value,
               enum_name(pb.ErrorCode, e.code), e.fatal)
    expect(s.state == "running", "the session ended: %s", s.describe_end())
    c.goodbye_and_close()


@check("terminate")
def t_terminate(k):
    c = k.conn()
    c.open()
    t = k.target
    c.spawn(1, t.argv(("sleep", 100000)))
    c.wait_spawned(1)
    c.simple(1, "terminate")
    s = c.wait_exited(1)
    expect(t.terminated(s.exited), "Terminate on a sleeping child: %s", s.describe_end())
    c.spawn(2, t.argv(("ignore-term",), ("out", "ready"), ("sleep", 100000)))
    c.until(lambda: c.sessions[2].data(pb.STREAM_STDOUT) == b"ready\n", 10, "'ready' from the TERM-proof child")
    t0 = time.monotonic()
    c.simple(2, "terminate", grace_ms=300)
    s = c.wait_exited(2)
    dt = s.t_done - t0
    expect(t.killed(s.exited), "Terminate{grace 300ms} on a child that ignores TERM: %s, expected the kill",
           s.describe_end())
    expect(0.25 <= dt < 5, "killed after %.2fs, expected about 0.3s", dt)
    c.goodbye_and_close()


@check("spawn-timeout")
def t_timeout(k):
    c = k.conn()
    c.open()
    t0 = time.monotonic()
    c.spawn(1, k.target.argv(("sleep", 100000)), timeout_ms=300)
    s = c.wait_exited(1)
    dt = s.t_done - t0
    expect(s.exited.timed_out, "Exited.timed_out is false after timeout_ms 300: %s", s.describe_end())
    expect(k.target.timed_out(s.exited), "timed out child: %s", s.describe_end())
    expect(0.25 <= dt < 5, "timed out after %.2fs, expected about 0.3s", dt)
    c.goodbye_and_close()


@check("status")
def t_status(k):
    c = k.conn()
    c.open()
    c.spawn(1, k.target.argv(("sleep", 100000)))
    s = c.wait_spawned(1)
    c.simple(1, "status_request")
    c.until(lambda: s.status, 10, "StatusReply")
    r = s.status[0]
    expect(r.running and r.pid == s.pid, "StatusReply{running %s, pid %d}, expected running with pid %d",
           r.running, r.pid, s.pid)
    c.simple(1, "terminate", grace_ms=100)
    c.wait_exited(1)
    n = len(c.errors)
    c.simple(1, "status_request")
    e = c.wait_error(1, after=n)
    expect(e.code == pb.ERROR_CODE_UNKNOWN_SESSION and not e.fatal,
           "StatusRequest after Exited: Error{%s}, expected UNKNOWN_SESSION", enum_name(pb.ErrorCode, e.code))
    c.goodbye_and_close()


@check("exit-after-drain", timeout=90)
def t_drain(k):
    # the kit accepts only 64 KiB frames here: the runner must split
    c = k.conn(max_frame=FRAME_MAX_MINIMUM)
    c.open()
    n = 200000
    c.spawn(1, k.target.argv(("seq", n), ("seqerr", n), ("exit", 3)))
    s = c.wait_exited(1, 60)
    want = b"".join(b"%d\n" % i for i in range(1, n + 1))
    got_o, got_e = s.data(pb.STREAM_STDOUT), s.data(pb.STREAM_STDERR)
    expect(got_o == want, "stdout: %d of %d bytes before Exited", len(got_o), len(want))
    expect(got_e == want, "stderr: %d of %d bytes before Exited", len(got_e), len(want))
    expect(s.exited.code == 3, "%s", s.describe_end())
    c.goodbye_and_close()


@check("many-sessions", timeout=90)
def t_many(k):
    c = k.conn()
    h = c.open()
    n = min(50, h.max_sessions)
    for i in range(1, n + 1):
        c.spawn(i, k.target.argv(("out", "out %d" % i), ("err", "err %d" % i), ("exit", i)))
    for i in range(1, n + 1):
        s = c.wait_exited(i, 60)
        expect(s.data(pb.STREAM_STDOUT) == b"out %d\n" % i, "session %d stdout %r", i, s.data(pb.STREAM_STDOUT))
        expect(s.data(pb.STREAM_STDERR) == b"err %d\n" % i, "session %d stderr %r", i, s.data(pb.STREAM_STDERR))
        expect(s.exited.code == i, "session %d: %s", i, s.describe_end())
    k.info("%d concurrent sessions" % n)
    c.goodbye_and_close()


@check("session-exists")
def t_session_exists(k):
    c = k.conn()
    c.open()
    c.spawn(1, k.target.argv(("sleep", 100000)))
    s = c.wait_spawned(1)
    c.spawn(1, k.target.argv())
    e = c.wait_error(1)
    expect(e.code == pb.ERROR_CODE_SESSION_EXISTS and not e.fatal, "Spawn on a live id: Error{%s}, expected SESSION_EXISTS",
           enum_name(pb.ErrorCode, e.code))
    expect(s.state == "running", "the live session was disturbed: %s", s.describe_end())
    c.goodbye_and_close()


@check("unknown-session")
def t_unknown_session(k):
    c = k.conn()
    c.open()
    for sid, body, kw in ((77, "stdin_data", {"data": b"x"}), (78, "status_request", {}),
                          (79, "terminate", {}), (80, "stdin_close", {})):
        n = len(c.errors)
        c.simple(sid, body, **kw)
        e = c.wait_error(sid, after=n)
        expect(e.code == pb.ERROR_CODE_UNKNOWN_SESSION, "%s on unknown session %d: Error{%s}", body, sid,
               enum_name(pb.ErrorCode, e.code))
        expect(not e.fatal, "UNKNOWN_SESSION marked fatal")
    # an Error for an unknown session is never answered
    n = len(c.errors)
    f = pb.Frame(session=81)
    f.error.code = pb.ERROR_CODE_INTERNAL
    f.error.message = "the parent complains about nothing"
    c.send(f)
    c.spawn(2, k.target.argv(("out", "still here")))
    s = c.wait_exited(2)
    expect(s.data(pb.STREAM_STDOUT) == b"still here\n", "after UNKNOWN_SESSION: %r", s.data(pb.STREAM_STDOUT))
    expect(not any(sid == 81 for sid, _ in c.errors[n:]), "the runner answered an Error with an Error")
    c.goodbye_and_close()


@check("unknown-frame-type")
def t_unknown_body(k):
    c = k.conn()
    c.open()
    # Frame{session: 5, field 99: <empty message>}
    c.send_payload(bytes([0x08, 0x05, 0x9a, 0x06, 0x00]))
    c.spawn(6, k.target.argv(("out", "still here")))
    s = c.wait_exited(6)
    expect(s.data(pb.STREAM_STDOUT) == b"still here\n", "after the unknown body: %r", s.data(pb.STREAM_STDOUT))
    try:
        e = c.wait_error(5, timeout=2)
    except CheckFailed:
        fail("no Error{UNSUPPORTED} for a frame with an unknown body type")
    expect(e.code == pb.ERROR_CODE_UNSUPPORTED and not e.fatal, "unknown body: Error{%s, fatal=%s}, expected UNSUPPORTED",
           enum_name(pb.ErrorCode, e.code), e.fatal)
    c.goodbye_and_close()


@check("malformed-frame")
def t_malformed(k):
    c = k.conn()
    c.open()
    c.send_payload(bytes([0x12, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]))
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)
    c2 = k.conn()  # invalid UTF-8 in a text field (Goodbye.reason)
    c2.open()
    c2.send_payload(bytes([0x92, 0x01, 0x03, 0x0A, 0x01, 0xFF]))
    c2.expect_fatal(pb.ERROR_CODE_PROTOCOL)


def expect_silent_close(c, why):
    """The runner closes the channel without sending an Error (an Error is
    never answered with one, PROTOCOL.md 5.10) and its process exits."""
    n = len(c.errors)
    c.until(lambda: c.eof, 10, "the runner to close the channel (%s)" % why, allow_fatal=True, allow_eof=True)
    expect(c.eof, "the runner did not close the channel after %s", why)
    expect(len(c.errors) == n, "the runner answered %s with Error{%s}", why,
           ", ".join(enum_name(pb.ErrorCode, e.code) for _, e in c.errors[n:]))
    c.wait_process(10 * c.kit.scale)


@check("error-protocol-unflagged")
def t_error_protocol_unflagged(k):
    # PROTOCOL, VERSION_UNSUPPORTED and TIMEOUT are fatal whatever `fatal` says.
    for code in (pb.ERROR_CODE_PROTOCOL, pb.ERROR_CODE_TIMEOUT):
        c = k.conn()
        c.open()
        f = pb.Frame(session=0)
        f.error.code = code
        f.error.message = "fatal flag left out"
        c.send(f)
        expect_silent_close(c, "Error{%s, fatal: false}" % enum_name(pb.ErrorCode, code))


@check("error-never-answered")
def t_error_never_answered(k):
    # Non-fatal Errors with an unknown code, on an unknown session and on
    # session 0: no answer, and the connection goes on.
    c = k.conn()
    c.open()
    n = len(c.errors)
    for sid, code in ((91, 77), (92, pb.ERROR_CODE_UNKNOWN_SESSION), (0, pb.ERROR_CODE_INTERNAL)):
        f = pb.Frame(session=sid)
        f.error.code = code
        f.error.message = "a report the runner must not answer"
        c.send(f)
    c.spawn(2, k.target.argv(("out", "still here")))
    s = c.wait_exited(2)
    expect(s.data(pb.STREAM_STDOUT) == b"still here\n", "after the Errors: %r", s.data(pb.STREAM_STDOUT))
    expect(len(c.errors) == n, "the runner answered an Error with Error{%s}",
           ", ".join(enum_name(pb.ErrorCode, e.code) for _, e in c.errors[n:]))
    c.goodbye_and_close()


@check("error-message-too-long")
def t_error_too_long(k):
    # Text over TETHER_MESSAGE_MAX_BYTES is undecodable (section 8); in an
    # Error the connection just ends, without an Error in reply.
    c = k.conn()
    c.open()
    f = pb.Frame(session=0)
    f.error.code = pb.ERROR_CODE_INVALID
    f.error.message = "m" * (MESSAGE_MAX_BYTES + 1)
    c.send(f)
    expect_silent_close(c, "an Error with a %d-byte message" % (MESSAGE_MAX_BYTES + 1))
    c2 = k.conn()  # in a Goodbye: Error{PROTOCOL, fatal}
    c2.open()
    f = pb.Frame(session=0)
    f.goodbye.reason = "r" * (MESSAGE_MAX_BYTES + 1)
    c2.send(f)
    c2.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("two-bodies")
def t_two_bodies(k):
    # Frame{session 1, stdin_close, status_request}: protobuf would keep the
    # last body and drop the first unseen; refused as undecodable (section 8).
    c = k.conn()
    c.open()
    c.spawn(1, k.target.argv(("cat",)))
    c.wait_spawned(1)
    c.send_payload(bytes([0x08, 0x01, 0x4A, 0x00, 0x72, 0x00]))
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("wrong-direction")
def t_wrong_direction(k):
    c = k.conn()
    c.open()
    f = pb.Frame(session=1)
    f.output.stream = pb.STREAM_STDOUT
    f.output.data = b"x"
    c.send(f)
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("session-zero-misuse")
def t_session_zero(k):
    c = k.conn()
    c.open()
    f = pb.Frame(session=0)
    f.spawn.argv.append(b"true")
    c.send(f)
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("limit-zero-length")
def t_zero_length(k):
    c = k.conn()
    c.open()
    c.send_raw(b"\0\0\0\0")
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


@check("limit-frame-too-large")
def t_too_large(k):
    c = k.conn()
    h = c.open()
    c.send_raw(struct.pack("<I", h.max_frame_size + 1))  # the body is never read
    c.expect_fatal(pb.ERROR_CODE_PROTOCOL)


def spawn_payload(sid, count, program):
    """A Spawn with `count` argv entries, `program` first, built by hand (a
    sender must never produce it, so the kit does not use the generated
    encoder)."""
    program = program.encode()
    entries = bytes([0x0A, len(program)]) + program
    entries += b"\x0a\x01a" * (count - 1)
    ln, v = bytearray(), len(entries)
    while True:
        ln.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            break
    return bytes([0x08, sid, 0x1A]) + bytes(ln) + entries


@check("limit-argv-count")
def t_argv_count(k):
    c = k.conn()
    c.open()
    c.sessions[1] = Sess(1, pb.Spawn())
    t = k.target
    c.send_payload(spawn_payload(1, ARGV_MAX_COUNT, t.missing_program))
    s = c.wait_done(1)
    expect(s.failed is not None and s.failed.stage == pb.SPAWN_STAGE_EXEC,
           "%d argv entries (at the limit): %s, expected an EXEC failure of the missing program",
           ARGV_MAX_COUNT, s.describe_end())
    c.sessions[2] = Sess(2, pb.Spawn())
    c.send_payload(spawn_payload(2, ARGV_MAX_COUNT + 1, t.missing_program))
    expect_spawn_failed(c, 2, pb.SPAWN_STAGE_LIMITS, pb.SPAWN_ERROR_LIMIT)
    c.spawn(3, t.argv())
    s = c.wait_exited(3)
    expect(s.exited.code == 0, "after the limit: %s", s.describe_end())
    c.goodbye_and_close()


@check("goodbye")
def t_goodbye(k):
    c = k.conn()
    c.open()
    argv, probe = k.target.long_child(k, "child")
    c.spawn(1, argv)
    s = c.wait_spawned(1)
    expect(probe.wait_alive(s, 10 * k.scale), "the child never showed a sign of life")
    c.simple(0, "goodbye", reason="conformance")
    c.until(lambda: c.goodbye is not None, 10, "the runner's Goodbye", allow_eof=True)
    expect(c.goodbye is not None, "the runner closed without Goodbye")
    rc = c.expect_close()
    expect(rc == 0, "the runner exited with status %s after Goodbye", rc)
    expect(probe.gone(s, 5 * k.scale), "the child (pid %d) outlived the runner", s.pid)


@check("parent-gone")
def t_parent_gone(k):
    c = k.conn()
    c.open()
    argv1, probe1 = k.target.long_child(k, "one")
    argv2, probe2 = k.target.long_child(k, "two", ignore_term=True, ready=True)
    c.spawn(1, argv1)
    c.spawn(2, argv2)
    s1 = c.wait_spawned(1)
    c.until(lambda: c.sessions[2].data(pb.STREAM_STDOUT) == b"ready\n", 10, "'ready'")
    s2 = c.sessions[2]
    expect(probe1.wait_alive(s1, 10 * k.scale) and probe2.wait_alive(s2, 10 * k.scale),
           "the children never showed a sign of life")
    c.close_write()
    deadline = time.monotonic() + 15 * k.scale
    while c.recv(deadline, "the runner to close after the parent went away") is not None:
        pass
    c.wait_process(15 * k.scale)
    expect(probe1.gone(s1, 5 * k.scale) and probe2.gone(s2, 5 * k.scale),
           "children outlived the runner (no orphans allowed)")


@check("unadvertised-features")
def t_unadvertised(k):
    c = k.conn()
    h = c.open()
    done = []
    if pb.CAPABILITY_PTY not in h.capabilities and pb.CAPABILITY_CONPTY not in h.capabilities:
        c.spawn(1, k.target.argv(), io_mode=pb.IO_MODE_PTY)
        expect_spawn_failed(c, 1, pb.SPAWN_STAGE_PTY, pb.SPAWN_ERROR_UNSUPPORTED)
        done.append("PTY")
    if pb.CAPABILITY_PERMISSION_PROFILES not in h.capabilities:
        prof = pb.PermissionProfile(network=pb.NETWORK_MODE_DENIED)
        c.spawn(2, k.target.argv(), permission_profile=prof)
        expect_spawn_failed(c, 2, pb.SPAWN_STAGE_PERMISSIONS, pb.SPAWN_ERROR_UNSUPPORTED)
        prof = pb.PermissionProfile(filesystem=pb.FILESYSTEM_MODE_READ_ONLY)
        c.spawn(3, k.target.argv(), permission_profile=prof)
        expect_spawn_failed(c, 3, pb.SPAWN_STAGE_PERMISSIONS, pb.SPAWN_ERROR_UNSUPPORTED)
        done.append("PERMISSION_PROFILES")
    if pb.CAPABILITY_SIGNALS not in h.capabilities:
        c.spawn(4, k.target.argv(("sleep", 100000)))
        c.wait_spawned(4)
        c.simple(4, "signal", signal=pb.SIGNAL_TERM)
        e = c.wait_error(4)
        expect(e.code == pb.ERROR_CODE_UNSUPPORTED, "Signal without CAPABILITY_SIGNALS: Error{%s}",
               enum_name(pb.ErrorCode, e.code))
        done.append("SIGNALS")
    if not done:
        raise Skipped("skipped (runner advertises every optional feature this check covers)")
    k.info("refused cleanly: " + ", ".join(done))
    c.goodbye_and_close()


@check("pty-session", needs="PTY")
def t_pty(k):
    c = k.conn()
    c.open()
    need_cap(c, pb.CAPABILITY_PTY)
    c.spawn(1, ["sh", "-c", "stty size; test -t 0 && test -t 1 && test -t 2 && echo tty; read x; echo got:$x"],
            io_mode=pb.IO_MODE_PTY, pty_rows=33, pty_cols=101)
    s = c.wait_spawned(1)
    c.until(lambda: b"tty" in s.data(pb.STREAM_PTY), 10, "'tty' from the pty child")
    c.stdin(1, b"typed\n", 0)
    s = c.wait_exited(1)
    out = s.data(pb.STREAM_PTY).replace(b"\r\n", b"\n")
    expect(b"33 101\n" in out, "stty size in a 33x101 pty printed %r", out)
    expect(b"got:typed" in out, "input typed into the pty did not arrive: %r", out)
    expect(s.exited.code == 0, "%s", s.describe_end())
    # Resize and end-of-input
    c.spawn(2, ["sh", "-c", "echo ready; read x; stty size; cat; echo eof"], io_mode=pb.IO_MODE_PTY)
    s = c.wait_spawned(2)
    c.until(lambda: b"ready" in s.data(pb.STREAM_PTY), 10, "'ready'")
    c.simple(2, "resize", rows=40, cols=120)
    c.stdin(2, b"go\n", 0)
    c.until(lambda: b"40 120" in s.data(pb.STREAM_PTY), 10, "stty size after Resize{40, 120}")
    c.simple(2, "stdin_close")
    s = c.wait_exited(2)
    expect(b"eof" in s.data(pb.STREAM_PTY), "StdinClose did not end the pty's input: %r", s.data(pb.STREAM_PTY))
    n = len(c.errors)
    c.spawn(3, k.target.argv(("sleep", 100000)))
    c.wait_spawned(3)
    c.simple(3, "resize", rows=10, cols=10)
    e = c.wait_error(3, after=n)
    expect(e.code == pb.ERROR_CODE_INVALID,
           "Resize on a pipes session: Error{%s}, expected INVALID (PROTOCOL.md 5.6)", enum_name(pb.ErrorCode, e.code))
    c.goodbye_and_close()


@check("conpty-session", needs="CONPTY")
def t_conpty(k):
    """Windows terminal sessions (PROTOCOL.md 6.6): the output is the
    console's rendering, so the check looks for the text, not the bytes."""
    c = k.conn()
    c.open()
    need_cap(c, pb.CAPABILITY_CONPTY)
    t = k.target
    c.spawn(1, t.argv(("out", "conpty-ready"), ("exit", 5)), io_mode=pb.IO_MODE_PTY, pty_rows=30, pty_cols=100)
    s = c.wait_exited(1, 30)
    text = re.sub(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-_])", b"", s.data(pb.STREAM_PTY))
    expect(b"conpty-ready" in text, "the console's output lacks the child's text: %r", s.data(pb.STREAM_PTY)[:200])
    expect(not s.data(pb.STREAM_STDOUT) and not s.data(pb.STREAM_STDERR), "a terminal session sent pipe streams")
    expect(s.exited.WhichOneof("status") == "code" and s.exited.code == 5, "%s", s.describe_end())
    # Resize: done, or refused without ending anything (Wine: UNSUPPORTED)
    c.spawn(2, t.argv(("sleep", 100000)), io_mode=pb.IO_MODE_PTY)
    s = c.wait_spawned(2)
    n = len(c.errors)
    c.simple(2, "resize", rows=40, cols=120)
    c.spawn(3, t.argv(("out", "after-resize")))
    c.wait_exited(3)
    for _, e in c.errors[n:]:
        expect(e.code in (pb.ERROR_CODE_UNSUPPORTED, pb.ERROR_CODE_INTERNAL) and not e.fatal,
               "Resize on a console: Error{%s, fatal=%s}, expected none or UNSUPPORTED/INTERNAL",
               enum_name(pb.ErrorCode, e.code), e.fatal)
    expect(s.state == "running", "Resize ended the session: %s", s.describe_end())
    c.simple(2, "terminate", grace_ms=100)
    s = c.wait_exited(2, 30)
    expect(t.terminated(s.exited) or t.killed(s.exited), "Terminate on a console session: %s", s.describe_end())
    c.goodbye_and_close()


@check("permission-profiles", needs="PERMISSION_PROFILES")
def t_profiles(k):
    """PROTOCOL.md 5.3: refused on a version-1 connection; enforced (never
    merely accepted) on version 2, with relative roots resolved against
    permission_profile_cwd, never Spawn.cwd."""
    t = k.target
    target = os.path.join(k.tmpdir, "written")
    read_only = pb.PermissionProfile(filesystem=pb.FILESYSTEM_MODE_READ_ONLY)
    c = k.conn()
    c.open()
    need_cap(c, pb.CAPABILITY_PERMISSION_PROFILES)
    c.spawn(1, t.argv(("write", t.path(target))), permission_profile=read_only)
    expect_spawn_failed(c, 1, pb.SPAWN_STAGE_PERMISSIONS, pb.SPAWN_ERROR_UNSUPPORTED)
    expect(not os.path.exists(target), "a refused Spawn wrote %s", target)
    c.goodbye_and_close()

    # WORKSPACE_WRITE also opens the runner's temp dir ($TMPDIR, else
    # /tmp), where the kit's own directories are: give the runner another.
    rtmp = os.path.join(k.tmpdir, "runner-tmp")
    os.mkdir(rtmp)
    c = k.conn(versions=(1, 2), env_extra={"TMPDIR": rtmp})
    h = c.open()
    if h.version_max < 2:
        raise Skipped("skipped (runner speaks version %d at most; profiles are enforced from 2)" % h.version_max)
    c.spawn(1, t.argv(("write", t.path(target))), permission_profile=read_only)
    s = c.wait_exited(1)
    expect(s.exited.code != 0 and not os.path.exists(target), "a READ_ONLY child wrote %s (%s)", target,
           s.describe_end())
    # WORKSPACE_WRITE, root "work" relative to the profile cwd; Spawn.cwd
    # has a "work" of its own, which must not be the one made writable.
    base, decoy = os.path.join(k.tmpdir, "base"), os.path.join(k.tmpdir, "decoy")
    for d in (base, decoy):
        os.makedirs(os.path.join(d, "work"))
    inside, outside = os.path.join(base, "work", "ok"), os.path.join(decoy, "work", "no")
    ws = pb.PermissionProfile(filesystem=pb.FILESYSTEM_MODE_WORKSPACE_WRITE, writable_roots=[b"work"])
    c.spawn(2, t.argv(("write", t.path(inside))), permission_profile=ws,
            permission_profile_cwd=t.path(base), cwd=t.path(decoy))
    s = c.wait_exited(2)
    expect(s.exited.code == 0 and os.path.exists(inside), "WORKSPACE_WRITE child could not write below its root "
           "%s (%s)", inside, s.describe_end())
    c.spawn(3, t.argv(("write", t.path(outside))), permission_profile=ws,
            permission_profile_cwd=t.path(base), cwd=t.path(decoy))
    s = c.wait_exited(3)
    expect(s.exited.code != 0 and not os.path.exists(outside),
           "the root was resolved against Spawn.cwd: the child wrote %s (%s)", outside, s.describe_end())
    c.spawn(4, t.argv(), permission_profile=ws)  # a relative root with nothing to resolve it against
    expect_spawn_failed(c, 4, pb.SPAWN_STAGE_PERMISSIONS, pb.SPAWN_ERROR_INVALID)
    if not t.windows:
        # Metadata outside the roots: Landlock alone has no right for chmod
        # (SANDBOX.md); a read-only mount tree refuses it, even to root.
        meta = os.path.join(decoy, "meta")
        with open(meta, "w") as fh:
            fh.write("x\n")
        os.chmod(meta, 0o644)
        for sid, prof, how in ((5, read_only, "READ_ONLY"), (6, ws, "WORKSPACE_WRITE")):
            c.spawn(sid, t.argv(("chmod", t.path(meta))), permission_profile=prof,
                    permission_profile_cwd=t.path(base))
            s = c.wait_exited(sid)
            mode = stat.S_IMODE(os.stat(meta).st_mode)
            expect(s.exited.code != 0 and mode == 0o644,
                   "a %s child changed the mode of %s outside its roots to %o (%s)", how, meta, mode,
                   s.describe_end())
        # Terminal injection: TIOCSTI pushes keystrokes into a terminal's
        # input; a sandboxed command must not have it, not even on its own pty.
        if pb.CAPABILITY_PTY in h.capabilities:
            c.spawn(7, t.argv(("tiocsti",)), permission_profile=read_only, io_mode=pb.IO_MODE_PTY)
            s = c.wait_exited(7)
            expect(s.exited.code != 0, "a READ_ONLY child could use TIOCSTI on its terminal (%s)",
                   s.describe_end())
    c.goodbye_and_close()


@check("limits-version-gating")
def t_limits_gating(k):
    """Spawn.limits is version 3: on an older connection a runner that
    speaks 3 refuses it (SpawnFailed{LIMITS, UNSUPPORTED}), never runs the
    command unlimited; on version 3 a runner without
    CAPABILITY_RESOURCE_LIMITS refuses it too, and one with it refuses a
    value outside the accepted range (LIMITS, INVALID)."""
    t = k.target
    target = os.path.join(k.tmpdir, "ran")
    lim = pb.ResourceLimits(file_size_bytes=1 << 20)
    c = k.conn(versions=(1, 2))
    h = c.open()
    if h.version_max < 3:
        raise Skipped("skipped (runner speaks version %d at most; limits are version 3)" % h.version_max)
    c.spawn(1, t.argv(("write", t.path(target))), limits=lim)
    expect_spawn_failed(c, 1, pb.SPAWN_STAGE_LIMITS, pb.SPAWN_ERROR_UNSUPPORTED)
    expect(not os.path.exists(target), "a refused Spawn ran: %s exists", target)
    c.goodbye_and_close()
    c = k.conn(versions=(1, 3))
    h = c.open()
    if pb.CAPABILITY_RESOURCE_LIMITS not in h.capabilities:
        c.spawn(1, t.argv(("write", t.path(target))), limits=lim)
        s = c.wait_done(1)
        expect(s.failed is not None and s.failed.stage == pb.SPAWN_STAGE_LIMITS,
               "a runner without CAPABILITY_RESOURCE_LIMITS accepted limits: %s", s.describe_end())
        expect(not os.path.exists(target), "a refused Spawn ran: %s exists", target)
    else:
        for sid, bad in ((1, pb.ResourceLimits(cpu_ms=1)), (2, pb.ResourceLimits(open_files=1)),
                         (3, pb.ResourceLimits(memory_bytes=4096))):
            c.spawn(sid, t.argv(("write", t.path(target))), limits=bad)
            expect_spawn_failed(c, sid, pb.SPAWN_STAGE_LIMITS, pb.SPAWN_ERROR_INVALID)
        expect(not os.path.exists(target), "a refused Spawn ran: %s exists", target)
        # all zero: no limits asked, the command runs
        c.spawn(4, t.argv(), limits=pb.ResourceLimits())
        s = c.wait_exited(4)
        expect(s.exited.WhichOneof("status") == "code" and s.exited.code == 0 and
               s.exited.limit == pb.EXIT_LIMIT_NONE, "all-zero limits: %s", s.describe_end())
    c.goodbye_and_close()


@check("limits-exit-reason", timeout=60)
def t_limits_reason(k):
    """Exited.limit names the limit that ended the command (CPU, file
    size, the wall-clock timeout, which also keeps timed_out) and is NONE
    for a command that ended on its own."""
    t = k.target
    if t.child or t.windows:
        raise Skipped("skipped (needs the POSIX shell ops spin and fill)")
    c = k.conn(versions=(1, 3))
    h = c.open()
    if h.version_max < 3:
        raise Skipped("skipped (runner speaks version %d at most; limits are version 3)" % h.version_max)
    need_cap(c, pb.CAPABILITY_RESOURCE_LIMITS)
    c.spawn(1, t.argv(("spin",)), limits=pb.ResourceLimits(cpu_ms=1000))
    c.spawn(2, t.argv(("fill", os.path.join(k.tmpdir, "big"), 2 << 20)),
            limits=pb.ResourceLimits(file_size_bytes=1 << 20))
    c.spawn(3, t.argv(("sleep", 100000)), timeout_ms=200)
    c.spawn(4, t.argv(("out", "fine")), limits=pb.ResourceLimits(open_files=64))
    want = {1: pb.EXIT_LIMIT_CPU, 2: pb.EXIT_LIMIT_FILE_SIZE, 3: pb.EXIT_LIMIT_WALL_TIMEOUT,
            4: pb.EXIT_LIMIT_NONE}
    for sid in (1, 2, 3, 4):
        s = c.wait_exited(sid)
        expect(s.exited.limit == want[sid], "session %d: Exited.limit %s, expected %s (%s)", sid,
               enum_name(pb.ExitLimit, s.exited.limit), enum_name(pb.ExitLimit, want[sid]), s.describe_end())
    s = c.sessions[3]
    expect(s.exited.timed_out, "WALL_TIMEOUT without timed_out: %s", s.describe_end())
    expect(os.path.getsize(os.path.join(k.tmpdir, "big")) <= 1 << 20, "the file grew past its limit")
    c.goodbye_and_close()


@check("flow-control", needs="FLOW_CONTROL", timeout=60)
def t_flow(k):
    window = 65536
    c = k.conn(caps=[pb.CAPABILITY_FLOW_CONTROL], initial_window=window)
    h = c.open()
    need_cap(c, pb.CAPABILITY_FLOW_CONTROL)
    win = min(x for x in (window, h.initial_window) if x)
    total = 1 << 20
    c.spawn(1, k.target.argv(("zeros", total)))
    s = c.wait_spawned(1)
    deadline = time.monotonic() + 1.0
    try:
        while True:
            c.recv(deadline, "more output")
    except CheckFailed:
        pass
    got = len(s.data(pb.STREAM_STDOUT))
    expect(got <= win, "%d bytes of output arrived against a window of %d", got, win)
    while s.state != "done":
        c.simple(1, "credit", stream=pb.STREAM_STDOUT, bytes=win)
        before = len(s.data(pb.STREAM_STDOUT))
        c.until(lambda: s.state == "done" or len(s.data(pb.STREAM_STDOUT)) > before, 10, "output after Credit")
    expect(len(s.data(pb.STREAM_STDOUT)) == total, "%d of %d bytes", len(s.data(pb.STREAM_STDOUT)), total)
    c.goodbye_and_close()


# ------------------------------------------------------------- the driver

class Kit:
    def __init__(self, args):
        self.verbose = args.verbose
        self.scale = args.timeout_scale
        self.runner = args.command
        self.target = Target(args.platform, args.child, args.timeout_scale)
        self.live = []
        self.tmpdir = None
        self.notes = []

    def conn(self, **kw):
        return Conn(self, **kw)

    def info(self, msg):
        self.notes.append(msg)

    def note(self, msg):
        print(msg, flush=True)

    def cleanup(self):
        for c in self.live:
            c.kill()
        self.live = []


def on_alarm(signum, frame):
    raise CheckTimeout()


def select_checks(table, only):
    chosen = []
    for i, (name, fn, timeout, needs) in enumerate(table, 1):
        if only is None or str(i) in only or name in only:
            chosen.append((i, name, fn, timeout, needs))
    return chosen


def run_suite(args, table, kit_cls):
    only = None
    if args.only:
        only = set(x.strip() for x in args.only.split(",") if x.strip())
        names = {n for n, _, _, _ in table} | {str(i) for i in range(1, len(table) + 1)}
        bad = only - names
        if bad:
            sys.exit("tether-conformance: no such check: %s (see --list)" % ", ".join(sorted(bad)))
    kit = kit_cls(args)
    signal.signal(signal.SIGALRM, on_alarm)
    xfail = set(x.strip() for x in (args.xfail or "").split(",") if x.strip())
    passed = failed = skipped = xfailed = 0
    for i, name, fn, timeout, needs in select_checks(table, only):
        kit.tmpdir = tempfile.mkdtemp(prefix="tether-conformance-")
        kit.notes = []
        verdict, why = "ok", ""
        signal.setitimer(signal.ITIMER_REAL, timeout * kit.scale)
        try:
            fn(kit)
        except CheckTimeout:
            verdict, why = "FAIL", "the check did not finish within %ss (hung runner?)" % (timeout * kit.scale)
        except Skipped as e:
            verdict, why = "skip", str(e)
        except CheckFailed as e:
            verdict, why = "FAIL", str(e)
        except Exception as e:  # a bug in the kit or an unexpected runner reply
            verdict, why = "FAIL", "%s: %s" % (type(e).__name__, e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        errtext = "".join(c.stderr_text() for c in kit.live) if verdict == "FAIL" and kit.verbose else ""
        kit.cleanup()
        shutil.rmtree(kit.tmpdir, True)
        if name in xfail or str(i) in xfail:
            if verdict == "FAIL":
                verdict = "xfail"
            elif verdict == "ok":
                verdict, why = "FAIL", "XPASS: passes but is listed in --xfail (remove it there)"
        if verdict == "xfail":
            xfailed += 1
            print("xfail %d %s: %s" % (i, name, why), flush=True)
        elif verdict == "ok":
            passed += 1
            print("ok %d %s" % (i, name), flush=True)
        elif verdict == "skip":
            skipped += 1
            print("skip %d %s: %s" % (i, name, why), flush=True)
        else:
            failed += 1
            print("FAIL %d %s: %s" % (i, name, why), flush=True)
        if kit.verbose:
            for n in kit.notes:
                print("    # " + n, flush=True)
            if errtext.strip():
                for line in errtext.strip().splitlines()[-10:]:
                    print("    # runner stderr: " + line, flush=True)
    tail = ", %d skipped" % skipped if skipped else ""
    tail += ", %d xfailed" % xfailed if xfailed else ""
    print("%d passed, %d failed%s" % (passed, failed, tail), flush=True)
    return 1 if failed else 0


# --------------------------------------------- parent mode: scripted runners

class ScriptedRunner:
    """--as-runner SCENARIO: a runner on stdin/stdout that follows a script,
    used to check parents. Findings about the parent go to the report file
    named by TETHER_CONF_REPORT, one per line."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.rfd, self.wfd = 0, 1
        self.buf = bytearray()
        self.report = os.environ.get("TETHER_CONF_REPORT")
        self.deadline = time.monotonic() + float(os.environ.get("TETHER_CONF_RUNNER_TIMEOUT", "20"))
        self.peer_hello = None
        self.preface_ok = False
        self.errors_seen = []  # (session, code, fatal) of the parent's Errors

    def finding(self, msg):
        if self.report:
            with open(self.report, "a") as fh:
                fh.write(msg + "\n")

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.wfd, view)
            except (BrokenPipeError, ConnectionResetError):
                return False
            view = view[n:]
        return True

    def frame(self, sid, body, **fields):
        f = pb.Frame(session=sid)
        m = getattr(f, body)
        m.SetInParent()
        for k, v in fields.items():
            if isinstance(v, list):
                getattr(m, k).extend(v)
            else:
                setattr(m, k, v)
        p = f.SerializeToString()
        return struct.pack("<I", len(p)) + p

    def hello(self):
        # win-*: a runner on Windows, as tether-runner.exe introduces itself
        terminal = pb.CAPABILITY_CONPTY if self.scenario.startswith("win-") else pb.CAPABILITY_PTY
        caps = [pb.CAPABILITY_PIPES, terminal, pb.CAPABILITY_SIGNALS]
        extra = {}
        if self.scenario == "credit-over-window":
            caps.append(pb.CAPABILITY_FLOW_CONTROL)
            extra = dict(initial_window=CREDIT_WINDOW, max_window=4 * CREDIT_WINDOW)
        return self.frame(0, "hello", version_min=1, version_max=1, role=pb.ROLE_RUNNER,
                          implementation="tether-conformance-scripted", implementation_version="0.1.0",
                          capabilities=caps, max_frame_size=FRAME_MAX_DEFAULT,
                          max_sessions=0 if self.scenario == "max-sessions-zero" else 16, **extra)

    def read_frame(self):
        """Next frame from the parent, None at EOF or deadline."""
        while True:
            if not self.preface_ok and len(self.buf) >= 8:
                if bytes(self.buf[:8]) != PREFACE:
                    self.finding("the parent's preface is %r" % bytes(self.buf[:8]))
                    return None
                del self.buf[:8]
                self.preface_ok = True
            if self.preface_ok and len(self.buf) >= 4:
                (n,) = struct.unpack_from("<I", self.buf)
                if n == 0 or n > FRAME_MAX_DEFAULT:
                    self.finding("the parent sent a frame of length %d" % n)
                    return None
                if len(self.buf) >= 4 + n:
                    f = pb.Frame()
                    try:
                        f.ParseFromString(bytes(self.buf[4:4 + n]))
                    except Exception:
                        self.finding("the parent sent a frame that does not decode")
                        return None
                    del self.buf[:4 + n]
                    return f
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.rfd], [], [], left)
            if not r:
                return None
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self.buf += chunk

    def drain(self):
        """Waits for the parent to close the channel (or the deadline); the
        Errors it sent meanwhile are in self.errors_seen."""
        while True:
            f = self.read_frame()
            if f is None:
                return
            self.note_error(f)

    def note_error(self, f):
        if f.WhichOneof("body") == "error":
            self.errors_seen.append((f.session, f.error.code, f.error.fatal))

    def errors_with(self, code):
        return [e for e in self.errors_seen if e[1] == code]

    def handshake(self):
        f = self.read_frame()
        if f is None or f.WhichOneof("body") != "hello":
            self.finding("the parent's first frame is not Hello")
            return False
        h = f.hello
        if h.role != pb.ROLE_PARENT:
            self.finding("the parent's Hello has role %s" % enum_name(pb.Role, h.role))
        if not (1 <= h.version_min <= 1 <= h.version_max):
            self.finding("the parent's Hello offers versions %d..%d" % (h.version_min, h.version_max))
        if not (FRAME_MAX_MINIMUM <= h.max_frame_size <= FRAME_MAX_CEILING):
            self.finding("the parent's Hello has max_frame_size %d" % h.max_frame_size)
        if self.scenario == "hello-capabilities":
            # A parent lists only what describes it: FLOW_CONTROL (5.2).
            other = [c for c in h.capabilities if c != pb.CAPABILITY_FLOW_CONTROL]
            if other:
                self.finding("the parent's Hello lists runner capabilities %s"
                             % ", ".join(enum_name(pb.Capability, c) for c in other))
        self.peer_hello = h
        return True

    def wait_spawn(self):
        while True:
            f = self.read_frame()
            if f is None:
                self.finding("the parent never sent Spawn")
                return None, None
            if f.WhichOneof("body") == "spawn":
                if f.session == 0:
                    self.finding("the parent sent Spawn on session 0")
                return f.session, f.spawn

    def out(self, sid, stream, data, offset):
        return self.frame(sid, "output", stream=stream, data=data, offset=offset)

    def mark(self):
        """Records that the script got as far as its (mis)behaviour."""
        if self.report:
            with open(self.report + ".reached", "w") as fh:
                fh.write(self.scenario + "\n")

    def run(self):
        try:
            return self.play()
        except Exception:
            import traceback
            self.finding("the scripted runner crashed: %s" % traceback.format_exc().strip().replace("\n", " | "))
            return 3

    def play(self):
        sc = self.scenario
        if sc == "garbage-preface":
            self.write(b"Last login: Mon Jan  1 00:00:00 from 10.0.0.1\nWelcome!\n")
            self.mark()
            self.drain()
            return 0
        self.write(PREFACE + self.hello())
        if not self.handshake():
            return 1
        if sc == "max-sessions-zero":
            # A runner's max_sessions is in [1, 65536] (5.2): the parent must
            # refuse this Hello (Error{PROTOCOL, fatal}) and spawn nothing.
            self.mark()
            while True:
                f = self.read_frame()
                if f is None:
                    break
                self.note_error(f)
                if f.WhichOneof("body") == "spawn":
                    self.finding("the parent spawned on a runner that hosts max_sessions 0")
            if not any(code == pb.ERROR_CODE_PROTOCOL and fatal for _, code, fatal in self.errors_seen):
                self.finding("the parent did not refuse max_sessions 0 with Error{PROTOCOL, fatal}")
            return 0
        sid, sp = self.wait_spawn()
        if sid is None:
            return 1
        argv = [bytes(a) for a in sp.argv]
        words = b" ".join(argv[1:]) + b"\n"
        S, O, E = pb.STREAM_STDOUT, pb.STREAM_STDERR, "exited"
        spawned = self.frame(sid, "spawned", pid=4242)
        if sc in ("echo", "hello-capabilities"):
            self.write(spawned + self.out(sid, S, words, 0) + self.frame(sid, E, code=0))
        elif sc == "exit-code":
            self.write(spawned + self.out(sid, S, b"out", 0) + self.out(sid, O, b"err", 0) +
                       self.frame(sid, E, code=7))
        elif sc == "exit-signal":
            self.write(spawned + self.frame(sid, E, signal=pb.SIGNAL_TERM, raw_signal=15))
        elif sc == "not-found":
            self.write(self.frame(sid, "spawn_failed", stage=pb.SPAWN_STAGE_EXEC, error=pb.SPAWN_ERROR_NOT_FOUND,
                                  os_error=errno.ENOENT, os_error_space=pb.OS_ERROR_SPACE_POSIX,
                                  message='exec "%s": No such file or directory' % argv[0].decode(errors="replace")))
        elif sc == "stdin":
            self.write(spawned)
            off = 0
            expect_off = 0
            while True:
                f = self.read_frame()
                if f is None:
                    self.finding("the parent never sent StdinClose")
                    return 1
                b = f.WhichOneof("body")
                if b == "stdin_data":
                    if f.stdin_data.offset != expect_off:
                        self.finding("Stdin offset %d, expected %d" % (f.stdin_data.offset, expect_off))
                    if not f.stdin_data.data:
                        self.finding("Stdin with empty data")
                    expect_off += len(f.stdin_data.data)
                    self.write(self.out(sid, S, f.stdin_data.data, off))
                    off += len(f.stdin_data.data)
                elif b == "stdin_close":
                    break
            self.write(self.frame(sid, E, code=0))
        elif sc == "output-before-spawned":
            self.write(self.out(sid, S, b"early\n", 0) + spawned + self.frame(sid, E, code=0))
        elif sc == "offset-gap":
            self.write(spawned + self.out(sid, S, b"a", 0) + self.out(sid, S, b"b", 5) + self.frame(sid, E, code=0))
        elif sc == "exited-twice":
            self.write(spawned + self.frame(sid, E, code=3) + self.frame(sid, E, code=5))
        elif sc == "oversized-frame":
            limit = self.peer_hello.max_frame_size
            self.write(spawned + struct.pack("<I", limit + 1) + b"\x08" * 64)
        elif sc == "runner-vanishes":
            self.write(spawned + self.out(sid, S, b"partial", 0))
            self.mark()
            return 0  # exits: the channel closes mid-session
        elif sc in ("win-exit-code", "win-exit-wide", "win-exit-256"):
            code = {"win-exit-code": 7, "win-exit-wide": 0xC0000005, "win-exit-256": 256}[sc]
            self.write(spawned + self.out(sid, S, b"out\r\n", 0) + self.out(sid, O, b"err\r\n", 0) +
                       self.frame(sid, E, code=code))
        elif sc == "win-not-found":
            self.write(self.frame(sid, "spawn_failed", stage=pb.SPAWN_STAGE_EXEC, error=pb.SPAWN_ERROR_NOT_FOUND,
                                  os_error=2, os_error_space=pb.OS_ERROR_SPACE_WIN32,
                                  message='program "%s" not found on PATH: File not found (Win32 error 2)'
                                  % argv[0].decode(errors="replace")))
        elif sc == "exited-limit":  # version 3's Exited.limit: the status stays the signal's
            self.write(spawned + self.frame(sid, E, signal=pb.SIGNAL_KILL, raw_signal=9,
                                            limit=pb.EXIT_LIMIT_MEMORY))
        elif sc == "frame-for-unknown-session":
            self.write(spawned + self.out(sid + 100, S, b"x", 0) + self.frame(sid, E, code=0))
        elif sc == "spawn-failed-escapes":
            # Terminal control in the runner's text: clear screen, a title
            # (OSC ... BEL), carriage return, backspace, C1 CSI.
            self.write(self.frame(sid, "spawn_failed", stage=pb.SPAWN_STAGE_EXEC, error=pb.SPAWN_ERROR_NOT_FOUND,
                                  os_error=errno.ENOENT, os_error_space=pb.OS_ERROR_SPACE_POSIX,
                                  message="\x1b[2J\x1b]0;pwned\x07\rnot found\b\b\u009b31m"))
        elif sc == "exit-signal-unknown":
            self.write(spawned + self.frame(sid, E, signal=200, raw_signal=200))
        elif sc == "exited-no-status":
            self.write(spawned + self.out(sid, S, b"x", 0) + self.frame(sid, E))
            self.mark()
            self.drain()
            if not any(es == sid and code == pb.ERROR_CODE_INVALID for es, code, _ in self.errors_seen):
                self.finding("no Error{INVALID} for an Exited with neither code nor signal (5.9)")
            return 0
        elif sc == "two-bodies":
            one = pb.Frame(session=sid)
            one.output.stream = S
            one.output.data = b"lost"
            two = pb.Frame()
            two.exited.code = 0
            p = one.SerializeToString() + two.SerializeToString()  # Output, then Exited
            self.write(spawned + struct.pack("<I", len(p)) + p)
        elif sc == "output-after-exited":
            self.write(spawned + self.frame(sid, E, code=0) + self.out(sid, S, b"late", 0))
        elif sc == "errors-not-fatal":
            # Non-fatal Errors never end a session (5.10), whatever the code,
            # and are never answered; one for a session never created neither.
            self.write(spawned + self.frame(sid, "error", code=pb.ERROR_CODE_INTERNAL, message="transient") +
                       self.frame(sid, "error", code=77, message="a code from a newer runner") +
                       self.frame(sid + 100, "error", code=pb.ERROR_CODE_UNKNOWN_SESSION, message="no session") +
                       self.out(sid, S, b"ok", 0) + self.frame(sid, E, code=0))
            self.mark()
            self.drain()
            if self.errors_seen:
                self.finding("the parent answered an Error with Error{%s}"
                             % ", ".join(enum_name(pb.ErrorCode, c) for _, c, _ in self.errors_seen))
            return 0
        elif sc == "error-too-long":
            self.write(spawned + self.frame(sid, "error", code=pb.ERROR_CODE_INVALID, message="m" * 1025))
            self.mark()
            self.drain()
            if self.errors_seen:
                self.finding("the parent answered an undecodable Error with Error{%s}"
                             % ", ".join(enum_name(pb.ErrorCode, c) for _, c, _ in self.errors_seen))
            return 0
        elif sc == "credit-over-window":
            return self.play_credit(sid, spawned)
        else:
            self.finding("unknown scenario %s" % sc)
            return 2
        self.mark()
        self.drain()
        return 0


CREDIT_WINDOW = 4096


def _play_credit(self, sid, spawned):
    """Credit{STDIN} that would take the parent's outstanding credit past
    max_window: the whole grant is refused (Error{LIMIT}), so no stdin byte
    beyond the grants that fit arrives (5.8)."""
    self.write(spawned)
    flow = pb.CAPABILITY_FLOW_CONTROL in self.peer_hello.capabilities
    got = 0
    if flow:
        while got < CREDIT_WINDOW:
            f = self.read_frame()
            if f is None:
                self.finding("the parent sent %d stdin bytes, not its initial window of %d" % (got, CREDIT_WINDOW))
                return 1
            self.note_error(f)
            if f.WhichOneof("body") == "stdin_data":
                got += len(f.stdin_data.data)
        self.write(self.frame(sid, "credit", stream=pb.STREAM_STDIN, bytes=(1 << 64) - 1))
        while not self.errors_with(pb.ERROR_CODE_LIMIT):
            f = self.read_frame()
            if f is None:
                self.finding("no Error{LIMIT} for Credit{STDIN} past max_window")
                return 1
            self.note_error(f)
            if f.WhichOneof("body") == "stdin_data":
                got += len(f.stdin_data.data)
        self.write(self.frame(sid, "credit", stream=pb.STREAM_STDIN, bytes=100))
        while got < CREDIT_WINDOW + 100:
            f = self.read_frame()
            if f is None:
                break
            self.note_error(f)
            if f.WhichOneof("body") == "stdin_data":
                got += len(f.stdin_data.data)
        if got != CREDIT_WINDOW + 100:
            self.finding("the parent sent %d stdin bytes against grants of %d (it obeyed a grant past max_window)"
                         % (got, CREDIT_WINDOW + 100))
    self.write(self.out(sid, pb.STREAM_STDOUT, b"ok", 0) + self.frame(sid, "exited", code=0))
    self.mark()
    self.drain()
    return 0


ScriptedRunner.play_credit = _play_credit


def want_not_success(bad_rc=(), message=True):
    def judge(rc, out, err):
        expect(rc != 0 and rc not in bad_rc, "exit status %s: the parent reported success or a status it "
               "made up from a missing or foreign field", rc)
        if message:
            expect(err.strip(), "the parent exited %d without a message on stderr", rc)
    return judge


def want_no_terminal_control(rc_want):
    def judge(rc, out, err):
        expect(rc == rc_want, "exit status %s, expected %d", rc, rc_want)
        for ch, name in (("\x1b", "ESC"), ("\x07", "BEL"), ("\r", "CR"), ("\b", "BS"), ("\u009b", "CSI (C1)")):
            expect(ch not in err, "the runner's %s reached the parent's stderr raw: %r", name, err[-200:])
        expect("not found" in err, "the runner's message is not shown at all: %r", err)
    return judge


def parent_case(name, scenario, program, want, stdin=b"", timeout=20):
    def fn(k):
        k.run_parent(scenario, program, want, stdin, timeout)
    check(name, timeout=timeout + 10, parent=True)(fn)


def want_exact(rc, out, err):
    def judge(got_rc, got_out, got_err):
        expect(got_rc == rc, "exit status %s, expected %d (stderr: %s)", got_rc, rc, got_err.strip()[-200:])
        if out is not None:
            expect(got_out == out, "stdout %r, expected %r", got_out, out)
        if err is not None:
            expect(got_err == err, "stderr %r, expected %r", got_err, err)
    return judge


def want_rejected(bad_output=None):
    def judge(rc, out, err):
        expect(rc != 0, "the parent exited 0 (stdout %r); it should reject the runner", out)
        expect(err.strip(), "the parent exited %d without a message on stderr", rc)
        if bad_output is not None:
            expect(bad_output not in out, "the parent passed on output it should have rejected: %r", out)
    return judge


def want_exited_twice(rc, out, err):
    # A frame for a session that is over is Error{PROTOCOL, fatal} (6.4):
    # neither Exited's status is reported.
    expect(rc not in (0, 3, 5), "exit status %s: the parent reported an Exited of a runner that then "
           "broke the protocol", rc)
    expect(err.strip(), "the parent exited %d without a message on stderr", rc)


parent_case("parent-echo", "echo", ["echo", "hello", "conformance"], want_exact(0, b"hello conformance\n", None))
parent_case("parent-exit-code", "exit-code", ["sh", "-c", "exit 7"], want_exact(7, b"out", "err"))
parent_case("parent-exit-signal", "exit-signal", ["sleep", "100"], want_exact(128 + 15, b"", None))
parent_case("parent-spawn-failed", "not-found", ["/nonexistent/prog"], want_exact(127, b"", None))
parent_case("parent-stdin", "stdin", ["cat"], want_exact(0, b"typed into the parent\n", None),
            stdin=b"typed into the parent\n")
parent_case("parent-rejects-output-before-spawned", "output-before-spawned", ["true"], want_rejected(b"early"))
parent_case("parent-rejects-offset-gap", "offset-gap", ["true"], want_rejected(b"ab"))
parent_case("parent-exited-twice", "exited-twice", ["true"], want_exited_twice)
parent_case("parent-rejects-garbage-preface", "garbage-preface", ["true"], want_rejected(b"Welcome"))
parent_case("parent-rejects-oversized-frame", "oversized-frame", ["true"], want_rejected())
parent_case("parent-exited-limit", "exited-limit", ["sleep", "100"], want_exact(128 + 9, b"", None))
parent_case("parent-rejects-unknown-session", "frame-for-unknown-session", ["true"], want_rejected())
parent_case("parent-runner-vanishes", "runner-vanishes", ["sleep", "100"], want_rejected())
parent_case("parent-escapes-spawn-failed", "spawn-failed-escapes", ["/nonexistent/prog"],
            want_no_terminal_control(127))
parent_case("parent-exit-signal-unknown", "exit-signal-unknown", ["sleep", "100"], want_not_success((200,), message=False))
parent_case("parent-exited-no-status", "exited-no-status", ["true"], want_not_success())
parent_case("parent-rejects-two-bodies", "two-bodies", ["true"], want_rejected(b"lost"))
parent_case("parent-rejects-output-after-exited", "output-after-exited", ["true"], want_rejected(b"late"))
parent_case("parent-errors-not-fatal", "errors-not-fatal", ["true"], want_exact(0, b"ok", None))
parent_case("parent-error-too-long", "error-too-long", ["sleep", "100"], want_rejected())
parent_case("parent-credit-over-window", "credit-over-window", ["cat"], want_exact(0, b"ok", None),
            stdin=b"i" * 20000)
parent_case("parent-hello-capabilities", "hello-capabilities", ["echo", "hi"], want_exact(0, b"hi\n", None))
parent_case("parent-rejects-max-sessions-zero", "max-sessions-zero", ["true"], want_rejected())
# A runner on Windows sends the same frames with platform-shaped values
# (docs/PROTOCOL.md 6.6): a parent treats them exactly as any other. A
# 32-bit exit code that a POSIX status cannot hold must never read as 0.
parent_case("parent-windows-exit-code", "win-exit-code", ["cmd", "/c", "exit 7"],
            want_exact(7, b"out\r\n", "err\r\n"))
parent_case("parent-windows-exit-wide", "win-exit-wide", ["crash.exe"], want_exact(1, b"out\r\n", "err\r\n"))
parent_case("parent-windows-exit-256", "win-exit-256", ["prog.exe"], want_exact(1, b"out\r\n", "err\r\n"))
parent_case("parent-windows-spawn-failed", "win-not-found", ["no-such-program"], want_exact(127, b"", None))


class ParentKit(Kit):
    def __init__(self, args):
        super().__init__(args)
        self.parent = args.command
        self.proto = args.proto

    def runner_cmd(self, scenario):
        parts = [sys.executable, os.path.abspath(__file__)]
        if self.proto:
            parts += ["--proto", os.path.abspath(self.proto)]
        parts += ["--as-runner", scenario]
        return " ".join(shlex.quote(p) for p in parts)

    def run_parent(self, scenario, program, judge, stdin, timeout):
        report = os.path.join(self.tmpdir, "report")
        cmd = self.runner_cmd(scenario)
        if any("{runner}" in a for a in self.parent):
            argv = []
            for a in self.parent:
                if a == "{program}":
                    argv += program
                else:
                    argv.append(a.replace("{runner}", cmd))
            if "{program}" not in self.parent:
                argv += program
        else:
            argv = list(self.parent) + ["--runner", cmd, "--"] + program
        env = dict(os.environ, TETHER_CONF_REPORT=report, TETHER_CONF_RUNNER_TIMEOUT=str(timeout))
        self.info("parent: " + " ".join(shlex.quote(a) for a in argv))
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, start_new_session=True)
        try:
            out, err = p.communicate(stdin, timeout=timeout * self.scale)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            fail("the parent did not finish within %ss (hang)", timeout * self.scale)
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the scripted runner, if left over
            except OSError:
                pass
        err_s = err.decode(errors="replace")
        self.info("exit %d, stderr: %s" % (p.returncode, err_s.strip()[-300:]))
        if os.path.exists(report):
            with open(report) as fh:
                findings = fh.read().strip()
            if findings:
                fail("the scripted runner saw: %s", findings.replace("\n", "; "))
        if not os.path.exists(report + ".reached"):
            fail("the parent ended (exit %s) before the scripted runner played scenario %s (stderr: %s)",
                 p.returncode, scenario, err_s.strip()[-200:])
        judge(p.returncode, out, err_s)
        if os.path.exists(report):
            with open(report) as fh:
                findings = fh.read().strip()
            if findings:
                fail("the scripted runner saw: %s", findings.replace("\n", "; "))


def main():
    ap = argparse.ArgumentParser(prog="tether-conformance", add_help=True,
                                 usage="tether-conformance [--only N,..] [-v] [--parent] -- COMMAND ARGS...")
    ap.add_argument("--only", help="comma-separated check numbers or names")
    ap.add_argument("-v", "--verbose", action="count", default=0)
    ap.add_argument("--parent", action="store_true", help="check a parent command instead of a runner")
    ap.add_argument("--list", action="store_true", help="list the checks")
    ap.add_argument("--xfail", metavar="N,NAME,..",
                    help="known failures: reported as xfail, not counted as failed; a pass is an error (XPASS)")
    ap.add_argument("--proto", default=os.environ.get("TETHER_PROTO", DEFAULT_PROTO),
                    help="path of tether.proto (default: the one in this source tree)")
    ap.add_argument("--timeout-scale", type=float, default=float(os.environ.get("TETHER_CONF_TIMEOUT_SCALE", "1")),
                    help="multiply every timeout (slow machines, sanitizers)")
    ap.add_argument("--platform", choices=("posix", "windows"), default="posix",
                    help="the runner's platform: the values the checks expect (default posix)")
    ap.add_argument("--child", metavar="PATH",
                    help="spawn this tether-conf-child (conformance/child/) in every check instead of "
                         "standard POSIX commands; needed with --platform windows")
    ap.add_argument("--as-runner", metavar="SCENARIO", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    args = ap.parse_args(argv)
    args.command = command
    load_schema(args.proto)
    if args.as_runner:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        sys.exit(ScriptedRunner(args.as_runner).run())
    table = PARENT_CHECKS if args.parent else CHECKS
    if args.list:
        for i, (name, _, _, needs) in enumerate(table, 1):
            extra = " (needs %s)" % needs if needs else ""
            print("%d %s%s" % (i, name, extra))
        return 0
    if not command:
        ap.print_usage(sys.stderr)
        print("tether-conformance: give the %s command after --" % ("parent" if args.parent else "runner"),
              file=sys.stderr)
        return 2
    return run_suite(args, table, ParentKit if args.parent else Kit)


if __name__ == "__main__":
    sys.exit(main())
