#!/bin/sh
# Regenerates the committed codecs from proto/ and compares them with gen/.
#
#   cmake/check-gen.sh            regenerate into a temp dir, diff, clean up
#   cmake/check-gen.sh OUTDIR     regenerate into OUTDIR (kept), diff
#   cmake/check-gen.sh --write    regenerate straight into gen/ (the regen target)
#
# Exits non-zero and prints the diff when gen/ is stale. The generators run
# from the repository root with relative paths, so the output holds no
# absolute paths or timestamps and is byte-for-byte reproducible.
# Environment: PROTOC (protoc with protoc-gen-c on PATH), NANOPB_GEN,
# NANOPB_PYTHON (a python3 that has google.protobuf; Debian: /usr/bin/python3).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

PROTOC=${PROTOC:-protoc}
NANOPB_GEN=${NANOPB_GEN:-$(command -v nanopb_generator.py || echo /usr/bin/nanopb_generator.py)}
NANOPB_PYTHON=${NANOPB_PYTHON:-/usr/bin/python3}
[ -x "$NANOPB_PYTHON" ] || NANOPB_PYTHON=python3

proto=tether/v1/tether.proto
tmp=

generate() {
  out=$1
  mkdir -p "$out/protobuf-c" "$out/nanopb"
  "$PROTOC" -Iproto --c_out="$out/protobuf-c" "$proto"
  "$NANOPB_PYTHON" "$NANOPB_GEN" -q -I proto -f proto/tether.options \
    -D "$out/nanopb" "$proto"
  # nanopb declares enum fields whose enum has no negative values as UENUM
  # (unsigned varint), which rejects a sign-extended negative value and
  # encodes one in 5 bytes; protobuf (and protobuf-c) treat every enum as
  # int32: 10-byte sign extension on the wire, truncation on decode. There is
  # no generator option for this, so the field descriptors are switched to
  # ENUM here; both codecs then agree on open enum values.
  sed 's/\([ ,]\)UENUM,/\1ENUM, /' "$out/nanopb/tether/v1/tether.pb.h" \
    > "$out/nanopb/tether/v1/tether.pb.h.tmp"
  mv "$out/nanopb/tether/v1/tether.pb.h.tmp" "$out/nanopb/tether/v1/tether.pb.h"
}

case "${1:-}" in
  --write)
    generate gen
    exit 0
    ;;
  "")
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT INT TERM
    out=$tmp
    ;;
  *)
    out=$1
    ;;
esac

generate "$out"
status=0
for f in protobuf-c/tether/v1/tether.pb-c.c protobuf-c/tether/v1/tether.pb-c.h \
         nanopb/tether/v1/tether.pb.c nanopb/tether/v1/tether.pb.h; do
  if [ ! -f "gen/$f" ]; then
    echo "check-gen: gen/$f is missing" >&2
    status=1
    continue
  fi
  if ! diff -u "gen/$f" "$out/$f"; then
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "check-gen: gen/ is stale; run the 'regen' target (or cmake/check-gen.sh --write) and commit" >&2
fi
exit "$status"
