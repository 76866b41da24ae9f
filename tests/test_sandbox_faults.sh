#!/bin/sh
# Every child step of the sandbox fails closed (issue 16): with
# tests/sandbox_faults_preload.c in tether-runner, one step at a time fails
# with EPERM, and tether-run must refuse the command (exit 125, the
# command never runs) with a message naming the step.
#   test_sandbox_faults.sh TETHER_RUN TETHER_RUNNER PRELOAD_SO
RUN=$1
RUNNER=$2
SO=$3
[ -x "$RUN" ] && [ -x "$RUNNER" ] && [ -f "$SO" ] || {
  echo "usage: $0 TETHER_RUN TETHER_RUNNER PRELOAD_SO"; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/ws/.git" "$T/tmp" "$T/g"
ln -s ../g "$T/ws/.gitlink"
TMPDIR=$T/tmp
export TMPDIR
cd "$T/ws" || exit 1
if ! "$RUN" --sandbox read-only -- true 2>"$T/probe"; then
  [ "$CI" = true ] && { echo "FAIL: CI=true but profiles are not enforced: $(cat "$T/probe")"; exit 1; }
  echo "skipped: profiles are not enforced here: $(cat "$T/probe")"
  exit 0
fi
# ASan wants to be first in the library list; the shim only wraps calls.
R="env LD_PRELOAD='$SO' ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 '$RUNNER' --stdio"
failed=0
# fault STEP EXPECTED-TEXT [tether-run args...]
fault() {
  step=$1
  text=$2
  shift 2
  TETHER_TEST_SB_FAIL=$step "$RUN" --runner "$R" "$@" -- echo RAN >"$T/o" 2>"$T/e"
  rc=$?
  if [ $rc -eq 125 ] && ! grep -q RAN "$T/o" && grep -qF "$text" "$T/e"; then
    echo "ok   $step ($(head -c 160 "$T/e"))"
  else
    echo "FAIL $step: rc=$rc out=$(cat "$T/o") $(cat "$T/e")"
    failed=1
  fi
}
fault unshare "unshare(CLONE_NEWIPC" --sandbox read-only
fault unshare "unshare(CLONE_NEWIPC|CLONE_NEWNET" --no-network
fault mount_setattr "making the mount tree read-only" --sandbox workspace-write
fault capset "dropping capabilities" --sandbox workspace-write
fault capbset_drop "dropping capabilities" --no-network
fault no_new_privs "PR_SET_NO_NEW_PRIVS" --sandbox read-only
fault landlock_restrict_self "landlock_restrict_self" --sandbox read-only
fault seccomp "loading the seccomp filter" --sandbox workspace-write --no-network
fault setsid "child setup" --sandbox read-only
# a kernel without the feature: the runner's probe refuses every profile
fault probe_ipc "IPC namespaces are not available" --sandbox read-only
fault probe_mount_setattr "a read-only mount tree is not available" --no-network
fault probe_seccomp "seccomp is not available" --sandbox workspace-write
# a protected .git symlink that cannot be mounted over
mkdir -p "$T/ws2"
ln -s ../g "$T/ws2/.git"
cd "$T/ws2" || exit 1
fault open_tree "protected link $T/ws2/.git" --sandbox workspace-write:.,..
# and without a fault the same commands run
out=$(TETHER_TEST_SB_FAIL= "$RUN" --runner "$R" --sandbox workspace-write:.,.. --no-network -- echo RAN)
if [ "$out" = RAN ]; then echo "ok   no_fault_runs"; else echo "FAIL no_fault_runs: $out"; failed=1; fi
exit $failed
