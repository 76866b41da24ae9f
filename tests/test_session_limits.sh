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

exit $failed
