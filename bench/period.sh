#!/usr/bin/env bash
# Period benchmark: a year of daily snapshots of one generated tenant, then one period report.
#
#   bench/period.sh [USERS] [DAYS]        defaults: 100000 365
#
# Every snapshot is imported from the same generated export (only the collection time differs),
# as a daily schedule would store it; the report then verifies the whole ledger, evaluates every
# snapshot one at a time and writes the period package. Prints the report's wall time and peak
# resident memory (GNU time). Needs about USERS x DAYS x 1.4 KB of disk under BENCH_DIR (a
# stored snapshot of 100,000 users is 140 MB: a year of them is about 51 GB).
# BENCH_BIN=path uses an already built binary and generator folder instead of building.
set -euo pipefail
users=${1:-100000}
days=${2:-365}
work=${BENCH_DIR:-/tmp/mfa-evidence-bench-period}
cd "$(dirname "$0")/.."

if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN/mfa-evidence
  gen=$BENCH_BIN/gen_tenant
else
  cargo build --release --quiet --bin mfa-evidence --example gen_tenant
  bin=target/release/mfa-evidence
  gen=target/release/examples/gen_tenant
fi
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time (GNU time) is needed: apt-get install time" >&2; exit 2; }
rm -rf "$work" && mkdir -p "$work"
"$gen" "$users" "$work/tenant" >/dev/null
mv "$work/tenant/mfa-evidence.toml" "$work/tenant.toml"
{ cat "$work/tenant.toml"; printf '\n[store]\npath = "%s"\n' "$work/store"; } > "$work/config.toml"

start=$(date +%s)
for ((d = 0; d < days; d++)); do
  at=$(date -u -d "2026-10-31 06:00:00 UTC - $((days - 1 - d)) days" +%Y-%m-%dT%H:%M:%SZ)
  "$bin" --config "$work/config.toml" import --dir "$work/tenant" --collected-at "$at" >/dev/null
done
imported=$(( $(date +%s) - start ))
echo "imported $days snapshots of $users users in ${imported} s ($(du -sh "$work/store" | cut -f1) on disk)"

set +e
/usr/bin/time -v "$bin" --config "$work/config.toml" report --out "$work/out" > "$work/report.out" 2> "$work/time.txt"
code=$?
set -e
[ "$code" -le 1 ] || { cat "$work/time.txt"; exit "$code"; }
wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
rss=$(grep 'Maximum resident' "$work/time.txt" | awk '{print $NF}')
size=$(du -k "$work"/out/*.zip | cut -f1)
echo
echo "| users | snapshots | report wall time | peak RSS | package |"
echo "|---|---|---|---|---|"
echo "| $users | $days | $wall | $((rss / 1024)) MB | $((size / 1024)) MB |"
grep -E '^(ID-01|period)' "$work/report.out"
