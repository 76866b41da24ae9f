"""What only tether has: runner handles, extras of the result, pty,
sandbox, backpressure, many sessions, a dying runner, cleanup."""

import asyncio
import gc
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

import tether
from conftest import pid_gone, runner_path, vm_rss_kib

PIPE = tether.PIPE

# ------------------------------------------------------------ runner handles


def test_runner_info_and_close_reaps(runner_exe):
    r = tether.Runner(argv=[runner_exe, "--fd", "3"])
    info = r.info
    assert info["implementation"] == "tether-runner"
    assert info["protocol_version"] >= 1
    pid = r.pid
    assert pid and not pid_gone(pid)
    assert r.run(["true"]).returncode == 0
    r.close()
    r.close()  # idempotent
    assert r.closed
    # close() reaped it: not even a zombie is left.
    assert not os.path.exists("/proc/%d" % pid)
    with pytest.raises(ValueError, match="closed"):
        r.run(["true"])


def test_context_managers(runner_exe):
    with tether.Runner(argv=[runner_exe, "--fd", "3"]) as r:
        pid = r.pid
        assert r.run(["true"]).returncode == 0
    assert r.closed and not os.path.exists("/proc/%d" % pid)

    async def main():
        async with tether.Runner(argv=[runner_exe, "--fd", "3"]) as r:
            p = await r.create_subprocess_exec("echo", "hi", stdin=tether.DEVNULL)
            assert await p.stdout.read() == b"hi\n"
            return r
    assert asyncio.run(main()).closed


def test_stdio_runner(runner_exe):
    # The shape of Runner(argv=["ssh", "host", "tether-runner", "--stdio"]).
    with tether.Runner(argv=["sh", "-c", 'exec "$0" --stdio', runner_exe],
                       stdio=True) as r:
        assert r.run(["echo", "via stdio"], capture_output=True).stdout == b"via stdio\n"


def test_connect_unix_socket(runner_exe, tmp_path):
    path = str(tmp_path / "runner.sock")
    srv = subprocess.Popen([runner_exe, "--listen", path])
    try:
        for _ in range(500):
            if os.path.exists(path):
                break
            time.sleep(0.01)
        with tether.Runner.connect(path) as r:
            assert r.pid is None  # attached: not ours
            assert r.run(["echo", "sock"], capture_output=True).stdout == b"sock\n"
        assert srv.wait(timeout=30) == 0  # it served its one connection
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def test_bad_runner_and_socket_errors(tmp_path):
    with pytest.raises(tether.TetherError) as ei:
        tether.Runner(argv=["/nonexistent/tether-runner"])
    assert ei.value.name == "TETHER_EOS"
    assert "/nonexistent/tether-runner" in str(ei.value)
    with pytest.raises(tether.TetherError) as ei:
        tether.Runner(argv=["sh", "-c", "echo not a runner"], stdio=True)
    assert ei.value.name in ("TETHER_EPREFACE", "TETHER_ECLOSED")
    # connect() waits up to handshake_timeout for the socket to appear.
    with pytest.raises(tether.TetherError) as ei:
        tether.Runner.connect(str(tmp_path / "nobody"), handshake_timeout=0.3)
    assert ei.value.name in ("TETHER_ETIMEDOUT", "TETHER_ECLOSED")
    assert "nobody" in str(ei.value)

# ----------------------------------------------------------------- run()


def test_result_extras(runner):
    r = runner.run(["sh", "-c", "head -c 5000 /dev/zero; head -c 300 /dev/zero >&2"],
                   capture_output=True, stdout_cap=1000)
    assert isinstance(r, tether.CompletedProcess)
    assert len(r.stdout) == 1000 and r.stdout_dropped == 4000
    assert len(r.stderr) == 300 and r.stderr_dropped == 0
    assert r.pid > 0 and r.signal is None and not r.timed_out
    assert r.user_time is not None and r.max_rss_kib > 0
    r = runner.run(["sh", "-c", "kill -USR1 $$"])
    assert r.returncode == -signal.SIGUSR1 and r.signal == signal.SIGUSR1
    r = runner.run(["sleep", "30"], runner_timeout=0.2)
    assert r.timed_out and r.returncode < 0


