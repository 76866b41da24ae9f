#!/bin/sh
# Session containment and resource limits, end to end:
#   test_session_limits.sh TETHER_RUN TETHER_RUNNER
# Each check prints "ok  NAME", "skip NAME: why" or "FAIL NAME: why"; exits 1
# if any failed. Root checks need root; the unprivileged ones run as nobody
# through setpriv when the test runs as root.
RUN=$1
RUNNER=$2
[ -x "$RUN" ] && [ -x "$RUNNER" ] || { echo "usage: $0 TETHER_RUN TETHER_RUNNER"; exit 2; }
PATH=$(dirname "$RUNNER"):$PATH
export PATH
T=$(mktemp -d)
chmod 755 "$T"
trap 'pkill -KILL -f "$T/" 2>/dev/null; rm -rf "$T"' EXIT
failed=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; failed=1; }
skip() { echo "skip $1: $2"; }
root=0; [ "$(id -u)" = 0 ] && root=1

# Processes started from a copy of sleep under $T are found by name.
cp "$(command -v sleep)" "$T/tether-orphan"
count() { pgrep -f "^$T/$1" | wc -l; }
# wait_count NAME N TENTHS: polls until exactly N run; 0 on success.
wait_count() {
  i=0
  while [ "$(count "$1")" -ne "$2" ]; do
    i=$((i + 1)); [ $i -gt "$3" ] && return 1; sleep 0.1
  done
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# 1. The runner killed with SIGKILL takes every descendant with it: a
# setsid grandchild and a double-forked daemon too, within 1 s.
orphans() { # RUN-PREFIX... : runs tether-run (maybe as another user)
  "$@" "$RUN" -- sh -c "setsid $T/tether-orphan 300 & (setsid $T/tether-orphan 301 &); exec $T/tether-orphan 302" \
    >/dev/null 2>&1 &
  trp=$!
  if ! wait_count tether-orphan 3 100; then
    echo "started: $(count tether-orphan)"; kill -9 $trp; wait $trp; return 1
  fi
  runner=$(pgrep -P $trp)
  kill -9 $runner
  t0=$(now_ms)
  wait_count tether-orphan 0 50
  waited=$(( $(now_ms) - t0 ))
  wait $trp 2>/dev/null
  left=$(count tether-orphan)
  echo "left $left after ${waited} ms"
  [ "$left" -eq 0 ] && [ "$waited" -le 1000 ]
}
if [ $root = 1 ]; then
  if out=$(orphans); then ok orphans_root; else bad orphans_root "$out"; fi
else
  skip orphans_root "not root"
fi

# 1b. Unprivileged, the runner cannot create a PID namespace without
# changing what children see (a user namespace), so it says so and keeps
# the fallback: its direct children still die with it (PR_SET_PDEATHSIG).
if [ $root = 1 ] && command -v setpriv >/dev/null; then
  cp "$RUN" "$RUNNER" "$T/"
  chmod 755 "$T/tether-run" "$T/tether-runner"
  NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
  msg=$(TETHER_LOG=debug $NOBODY "$T/tether-run" -- true 2>&1)
  if echo "$msg" | grep -q 'unshare(CLONE_NEWPID): Operation not permitted'
  then ok nobody_says_fallback; else bad nobody_says_fallback "$msg"; fi
  $NOBODY "$T/tether-run" -- "$T/tether-orphan" 303 >/dev/null 2>&1 &
  trp=$!
  if wait_count tether-orphan 1 100; then
    kill -9 "$(pgrep -P $trp)"
    if wait_count tether-orphan 0 50; then ok nobody_direct_child
    else bad nobody_direct_child "the direct child outlived the runner"; fi
  else
    bad nobody_direct_child "did not start"
  fi
  wait $trp 2>/dev/null
  pkill -KILL -f "^$T/tether-orphan"
fi

# 1c. Inside the namespace, getpid() and /proc agree (ps works).
if [ $root = 1 ]; then
  out=$("$RUN" -- sh -c 'test "$(readlink /proc/self)" != "" && ps -o pid= -p $$' 2>&1)
  if [ -n "$out" ]; then ok proc_matches_pid; else bad proc_matches_pid "$out"; fi
fi

# 2. Limits through tether-run: each ends the command and is named.
# limit NAME EXPECTED-LINE TETHER-RUN-ARGS...: runs, checks the stderr line.
# limit NAME MESSAGE [ARGS...]; with WANT_RC=N also the exit status.
limit() {
  name=$1; want=$2; shift 2
  "$RUN" "$@" >"$T/o" 2>"$T/e"
  rc=$?
  if grep -q "tether-run: killed: $want" "$T/e" && [ "${WANT_RC:-$rc}" = $rc ]; then ok "$name"
  else bad "$name" "rc=$rc stderr=$(tail -c 600 "$T/e")"; fi
}
if [ $root = 1 ]; then
  # a fork bomb: the session ends at the pids limit, the machine stays up
  limit fork_bomb "process limit 64 reached" --limit-procs 64 -- \
    sh -c 'b() { b | b & }; b; wait' 
  limit memory "memory limit 128 MiB reached" --limit-memory 128M -- \
    python3 -c 'b = bytearray(1 << 30)'
fi
# SIGXCPU and SIGXFSZ are portable signals: 128 + 24 and 128 + 25.
WANT_RC=152 limit cpu "CPU time limit 1.000 s reached" --limit-cpu 1 -- sh -c 'while :; do :; done'
WANT_RC=153 limit fsize "file size limit 1 MiB reached" --limit-fsize 1M -- \
  dd if=/dev/zero of="$T/big" bs=64k count=32
limit timeout "timeout 0.300 s reached" --timeout 0.3 -- sleep 30
"$RUN" --limit-files 8 -- sh -c 'exec 3<&0 4<&0 5<&0 6<&0 7<&0 8<&0' 2>"$T/e"
if [ $? -ne 0 ] && grep -q 'Too many open files\|Bad file descriptor' "$T/e"; then ok open_files
else bad open_files "$(cat "$T/e")"; fi

# 3. Bad values: a usage error naming the option, before anything runs.
for a in "--limit-memory 12X" "--limit-procs 0" "--limit-cpu abc" "--limit-fsize -1" \
         "--timeout 1.2.3" "--limit-files 1M"; do
  # shellcheck disable=SC2086
  "$RUN" $a -- true 2>"$T/e"
  rc=$?
  opt=${a%% *}
  if [ $rc -eq 125 ] && grep -q "bad $opt" "$T/e"; then ok "usage $a"
  else bad "usage $a" "rc=$rc $(head -1 "$T/e")"; fi
done

# 4. A limit the runner cannot enforce is refused: no cgroup mount (hidden
# by a tmpfs in a private mount namespace) leaves no way to count processes.
if [ $root = 1 ] && command -v unshare >/dev/null; then
  unshare -m sh -c "mount -t tmpfs none /sys/fs/cgroup && \"$RUN\" --limit-procs 10 -- true" \
    >/dev/null 2>"$T/e"
  rc=$?
  if [ $rc -eq 125 ] && grep -q 'limits.processes cannot be enforced' "$T/e"
  then ok refused_without_cgroup; else bad refused_without_cgroup "rc=$rc $(cat "$T/e")"; fi
  # memory falls back to RLIMIT_AS there: the allocation fails instead
  out=$(unshare -m sh -c "mount -t tmpfs none /sys/fs/cgroup && \"$RUN\" --limit-memory 64M -- \
    python3 -c 'b = bytearray(1 << 30)'" 2>&1)
  if echo "$out" | grep -q MemoryError; then ok memory_rlimit_fallback
  else bad memory_rlimit_fallback "$out"; fi
fi

# 5. Unprivileged: no cgroup of its own, so a process limit is refused
# with the reason; the rlimit-based limits work.
if [ $root = 1 ] && [ -x "$T/tether-run" ]; then
  $NOBODY "$T/tether-run" --limit-procs 10 -- true >/dev/null 2>"$T/e"
  rc=$?
  if [ $rc -eq 125 ] && grep -q 'limits.processes cannot be enforced.*Permission denied' "$T/e"
  then ok nobody_procs_refused; else bad nobody_procs_refused "rc=$rc $(cat "$T/e")"; fi
  mkdir "$T/nb" && chmod 777 "$T/nb"
  $NOBODY "$T/tether-run" --limit-fsize 1M -- dd if=/dev/zero of="$T/nb/big" bs=64k count=32 \
    >/dev/null 2>"$T/e"
  if grep -q 'killed: file size limit 1 MiB reached' "$T/e"; then ok nobody_fsize
  else bad nobody_fsize "$(cat "$T/e")"; fi
fi

exit $failed
