"""The subset that tether shares with subprocess/asyncio, run against both
backends: the same assertions must hold for `subprocess` and for tether, so
tether's behaviour is proved to match."""

import asyncio
import hashlib
import os
import signal
import subprocess

import pytest

import tether
from conftest import runner_path


class SubprocessBackend:
    name = "subprocess"

    def run(self, *a, **kw):
        return subprocess.run(*a, **kw)

    async def exec(self, *a, **kw):
        return await asyncio.create_subprocess_exec(*a, **kw)

    def close(self):
        pass


class TetherBackend:
    name = "tether"

    def __init__(self):
        self.r = tether.Runner(argv=[runner_path(), "--fd", "3"])

    def run(self, *a, **kw):
        return self.r.run(*a, **kw)

    async def exec(self, *a, **kw):
        return await self.r.create_subprocess_exec(*a, **kw)

    def close(self):
        self.r.close()


@pytest.fixture(params=["subprocess", "tether"])
def backend(request):
    b = SubprocessBackend() if request.param == "subprocess" else TetherBackend()
    yield b
    b.close()


PIPE = subprocess.PIPE

# ---------------------------------------------------------------- run()


def test_capture_and_exit_code(backend):
    r = backend.run(["sh", "-c", "printf out; printf err >&2; exit 7"],
                    capture_output=True, stdin=subprocess.DEVNULL)
    assert isinstance(r, subprocess.CompletedProcess)
    assert (r.returncode, r.stdout, r.stderr) == (7, b"out", b"err")
    assert r.args == ["sh", "-c", "printf out; printf err >&2; exit 7"]


def test_check_raises_called_process_error(backend):
    with pytest.raises(subprocess.CalledProcessError) as ei:
        backend.run(["sh", "-c", "echo x; exit 3"], stdout=PIPE, check=True,
                    stdin=subprocess.DEVNULL)
    assert ei.value.returncode == 3
    assert ei.value.stdout == b"x\n"
    if backend.name == "tether":
        assert isinstance(ei.value, tether.CalledProcessError)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_signal_gives_negative_returncode(backend, sig):
    r = backend.run(["sh", "-c", "kill -%d $$" % sig], stdin=subprocess.DEVNULL)
    assert r.returncode == -sig


def test_input_and_stdin_eof(backend):
    r = backend.run(["cat"], input=b"hello\0world", capture_output=True)
    assert r.stdout == b"hello\0world" and r.returncode == 0
    # Empty input is an immediate end of file, not a hang.
    r = backend.run(["wc", "-c"], input=b"", capture_output=True)
    assert r.stdout.strip() == b"0"
    # A reader of stdin sees EOF after the input.
    r = backend.run(["sh", "-c", "read a; read b || echo EOF:$a"], input=b"one\n",
                    capture_output=True)
    assert r.stdout == b"EOF:one\n"


def test_text_mode(backend):
    r = backend.run(["sh", "-c", "printf 'h\\303\\251'"], capture_output=True,
                    text=True, stdin=subprocess.DEVNULL)
    assert r.stdout == "h\u00e9"
    r = backend.run(["cat"], input="\u00e9t\u00e9", capture_output=True, text=True)
    assert r.stdout == "\u00e9t\u00e9"