def test_extra_env_overlay(runner):
    r = runner.run(["sh", "-c", 'echo "$TETHER_X:${PATH:+path}"'],
                   extra_env={"TETHER_X": "y"}, capture_output=True)
    assert r.stdout == b"y:path\n"


def test_output_to_descriptor(runner, tmp_path):
    f = tmp_path / "out"
    with open(f, "wb") as fh:
        runner.run(["echo", "to file"], stdout=fh)
    assert f.read_bytes() == b"to file\n"


def test_bad_arguments(runner):
    with pytest.raises(ValueError, match="NUL"):
        runner.run(["echo", "a\0b"])
    with pytest.raises(ValueError, match="capture_output"):
        runner.run(["true"], capture_output=True, stdout=PIPE)
    with pytest.raises(ValueError, match="sandbox filesystem"):
        runner.run(["true"], sandbox="nonsense")
    with pytest.raises(tether.TetherError) as ei:
        runner.run(["true"], pty=True, pty_size=(0, 99999))
    assert ei.value.name == "TETHER_EINVAL"


def test_runner_killed_mid_session_blocking(runner):
    # The runner is SIGKILLed while run() waits for its command. (From
    # outside: a root runner's children live in a PID namespace of their
    # own, where the runner has no pid.)
    import threading
    threading.Timer(0.5, os.kill, (runner.pid, signal.SIGKILL)).start()
    with pytest.raises(tether.RunnerError, match="runner") as ei:
        runner.run(["sleep", "30"])
    assert "signal 9" in str(ei.value)
    with pytest.raises(tether.RunnerError):
        runner.run(["true"])

# ------------------------------------------------------------------- pty


def test_pty_session_with_resize(runner):
    async def main():
        p = await runner.create_subprocess_exec(
            "sh", "-c", "stty size; read x; stty size; tty >/dev/null && echo tty",
            pty=True, pty_size=(100, 30))
        assert p.stderr is None
        first = await p.stdout.readuntil(b"\n")
        assert first.strip() == b"30 100"
        p.resize(120, 40)
        p.stdin.write(b"go\n")
        rest = b""
        while True:
            b = await p.stdout.read(4096)
            if not b:
                break
            rest += b
        lines = [l.strip() for l in rest.splitlines()]
        assert b"40 120" in lines and b"tty" in lines
        assert await p.wait() == 0
    asyncio.run(main())


def test_pty_blocking_run_and_resize_refused_on_pipes(runner):
    r = runner.run(["sh", "-c", "test -t 0 && test -t 1 && echo yes"], pty=True,
                   capture_output=True)
    assert r.stdout.strip() == b"yes" and r.stderr == b""

    async def main():
        p = await runner.create_subprocess_exec("true")
        with pytest.raises(ValueError, match="pty"):
            p.resize(80, 24)
        await p.wait()
    asyncio.run(main())

# --------------------------------------------------------------- sandbox


def test_sandbox_read_only_refuses_writes(runner, tmp_path):
    target = tmp_path / "written"
    r = runner.run(["sh", "-c", 'echo data > "$0"', str(target)], sandbox="read-only",
                   capture_output=True)
    assert r.returncode != 0
    assert not target.exists()
    assert b"ermission denied" in r.stderr or b"ead-only" in r.stderr
    # Reading is still allowed.
    r = runner.run(["cat", "/etc/hostname"], sandbox="read-only", capture_output=True)
    assert r.returncode == 0
    # The same write without a sandbox works (the test can fail).
    assert runner.run(["sh", "-c", 'echo data > "$0"', str(target)]).returncode == 0
    assert target.read_bytes() == b"data\n"


