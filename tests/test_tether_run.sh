#!/bin/sh
# tether-run end to end: test_tether_run.sh TETHER_RUN TETHER_RUNNER
# Each check prints "ok  NAME" or "FAIL NAME: why"; exits 1 if any failed.
RUN=$1
RUNNER=$2
[ -x "$RUN" ] && [ -x "$RUNNER" ] || { echo "usage: $0 TETHER_RUN TETHER_RUNNER"; exit 2; }
# The default runner is the one next to tether-run, else the one on PATH.
PATH=$(dirname "$RUNNER"):$PATH
export PATH
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failed=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; failed=1; }

# 1. output on both streams and the exit code
"$RUN" -- sh -c 'printf out; printf err >&2; exit 7' >"$T/o" 2>"$T/e"
rc=$?
if [ $rc -eq 7 ] && [ "$(cat "$T/o")" = out ] && [ "$(cat "$T/e")" = err ]; then ok exit7
else bad exit7 "rc=$rc out=$(cat "$T/o") err=$(cat "$T/e")"; fi

# 2. a missing program: 127 and a message naming the path and the OS error
"$RUN" -- /nonexistent >"$T/o" 2>"$T/e"
rc=$?
if [ $rc -eq 127 ] && grep -q '/nonexistent' "$T/e" && grep -q 'No such file or directory' "$T/e"
then ok not_found; else bad not_found "rc=$rc stderr=$(cat "$T/e")"; fi

# 2b. not executable: 126
"$RUN" -- /etc/hostname >/dev/null 2>"$T/e"
rc=$?
if [ $rc -eq 126 ]; then ok not_executable; else bad not_executable "rc=$rc $(cat "$T/e")"; fi

# 3. stdin forwarded, EOF closes it
out=$(printf data | "$RUN" -- cat)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = data ]; then ok stdin_cat; else bad stdin_cat "rc=$rc out=$out"; fi

# 3b. stdin is /dev/null or closed: closed at once
out=$("$RUN" -- cat </dev/null); rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then ok stdin_null; else bad stdin_null "rc=$rc"; fi
out=$("$RUN" -- cat <&-); rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then ok stdin_closed; else bad stdin_closed "rc=$rc"; fi

# 4. killed by a signal: 128+N
"$RUN" -- sh -c 'kill -TERM $$'
rc=$?
if [ $rc -eq 143 ]; then ok signaled; else bad signaled "rc=$rc"; fi

# 5. a runner on stdio through --runner
out=$("$RUN" --runner "sh -c \"exec $RUNNER --stdio\"" -- echo hi)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = hi ]; then ok runner_stdio; else bad runner_stdio "rc=$rc out=$out"; fi

# 6. options: --cwd, --env, --clear-env, --merge-stderr
out=$("$RUN" --cwd / --env TETHER_X=42 -- sh -c 'echo $PWD $TETHER_X')
if [ "$out" = "/ 42" ]; then ok cwd_env; else bad cwd_env "out=$out"; fi
out=$("$RUN" --clear-env --env ONLY=1 -- /usr/bin/env)
if [ "$out" = "ONLY=1" ]; then ok clear_env; else bad clear_env "out=$out"; fi
out=$("$RUN" --merge-stderr -- sh -c 'echo a; echo b >&2' 2>/dev/null | sort | tr '\n' ' ')
if [ "$out" = "a b " ]; then ok merge_stderr; else bad merge_stderr "out=$out"; fi
"$RUN" --cwd /nonexistent-dir -- true 2>"$T/e"
rc=$?
if [ $rc -eq 125 ] && grep -q nonexistent-dir "$T/e"; then ok bad_cwd; else bad bad_cwd "rc=$rc"; fi

# 7. runner failure: 125 with a message
"$RUN" --runner 'exit 3' -- true 2>"$T/e"
rc=$?
if [ $rc -eq 125 ] && grep -q runner "$T/e"; then ok runner_fails; else bad runner_fails "rc=$rc $(cat "$T/e")"; fi

# 8. SIGTERM to tether-run reaches the program's group
"$RUN" -- sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done' >"$T/o" 2>/dev/null &
pid=$!
i=0
while [ ! -s "$T/o" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
wait $pid
rc=$?
if [ $rc -eq 42 ]; then ok forward_sigterm; else bad forward_sigterm "rc=$rc"; fi

# 9. streaming: output arrives before the program ends
"$RUN" -- sh -c 'echo early; sleep 3; echo late' >"$T/o" &
pid=$!
i=0
while ! grep -q early "$T/o" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
if grep -q early "$T/o" && ! grep -q late "$T/o"; then ok streams; else bad streams "not streamed"; fi
wait $pid

# 10. bulk, byte-identical (TETHER_RUN_BULK_MIB, default 64): output only
# (the file is cat's argument), then through stdin as well.
mib=${TETHER_RUN_BULK_MIB:-64}
head -c $((mib * 1024 * 1024)) /dev/urandom >"$T/in"
"$RUN" -- cat "$T/in" >"$T/out"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/in" "$T/out"; then ok "bulk_out_${mib}MiB"
else bad "bulk_out_${mib}MiB" "rc=$rc sizes $(wc -c <"$T/in") $(wc -c <"$T/out")"; fi
rm -f "$T/out"
# Needs a runner that back-pressures stdin (Credit{STDIN}, or not reading
# the channel while a session's stdin queue is full); else tether-run stops
# the program with 125 rather than lose input.
"$RUN" -- cat <"$T/in" >"$T/out" 2>"$T/e"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/in" "$T/out"; then ok "bulk_stdin_${mib}MiB"
else bad "bulk_stdin_${mib}MiB" "rc=$rc sizes $(wc -c <"$T/in") $(wc -c <"$T/out") $(head -c 300 "$T/e")"; fi
rm -f "$T/out"
cat "$T/in" | "$RUN" -- cat 2>/dev/null | cmp -s - "$T/in"
if [ $? -eq 0 ]; then ok "bulk_pipe_${mib}MiB"; else bad "bulk_pipe_${mib}MiB" "differs"; fi

exit $failed
