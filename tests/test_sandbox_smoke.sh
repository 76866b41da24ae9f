#!/bin/sh
# Permission profiles as a user meets them (docs/SANDBOX.md):
#   test_sandbox_smoke.sh TETHER_RUN TETHER_RUNNER
# Each check prints "ok  NAME" or "FAIL NAME: why"; exits 1 if any failed.
# Without Landlock / namespaces the checks are skipped (exit 0 with a
# notice), except with CI=true, where that is a failure.
RUN=$1
RUNNER=$2
[ -x "$RUN" ] && [ -x "$RUNNER" ] || { echo "usage: $0 TETHER_RUN TETHER_RUNNER"; exit 2; }
RUN=$(cd "$(dirname "$RUN")" && pwd -P)/$(basename "$RUN")
RUNNER=$(cd "$(dirname "$RUNNER")" && pwd -P)/$(basename "$RUNNER")
PATH=$(dirname "$RUNNER"):$PATH
export PATH
T=$(mktemp -d)
T=$(cd "$T" && pwd -P)
LPID=
trap 'rm -rf "$T"; [ -n "$LPID" ] && kill "$LPID" 2>/dev/null' EXIT
failed=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; failed=1; }

# The runner's temp dir is a writable root of workspace-write profiles; a
# private one keeps "outside the roots" outside it (the workspace itself may
# live under /tmp).
mkdir -p "$T/tmp" "$T/ws/.git" "$T/ws/src" "$T/ws/docs" "$T/outside"
echo cfg >"$T/ws/.git/config"
echo hello >"$T/ws/readme"
TMPDIR=$T/tmp
export TMPDIR
unset TETHER_LOG

# Does this runner enforce profiles? (It refuses them, naming what is
# missing, when it cannot.)
cd "$T/ws" || exit 1
"$RUN" --sandbox read-only -- true 2>"$T/probe"
if [ $? -ne 0 ]; then
  if [ "$CI" = true ]; then
    echo "FAIL enforcement: CI=true but the runner cannot enforce profiles: $(cat "$T/probe")"
    exit 1
  fi
  echo "skipped: this kernel cannot enforce profiles: $(cat "$T/probe")"
  exit 0
fi

# 1. read-only: reading works, writing in the workspace fails with EACCES
out=$("$RUN" --sandbox read-only -- sh -c 'cat readme; echo x >new' 2>"$T/e")
rc=$?
if [ "$out" = hello ] && [ $rc -ne 0 ] && grep -Eq 'Permission denied|Read-only file system' "$T/e" && [ ! -e new ]
then ok read_only; else bad read_only "rc=$rc out=$out err=$(cat "$T/e")"; fi

# 2. workspace-write: inside the root works, outside fails, .git stays read-only
"$RUN" --sandbox workspace-write -- sh -c 'echo a >a && mkdir -p d && echo b >d/b' 2>"$T/e"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat a)" = a ] && [ "$(cat d/b)" = b ]
then ok workspace_write_inside; else bad workspace_write_inside "rc=$rc $(cat "$T/e")"; fi
"$RUN" --sandbox workspace-write -- sh -c "echo x >'$T/outside/x'" 2>"$T/e"
rc=$?
if [ $rc -ne 0 ] && grep -Eq 'Permission denied|Read-only file system' "$T/e" && [ ! -e "$T/outside/x" ]
then ok workspace_write_outside; else bad workspace_write_outside "rc=$rc $(cat "$T/e")"; fi
"$RUN" --sandbox workspace-write -- sh -c 'echo x >>.git/config' 2>"$T/e"
rc1=$?
"$RUN" --sandbox workspace-write -- sh -c 'echo x >.git/new' 2>>"$T/e"
rc2=$?
"$RUN" --sandbox workspace-write -- sh -c 'cat .git/config' >"$T/o" 2>>"$T/e"
rc3=$?
if [ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] && [ $rc3 -eq 0 ] && [ "$(cat .git/config)" = cfg ] &&
   [ "$(cat "$T/o")" = cfg ] && [ ! -e .git/new ]
then ok git_stays_read_only; else bad git_stays_read_only "rc=$rc1/$rc2/$rc3 $(cat "$T/e")"; fi
"$RUN" --sandbox workspace-write -- sh -c 'echo t >"$TMPDIR/t"' 2>"$T/e"
rc=$?
if [ $rc -eq 0 ] && [ -e "$T/tmp/t" ]; then ok temp_dir_writable
else bad temp_dir_writable "rc=$rc $(cat "$T/e")"; fi

