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

# 8b. a second SIGINT (or SIGTERM) within 3 s terminates the program
# (SIGTERM to its group, SIGKILL after the runner's grace), for a program
# that ignores both. -v says when the first was forwarded, so the two are
# never merged into one delivery.
rm -f "$T/o" "$T/e" # (the job creates them when it starts: no earlier test's text)
"$RUN" -v -- sh -c 'trap "" INT TERM; echo ready; while :; do sleep 0.05; done' >"$T/o" 2>"$T/e" &
pid=$!
i=0
while ! grep -q ready "$T/o" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
kill -INT $pid
i=0
while ! grep -q 'forwarding signal' "$T/e" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
kill -INT $pid
# (a hang guard, not a timing: a tether-run that only forwards never ends)
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 $pid 2>/dev/null && kill -KILL $pid
wait $pid
rc=$?
if [ $rc -eq 137 ] && grep -q 'second SIGINT' "$T/e"; then ok second_sigint_terminates
else bad second_sigint_terminates "rc=$rc $(cat "$T/e")"; fi

# 8c. stderr's reader gone: the program gets SIGPIPE, as stdout's would
# (141), instead of flooding forever
{ timeout 60 "$RUN" -- sh -c 'while :; do echo flood >&2; done' 2>&1 >/dev/null; echo $? >"$T/rc"; } |
  head -1 >/dev/null
rc=$(cat "$T/rc")
if [ "$rc" = 141 ]; then ok stderr_reader_gone; else bad stderr_reader_gone "rc=$rc"; fi
{ timeout 60 "$RUN" -- sh -c 'while :; do echo flood; done'; echo $? >"$T/rc"; } | head -1 >/dev/null
rc=$(cat "$T/rc")
if [ "$rc" = 141 ]; then ok stdout_reader_gone; else bad stdout_reader_gone "rc=$rc"; fi

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
rm -f "$T/in" "$T/out"

# ---- -t: the program on a terminal, without a local one (tests/
# test_tty_tmux.sh drives it from a real terminal). Output lines end in
# \r\n (the terminal's ONLCR); input typed into the terminal is echoed.
nocr() { tr -d '\r'; }

# 11. a pty of the requested size: 24x80 by default, $LINES x $COLUMNS
"$RUN" -t -- sh -c 'tty; stty size' </dev/null >"$T/o" 2>"$T/e"
rc=$?
if [ $rc -eq 0 ] && nocr <"$T/o" | head -1 | grep -Eq '^/dev/pts/[0-9]+$' &&
   [ "$(nocr <"$T/o" | sed -n 2p)" = "24 80" ]
then ok tty_pts_size; else bad tty_pts_size "rc=$rc out=$(cat "$T/o") $(cat "$T/e")"; fi
out=$(LINES=30 COLUMNS=100 "$RUN" -t -- stty size </dev/null | nocr)
if [ "$out" = "30 100" ]; then ok tty_size_env; else bad tty_size_env "out=$out"; fi

# 12. TERM is passed on (also with --clear-env); --env TERM=... wins
out=$(TERM=tether-test-term "$RUN" -t --clear-env -- /bin/sh -c 'echo "$TERM"' </dev/null | nocr)
if [ "$out" = tether-test-term ]; then ok tty_term; else bad tty_term "out=$out"; fi
out=$(TERM=xterm "$RUN" -t --env TERM=vt100 -- sh -c 'echo "$TERM"' </dev/null | nocr)
if [ "$out" = vt100 ]; then ok tty_term_override; else bad tty_term_override "out=$out"; fi

# 13. -T forces pipes (last one wins)
out=$("$RUN" -t -T -- sh -c '[ -t 1 ] && echo tty || echo pipe' </dev/null)
out2=$("$RUN" -T -t -- sh -c '[ -t 1 ] && echo tty || echo pipe' </dev/null | nocr)
if [ "$out" = pipe ] && [ "$out2" = tty ]; then ok tty_T; else bad tty_T "out=$out out2=$out2"; fi

# 14. exit statuses as for pipes
"$RUN" -t -- sh -c 'exit 3' </dev/null; rc1=$?
"$RUN" -t -- sh -c 'kill -TERM $$' </dev/null; rc2=$?
"$RUN" -t -- /nonexistent </dev/null 2>/dev/null; rc3=$?
if [ $rc1 -eq 3 ] && [ $rc2 -eq 143 ] && [ $rc3 -eq 127 ]; then ok tty_exit_status
else bad tty_exit_status "rc=$rc1 $rc2 $rc3"; fi

# 15. piped input is typed in; its end is the terminal's EOF (^D)
out=$(printf abc | "$RUN" -t -- wc -c | nocr)
rc=$?
if [ "$out" = "abc3" ]; then ok tty_stdin_eof; else bad tty_stdin_eof "out=$out"; fi
printf 'echo hi-$((6*7))\nexit 5\n' | "$RUN" -t -- sh >"$T/o" 2>&1
rc=$?
if [ $rc -eq 5 ] && grep -q 'hi-42' "$T/o"; then ok tty_shell_script
else bad tty_shell_script "rc=$rc out=$(cat "$T/o")"; fi

