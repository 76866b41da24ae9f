#!/usr/bin/env bash
# Unpacks the codec runtimes' sources (protobuf-c, nanopb) for the mingw-w64
# build. Debian ships both runtimes only as Linux libraries, so the Windows
# build compiles their runtime .c files itself -- from Debian's own source
# packages, at exactly the versions of the installed generators
# (protoc-c, nanopb_generator), never from copies kept in this tree.
#
#   cmake/win-deps.sh [DIR]     (default /opt/tether-win-deps)
#
# Leaves DIR/protobuf-c and DIR/nanopb (links to the unpacked sources) and
# prints DIR: pass it to CMake as -DTETHER_WIN_DEPS_DIR=DIR. Idempotent.
# Needs root (or sudo) the first time: it enables deb-src entries that mirror
# the existing deb ones and runs apt-get update.
set -euo pipefail
dest=${1:-/opt/tether-win-deps}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# Source version of an installed binary package (binNMU suffix dropped).
src_version() {
  dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null ||
    { echo "win-deps: $1 is not installed (run .ci/deps)" >&2; exit 1; }
}
pbc_ver=$(src_version protobuf-c-compiler)   # e.g. 1.4.1-1
npb_ver=$(src_version nanopb)                # e.g. 0.4.7-2
pbc_up=${pbc_ver%-*}
npb_up=${npb_ver%-*}

have() {
  [ -f "$dest/protobuf-c-$pbc_up/protobuf-c/protobuf-c.c" ] &&
    [ -f "$dest/nanopb-$npb_up/pb_decode.c" ]
}

if ! have; then
  # deb-src entries mirroring the deb ones (deb822 and one-line formats).
  changed=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -q '^Types: deb$' "$f"; then
      $sudo sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
      changed=1
    fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    if grep -q '^deb ' "$f" && ! grep -q '^deb-src ' "$f"; then
      $sudo sed -i -e 'p' -e 's/^deb /deb-src /;t' -e 'd' "$f"
      changed=1
    fi
  done
  if [ "$changed" = 1 ] || ! apt-cache showsrc nanopb >/dev/null 2>&1 ||
     [ -z "$(apt-cache showsrc nanopb 2>/dev/null)" ]; then
    $sudo apt-get update -qq
  fi
  command -v dpkg-source >/dev/null ||
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends dpkg-dev

  $sudo mkdir -p "$dest"
  tmp=$($sudo mktemp -d "$dest/.fetch.XXXXXX")
  # apt-get source warns when it cannot drop to the _apt user; harmless.
  (cd "$tmp" && $sudo apt-get source -qq "protobuf-c=$pbc_ver" "nanopb=$npb_ver") \
    2> >(grep -v -e 'sandbox' -e '^W: Download is performed unsandboxed' >&2)
  for d in "protobuf-c-$pbc_up" "nanopb-$npb_up"; do
    [ -d "$tmp/$d" ] || { echo "win-deps: apt-get source did not unpack $d" >&2; exit 1; }
    $sudo rm -rf "${dest:?}/$d"
    $sudo mv "$tmp/$d" "$dest/$d"
  done
  $sudo rm -rf "$tmp"
  have || { echo "win-deps: runtime sources missing after unpacking" >&2; exit 1; }
fi

$sudo ln -sfn "protobuf-c-$pbc_up" "$dest/protobuf-c"
$sudo ln -sfn "nanopb-$npb_up" "$dest/nanopb"
echo "$dest"
