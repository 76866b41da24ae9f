#!/bin/sh
# The escape suite (issue 16, docs/SANDBOX.md "Attacks and what stops
# them"): each check runs one attack (tests/sandbox_attack.py) inside
# `tether-run --sandbox ...` and passes only if the sandbox stops it.
#
#   test_sandbox_escape.sh TETHER_RUN TETHER_RUNNER [AS]
#
# AS: "self" (default: as whoever runs it), "nobody" (uid 65534, no
# capabilities) or "nobody-ambient" (uid 65534 with CAP_CHOWN, CAP_FOWNER,
# CAP_SETFCAP and CAP_DAC_OVERRIDE ambient: a non-root runner with
# capabilities). The last two need root to switch user (setpriv); the
# binaries are copied to a 0755 temp dir the user can reach.
# Prints "ok NAME" / "FAIL NAME: why"; exits 1 if any failed. Without
# Landlock / namespaces / seccomp: skipped (exit 0), except with CI=true.
RUN=$1
RUNNER=$2
AS=${3:-self}
HERE=$(cd "$(dirname "$0")" && pwd -P)
[ -x "$RUN" ] && [ -x "$RUNNER" ] || { echo "usage: $0 TETHER_RUN TETHER_RUNNER [AS]"; exit 2; }
command -v python3 >/dev/null 2>&1 || {
  [ "$CI" = true ] && { echo "FAIL: python3 is needed"; exit 1; }
  echo "skipped: no python3"; exit 0
}

