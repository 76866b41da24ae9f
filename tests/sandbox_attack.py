"""Attacks a sandboxed command tries (tests/test_sandbox_escape.sh).

    python3 sandbox_attack.py NAME ARGS...

Prints "blocked: WHY" and exits 0 when the attack fails the way the
sandbox should make it fail, "ESCAPED: WHAT" and exits 1 when it worked.
Only the standard library (ctypes for the system calls Python lacks)."""
import ctypes
import errno
import fcntl
import os
import socket
import sys
import termios

libc = ctypes.CDLL(None, use_errno=True)
NR = {"add_key": 248, "keyctl": 250, "acct": 163, "landlock_create_ruleset": 444}  # x86_64
AF_VSOCK = getattr(socket, "AF_VSOCK", 40)
NETLINK_AUDIT = 9


def escaped(what):
    print("ESCAPED: " + what)
    sys.exit(1)


def blocked(why):
    print("blocked: " + why)
    sys.exit(0)


def os_error(e):
    return "%s (%s)" % (errno.errorcode.get(e.errno, e.errno), e.strerror)


def tty():
    """Terminal injection through the controlling terminal (pipes mode)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError as e:
        blocked("open /dev/tty: " + os_error(e))
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"#")
    except OSError as e:
        blocked("opened /dev/tty, TIOCSTI: " + os_error(e))
    escaped("TIOCSTI into /dev/tty")


def tiocsti_fd():
    """TIOCSTI on the command's own terminal (pty mode, fd 0)."""
    try:
        fcntl.ioctl(0, termios.TIOCSTI, b"#")
    except OSError as e:
        blocked("TIOCSTI: " + os_error(e))
    escaped("TIOCSTI on fd 0")


def metadata(path):
    """chmod/chown/utime/setxattr on a file outside the writable roots."""
    done = []
    for name, fn in (("chmod", lambda: os.chmod(path, 0o4777)),
                     ("chown", lambda: os.chown(path, 1, 1)),
                     ("utime", lambda: os.utime(path, (0, 0))),
                     ("setxattr", lambda: os.setxattr(path, "user.tether", b"x"))):
        try:
            fn()
            done.append(name)
        except OSError:
            pass
    if done:
        escaped(" ".join(done) + " on " + path)
    blocked("no metadata change on " + path)


def caps():
    """Every capability set is empty."""
    left = []
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cap") and int(line.split()[1], 16) != 0:
                left.append(line.strip())
    if left:
        escaped(", ".join(left))
    blocked("no capabilities")


def shm(shmid):
    """Attach a SysV shared memory segment created outside."""
    libc.shmat.restype = ctypes.c_void_p
    p = libc.shmat(int(shmid), None, 0)
    if p is None or p == ctypes.c_void_p(-1).value:
        blocked("shmat: " + errno.errorcode.get(ctypes.get_errno(), "?"))
    escaped("attached shm %s" % shmid)


def syscall_blocked(name, *args):
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(NR[name], *args)
    e = ctypes.get_errno()
    if name == "acct" and r == 0:
        libc.syscall(NR["acct"], None)  # switch it off again
    if r >= 0:
        escaped("%s returned %d" % (name, r))
    blocked("%s: %s" % (name, errno.errorcode.get(e, e)))


def keyring():
    syscall_blocked("add_key", b"user", b"tether-escape", b"v", 1, ctypes.c_long(-4))


def acct(path):
    """Process accounting (root only): acct(2) needs an existing file."""
    open(path, "a").close()
    syscall_blocked("acct", path.encode())


def outside_pid_namespace(pid):
    # $PPID is 0 when the runner is outside the child's PID namespace
    # (tether-runner as root, PROTOCOL.md section 9): no pid names it, and
    # pid 0 would mean our own process group.
    if int(pid) == 0:
        blocked("the runner is outside this PID namespace (getppid() is 0)")


def signal(pid):
    outside_pid_namespace(pid)
    try:
        os.kill(int(pid), 0)
    except OSError as e:
        blocked("kill(%s, 0): %s" % (pid, os_error(e)))
    escaped("may signal pid %s" % pid)


def setpriority(pid):
    outside_pid_namespace(pid)
    try:
        os.setpriority(os.PRIO_PROCESS, int(pid), os.getpriority(os.PRIO_PROCESS, int(pid)))
    except OSError as e:
        blocked("setpriority(%s): %s" % (pid, os_error(e)))
    escaped("setpriority on pid %s" % pid)


def prlimit(pid):
    outside_pid_namespace(pid)
    import resource
    try:
        cur = resource.prlimit(int(pid), resource.RLIMIT_NOFILE)
        resource.prlimit(int(pid), resource.RLIMIT_NOFILE, cur)
    except OSError as e:
        blocked("prlimit(%s): %s" % (pid, os_error(e)))
    escaped("prlimit set on pid %s" % pid)


def sock(family, typ=socket.SOCK_STREAM, proto=0):
    try:
        s = socket.socket(family, typ, proto)
    except OSError as e:
        blocked("socket(%d, %d, %d): %s" % (family, typ, proto, os_error(e)))
    s.close()
    escaped("socket(%d, %d, %d) created" % (family, typ, proto))


def netlink_audit():
    sock(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)


def vsock():
    sock(AF_VSOCK)


def unix_connect(path):
    """Connect to a path (or, with a leading @, abstract) Unix socket."""
    addr = "\0" + path[1:] if path.startswith("@") else path
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as e:
        blocked("socket(AF_UNIX): " + os_error(e))
    try:
        s.connect(addr)
    except OSError as e:
        blocked("connect %s: %s" % (path, os_error(e)))
    escaped("connected to " + path)


def replace(path):
    """Swap `path` (a .git link, file or directory) for a fake repository."""
    try:
        os.rename(path, path + "-old")
    except OSError as e1:
        try:
            os.unlink(path)
        except OSError as e2:
            blocked("rename: %s, unlink: %s" % (os_error(e1), os_error(e2)))
    os.mkdir(path)
    with open(os.path.join(path, "config"), "w") as f:
        f.write("[core]\n\tfsmonitor = touch /tmp/pwned\n")
    escaped("replaced " + path)


def write(path):
    try:
        with open(path, "a") as f:
            f.write("[core]\n\tfsmonitor = evil\n")
    except OSError as e:
        blocked("write %s: %s" % (path, os_error(e)))
    escaped("wrote " + path)


def landlock_abi():
    """Not an attack: prints the kernel's Landlock ABI (0 if none)."""
    libc.syscall.restype = ctypes.c_long
    v = libc.syscall(NR["landlock_create_ruleset"], None, 0, 1)
    print(max(v, 0))


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