@pytest.fixture
def not_tmp():
    """A directory outside the temp dir (which workspace-write allows)."""
    d = tempfile.mkdtemp(prefix="tether-py-", dir=os.getcwd())
    yield d
    subprocess.run(["rm", "-rf", d])


def test_sandbox_workspace_write(not_tmp, monkeypatch):
    import pathlib
    ws = pathlib.Path(not_tmp) / "ws"
    ws.mkdir()
    outside = pathlib.Path(not_tmp) / "outside"
    # The runner's temp dir is writable too: give this runner one of its
    # own, so "outside" is outside wherever the tree lives (even in /tmp).
    (pathlib.Path(not_tmp) / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(pathlib.Path(not_tmp) / "tmp"))
    runner = tether.Runner(argv=[runner_path(), "--fd", "3"])
    sb = tether.Sandbox("workspace-write", writable_roots=[str(ws)])
    r = runner.run(["sh", "-c", 'echo in > "$0/f" && echo out > "$1"', str(ws),
                    str(outside)], sandbox=sb, capture_output=True)
    assert (ws / "f").read_bytes() == b"in\n"
    assert r.returncode != 0 and not outside.exists()
    assert runner.run(["sh", "-c", 'echo out > "$0"', str(outside)]).returncode == 0
    runner.close()


def test_sandbox_network_denied(runner):
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_STREAM)\n"
            "try: s.connect(('127.0.0.1',9)); print('connected')\n"
            "except OSError as e: print('errno', e.errno)\n")
    r = runner.run([sys.executable, "-c", code], network=False, capture_output=True)
    assert r.stdout.startswith(b"errno")
    assert r.stdout.split()[1] in (b"101", b"113", b"111", b"99")  # no route, unreachable


def test_sandbox_unenforceable_fails_closed(runner, tmp_path):
    sb = tether.Sandbox("workspace-write", writable_roots=[str(tmp_path / "nowhere")])
    with pytest.raises(OSError) as ei:
        runner.run(["true"], sandbox=sb)
    assert ei.value.stage == "permissions"

# ----------------------------------------------------------- backpressure


def test_backpressure_bounds_memory(runner):
    """A 1 GiB producer whose stdout is not read: the reader's buffer stops
    at limit*2 + one window, the command blocks, and this process's RSS
    stays flat; reading then delivers every byte."""
    total = 1 << 30

    async def main():
        base = vm_rss_kib()
        p = await runner.create_subprocess_exec("head", "-c", str(total), "/dev/zero",
                                                stdin=tether.DEVNULL, limit=1 << 16)
        # Let it run unread. Without backpressure ~all of 1 GiB arrives here.
        for _ in range(30):
            await asyncio.sleep(0.1)
        buffered = len(p.stdout._buffer)
        grown = vm_rss_kib() - base
        assert p.returncode is None  # blocked, not finished
        assert buffered <= 2 * (1 << 16) + (256 << 10)
        assert grown < 48 * 1024, "RSS grew by %d KiB while unread" % grown
        n, peak = 0, 0
        while True:
            b = await p.stdout.read(1 << 20)
            if not b:
                break
            n += len(b)
            if n % (64 << 20) < len(b):
                peak = max(peak, vm_rss_kib() - base)
        assert n == total
        assert await p.wait() == 0
        assert peak < 48 * 1024, "RSS grew by %d KiB while reading" % peak
    asyncio.run(main())


def test_backpressure_per_stream(runner):
    """stderr unread does not stop stdout from being delivered in full."""
    async def main():
        p = await runner.create_subprocess_exec(
            "sh", "-c", "head -c 4000000 /dev/zero; echo done >&2",
            stdin=tether.DEVNULL)
        out = await p.stdout.read()
        assert len(out) == 4000000
        assert await p.stderr.read() == b"done\n"
        assert await p.wait() == 0
    asyncio.run(main())