if [ "$AS" != self ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
    [ "$CI" = true ] && { echo "FAIL: running as $AS needs root and setpriv"; exit 1; }
    echo "skipped: running as $AS needs root and setpriv"; exit 0
  fi
  D=$(mktemp -d)
  trap 'rm -rf "$D"' EXIT
  chmod 755 "$D"
  cp "$RUN" "$RUNNER" "$0" "$HERE/sandbox_attack.py" "$D/" || exit 1
  chmod 755 "$D"/*
  caps=
  [ "$AS" = nobody-ambient ] &&
    caps="--inh-caps=+chown,+fowner,+setfcap,+dac_override --ambient-caps=+chown,+fowner,+setfcap,+dac_override"
  cd "$D" || exit 1
  # shellcheck disable=SC2086
  setpriv --reuid=65534 --regid=65534 --clear-groups $caps env HOME="$D" \
    sh "$D/$(basename "$0")" "$D/$(basename "$RUN")" "$D/$(basename "$RUNNER")" self
  exit $?
fi

RUN=$(cd "$(dirname "$RUN")" && pwd -P)/$(basename "$RUN")
RUNNER=$(cd "$(dirname "$RUNNER")" && pwd -P)/$(basename "$RUNNER")
PATH=$(dirname "$RUNNER"):$PATH
export PATH
A="python3 $HERE/sandbox_attack.py"
T=$(mktemp -d)
T=$(cd "$T" && pwd -P)
RUNDIR=
PIDS=
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  [ -n "$SHMID" ] && ipcrm -m "$SHMID" 2>/dev/null
  rm -rf "$T"
  [ -n "$RUNDIR" ] && rm -rf "$RUNDIR"
}
trap cleanup EXIT
failed=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; failed=1; }
# check NAME CMD...: the attack must print "blocked"
check() {
  name=$1
  shift
  "$@" >"$T/o" 2>"$T/e"
  rc=$?
  if [ $rc -eq 0 ] && grep -q '^blocked' "$T/o"; then ok "$name ($(head -c 120 "$T/o"))"
  else bad "$name" "rc=$rc $(cat "$T/o" "$T/e" | head -c 600)"; fi
}

mkdir -p "$T/tmp" "$T/ws/.git" "$T/outside"
echo cfg >"$T/ws/.git/config"
TMPDIR=$T/tmp
export TMPDIR
unset TETHER_LOG
cd "$T/ws" || exit 1
if ! "$RUN" --sandbox read-only -- true 2>"$T/probe"; then
  [ "$CI" = true ] && { echo "FAIL: CI=true but profiles are not enforced: $(cat "$T/probe")"; exit 1; }
  echo "skipped: profiles are not enforced here: $(cat "$T/probe")"
  exit 0
fi
echo "as uid $(id -u), $(grep CapEff /proc/self/status | tr -s '\t' ' ')"

# 1. terminal injection: pipes mode under a real terminal (script(1)), and
#    TIOCSTI on the command's own pty
if command -v script >/dev/null 2>&1; then
  for prof in "--sandbox read-only" "--sandbox workspace-write" "--no-network"; do
    # shellcheck disable=SC2086
    script -qec "$RUN $prof -- $A tty" /dev/null </dev/null >"$T/o2" 2>&1
    tr -d '\r' <"$T/o2" >"$T/o3"
    if grep -q '^blocked' "$T/o3"; then ok "tty_pipes $prof ($(head -c 100 "$T/o3"))"
    else bad "tty_pipes $prof" "$(head -c 400 "$T/o3")"; fi
  done
else
  bad tty_pipes "script(1) is needed"
fi
"$RUN" -t --sandbox read-only -- $A tiocsti_fd </dev/null >"$T/o2" 2>&1
tr -d '\r' <"$T/o2" >"$T/o3"
if grep -q '^blocked' "$T/o3"; then ok "tiocsti_pty ($(head -c 100 "$T/o3"))"
else bad tiocsti_pty "$(head -c 400 "$T/o3")"; fi

# 2. metadata outside the roots, and capabilities
echo x >"$T/outside/f"
chmod 644 "$T/outside/f"
before=$(stat -c '%a %u %g %Y' "$T/outside/f")
for prof in read-only workspace-write; do
  check "metadata_outside_roots $prof" "$RUN" --sandbox $prof -- $A metadata "$T/outside/f"
done
check metadata_outside_roots_no_network "$RUN" --sandbox workspace-write --no-network -- \
  $A metadata "$T/outside/f"
after=$(stat -c '%a %u %g %Y' "$T/outside/f")
if [ "$before" = "$after" ]; then ok metadata_unchanged
else bad metadata_unchanged "$before -> $after"; fi
for prof in "--sandbox read-only" "--sandbox workspace-write" "--no-network"; do
  # shellcheck disable=SC2086
  check "capabilities_dropped $prof" "$RUN" $prof -- $A caps
done

# 3. IPC and kernel objects of the world outside
if command -v ipcmk >/dev/null 2>&1; then
  SHMID=$(ipcmk -M 4096 | sed -n 's/.*id: *//p')
  check sysv_shm_private "$RUN" --sandbox read-only -- $A shm "$SHMID"
fi
check keyring_denied "$RUN" --sandbox read-only -- $A keyring
# (with a restricted filesystem Landlock already refuses the file: EACCES)
check acct_denied "$RUN" --no-network -- $A acct "$T/ws/acct"
check netlink_audit_denied "$RUN" --sandbox read-only -- $A netlink_audit
# the runner (the command's parent) and tether-run (its grandparent):
# Landlock scoping, ABI 6 (Linux 6.12); older kernels skip these two and
# the abstract socket check (docs/SANDBOX.md, "Limits")
ABI=$($A landlock_abi)
if [ "${ABI:-0}" -ge 6 ]; then
  check signal_runner_denied "$RUN" --sandbox read-only -- sh -c "exec $A signal \$PPID"
  check signal_tether_run_denied "$RUN" --sandbox workspace-write -- $A signal $$
else
  echo "skipped: signal and abstract socket scoping (Landlock ABI $ABI < 6)"
fi
check setpriority_outside_denied "$RUN" --sandbox read-only -- sh -c "exec $A setpriority \$PPID"
check prlimit_outside_denied "$RUN" --no-network -- sh -c "exec $A prlimit \$PPID"
python3 -c '
import socket, time, sys
s = socket.socket(socket.AF_UNIX); s.bind("\0" + sys.argv[1]); s.listen(8)
time.sleep(120)' "tether-escape-$$" &
PIDS="$PIDS $!"
sleep 0.3
[ "${ABI:-0}" -ge 6 ] &&
  check abstract_socket_scoped "$RUN" --sandbox read-only -- $A unix_connect "@tether-escape-$$"

# 4-5. --no-network: no vsock, no path Unix socket (a runner listening in
#      /tmp and in /run would run anything unconfined)
check vsock_denied "$RUN" --no-network -- $A vsock
check vsock_denied_read_only "$RUN" --sandbox read-only --no-network -- $A vsock
# listen PATH: a tether-runner accepting one connection on PATH
listen() {
  "$RUNNER" --listen "$1" --handshake-timeout 120000 2>/dev/null &
  PIDS="$PIDS $!"
  i=0
  while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
}
mkdir -p "$T/sock"
listen "$T/sock/r1.sock"
check unix_socket_tmp_no_network "$RUN" --no-network -- $A unix_connect "$T/sock/r1.sock"
listen "$T/sock/r2.sock"
check unix_socket_tmp_no_network_ws "$RUN" --sandbox workspace-write:.,"$T/sock" --no-network -- \
  $A unix_connect "$T/sock/r2.sock"
if [ -w /run ]; then
  RUNDIR=$(mktemp -d /run/tether-escape.XXXXXX)
  chmod 755 "$RUNDIR"
  listen "$RUNDIR/r.sock"
  check unix_socket_run_no_network "$RUN" --sandbox read-only --no-network -- \
    $A unix_connect "$RUNDIR/r.sock"
fi

# 6. .git protection
mkdir -p "$T/g1/real.git" "$T/g1/ws"
echo cfg >"$T/g1/real.git/config"
ln -s ../real.git "$T/g1/ws/.git"
cd "$T/g1/ws" || exit 1
# the link's target in a writable root too (..): both must stay as they are
check git_symlink_link "$RUN" --sandbox workspace-write:.,.. -- $A replace .git
check git_symlink_target "$RUN" --sandbox workspace-write:.,.. -- $A write .git/config
[ -L "$T/g1/ws/.git" ] && [ "$(cat "$T/g1/real.git/config")" = cfg ] ||
  bad git_symlink_intact "$(ls -la "$T/g1/ws")"
mkdir -p "$T/g2/ws/store"
echo cfg >"$T/g2/ws/store/config"
echo "gitdir: store" >"$T/g2/ws/.git"
cd "$T/g2/ws" || exit 1
check git_gitdir_target "$RUN" --sandbox workspace-write -- $A write store/config
check git_gitdir_file "$RUN" --sandbox workspace-write -- $A replace .git
check git_gitdir_file_write "$RUN" --sandbox workspace-write -- $A write .git
mkdir -p "$T/tmp/g3" "$T/g3"
echo cfg >"$T/tmp/g3/config"
ln -s "$T/tmp/g3" "$T/g3/.git"
cd "$T/g3" || exit 1
check git_in_temp_dir "$RUN" --sandbox workspace-write -- $A write .git/config
mkdir -p "$T/g4/sub/.git"
echo cfg >"$T/g4/sub/.git/config"
cd "$T/g4" || exit 1
check git_nested_root_swap "$RUN" --sandbox workspace-write:.,sub -- $A replace sub
[ "$(cat "$T/g4/sub/.git/config")" = cfg ] || bad git_nested_root_intact "$(ls -la "$T/g4")"

exit $failed