# 16. 200000 lines in: every byte arrives (the program's count and
# checksum match), and cat's output plus the echo are 400000 lines
seq 1 200000 >"$T/seq"
want=$(cksum <"$T/seq")
{ "$RUN" -t -- cksum <"$T/seq"; echo $? >"$T/rc"; } | nocr | tail -1 >"$T/o"
# The terminal echoes the input (lossily, see below), so cksum's line may
# follow an echoed fragment with no newline between: it ends the output.
case "$(cat "$T/o")" in *"$want") got_cksum=1 ;; *) got_cksum=0 ;; esac
if [ "$(cat "$T/rc")" = 0 ] && [ $got_cksum = 1 ]; then ok tty_in_200000_cksum
else bad tty_in_200000_cksum "rc=$(cat "$T/rc") got=$(cat "$T/o") want=$want"; fi
# Through cat, byte-exact: echo off before the input comes (the input is
# held back until the program said "go"). With echo on, the echo is
# lossy by the kernel's design: when the terminal's output is not drained
# at once, n_tty drops the oldest pending echoes.
mkfifo "$T/fifo"
exec 3<>"$T/fifo"
# (fd 3, our writer, is not inherited: the input ends when we close it.)
{ "$RUN" -t -- sh -c 'stty -echo; echo go; exec cat' <"$T/fifo" 2>"$T/e"; echo $? >"$T/rc"; } >"$T/o" 3>&- &
pid=$!
i=0
while ! grep -q go "$T/o" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
cat "$T/seq" >&3
exec 3>&-
wait $pid
if [ "$(cat "$T/rc")" = 0 ] && nocr <"$T/o" | sed 1d | cmp -s - "$T/seq"; then ok tty_cat_200000
else bad tty_cat_200000 "rc=$(cat "$T/rc") lines=$(wc -l <"$T/o"); \
  $(nocr <"$T/o" | sed 1d | cmp - "$T/seq" 2>&1 | head -1); last: $(tail -c 16 "$T/o" | nocr | tr '\n' ' '); \
  stderr: $(head -c 300 "$T/e")"; fi
# output only (stdin is /dev/null: no echo): byte-identical once \r is gone
{ "$RUN" -t -- seq 1 200000 </dev/null; echo $? >"$T/rc"; } | nocr >"$T/o"
if [ "$(cat "$T/rc")" = 0 ] && cmp -s "$T/o" "$T/seq"; then ok tty_out_200000
else bad tty_out_200000 "rc=$(cat "$T/rc") sizes $(wc -c <"$T/o") $(wc -c <"$T/seq")"; fi

# 17. 50 MB through the terminal, none lost
{ "$RUN" -t -- sh -c 'yes | head -c 50000000' </dev/null; echo $? >"$T/rc"; } | nocr | wc -c >"$T/o"
if [ "$(cat "$T/rc")" = 0 ] && [ "$(cat "$T/o")" -eq 50000000 ]; then ok tty_yes_50MB
else bad tty_yes_50MB "rc=$(cat "$T/rc") bytes=$(cat "$T/o")"; fi

# 18. a program that writes and exits at once never loses its last output
# (TETHER_RUN_TTY_LOOP runs, default 1000)
loops=${TETHER_RUN_TTY_LOOP:-1000}
i=0; lost=0
while [ $i -lt "$loops" ]; do
  out=$("$RUN" -t -- printf last </dev/null)
  [ "$out" = last ] || { lost=$((lost + 1)); echo "  run $i: \"$out\""; }
  i=$((i + 1))
done
if [ $lost -eq 0 ]; then ok "tty_last_output_x$loops"; else bad "tty_last_output_x$loops" "$lost lost"; fi

# 19. signals to tether-run -t: SIGTERM terminates the program (its trap
# runs; one that ignores SIGTERM is killed after the grace), SIGHUP hangs
# it up, SIGINT is forwarded
tty_sig() { # SIGNAL SCRIPT -> the exit status
  # The background job truncates $T/o only when it starts: the previous
  # call's "ready" must not be taken for this one's.
  rm -f "$T/o"
  "$RUN" -t -- sh -c "$2" </dev/null >"$T/o" 2>/dev/null &
  pid=$!
  i=0
  while ! grep -q ready "$T/o" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
  kill -"$1" $pid
  wait $pid
}
loopsh='echo ready; while :; do sleep 0.05; done'
tty_sig TERM "trap 'exit 42' TERM; $loopsh"; rc1=$?
tty_sig TERM "trap '' TERM; $loopsh"; rc2=$?
tty_sig HUP "trap 'exit 43' HUP; $loopsh"; rc3=$?
tty_sig INT "trap 'exit 44' INT; $loopsh"; rc4=$?
if [ $rc1 -eq 42 ] && [ $rc2 -eq 137 ] && [ $rc3 -eq 43 ] && [ $rc4 -eq 44 ]; then ok tty_signals
else bad tty_signals "rc=$rc1 $rc2 $rc3 $rc4 (want 42 137 43 44)"; fi

exit $failed
