#!/usr/bin/env bash
# Draws tether-bench results as SVGs with gnuplot (Debian: gnuplot-nox).
#
#   build/bin/tether-bench --out results      # writes results/bench.jsonl and
#                                             # results/latency_*.txt
#   bench/plot.sh results                     # writes results/*.svg
#
# throughput.svg       MB/s against the child's write size, for tether pipe
#                      mode, the direct pipe hop, ssh -T and JSON+base64
# latency_spawn.svg    CDFs of spawn -> Exited (/bin/true) vs posix_spawn+wait
# latency_echo_1B.svg, latency_echo_4KiB.svg
#                      CDFs of the stdin -> cat -> output round trip vs raw pipes
set -euo pipefail

dir=${1:-results}
jsonl=$dir/bench.jsonl
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "plot.sh: gnuplot not found (Debian: gnuplot-nox); plots skipped" >&2
  exit 0
fi
if [ ! -s "$jsonl" ]; then
  echo "plot.sh: no $jsonl; run tether-bench --out $dir first" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

extract() { # prefix -> "write_size MB/s" rows, sorted by size
  awk -v pre="\"name\":\"$1_" '
    index($0, "\"kind\":\"throughput\"") && index($0, pre) {
      ws = $0; sub(/.*"write_size":/, "", ws); sub(/[,}].*/, "", ws)
      b = $0; sub(/.*"bytes_per_s":/, "", b); sub(/[,}].*/, "", b)
      print ws, b / 1e6
    }' "$jsonl" | sort -n
}

series=()
for v in tether_pipe_stdout:"tether pipe mode" direct_pipe:"direct pipe hop" \
         ssh:"ssh -T localhost" json_base64:"JSON + base64"; do
  key=${v%%:*}
  extract "$key" > "$tmp/$key.dat"
  [ -s "$tmp/$key.dat" ] && series+=("'$tmp/$key.dat' using 1:2 with linespoints title '${v#*:}'")
done
if [ ${#series[@]} -gt 0 ]; then
  plot=$(IFS=,; echo "${series[*]}")
  gnuplot <<EOF
set terminal svg size 800,500 dynamic font 'sans,12'
set output '$dir/throughput.svg'
set title 'child stdout to the reading process: throughput vs write size'
set xlabel 'child write size (bytes)'
set ylabel 'MB/s (first byte to last, median)'
set logscale xy
set xtics ('4 KiB' 4096, '64 KiB' 65536, '1 MiB' 1048576)
set key outside right
set grid
plot $plot
EOF
  echo "plot.sh: $dir/throughput.svg"
fi

cdf() { # title output tether-file baseline-file
  local title=$1 out=$2 a=$3 b=$4
  [ -s "$a" ] && [ -s "$b" ] || { echo "plot.sh: no samples for $out" >&2; return; }
  local na nb
  na=$(wc -l < "$a")
  nb=$(wc -l < "$b")
  sort -g "$a" | awk -v n="$na" '{print $1, NR / n}' > "$tmp/a.cdf"
  sort -g "$b" | awk -v n="$nb" '{print $1, NR / n}' > "$tmp/b.cdf"
  gnuplot <<EOF
set terminal svg size 800,500 dynamic font 'sans,12'
set output '$out'
set title '$title'
set xlabel 'microseconds (log)'
set ylabel 'fraction of samples'
set logscale x
set yrange [0:1]
set key bottom right
set grid
plot '$tmp/a.cdf' using 1:2 with steps title 'tether', \
     '$tmp/b.cdf' using 1:2 with steps title 'baseline'
EOF
  echo "plot.sh: $out"
}

cdf 'spawn -> Exited of /bin/true (tether) vs posix\_spawn + waitpid' "$dir/latency_spawn.svg" \
  "$dir/latency_tether_spawn_exit_true.txt" "$dir/latency_posix_spawn_waitpid_true.txt"
cdf 'stdin -> cat -> output, 1 byte: tether vs two raw pipes' "$dir/latency_echo_1B.svg" \
  "$dir/latency_tether_echo_cat_1B.txt" "$dir/latency_raw_pipes_echo_cat_1B.txt"
cdf 'stdin -> cat -> output, 4 KiB: tether vs two raw pipes' "$dir/latency_echo_4KiB.svg" \
  "$dir/latency_tether_echo_cat_4KiB.txt" "$dir/latency_raw_pipes_echo_cat_4KiB.txt"