def test_merge_stderr(backend):
    r = backend.run(["sh", "-c", "echo a; echo b >&2"], stdout=PIPE,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert sorted(r.stdout.splitlines()) == [b"a", b"b"] and r.stderr is None


def test_env_and_cwd(backend, tmp_path):
    r = backend.run(["/bin/sh", "-c", "echo $A ${HOME-unset}; pwd"],
                    env={"A": "1", "PATH": "/usr/bin:/bin"}, cwd=str(tmp_path),
                    capture_output=True, stdin=subprocess.DEVNULL)
    assert r.stdout.decode().splitlines() == ["1 unset", os.path.realpath(tmp_path)]


def test_missing_program_raises_file_not_found(backend):
    with pytest.raises(FileNotFoundError) as ei:
        backend.run(["/nonexistent/program"], stdin=subprocess.DEVNULL)
    assert ei.value.errno == 2
    if backend.name == "tether":
        assert ei.value.stage == "exec"
        assert "/nonexistent/program" in str(ei.value)


def test_not_executable_raises_permission_error(backend, tmp_path):
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\necho no\n")
    f.chmod(0o644)
    if os.geteuid() == 0:
        f.chmod(0o600)  # root may execute anything with an x bit; there is none
    with pytest.raises(PermissionError) as ei:
        backend.run([str(f)], stdin=subprocess.DEVNULL)
    assert ei.value.errno == 13
    if backend.name == "tether":
        assert ei.value.stage == "exec"


def test_bad_cwd_raises_file_not_found(backend, tmp_path):
    with pytest.raises(FileNotFoundError):
        backend.run(["true"], cwd=str(tmp_path / "missing"), stdin=subprocess.DEVNULL)


def test_timeout(backend):
    with pytest.raises(subprocess.TimeoutExpired) as ei:
        backend.run(["sh", "-c", "echo started; exec sleep 30"], stdout=PIPE,
                    timeout=0.5, stdin=subprocess.DEVNULL)
    assert ei.value.timeout == 0.5
    assert ei.value.stdout == b"started\n"
    if backend.name == "tether":
        assert isinstance(ei.value, tether.TimeoutExpired)


def test_64mib_byte_exact_through_cat_run(backend):
    data = os.urandom(1 << 20) * 64
    r = backend.run(["cat"], input=data, capture_output=True)
    assert len(r.stdout) == len(data)
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()

# -------------------------------------------------------------- asyncio


def test_async_cat_stdin_drain_eof(backend):
    async def main():
        p = await backend.exec("cat", stdin=PIPE, stdout=PIPE, stderr=PIPE)
        assert p.pid > 0 and p.returncode is None
        p.stdin.write(b"line 1\n")
        await p.stdin.drain()
        assert await p.stdout.readline() == b"line 1\n"
        p.stdin.write(b"line 2\n")
        p.stdin.write_eof()
        assert await p.stdout.read() == b"line 2\n"
        assert await p.wait() == 0
        assert p.returncode == 0
    asyncio.run(main())


def test_async_communicate(backend):
    async def main():
        p = await backend.exec("sh", "-c", "cat; echo err >&2; exit 4",
                               stdin=PIPE, stdout=PIPE, stderr=PIPE)
        out, err = await p.communicate(b"abc")
        assert (out, err, p.returncode) == (b"abc", b"err\n", 4)
    asyncio.run(main())


@pytest.mark.parametrize("how,sig", [("terminate", signal.SIGTERM),
                                     ("kill", signal.SIGKILL),
                                     ("send_signal", signal.SIGINT)])
def test_async_signals(backend, how, sig):
    async def main():
        p = await backend.exec("sleep", "30", stdin=subprocess.DEVNULL,
                               stdout=PIPE, stderr=PIPE)
        if how == "send_signal":
            p.send_signal(sig)
        else:
            getattr(p, how)()
        assert await p.wait() == -sig
        # Signalling a process that has ended is refused the same way.
        with pytest.raises(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    asyncio.run(main())


def test_async_missing_program(backend):
    async def main():
        with pytest.raises(FileNotFoundError):
            await backend.exec("/nonexistent/program", stdin=PIPE, stdout=PIPE)
    asyncio.run(main())


def test_async_64mib_byte_exact_through_cat(backend):
    chunk = os.urandom(1 << 20)
    total = 64

    async def main():
        p = await backend.exec("cat", stdin=PIPE, stdout=PIPE, stderr=PIPE)

        async def feed():
            for _ in range(total):
                p.stdin.write(chunk)
                await p.stdin.drain()
            p.stdin.write_eof()

        async def read():
            h, n = hashlib.sha256(), 0
            while True:
                b = await p.stdout.read(1 << 16)
                if not b:
                    return h.digest(), n
                h.update(b)
                n += len(b)

        _, (digest, n) = await asyncio.gather(feed(), read())
        assert await p.wait() == 0
        return digest, n

    digest, n = asyncio.run(main())
    assert n == total << 20
    assert digest == hashlib.sha256(chunk * total).digest()


def test_async_write_after_exit_is_broken_pipe(backend):
    async def main():
        p = await backend.exec("true", stdin=PIPE, stdout=PIPE)
        await p.wait()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(64):
                p.stdin.write(b"x" * 65536)
                await p.stdin.drain()
    asyncio.run(main())
