#!/usr/bin/env bash
# Runs a benchmark binary in N fresh processes and prints, per benchmark, the min / median / max
# of one column over the N runs (how bench/README.md reports figures), with the load average at
# each start. A fresh process per run: allocator state and thread pools do not carry over.
#
#   bench/spread.sh 5 records/s build/bench/bench_pipeline --benchmark_filter='BM_DecodePreprocess/1/'
#   CARDIOTORCH_ALLOCATOR=system bench/spread.sh 5 samples/s build/bench/bench_data --benchmark_filter=FromCache/
#
# COLUMN is a Google Benchmark CSV column: a counter (records/s, samples/s, steps/s,
# faults/record, ...), real_time or cpu_time.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bench/spread.sh N COLUMN BINARY [benchmark flags...]" >&2
  exit 2
fi
n=$1 col=$2 bin=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
loads=()
for i in $(seq 1 "$n"); do
  loads+=("$(cut -d' ' -f1 /proc/loadavg)")
  "$bin" "$@" --benchmark_format=csv 2>/dev/null | sed -n '/^name,/,$p' > "$tmp/run$i.csv"
done
cat "$tmp"/run*.csv | awk -F, -v col="$col" '
  /^name,/ { for (i = 1; i <= NF; i++) { h = $i; gsub(/"/, "", h); if (h == col) c = i } next }
  c && $c != "" { name = $1; gsub(/"/, "", name); v[name] = v[name] " " $c }
  END {
    if (!c) { print "no column " col > "/dev/stderr"; exit 1 }
    for (name in v) {
      m = split(v[name], a, " ")
      for (i = 2; i <= m; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
      printf "%-60s n=%d  min %.6g  median %.6g  max %.6g  max/min %.2f\n", name, m, a[1], med, a[m], (a[1] > 0 ? a[m] / a[1] : 0)
    }
  }' | sort
echo "load average at each start: ${loads[*]}"