# 3. a command started in a subdirectory can still write to the other roots
#    (they are resolved against tether-run's cwd, not --cwd)
"$RUN" --cwd src --sandbox workspace-write:src,docs -- sh -c 'echo s >s && echo d >../docs/d' 2>"$T/e"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat src/s)" = s ] && [ "$(cat docs/d)" = d ]
then ok subdirectory_other_roots; else bad subdirectory_other_roots "rc=$rc $(cat "$T/e")"; fi
"$RUN" --cwd src --sandbox workspace-write:src,docs -- sh -c 'echo x >../top' 2>"$T/e"
rc=$?
if [ $rc -ne 0 ] && [ ! -e top ]; then ok subdirectory_not_parent
else bad subdirectory_not_parent "rc=$rc $(cat "$T/e")"; fi

# 4. network denied: a listener on 127.0.0.1 is reachable without the
#    profile and not with it
if command -v python3 >/dev/null 2>&1; then
  python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1]); sys.stdout.flush()
time.sleep(120)' >"$T/port" &
  LPID=$!
  i=0
  while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  PORT=$(cat "$T/port")
  C="import socket; socket.create_connection(('127.0.0.1', $PORT), timeout=5); print('connected')"
  out=$("$RUN" -- python3 -c "$C" 2>"$T/e")
  rc=$?
  if [ $rc -eq 0 ] && [ "$out" = connected ]; then ok network_allowed
  else bad network_allowed "rc=$rc $(cat "$T/e")"; fi
  out=$("$RUN" --no-network -- python3 -c "$C" 2>"$T/e")
  rc=$?
  if [ $rc -ne 0 ] && [ -z "$out" ]; then ok network_denied
  else bad network_denied "rc=$rc out=$out $(cat "$T/e")"; fi
  out=$("$RUN" --sandbox read-only --no-network -- python3 -c "$C" 2>"$T/e")
  rc=$?
  if [ $rc -ne 0 ] && [ -z "$out" ]; then ok network_denied_read_only
  else bad network_denied_read_only "rc=$rc out=$out $(cat "$T/e")"; fi
  kill "$LPID" 2>/dev/null
  LPID=
elif [ "$CI" = true ]; then
  bad network "python3 is needed for the network checks"
else
  echo "skipped: network checks (no python3)"
fi

# 5. fail closed: full access needs the runner's flag; bad roots are named
"$RUN" --sandbox full-access -- true 2>"$T/e"
rc=$?
if [ $rc -eq 125 ] && grep -q -- '--allow-full-access' "$T/e"; then ok full_access_refused
else bad full_access_refused "rc=$rc $(cat "$T/e")"; fi
out=$("$RUN" --runner "'$RUNNER' --stdio --allow-full-access" --sandbox full-access -- sh -c "echo x >'$T/outside/fa' && echo fa" 2>"$T/e")
rc=$?
if [ $rc -eq 0 ] && [ "$out" = fa ]; then ok full_access_with_flag
else bad full_access_with_flag "rc=$rc $(cat "$T/e")"; fi
"$RUN" --sandbox workspace-write:nowhere -- true 2>"$T/e"
rc=$?
if [ $rc -eq 125 ] && grep -q 'nowhere' "$T/e" && grep -q 'No such file' "$T/e"
then ok missing_root_named; else bad missing_root_named "rc=$rc $(cat "$T/e")"; fi

# 6. the decision is logged at debug level with the resolved roots
TETHER_LOG=debug "$RUN" --cwd src --sandbox workspace-write:src,docs --no-network -- true 2>"$T/e"
rc=$?
if [ $rc -eq 0 ] &&
   grep -q "permissions: workspace-write, network denied; writable: $T/ws/src, $T/ws/docs, $T/tmp (temp dir); read-only:" "$T/e"
then ok debug_log; else bad debug_log "rc=$rc $(cat "$T/e")"; fi
TETHER_LOG=debug "$RUN" -- true 2>"$T/e"
if grep -q "permissions: no profile: unrestricted" "$T/e"; then ok debug_log_unrestricted
else bad debug_log_unrestricted "$(cat "$T/e")"; fi

exit $failed
