#!/bin/sh
# tether-run -t driven as a person would, from a real terminal: tmux runs a
# shell, the script types into it (send-keys) and reads the screen
# (capture-pane). test_tty_tmux.sh TETHER_RUN TETHER_RUNNER
#
# Checks: an interactive shell through `tether-run -t` (its tty, its size,
# the size after a tmux resize, ^C interrupts the foreground job and not the
# shell, less and vi draw and exit cleanly), the exit status, and that the
# local terminal's modes (`stty -a` of the tmux pane) are the same before
# and after tether-run: after a normal exit, after the program is killed,
# after tether-run gets SIGTERM or SIGHUP, after the runner dies, and
# while it is stopped by SIGTSTP (raw again after fg).
# Each check prints "ok  NAME" or "FAIL NAME: why"; exits 1 if any failed,
# 77 (skipped) without tmux unless CI=true.
RUN=$1
RUNNER=$2
[ -x "$RUN" ] && [ -x "$RUNNER" ] || { echo "usage: $0 TETHER_RUN TETHER_RUNNER"; exit 2; }
if ! command -v tmux >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then echo "FAIL tmux is not installed"; exit 1; fi
  echo "skip: tmux is not installed"
  exit 77
fi
case $RUN in /*) ;; *) RUN=$(pwd)/$RUN ;; esac
# Sanitized binaries start slowly: every wait polls for up to WAIT seconds.
WAIT=${TTY_TMUX_WAIT:-60}

T=$(mktemp -d)
S=tether-test-$$
tm() { tmux -L "$S" -f /dev/null "$@"; }
cleanup() {
  tm kill-server >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
failed=0
ok() { echo "ok   $1"; }
bad() {
  echo "FAIL $1: $2"
  echo "---- screen"
  tm capture-pane -p -t t 2>/dev/null | sed '/^$/d' | tail -20
  echo "----"
  failed=1
}

screen() { tm capture-pane -p -J -t t -S -100; }
# wait_for PATTERN: polls the screen (extended regexp) until it shows it.
wait_for() {
  end=$(($(date +%s) + WAIT))
  while [ "$(date +%s)" -le $end ]; do
    screen | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  return 1
}
# type TEXT: types it and Enter, as a person would.
type_line() {
  tm send-keys -t t -l -- "$1"
  tm send-keys -t t Enter
}
pane_tty() { tm display-message -p -t t '#{pane_tty}'; }
modes() { stty -a -F "$(pane_tty)"; }
# The modes without the size (a tmux resize changes that on purpose).
modes_nosize() { modes | sed 's/rows [0-9]*; columns [0-9]*;//'; }
# wait_raw 1|0: until the pane's terminal is (1) or is not (0) in raw mode.
wait_raw() {
  end=$(($(date +%s) + WAIT))
  while [ "$(date +%s)" -le $end ]; do
    if modes | grep -q -- '-icanon'; then [ "$1" = 1 ] && return 0
    else [ "$1" = 0 ] && return 0; fi
    sleep 0.1
  done
  return 1
}
# wait_main_screen: until the full-screen program left the alternate
# screen (it exited, or at least stopped drawing), so the next typed line
# goes to the shell and not into the program's typeahead.
wait_main_screen() {
  end=$(($(date +%s) + WAIT))
  while [ "$(tm display-message -p -t t '#{alternate_on}')" != 0 ] &&
        [ "$(date +%s)" -le $end ]; do sleep 0.1; done
  sleep 0.3
}
n=0
# marker: a fresh word the shell computes, so what was typed never matches.
# Sets $m (the command part) and $want (what the screen shows).
marker() {
  n=$((n + 1))
  m="$1-\$((1000+$n))"
  want="$1-$((1000 + n))"
}

# The outer shell: a clean environment, the pane 100x30 (no status line).
tm new-session -d -s t -x 100 -y 30 \
  "env -i PATH='$PATH' HOME='$T' TERM=screen ENV= PS1='outer\$ ' sh" || { echo "FAIL tmux"; exit 1; }
tm set-option -g status off
tm resize-window -t t -x 100 -y 30
marker outer
type_line "echo $m"
wait_for "$want" || { bad start "the outer shell did not answer"; exit 1; }

# ---------------------------------------------------------- an interactive shell
before=$(modes_nosize)
type_line "'$RUN' -t --env 'PS1=in> ' -- sh"
if wait_raw 1; then ok raw_mode; else bad raw_mode "the pane never went raw: $(modes | head -3)"; fi
marker ready
type_line "echo $m"
wait_for "$want" || bad inner_shell "no answer from the inner shell"

# its tty, and the size of the pane
marker tty
type_line "echo $m-\$(tty)"
if wait_for "$want-/dev/pts/[0-9]+"; then
  inner=$(screen | grep -Eo "$want-/dev/pts/[0-9]+" | head -1 | sed "s/^$want-//")
  if [ "$inner" != "$(pane_tty)" ]; then ok tty; else bad tty "the inner tty is the pane's"; fi
else bad tty "no /dev/pts path"; fi
size=$(tm display-message -p -t t '#{pane_height}x#{pane_width}')
marker size
type_line "echo $m-\$(stty size | tr ' ' x)"
if wait_for "$want-$size([^0-9]|\$)"; then ok "size_$size"; else bad size "want $size"; fi

# a tmux resize reaches the program (SIGWINCH -> Resize)
tm resize-window -t t -x 120 -y 40
end=$(($(date +%s) + WAIT))
while [ "$(tm display-message -p -t t '#{pane_height}x#{pane_width}')" != 40x120 ] &&
      [ "$(date +%s)" -le $end ]; do sleep 0.1; done
marker resized
type_line "echo $m-\$(stty size | tr ' ' x)"
if wait_for "$want-40x120([^0-9]|\$)"; then ok resize_40x120; else bad resize "no 40x120"; fi

# ^C interrupts the foreground job, not the session
type_line "sleep 1000"
sleep 0.5
tm send-keys -t t C-c
marker alive
type_line "echo $m"
if wait_for "$want([^0-9]|\$)"; then ok ctrl_c; else bad ctrl_c "the shell did not come back"; fi

# a full-screen program: less draws, q exits cleanly
seq 1 5000 | sed 's/^/line-/' >"$T/file"
type_line "less '$T/file'"
if wait_for '^line-35$'; then
  tm send-keys -t t q
  wait_main_screen
  marker less
  type_line "echo $m-rc\$?"
  if wait_for "$want-rc0([^0-9]|\$)"; then ok less; else bad less "did not exit cleanly"; fi
else bad less "did not draw"; tm send-keys -t t q; fi

# vi, if there is one: draws, edits, writes, exits
if command -v vi >/dev/null 2>&1; then
  type_line "vi '$T/vi.txt'"
  if wait_for '^~'; then
    tm send-keys -t t i
    tm send-keys -t t -l "hello-vi"
    tm send-keys -t t Escape
    sleep 0.3
    tm send-keys -t t -l ":wq"
    tm send-keys -t t Enter
    wait_main_screen
    marker vi
    type_line "echo $m-rc\$?"
    if wait_for "$want-rc0([^0-9]|\$)" && [ "$(cat "$T/vi.txt" 2>/dev/null)" = hello-vi ]; then ok vi
    else bad vi "file: $(cat "$T/vi.txt" 2>/dev/null)"; fi
  else bad vi "did not draw"; fi
else
  echo "skip vi: not installed"
fi

# the shell's exit status is tether-run's; the pane's modes are back
type_line "exit 7"
wait_raw 0 || bad exit_restores "still raw"
marker status
type_line "echo $m-rc\$?"
if wait_for "$want-rc7([^0-9]|\$)"; then ok exit_status_7; else bad exit_status_7 "no rc7"; fi
after=$(modes_nosize)
if [ "$before" = "$after" ]; then ok modes_after_exit
else bad modes_after_exit "$(echo "$before" | tr '\n' ' ') <> $(echo "$after" | tr '\n' ' ')"; fi

# ------------------------------------------------- other ways out of tether-run
# run_and_end NAME HOW WANT_RC: starts tether-run -t in the pane, ends it
# HOW (a function given tether-run's pid), checks the status and the modes.
run_and_end() {
  rm -f "$T/cpid"
  before=$(modes_nosize)
  type_line "'$RUN' -t --env 'PS1=in> ' -- sh -c 'echo \$\$ >\"$T/cpid\"; exec sh -i'"
  if ! wait_raw 1; then bad "$1" "did not start"; return; fi
  marker "$1-up"
  type_line "echo $m"
  if ! wait_for "$want([^0-9]|\$)" || ! [ -s "$T/cpid" ]; then bad "$1" "no inner shell"; return; fi
  # tether-run (the newest with this command line), its runner, and the
  # child: found from outside, since a root runner's child lives in a PID
  # namespace of its own and its $$ and $PPID are numbered there.
  trpid=$(pgrep -n -f -- "-- sh -c echo")
  rpid=$(pgrep -P "$trpid" | head -1)
  cpid=$(pgrep -P "$rpid" -x sh | head -1)
  case $(ps -o args= -p "$trpid") in
    *tether-run*) ;;
    *) bad "$1" "cannot find tether-run (child $cpid, runner $rpid, $trpid)"; return ;;
  esac
  "$2"
  if ! wait_raw 0; then bad "$1" "the terminal stayed raw"; return; fi
  marker "$1"
  type_line "echo $m-rc\$?"
  if ! wait_for "$want-rc$3([^0-9]|\$)"; then
    bad "$1" "want rc$3: $(screen | grep -Eo "$want-rc[0-9]+")"
    return
  fi
  after=$(modes_nosize)
  if [ "$before" = "$after" ]; then ok "$1"
  else bad "$1" "modes differ: $(echo "$before" | tr '\n' ' ') <> $(echo "$after" | tr '\n' ' ')"; fi
}
kill_child() { tm new-window -d "kill -9 $cpid"; }
term_tether_run() { kill -TERM "$trpid"; } # an interactive sh ignores SIGTERM: killed after the grace
hup_tether_run() { kill -HUP "$trpid"; }
kill_runner() { kill -9 "$rpid"; }
run_and_end child_killed kill_child 137
run_and_end sigterm term_tether_run 137
run_and_end sighup hup_tether_run 129
run_and_end runner_killed kill_runner 125

# SIGTSTP (kill -TSTP; a typed ^Z is the program's): tether-run stops with
# the terminal restored, and takes raw mode back on fg.
before=$(modes_nosize)
rm -f "$T/rpid"
type_line "'$RUN' -t --env 'PS1=in> ' -- sh -c 'echo \$PPID >\"$T/rpid\"; exec sh -i'"
if wait_raw 1; then
  marker tstp-up
  type_line "echo $m"
  wait_for "$want([^0-9]|\$)"
  trpid=$(pgrep -n -f -- "-- sh -c echo")
  kill -TSTP "$trpid"
  if wait_raw 0 && [ "$(modes_nosize)" = "$before" ]; then
    type_line fg
    if wait_raw 1; then
      marker tstp-back
      type_line "echo $m"
      if wait_for "$want([^0-9]|\$)"; then
        type_line "exit 3"
        marker tstp
        wait_raw 0
        type_line "echo $m-rc\$?"
        if wait_for "$want-rc3([^0-9]|\$)" && [ "$(modes_nosize)" = "$before" ]; then ok sigtstp_fg
        else bad sigtstp_fg "no rc3, or the modes differ"; fi
      else bad sigtstp_fg "the inner shell did not answer after fg"; fi
    else bad sigtstp_fg "not raw again after fg"; fi
  else bad sigtstp_fg "not restored while stopped"; fi
else bad sigtstp_fg "did not start"; fi

exit $failed