# ------------------------------------------------------------ concurrency


def test_100_concurrent_sessions(runner):
    async def one(i):
        p = await runner.create_subprocess_exec(
            "sh", "-c", 'read x; echo "$0:$x"; head -c "$0" /dev/zero >&2', str(i * 1000))
        out, err = await p.communicate(b"in%d\n" % i)
        return p.returncode, out, len(err)

    async def main():
        return await asyncio.gather(*(one(i) for i in range(100)))

    results = asyncio.run(main())
    for i, (rc, out, nerr) in enumerate(results):
        assert (rc, out, nerr) == (0, b"%d:in%d\n" % (i * 1000, i), i * 1000)


def test_runner_killed_mid_session_async(runner):
    async def main():
        p = await runner.create_subprocess_exec("sleep", "30", stdin=tether.DEVNULL)
        q = await runner.create_subprocess_exec("cat")
        os.kill(runner.pid, signal.SIGKILL)
        with pytest.raises(tether.RunnerError, match="signal 9"):
            await p.wait()
        with pytest.raises(tether.RunnerError):
            await q.stdout.read()
        with pytest.raises(tether.RunnerError):
            q.stdin.write(b"x")
        with pytest.raises(tether.RunnerError):
            await runner.create_subprocess_exec("true")
    asyncio.run(main())

# ------------------------------------------------------------------ leaks


def _proc_gone(pid, seconds=20.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pid_gone(pid):
            return True
        time.sleep(0.02)
    return False


def test_gc_frees_runner_and_sessions(runner_exe):
    r = tether.Runner(argv=[runner_exe, "--fd", "3"])
    rpid = r.pid

    async def start(runner):
        p = await runner.create_subprocess_exec("sleep", "300", stdin=tether.DEVNULL)
        return p.pid, p

    cpid, p = asyncio.run(start(r))
    assert not pid_gone(cpid)
    del p
    gc.collect()
    assert _proc_gone(cpid), "the session's command outlived its Process"
    del r
    gc.collect()
    assert not os.path.exists("/proc/%d" % rpid), "the runner outlived its Runner"


@pytest.mark.parametrize("how", ["exit", "exception"])
def test_interpreter_exit_without_close(runner_exe, how):
    here = os.path.dirname(os.path.abspath(__file__))
    script = textwrap.dedent("""
        import asyncio, sys
        sys.path.insert(0, %r)
        import tether
        r = tether.Runner(argv=[%r, "--fd", "3"])
        async def main():
            return await r.create_subprocess_exec("sleep", "300", stdin=tether.DEVNULL)
        p = asyncio.run(main())
        print(r.pid, p.pid, flush=True)
        if %r == "exception":
            raise SystemExit("leaving with a runner and a session open")
    """ % (os.path.dirname(here), runner_exe, how))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         timeout=60)
    rpid, cpid = map(int, out.stdout.split())
    # The exit handler freed the parent, which ended the sessions and reaped
    # the runner before the interpreter was gone: nothing is left at once
    # (a runner left to notice the closed channel by itself would still be
    # shutting down here).
    assert pid_gone(rpid), "the runner outlived the interpreter"
    assert pid_gone(cpid), "the command outlived the interpreter"


def test_small_stdin_queue_feeds_everything(runner_exe):
    # stdin_queue_max far below run()'s own high water: the library keeps
    # answering EAGAIN, and no byte may be lost or repeated.
    data = os.urandom(3 << 20)
    with tether.Runner(argv=[runner_exe, "--fd", "3"], stdin_queue_max=4096) as r:
        assert r.run(["cat"], input=data, capture_output=True).stdout == data
        rfd, wfd = os.pipe()
        with os.fdopen(wfd, "wb") as w:
            w.write(b"from a pipe\n")
        with os.fdopen(rfd, "rb") as rf:
            assert r.run(["cat"], stdin=rf, capture_output=True).stdout == b"from a pipe\n"
