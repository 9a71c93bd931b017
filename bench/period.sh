#!/usr/bin/env bash
# Period benchmark: a year of daily snapshots of one generated tenant that changes day to day,
# then `store verify`, `store verify --deep` and one period report, each timed.
#
#   bench/period.sh [USERS] [DAYS]        defaults: 100000 365
#
# Day d is the generated export with every registration row's lastUpdatedDateTime moved to that
# day (a collection cannot predate its own data) and a different 2 % of the rows unregistered
# (bench/vary_day.py), collected daily at 06:00 UTC up to 2026-10-31. Prints the store's size,
# and for each command its wall time and peak resident memory (GNU time). A year of 100,000
# users needs about 5 GB under BENCH_DIR.
# BENCH_BIN=dir uses an already built binary and gen_tenant in dir instead of building.
# BENCH_REUSE=1 keeps the store of an earlier run and only times the commands.
set -euo pipefail
users=${1:-100000}
days=${2:-365}
work=${BENCH_DIR:-/tmp/mfa-evidence-bench-period}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN/mfa-evidence
  gen=$BENCH_BIN/gen_tenant
else
  cargo build --release --locked --quiet --bin mfa-evidence --example gen_tenant
  bin=target/release/mfa-evidence
  gen=target/release/examples/gen_tenant
fi
. bench/timed.sh

if [ "${BENCH_REUSE:-0}" != 1 ]; then
  rm -rf "$work" && mkdir -p "$work"
  "$gen" "$users" "$work/tenant" >/dev/null
  mv "$work/tenant/mfa-evidence.toml" "$work/tenant.toml"
  { cat "$work/tenant.toml"; printf '\n[store]\npath = "%s"\n' "$work/store"; } > "$work/config.toml"
  start=$(date +%s)
  for ((d = 0; d < days; d++)); do
    back=$((days - 1 - d))
    at=$(date -u -d "2026-10-31 06:00:00 UTC - $back days" +%Y-%m-%dT%H:%M:%SZ)
    rm -rf "$work/day"
    python3 "$here/vary_day.py" "$work/tenant" "$work/day" "-$back"
    "$bin" --config "$work/config.toml" import --no-notify --dir "$work/day" --collected-at "$at" >/dev/null
  done
  echo "imported $days daily snapshots of $users users in $(( $(date +%s) - start )) s"
fi
store_bytes=$(du -sb "$work/store" | cut -f1)

# row LABEL CMD...: runs CMD under GNU time, adds a table row.
rows=()
row() {
  timed "$@"
  rows+=("| $1 | $(awk -v w="$WALL" 'BEGIN { printf "%.1f", w }') s | $RSS MiB |")
}
rm -rf "$work/out"
row "store verify" "$bin" --config "$work/config.toml" store verify
row "store verify --deep" "$bin" --config "$work/config.toml" store verify --deep
row "report (period)" "$bin" --config "$work/config.toml" report --out "$work/out"

echo
echo "$users users, $days daily snapshots: store $(awk -v b="$store_bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }')"
echo
echo "| command | wall | peak RSS |"
echo "|---|---:|---:|"
printf '%s\n' "${rows[@]}"
grep -E '^(ledger|ID-01|period)' "$work"/out-*.txt | sed 's/^[^:]*://'
