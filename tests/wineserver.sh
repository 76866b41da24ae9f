#!/bin/sh
# ctest fixture for the Windows tests under Wine (tests/win.cmake):
#   wineserver.sh start WINESERVER WINE
#                                    a persistent wineserver for the run,
#                                    warmed up, so each test process starts
#                                    in a fraction of a second
#   wineserver.sh stop WINESERVER    ends it and every Wine process left
# Uses WINEPREFIX from the environment (default ~/.wine), which must exist
# (created by `wineboot -u`; .ci/windows.sh does that).
set -u
action=$1
server=$2
case $action in
start)
  # The server and the Wine services started here outlive this script:
  # they must not hold ctest's output pipe, or ctest waits for them.
  "$server" -p </dev/null >/dev/null 2>&1
  rc=$?
  # 2: a server for this prefix is running already; it will do.
  [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || { echo "wineserver -p failed ($rc)" >&2; exit 1; }
  "$3" cmd /c exit 0 </dev/null >/dev/null 2>&1 ||
    { echo "wine cannot start a process (is WINEPREFIX set up? wineboot -u)" >&2; exit 1; }
  echo "wineserver running for ${WINEPREFIX:-$HOME/.wine}" ;;
stop)
  "$server" -k 2>/dev/null
  "$server" -w 2>/dev/null
  exit 0 ;;
*)
  echo "usage: wineserver.sh start WINESERVER WINE | stop WINESERVER" >&2
  exit 2 ;;
esac
